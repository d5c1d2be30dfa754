"""Every object we ship validates against the Kubernetes OpenAPI schemas (kubernetes-validate,
strict: unknown fields are errors), for the plain manifests, the CRD and the rendered chart."""

from __future__ import annotations

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from deploy_support import (
    CHART_CRD,
    CRD,
    KUBE_VERSION,
    NON_DEFAULT_VALUES,
    SHARDS,
    load_file,
    plain_manifest_files,
    render,
)

# Kinds that are CRDs of other projects, so kubernetes-validate has no schema for them.
# The ServiceMonitor and the PrometheusRule belong to prometheus-operator (monitoring.coreos.com);
# their shapes are asserted field by field in test_chart_render.py and test_prometheus_rules.py
# instead (the PrometheusRule's rules by promtool). Anything else without a schema fails the
# test rather than passing unchecked.
NO_KUBERNETES_SCHEMA = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}


def validate(obj: dict, origin: str) -> None:
    if (obj["apiVersion"], obj["kind"]) in NO_KUBERNETES_SCHEMA:
        return
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        pytest.fail(f"{origin}: {obj['kind']}/{obj['metadata']['name']} is invalid at {path}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError as e:
        pytest.fail(f"{origin}: {e.message}")


def test_kubernetes_validate_bundles_the_version_we_target():
    assert KUBE_VERSION in kubernetes_validate.utils.all_versions()


@pytest.mark.parametrize("path", plain_manifest_files(), ids=lambda p: p.name)
def test_plain_manifest_is_schema_valid(path):
    objects = load_file(path)
    assert objects, f"{path} holds no object"
    for obj in objects:
        validate(obj, f"deploy/{path.name}")


@pytest.mark.parametrize("path", [CRD, CHART_CRD], ids=["crds", "chart-crds"])
def test_crd_is_schema_valid(path):
    (crd,) = load_file(path)
    assert crd["kind"] == "CustomResourceDefinition"
    validate(crd, str(path))


@pytest.mark.parametrize(
    "values",
    [{}, NON_DEFAULT_VALUES, {**NON_DEFAULT_VALUES, "shards": SHARDS}],
    ids=["defaults", "non-defaults", "shards"],
)
def test_rendered_chart_is_schema_valid(values):
    objects = render(values)
    assert objects
    for obj in objects:
        validate(obj, "chart")


def test_an_invalid_object_is_caught():
    """The validator is strict: a misspelt field fails (so the passes above mean something)."""
    (deployment,) = [o for o in render() if o["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
