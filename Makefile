# The two set-up-and-go commands of the README: `make demo` and `make test`.
# Each creates .venv and installs the pinned environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seer-installed

.PHONY: setup test lint demo clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	# VISSL's own pins (numpy 1.19, hydra 1.0, ...) do not install on Python 3.11.
	$(PY) -m pip install -q --no-deps vissl==0.1.6
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest

demo: setup
	$(PY) tools/run_demo.py

clean:
	rm -rf $(VENV)
