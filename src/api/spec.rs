//! `LambdaAliasSet.spec`: what the user declares.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LambdaAliasSetStatus;

/// Function name, partial ARN (`123456789012:function:name`) or full ARN, without a qualifier.
pub const FUNCTION_NAME_PATTERN: &str = r"^(arn:aws[a-zA-Z-]*:lambda:[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:function:[a-zA-Z0-9_-]{1,64}|[0-9]{12}:function:[a-zA-Z0-9_-]{1,64}|[a-zA-Z0-9_-]{1,64})$";
/// Lambda alias names: `[a-zA-Z0-9_-]`, not all digits (that would read as a version).
/// Written without look-ahead because the API server evaluates patterns with RE2.
pub const ALIAS_NAME_PATTERN: &str = r"^[a-zA-Z0-9_-]*[a-zA-Z_-][a-zA-Z0-9_-]*$";
/// Base64 of a SHA-256 digest, as Lambda reports `CodeSha256`.
pub const CODE_SHA256_PATTERN: &str = r"^[A-Za-z0-9+/]{43}=$";
/// A published version number (never `$LATEST`).
pub const VERSION_PATTERN: &str = r"^[1-9][0-9]{0,9}$";
pub const REGION_PATTERN: &str = r"^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$";
pub const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]{1,512}$";
/// Lengths are bounded by `minLength`/`maxLength`, never by a counted repeat: Go's RE2 (the API
/// server's regexp engine) refuses repeat counts above 1000.
pub const EXTERNAL_ID_PATTERN: &str = r"^[a-zA-Z0-9+=,.@:/_-]+$";
/// Trigger names become statement ids (`las-<name>`), so they stay short and DNS-like.
pub const TRIGGER_NAME_PATTERN: &str = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$";
pub const SKILL_ID_PATTERN: &str = r"^amzn1\.ask\.skill\.[A-Za-z0-9._-]{1,100}$";
pub const ACCOUNT_PATTERN: &str = r"^[0-9]{12}$";
pub const EXECUTE_API_ARN_PATTERN: &str =
    r"^arn:aws[a-zA-Z-]*:execute-api:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9]+/.+$";
pub const BUCKET_ARN_PATTERN: &str = r"^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
pub const RULE_ARN_PATTERN: &str = r"^arn:aws[a-zA-Z-]*:events:[a-z0-9-]+:[0-9]{12}:rule/.+$";
pub const SOURCE_ARN_PATTERN: &str = r"^arn:aws[a-zA-Z0-9-]*:[a-zA-Z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:.+$";
pub const PRINCIPAL_PATTERN: &str = r"^[^\s]+$";
pub const EVENT_SOURCE_TOKEN_PATTERN: &str = r"^[a-zA-Z0-9._-]+$";
/// A Secret's name: a DNS subdomain.
pub const SECRET_NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
pub const ACTION_PATTERN: &str = r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$";

/// Upper bounds on lists: they keep the API server's CEL cost estimate finite.
pub const MAX_STAGES: usize = 16;
pub const MAX_TRIGGERS: usize = 64;
/// `rollout`: at most 20 steps (SAM's linear presets have 9) and 10 alarms (CodeDeploy's limit
/// per deployment).
pub const MAX_ROLLOUT_STEPS: usize = 20;
pub const MAX_ROLLOUT_ALARMS: usize = 10;
/// A CloudWatch alarm name: 1-255 characters, no ASCII control characters.
pub const ALARM_NAME_PATTERN: &str = r"^[^\x00-\x1F\x7F]+$";

/// Declares which Lambda function this set manages, the two rotating aliases (live and
/// candidate), optional stage aliases, and the triggers every alias carries.
// kube's printcolumn(...) entries repeat `type_ = "string"`, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "lambda.aliasset.dev",
    version = "v1alpha1",
    kind = "LambdaAliasSet",
    plural = "lambdaaliassets",
    shortname = "las",
    category = "lambda",
    namespaced,
    status = "LambdaAliasSetStatus",
    doc = "LambdaAliasSet keeps the versions, the live/candidate alias pair, stage aliases and triggers of one AWS Lambda function in the declared state.",
    printcolumn(name = "Function", type_ = "string", json_path = ".spec.functionName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Live", type_ = "string", json_path = ".status.live.summary"),
    printcolumn(name = "Candidate", type_ = "string", json_path = ".status.candidate.summary"),
    printcolumn(name = "Warm", type_ = "string", json_path = ".status.live.provisionedConcurrency.status"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.externalId) || has(self.roleArn)",
        "fieldPath": ".externalId",
        "message": "externalId is only used with roleArn: set roleArn or remove externalId"
    },
    {
        "rule": "!has(self.region) || !self.functionName.startsWith('arn:') || self.functionName.split(':')[3] == self.region",
        "fieldPath": ".region",
        "message": "region must match the region in the functionName ARN (or be omitted)"
    },
    {
        "rule": "self.certification.phase != 'Certified' || !has(self.live) || !has(self.live.version)",
        "fieldPath": ".live.version",
        "message": "live.version must be absent in phase Certified: the certified version becomes live by the swap; remove the pin"
    },
    {
        "rule": "self.certification.phase != 'Certified' || !has(self.live) || !has(self.live.codeSha256) || (has(self.certification.codeSha256) && self.live.codeSha256 == self.certification.codeSha256)",
        "fieldPath": ".live.codeSha256",
        "message": "live.codeSha256 must be absent or equal certification.codeSha256 in phase Certified: a stale hotfix would drag the new live alias back"
    },
    {
        "rule": "self.certification.phase != 'FromSkill' || (has(self.alexa) && has(self.triggers) && self.triggers.exists(t, has(t.alexaSkill)))",
        "fieldPath": ".certification.phase",
        "message": "certification.phase FromSkill needs an Alexa-aware set: spec.alexa.credentialsSecretRef and at least one alexaSkill trigger"
    },
    {
        "rule": "!has(self.alexa) || !self.alexa.manageDevelopmentEndpoint || (has(self.triggers) && self.triggers.exists(t, has(t.alexaSkill)))",
        "fieldPath": ".alexa.manageDevelopmentEndpoint",
        "message": "alexa.manageDevelopmentEndpoint needs at least one alexaSkill trigger: the skill whose development endpoint follows the candidate"
    },
    {
        "rule": "!has(self.stages) || self.stages.all(s, !(s.alias in self.aliases))",
        "fieldPath": ".stages",
        "message": "a stage alias must not be one of the rotating aliases (spec.aliases)"
    },
    {
        "rule": "!has(self.triggers) || self.triggers.all(t, !has(t.target) || t.target in ['Live', 'Candidate', 'Both'] || (has(self.stages) && self.stages.exists(s, s.alias == t.target)))",
        "fieldPath": ".triggers",
        "message": "a trigger's target must be Live, Candidate, Both or the alias of a declared stage"
    }
]))]
pub struct LambdaAliasSetSpec {
    /// Function name, partial ARN or full ARN, without a qualifier. Immutable.
    #[schemars(length(min = 1, max = 140), regex(pattern = FUNCTION_NAME_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "functionName is immutable: create another LambdaAliasSet for another function"}
    ]))]
    pub function_name: String,

    /// AWS region. Defaults to the ARN's region, else the controller's default region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = REGION_PATTERN))]
    pub region: Option<String>,

    /// IAM role assumed (STS) for this set's AWS calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), regex(pattern = ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,

    /// External id for assuming `roleArn`; only with `roleArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = EXTERNAL_ID_PATTERN))]
    pub external_id: Option<String>,

    /// The two aliases that take turns being live and candidate. The first is live on first
    /// sight. Immutable.
    #[serde(default = "default_aliases")]
    #[schemars(length(min = 2, max = 2), inner(length(min = 1, max = 128), regex(pattern = ALIAS_NAME_PATTERN)))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.size() == 2 && self[0] != self[1]", "message": "aliases must be exactly two distinct alias names"},
        {"rule": "self.all(a, a != '$LATEST')", "message": "aliases must not contain $LATEST: it is not an alias"},
        {"rule": "self == oldSelf", "message": "aliases is immutable: renaming the pair would orphan the live alias"}
    ]))]
    pub aliases: Vec<String>,

    /// The certification round: Development, Certifying or Certified.
    #[serde(default)]
    pub certification: Certification,

    /// Hotfix or rollback of the live alias without recertification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveOverride>,

    /// After a swap, how long the previously live alias keeps its version before it becomes the
    /// candidate and tracks `$LATEST` (seconds, at most 7 days).
    #[serde(default = "default_drain_seconds")]
    // schemars says `uint32`, a format the API server does not know (it warns on every apply).
    #[schemars(range(min = 0, max = 604800), extend("format" = "int32"))]
    pub drain_seconds: u32,

    /// Further aliases outside the rotation (dev, beta, STG ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_STAGES))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["alias"]))]
    pub stages: Vec<Stage>,

    /// Triggers every targeted alias carries: resource-policy permissions and event source
    /// mappings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_TRIGGERS))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub triggers: Vec<Trigger>,

    /// Keep at most this many published versions that nothing references; delete older ones.
    /// Unset: never delete versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000), extend("format" = "int32"))]
    pub retain_versions: Option<u32>,

    /// What deleting the LambdaAliasSet does in AWS.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Observe and report only: never write to AWS.
    #[serde(default)]
    pub suspend: bool,

    /// Progressive live changes: every change of version of the live alias (hotfix, rollback,
    /// pin) and of a stage alias reaches traffic in steps of weighted routing, each held
    /// `intervalSeconds` while the listed CloudWatch alarms (and `maxErrorRate`) are watched; an
    /// alarm in ALARM rolls the alias back to the old version. Absent: one write. A swap of roles
    /// is always one write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,

    /// Provisioned concurrency that follows the roles (README "Provisioned concurrency"): the
    /// version the live alias serves keeps `live` execution environments initialised, a frozen
    /// candidate `candidate`; before a swap or a hotfix the new version is warmed to `live` and
    /// the alias moves only once that is READY. Removing the field removes the configs the set
    /// made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_concurrency: Option<ProvisionedConcurrency>,

    /// Makes the set Alexa-aware (with at least one alexaSkill trigger): the controller reads
    /// each skill's stages and certification reviews from the Alexa Skill Management API and
    /// never re-points the alias the skill's live stage calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alexa: Option<AlexaSettings>,
}

impl LambdaAliasSetSpec {
    /// A spec for `function_name` with every schema default and nothing else: what a manifest
    /// with only `functionName` means.
    pub fn for_function(function_name: impl Into<String>) -> Self {
        LambdaAliasSetSpec {
            function_name: function_name.into(),
            region: None,
            role_arn: None,
            external_id: None,
            aliases: default_aliases(),
            certification: Certification::default(),
            live: None,
            drain_seconds: default_drain_seconds(),
            stages: Vec::new(),
            triggers: Vec::new(),
            retain_versions: None,
            deletion_policy: DeletionPolicy::default(),
            suspend: false,
            rollout: None,
            provisioned_concurrency: None,
            alexa: None,
        }
    }
}

/// The schema of an optional enum field: the enum's own schema, without the `nullable: true` and
/// `null` enum entry schemars derives for an `Option`. The API server never matches `null`
/// against an enum, so that entry only produced a confusing "supported values: ..., null"; left
/// out, a `null` is pruned like any other absent field.
fn optional_enum<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    T::json_schema(generator)
}

impl LambdaAliasSetSpec {
    /// Alexa-aware: skill credentials and at least one Alexa Skills Kit trigger.
    pub fn is_alexa_aware(&self) -> bool {
        self.alexa.is_some() && self.triggers.iter().any(|t| t.alexa_skill.is_some())
    }

    /// The skill ids of the Alexa triggers, in spec order, without repeats.
    pub fn skill_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for id in self.triggers.iter().filter_map(|t| t.alexa_skill.as_ref()).map(|a| a.skill_id.as_str()) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// Where the Skill Management API credentials of an Alexa-aware set come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlexaSettings {
    /// A Secret in the set's own namespace with the keys `clientId`, `clientSecret` and
    /// `refreshToken` (a Login with Amazon security profile with access to the skill).
    pub credentials_secret_ref: SecretRef,
    /// Keep each skill's development stage endpoint on the candidate alias: after a swap, once
    /// the drain is over and the candidate tracks $LATEST, the controller rewrites the endpoint
    /// URIs of the development manifest that name this function (nothing else, never the live
    /// stage, never during a certification review). Needs an alexaSkill trigger.
    #[serde(default)]
    pub manage_development_endpoint: bool,
}

/// A Secret in the set's namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_NAME_PATTERN))]
    pub name: String,
}

fn default_aliases() -> Vec<String> {
    vec!["PROD1".to_string(), "PROD2".to_string()]
}

fn default_drain_seconds() -> u32 {
    300
}

/// The certification round of the skill version on the candidate alias.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(oldSelf.phase == 'Development' && self.phase == 'Certified')",
        "fieldPath": ".phase",
        "message": "certification.phase cannot go from Development straight to Certified: set Certifying first so a version is published and frozen"
    }
]))]
pub struct Certification {
    #[serde(default)]
    pub phase: Phase,
    /// The exact code submitted for certification (base64 SHA-256, as Lambda reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 44), regex(pattern = CODE_SHA256_PATTERN))]
    pub code_sha256: Option<String>,
    /// Written on the version published for certification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// The candidate tracks `$LATEST`.
    #[default]
    Development,
    /// The candidate is frozen on a published version.
    Certifying,
    /// The frozen candidate becomes live by swapping roles.
    Certified,
    /// Derived from the skill's certification reviews and stages in the Alexa Skill Management
    /// API (Alexa-aware sets only): Certifying while a review is in progress, Certified once the
    /// skill's live stage calls the candidate, Development otherwise.
    FromSkill,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Development => "Development",
            Phase::Certifying => "Certifying",
            Phase::Certified => "Certified",
            Phase::FromSkill => "FromSkill",
        }
    }
}

/// Moves the live alias in any phase: by code hash (hotfix) or to a published version (rollback).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.codeSha256) != has(self.version)", "message": "live: set exactly one of codeSha256 or version"}
]))]
pub struct LiveOverride {
    /// The live alias serves the newest version with this code hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 44), regex(pattern = CODE_SHA256_PATTERN))]
    pub code_sha256: Option<String>,
    /// Pin the live alias to this published version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), regex(pattern = VERSION_PATTERN))]
    pub version: Option<String>,
}

/// Execution environments Lambda keeps initialised (provisioned concurrency), by role. They are
/// billed while allocated, and count against the function's reserved and the account's
/// unreserved concurrency.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedConcurrency {
    /// On the version(s) the live alias serves, and on the version about to become live (a swap's
    /// frozen candidate, a hotfix's target) before it does.
    #[schemars(range(min = 1, max = 100000), extend("format" = "int32"))]
    pub live: u32,
    /// On the candidate's frozen version while it is certified (what certification testers
    /// hit); 0: none. A candidate tracking $LATEST never has any (AWS allows published versions
    /// only).
    #[serde(default = "default_candidate_concurrency")]
    #[schemars(range(min = 0, max = 100000), extend("format" = "int32"))]
    pub candidate: u32,
}

fn default_candidate_concurrency() -> u32 {
    0
}

/// How a change of version reaches traffic (README "Progressive rollouts"): SAM's
/// `Canary10Percent5Minutes` is `steps: [10], intervalSeconds: 300`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// Percent of the traffic on the new version at each step, strictly increasing, each 1-99;
    /// after the last step's interval the new version takes all of it.
    #[schemars(length(min = 1, max = MAX_ROLLOUT_STEPS), inner(range(min = 1, max = 99)))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": steps_increasing_rule(), "message": "rollout.steps must be strictly increasing: each step puts more traffic on the new version than the one before"}
    ]))]
    pub steps: Vec<i32>,
    /// How long each step is held (seconds), also across restarts of the controller.
    #[serde(default = "default_interval_seconds")]
    #[schemars(range(min = 1, max = 86400), extend("format" = "int32"))]
    pub interval_seconds: u32,
    /// CloudWatch alarm names in the set's region: any in ALARM during the rollout rolls it
    /// back; any in ALARM before it starts holds it (unless live moves back to a version it
    /// served before). An alarm that does not exist stalls the rollout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_ROLLOUT_ALARMS), inner(length(min = 1, max = 255), regex(pattern = ALARM_NAME_PATTERN)))]
    pub alarms: Vec<String>,
    /// Roll back when the new version's Errors / Invocations over the step (CloudWatch's
    /// AWS/Lambda metrics by ExecutedVersion) is above this fraction, judged from 20 invocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_error_rate: Option<f64>,
}

/// `steps[i-1] < steps[i]` for every index below [`MAX_ROLLOUT_STEPS`]: the clients' CEL has no
/// `isSorted()`, and each comparison is guarded by the list's size, so the cost stays constant.
fn steps_increasing_rule() -> String {
    (1..MAX_ROLLOUT_STEPS)
        .map(|i| format!("(self.size() <= {i} || self[{}] < self[{i}])", i - 1))
        .collect::<Vec<_>>()
        .join(" && ")
}

fn default_interval_seconds() -> u32 {
    300
}

/// An alias outside the rotation, pointed at a hash, a version or `$LATEST`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "(has(self.codeSha256) ? 1 : 0) + (has(self.version) ? 1 : 0) + (has(self.track) ? 1 : 0) == 1",
        "message": "a stage needs exactly one of codeSha256, version or track"
    }
]))]
pub struct Stage {
    #[schemars(length(min = 1, max = 128), regex(pattern = ALIAS_NAME_PATTERN))]
    pub alias: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 44), regex(pattern = CODE_SHA256_PATTERN))]
    pub code_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), regex(pattern = VERSION_PATTERN))]
    pub version: Option<String>,
    /// Only `$LATEST`: the stage alias follows the unpublished code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_enum::<Track>")]
    pub track: Option<Track>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Track {
    #[serde(rename = "$LATEST")]
    Latest,
}

/// One trigger: exactly one kind per entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "(has(self.alexaSkill) ? 1 : 0) + (has(self.apiGateway) ? 1 : 0) + (has(self.s3) ? 1 : 0) + (has(self.eventBridge) ? 1 : 0) + (has(self.permission) ? 1 : 0) + (has(self.eventSourceMapping) ? 1 : 0) == 1",
        "message": "a trigger needs exactly one of alexaSkill, apiGateway, s3, eventBridge, permission or eventSourceMapping"
    }
]))]
pub struct Trigger {
    /// Unique in the set; the owned statement id is `las-<name>`.
    #[schemars(length(min = 1, max = 32), regex(pattern = TRIGGER_NAME_PATTERN))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alexa_skill: Option<AlexaSkill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_gateway: Option<ApiGateway>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bridge: Option<EventBridge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source_mapping: Option<EventSourceMapping>,
    /// Live, Candidate, Both or a stage alias. Default: Both for permissions, Live for mappings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = ALIAS_NAME_PATTERN))]
    pub target: Option<String>,
}

impl Trigger {
    /// A trigger with a name and no kind yet (set exactly one before use).
    pub fn named(name: impl Into<String>) -> Self {
        Trigger {
            name: name.into(),
            alexa_skill: None,
            api_gateway: None,
            s3: None,
            event_bridge: None,
            permission: None,
            event_source_mapping: None,
            target: None,
        }
    }

    /// The Alexa Skills Kit permission of a Custom skill, on both aliases.
    pub fn alexa(name: impl Into<String>, skill_id: impl Into<String>) -> Self {
        Trigger {
            alexa_skill: Some(AlexaSkill { skill_id: skill_id.into(), kind: AlexaSkillKind::Custom }),
            ..Trigger::named(name)
        }
    }
}

/// Alexa Skills Kit permission: the skill id becomes the statement's EventSourceToken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlexaSkill {
    #[schemars(length(max = 128), regex(pattern = SKILL_ID_PATTERN))]
    pub skill_id: String,
    #[serde(default)]
    pub kind: AlexaSkillKind,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AlexaSkillKind {
    /// Principal `alexa-appkit.amazon.com`.
    #[default]
    Custom,
    /// Principal `alexa-connectedhome.amazon.com`.
    SmartHome,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiGateway {
    /// `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<method>/<path>`
    #[schemars(length(max = 1024), regex(pattern = EXECUTE_API_ARN_PATTERN))]
    pub source_arn: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Trigger {
    #[schemars(length(max = 128), regex(pattern = BUCKET_ARN_PATTERN))]
    pub bucket_arn: String,
    /// The bucket owner's account: bucket ARNs carry no account, so set it to stop another
    /// account's bucket of the same name from invoking the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 12), regex(pattern = ACCOUNT_PATTERN))]
    pub source_account: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBridge {
    #[schemars(length(max = 1024), regex(pattern = RULE_ARN_PATTERN))]
    pub rule_arn: String,
}

/// Any other resource-policy permission.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[schemars(length(min = 1, max = 256), regex(pattern = PRINCIPAL_PATTERN))]
    pub principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), regex(pattern = SOURCE_ARN_PATTERN))]
    pub source_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 12), regex(pattern = ACCOUNT_PATTERN))]
    pub source_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), regex(pattern = EVENT_SOURCE_TOKEN_PATTERN))]
    pub event_source_token: Option<String>,
    #[serde(default = "default_action")]
    #[schemars(length(max = 64), regex(pattern = ACTION_PATTERN))]
    pub action: String,
}

fn default_action() -> String {
    "lambda:InvokeFunction".to_string()
}

/// An event source mapping (SQS, Kinesis, DynamoDB streams, MSK ...) on the target alias.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSourceMapping {
    #[schemars(length(max = 1024), regex(pattern = SOURCE_ARN_PATTERN))]
    pub event_source_arn: String,
    /// Records per batch. Unset: the source's AWS default (10 for SQS, 100 for streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000), extend("format" = "int32"))]
    pub batch_size: Option<u32>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Required by AWS for Kinesis and DynamoDB streams; ignored for queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_enum::<StartingPosition>")]
    pub starting_position: Option<StartingPosition>,
}

fn default_true() -> bool {
    true
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave AWS as it is and release ownership.
    #[default]
    Retain,
    /// Remove owned statements, mappings and aliases (never the function).
    Delete,
}
