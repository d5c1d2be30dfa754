//! End to end against a real Kubernetes cluster, whenever `KUBECONFIG` points at one (kind,
//! k3d, minikube...): applies crds/, starts the controller binary against moto, drives a full
//! certification round by patching the phase, and checks status, conditions, printer columns,
//! Events and the AWS state; deletes with both policies; re-creates a deleted set and checks it
//! finds the live alias from AWS without re-pointing anything; and checks the API server rejects
//! invalid objects. Without `KUBECONFIG` it says that it skipped and why.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::{Value, json};

const MANAGER: &str = "lac-e2e";

async fn cluster() -> Option<Client> {
    match std::env::var_os("KUBECONFIG") {
        Some(path) if !path.is_empty() => Some(
            Client::try_default().await.unwrap_or_else(|e| panic!("KUBECONFIG is set but unusable: {e}")),
        ),
        _ => {
            // Written to the real stderr, past libtest's output capture, so the skip is visible
            // in every `make test` run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED k8s_e2e: KUBECONFIG is not set, so there is no cluster to run against. \
                 To run it: `kind create cluster` (or k3d/minikube), then `KUBECONFIG=$HOME/.kube/config make test`."
            );
            None
        }
    }
}

/// The controller binary, stopped (SIGTERM, then reaped) when dropped.
struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn start_controller(namespace: &str) -> Controller {
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new(env!("CARGO_BIN_EXE_lambda-alias-controller"))
        .args(["run", "--namespace", namespace, "--http-addr", &format!("127.0.0.1:{port}"), "--resync", "5"])
        .envs(support::moto_env())
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the controller");
    Controller(child)
}

/// Polls until `check` holds; the deadline only guards against a hang, it measures nothing.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    while Instant::now() < deadline {
        match check().await {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{what} never happened; last: {last}");
}

fn manifest(name: &str, function: &str, phase: &str, policy: &str) -> Value {
    json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": name},
        "spec": {
            "functionName": function,
            "drainSeconds": 3,
            "deletionPolicy": policy,
            "certification": {"phase": phase},
            "triggers": [{"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.e2e"}}]
        }
    })
}

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

async fn alias_versions(function: &str) -> Vec<(String, String)> {
    let lambda = support::lambda().await;
    let out = lambda.list_aliases().function_name(function).send().await.expect("ListAliases");
    let mut v: Vec<(String, String)> = out
        .aliases()
        .iter()
        .map(|a| {
            (a.name().unwrap_or_default().to_string(), a.function_version().unwrap_or_default().to_string())
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn controller_runs_a_certification_round_on_a_real_cluster() {
    let Some(client) = cluster().await else { return };

    // The CRD, as shipped.
    let crd: CustomResourceDefinition = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/lambdaaliasset.yaml"))
            .expect("crd file"),
    )
    .expect("crd yaml");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(&crd.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd))
        .await
        .expect("apply CRD");
    eventually("the CRD is established", || async {
        let c = crds.get(&crd.name_any()).await.map_err(|e| e.to_string())?;
        let ok = c
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if ok { Ok(()) } else { Err("not yet".into()) }
    })
    .await;

    let ns = support::unique_name("lac-e2e");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
        )
        .await
        .expect("create namespace");
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);

    // The API server refuses invalid objects at admission, naming the field.
    let mut bad = manifest("bad", "f", "Development", "Retain");
    bad["spec"]["aliases"] = json!(["PROD1", "PROD1"]);
    let err = api
        .create(&PostParams::default(), &serde_json::from_value(bad).expect("obj"))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("spec.aliases"), "{err}");

    let lambda = support::lambda().await;
    let function = support::unique_name("e2e-skill");
    support::create_function(&lambda, &function, "v1").await;
    let _controller = start_controller(&ns);

    let name = "trivia";
    let las: LambdaAliasSet =
        serde_json::from_value(manifest(name, &function, "Development", "Retain")).expect("obj");
    api.create(&PostParams::default(), &las).await.expect("create set");
    let s = wait_status(&api, name, "PROD1:1", "PROD2:$LATEST", "Converged").await;
    assert_eq!(s["phase"], "Development");

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
    let table = client
        .request_text(
            http::Request::get(format!(
                "/apis/lambda.aliasset.dev/v1alpha1/namespaces/{ns}/lambdaaliassets/{name}"
            ))
            .header("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1")
            .body(Vec::new())
            .expect("request"),
        )
        .await
        .expect("table");
    let table: Value = serde_json::from_str(&table).expect("table json");
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

    // Events name what changed.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for expected in ["VersionPublished", "CandidateFrozen", "RolesSwapped"] {
        assert!(reasons.iter().any(|r| r == expected), "{expected} in {reasons:?}");
    }

    // Delete with Retain: AWS stays as it is, ownership is released.
    let before = alias_versions(&function).await;
    api.delete(name, &DeleteParams::default()).await.expect("delete");
    eventually("the set is gone", || async {
        match api.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
    assert_eq!(alias_versions(&function).await, before, "Retain leaves every alias where it was");

    // Re-created, it finds the live alias from AWS and re-points nothing.
    let las: LambdaAliasSet =
        serde_json::from_value(manifest(name, &function, "Development", "Delete")).expect("obj");
    api.create(&PostParams::default(), &las).await.expect("re-create");
    wait_status(&api, name, "PROD2:2", "PROD1:$LATEST", "Converged").await;
    assert_eq!(alias_versions(&function).await, before, "adoption re-points nothing");

    // Delete with Delete: the aliases go, the function stays.
    api.delete(name, &DeleteParams::default()).await.expect("delete");
    eventually("the aliases are deleted", || async {
        if alias_versions(&function).await.is_empty() { Ok(()) } else { Err("aliases remain".into()) }
    })
    .await;
    lambda.get_function().function_name(&function).send().await.expect("the function stays");

    namespaces.delete(&ns, &DeleteParams::default()).await.expect("delete namespace");
}
