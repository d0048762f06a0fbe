# Two commands for a newcomer: `make demo` (build the bundled example) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo digits gpt vit test test-fast fuzz bench mutate lint schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kspec build examples/mnist_cnn.yaml -o out/mnist_cnn

# Train a small CNN on scikit-learn's bundled 8x8 digits (no download); prints test accuracy.
digits: $(STAMP)
	$(BIN)/python -c 'import sklearn' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[examples]'
	$(BIN)/python -m examples.digits

# Tests run on every core (pytest-xdist); `-n 0` in PYTEST_ARGS runs them in one process.
PYTEST_ARGS ?= -n auto

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The inner loop: the quick subset declared in tests/quick.py (CI runs `make test`).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) -m quick

# The hostile-input fuzz (docs/limits.md): 10,000 cases per probe class (expression bombs,
# block and include amplification, huge dimensions; damaged and forged checkpoints) under an
# 8 GiB address-space limit; prints hypothesis' statistics (cases run per class). CI runs the same tests with 20 cases each.
fuzz: $(STAMP)
	ulimit -v 8388608; KSPEC_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/spec/test_fuzz_hostile.py tests/runtime/test_fuzz_checkpoints.py \
		--hypothesis-show-statistics

# The suite (docs/performance.md): one table, bench/results.json and bench/results.png.
# BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(BIN)/python -c 'import flax, equinox, matplotlib' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

# The mutation score (docs/testing.md): a seeded sample of mutmut's mutants of compiler/layers/
# and the Keras 1 alias maps, each run against the quick tests that execute its line; prints the
# kill rate and every survivor, writes out/mutate/mutate.json. MUTATE_SAMPLE, MUTATE_SEED and
# MUTATE_ARGS (e.g. --only compiler/layers/core.py:12, --survivors, --list) override.
mutate: $(STAMP)
	$(BIN)/python -c 'import mutmut, coverage' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[mutate]'
	$(BIN)/python -m tests.mutation $(MUTATE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

schema: $(STAMP)
	$(BIN)/kspec schema -o schemas/kspec.schema.json

clean:
	rm -rf out build *.egg-info .pytest_cache
