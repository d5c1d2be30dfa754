//! The drift-event feed (`--drift-events-queue`): its queue and identity, built once at start,
//! and its tasks, the index of sets per watched namespace and the consumer. Only the leader of a
//! shard reads the queue; it books checks for the sets of every shard (README, "Drift events").

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::Api;
use tokio::sync::watch;

use super::super::drift_events::index::Defaults;
use super::super::drift_events::{Feed, KubeBooker, Located, Own, Sets, SqsQueue};
use super::super::{Context, LambdaProvider, MANAGER};
use super::{DriftEvents, RunOptions};
use crate::aws::budget::{Budgets, CallCounter, Metered};
use crate::aws::client::{AwsSettings, sdk_config};
use crate::aws::sdk::SdkSqs;
use crate::aws::sqs::{account_of_queue, region_of_queue};

/// The queue of `--drift-events-queue` through the seam (budget, count, retries), and who the
/// controller is (STS GetCallerIdentity). Without an answer from STS the controller still
/// starts: bare function names then match events of any account, and only assumed-role
/// sessions are told apart as its own writes.
pub(super) async fn drift_events(
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

/// Starts the feed: one index task per watched namespace (or one for all), and the consumer.
pub(super) fn start<P: LambdaProvider>(
    drift: DriftEvents,
    namespaces: &[Option<String>],
    client: &kube::Client,
    ctx: &Arc<Context<P>>,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let sets = Arc::new(Sets::default());
    let mut ready = Vec::new();
    for (source, namespace) in namespaces.iter().enumerate() {
        let api: Api<Located> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let (tx, rx) = watch::channel(false);
        ready.push(rx);
        tasks.push(tokio::spawn(sets.clone().follow(source, api, drift.defaults.clone(), tx)));
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
    tasks.push(tokio::spawn(feed.run(ready, stop)));
    tasks
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
