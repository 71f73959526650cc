# Two commands matter: `make run` starts the bot, `make test` runs the tests.
# Each creates .venv and installs the project into it when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	@test -f .env || (cp .env.example .env && echo "已从 .env.example 生成 .env / created .env from .env.example")
	$(PY) -m bot

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

demo: $(STAMP)
	$(PY) -m tools.demo

bench: $(STAMP)
	$(PY) bench/roundtrip.py
	$(PY) bench/settlement.py
	$(PY) bench/dashboard.py

clean:
	rm -rf $(VENV) .pytest_cache
