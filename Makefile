# copier-go-service: the template's own tasks. `make demo` shows a generated service
# working; `make test` runs the whole suite (.ci/run runs the same steps, timed, after
# installing what is missing).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-installs only when the package metadata changes.
STAMP := $(VENV)/.installed

# Extra pytest arguments, e.g. make test PYTEST_ARGS='-m "unit or render"'.
PYTEST_ARGS ?=

.PHONY: help demo test unit lint typecheck format smoke pins clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> Creating $(VENV) and installing gosvc with its dev tools"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

demo: $(STAMP) ## generate a service with defaults, build it, run it, call it, stop it
	$(BIN)/gosvc demo build/demo

test: lint typecheck $(STAMP) ## lint, type-check and run every test layer (on every core)
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(STAMP) ## the unit layer alone: the pure Python parts, in seconds
	$(BIN)/pytest -m unit -n 0 $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict on generator/, hooks/, migrations/ and tests/
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

smoke: $(STAMP) ## gosvc smoke over tests/matrix.yml (race detector on)
	$(BIN)/gosvc smoke --race

# Extra tools/pins.py arguments, e.g. make pins PINS_ARGS=--smoke.
PINS_ARGS ?=

pins: $(STAMP) ## re-tidy template/go.sum.jinja for every answer set that changes dependencies
	$(BIN)/python tools/pins.py $(PINS_ARGS)

clean: ## remove the venv, caches and the demo service
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
