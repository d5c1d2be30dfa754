"""charts/lambda-alias-controller/values.schema.json: every key of values.yaml typed, closed where
the chart owns the object, and enforced by Helm itself. helm-python-sdk binds Helm v4's Go SDK,
which validates the merged values against the schema on ``template`` (``Chart.render``),
``install`` and ``lint``: the refusals below come from Helm, not from a validator of ours, and
name the field. The messages are printed at the end of the run (deploy_support.report).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from deploy_support import (
    CHART,
    KUBE_VERSION,
    NAMESPACE,
    NON_DEFAULT_VALUES,
    RELEASE,
    SHARDS,
    VALUES_SCHEMA,
    chart_without_schema,
    helm,
    render,
    report,
)

SCHEMA = json.loads(VALUES_SCHEMA.read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())

# Maps passed through to Kubernetes (or Helm): open, whatever keys they hold.
OPEN_MAPS = {
    "global",
    "serviceAccount.annotations",
    "serviceMonitor.labels",
    "prometheusRule.labels",
    "prometheusRule.alertLabels",
    "grafanaDashboard.labels",
    "grafanaDashboard.annotations",
    "resources",
    "resources.requests",
    "resources.limits",
    "podAnnotations",
    "nodeSelector",
    "affinity",
}

# Bad values and the field Helm's message must name (the JSON pointer it prints, and the key).
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("replicaCount-string", {"replicaCount": "x"}, "/replicaCount", "got string, want integer"),
    ("replicaCount-zero", {"replicaCount": 0}, "/replicaCount", "minimum"),
    ("tenancy-capitalised", {"tenancy": "Strict"}, "/tenancy", "value must be one of 'open', 'strict'"),
    ("tenancy-unknown", {"tenancy": "closed"}, "/tenancy", "value must be one of 'open', 'strict'"),
    ("logFormat-yaml", {"logFormat": "yaml"}, "/logFormat", "value must be one of 'json', 'text'"),
    ("pullPolicy", {"image": {"pullPolicy": "always"}}, "/image/pullPolicy", "value must be one of"),
    ("shard-without-selector", {"shards": [{"name": "a"}]}, "/shards/0", "missing property 'selector'"),
    ("shard-without-name", {"shards": [{"selector": "shard=a"}]}, "/shards/0", "missing property 'name'"),
    ("shard-unknown-key", {"shards": [{**SHARDS[0], "budget": 0.5}]}, "/shards/0", "additional properties 'budget' not allowed"),
    ("shard-not-a-map", {"shards": ["shard=a"]}, "/shards/0", "got string, want object"),
    ("shard-bad-name", {"shards": [{**SHARDS[0], "name": "Shard_A"}]}, "/shards/0/name", "does not match pattern"),
    ("shard-zero-share", {"shards": [{**SHARDS[0], "budgetShare": 0}]}, "/shards/0/budgetShare", "exclusiveMinimum"),
    ("shard-share-above-one", {"shards": [{**SHARDS[0], "budgetShare": 1.5}]}, "/shards/0/budgetShare", "maximum"),
    ("unknown-top-level-key", {"replicas": 2}, "", "additional properties 'replicas' not allowed"),
    ("unknown-nested-key", {"serviceMonitor": {"enabled": True, "intervall": "1m"}}, "/serviceMonitor", "additional properties 'intervall' not allowed"),
    ("budgetShare-zero", {"budgetShare": 0}, "/budgetShare", "exclusiveMinimum"),
    ("driftBudget-above-one", {"driftBudget": 1.5}, "/driftBudget", "maximum"),
    ("resync-zero", {"resyncSeconds": 0}, "/resyncSeconds", "minimum"),
    ("drift-events-queue-not-a-url", {"driftEvents": {"queueUrl": "my-queue"}}, "/driftEvents/queueUrl", "does not match pattern"),
    ("drift-events-resync-zero", {"driftEvents": {"resyncSeconds": 0}}, "/driftEvents/resyncSeconds", "minimum"),
    ("concurrency-fraction", {"concurrency": 1.5}, "/concurrency", "want integer"),
    ("port-out-of-range", {"metrics": {"port": 70000}}, "/metrics/port", "maximum"),
    ("api-server-port-zero", {"networkPolicy": {"apiServerPorts": [0]}}, "/networkPolicy/apiServerPorts/0", "minimum"),
    ("smapiRate-zero", {"alexa": {"smapiRate": 0}}, "/alexa/smapiRate", "exclusiveMinimum"),
    ("interval-without-unit", {"serviceMonitor": {"interval": "30"}}, "/serviceMonitor/interval", "does not match pattern"),
    ("annotation-not-a-string", {"serviceAccount": {"annotations": {"example.com/n": 1}}}, "/serviceAccount/annotations/example.com~1n", "want string"),
    ("prometheusRule-enabled-string", {"prometheusRule": {"enabled": "yes"}}, "/prometheusRule/enabled", "want boolean"),
    ("dashboard-unknown-key", {"grafanaDashboard": {"folder": "AWS"}}, "/grafanaDashboard", "additional properties 'folder' not allowed"),
    ("watch-namespace-invalid", {"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0", "does not match pattern"),
    ("endpoint-not-a-url", {"aws": {"endpointUrl": "localhost:5000"}}, "/aws/endpointUrl", "does not match pattern"),
]

# The values every other test of tests/deploy renders with: all accepted.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("non-defaults", NON_DEFAULT_VALUES),
    ("shards", {**NON_DEFAULT_VALUES, "shards": SHARDS}),
    ("shards-with-shares", {"shards": [{**SHARDS[0], "budgetShare": 0.2}, SHARDS[1]]}),
    ("tenancy-strict", {"tenancy": "strict", "clusterName": "prod-eu", "watchNamespaces": ["team-a", "team-b"]}),
    ("existing-service-account", {"serviceAccount": {"create": False, "name": "existing"}}),
    ("duplicate-namespaces", {"watchNamespaces": ["a", "b", "a"]}),
    ("image-tag-number", {"image": {"tag": 2}}),
    ("forced-leader", {"replicaCount": 1, "leaderElection": {"enabled": True}}),
    (
        "monitoring",
        {
            "prometheusRule": {"enabled": True, "namespace": "monitoring", "selector": 'job="lac"', "alertLabels": {"severity": "page"}},
            "grafanaDashboard": {"enabled": True, "namespace": "monitoring", "labels": {"grafana_dashboard": "lac"}},
        },
    ),
    ("as-a-subchart", {"global": {"imageRegistry": "registry.example.com"}}),
]


def refusal(values: dict[str, Any]) -> str:
    """Helm's message when `values` fail the render (``helm template``)."""
    with pytest.raises(helm.HelmValuesError) as caught:
        render(values)
    return str(caught.value)


def leaves(values: Any, schema: dict[str, Any], path: str = ""):
    """(dotted path, value, its schema) for every key of `values`, down to the leaves."""
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        sub = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
        assert isinstance(sub, dict), f"{where} is not in values.schema.json"
        yield where, value, sub
        if isinstance(value, dict):
            yield from leaves(value, sub, where)


def test_the_schema_is_draft_07():
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert SCHEMA["type"] == "object"
    with helm.Chart.load(CHART) as chart:
        assert chart.schema == SCHEMA, "Helm loads values.schema.json as it is"


def test_every_key_of_values_yaml_is_typed():
    found = list(leaves(VALUES, SCHEMA))
    assert len(found) > 60
    for where, value, sub in found:
        assert "type" in sub, f"{where} has no type"
        assert sub.get("description") or where.rsplit(".", 1)[0] in OPEN_MAPS, f"{where} has no description"
        types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        python = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list}
        assert any(isinstance(value, python[t]) for t in types), f"{where}: default {value!r} is not {types}"
        if sub["type"] == "array":
            assert "items" in sub, f"{where}: the items of a list are typed too"
    # Nothing in the schema that values.yaml lacks, but `global` (Helm's, for subcharts).
    assert set(SCHEMA["properties"]) == set(VALUES) | {"global"}


def test_the_charts_own_objects_are_closed_and_pass_through_maps_open():
    assert SCHEMA["additionalProperties"] is False
    for where, _, sub in leaves(VALUES, SCHEMA):
        if sub["type"] != "object":
            continue
        if where in OPEN_MAPS:
            assert sub.get("additionalProperties", True) is not False, f"{where} is passed through: keep it open"
        else:
            assert sub["additionalProperties"] is False, f"{where} is the chart's own: close it"
    shard = SCHEMA["properties"]["shards"]["items"]
    assert shard["additionalProperties"] is False
    assert shard["required"] == ["name", "selector"]
    assert set(shard["properties"]) == {"name", "selector", "budgetShare"}


def test_enums_are_the_values_the_templates_and_flags_accept():
    props = SCHEMA["properties"]
    assert props["tenancy"]["enum"] == ["open", "strict"]  # --tenancy (clap value_enum)
    assert props["logFormat"]["enum"] == ["json", "text"]  # --log-format
    assert props["image"]["properties"]["pullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never"]


@pytest.mark.parametrize(("case", "values"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_the_values_the_tests_use_are_accepted(case, values):
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
    assert render(values)


def test_helm_python_validates_the_schema_when_rendering():
    """Chart.render is ``helm template`` with its schema validation: without the schema the same
    value renders (into a Deployment the API server would refuse), with it the render fails."""
    bad = {"replicaCount": "x"}
    deployment = next(o for o in render(bad, schema=False) if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == "x"
    with pytest.raises(helm.HelmValuesError, match="values don't meet the specifications of the schema"):
        render(bad)
    with helm.Chart.load(chart_without_schema()) as chart:
        assert chart.schema is None


@pytest.mark.parametrize(("case", "values", "pointer", "why"), REFUSED, ids=[c for c, *_ in REFUSED])
def test_helm_template_refuses_bad_values_naming_the_field(case, values, pointer, why):
    message = refusal(values)
    report(f"helm template refuses {json.dumps(values)}", message)
    assert "values don't meet the specifications of the schema(s)" in message
    assert f"- at '{pointer}': {why}" in message or (f"- at '{pointer}':" in message and why in message), message
    # The field is named: the last key of the pointer, or the key that is not allowed.
    keys = [k.replace("~1", "/") for k in pointer.split("/") if k and not k.isdigit()]
    unknown = re.findall(r"additional properties '([^']+)' not allowed", message)
    named = unknown[-1] if unknown else keys[-1]
    assert named in message.replace("~1", "/")  # JSON pointers write / as ~1
    assert named in json.dumps(values), f"{named} is a key of the values given"


def test_helm_lint_refuses_bad_values_naming_the_field():
    result = helm.lint(CHART, {"tenancy": "Strict"}, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
    errors = "\n".join(result["errors"])
    report("helm lint refuses {\"tenancy\": \"Strict\"}", errors)
    assert result["errors"], result
    assert "at '/tenancy': value must be one of 'open', 'strict'" in errors


def test_helm_install_refuses_bad_values_naming_the_field():
    """``helm install --dry-run=client`` (no cluster: in-memory storage, an API server address
    nothing answers on) validates the values before anything else."""
    with helm.Config(storage_driver="memory", kube_apiserver="https://127.0.0.1:9", namespace=NAMESPACE) as config:
        with helm.Chart.load(CHART) as chart:
            with pytest.raises(helm.HelmError) as caught:
                config.install(chart, RELEASE, {"logFormat": "yaml"}, dry_run="client")
            release = config.install(chart, RELEASE, {}, dry_run="client")
    message = str(caught.value)
    report("helm install refuses {\"logFormat\": \"yaml\"}", message)
    assert "at '/logFormat': value must be one of 'json', 'text'" in message
    assert "kind: Deployment" in release["manifest"], "the default values install (dry run)"
