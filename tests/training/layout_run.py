"""One training run with a declared sharding layout, started by `test_layout.py` in a fresh
process (the device count is fixed when JAX starts): `python layout_run.py DEVICES OUT [OTHER]`.

On 4 devices the first Dense layer's kernel and bias are split over a `model` axis of 2
(mesh 2 x 2); on 1 device everything is replicated. Saves the loss curve and weights to
OUT/result.npz, the weights with `save_weights` (OUT/model) and the training state with
`ModelCheckpoint` (OUT/ckpt). With OTHER it restores OTHER's checkpoints into a model without a
layout and saves what it read to OUT/restored.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
from jax.sharding import PartitionSpec
from sharded_run import data, model, weights  # the script beside this one

from kspec.runtime.training.checkpoints import ModelCheckpoint, restore_latest

LAYOUT = {"model_axis": 2, "params": {"dense/kernel": [None, "model"], "dense/bias": ["model"]}}
"""The first Dense layer split over the `model` axis; the rest of sharded_run's MLP replicated."""


def main(devices: int, out: Path, other: Path | None) -> None:
    assert len(jax.devices()) == devices, jax.devices()
    x, y = data()
    m = model(LAYOUT if devices > 1 else None)
    history = m.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        verbose=0,
        callbacks=[ModelCheckpoint(out / "ckpt", monitor="loss")],
    )
    if devices > 1:
        kernel = m.variables["params"]["dense"]["kernel"]
        assert kernel.sharding.spec == PartitionSpec(None, "model"), kernel.sharding
        assert {s.data.shape for s in kernel.addressable_shards} == {(6, 8)}
        slot = m.optimizer_state.inner_state.slots[0]["dense"]["kernel"]
        assert slot.sharding.spec == PartitionSpec(None, "model"), slot.sharding
        other_kernel = m.variables["params"]["dense_1"]["kernel"]
        assert other_kernel.sharding.is_fully_replicated
    m.save_weights(out / "model")
    np.savez(
        out / "result.npz",
        loss=history.history["loss"],
        accuracy=history.history["accuracy"],
        evaluate=m.evaluate(x, y, batch_size=8),
        predict=m.predict(x, batch_size=8),
        **weights(m),
    )
    if other is not None:
        restored = model(None)
        restored.load_weights(other / "model")
        resumed = model(None)
        epoch = restore_latest(resumed, other / "ckpt")
        resumed.fit(x, y, batch_size=16, epochs=1, verbose=0)  # the restored state trains on
        np.savez(
            out / "restored.npz",
            epoch=epoch,
            **{f"w{k}": v for k, v in weights(restored).items()},
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
