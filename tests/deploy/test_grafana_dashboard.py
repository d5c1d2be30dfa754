"""The Grafana dashboard (charts/lambda-alias-controller/files/grafana-dashboard.json) and the
ConfigMap the chart renders for the Grafana sidecar (`grafanaDashboard.enabled`): valid JSON with
a title and uid, queries over metrics the controller exposes only (test_metrics_format.py's
DOCUMENTED, checked against the real binary), each query valid PromQL (promtool parses it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate

from deploy_support import FULLNAME, GRAFANA_DASHBOARD, KUBE_VERSION, NAMESPACE, of_kind, one, render
from test_metrics_format import DOCUMENTED
from test_prometheus_rules import promtool

DASHBOARD = json.loads(GRAFANA_DASHBOARD.read_text())
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def panels() -> list[dict]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


def metric_names(expr: str) -> set[str]:
    """The series an expression reads, histograms by family name."""
    names = set()
    for name in re.findall(r"\b(lac_[a-z_]+|up)\b", expr):
        for suffix in HISTOGRAM_SUFFIXES:
            family = name.removesuffix(suffix)
            if family != name and DOCUMENTED.get(family, ("",))[0] == "histogram":
                name = family
        names.add(name)
    return names


def test_the_dashboard_is_json_with_a_title_a_uid_and_panels():
    assert DASHBOARD["title"] == "lambda-alias-controller"
    assert DASHBOARD["uid"] == "lambda-alias-controller"
    assert isinstance(DASHBOARD["schemaVersion"], int)
    assert len(panels()) >= 10
    assert len({p["id"] for p in DASHBOARD["panels"]}) == len(DASHBOARD["panels"]), "unique panel ids"
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in panels():
        assert panel["title"] and panel["targets"], panel
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_query_reads_only_metrics_the_controller_exposes():
    used: set[str] = set()
    for title, expr in queries():
        names = metric_names(expr)
        assert names, f"{title}: {expr} reads no metric"
        assert names <= set(DOCUMENTED) | {"up"}, f"{title}: {sorted(names - set(DOCUMENTED))} not exposed"
        assert 'job=~"$job"' in expr, f"{title}: {expr} ignores the job variable"
        used |= names
    # The panels the issue asks for: every family of the controller is on the dashboard.
    assert set(DOCUMENTED) <= used, sorted(set(DOCUMENTED) - used)


def test_every_query_is_valid_promql(tmp_path: Path):
    """promtool parses each query, as a recording rule, with the dashboard's variable filled in."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr.replace("$job", ".+")}
                    for i, (_, expr) in enumerate(queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(json.dumps(rules))
    done = promtool("check", "rules", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queries())} rules found" in done.stdout


def test_nothing_is_rendered_by_default():
    assert of_kind(render(), "ConfigMap") == []


def test_the_config_map_carries_the_dashboard_for_the_grafana_sidecar():
    config_map = one(render({"grafanaDashboard": {"enabled": True}}), "ConfigMap")
    assert config_map["metadata"]["name"] == f"{FULLNAME}-dashboard"
    assert config_map["metadata"]["namespace"] == NAMESPACE
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "annotations" not in config_map["metadata"]
    assert list(config_map["data"]) == ["lambda-alias-controller.json"]
    assert json.loads(config_map["data"]["lambda-alias-controller.json"]) == DASHBOARD
    kubernetes_validate.validate(config_map, KUBE_VERSION, strict=True)


def test_namespace_labels_and_annotations_are_values():
    config_map = one(
        render(
            {
                "grafanaDashboard": {
                    "enabled": True,
                    "namespace": "monitoring",
                    "labels": {"grafana_dashboard": "lac", "team": "platform"},
                    "annotations": {"grafana_folder": "AWS"},
                }
            }
        ),
        "ConfigMap",
    )
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "lac", "a label value of the user's wins"
    assert config_map["metadata"]["labels"]["team"] == "platform"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "AWS"}
    kubernetes_validate.validate(config_map, KUBE_VERSION, strict=True)
