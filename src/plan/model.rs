//! The planner's inputs and outputs: plain data, no I/O.

use std::fmt;

use crate::api::{AliasStatus, LambdaAliasSetSpec, Phase, TriggerStatus};

use super::marker::{Marker, VersionRef};
use super::skill::{Review, SkillObservation};
use super::snapshot::{Snapshot, Statement};
use crate::api::Reason;

/// Everything the planner decides from.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// `<namespace>/<name>` of the set: the owner written into markers.
    pub owner: &'a str,
    pub spec: &'a LambdaAliasSetSpec,
    pub observed: &'a Snapshot,
    /// Unix seconds.
    pub now: i64,
    /// Alexa-aware sets: each skill's state from SMAPI (one per distinct skill id of the Alexa
    /// triggers, in spec order). `None`: not Alexa-aware, no interlock.
    pub skills: Option<&'a [SkillObservation]>,
    /// `spec.rollout`: the alarms and error counts the engine read for this plan (what a plan
    /// without it asked for, [`Plan::watch`]).
    pub watch: Option<&'a super::Watch>,
}

/// Why an alias is written: the Kubernetes Event and the CLI output say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasChange {
    /// Created because it was missing.
    Bootstrap,
    /// An existing alias gets our marker; it is not re-pointed.
    Adopt,
    /// The candidate (or a stage) follows `$LATEST`.
    Track,
    /// The candidate is frozen on a published version for certification.
    Freeze,
    /// The frozen candidate becomes live: the single write that commits a swap.
    Swap,
    /// The live alias moves by `live.codeSha256` or `live.version`.
    Hotfix,
    /// A stage alias points where its entry says.
    Stage,
    /// Someone changed it out of band; put back.
    Drift,
    /// Ownership released (deletionPolicy Retain): the record of roles stays.
    Release,
    /// `spec.rollout`: the next step of weighted routing towards the new version.
    Step,
    /// `spec.rollout`: an alarm (or the error-rate guard) rejected the new version; the alias goes
    /// back to the old version alone.
    RollBack,
    /// `spec.provisionedConcurrency`: only the live marker's record of the configs changes (the
    /// version being warmed, or that the set has configs); the alias is not re-pointed.
    Record,
}

/// Weighted routing written with an alias: `percent` of its traffic on `version`, the rest on
/// the alias's own version (`RoutingConfig.AdditionalVersionWeights`, one entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weighted {
    pub version: VersionRef,
    pub percent: u8,
}

impl Weighted {
    /// The weight AWS takes (0.0-1.0).
    pub fn weight(self) -> f64 {
        f64::from(self.percent) / 100.0
    }

    /// A weight AWS reports, as the percent a step wrote.
    pub fn percent_of(weight: f64) -> u8 {
        (weight * 100.0).round().clamp(0.0, 100.0) as u8
    }
}

/// One AWS write, in plan order. The function is implied by the set.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Publish `$LATEST` with the CodeSha256 and RevisionId preconditions. At most one per plan;
    /// [`VersionRef::Published`] elsewhere in the plan refers to its result.
    PublishVersion {
        code_sha256: String,
        revision_id: String,
        description: Option<String>,
    },
    CreateAlias {
        alias: String,
        version: VersionRef,
        marker: Marker,
        change: AliasChange,
    },
    /// Without `routing` the alias points at `version` alone (any weights are cleared).
    UpdateAlias {
        alias: String,
        version: VersionRef,
        marker: Marker,
        revision_id: String,
        change: AliasChange,
        routing: Option<Weighted>,
    },
    DeleteAlias {
        alias: String,
    },
    AddPermission {
        alias: String,
        trigger: String,
        statement: Statement,
        revision_id: Option<String>,
    },
    RemovePermission {
        alias: String,
        sid: String,
    },
    CreateMapping {
        alias: String,
        trigger: String,
        event_source_arn: String,
        batch_size: Option<u32>,
        enabled: bool,
        starting_position: Option<String>,
    },
    UpdateMapping {
        uuid: String,
        trigger: String,
        /// Moves the mapping to this alias (a swap moves `Live` mappings).
        move_to: Option<String>,
        batch_size: Option<u32>,
        enabled: Option<bool>,
    },
    DeleteMapping {
        uuid: String,
        alias: String,
        event_source_arn: String,
    },
    DeleteVersion {
        version: u64,
    },
    /// `spec.provisionedConcurrency`: a config on a published version (created, or its count
    /// changed), for the alias that plays `role`.
    PutWarm {
        version: VersionRef,
        count: u32,
        role: &'static str,
    },
    /// `spec.provisionedConcurrency`: a config of the set that no role needs any more.
    DeleteWarm {
        version: u64,
    },
}

impl Action {
    pub fn is_swap(&self) -> bool {
        matches!(self, Action::UpdateAlias { change: AliasChange::Swap, .. })
    }

    /// A rollout's rollback: the alias back on its primary version alone.
    pub fn is_rollback(&self) -> bool {
        matches!(self, Action::UpdateAlias { change: AliasChange::RollBack, .. })
    }

    /// A short machine-readable verb for JSON output and metrics.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::PublishVersion { .. } => "PublishVersion",
            Action::CreateAlias { .. } => "CreateAlias",
            Action::UpdateAlias { .. } => "UpdateAlias",
            Action::DeleteAlias { .. } => "DeleteAlias",
            Action::AddPermission { .. } => "AddPermission",
            Action::RemovePermission { .. } => "RemovePermission",
            Action::CreateMapping { .. } => "CreateEventSourceMapping",
            Action::UpdateMapping { .. } => "UpdateEventSourceMapping",
            Action::DeleteMapping { .. } => "DeleteEventSourceMapping",
            Action::DeleteVersion { .. } => "DeleteVersion",
            Action::PutWarm { .. } => "PutProvisionedConcurrencyConfig",
            Action::DeleteWarm { .. } => "DeleteProvisionedConcurrencyConfig",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::PublishVersion { code_sha256, description, .. } => {
                write!(f, "publish $LATEST (CodeSha256 {code_sha256})")?;
                if let Some(d) = description {
                    write!(f, " as \"{d}\"")?;
                }
                Ok(())
            }
            Action::CreateAlias { alias, version, change, .. } => {
                write!(f, "create alias {alias} -> {version} ({})", change_text(*change))
            }
            Action::UpdateAlias { alias, version, change, routing: Some(w), .. } => write!(
                f,
                "point alias {alias} -> {version} with {}% on {} ({})",
                w.percent,
                w.version,
                change_text(*change)
            ),
            Action::UpdateAlias { alias, version, change, routing: None, .. } => {
                write!(f, "point alias {alias} -> {version} ({})", change_text(*change))
            }
            Action::DeleteAlias { alias } => write!(f, "delete alias {alias}"),
            Action::AddPermission { alias, trigger, statement, .. } => {
                write!(
                    f,
                    "add permission {} for trigger {trigger} on {alias} ({})",
                    statement.sid, statement.principal
                )
            }
            Action::RemovePermission { alias, sid } => write!(f, "remove permission {sid} from {alias}"),
            Action::CreateMapping { alias, trigger, event_source_arn, .. } => {
                write!(f, "create event source mapping {trigger} on {alias} from {event_source_arn}")
            }
            Action::UpdateMapping { uuid, trigger, move_to, batch_size, enabled } => {
                write!(f, "update event source mapping {trigger} ({uuid})")?;
                if let Some(alias) = move_to {
                    write!(f, ": move to {alias}")?;
                }
                if let Some(b) = batch_size {
                    write!(f, ", batch size {b}")?;
                }
                if let Some(e) = enabled {
                    write!(f, ", {}", if *e { "enable" } else { "disable" })?;
                }
                Ok(())
            }
            Action::DeleteMapping { uuid, alias, event_source_arn } => {
                write!(f, "delete event source mapping {uuid} on {alias} from {event_source_arn}")
            }
            Action::DeleteVersion { version } => write!(f, "delete unreferenced version {version}"),
            Action::PutWarm { version, count, role } => {
                write!(f, "provision concurrency {count} on version {version} (for the {role} alias)")
            }
            Action::DeleteWarm { version } => {
                write!(f, "delete the provisioned concurrency of version {version} (no role needs it)")
            }
        }
    }
}

fn change_text(change: AliasChange) -> &'static str {
    match change {
        AliasChange::Bootstrap => "bootstrap",
        AliasChange::Adopt => "adopt: record its role, no re-point",
        AliasChange::Track => "track $LATEST",
        AliasChange::Freeze => "freeze for certification",
        AliasChange::Swap => "swap roles: becomes live",
        AliasChange::Hotfix => "hotfix live",
        AliasChange::Stage => "stage",
        AliasChange::Drift => "drift: put back",
        AliasChange::Release => "release ownership",
        AliasChange::Step => "rollout step",
        AliasChange::RollBack => "roll back: the new version was rejected",
        AliasChange::Record => "record its provisioned concurrency",
    }
}

/// Where the set stands, in the terms of the Ready condition's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do.
    Converged,
    /// Actions are pending.
    Progressing,
    /// Only waiting for the previously live alias to drain (unix seconds).
    Draining {
        until: i64,
    },
    /// `suspend: true`: observed only; `pending` actions were not executed.
    Suspended {
        pending: usize,
    },
    /// A hash in the spec cannot be served (neither published nor `$LATEST`'s, or not the code
    /// frozen for certification); nothing written. `found` says what is there instead.
    CodeMismatch {
        field: String,
        wanted: String,
        found: String,
    },
    /// `live.version` or a stage's `version` names a version that does not exist.
    VersionNotFound {
        field: String,
        version: String,
    },
    /// Phase Certified with nothing frozen to promote; nothing written.
    NothingToPromote,
    /// Another set owns one of the aliases; nothing written.
    OwnedByOther {
        alias: String,
        owner: String,
    },
    FunctionNotFound,
    /// Alexa-aware: a write waits for Amazon to publish the certified skill (the skill's live
    /// stage does not call the candidate yet), or an alias the live stage calls is held.
    AwaitingPublication {
        message: String,
    },
    /// Alexa-aware: the skill's live stage calls neither alias of the pair; nothing written.
    SkillEndpointMismatch {
        message: String,
    },
    /// `spec.rollout`: only waiting for a step's interval to pass (unix seconds), or a swap
    /// waiting for the live alias's rollout to end.
    RollingOut {
        message: String,
        until: i64,
    },
    /// `spec.rollout`: the spec asks for a version its rollout rolled back.
    RolledBack {
        message: String,
    },
    /// `spec.rollout`: a listed alarm is in ALARM, so a new version is not deployed into it.
    AlarmActive {
        message: String,
    },
    /// `spec.rollout`: a listed alarm does not exist; nothing written.
    AlarmNotFound {
        message: String,
    },
    /// `spec.provisionedConcurrency`: waiting for a config to be READY (a swap or a hotfix waits
    /// for the new version's).
    Warming {
        message: String,
    },
    /// `spec.provisionedConcurrency`: a config FAILED (the version does not initialise), or
    /// cannot be managed; the alias it was for is not moved.
    WarmupFailed {
        message: String,
    },
}

impl Outcome {
    /// The Ready condition's reason.
    pub fn reason(&self) -> Reason {
        match self {
            Outcome::Converged => Reason::Converged,
            Outcome::Progressing => Reason::Progressing,
            Outcome::Draining { .. } => Reason::Draining,
            Outcome::Suspended { .. } => Reason::Suspended,
            Outcome::CodeMismatch { .. } => Reason::CodeMismatch,
            Outcome::VersionNotFound { .. } => Reason::VersionNotFound,
            Outcome::NothingToPromote => Reason::NothingToPromote,
            Outcome::OwnedByOther { .. } => Reason::OwnedByOther,
            Outcome::FunctionNotFound => Reason::FunctionNotFound,
            Outcome::AwaitingPublication { .. } => Reason::AwaitingPublication,
            Outcome::SkillEndpointMismatch { .. } => Reason::SkillEndpointMismatch,
            Outcome::RollingOut { .. } => Reason::RollingOut,
            Outcome::RolledBack { .. } => Reason::RolledBack,
            Outcome::AlarmActive { .. } => Reason::AlarmActive,
            Outcome::AlarmNotFound { .. } => Reason::AlarmNotFound,
            Outcome::Warming { .. } => Reason::Warming,
            Outcome::WarmupFailed { .. } => Reason::WarmupFailed,
        }
    }

    /// Settled: `apply` stops here (converged, or only a drain, a rollout step's timer or Lambda's
    /// allocation of provisioned concurrency is left).
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            Outcome::Converged
                | Outcome::Draining { .. }
                | Outcome::RollingOut { .. }
                | Outcome::Warming { .. }
        )
    }

    /// Needs a person (a spec change or an AWS-side fix): kstatus `Stalled`.
    pub fn is_stalled(&self) -> bool {
        self.reason().is_stalled()
    }

    pub fn message(&self) -> String {
        match self {
            Outcome::Converged => "AWS matches the spec".to_string(),
            Outcome::Progressing => "applying changes to AWS".to_string(),
            Outcome::Draining { until } => {
                format!("the previously live alias keeps its version until {}", rfc3339(*until))
            }
            Outcome::Suspended { pending } => {
                format!("suspended: observing only, {pending} change(s) not applied")
            }
            Outcome::CodeMismatch { field, wanted, found } => {
                format!("{field} is {wanted}, but {found}; nothing was written")
            }
            Outcome::VersionNotFound { field, version } => {
                format!("{field}: version {version} does not exist; nothing was written")
            }
            Outcome::NothingToPromote => "phase is Certified but no version was frozen for certification: set certification.phase to Certifying first; nothing was written".to_string(),
            Outcome::OwnedByOther { alias, owner } => format!(
                "alias {alias} is owned by LambdaAliasSet {owner}; two sets cannot manage one alias, nothing was written"
            ),
            Outcome::FunctionNotFound => "the function does not exist (or is not visible with these credentials)".to_string(),
            Outcome::AwaitingPublication { message }
            | Outcome::SkillEndpointMismatch { message }
            | Outcome::RollingOut { message, .. }
            | Outcome::RolledBack { message }
            | Outcome::AlarmActive { message }
            | Outcome::AlarmNotFound { message }
            | Outcome::Warming { message }
            | Outcome::WarmupFailed { message } => message.clone(),
        }
    }
}

/// Unix seconds as RFC 3339 (UTC), for messages.
pub fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("{unix} (unix seconds)"))
}

/// What the status reports, derived from the observed snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub function_arn: Option<String>,
    /// The certification phase recorded in AWS (what the controller last acted on).
    pub phase: Option<Phase>,
    pub live: Option<AliasStatus>,
    pub candidate: Option<AliasStatus>,
    pub stages: Vec<AliasStatus>,
    pub drain_until: Option<i64>,
    /// (unix seconds, live alias, promoted version)
    pub last_rotation: Option<(i64, String, String)>,
    pub triggers: Vec<TriggerStatus>,
    /// Alexa-aware sets: the skill as SMAPI reports it.
    pub skill: Option<SkillReport>,
}

/// What the status says of the (first) skill of an Alexa-aware set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkillReport {
    pub skill_id: String,
    /// What the live stage calls (an alias, `unqualified`, another function, or `none`).
    pub live: String,
    pub development: String,
    pub review: Option<Review>,
    /// Worth a Warning, not blocking (the development stage does not call the candidate).
    pub note: Option<String>,
    /// The last re-point of the development stage: the controller fills it from SMAPI (the
    /// planner only says which moves to make, `Plan::endpoints`).
    pub development_update: Option<crate::api::DevelopmentUpdate>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub outcome: Outcome,
    pub report: Report,
    /// Skills' development stages to re-point at the candidate (`manageDevelopmentEndpoint`),
    /// only ever in a plan with no actions: SMAPI writes come after the Lambda side converged.
    pub endpoints: Vec<super::EndpointMove>,
    /// `spec.rollout`: what CloudWatch must be read for before this plan can decide. Not empty
    /// only when `Input::watch` did not answer it; the plan then writes nothing and the engine
    /// plans again with the answer.
    pub watch: super::WatchNeed,
}
