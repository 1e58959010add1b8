# The front door. `make test` is what .ci/run runs; `make demo` shows the product.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: test lint typecheck pytest demo simulate clean tools docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

## tools: programs the tests call that pip cannot install: promtool and Alertmanager (Debian)
DEBIAN_TOOLS := promtool:prometheus prometheus-alertmanager:prometheus-alertmanager chromium:chromium
tools:
	@missing=""; for pair in $(DEBIAN_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

## test: the whole suite: lint, format check, strict typing, then every test in a random
## order (seed in the header) with a branch-coverage report; fails under the floor in
## pyproject.toml ([tool.coverage.report] fail_under)
test: $(STAMP) tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest --cov --cov-report=term

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

## demo: simulator + daemon + alerts on this terminal (fires ~1.5 min in, resolves ~3 min in)
demo: $(STAMP)
	$(BIN)/telepath-monitor demo

## simulate: only the Telepath-compatible simulator, on 127.0.0.1:8765
simulate: $(STAMP)
	$(BIN)/telepath-monitor simulate --scenario ai-spike

## docs: regenerate the README's reference sections from the code (tests fail when stale)
docs: $(STAMP)
	$(BIN)/python tools/reference.py --write

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
