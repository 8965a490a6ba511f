# The two commands of the README: `make run` and `make test`. Both create .venv from
# requirements.txt first (again only when requirements.txt's contents change). `make test-fast` is the
# unit tier for development: no Snakemake runs, no torch.compile (about a minute on 2 cores).
# `make test-avx2` runs `make test` as a CPU with AVX2 only would (bf16 emulated, so `auto`
# takes fp32): oneDNN, ATen and MKL capped at AVX2, on any x86 CPU, with a torch.compile cache
# of its own (torch 2.13 took kernels compiled for the full instruction set from a shared cache
# under ATEN_CPU_CAPABILITY=avx2, and they gave NaN).
PYTHON ?= python3
VENV := .venv
SNAKEMAKE_ARGS ?=

# The stamp holds requirements.txt's sha256, so a fresh clone (whose files are all new) or a
# .venv that is a link to another checkout's is not rebuilt while the pins are the same.
INSTALLED := $(VENV)/.installed
PINS := $(shell sha256sum requirements.txt | cut -d' ' -f1)
ifneq ($(PINS),$(shell cat $(INSTALLED) 2>/dev/null))
.PHONY: $(INSTALLED)
endif
$(INSTALLED):
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --quiet --disable-pip-version-check -r requirements.txt
	echo $(PINS) > $@

AVX2 := ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
	TORCHINDUCTOR_CACHE_DIR=$(CURDIR)/.cache/torchinductor-avx2

.PHONY: run test test-fast test-avx2 config-reference
run: $(INSTALLED)
	$(VENV)/bin/snakemake --cores all $(SNAKEMAKE_ARGS)

test: $(INSTALLED)
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow
	$(VENV)/bin/ruff check workflow tests benchmarks
	$(VENV)/bin/ruff format --check workflow tests benchmarks
	$(VENV)/bin/python -m pytest

test-fast: $(INSTALLED)
	$(VENV)/bin/python -m pytest -m "not workflow and not compile"

test-avx2:
	$(AVX2) $(MAKE) test

# config/README.md's key tables, from config.schema.yaml's descriptions and config.yaml's values.
config-reference: $(INSTALLED)
	cd workflow/scripts && $(CURDIR)/$(VENV)/bin/python -m unused_tokens.pipeline.config_reference
