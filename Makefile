# Two commands do everything on a fresh machine: `make lab` and `make test`.
# Both create .venv and install the project into it first (once; again when
# pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
PIP_QUIET := --quiet --disable-pip-version-check
# Jupyter refuses to run as root; ALLOW_ROOT=1 says you mean it (containers, CI), as
# for `make explore`.
ROOT_FLAG := $(if $(filter 1,$(ALLOW_ROOT)),--allow-root,)
# The project's own Jupyter settings (jupyter/: server on 127.0.0.1 with a token, lab root
# at the repository root opening notebooks/, news off) and a project data dir for the
# trust database and workspaces, so nothing lands in the user's global ~/.jupyter.
JUPYTER_ENV := JUPYTER_CONFIG_DIR=$(CURDIR)/jupyter JUPYTER_DATA_DIR=$(CURDIR)/build/jupyter-data

.PHONY: help setup lab run test bench figures explore warm lint clean

help:
	@echo "make lab    - open the notebooks in JupyterLab (sets up .venv first)"
	@echo "make test   - run the whole test suite, notebooks included"
	@echo "make run    - execute every notebook top to bottom into build/notebooks/"
	@echo "make bench  - speed benchmarks (results in build/bench/)"
	@echo "make figures - redraw the diagrams in image/"
	@echo "make warm   - train every model the notebooks use, so a class starts instantly"
	@echo "make explore - serve the latent explorer app (prints its address; PORT=8866)"
	@echo "make lint   - ruff over aelib, tests, benchmarks and notebooks"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c "import aelib, torch, torchvision, nbval, ipywidgets, voila, playwright"
	touch $(STAMP)

lab: $(STAMP)
	$(JUPYTER_ENV) $(VENV)/bin/jupyter trust $(NOTEBOOKS)
	$(JUPYTER_ENV) $(PY) -m jupyterlab $(ROOT_FLAG)

run: $(STAMP)
	mkdir -p build/notebooks
	for nb in $(NOTEBOOKS); do \
	  $(PY) -m nbconvert --to notebook --execute "$$nb" --output-dir build/notebooks \
	    --ExecutePreprocessor.timeout=900 || exit 1; \
	done

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	mkdir -p build/bench
	for b in benchmarks/[a-z]*.py; do $(PY) "$$b" || exit 1; done

figures: $(STAMP)
	$(PY) -m aelib.figures image

warm: $(STAMP)
	$(PY) -m aelib.zoo

# The explorer app (notebooks/09) under Voila, for a lecture hall: prints one address with a
# secret token; 127.0.0.1 only; the kernels of closed pages stop; at most four pages at
# once; Jupyter folders of its own (build/jupyter); refuses to run as root unless
# ALLOW_ROOT=1. Trains the models first only if the cache holds none (explore/serve.py).
PORT ?= 8866
explore: $(STAMP)
	@$(PY) explore/serve.py --port $(PORT) --warm-if-cold

lint: $(STAMP)
	$(PY) -m pip install $(PIP_QUIET) ruff 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m ruff check aelib tests benchmarks notebooks

clean:
	rm -rf build .pytest_cache
