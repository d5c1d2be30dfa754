# Two commands do everything on a fresh machine:
#   make demo   one full certification round against a local AWS emulator (moto)
#   make test   installs what the tests need, then fmt, clippy and every test
SHELL := bash
CARGO ?= cargo

include mk/venv.mk

.PHONY: all build demo test check fmt fmt-check clippy doc crds clean
.PHONY: test-deploy test-image test-promtool image

all: build

build:
	$(CARGO) build --locked

# One full certification round against moto (a local AWS emulator), driven by the CLI.
demo: venv-demo
	$(CARGO) build --locked --quiet
	MOTO_PYTHON=$(MOTO_PYTHON) scripts/demo.sh

# Everything CI runs, the quickest to fail first (formatting, then clippy, then the docs), each
# step's time printed as it ends (README, "Tests").
TEST_STEPS := fmt-check clippy doc venv test-rust test-lua test-deploy test-image
test:
	@for step in $(TEST_STEPS); do \
		start=$$SECONDS; \
		$(MAKE) --no-print-directory $$step || exit 1; \
		echo "make test: $$step took $$((SECONDS - start)) s"; \
	done

# The Rust tests: the library's unit tests and the two integration binaries, tests/it (the fake,
# moto, the CLI, the properties) and tests/cluster (a real API server when KUBECONFIG is set).
# Their tests mostly wait on moto, the API server or a controller's timers, so more threads than
# cores shortens the run (README, "Tests").
TEST_THREADS ?= 8
.PHONY: test-rust
test-rust: venv
	$(CARGO) test --locked --lib --tests --no-fail-fast -- --test-threads $(TEST_THREADS)

# The deployment manifests and the Helm chart (tests/deploy, pytest): render, lint, schemas, RBAC,
# the alerting rules (with the real promtool, first).
test-deploy: venv test-promtool
	$(VENV)/bin/python -m pytest -q tests/deploy

# The image, built with Debian's buildah (no daemon, no registry) from the Dockerfile's runtime
# stage on the debug binary, inspected and run as uid 65532 (tests/image). CI runs as root on
# Debian: buildah is installed when missing.
test-image: venv
	command -v buildah >/dev/null || (apt-get update -qq && apt-get install -y -qq buildah)
	$(CARGO) build --locked
	$(VENV)/bin/python -m pytest -q -s tests/image

# The release image as an OCI archive (target/lambda-alias-controller.oci.tar), with buildah and
# no registry: README "Install". Docker users build the same Dockerfile with `docker build .`.
image:
	command -v buildah >/dev/null || (apt-get update -qq && apt-get install -y -qq buildah)
	$(CARGO) build --locked --release
	scripts/image.sh target/release/lambda-alias-controller target/lambda-alias-controller.oci.tar \
		localhost/lambda-alias-controller:$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# The chart's alerting rules, checked and unit-tested by Prometheus's own promtool (Debian's
# prometheus package, installed when missing; its service is not started).
test-promtool:
	command -v promtool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus)
	promtool check rules charts/lambda-alias-controller/files/prometheus-rules.yaml
	promtool test rules tests/deploy/prometheus-rules-test.yaml

# The Argo CD health check (deploy/argocd/health.lua) run by a real Lua against sample objects.
# CI runs as root on Debian: Debian's lua5.4 is installed when missing.
.PHONY: test-lua
test-lua:
	command -v lua5.4 >/dev/null || (apt-get update -qq && apt-get install -y -qq lua5.4)
	lua5.4 tests/argocd/run.lua

# The controller at scale (not part of `make test`): N LambdaAliasSets against a real API server
# (KUBECONFIG's, else one of its own from ../shared/kube/up) and a simulated AWS with AWS's quotas,
# time compressed by SCALE; then one set against moto (hence the venv). One table on stdout, the
# same figures in target/bench/scale.json; BENCHMARKS.md holds the latest run.
N ?= 10000
SCALE ?= 40
LATENCY_MS ?= 30
CONCURRENCY ?= 16
CHANGES ?= 100
# EVENTS=1: the controller reads a drift-events queue, and the drift-events phases run
# (EVENTS_RESYNC, default 21600, is the restarted controller's resync; 0 skips that phase).
EVENTS ?= 1
.PHONY: bench
bench: venv
	N=$(N) SCALE=$(SCALE) LATENCY_MS=$(LATENCY_MS) CONCURRENCY=$(CONCURRENCY) CHANGES=$(CHANGES) EVENTS=$(EVENTS) \
		$(CARGO) bench --locked --bench scale

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

# The API docs build without a warning (a broken intra-doc link or stray HTML fails it).
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --locked

# Regenerate the CRD from the Rust types (tests/it/api.rs fails when the committed copy is stale).
crds:
	$(CARGO) run --locked --quiet -- crd > crds/lambdaaliasset.yaml.tmp
	mv crds/lambdaaliasset.yaml.tmp crds/lambdaaliasset.yaml
	cp crds/lambdaaliasset.yaml charts/lambda-alias-controller/crds/lambdaaliasset.yaml

clean:
	$(CARGO) clean
	rm -rf $(VENV)
