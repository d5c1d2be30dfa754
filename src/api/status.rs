//! `LambdaAliasSet.status`: a cache of what the controller found and did; AWS is the record.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Phase;
use super::reason::Reason;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaAliasSetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The spec phase the controller has acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<AliasStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<AliasStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["alias"]))]
    pub stages: Vec<AliasStatus>,
    /// Only while the previously live alias drains after a swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_until: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation: Option<Rotation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub triggers: Vec<TriggerStatus>,
    /// Alexa-aware sets: what the skill's stages call and its latest certification review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<SkillStatus>,
    /// kstatus conditions: Ready, Reconciling, Stalled. The CRD's description lists the Ready
    /// reasons too (`conditions_description`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        description = conditions_description(),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"])
    )]
    pub conditions: Vec<Condition>,
}

/// The CRD's description of `status.conditions`, with every Ready reason ([`Reason::ALL`]), so
/// that `kubectl explain` lists them.
fn conditions_description() -> String {
    let reasons: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    format!(
        "kstatus conditions: Ready, Reconciling, Stalled. The reason of the Ready condition is one of: {}.",
        reasons.join(", ")
    )
}

/// Where one alias points.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AliasStatus {
    pub alias: String,
    /// A published version, or `$LATEST` while tracking.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_arn: Option<String>,
    /// `ALIAS:VERSION`, for the printer columns (a column cannot join two fields); while a
    /// rollout shifts traffic, `ALIAS:FROM→TO (WEIGHT%)`.
    pub summary: String,
    /// `spec.rollout`: the change of version in progress on this alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// The version a rollout rolled back (recorded in AWS): not tried again while the spec asks
    /// for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<String>,
    /// `spec.provisionedConcurrency`: the config of the version this alias serves, or, while a
    /// version is warmed to become this alias's, of that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_concurrency: Option<ProvisionedConcurrencyStatus>,
}

/// One provisioned concurrency config, as Lambda reports it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedConcurrencyStatus {
    /// The published version that holds it.
    pub version: String,
    pub requested: i32,
    pub allocated: i32,
    pub available: i32,
    /// IN_PROGRESS, READY or FAILED.
    pub status: String,
    /// Lambda's StatusReason (e.g. FUNCTION_ERROR_INIT_FAILURE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The status time of a Unix second (`None` when out of range), so that the planner fills
/// status times without naming a Kubernetes type (ARCHITECTURE.md, "Invariants").
pub fn time_at(unix_seconds: i64) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(unix_seconds).ok().map(Time)
}

/// A rollout in progress: the alias serves `from` with `weight` percent of the traffic on `to`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    pub from: String,
    pub to: String,
    /// Percent of the traffic on `to`.
    pub weight: i32,
    /// The step being held (1-based) and how many there are.
    pub step: i32,
    pub steps: i32,
    /// When the next step (or the move to `to` alone) is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step_at: Option<Time>,
    /// The listed alarms' states when last read (OK, ALARM, INSUFFICIENT_DATA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub alarms: Vec<AlarmStatus>,
    /// `maxErrorRate`: what the guard saw of `to` during this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorsStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStatus {
    pub name: String,
    pub state: String,
}

/// Errors and invocations of the new version since its step began.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorsStatus {
    pub invocations: i64,
    pub errors: i64,
    /// Whether there were enough invocations to judge the rate; if not, the step passes only
    /// when its interval is over.
    pub judged: bool,
}

impl AliasStatus {
    pub fn new(alias: &str, version: &str, code_sha256: Option<String>, alias_arn: Option<String>) -> Self {
        AliasStatus {
            alias: alias.to_string(),
            version: version.to_string(),
            code_sha256,
            alias_arn,
            summary: format!("{alias}:{version}"),
            rollout: None,
            rolled_back: None,
            provisioned_concurrency: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    pub at: Time,
    pub live_alias: String,
    pub version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    pub name: String,
    pub aliases: Vec<String>,
}

/// The skill as the Alexa Skill Management API reports it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillStatus {
    pub skill_id: String,
    /// What the live stage's endpoint names: an alias (`PROD1`), `unqualified`, another function,
    /// or `none` when the skill has no live stage yet.
    pub live: String,
    /// The same for the development stage.
    pub development: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<CertificationReview>,
    /// Something to look at that does not block (e.g. the development stage does not call the
    /// candidate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `alexa.manageDevelopmentEndpoint`: the last re-point of the development stage and what
    /// SMAPI says of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub development_update: Option<DevelopmentUpdate>,
}

/// A re-point of a skill's development stage endpoint at the candidate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevelopmentUpdate {
    /// The alias the development stage was pointed at.
    pub alias: String,
    /// What it called before.
    pub from: String,
    /// SMAPI's manifest update status: IN_PROGRESS, SUCCEEDED or FAILED; or Stale when the
    /// manifest changed between read and write (nothing was written; it is read again).
    pub status: String,
    /// The ETag of the manifest written over.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub etag: String,
    /// SMAPI's errors of a FAILED update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// When the write was accepted.
    pub at: Time,
}

impl DevelopmentUpdate {
    pub const IN_PROGRESS: &str = "IN_PROGRESS";
    pub const SUCCEEDED: &str = "SUCCEEDED";
    pub const FAILED: &str = "FAILED";
    pub const STALE: &str = "Stale";

    /// Still to be followed: SMAPI is applying it, or it must be read and written again.
    pub fn is_pending(&self) -> bool {
        self.status == Self::IN_PROGRESS || self.status == Self::STALE
    }
}

/// The latest certification review.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificationReview {
    pub id: String,
    /// IN_PROGRESS, SUCCEEDED, FAILED or CANCELLED.
    pub status: String,
    /// `skillSubmissionTimestamp`.
    pub submitted_at: Time,
}
