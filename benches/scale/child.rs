//! The child processes the bench re-executes itself as (`LAC_BENCH_ROLE`), so that `/proc`
//! shows their memory and CPU alone:
//!
//! - `controller`: the controller's `run_with` (watch, finalizer, status, Events, metrics) with
//!   the simulated AWS in the same process, as `run` wires the SDK. It answers the bench on
//!   stdin/stdout, one line each: `stats` (the simulated AWS's counts, JSON), `mark` (start a
//!   window), `priority I,J,..` (when each function's first priority-lane request since the mark
//!   and its last one arrived), `oob event|silent I,J,..` (re-point each function's PROD1 by
//!   hand; `event`: then send its CloudTrail record to the drift-events queue), `repairs I,J,..`
//!   (when each change's first request entered and its repair returned), `queue` (messages left
//!   and deleted), `restart SECONDS` (stop the controller and start a new one with that resync,
//!   on the same simulated AWS and queue), `trim` (its RSS once the allocator returned what is
//!   free), `stop` (stop the controller; the last line is `final <stats>`).
//! - `parts`: parts of the controller's memory alone, after the run: the watch's store of the
//!   sets (metadata only, as the controller keeps it), what its Event sink keeps per Event, and
//!   the drift-events feed's index of the sets.
//! - `memory`: only the simulated AWS, with its N functions and then driven to the end state the
//!   controller reaches (every set converged, the changed sets in Certifying), to measure what
//!   the simulation itself holds.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use lambda_alias_controller::api::LambdaAliasSet;
use lambda_alias_controller::aws::budget::{BudgetLimits, Budgets, CallCounter, Metered};
use lambda_alias_controller::aws::fake::FakeQueue;
use lambda_alias_controller::controller::SetMeta;
use lambda_alias_controller::controller::drift_events::index::Defaults;
use lambda_alias_controller::controller::drift_events::{Located, Own, Sets, SqsQueue};
use lambda_alias_controller::controller::events::{EventSink, RecorderSink};
use lambda_alias_controller::controller::run::{
    DriftEvents, RunError, RunOptions, Wiring, run_with, watch_sets,
};
use lambda_alias_controller::engine;
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::Knobs;
use crate::probe;
use crate::sets;
use crate::sim::{ACCOUNT, REGION, SimAws, SimClient, SimFront, SimProvider};

fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        // As the binary's `run`: two workers.
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().expect("a tokio runtime")
}

fn exit(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn controller(knobs: &Knobs) -> ExitCode {
    exit(runtime(true).block_on(run_controller(knobs)))
}

async fn run_controller(knobs: &Knobs) -> Result<(), String> {
    // The binary's default filter: info for the controller, warn for the libraries.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| {
        "info,kube=warn,kube_runtime=warn,kube_client=warn,hyper=warn,hyper_util=warn,rustls=warn,tower=warn"
            .to_string()
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();

    let sim = Arc::new(SimAws::new(knobs.n, Some(knobs.scale), knobs.sim_latency()));
    // Drift events (EVENTS=1): an in-memory SQS queue the bench sends CloudTrail-shaped events
    // to. Its visibility timeout is SQS's default (30 s) compressed; it only matters when a
    // booking fails.
    let queue = knobs.events.then(|| {
        let visibility = Duration::from_secs((30.0 / knobs.scale).ceil().max(1.0) as u64);
        Arc::new(FakeQueue::new(visibility))
    });
    let client = kube::Client::try_default().await.map_err(|e| format!("Kubernetes client: {e}"))?;
    let (control_tx, mut control) = mpsc::unbounded_channel();
    tokio::spawn(commands(sim.clone(), queue.clone(), control_tx));
    println!("ready");
    let mut resync = knobs.resync();
    let mut attempts = 0;
    let result = loop {
        let options = RunOptions {
            namespaces: vec![knobs.namespace.clone()],
            http_addr: ([127, 0, 0, 1], knobs.port).into(),
            concurrency: knobs.concurrency,
            resync,
            drift_budget: knobs.drift_budget,
            drift_events_queue: queue.as_ref().map(|_| queue_url()),
            ..RunOptions::default()
        };
        let wiring = wiring(knobs, &sim, queue.as_ref(), client.clone());
        let (stop_tx, _) = watch::channel(false);
        let started = Instant::now();
        let run = run_with(options, wiring, stop_tx.clone());
        tokio::pin!(run);
        let command = tokio::select! {
            result = &mut run => {
                // A restart finding the last run's listener not closed yet: again, shortly.
                if let Err(RunError::Listen { .. }) = &result
                    && attempts < 20
                    && started.elapsed() < Duration::from_secs(2)
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                break result;
            }
            command = control.recv() => command,
        };
        let _ = stop_tx.send(true);
        let result = run.await;
        match command {
            // The same simulated AWS and queue; a new controller (budgets, metrics, drift
            // schedule), as a restarted process would have.
            Some(Control::Restart(seconds, done)) if result.is_ok() => {
                tracing::info!(resync_seconds = seconds.as_secs_f64(), "bench: restarting the controller");
                resync = seconds;
                attempts = 0;
                let _ = done.send(());
            }
            _ => break result,
        }
    };
    println!("final {}", serde_json::to_string(&sim.stats()).unwrap_or_default());
    result.map_err(|e| e.to_string())
}

/// The queue's URL as the controller sees it (the simulated account and region).
fn queue_url() -> String {
    format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/bench")
}

/// One controller's AWS side: the simulated AWS behind the production budget and retry layer
/// (`Metered`, fresh budgets and counts), and the drift-events feed on the queue, if any.
fn wiring(
    knobs: &Knobs,
    sim: &Arc<SimAws>,
    queue: Option<&Arc<FakeQueue>>,
    client: kube::Client,
) -> Wiring<SimProvider> {
    // The controller's own budget, scaled like AWS's quotas: every ratio is kept.
    let budgets = Budgets::with_drift_share(BudgetLimits::default().scaled(knobs.scale), knobs.drift_budget);
    let calls = CallCounter::new();
    let metered = Metered::new(SimClient(sim.clone()), ACCOUNT, REGION, budgets.clone(), calls.clone());
    let aws = SimProvider(Arc::new(SimFront { metered, sim: sim.clone() }));
    let drift_events = queue.map(|queue| DriftEvents {
        queue: Arc::new(SqsQueue { api: queue.clone(), url: queue_url() }),
        // Nobody's writes are the controller's own here: the bench's changes come from a person.
        own: Own::default(),
        defaults: Defaults { account: Some(ACCOUNT.to_string()), region: Some(REGION.to_string()) },
    });
    Wiring { client, aws, budgets, calls, aws_ready: Ok(()), drift_events }
}

/// What the bench asks of the controller's life.
enum Control {
    /// Stop the controller and start a new one with this resync (answered once the old one
    /// has stopped).
    Restart(Duration, oneshot::Sender<()>),
    Stop,
}

/// The CloudTrail record of someone re-pointing function `i`'s PROD1, as EventBridge delivers
/// it to SQS (the shape of `tests/cluster/drift_events.rs`).
fn cloudtrail(i: usize, id: u64) -> String {
    let now = jiff::Timestamp::now().to_string();
    json!({
        "version": "0",
        "id": format!("bench-{id}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.lambda",
        "account": ACCOUNT,
        "time": now,
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/console-person")},
            "eventTime": now,
            "eventSource": "lambda.amazonaws.com",
            "eventName": "UpdateAlias20150331",
            "awsRegion": REGION,
            "requestParameters": {"functionName": sets::function_name(i), "name": "PROD1", "functionVersion": "$LATEST"},
            "responseElements": null,
            "eventID": format!("ct-bench-{id}"),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT
        }
    })
    .to_string()
}

fn indexes(list: &str) -> Vec<usize> {
    list.split(',').filter_map(|i| i.trim().parse().ok()).collect()
}

/// The bench's requests on stdin; end of input (the bench is gone) stops the controller too.
async fn commands(sim: Arc<SimAws>, queue: Option<Arc<FakeQueue>>, control: mpsc::UnboundedSender<Control>) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut events = 0u64;
    while let Ok(Some(line)) = lines.next_line().await {
        match line.trim() {
            "stats" => println!("{}", serde_json::to_string(&sim.stats()).unwrap_or_default()),
            // `priority 3,17,42`: each function's first priority-lane request since the mark and
            // its last one.
            other if other.starts_with("priority ") => {
                let functions = indexes(&other["priority ".len()..]);
                println!("{}", serde_json::to_string(&sim.priority_requests(&functions)).unwrap_or_default());
            }
            // `oob event 3,17` / `oob silent 5`: PROD1 re-pointed by hand on each, then (event)
            // its CloudTrail record sent to the queue. The answer: an error per function, or null.
            other if other.starts_with("oob ") => {
                let (kind, list) = other["oob ".len()..].split_once(' ').unwrap_or(("", ""));
                let answers: Vec<Option<String>> = indexes(list)
                    .into_iter()
                    .map(|i| {
                        sim.oob_repoint(i).err().or_else(|| match (kind, &queue) {
                            ("silent", _) => None,
                            ("event", Some(queue)) => {
                                events += 1;
                                queue.send(cloudtrail(i, events));
                                sim.note_sent(i);
                                None
                            }
                            _ => Some(format!("no queue for {kind:?}")),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string(&answers).unwrap_or_default());
            }
            // `repairs 3,17`: what became of their out-of-band changes.
            other if other.starts_with("repairs ") => {
                let functions = indexes(&other["repairs ".len()..]);
                println!("{}", serde_json::to_string(&sim.repairs_of(&functions)).unwrap_or_default());
            }
            // `queue`: messages left in the queue, and deleted.
            "queue" => {
                let (left, deleted) = queue.as_ref().map_or((0, 0), |q| (q.len(), q.deleted()));
                println!("{}", json!({"left": left, "deleted": deleted}));
            }
            // `restart 21600`: a new controller with that resync (real seconds, compressed by
            // the caller), on the same simulated AWS; answered once the old one has stopped.
            other if other.starts_with("restart ") => {
                let seconds: f64 = other["restart ".len()..].trim().parse().unwrap_or(0.0);
                let (done, stopped) = oneshot::channel();
                let _ = control.send(Control::Restart(Duration::from_secs_f64(seconds.max(0.001)), done));
                match stopped.await {
                    Ok(()) => println!("ok"),
                    Err(_) => println!("the controller did not restart"),
                }
            }
            // What the process has in use: RSS once the allocator returned what is free.
            "trim" => println!("{}", live_rss()),
            "mark" => {
                sim.mark();
                println!("ok");
            }
            "stop" => break,
            other => println!("unknown command {other:?}"),
        }
    }
    let _ = control.send(Control::Stop);
}

pub fn memory(knobs: &Knobs) -> ExitCode {
    exit(runtime(false).block_on(run_memory(knobs)))
}

async fn run_memory(knobs: &Knobs) -> Result<(), String> {
    let started = Instant::now();
    let before = probe::memory("self");
    let sim = SimClient(Arc::new(SimAws::new(knobs.n, None, std::time::Duration::ZERO)));
    let initial = probe::memory("self");
    let now = || jiff::Timestamp::now().as_second();
    let converge = async |i: usize, phase: &str| {
        engine::converge(
            &sim,
            &sets::owner(&knobs.namespace, i),
            &sets::spec(i, phase),
            None,
            now,
            engine::MAX_PASSES,
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", sets::set_name(i)))
    };
    for i in 0..knobs.n {
        converge(i, "Development").await?;
    }
    for i in sets::changed(knobs.n, knobs.changes) {
        converge(i, "Certifying").await?;
    }
    let after = probe::memory("self");
    let report = json!({
        "baseline_rss": before.rss,
        "initial_rss": initial.rss,
        "peak": after.peak,
        "rss": after.rss,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{report}");
    drop(sim);
    Ok(())
}

/// RSS once the allocator has handed back what is free: the memory in use.
fn live_rss() -> u64 {
    // SAFETY: malloc_trim only returns free heap pages to the system; no live memory moves.
    unsafe { libc::malloc_trim(0) };
    probe::memory("self").rss
}

pub fn parts(knobs: &Knobs) -> ExitCode {
    exit(runtime(true).block_on(run_parts(knobs)))
}

/// How many Events `parts` publishes to measure what the controller keeps per Event, after
/// how many that open the client's connections.
const SAMPLE_EVENTS: usize = 2000;
const WARM_UP_EVENTS: usize = 200;

/// Two parts of the controller's memory, each alone in a process of its own: the watch's store
/// of the namespace's sets, built as the controller builds it (`run::watch_sets`: metadata
/// only), next to a store of whole objects without managedFields (what it kept before), and
/// what the controller's Event sink keeps per Event published.
async fn run_parts(knobs: &Knobs) -> Result<(), String> {
    let client = kube::Client::try_default().await.map_err(|e| format!("Kubernetes client: {e}"))?;
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &knobs.namespace);
    api.list_metadata(&ListParams::default().limit(1)).await.map_err(|e| format!("list: {e}"))?;
    let baseline = live_rss();

    // Each store is measured by what dropping it gives back, so that the connections it opened
    // (which stay in the client's pool) count for neither.
    let metas: Api<SetMeta> = Api::namespaced(client.clone(), &knobs.namespace);
    let (store, watch) = watch_sets(metas, watcher::Config::default());
    let task = tokio::spawn(watch.for_each(|_| async {}));
    store.wait_until_ready().await.map_err(|e| format!("store: {e}"))?;
    let count = store.state().len();
    // The list's peak (a page and its objects at once).
    let list_peak = probe::memory("self").peak;
    let references: Vec<_> = store.state().iter().map(|o| o.object_ref(&())).collect();
    let with_store = live_rss();
    task.abort();
    let _ = task.await;
    drop(store);
    let store_bytes = with_store.saturating_sub(live_rss());

    let (whole, writer) = reflector::store::<LambdaAliasSet>();
    let watch = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .modify(|set: &mut LambdaAliasSet| set.managed_fields_mut().clear());
    let task = tokio::spawn(reflector(writer, watch).for_each(|_| async {}));
    whole.wait_until_ready().await.map_err(|e| format!("store: {e}"))?;
    let with_whole = live_rss();
    task.abort();
    let _ = task.await;
    drop(whole);
    let whole_objects = with_whole.saturating_sub(live_rss());

    // Events shaped like the controller's (its own reason, note and action, on other sets),
    // through the controller's own sink: a first round opens the connections, the second
    // shows what stays per Event.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &knobs.namespace);
    let sample = events.list(&ListParams::default().limit(1)).await.map_err(|e| format!("events: {e}"))?;
    let sample = sample.items.first().ok_or("no Event to imitate")?;
    let event = || Event {
        type_: EventType::Normal,
        reason: sample.reason.clone().unwrap_or_default(),
        note: sample.note.clone(),
        action: sample.action.clone().unwrap_or_default(),
        secondary: None,
    };
    let sink = RecorderSink::new(
        client.clone(),
        Reporter { controller: "lambda-alias-controller".into(), instance: None },
    );
    let publish = async |references: &[k8s_openapi::api::core::v1::ObjectReference]| {
        futures::stream::iter(references)
            .map(|reference| sink.publish(reference, event()))
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    };
    let warm = references.len().min(WARM_UP_EVENTS);
    publish(&references[..warm]).await;
    let before_events = live_rss();
    let sampled = &references[warm..references.len().min(warm + SAMPLE_EVENTS)];
    publish(sampled).await;
    let with_events = live_rss();

    // The drift-events feed's index of the sets (`Sets::follow`, as `run_with` starts it with
    // EVENTS=1: its own watch, decoded as `Located`, kept as a map from function to sets), by what
    // dropping it gives back. Last, so that its list's peak leaves the figures above alone.
    let (index_bytes, indexed) = {
        let index = Arc::new(Sets::default());
        let (ready_tx, mut ready) = watch::channel(false);
        let defaults = Defaults { account: Some(ACCOUNT.to_string()), region: Some(REGION.to_string()) };
        let before_index = live_rss();
        let located: Api<Located> = Api::namespaced(client.clone(), &knobs.namespace);
        let task = tokio::spawn(index.clone().follow(0, located, defaults, ready_tx));
        ready.wait_for(|r| *r).await.map_err(|e| format!("the index: {e}"))?;
        let probe = lambda_alias_controller::controller::drift_events::event::FunctionRef {
            name: sets::function_name(0),
            account: Some(ACCOUNT.to_string()),
            region: Some(REGION.to_string()),
        };
        let indexed = !index.matching(&probe).is_empty();
        let with_index = live_rss();
        task.abort();
        let _ = task.await;
        drop(index);
        let after = live_rss();
        // What it took (the heap its list pages left fragmented included), and what
        // dropping it gave back.
        ([with_index.saturating_sub(before_index), with_index.saturating_sub(after)], indexed)
    };
    let report = json!({
        "drift_events_index_took_bytes": index_bytes[0],
        "drift_events_index_bytes": index_bytes[1],
        "drift_events_index_matches": indexed,
        "whole_objects_without_managed_fields_bytes": whole_objects,
        "baseline_rss": baseline,
        "store_bytes": store_bytes,
        "list_peak_bytes": list_peak.saturating_sub(baseline),
        "objects": count,
        "events": sampled.len(),
        "bytes_per_event": with_events.saturating_sub(before_events) as f64 / sampled.len().max(1) as f64,
        "peak": probe::memory("self").peak,
    });
    println!("{report}");
    Ok(())
}
