# The two set-up commands of the README: `make demo` and `make test`. Each creates the
# virtualenv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo demo-dry-run test lint install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# A full sweep on the embedded sandbox (moto on loopback): plan, terminate, show what is left.
demo: $(BIN)/.installed
	$(BIN)/reaper demo --apply

demo-dry-run: $(BIN)/.installed
	$(BIN)/reaper demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check reaper tests bench
	$(BIN)/ruff format --check reaper tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
