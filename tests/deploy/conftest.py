"""The deployment suite never skips, with one exception: a test that cannot run (no
helm-python-sdk, no kubectl) fails with the reason, so a green run always means every check ran.

The exception is the real-cluster tests (the `kubeconfig` fixture) on a user's machine without
a cluster: they skip, saying how to get one. In CI (`CI=true`) that is a failure too, because CI
provides the cluster (KUBECONFIG) and the suite must run in full.
"""

from __future__ import annotations

import os
import sys

import pytest


def in_ci() -> bool:
    """Whether this run is CI's: CI set to anything but empty, "false" or "0" (the same rule
    as tests/support/cluster.rs)."""
    value = os.environ.get("CI", "")
    return value not in ("", "false", "0")


class ClusterUnavailable(pytest.skip.Exception):
    """The one skip this suite allows: no cluster (KUBECONFIG unset), outside CI."""


NO_CLUSTER = (
    "KUBECONFIG is not set, so there is no Kubernetes API server to apply the chart and the "
    "manifests to. To run these tests: `eval \"$(../shared/kube/up --env)\"` (a local "
    "kube-apiserver on loopback), or any cluster such as kind (`kind create cluster`, then "
    "`export KUBECONFIG=$HOME/.kube/config`), then `make test-deploy`."
)


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    """The path KUBECONFIG names: the cluster the real-cluster tests apply to. Skips without
    one (outside CI only)."""
    path = os.environ.get("KUBECONFIG", "")
    if path:
        return path
    if in_ci():
        pytest.fail(f"CI={os.environ['CI']}: in CI the cluster tests never skip. {NO_CLUSTER}")
    raise ClusterUnavailable(NO_CLUSTER)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        if (
            call.excinfo is not None
            and call.excinfo.errisinstance(ClusterUnavailable)
            and not in_ci()
        ):
            return
        report.outcome = "failed"
        report.longrepr = f"tests/deploy never skips, this counts as a failure: {report.longrepr}"


def pytest_terminal_summary(terminalreporter):
    """What some tests want in the log even when they pass (pytest captures their output):
    helm's refusals of bad values, promtool's output; see deploy_support.report."""
    support = sys.modules.get("deploy_support")
    for title, text in getattr(support, "REPORTS", []):
        terminalreporter.write_sep("-", title)
        terminalreporter.write_line(text.rstrip("\n"))
