# The two commands of the README: `make run` and `make test`. Both create .venv from
# requirements.txt first (again only when requirements.txt changes).
PYTHON ?= python3
VENV := .venv
SNAKEMAKE_ARGS ?=

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

.PHONY: run test
run: $(VENV)/.installed
	$(VENV)/bin/snakemake --cores all $(SNAKEMAKE_ARGS)

test: $(VENV)/.installed
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow
	$(VENV)/bin/ruff check workflow tests benchmarks
	$(VENV)/bin/ruff format --check workflow tests benchmarks
	$(VENV)/bin/python -m pytest
