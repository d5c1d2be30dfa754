"""tests/deploy/render_chart.py, the CLI the Rust e2e tests render the chart with: run as they
run it (a subprocess), it prints what render() renders, and fails with exit 1 and a message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_support import RELEASE, load_yaml_documents, render

SCRIPT = Path(__file__).with_name("render_chart.py")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "release, values",
    [
        (None, {}),
        ("other", {"replicaCount": 2, "watchNamespaces": ["a", "b"]}),
    ],
    ids=["defaults", "release-and-values"],
)
def test_prints_the_objects_render_renders(release, values):
    args = ["--namespace", "ns-under-test"]
    if release is not None:
        args += ["--release", release]
    if values:
        args += ["--values", json.dumps(values)]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    printed = load_yaml_documents(result.stdout)
    assert printed == render(values, namespace="ns-under-test", release=release or RELEASE)
    deployment = next(o for o in printed if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "ns-under-test"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/instance"] == (release or RELEASE)
    assert "NOTES" not in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "--namespace"),
        (["--namespace", "x", "--values", "{"], "not valid JSON"),
        (["--namespace", "x", "--values", "[]"], "must be a JSON object"),
        (
            ["--namespace", "x", "--values", '{"serviceAccount": {"create": false}}'],
            "serviceAccount.name is required",
        ),
    ],
    ids=["no-namespace", "bad-json", "not-an-object", "chart-refuses"],
)
def test_errors_exit_1_with_a_message(args, message):
    result = run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "render_chart.py: error:" in result.stderr and message in result.stderr
