//! `--tenancy strict` on a real API server (`../shared/kube/up` in CI), with the controller
//! running as the chart's ServiceAccount under the chart's RBAC for `tenancy: strict` with
//! `watchNamespaces` (Namespaces listed and watched by name only), against moto:
//!
//! - a set in `team-b` on team A's function, or with team A's role, or with a glob that names
//!   another account or region, or with `spec.externalId`: `NotAllowed`, and zero AWS calls;
//! - allowed by annotation: it converges, and the role is assumed with the ExternalId
//!   `<cluster-name>/<namespace>` (moto's request recorder shows the AssumeRole sent);
//! - the annotation removed: the set stops (`NotAllowed`), AWS is unchanged, no further call;
//!   its deletion (with `deletionPolicy: Delete`) only releases the finalizer.
//!
//! Without `KUBECONFIG` it says that it skipped and why; in CI it fails instead.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use lambda_alias_controller::api::LambdaAliasSet;
use lambda_alias_controller::tenancy::{ALLOWED_FUNCTIONS, ALLOWED_ROLE_ARNS};
use serde_json::json;
use support::cluster::alexa_set;
use support::cluster::{
    Controller, ControllerEnv, annotate_namespace, apply_crd, cluster, create_namespace, create_set,
    eventually, install_chart_rbac, wait_reason,
};

const CLUSTER: &str = "test-cluster";
const ACCOUNT: &str = "123456789012";

/// Lambda calls the controller made (every operation and outcome).
async fn calls(controller: &Controller) -> f64 {
    controller.metric_sum("lac_aws_calls_total").await.expect("metrics")
}

/// AssumeRole requests moto received, with their ExternalId.
fn assumed(role: &str) -> Vec<Option<String>> {
    let encoded_role = role.replace(':', "%3A").replace('/', "%2F");
    support::moto_recorded_bodies()
        .into_iter()
        .filter(|body| body.contains("Action=AssumeRole") && body.contains(&encoded_role))
        .map(|body| {
            body.split('&')
                .find_map(|kv| kv.strip_prefix("ExternalId="))
                .map(|v| v.replace("%2F", "/").replace("%2f", "/"))
        })
        .collect()
}

#[tokio::test]
async fn strict_tenancy_refuses_with_zero_calls_and_allows_by_annotation() {
    let Some(client) = cluster("k8s_tenancy").await else { return };
    apply_crd(&client).await;
    support::moto_start_recording();
    let release_ns = create_namespace(&client, "lac-tenancy").await;
    let team_a = create_namespace(&client, "team-a").await;
    let team_b = create_namespace(&client, "team-b").await;

    // The chart's RBAC for strict tenancy over the two namespaces, as its ServiceAccount.
    let values = json!({"watchNamespaces": [team_a, team_b], "tenancy": "strict", "clusterName": CLUSTER});
    let dir = std::env::temp_dir().join(support::unique_name("lac-tenancy"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_, kubeconfig) = install_chart_rbac(&client, &release_ns, &values, &dir).await;

    let lambda = support::lambda().await;
    let fa = support::unique_name("team-a-trivia");
    let fb = support::unique_name("team-b-quiz");
    support::create_function(&lambda, &fa, "a").await;
    support::create_function(&lambda, &fb, "b").await;
    let role_a = support::role_arn();
    let region = support::REGION;
    annotate_namespace(
        &client,
        &team_a,
        json!({
            ALLOWED_FUNCTIONS: format!("arn:aws:lambda:{region}:{ACCOUNT}:function:team-a-*"),
            ALLOWED_ROLE_ARNS: role_a,
        }),
    )
    .await;
    annotate_namespace(
        &client,
        &team_b,
        json!({ALLOWED_FUNCTIONS: format!("arn:aws:lambda:{region}:{ACCOUNT}:function:team-b-*")}),
    )
    .await;

    let controller = Controller::start(
        &[
            "--namespace",
            &team_a,
            "--namespace",
            &team_b,
            "--tenancy",
            "strict",
            "--cluster-name",
            CLUSTER,
            "--resync",
            "3",
        ],
        ControllerEnv { kubeconfig: Some(&kubeconfig), aws: support::moto_env(), extra: vec![] },
    );

    // team-b on team A's function.
    let theirs = create_set(&client, &team_b, alexa_set("theirs", &fa, "Development", 0, "Retain")).await;
    let message = wait_reason(&client, &team_b, &theirs, "NotAllowed").await;
    assert!(message.contains(&format!("function:{fa}")) && message.contains(ALLOWED_FUNCTIONS), "{message}");
    // team-b with team A's role (on its own function).
    let mut with_role = alexa_set("with-role", &fb, "Development", 0, "Retain");
    with_role["spec"]["roleArn"] = json!(role_a);
    let with_role = create_set(&client, &team_b, with_role).await;
    let message = wait_reason(&client, &team_b, &with_role, "NotAllowed").await;
    assert!(message.contains(ALLOWED_ROLE_ARNS) && message.contains("own credentials"), "{message}");
    // Globs never reach across an account or a region.
    for (name, function) in [
        ("other-account", format!("arn:aws:lambda:{region}:444455556666:function:{fb}")),
        ("other-region", format!("arn:aws:lambda:eu-west-3:{ACCOUNT}:function:{fb}")),
    ] {
        create_set(&client, &team_b, alexa_set(name, &function, "Development", 0, "Retain")).await;
        let message = wait_reason(&client, &team_b, name, "NotAllowed").await;
        assert!(message.contains(&function), "{message}");
    }
    // spec.externalId, in strict mode, even where the role would be allowed.
    let mut chosen = alexa_set("chosen-id", &fa, "Development", 0, "Retain");
    chosen["spec"]["roleArn"] = json!(role_a);
    chosen["spec"]["externalId"] = json!("picked-by-the-tenant");
    create_set(&client, &team_a, chosen).await;
    let message = wait_reason(&client, &team_a, "chosen-id", "NotAllowed").await;
    assert!(
        message.contains("spec.externalId") && message.contains(&format!("{CLUSTER}/{team_a}")),
        "{message}"
    );
    // Not one AWS call so far, not even a read; no role assumed.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(calls(&controller).await, 0.0, "refused sets make no AWS call");
    assert!(assumed(&role_a).is_empty(), "no role was assumed: {:?}", assumed(&role_a));

    // Allowed by annotation: it converges, assuming team A's role with the derived ExternalId.
    let mut ours = alexa_set("ours", &fa, "Development", 0, "Delete");
    ours["spec"]["roleArn"] = json!(role_a);
    let ours = create_set(&client, &team_a, ours).await;
    wait_reason(&client, &team_a, &ours, "Converged").await;
    assert!(calls(&controller).await > 0.0);
    let external_ids = assumed(&role_a);
    assert!(!external_ids.is_empty(), "the role was assumed");
    assert!(
        external_ids.iter().all(|id| id.as_deref() == Some(&*format!("{CLUSTER}/{team_a}"))),
        "every AssumeRole carried ExternalId {CLUSTER}/{team_a}: {external_ids:?}"
    );
    let aws_before = support::alias_versions(&fa).await;
    assert_eq!(aws_before.len(), 2, "{aws_before:?}");

    // The annotation removed: the set stops; AWS stays as it is, and no call is made.
    let patch = json!({"metadata": {"annotations": {ALLOWED_FUNCTIONS: null}}});
    Api::<Namespace>::all(client.clone())
        .patch(&team_a, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("remove the annotation");
    let message = wait_reason(&client, &team_a, &ours, "NotAllowed").await;
    assert!(message.contains(&format!("namespace {team_a} allows no function")), "{message}");
    let stopped = calls(&controller).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(calls(&controller).await, stopped, "a stopped set makes no call (resync is 3 s)");
    assert_eq!(support::alias_versions(&fa).await, aws_before, "nothing in AWS moved");

    // Its deletion (deletionPolicy: Delete) only releases the finalizer.
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &team_a);
    api.delete(&ours, &DeleteParams::default()).await.expect("delete");
    eventually("the set is gone", || async {
        match api.get_opt(&ours).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(o) => Err(format!("still there: {:?}", o.finalizers())),
        }
    })
    .await;
    assert_eq!(calls(&controller).await, stopped, "deletion made no AWS call");
    assert_eq!(support::alias_versions(&fa).await, aws_before, "deletion left AWS as it was");

    // And team-b's sets never touched team A's function.
    let labels: BTreeMap<String, String> = support::alias_versions(&fb).await.into_iter().collect();
    assert!(labels.is_empty(), "team-b's refused sets created nothing: {labels:?}");
}
