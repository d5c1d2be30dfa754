//! Scale-out on a real Kubernetes API server, whenever `KUBECONFIG` points at one: two replicas
//! of the controller with complementary `--shard` selectors (`shard=a` and `shard!=a`, each with
//! `--budget-share 0.5`) split the LambdaAliasSets of one namespace. They run exactly as the Helm
//! chart's `shards` value renders them (the args of its two Deployments, its ServiceAccount, its
//! per-namespace Role and its Lease Role), so the chart's Lease names and the binary's are proven
//! to agree: a mismatch would make the API server refuse the Lease.
//!
//! Every set converges; each set's Events come from exactly one instance, the one whose selector
//! selects it; each replica's `lac_sets` counts its own sets; no set appears in both replicas'
//! logs. A set relabelled from `shard=a` to `shard=b` is taken over by the other replica, which
//! writes nothing to AWS until the spec asks for something, and then only that. An invalid
//! `--shard` selector stops `run` at start with a message naming the flag. Without `KUBECONFIG`
//! it says that it skipped and why (in CI it fails instead).

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use lambda_alias_controller::controller::run::lease_name;
use serde_json::{Value, json};
use support::cluster::{
    Controller, ControllerEnv, apply_crd, apply_object, cluster, create_namespace, eventually,
    objects_of_kinds, render_chart, service_account_kubeconfig,
};

/// The two shards, as the chart's `shards` value.
const SELECTOR_A: &str = "shard=a";
const SELECTOR_REST: &str = "shard!=a";

/// One replica: the pod name it runs as (its Events' `reportingInstance`), its selector, the
/// controller process and its JSON log.
struct Replica {
    pod: String,
    selector: String,
    controller: Controller,
    log: PathBuf,
}

/// A set with no triggers (few AWS calls), optionally labelled `shard=<shard>`.
fn set(name: &str, function: &str, shard: Option<&str>) -> LambdaAliasSet {
    let mut object = json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": name},
        "spec": {
            "functionName": function,
            "drainSeconds": 3,
            "deletionPolicy": "Retain",
            "certification": {"phase": "Development"},
        }
    });
    if let Some(shard) = shard {
        object["metadata"]["labels"] = json!({"shard": shard});
    }
    serde_json::from_value(object).expect("LambdaAliasSet")
}

/// Whether `selector` (one of the two this suite uses) selects a set labelled `shard`.
fn selects(selector: &str, shard: Option<&str>) -> bool {
    match selector {
        SELECTOR_A => shard == Some("a"),
        SELECTOR_REST => shard != Some("a"),
        other => panic!("unknown selector {other}"),
    }
}

async fn wait_status(api: &Api<LambdaAliasSet>, name: &str, live: &str, candidate: &str) {
    eventually(&format!("{name}: live {live}, candidate {candidate}, Ready=True"), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        let s = serde_json::to_value(obj.status).map_err(|e| e.to_string())?;
        let ready = s["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .map(|c| c["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        let got = (s["live"]["summary"].as_str(), s["candidate"]["summary"].as_str(), ready.as_str());
        if got == (Some(live), Some(candidate), "True") { Ok(()) } else { Err(format!("{got:?}")) }
    })
    .await
}

/// Every Event in `ns`: (name of the set it regards, reporting instance, reason, Event name).
async fn events(client: &kube::Client, ns: &str) -> Vec<(String, String, String, String)> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    events
        .list(&ListParams::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .map(|e| {
            (
                e.regarding.and_then(|r| r.name).unwrap_or_default(),
                e.reporting_instance.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.metadata.name.unwrap_or_default(),
            )
        })
        .collect()
}

/// How many lines of a replica's log name each set of `ns`: `reconciled` (debug, after each reconcile:
/// `LambdaAliasSet.v1alpha1.lambda.aliasset.dev/NAME.NS`) and any other line about a set
/// (`reconcile failed`, ...: `NS/NAME`).
fn log_mentions(log: &Path, ns: &str) -> BTreeMap<String, usize> {
    let (prefix, suffix) = (format!("{ns}/"), format!(".{ns}"));
    let mut mentions = BTreeMap::new();
    let names = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| {
            let set = line["fields"]["set"].as_str()?.to_string();
            match set.strip_prefix(&prefix) {
                Some(name) => Some(name.to_string()),
                None => set.rsplit_once('/')?.1.strip_suffix(&suffix).map(str::to_string),
            }
        })
        .collect::<Vec<_>>();
    for name in names {
        *mentions.entry(name).or_insert(0) += 1;
    }
    mentions
}

/// The sets of `ns` a replica's log names.
fn sets_in_log(log: &Path, ns: &str) -> BTreeSet<String> {
    log_mentions(log, ns).into_keys().collect()
}

/// Every alias of `function` with its version, and every published version.
async fn aws_state(lambda: &aws_sdk_lambda::Client, function: &str) -> (Vec<(String, String)>, Vec<String>) {
    let versions = lambda
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .expect("ListVersionsByFunction")
        .versions()
        .iter()
        .filter_map(|v| v.version().map(str::to_string))
        .collect();
    (support::alias_versions(function).await, versions)
}

fn tmp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(support::unique_name("lac-shard"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn two_shards_reconcile_every_set_exactly_once_and_a_relabelled_set_moves() {
    let Some(client) = cluster("k8s_shard").await else { return };
    let started = Instant::now();
    apply_crd(&client).await;
    let release_ns = create_namespace(&client, "lac-shard").await;
    let ns = create_namespace(&client, "lac-shard-sets").await;
    let sets: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);

    // The chart with two shards, per-namespace RBAC and leader election: its RBAC is applied,
    // and each replica runs with the args of one of its Deployments, as that Deployment's
    // ServiceAccount.
    let values = json!({
        "watchNamespaces": [ns],
        "leaderElection": {"enabled": true},
        "shards": [{"name": "a", "selector": SELECTOR_A}, {"name": "rest", "selector": SELECTOR_REST}],
    });
    let rendered = render_chart(&release_ns, "lac", &values);
    let rbac = objects_of_kinds(
        &rendered,
        &["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
    );
    for object in &rbac {
        apply_object(&client, object).await;
    }
    let lease_names: BTreeSet<String> = rbac
        .iter()
        .filter(|o| o["kind"] == "Role")
        .flat_map(|o| o["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|rule| rule["resourceNames"].as_array().cloned())
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    // The binary's names for the shards' Leases: the chart computes the same ones.
    let expected: BTreeSet<String> = [SELECTOR_A, SELECTOR_REST].map(|s| lease_name(Some(s))).into();
    assert_eq!(lease_names, expected, "the Lease Role names the Lease of each shard");
    let deployments = objects_of_kinds(&rendered, &["Deployment"]);
    assert_eq!(deployments.len(), 2, "one Deployment per shard");
    let account = deployments[0]["spec"]["template"]["spec"]["serviceAccountName"].as_str().expect("account");
    let dir = tmp_dir();
    let kubeconfig = service_account_kubeconfig(&client, &release_ns, account, &dir).await;

    // One function per set, created in parallel: 6 sets labelled shard=a, 5 shard=b, 1 unlabelled
    // (which `shard!=a` selects).
    let lambda = support::lambda().await;
    let plan: Vec<(String, Option<&str>)> = (0..6)
        .map(|i| (format!("set-a{i}"), Some("a")))
        .chain((0..5).map(|i| (format!("set-b{i}"), Some("b"))))
        .chain([("set-loose".to_string(), None)])
        .collect();
    let functions: BTreeMap<String, String> =
        plan.iter().map(|(name, _)| (name.clone(), support::unique_name("shard"))).collect();
    futures::future::join_all(functions.values().map(|f| support::create_function(&lambda, f, "v1"))).await;

    let mut replicas = Vec::new();
    for deployment in &deployments {
        let pod = format!("{}-0", deployment["metadata"]["name"].as_str().expect("name"));
        let args: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let flag = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
        let selector = flag("--shard").expect("--shard");
        assert_eq!(flag("--budget-share").as_deref(), Some("0.5"), "{pod}: two shards split the budget");
        assert!(args.iter().any(|a| a == "--leader-elect"), "{pod}: leader election per shard");
        // Everything but `run` and the address (the harness serves on a free loopback port).
        assert_eq!(args[0], "run");
        let http = args.iter().position(|a| a == "--http-addr").expect("--http-addr");
        let run_args: Vec<&str> = args
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 0 && *i != http && *i != http + 1)
            .map(|(_, a)| a.as_str())
            .collect();
        let log = dir.join(format!("{pod}.log"));
        let controller = Controller::start_logged(
            &run_args,
            ControllerEnv {
                kubeconfig: Some(&kubeconfig),
                aws: support::moto_env(),
                extra: vec![
                    ("POD_NAME".into(), pod.clone()),
                    ("POD_NAMESPACE".into(), release_ns.clone()),
                    ("RUST_LOG".into(), "lambda_alias_controller=debug".into()),
                ],
            },
            &log,
        );
        replicas.push(Replica { pod, selector, controller, log });
    }
    let mut selectors: Vec<&str> = replicas.iter().map(|r| r.selector.as_str()).collect();
    selectors.sort();
    assert_eq!(selectors, [SELECTOR_REST, SELECTOR_A], "complementary selectors");
    let replica_for = |shard: Option<&str>| -> &Replica {
        let chosen: Vec<&Replica> = replicas.iter().filter(|r| selects(&r.selector, shard)).collect();
        assert_eq!(chosen.len(), 1, "exactly one selector selects shard {shard:?}");
        chosen[0]
    };

    for (name, shard) in &plan {
        sets.create(&PostParams::default(), &set(name, &functions[name], *shard)).await.expect("create set");
    }
    for (name, _) in &plan {
        wait_status(&sets, name, "PROD1:1", "PROD2:$LATEST").await;
    }
    let converged = started.elapsed();

    // Each shard elected its own leader, on the Lease the chart's Role names.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &release_ns);
    let mut holders = BTreeMap::new();
    for lease in &lease_names {
        let holder = leases
            .get(lease)
            .await
            .unwrap_or_else(|e| panic!("Lease {lease}: {e}"))
            .spec
            .and_then(|s| s.holder_identity)
            .unwrap_or_default();
        holders.insert(holder, lease.clone());
    }
    let pods: BTreeSet<String> = replicas.iter().map(|r| r.pod.clone()).collect();
    assert_eq!(
        holders.keys().cloned().collect::<BTreeSet<_>>(),
        pods,
        "one Lease held by each shard: {holders:?}"
    );

    // Every set's Events come from exactly one instance: the replica whose selector selects it.
    let before = events(&client, &ns).await;
    for (name, shard) in &plan {
        let from: BTreeSet<&str> = before.iter().filter(|e| &e.0 == name).map(|e| e.1.as_str()).collect();
        let expected = replica_for(*shard).pod.as_str();
        assert_eq!(from, BTreeSet::from([expected]), "{name} (shard {shard:?}): Events from {from:?}");
    }

    // Each replica counts its own sets, and its log names only those.
    for replica in &replicas {
        let own: BTreeSet<String> =
            plan.iter().filter(|(_, s)| selects(&replica.selector, *s)).map(|(n, _)| n.clone()).collect();
        assert_eq!(own.len(), 6, "{}: 6 sets each", replica.pod);
        eventually(&format!("{}: lac_sets counts its {} sets", replica.pod, own.len()), || async {
            match replica.controller.metric_sum("lac_sets").await? {
                n if n == own.len() as f64 => Ok(()),
                n => Err(format!("lac_sets = {n}")),
            }
        })
        .await;
        let logged = sets_in_log(&replica.log, &ns);
        assert_eq!(logged, own, "{}: the sets its log names", replica.pod);
    }

    // Relabel set-a0 from a to b: the other replica takes it over. Nothing in the spec changed,
    // so nothing in AWS may change, and no Event is due.
    let moved = "set-a0";
    let (from, to) = (replica_for(Some("a")), replica_for(Some("b")));
    let function = &functions[moved];
    let aws_before = aws_state(&lambda, function).await;
    let relabel = json!({"metadata": {"labels": {"shard": "b"}}});
    sets.patch(moved, &PatchParams::default(), &Patch::Merge(&relabel)).await.expect("relabel");
    eventually(&format!("{} takes {moved} over", to.pod), || async {
        let logged = sets_in_log(&to.log, &ns);
        let counted = to.controller.metric_sum("lac_sets").await?;
        if logged.contains(moved) && counted == 7.0 {
            Ok(())
        } else {
            Err(format!("in its log: {}, lac_sets = {counted}", logged.contains(moved)))
        }
    })
    .await;
    assert_eq!(aws_state(&lambda, function).await, aws_before, "taking a set over writes nothing to AWS");
    let after_move = events(&client, &ns).await;
    let names_before: BTreeSet<&str> = before.iter().map(|e| e.3.as_str()).collect();
    let new: Vec<_> =
        after_move.iter().filter(|e| e.0 == moved && !names_before.contains(e.3.as_str())).collect();
    assert!(new.is_empty(), "no Event for a take-over that changes nothing: {new:?}");

    // Now the spec asks for something: deploy v2 and freeze it for certification. The new owner
    // does it (its Events), and AWS changes by exactly that: one version published, the
    // candidate on it, live untouched.
    let mentions_in_from = log_mentions(&from.log, &ns);
    lambda
        .update_function_code()
        .function_name(function)
        .zip_file(aws_sdk_lambda::primitives::Blob::new(support::demo_zip("v2")))
        .send()
        .await
        .expect("deploy v2");
    let certify = json!({"spec": {"certification": {"phase": "Certifying"}}});
    sets.patch(moved, &PatchParams::default(), &Patch::Merge(&certify)).await.expect("Certifying");
    wait_status(&sets, moved, "PROD1:1", "PROD2:2").await;
    let new: Vec<_> = events(&client, &ns)
        .await
        .into_iter()
        .filter(|e| e.0 == moved && !names_before.contains(e.3.as_str()))
        .collect();
    assert!(new.iter().any(|e| e.2 == "CandidateFrozen"), "the freeze is reported: {new:?}");
    assert!(new.iter().all(|e| e.1 == to.pod), "{moved}'s new Events come from {}: {new:?}", to.pod);
    let (aliases, versions) = aws_state(&lambda, function).await;
    assert_eq!(aliases, [("PROD1".to_string(), "1".to_string()), ("PROD2".to_string(), "2".to_string())]);
    assert_eq!(versions, ["$LATEST", "1", "2"], "exactly one version published");
    assert_eq!(log_mentions(&from.log, &ns), mentions_in_from, "{} no longer reconciles {moved}", from.pod);
    // The replica the set left stops counting it (it prunes sets that left its watch).
    eventually(&format!("{}: lac_sets counts 5 sets", from.pod), || async {
        match from.controller.metric_sum("lac_sets").await? {
            5.0 => Ok(()),
            n => Err(format!("lac_sets = {n}")),
        }
    })
    .await;
    for replica in &replicas {
        assert!(
            replica.controller.http_get("/healthz").await.is_ok_and(|(code, _)| code == 200),
            "{} keeps running",
            replica.pod
        );
    }

    writeln!(
        std::io::stderr(),
        "shard: 12 sets converged on two shards {:.1} s after the start; the test ran {:.1} s",
        converged.as_secs_f64(),
        started.elapsed().as_secs_f64()
    )
    .unwrap();
}

#[tokio::test]
async fn an_invalid_shard_selector_stops_run_at_start_naming_the_flag() {
    let Some(client) = cluster("k8s_shard").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-shard-bad").await;
    let log = tmp_dir().join("bad-selector.log");
    let mut controller = Controller::start_logged(
        &["--namespace", &ns, "--shard", "shard in (a"],
        ControllerEnv { kubeconfig: None, aws: support::moto_env(), extra: vec![] },
        &log,
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = controller.exited() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "run still runs with an invalid --shard");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!status.success(), "run exits non-zero: {status}; log:\n{text}");
    assert!(
        text.contains("--shard")
            && text.contains("shard in (a")
            && text.contains("not a valid label selector"),
        "the message names the flag and the selector; log:\n{text}"
    );
}
