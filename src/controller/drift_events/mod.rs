//! Drift events (`--drift-events-queue`, README "Drift events"): CloudTrail's records of Lambda
//! calls, sent by an EventBridge rule to an SQS queue, book a priority drift check of each set
//! on the function they name. The periodic drift lane stays as the safety net.
//!
//! How an event becomes a check, so that nothing is lost:
//! 1. the leader (of its shard) long-polls the queue ([`Feed::run`]);
//! 2. each event is parsed ([`event`]) and mapped to the sets on its function ([`index`]), from
//!    a watch of every set in the watched namespaces, whatever its shard;
//! 3. the check is *booked* by writing the annotation [`ANNOTATION`] on each such set: durable
//!    in the API server, seen by the watch of whichever shard owns the set, even if that shard
//!    is down right now;
//! 4. only then is the message deleted. A message whose booking failed is left to come back
//!    after the queue's visibility timeout;
//! 5. the owning controller sees the annotation, runs the cheap drift check in the priority
//!    lane (a full converge when it differs), and removes the annotation only after AWS was
//!    read, and only if it still holds the value it acted on (a JSON patch `test`).
//!
//! Events about functions no set owns, about the controller's own writes, duplicates and
//! malformed messages are counted and deleted.

pub mod event;
pub mod index;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use tokio::sync::watch;

use self::event::{DriftEvent, Message};
use self::index::{Defaults, Index, Location, SetRef};
use super::events::{EventSink, warning};
use super::metrics::Metrics;
use crate::api::LambdaAliasSet;
use crate::aws::sqs::{DeleteMessage, GetQueueAttributes, QueueInfo, QueueMessage, ReceiveMessage};
use crate::aws::{AwsResult, Call};

/// The annotation that books a set's drift check: `<eventTime>|<event id>` of the newest event
/// booked. The controller is its only writer; it removes it once the check has read AWS.
pub const ANNOTATION: &str = "lambda.aliasset.dev/drift-event";
/// Event ids remembered, to drop EventBridge's duplicate deliveries.
const REMEMBERED: usize = 10_000;
/// A message received this many times whose booking still fails is dropped (counted
/// `abandoned`): the periodic drift check finds what it was about.
pub const MAX_RECEIVES: u32 = 10;
/// After a failed read of the queue: the first wait, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The queue, as the feed uses it: the three SQS requests on one queue URL. Object-safe, so
/// that `run` and the benchmark can hand the controller whichever SQS answers
/// ([`SqsQueue`] over any [`crate::aws::SqsApi`]).
pub trait Queue: Send + Sync {
    fn url(&self) -> &str;
    fn receive(&self) -> BoxFuture<'_, AwsResult<Vec<QueueMessage>>>;
    fn delete<'a>(&'a self, receipt_handle: &'a str) -> BoxFuture<'a, AwsResult<()>>;
    fn attributes(&self) -> BoxFuture<'_, AwsResult<QueueInfo>>;
}

/// One queue URL of an SQS seam (the SDK's through `Metered`, or the fake).
pub struct SqsQueue<A> {
    pub api: A,
    pub url: String,
}

impl<A> Queue for SqsQueue<A>
where
    A: Call<ReceiveMessage> + Call<DeleteMessage> + Call<GetQueueAttributes>,
{
    fn url(&self) -> &str {
        &self.url
    }

    fn receive(&self) -> BoxFuture<'_, AwsResult<Vec<QueueMessage>>> {
        Box::pin(async move { self.api.call(&ReceiveMessage::long_poll(&self.url)).await })
    }

    fn delete<'a>(&'a self, receipt_handle: &'a str) -> BoxFuture<'a, AwsResult<()>> {
        Box::pin(async move {
            let request =
                DeleteMessage { queue_url: self.url.clone(), receipt_handle: receipt_handle.to_owned() };
            self.api.call(&request).await
        })
    }

    fn attributes(&self) -> BoxFuture<'_, AwsResult<QueueInfo>> {
        Box::pin(async move { self.api.call(&GetQueueAttributes { queue_url: self.url.clone() }).await })
    }
}

/// Whose calls are the controller's own: its credentials' ARN (STS GetCallerIdentity) and the
/// session name it assumes a set's `roleArn` with (`crate::aws::client::SESSION_NAME`).
#[derive(Clone, Debug, Default)]
pub struct Own {
    pub caller_arn: Option<String>,
    pub session_name: String,
}

impl Own {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` with our session name, or our own ARN.
    pub fn made(&self, caller: &str) -> bool {
        let assumed = caller.contains(":assumed-role/")
            && !self.session_name.is_empty()
            && caller.rsplit('/').next() == Some(self.session_name.as_str());
        assumed || self.caller_arn.as_deref() == Some(caller)
    }
}

/// Writes a set's booking (the annotation) where its controller will see it.
pub trait Booker: Send + Sync {
    /// `Ok` once the booking is stored (or the set is gone: nothing to check).
    fn book<'a>(&'a self, set: &'a SetRef, value: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

/// Books by a merge patch of the annotation on the set.
pub struct KubeBooker {
    pub client: kube::Client,
}

impl Booker for KubeBooker {
    fn book<'a>(&'a self, set: &'a SetRef, value: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let api: Api<LambdaAliasSet> = Api::namespaced(self.client.clone(), &set.namespace);
            let patch = json!({"metadata": {"annotations": {ANNOTATION: value}}});
            match api.patch(&set.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// The value [`ANNOTATION`] carries for an event.
pub fn booking(event: &DriftEvent) -> String {
    let time = event
        .time
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| t.to_string())
        .unwrap_or_default();
    format!("{time}|{}", event.id)
}

/// The event time a booking carries, unix seconds.
pub fn booked_time(value: &str) -> Option<i64> {
    value.split('|').next().and_then(event::unix_seconds)
}

/// The sets of every watched namespace, kept by one watch per namespace (or one of all).
#[derive(Debug, Default)]
pub struct Sets {
    indexes: RwLock<Vec<Index>>,
}

impl Sets {
    pub fn matching(&self, function: &event::FunctionRef) -> Vec<SetRef> {
        let indexes = self.indexes.read().unwrap_or_else(|e| e.into_inner());
        let mut sets: Vec<SetRef> = indexes.iter().flat_map(|i| i.matching(function)).collect();
        sets.sort();
        sets.dedup();
        sets
    }

    fn replace(&self, source: usize, index: Index) {
        self.edit(source, |i| *i = index);
    }

    fn edit(&self, source: usize, edit: impl FnOnce(&mut Index)) {
        let mut indexes = self.indexes.write().unwrap_or_else(|e| e.into_inner());
        if indexes.len() <= source {
            indexes.resize_with(source + 1, Index::default);
        }
        edit(&mut indexes[source]);
    }

    /// Keeps the index of one watch (`source`) up to date; `ready` is sent once its first list
    /// is complete, so that no event is called unmatched for a set not listed yet.
    pub async fn follow(
        self: Arc<Self>,
        source: usize,
        api: Api<Located>,
        defaults: Defaults,
        ready: watch::Sender<bool>,
    ) {
        let mut listing = Index::default();
        let mut stream = std::pin::pin!(watcher::watcher(api, watcher::Config::default()).default_backoff());
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Init) => listing = Index::default(),
                Ok(watcher::Event::InitApply(set)) => set.insert_into(&mut listing, &defaults),
                Ok(watcher::Event::InitDone) => {
                    self.replace(source, std::mem::take(&mut listing));
                    let _ = ready.send(true);
                }
                Ok(watcher::Event::Apply(set)) => self.edit(source, |i| set.insert_into(i, &defaults)),
                Ok(watcher::Event::Delete(set)) => self.edit(source, |i| {
                    i.remove(set.metadata.namespace.as_deref().unwrap_or_default(), &set.name_any())
                }),
                Err(error) => tracing::warn!(%error, "drift events: cannot watch LambdaAliasSets"),
            }
        }
    }
}

/// A `LambdaAliasSet` as the feed's watch decodes it: name, namespace and resourceVersion, and
/// the spec's [`Location`]. The API server still sends whole objects; everything else (the
/// rest of the spec, status, managedFields) is skipped while it is parsed, so no set is ever
/// held decoded whole (BENCHMARKS "Drift events").
#[derive(Clone, Debug, Deserialize)]
pub struct Located {
    #[serde(deserialize_with = "thin_metadata")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Location,
}

impl Located {
    fn insert_into(&self, index: &mut Index, defaults: &Defaults) {
        index.insert(
            self.metadata.namespace.as_deref().unwrap_or_default(),
            &self.name_any(),
            &self.spec,
            defaults,
        );
    }
}

/// The metadata the watcher needs (resourceVersion, to resume) and the index keys on.
fn thin_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Thin {
        name: Option<String>,
        namespace: Option<String>,
        resource_version: Option<String>,
    }
    let thin = Thin::deserialize(deserializer)?;
    Ok(ObjectMeta {
        name: thin.name,
        namespace: thin.namespace,
        resource_version: thin.resource_version,
        ..ObjectMeta::default()
    })
}

/// The same resource as [`LambdaAliasSet`]: the same URLs.
impl Resource for Located {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        LambdaAliasSet::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        LambdaAliasSet::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        LambdaAliasSet::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        LambdaAliasSet::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Event ids seen lately, oldest first out.
#[derive(Debug, Default)]
struct Remembered {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Remembered {
    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: &str) {
        if self.ids.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
            while self.order.len() > REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}

/// What became of one message.
#[derive(Debug, PartialEq)]
enum Fate {
    /// Counted with this result and deleted.
    Done(&'static str),
    /// Waits for its sets' bookings: deleted only when every one is stored.
    Book { sets: Vec<SetRef>, event: Box<DriftEvent> },
}

/// The queue's consumer.
pub struct Feed {
    pub queue: Arc<dyn Queue>,
    pub sets: Arc<Sets>,
    pub booker: Arc<dyn Booker>,
    pub own: Own,
    pub metrics: Arc<Metrics>,
    pub events: Arc<dyn EventSink>,
    /// What a Warning Event about the queue is about: the controller's Pod.
    pub regarding: ObjectReference,
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Feed {
    /// Checks the queue (a Warning Event, the gauge and a log line when it cannot be read, then
    /// tries again with a backoff; polling carries on meanwhile), waits for the sets' first
    /// lists, then long-polls until `stop`.
    pub async fn run(self, mut ready: Vec<watch::Receiver<bool>>, mut stop: watch::Receiver<bool>) {
        let url = self.queue.url().to_owned();
        let mut backoff = FIRST_BACKOFF;
        let mut warned = false;
        loop {
            match self.queue.attributes().await {
                Ok(info) => {
                    tracing::info!(queue = %url, visibility_timeout_seconds = info.visibility_timeout, backlog = info.backlog, "drift events: reading the queue");
                    self.metrics.drift_events_queue(&url, true);
                    break;
                }
                Err(error) => {
                    self.metrics.drift_events_queue(&url, false);
                    tracing::error!(queue = %url, %error, "drift events: cannot read the queue; drift is found by the periodic check (--resync) until it can");
                    if !warned {
                        let note = format!(
                            "cannot read the drift events queue {url}: {error}. Drift is found by the periodic check (--resync) only, until the queue can be read."
                        );
                        self.events
                            .publish(&self.regarding, warning("DriftEventsUnavailable", "ReadQueue", note))
                            .await;
                        warned = true;
                    }
                    if sleep_or_stop(backoff, &mut stop).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        for r in &mut ready {
            tokio::select! {
                _ = r.wait_for(|ready| *ready) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        let mut remembered = Remembered::default();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let received = tokio::select! {
                received = self.queue.receive() => received,
                _ = stop.wait_for(|s| *s) => return,
            };
            match received {
                Ok(messages) => {
                    self.metrics.drift_events_queue(&url, true);
                    backoff = FIRST_BACKOFF;
                    self.handle(messages, &mut remembered).await;
                }
                Err(error) => {
                    self.metrics.drift_events_queue(&url, false);
                    tracing::warn!(queue = %url, %error, retry_in_seconds = backoff.as_secs(), "drift events: cannot receive from the queue");
                    if sleep_or_stop(backoff, &mut stop).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One batch: classify, book each set once (with the newest of its events), delete what is
    /// done.
    async fn handle(&self, messages: Vec<QueueMessage>, remembered: &mut Remembered) {
        self.metrics.drift_events_received(messages.len() as u64);
        let mut batch_ids = HashSet::new();
        let fates: Vec<Fate> =
            messages.iter().map(|m| self.classify(m, remembered, &mut batch_ids)).collect();
        // Each set once per batch, with its newest event (then its lag is the smallest).
        let mut bookings: BTreeMap<SetRef, &DriftEvent> = BTreeMap::new();
        for fate in &fates {
            if let Fate::Book { sets, event } = fate {
                for set in sets {
                    let newest = bookings.entry(set.clone()).or_insert(event);
                    if event.time > newest.time {
                        *newest = event;
                    }
                }
            }
        }
        let mut failed: HashSet<SetRef> = HashSet::new();
        for (set, event) in &bookings {
            match self.booker.book(set, &booking(event)).await {
                Ok(()) => {
                    if let Some(time) = event.time {
                        self.metrics.drift_event_lag("booked", ((self.clock)() - time).max(0) as f64);
                    }
                }
                Err(error) => {
                    tracing::warn!(set = %format!("{}/{}", set.namespace, set.name), %error, "drift events: cannot book the drift check; the message comes back after the visibility timeout");
                    failed.insert(set.clone());
                }
            }
        }
        for (message, fate) in messages.iter().zip(fates) {
            let result = match &fate {
                Fate::Done(result) => *result,
                Fate::Book { sets, .. } if sets.iter().all(|s| !failed.contains(s)) => "matched",
                Fate::Book { .. } if message.receive_count >= MAX_RECEIVES => {
                    tracing::error!(message_id = %message.message_id, receives = message.receive_count, "drift events: dropping an event whose check could not be booked; the periodic drift check finds the change");
                    "abandoned"
                }
                Fate::Book { .. } => continue,
            };
            match self.queue.delete(&message.receipt_handle).await {
                Ok(()) => {
                    self.metrics.drift_event(result);
                    if let Fate::Book { event, .. } = &fate {
                        remembered.insert(&event.id);
                    }
                }
                Err(error) => {
                    tracing::warn!(message_id = %message.message_id, %error, "drift events: cannot delete a message; it comes back and is dropped as a duplicate")
                }
            }
        }
    }

    fn classify(
        &self,
        message: &QueueMessage,
        remembered: &mut Remembered,
        batch: &mut HashSet<String>,
    ) -> Fate {
        let event = match event::parse(&message.body) {
            Message::Event(event) => event,
            Message::Ignored(why) => {
                tracing::debug!(message_id = %message.message_id, %why, "drift events: ignored");
                return Fate::Done("ignored");
            }
            Message::Malformed(why) => {
                tracing::warn!(message_id = %message.message_id, %why, "drift events: malformed message dropped");
                return Fate::Done("malformed");
            }
        };
        if remembered.contains(&event.id) || !batch.insert(event.id.clone()) {
            return Fate::Done("duplicate");
        }
        if event.caller.as_deref().is_some_and(|c| self.own.made(c)) {
            remembered.insert(&event.id);
            return Fate::Done("own");
        }
        let sets = self.sets.matching(&event.function);
        if sets.is_empty() {
            tracing::debug!(function = %event.function.name, call = event.name, "drift events: no set owns this function");
            remembered.insert(&event.id);
            return Fate::Done("unmatched");
        }
        Fate::Book { sets, event }
    }
}

/// Sleeps `duration`; `true` if stop was requested meanwhile.
async fn sleep_or_stop(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

/// After the check a booking asked for has read AWS: removes the annotation if it still holds
/// `value` (a newer booking stays, and books the next check). A failed JSON patch `test` is
/// that newer booking, not an error.
pub async fn clear(api: &Api<LambdaAliasSet>, name: &str, value: &str) -> Result<(), kube::Error> {
    let path = format!("/metadata/annotations/{}", ANNOTATION.replace('~', "~0").replace('/', "~1"));
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": path, "value": value},
        {"op": "remove", "path": path},
    ]))
    .map_err(kube::Error::SerdeError)?;
    match api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 422 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
