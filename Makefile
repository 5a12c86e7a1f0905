# Affiant: `make run` starts the whole app on embedded defaults; `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Re-install whenever pyproject.toml changes. pip's wheel cache stays on, so llama-cpp-python
# compiles once per machine (about 10 minutes) and installs from the cache in seconds after that.
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)

.PHONY: install run demo test test-fast lint typecheck system-deps clean deploy-check

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip wheel setuptools
	$(PY) -m pip install -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## Everything on embedded defaults: SQLite, an embedded Redis, the local model. Ctrl-C stops it all.
run: install system-deps
	$(PY) -m config.stack

## Draft the demo declaration headless through the real queues and model; prints one JSON line.
demo: install
	$(PY) manage.py demo --headless

## Debian packages: Chromium for the browser tests, tesseract for OCR; installed only when missing and possible.
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v tesseract >/dev/null || missing="$$missing tesseract-ocr"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

## ruff, mypy, then pytest on PostgreSQL and Redis at 127.0.0.1 when they answer (else embedded).
test: install system-deps lint typecheck
	$(PY) -m pytest

## The unit tests alone: no workers, no model, no browser.
test-fast: install
	$(PY) -m pytest -m "not realstack and not browser"

clean:
	rm -rf var/log var/test.sqlite3 .pytest_cache .mypy_cache .ruff_cache

## Django's deployment checks with production-like settings (the variables README documents); fails on any warning.
deploy-check: install
	DJANGO_DEBUG=false AFFIANT_REQUIRE_SECRET_KEY=true AFFIANT_SECURE_COOKIES=true \
	DJANGO_SECRET_KEY="$$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	AFFIANT_FILE_KEYS="$$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	DJANGO_ALLOWED_HOSTS=affiant.example.org \
	$(PY) manage.py check --deploy --fail-level WARNING
