# After-sales engine. `make dev` runs it on embedded defaults; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install dev test lint format bench clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the engine with its pinned dependencies

dev: $(STAMP) ## Run the whole engine: Temporal dev server + UI, PostgreSQL, worker, API, demo data
	$(BIN)/python -m stack

lint: $(STAMP) ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: lint ## Lint, then the whole suite on real Temporal servers and a real PostgreSQL
	$(BIN)/pytest

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Sizes as arguments, e.g. make bench BENCH_ARGS="--tickets 500 --deadline-tickets 10000".
BENCH_ARGS ?=
bench: $(STAMP) ## Benchmarks (medians from one run); writes docs/BENCHMARKS.md
	$(BIN)/python -m bench --profile .data/bench/worker-profile.txt \
		--profile-api .data/bench/api-profile.txt $(BENCH_ARGS)

.PHONY: reliability
reliability: $(STAMP) ## Fault suite: kill and stall the stack's parts under load; writes docs/RELIABILITY.md
	$(BIN)/python -m reliability

clean: ## Remove the virtual environment and caches (keeps .data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
