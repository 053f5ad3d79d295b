# Two entry points for a fresh machine with only Python >= 3.11:
#   make demo   - create .venv, install Forewarn, run `forewarn demo`
#   make test   - create .venv, install Forewarn with dev tools, lint, type-check, run pytest
# Both install the exact versions in requirements/dev.lock (hash-checked); `make lock` refreshes it.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
LOCK_FLAGS = --universal --generate-hashes --python-version 3.11 --no-header --quiet

.PHONY: demo test test-fast lint typecheck pytest bench lock clean

$(BIN)/forewarn: pyproject.toml requirements/dev.lock
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 needed") if sys.version_info < (3, 11) else None'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

demo: $(BIN)/forewarn
	$(BIN)/forewarn demo $(ARGS)

test: lint typecheck pytest

# Everything but the tests marked slow (real brokers killed, long replays, subprocesses), on
# both cores (pytest-xdist); CI runs the whole suite in one process.
test-fast: $(BIN)/forewarn
	$(BIN)/pytest -m "not slow" -n 2 -q $(PYTEST_ARGS)

lint: $(BIN)/forewarn
	$(BIN)/ruff check forewarn tests benchmarks
	$(BIN)/ruff format --check forewarn tests benchmarks
	$(BIN)/python scripts/check_conventions.py
	$(BIN)/lint-imports

typecheck: $(BIN)/forewarn
	$(BIN)/mypy

pytest: $(BIN)/forewarn
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(BIN)/forewarn
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

# Re-resolve every dependency to the newest release inside pyproject's ranges. Then run
# `make test` and commit pyproject.toml and requirements/ together.
lock: $(BIN)/forewarn
	$(BIN)/uv pip compile pyproject.toml requirements/build.in $(LOCK_FLAGS) --upgrade -o requirements/main.lock
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra dev $(LOCK_FLAGS) --upgrade -o requirements/dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
