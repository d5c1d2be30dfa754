//! The Kubernetes side of the bench: which API server (`KUBECONFIG`, else one of our own from
//! `../shared/kube/up`), creating the sets, and a watch that records when each set converged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::json;

use crate::{probe, sets};

/// Where our own API server keeps its state: apart from the shared one (`/tmp/shared-kube`).
const OWN_STATE: &str = "/tmp/lac-bench-kube";

/// An API server the bench started (stopped and wiped when dropped), or the one `KUBECONFIG`
/// names (left as it is).
pub struct ApiServer {
    own: Option<PathBuf>,
    pub kubeconfig: PathBuf,
}

impl ApiServer {
    /// `KUBECONFIG` when set; otherwise `../shared/kube/up` with a state directory of our own.
    pub fn from_env() -> Result<ApiServer, String> {
        if let Some(path) = std::env::var_os("KUBECONFIG").filter(|p| !p.is_empty()) {
            return Ok(ApiServer { own: None, kubeconfig: PathBuf::from(path) });
        }
        let up = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/kube/up");
        if !up.exists() {
            return Err(format!(
                "KUBECONFIG is not set and {} is missing: no API server to run against",
                up.display()
            ));
        }
        // A server left running by an interrupted bench holds its objects: start empty, on ports
        // picked afresh (the last run's may not be free yet). Once more if that fails.
        let start = || {
            let _ =
                Command::new(up.with_file_name("down")).arg("--wipe").env("KUBE_STATE", OWN_STATE).output();
            let _ = std::fs::remove_file(PathBuf::from(OWN_STATE).join("ports"));
            Command::new(&up).env("KUBE_STATE", OWN_STATE).output().map_err(|e| format!("kube/up: {e}"))
        };
        eprintln!("starting an API server of our own ({OWN_STATE})");
        let mut out = start()?;
        if !out.status.success() {
            eprintln!("kube/up failed, trying once more: {}", String::from_utf8_lossy(&out.stderr).trim());
            out = start()?;
        }
        let server = ApiServer {
            own: Some(up.with_file_name("down")),
            kubeconfig: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        };
        if !out.status.success() {
            return Err(format!("kube/up failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(server)
    }

    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(down) = &self.own {
            let _ = Command::new(down).arg("--wipe").env("KUBE_STATE", OWN_STATE).output();
        }
    }
}

/// Creates the `n` sets, `parallel` requests at once.
pub async fn create_sets(client: &Client, namespace: &str, n: usize, parallel: usize) -> Result<(), String> {
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let object = sets::object(namespace, i);
                let mut last = String::new();
                for _ in 0..3 {
                    match api.create(&PostParams::default(), &object).await {
                        Ok(_) => return Ok(()),
                        Err(e) => last = e.to_string(),
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(format!("create {}: {last}", object.name_any()))
            }
        })
        .buffer_unordered(parallel)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// Sets one set's certification phase (a merge patch, as `kubectl patch` sends): the new
/// generation.
pub async fn set_phase(client: &Client, namespace: &str, i: usize, phase: &str) -> Result<i64, String> {
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"spec": {"certification": {"phase": phase}}});
    let object = api
        .patch(&sets::set_name(i), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| format!("patch {}: {e}", sets::set_name(i)))?;
    object.metadata.generation.ok_or_else(|| format!("{}: no generation", sets::set_name(i)))
}

/// What the watch knows of one set.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    generation: i64,
    /// The highest generation seen converged (observedGeneration == generation, Ready=True).
    converged: i64,
    /// When `converged` was first seen ([`probe::monotonic_ns`]).
    at: u64,
    /// Whether the controller has written a status yet.
    has_status: bool,
}

/// Convergence of every set, as a watch on the namespace sees it.
#[derive(Clone, Default)]
pub struct Tracker {
    sets: Arc<Mutex<HashMap<String, Seen>>>,
    listed: Arc<std::sync::atomic::AtomicBool>,
}

impl Tracker {
    /// Starts watching `namespace` (the task ends with the runtime).
    pub fn start(client: &Client, namespace: &str) -> Tracker {
        let tracker = Tracker::default();
        let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), namespace);
        let t = tracker.clone();
        tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => t.seen(&o),
                    Ok(watcher::Event::InitDone) => t.listed.store(true, std::sync::atomic::Ordering::SeqCst),
                    Ok(_) => {}
                    Err(e) => eprintln!("watch: {e}"),
                }
            }
        });
        tracker
    }

    fn seen(&self, o: &LambdaAliasSet) {
        let generation = o.metadata.generation.unwrap_or(0);
        let status = o.status.as_ref();
        let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
        let ready =
            status.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let seen = sets.entry(o.name_any()).or_default();
        seen.generation = seen.generation.max(generation);
        seen.has_status |= status.is_some();
        if ready && observed == generation && observed > seen.converged {
            seen.converged = observed;
            seen.at = probe::monotonic_ns();
        }
    }

    /// Whether the initial list is done.
    pub fn listed(&self) -> bool {
        self.listed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sets converged at their latest generation.
    pub fn converged(&self) -> usize {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.values().filter(|s| s.generation > 0 && s.converged == s.generation).count()
    }

    /// A set converged at its latest generation, if any.
    pub fn any_converged(&self) -> Option<String> {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.iter()
            .find(|(_, s)| s.generation > 0 && s.converged == s.generation)
            .map(|(name, _)| name.clone())
    }

    /// Sets the controller has not written a status for yet.
    pub fn without_status(&self) -> usize {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.values().filter(|s| !s.has_status).count()
    }

    /// When `name` was first seen converged at `generation` or later ([`probe::monotonic_ns`]).
    pub fn converged_at(&self, name: &str, generation: i64) -> Option<u64> {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.get(name).filter(|s| s.converged >= generation).map(|s| s.at)
    }
}

/// Events (events.k8s.io) in the namespace, counted by pages of metadata.
pub async fn count_events(client: &Client, namespace: &str) -> Result<usize, String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), namespace);
    let mut count = 0;
    let mut params = ListParams::default().limit(500);
    loop {
        let page = api.list_metadata(&params).await.map_err(|e| format!("list events: {e}"))?;
        count += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(count),
        }
    }
}

/// The size of one set as the API server sends it to a watch, and its managedFields' share.
pub async fn object_size(client: &Client, namespace: &str, name: &str) -> Result<(usize, usize), String> {
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), namespace);
    let object = api.get(name).await.map_err(|e| format!("get: {e}"))?;
    let whole = serde_json::to_vec(&object).map_err(|e| e.to_string())?.len();
    let managed = serde_json::to_vec(&object.metadata.managed_fields).map_err(|e| e.to_string())?.len();
    Ok((whole, managed))
}

/// Leaves a cluster we do not own as we found it: the controller is stopped, so the finalizers
/// are dropped by hand before the sets are deleted.
pub async fn remove_sets(client: &Client, namespace: &str, n: usize) -> Result<(), String> {
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"metadata": {"finalizers": null}});
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let patch = patch.clone();
            async move {
                let _ = api.patch(&sets::set_name(i), &PatchParams::default(), &Patch::Merge(&patch)).await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .map(|_| ())
        .map_err(|e| format!("delete the sets: {e}"))
}
