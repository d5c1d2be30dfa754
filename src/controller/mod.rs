//! The Kubernetes glue: watch, finalizer, status patch, events, metrics. The reconcile is the
//! same observe -> plan -> execute loop as the CLI's ([`crate::engine`]).

pub mod drift;
pub mod events;
pub mod http;
pub mod metrics;
pub mod run;
pub mod skills;
pub mod tenancy;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::api::validate::validate_object;
use crate::api::{DeletionPolicy, LambdaAliasSet, LambdaAliasSetSpec, LambdaAliasSetStatus};
use crate::aws::api::{AwsError, LambdaApi};
use crate::aws::budget::{CallCounter, Lane, Metered, in_lane};
use crate::aws::connections::Connections;
use crate::aws::sdk::SdkLambda;
use crate::engine::drift::Baseline;
use crate::engine::status::{Health, status};
use crate::engine::{self, EngineError};
use crate::plan::{self, Outcome, Reason};

use events::EventSink;
use metrics::Metrics;

/// The finalizer that lets the controller apply `deletionPolicy` before the object goes.
pub const FINALIZER: &str = "lambda.aliasset.dev/cleanup";
/// The one field manager status is written under (server-side apply).
pub const MANAGER: &str = "lambda-alias-controller";
/// A function that does not exist yet is looked for again this often.
const MISSING_FUNCTION_RETRY: Duration = Duration::from_secs(300);

/// Hands out one Lambda client per set (shared per region and role).
pub trait LambdaProvider: Send + Sync + 'static {
    type Api: LambdaApi + 'static;
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
    if ours && meta.metadata.deletion_timestamp.is_none() {
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
            Finalizer::Apply(obj) => apply(obj, &api, &ctx).await,
            Finalizer::Cleanup(obj) => cleanup(obj, &ctx).await,
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
    // Counted, but not timed: the reconcile's duration is not known here.
    ctx.metrics.failed(error.metric_label());
    match error {
        Error::Cleanup(AwsError::Throttled { retry_after: Some(d), .. }) => Action::requeue(*d),
        _ => Action::requeue(Duration::from_secs(15)),
    }
}

/// A steady set waits for its drift check; the gauge of sets fills from its status meanwhile
/// (after a restart, before AWS is read).
fn waiting<P: LambdaProvider>(obj: &LambdaAliasSet, ctx: &Context<P>, key: &str, wait: Duration) -> Action {
    if let Some(status) = obj.status.as_ref() {
        let ready =
            status.conditions.iter().find(|c| c.type_ == "Ready").map_or("Unknown", |c| c.status.as_str());
        ctx.metrics.set_state(key, phase_label(status), ready);
    }
    Action::requeue(wait)
}

/// ±10 % around `base`, stable per object and moment, so sets spread out over the interval.
fn jitter(base: Duration, key: &str, now: i64) -> Duration {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain(now.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let fraction = (hash % 2001) as f64 / 1000.0 - 1.0; // -1.0 ..= 1.0
    base.mul_f64(1.0 + 0.1 * fraction)
}

/// When to look again after a reconcile that reached `outcome`. Steady outcomes
/// ([`is_steady`]) are booked by the drift lane instead (`drift::Scheduler::schedule_next`).
pub fn requeue_for(outcome: &Outcome, now: i64, resync: Duration, key: &str) -> Action {
    match outcome {
        // Exactly when the previously live alias may be re-pointed.
        Outcome::Draining { until } => Action::requeue(Duration::from_secs((until - now).max(0) as u64 + 1)),
        Outcome::Progressing => Action::requeue(Duration::from_secs(5)),
        // Waiting on something outside the spec (a deploy, Amazon's publication): look again
        // within a minute.
        Outcome::CodeMismatch { .. } | Outcome::AwaitingPublication { .. } => {
            Action::requeue(jitter(resync.min(Duration::from_secs(60)), key, now))
        }
        Outcome::FunctionNotFound => Action::requeue(jitter(MISSING_FUNCTION_RETRY.max(resync), key, now)),
        // A version to be published (only a full observe lists versions); any other outcome
        // not booked by the drift lane.
        _ => Action::requeue(jitter(resync, key, now)),
    }
}

/// Whether only a change the cheap drift reads see can move a set from `outcome`
/// ([`Reason::is_steady`]): its next look is a periodic drift check. One rule for both the
/// outcome just planned and the status of a set the watch hands over ([`lane_of`]).
pub fn is_steady(outcome: &Outcome) -> bool {
    outcome.reason().is_steady()
}

/// Whether the status says the controller acted on this generation and ended steady: then
/// this reconcile is a periodic drift check (or an echo of the controller's own write), and
/// belongs to the drift lane. Anything else (a spec change, a timer, a retry) is priority.
pub fn lane_of(obj: &LambdaAliasSet) -> Lane {
    let Some(status) = obj.status.as_ref() else { return Lane::Priority };
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    let steady = status.observed_generation.is_some()
        && status.observed_generation == obj.metadata.generation
        && ready.is_some_and(|c| c.reason.parse().is_ok_and(Reason::is_steady));
    if steady { Lane::Drift } else { Lane::Priority }
}

/// When to try again after an AWS failure: honour throttling hints, go slow on what needs a
/// person (permissions), retry transient failures soon.
pub fn requeue_after_error(error: &EngineError) -> Action {
    match error.aws() {
        Some(AwsError::Throttled { retry_after, .. }) => {
            Action::requeue(retry_after.unwrap_or(Duration::from_secs(30)).max(Duration::from_secs(1)))
        }
        Some(AwsError::AccessDenied { .. } | AwsError::Invalid { .. }) => {
            Action::requeue(Duration::from_secs(300))
        }
        Some(AwsError::PreconditionFailed { .. } | AwsError::Conflict { .. }) => {
            Action::requeue(Duration::from_secs(5))
        }
        Some(AwsError::NotFound { .. } | AwsError::Unavailable { .. }) => {
            Action::requeue(Duration::from_secs(30))
        }
        None => Action::requeue(Duration::from_secs(10)),
    }
}

async fn patch_status(
    api: &Api<LambdaAliasSet>,
    obj: &LambdaAliasSet,
    new: &LambdaAliasSetStatus,
) -> Result<(), Error> {
    if obj.status.as_ref() == Some(new) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": "LambdaAliasSet",
        "status": new,
    });
    api.patch_status(&obj.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

async fn apply<P: LambdaProvider>(
    obj: Arc<LambdaAliasSet>,
    api: &Api<LambdaAliasSet>,
    ctx: &Context<P>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let key = key_of(&*obj);
    let uid = obj.metadata.uid.clone().unwrap_or_else(|| key.clone());
    // Strict tenancy first: a set its namespace does not allow makes no AWS call at all, reads
    // no Secret and adopts nothing; it waits for the Namespace's annotations to change.
    let spec = match ctx.tenancy.admit(&obj.namespace().unwrap_or_default(), &obj.spec) {
        Ok(spec) => spec.into_owned(),
        Err(message) => return refuse(&obj, api, ctx, &key, &uid, message, started).await,
    };
    // A steady set is checked at its reserved time in the drift lane; an earlier event (the
    // controller's own status write, a label edit) waits for that time without an AWS call.
    let lane = lane_of(&obj);
    let generation = obj.metadata.generation;
    let epoch = ctx.tenancy.epoch(&obj.namespace().unwrap_or_default());
    let mut _running = None;
    if lane == Lane::Drift {
        ctx.drift.stamp(&uid, generation, epoch);
        match ctx.drift.admit(&uid, &spec) {
            drift::Admit::Go => match ctx.drift.try_run() {
                Some(running) => {
                    ctx.drift.take(&uid);
                    _running = Some(running);
                }
                // Half the workers are checking already: keep the reservation, look again soon.
                None => return Ok(Action::requeue(drift::BUSY_RETRY)),
            },
            drift::Admit::Wait(wait) => return Ok(waiting(&obj, ctx, &key, wait)),
        }
    }
    let now = (ctx.clock)();
    let previous = obj.status.as_ref();
    let reference = obj.object_ref(&());
    let ready_before = previous
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.reason.parse().ok());

    // The same schema and CEL rules as the API server: objects stored before a rule existed
    // get the same answer. Invalid specs are parked until they change: no retry storm.
    let mut object = serde_json::to_value(&*obj)?;
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Err(invalid) = validate_object(&object, None) {
        let health = Health::invalid_spec(format!("{key}: {invalid}"));
        let new = status(None, &health, generation, now, previous);
        if ready_before != Some(Reason::InvalidSpec) {
            let event = events::warning("InvalidSpec", "Validate", health.message.clone());
            ctx.events.publish(&reference, event).await;
        }
        patch_status(api, &obj, &new).await?;
        ctx.metrics.set_state(&key, phase_label(&new), "False");
        ctx.metrics.reconciled(started.elapsed(), "InvalidSpec", false);
        return Ok(Action::await_change());
    }

    // Alexa-aware: nothing is written without the skill's state (the interlock needs it).
    let observed_skills = if spec.is_alexa_aware() {
        match ctx.skills.observe(&obj.namespace().unwrap_or_default(), &spec).await {
            Ok(skills) => Some(skills),
            Err(error) => {
                tracing::warn!(set = %key, error = %error, "cannot read the skill's state");
                let health = error.health();
                if health.newly_stalled(ready_before) {
                    let event =
                        events::warning(health.warning_reason(), "ObserveSkill", health.message.clone());
                    ctx.events.publish(&reference, event).await;
                }
                let new = status(None, &health, generation, now, previous);
                patch_status(api, &obj, &new).await?;
                ctx.metrics.set_state(&key, phase_label(&new), "False");
                ctx.metrics.reconciled(started.elapsed(), health.reason.as_str(), true);
                return Ok(Action::requeue(error.retry_after()));
            }
        }
    } else {
        None
    };
    let aws = ctx.aws.client_for(&spec).await;
    let skills_print = skills_fingerprint(observed_skills.as_deref());
    // The cheap check first, when the set was seen converged at this generation: only if what
    // it reads differs does the full observe run.
    let baseline =
        if lane == Lane::Drift { ctx.drift.baseline(&uid, generation, skills_print) } else { None };
    let checked = match &baseline {
        Some(baseline) => {
            let check = engine::drift::unchanged(&*aws, &spec, &key, baseline);
            Some(in_lane(lane, check).await.map_err(EngineError::Observe))
        }
        None => None,
    };
    if lane == Lane::Drift {
        let result = match &checked {
            Some(Ok(true)) => "unchanged",
            Some(Ok(false)) => "changed",
            Some(Err(_)) => "failed",
            None => "full",
        };
        ctx.metrics.drift_check(result);
    }
    if let Some(Ok(true)) = checked {
        if let Some(pass) = ctx.drift.seen(&uid) {
            ctx.metrics.drift_pass(pass);
        }
        let reason = ready_before.unwrap_or(Reason::Converged);
        ctx.metrics.reconciled(started.elapsed(), reason.as_str(), false);
        return Ok(Action::requeue(ctx.drift.schedule_next(&uid, &spec)));
    }
    let clock = ctx.clock.clone();
    let result = match checked {
        Some(Err(error)) => Err(error),
        _ => {
            let converge = engine::converge(
                &*aws,
                &key,
                &spec,
                observed_skills.as_deref(),
                move || clock(),
                engine::MAX_PASSES,
            );
            in_lane(lane, converge).await
        }
    };
    if let Some(pass) = ctx.drift.seen(&uid) {
        ctx.metrics.drift_pass(pass);
    }
    let (health, report, done, action) = match result {
        Ok(converged) => {
            let outcome = converged.last.plan.outcome.clone();
            let action = if is_steady(&outcome) {
                let baseline = Baseline::of(&spec, &key, &converged.last.snapshot);
                ctx.drift.set_baseline(&uid, Some((generation, skills_print, baseline)));
                ctx.drift.stamp(&uid, generation, epoch);
                Action::requeue(ctx.drift.schedule_next(&uid, &spec))
            } else {
                ctx.drift.set_baseline(&uid, None);
                ctx.drift.unschedule(&uid);
                requeue_for(&outcome, (ctx.clock)(), ctx.resync, &key)
            };
            (Health::from_outcome(&outcome), Some(converged.last.plan.report), converged.done, action)
        }
        Err(error) => {
            tracing::warn!(set = %key, error = %error, "reconcile against AWS failed");
            ctx.drift.set_baseline(&uid, None);
            ctx.drift.unschedule(&uid);
            let done = match &error {
                EngineError::Execute(e) => e.done.clone(),
                _ => Vec::new(),
            };
            let health = Health::engine_error(&error);
            (health, None, done, requeue_after_error(&error))
        }
    };
    for d in &done {
        ctx.events.publish(&reference, events::for_action(d, previous)).await;
    }
    if health.newly_stalled(ready_before) {
        let event = events::warning(health.warning_reason(), "Reconcile", health.message.clone());
        ctx.events.publish(&reference, event).await;
    }
    // The development stage does not call the candidate: worth a Warning once, not a block.
    let note = report.as_ref().and_then(|r| r.skill.as_ref()).and_then(|s| s.note.clone());
    if note.is_some() && note != previous.and_then(|p| p.skill.as_ref()).and_then(|s| s.note.clone()) {
        let event =
            events::warning("DevelopmentStageMismatch", "ObserveSkill", note.clone().unwrap_or_default());
        ctx.events.publish(&reference, event).await;
    }
    let new = status(report.as_ref(), &health, generation, (ctx.clock)(), previous);
    patch_status(api, &obj, &new).await?;
    ctx.metrics.set_state(&key, phase_label(&new), if health.ready { "True" } else { "False" });
    ctx.metrics.reconciled(started.elapsed(), health.reason.as_str(), health.is_error());
    Ok(action)
}

/// What the skills' state looked like, for the drift baseline (0 for sets that are not
/// Alexa-aware): another answer from SMAPI means a full observe.
fn skills_fingerprint(skills: Option<&[crate::plan::skill::SkillObservation]>) -> u64 {
    use std::hash::{Hash, Hasher};
    let Some(skills) = skills else { return 0 };
    let mut h = std::hash::DefaultHasher::new();
    format!("{skills:?}").hash(&mut h);
    h.finish()
}

/// A set its namespace does not allow (`--tenancy strict`): `Ready=False`, `Stalled=True`,
/// reason `NotAllowed`, and nothing else until the Namespace (or the spec) changes.
async fn refuse<P: LambdaProvider>(
    obj: &LambdaAliasSet,
    api: &Api<LambdaAliasSet>,
    ctx: &Context<P>,
    key: &str,
    uid: &str,
    message: String,
    started: Instant,
) -> Result<Action, Error> {
    let previous = obj.status.as_ref();
    let ready_before = previous
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.reason.parse().ok());
    let health = Health {
        ready: false,
        reconciling: false,
        stalled: true,
        reason: Reason::NotAllowed,
        message: format!("{key}: {message}"),
    };
    ctx.drift.forget(uid);
    if health.newly_stalled(ready_before) {
        let event = events::warning(health.warning_reason(), "Admit", health.message.clone());
        ctx.events.publish(&obj.object_ref(&()), event).await;
    }
    let new = status(None, &health, obj.metadata.generation, (ctx.clock)(), previous);
    patch_status(api, obj, &new).await?;
    ctx.metrics.set_state(key, phase_label(&new), "False");
    ctx.metrics.reconciled(started.elapsed(), health.reason.as_str(), true);
    Ok(Action::await_change())
}

fn phase_label(status: &LambdaAliasSetStatus) -> &'static str {
    status.phase.map_or("Unknown", |p| p.as_str())
}

/// Errors that retrying cannot heal: deletion lets the object go with a Warning Event.
fn heals(error: &AwsError) -> bool {
    matches!(
        error,
        AwsError::Throttled { .. }
            | AwsError::Unavailable { .. }
            | AwsError::PreconditionFailed { .. }
            | AwsError::Conflict { .. }
    )
}

async fn cleanup<P: LambdaProvider>(obj: Arc<LambdaAliasSet>, ctx: &Context<P>) -> Result<Action, Error> {
    let key = key_of(&*obj);
    ctx.drift.forget(obj.metadata.uid.as_deref().unwrap_or(&key));
    let reference = obj.object_ref(&());
    // A set its namespace does not allow never touched AWS and does not now: deletion only
    // releases the finalizer.
    let spec = match ctx.tenancy.admit(&obj.namespace().unwrap_or_default(), &obj.spec) {
        Ok(spec) => spec.into_owned(),
        Err(message) => {
            let note = format!("not allowed, so AWS is left as it is: {message}");
            ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", note)).await;
            ctx.metrics.forget(&key);
            return Ok(Action::await_change());
        }
    };
    let aws = ctx.aws.client_for(&spec).await;
    let policy = obj.spec.deletion_policy;
    let give_up = |error: &AwsError| {
        format!(
            "deletionPolicy {policy:?} could not be applied ({error}); the object is released and AWS is left as it is"
        )
    };
    let snapshot = match engine::observe(&*aws, &key, &obj.spec).await {
        Ok(s) => s,
        Err(e) if heals(&e) => return Err(Error::Cleanup(e)),
        Err(e) => {
            ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", give_up(&e))).await;
            ctx.metrics.forget(&key);
            return Ok(Action::await_change());
        }
    };
    if snapshot.function.is_none() {
        let note = format!("function {} not found: nothing to clean up", obj.spec.function_name);
        ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", note)).await;
        ctx.metrics.forget(&key);
        return Ok(Action::await_change());
    }
    let actions = match policy {
        DeletionPolicy::Retain => plan::release(&key, &snapshot),
        // An Alexa-aware set never deletes the alias the skill's live stage calls: it is released
        // instead. Without the skill's state, nothing can be deleted safely: all are released.
        DeletionPolicy::Delete if obj.spec.is_alexa_aware() => {
            let function_arn = snapshot.function.as_ref().map(|f| f.function_arn.clone()).unwrap_or_default();
            let keep = match ctx.skills.observe(&obj.namespace().unwrap_or_default(), &obj.spec).await {
                Ok(skills) => plan::live_stage_aliases(&skills, &function_arn),
                Err(error) => {
                    let note = format!(
                        "deletionPolicy Delete: the skill's state is unknown ({error}), so no alias is deleted; they are released as with Retain"
                    );
                    ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", note)).await;
                    snapshot.aliases.iter().map(|a| a.name.clone()).collect()
                }
            };
            plan::teardown(&key, &snapshot, &keep)
        }
        DeletionPolicy::Delete => plan::teardown(&key, &snapshot, &Default::default()),
    };
    match engine::execute(&*aws, &obj.spec, &snapshot, &actions).await {
        Ok(done) => {
            for d in &done {
                ctx.events.publish(&reference, events::for_action(d, obj.status.as_ref())).await;
            }
        }
        Err(e) => {
            for d in &e.done {
                ctx.events.publish(&reference, events::for_action(d, obj.status.as_ref())).await;
            }
            if heals(&e.error) {
                return Err(Error::Cleanup(e.error));
            }
            ctx.events
                .publish(&reference, events::warning("CleanupSkipped", "Delete", give_up(&e.error)))
                .await;
        }
    }
    ctx.metrics.forget(&key);
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests;
