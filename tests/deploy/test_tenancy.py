"""The chart's `tenancy` and `clusterName` values (issue 12): strict passes the flags and grants
list/watch on the Namespaces whose annotations decide what a set may use; open adds nothing."""

from __future__ import annotations

import re

import pytest

from deploy_support import FULLNAME, container, flag_values, helm, of_kind, one, render


def test_open_is_the_default_and_adds_neither_flags_nor_grants():
    objects = render()
    args = container(one(objects, "Deployment"))["args"]
    assert "--tenancy" not in args and "--cluster-name" not in args
    for kind in ("ClusterRole", "Role"):
        for role in of_kind(objects, kind):
            for rule in role["rules"]:
                assert "namespaces" not in rule["resources"], role


def test_strict_passes_the_flags_and_lets_the_controller_list_and_watch_namespaces():
    objects = render({"tenancy": "strict", "clusterName": "prod-eu"})
    args = container(one(objects, "Deployment"))["args"]
    assert flag_values(args, "--tenancy") == ["strict"]
    assert flag_values(args, "--cluster-name") == ["prod-eu"]
    role = next(r for r in of_kind(objects, "ClusterRole") if r["metadata"]["name"] == f"{FULLNAME}-tenancy")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]
    binding = next(b for b in of_kind(objects, "ClusterRoleBinding") if b["metadata"]["name"] == f"{FULLNAME}-tenancy")
    assert binding["roleRef"]["name"] == f"{FULLNAME}-tenancy"


def test_strict_with_watch_namespaces_reads_only_those_namespaces():
    objects = render({"tenancy": "strict", "clusterName": "prod-eu", "watchNamespaces": ["team-a", "team-b"]})
    role = next(r for r in of_kind(objects, "ClusterRole") if r["metadata"]["name"] == f"{FULLNAME}-tenancy")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["team-a", "team-b"], "verbs": ["list", "watch"]}
    ]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"tenancy": "strict"}, "clusterName is required with tenancy: strict"),
        ({"tenancy": "closed"}, 'tenancy must be open or strict, not "closed"'),
    ],
)
def test_bad_tenancy_values_fail_with_a_message(values, message):
    """The templates' own checks, which hold with --skip-schema-validation too (values.schema.json
    refuses a tenancy other than open or strict first: test_values_schema.py)."""
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values, schema=False)
