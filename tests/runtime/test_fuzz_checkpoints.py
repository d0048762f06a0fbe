"""Fuzzed checkpoint damage: any byte of any file flipped, truncated or extended, and forged
`kspec.json` contents (re-signed, so the pointer digest passes): loading either returns the
saved version intact or raises one `CheckpointError`, never another exception, in bounded time.

CI runs `KSPEC_FUZZ_EXAMPLES` cases per class (default 20); `make fuzz` runs 10,000."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kspec.errors import CheckpointError
from kspec.runtime import checkpoint_store as store
from tests.runtime.checkpoint_writer import payload

FUZZ = settings(
    max_examples=int(os.environ.get("KSPEC_FUZZ_EXAMPLES", "20")),
    deadline=None,
    derandomize=os.environ.get("KSPEC_FUZZ_EXAMPLES") is None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
SECONDS = 5.0  # of this process's CPU time: what the input costs, whatever the machine's load


def _saved(root: Path) -> Path:
    target = root / "ckpt"
    token = store.new_token()
    staging = store.prepare(target, token)
    for name, data in payload(7).items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data[:1000])
    store.commit(staging, target, {"n": 7}, token)
    return target


def _load_or_refuse(target: Path) -> None:
    started = time.process_time()
    try:
        version, metadata = store.open_current(target)
    except CheckpointError as exc:
        assert str(exc).startswith(f"error: {target}: ") and "\n" not in str(exc)
    else:  # accepted: then it is exactly what was saved
        assert metadata["n"] == 7
        for name, data in payload(7).items():
            assert (version / name).read_bytes() == data[:1000]
    assert time.process_time() - started < SECONDS


@FUZZ
@given(
    which=st.integers(0, 10),
    action=st.sampled_from(["flip", "truncate", "extend"]),
    where=st.floats(0, 1),
)
def test_damaged_bytes(which: int, action: str, where: float) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        target = _saved(root)
        files = sorted(p for p in target.rglob("*") if p.is_file())
        path = files[which % len(files)]
        data = bytearray(path.read_bytes())
        at = min(int(where * len(data)), len(data) - 1)
        if action == "flip":
            data[at] ^= 0x01
        elif action == "truncate":
            del data[at:]
        else:
            data += b"\0"
        path.write_bytes(bytes(data))
        _load_or_refuse(target)
    finally:
        shutil.rmtree(root)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=20,
)
TRICKY = ["variables/d/0", "../x", "/etc/passwd", "variables\\d\\0", "", ".",
          "variables/d/../d/0", "kspec.json", "CURRENT"]  # fmt: skip
NAMES = st.sampled_from(TRICKY) | st.text(max_size=30)


@FUZZ
@given(files=st.dictionaries(NAMES, st.text(max_size=70) | JSON, max_size=5) | JSON, extra=JSON)
def test_forged_metadata(files: object, extra: object) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        target = _saved(root)
        version = store.open_current(target)[0]
        text = json.dumps({"n": 7, "files": files, "extra": extra}).encode()
        (version / "kspec.json").write_bytes(text)
        pointer = {"version": version.name, "kspec.json": hashlib.sha256(text).hexdigest()}
        (target / "CURRENT").write_text(json.dumps(pointer))
        _load_or_refuse(target)
    finally:
        shutil.rmtree(root)
