"""The RBAC grants exactly what the controller calls on the Kubernetes API: no more, no less.

Permissions are computed the way the API server does: from the ServiceAccount the Deployment
runs as, through its (Cluster)RoleBindings, to the rules of the roles they reference, by scope.
"""

from __future__ import annotations

import pytest

from deploy_support import (
    CLUSTER,
    LEASE_GRANTS,
    NAMESPACE,
    NON_DEFAULT_VALUES,
    WATCH_GRANTS,
    container,
    effective_permissions,
    grants,
    one,
    plain_manifests,
    render,
)


def controller_permissions(objects):
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    namespace = one(objects, "Deployment")["metadata"]["namespace"]
    return effective_permissions(objects, namespace, pod["serviceAccountName"])


def test_plain_manifests_grant_exactly_the_watch_cluster_wide():
    objects = plain_manifests()
    assert controller_permissions(objects) == {CLUSTER: set(WATCH_GRANTS)}
    assert "--leader-elect" not in container(one(objects, "Deployment"))["args"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, {CLUSTER: WATCH_GRANTS}),
        ({"replicaCount": 2}, {CLUSTER: WATCH_GRANTS, NAMESPACE: LEASE_GRANTS}),
        ({"leaderElection": {"enabled": True}}, {CLUSTER: WATCH_GRANTS, NAMESPACE: LEASE_GRANTS}),
        ({"watchNamespaces": ["a", "b"]}, {"a": WATCH_GRANTS, "b": WATCH_GRANTS}),
        (NON_DEFAULT_VALUES, {"a": WATCH_GRANTS, "b": WATCH_GRANTS, NAMESPACE: LEASE_GRANTS}),
        (
            {"watchNamespaces": [NAMESPACE], "leaderElection": {"enabled": True}},
            {NAMESPACE: WATCH_GRANTS | LEASE_GRANTS},
        ),
    ],
    ids=[
        "all-namespaces",
        "all-namespaces-two-replicas",
        "all-namespaces-leader-forced",
        "watch-a-b",
        "watch-a-b-two-replicas",
        "watch-own-namespace-leader",
    ],
)
def test_chart_grants_exactly_what_the_controller_calls(values, expected):
    assert controller_permissions(render(values)) == {k: set(v) for k, v in expected.items()}


def test_no_role_is_left_unbound_or_bound_to_someone_else():
    for objects in (plain_manifests(), render(), render(NON_DEFAULT_VALUES)):
        roles = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]) for r in objects if r["kind"] in ("Role", "ClusterRole")}
        bound = set()
        for b in objects:
            if b["kind"] in ("RoleBinding", "ClusterRoleBinding"):
                ref = b["roleRef"]
                bound.add((ref["kind"], b["metadata"].get("namespace") if ref["kind"] == "Role" else None, ref["name"]))
        assert roles == bound


def test_lease_get_and_patch_are_limited_to_the_controller_lease():
    lease_role = [r for r in render({"replicaCount": 2})
                  if r["kind"] == "Role" and r["metadata"]["name"].endswith("-leader-election")][0]
    by_verb = {verb: rule.get("resourceNames") for rule in lease_role["rules"] for verb in rule["verbs"]}
    assert by_verb == {"create": None, "get": ["lambda-alias-controller"], "patch": ["lambda-alias-controller"]}


def test_rbac_check_catches_a_wildcard():
    objects = render()
    role = one(objects, "ClusterRole")
    role["rules"].append({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]})
    with pytest.raises(AssertionError, match="wildcard"):
        grants(role)


def test_rbac_check_catches_an_extra_verb():
    objects = render()
    one(objects, "ClusterRole")["rules"][0]["verbs"].append("delete")
    assert controller_permissions(objects) != {CLUSTER: set(WATCH_GRANTS)}


@pytest.mark.parametrize("watch", [[], ["a", "b"]], ids=["all-namespaces", "watch-a-b"])
def test_alexa_credentials_are_readable_by_name_only(watch):
    values = {"watchNamespaces": watch, "alexa": {"credentialsSecretNames": ["smapi", "skill-creds"]}}
    objects = render(values)
    kinds = ["Role"] if watch else ["ClusterRole"]
    roles = [o for o in objects if o["kind"] in kinds and not o["metadata"]["name"].endswith("-leader-election")]
    assert len(roles) == (len(watch) or 1)
    for role in roles:
        secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
        assert secret_rules == [
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["smapi", "skill-creds"], "verbs": ["get"]}
        ], role["metadata"]["name"]
    # Without names, no Secret access at all.
    for role in (o for o in render({"watchNamespaces": watch}) if o["kind"] in kinds):
        assert not any("secrets" in r.get("resources", []) for r in role["rules"])
