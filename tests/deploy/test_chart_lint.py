"""`helm lint --strict` (Helm v4's linter through helm-python-sdk) finds nothing to report."""

import pytest

from deploy_support import CHART, KUBE_VERSION, NAMESPACE, NON_DEFAULT_VALUES, helm

INFO = 1  # severities: 0 unknown, 1 info, 2 warning, 3 error


@pytest.mark.parametrize("values", [None, NON_DEFAULT_VALUES], ids=["defaults", "non-defaults"])
def test_chart_lints_clean_in_strict_mode(values):
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] > INFO]
    assert problems == []


def test_lint_reports_a_broken_chart(tmp_path):
    """The linter really runs: a chart without a version is an error."""
    broken = tmp_path / "broken"
    (broken / "templates").mkdir(parents=True)
    (broken / "Chart.yaml").write_text("apiVersion: v2\nname: broken\n")
    report = helm.lint(broken, strict=True)
    assert report["errors"] or any(m["severity"] > INFO for m in report["messages"])
