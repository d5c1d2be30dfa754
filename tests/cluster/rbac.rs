//! The shipped RBAC is minimal, proven on a real API server: for every verb a role grants, the
//! controller runs as its own ServiceAccount with exactly the shipped rules **minus that one
//! verb**, and the test shows which step then fails (the API server's `forbidden` answer for
//! that verb and resource, in the controller's log) and what it leaves undone. A verb that no
//! step needs fails the test: it is surplus and must go.
//!
//! Modes: the plain manifests' ClusterRole (`deploy/rbac.yaml`), the chart's per-namespace Role
//! (`watchNamespaces`), the chart's leader-election Role and, with `tenancy: strict`, the chart's
//! ClusterRole on the watched Namespaces, and the chart's Pod-events Role (drift events on, the
//! release namespace not watched). A control run per mode, with every
//! grant, converges with no `forbidden` in the log, so the failures are the missing verb's.

use crate::support;

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::{Value, json};
use support::cluster::alexa_set;
use support::cluster::{
    Controller, ControllerEnv, apply_crd, apply_object, cluster, create_namespace, eventually, log_lines,
    objects_of_kinds, render_chart, repo, service_account_kubeconfig,
};

/// One verb on one resource, as a role grants it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Grant {
    group: String,
    resource: String,
    verb: String,
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}.{}", self.verb, self.resource, self.group)
    }
}

/// Every (group, resource, verb) a rule list grants.
fn grants(rules: &Value) -> Vec<Grant> {
    let mut out = Vec::new();
    for rule in rules.as_array().expect("rules") {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        for group in strings("apiGroups") {
            for resource in strings("resources") {
                for verb in strings("verbs") {
                    out.push(Grant { group: group.clone(), resource: resource.clone(), verb });
                }
            }
        }
    }
    out
}

/// The same rules without one verb on one resource (a rule left with no verb is dropped).
fn rules_without(rules: &Value, grant: &Grant) -> Value {
    let mut out = Vec::new();
    for rule in rules.as_array().expect("rules") {
        let has = |key: &str, value: &str| rule[key].as_array().is_some_and(|a| a.iter().any(|v| v == value));
        if !(has("apiGroups", &grant.group) && has("resources", &grant.resource) && has("verbs", &grant.verb))
        {
            out.push(rule.clone());
            continue;
        }
        let resources: Vec<&Value> = rule["resources"].as_array().expect("resources").iter().collect();
        // Split the rule: the other resources keep every verb, this one loses the verb.
        for resource in resources {
            let mut split = rule.clone();
            split["resources"] = json!([resource]);
            if resource == grant.resource.as_str() {
                let verbs: Vec<&Value> = rule["verbs"]
                    .as_array()
                    .expect("verbs")
                    .iter()
                    .filter(|v| *v != grant.verb.as_str())
                    .collect();
                if verbs.is_empty() {
                    continue;
                }
                split["verbs"] = json!(verbs);
            }
            out.push(split);
        }
    }
    Value::Array(out)
}

/// What each grant is for: the step that fails without it, and what that step leaves undone
/// (checked once the API server's refusal shows in the log). `None`: no known step needs it.
fn step_needing(grant: &Grant) -> Option<(&'static str, Consequence)> {
    Some(match (grant.group.as_str(), grant.resource.as_str(), grant.verb.as_str()) {
        ("lambda.aliasset.dev", "lambdaaliassets", "list") => {
            ("the watch's initial list of the sets", Consequence::NoFinalizer)
        }
        ("lambda.aliasset.dev", "lambdaaliassets", "get") => {
            ("reading a set's spec before its first reconcile", Consequence::NoFinalizer)
        }
        ("lambda.aliasset.dev", "lambdaaliassets", "watch") => {
            ("the watch that follows changes", Consequence::None)
        }
        ("lambda.aliasset.dev", "lambdaaliassets", "patch") => {
            ("adding the finalizer, before any AWS call", Consequence::NoFinalizerNoAws)
        }
        ("lambda.aliasset.dev", "lambdaaliassets/status", "patch") => {
            ("writing status (server-side apply)", Consequence::NoStatus)
        }
        ("events.k8s.io", "events", "create") => ("publishing an Event", Consequence::NoEvents),
        ("", "secrets", "get") => {
            ("reading an Alexa-aware set's credentials Secret, before any AWS call", Consequence::NoAws)
        }
        ("coordination.k8s.io", "leases", "get") => ("reading the leader Lease", Consequence::NoFinalizer),
        ("coordination.k8s.io", "leases", "create") => {
            ("creating the leader Lease", Consequence::NoFinalizer)
        }
        ("coordination.k8s.io", "leases", "patch") => {
            ("taking or renewing the leader Lease", Consequence::NoFinalizer)
        }
        ("", "namespaces", "list") => {
            ("reading the Namespace's annotations at start (tenancy strict)", Consequence::NoFinalizer)
        }
        ("", "namespaces", "watch") => {
            ("following changes of the Namespace's annotations (tenancy strict)", Consequence::None)
        }
        _ => return None,
    })
}

#[derive(Clone, Copy, Debug)]
enum Consequence {
    None,
    NoFinalizer,
    NoFinalizerNoAws,
    NoAws,
    NoStatus,
    NoEvents,
}

/// How the controller is given its rules in one mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// deploy/rbac.yaml: a ClusterRole and ClusterRoleBinding.
    PlainCluster,
    /// The chart with `watchNamespaces`: a Role and RoleBinding in the watched namespace.
    ChartNamespaced,
    /// The chart's leader-election Role (with the per-namespace watch Role, complete).
    ChartLease,
    /// The chart's watch Role with `alexa.credentialsSecretNames`, on an Alexa-aware set: only
    /// the Secret grant is restricted (the others are ChartNamespaced's).
    ChartAlexa,
    /// `tenancy: strict`: the chart's ClusterRole on the watched Namespaces (by name), with the
    /// controller run `--tenancy strict` on a namespace whose annotation allows the function.
    ChartTenancy,
}

fn plain_cluster_role() -> Value {
    let text = std::fs::read_to_string(repo().join("deploy/rbac.yaml")).expect("deploy/rbac.yaml");
    objects_of_kinds(&text, &["ClusterRole"]).pop().expect("deploy/rbac.yaml has a ClusterRole")
}

/// The Secret with an Alexa-aware set's credentials.
const SECRET: &str = "smapi";

/// The chart's ServiceAccount, Roles and RoleBindings for release `lac` in `ns`, watching `ns`,
/// with leader election on and the credentials Secret readable.
fn chart_rbac(ns: &str) -> Vec<Value> {
    let values = json!({
        "watchNamespaces": [ns],
        "leaderElection": {"enabled": true},
        "alexa": {"credentialsSecretNames": [SECRET]},
        "tenancy": "strict",
        "clusterName": "rbac"
    });
    // The release is named after the namespace: the tenancy ClusterRole is cluster-wide, and the
    // variants run at once.
    let kinds = ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"];
    objects_of_kinds(&render_chart(ns, &format!("lac-{ns}"), &values), &kinds)
}

fn is_tenancy_role(object: &Value) -> bool {
    object["kind"] == "ClusterRole"
        && object["rules"].as_array().is_some_and(|r| r.iter().any(|r| r["resources"][0] == "namespaces"))
}

fn is_lease_role(object: &Value) -> bool {
    object["kind"] == "Role"
        && object["rules"].as_array().is_some_and(|r| r.iter().any(|r| r["resources"][0] == "leases"))
}

/// The rules a mode restricts, as shipped.
fn shipped_rules(mode: Mode) -> Value {
    match mode {
        Mode::PlainCluster => plain_cluster_role()["rules"].clone(),
        Mode::ChartNamespaced | Mode::ChartAlexa => chart_rbac("placeholder")
            .into_iter()
            .find(|o| o["kind"] == "Role" && !is_lease_role(o))
            .expect("the chart's watch Role")["rules"]
            .clone(),
        Mode::ChartLease => chart_rbac("placeholder")
            .into_iter()
            .find(is_lease_role)
            .expect("the chart's Lease Role")["rules"]
            .clone(),
        Mode::ChartTenancy => chart_rbac("placeholder")
            .into_iter()
            .find(is_tenancy_role)
            .expect("the chart's tenancy ClusterRole")["rules"]
            .clone(),
    }
}

/// Installs the mode's RBAC in a fresh namespace with `rules` in place of the restricted role's
/// and starts the controller as that ServiceAccount on one new set. Returns the namespace, the
/// controller, its log and the function's name.
async fn start_variant(
    client: &Client,
    mode: Mode,
    rules: &Value,
    tag: &str,
) -> (String, Controller, PathBuf, String) {
    let ns = create_namespace(client, &format!("lac-rbac-{tag}")).await;
    let account = match mode {
        Mode::PlainCluster => {
            let name = format!("{ns}-controller");
            apply_object(client, &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "controller", "namespace": ns}})).await;
            let mut role = plain_cluster_role();
            role["metadata"] = json!({"name": name});
            role["rules"] = rules.clone();
            apply_object(client, &role).await;
            apply_object(
                client,
                &json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": name},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                    "subjects": [{"kind": "ServiceAccount", "name": "controller", "namespace": ns}]
                }),
            )
            .await;
            "controller".to_string()
        }
        Mode::ChartNamespaced | Mode::ChartLease | Mode::ChartAlexa | Mode::ChartTenancy => {
            let mut account = String::new();
            for mut object in chart_rbac(&ns) {
                let restricted = match mode {
                    Mode::ChartLease => is_lease_role(&object),
                    Mode::ChartTenancy => is_tenancy_role(&object),
                    _ => object["kind"] == "Role" && !is_lease_role(&object),
                };
                if restricted {
                    // The shipped rules name the placeholder namespace: this variant's instead.
                    let text = rules.to_string().replace("\"placeholder\"", &format!("\"{ns}\""));
                    object["rules"] = serde_json::from_str(&text).expect("rules");
                }
                if object["kind"] == "ServiceAccount" {
                    account = object["metadata"]["name"].as_str().expect("name").to_string();
                }
                apply_object(client, &object).await;
            }
            account
        }
    };
    let dir = std::env::temp_dir().join(support::unique_name("lac-rbac"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = service_account_kubeconfig(client, &ns, &account, &dir).await;

    let lambda = support::lambda().await;
    let function = support::unique_name("rbac-fn");
    let arn = support::create_function(&lambda, &function, "v1")
        .await
        .function_arn()
        .unwrap_or_default()
        .to_string();
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let mut manifest = alexa_set("set", &function, "Development", 300, "Retain");
    let fake = support::smapi::fake_smapi();
    if mode == Mode::ChartAlexa {
        // Alexa-aware: credentials in the Secret, a skill in the fake SMAPI.
        let vendor = support::smapi::unique_vendor();
        let credentials = fake.client(&vendor);
        let skill = support::smapi::unique_skill_id();
        let development = support::smapi::Stage::custom(&format!("{arn}:PROD2"));
        fake.create_skill(&skill, &vendor, &development, None);
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": SECRET, "namespace": ns},
            "stringData": {"clientId": credentials.client_id, "clientSecret": credentials.client_secret, "refreshToken": credentials.refresh_token}
        }))
        .expect("secret");
        Api::<Secret>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret");
        manifest["spec"]["alexa"] = json!({"credentialsSecretRef": {"name": SECRET}});
        manifest["spec"]["triggers"][0]["alexaSkill"]["skillId"] = json!(skill);
    }
    let set: LambdaAliasSet = serde_json::from_value(manifest).expect("set");
    api.create(&PostParams::default(), &set).await.expect("create set");

    let log = dir.join("controller.log");
    let (smapi, lwa) = (fake.url(), fake.lwa_url());
    let mut args = vec!["--namespace", ns.as_str(), "--resync", "5", "--log-format", "text"];
    args.extend(["--smapi-endpoint", smapi.as_str(), "--lwa-endpoint", lwa.as_str()]);
    if mode == Mode::ChartTenancy {
        args.extend(["--tenancy", "strict", "--cluster-name", "rbac"]);
        let patch = json!({"metadata": {"annotations": {
            lambda_alias_controller::tenancy::ALLOWED_FUNCTIONS: format!("{}:function:rbac-fn-*", arn.split(":function:").next().unwrap_or_default())
        }}});
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .patch(&ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("annotate the namespace");
    }
    let mut extra = vec![];
    if mode != Mode::PlainCluster {
        args.push("--leader-elect");
        extra =
            vec![("POD_NAMESPACE".to_string(), ns.clone()), ("POD_NAME".to_string(), "lac-0".to_string())];
    }
    let controller = Controller::start_logged(
        &args,
        ControllerEnv { kubeconfig: Some(&kubeconfig), aws: support::moto_env(), extra },
        &log,
    );
    (ns, controller, log, function)
}

/// The API server's refusal of `grant`, as it reads in the controller's log.
fn refusal(grant: &Grant) -> String {
    format!("cannot {} resource \"{}\"", grant.verb, grant.resource)
}

/// Runs the mode without `grant`; returns a line for the report.
async fn without_grant(client: &Client, mode: Mode, shipped: &Value, grant: &Grant, tag: &str) -> String {
    let Some((step, consequence)) = step_needing(grant) else {
        panic!(
            "{mode:?} grants `{grant}` but no step of the controller is known to need it: it is surplus, remove it"
        )
    };
    let (ns, controller, log, function) =
        start_variant(client, mode, &rules_without(shipped, grant), tag).await;
    let needle = refusal(grant);
    let line = eventually(&format!("{mode:?} without `{grant}`: {step} is refused"), || async {
        // Unescaped, whether the error was logged with Display or Debug.
        log_lines(&log, "forbidden")
            .into_iter()
            .map(|l| l.replace('\\', ""))
            .find(|l| l.contains(&needle))
            .ok_or_else(|| format!("no `{needle}` in {}", log.display()))
    })
    .await;
    assert!(line.contains("forbidden"), "{line}");
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let set = api.get("set").await.expect("the set");
    match consequence {
        Consequence::None => {}
        Consequence::NoFinalizer => {
            assert!(set.finalizers().is_empty(), "{grant}: the set was never taken on")
        }
        Consequence::NoFinalizerNoAws => {
            assert!(set.finalizers().is_empty(), "{grant}: no finalizer");
            let aliases = support::lambda()
                .await
                .list_aliases()
                .function_name(&function)
                .send()
                .await
                .expect("aliases");
            assert!(aliases.aliases().is_empty(), "{grant}: nothing written to AWS before the finalizer");
        }
        Consequence::NoAws => {
            let aliases = support::lambda()
                .await
                .list_aliases()
                .function_name(&function)
                .send()
                .await
                .expect("aliases");
            assert!(
                aliases.aliases().is_empty(),
                "{grant}: nothing written to AWS without the skill's state"
            );
        }
        Consequence::NoStatus => assert!(set.status.is_none(), "{grant}: no status written"),
        Consequence::NoEvents => {
            let events = Api::<Event>::namespaced(client.clone(), &ns)
                .list(&ListParams::default())
                .await
                .expect("events");
            assert!(
                events.items.is_empty(),
                "{grant}: no Event published: {:?}",
                events.items.iter().map(|e| e.name_any()).collect::<Vec<_>>()
            );
        }
    }
    drop(controller);
    format!("{mode:?} without `{grant}`: {step} fails ({needle})")
}

/// Every grant is needed, and all of them together are enough.
async fn each_grant_is_needed(mode: Mode) {
    let Some(client) = cluster("k8s_rbac").await else { return };
    apply_crd(&client).await;
    let shipped = shipped_rules(mode);
    let mut all = grants(&shipped);
    // The Secret grant is proven on an Alexa-aware set (ChartAlexa), the rest on a plain one.
    match mode {
        Mode::ChartAlexa => all.retain(|g| g.resource == "secrets"),
        _ => all.retain(|g| g.resource != "secrets"),
    }
    assert!(!all.is_empty(), "{mode:?} grants something");

    // Control: the shipped rules, complete, converge with no refusal at all.
    let (ns, controller, log, _) = start_variant(&client, mode, &shipped, "control").await;
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    eventually(&format!("{mode:?}: the set converges with every grant"), || async {
        let set = api.get("set").await.map_err(|e| e.to_string())?;
        let converged = set.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "Converged")
        });
        if converged { Ok(()) } else { Err(format!("{:?}", set.status)) }
    })
    .await;
    assert_eq!(
        log_lines(&log, "forbidden"),
        Vec::<String>::new(),
        "{mode:?}: nothing refused with every grant"
    );
    drop(controller);

    let runs = all.iter().enumerate().map(|(i, grant)| {
        let client = client.clone();
        let shipped = shipped.clone();
        async move { without_grant(&client, mode, &shipped, grant, &i.to_string()).await }
    });
    let report = futures::future::join_all(runs).await;
    use std::io::Write;
    let mut err = std::io::stderr();
    let _ = writeln!(err, "RBAC minimality, {mode:?}: {} grants, each needed:", report.len());
    for line in report {
        let _ = writeln!(err, "  {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_of_the_plain_cluster_role_is_needed() {
    each_grant_is_needed(Mode::PlainCluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_of_the_charts_per_namespace_role_is_needed() {
    each_grant_is_needed(Mode::ChartNamespaced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_credentials_secret_grant_is_needed_by_an_alexa_aware_set() {
    each_grant_is_needed(Mode::ChartAlexa).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_of_the_charts_lease_role_is_needed() {
    each_grant_is_needed(Mode::ChartLease).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_of_the_charts_tenancy_role_is_needed() {
    each_grant_is_needed(Mode::ChartTenancy).await;
}

/// One run of the chart's Pod-events Role (drift events on, the release namespace not watched):
/// the chart's RBAC for a release in its own namespace watching another, with `pod_events` in
/// place of that Role's rules, and the controller started as the release's ServiceAccount on an
/// unreadable queue. Returns the release namespace, the controller and its log.
async fn start_pod_events(client: &Client, pod_events: &Value, tag: &str) -> (String, Controller, PathBuf) {
    let release_ns = create_namespace(client, &format!("lac-rbac-rel-{tag}")).await;
    let watched = create_namespace(client, &format!("lac-rbac-watched-{tag}")).await;
    // A queue moto does not have: GetQueueAttributes fails, and the Warning is due.
    let url = format!("{}/123456789012/{}", support::moto_url(), support::unique_name("no-such-queue"));
    let values = json!({"watchNamespaces": [watched], "driftEvents": {"queueUrl": url}});
    let objects = objects_of_kinds(
        &render_chart(&release_ns, &format!("lac-{release_ns}"), &values),
        &["ServiceAccount", "Role", "RoleBinding"],
    );
    let is_pod_events =
        |o: &Value| o["metadata"]["name"].as_str().is_some_and(|n| n.ends_with("-pod-events"));
    let role = objects.iter().find(|o| o["kind"] == "Role" && is_pod_events(o)).expect("the Pod-events Role");
    assert_eq!(role["metadata"]["namespace"], json!(release_ns), "in the release namespace");
    let mut account = String::new();
    for mut object in objects {
        if object["kind"] == "Role" && is_pod_events(&object) {
            object["rules"] = pod_events.clone();
        }
        if object["kind"] == "ServiceAccount" {
            account = object["metadata"]["name"].as_str().expect("name").to_string();
        }
        apply_object(client, &object).await;
    }
    let dir = std::env::temp_dir().join(support::unique_name("lac-rbac-pod-events"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = service_account_kubeconfig(client, &release_ns, &account, &dir).await;
    let log = dir.join("controller.log");
    let args = [
        "--namespace",
        watched.as_str(),
        "--resync",
        "300",
        "--log-format",
        "text",
        "--drift-events-queue",
        url.as_str(),
    ];
    let extra = vec![
        ("POD_NAMESPACE".to_string(), release_ns.clone()),
        ("POD_NAME".to_string(), "lac-0".to_string()),
    ];
    let controller = Controller::start_logged(
        &args,
        ControllerEnv { kubeconfig: Some(&kubeconfig), aws: support::moto_env(), extra },
        &log,
    );
    (release_ns, controller, log)
}

/// The Warning Events about the queue in `ns`.
async fn queue_warnings(client: &Client, ns: &str) -> Result<Vec<Event>, String> {
    let list = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list.items.into_iter().filter(|e| e.reason.as_deref() == Some("DriftEventsUnavailable")).collect())
}

/// The chart's Pod-events Role is what lets a controller whose own namespace is not watched warn
/// at its Pod about a queue it cannot read: with it, the Warning is in the release namespace and
/// nothing is refused; without its one verb, the API server refuses exactly that Event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_pod_events_role_is_needed_for_the_queue_warning() {
    let Some(client) = cluster("k8s_rbac").await else { return };
    apply_crd(&client).await;
    let shipped = json!([{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]}]);

    let (release_ns, controller, log) = start_pod_events(&client, &shipped, "control").await;
    let warning = eventually("the Warning at the controller's Pod", || async {
        queue_warnings(&client, &release_ns)
            .await?
            .pop()
            .ok_or_else(|| "no DriftEventsUnavailable Event yet".to_string())
    })
    .await;
    let regarding = warning.regarding.unwrap_or_default();
    assert_eq!((regarding.kind.as_deref(), regarding.name.as_deref()), (Some("Pod"), Some("lac-0")));
    assert_eq!(log_lines(&log, "forbidden"), Vec::<String>::new(), "nothing refused with the Role");
    drop(controller);

    let grant = Grant { group: "events.k8s.io".into(), resource: "events".into(), verb: "create".into() };
    let (release_ns, controller, log) =
        start_pod_events(&client, &rules_without(&shipped, &grant), "without").await;
    let needle = refusal(&grant);
    eventually("without the Role's verb, the Warning is refused", || async {
        log_lines(&log, "forbidden")
            .into_iter()
            .map(|l| l.replace('\\', ""))
            .find(|l| l.contains(&needle) && l.contains(&release_ns))
            .ok_or_else(|| format!("no `{needle}` in {release_ns} in {}", log.display()))
    })
    .await;
    assert_eq!(queue_warnings(&client, &release_ns).await.map(|w| w.len()), Ok(0), "no Warning written");
    drop(controller);
}

#[test]
fn removing_a_verb_keeps_every_other_grant() {
    let rules = json!([
        {"apiGroups": ["g"], "resources": ["a", "b"], "verbs": ["get", "list"]},
        {"apiGroups": ["h"], "resources": ["c"], "verbs": ["create"]}
    ]);
    let gone = Grant { group: "g".into(), resource: "a".into(), verb: "get".into() };
    let left = grants(&rules_without(&rules, &gone));
    let mut expected = grants(&rules);
    expected.retain(|g| *g != gone);
    assert_eq!(left.len(), expected.len());
    assert!(expected.iter().all(|g| left.contains(g)), "{left:?}");
    let last = Grant { group: "h".into(), resource: "c".into(), verb: "create".into() };
    assert!(!grants(&rules_without(&rules, &last)).contains(&last));
}
