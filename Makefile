# Two commands do everything on a fresh machine (python 3.11 + pip; see README):
#   make repro   set up .venv, then `dvc repro` of the active profile (params.yaml: quick by default)
#   make test    set up .venv, then the test suite (unit, ground-truth, notebook smoke + nbval)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg

.PHONY: setup repro repro-converged test test-all bench gpu-wheels lab clean-build

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
	dvc repro dvc.yaml
	dvc metrics show

# The converged profile (params/converged.yaml): hours on a 2-core CPU; resumes where it stopped when run again.
# Its runs use one thread each (cpu_threads: 1, so that the accuracies come back bit for bit), so the linf and the l2
# halves (train, evaluate, audit) run side by side, one per core; then the notebooks, the zoo and the index.
CONVERGED := pipelines/converged/dvc.yaml
repro-converged: $(STAMP)
	dvc config core.analytics false
	dvc repro $(CONVERGED):data
	for n in linf l2; do \
	  (for s in train evaluate audit; do dvc repro -s $(CONVERGED):$${s}_$$n || exit 1; done) & pids="$$pids $$!"; \
	done; ok=0; for p in $$pids; do wait $$p || ok=1; done; test $$ok -eq 0
	dvc repro $(CONVERGED)
	python -m atentlib zoo --profile converged
	python -m atentlib timings --profile converged --build-dir build/converged --out tables/converged/timings.md
	dvc repro -s dvc.yaml:figures_index

# pytest exits 5 when it collects no test: that is a failure of the suite, said plainly.
test: $(STAMP)
	python -m pytest -m "not slow" -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; fi; exit $$rc

test-all: $(STAMP)
	python -m pytest -q -p no:cacheprovider

# timings on synthetic tensors; results in bench/results/*.json feed the Table S4 notebook (see bench/README.md)
bench: $(STAMP)
	python bench/bench_atent_vs_pgd.py
	python bench/bench_attacks.py
	python bench/bench_certify.py
	python bench/bench_eval_layout.py

# For a CUDA machine whose Python lacks them (bench/README.md, "On a CUDA machine"): wheels of pydantic and its
# needs, at the versions of this venv, for Python 3.12, into .whl/, which bench/gpu_check.sh installs.
GPU_WHEELS := ^(pydantic|pydantic[-_]core|annotated[-_]types|typing[-_]inspection|typing[-_]extensions)==
gpu-wheels: $(STAMP)
	rm -rf .whl && mkdir -p .whl
	python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
	  $$(python -m pip freeze | grep -iE '$(GPU_WHEELS)')
	ls .whl

# JupyterLab on the repository root, opening the start-here notebook. notebooks/*.py open as notebooks: jupytext's
# contents manager reads them, and tools/jupyter/labconfig makes "Jupytext Notebook" the default viewer of .py
# files (right-click > Open With > Editor for plain text). MPLBACKEND=Agg (above) is dropped so figures show.
lab: $(STAMP)
	env -u MPLBACKEND JUPYTER_CONFIG_PATH=$(CURDIR)/tools/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_start_here.py

# Outside CI: two runs in a real JupyterLab driven by headless Chromium (Playwright), each failing on any error
# output: notebooks/00_start_here.py (screenshot build/lab_check.png), then notebooks/fig2_sampling_1d.py, whose
# σ (temperature) slider is moved and whose exploration figure must be redrawn (build/lab_check_fig2.png). Needs
# Debian's chromium (apt-get install -y chromium); the playwright package is installed here if missing (it never
# downloads a browser).
.PHONY: lab-check
lab-check: $(STAMP)
	python -c "import playwright" 2>/dev/null || python -m pip install --quiet playwright==1.65.2
	python tools/lab_check.py
	python tools/lab_check.py --notebook notebooks/fig2_sampling_1d.py --screenshot build/lab_check_fig2.png \
	  --slider temperature

clean-build:
	rm -rf build
