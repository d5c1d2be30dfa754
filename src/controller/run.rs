//! `lambda-alias-controller run`: wires the reconcile to the watch, the HTTP endpoints, leader
//! election and graceful shutdown.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, reflector};
use kube::runtime::watcher;
use tokio::sync::watch;

use super::drift_events::index::Defaults;
use super::drift_events::{Feed, KubeBooker, Located, Own, Queue, Sets, SqsQueue};
use super::events::RecorderSink;
use super::http::{self, Probe};
use super::metrics::Metrics;
use super::{Context, LambdaProvider, MANAGER, SetMeta, error_policy, reconcile_meta, system_clock};
use crate::api::LambdaAliasSet;
use crate::aws::budget::{BudgetLimits, Budgets, CallCounter, Metered};
use crate::aws::client::{AwsSettings, sdk_config};
use crate::aws::connections::Connections;
use crate::aws::sdk::SdkSqs;
use crate::aws::sqs::{account_of_queue, region_of_queue};

/// After SIGTERM, in-flight reconciles get this long to finish; then they are dropped. That is
/// safe because every reconcile observes AWS from scratch and a swap has a single write as its
/// commit point: the next run (or the next leader) resumes from whatever is true. Without this
/// bound kube's Controller never ends while its store waits for a first list that cannot
/// succeed (CRD not installed, API server unreachable), and a reconcile waiting out an AWS
/// throttling hint would hold the pod until the kubelet kills it.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long the HTTP endpoints and the Lease release may each take on the way out (past it, the
/// Lease expires on its own): with the grace and the runtime's own second, the process is gone
/// within 5 s of SIGTERM in every state.
const STEP_TIMEOUT: Duration = Duration::from_millis(500);
/// kubectl's copy of the last applied manifest, dropped from the watch's cache.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// How often sets that left the watch are forgotten (metrics, drift schedule).
const PRUNE_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Empty: all namespaces.
    pub namespaces: Vec<String>,
    pub http_addr: SocketAddr,
    pub concurrency: u16,
    pub resync: Duration,
    pub leader_elect: bool,
    pub aws: AwsSettings,
    /// Where SMAPI and Login with Amazon are, for Alexa-aware sets.
    pub smapi: crate::alexa::SmapiSettings,
    /// `--shard`: a label selector; only the sets it selects are reconciled by this replica.
    pub shard: Option<String>,
    /// `--drift-budget`: the fraction of each quota pool periodic drift checks may use.
    pub drift_budget: f64,
    /// `--budget-share`: the fraction of the account's quotas this replica spends (shards split it).
    pub budget_share: f64,
    /// `--tenancy`: open (any set may target any function) or strict (Namespace annotations).
    pub tenancy: crate::tenancy::Tenancy,
    /// `--cluster-name`: the first half of the derived ExternalId (strict).
    pub cluster_name: Option<String>,
    /// Who the controller's own credentials are (strict: `run` asks STS before it starts).
    pub caller: Option<crate::tenancy::Caller>,
    /// `--drift-events-queue`: the SQS queue of CloudTrail's Lambda events.
    pub drift_events_queue: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            namespaces: Vec::new(),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            concurrency: 4,
            resync: Duration::from_secs(300),
            leader_elect: false,
            aws: AwsSettings::default(),
            smapi: crate::alexa::SmapiSettings::default(),
            shard: None,
            drift_budget: crate::aws::budget::DEFAULT_DRIFT_SHARE,
            budget_share: 1.0,
            tenancy: crate::tenancy::Tenancy::Open,
            cluster_name: None,
            caller: None,
            drift_events_queue: None,
        }
    }
}

/// What `run` builds from the environment and [`run_with`] takes as given: the benchmark (and
/// any embedding) passes its own AWS provider, budgets and call counter.
pub struct Wiring<P: LambdaProvider> {
    pub client: kube::Client,
    pub aws: P,
    pub budgets: Budgets,
    pub calls: CallCounter,
    /// Why the controller is not ready to call AWS, if it is not (no credentials provider).
    pub aws_ready: Result<(), String>,
    /// Drift events, when `--drift-events-queue` is given.
    pub drift_events: Option<DriftEvents>,
}

/// What the drift-event feed is given: the queue, and who the controller is.
pub struct DriftEvents {
    pub queue: Arc<dyn Queue>,
    /// Whose writes are the controller's own (not drift).
    pub own: Own,
    /// The account and region of sets that name none.
    pub defaults: Defaults,
}

/// The queue of `--drift-events-queue` through the seam (budget, count, retries), and who the
/// controller is (STS GetCallerIdentity). Without an answer from STS the controller still
/// starts: bare function names then match events of any account, and only assumed-role
/// sessions are told apart as its own writes.
async fn drift_events(
    url: &str,
    options: &RunOptions,
    base: &aws_config::SdkConfig,
    budgets: &Budgets,
    calls: &CallCounter,
) -> DriftEvents {
    let config = match region_of_queue(url) {
        Some(region) => {
            sdk_config(&AwsSettings { region: Some(region.to_owned()), ..options.aws.clone() }).await
        }
        None => base.clone(),
    };
    let identity = match crate::aws::client::caller_identity(base).await {
        Ok(identity) => Some(identity),
        Err(error) => {
            tracing::warn!(%error, "drift events: the controller's own identity is unknown; bare function names match events of any account");
            None
        }
    };
    let account = account_of_queue(url)
        .map(str::to_owned)
        .or_else(|| identity.as_ref().map(|(c, _)| c.account.clone()))
        .unwrap_or_else(|| "default".to_string());
    let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "default".to_string());
    let api = Metered::new(SdkSqs::from_config(&config), account, region, budgets.clone(), calls.clone());
    let default_region = base.region().map(|r| r.to_string());
    DriftEvents {
        queue: Arc::new(SqsQueue { api, url: url.to_owned() }),
        own: Own {
            caller_arn: identity.as_ref().map(|(_, arn)| arn.clone()),
            session_name: crate::aws::client::SESSION_NAME.to_string(),
        },
        defaults: Defaults { account: identity.map(|(c, _)| c.account), region: default_region },
    }
}

/// Readiness: the CRD can be listed (where the controller watches, so namespaced RBAC is
/// enough) and AWS credentials are configured.
struct ControllerProbe {
    sets: Api<LambdaAliasSet>,
    metrics: Arc<Metrics>,
    calls: CallCounter,
    budgets: Budgets,
    aws_ready: Result<(), String>,
    shard: Option<String>,
}

impl Probe for ControllerProbe {
    fn metrics(&self) -> String {
        self.metrics.render(&self.calls, &self.budgets)
    }

    fn ready(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.aws_ready.clone()?;
            let mut params = ListParams::default().limit(1);
            if let Some(selector) = &self.shard {
                params = params.labels(selector);
            }
            self.sets
                .list_metadata(&params)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot list lambdaaliassets (is the CRD installed?): {e}"))
        })
    }
}

/// Marks one reconcile in flight for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves once shutdown was requested (SIGTERM or Ctrl-C, or leadership lost).
fn requested(mut rx: watch::Receiver<bool>) -> impl Future<Output = ()> + Send + Sync + 'static {
    let (tx, done) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = rx.wait_for(|stop| *stop).await;
        let _ = tx.send(());
    });
    async move {
        let _ = done.await;
    }
}

async fn signals(tx: watch::Sender<bool>) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested: finishing in-flight reconciles");
    let _ = tx.send(true);
}

/// The budgets of `--budget-share` of AWS's quotas, `--drift-budget` of which drift checks use.
pub fn budgets_for(options: &RunOptions) -> Result<Budgets, String> {
    for (flag, value) in [("--budget-share", options.budget_share), ("--drift-budget", options.drift_budget)]
    {
        if !(value.is_finite() && value > 0.0 && value <= 1.0) {
            return Err(format!("{flag} must be a fraction in (0, 1], got {value}"));
        }
    }
    Ok(Budgets::with_drift_share(BudgetLimits::default().scaled(options.budget_share), options.drift_budget))
}

/// Runs until SIGTERM; returns an error when it cannot start or loses leadership.
pub async fn run(options: RunOptions) -> Result<(), String> {
    let budgets = budgets_for(&options)?;
    let client =
        kube::Client::try_default().await.map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    let calls = CallCounter::new();
    let base = sdk_config(&options.aws).await;
    let aws_ready = if base.credentials_provider().is_some() {
        Ok(())
    } else {
        Err("no AWS credentials provider is configured".to_string())
    };
    let mut options = options;
    if options.tenancy == crate::tenancy::Tenancy::Strict {
        if options.cluster_name.as_deref().is_none_or(str::is_empty) {
            return Err(
                "--tenancy strict needs --cluster-name: the ExternalId sent is <cluster-name>/<namespace>"
                    .into(),
            );
        }
        options.caller = Some(crate::aws::client::caller(&base).await?);
    }
    let connections = Connections::new(options.aws.clone(), budgets.clone(), calls.clone());
    let drift_events = match &options.drift_events_queue {
        Some(url) => Some(drift_events(url, &options, &base, &budgets, &calls).await),
        None => None,
    };
    let (stop_tx, _) = watch::channel(false);
    tokio::spawn(signals(stop_tx.clone()));
    let wiring = Wiring { client, aws: connections, budgets, calls, aws_ready, drift_events };
    run_with(options, wiring, stop_tx).await
}

/// The controller with its AWS side given: what `run` does once it has built clients. Stops
/// when `stop` is set (by a signal, by leadership lost, or by the caller).
pub async fn run_with<P: LambdaProvider>(
    options: RunOptions,
    wiring: Wiring<P>,
    stop_tx: watch::Sender<bool>,
) -> Result<(), String> {
    let Wiring { client, aws, budgets, calls, aws_ready, drift_events } = wiring;
    let stop_rx = stop_tx.subscribe();
    let smapi = crate::alexa::Smapi::new(&options.smapi).map_err(|e| e.to_string())?;
    let metrics = Arc::new(Metrics::new());
    metrics.resync(options.resync);
    let counted = metrics.clone();
    smapi.on_request(Arc::new(move |operation, outcome| counted.smapi_request(operation, outcome)));
    let gate = match (options.tenancy, &options.caller) {
        (crate::tenancy::Tenancy::Strict, Some(caller)) => {
            let cluster = options.cluster_name.clone().unwrap_or_default();
            tracing::info!(cluster = %cluster, account = %caller.account, "tenancy strict: a set runs only if its Namespace's annotations allow its function and role");
            Arc::new(super::tenancy::Gate::strict(cluster, caller.clone()))
        }
        (crate::tenancy::Tenancy::Strict, None) => {
            return Err("--tenancy strict: the controller's AWS identity is unknown".to_string());
        }
        (crate::tenancy::Tenancy::Open, _) => {
            tracing::info!(
                "tenancy open: a set in any namespace may target any function (and assume any role) the controller's credentials reach; see --tenancy strict"
            );
            Arc::new(super::tenancy::Gate::open())
        }
    };
    let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context {
        client: client.clone(),
        aws,
        events: Arc::new(RecorderSink::new(client.clone(), reporter)),
        metrics: metrics.clone(),
        calls: calls.clone(),
        resync: options.resync,
        drift: super::drift::Scheduler::new(options.resync, &budgets, options.concurrency),
        tenancy: gate.clone(),
        clock: system_clock(),
        skills: Arc::new(super::skills::SmapiSkills { client: client.clone(), smapi }),
    });

    let listener = http::bind(options.http_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.http_addr))?;
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /metrics, /healthz, /readyz");
    let sets = match options.namespaces.first() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    if let Some(selector) = &options.shard {
        // A selector the API server refuses would make every watch fail: refuse to start instead.
        // (Any other failure here is the watch's to report and retry.)
        if let Err(kube::Error::Api(e)) =
            sets.list_metadata(&ListParams::default().labels(selector).limit(1)).await
            && e.code == 400
        {
            return Err(format!("--shard {selector:?} is not a valid label selector: {}", e.message));
        }
    }
    let probe =
        Arc::new(ControllerProbe { sets, metrics, calls, budgets, aws_ready, shard: options.shard.clone() });
    let server = tokio::spawn(http::serve(listener, probe, requested(stop_rx.clone())));

    let mut leadership = None;
    if options.leader_elect {
        let lease = lease_name(options.shard.as_deref());
        ctx.metrics.leading(&lease, false);
        let Some((receiver, manager)) =
            elect(client.clone(), options.shard.as_deref(), stop_rx.clone()).await?
        else {
            let _ = stop_tx.send(true);
            let _ = tokio::time::timeout(STEP_TIMEOUT, server).await;
            return Ok(());
        };
        ctx.metrics.leading(&lease, true);
        let mut watch_loss = receiver.clone();
        let stop = stop_tx.clone();
        let metrics = ctx.metrics.clone();
        let monitor = tokio::spawn(async move {
            if watch_loss.wait_for(|leader| !*leader).await.is_ok() {
                metrics.leading(&lease, false);
                tracing::error!("leadership lost: stopping so another replica takes over");
                let _ = stop.send(true);
            }
        });
        leadership = Some((receiver, monitor, manager));
    } else {
        ctx.metrics.leading("", true);
    }

    let apis: Vec<(Option<String>, Api<SetMeta>)> = if options.namespaces.is_empty() {
        vec![(None, Api::all(client.clone()))]
    } else {
        options.namespaces.iter().map(|ns| (Some(ns.clone()), Api::namespaced(client.clone(), ns))).collect()
    };
    if gate.is_strict() {
        // Every Namespace's annotations before the first reconcile, so that no set is refused
        // (or allowed) on an empty cache.
        for (namespace, _) in &apis {
            let mut params = ListParams::default();
            if let Some(ns) = namespace {
                params = params.fields(&format!("metadata.name={ns}"));
            }
            let listed = Api::<Namespace>::all(client.clone()).list_metadata(&params).await.map_err(|e| {
                format!(
                    "--tenancy strict: cannot list Namespaces (their annotations say what a set may use): {e}"
                )
            })?;
            for ns in listed.items {
                gate.update(&ns.name_any(), ns.metadata.annotations.unwrap_or_default());
            }
        }
    }
    // Drift events: only the leader (of its shard) reads the queue, and books checks for the
    // sets of every shard (drift_events.rs).
    let mut feed_tasks = Vec::new();
    if let Some(drift) = drift_events {
        let sets = Arc::new(Sets::default());
        let mut ready = Vec::new();
        for (source, (namespace, _)) in apis.iter().enumerate() {
            let api: Api<Located> = match namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let (tx, rx) = watch::channel(false);
            ready.push(rx);
            feed_tasks.push(tokio::spawn(sets.clone().follow(source, api, drift.defaults.clone(), tx)));
        }
        let feed = Feed {
            queue: drift.queue,
            sets,
            booker: Arc::new(KubeBooker { client: client.clone() }),
            own: drift.own,
            metrics: ctx.metrics.clone(),
            events: ctx.events.clone(),
            regarding: own_pod(),
            clock: ctx.clock.clone(),
        };
        feed_tasks.push(tokio::spawn(feed.run(ready, stop_rx.clone())));
    }
    // Counts reconciles in flight, so that shutdown waits for them and for nothing else.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut stores = Vec::new();
    let controllers: Vec<_> = apis
        .into_iter()
        .map(|(namespace, api)| {
            let in_flight = in_flight.clone();
            // Paged initial lists (500 sets a page), not `any_semantic`: that asks the API
            // server's cache, which ignores the page size and sends every set in one body (31 MB
            // at 10,000 sets, held while it is parsed).
            let mut config = watcher::Config::default();
            if let Some(selector) = &options.shard {
                config = config.labels(selector);
            }
            let (reader, watch) = watch_sets(api, config);
            let mut controller = Controller::for_stream(watch, reader);
            stores.push(controller.store());
            if gate.is_strict() {
                // A change of a Namespace's annotations re-reconciles its sets, and the gate
                // sees the new annotations before they run.
                let mut config = watcher::Config::default();
                if let Some(ns) = &namespace {
                    config = config.fields(&format!("metadata.name={ns}"));
                }
                let (gate, store) = (gate.clone(), controller.store());
                controller = controller.watches(
                    Api::<Namespace>::all(client.clone()),
                    config,
                    move |ns: Namespace| {
                        let name = ns.name_any();
                        gate.update(&name, ns.metadata.annotations.clone().unwrap_or_default());
                        store
                            .state()
                            .into_iter()
                            .filter(|set| set.namespace().as_deref() == Some(name.as_str()))
                            .map(|set| ObjectRef::from_obj(&*set))
                            .collect::<Vec<_>>()
                    },
                );
            }
            controller
                .with_config(Config::default().concurrency(options.concurrency))
                .graceful_shutdown_on(requested(stop_rx.clone()))
                .run(
                    move |obj, ctx| {
                        let guard = InFlight::enter(&in_flight);
                        async move {
                            let _guard = guard;
                            reconcile_meta(obj, ctx).await
                        }
                    },
                    error_policy,
                    ctx.clone(),
                )
                .for_each(|result| async move {
                    match result {
                        Ok((object, _)) => tracing::debug!(set = %object, "reconciled"),
                        // The watch itself failed (RBAC, CRD missing, API server unreachable): say
                        // so, or a controller that cannot see its sets looks idle and healthy.
                        Err(kube::runtime::controller::Error::QueueError(e)) => {
                            tracing::warn!(error = %e, "cannot watch LambdaAliasSets")
                        }
                        // Failed reconciles are logged by error_policy, with the set's name.
                        Err(e) => tracing::debug!(error = %e, "reconcile error"),
                    }
                })
        })
        .collect();
    // A set that leaves the watch without a reconcile (relabelled out of --shard, or deleted
    // while its finalizer was gone) leaves the gauge of sets and the drift schedule here.
    let pruner = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            // No `wait_until_ready` here: kube-runtime 5's store wakes only its last waiter, and
            // that must be the controller's runner. Nor is it needed: before the first list no
            // reconcile has run, so there is nothing to forget, and a relist keeps the old
            // objects until the new list is complete.
            loop {
                tokio::time::sleep(PRUNE_EVERY).await;
                let sets: Vec<Arc<SetMeta>> = stores.iter().flat_map(|s| s.state()).collect();
                let keys: HashSet<String> = sets.iter().map(|o| super::key_of(&**o)).collect();
                let uids: HashSet<String> = sets
                    .iter()
                    .map(|o| o.metadata.uid.clone().unwrap_or_else(|| super::key_of(&**o)))
                    .collect();
                ctx.metrics.retain(&keys);
                ctx.drift.retain(&uids);
            }
        }
    });
    let drained = {
        let mut stop = stop_rx.clone();
        let in_flight = in_flight.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
            let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
            while in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        () = drained => {
            let left = in_flight.load(Ordering::SeqCst);
            if left > 0 {
                tracing::warn!(
                    reconciles = left,
                    grace_seconds = SHUTDOWN_GRACE.as_secs(),
                    "in-flight reconciles did not finish in time: stopping them (the next run resumes from AWS)"
                );
            }
        }
    }
    pruner.abort();
    for task in feed_tasks {
        task.abort();
    }
    let _ = stop_tx.send(true);
    if tokio::time::timeout(STEP_TIMEOUT, server).await.is_err() {
        tracing::warn!("the HTTP endpoints did not stop in time");
    }
    if let Some((receiver, monitor, manager)) = leadership {
        let lost = !*receiver.borrow();
        // The Lease is released once every receiver is gone, so it shows no holder: a waiting
        // replica takes it within FOLLOWER_RETRY.
        monitor.abort();
        let _ = monitor.await;
        drop(receiver);
        if tokio::time::timeout(STEP_TIMEOUT, manager).await.is_err() {
            tracing::warn!("the Lease was not released in time; it expires on its own");
        }
        if lost {
            return Err("lost leadership".to_string());
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The watch of the sets as the controller keeps it, and its store: metadata only (the
/// whole object is read when a reconcile needs it, see [`reconcile_meta`]), without
/// managedFields and kubectl's last-applied copy of the spec: ≈2.4 KB per set in the store
/// instead of ≈5 KB with spec and status, ≈18 KB with managedFields too (`make bench`). The initial list is
/// paged (`config`'s page size), never `any_semantic`, which makes the API server's cache send
/// every set in one body.
pub fn watch_sets(
    api: Api<SetMeta>,
    config: watcher::Config,
) -> (reflector::Store<SetMeta>, impl futures::Stream<Item = Result<SetMeta, watcher::Error>> + Send + 'static)
{
    let (reader, writer) = reflector::store();
    // `Api<PartialObjectMeta<_>>` lists and watches metadata only.
    let watch = watcher::watcher(api, config).modify(|set: &mut SetMeta| {
        set.managed_fields_mut().clear();
        set.annotations_mut().remove(LAST_APPLIED);
    });
    (reader, reflector(writer, watch).applied_objects())
}

/// The controller's Pod (`POD_NAMESPACE`/`POD_NAME` from the downward API, else `default` and
/// the host name): what Events about the controller itself are about.
fn own_pod() -> ObjectReference {
    let namespace = std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".to_string());
    let name = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| MANAGER.to_string());
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(namespace),
        name: Some(name),
        ..ObjectReference::default()
    }
}

/// The lease manager's task: it releases the Lease once the channel's receivers are dropped.
type LeaseTask = tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>;

/// The Lease a replica competes for: [`MANAGER`] without `--shard`; with it, one Lease per
/// shard, so that each shard elects its own leader. A Lease name must be a DNS subdomain, which
/// a selector is not: the name carries the first 8 hex digits of the SHA-256 of the selector's
/// exact text. SHA-256 because Helm can compute it too (`sha256sum`): the chart's Lease Role
/// names these Leases (`lac.leaseNames` in `_helpers.tpl`).
pub fn lease_name(shard: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match shard {
        None => MANAGER.to_string(),
        Some(selector) => {
            let digest = Sha256::digest(selector.as_bytes());
            let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
            format!("{MANAGER}-shard-{hex}")
        }
    }
}

/// A waiting replica tries for the Lease this often. kube-lease-manager alone waits for the end
/// of the term it last read, even when the holder released the Lease on its way out, so a
/// failover took up to a whole term (15 s); a fresh manager reads the Lease anew (README
/// "Leader election").
pub const FOLLOWER_RETRY: Duration = Duration::from_secs(2);

/// Waits until this replica holds the coordination.k8s.io Lease of its shard: the channel that
/// says when that ends, and the manager's task; `None` when shutdown was requested first.
async fn elect(
    client: kube::Client,
    shard: Option<&str>,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<(watch::Receiver<bool>, LeaseTask)>, String> {
    let namespace = std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".to_string());
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("{MANAGER}-{}", std::process::id()));
    let name = lease_name(shard);
    let lease = format!("{namespace}/{name}");
    tracing::info!(%lease, shard = shard.unwrap_or(""), %identity, "waiting for leadership");
    let mut first = true;
    loop {
        let built = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &name)
            .with_namespace(namespace.clone())
            .with_identity(identity.clone())
            .with_duration(15)
            .with_grace(5)
            // One field manager per replica: the Lease is claimed by server-side apply, which
            // refuses a second claim (409) only between different managers. A shared manager let
            // two replicas starting together both lead for a whole lease term.
            .with_field_manager(format!("{MANAGER}-{identity}"))
            .build()
            .await;
        let manager = match built {
            Ok(manager) => manager,
            // At start a Lease that cannot be read is a setup error (RBAC, namespace): say so
            // and stop. Later, an API server's blip only delays the next try.
            Err(e) if first => return Err(format!("cannot set up leader election (Lease {lease}): {e}")),
            Err(error) => {
                tracing::warn!(%lease, %error, "leader election: cannot read the Lease; trying again");
                tokio::select! {
                    () = tokio::time::sleep(FOLLOWER_RETRY) => continue,
                    _ = stop.wait_for(|s| *s) => return Ok(None),
                }
            }
        };
        first = false;
        // A claim cut short by the timeout is safe: if it went through, the next manager reads
        // this identity as the holder and leads.
        let attempt = tokio::select! {
            attempt = tokio::time::timeout(FOLLOWER_RETRY, manager.changed()) => attempt,
            _ = stop.wait_for(|s| *s) => return Ok(None),
        };
        match attempt {
            Ok(Ok(true)) => {
                tracing::info!(%lease, "leading: starting the controller");
                return Ok(Some(manager.watch().await));
            }
            // Still someone else's: ask again with a fresh read.
            Ok(Ok(false)) | Err(_) => {}
            Ok(Err(error)) => {
                tracing::warn!(%lease, %error, "leader election: cannot read or claim the Lease; trying again");
                tokio::select! {
                    () = tokio::time::sleep(FOLLOWER_RETRY) => {}
                    _ = stop.wait_for(|s| *s) => return Ok(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lease_name;

    #[test]
    fn the_lease_is_per_shard_and_a_dns_subdomain() {
        assert_eq!(lease_name(None), "lambda-alias-controller", "unchanged without --shard");
        // Pinned: the chart computes the same names (tests/deploy/test_shards.py pins them too).
        assert_eq!(lease_name(Some("shard=a")), "lambda-alias-controller-shard-3d8dfb26");
        assert_eq!(lease_name(Some("shard!=a")), "lambda-alias-controller-shard-77a1ece5");
        for selector in ["shard=a", "shard!=a", "shard in (a,b)", "", "tier=gold,team!=x", "ä=ö"] {
            let name = lease_name(Some(selector));
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name} is a DNS label"
            );
            assert_eq!(name, lease_name(Some(selector)), "stable");
        }
        assert_ne!(lease_name(Some("shard=a")), lease_name(Some("shard=b")));
    }
}
