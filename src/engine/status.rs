//! The status a set reports: computed by a pure function from the plan's report and outcome,
//! with kstatus conditions (Ready, Reconciling, Stalled) whose lastTransitionTime only moves
//! when the condition's status changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::api::Reason;
use crate::api::{CertificationReview, LambdaAliasSetStatus, Rotation, SkillStatus};
use crate::aws::AwsError;
use crate::plan::{Outcome, Report};

/// The health a reconcile ends with, in kstatus terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub ready: bool,
    pub reconciling: bool,
    pub stalled: bool,
    /// The Ready condition's reason, also the metrics' low-cardinality label.
    pub reason: Reason,
    pub message: String,
}

impl Health {
    pub fn from_outcome(outcome: &Outcome) -> Health {
        let reason = outcome.reason();
        let ready = reason == Reason::Converged;
        let stalled = reason.is_stalled();
        let reconciling = !ready && !stalled && reason != Reason::Suspended;
        Health { ready, reconciling, stalled, reason, message: outcome.message() }
    }

    /// A reconcile that ended without reaching the planner's outcome: not Ready; Stalled when a
    /// person must act, else still Reconciling (a retry heals it).
    pub fn failed(reason: Reason, message: impl Into<String>) -> Health {
        let stalled = reason.is_stalled();
        Health { ready: false, reconciling: !stalled, stalled, reason, message: message.into() }
    }

    pub fn invalid_spec(message: impl Into<String>) -> Health {
        Health::failed(Reason::InvalidSpec, message)
    }

    /// Whether the metrics count this end of a reconcile as an error ([`Reason::is_error`]).
    pub fn is_error(&self) -> bool {
        !self.ready && self.reason.is_error()
    }

    /// The Warning Event a newly stalled set gets: its reason, named for the person who reads it.
    pub fn warning_reason(&self) -> &'static str {
        match self.reason {
            Reason::OwnedByOther => "OwnershipRefused",
            other => other.as_str(),
        }
    }

    /// Whether this health is news for the Warning Events: stalled, and not with the reason the
    /// Ready condition already had.
    pub fn newly_stalled(&self, ready_before: Option<Reason>) -> bool {
        self.stalled && ready_before != Some(self.reason)
    }

    /// What a failed reconcile pass reports: the AWS error's health, or (no convergence within
    /// the pass limit) still progressing.
    pub fn engine_error(error: &crate::engine::EngineError) -> Health {
        match error.aws() {
            Some(aws) => Health::aws_error(aws),
            None => Health::failed(Reason::Progressing, error.to_string()),
        }
    }

    /// AccessDenied needs an IAM change (stalled); throttling and outages heal by retrying.
    pub fn aws_error(error: &AwsError) -> Health {
        Health::failed(error.reason(), error.to_string())
    }
}

fn time(unix: i64) -> Option<Time> {
    Timestamp::from_second(unix).ok().map(Time)
}

fn condition(
    kind: &str,
    on: bool,
    health: &Health,
    generation: Option<i64>,
    now: i64,
    previous: Option<&LambdaAliasSetStatus>,
) -> Condition {
    let status = if on { "True" } else { "False" }.to_string();
    let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == kind));
    // Keep the transition time unless the status flipped: a status patch must not change on
    // every reconcile.
    let last_transition_time = match before {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => time(now).unwrap_or(Time(Timestamp::UNIX_EPOCH)),
    };
    let (reason, message) = if on || kind == "Ready" {
        (health.reason.to_string(), health.message.clone())
    } else {
        (format!("Not{kind}"), String::new())
    };
    Condition {
        type_: kind.to_string(),
        status,
        reason,
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The whole status; pure, so an unchanged AWS gives an unchanged status. `report` is what AWS
/// looks like now; `None` when it could not be observed (an invalid spec, a refused set, an AWS
/// or skill error): then what the previous status said of AWS stands, and only the conditions
/// and the generation they speak for are new.
pub fn status(
    report: Option<&Report>,
    health: &Health,
    generation: Option<i64>,
    now: i64,
    previous: Option<&LambdaAliasSetStatus>,
) -> LambdaAliasSetStatus {
    let conditions = vec![
        condition("Ready", health.ready, health, generation, now, previous),
        condition("Reconciling", health.reconciling, health, generation, now, previous),
        condition("Stalled", health.stalled, health, generation, now, previous),
    ];
    let Some(report) = report else {
        let kept = previous.cloned().unwrap_or_default();
        return LambdaAliasSetStatus { observed_generation: generation, conditions, ..kept };
    };
    LambdaAliasSetStatus {
        observed_generation: generation,
        phase: report.phase,
        function_arn: report.function_arn.clone(),
        live: report.live.clone(),
        candidate: report.candidate.clone(),
        stages: report.stages.clone(),
        drain_until: report.drain_until.and_then(time),
        last_rotation: report.last_rotation.as_ref().and_then(|(at, alias, version)| {
            Some(Rotation { at: time(*at)?, live_alias: alias.clone(), version: version.clone() })
        }),
        triggers: report.triggers.clone(),
        skill: report.skill.as_ref().map(|k| SkillStatus {
            skill_id: k.skill_id.clone(),
            live: k.live.clone(),
            development: k.development.clone(),
            certification: k.review.as_ref().and_then(|r| {
                Some(CertificationReview {
                    id: r.id.clone(),
                    status: r.status.as_str().to_string(),
                    submitted_at: time(r.submitted_at)?,
                })
            }),
            note: k.note.clone(),
            development_update: k.development_update.clone(),
        }),
        conditions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_only_moves_when_status_flips() {
        let report = Report::default();
        let converged = Health::from_outcome(&Outcome::Converged);
        let first = status(Some(&report), &converged, Some(1), 1_000, None);
        let again = status(Some(&report), &converged, Some(1), 2_000, Some(&first));
        assert_eq!(first, again, "an unchanged world gives an identical status");
        let progressing = Health::from_outcome(&Outcome::Progressing);
        let moved = status(Some(&report), &progressing, Some(2), 3_000, Some(&again));
        let ready = moved.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.last_transition_time, Time(Timestamp::from_second(3_000).expect("ts")));
    }

    #[test]
    fn kstatus_mapping() {
        let h = Health::from_outcome(&Outcome::NothingToPromote);
        assert!(!h.ready && h.stalled && !h.reconciling);
        let h = Health::from_outcome(&Outcome::Draining { until: 5 });
        assert!(!h.ready && h.reconciling && !h.stalled);
        assert_eq!(h.reason, "Draining");
        let h = Health::invalid_spec("spec.aliases: bad");
        assert!(h.stalled && h.reason == "InvalidSpec");
        let h = Health::from_outcome(&Outcome::Suspended { pending: 2 });
        assert!(!h.ready && !h.reconciling && !h.stalled);
    }

    #[test]
    fn an_unobserved_aws_keeps_what_the_last_status_said_of_it() {
        use crate::api::AliasStatus;
        use crate::plan::SkillReport;
        let report = Report {
            function_arn: Some("arn:aws:lambda:eu-west-1:111122223333:function:f".into()),
            live: Some(AliasStatus::new("PROD1", "3", None, None)),
            drain_until: Some(5_000),
            last_rotation: Some((4_000, "PROD1".into(), "3".into())),
            skill: Some(SkillReport {
                skill_id: "s".into(),
                note: Some("look".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut previous =
            status(Some(&report), &Health::from_outcome(&Outcome::Converged), Some(1), 1_000, None);
        // A review written by a newer controller, whose status this one cannot parse, stays too.
        let skill = previous.skill.as_mut().expect("skill");
        skill.certification = Some(CertificationReview {
            id: "r".into(),
            status: "SOMETHING_NEW".into(),
            submitted_at: time(3_000).expect("ts"),
        });
        let denied = Health::failed(Reason::AccessDenied, "no");
        let kept = status(None, &denied, Some(2), 2_000, Some(&previous));
        assert_eq!(kept.observed_generation, Some(2));
        let ready = kept.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "AccessDenied"));
        assert_eq!(
            LambdaAliasSetStatus {
                observed_generation: Some(1),
                conditions: previous.conditions.clone(),
                ..kept
            },
            previous
        );
        let first = status(None, &denied, Some(2), 2_000, None);
        assert_eq!(
            LambdaAliasSetStatus { conditions: Vec::new(), ..first },
            LambdaAliasSetStatus { observed_generation: Some(2), ..Default::default() }
        );
    }
}
