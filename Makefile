# Driveguard: `make run` starts the whole product, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/.uv/bin/uv
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_LINK_MODE := copy

.PHONY: install run test lint format clean-var bench

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@# uv lives in its own small venv so that an exact `uv sync` of .venv never removes it.
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV)/.uv && $(VENV)/.uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; }
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/python -m launcher

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The benchmarks (not part of `make test`): ~10 minutes, figures in bench/results/latest.json.
bench: install
	$(VENV)/bin/python bench/run_all.py

clean-var:
	rm -rf var
