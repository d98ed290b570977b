# The two commands: `make demo` runs the main job on the embedded data, `make test` runs the tests.
# Both create .venv on first use and reuse it afterwards.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-extended venv bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/attrbench demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest

# the end-to-end tests `make test` leaves out (marked `extended`: subprocesses, torchrun, seeds)
test-extended: $(STAMP)
	$(BIN)/python -m pytest -m extended

bench: $(STAMP)
	$(BIN)/python bench/fpa_overhead.py
	$(BIN)/python bench/estimators.py
	$(BIN)/python bench/perturbation.py

clean:
	rm -rf runs .pytest_cache
