"""Loading weights by layer name, with a report; rebuilding a model from a checkpoint alone."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.layers import Dense
from kspec.runtime import checkpoint_store as store


def _mlp(names: list[str], units: list[int]) -> kspec.Sequential:
    layers = [Dense(units[0], input_dim=4, name=names[0])]
    layers += [Dense(u, name=n) for n, u in zip(names[1:], units[1:], strict=True)]
    return kspec.Sequential(layers)


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[kspec.Model, Path]:
    model = _mlp(["h1", "h2", "h3", "out"], [8, 6, 6, 3])
    model.init(1)
    model.save_weights(tmp_path / "ckpt")
    return model, tmp_path / "ckpt"


def test_by_name_reports_exactly_the_renamed_and_reshaped_layers(
    saved: tuple[kspec.Model, Path], caplog: pytest.LogCaptureFixture
) -> None:
    source, path = saved
    target = _mlp(["h1", "renamed", "h3", "out"], [8, 6, 6, 5])
    target.init(2)
    before = target.get_layer("renamed").get_weights()
    with caplog.at_level(logging.WARNING, logger="kspec"):
        report = target.load_weights(path, by_name=True, skip_mismatch=True)
    assert report.matched == ["h1", "h3"]
    assert report.missing == ["renamed"]
    assert report.unexpected == ["h2"]
    assert report.mismatched == {
        "out": "'kernel' is (6, 3) there, (6, 5) here; 'bias' is (3,) there, (5,) here"
    }
    for name in ("h1", "h3"):
        for got, want in zip(
            target.get_layer(name).get_weights(), source.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    for got, want in zip(target.get_layer("renamed").get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert str(report) in caplog.text
    assert "not in the checkpoint (weights unchanged): renamed" in caplog.text


def test_by_name_wrong_shape_raises_without_skip_mismatch(saved: tuple[kspec.Model, Path]) -> None:
    _, path = saved
    target = _mlp(["h1", "h2", "h3", "out"], [8, 6, 6, 5])
    with pytest.raises(kspec.CheckpointError, match=r"out: 'kernel' is \(6, 3\) there"):
        target.load_weights(path, by_name=True)
    with pytest.raises(ValueError, match="skip_mismatch=True needs by_name=True"):
        target.load_weights(path, skip_mismatch=True)


def test_exact_load_reports_every_layer(saved: tuple[kspec.Model, Path]) -> None:
    source, path = saved
    copy = _mlp(["h1", "h2", "h3", "out"], [8, 6, 6, 3])
    report = copy.load_weights(path)
    assert report.matched == ["h1", "h2", "h3", "out"] and report.complete
    for got, want in zip(copy.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_load_checkpoint_rebuilds_the_model_alone(saved: tuple[kspec.Model, Path]) -> None:
    source, path = saved
    model = kspec.load_checkpoint(path)
    assert model.spec == source.spec
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), source.predict(x))


def test_load_checkpoint_checks_the_spec_hash(saved: tuple[kspec.Model, Path]) -> None:
    _, path = saved
    version = store.open_current(path)[0]
    metadata = json.loads((version / "kspec.json").read_text())
    metadata["spec"]["layers"][0]["units"] = 9
    text = json.dumps(metadata).encode()
    (version / "kspec.json").write_bytes(text)
    # A consistent edit (pointer digest updated too) still fails on the spec's own sha256.
    pointer = json.loads((path / "CURRENT").read_text())
    pointer["kspec.json"] = hashlib.sha256(text).hexdigest()
    (path / "CURRENT").write_text(json.dumps(pointer))
    with pytest.raises(kspec.CheckpointError, match="does not match its sha256"):
        kspec.load_checkpoint(path)
