"""The Helm chart, rendered offline (``helm template``) with default and non-default values."""

from __future__ import annotations

import re

import pytest
import yaml

from deploy_support import (
    CHART,
    FULLNAME,
    IMAGE_REPOSITORY,
    LEASE_NAME,
    NAMESPACE,
    NON_DEFAULT_VALUES,
    REPO,
    container,
    env_map,
    flag_values,
    helm,
    of_kind,
    one,
    plain_manifests,
    render,
    render_notes,
)


def kinds(objects):
    return sorted((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects)


def test_helm_sdk_is_helm_v4_and_the_pinned_binding():
    assert helm.__version__ == "0.2.2"
    assert helm.helm_sdk_version().startswith("v4."), helm.helm_sdk_version()


def test_chart_metadata_names_the_app_version_of_the_crate():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    cargo = (REPO / "Cargo.toml").read_text()
    crate_version = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.MULTILINE).group(1)
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "lambda-alias-controller"
    assert chart["appVersion"] == crate_version == "0.1.0"


def test_default_values_render_the_all_namespaces_install():
    objects = render()
    assert kinds(objects) == [
        ("ClusterRole", "", FULLNAME),
        ("ClusterRoleBinding", "", FULLNAME),
        ("Deployment", NAMESPACE, FULLNAME),
        ("Service", NAMESPACE, f"{FULLNAME}-metrics"),
        ("ServiceAccount", NAMESPACE, FULLNAME),
    ]


def test_default_deployment_runs_one_replica_without_leader_election():
    deployment = one(render(), "Deployment")
    c = container(deployment)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert c["image"] == f"{IMAGE_REPOSITORY}:0.1.0", "the tag defaults to appVersion"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["args"] == [
        "run",
        "--http-addr", "0.0.0.0:8080",
        "--log-format", "json",
        "--resync", "300",
        "--concurrency", "4",
        "--drift-budget", "0.25",
        "--budget-share", "1",
        "--smapi-rate", "5",
    ]  # fmt: skip
    env = env_map(c)
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["RUST_LOG"]["value"] == "info"
    assert set(env) == {"POD_NAME", "POD_NAMESPACE", "RUST_LOG"}
    pod = deployment["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == FULLNAME
    assert pod["spec"]["automountServiceAccountToken"] is True
    assert "annotations" not in pod["metadata"]
    assert "imagePullSecrets" not in pod["spec"]
    assert c["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }


def test_default_service_account_has_no_annotations():
    sa = one(render(), "ServiceAccount")
    assert "annotations" not in sa["metadata"]


def test_deployment_is_hardened_exactly_like_the_plain_manifest():
    plain = one(plain_manifests(), "Deployment")
    for values in ({}, NON_DEFAULT_VALUES):
        chart = one(render(values), "Deployment")
        assert chart["spec"]["template"]["spec"]["securityContext"] == plain["spec"]["template"]["spec"]["securityContext"]
        assert container(chart)["securityContext"] == container(plain)["securityContext"]
        assert container(chart)["livenessProbe"] == container(plain)["livenessProbe"]
        assert container(chart)["readinessProbe"] == container(plain)["readinessProbe"]
        assert container(chart)["ports"] == container(plain)["ports"]
    pod_security = plain["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 65532
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(plain)["securityContext"]
    assert c["readOnlyRootFilesystem"] is True
    assert c["allowPrivilegeEscalation"] is False
    assert c["capabilities"] == {"drop": ["ALL"]}


def test_service_selects_the_controller_pods_on_the_metrics_port():
    for values in ({}, NON_DEFAULT_VALUES):
        objects = render(values)
        service = one(objects, "Service")
        pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert service["spec"]["ports"] == [
            {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
        ]


def test_non_default_values_render_every_optional_object():
    objects = render(NON_DEFAULT_VALUES)
    assert kinds(objects) == [
        ("ConfigMap", "monitoring", f"{FULLNAME}-dashboard"),
        ("Deployment", NAMESPACE, FULLNAME),
        ("NetworkPolicy", NAMESPACE, FULLNAME),
        ("PrometheusRule", NAMESPACE, FULLNAME),
        ("Role", "a", FULLNAME),
        ("Role", "b", FULLNAME),
        ("Role", NAMESPACE, f"{FULLNAME}-leader-election"),
        ("RoleBinding", "a", FULLNAME),
        ("RoleBinding", "b", FULLNAME),
        ("RoleBinding", NAMESPACE, f"{FULLNAME}-leader-election"),
        ("Service", NAMESPACE, f"{FULLNAME}-metrics"),
        ("ServiceAccount", NAMESPACE, FULLNAME),
        ("ServiceMonitor", NAMESPACE, FULLNAME),
    ]


def test_non_default_values_reach_the_controller_flags_and_env():
    deployment = one(render(NON_DEFAULT_VALUES), "Deployment")
    c = container(deployment)
    args = c["args"]
    assert args[0] == "run"
    assert flag_values(args, "--namespace") == ["a", "b"]
    assert "--leader-elect" in args, "replicaCount 2 switches leader election on"
    assert flag_values(args, "--region") == ["eu-west-1"]
    assert flag_values(args, "--endpoint-url") == ["http://moto.test:5000"]
    assert flag_values(args, "--resync") == ["120"]
    assert flag_values(args, "--concurrency") == ["8"]
    assert flag_values(args, "--log-format") == ["text"]
    assert flag_values(args, "--http-addr") == ["0.0.0.0:8080"]
    assert flag_values(args, "--drift-budget") == ["0.1"]
    assert flag_values(args, "--budget-share") == ["0.5"]
    assert "--shard" not in args, "no shards: one Deployment for every set"
    env = env_map(c)
    assert env["RUST_LOG"]["value"] == "debug"
    assert env["AWS_STS_REGIONAL_ENDPOINTS"] == {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}
    assert {"POD_NAME", "POD_NAMESPACE"} <= set(env)
    assert c["image"] == f"{IMAGE_REPOSITORY}:0.2.0"
    assert c["imagePullPolicy"] == "Always"
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["template"]["metadata"]["annotations"] == {"example.com/owner": "platform"}
    assert spec["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["template"]["spec"]["tolerations"] == NON_DEFAULT_VALUES["tolerations"]


def test_irsa_annotation_lands_on_the_service_account_the_pod_uses():
    objects = render(NON_DEFAULT_VALUES)
    sa = one(objects, "ServiceAccount")
    assert sa["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/lambda-alias-controller"
    }
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_watch_namespaces_get_one_role_each_and_no_cluster_role():
    objects = render({"watchNamespaces": ["a", "b", "a"]})
    assert of_kind(objects, "ClusterRole") == [] and of_kind(objects, "ClusterRoleBinding") == []
    assert sorted(r["metadata"]["namespace"] for r in of_kind(objects, "Role")) == ["a", "b"]
    assert sorted(b["metadata"]["namespace"] for b in of_kind(objects, "RoleBinding")) == ["a", "b"]
    args = container(one(objects, "Deployment"))["args"]
    assert flag_values(args, "--namespace") == ["a", "b"], "duplicates are dropped"
    assert "--leader-elect" not in args


@pytest.mark.parametrize(
    ("values", "leader"),
    [
        ({}, False),
        ({"replicaCount": 1, "leaderElection": {"enabled": False}}, False),
        ({"replicaCount": 2}, True),
        ({"replicaCount": 3, "leaderElection": {"enabled": False}}, True),
        ({"leaderElection": {"enabled": True}}, True),
    ],
    ids=["default", "one-replica", "two-replicas", "cannot-be-off-with-three", "forced-on"],
)
def test_lease_role_exists_exactly_when_leader_election_is_on(values, leader):
    objects = render(values)
    args = container(one(objects, "Deployment"))["args"]
    lease_roles = [r for r in of_kind(objects, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert ("--leader-elect" in args) is leader
    if not leader:
        assert lease_roles == []
        return
    assert len(lease_roles) == 1
    role = lease_roles[0]
    assert role["metadata"]["namespace"] == NAMESPACE, "the Lease lives in the pod's namespace"
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [LEASE_NAME], "verbs": ["get", "patch"]} in role["rules"]
    binding = [b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert len(binding) == 1 and binding[0]["metadata"]["namespace"] == NAMESPACE


def test_service_monitor_scrapes_the_metrics_port():
    objects = render(NON_DEFAULT_VALUES)
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]


def test_network_policy_allows_metrics_in_and_dns_https_out_only():
    objects = render(NON_DEFAULT_VALUES)
    policy = one(objects, "NetworkPolicy")["spec"]
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]
    egress = policy["egress"]
    dns, https, pod_identity = egress
    assert "to" not in dns and dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert "to" not in https, "the API server and AWS can be anywhere"
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]
    assert pod_identity["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert [peer["ipBlock"]["cidr"] for peer in pod_identity["to"]] == ["169.254.170.23/32", "fd00:ec2::23/128"]


def test_optional_objects_are_off_by_default():
    objects = render()
    assert of_kind(objects, "ServiceMonitor") == []
    assert of_kind(objects, "NetworkPolicy") == []
    assert of_kind(objects, "PrometheusRule") == []
    assert of_kind(objects, "ConfigMap") == []


def test_existing_service_account_is_used_when_create_is_off():
    objects = render({"serviceAccount": {"create": False, "name": "existing"}})
    assert of_kind(objects, "ServiceAccount") == []
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"
    subjects = one(objects, "ClusterRoleBinding")["subjects"]
    assert subjects == [{"kind": "ServiceAccount", "name": "existing", "namespace": NAMESPACE}]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"logFormat": "yaml"}, "logFormat must be json or text"),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
    ],
    ids=["bad-log-format", "no-service-account"],
)
def test_invalid_values_fail_the_render_with_a_reason(values, message):
    """The templates' own checks, which hold with --skip-schema-validation too (values.schema.json
    refuses a bad logFormat first: test_values_schema.py)."""
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values, schema=False)


def test_notes_say_where_it_watches_and_whether_it_leads():
    assert "Watching LambdaAliasSets in: all namespaces." in render_notes()
    assert "Leader election: off." in render_notes()
    notes = render_notes(NON_DEFAULT_VALUES)
    assert "Watching LambdaAliasSets in: a, b." in notes
    assert f"Leader election: on (Lease {NAMESPACE}/{LEASE_NAME})." in notes


QUEUE = "https://sqs.eu-west-1.amazonaws.com/111122223333/lambda-alias-controller-drift-events"


def test_drift_events_pass_the_queue_and_the_long_resync():
    args = container(one(render({"driftEvents": {"queueUrl": QUEUE}}), "Deployment"))["args"]
    assert flag_values(args, "--drift-events-queue") == [QUEUE]
    assert flag_values(args, "--resync") == ["21600"], "polling becomes the safety net"
    args = container(one(render({"driftEvents": {"queueUrl": QUEUE, "resyncSeconds": 3600}, "resyncSeconds": 60}), "Deployment"))["args"]
    assert flag_values(args, "--resync") == ["3600"]
    default = container(one(render({"resyncSeconds": 60}), "Deployment"))["args"]
    assert "--drift-events-queue" not in default
    assert flag_values(default, "--resync") == ["60"]


def test_every_shard_reads_the_drift_events_queue():
    objects = render({"driftEvents": {"queueUrl": QUEUE}, "shards": [{"name": "a", "selector": "shard=a"}, {"name": "rest", "selector": "shard!=a"}]})
    deployments = of_kind(objects, "Deployment")
    assert len(deployments) == 2
    for deployment in deployments:
        assert flag_values(container(deployment)["args"], "--drift-events-queue") == [QUEUE]


def test_drift_events_with_watch_namespaces_may_warn_at_the_pod():
    objects = render({"driftEvents": {"queueUrl": QUEUE}, "watchNamespaces": ["a"]})
    roles = {r["metadata"]["name"]: r for r in of_kind(objects, "Role")}
    role = roles[f"{FULLNAME}-pod-events"]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]}]
    binding = [b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert len(binding) == 1 and binding[0]["metadata"]["namespace"] == NAMESPACE
    # Not needed when the release namespace is watched, nor without drift events.
    for values in ({"driftEvents": {"queueUrl": QUEUE}, "watchNamespaces": ["a", NAMESPACE]}, {"watchNamespaces": ["a"]}, {"driftEvents": {"queueUrl": QUEUE}}):
        assert not [r for r in of_kind(render(values), "Role") if r["metadata"]["name"].endswith("-pod-events")], values
