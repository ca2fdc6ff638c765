# limner: two commands on a fresh clone.
#   make demo   set up, then generate an image with the shipped model and print its path
#   make test   set up, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PROMPT ?= a red star above a blue ring

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first, so that no dependency pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	touch $@

demo: setup
	@mkdir -p out
	$(VENV)/bin/limner generate "$(PROMPT)" --seed 1 -o out/demo.png

test: setup
	$(VENV)/bin/ruff check limner tests bench
	$(VENV)/bin/mypy limner
	$(VENV)/bin/lint-imports
	# no block of 6 or more lines (code, not comments or docstrings) repeated inside limner/
	$(VENV)/bin/pylint --disable=all --enable=duplicate-code --min-similarity-lines=6 --score=n limner
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/generation.py

clean:
	rm -rf out .pytest_cache
