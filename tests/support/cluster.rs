//! The real-cluster half of the harness: which cluster to use (or why none), the CRD, fresh
//! namespaces, ServiceAccount credentials, and the controller binary as a child process.
//!
//! A suite calls [`cluster`] first. With `KUBECONFIG` set it gets a client; without it, on a
//! user's machine, it prints why it skipped and returns `None`; in CI (`CI=true`) a missing
//! cluster is a failure, because `.ci/run` starts `../shared/kube/up` and the suites must run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{AuthInfo, Kubeconfig, NamedAuthInfo};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// Field manager for everything the suites write themselves.
pub const MANAGER: &str = "lac-e2e";

/// Whether this run is CI's (`CI=true`, as `.ci/run` is started).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A client for the cluster `KUBECONFIG` names; `None` (with a printed reason) when there is
/// none on a user's machine; a panic when there is none in CI.
pub async fn cluster(suite: &str) -> Option<Client> {
    match std::env::var_os("KUBECONFIG") {
        Some(path) if !path.is_empty() => Some(
            Client::try_default().await.unwrap_or_else(|e| panic!("KUBECONFIG is set but unusable: {e}")),
        ),
        _ if in_ci() => panic!(
            "{suite}: CI=true but KUBECONFIG is not set. In CI the cluster suites never skip: \
             .ci/run starts a real API server with ../shared/kube/up and exports KUBECONFIG."
        ),
        _ => {
            // Written to the real stderr, past libtest's output capture, so the skip is visible
            // in every `make test` run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {suite}: KUBECONFIG is not set, so there is no cluster to run against. \
                 To run it: `eval \"$(../shared/kube/up --env)\"`, or `kind create cluster` (or \
                 k3d/minikube), then `KUBECONFIG=$HOME/.kube/config make test`."
            );
            None
        }
    }
}

/// Polls until `check` holds; the deadline only guards against a hang, it measures nothing.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
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
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} never happened; last: {last}");
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl ARGS` against the cluster `kubeconfig` names (`None`: the environment's
/// `KUBECONFIG`), from the repository root: (exit code, stdout, stderr).
pub fn kubectl(kubeconfig: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new("kubectl");
    cmd.args(args).current_dir(repo());
    if let Some(path) = kubeconfig {
        cmd.env("KUBECONFIG", path);
    }
    let out = cmd.output().expect("run kubectl (it must be on PATH)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Installs shipped manifests the way the README tells users to, `kubectl apply -f PATH`
/// (client-side apply): the objects keep kubectl's last-applied annotation, so a user's own
/// `kubectl apply` on the same cluster afterwards stays quiet. (Created by server-side apply,
/// they would make kubectl warn that the annotation is missing.)
pub fn kubectl_apply(path: &str) {
    // Tests of one binary run in parallel: a concurrent create of the same object is retried.
    let mut last = String::new();
    for _ in 0..3 {
        match kubectl(None, &["apply", "-f", path]) {
            (0, _, _) => return,
            (_, _, err) => last = err,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("kubectl apply -f {path}: {last}");
}

/// The shipped CRD (crds/), installed as users install it and waited on until Established.
pub async fn apply_crd(client: &Client) {
    kubectl_apply("crds/lambdaaliasset.yaml");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "lambdaaliassets.lambda.aliasset.dev";
    eventually("the CRD is established", || async {
        let c = crds.get(name).await.map_err(|e| e.to_string())?;
        let ok = c
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if ok { Ok(()) } else { Err("not yet".into()) }
    })
    .await;
}

/// A fresh namespace (namespaces never finish deleting on an API server without a
/// controller-manager, so every test takes its own).
pub async fn create_namespace(client: &Client, prefix: &str) -> String {
    let ns = super::unique_name(prefix);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
        )
        .await
        .expect("create namespace");
    ns
}

/// Server-side apply of one object of any kind the cluster serves.
pub async fn apply_object(client: &Client, object: &Value) {
    let obj: kube::api::DynamicObject = serde_json::from_value(object.clone()).expect("object");
    let gvk =
        kube::api::GroupVersionKind::try_from(obj.types.as_ref().expect("apiVersion and kind")).expect("gvk");
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk).await.expect("kind is served");
    let api: Api<kube::api::DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
        (kube::discovery::Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
        (kube::discovery::Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &resource),
        (kube::discovery::Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
    };
    api.patch(&obj.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&obj))
        .await
        .unwrap_or_else(|e| panic!("apply {} {}: {e}", gvk.kind, obj.name_any()));
}

/// A kubeconfig file that authenticates as `namespace/service_account` with a fresh bound
/// token (TokenRequest), against the same server and CA as the admin's kubeconfig.
pub async fn service_account_kubeconfig(
    client: &Client,
    namespace: &str,
    service_account: &str,
    dir: &Path,
) -> PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .expect("token request");
    let token = accounts
        .create_token_request(service_account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {namespace}/{service_account}: {e}"))
        .status
        .expect("token status")
        .token;
    let mut config = Kubeconfig::read().expect("read the admin kubeconfig");
    let user = format!("{namespace}-{service_account}");
    config.auth_infos = vec![NamedAuthInfo {
        name: user.clone(),
        auth_info: Some(AuthInfo { token: Some(token.into()), ..AuthInfo::default() }),
        ..NamedAuthInfo::default()
    }];
    for context in &mut config.contexts {
        if let Some(c) = context.context.as_mut() {
            c.user = Some(user.clone());
            c.namespace = Some(namespace.to_string());
        }
    }
    let path = dir.join(format!("kubeconfig-{namespace}-{service_account}"));
    std::fs::write(&path, serde_yaml::to_string(&config).expect("kubeconfig yaml"))
        .expect("write kubeconfig");
    path
}

/// The chart's ServiceAccount and RBAC for `values` (release `lac` in `release_ns`), applied as
/// rendered. Returns the objects and a kubeconfig (in `dir`) that authenticates as that
/// ServiceAccount.
pub async fn install_chart_rbac(
    client: &Client,
    release_ns: &str,
    values: &Value,
    dir: &Path,
) -> (Vec<Value>, PathBuf) {
    let rendered = render_chart(release_ns, "lac", values);
    let rbac = objects_of_kinds(
        &rendered,
        &["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
    );
    for object in &rbac {
        apply_object(client, object).await;
    }
    let account = rbac
        .iter()
        .find(|o| o["kind"] == "ServiceAccount")
        .and_then(|o| o["metadata"]["name"].as_str())
        .expect("the chart's ServiceAccount")
        .to_string();
    let kubeconfig = service_account_kubeconfig(client, release_ns, &account, dir).await;
    (rbac, kubeconfig)
}

/// Merges `annotations` into the Namespace `ns` (`null` removes one).
pub async fn annotate_namespace(client: &Client, ns: &str, annotations: Value) {
    let patch = json!({"metadata": {"annotations": annotations}});
    Api::<Namespace>::all(client.clone())
        .patch(ns, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate the namespace");
}

/// Creates the LambdaAliasSet `set` (JSON) in `ns`; returns its name.
pub async fn create_set(client: &Client, ns: &str, set: Value) -> String {
    let name = set["metadata"]["name"].as_str().expect("name").to_string();
    let obj: lambda_alias_controller::api::LambdaAliasSet = serde_json::from_value(set).expect("set");
    Api::<lambda_alias_controller::api::LambdaAliasSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    name
}

/// Waits for the Ready reason `reason` of `ns/name` at its generation; returns its message.
pub async fn wait_reason(client: &Client, ns: &str, name: &str, reason: &str) -> String {
    let api: Api<lambda_alias_controller::api::LambdaAliasSet> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{ns}/{name}: {reason}"), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        let c = obj.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
        let (got, message) = c.map(|c| (c.reason.clone(), c.message.clone())).unwrap_or_default();
        let observed = obj.status.as_ref().and_then(|s| s.observed_generation) == obj.metadata.generation;
        if got == reason && observed { Ok(message) } else { Err(format!("{got}: {message}")) }
    })
    .await
}

/// A free loopback port for a controller's HTTP endpoints.
/// The LambdaAliasSet `name` as the Table API returns it (the printer columns kubectl shows).
pub async fn table(client: &Client, ns: &str, name: &str) -> Value {
    let text = client
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
    serde_json::from_str(&text).expect("table json")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// The controller binary (`run`), stopped with SIGTERM and reaped when dropped.
pub struct Controller {
    child: Option<Child>,
    pub port: u16,
}

/// What `run` needs besides its flags: AWS (moto) and which kubeconfig to use.
pub struct ControllerEnv<'a> {
    pub kubeconfig: Option<&'a Path>,
    pub aws: Vec<(String, String)>,
    pub extra: Vec<(String, String)>,
}

impl Controller {
    /// Starts `run` with `args` (plus `--http-addr` on a free port); stderr is inherited so a
    /// failing test shows the controller's log.
    pub fn start(args: &[&str], env: ControllerEnv<'_>) -> Controller {
        Controller::spawn(args, env, Stdio::inherit())
    }

    /// Like [`Controller::start`], with the log (stderr) written to `log` for the test to read.
    pub fn start_logged(args: &[&str], env: ControllerEnv<'_>, log: &Path) -> Controller {
        let file = std::fs::File::create(log).expect("create the controller's log file");
        Controller::spawn(args, env, Stdio::from(file))
    }

    fn spawn(args: &[&str], env: ControllerEnv<'_>, stderr: Stdio) -> Controller {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lambda-alias-controller"));
        cmd.arg("run").args(args).args(["--http-addr", &format!("127.0.0.1:{port}")]);
        cmd.envs(env.aws).envs(env.extra).env_remove("AWS_PROFILE");
        if let Some(path) = env.kubeconfig {
            cmd.env("KUBECONFIG", path);
        }
        let child = cmd.stdout(Stdio::null()).stderr(stderr).spawn().expect("start the controller");
        Controller { child: Some(child), port }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// One GET on the controller's HTTP endpoints: (status code, body).
    pub async fn http_get(&self, path: &str) -> Result<(u16, String), String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream =
            tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.map_err(|e| e.to_string())?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response))
            .await
            .map_err(|_| "no answer in 10 s".to_string())?
            .map_err(|e| e.to_string())?;
        let code = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("not HTTP: {response}"))?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Ok((code, body))
    }

    /// The value of an unlabelled-or-summed Prometheus series `name{...}` on /metrics.
    pub async fn metric_sum(&self, name: &str) -> Result<f64, String> {
        let (_, body) = self.http_get("/metrics").await?;
        Ok(body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum())
    }

    /// Sends SIGTERM and waits for the exit, at most `limit`: the time it took, or `None` if
    /// it was still running (it is then killed).
    pub fn terminate(&mut self, limit: Duration) -> Option<Duration> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        while started.elapsed() < limit {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid; no memory is touched.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Helm chart rendered for `namespace` (`helm template` through helm-python-sdk, in the
/// test venv: `tests/deploy/render_chart.py`), as multi-document YAML.
pub fn render_chart(namespace: &str, release: &str, values: &Value) -> String {
    let python = super::moto_python_path();
    let out = Command::new(python)
        .arg(repo().join("tests/deploy/render_chart.py"))
        .args(["--namespace", namespace, "--release", release, "--values", &values.to_string()])
        .output()
        .expect("run tests/deploy/render_chart.py");
    assert!(out.status.success(), "render_chart.py: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 YAML")
}

/// The documents of a multi-document YAML text whose kind is one of `kinds`.
pub fn objects_of_kinds(text: &str, kinds: &[&str]) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_json::to_value(serde_yaml::Value::deserialize(doc).expect("yaml")).expect("json"))
        .filter(|v| v["kind"].as_str().is_some_and(|k| kinds.contains(&k)))
        .collect()
}

/// Lines of the controller's log file that contain `needle`.
pub fn log_lines(log: &Path, needle: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// A second, empty API server of our own (`../shared/kube/up` with its own state directory), for
/// what the shared cluster cannot show: a first install, a cluster without the CRD. Stopped and
/// removed when dropped.
pub struct FreshApiServer {
    pub kubeconfig: PathBuf,
    up: PathBuf,
    state: PathBuf,
}

impl FreshApiServer {
    /// Starts one; `None` (with a printed reason) where `../shared/kube/up` is not beside the
    /// checkout on a user's machine; in CI its absence is a failure.
    pub fn start(suite: &str) -> Option<FreshApiServer> {
        let up = repo().join("../shared/kube/up");
        if !up.exists() {
            assert!(!in_ci(), "{suite}: {} is missing: CI must be able to start an API server", up.display());
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {suite}: it needs an empty API server of its own, started with {} (the \
                 project workspace's shared/kube), which is not here",
                up.display()
            );
            return None;
        }
        let state = std::env::temp_dir().join(super::unique_name("lac-kube-fresh"));
        let out = Command::new(&up).env("KUBE_STATE", &state).output().expect("run kube/up");
        let server = FreshApiServer {
            kubeconfig: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            up,
            state,
        };
        assert!(out.status.success(), "kube/up: {}", String::from_utf8_lossy(&out.stderr));
        Some(server)
    }

    /// `kubectl ARGS` against this server: (exit code, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        kubectl(Some(&self.kubeconfig), args)
    }
}

impl Drop for FreshApiServer {
    fn drop(&mut self) {
        let _ = Command::new(self.up.with_file_name("down"))
            .arg("--wipe")
            .env("KUBE_STATE", &self.state)
            .output();
        // The state holds a copy of the API server binary: leave nothing behind.
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// The small set the controller suites create: one function, the default alias pair, one Alexa
/// trigger.
pub fn alexa_set(name: &str, function: &str, phase: &str, drain_seconds: u32, policy: &str) -> Value {
    json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": name},
        "spec": {
            "functionName": function,
            "drainSeconds": drain_seconds,
            "deletionPolicy": policy,
            "certification": {"phase": phase},
            "triggers": [{"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.e2e"}}]
        }
    })
}

/// The Secret `smapi` in `ns` holding `credentials` (what `spec.alexa.credentialsSecretRef` names).
pub async fn create_credentials_secret(
    client: &kube::Client,
    ns: &str,
    credentials: &lambda_alias_controller::alexa::AlexaCredentials,
) {
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "smapi", "namespace": ns},
        "stringData": {
            "clientId": credentials.client_id,
            "clientSecret": credentials.client_secret,
            "refreshToken": credentials.refresh_token,
        }
    }))
    .expect("secret");
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), ns)
        .create(&Default::default(), &secret)
        .await
        .expect("secret");
}
