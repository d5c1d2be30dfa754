//! Converge: observe -> plan -> execute passes until a plan is empty (or only waits), and the
//! single pass and plan-only variants the CLI and the controller use.

use crate::api::LambdaAliasSetSpec;
use crate::aws::{AwsApi, AwsError};
use crate::plan::skill::SkillObservation;
use crate::plan::{self, Input, Outcome, Plan, Snapshot, Watch};

use super::execute::{Done, ExecuteError, execute_predicting};
use super::observe::observe;
use super::watch::read_watch;

/// One pass: observe, plan, execute. Returns the plan it executed and what was done.
#[derive(Clone, Debug)]
pub struct Pass {
    pub snapshot: Snapshot,
    pub plan: Plan,
    pub done: Vec<Done>,
    /// `snapshot` with the executed actions' effects applied.
    pub predicted: Snapshot,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading AWS failed; `done` holds what the converge wrote before (see [`EngineError::done`]).
    #[error("observing AWS failed: {error}")]
    Observe { error: AwsError, done: Vec<Done> },
    #[error(transparent)]
    Execute(Box<ExecuteError>),
    #[error(
        "did not converge after {passes} passes; the last plan still had actions (is something else changing AWS?)"
    )]
    NoConvergence { passes: usize, done: Vec<Done> },
}

impl EngineError {
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            EngineError::Observe { error, .. } => Some(error),
            EngineError::Execute(e) => Some(&e.error),
            EngineError::NoConvergence { .. } => None,
        }
    }

    /// Reading AWS failed (before anything was written).
    pub fn observe(error: AwsError) -> Self {
        EngineError::Observe { error, done: Vec::new() }
    }

    /// What was written before the failure: every write of the converge, so that each still
    /// gets its Event and the CLI prints it.
    pub fn done(&self) -> &[Done] {
        match self {
            EngineError::Observe { done, .. } | EngineError::NoConvergence { done, .. } => done,
            EngineError::Execute(e) => &e.done,
        }
    }
}

/// Plans `snapshot`; when the plan asks for CloudWatch's answers (a rollout starting or in
/// progress), reads them into `watch` and plans again with them.
pub(super) async fn plan_watched<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    snapshot: &Snapshot,
    skills: Option<&[SkillObservation]>,
    now: i64,
    watch: &mut Watch,
) -> Result<Plan, AwsError> {
    let first = plan::plan(Input { owner, spec, observed: snapshot, now, skills, watch: Some(watch) });
    if first.watch.is_empty() {
        return Ok(first);
    }
    read_watch(api, spec, &first.watch, watch, now).await?;
    Ok(plan::plan(Input { owner, spec, observed: snapshot, now, skills, watch: Some(watch) }))
}

/// Observes and plans without writing.
pub async fn plan_only<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: i64,
) -> Result<(Snapshot, Plan), AwsError> {
    let snapshot = observe(api, owner, spec).await?;
    let plan = plan_watched(api, owner, spec, &snapshot, skills, now, &mut Watch::default()).await?;
    Ok((snapshot, plan))
}

/// One reconcile pass: observe, plan, execute in order, stop at the first failure.
pub async fn reconcile_once<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: i64,
) -> Result<Pass, EngineError> {
    pass(api, owner, spec, skills, now, &mut Watch::default()).await
}

/// [`reconcile_once`], with what CloudWatch said earlier in the same converge.
async fn pass<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: i64,
    watch: &mut Watch,
) -> Result<Pass, EngineError> {
    let snapshot = observe(api, owner, spec).await.map_err(EngineError::observe)?;
    let plan =
        plan_watched(api, owner, spec, &snapshot, skills, now, watch).await.map_err(EngineError::observe)?;
    let (done, predicted) = execute_predicting(api, spec, &snapshot, &plan.actions)
        .await
        .map_err(|e| EngineError::Execute(Box::new(e)))?;
    Ok(Pass { snapshot, plan, done, predicted })
}

/// The result of converging: every pass's executed actions and the final (empty) plan.
#[derive(Clone, Debug)]
pub struct Converged {
    pub done: Vec<Done>,
    pub last: Pass,
    pub passes: usize,
}

/// How many observe -> plan -> execute passes one reconcile (or one `apply` of a manifest) may
/// take: a bootstrap takes 2, a swap 3 (the swap is planned alone); more means something else
/// keeps changing AWS.
pub const MAX_PASSES: usize = 10;

/// Repeats passes until a plan has no actions (converged, or only waiting on a drain timer,
/// or blocked on something only a person can fix). A failed precondition re-observes.
/// `skills`: an Alexa-aware set's skills as SMAPI reports them (observed once by the caller).
///
/// After a pass that wrote, the plan for the predicted state (the observed one with AWS's
/// answers applied) decides: empty, and the set has converged without a confirming observe
/// (the property tests check that a fresh observe then plans nothing); otherwise the next pass
/// observes afresh, so every write of it carries current RevisionIds. `last.snapshot` is then
/// the predicted state.
pub async fn converge<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: impl Fn() -> i64,
    max_passes: usize,
) -> Result<Converged, EngineError> {
    let mut all = Vec::new();
    let mut preconditions = 0;
    // CloudWatch is read once per converge: the passes after a write reuse its answers.
    let mut watch = Watch::default();
    for passes in 1..=max_passes {
        match pass(api, owner, spec, skills, now(), &mut watch).await {
            Ok(pass) => {
                all.extend(pass.done.iter().cloned());
                if pass.plan.actions.is_empty() {
                    return Ok(Converged { done: all, last: pass, passes });
                }
                let mut next =
                    match plan_watched(api, owner, spec, &pass.predicted, skills, now(), &mut watch).await {
                        Ok(next) => next,
                        Err(error) => return Err(EngineError::Observe { error, done: all }),
                    };
                // The pass that rolled back knew why (the alarm, the error rate); the plan after
                // it only knows that the version was rejected.
                if let (Outcome::RolledBack { .. }, Outcome::RolledBack { .. }) =
                    (&next.outcome, &pass.plan.outcome)
                {
                    next.outcome = pass.plan.outcome.clone();
                }
                if next.actions.is_empty() {
                    let snapshot = pass.predicted.clone();
                    let last =
                        Pass { snapshot: snapshot.clone(), plan: next, done: pass.done, predicted: snapshot };
                    return Ok(Converged { done: all, last, passes });
                }
            }
            Err(EngineError::Execute(e))
                if matches!(e.error, AwsError::PreconditionFailed { .. }) && preconditions < 3 =>
            {
                preconditions += 1;
                all.extend(e.done.iter().cloned());
            }
            // The error carries every write of this converge, not only its last pass's.
            Err(EngineError::Execute(mut e)) => {
                all.append(&mut e.done);
                e.done = all;
                return Err(EngineError::Execute(e));
            }
            Err(EngineError::Observe { error, .. }) => return Err(EngineError::Observe { error, done: all }),
            Err(e) => return Err(e),
        }
    }
    Err(EngineError::NoConvergence { passes: max_passes, done: all })
}
