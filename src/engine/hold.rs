//! Watching a held step of `spec.rollout` with the cheap reads instead of a full observe.
//!
//! While a step is held, the set is looked at every few seconds for its alarms (README,
//! "Progressive rollouts"). A full observe each time would spend 4 calls of the shared
//! 15 req/s pool per look for the Alexa example, for a decision that is almost always "keep
//! holding". A look at a [`Hold`] reads instead what the drift check reads ([`super::drift`]:
//! `GetFunction`, `ListAliases`, `GetPolicy` on the aliases with statements of ours, one
//! listing per declared event source) and CloudWatch afresh. If the cheap reads find AWS as
//! the last converge left it, the planner decides on that converge's snapshot with the fresh
//! alarm states and error counts:
//! - nothing to do: the look ends there, nothing written, the status gets the alarms' states;
//! - anything to do (the step's end, a rollback, a spec or hand-made change): the caller runs
//!   the full observe -> plan -> execute, so every write still carries a RevisionId just read.
//!
//! What the cheap reads do not see (a version deleted by hand, a mapping of an undeclared
//! source attached by hand) is found at the step's end, which always observes in full.

use super::drift::Baseline;
use super::{Converged, EngineError, Pass, plan_watched};
use crate::api::LambdaAliasSetSpec;
use crate::aws::AwsApi;
use crate::plan::skill::SkillObservation;
use crate::plan::{Outcome, Snapshot, Watch};

/// What a converge that ended holding a step leaves for the looks until the step's end.
#[derive(Clone, Debug)]
pub struct Hold {
    snapshot: Snapshot,
    baseline: Baseline,
    /// When the hold ends (unix seconds): from then on only a full observe decides.
    until: i64,
}

impl Hold {
    /// The hold a converge ended in, if it ended holding a rollout's step.
    pub fn of(spec: &LambdaAliasSetSpec, owner: &str, converged: &Converged) -> Option<Hold> {
        let Outcome::RollingOut { until, .. } = &converged.last.plan.outcome else { return None };
        let snapshot = converged.last.snapshot.clone();
        let baseline = Baseline::of(spec, owner, &snapshot);
        Some(Hold { snapshot, baseline, until: *until })
    }
}

/// One look at a held step. `Ok(Some)`: AWS reads as the hold left it and the plan, with
/// CloudWatch read afresh, still only holds; nothing was written. `Ok(None)`: the step is due,
/// or something changed or went off: run [`super::converge`].
pub async fn look<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: i64,
    hold: &Hold,
) -> Result<Option<Converged>, EngineError> {
    if now >= hold.until {
        return Ok(None);
    }
    if !super::drift::unchanged(api, spec, owner, &hold.baseline).await.map_err(EngineError::observe)? {
        return Ok(None);
    }
    let mut watch = Watch::default();
    let plan = plan_watched(api, owner, spec, &hold.snapshot, skills, now, &mut watch)
        .await
        .map_err(EngineError::observe)?;
    if !plan.actions.is_empty() || !matches!(plan.outcome, Outcome::RollingOut { .. }) {
        return Ok(None);
    }
    let snapshot = hold.snapshot.clone();
    let last = Pass { snapshot: snapshot.clone(), plan, done: Vec::new(), predicted: snapshot };
    Ok(Some(Converged { done: Vec::new(), last, passes: 0 }))
}
