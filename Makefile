# Two commands do everything on a fresh machine: `make lab` and `make test`.
# Both create .venv and install the project into it first (once; again when
# pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
PIP_QUIET := --quiet --disable-pip-version-check
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help setup lab run test bench figures explore warm lint clean

help:
	@echo "make lab    - open the notebooks in JupyterLab (sets up .venv first)"
	@echo "make test   - run the whole test suite, notebooks included"
	@echo "make run    - execute every notebook top to bottom into build/notebooks/"
	@echo "make bench  - speed benchmarks (results in build/bench/)"
	@echo "make figures - redraw the diagrams in image/"
	@echo "make warm   - train every model the notebooks use, so a class starts instantly"
	@echo "make explore - serve the latent explorer app on http://127.0.0.1:8866"
	@echo "make lint   - ruff over aelib, tests, benchmarks and notebooks"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c "import aelib, torch, torchvision, nbval, ipywidgets, voila, playwright"
	touch $(STAMP)

lab: $(STAMP)
	$(PY) -m jupyterlab --ServerApp.root_dir=notebooks --ServerApp.ip=127.0.0.1 $(ROOT_FLAG)

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

# Voila with Jupyter folders of its own (build/jupyter): a user's Jupyter configuration
# or old templates (some load require.js from a CDN) cannot change the app; it runs offline.
JUPYTER_OWN := $(foreach d,config data runtime path ipython,$(CURDIR)/build/jupyter/$(d))
explore: $(STAMP) warm
	mkdir -p $(JUPYTER_OWN)
	JUPYTER_CONFIG_DIR=$(CURDIR)/build/jupyter/config JUPYTER_DATA_DIR=$(CURDIR)/build/jupyter/data \
	JUPYTER_RUNTIME_DIR=$(CURDIR)/build/jupyter/runtime JUPYTER_PATH=$(CURDIR)/build/jupyter/path \
	IPYTHONDIR=$(CURDIR)/build/jupyter/ipython \
	$(PY) -m voila notebooks/09_latent_explorer.ipynb --no-browser --port=8866 --Voila.ip=127.0.0.1

lint: $(STAMP)
	$(PY) -m pip install $(PIP_QUIET) ruff 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m ruff check aelib tests benchmarks notebooks

clean:
	rm -rf build .pytest_cache
