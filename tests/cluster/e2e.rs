//! End to end on a real Kubernetes API server (`../shared/kube/up` in CI, or any cluster that
//! `KUBECONFIG` names), with the controller running as its **own ServiceAccount** under exactly
//! the RBAC we ship — never as cluster-admin:
//!
//! - the plain manifests (`deploy/`: Namespace, ServiceAccount, ClusterRole and binding);
//! - the Helm chart in per-namespace mode (`watchNamespaces`: a Role per namespace) with leader
//!   election on (the Lease Role).
//!
//! Each drives a full certification round by patching the phase and checks status, conditions,
//! printer columns (Table API), Events (one per AWS change, each with its own note),
//! the finalizer with both deletion policies, adoption without re-pointing, and that the API
//! server refuses invalid objects and the Development -> Certified transition. Without
//! `KUBECONFIG` it says that it skipped and why; in CI it fails instead.

use crate::support;

use std::path::Path;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::{Value, json};
use support::cluster::alexa_set;
use support::cluster::{
    Controller, ControllerEnv, apply_crd, cluster, create_namespace, eventually, install_chart_rbac,
    kubectl_apply, service_account_kubeconfig,
};

async fn status_of(api: &Api<LambdaAliasSet>, name: &str) -> Result<Value, String> {
    let obj = api.get(name).await.map_err(|e| e.to_string())?;
    serde_json::to_value(obj.status).map_err(|e| e.to_string())
}

fn ready(status: &Value) -> (String, String) {
    let c = status["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    (
        c.and_then(|c| c["status"].as_str()).unwrap_or_default().to_string(),
        c.and_then(|c| c["reason"].as_str()).unwrap_or_default().to_string(),
    )
}

async fn wait_status(
    api: &Api<LambdaAliasSet>,
    name: &str,
    live: &str,
    candidate: &str,
    reason: &str,
) -> Value {
    eventually(&format!("{name}: live {live}, candidate {candidate}, {reason}"), || async {
        let s = status_of(api, name).await?;
        let got = (s["live"]["summary"].as_str(), s["candidate"]["summary"].as_str(), ready(&s).1);
        if got == (Some(live), Some(candidate), reason.to_string()) { Ok(s) } else { Err(format!("{got:?}")) }
    })
    .await
}

async fn set_phase(api: &Api<LambdaAliasSet>, name: &str, phase: &str) {
    let patch = json!({"spec": {"certification": {"phase": phase}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch phase");
}

/// A full certification round, driven as a user would (the admin `client`), against a
/// controller already watching `ns`.
async fn certification_round(client: &Client, ns: &str) {
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), ns);

    // The API server refuses invalid objects at admission, naming the field.
    let mut bad = alexa_set("bad", "f", "Development", 3, "Retain");
    bad["spec"]["aliases"] = json!(["PROD1", "PROD1"]);
    let err = api
        .create(&PostParams::default(), &serde_json::from_value(bad).expect("obj"))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("spec.aliases"), "{err}");

    let lambda = support::lambda().await;
    let function = support::unique_name("e2e-skill");
    support::create_function(&lambda, &function, "v1").await;

    let name = "trivia";
    let las: LambdaAliasSet =
        serde_json::from_value(alexa_set(name, &function, "Development", 3, "Retain")).expect("obj");
    api.create(&PostParams::default(), &las).await.expect("create set");
    let s = wait_status(&api, name, "PROD1:1", "PROD2:$LATEST", "Converged").await;
    assert_eq!(s["phase"], "Development");
    let finalizers = api.get(name).await.expect("get").finalizers().to_vec();
    assert_eq!(finalizers, ["lambda.aliasset.dev/cleanup"], "the finalizer is on the set");

    // Development -> Certified straight is refused by a transition rule.
    let skip = json!({"spec": {"certification": {"phase": "Certified"}}});
    let err = api.patch(name, &PatchParams::default(), &Patch::Merge(&skip)).await.expect_err("refused");
    assert!(err.to_string().contains("certification.phase"), "{err}");

    // Certifying freezes the candidate on a published version of the new code.
    lambda
        .update_function_code()
        .function_name(&function)
        .zip_file(aws_sdk_lambda::primitives::Blob::new(support::demo_zip("v2")))
        .send()
        .await
        .expect("deploy v2");
    set_phase(&api, name, "Certifying").await;
    wait_status(&api, name, "PROD1:1", "PROD2:2", "Converged").await;

    // Certified swaps the roles; the old live alias drains, then tracks $LATEST.
    set_phase(&api, name, "Certified").await;
    let s = eventually("the swap", || async {
        let s = status_of(&api, name).await?;
        if s["live"]["summary"] == "PROD2:2" { Ok(s) } else { Err(s["live"].to_string()) }
    })
    .await;
    assert_eq!(s["lastRotation"]["liveAlias"], "PROD2");
    wait_status(&api, name, "PROD2:2", "PROD1:$LATEST", "Converged").await;

    // Printer columns, as kubectl shows them.
    let table = support::cluster::table(client, ns, name).await;
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns[..5], ["Name", "Function", "Phase", "Live", "Candidate"]);
    let cells = table["rows"][0]["cells"].to_string();
    assert!(
        cells.contains("PROD2:2") && cells.contains("PROD1:$LATEST") && cells.contains("Certified"),
        "{cells}"
    );

    // Events name what changed, one Event per AWS change: the two aliases created in one
    // reconcile are two Events, each naming its own alias (not a series that shows only the
    // first one's note).
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let listed = events.list(&ListParams::default()).await.expect("events").items;
    let reasons: Vec<&str> = listed.iter().filter_map(|e| e.reason.as_deref()).collect();
    for expected in ["VersionPublished", "AliasCreated", "CandidateFrozen", "RolesSwapped"] {
        assert!(reasons.contains(&expected), "{expected} in {reasons:?}");
    }
    let created: Vec<&str> = listed
        .iter()
        .filter(|e| e.reason.as_deref() == Some("AliasCreated"))
        .filter_map(|e| e.note.as_deref())
        .collect();
    for alias in ["PROD1", "PROD2"] {
        assert!(
            created.iter().any(|note| note.contains(alias)),
            "an AliasCreated Event names {alias}: {created:?}"
        );
    }
    assert!(listed.iter().all(|e| e.series.is_none()), "no Event folded into a series");

    // Delete with Retain: AWS stays as it is, ownership is released.
    let before = support::alias_versions(&function).await;
    api.delete(name, &DeleteParams::default()).await.expect("delete");
    eventually("the set is gone", || async {
        match api.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
    assert_eq!(support::alias_versions(&function).await, before, "Retain leaves every alias where it was");

    // Re-created, it finds the live alias from AWS and re-points nothing.
    let las: LambdaAliasSet =
        serde_json::from_value(alexa_set(name, &function, "Development", 3, "Delete")).expect("obj");
    api.create(&PostParams::default(), &las).await.expect("re-create");
    wait_status(&api, name, "PROD2:2", "PROD1:$LATEST", "Converged").await;
    assert_eq!(support::alias_versions(&function).await, before, "adoption re-points nothing");

    // Delete with Delete: the aliases go, the function stays.
    api.delete(name, &DeleteParams::default()).await.expect("delete");
    eventually("the aliases are deleted and the set is gone", || async {
        let gone = api.get_opt(name).await.map_err(|e| e.to_string())?.is_none();
        if gone && support::alias_versions(&function).await.is_empty() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    lambda.get_function().function_name(&function).send().await.expect("the function stays");
}

fn tmp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(support::unique_name("lac-e2e"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn certification_round_as_the_plain_manifests_service_account() {
    let Some(client) = cluster("k8s_e2e").await else { return };
    apply_crd(&client).await;
    // deploy/'s Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding, as shipped.
    for file in ["namespace.yaml", "serviceaccount.yaml", "rbac.yaml"] {
        kubectl_apply(&format!("deploy/{file}"));
    }
    let dir = tmp_dir();
    let kubeconfig =
        service_account_kubeconfig(&client, "lambda-alias-controller", "lambda-alias-controller", &dir).await;
    let ns = create_namespace(&client, "lac-e2e").await;
    let _controller = Controller::start(
        &["--namespace", &ns, "--resync", "5"],
        ControllerEnv { kubeconfig: Some(&kubeconfig), aws: support::moto_env(), extra: vec![] },
    );
    certification_round(&client, &ns).await;
}

#[tokio::test]
async fn certification_round_as_the_charts_per_namespace_service_account_with_leader_election() {
    let Some(client) = cluster("k8s_e2e").await else { return };
    apply_crd(&client).await;
    let release_ns = create_namespace(&client, "lac-chart").await;
    let watched = create_namespace(&client, "lac-chart-sets").await;
    let values = json!({"watchNamespaces": [watched], "leaderElection": {"enabled": true}});
    let dir = tmp_dir();
    let (rbac, kubeconfig) = install_chart_rbac(&client, &release_ns, &values, &dir).await;
    let kinds: Vec<&str> = rbac.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert!(!kinds.contains(&"ClusterRole"), "per-namespace mode grants nothing cluster-wide: {kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "Role").count(),
        2,
        "the watch Role and the Lease Role: {kinds:?}"
    );
    let pod = "lac-0";
    let _controller = Controller::start(
        &["--namespace", &watched, "--resync", "5", "--leader-elect"],
        ControllerEnv {
            kubeconfig: Some(Path::new(&kubeconfig)),
            aws: support::moto_env(),
            extra: vec![("POD_NAMESPACE".into(), release_ns.clone()), ("POD_NAME".into(), pod.into())],
        },
    );
    certification_round(&client, &watched).await;
    let lease = Api::<Lease>::namespaced(client.clone(), &release_ns)
        .get("lambda-alias-controller")
        .await
        .expect("the Lease exists in the release namespace");
    assert_eq!(lease.spec.and_then(|s| s.holder_identity).as_deref(), Some(pod), "this replica holds it");
}
