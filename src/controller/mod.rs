//! The Kubernetes glue: watch, finalizer, status patch, events, metrics. The reconcile is the
//! same observe -> plan -> execute loop as the CLI's ([`crate::engine`]).
//!
//! Here: the entry points the watch calls ([`reconcile_meta`], [`reconcile`], [`error_policy`])
//! and what a reconcile is given ([`Context`]). `reconcile` runs kube's finalizer helper, which
//! hands the set to the steps of `reconcile.rs` (admit, validate, read the skill, check or
//! converge, finish) or to the deletion of `cleanup.rs`; `requeue.rs` says when a set is looked
//! at again.

mod cleanup;
pub mod drift;
pub mod drift_events;
mod endpoint;
pub mod events;
pub mod http;
pub mod metrics;
mod reconcile;
mod requeue;
pub mod run;
pub mod skills;
pub mod tenancy;

pub use requeue::{is_steady, lane_of, requeue_after_error, requeue_for};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, PartialObjectMeta};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};

use crate::api::{LambdaAliasSet, LambdaAliasSetSpec};
use crate::aws::budget::{CallCounter, Metered};
use crate::aws::connections::Connections;
use crate::aws::sdk::SdkLambda;
use crate::aws::{AwsApi, AwsError};

use events::EventSink;
use metrics::Metrics;

/// The finalizer that lets the controller apply `deletionPolicy` before the object goes.
pub const FINALIZER: &str = "lambda.aliasset.dev/cleanup";
/// The one field manager status is written under (server-side apply).
pub const MANAGER: &str = "lambda-alias-controller";

/// Hands out one Lambda client per set (shared per region and role).
pub trait LambdaProvider: Send + Sync + 'static {
    type Api: AwsApi + 'static;
    fn client_for<'a>(
        &'a self,
        spec: &'a LambdaAliasSetSpec,
    ) -> impl Future<Output = Arc<Self::Api>> + Send + 'a;
}

impl LambdaProvider for Connections {
    type Api = Metered<SdkLambda>;
    fn client_for<'a>(
        &'a self,
        spec: &'a LambdaAliasSetSpec,
    ) -> impl Future<Output = Arc<Self::Api>> + Send + 'a {
        Connections::client_for(self, spec)
    }
}

/// Everything a reconcile needs.
pub struct Context<P: LambdaProvider> {
    pub client: kube::Client,
    pub aws: P,
    pub events: Arc<dyn EventSink>,
    pub metrics: Arc<Metrics>,
    pub calls: CallCounter,
    /// Alexa-aware sets: the skills' state (the Secret the spec names, then SMAPI).
    pub skills: Arc<dyn skills::SkillSource>,
    /// Periodic drift check of every steady set, spread over this period.
    pub resync: Duration,
    /// The drift lane: when each steady set is checked next, and its baseline.
    pub drift: drift::Scheduler,
    /// `--tenancy`: which sets their namespace allows (strict), checked before anything else.
    pub tenancy: Arc<tenancy::Gate>,
    /// Unix seconds; injectable so tests control drains.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

pub fn system_clock() -> Arc<dyn Fn() -> i64 + Send + Sync> {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// A transient AWS failure while applying deletionPolicy: the finalizer stays, retried.
    #[error("AWS during deletion (will retry): {0}")]
    Cleanup(AwsError),
    #[error("cannot serialize the object: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// A low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeError",
            Error::Finalizer(_) => "FinalizerError",
            Error::Cleanup(e) => e.reason().as_str(),
            Error::Serialize(_) => "SerializeError",
        }
    }
}

pub(crate) fn key_of<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// What the controller's watch keeps of each set: its metadata (without managedFields and
/// kubectl's last-applied copy). The whole object is read only when a reconcile needs it.
pub type SetMeta = PartialObjectMeta<LambdaAliasSet>;

/// The controller's reconcile, from the watch's metadata: a steady set whose drift check is
/// booked for later waits for it without reading anything (this is how the echo of the
/// controller's own status write, a label edit or a relist of 10,000 sets costs nothing), and
/// so does a due check while half the workers are checking; anything else reads the whole
/// object and runs [`reconcile`].
///
/// Why not watch whole objects: in the watch's store a set's spec and status take ≈5 KB
/// (50 MiB at 10,000 sets, `make bench`), its metadata ≈2.4 KB; and a reconcile that reads AWS
/// anyway can afford one GET (it also sees the newest object, not the cache's).
#[tracing::instrument(skip_all, fields(set = %key_of(&*meta)))]
pub async fn reconcile_meta<P: LambdaProvider>(
    meta: Arc<SetMeta>,
    ctx: Arc<Context<P>>,
) -> Result<Action, Error> {
    let namespace = meta.namespace().unwrap_or_default();
    let uid = meta.metadata.uid.clone().unwrap_or_else(|| key_of(&*meta));
    let ours = meta.finalizers().iter().any(|f| f == FINALIZER);
    // A drift event booked a check (drift_events.rs): it runs now, whatever the schedule says.
    let booked = meta.annotations().contains_key(drift_events::ANNOTATION);
    if ours && meta.metadata.deletion_timestamp.is_none() && !booked {
        let epoch = ctx.tenancy.epoch(&namespace);
        if let Some(wait) = ctx.drift.waiting(&uid, meta.metadata.generation, epoch) {
            return Ok(Action::requeue(wait));
        }
    }
    let api: Api<LambdaAliasSet> = Api::namespaced(ctx.client.clone(), &namespace);
    match api.get_opt(&meta.name_any()).await? {
        Some(obj) => reconcile(Arc::new(obj), ctx).await,
        // Deleted since the event (its finalizer gone): the watch's delete event prunes it.
        None => Ok(Action::await_change()),
    }
}

/// The controller's reconcile of a whole object: the finalizer first, then Apply or Cleanup.
#[tracing::instrument(skip_all, fields(set = %key_of(&*obj)))]
pub async fn reconcile<P: LambdaProvider>(
    obj: Arc<LambdaAliasSet>,
    ctx: Arc<Context<P>>,
) -> Result<Action, Error> {
    let api: Api<LambdaAliasSet> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => reconcile::apply(obj, &api, &ctx).await,
            Finalizer::Cleanup(obj) => cleanup::cleanup(obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        // The reconcile's own error, unwrapped: error_policy and the metric label see the cause
        // (a throttled cleanup requeues at AWS's hint).
        kube::runtime::finalizer::Error::ApplyFailed(inner)
        | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner,
        other => Error::Finalizer(Box::new(other)),
    })
}

/// Kubernetes-side failures (the AWS side is handled inside the reconcile): back off.
pub fn error_policy<K: Resource, P: LambdaProvider>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context<P>>,
) -> Action {
    tracing::warn!(set = %key_of(&*obj), error = %error, "reconcile failed");
    // Counted here, with the inner cause; the reconcile's own timer recorded its duration.
    ctx.metrics.failed(error.metric_label());
    match error {
        Error::Cleanup(AwsError::Throttled { retry_after: Some(d), .. }) => Action::requeue(*d),
        _ => Action::requeue(Duration::from_secs(15)),
    }
}

#[cfg(test)]
mod tests;
