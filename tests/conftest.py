"""Test configuration: Keras 3 on the JAX backend as the oracle, strict JAX numerics."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

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
# Many tests compile the same programs (one layer at the same shapes, the Keras side's steps):
# each test process keeps every program it compiled in a private cache directory, so an
# identical program is loaded, not compiled again (about a quarter less CPU on the parity
# files). Set in-process, not in the environment: subprocesses the tests start (CLI runs, the
# multi-host workers) get no shared directory to race on. Removed when the process ends.
_CACHE = tempfile.mkdtemp(prefix="kspec-tests-xla-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_quick(items)
