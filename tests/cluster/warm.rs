//! `spec.provisionedConcurrency` end to end, on a real API server (`../shared/kube/up` in CI)
//! against moto (tests/support/moto_faithful.py serves the four provisioned concurrency
//! operations with AWS's rules, IN_PROGRESS for a few seconds, FAILED on demand):
//!
//! - a round: the live version warm, the frozen candidate at its count, warmed to the live count
//!   when Certified, and the swap only once that is READY (the timeline of both aliases' configs,
//!   from AWS, is printed); the previously live version's config freed after the drain;
//! - a hotfix under provisioned concurrency: the new version warmed first, the live alias moved
//!   once it is READY, the old version's config freed;
//! - a version that fails to initialise never becomes live: `WarmupFailed`, a Warning Event.
//!
//! Without `KUBECONFIG` it says that it skipped and why; in CI it fails instead.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::json;
use support::cluster::{
    Controller, ControllerEnv, apply_crd, cluster, create_namespace, create_set, wait_reason,
};

/// Seconds moto keeps a config IN_PROGRESS (AWS: minutes).
const READY_SECONDS: f64 = 3.0;

/// One sample of AWS: each alias's version and role, and each config (version -> "count STATUS").
#[derive(Clone, Debug, PartialEq)]
struct Sample {
    aliases: BTreeMap<String, (String, String)>,
    configs: BTreeMap<String, String>,
}

async fn sample(lambda: &aws_sdk_lambda::Client, function: &str) -> Sample {
    let listed = lambda.list_aliases().function_name(function).send().await.expect("ListAliases");
    let aliases = listed
        .aliases()
        .iter()
        .map(|a| {
            let description = a.description().unwrap_or_default();
            let role = description
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("role=").or_else(|| w.strip_prefix("epoch=")))
                .collect::<Vec<_>>()
                .join("/");
            (
                a.name().unwrap_or_default().to_string(),
                (a.function_version().unwrap_or_default().to_string(), role),
            )
        })
        .collect();
    let configs = lambda
        .list_provisioned_concurrency_configs()
        .function_name(function)
        .send()
        .await
        .expect("ListProvisionedConcurrencyConfigs")
        .provisioned_concurrency_configs()
        .iter()
        .map(|c| {
            let qualifier =
                c.function_arn().unwrap_or_default().rsplit(':').next().unwrap_or_default().to_string();
            let status = c.status().map(|s| s.as_str().to_string()).unwrap_or_default();
            (qualifier, format!("{} {status}", c.requested_provisioned_concurrent_executions().unwrap_or(0)))
        })
        .collect();
    Sample { aliases, configs }
}

/// Samples AWS every 250 ms until `done`; returns the distinct samples with the seconds since
/// the start at which each was first seen.
async fn follow(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    limit: Duration,
    done: impl Fn(&Sample) -> bool,
) -> Vec<(f64, Sample)> {
    let start = Instant::now();
    let mut seen: Vec<(f64, Sample)> = Vec::new();
    loop {
        let now = sample(lambda, function).await;
        if seen.last().is_none_or(|(_, s)| *s != now) {
            seen.push((start.elapsed().as_secs_f64(), now.clone()));
        }
        if done(&now) {
            return seen;
        }
        assert!(start.elapsed() < limit, "AWS did not get there: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print(what: &str, timeline: &[(f64, Sample)]) {
    eprintln!("{what} (seconds; each alias's version and role/epoch; provisioned concurrency by version):");
    for (t, s) in timeline {
        let aliases: Vec<String> = s.aliases.iter().map(|(n, (v, r))| format!("{n}={v} ({r})")).collect();
        let configs: Vec<String> = s.configs.iter().map(|(v, c)| format!("v{v}: {c}")).collect();
        eprintln!("  {t:6.2}s  {}  |  {}", aliases.join(", "), configs.join(", "));
    }
}

fn live_alias(s: &Sample) -> Option<(String, String)> {
    s.aliases
        .iter()
        .filter(|(_, (_, r))| r.starts_with("live/"))
        .max_by_key(|(_, (_, r))| r.trim_start_matches("live/").parse::<u64>().unwrap_or(0))
        .map(|(n, (v, _))| (n.clone(), v.clone()))
}

async fn patch(api: &Api<LambdaAliasSet>, spec: serde_json::Value) {
    api.patch("trivia", &PatchParams::default(), &Patch::Merge(&json!({ "spec": spec })))
        .await
        .expect("patch spec");
}

#[tokio::test]
async fn provisioned_concurrency_follows_the_roles_and_never_leaves_the_live_skill_cold() {
    let Some(client) = cluster("k8s_warm").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-warm").await;
    let lambda = support::lambda().await;
    let function = support::unique_name("warm");
    support::create_function(&lambda, &function, "v1").await;
    support::moto_warm_control(&json!({"FunctionName": function, "ReadySeconds": READY_SECONDS}));

    let mut controller = Controller::start(
        &["--namespace", &ns, "--resync", "3600"],
        ControllerEnv { kubeconfig: None, aws: support::moto_env(), extra: vec![] },
    );
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let set = json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1", "kind": "LambdaAliasSet",
        "metadata": {"name": "trivia", "namespace": ns},
        "spec": {
            "functionName": function,
            "drainSeconds": 3,
            "provisionedConcurrency": {"live": 2, "candidate": 1},
        }
    });
    create_set(&client, &ns, set).await;
    wait_reason(&client, &ns, "trivia", "Converged").await;
    let s = sample(&lambda, &function).await;
    assert_eq!(s.configs, BTreeMap::from([("1".to_string(), "2 READY".to_string())]), "{s:?}");
    let status = api.get("trivia").await.expect("get").status.expect("status");
    let pc = status.live.and_then(|l| l.provisioned_concurrency).expect("status.live.provisionedConcurrency");
    assert_eq!((pc.version.as_str(), pc.requested, pc.allocated, pc.status.as_str()), ("1", 2, 2, "READY"));

    // A round: the candidate frozen on 2 with 1; Certified warms it to 2 and swaps once READY.
    let v2 = support::deploy_and_publish(&lambda, &function, "v2").await;
    patch(&api, json!({"certification": {"phase": "Certifying"}})).await;
    follow(&lambda, &function, Duration::from_secs(60), |s| {
        s.configs.get(&v2).map(String::as_str) == Some("1 READY")
    })
    .await;
    wait_reason(&client, &ns, "trivia", "Converged").await;
    patch(&api, json!({"certification": {"phase": "Certified"}})).await;
    let round = follow(&lambda, &function, Duration::from_secs(90), |s| {
        s.aliases.get("PROD1").is_some_and(|(v, _)| v == "$LATEST") && !s.configs.contains_key("1")
    })
    .await;
    print("a round under provisioned concurrency", &round);
    let swapped =
        round.iter().position(|(_, s)| live_alias(s).is_some_and(|(n, _)| n == "PROD2")).expect("swapped");
    let warm_at = round
        .iter()
        .position(|(_, s)| s.configs.get(&v2).map(String::as_str) == Some("2 READY"))
        .expect("version 2 was READY at the live count");
    assert!(warm_at <= swapped, "the swap came only after version {v2} was READY at 2: {round:#?}");
    assert!(
        round[..swapped]
            .iter()
            .any(|(_, s)| s.configs.get(&v2).is_some_and(|c| c.starts_with("2 IN_PROGRESS"))),
        "the candidate was warmed before the swap, not after: {round:#?}"
    );
    for (_, s) in &round[swapped..] {
        if let Some((_, version)) = live_alias(s) {
            assert_eq!(
                s.configs.get(&version).map(String::as_str),
                Some("2 READY"),
                "live stayed warm: {s:?}"
            );
        }
    }
    wait_reason(&client, &ns, "trivia", "Converged").await;

    // A hotfix: version 3 warmed first, PROD2 moved once it is READY, version 2's config freed.
    let v3 = support::deploy_and_publish(&lambda, &function, "v3").await;
    patch(&api, json!({"certification": {"phase": "Development"}, "live": {"version": v3}})).await;
    let hotfix = follow(&lambda, &function, Duration::from_secs(60), |s| {
        live_alias(s).is_some_and(|(_, v)| v == v3) && !s.configs.contains_key(&v2)
    })
    .await;
    print("a hotfix under provisioned concurrency", &hotfix);
    for (_, s) in &hotfix {
        let (_, version) = live_alias(s).expect("a live alias");
        assert_eq!(s.configs.get(&version).map(String::as_str), Some("2 READY"), "live stayed warm: {s:?}");
    }
    wait_reason(&client, &ns, "trivia", "Converged").await;

    // A version that fails to initialise never becomes live.
    let v4 = support::deploy_and_publish(&lambda, &function, "v4").await;
    support::moto_warm_control(&json!({"FunctionName": function, "Qualifier": v4, "Fail": true}));
    patch(&api, json!({"live": {"version": v4}})).await;
    let message = wait_reason(&client, &ns, "trivia", "WarmupFailed").await;
    assert!(
        message.contains("FUNCTION_ERROR_INIT_FAILURE") && message.contains(&format!("version {v4}")),
        "{message}"
    );
    assert_eq!(
        live_alias(&sample(&lambda, &function).await).map(|(_, v)| v),
        Some(v3.clone()),
        "live untouched"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let warned = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .any(|e| e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some("WarmupFailed"));
    assert!(warned, "a Warning Event says so");

    // Back on version 3; a candidate whose version fails to initialise is never swapped in.
    patch(&api, json!({"live": {"version": v3}})).await;
    wait_reason(&client, &ns, "trivia", "Converged").await;
    let table = support::cluster::table(&client, &ns, "trivia").await;
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let warm = names.iter().position(|n| *n == "Warm").expect("a Warm column");
    assert_eq!(table["rows"][0]["cells"][warm], "READY", "kubectl get las shows the live version's config");
    let next = lambda
        .list_versions_by_function()
        .function_name(&function)
        .send()
        .await
        .expect("ListVersions")
        .versions()
        .iter()
        .filter_map(|v| v.version().and_then(|v| v.parse::<u64>().ok()))
        .max()
        .unwrap_or(0)
        + 1;
    support::moto_warm_control(
        &json!({"FunctionName": function, "Qualifier": next.to_string(), "Fail": true}),
    );
    lambda
        .update_function_code()
        .function_name(&function)
        .zip_file(aws_sdk_lambda::primitives::Blob::new(support::demo_zip("v5")))
        .send()
        .await
        .expect("UpdateFunctionCode");
    patch(&api, json!({"live": null, "certification": {"phase": "Certifying"}})).await;
    follow(&lambda, &function, Duration::from_secs(60), |s| {
        s.configs.get(&next.to_string()).is_some_and(|c| c.ends_with("FAILED"))
    })
    .await;
    patch(&api, json!({"certification": {"phase": "Certified"}})).await;
    let message = wait_reason(&client, &ns, "trivia", "WarmupFailed").await;
    assert!(message.contains(&format!("version {next}")) && message.contains("do not swap"), "{message}");
    let s = sample(&lambda, &function).await;
    assert_eq!(live_alias(&s), Some(("PROD2".to_string(), v3.clone())), "no swap: {s:?}");
    controller.terminate(Duration::from_secs(10));
}
