"""The chart and the plain manifests on a real Kubernetes API server: each install is applied
with server-side apply (`kubectl apply --server-side`), every object is then on the server,
and neither kubectl nor the server has anything to say (stderr empty: no deprecated API, no
unknown or duplicate field, no PodSecurity "would violate" warning).

Installs: the chart with (a) default values, (b) HA (replicaCount 2: leader election and its
Lease Role), (c) per-namespace (two watchNamespaces: a Role + RoleBinding in each), (d) two
shards with two replicas each (two Deployments, one Lease Role naming both Leases), (e) the Grafana
dashboard's ConfigMap (`grafanaDashboard.enabled`), and (f) the plain manifests (`kubectl
kustomize deploy/`). Plus the CRD, both copies (crds/ and the chart's crds/). The ServiceMonitor
and the PrometheusRule stay off: they need prometheus-operator's CRDs.

Namespaces never finish deleting on an API server without a controller-manager, so every
install gets fresh, uniquely named namespaces. The release namespaces enforce the "restricted"
Pod Security Standard, as deploy/namespace.yaml does, so a pod template that is not hardened
enough shows up as a warning. Each install also gets a unique release name (the plain
manifests a unique name suffix), so its ClusterRole and ClusterRoleBinding are new objects too,
never an update of another run's. Everything a test created is deleted afterwards (on an API
server without a controller-manager its namespaces then stay Terminating: harmless).

Needs a cluster: KUBECONFIG (the conftest's `kubeconfig` fixture skips without one on a user's
machine and fails in CI).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy_support import (
    CHART_CRD,
    CRD,
    DEPLOY,
    NAMESPACE,
    REPO,
    SHARDS,
    load_file,
    load_yaml_documents,
    of_kind,
    render,
)

# The field manager of everything these tests apply.
FIELD_MANAGER = "lac-deploy-test"

# What deploy/namespace.yaml enforces on the controller's namespace; the chart's release
# namespaces get the same.
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def unique(prefix: str) -> str:
    """A name no earlier run used (namespaces outlive every run on this server)."""
    return f"{prefix}-{secrets.token_hex(3)}"


def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not on PATH: it is needed to apply to the cluster")
    return subprocess.run(
        [path, *args], input=stdin, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)


def items(output: str) -> list[dict[str, Any]]:
    """The objects of kubectl's `-o json` output: one object, or a List of them."""
    parsed = json.loads(output)
    return parsed["items"] if parsed.get("kind") == "List" else [parsed]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def clean_run(result: subprocess.CompletedProcess[str], what: str) -> None:
    """kubectl succeeded and wrote nothing to stderr (the server's warnings land there)."""
    assert result.returncode == 0, f"{what} failed (exit {result.returncode}):\n{result.stderr}"
    assert result.stderr == "", f"{what}: kubectl wrote to stderr (warnings?):\n{result.stderr}"


def apply(objects: list[dict[str, Any]], what: str, *extra: str) -> list[dict[str, Any]]:
    """Server-side apply of `objects` as FIELD_MANAGER, in their order; the server's copies."""
    result = kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", *extra, "-o", "json",
        "-f", "-", stdin=to_yaml(objects),
    )
    clean_run(result, f"kubectl apply --server-side ({what})")
    return items(result.stdout)


def assert_all_on_server(objects: list[dict[str, Any]], applied: list[dict[str, Any]]) -> None:
    """Every object of the install is what the apply returned and what the server now has,
    applied (operation Apply) by FIELD_MANAGER."""
    wanted = sorted(key(o) for o in objects)
    assert len(set(wanted)) == len(wanted), f"an object is there twice: {wanted}"
    assert sorted(key(o) for o in applied) == wanted

    result = kubectl(
        "get", "--show-managed-fields", "-o", "json", "-f", "-", stdin=to_yaml(objects)
    )
    clean_run(result, "kubectl get")
    on_server = {key(o): o for o in items(result.stdout)}
    assert sorted(on_server) == wanted, "kubectl get does not find every applied object"
    for k, obj in on_server.items():
        assert obj["metadata"].get("uid"), f"{k} has no uid"
        managers = {(m["manager"], m["operation"]) for m in obj["metadata"].get("managedFields", [])}
        assert (FIELD_MANAGER, "Apply") in managers, f"{k} not server-side applied: {managers}"


def create_namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"labels": labels} if labels else {})}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    clean_run(kubectl("create", "-f", "-", stdin=json.dumps(namespace)), f"create namespace {name}")
    return namespace


@pytest.fixture(scope="module")
def cluster(kubeconfig: str) -> str:
    """The API server KUBECONFIG names, answering."""
    result = kubectl("get", "--raw", "/readyz")
    if result.returncode != 0 or result.stdout.strip() != "ok":
        pytest.fail(
            f"KUBECONFIG={kubeconfig} is set but its API server is not ready "
            f"(`kubectl get --raw /readyz`: {result.stdout.strip()} {result.stderr.strip()}). "
            "For the local one: `eval \"$(../shared/kube/up --env)\"`."
        )
    return kubeconfig


@pytest.fixture
def installed(cluster: str):
    """Records what a test created; deletes it afterwards, Namespaces last and without
    waiting (on ../shared/kube they stay Terminating for good, on a real cluster they go)."""
    objects: list[dict[str, Any]] = []
    yield objects
    if objects:
        leftovers = sorted(objects, key=lambda o: o["kind"] == "Namespace")
        result = kubectl(
            "delete", "--ignore-not-found", "--wait=false", "-f", "-", stdin=to_yaml(leftovers)
        )
        assert result.returncode == 0, f"cleanup failed:\n{result.stderr}"


@pytest.mark.parametrize("path", [CRD, CHART_CRD], ids=["crds", "chart-crds"])
def test_crd_applies_cleanly_and_is_established(cluster: str, path: Path):
    # The CRD is cluster-wide and shared with the Rust suites, which install it the same way.
    # Exactly what the README tells users to type (client-side apply), not server-side apply:
    # `kubectl apply --server-side` drops kubectl's last-applied annotation, and every later
    # `kubectl apply -f crds/` by a user would then warn that it is missing.
    objects = load_file(path)
    assert [o["kind"] for o in objects] == ["CustomResourceDefinition"]
    relative = path.relative_to(REPO).as_posix()
    for attempt in ("first", "again"):
        clean_run(kubectl("apply", "-f", str(path)), f"kubectl apply -f {relative} ({attempt})")
    result = kubectl("get", "-o", "json", "-f", str(path))
    clean_run(result, f"kubectl get -f {relative}")
    (crd,) = items(result.stdout)
    assert crd["metadata"]["name"] == objects[0]["metadata"]["name"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in crd["metadata"].get("annotations", {})
    assert crd["spec"]["versions"][0]["schema"] == objects[0]["spec"]["versions"][0]["schema"]
    name = objects[0]["metadata"]["name"]
    clean_run(
        kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}"),
        f"kubectl wait for {name} Established",
    )


def chart_values(case: str, watch: list[str]) -> dict[str, Any]:
    return {
        "default": {},
        "ha": {"replicaCount": 2},
        "per-namespace": {"watchNamespaces": watch},
        "shards": {"shards": SHARDS, "replicaCount": 2},
        "dashboard": {"grafanaDashboard": {"enabled": True}},
    }[case]


@pytest.mark.parametrize("case", ["default", "ha", "per-namespace", "shards", "dashboard"])
def test_chart_applies_cleanly(installed: list[dict[str, Any]], case: str):
    tag = unique(f"lac-ca-{case}")
    namespace = release = tag
    watch = [f"{tag}-w1", f"{tag}-w2"] if case == "per-namespace" else []
    objects = render(chart_values(case, watch), namespace=namespace, release=release)

    # What each case is there for is really in what gets applied.
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in of_kind(objects, "Role")}
    if case == "per-namespace":
        assert not of_kind(objects, "ClusterRole")
        assert {ns for ns, _ in roles} == set(watch)
    else:
        assert len(of_kind(objects, "ClusterRole")) == 1
        assert bool(roles) == (case in ("ha", "shards")), roles  # the leader-election Role
    assert len(of_kind(objects, "Deployment")) == (2 if case == "shards" else 1)
    assert len(of_kind(objects, "ConfigMap")) == (1 if case == "dashboard" else 0)

    for ns, labels in [(namespace, RESTRICTED)] + [(ns, None) for ns in watch]:
        installed.append(create_namespace(ns, labels))
    installed.extend(objects)
    applied = apply(objects, f"chart, {case}")
    assert_all_on_server(objects, applied)


def test_plain_manifests_apply_cleanly(installed: list[dict[str, Any]], tmp_path: Path):
    """`kubectl kustomize deploy/` as is, but for its namespace and a name suffix: an overlay
    (namespace + nameSuffix) that kustomize itself applies to every object and reference,
    checked to change nothing else. The Namespace is part of the manifests (restricted PSS)."""
    tag = unique("lac-ca-plain")
    suffix = tag.removeprefix("lac-ca-plain")  # "-" + hex
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    # kustomize refuses an absolute path to a base; a relative one may leave the overlay's root.
    base = os.path.relpath(DEPLOY, overlay)
    # JSON (which is YAML): every string quoted, so a suffix like "-8e1234" stays a string.
    (overlay / "kustomization.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": tag,
                "nameSuffix": suffix,
                "resources": [base],
            }
        )
    )
    built = kubectl("kustomize", str(overlay))
    clean_run(built, "kubectl kustomize (overlay of deploy/)")
    objects = load_yaml_documents(built.stdout)

    original = kubectl("kustomize", "deploy/")
    clean_run(original, "kubectl kustomize deploy/")
    renamed_back = json.loads(
        json.dumps(objects).replace(f'"{tag}"', f'"{NAMESPACE}"').replace(f'{suffix}"', '"')
    )
    assert renamed_back == load_yaml_documents(original.stdout), (
        "the overlay changed more than names and the namespace"
    )
    assert [o["kind"] for o in objects][0] == "Namespace", "the Namespace must be applied first"

    installed.extend(objects)
    applied = apply(objects, "kubectl kustomize deploy/")
    assert_all_on_server(objects, applied)
