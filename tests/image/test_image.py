"""The controller image, built by `scripts/image.sh` with buildah (no daemon, no registry) from the
Dockerfile's runtime stage, on a base assembled from distroless/cc's Debian 12 packages, with the
binary `cargo build` left in target/ (stripped). It is inspected as an OCI archive (user,
entrypoint, labels, no shell, size) and its binary run inside its root filesystem as uid 65532
(`buildah mount` + `chroot --userspec`), so the libraries and CA certificates it needs are
really in it. Run by `make test-image` (part of `make test`), which installs buildah.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TAG = "localhost/lambda-alias-controller:test"
ENV = {**os.environ, "STORAGE_DRIVER": os.environ.get("STORAGE_DRIVER", "vfs"), "BUILDAH_ISOLATION": "chroot"}


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=ENV, check=check)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed: run `make test-image`, which installs Debian's buildah")
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    built = target / "debug" / "lambda-alias-controller"
    if not built.is_file():
        pytest.fail(f"{built} does not exist: `cargo build --locked` first (`make test-image` does)")
    work = tmp_path_factory.mktemp("image")
    binary = work / "lambda-alias-controller"
    run("strip", "-o", str(binary), str(built))
    archive = work / "lambda-alias-controller.oci.tar"
    built_image = run(str(REPO / "scripts" / "image.sh"), str(binary), str(archive), TAG, check=False)
    assert built_image.returncode == 0, built_image.stderr
    yield archive
    run("buildah", "rmi", TAG, check=False)


def oci_config(archive: Path) -> tuple[dict, int]:
    """The image config and the layers' compressed size, read from the OCI archive itself."""
    with tarfile.open(archive) as tar:
        def blob(digest: str) -> bytes:
            algorithm, value = digest.split(":")
            member = tar.extractfile(f"blobs/{algorithm}/{value}")
            assert member is not None, digest
            return member.read()

        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        return config, sum(layer["size"] for layer in manifest["layers"])


def test_the_image_runs_as_nonroot_with_its_entrypoint_and_labels(image: Path) -> None:
    config, layers = oci_config(image)
    c = config["config"]
    print(f"\nimage {TAG}: archive {image.stat().st_size / 1e6:.1f} MB, layers {layers / 1e6:.1f} MB compressed")
    print(f"  user {c.get('User')!r}, entrypoint {c.get('Entrypoint')}, cmd {c.get('Cmd')}, ports {sorted(c.get('ExposedPorts', {}))}")
    for key, value in sorted(c.get("Labels", {}).items()):
        print(f"  label {key}={value}")
    assert c["User"] == "65532:65532"
    assert c["Entrypoint"] == ["/lambda-alias-controller"]
    assert c["Cmd"] == ["run"]
    assert "8080/tcp" in c.get("ExposedPorts", {})
    labels = c["Labels"]
    assert labels["org.opencontainers.image.title"] == "lambda-alias-controller"
    assert labels["org.opencontainers.image.version"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert labels["org.opencontainers.image.revision"] == head.stdout.strip()
    assert labels["org.opencontainers.image.base.name"] == "localhost/lac-base:dev"


def test_the_binary_runs_inside_the_image_as_uid_65532_and_there_is_no_shell(image: Path) -> None:
    container = run("buildah", "from", TAG).stdout.strip()
    try:
        root = Path(run("buildah", "mount", container).stdout.strip())
        shells = [p for name in ("sh", "bash", "dash", "busybox") for p in root.rglob(name)]
        assert shells == [], f"a shell in the image: {shells}"
        passwd = (root / "etc" / "passwd").read_text()
        assert "nonroot:x:65532:65532:" in passwd, passwd
        bundle = root / "etc" / "ssl" / "certs" / "ca-certificates.crt"
        assert bundle.stat().st_size > 100_000 and bundle.read_text().count("BEGIN CERTIFICATE") > 100
        crd = run("chroot", "--userspec=65532:65532", str(root), "/lambda-alias-controller", "crd", check=False)
        assert crd.returncode == 0, crd.stderr
        assert crd.stdout == (REPO / "crds" / "lambdaaliasset.yaml").read_text(), "`crd` prints the committed CRD"
        help_ = run("chroot", "--userspec=65532:65532", str(root), "/lambda-alias-controller", "run", "--help", check=False)
        assert help_.returncode == 0, help_.stderr
        assert "--leader-elect" in help_.stdout
        whoami = run("chroot", "--userspec=65532:65532", str(root), "/lambda-alias-controller", "--version", check=False)
        print(f"\nin the image, as uid 65532: `crd` printed the CRD ({len(crd.stdout)} bytes), `run --help` exit 0, "
              f"`--version`: {whoami.stdout.strip() or whoami.stderr.strip()}")
    finally:
        run("buildah", "umount", container, check=False)
        run("buildah", "rm", container, check=False)
