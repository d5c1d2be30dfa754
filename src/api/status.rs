//! `LambdaAliasSet.status`: a cache of what the controller found and did; AWS is the record.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Phase;

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
    /// kstatus conditions: Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
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
    /// `ALIAS:VERSION`, for the printer columns (a column cannot join two fields).
    pub summary: String,
}

impl AliasStatus {
    pub fn new(alias: &str, version: &str, code_sha256: Option<String>, alias_arn: Option<String>) -> Self {
        AliasStatus {
            alias: alias.to_string(),
            version: version.to_string(),
            code_sha256,
            alias_arn,
            summary: format!("{alias}:{version}"),
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
