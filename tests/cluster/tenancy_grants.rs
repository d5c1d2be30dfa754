//! `--tenancy strict` governs what a set grants, on a real API server (`../shared/kube/up` in
//! CI), with the controller running as the chart's ServiceAccount under the chart's RBAC for
//! `tenancy: strict` with `watchNamespaces`, against moto:
//!
//! - the four hijacks on the namespace's own function (a public principal, another account's
//!   bucket, another account's queue, another team's API) are `NotAllowed`, each naming its
//!   trigger, field and annotation, with `lac_aws_calls_total` at zero and moto unchanged;
//! - an allowed grant (the team's API, its bucket, its queue) converges;
//! - a tightened annotation stops that set without an AWS call, its statements stay in AWS and
//!   the message says so; its deletion with `deletionPolicy: Delete` still removes what it owns.
//!
//! Without `KUBECONFIG` it says that it skipped and why; in CI it fails instead.

use crate::support;

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use lambda_alias_controller::api::LambdaAliasSet;
use lambda_alias_controller::tenancy::{
    ALLOW_PUBLIC_INVOKE, ALLOWED_EVENT_SOURCES, ALLOWED_FUNCTIONS, ALLOWED_PRINCIPALS, ALLOWED_SOURCE_ARNS,
};
use serde_json::{Value, json};
use support::cluster::{
    Controller, ControllerEnv, annotate_namespace, apply_crd, cluster, create_namespace, create_set,
    eventually, install_chart_rbac, wait_reason,
};

const CLUSTER: &str = "grants-cluster";
const ACCOUNT: &str = "123456789012";
const OTHER: &str = "444455556666";

fn set(name: &str, function: &str, policy: &str, triggers: Value) -> Value {
    json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": name},
        "spec": {"functionName": function, "deletionPolicy": policy, "triggers": triggers}
    })
}

async fn calls(controller: &Controller) -> f64 {
    controller.metric_sum("lac_aws_calls_total").await.expect("metrics")
}

/// What moto holds for `function`: its aliases with their versions, each alias's statement ids
/// and each alias's event source mappings (by source), all sorted.
async fn aws_state(function: &str) -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
    let lambda = support::lambda().await;
    let aliases = support::alias_versions(function).await;
    let (mut sids, mut mappings) = (Vec::new(), Vec::new());
    for (alias, _) in &aliases {
        if let Ok(out) = lambda.get_policy().function_name(function).qualifier(alias).send().await {
            let policy: Value = serde_json::from_str(out.policy().unwrap_or("{}")).expect("policy JSON");
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                sids.push(format!("{alias} {}", statement["Sid"].as_str().unwrap_or_default()));
            }
        }
        let arn = format!("arn:aws:lambda:{}:{ACCOUNT}:function:{function}:{alias}", support::REGION);
        let listed = lambda.list_event_source_mappings().function_name(&arn).send().await.expect("mappings");
        for m in listed.event_source_mappings() {
            mappings.push(format!("{alias} {}", m.event_source_arn().unwrap_or_default()));
        }
    }
    sids.sort();
    mappings.sort();
    (aliases, sids, mappings)
}

#[tokio::test]
async fn strict_tenancy_refuses_grant_hijacks_with_zero_calls() {
    let Some(client) = cluster("k8s_tenancy_grants").await else { return };
    apply_crd(&client).await;
    let release_ns = create_namespace(&client, "lac-grants").await;
    let team = create_namespace(&client, "team-a").await;

    let values = json!({"watchNamespaces": [team], "tenancy": "strict", "clusterName": CLUSTER});
    let dir = std::env::temp_dir().join(support::unique_name("lac-grants"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_, kubeconfig) = install_chart_rbac(&client, &release_ns, &values, &dir).await;

    let lambda = support::lambda().await;
    let function = support::unique_name("team-a-fn");
    support::create_function(&lambda, &function, "a").await;
    let queue = support::create_sqs_queue(&support::unique_name("team-a-orders"));
    let region = support::REGION;
    let own_api = format!("arn:aws:execute-api:{region}:{ACCOUNT}:teamaapi/*/POST/trivia");
    let source_arns = format!("arn:aws:execute-api:{region}:{ACCOUNT}:teamaapi/*,arn:aws:s3:::team-a-*");
    annotate_namespace(
        &client,
        &team,
        json!({
            ALLOWED_FUNCTIONS: format!("arn:aws:lambda:{region}:{ACCOUNT}:function:team-a-*"),
            ALLOWED_SOURCE_ARNS: source_arns,
        }),
    )
    .await;

    let controller = Controller::start(
        &["--namespace", &team, "--tenancy", "strict", "--cluster-name", CLUSTER, "--resync", "3"],
        ControllerEnv { kubeconfig: Some(&kubeconfig), aws: support::moto_env(), extra: vec![] },
    );
    let untouched = aws_state(&function).await;

    // The four hijacks, on the namespace's own (allowed) function.
    let hijacks = [
        (
            "public",
            json!([{"name": "anyone", "permission": {"principal": "*"}}]),
            vec!["spec.triggers[anyone].permission.principal", "any AWS account", ALLOW_PUBLIC_INVOKE],
        ),
        (
            "their-bucket",
            json!([{"name": "uploads", "s3": {"bucketArn": "arn:aws:s3:::team-a-uploads", "sourceAccount": OTHER}}]),
            vec!["spec.triggers[uploads].s3.sourceAccount", OTHER, ALLOWED_PRINCIPALS],
        ),
        (
            "their-queue",
            json!([{"name": "orders", "eventSourceMapping": {"eventSourceArn": format!("arn:aws:sqs:{region}:{OTHER}:orders")}}]),
            vec!["spec.triggers[orders].eventSourceMapping.eventSourceArn", OTHER, ALLOWED_EVENT_SOURCES],
        ),
        (
            "their-api",
            json!([{"name": "api", "apiGateway": {"sourceArn": format!("arn:aws:execute-api:{region}:{ACCOUNT}:teambapi/*/GET/quiz")}}]),
            vec!["spec.triggers[api].apiGateway.sourceArn", "teambapi", ALLOWED_SOURCE_ARNS],
        ),
    ];
    for (name, triggers, _) in &hijacks {
        create_set(&client, &team, set(name, &function, "Delete", triggers.clone())).await;
    }
    for (name, _, words) in &hijacks {
        let message = wait_reason(&client, &team, name, "NotAllowed").await;
        for word in words {
            assert!(message.contains(word), "{name}: {word:?} missing from: {message}");
        }
        assert!(message.contains("remains"), "{name}: {message}");
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(calls(&controller).await, 0.0, "refused grants make no AWS call, not even a read");
    assert_eq!(aws_state(&function).await, untouched, "moto is unchanged");
    // Their deletion: the function is allowed, so Delete may run, and finds nothing of theirs.
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &team);
    for (name, _, _) in &hijacks {
        api.delete(name, &DeleteParams::default()).await.expect("delete");
    }
    for (name, _, _) in &hijacks {
        eventually(&format!("{name} is gone"), || async {
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(o) => Err(format!("still there: {:?}", o.finalizers())),
            }
        })
        .await;
    }
    assert_eq!(aws_state(&function).await, untouched, "their deletion created nothing");

    // An allowed grant: the team's API, its bucket in its account, its own queue.
    let triggers = json!([
        {"name": "api", "apiGateway": {"sourceArn": own_api}},
        {"name": "uploads", "s3": {"bucketArn": "arn:aws:s3:::team-a-uploads", "sourceAccount": ACCOUNT}},
        {"name": "orders", "eventSourceMapping": {"eventSourceArn": queue}},
    ]);
    let ours = create_set(&client, &team, set("ours", &function, "Delete", triggers)).await;
    wait_reason(&client, &team, &ours, "Converged").await;
    let granted = aws_state(&function).await;
    assert_eq!(granted.0.len(), 2, "the pair exists: {granted:?}");
    for sid in ["PROD1 las-api", "PROD1 las-uploads", "PROD2 las-api", "PROD2 las-uploads"] {
        assert!(granted.1.contains(&sid.to_string()), "{sid}: {granted:?}");
    }
    assert_eq!(granted.2, vec![format!("PROD1 {queue}")], "one mapping, on the live alias");

    // Tightened: the team's API no longer listed. The set stops, AWS stays as it is.
    annotate_namespace(&client, &team, json!({ALLOWED_SOURCE_ARNS: "arn:aws:s3:::team-a-*"})).await;
    let message = wait_reason(&client, &team, &ours, "NotAllowed").await;
    assert!(
        message.contains("spec.triggers[api].apiGateway.sourceArn") && message.contains("remains"),
        "{message}"
    );
    let stopped = calls(&controller).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(calls(&controller).await, stopped, "a stopped set makes no call (resync is 3 s)");
    assert_eq!(aws_state(&function).await, granted, "the statement and the mapping remain");

    // Its deletion with deletionPolicy Delete removes what it owns: removing a grant only
    // narrows who may invoke.
    api.delete(&ours, &DeleteParams::default()).await.expect("delete");
    eventually("ours is gone", || async {
        match api.get_opt(&ours).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(o) => Err(format!("still there: {:?}", o.finalizers())),
        }
    })
    .await;
    let after = aws_state(&function).await;
    assert!(after.0.is_empty(), "the aliases were deleted: {after:?}");
    assert!(after.2.is_empty(), "the mapping was deleted: {after:?}");
    assert!(calls(&controller).await > stopped, "the deletion made AWS calls");
}
