//! What a set costs on a real API server (`../shared/kube/up` in CI), counted by the
//! controller's own `/metrics` against moto:
//!
//! - bootstrapping the Alexa example makes the minimal calls and nothing more: no confirming
//!   observe, and the controller's own status write (which comes back through the watch) costs
//!   no AWS call at all;
//! - each periodic drift check of the steady set reads GetFunction, ListAliases and the two
//!   aliases' policies — one call from the shared pool — and spends the drift lane's tokens;
//! - an out-of-band re-point is still seen by that check and put back (a full observe follows);
//! - a spec change goes to the priority lane.
//!
//! Without `KUBECONFIG` it says that it skipped and why; in CI it fails instead.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::{Value, json};
use support::cluster::alexa_set;
use support::cluster::{Controller, ControllerEnv, apply_crd, cluster, create_namespace, eventually};

/// Every sample on /metrics: `name{labels}` -> value.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(series, value)| value.parse().ok().map(|v| (series.to_string(), v)))
        .collect()
}

/// A reading between two checks: two scrapes 300 ms apart that agree on every AWS call.
async fn stable(controller: &Controller) -> BTreeMap<String, f64> {
    eventually("two scrapes that agree", || async {
        let calls = |m: &BTreeMap<String, f64>| {
            m.iter()
                .filter(|(k, _)| {
                    k.starts_with("lac_aws_calls_total") || k.starts_with("lac_drift_checks_total")
                })
                .map(|(k, v)| (k.clone(), *v))
                .collect::<Vec<_>>()
        };
        let first = samples(&controller.http_get("/metrics").await?.1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = samples(&controller.http_get("/metrics").await?.1);
        if calls(&first) == calls(&second) { Ok(second) } else { Err("a check was in flight".into()) }
    })
    .await
}

/// AWS calls by operation (every outcome).
fn calls(m: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (series, v) in m {
        if let Some(rest) = series.strip_prefix("lac_aws_calls_total{operation=\"")
            && let Some((op, _)) = rest.split_once('"')
        {
            *out.entry(op.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

fn sum(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
}

fn ops(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

async fn status(api: &Api<LambdaAliasSet>, name: &str) -> Result<Value, String> {
    let obj = api.get(name).await.map_err(|e| e.to_string())?;
    let generation = obj.metadata.generation;
    let mut s = serde_json::to_value(obj.status).map_err(|e| e.to_string())?;
    s["generation"] = json!(generation);
    Ok(s)
}

/// Budget tokens spent in one lane, over every pool.
fn lane_tokens(m: &BTreeMap<String, f64>, lane: &str) -> f64 {
    let label = format!("lane=\"{lane}\"");
    m.iter()
        .filter(|(k, _)| k.starts_with("lac_aws_budget_tokens_total{") && k.contains(&label))
        .map(|(_, v)| v)
        .sum()
}

fn converged(s: &Value) -> bool {
    let ready = s["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    s["observedGeneration"] == s["generation"] && ready.is_some_and(|c| c["reason"] == "Converged")
}

#[tokio::test]
async fn a_steady_set_costs_one_shared_call_per_drift_check_and_drift_is_still_put_back() {
    let Some(client) = cluster("k8s_drift").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-drift").await;
    let lambda = support::lambda().await;
    let function = support::unique_name("drift-cost");
    support::create_function(&lambda, &function, "v1").await;
    // Checks come about every 6 s: long enough to read the bootstrap's count before the first.
    let log = std::env::temp_dir().join(format!("{}.log", support::unique_name("lac-drift")));
    let controller = Controller::start_logged(
        &["--namespace", &ns, "--resync", "6", "--log-format", "text"],
        ControllerEnv { kubeconfig: None, aws: support::moto_env(), extra: vec![] },
        &log,
    );
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let set: LambdaAliasSet =
        serde_json::from_value(alexa_set("trivia", &function, "Development", 0, "Retain")).expect("set");
    api.create(&PostParams::default(), &set).await.expect("create");
    eventually("the set converges", || async {
        let s = status(&api, "trivia").await?;
        if converged(&s) { Ok(()) } else { Err(s.to_string()) }
    })
    .await;

    // Open tenancy (the default) says so at start-up.
    assert!(
        !support::cluster::log_lines(&log, "tenancy open").is_empty(),
        "the controller says it runs with open tenancy: {}",
        log.display()
    );

    // Bootstrap: the minimal calls (one listing of versions and aliases, the five writes).
    let boot = stable(&controller).await;
    assert_eq!(sum(&boot, "lac_drift_checks_total"), 0.0, "read before the first drift check");
    assert_eq!(
        calls(&boot),
        ops(&[
            ("AddPermission", 2.0),
            ("CreateAlias", 2.0),
            ("GetFunction", 1.0),
            ("ListAliases", 1.0),
            ("ListVersionsByFunction", 1.0),
            ("PublishVersion", 1.0),
        ]),
        "the status write and the finalizer came back through the watch without an AWS call"
    );

    // Steady: checks that find nothing changed. (moto keeps one policy for all qualifiers, so
    // the first check may see the other alias's statement and re-observe once.)
    let unchanged = "lac_drift_checks_total{result=\"unchanged\"}";
    let first = eventually("a check that finds nothing changed", || async {
        let m = stable(&controller).await;
        if m.get(unchanged).copied().unwrap_or(0.0) >= 1.0 { Ok(m) } else { Err(format!("{m:?}")) }
    })
    .await;
    let later = eventually("two more", || async {
        let m = stable(&controller).await;
        let n = m.get(unchanged).copied().unwrap_or(0.0) - first.get(unchanged).copied().unwrap_or(0.0);
        if n >= 2.0 { Ok(m) } else { Err(format!("{n} checks")) }
    })
    .await;
    let checks = later[unchanged] - first[unchanged];
    assert_eq!(
        sum(&later, "lac_drift_checks_total") - sum(&first, "lac_drift_checks_total"),
        checks,
        "every check in between found nothing"
    );
    assert_eq!(
        delta(&calls(&later), &calls(&first)),
        ops(&[("GetFunction", checks), ("GetPolicy", 2.0 * checks), ("ListAliases", checks)]),
        "a steady check: GetFunction, ListAliases (the one shared-pool call) and the two policies"
    );
    assert_eq!(
        lane_tokens(&later, "drift") - lane_tokens(&first, "drift"),
        4.0 * checks,
        "checks spend the drift lane's tokens"
    );

    // Out of band: PROD1 re-pointed to $LATEST with its marker kept. The check sees it and
    // the full observe puts it back.
    let marker = lambda
        .get_alias()
        .function_name(&function)
        .name("PROD1")
        .send()
        .await
        .expect("get alias")
        .description()
        .unwrap_or_default()
        .to_string();
    lambda
        .update_alias()
        .function_name(&function)
        .name("PROD1")
        .function_version("$LATEST")
        .description(&marker)
        .send()
        .await
        .expect("re-point PROD1");
    eventually("PROD1 is put back on version 1", || async {
        let versions = support::alias_versions(&function).await;
        if versions.contains(&("PROD1".to_string(), "1".to_string())) {
            Ok(())
        } else {
            Err(format!("{versions:?}"))
        }
    })
    .await;
    let after = stable(&controller).await;
    assert!(
        after.get("lac_drift_checks_total{result=\"changed\"}").copied().unwrap_or(0.0)
            > first.get("lac_drift_checks_total{result=\"changed\"}").copied().unwrap_or(0.0),
        "the drift check saw the change"
    );

    // A spec change is the priority lane's.
    let patch = json!({"spec": {"drainSeconds": 5}});
    api.patch("trivia", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    eventually("the change is acted on", || async {
        let s = status(&api, "trivia").await?;
        if converged(&s) { Ok(()) } else { Err(s.to_string()) }
    })
    .await;
    let changed = stable(&controller).await;
    assert!(
        lane_tokens(&changed, "priority") > lane_tokens(&after, "priority"),
        "the spec change spent priority tokens"
    );
}
