"""Reading Keras HDF5 weights safely: legacy `model_weights` groups and Keras 3 object paths.

Every file is untrusted. Only hard links inside the file are followed (an external link or a
virtual dataset would read another file on this machine), only numeric datasets are read, and
each dataset's size is checked against a byte budget before its data is touched.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from kspec.errors import KerasImportError

MAX_NAMES = 200_000
"""Most layer or weight names one attribute list may hold."""


@contextmanager
def open_h5(source: Path | bytes, label: str) -> Iterator[h5py.File]:
    """An HDF5 file opened read-only; a truncated or non-HDF5 file is a `KerasImportError`."""
    handle: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        file = h5py.File(handle, "r")
    except (OSError, ValueError) as exc:
        raise KerasImportError(
            f"{label}: not a readable HDF5 file (truncated or corrupt?): {_first_line(exc)}"
        ) from None
    try:
        yield file
    finally:
        file.close()


@dataclass
class ByteBudget:
    """The most weight bytes one import may read: twice what the model needs (plus 1 MiB),
    so a file claiming huge datasets is refused before they are read."""

    need: int
    label: str
    used: int = 0

    @property
    def limit(self) -> int:
        return 2 * self.need + 2**20

    def charge(self, dataset: h5py.Dataset, where: str) -> None:
        size = int(np.prod(dataset.shape, dtype=np.int64)) * dataset.dtype.itemsize
        self.used += size
        if self.used > self.limit:
            raise KerasImportError(
                f"{self.label}: {where} would read {self.used:,} bytes of weights, more than "
                f"twice what the model needs ({self.need:,} bytes); not this model's file"
            )


def strings(group: h5py.Group, name: str) -> list[str]:
    """A list-of-strings attribute, also when Keras split it into `name0`, `name1`, ...
    (`save_attributes_to_hdf5_group` in keras 2.2.4 `engine/saving.py`, for long lists)."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, index = [], 0
        while f"{name}{index}" in group.attrs:
            chunks.append(group.attrs[f"{name}{index}"])
            index += 1
    values = [v for chunk in chunks for v in np.atleast_1d(np.asarray(chunk, dtype=object))]
    if len(values) > MAX_NAMES:
        raise KerasImportError(f"{group.file.filename}: attribute '{name}' lists too many names")
    return [v.decode("utf8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def text_attr(group: h5py.Group, name: str) -> str | None:
    """A string attribute (bytes in files h5py 2 wrote, str in newer ones)."""
    if name not in group.attrs:
        return None
    value = group.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return value.decode("utf8", "replace") if isinstance(value, bytes) else str(value)


def member(
    group: h5py.Group, path: str, label: str, missing_ok: bool = False
) -> h5py.Group | h5py.Dataset | None:
    """`group[path]`, following hard links only; a missing member is a `KerasImportError`
    (or None with `missing_ok`)."""
    if path.startswith("/") or not path:
        raise KerasImportError(f"{label}: weight name {path!r} is not a name inside its group")
    node: Any = group
    for part in path.split("/"):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if link is None:
            if missing_ok:
                return None
            raise KerasImportError(f"{label}: the file has no '{path}' in {group.name}")
        if not isinstance(link, h5py.HardLink):
            raise KerasImportError(
                f"{label}: '{path}' in {group.name} links outside the file; refused"
            )
        node = node[part]
    return node


def read_array(dataset: Any, where: str, label: str, budget: ByteBudget) -> np.ndarray:
    """A numeric dataset as a numpy array, charged to `budget` before it is read."""
    if not isinstance(dataset, h5py.Dataset):
        raise KerasImportError(f"{label}: {where} is a group, not a weight array")
    if dataset.is_virtual or dataset.dtype.kind not in "biuf":
        raise KerasImportError(f"{label}: {where} is not a plain numeric array; refused")
    budget.charge(dataset, where)
    try:
        return np.asarray(dataset[()])
    except (OSError, ValueError) as exc:
        raise KerasImportError(
            f"{label}: {where} cannot be read (truncated or corrupt file?): {_first_line(exc)}"
        ) from None


@dataclass
class LegacyWeights:
    """The weights of a legacy HDF5 file (Keras 1/2, or Keras 3's `.h5`), layer by layer in
    the file's `layer_names` order; each layer's arrays stay unread datasets until used."""

    keras_version: str
    backend: str | None
    layers: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)


def legacy_weights(file: h5py.File, label: str) -> LegacyWeights:
    """The `model_weights` group of a whole-model file, or the root of a weights-only file.

    Like keras 2.2.4 `load_weights_from_hdf5_group`, a file without `keras_version` is a
    Keras 1 file."""
    group = member(file, "model_weights", label, missing_ok=True) or file
    if not isinstance(group, h5py.Group) or not (
        "layer_names" in group.attrs or "layer_names0" in group.attrs
    ):
        raise KerasImportError(
            f"{label}: not a Keras weights file (no 'layer_names' attribute in "
            f"{group.name}); a Keras 3 '.weights.h5' needs the model's config or spec"
        )
    weights = LegacyWeights(text_attr(group, "keras_version") or "1", text_attr(group, "backend"))
    for name in strings(group, "layer_names"):
        layer = member(group, name, label)
        if not isinstance(layer, h5py.Group):
            raise KerasImportError(f"{label}: layer '{name}' is not a group of weights")
        names = strings(layer, "weight_names")
        weights.layers[name] = [(w, member(layer, w, label)) for w in names]
    return weights


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:200]
