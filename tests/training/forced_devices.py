"""Run a script in fresh processes on N forced CPU devices (JAX fixes the device count when
it starts, so multi-device runs cannot share the test process), alone or as several hosts of
one `jax.distributed` run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

TIMEOUT = 120  # seconds: a hung run fails the test instead of stalling CI


def _env(devices: int) -> dict[str, str]:
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": " ".join(
            [os.environ.get("XLA_FLAGS", ""), f"--xla_force_host_platform_device_count={devices}"]
        ),
    }


def _args(script: Path, devices: int, out: Path, other: Path | None) -> list[str]:
    return [sys.executable, str(script), str(devices), str(out), *([str(other)] if other else [])]


def run(script: Path, devices: int, out: Path, other: Path | None = None) -> None:
    """`python script DEVICES OUT [OTHER]` with `devices` CPU devices; fails with its stderr."""
    out.mkdir()
    args = _args(script, devices, out, other)
    result = subprocess.run(
        args, capture_output=True, text=True, env=_env(devices), timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-4000:]


def run_hosts(script: Path, hosts: int, devices: int, out: Path, other: Path | None = None) -> None:
    """`python script DEVICES OUT [OTHER]` as `hosts` processes of one `jax.distributed` run
    on this machine, `devices` CPU devices each (`COORDINATOR_ADDRESS`, `NUM_PROCESSES`,
    `PROCESS_ID` in their environment). Fails with every process's stderr when one fails or
    the time runs out (then all are stopped)."""
    out.mkdir()
    with socket.socket() as probe:  # a free port for the coordinator (process 0 serves it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs = [out / f"stderr-{i}.txt" for i in range(hosts)]
    host_env = {"COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "NUM_PROCESSES": str(hosts)}
    with ExitStack() as stack:
        procs = [
            subprocess.Popen(
                _args(script, devices, out, other),
                stdout=subprocess.DEVNULL,
                stderr=stack.enter_context(log.open("w")),
                env={**_env(devices), **host_env, "PROCESS_ID": str(i), "PYTHONFAULTHANDLER": "1"},
            )
            for i, log in enumerate(logs)
        ]
        codes = _wait_all(procs)
    if codes != [0] * hosts:
        stderr = [
            f"--- host {i} stderr ---\n{log.read_text()[-3000:]}" for i, log in enumerate(logs)
        ]
        raise AssertionError(f"host exit codes {codes}\n" + "\n".join(stderr))


def _wait_all(procs: list[subprocess.Popen[bytes]]) -> list[int | str]:
    """The exit codes, up to the first process still running after TIMEOUT; every process
    still running then is stopped (the others of a failed run wait for it forever)."""
    deadline = time.monotonic() + TIMEOUT
    codes: list[int | str] = []
    try:
        for proc in procs:
            codes.append(proc.wait(timeout=max(deadline - time.monotonic(), 0)))
    except subprocess.TimeoutExpired:
        codes.append(f"timed out after {TIMEOUT} s")
    finally:
        for proc in procs:
            if proc.poll() is None:  # SIGABRT first: faulthandler prints where it hung
                proc.send_signal(signal.SIGABRT)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return codes
