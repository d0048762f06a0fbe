"""Test configuration: Keras 3 on the JAX backend as the oracle, strict JAX numerics."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Test programs are tiny, so XLA's compile time dominates their run time: the suite compiles
# with LLVM's cheap pipeline (about 30% less CPU over the suite; the same HLO and the same
# arithmetic, no fast-math). Subprocesses the tests start inherit it.
os.environ["XLA_FLAGS"] = (
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
    + os.environ.get("XLA_FLAGS", "")
).strip()

import jax
import pytest

from tests.quick import mark_quick

jax.config.update("jax_default_matmul_precision", "highest")
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_quick(items)
