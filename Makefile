# Driveguard: `make run` starts the whole product, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/.uv/bin/uv
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_LINK_MODE := copy

.PHONY: install chromium redis run test lint format clean-var bench fuzz soak

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@# uv lives in its own small venv so that an exact `uv sync` of .venv never removes it.
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV)/.uv && $(VENV)/.uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; }
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed

# The browser tests (tests/browser) drive Debian's chromium through Playwright; Playwright's own
# browser download is never used. Installed once, when missing (as root, or through sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# The Celery scale-out test (tests/system/test_celery_scale_out.py) needs Redis: the machine's own on
# 127.0.0.1:6379, or Debian's redis-server, which the test then starts itself. Installed once, when
# neither is there (as root, or through sudo).
redis: install
	@$(VENV)/bin/python -c "import socket; socket.create_connection(('127.0.0.1', 6379), 1).close()" 2>/dev/null \
		|| command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server for the Celery scale-out test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server; }

run: install
	$(VENV)/bin/python -m launcher

test: install chromium redis
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

# The long API fuzz (not part of `make test`, which runs the same suite with a few examples per
# operation): schemathesis against the app's OpenAPI document, FUZZ_EXAMPLES per operation and caller.
FUZZ_EXAMPLES ?= 150
fuzz: install
	DRIVEGUARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/python -m pytest tests/fuzz -q -p no:cacheprovider --timeout=0

# The soak (tests/soak, ~10 s of load inside `make test`) for longer: SOAK_SECONDS of concurrent API
# reads and writes beside collections and alert dispatches (default 600), then every write counted.
SOAK_SECONDS ?= 600
soak: install
	SOAK_SECONDS=$(SOAK_SECONDS) $(VENV)/bin/python -m pytest tests/soak -q -p no:cacheprovider --timeout=$$(( $(SOAK_SECONDS) + 900 ))

clean-var:
	rm -rf var

# Mutation testing (not part of `make test`): cosmic-ray over the rule-bearing modules, bounded to
# 45 minutes (60 s per mutant); report in var/mutation/report.md, see docs/mutation.md.
# Examples: make mutate MUTATE_ARGS="--modules vault,sessions"; MUTATE_ARGS=--retest-survivors.
.PHONY: mutate
mutate: install
	$(VENV)/bin/python mutation/run.py $(MUTATE_ARGS)
