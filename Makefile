# Two entry points for a fresh machine with only Python >= 3.11:
#   make demo   - create .venv, install Forewarn, run `forewarn demo`
#   make test   - create .venv, install Forewarn with dev tools, lint, type-check, run pytest
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/forewarn: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/forewarn
	$(BIN)/forewarn demo $(ARGS)

test: lint typecheck pytest

lint: $(BIN)/forewarn
	$(BIN)/ruff check forewarn tests benchmarks
	$(BIN)/ruff format --check forewarn tests benchmarks
	$(BIN)/python scripts/check_conventions.py

typecheck: $(BIN)/forewarn
	$(BIN)/mypy

pytest: $(BIN)/forewarn
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(BIN)/forewarn
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
