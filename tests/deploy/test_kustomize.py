"""`kubectl kustomize deploy/` builds offline (kubectl's built-in kustomize) to the plain
manifests, so `kubectl apply -k deploy/` installs exactly them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from deploy_support import NAMESPACE, REPO, load_yaml_documents, plain_manifests


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not on PATH: it is needed to build deploy/ with `kubectl kustomize`")
    return path


def build() -> list[dict]:
    result = subprocess.run(
        [kubectl(), "kustomize", "deploy/"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize deploy/ failed:\n{result.stderr}"
    return load_yaml_documents(result.stdout)


def test_kustomize_builds_the_controller_install():
    objects = build()
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Namespace",
        "Service",
        "ServiceAccount",
    ]
    for o in objects:
        if o["kind"] in ("ServiceAccount", "Deployment", "Service"):
            assert o["metadata"]["namespace"] == NAMESPACE


def test_kustomize_output_is_the_plain_manifests_unchanged():
    def key(o):
        return (o["kind"], o["metadata"]["name"])

    assert sorted(build(), key=key) == sorted(plain_manifests(), key=key)
