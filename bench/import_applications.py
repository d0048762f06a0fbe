"""`keras.applications` models imported into kspec from `.keras`, legacy `.h5` and memory,
checked for predict parity (rtol 1e-4, atol 1e-5) and equal `get_weights`, and timed.

`python -m bench.import_applications` runs the quick set; `--families` one model of each
family (each layer type and block the applications use); `--all` every model Keras 3 builds
offline with `weights=None`, the families' larger variants too (slow: minutes each on a laptop
CPU, the largest ConvNeXt ~350M weights); or name models: `... EfficientNetB3 ResNet101`. The
test suite runs the quick set (tests/importer/test_applications.py), the families with
KSPEC_APPLICATIONS=1.
Weights are Keras's random initialization with BatchNorm statistics, gammas, betas and biases
randomised, so no statistic is the identity.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import numpy as np

RTOL, ATOL = 1e-4, 1e-5
FEATURES = {"include_top": False, "pooling": "avg", "weights": None}


def _apps() -> dict[str, Callable[[], Any]]:
    import keras

    a = keras.applications
    small = {"input_shape": (32, 32, 3), **FEATURES}
    inception = {"input_shape": (75, 75, 3), **FEATURES}
    return {
        "MobileNet": lambda: a.MobileNet(alpha=0.25, **small),
        "MobileNetV3Small": lambda: a.MobileNetV3Small(include_preprocessing=False, **small),
        "MobileNetTop": lambda: a.MobileNet(
            input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=7,
            classifier_activation=None,
        ),
        "ResNet50": lambda: a.ResNet50(**small),
        "ResNet50V2": lambda: a.ResNet50V2(**small),
        "MobileNetV2": lambda: a.MobileNetV2(alpha=0.35, **small),
        "MobileNetV3SmallPreprocessing": lambda: a.MobileNetV3Small(**small),
        "MobileNetV3Large": lambda: a.MobileNetV3Large(**small),
        "EfficientNetB0": lambda: a.EfficientNetB0(**small),
        "EfficientNetV2B0": lambda: a.EfficientNetV2B0(**small),
        "DenseNet121": lambda: a.DenseNet121(**small),
        "Xception": lambda: a.Xception(input_shape=(71, 71, 3), **FEATURES),
        "InceptionV3": lambda: a.InceptionV3(**inception),
        "InceptionResNetV2": lambda: a.InceptionResNetV2(**inception),
        "VGG16": lambda: a.VGG16(**small),
        "NASNetMobile": lambda: a.NASNetMobile(**small),
        "ConvNeXtTiny": lambda: a.ConvNeXtTiny(**small),
    }  # fmt: skip


def _variants() -> dict[str, Callable[[], Any]]:
    """The larger members of each family: the same layers and blocks at other widths, depths
    and input sizes (so `--families` covers what they use; these prove it at scale)."""
    import keras

    a = keras.applications
    small = {"input_shape": (32, 32, 3), **FEATURES}
    members = [
        "ResNet101", "ResNet152", "ResNet101V2", "ResNet152V2", "VGG19",
        "DenseNet169", "DenseNet201", "NASNetLarge",
        *(f"EfficientNetB{i}" for i in range(1, 8)),
        *(f"EfficientNetV2{v}" for v in ("B1", "B2", "B3", "S", "M", "L")),
        *(f"ConvNeXt{v}" for v in ("Small", "Base", "Large", "XLarge")),
    ]  # fmt: skip
    return {name: (lambda n=name: getattr(a, n)(**small)) for name in members}


QUICK = ("MobileNet", "MobileNetTop", "MobileNetV3Small")


def names() -> list[str]:
    """One model of each family."""
    return list(_apps())


def every_name() -> list[str]:
    """Every application Keras 3 builds offline."""
    return [*_apps(), *_variants()]


def randomised(name: str) -> Any:
    """The application, its BatchNorm statistics, gammas, betas and biases randomised."""
    model = (_apps() | _variants())[name]()
    rng = np.random.default_rng(0)
    values = []
    for variable, value in zip(model.weights, model.get_weights(), strict=True):
        path = variable.path
        if "moving_variance" in path:
            value = rng.uniform(0.5, 1.5, value.shape)
        elif "gamma" in path and "layer_scale" not in path:
            value = rng.uniform(0.8, 1.2, value.shape)
        elif any(key in path for key in ("moving_mean", "beta", "bias")):
            value = 0.1 * rng.standard_normal(value.shape)
        values.append(np.asarray(value, np.float32))
    model.set_weights(values)
    return model


def check(name: str, folder: Path) -> dict[str, float]:
    """Import `name` from each source; assert equal weights, predict parity for the first
    and the same spec for the others (so they predict the same); return seconds per source."""
    from kspec.runtime.keras_io.importer import from_keras

    with jax.numpy_rank_promotion("allow"):
        model = randomised(name)
        shape = tuple(model.input_shape[1:])
        x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32)
        expected = model.predict(x, verbose=0)
        model.save(folder / f"{name}.keras")
        model.save(folder / f"{name}.h5")
    seconds, first = {}, None
    for label, src in (("keras", folder / f"{name}.keras"), ("h5", folder / f"{name}.h5"),
                       ("live", model)):  # fmt: skip
        started = time.perf_counter()
        imported = from_keras(src)
        seconds[label] = time.perf_counter() - started
        for mine, theirs in zip(imported.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs, err_msg=f"{name} from {label}")
        if first is None:  # predict once; the other sources must give the same spec
            first = imported
            np.testing.assert_allclose(imported.predict(x), expected, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{name} from {label}")  # fmt: skip
        elif imported.to_json() != first.to_json():
            raise AssertionError(f"{name} from {label}: the spec differs from the .keras one's")
    return seconds


def main(selected: list[str] | None = None) -> None:
    jax.config.update("jax_default_matmul_precision", "highest")
    with tempfile.TemporaryDirectory() as folder:
        for name in selected or list(QUICK):
            try:
                seconds = check(name, Path(folder))
            except Exception as exc:  # a report, not a test: show every model's outcome
                print(f"{name:32s} FAILED {type(exc).__name__}: {str(exc)[:300]}")
                continue
            times = ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
            print(f"{name:32s} parity ok; import {times}")


def _selection(argv: list[str]) -> list[str] | None:
    if "--all" in argv:
        return every_name()
    if "--families" in argv:
        return names()
    unknown = [a for a in argv if a not in every_name()]
    if unknown:
        raise SystemExit(f"unknown application(s) {', '.join(unknown)}; known: {every_name()}")
    return argv or None


if __name__ == "__main__":
    main(_selection(sys.argv[1:]))
