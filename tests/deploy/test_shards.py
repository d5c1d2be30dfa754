"""The chart's `shards` value: one Deployment per shard, each with `--shard <selector>` and its
`--budget-share`, its own pods and its own Lease; RBAC still exactly what the controller calls.

The Lease names are pinned in deploy_support.SHARD_LEASES and in src/controller/run.rs
(lease_name): the chart computes them with Helm's sha256sum, the binary with sha2.
tests/cluster/shard.rs runs two shards as the chart renders them on a real API server.
"""

from __future__ import annotations

import re

import pytest

from deploy_support import (
    CLUSTER,
    FULLNAME,
    LEASE_GRANTS,
    NAMESPACE,
    SHARD_LEASES,
    SHARDS,
    WATCH_GRANTS,
    container,
    effective_permissions,
    flag_values,
    helm,
    of_kind,
    one,
    render,
    render_notes,
)

SHARD_LABEL = "lambda.aliasset.dev/shard"


def deployments(values):
    return {d["metadata"]["name"]: d for d in of_kind(render(values), "Deployment")}


def without(args, *flags):
    """`args` without the given `--flag VALUE` pairs."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            out.append(arg)
    return out


def shares(values):
    return [float(flag_values(container(d)["args"], "--budget-share")[0]) for d in deployments(values).values()]


def test_two_shards_render_two_deployments_with_complementary_selectors():
    objects = render({"shards": SHARDS})
    by_name = {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}
    assert sorted(by_name) == [f"{FULLNAME}-a", f"{FULLNAME}-rest"]
    single = container(one(render(), "Deployment"))["args"]
    for shard in SHARDS:
        deployment = by_name[f"{FULLNAME}-{shard['name']}"]
        assert deployment["metadata"]["namespace"] == NAMESPACE
        args = container(deployment)["args"]
        assert flag_values(args, "--shard") == [shard["selector"]]
        assert flag_values(args, "--budget-share") == ["0.5"], "two shards split the budget"
        # Everything else is what the single Deployment runs with.
        assert without(args, "--shard", "--budget-share") == without(single, "--budget-share")
    # Nothing else changes: one Service, ServiceAccount, ClusterRole and binding, as without shards.
    others = sorted((o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] != "Deployment")
    assert others == sorted((o["kind"], o["metadata"]["name"]) for o in render() if o["kind"] != "Deployment")


def test_without_shards_the_single_deployment_is_unchanged():
    (deployment,) = of_kind(render({"shards": []}), "Deployment")
    assert deployment == one(render(), "Deployment")
    assert deployment["metadata"]["name"] == FULLNAME
    assert SHARD_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]
    assert "--shard" not in container(deployment)["args"]


def test_each_deployment_selects_only_its_own_pods_and_the_service_selects_all():
    objects = render({"shards": SHARDS, "serviceMonitor": {"enabled": True}, "networkPolicy": {"enabled": True}})
    found = of_kind(objects, "Deployment")
    assert len(found) == 2
    for deployment in found:
        selector = deployment["spec"]["selector"]["matchLabels"]
        for other in found:
            pod_labels = other["spec"]["template"]["metadata"]["labels"]
            selects = selector.items() <= pod_labels.items()
            assert selects is (other is deployment), (deployment["metadata"]["name"], other["metadata"]["name"])
        name = deployment["metadata"]["name"].removeprefix(f"{FULLNAME}-")
        assert deployment["spec"]["template"]["metadata"]["labels"][SHARD_LABEL] == name
        assert deployment["metadata"]["labels"][SHARD_LABEL] == name
    service = one(objects, "Service")
    policy = one(objects, "NetworkPolicy")
    monitor = one(objects, "ServiceMonitor")
    for deployment in found:
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items(), "metrics of every shard"
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"shards": SHARDS}, [0.5, 0.5]),
        ({"shards": SHARDS + [{"name": "c", "selector": "shard=c"}]}, [1 / 3] * 3),
        ({"shards": SHARDS, "budgetShare": 0.5}, [0.25, 0.25]),
        ({"shards": [{**SHARDS[0], "budgetShare": 0.2}, SHARDS[1]]}, [0.2, 0.8]),
        ({"shards": [{**SHARDS[0], "budgetShare": 0.3}, {**SHARDS[1], "budgetShare": 0.3}]}, [0.3, 0.3]),
        ({"budgetShare": 0.4}, [0.4]),
        ({}, [1.0]),
    ],
    ids=["even-split", "thirds", "split-of-half", "explicit-and-rest", "explicit-under-total", "single", "default"],
)
def test_budget_shares(values, expected):
    got = shares(values)
    assert got == pytest.approx(expected)
    assert sum(got) <= values.get("budgetShare", 1) + 1e-9, "the release never spends more than budgetShare"


def test_drift_budget_reaches_every_deployment():
    for values, expected in [({}, "0.25"), ({"driftBudget": 0.1}, "0.1"), ({"driftBudget": 0.1, "shards": SHARDS}, "0.1")]:
        for deployment in deployments(values).values():
            assert flag_values(container(deployment)["args"], "--drift-budget") == [expected], values


@pytest.mark.parametrize(
    ("replicas", "leader"),
    [({}, False), ({"replicaCount": 2}, True), ({"leaderElection": {"enabled": True}}, True)],
    ids=["one-replica", "two-replicas", "forced"],
)
def test_each_shard_has_its_replicas_and_its_own_lease(replicas, leader):
    objects = render({"shards": SHARDS, **replicas})
    for deployment in of_kind(objects, "Deployment"):
        assert deployment["spec"]["replicas"] == replicas.get("replicaCount", 1)
        assert ("--leader-elect" in container(deployment)["args"]) is leader
    lease_roles = [r for r in of_kind(objects, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    if not leader:
        assert lease_roles == []
        return
    (role,) = lease_roles
    by_verb = {verb: rule.get("resourceNames") for rule in role["rules"] for verb in rule["verbs"]}
    leases = [SHARD_LEASES[s["selector"]] for s in SHARDS]
    assert by_verb == {"create": None, "get": leases, "patch": leases}


def test_lease_names_are_the_binarys():
    """Pinned on both sides: src/controller/run.rs asserts the same names."""
    assert SHARD_LEASES == {
        "shard=a": "lambda-alias-controller-shard-3d8dfb26",
        "shard!=a": "lambda-alias-controller-shard-77a1ece5",
    }
    for name in SHARD_LEASES.values():
        assert re.fullmatch(r"lambda-alias-controller-shard-[0-9a-f]{8}", name)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"shards": SHARDS}, {CLUSTER: WATCH_GRANTS}),
        ({"shards": SHARDS, "replicaCount": 2}, {CLUSTER: WATCH_GRANTS, NAMESPACE: LEASE_GRANTS}),
        (
            {"shards": SHARDS, "replicaCount": 2, "watchNamespaces": ["a", "b"]},
            {"a": WATCH_GRANTS, "b": WATCH_GRANTS, NAMESPACE: LEASE_GRANTS},
        ),
    ],
    ids=["all-namespaces", "all-namespaces-two-replicas", "watch-a-b-two-replicas"],
)
def test_rbac_is_still_exactly_what_the_controller_calls(values, expected):
    objects = render(values)
    leases = [SHARD_LEASES[s["selector"]] for s in SHARDS]
    for deployment in of_kind(objects, "Deployment"):
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        got = effective_permissions(objects, NAMESPACE, account, leases)
        assert got == {k: set(v) for k, v in expected.items()}, deployment["metadata"]["name"]


def test_notes_list_the_shards():
    notes = render_notes({"shards": SHARDS, "replicaCount": 2})
    assert "Shards: 2 Deployments" in notes
    for shard in SHARDS:
        lease = SHARD_LEASES[shard["selector"]]
        assert (
            f'{FULLNAME}-{shard["name"]}: --shard "{shard["selector"]}" --budget-share 0.5, '
            f"Lease {NAMESPACE}/{lease}"
        ) in notes
        assert f"rollout status deployment/{FULLNAME}-{shard['name']}" in notes


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"shards": [SHARDS[0], {**SHARDS[1], "name": "a"}]}, 'shards[1].name "a" is used twice'),
        ({"shards": [{**SHARDS[0], "name": "Shard_A"}]}, "shards[0].name must be a DNS label"),
        ({"shards": [{"selector": "shard=a"}]}, "shards[0].name must be a DNS label"),
        ({"shards": [{**SHARDS[0], "name": "x" * 40}]}, "longer than 63 characters"),
        ({"shards": [{"name": "a"}]}, "shards[0].selector is required"),
        ({"shards": [SHARDS[0], {**SHARDS[1], "selector": "shard=a"}]}, 'shards[1].selector "shard=a" is used twice'),
        ({"shards": [{**SHARDS[0], "budget": 0.5}]}, "shards[0].budget is not a shard key"),
        ({"shards": ["shard=a"]}, "shards[0] must be a map"),
        ({"shards": [{**SHARDS[0], "budgetShare": 0}]}, "shards[0].budgetShare must be a fraction in (0, 1]"),
        ({"shards": [{**SHARDS[0], "budgetShare": 1.5}]}, "shards[0].budgetShare must be a fraction in (0, 1]"),
        (
            {"shards": [{**SHARDS[0], "budgetShare": 0.7}, {**SHARDS[1], "budgetShare": 0.7}]},
            "the shards' budgetShare values sum to 1.4, more than budgetShare 1",
        ),
        (
            {"shards": [{**SHARDS[0], "budgetShare": 1}, SHARDS[1]]},
            "the shards without budgetShare get nothing",
        ),
        ({"budgetShare": 0}, "budgetShare must be a fraction in (0, 1]"),
        ({"driftBudget": 1.5}, "driftBudget must be a fraction in (0, 1]"),
    ],
    ids=[
        "duplicate-name",
        "bad-name",
        "no-name",
        "long-name",
        "no-selector",
        "duplicate-selector",
        "unknown-key",
        "not-a-map",
        "zero-share",
        "share-above-one",
        "oversubscribed",
        "nothing-left",
        "zero-budget-share",
        "drift-budget-above-one",
    ],
)
def test_invalid_shards_fail_the_render_with_a_reason(values, message):
    """The templates' own checks, which hold with --skip-schema-validation too: values.schema.json
    refuses most of these values first (test_values_schema.py), but not duplicates or sums."""
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values, schema=False)
