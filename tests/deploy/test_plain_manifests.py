"""deploy/: the plain manifests behind `kubectl apply -f crds/ && kubectl apply -k deploy/`."""

from __future__ import annotations

import re

import yaml

from deploy_support import (
    DEPLOY,
    IMAGE_REPOSITORY,
    LEASE_NAME,
    NAMESPACE,
    REPO,
    container,
    env_map,
    of_kind,
    one,
    plain_manifest_files,
    plain_manifests,
)

SA = "lambda-alias-controller"


def test_kustomization_lists_every_manifest_in_deploy():
    listed = {p.name for p in plain_manifest_files()}
    on_disk = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, "a manifest in deploy/ is not installed by kustomization.yaml (or vice versa)"
    assert all(p.parent == DEPLOY for p in plain_manifest_files()), "examples/ is not part of the install"


def test_plain_manifests_are_the_expected_objects_in_the_controller_namespace():
    objects = plain_manifests()
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Namespace",
        "Service",
        "ServiceAccount",
    ]
    assert one(objects, "Namespace")["metadata"]["name"] == NAMESPACE
    for o in objects:
        if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert o["metadata"]["namespace"] == NAMESPACE, o["kind"]


def test_namespace_enforces_the_restricted_pod_security_standard():
    labels = one(plain_manifests(), "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_deployment_runs_one_replica_with_the_documented_args():
    deployment = one(plain_manifests(), "Deployment")
    c = container(deployment)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}, "two controllers must never overlap"
    assert c["image"] == f"{IMAGE_REPOSITORY}:0.1.0"
    assert c["args"] == ["run", "--http-addr", "0.0.0.0:8080", "--log-format", "json"]
    assert "--leader-elect" not in c["args"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SA
    assert pod["automountServiceAccountToken"] is True


def test_deployment_is_hardened():
    deployment = one(plain_manifests(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    c = container(deployment)
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert c["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }


def test_probes_and_port_match_the_http_endpoints():
    c = container(one(plain_manifests(), "Deployment"))
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # /readyz answers within 3 s (then 503 "timeout"): the probe must wait longer than that.
    assert c["readinessProbe"]["timeoutSeconds"] >= 4


def test_pod_name_and_namespace_come_from_the_downward_api():
    env = env_map(container(one(plain_manifests(), "Deployment")))
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_aws_region_placeholder_and_irsa_example_are_commented_out():
    deployment = (DEPLOY / "deployment.yaml").read_text()
    assert re.search(r"^\s*# - name: AWS_REGION$", deployment, re.MULTILINE)
    assert "AWS_REGION" not in env_map(container(one(plain_manifests(), "Deployment")))
    sa_text = (DEPLOY / "serviceaccount.yaml").read_text()
    assert re.search(r"^\s*#\s+eks\.amazonaws\.com/role-arn: arn:aws:iam::", sa_text, re.MULTILINE)
    assert "annotations" not in one(plain_manifests(), "ServiceAccount")["metadata"]


def test_service_exposes_the_metrics_port_of_the_controller_pods():
    objects = plain_manifests()
    service = one(objects, "Service")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]


def test_kustomization_pins_the_same_image_as_the_deployment():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    image = container(one(plain_manifests(), "Deployment"))["image"]
    assert kustomization["images"] == [{"name": IMAGE_REPOSITORY, "newTag": image.rsplit(":", 1)[1]}]


def test_manifests_agree_with_the_controller_source():
    """The names the manifests rely on are the ones the binary uses (src/ is read, not run)."""
    sources = "\n".join(p.read_text() for p in (REPO / "src").rglob("*.rs"))
    assert f'pub const MANAGER: &str = "{LEASE_NAME}";' in sources, "the Lease name changed"
    for var in ("POD_NAME", "POD_NAMESPACE"):
        assert f'std::env::var("{var}")' in sources, f"the controller no longer reads {var}"
    run_args = re.search(r"pub struct RunArgs \{(.*?)\n\}", sources, re.DOTALL).group(1)
    flags = set(re.findall(r'long\s*=\s*"([a-z-]+)"', run_args))
    flags |= {
        field.replace("_", "-")
        for attr, field in re.findall(r"#\[arg\(([^\n]*)\)\]\s*(?:///[^\n]*\s*)*pub (\w+):", run_args)
        if re.search(r"\blong\b(?!\s*=)", attr)
    }
    used = {"namespace", "http-addr", "concurrency", "resync", "leader-elect", "log-format", "endpoint-url", "region"}
    assert used <= flags, f"run no longer takes --{sorted(used - flags)}"
    assert not of_kind(plain_manifests(), "Role"), "leader election is off: no Lease Role"
