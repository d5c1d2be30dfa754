//! The planner's vocabulary for what AWS holds: the snapshot of one set's function and the
//! plain values it is made of. The AWS adapter (src/aws/) converts its answers into these
//! types; nothing here knows how they were read (ARCHITECTURE.md, "the planner owns its words").

use std::collections::{BTreeMap, BTreeSet};

/// What the adapter observed in AWS for one set, from scratch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// `None`: the function does not exist.
    pub function: Option<FunctionInfo>,
    pub versions: Vec<VersionInfo>,
    /// Every alias of the function, ours or not.
    pub aliases: Vec<AliasInfo>,
    /// Resource policy per alias, for the aliases the set may own ([`super::aliases_to_observe`]).
    pub policies: BTreeMap<String, PolicyInfo>,
    /// Event source mappings on the aliases the set may own.
    pub mappings: Vec<MappingInfo>,
    /// Versions that an event source mapping invokes directly (checked for retention candidates).
    pub mapped_versions: BTreeSet<u64>,
    /// Every provisioned concurrency config of the function, read only for a set that declares
    /// `spec.provisionedConcurrency` or whose live marker says it made some ([`super::observes_warm`]).
    pub warm: Vec<WarmConfig>,
}

impl Snapshot {
    pub fn alias(&self, name: &str) -> Option<&AliasInfo> {
        self.aliases.iter().find(|a| a.name == name)
    }

    pub fn version(&self, number: u64) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.version == number)
    }

    /// The provisioned concurrency config on a qualifier (a version number or an alias name).
    pub fn warm_config(&self, qualifier: &str) -> Option<&WarmConfig> {
        self.warm.iter().find(|c| c.qualifier == qualifier)
    }
}

/// One provisioned concurrency config (`ListProvisionedConcurrencyConfigs`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WarmConfig {
    /// The version number or alias name it is configured on (the qualifier of its ARN).
    pub qualifier: String,
    pub requested: u32,
    pub allocated: u32,
    pub available: u32,
    pub status: WarmStatus,
    /// Lambda's `StatusReason` (why a config FAILED).
    pub reason: Option<String>,
}

/// A provisioned concurrency config's `Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarmStatus {
    InProgress,
    Ready,
    Failed,
}

impl WarmStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WarmStatus::InProgress => "IN_PROGRESS",
            WarmStatus::Ready => "READY",
            WarmStatus::Failed => "FAILED",
        }
    }

    /// Lambda's text; anything unknown reads as still in progress.
    pub fn parse(text: &str) -> WarmStatus {
        match text {
            "READY" => WarmStatus::Ready,
            "FAILED" => WarmStatus::Failed,
            _ => WarmStatus::InProgress,
        }
    }
}

/// `$LATEST`, the unpublished version.
pub const LATEST: &str = "$LATEST";

/// `GetFunction` (unqualified): what `$LATEST` is right now.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionInfo {
    /// Unqualified function ARN.
    pub function_arn: String,
    /// `CodeSha256` of `$LATEST`.
    pub code_sha256: String,
    /// `RevisionId` of `$LATEST`, the precondition for `PublishVersion`.
    pub revision_id: String,
    /// `LastModified` of `$LATEST` (unix seconds), when AWS reports it.
    pub last_modified: Option<i64>,
}

/// One published version (never `$LATEST`).
#[derive(Clone, Debug, PartialEq)]
pub struct VersionInfo {
    pub version: u64,
    pub code_sha256: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AliasInfo {
    pub name: String,
    pub alias_arn: String,
    /// A version number as text, or `$LATEST`.
    pub function_version: String,
    pub description: String,
    /// Additional version -> weight (RoutingConfig.AdditionalVersionWeights).
    pub routing: BTreeMap<String, f64>,
    pub revision_id: String,
}

/// One statement of a resource-based policy, in the shape `AddPermission` takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Statement {
    pub sid: String,
    /// A service principal (`alexa-appkit.amazon.com`), an account id or `*`.
    pub principal: String,
    pub action: String,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub event_source_token: Option<String>,
}

/// `GetPolicy` for one qualifier.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyInfo {
    pub revision_id: String,
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MappingInfo {
    pub uuid: String,
    /// The qualified function (alias or version) ARN the mapping invokes.
    pub function_arn: String,
    pub event_source_arn: String,
    pub batch_size: Option<u32>,
    /// Desired state: `Enabled`/`Enabling` read as true, `Disabled`/`Disabling` as false.
    pub enabled: bool,
    pub state: String,
}

/// A CloudWatch alarm's state (`StateValue`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's text: `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub fn parse(text: &str) -> Option<AlarmState> {
        match text {
            "OK" => Some(AlarmState::Ok),
            "ALARM" => Some(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

/// `DescribeAlarms`: one alarm that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmInfo {
    pub name: String,
    pub state: AlarmState,
}

/// One weighted version's `Errors` and `Invocations` (CloudWatch's `AWS/Lambda` metrics with
/// the `ExecutedVersion` dimension) on one alias, summed over `[since, until)`.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorCount {
    pub alias: String,
    pub version: u64,
    pub since: i64,
    pub invocations: f64,
    pub errors: f64,
}

/// What a rollout watches, read from CloudWatch only while one is starting or in progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Watch {
    /// The alarm names asked for; those CloudWatch did not answer for do not exist.
    pub asked: BTreeSet<String>,
    /// The alarms that exist, by name.
    pub alarms: BTreeMap<String, AlarmState>,
    /// Errors per (alias, version, since) asked for.
    pub errors: Vec<ErrorCount>,
}

impl Watch {
    pub fn errors_of(&self, alias: &str, version: u64, since: i64) -> Option<&ErrorCount> {
        self.errors.iter().find(|e| e.alias == alias && e.version == version && e.since == since)
    }
}

/// What the planner needs read from CloudWatch before it can decide ([`super::Plan::watch`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchNeed {
    pub alarms: BTreeSet<String>,
    /// (alias, weighted version, step start)
    pub errors: BTreeSet<(String, u64, i64)>,
}

impl WatchNeed {
    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.errors.is_empty()
    }

    /// Whether `watch` answers everything asked here.
    pub fn met_by(&self, watch: &Watch) -> bool {
        self.alarms.iter().all(|a| watch.asked.contains(a))
            && self.errors.iter().all(|(alias, v, since)| watch.errors_of(alias, *v, *since).is_some())
    }
}
