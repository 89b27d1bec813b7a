# Every target bootstraps .venv by itself: a fresh clone needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FIRST_NOTEBOOK := notebooks/01_taylor_approximations.ipynb
PYTEST_NOTEBOOKS := --nbval-lax --nbval-current-env

# Headless servers get no browser; root needs --allow-root or JupyterLab refuses to start.
LAB_FLAGS := $(if $(DISPLAY),,--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install lab test test-lib test-notebooks lint slides grade benchmark-kfac clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, found " + sys.version)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_FLAGS) $(FIRST_NOTEBOOK)

# Unit tests, every lecture notebook, every exercise solution, and the exercise checks.
# Serial on purpose: parallel notebook kernels on 2 cores time out at start-up.
test: $(STAMP)
	$(BIN)/python -m pytest tests notebooks exercises/solutions $(PYTEST_NOTEBOOKS)

test-lib: $(STAMP)
	$(BIN)/python -m pytest tests

test-notebooks: $(STAMP)
	$(BIN)/python -m pytest notebooks exercises/solutions $(PYTEST_NOTEBOOKS)

lint: $(STAMP)
	$(BIN)/ruff check lecture_lib tests benchmarks notebooks exercises

# Every lecture executed and written as an offline reveal.js deck (assets included).
slides: $(STAMP)
	$(BIN)/python -m lecture_lib.slides notebooks/*.ipynb --out build/slides

# Grade homework: make grade SUBMISSIONS=folder [GRADES=grades] [TIMEOUT=300]
# (unquoted on purpose: an empty SUBMISSIONS stops with argparse's message, not grading ".")
GRADES ?= grades
TIMEOUT ?= 300
grade: $(STAMP)
	$(BIN)/python -m lecture_lib.grading $(SUBMISSIONS) --out $(GRADES) --timeout $(TIMEOUT)

# kfac-jax needs jax 0.9.1: the parity benchmark gets its own pinned environment.
KFAC_VENV := .venv-kfac
KFAC_STAMP := $(KFAC_VENV)/.installed-stamp

$(KFAC_STAMP): benchmarks/kfac/requirements.txt pyproject.toml
	test -x $(KFAC_VENV)/bin/python || $(PYTHON) -m venv $(KFAC_VENV)
	$(KFAC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(KFAC_VENV)/bin/python -m pip install --quiet -r benchmarks/kfac/requirements.txt -e .
	touch $(KFAC_STAMP)

benchmark-kfac: $(KFAC_STAMP)
	$(KFAC_VENV)/bin/python benchmarks/kfac_parity.py

clean:
	rm -rf $(VENV) $(KFAC_VENV) build .pytest_cache
