# Every target bootstraps .venv by itself: a fresh clone needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FIRST_NOTEBOOK := notebooks/01_taylor_approximations.ipynb
PYTEST_NOTEBOOKS := --nbval-lax --nbval-current-env

# Headless servers get no browser; root needs --allow-root or JupyterLab refuses to start.
LAB_FLAGS := $(if $(DISPLAY),,--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install lab test test-lib test-notebooks lint clean

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

clean:
	rm -rf $(VENV) build .pytest_cache
