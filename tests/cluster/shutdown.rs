//! Shutdown always completes: `run` exits within 5 s of SIGTERM in every state, on a real API
//! server. The states: the CRD not installed (a second API server of our own, started with
//! `../shared/kube/up`, that never gets the CRD), the API server unreachable, AWS throttling
//! every call while a reconcile is in flight, and a set in the middle of a drain.
//!
//! The 5 s is the contract (a rollout must not wait for the kubelet's kill), not a benchmark:
//! the controller's own bound is a 3 s grace for in-flight reconciles plus half-second steps.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::json;
use support::cluster::alexa_set;
use support::cluster::{
    Controller, ControllerEnv, FreshApiServer, apply_crd, cluster, create_namespace, eventually,
};

/// What the contract promises: gone within 5 s of SIGTERM.
const EXIT_BOUND: Duration = Duration::from_secs(5);

fn ready_reason(set: &LambdaAliasSet) -> String {
    set.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

/// SIGTERMs the controller and checks it logged the shutdown and exited 0 within the bound.
fn stop_and_check(mut controller: Controller, log: &Path, state: &str) {
    let took = controller.terminate(Duration::from_secs(30));
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    let took = took.unwrap_or_else(|| panic!("{state}: still running 30 s after SIGTERM; log:\n{log_text}"));
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "shutdown ({state}): exited {:.2} s after SIGTERM",
            took.as_secs_f64()
        );
    }
    assert!(
        log_text.contains("shutdown requested: finishing in-flight reconciles"),
        "{state}: the shutdown is logged; log:\n{log_text}"
    );
    assert!(log_text.contains("stopped"), "{state}: the controller says it stopped; log:\n{log_text}");
    assert!(took < EXIT_BOUND, "{state}: exited {took:?} after SIGTERM, the contract is {EXIT_BOUND:?}");
}

fn log_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}.log", support::unique_name(name)))
}

/// The controller, logging in text to a file (read back by the assertions).
fn start(args: &[&str], kubeconfig: Option<&Path>, aws: Vec<(String, String)>, log: &Path) -> Controller {
    Controller::start_logged(
        &[args, &["--log-format", "text"]].concat(),
        ControllerEnv { kubeconfig, aws, extra: vec![] },
        log,
    )
}

#[tokio::test]
async fn exits_promptly_when_the_crd_is_not_installed() {
    let Some(_client) = cluster("k8s_shutdown").await else { return };
    // A cluster of our own without the CRD: the shared one has it installed by other suites.
    let Some(server) = FreshApiServer::start("k8s_shutdown (CRD not installed)") else { return };
    let kubeconfig = server.kubeconfig.clone();

    let log = log_file("shutdown-nocrd");
    let controller = start(&[], Some(&kubeconfig), support::moto_env(), &log);
    // Not ready, and saying why.
    let body = eventually("/readyz reports the missing CRD", || async {
        match controller.http_get("/readyz").await? {
            (503, body) if body.contains("CRD") => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(body.contains("lambdaaliassets"), "{body}");
    stop_and_check(controller, &log, "CRD not installed");
}

#[tokio::test]
async fn exits_promptly_when_the_api_server_is_unreachable() {
    let Some(_client) = cluster("k8s_shutdown").await else { return };
    // The same kubeconfig, pointed at a loopback port nobody listens on.
    let mut config = kube::config::Kubeconfig::read().expect("kubeconfig");
    let closed = support::cluster::free_port();
    for cluster in &mut config.clusters {
        if let Some(c) = cluster.cluster.as_mut() {
            c.server = Some(format!("https://127.0.0.1:{closed}"));
        }
    }
    let path = std::env::temp_dir().join(support::unique_name("kubeconfig-unreachable"));
    std::fs::write(&path, serde_yaml::to_string(&config).expect("yaml")).expect("write kubeconfig");

    let log = log_file("shutdown-unreachable");
    let controller = start(&[], Some(&path), support::moto_env(), &log);
    eventually("/readyz says the API server cannot be reached", || async {
        match controller.http_get("/readyz").await? {
            (503, body) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    stop_and_check(controller, &log, "API server unreachable");
}

/// An AWS endpoint that throttles every request (HTTP 429, TooManyRequestsException, a long
/// retry hint) and counts them.
async fn throttling_aws() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                // One request per connection: read what arrives, answer, close.
                let _ = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
                seen.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"Type":"User","message":"Rate exceeded","retryAfterSeconds":"30"}"#;
                let response = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
                     x-amzn-ErrorType: TooManyRequestsException\r\nRetry-After: 30\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_promptly_while_aws_throttles_an_in_flight_reconcile() {
    let Some(client) = cluster("k8s_shutdown").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-shutdown-throttle").await;
    let (url, requests) = throttling_aws().await;
    let aws = vec![
        ("AWS_ENDPOINT_URL".to_string(), url),
        ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
    ];
    let log = log_file("shutdown-throttle");
    let controller = start(&["--namespace", &ns], None, aws, &log);
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let set: LambdaAliasSet =
        serde_json::from_value(alexa_set("throttled", "throttled-fn", "Development", 300, "Retain"))
            .expect("set");
    api.create(&PostParams::default(), &set).await.expect("create set");
    // A reconcile is in flight once AWS has been asked (and throttled) at least once.
    eventually("AWS is asked and throttles", || async {
        let n = requests.load(std::sync::atomic::Ordering::SeqCst);
        if n >= 1 { Ok(n) } else { Err(format!("{n} requests")) }
    })
    .await;
    stop_and_check(controller, &log, "AWS throttling");
}

#[tokio::test]
async fn exits_promptly_in_the_middle_of_a_drain() {
    let Some(client) = cluster("k8s_shutdown").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-shutdown-drain").await;
    let lambda = support::lambda().await;
    let function = support::unique_name("shutdown-drain");
    support::create_function(&lambda, &function, "v1").await;
    let log = log_file("shutdown-drain");
    let controller = start(&["--namespace", &ns, "--resync", "5"], None, support::moto_env(), &log);
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    let set: LambdaAliasSet =
        serde_json::from_value(alexa_set("draining", &function, "Certifying", 600, "Retain")).expect("set");
    api.create(&PostParams::default(), &set).await.expect("create set");
    wait_reason(&api, "draining", "Converged").await;
    let patch = json!({"spec": {"certification": {"phase": "Certified"}}});
    api.patch("draining", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("Certified");
    let set = wait_reason(&api, "draining", "Draining").await;
    assert!(set.status.as_ref().and_then(|s| s.drain_until.as_ref()).is_some(), "drainUntil is set");
    stop_and_check(controller, &log, "mid-drain");
}

async fn wait_reason(api: &Api<LambdaAliasSet>, name: &str, reason: &str) -> LambdaAliasSet {
    eventually(&format!("{name}: Ready reason {reason}"), || async {
        let set = api.get(name).await.map_err(|e| e.to_string())?;
        if ready_reason(&set) == reason { Ok(set) } else { Err(ready_reason(&set)) }
    })
    .await
}
