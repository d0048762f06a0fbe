"""Loading weights into a model: exactly, or layer by layer by name with a report."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax.numpy as jnp
import numpy as np

from kspec.errors import CheckpointError
from kspec.runtime.checkpoint import load_variables, read_variables

if TYPE_CHECKING:
    from kspec.runtime.model import Model

logger = logging.getLogger("kspec")


@dataclass(frozen=True)
class WeightsReport:
    """What a `load_weights` did, by layer name. `mismatched` maps a layer to why it did not
    fit (weight names or shapes); those layers kept their current weights."""

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every layer of the model got its weights from the checkpoint."""
        return not (self.missing or self.mismatched)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.matched)} layer(s): {', '.join(self.matched) or '-'}"]
        if self.missing:
            lines.append(f"not in the checkpoint (weights unchanged): {', '.join(self.missing)}")
        if self.unexpected:
            lines.append(f"in the checkpoint but not in the model: {', '.join(self.unexpected)}")
        lines += [f"skipped {layer}: {why}" for layer, why in self.mismatched.items()]
        return "\n".join(lines)


def load_weights(
    model: Model, directory: str | os.PathLike[str], *, by_name: bool, skip_mismatch: bool
) -> WeightsReport:
    """`Model.load_weights`: see there."""
    if skip_mismatch and not by_name:
        raise ValueError("skip_mismatch=True needs by_name=True (layers are matched by name)")
    if not by_name:
        model.variables = load_variables(directory, model.abstract_variables())
        return WeightsReport(matched=[layer.name for layer in model.layers])
    saved = read_variables(directory)
    report = _match(model, saved)
    if report.mismatched and not skip_mismatch:
        details = "\n  ".join(f"{layer}: {why}" for layer, why in report.mismatched.items())
        raise CheckpointError(
            f"{directory}: layers whose weights do not fit (pass skip_mismatch=True to keep "
            f"their current weights):\n  {details}"
        )
    variables = {group: dict(model.variables[group]) for group in ("params", "state")}
    for layer in report.matched:
        for group, name in model.compiled.weight_names(layer):
            old = variables[group][layer][name]
            variables[group][layer] = {
                **variables[group][layer],
                name: jnp.asarray(saved[group][layer][name], dtype=old.dtype),
            }
    model.variables = variables
    if not report.complete or report.unexpected:
        logger.warning("load_weights(%s, by_name=True):\n%s", directory, report)
    return report


def _match(model: Model, saved: Mapping[str, Any]) -> WeightsReport:
    saved_layers = {layer for group in ("params", "state") for layer in saved.get(group, {})}
    report = WeightsReport()
    for layer in model.layers:
        names = model.compiled.weight_names(layer.name)
        if not names:
            continue
        if layer.name not in saved_layers:
            report.missing.append(layer.name)
            continue
        problems = []
        for group, name in names:
            have = saved.get(group, {}).get(layer.name, {}).get(name)
            want = tuple(np.shape(model.variables[group][layer.name][name]))
            if have is None:
                problems.append(f"no weight '{name}' in the checkpoint")
            elif tuple(np.shape(have)) != want:
                problems.append(f"'{name}' is {tuple(np.shape(have))} there, {want} here")
        if problems:
            report.mismatched[layer.name] = "; ".join(problems)
        else:
            report.matched.append(layer.name)
    weighted = {layer.name for layer in model.layers if model.compiled.weight_names(layer.name)}
    report.unexpected.extend(sorted(saved_layers - weighted))
    return report
