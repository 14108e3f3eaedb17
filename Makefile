# Two commands do everything on a fresh machine (python 3.11 + pip; see README):
#   make repro   set up .venv, then `dvc repro` of the active profile (params.yaml: quick by default)
#   make test    set up .venv, then the test suite (unit, ground-truth, notebook smoke + nbval)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg

.PHONY: setup repro test test-all bench lab clean-build

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

repro: $(STAMP)
	dvc config core.analytics false
	dvc repro
	dvc metrics show

# pytest exits 5 when it collects no test: that is a failure of the suite, said plainly.
test: $(STAMP)
	python -m pytest -m "not slow" -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; fi; exit $$rc

test-all: $(STAMP)
	python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	python bench/bench_atent_vs_pgd.py

lab: $(STAMP)
	jupyter lab --notebook-dir=notebooks

clean-build:
	rm -rf build
