"""Data parallelism: a `Mesh` over every device, the batch split along it, the rest copied;
optionally big layers' weights split along a second, `model` axis (a declared layout).

Inputs, labels and sample weights are sharded on their first (batch) axis; params, layer
state, optimizer state and metric sums are replicated, so XLA all-reduces the gradients and
every device applies the same update. With a layout (`compile(sharding=...)`), the mesh is
`batch` by `model`, and each weight a layout pattern names is split over `model` along the axes
it says (`dense_1/kernel: [null, model]` splits the units); the optimizer's slots for that
weight follow it, and XLA inserts the collectives the matmuls need.

A batch whose size the `batch` axis does not divide is replicated instead (every device
computes the whole batch): same numbers, no speed-up, and no padding that would change Keras'
`sum_over_batch_size` reduction.

Multi-host (after `jax.distributed.initialize()`): the mesh spans `jax.devices()` of every
process and each process passes its own slice of the global batch (its rows only), which
`jax.make_array_from_process_local_data` assembles; outputs come back as each process's rows.
There, each process's batch must divide by its local device count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from functools import cache, lru_cache
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "batch"
MODEL_AXIS = "model"
Layout = Mapping[str, Sequence[str | None]]
"""`layer/weight` glob -> one entry per weight axis: `"model"` splits it, None keeps it."""


class DataParallel:
    """The mesh and the shardings every step uses (`layout`: see the module docstring)."""

    def __init__(
        self,
        devices: list[Any] | None = None,
        model_axis: int = 1,
        layout: Layout | None = None,
    ) -> None:
        self.devices = list(devices if devices is not None else jax.devices())
        if model_axis < 1 or len(self.devices) % model_axis:
            raise ValueError(
                f"sharding.model_axis must divide the {len(self.devices)} device(s). "
                f"Received: model_axis={model_axis}"
            )
        grid = np.asarray(self.devices).reshape(-1, model_axis)
        self.mesh = Mesh(grid, (AXIS, MODEL_AXIS))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batched = NamedSharding(self.mesh, PartitionSpec(AXIS))
        self.multi_host = jax.process_count() > 1
        self.layout = dict(layout or {})

    @property
    def size(self) -> int:
        return len(self.devices)

    def replicate(self, tree: Any) -> Any:
        """The tree on every device. Checking first is ~30x cheaper than `device_put` of a
        tree already in place, which is the usual case from the second step on."""
        if all(placed(leaf, self.replicated) for leaf in jax.tree.leaves(tree)):
            return tree
        return jax.device_put(tree, self.replicated)

    def weight_sharding(self, path: tuple[Any, ...], shape: tuple[int, ...]) -> NamedSharding:
        """The layout's sharding for the leaf at `path` (a params tree, or an optimizer slot
        mirroring it: the path ends in `[layer][weight]`); replicated when no pattern names it."""
        keys = [getattr(k, "key", None) for k in path[-2:]]
        if len(keys) < 2 or not all(isinstance(k, str) for k in keys):
            return self.replicated
        name = f"{keys[0]}/{keys[1]}"
        for pattern, axes in self.layout.items():
            if not fnmatchcase(name, pattern):
                continue
            if len(axes) != len(shape):
                raise ValueError(
                    f"sharding: '{pattern}' gives {len(axes)} axes but {name} has shape {shape}"
                )
            for size, axis in zip(shape, axes, strict=True):
                if axis == MODEL_AXIS and size % self.mesh.shape[MODEL_AXIS]:
                    raise ValueError(
                        f"sharding: {name} axis of size {size} does not divide over "
                        f"{self.mesh.shape[MODEL_AXIS]} `model` devices"
                    )
            return NamedSharding(self.mesh, PartitionSpec(*axes))
        return self.replicated

    def shardings(self, tree: Any) -> Any:
        """A sharding per leaf of a weights / optimizer-state tree, from the layout."""
        if not self.layout:
            return jax.tree.map(lambda _: self.replicated, tree)
        return jax.tree_util.tree_map_with_path(
            lambda path, leaf: self.weight_sharding(path, np.shape(leaf)), tree
        )

    def place(self, tree: Any) -> Any:
        """Weights and optimizer state where the layout puts them (all replicated without
        one); as cheap as `replicate` when they are there already."""
        if not self.layout:
            return self.replicate(tree)
        shardings = self.shardings(tree)
        if all(jax.tree.leaves(jax.tree.map(placed, tree, shardings))):
            return tree
        return jax.device_put(tree, shardings)

    def constrain(self, tree: Any) -> Any:
        """Inside a jitted step: keep the outputs on the layout (as `place` put the inputs)."""
        return jax.lax.with_sharding_constraint(tree, self.shardings(tree))

    def shard(self, tree: Any) -> Any:
        """A batch tree split along axis 0 over the devices (replicated when it does not
        divide evenly on one host). On one device the numpy arrays are returned as they are:
        the jitted call copies them in itself, at half the cost of a `device_put` first."""
        if self.size == 1 and not self.multi_host:
            return tree
        leaves = jax.tree.leaves(tree)
        if not leaves:
            return tree
        rows = len(leaves[0])
        if self.multi_host:
            local = jax.local_device_count()
            if rows % local:
                raise ValueError(
                    f"on several hosts each process's batch must divide by its {local} local "
                    f"devices. Received: batch of {rows}"
                )
            return jax.tree.map(
                lambda a: jax.make_array_from_process_local_data(self.batched, np.asarray(a)),
                tree,
            )
        split = rows % self.mesh.shape[AXIS] == 0
        return jax.device_put(tree, self.batched if split else self.replicated)

    def local_rows(self, array: jax.Array) -> np.ndarray:
        """A batch-sharded result as numpy: this process's rows of it."""
        if not self.multi_host or array.is_fully_addressable:
            return np.asarray(array)
        shards = sorted(array.addressable_shards, key=lambda s: s.index[0].start or 0)
        seen, parts = set(), []
        for shard in shards:  # replicas of the same rows appear once
            start = shard.index[0].start or 0
            if start not in seen:
                seen.add(start)
                parts.append(np.asarray(shard.data))
        return np.concatenate(parts)


def placed(leaf: Any, sharding: NamedSharding) -> bool:
    """Whether `leaf` is a device array laid out as `sharding` says. Equivalent layouts
    count: on one device, the arrays `init` and eager code make (a `SingleDeviceSharding`) are
    already replicated, and putting them again cost ~30 us per array on every `predict`."""
    current = getattr(leaf, "sharding", None)
    return current == sharding or (
        current is not None and _equivalent(current, sharding, np.ndim(leaf))
    )


@lru_cache(maxsize=256)
def _equivalent(current: Any, sharding: NamedSharding, ndim: int) -> bool:
    """`is_equivalent_to`, remembered: shardings are few and hashable, and the check itself
    costs as much as a small model's whole dispatch when run for every weight per call."""
    return bool(current.is_equivalent_to(sharding, ndim))


@cache
def data_parallel() -> DataParallel:
    """The process-wide mesh over `jax.devices()` (fixed once JAX has started), built once:
    `predict` asks for it on every call, and a new mesh and its shardings cost more than a
    small model's forward pass (and compare slower against the arrays already placed)."""
    return DataParallel()


def fresh_copy(tree: Any) -> Any:
    """The same values in new buffers, placed alike: what a donating step may consume while
    the originals stay valid for whoever holds them."""
    return jax.tree.map(lambda a: a.copy(), tree)
