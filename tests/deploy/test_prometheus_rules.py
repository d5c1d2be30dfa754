"""The controller's alerts: charts/lambda-alias-controller/files/prometheus-rules.yaml, checked and
unit-tested with the real promtool (the Prometheus project's own checker), and the chart's
PrometheusRule (`prometheusRule.enabled`), which is that file with this release's selector.

promtool comes from Debian's `prometheus` package; without it these tests fail (never skip):
    command -v promtool >/dev/null || (apt-get update -qq && apt-get install -y -qq prometheus)
Its output is printed at the end of the run (deploy_support.report), passing or not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy_support import (
    FULLNAME,
    NAMESPACE,
    PROMETHEUS_RULES,
    PROMETHEUS_RULES_TEST,
    REPO,
    helm,
    of_kind,
    one,
    render,
    report,
)
from test_metrics_format import DOCUMENTED

INSTALL = "command -v promtool >/dev/null || (apt-get update -qq && apt-get install -y -qq prometheus)"
# What every selector of the file carries, and what the chart replaces it with.
FILE_SELECTOR = 'job="lambda-alias-controller-metrics"'
RELEASE_SELECTOR = f'job="{FULLNAME}-metrics", namespace="{NAMESPACE}"'
RUNBOOKS = "https://github.com/lambda-alias-controller/lambda-alias-controller/blob/main/README.md"
SEVERITIES = {"warning", "critical"}

RULES = yaml.safe_load(PROMETHEUS_RULES.read_text())
ALERTS = {rule["alert"]: rule for group in RULES["groups"] for rule in group["rules"]}

# What the issue asks an alert for, and the alert that does it.
REQUIRED = {
    "a set Stalled for more than 15 minutes": "LambdaAliasSetStalled",
    "AWS throttles": "LambdaAliasControllerAWSThrottled",
    "call-budget wait above a bound": "LambdaAliasControllerBudgetSaturated",
    "a drift pass longer than twice its period": "LambdaAliasControllerDriftPassSlow",
    "SMAPI unavailable": "LambdaAliasControllerSmapiUnavailable",
    "a rollback": "LambdaAliasSetRolledBack",
    "a warm-up failure": "LambdaAliasSetWarmupFailed",
    "the controller down": "LambdaAliasControllerDown",
    "the controller not leading": "LambdaAliasControllerNotLeading",
}


def promtool(*args: str, cwd: Path = REPO, note: str = "") -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: it checks and unit-tests the alerts. Install it with "
            f"`{INSTALL}` (Debian's prometheus package; the service is not started)"
        )
    done = subprocess.run([path, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    report(f"promtool {' '.join(args)} (exit {done.returncode}{note})", done.stdout + done.stderr)
    return done


def prometheus_rule(values: dict[str, Any]) -> dict[str, Any]:
    return one(render({"prometheusRule": {"enabled": True, **values.pop("prometheusRule", {})}, **values}), "PrometheusRule")


def selectors(expr: str) -> list[tuple[str, str]]:
    """(metric, its matchers) for every series selector of a PromQL expression."""
    found = re.findall(r"\b(lac_[a-z_]+|up)\b\s*(\{[^}]*\})?", expr)
    return [(name, matchers) for name, matchers in found]


def test_promtool_is_there():
    done = promtool("--version")
    assert done.returncode == 0, done.stderr
    assert "promtool, version 2." in done.stdout + done.stderr


def test_the_rules_file_passes_promtool_check_rules():
    done = promtool("check", "rules", str(PROMETHEUS_RULES.relative_to(REPO)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_the_alerts_pass_their_unit_tests():
    """`promtool test rules`: every alert firing, and not firing, on series close to its bound."""
    done = promtool("test", "rules", str(PROMETHEUS_RULES_TEST.relative_to(REPO)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_unit_tests_make_every_alert_fire_and_not_fire():
    tests = yaml.safe_load(PROMETHEUS_RULES_TEST.read_text())
    assert tests["rule_files"] == [str(Path("../..") / PROMETHEUS_RULES.relative_to(REPO))]
    checks = [c for t in tests["tests"] for c in t["alert_rule_test"]]
    for alert in ALERTS:
        mine = [c for c in checks if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert} is never shown firing"
        assert any(not c["exp_alerts"] for c in mine), f"{alert} is never shown not firing"
    assert {c["alertname"] for c in checks} <= set(ALERTS)


def test_every_alert_the_issue_asks_for_is_there():
    assert sorted(REQUIRED.values()) == sorted(ALERTS)
    assert ALERTS["LambdaAliasSetStalled"]["for"] == "15m"


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_each_alert_has_a_summary_a_description_and_its_runbook(alert):
    rule = ALERTS[alert]
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["summary"].strip() and len(annotations["description"]) > 80
    # The README's section "### <alert>": GitHub's anchor is the heading in lowercase.
    assert annotations["runbook_url"] == f"{RUNBOOKS}#{alert.lower()}"


def test_the_runbooks_are_in_the_readme():
    readme = (REPO / "README.md").read_text()
    assert "\n## Alerts and runbooks\n" in readme, "README.md has no section 'Alerts and runbooks'"
    section = readme.split("\n## Alerts and runbooks\n", 1)[1].split("\n## ", 1)[0]
    headings = re.findall(r"^### (\S+)$", section, re.MULTILINE)
    assert headings == list(ALERTS), "one runbook per alert, in the rules' order"
    for alert in ALERTS:
        runbook = section.split(f"### {alert}\n", 1)[1].split("\n### ", 1)[0]
        assert "kubectl" in runbook or "lac_" in runbook, f"{alert}: what to check"


def test_every_selector_is_scoped_to_the_controller_and_every_metric_exposed():
    """The chart scopes the rules by replacing one matcher: each selector must carry it. And the
    rules read only metrics the controller exposes (tests/deploy/test_metrics_format.py checks
    those on the real binary)."""
    for alert, rule in ALERTS.items():
        found = selectors(rule["expr"])
        assert found, alert
        for name, matchers in found:
            assert FILE_SELECTOR in matchers, f"{alert}: {name}{matchers} is not scoped"
            assert name == "up" or name in DOCUMENTED, f"{alert}: {name} is not a metric the controller exposes"


def test_nothing_is_rendered_by_default():
    assert of_kind(render(), "PrometheusRule") == []


def test_the_prometheus_rule_is_the_file_with_the_releases_selector(tmp_path: Path):
    rule = prometheus_rule({})
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] == FULLNAME
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == "lac"
    assert set(rule["spec"]) == {"groups"}
    text = yaml.safe_dump(rule["spec"])
    assert FILE_SELECTOR not in text
    # Nothing else changed: back to the file's selector, the groups are the file's.
    expected = yaml.safe_load(PROMETHEUS_RULES.read_text().replace(FILE_SELECTOR, RELEASE_SELECTOR))
    assert rule["spec"] == expected
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            for _, matchers in selectors(r["expr"]):
                assert RELEASE_SELECTOR in matchers, r["alert"]
    # The rendered spec is a rule file too: promtool checks it.
    rendered = tmp_path / "rendered-rules.yaml"
    rendered.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    done = promtool("check", "rules", str(rendered), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_the_rendered_rules_pass_the_unit_tests_too(tmp_path: Path):
    """Rendered with the file's own selector, the PrometheusRule's spec passes the same unit
    tests (promtool test rules with rule_files pointing at the extracted spec)."""
    rule = prometheus_rule({"prometheusRule": {"selector": FILE_SELECTOR}})
    assert rule["spec"] == RULES
    (tmp_path / "rendered-rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    tests = yaml.safe_load(PROMETHEUS_RULES_TEST.read_text())
    tests["rule_files"] = ["rendered-rules.yaml"]
    (tmp_path / "rendered-rules-test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = promtool("test", "rules", "rendered-rules-test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_namespace_labels_alert_labels_selector_and_runbook_base_are_values():
    rule = prometheus_rule(
        {
            "prometheusRule": {
                "namespace": "monitoring",
                "labels": {"release": "kube-prometheus-stack"},
                "alertLabels": {"team": "platform", "severity": "page"},
                "selector": 'job="lac"',
                "runbookBaseUrl": "https://wiki.example.com/lac/",
            }
        }
    )
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert [r["alert"] for r in rules] == list(ALERTS)
    for r in rules:
        assert r["labels"] == {"severity": "page", "team": "platform"}, "alertLabels win"
        assert r["annotations"]["runbook_url"] == f"https://wiki.example.com/lac#{r['alert'].lower()}"
        assert [m for _, m in selectors(r["expr"])] and all('job="lac"' in m for _, m in selectors(r["expr"]))
        assert "lambda-alias-controller-metrics" not in r["expr"]


def test_a_bad_selector_is_caught_by_promtool(tmp_path: Path):
    """promtool really parses the rendered expressions: a selector that is not PromQL fails."""
    rule = prometheus_rule({"prometheusRule": {"selector": "job=lac"}})
    rendered = tmp_path / "rendered-rules.yaml"
    rendered.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    done = promtool("check", "rules", str(rendered), cwd=tmp_path, note=", as it should: a bad selector")
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr


def test_the_chart_lints_clean_with_the_alerts_and_the_dashboard():
    result = helm.lint(
        REPO / "charts" / "lambda-alias-controller",
        {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}},
        strict=True,
        namespace=NAMESPACE,
    )
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []
