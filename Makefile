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

run: $(STAMP) .env
	$(PY) -m bot

# .env holds the access token: created readable by its owner only (0600), with a random token.
.env:
	@umask 077 && TOKEN=$$($(PYTHON) -c "import secrets; print(secrets.token_urlsafe(24))") && \
		sed "s|^ONEBOT_ACCESS_TOKEN=$$|ONEBOT_ACCESS_TOKEN=$$TOKEN|" .env.example > .env && \
		echo "已从 .env.example 生成 .env（仅本用户可读）；QQ 端的 access token 填 .env 里的 ONEBOT_ACCESS_TOKEN" && \
		echo "created .env from .env.example (mode 0600); give the OneBot client the ONEBOT_ACCESS_TOKEN in .env"

# The suite runs on SQLite, then again on PostgreSQL when one answers at PG_TEST_URL
# (CI requires it; elsewhere a missing server is said, not failed).
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@echo "== 测试 / tests: SQLite =="
	$(PY) -m pytest -q
	@if $(PY) -m tools.testdb ping "$(PG_TEST_URL)"; then \
		echo "== 测试 / tests: PostgreSQL ($(PG_TEST_URL)) =="; \
		KPI_TEST_DATABASE_URL="$(PG_TEST_URL)" $(PY) -m pytest -q; \
	elif [ -n "$$CI" ]; then \
		echo "❌ CI 需要 PostgreSQL，但 $(PG_TEST_URL) 连不上"; exit 1; \
	else \
		echo "⚠️  没有连上 PostgreSQL（$(PG_TEST_URL)），只测了 SQLite；设置 PG_TEST_URL 后再跑 make test 即可测 PostgreSQL"; \
	fi

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
