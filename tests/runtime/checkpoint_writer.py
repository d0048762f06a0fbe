"""Child process of the kill-9 loop (tests/runtime/test_checkpoint_hostile.py): saves versions
N, N+1, ... of a checkpoint through the real commit protocol as fast as it can, printing each N
once committed, until it is killed. JAX-free, so a restart costs a fraction of a second."""

from __future__ import annotations

import sys
from pathlib import Path

from kspec.runtime import checkpoint_store as store


def payload(n: int) -> dict[str, bytes]:
    """The files of version `n`: several, nested, big enough that a kill often lands mid-write."""
    return {f"variables/d/{i}": bytes([n % 256, i]) * 200_000 for i in range(3)}


def main(target: Path, first: int) -> None:
    print("ready", flush=True)
    for n in range(first, first + 10_000):
        token = store.new_token()
        staging = store.prepare(target, token)
        for name, data in payload(n).items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        store.commit(staging, target, {"n": n}, token)
        print(n, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
