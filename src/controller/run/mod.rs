//! `lambda-alias-controller run`: what it starts, in order, each step in a file of its own:
//! the HTTP endpoints (`endpoints.rs`), leader election (`leader.rs`), the drift-event feed
//! (`feed.rs`), the controllers and the pruner (`controllers.rs`), and the shutdown that ends
//! them (`shutdown.rs`). [`run_with`] is that order; its errors are [`RunError`]'s steps.

mod controllers;
mod endpoints;
mod feed;
mod leader;
mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::Api;
use kube::runtime::events::Reporter;
use tokio::sync::watch;

use super::drift_events::index::Defaults;
use super::drift_events::{Own, Queue};
use super::events::RecorderSink;
use super::metrics::Metrics;
use super::{Context, LambdaProvider, MANAGER, system_clock};
use crate::aws::budget::{BudgetLimits, Budgets, CallCounter};
use crate::aws::client::{AwsSettings, sdk_config};
use crate::aws::connections::Connections;

pub use controllers::watch_sets;
pub use leader::{FOLLOWER_RETRY, lease_name};

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
pub(super) const STEP_TIMEOUT: Duration = Duration::from_millis(500);
/// kubectl's copy of the last applied manifest, dropped from the watch's cache.
pub(super) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// How often sets that left the watch are forgotten (metrics, drift schedule).
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Why `run` could not start, or stopped with an error: one variant per step, the cause kept.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{flag} must be a fraction in (0, 1], got {value}")]
    Fraction { flag: &'static str, value: f64 },
    #[error("cannot build a Kubernetes client: {0}")]
    KubeClient(#[source] kube::Error),
    #[error("--tenancy strict needs --cluster-name: the ExternalId sent is <cluster-name>/<namespace>")]
    NoClusterName,
    /// STS could not say who the controller's credentials are (strict tenancy needs it).
    #[error("{0}")]
    Caller(String),
    #[error("--tenancy strict: the controller's AWS identity is unknown")]
    UnknownIdentity,
    #[error("the Alexa settings are unusable: {0}")]
    Smapi(#[from] crate::alexa::SmapiError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("--shard {selector:?} is not a valid label selector: {message}")]
    Shard { selector: String, message: String },
    #[error("--tenancy strict: cannot list Namespaces (their annotations say what a set may use): {0}")]
    ListNamespaces(#[source] kube::Error),
    #[error("cannot set up leader election (Lease {lease}): {source}")]
    Election { lease: String, source: kube_lease_manager::LeaseManagerError },
    #[error("lost leadership")]
    LostLeadership,
}

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

/// The budgets of `--budget-share` of AWS's quotas, `--drift-budget` of which drift checks use.
pub fn budgets_for(options: &RunOptions) -> Result<Budgets, RunError> {
    for (flag, value) in [("--budget-share", options.budget_share), ("--drift-budget", options.drift_budget)]
    {
        if !(value.is_finite() && value > 0.0 && value <= 1.0) {
            return Err(RunError::Fraction { flag, value });
        }
    }
    Ok(Budgets::with_drift_share(BudgetLimits::default().scaled(options.budget_share), options.drift_budget))
}

/// Runs until SIGTERM; returns an error when it cannot start or loses leadership.
pub async fn run(options: RunOptions) -> Result<(), RunError> {
    let budgets = budgets_for(&options)?;
    let client = kube::Client::try_default().await.map_err(RunError::KubeClient)?;
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
            return Err(RunError::NoClusterName);
        }
        options.caller = Some(crate::aws::client::caller(&base).await.map_err(RunError::Caller)?);
    }
    let connections = Connections::new(options.aws.clone(), budgets.clone(), calls.clone());
    let drift_events = match &options.drift_events_queue {
        Some(url) => Some(feed::drift_events(url, &options, &base, &budgets, &calls).await),
        None => None,
    };
    let (stop_tx, _) = watch::channel(false);
    tokio::spawn(shutdown::signals(stop_tx.clone()));
    let wiring = Wiring { client, aws: connections, budgets, calls, aws_ready, drift_events };
    run_with(options, wiring, stop_tx).await
}

/// The controller with its AWS side given: what `run` does once it has built clients. Stops
/// when `stop` is set (by a signal, by leadership lost, or by the caller).
pub async fn run_with<P: LambdaProvider>(
    options: RunOptions,
    wiring: Wiring<P>,
    stop_tx: watch::Sender<bool>,
) -> Result<(), RunError> {
    let Wiring { client, aws, budgets, calls, aws_ready, drift_events } = wiring;
    let stop_rx = stop_tx.subscribe();
    let gate = tenancy_gate(&options)?;
    let ctx = context(&options, &client, aws, &budgets, &calls, gate.clone())?;

    let listener = endpoints::bind(options.http_addr).await?;
    let sets = match options.namespaces.first() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    controllers::check_shard(&sets, options.shard.as_deref()).await?;
    let probe = endpoints::ControllerProbe {
        sets,
        metrics: ctx.metrics.clone(),
        calls,
        budgets,
        aws_ready,
        shard: options.shard.clone(),
    };
    let server = endpoints::serve(listener, probe, stop_rx.clone());

    let leadership = if options.leader_elect {
        match leader::lead(client.clone(), options.shard.as_deref(), &ctx.metrics, &stop_tx).await? {
            Some(leadership) => Some(leadership),
            None => {
                let _ = stop_tx.send(true);
                let _ = tokio::time::timeout(STEP_TIMEOUT, server).await;
                return Ok(());
            }
        }
    } else {
        ctx.metrics.leading("", true);
        None
    };

    let apis = controllers::apis(&options, &client);
    let namespaces: Vec<Option<String>> = apis.iter().map(|(namespace, _)| namespace.clone()).collect();
    if gate.is_strict() {
        controllers::list_namespaces(&gate, &namespaces, &client).await?;
    }
    let feed_tasks = match drift_events {
        Some(drift) => feed::start(drift, &namespaces, &client, &ctx, stop_rx.clone()),
        None => Vec::new(),
    };
    // Counts reconciles in flight, so that shutdown waits for them and for nothing else.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (running, stores) = controllers::start(apis, &options, &gate, &client, &ctx, &in_flight, &stop_rx);
    let pruner = controllers::prune(stores, ctx.clone());

    tokio::select! {
        _ = futures::future::join_all(running) => {}
        () = shutdown::drained(stop_rx.clone(), in_flight.clone()) => {
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
    if let Some(leadership) = leadership {
        leadership.release().await?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// `--tenancy`: the gate every reconcile passes first.
fn tenancy_gate(options: &RunOptions) -> Result<Arc<super::tenancy::Gate>, RunError> {
    match (options.tenancy, &options.caller) {
        (crate::tenancy::Tenancy::Strict, Some(caller)) => {
            let cluster = options.cluster_name.clone().unwrap_or_default();
            tracing::info!(cluster = %cluster, account = %caller.account, "tenancy strict: a set runs only if its Namespace's annotations allow its function and role");
            Ok(Arc::new(super::tenancy::Gate::strict(cluster, caller.clone())))
        }
        (crate::tenancy::Tenancy::Strict, None) => Err(RunError::UnknownIdentity),
        (crate::tenancy::Tenancy::Open, _) => {
            tracing::info!(
                "tenancy open: a set in any namespace may target any function (and assume any role) the controller's credentials reach; see --tenancy strict"
            );
            Ok(Arc::new(super::tenancy::Gate::open()))
        }
    }
}

/// What every reconcile shares: clients, Events, metrics (SMAPI's requests counted too), the
/// drift schedule, the gate and the clock.
fn context<P: LambdaProvider>(
    options: &RunOptions,
    client: &kube::Client,
    aws: P,
    budgets: &Budgets,
    calls: &CallCounter,
    tenancy: Arc<super::tenancy::Gate>,
) -> Result<Arc<Context<P>>, RunError> {
    let smapi = crate::alexa::Smapi::new(&options.smapi)?;
    let metrics = Arc::new(Metrics::new());
    metrics.resync(options.resync);
    let counted = metrics.clone();
    smapi.on_request(Arc::new(move |operation, outcome| counted.smapi_request(operation, outcome)));
    let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
    Ok(Arc::new(Context {
        client: client.clone(),
        aws,
        events: Arc::new(RecorderSink::new(client.clone(), reporter)),
        metrics,
        calls: calls.clone(),
        resync: options.resync,
        drift: super::drift::Scheduler::new(options.resync, budgets, options.concurrency),
        tenancy,
        clock: system_clock(),
        skills: Arc::new(super::skills::SmapiSkills { client: client.clone(), smapi }),
    }))
}
