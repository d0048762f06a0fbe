"""Writing Keras 3 files without Keras: `.weights.h5` (what `model.save_weights` writes for a
`.weights.h5` name) and `.keras` archives (`kspec export-keras`, `Model.to_keras_file`).

The weights file follows Keras 3 `saving_lib`: every object gets `<path>/vars` with its own
variables `0..n`; a layer's weights go to the objects that hold variables (a `Bidirectional`'s
two cells, an RNN's cell, a wrapper's inner layer, an attention layer's projections), split
evenly between them where the parts mirror each other; a nested model's layers are objects of
their own under `<path>/layers`. Files are written to a temporary sibling and
renamed, so a failed write leaves no half file under the asked name.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from kspec.compiler import CompiledModel, Variables
from kspec.errors import ExportError
from kspec.runtime.keras_io.keras_config import model_config
from kspec.runtime.keras_io.object_paths import KerasObject, children, container

if TYPE_CHECKING:
    from kspec.runtime.model import Model

KERAS_VERSION = "3.5.0"
"""The oldest Keras 3 whose `load_model` reads what is written here (recorded in
`metadata.json`)."""


WEIGHTLESS_PARTS = {
    "MultiHeadAttention": ("_dropout_layer", "_softmax"),
    "GroupQueryAttention": ("_dropout_layer", "_softmax"),
}
"""Sub-objects without variables that Keras 3 still gives a group in the file."""


def write_weights_h5(model: Model, target: str | os.PathLike[str] | io.BytesIO) -> None:
    """The model's weights in the Keras 3 `.weights.h5` layout."""
    config = model_config(model.compiled)
    with h5py.File(target, "w") as file:
        file.create_group("vars").attrs["name"] = model.name
        _write_container(
            file, model.compiled, model.variables, config["config"]["layers"], "layers"
        )


def _write_container(
    file: h5py.File,
    compiled: CompiledModel,
    variables: Variables,
    layers: list[Any],
    path: str,
    in_sequential: bool = False,
) -> None:
    """A model's objects at `path`; a nested model's own objects under `<its path>/layers`."""
    weighted = set(compiled.layer_order())
    for obj in container(layers, path):
        name = obj.config.get("name", obj.path)
        if obj.class_name == "InputLayer" and in_sequential:
            continue  # a Sequential's `layers` leave its InputLayer out
        if name in compiled.submodels:
            file.require_group(f"{obj.path}/vars").attrs["name"] = str(name)
            params, state = variables["params"].get(name, {}), variables["state"].get(name, {})
            inner = compiled.nested_variables(name, params, state)
            sub, sub_layers = compiled.submodels[name], obj.config["layers"]
            sequential = obj.class_name == "Sequential"
            _write_container(file, sub, inner, sub_layers, f"{obj.path}/layers", sequential)
            continue
        names = compiled.weight_names(name) if name in weighted else []
        _write_object(file, obj, [np.asarray(variables[g][name][n]) for g, n in names])


def _write_object(file: h5py.File, obj: KerasObject, weights: list[np.ndarray]) -> None:
    leaves = _leaves(obj)
    counts = _counts(obj, leaves, len(weights))
    for sub in _tree(obj):
        file.require_group(f"{sub.path}/vars").attrs["name"] = str(sub.config.get("name", ""))
    for part in WEIGHTLESS_PARTS.get(obj.class_name, ()):
        file.require_group(f"{obj.path}/{part}/vars")
    start = 0
    for leaf, count in zip(leaves, counts, strict=True):
        group = file[f"{leaf.path}/vars"]
        for j, array in enumerate(weights[start : start + count]):
            group.create_dataset(str(j), data=np.asarray(array))
        start += count


def _counts(obj: KerasObject, leaves: list[KerasObject], total: int) -> list[int]:
    """How many of a layer's weights each Keras sub-object holds: a Bidirectional with its
    own `backward_layer` splits after the forward cell's kernel, recurrent kernel and bias
    (none without `use_bias`); other composites split evenly, their parts mirroring."""
    backward = obj.config.get("backward_layer")
    if obj.class_name == "Bidirectional" and isinstance(backward, dict):
        forward = obj.config["layer"]["config"]
        ahead = 3 if forward.get("use_bias", True) else 2
        return [ahead, total - ahead]
    if total % len(leaves):
        raise ExportError(
            f"layer '{obj.config.get('name')}': cannot split its {total} weights "
            f"between {len(leaves)} Keras sub-layers"
        )
    return [total // len(leaves)] * len(leaves)


def _tree(obj: KerasObject) -> list[KerasObject]:
    return [obj, *(sub for child in children(obj) for sub in _tree(child))]


def _leaves(obj: KerasObject) -> list[KerasObject]:
    below = children(obj)
    return [leaf for child in below for leaf in _leaves(child)] if below else [obj]


def write_keras_file(model: Model, path: str | os.PathLike[str]) -> Path:
    """A `.keras` archive that `keras.saving.load_model` opens."""
    target = Path(path)
    if target.suffix != ".keras":
        raise ExportError(f"{target}: a Keras archive's name must end in .keras")
    weights = io.BytesIO()
    write_weights_h5(model, weights)
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    config = model_config(model.compiled)
    return _atomic(target, lambda out: _zip(out, config, metadata, weights.getvalue()))


def _zip(out: Path, config: dict[str, Any], metadata: dict[str, Any], weights: bytes) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights, compress_type=zipfile.ZIP_STORED)


def save_weights_file(model: Model, path: str | os.PathLike[str]) -> Path:
    """`.weights.h5`, written atomically."""
    return _atomic(Path(path), lambda out: write_weights_h5(model, out))


def _atomic(target: Path, write: Any) -> Path:
    if target.is_dir():
        raise ExportError(f"{target}: is a directory; give a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        write(staging)
        staging.replace(target)
    finally:
        staging.unlink(missing_ok=True)
    return target
