"""One process of a multi-host training run, started by `test_multi_host.py`:
`python multi_host_run.py DEVICES OUT [OTHER]`, with `COORDINATOR_ADDRESS`, `NUM_PROCESSES`
and `PROCESS_ID` in the environment for a multi-host run (without them: one process, the
reference).

Each process feeds `fit` / `evaluate` / `predict` its own rows, as kspec's multi-host contract
asks: its half of every global batch of 16 (its `rows` of the 48). Saves its curve, its rows'
predictions and the weights to OUT/result-PROCESS_ID.npz, the weights with `save_weights` to
OUT/model and the training state with `ModelCheckpoint` to OUT/ckpt (both written by all
processes together). With OTHER it also restores OTHER's checkpoints and saves what it read to
OUT/restored-PROCESS_ID.npz.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
import numpy as np
from sharded_run import data, model, weights  # the script beside this one

from kspec.runtime.training.checkpoints import ModelCheckpoint, restore_latest
from kspec.runtime.training.sharding import data_parallel

ROWS, BATCH = 48, 16  # global: 3 full batches, so each process's batches divide evenly


def start() -> tuple[int, int]:
    """Join the distributed runtime when the environment names one: (process id, count)."""
    if "COORDINATOR_ADDRESS" not in os.environ:
        return 0, 1
    process, count = int(os.environ["PROCESS_ID"]), int(os.environ["NUM_PROCESSES"])
    jax.distributed.initialize(os.environ["COORDINATOR_ADDRESS"], count, process)
    return process, count


def local_rows(process: int, count: int) -> np.ndarray:
    """This process's rows: the `process`-th 1/`count` of every global batch, in order."""
    return np.arange(ROWS).reshape(-1, count, BATCH // count)[:, process].ravel()


def main(devices: int, out: Path, other: Path | None) -> None:
    process, count = start()
    assert jax.process_count() == count and len(jax.devices()) == devices * count
    rows = local_rows(process, count)
    x_all, y_all = data()
    x, y = x_all[rows], y_all[rows]
    val = np.arange(8).reshape(count, -1)[process]  # a global validation batch of 8 rows
    batch = BATCH // count
    m = model()
    history = m.fit(
        x, y, batch_size=batch, epochs=4, verbose=0, shuffle=False,
        validation_data=(x_all[val], y_all[val]),
        callbacks=[ModelCheckpoint(out / "ckpt", monitor="loss")],
    )  # fmt: skip
    kernel = m.variables["params"][m.layer_names[0]]["kernel"]
    assert len(kernel.sharding.device_set) == devices * count  # replicated on every device
    if count > 1:  # the global batch is assembled from every process's rows
        split = data_parallel().shard(x[:batch])
        assert split.shape == (BATCH, 6) and len(split.sharding.device_set) == devices * count
        try:  # and a process's rows must divide over its devices: no replication fallback
            data_parallel().shard(x[: devices + 1])
            raise AssertionError("an uneven process batch was accepted")
        except ValueError as error:
            assert "local devices" in str(error)
    m.save_weights(out / "model")
    np.savez(
        out / f"result-{process}.npz",
        rows=rows,
        loss=history.history["loss"],
        val_loss=history.history["val_loss"],
        evaluate=m.evaluate(x, y, batch_size=batch),
        predict=m.predict(x, batch_size=batch),
        predict_padded=m.predict(x, batch_size=20 // count),  # last batch padded
        on_batch=m.predict_on_batch(x[: 12 // count]),
        **weights(m),
    )
    if other is not None:
        restored = model()
        restored.load_weights(other / "model")
        resumed = model()
        epoch = restore_latest(resumed, other / "ckpt")
        np.savez(
            out / f"restored-{process}.npz",
            epoch=epoch,
            iterations=resumed.iterations,
            **{f"w{k}": v for k, v in weights(restored).items()},
            **{f"r{k}": v for k, v in weights(resumed).items()},
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
