#!/usr/bin/env bash
# Builds the controller image from the Dockerfile with buildah: no daemon, no registry (README
# "Install"). The Dockerfile's base, distroless/cc, cannot be pulled without a registry, so an
# equivalent base is assembled from the same Debian 12 packages distroless is made of (libc6,
# libgcc-s1, ca-certificates, tzdata, base-files, and a `nonroot` user 65532), and the binary
# comes from outside the container; both are handed to the Dockerfile's one runtime stage as
# the BASE and BINARY build arguments.
#
#   scripts/image.sh BINARY OUT.tar [TAG]
#
# BINARY: a lambda-alias-controller built for this machine's glibc (Debian 12's);
# OUT.tar: the image as an OCI archive; TAG: default localhost/lambda-alias-controller:dev.
set -euo pipefail

binary=$(realpath "$1")
out=$(realpath -m "$2")
tag=${3:-localhost/lambda-alias-controller:dev}
repo=$(cd "$(dirname "$0")/.." && pwd)
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

work=$(mktemp -d)
containers=()
cleanup() {
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The base: distroless/cc's packages, unpacked (no maintainer scripts run, as in distroless).
packages=(base-files libc6 libgcc-s1 ca-certificates tzdata)
(cd "$work" && { apt-get download -q "${packages[@]}" >/dev/null 2>&1 \
  || { apt-get update -qq && apt-get download -q "${packages[@]}" >/dev/null 2>&1; }; })
root="$work/root"
mkdir -p "$root"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root"; done
# ca-certificates' postinst builds the bundle; distroless ships it built.
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"
# What distroless adds: the users, a home for nonroot, /tmp; and nothing that runs (no shell).
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$root/etc/group"
mkdir -p "$root/home/nonroot" "$root/tmp" "$root/root"
chown 65532:65532 "$root/home/nonroot"
chmod 1777 "$root/tmp"
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian" "$root/usr/sbin" "$root/sbin" "$root/usr/bin" "$root/bin"
base=$(buildah from scratch)
containers+=("$base")
buildah copy --quiet "$base" "$root" / >/dev/null
buildah config --user 65532:65532 "$base"
buildah commit --quiet "$base" localhost/lac-base:dev >/dev/null

# 2. The binary, as an image the runtime stage copies it from.
bin=$(buildah from scratch)
containers+=("$bin")
buildah copy --quiet --chmod 0755 "$bin" "$binary" /lambda-alias-controller >/dev/null
buildah commit --quiet "$bin" localhost/lac-binary:dev >/dev/null

# 3. The Dockerfile's runtime stage on both; the builder stage is not used, so not built.
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
buildah build --quiet --layers=false --format oci \
  --build-arg BASE=localhost/lac-base:dev --build-arg BINARY=localhost/lac-binary:dev \
  --build-arg REVISION="$revision" -t "$tag" -f "$repo/Dockerfile" "$repo" >/dev/null
rm -f "$out"
buildah push --quiet "$tag" "oci-archive:$out:$tag" >/dev/null
echo "$tag -> $out"
