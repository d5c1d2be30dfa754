//! One reconcile of a set the finalizer lets through, as steps:
//!
//! 1. [`admit`]: the namespace's rules (`--tenancy strict`), then the drift lane's turn for a
//!    steady set;
//! 2. [`validate`]: the schema and CEL rules, as the API server applies them;
//! 3. [`read_skills`]: an Alexa-aware set's skill state (nothing is written without it);
//! 4. [`check_or_converge`]: the cheap drift check of a set seen converged, else the full
//!    observe -> plan -> execute of [`crate::engine`];
//! 5. [`finish`]: the one ending, which publishes the Events, patches the status (only when it
//!    changed), sets the gauge of sets and counts the reconcile by its Ready reason.
//!
//! Each step either hands a value to the next or says how the reconcile ends ([`Ending`]); only
//! a failure of the Kubernetes API skips `finish`, and [`ReconcileTimer`] times that one too.

mod finish;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::Event;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::endpoint::{self, Subject};
use super::metrics::ReconcileTimer;
use super::requeue::{is_steady, lane_of, requeue_after_error, requeue_for};
use super::{Context, Error, LambdaProvider, MANAGER, drift, drift_events, events, key_of};
use crate::api::Reason;
use crate::api::validate::validate_object;
use crate::api::{LambdaAliasSet, LambdaAliasSetSpec, LambdaAliasSetStatus};
use crate::aws::LambdaApi;
use crate::aws::budget::{Lane, in_lane};
use crate::engine::drift::Baseline;
use crate::engine::status::{Health, status};
use crate::engine::{self, Converged, Done, EngineError};
use crate::plan::skill::SkillObservation;
use crate::plan::{EndpointMove, Report};
use finish::{finish, phase_label};

/// The reconcile of a set the finalizer lets through (kube's `finalizer()` Apply).
pub(super) async fn apply<P: LambdaProvider>(
    obj: Arc<LambdaAliasSet>,
    api: &Api<LambdaAliasSet>,
    ctx: &Context<P>,
) -> Result<Action, Error> {
    let timer = ctx.metrics.timer();
    let seen = Seen::of(&obj);
    // A drift check keeps its place among the checks running at once until it has finished.
    let (ending, _place) = match admit(&seen, ctx) {
        Admission::Wait(action) => return Ok(timer.waited(action)),
        Admission::Refused(message) => (refused(&seen, ctx, message), None),
        Admission::Go(admitted) => match steps(&seen, &admitted, ctx).await {
            Ok(ending) | Err(Stop::End(ending)) => (ending, admitted.place),
            Err(Stop::Failed(error)) => return Err(error),
        },
    };
    let answered = answered(&ending);
    let action = finish(&seen, api, ctx, ending, timer).await?;
    if let (Some(booking), Some(repaired)) = (booking_of(seen.obj), answered) {
        answer_booking(&seen, api, ctx, booking, repaired).await?;
    }
    Ok(action)
}

/// The drift check a drift event booked, if one is (`drift_events::ANNOTATION`).
fn booking_of(obj: &LambdaAliasSet) -> Option<&str> {
    obj.metadata.annotations.as_ref()?.get(drift_events::ANNOTATION).map(String::as_str)
}

/// Whether a reconcile answers a booked check: `Some(repaired)` when it read AWS (or has
/// nothing to read it for: a spec parked as invalid, a set its namespace refuses), `None` when
/// it failed and the booking must stay for the retry.
fn answered(ending: &Ending) -> Option<bool> {
    match ending {
        Ending::Unchanged(_) => Some(false),
        Ending::Status(verdict) if !verdict.health.is_error() => Some(!verdict.done.is_empty()),
        Ending::Status(_) => None,
    }
}

/// The booked check has run: its lag is recorded and its booking removed (unless a newer one
/// replaced it meanwhile, which books the next check).
async fn answer_booking<P: LambdaProvider>(
    seen: &Seen<'_>,
    api: &Api<LambdaAliasSet>,
    ctx: &Context<P>,
    booking: &str,
    repaired: bool,
) -> Result<(), Error> {
    if let Some(time) = drift_events::booked_time(booking) {
        let lag = ((ctx.clock)() - time).max(0) as f64;
        ctx.metrics.drift_event_lag("checked", lag);
        if repaired {
            ctx.metrics.drift_event_lag("repaired", lag);
        }
    }
    tracing::info!(set = %seen.key, booking, repaired, "drift events: booked check done");
    drift_events::clear(api, &seen.obj.name_any(), booking).await?;
    Ok(())
}

/// validate -> read the skill -> check or converge: how the reconcile of an admitted set ends.
async fn steps<P: LambdaProvider>(
    seen: &Seen<'_>,
    admitted: &Admitted,
    ctx: &Context<P>,
) -> Result<Ending, Stop> {
    let valid = validate(seen, &admitted.spec)?;
    let skills = read_skills(seen, &valid, ctx).await?;
    let ending = check_or_converge(seen, admitted, &valid, skills.as_deref(), ctx).await;
    Ok(follow_endpoint(seen, &valid, ending, ctx).await)
}

/// What every step knows of the set it reconciles.
struct Seen<'a> {
    obj: &'a LambdaAliasSet,
    /// `<namespace>/<name>`: the owner written into markers, and the metrics' key.
    key: String,
    /// The drift lane's key (the key when the object has no uid, as in some tests).
    uid: String,
    namespace: String,
    generation: Option<i64>,
    /// The reason of the Ready condition before this reconcile; `None` without one (or with one
    /// this controller does not write).
    ready_before: Option<Reason>,
}

impl<'a> Seen<'a> {
    fn of(obj: &'a LambdaAliasSet) -> Seen<'a> {
        let key = key_of(obj);
        let ready = obj.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
        Seen {
            uid: obj.metadata.uid.clone().unwrap_or_else(|| key.clone()),
            namespace: obj.namespace().unwrap_or_default(),
            generation: obj.metadata.generation,
            ready_before: ready.and_then(|c| c.reason.parse().ok()),
            key,
            obj,
        }
    }

    fn previous(&self) -> Option<&'a LambdaAliasSetStatus> {
        self.obj.status.as_ref()
    }
}

/// How a reconcile that ran ends: what [`finish`] writes.
enum Ending {
    /// A status to compute and patch (if it changed), with its Events.
    Status(Box<Verdict>),
    /// The drift check read AWS as it was when the set was last seen converged: the status
    /// stands, and nothing is written.
    Unchanged(Action),
}

/// The end of a reconcile that writes a status.
struct Verdict {
    health: Health,
    /// What AWS looks like now; `None` when it was not observed (the last status's view stands).
    report: Option<Report>,
    /// The writes made, each with its Event.
    done: Vec<Done>,
    /// The skill's development stage to re-point (`manageDevelopmentEndpoint`).
    endpoints: Vec<EndpointMove>,
    /// Events of the SMAPI side (the development endpoint's moves).
    events: Vec<Event>,
    /// The step that ended the reconcile: the action of the Warning Event of a newly stalled set.
    step: &'static str,
    /// When to look again.
    action: Action,
}

impl Ending {
    /// An ending that did not observe AWS.
    fn unobserved(health: Health, step: &'static str, action: Action) -> Ending {
        Ending::Status(Box::new(Verdict {
            health,
            report: None,
            done: Vec::new(),
            endpoints: Vec::new(),
            events: Vec::new(),
            step,
            action,
        }))
    }
}

/// Why the steps stopped before the last one.
enum Stop {
    /// The reconcile ends here (an invalid spec, an unknown skill state).
    End(Ending),
    /// It failed (then `error_policy` counts it and backs off).
    Failed(Error),
}

impl From<serde_json::Error> for Stop {
    fn from(error: serde_json::Error) -> Stop {
        Stop::Failed(error.into())
    }
}

/// The outcome of [`admit`].
enum Admission {
    Go(Box<Admitted>),
    /// Its namespace does not allow the set (`--tenancy strict`): why.
    Refused(String),
    /// A steady set whose drift check is not due yet, or finds no free place: no reconcile runs.
    Wait(Action),
}

/// A set whose namespace allows it, at its turn.
struct Admitted {
    /// The spec as the namespace admits it (strict tenancy derives the ExternalId).
    spec: LambdaAliasSetSpec,
    lane: Lane,
    /// Whether the cheap drift check comes first: a steady set, at its turn in the drift lane
    /// or because a drift event booked its check.
    cheap: bool,
    /// The namespace's tenancy epoch, stamped with a steady set's booking.
    epoch: u64,
    /// A drift check's place among the checks running at once.
    place: Option<drift::Running>,
}

/// Step 1. Strict tenancy first: a set its namespace does not allow makes no AWS call at all,
/// reads no Secret and adopts nothing. Then a steady set is checked at its reserved time in the
/// drift lane; an earlier event (the controller's own status write, a label edit) waits for
/// that time without an AWS call.
fn admit<P: LambdaProvider>(seen: &Seen<'_>, ctx: &Context<P>) -> Admission {
    let spec = match ctx.tenancy.admit(&seen.namespace, &seen.obj.spec) {
        Ok(spec) => spec.into_owned(),
        Err(message) => return Admission::Refused(message),
    };
    let steady = lane_of(seen.obj) == Lane::Drift;
    let epoch = ctx.tenancy.epoch(&seen.namespace);
    // A check a drift event booked runs now, in the priority lane: someone changed the
    // function, and the live skill may be broken until it is changed back.
    if steady && booking_of(seen.obj).is_some() {
        return Admission::Go(Box::new(Admitted {
            spec,
            lane: Lane::Priority,
            cheap: true,
            epoch,
            place: None,
        }));
    }
    let (lane, place) = match steady {
        true => match drift_turn(seen, &spec, epoch, ctx) {
            Ok(place) => (Lane::Drift, Some(place)),
            Err(wait) => return Admission::Wait(wait),
        },
        false => (Lane::Priority, None),
    };
    Admission::Go(Box::new(Admitted { spec, lane, cheap: steady, epoch, place }))
}

/// A steady set's turn in the drift lane: a place among the running checks, or when to look
/// again.
fn drift_turn<P: LambdaProvider>(
    seen: &Seen<'_>,
    spec: &LambdaAliasSetSpec,
    epoch: u64,
    ctx: &Context<P>,
) -> Result<drift::Running, Action> {
    ctx.drift.stamp(&seen.uid, seen.generation, epoch);
    if let drift::Admit::Wait(wait) = ctx.drift.admit(&seen.uid, spec) {
        return Err(waiting(seen, ctx, wait));
    }
    // Half the workers are checking already: keep the reservation, look again soon.
    let place = ctx.drift.try_run().ok_or(Action::requeue(drift::BUSY_RETRY))?;
    ctx.drift.take(&seen.uid);
    Ok(place)
}

/// A steady set waits for its drift check; the gauge of sets fills from its status meanwhile
/// (after a restart, before AWS is read).
fn waiting<P: LambdaProvider>(seen: &Seen<'_>, ctx: &Context<P>, wait: Duration) -> Action {
    if let Some(status) = seen.previous() {
        let condition = |kind: &str| status.conditions.iter().find(|c| c.type_ == kind);
        let ready = condition("Ready").map_or("Unknown", |c| c.status.as_str());
        let stalled = condition("Stalled").filter(|c| c.status == "True").map(|c| c.reason.as_str());
        ctx.metrics.set_state(&seen.key, phase_label(status), ready, stalled);
    }
    Action::requeue(wait)
}

/// A set its namespace does not allow: `Ready=False`, `Stalled=True`, reason `NotAllowed`, and
/// nothing else until the Namespace (or the spec) changes.
fn refused<P: LambdaProvider>(seen: &Seen<'_>, ctx: &Context<P>, message: String) -> Ending {
    ctx.drift.forget(&seen.uid);
    let health = Health::failed(Reason::NotAllowed, format!("{}: {message}", seen.key));
    Ending::unobserved(health, "Admit", Action::await_change())
}

/// A spec that passed the same schema and CEL rules as the API server, as its namespace admits
/// it: what the drift check and converge take.
struct Valid<'a> {
    spec: &'a LambdaAliasSetSpec,
}

/// Step 2. Objects stored before a rule existed get the API server's answer too. An invalid
/// spec is parked until it changes: no retry storm.
fn validate<'a>(seen: &Seen<'_>, spec: &'a LambdaAliasSetSpec) -> Result<Valid<'a>, Stop> {
    let mut object = serde_json::to_value(seen.obj)?;
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    match validate_object(&object, None) {
        Ok(()) => Ok(Valid { spec }),
        Err(invalid) => {
            let health = Health::invalid_spec(format!("{}: {invalid}", seen.key));
            Err(Stop::End(Ending::unobserved(health, "Validate", Action::await_change())))
        }
    }
}

/// Step 3. An Alexa-aware set's skills, one observation per skill id; `None` for other sets.
/// Without them nothing is written (the interlock needs them): the reconcile ends.
async fn read_skills<P: LambdaProvider>(
    seen: &Seen<'_>,
    valid: &Valid<'_>,
    ctx: &Context<P>,
) -> Result<Option<Vec<SkillObservation>>, Stop> {
    if !valid.spec.is_alexa_aware() {
        return Ok(None);
    }
    match ctx.skills.observe(&seen.namespace, valid.spec).await {
        Ok(skills) => Ok(Some(skills)),
        Err(error) => {
            tracing::warn!(set = %seen.key, error = %error, "cannot read the skill's state");
            let action = Action::requeue(error.retry_after());
            Err(Stop::End(Ending::unobserved(error.health(), "ObserveSkill", action)))
        }
    }
}

/// Step 4. The cheap check first, when the set was seen converged at this generation: only if
/// what it reads differs does the full observe -> plan -> execute run.
async fn check_or_converge<P: LambdaProvider>(
    seen: &Seen<'_>,
    admitted: &Admitted,
    valid: &Valid<'_>,
    skills: Option<&[SkillObservation]>,
    ctx: &Context<P>,
) -> Ending {
    let aws = ctx.aws.client_for(valid.spec).await;
    let skills_print = skills_fingerprint(skills);
    let result = match check(seen, admitted, valid, skills_print, &*aws, ctx).await {
        Some(Ok(true)) => {
            pass_seen(seen, ctx);
            return Ending::Unchanged(Action::requeue(ctx.drift.schedule_next(&seen.uid, valid.spec)));
        }
        Some(Err(error)) => Err(error),
        Some(Ok(false)) | None => {
            match look_at_hold(seen, admitted.lane, valid, skills, skills_print, &*aws, ctx).await {
                Some(looked) => looked,
                None => {
                    let clock = ctx.clock.clone();
                    let converge = engine::converge(
                        &*aws,
                        &seen.key,
                        valid.spec,
                        skills,
                        move || clock(),
                        engine::MAX_PASSES,
                    );
                    in_lane(admitted.lane, converge).await
                }
            }
        }
    };
    pass_seen(seen, ctx);
    match result {
        Ok(converged) => reached(seen, admitted, valid, skills_print, converged, ctx),
        Err(error) => engine_failed(seen, error, ctx),
    }
}

/// The drift check of a steady set (its turn in the drift lane, or booked by a drift event):
/// whether AWS reads as when the set was last seen converged (`None`: no baseline for this
/// generation and skill state, so a full observe).
async fn check<A: LambdaApi, P: LambdaProvider>(
    seen: &Seen<'_>,
    admitted: &Admitted,
    valid: &Valid<'_>,
    skills_print: u64,
    aws: &A,
    ctx: &Context<P>,
) -> Option<Result<bool, EngineError>> {
    if !admitted.cheap {
        return None;
    }
    let lane = admitted.lane;
    let checked = match ctx.drift.baseline(&seen.uid, seen.generation, skills_print) {
        Some(baseline) => {
            let check = engine::drift::unchanged(aws, valid.spec, &seen.key, &baseline);
            Some(in_lane(lane, check).await.map_err(EngineError::observe))
        }
        None => None,
    };
    let result = match &checked {
        Some(Ok(true)) => "unchanged",
        Some(Ok(false)) => "changed",
        Some(Err(_)) => "failed",
        None => "full",
    };
    ctx.metrics.drift_check(result);
    checked
}

/// A set that last ended holding a rollout's step, at the same generation and skill state, is
/// looked at with the cheap reads and CloudWatch ([`engine::hold`]): `Some` when that decided
/// (nothing to write, or an error), `None` when the full converge must run.
async fn look_at_hold<A: crate::aws::AwsApi, P: LambdaProvider>(
    seen: &Seen<'_>,
    lane: Lane,
    valid: &Valid<'_>,
    skills: Option<&[SkillObservation]>,
    skills_print: u64,
    aws: &A,
    ctx: &Context<P>,
) -> Option<Result<Converged, EngineError>> {
    let hold = ctx.drift.hold(&seen.uid, seen.generation, skills_print)?;
    let look = engine::hold::look(aws, &seen.key, valid.spec, skills, (ctx.clock)(), &hold);
    let result = in_lane(lane, look).await;
    ctx.metrics.rollout_look(match &result {
        Ok(Some(_)) => "held",
        Ok(None) => "full",
        Err(_) => "failed",
    });
    result.transpose()
}

/// A drift pass ends when every steady set has been seen once: its duration is a gauge.
fn pass_seen<P: LambdaProvider>(seen: &Seen<'_>, ctx: &Context<P>) {
    if let Some(pass) = ctx.drift.seen(&seen.uid) {
        ctx.metrics.drift_pass(pass);
    }
}

/// The planner's outcome was reached: a steady set books its next drift check with a baseline
/// of what AWS looks like now; any other outcome says when to look again.
fn reached<P: LambdaProvider>(
    seen: &Seen<'_>,
    admitted: &Admitted,
    valid: &Valid<'_>,
    skills_print: u64,
    converged: Converged,
    ctx: &Context<P>,
) -> Ending {
    let outcome = &converged.last.plan.outcome;
    let hold = engine::hold::Hold::of(valid.spec, &seen.key, &converged);
    ctx.drift.set_hold(&seen.uid, hold.map(|h| (seen.generation, skills_print, h)));
    let action = if is_steady(outcome) {
        let baseline = Baseline::of(valid.spec, &seen.key, &converged.last.snapshot);
        ctx.drift.set_baseline(&seen.uid, Some((seen.generation, skills_print, baseline)));
        ctx.drift.stamp(&seen.uid, seen.generation, admitted.epoch);
        Action::requeue(ctx.drift.schedule_next(&seen.uid, valid.spec))
    } else {
        ctx.drift.set_baseline(&seen.uid, None);
        ctx.drift.unschedule(&seen.uid);
        requeue_for(outcome, (ctx.clock)(), ctx.resync, &seen.key)
    };
    let health = Health::from_outcome(outcome);
    Ending::Status(Box::new(Verdict {
        health,
        report: Some(converged.last.plan.report),
        done: converged.done,
        endpoints: converged.last.plan.endpoints,
        events: Vec::new(),
        step: "Reconcile",
        action,
    }))
}

/// AWS failed (or would not converge): the writes made so far get their Events, the last
/// status's view of AWS stands, and the set is retried in the priority lane.
fn engine_failed<P: LambdaProvider>(seen: &Seen<'_>, error: EngineError, ctx: &Context<P>) -> Ending {
    tracing::warn!(set = %seen.key, error = %error, "reconcile against AWS failed");
    ctx.drift.set_baseline(&seen.uid, None);
    ctx.drift.set_hold(&seen.uid, None);
    ctx.drift.unschedule(&seen.uid);
    let done = error.done().to_vec();
    Ending::Status(Box::new(Verdict {
        health: Health::engine_error(&error),
        report: None,
        done,
        endpoints: Vec::new(),
        events: Vec::new(),
        step: "Reconcile",
        action: requeue_after_error(&error),
    }))
}

/// Step 4b. `manageDevelopmentEndpoint`: once the Lambda side converged, the skill's development
/// stage follows the candidate (or the update in progress is followed). Its record goes into
/// the skill's status, its Events with the others; it never fails the reconcile.
async fn follow_endpoint<P: LambdaProvider>(
    seen: &Seen<'_>,
    valid: &Valid<'_>,
    ending: Ending,
    ctx: &Context<P>,
) -> Ending {
    let Ending::Status(mut verdict) = ending else { return ending };
    let opted_in = valid.spec.alexa.as_ref().is_some_and(|a| a.manage_development_endpoint);
    let Some(skill) = verdict.report.as_mut().and_then(|r| r.skill.as_mut()).filter(|_| opted_in) else {
        return Ending::Status(verdict);
    };
    let skill_id = skill.skill_id.clone();
    let previous = seen
        .previous()
        .and_then(|s| s.skill.as_ref())
        .filter(|s| s.skill_id == skill_id)
        .and_then(|s| s.development_update.as_ref());
    let subject =
        Subject { key: &seen.key, namespace: &seen.namespace, spec: valid.spec, skill_id: &skill_id };
    let followed = endpoint::follow(&subject, &verdict.endpoints, previous, ctx).await;
    // The planner leaves a managed stage's mismatch unnoted: only a held move is worth a note.
    if let Some(held) = followed.held {
        skill.note = Some(held);
    }
    skill.development_update = followed.update;
    verdict.events.extend(followed.events);
    if followed.soon {
        verdict.action = Action::requeue(endpoint::FOLLOW_AGAIN);
    }
    if followed.retry {
        ctx.drift.set_baseline(&seen.uid, None);
    }
    Ending::Status(verdict)
}

/// What the skills' state looked like, for the drift baseline (0 for sets that are not
/// Alexa-aware): another answer from SMAPI means a full observe.
fn skills_fingerprint(skills: Option<&[SkillObservation]>) -> u64 {
    use std::hash::{Hash, Hasher};
    let Some(skills) = skills else { return 0 };
    let mut h = std::hash::DefaultHasher::new();
    format!("{skills:?}").hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Phase;
    use crate::plan::Outcome;

    fn set(spec: LambdaAliasSetSpec) -> LambdaAliasSet {
        let mut obj = LambdaAliasSet::new("trivia", spec);
        obj.metadata.namespace = Some("skills".into());
        obj.metadata.generation = Some(3);
        obj
    }

    #[test]
    fn the_ready_reason_before_is_read_from_the_status() {
        let mut obj = set(LambdaAliasSetSpec::for_function("f"));
        let seen = Seen::of(&obj);
        assert_eq!(
            (seen.key.as_str(), seen.uid.as_str(), seen.ready_before),
            ("skills/trivia", "skills/trivia", None)
        );
        let health = Health::from_outcome(&Outcome::NothingToPromote);
        obj.status = Some(status(None, &health, Some(3), 0, None));
        assert_eq!(Seen::of(&obj).ready_before, Some(Reason::NothingToPromote));
        if let Some(ready) = obj.status.as_mut().and_then(|s| s.conditions.first_mut()) {
            ready.reason = "FromAnotherController".into();
        }
        assert_eq!(Seen::of(&obj).ready_before, None, "not one of ours: any stall is news");
    }

    #[test]
    fn an_invalid_spec_ends_the_reconcile_stalled_and_parked() {
        let mut spec = LambdaAliasSetSpec::for_function("f");
        spec.certification.phase = Phase::Development;
        let good = set(spec.clone());
        assert!(validate(&Seen::of(&good), &good.spec).is_ok());
        spec.aliases = vec!["PROD1".into(), "PROD1".into()];
        let bad = set(spec);
        let Err(Stop::End(Ending::Status(verdict))) = validate(&Seen::of(&bad), &bad.spec) else {
            panic!("an invalid spec ends the reconcile with a status");
        };
        assert_eq!(verdict.health.reason, Reason::InvalidSpec);
        assert!(verdict.health.stalled && !verdict.health.is_error(), "parked, not failed");
        assert!(verdict.health.message.starts_with("skills/trivia: "), "{}", verdict.health.message);
        assert!(verdict.report.is_none() && verdict.done.is_empty());
        assert_eq!((verdict.step, verdict.action), ("Validate", Action::await_change()));
    }

    #[test]
    fn the_skills_fingerprint_is_zero_only_for_sets_that_are_not_alexa_aware() {
        assert_eq!(skills_fingerprint(None), 0);
        let none = skills_fingerprint(Some(&[]));
        assert_eq!(none, skills_fingerprint(Some(&[])), "stable");
    }
}
