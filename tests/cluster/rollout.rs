//! `spec.rollout` end to end, on a real API server (`../shared/kube/up` in CI) against moto:
//!
//! - a hotfix shifts the live alias in a step held its interval, then serves the new version
//!   alone (the weights over time are read from AWS and printed);
//! - a restart of the controller mid-rollout continues the same step (never back to 0 %, never
//!   a step skipped);
//! - an alarm flipping to ALARM mid-step puts the alias back on the old version alone (the
//!   seconds from the flip are printed), `RolledBack` names the alarm, and the rejected version
//!   is not tried again;
//! - `maxErrorRate` rolls back on the new version's error rate, from metric data the test puts.
//!
//! Without `KUBECONFIG` it says that it skipped and why; in CI it fails instead.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::json;
use support::cluster::{
    Controller, ControllerEnv, apply_crd, cluster, create_namespace, create_set, wait_reason,
};

const INTERVAL: u64 = 4;

/// The live alias as AWS has it: its version and its weights.
async fn routing(lambda: &aws_sdk_lambda::Client, function: &str) -> (String, BTreeMap<String, f64>) {
    let alias = lambda.get_alias().function_name(function).name("PROD1").send().await.expect("GetAlias");
    let weights = alias
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    (alias.function_version().unwrap_or_default().to_string(), weights)
}

/// Samples the live alias every 250 ms until `done` holds; returns the distinct states seen,
/// with the seconds since the start at which each was first seen.
async fn follow(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    limit: Duration,
    done: impl Fn(&(String, BTreeMap<String, f64>)) -> bool,
) -> Vec<(f64, String, BTreeMap<String, f64>)> {
    let start = Instant::now();
    let mut seen: Vec<(f64, String, BTreeMap<String, f64>)> = Vec::new();
    loop {
        let state = routing(lambda, function).await;
        if seen.last().is_none_or(|(_, v, w)| (v, w) != (&state.0, &state.1)) {
            seen.push((start.elapsed().as_secs_f64(), state.0.clone(), state.1.clone()));
        }
        if done(&state) {
            return seen;
        }
        assert!(start.elapsed() < limit, "the live alias did not get there: {seen:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print(what: &str, timeline: &[(f64, String, BTreeMap<String, f64>)]) {
    eprintln!("{what} (seconds, PROD1's version, weights from AWS):");
    for (t, v, w) in timeline {
        eprintln!("  {t:6.2}s  {v}  {w:?}");
    }
}

async fn set_live(api: &Api<LambdaAliasSet>, version: &str) {
    let patch = json!({"spec": {"live": {"version": version}}});
    api.patch("trivia", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch spec.live");
}

fn start(ns: &str) -> Controller {
    Controller::start(
        &["--namespace", ns, "--resync", "3600"],
        ControllerEnv { kubeconfig: None, aws: support::moto_env(), extra: vec![] },
    )
}

#[tokio::test]
async fn a_hotfix_rolls_out_in_steps_and_an_alarm_or_the_error_rate_rolls_it_back() {
    let Some(client) = cluster("k8s_rollout").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-rollout").await;
    let lambda = support::lambda().await;
    let function = support::unique_name("rollout");
    let versions = support::function_with_versions(&lambda, &function, &["v1", "v2", "v3"]).await;
    assert_eq!(versions, ["1", "2", "3"]);
    let alarm = format!("{function}-errors");
    support::put_alarm(&alarm, &function, "OK");

    let mut controller = start(&ns);
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let set = json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1", "kind": "LambdaAliasSet",
        "metadata": {"name": "trivia", "namespace": ns},
        "spec": {
            "functionName": function,
            "live": {"version": "1"},
            "rollout": {"steps": [50], "intervalSeconds": INTERVAL, "alarms": [alarm], "maxErrorRate": 0.2}
        }
    });
    create_set(&client, &ns, set).await;
    wait_reason(&client, &ns, "trivia", "Converged").await;
    assert_eq!(
        routing(&lambda, &function).await,
        ("1".to_string(), BTreeMap::new()),
        "bootstrap is one write"
    );

    // A canary to 100 %: 50 % on 2 for the interval, then 2 alone.
    set_live(&api, "2").await;
    let canary = follow(&lambda, &function, Duration::from_secs(60), |(v, w)| v == "2" && w.is_empty()).await;
    print("canary 1 -> 2", &canary);
    let states: Vec<(&str, Option<f64>)> =
        canary.iter().map(|(_, v, w)| (v.as_str(), w.get("2").copied())).collect();
    assert_eq!(states.first(), Some(&("1", None)));
    assert!(states.contains(&("1", Some(0.5))), "the step: {canary:?}");
    assert_eq!(states.last(), Some(&("2", None)));
    assert_eq!(states.len(), 3, "no other state in between: {canary:?}");
    let held = canary[2].0 - canary[1].0;
    assert!(held >= INTERVAL as f64 - 0.5, "the step was held its interval: {held:.2}s");
    wait_reason(&client, &ns, "trivia", "Converged").await;

    // A second hotfix, and the controller restarted while its step is held.
    set_live(&api, "3").await;
    follow(&lambda, &function, Duration::from_secs(30), |(_, w)| w.get("3") == Some(&0.5)).await;
    let message = wait_reason(&client, &ns, "trivia", "RollingOut").await;
    assert!(message.contains("50% of the traffic on version 3"), "{message}");
    let status = api.get("trivia").await.expect("get").status.expect("status");
    assert_eq!(status.live.as_ref().map(|l| l.summary.as_str()), Some("PROD1:2→3 (50%)"));
    controller.terminate(Duration::from_secs(10));
    let mut controller = start(&ns);
    // The alarm flips while the restarted controller holds the step.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(routing(&lambda, &function).await.1.get("3"), Some(&0.5), "the restart kept the step");
    support::set_alarm_state(&alarm, "ALARM");
    let flipped = Instant::now();
    let back = follow(&lambda, &function, Duration::from_secs(60), |(v, w)| v == "2" && w.is_empty()).await;
    let seconds = flipped.elapsed().as_secs_f64();
    print("rollback of 3 after the alarm's flip", &back);
    eprintln!("rollback: {seconds:.2}s from the alarm's flip to PROD1 on version 2 alone");
    assert!(
        back.iter().all(|(_, v, w)| v == "2" && w.keys().all(|k| k == "3")),
        "never more than 2 and 3: {back:?}"
    );
    let message = wait_reason(&client, &ns, "trivia", "RolledBack").await;
    assert!(message.contains("version 3") && message.contains(&alarm), "{message}");

    // The alarm clears; the spec still asks for 3, which is not tried again.
    support::set_alarm_state(&alarm, "OK");
    tokio::time::sleep(Duration::from_secs(INTERVAL + 2)).await;
    assert_eq!(routing(&lambda, &function).await, ("2".to_string(), BTreeMap::new()));

    // The error-rate guard: version 1 gets 25 % errors through PROD1 while it is weighted.
    set_live(&api, "1").await;
    follow(&lambda, &function, Duration::from_secs(30), |(_, w)| w.get("1") == Some(&0.5)).await;
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    support::put_invocations(&function, "PROD1", "1", now, 40.0, 10.0);
    follow(&lambda, &function, Duration::from_secs(60), |(v, w)| v == "2" && w.is_empty()).await;
    let message = wait_reason(&client, &ns, "trivia", "RolledBack").await;
    assert!(message.contains("10 errors in 40 invocations"), "{message}");
    controller.terminate(Duration::from_secs(10));
}

/// Budget tokens taken so far, by pool (`lac_aws_budget_tokens_total`, summed over accounts,
/// regions and lanes), and the looks at held steps by result (`lac_rollout_looks_total`).
async fn spent(controller: &Controller) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (_, body) = controller.http_get("/metrics").await.expect("GET /metrics");
    let mut pools = BTreeMap::new();
    let mut looks = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let value: f64 = value.parse().unwrap_or(0.0);
        let label = |key: &str| {
            series
                .split_once(&format!("{key}=\""))
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(v, _)| v.to_string())
        };
        if series.starts_with("lac_aws_budget_tokens_total{") {
            *pools.entry(label("pool").expect("a pool label")).or_insert(0.0) += value;
        } else if series.starts_with("lac_rollout_looks_total{") {
            *looks.entry(label("result").expect("a result label")).or_insert(0.0) += value;
        }
    }
    (pools, looks)
}

fn minus(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).unwrap_or(&0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// What one step of a rollout costs, by pool, for the Alexa example's shape (a permission on
/// each alias): from the step's write to the new version alone, with a step of 30 s looked at
/// every 10 s. The looks in between read the cheap reads and the alarm, not a full observe.
#[tokio::test]
async fn a_held_step_is_watched_with_the_cheap_reads() {
    let Some(client) = cluster("k8s_rollout").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-rollout-cost").await;
    let lambda = support::lambda().await;
    let function = support::unique_name("rollout-cost");
    let versions = support::function_with_versions(&lambda, &function, &["v1", "v2"]).await;
    assert_eq!(versions, ["1", "2"]);
    let alarm = format!("{function}-errors");
    support::put_alarm(&alarm, &function, "OK");

    let mut controller = start(&ns);
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let set = json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1", "kind": "LambdaAliasSet",
        "metadata": {"name": "trivia", "namespace": ns},
        "spec": {
            "functionName": function,
            "live": {"version": "1"},
            "drainSeconds": 0,
            "triggers": [{"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.0000", "kind": "Custom"}}],
            "rollout": {"steps": [50], "intervalSeconds": 30, "alarms": [alarm]}
        }
    });
    create_set(&client, &ns, set).await;
    wait_reason(&client, &ns, "trivia", "Converged").await;

    set_live(&api, "2").await;
    follow(&lambda, &function, Duration::from_secs(30), |(_, w)| w.get("2") == Some(&0.5)).await;
    let (pools_at_step, looks_at_step) = spent(&controller).await;
    follow(&lambda, &function, Duration::from_secs(90), |(v, w)| v == "2" && w.is_empty()).await;
    wait_reason(&client, &ns, "trivia", "Converged").await;
    let (pools_at_end, looks_at_end) = spent(&controller).await;
    let pools = minus(&pools_at_end, &pools_at_step);
    let looks = minus(&looks_at_end, &looks_at_step);
    eprintln!(
        "one 30 s step, looked at every 10 s, from its write to version 2 alone: tokens by pool {pools:?}; looks {looks:?}"
    );
    let held = looks.get("held").copied().unwrap_or(0.0);
    assert!(held >= 1.0, "the looks during the hold used the cheap reads: {looks:?}");
    assert!(
        pools.get("DescribeAlarms").copied().unwrap_or(0.0) >= held,
        "each look read the alarm: {pools:?}"
    );
    controller.terminate(Duration::from_secs(10));
}
