"""Legacy HDF5 fixtures written with h5py in the layouts Keras 1 and 2 wrote.

Layout from keras 2.2.4 `keras/engine/saving.py` `save_weights_to_hdf5_group` (also what Keras
1.2's `save_weights` wrote): attributes `layer_names` on the group, `keras_version` and
`backend` on it (absent in Keras 1 files), one group per layer with a `weight_names`
attribute listing its datasets in `layer.weights` order.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

Layers = list[tuple[str, list[tuple[str, np.ndarray]]]]


def write_weights(
    path: Path,
    layers: Layers,
    keras_version: str | None = None,
    backend: str | None = None,
    model_config: str | None = None,
) -> Path:
    """A weights file (or a whole-model file, given `model_config`)."""
    with h5py.File(path, "w") as file:
        group = file
        if model_config is not None:
            file.attrs["model_config"] = model_config.encode("utf8")
            group = file.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode("utf8") for name, _ in layers]
        if keras_version is not None:
            group.attrs["keras_version"] = keras_version.encode("utf8")
        if backend is not None:
            group.attrs["backend"] = backend.encode("utf8")
        for name, weights in layers:
            layer = group.create_group(name)
            layer.attrs["weight_names"] = [w.encode("utf8") for w, _ in weights]
            for weight_name, value in weights:
                layer.create_dataset(weight_name, data=value)
    return path


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)
