//! When a set is looked at again: by the outcome a reconcile reached, by the AWS error it met,
//! or (steady sets) at the drift lane's booking. Pure: no clock but the `now` it is given.

use std::time::Duration;

use kube::runtime::controller::Action;

use crate::api::LambdaAliasSet;
use crate::api::Reason;
use crate::aws::AwsError;
use crate::aws::budget::Lane;
use crate::engine::EngineError;
use crate::plan::Outcome;

/// A function that does not exist yet is looked for again this often.
pub(super) const MISSING_FUNCTION_RETRY: Duration = Duration::from_secs(300);

/// `spec.rollout`: while a step is held, its alarms are read this often (README "Progressive
/// rollouts": the time from an alarm's flip to the rollback is at most this plus a reconcile).
pub const ROLLOUT_WATCH: Duration = Duration::from_secs(10);

/// `spec.provisionedConcurrency`: while a config is IN_PROGRESS, the set is looked at this often
/// (README "Provisioned concurrency").
pub const WARMING_WATCH: Duration = Duration::from_secs(10);

/// ±10 % around `base`, stable per object and moment, so sets spread out over the interval.
pub(super) fn jitter(base: Duration, key: &str, now: i64) -> Duration {
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
        // The step's end, and the alarms in between.
        Outcome::RollingOut { until, .. } => {
            Action::requeue(Duration::from_secs((until - now).max(0) as u64 + 1).min(ROLLOUT_WATCH))
        }
        // Lambda allocating provisioned concurrency (minutes in AWS): the move that waits on it
        // follows within this.
        Outcome::Warming { .. } => Action::requeue(WARMING_WATCH),
        // Waiting on something outside the spec (a deploy, Amazon's publication): look again
        // within a minute.
        Outcome::CodeMismatch { .. } | Outcome::AwaitingPublication { .. } | Outcome::AlarmActive { .. } => {
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
    // A re-point of the skill's development stage being followed is work in progress.
    let following =
        status.skill.as_ref().and_then(|s| s.development_update.as_ref()).is_some_and(|u| u.is_pending());
    if steady && !following { Lane::Drift } else { Lane::Priority }
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn steady_outcomes_are_exactly_those_the_drift_lane_books() {
        use crate::plan::Outcome as O;
        let steady = [
            O::Converged,
            O::Suspended { pending: 1 },
            O::NothingToPromote,
            O::OwnedByOther { alias: "PROD1".into(), owner: "x/y".into() },
            O::SkillEndpointMismatch { message: String::new() },
            O::RolledBack { message: String::new() },
        ];
        assert!(steady.iter().all(is_steady));
        let not = [
            O::Progressing,
            O::Draining { until: NOW },
            O::FunctionNotFound,
            O::VersionNotFound { field: String::new(), version: String::new() },
            O::AwaitingPublication { message: String::new() },
            O::CodeMismatch { field: String::new(), wanted: String::new(), found: String::new() },
            O::RollingOut { message: String::new(), until: NOW },
            O::AlarmActive { message: String::new() },
            O::AlarmNotFound { message: String::new() },
        ];
        assert!(!not.iter().any(is_steady), "{not:?}");
    }

    #[test]
    fn requeue_policy() {
        let resync = Duration::from_secs(300);
        for key in ["a/b", "c/d", "e/f"] {
            let jittered = jitter(resync, key, NOW);
            let missing = Outcome::VersionNotFound { field: "spec.live.version".into(), version: "9".into() };
            assert_eq!(requeue_for(&missing, NOW, resync, key), Action::requeue(jittered));
            assert!(
                jittered >= Duration::from_secs(270) && jittered <= Duration::from_secs(330),
                "{jittered:?}"
            );
        }
        assert_ne!(jitter(resync, "a/b", NOW), jitter(resync, "c/d", NOW), "sets spread out");
        assert_eq!(
            requeue_for(&Outcome::Draining { until: NOW + 42 }, NOW, resync, "a/b"),
            Action::requeue(Duration::from_secs(43))
        );
        // A step's alarms are read every ROLLOUT_WATCH, and the step's end is met exactly.
        let rolling = |until| Outcome::RollingOut { message: String::new(), until };
        assert_eq!(requeue_for(&rolling(NOW + 300), NOW, resync, "a/b"), Action::requeue(ROLLOUT_WATCH));
        let warming = Outcome::Warming { message: String::new() };
        assert_eq!(requeue_for(&warming, NOW, resync, "a/b"), Action::requeue(WARMING_WATCH));
        assert_eq!(
            requeue_for(&rolling(NOW + 3), NOW, resync, "a/b"),
            Action::requeue(Duration::from_secs(4))
        );
        let throttled = EngineError::observe(AwsError::Throttled {
            operation: crate::aws::Operation::GetFunction,
            retry_after: Some(Duration::from_secs(7)),
        });
        assert_eq!(
            requeue_after_error(&throttled),
            Action::requeue(Duration::from_secs(7)),
            "the hint is honoured"
        );
        // A missing function is looked for slowly, even with a short resync.
        let missing = requeue_for(&Outcome::FunctionNotFound, NOW, Duration::from_secs(30), "a/b");
        assert_eq!(missing, Action::requeue(jitter(MISSING_FUNCTION_RETRY, "a/b", NOW)));
    }

    #[test]
    fn only_a_status_steady_at_this_generation_is_the_drift_lanes() {
        use crate::engine::status::{Health, status};
        let mut obj = LambdaAliasSet::new("s", crate::api::LambdaAliasSetSpec::for_function("f"));
        obj.metadata.generation = Some(2);
        assert_eq!(lane_of(&obj), Lane::Priority, "never reconciled");
        let report = crate::plan::Report::default();
        let at = |outcome: &Outcome, generation| {
            Some(status(Some(&report), &Health::from_outcome(outcome), Some(generation), NOW, None))
        };
        obj.status = at(&Outcome::Converged, 2);
        assert_eq!(lane_of(&obj), Lane::Drift);
        obj.status = at(&Outcome::Converged, 1);
        assert_eq!(lane_of(&obj), Lane::Priority, "a spec change");
        obj.status = at(&Outcome::Progressing, 2);
        assert_eq!(lane_of(&obj), Lane::Priority);
        if let Some(ready) = obj.status.as_mut().and_then(|s| s.conditions.first_mut()) {
            ready.reason = "SomethingElse".into();
        }
        assert_eq!(lane_of(&obj), Lane::Priority, "a reason this controller does not know");
    }
}
