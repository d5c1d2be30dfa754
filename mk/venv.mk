# Python virtualenv with the pinned test dependencies (moto server mode).
# Included by the main Makefile; the integration tests find moto_server through
# the exported MOTO_PYTHON (tests/support/mod.rs falls back to .venv/bin/python).

VENV ?= .venv
PYTHON ?= python3

# Rebuilt whenever requirements-test.txt changes. The marker is written last, so
# an interrupted install is retried on the next run.
$(VENV)/.installed: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements-test.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed

export MOTO_PYTHON := $(abspath $(VENV))/bin/python
