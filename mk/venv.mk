# Python virtualenv with the pinned Python dependencies, in two layers in the same .venv:
#   demo  requirements-demo.txt: moto in server mode (what `make demo` needs);
#   test  requirements-test.txt: the demo's set plus pytest, helm-python-sdk and
#         kubernetes-validate (`make test`, `make test-deploy`, `make venv`).
# Included by the main Makefile; the integration tests and the demo find moto_server through
# the exported MOTO_PYTHON (tests/support/mod.rs falls back to .venv/bin/python).

VENV ?= .venv
PYTHON ?= python3
PIP_INSTALL = $(VENV)/bin/pip install --disable-pip-version-check -q

# Each layer has its own marker, rebuilt whenever its requirements file changes. The marker
# is written last, so an interrupted install is retried on the next run.
$(VENV)/.installed-demo: requirements-demo.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-demo.txt
	touch $@

# requirements-test.txt includes requirements-demo.txt (-r), so the test layer is rebuilt
# after the demo layer; depending on its marker also keeps `make -j` from running two pips
# in the same venv at once.
$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed-demo
	$(PIP_INSTALL) -r requirements-test.txt
	touch $@

.PHONY: venv venv-demo
venv: $(VENV)/.installed-test
venv-demo: $(VENV)/.installed-demo

export MOTO_PYTHON := $(abspath $(VENV))/bin/python
