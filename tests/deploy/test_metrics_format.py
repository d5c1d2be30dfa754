"""`/metrics` of the real controller, read by an independent parser: the Prometheus project's
own Python client (`prometheus_client.parser.text_string_to_metric_families`, the text format
0.0.4 that the endpoint declares), so that what Prometheus scrapes is checked by something
other than the code that wrote it.

The controller binary (`cargo build`; `make test` builds it before this suite) runs against
the real API server (KUBECONFIG: the conftest's `kubeconfig` fixture skips without one on a
user's machine and fails in CI) with dummy AWS credentials and an AWS endpoint where nothing
listens. It watches a fresh namespace holding one LambdaAliasSet, so that its reconcile (which
fails on AWS) fills the labelled families before the scrape: every family the README documents
must then be there, with its type, its labels and, for the histogram, today's buckets.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from deploy_support import CRD, REPO

# Every family the controller exposes, as the README lists them ("The controller"; the three the
# alerts added in "Alerts and runbooks"): exposed name -> type, label names of its samples.
DOCUMENTED = {
    "lac_reconciles_total": ("counter", set()),
    "lac_reconcile_errors_total": ("counter", {"reason"}),
    "lac_reconcile_duration_seconds": ("histogram", set()),
    "lac_ready_reasons_total": ("counter", {"reason"}),
    "lac_sets": ("gauge", {"phase", "ready"}),
    "lac_aws_calls_total": ("counter", {"operation", "outcome"}),
    "lac_aws_throttles_total": ("counter", set()),
    "lac_aws_budget_tokens_total": ("counter", {"account", "region", "pool", "lane"}),
    "lac_aws_budget_rate": ("gauge", {"pool", "lane"}),
    "lac_lane_queue_depth": ("gauge", {"lane"}),
    "lac_leader": ("gauge", {"lease"}),
    "lac_drift_checks_total": ("counter", {"result"}),
    "lac_drift_passes_total": ("counter", set()),
    "lac_drift_pass_duration_seconds": ("gauge", set()),
    "lac_drift_events_received_total": ("counter", set()),
    "lac_drift_events_total": ("counter", {"result"}),
    "lac_drift_event_lag_seconds": ("histogram", {"until"}),
    "lac_drift_events_queue_up": ("gauge", {"queue"}),
    "lac_rollout_looks_total": ("counter", {"result"}),
    "lac_resync_seconds": ("gauge", set()),
    "lac_set_stalled": ("gauge", {"set", "reason"}),
    "lac_smapi_requests_total": ("counter", {"operation", "outcome"}),
}
# src/controller/metrics.rs DURATION_BUCKETS, then the implicit +Inf.
BUCKETS = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf"]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FIELD_MANAGER = "lac-deploy-test"


def binary() -> Path:
    """The controller that `cargo build` (or `cargo test --all-targets`) left in the target
    directory: CARGO_TARGET_DIR's, else the work tree's."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    path = target / "debug" / "lambda-alias-controller"
    if not path.is_file():
        pytest.fail(f"{path} does not exist: build it first (`cargo build --locked`; `make test` does)")
    return path


def kubectl(*args: str, stdin: str | None = None) -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not on PATH: it is needed to apply to the cluster")
    done = subprocess.run(
        [path, *args], input=stdin, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[int, str, str]:
    """(status, Content-Type, body) of one GET; an HTTP error status is an answer too."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def value(text: str, name: str) -> float:
    """The sum of the samples called `name` (0 when there is none)."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    )


@pytest.fixture(scope="module")
def scraped(kubeconfig: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(Content-Type, body) of /metrics once the controller has reconciled one set."""
    exe = binary()
    # As users install it (client-side): server-side apply would drop kubectl's last-applied
    # annotation and make every later `kubectl apply -f crds/` warn.
    kubectl("apply", "-f", str(CRD))
    crd_name = yaml.safe_load(CRD.read_text())["metadata"]["name"]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd_name}")
    namespace = f"lac-metrics-{os.urandom(3).hex()}"
    kubectl("create", "namespace", namespace)
    kubectl(
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        stdin=yaml.safe_dump(
            {
                "apiVersion": "lambda.aliasset.dev/v1alpha1",
                "kind": "LambdaAliasSet",
                "metadata": {"name": "scraped", "namespace": namespace},
                "spec": {"functionName": "metrics-format-test"},
            }
        ),
    )

    port = free_port()
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key != "KUBECONFIG"
    }
    env.update(
        KUBECONFIG=kubeconfig,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        # Nothing listens there: every AWS call fails at once, and is counted.
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        RUST_LOG="info",
    )
    with log.open("w") as log_file:
        controller = subprocess.Popen(
            [
                str(exe),
                "run",
                "--namespace",
                namespace,
                "--http-addr",
                f"127.0.0.1:{port}",
                "--log-format",
                "text",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        deadline = time.monotonic() + 90
        content_type, body, last = "", "", "no answer yet"
        while time.monotonic() < deadline:
            if controller.poll() is not None:
                pytest.fail(f"the controller exited ({controller.returncode}):\n{log.read_text()}")
            try:
                status, content_type, body = get(port, "/metrics")
            except OSError as error:
                last = str(error)
            else:
                last = f"{status}: {body}"
                if status == 200 and value(body, "lac_reconciles_total") > 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"no reconcile on /metrics in 90 s (last: {last}); log:\n{log.read_text()}")
        yield content_type, body
    finally:
        controller.send_signal(signal.SIGTERM)
        try:
            controller.wait(timeout=10)
        except subprocess.TimeoutExpired:
            controller.kill()
            controller.wait()
        # The set keeps the controller's finalizer and the namespace then stays Terminating on
        # an API server without a controller-manager: harmless, and every run has its own.
        subprocess.run(
            ["kubectl", "delete", "namespace", namespace, "--wait=false"],
            capture_output=True,
            timeout=60,
        )


def test_metrics_declares_the_text_format(scraped: tuple[str, str]) -> None:
    content_type, body = scraped
    assert content_type == CONTENT_TYPE
    assert body.endswith("\n")
    # The 0.0.4 text format, not OpenMetrics: no `# EOF`.
    assert "# EOF" not in body


def test_every_documented_family_is_there_with_its_type_and_labels(scraped: tuple[str, str]) -> None:
    _, body = scraped
    families = {}
    for family in text_string_to_metric_families(body):
        # The parser names a counter family without `_total` (OpenMetrics' way); its samples
        # keep the exposed name.
        exposed = family.name + "_total" if family.type == "counter" else family.name
        assert exposed not in families, f"{exposed} twice"
        families[exposed] = family
    # Nothing the parser could not type (a sample outside its family would show as "unknown").
    assert {name: f.type for name, f in families.items()} == {
        name: kind for name, (kind, _) in DOCUMENTED.items()
    }
    for name, (kind, labels) in DOCUMENTED.items():
        family = families[name]
        assert family.documentation, f"{name} has a HELP text"
        for sample in family.samples:
            if kind == "histogram":
                assert sample.name in {f"{name}_bucket", f"{name}_sum", f"{name}_count"}, sample
                expected = labels | {"le"} if sample.name.endswith("_bucket") else labels
            else:
                assert sample.name == name, sample
                expected = labels
            assert set(sample.labels) == expected, sample
            assert math.isfinite(sample.value) and sample.value >= 0, sample
    # What one failed reconcile of one set leaves: counted, with a reason and a duration, and
    # the set on the gauge.
    assert value(body, "lac_reconciles_total") >= 1
    assert families["lac_ready_reasons_total"].samples
    assert families["lac_sets"].samples
    assert sum(s.value for s in families["lac_sets"].samples) == 1
    # The alerts' inputs (charts/lambda-alias-controller/files/prometheus-rules.yaml): the period
    # the drift pass is compared with (--resync's default), and leadership without --leader-elect
    # (no Lease: it always leads).
    assert [(s.labels, s.value) for s in families["lac_resync_seconds"].samples] == [({}, 300)]
    assert [(s.labels, s.value) for s in families["lac_leader"].samples] == [({"lease": ""}, 1)]


def test_histogram_has_todays_buckets(scraped: tuple[str, str]) -> None:
    _, body = scraped
    (family,) = [f for f in text_string_to_metric_families(body) if f.name == "lac_reconcile_duration_seconds"]
    buckets = [s for s in family.samples if s.name.endswith("_bucket")]
    assert [s.labels["le"] for s in buckets] == BUCKETS
    counts = [s.value for s in buckets]
    assert counts == sorted(counts), "cumulative"
    (count,) = [s.value for s in family.samples if s.name.endswith("_count")]
    assert counts[-1] == count
    assert count >= 1, "the reconcile that failed on AWS ran, so it has a duration"
