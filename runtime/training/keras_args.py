"""Keras argument conventions shared by the training methods: Keras 1 names (warned where
they are used) and Keras' shapes of results."""

from __future__ import annotations

import warnings
from typing import Any

from kspec.errors import KspecDeprecationWarning


def renamed(old: str, new: str, note: str = "") -> None:
    warnings.warn(
        f"`{old}` is a Keras 1 name; use `{new}` instead{note}",
        KspecDeprecationWarning,
        stacklevel=3,
    )


def keras_result(logs: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def keras1_generator_args(keras1: dict[str, Any], epochs: int) -> tuple[int, Any, Any]:
    """Keras 1 generator arguments: nb_epoch, samples_per_epoch (samples, not batches),
    nb_val_samples, val_samples, max_q_size (accepted; batches are drawn synchronously)."""
    known = {"nb_epoch", "samples_per_epoch", "nb_val_samples", "val_samples", "max_q_size"}
    unknown = sorted(set(keras1) - known)
    if unknown:
        raise TypeError(f"unexpected argument(s) {', '.join(unknown)}")
    if "nb_epoch" in keras1:
        renamed("nb_epoch", "epochs")
        epochs = keras1["nb_epoch"]
    samples = keras1.get("samples_per_epoch")
    if samples is not None:
        renamed("samples_per_epoch", "steps_per_epoch", " (it counts batches, not samples)")
    val_samples = keras1.get("nb_val_samples", keras1.get("val_samples"))
    for old in ("nb_val_samples", "val_samples"):
        if old in keras1:
            renamed(
                old,
                "validation_steps" if old == "nb_val_samples" else "steps",
                " (it counts batches, not samples)",
            )
    if "max_q_size" in keras1:
        renamed("max_q_size", "max_queue_size")
    return epochs, samples, val_samples


def check_execution(jit_compile: bool | str, steps_per_execution: int) -> None:
    """Keras' `compile(jit_compile=, steps_per_execution=)`: the values kspec honours (a
    kspec step is always one jitted XLA program; executions group whole steps), else a clear
    error."""
    if not (jit_compile is True or (isinstance(jit_compile, str) and jit_compile == "auto")):
        raise ValueError(
            "kspec always compiles the train step with XLA (jax.jit): jit_compile must be "
            f"True or 'auto'. Received: jit_compile={jit_compile!r}"
        )
    if (
        isinstance(steps_per_execution, bool)
        or not isinstance(steps_per_execution, int)
        or steps_per_execution < 1
    ):
        raise ValueError(
            "steps_per_execution must be a positive integer (the train steps per execution). "
            f"Received: steps_per_execution={steps_per_execution!r}"
        )
