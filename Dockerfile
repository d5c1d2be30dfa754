# syntax=docker/dockerfile:1
#
# The lambda-alias-controller image: the one Rust binary on distroless, as a non-root user.
#
#   docker build -t lambda-alias-controller:0.1.0 .
#   docker run --rm lambda-alias-controller:0.1.0 crd        # any verb: crd, plan, apply, run
#
# Two build arguments let the same runtime stage take a binary built elsewhere and another
# base (`make image` does both with buildah, without a daemon or a registry: README "Install"):
#   BINARY  an image holding /lambda-alias-controller (default: the builder stage below)
#   BASE    the runtime base (default: distroless/cc)
ARG BASE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARY=builder
#
# The binary links glibc dynamically (libc, libm, libgcc_s; aws-lc-rs needs libc), so the final
# stage is distroless/cc (glibc + libgcc + CA certificates), not distroless/static.

############################################################################################
# Builder: Debian bookworm, like the runtime base, so the glibc the binary links against is
# the one it runs with.
FROM rust:1.95-bookworm AS builder
WORKDIR /build

# 1. Dependencies only, cached until Cargo.toml or Cargo.lock change: build the locked
#    dependency graph against an empty lib and main (both targets exist in Cargo.toml).
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# 2. The crate itself. COPY keeps the files' own (older) mtimes, so touch the crate roots:
#    otherwise cargo could take the placeholder build above as up to date.
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/lambda-alias-controller /lambda-alias-controller

############################################################################################
# The binary the runtime stage takes: the builder's, or (BINARY=an image) one built outside.
FROM ${BINARY} AS binary

############################################################################################
# Runtime: glibc, libgcc_s, CA certificates and tzdata; no shell, no package manager. The
# :nonroot tag defaults to uid/gid 65532; USER below makes that explicit.
FROM ${BASE}

ARG BASE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lambda-alias-controller" \
      org.opencontainers.image.description="Kubernetes controller that keeps AWS Lambda versions, aliases and triggers in the state a LambdaAliasSet declares" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE}"

COPY --from=binary /lambda-alias-controller /lambda-alias-controller

# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd lookup.
USER 65532:65532
# --http-addr default: /metrics, /healthz, /readyz.
EXPOSE 8080
ENTRYPOINT ["/lambda-alias-controller"]
CMD ["run"]
