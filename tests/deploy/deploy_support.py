"""Shared helpers for the deployment tests: paths, chart rendering, manifest loading, RBAC.

The chart is rendered with helm-python-sdk (import name ``helm_python``), which binds Helm
v4's Go SDK through a bundled shared library: ``Chart.render`` is ``helm template`` and
``lint`` is ``helm lint``, offline, with no ``helm`` binary. When it is missing the suite
fails at import (never skips): run ``make test-deploy``, which installs it into .venv.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

import yaml

try:
    import helm_python as helm
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "helm-python-sdk is not installed, so the chart cannot be rendered: run the suite "
        "with `make test-deploy` (it installs requirements-test.txt into .venv)"
    ) from exc

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = REPO / "charts" / "lambda-alias-controller"
CRD = REPO / "crds" / "lambdaaliasset.yaml"

# src/controller/drift_events/event.rs EVENT_NAMES, in its order: the calls that can change what
# a set owns, suffix-free (a Rust test holds deploy/drift-events/event-pattern.json equal to it).
DRIFT_EVENT_NAMES = [
    "UpdateAlias",
    "CreateAlias",
    "DeleteAlias",
    "PublishVersion",
    "AddPermission",
    "RemovePermission",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "CreateEventSourceMapping",
    "UpdateEventSourceMapping",
    "DeleteEventSourceMapping",
    "PutProvisionedConcurrencyConfig",
    "DeleteProvisionedConcurrencyConfig",
    "DeleteFunction",
]
CHART_CRD = CHART / "crds" / "lambdaaliasset.yaml"
VALUES_SCHEMA = CHART / "values.schema.json"
# The controller's alerts (a Prometheus rule file, the chart's PrometheusRule's one source), their
# promtool unit tests, and the Grafana dashboard of the chart's ConfigMap.
PROMETHEUS_RULES = CHART / "files" / "prometheus-rules.yaml"
PROMETHEUS_RULES_TEST = REPO / "tests" / "deploy" / "prometheus-rules-test.yaml"
GRAFANA_DASHBOARD = CHART / "files" / "grafana-dashboard.json"

RELEASE = "lac"
NAMESPACE = "lambda-alias-controller"
# What the chart names its objects for RELEASE (release name + chart name).
FULLNAME = "lac-lambda-alias-controller"
IMAGE_REPOSITORY = "ghcr.io/lambda-alias-controller/lambda-alias-controller"

# The Kubernetes version whose schemas the objects are validated against (kubernetes-validate
# bundles 1.25 to 1.37) and the chart is linted for.
KUBE_VERSION = "1.33.0"

# The Lease the controller elects its leader with (src/controller/mod.rs, MANAGER).
LEASE_NAME = "lambda-alias-controller"

# Two shards with complementary selectors (`shards` value), and the Lease each elects its leader
# with: pinned here and in src/controller/run.rs (lease_name), so that the chart's Lease Role and
# the binary agree (`lambda-alias-controller-shard-` + the first 8 hex digits of the SHA-256 of
# the selector).
SHARDS: list[dict[str, Any]] = [
    {"name": "a", "selector": "shard=a"},
    {"name": "rest", "selector": "shard!=a"},
]
SHARD_LEASES = {
    "shard=a": "lambda-alias-controller-shard-3d8dfb26",
    "shard!=a": "lambda-alias-controller-shard-77a1ece5",
}

# What the controller calls on the Kubernetes API, as (apiGroup, resource, verb).
WATCH_GRANTS = frozenset(
    {
        ("lambda.aliasset.dev", "lambdaaliassets", "get"),
        ("lambda.aliasset.dev", "lambdaaliassets", "list"),
        ("lambda.aliasset.dev", "lambdaaliassets", "watch"),
        ("lambda.aliasset.dev", "lambdaaliassets", "patch"),
        ("lambda.aliasset.dev", "lambdaaliassets/status", "patch"),
        ("events.k8s.io", "events", "create"),
    }
)
LEASE_GRANTS = frozenset(
    {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "patch"),
    }
)
# The key effective_permissions() uses for cluster-wide grants.
CLUSTER = "<cluster>"

# Values that switch on every optional part of the chart.
NON_DEFAULT_VALUES: dict[str, Any] = {
    "watchNamespaces": ["a", "b"],
    "replicaCount": 2,
    "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prometheus"}},
    "networkPolicy": {"enabled": True, "apiServerPorts": [6443]},
    "serviceAccount": {
        "annotations": {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/lambda-alias-controller"
        }
    },
    "aws": {"region": "eu-west-1", "endpointUrl": "http://moto.test:5000"},
    "extraEnv": [{"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}],
    "podAnnotations": {"example.com/owner": "platform"},
    "imagePullSecrets": [{"name": "regcred"}],
    "resyncSeconds": 120,
    "concurrency": 8,
    "driftBudget": 0.1,
    "budgetShare": 0.5,
    "logLevel": "debug",
    "logFormat": "text",
    "image": {"tag": "0.2.0", "pullPolicy": "Always"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "prometheusRule": {
        "enabled": True,
        "labels": {"release": "prometheus"},
        "alertLabels": {"team": "platform"},
    },
    "grafanaDashboard": {
        "enabled": True,
        "namespace": "monitoring",
        "labels": {"release": "prometheus"},
        "annotations": {"grafana_folder": "AWS"},
    },
}


# Sections printed at the end of the run (conftest.pytest_terminal_summary), for output that
# should be in the log when the tests pass too: helm's refusals, promtool's reports.
REPORTS: list[tuple[str, str]] = []


def report(title: str, text: str) -> None:
    """Prints `text` under `title` at the end of the run (and now, for `pytest -s`)."""
    print(f"--- {title}\n{text}")
    REPORTS.append((title, text))


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    """Every non-empty document of a multi-document YAML text."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_file(path: Path) -> list[dict[str, Any]]:
    return load_yaml_documents(path.read_text())


@functools.lru_cache(maxsize=None)
def chart_without_schema() -> Path:
    """A copy of the chart without values.schema.json: what ``helm template
    --skip-schema-validation`` renders, so that the templates' own checks of the values can be
    tested behind the schema's (which refuses most bad values first)."""
    copy = Path(tempfile.mkdtemp(prefix="lac-chart-")) / CHART.name
    atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
    shutil.copytree(CHART, copy, ignore=shutil.ignore_patterns(VALUES_SCHEMA.name))
    return copy


@functools.lru_cache(maxsize=None)
def _render(values_json: str, namespace: str, release: str, schema: bool = True) -> tuple[tuple[str, str], ...]:
    values = json.loads(values_json)
    with helm.Chart.load(CHART if schema else chart_without_schema()) as chart:
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    return tuple(sorted(rendered.items()))


def render(
    values: dict[str, Any] | None = None,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
    *,
    schema: bool = True,
) -> list[dict[str, Any]]:
    """The chart's objects for `values` (``helm template``), NOTES.txt left out, as release
    `release` in `namespace` (by default RELEASE in NAMESPACE, which FULLNAME is derived from).
    `schema=False` skips values.schema.json (``--skip-schema-validation``)."""
    objects: list[dict[str, Any]] = []
    for template, text in _render(json.dumps(values or {}, sort_keys=True), namespace, release, schema):
        if template.endswith(".txt"):
            continue
        objects.extend(load_yaml_documents(text))
    return objects


def render_notes(values: dict[str, Any] | None = None) -> str:
    return dict(_render(json.dumps(values or {}, sort_keys=True), NAMESPACE, RELEASE))[
        "lambda-alias-controller/templates/NOTES.txt"
    ]


def plain_manifest_files() -> list[Path]:
    """The files deploy/kustomization.yaml installs, in its order."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    return [DEPLOY / name for name in kustomization["resources"]]


def plain_manifests() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in plain_manifest_files():
        objects.extend(load_file(path))
    return objects


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the controller runs in one container"
    return containers[0]


def flag_values(args: list[str], flag: str) -> list[str]:
    """Every value given to `flag` in `args` (flags written as `--flag VALUE`)."""
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == flag]


def env_map(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def grants(role: dict[str, Any], leases: Iterable[str] = (LEASE_NAME,)) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) for every rule of a Role or ClusterRole.

    Wildcards, non-resource URLs and names other than exactly the `leases` are refused
    outright: they would grant more than the expanded triples show.
    """
    triples: set[tuple[str, str, str]] = set()
    for rule in role.get("rules", []):
        assert "nonResourceURLs" not in rule, f"{role['metadata']['name']}: nonResourceURLs granted"
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"{role['metadata']['name']}: wildcard in {field}"
        if "resourceNames" in rule:
            assert rule["resources"] == ["leases"] and rule["resourceNames"] == list(leases), (
                f"{role['metadata']['name']}: unexpected resourceNames {rule['resourceNames']}"
            )
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    triples.add((group, resource, verb))
    return triples


def effective_permissions(
    objects: list[dict[str, Any]], sa_namespace: str, sa_name: str, leases: Iterable[str] = (LEASE_NAME,)
) -> dict[str, set[tuple[str, str, str]]]:
    """What the ServiceAccount may do, by scope (a namespace, or CLUSTER), following the
    bindings in `objects` to the roles in `objects`. A binding to a role that is not there
    is an error (it would grant nothing, or something this chart does not control). Names in
    rules may only be exactly the `leases`."""
    roles = {("ClusterRole", None, r["metadata"]["name"]): r for r in of_kind(objects, "ClusterRole")}
    roles.update(
        {("Role", r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(objects, "Role")}
    )
    scopes: dict[str, set[tuple[str, str, str]]] = {}
    for binding in of_kind(objects, "ClusterRoleBinding") + of_kind(objects, "RoleBinding"):
        subjects = binding.get("subjects", [])
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == sa_name and s.get("namespace") == sa_namespace
            for s in subjects
        ):
            continue
        assert len(subjects) == 1, f"{binding['metadata']['name']}: binds more than the controller"
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        namespace = binding["metadata"].get("namespace")
        key = (ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])
        assert key in roles, f"{binding['kind']} {binding['metadata']['name']} binds missing {key}"
        scope = CLUSTER if binding["kind"] == "ClusterRoleBinding" else namespace
        scopes.setdefault(scope, set()).update(grants(roles[key], leases))
    return scopes


def values_leaf_paths(values: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key paths of values.yaml down to scalars, lists and empty maps."""
    if isinstance(values, dict) and values:
        paths: dict[str, Any] = {}
        for key, value in values.items():
            paths.update(values_leaf_paths(value, f"{prefix}.{key}" if prefix else key))
        return paths
    return {prefix: values}
