"""One data-parallel training run, started by `test_sharding.py` in a fresh process (the
device count is fixed when JAX starts): `python sharded_run.py DEVICES OUT [OTHER]`.

Trains a small MLP, saves its curve, predictions and weights to OUT/result.npz, its weights
with `save_weights` to OUT/model and its training state with `ModelCheckpoint` to OUT/ckpt.
With OTHER (a run made on another device count) it also restores OTHER's checkpoints here and
saves what it read to OUT/restored.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

import kspec
from kspec.runtime.training.checkpoints import ModelCheckpoint, restore_latest
from kspec.runtime.training.sharding import data_parallel

jax.config.update("jax_default_matmul_precision", "highest")

MLP = {
    "kspec": 1,
    "inputs": {"x": [6]},
    "layers": [
        {"type": "Dense", "units": 16, "activation": "relu"},
        {"type": "Dropout", "rate": 0.0},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def model(sharding: dict[str, Any] | None = None) -> kspec.Model:
    """The MLP, initialised from seed 0 and compiled (with a sharding layout if given)."""
    m = kspec.load(MLP)
    m.init(0)
    m.compile(
        {"type": "adam", "learning_rate": 0.01},
        "categorical_crossentropy",
        ["accuracy"],
        sharding=sharding,
    )
    return m


def data() -> tuple[np.ndarray, np.ndarray]:
    """50 rows of 6 features and one-hot labels of 3 classes, the same in every process."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)).astype("float32")
    return x, np.eye(3, dtype="float32")[rng.integers(0, 3, 50)]


def weights(m: kspec.Model) -> dict[str, np.ndarray]:
    return {str(i): np.asarray(w) for i, w in enumerate(m.get_weights())}


def main(devices: int, out: Path, other: Path | None) -> None:
    assert len(jax.devices()) == devices, jax.devices()
    x, y = data()
    m = model()
    # 16 rows split 4 ways; the last batch of 2 (and validation's 10) fall back to replication
    history = m.fit(
        x, y, batch_size=16, epochs=4, verbose=0, validation_data=(x[:10], y[:10]),
        callbacks=[ModelCheckpoint(out / "ckpt", monitor="loss")],
    )  # fmt: skip
    kernel = m.variables["params"][m.layer_names[0]]["kernel"]
    assert len(kernel.sharding.device_set) == devices  # replicated on every device
    parallel = data_parallel()
    if devices > 1:  # one device takes the numpy batch as it is
        split, whole = parallel.shard(x[:16]), parallel.shard(x[:2])
        assert {s.data.shape for s in split.addressable_shards} == {(16 // devices, 6)}
        assert whole.sharding.is_fully_replicated  # 2 rows on 4 devices: the fallback
    m.save_weights(out / "model")
    np.savez(
        out / "result.npz",
        loss=history.history["loss"],
        val_loss=history.history["val_loss"],
        evaluate=m.evaluate(x, y, batch_size=8),
        predict=m.predict(x, batch_size=8),
        predict_odd=m.predict(x, batch_size=7),
        on_batch=m.predict_on_batch(x[:12]),
        **weights(m),
    )
    if other is not None:
        restored = model()
        restored.load_weights(other / "model")
        resumed = model()
        epoch = restore_latest(resumed, other / "ckpt")
        np.savez(
            out / "restored.npz",
            epoch=epoch,
            iterations=resumed.iterations,
            **{f"w{k}": v for k, v in weights(restored).items()},
            **{f"r{k}": v for k, v in weights(resumed).items()},
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
