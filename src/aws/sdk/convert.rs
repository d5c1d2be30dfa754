//! The SDK's output types into the planner's snapshot types (`crate::plan`), and the request
//! fields the SDK takes in another shape.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{
    AliasConfiguration, AliasRoutingConfiguration, EventSourceMappingConfiguration, FunctionConfiguration,
};

use crate::aws::{AwsError, AwsResult, Operation};
use crate::plan::{AliasInfo, LATEST, MappingInfo, VersionInfo};

/// Lambda's `LastModified` (`2026-11-29T13:00:00.000+0000`: an offset without a colon, which
/// RFC 3339 parsers refuse) as unix seconds.
pub(super) fn parse_last_modified(text: &str) -> Option<i64> {
    let fixed = match text.len().checked_sub(5).map(|i| text.split_at(i)) {
        Some((head, tail))
            if (tail.starts_with('+') || tail.starts_with('-'))
                && tail[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{head}{}:{}", &tail[..3], &tail[3..])
        }
        _ => text.to_string(),
    };
    fixed.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// A RevisionId precondition to send. Empty reads as unknown (moto omits RevisionId on
/// functions), and sending it would make AWS reject the call.
pub(super) fn precondition(revision_id: Option<&str>) -> Option<String> {
    revision_id.filter(|r| !r.is_empty()).map(str::to_owned)
}

pub(super) fn batch_size(operation: Operation, size: Option<u32>) -> AwsResult<Option<i32>> {
    size.map(|s| {
        i32::try_from(s)
            .map_err(|_| AwsError::Invalid { operation, message: format!("batch size {s} is out of range") })
    })
    .transpose()
}

/// A published version, or `None` for `$LATEST` and anything whose version is not a number.
pub(super) fn version_info(config: &FunctionConfiguration) -> Option<VersionInfo> {
    let version = config.version().filter(|v| *v != LATEST)?.parse().ok()?;
    Some(VersionInfo {
        version,
        code_sha256: config.code_sha256().unwrap_or_default().to_owned(),
        description: config.description().unwrap_or_default().to_owned(),
    })
}

/// The view of any SDK output that has the view's fields as methods (the alias and mapping
/// outputs are distinct SDK types with the same accessors).
macro_rules! view {
    (AliasView, $out:expr) => {
        $crate::aws::sdk::convert::AliasView {
            name: $out.name(),
            alias_arn: $out.alias_arn(),
            function_version: $out.function_version(),
            description: $out.description(),
            routing: $out.routing_config(),
            revision_id: $out.revision_id(),
        }
    };
    (MappingView, $out:expr) => {
        $crate::aws::sdk::convert::MappingView {
            uuid: $out.uuid(),
            function_arn: $out.function_arn(),
            event_source_arn: $out.event_source_arn(),
            batch_size: $out.batch_size(),
            state: $out.state(),
        }
    };
}

/// The alias fields every alias-returning output shares (they are distinct SDK types).
pub(super) struct AliasView<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) alias_arn: Option<&'a str>,
    pub(super) function_version: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) routing: Option<&'a AliasRoutingConfiguration>,
    pub(super) revision_id: Option<&'a str>,
}

impl<'a> From<&'a AliasConfiguration> for AliasView<'a> {
    fn from(alias: &'a AliasConfiguration) -> Self {
        view!(AliasView, alias)
    }
}

pub(super) fn alias_info(operation: Operation, alias: AliasView<'_>) -> AwsResult<AliasInfo> {
    let routing: BTreeMap<String, f64> = alias
        .routing
        .and_then(AliasRoutingConfiguration::additional_version_weights)
        .map(|weights| weights.iter().map(|(v, w)| (v.clone(), *w)).collect())
        .unwrap_or_default();
    Ok(AliasInfo {
        name: required(operation, "Name", alias.name)?,
        alias_arn: required(operation, "AliasArn", alias.alias_arn)?,
        function_version: required(operation, "FunctionVersion", alias.function_version)?,
        description: alias.description.unwrap_or_default().to_owned(),
        routing,
        revision_id: alias.revision_id.unwrap_or_default().to_owned(),
    })
}

/// The mapping fields every mapping-returning output shares.
pub(super) struct MappingView<'a> {
    pub(super) uuid: Option<&'a str>,
    pub(super) function_arn: Option<&'a str>,
    pub(super) event_source_arn: Option<&'a str>,
    pub(super) batch_size: Option<i32>,
    pub(super) state: Option<&'a str>,
}

impl<'a> From<&'a EventSourceMappingConfiguration> for MappingView<'a> {
    fn from(mapping: &'a EventSourceMappingConfiguration) -> Self {
        view!(MappingView, mapping)
    }
}

pub(super) fn mapping_info(operation: Operation, m: MappingView<'_>) -> AwsResult<MappingInfo> {
    let state = m.state.unwrap_or_default().to_owned();
    Ok(MappingInfo {
        uuid: required(operation, "UUID", m.uuid)?,
        function_arn: required(operation, "FunctionArn", m.function_arn)?,
        event_source_arn: required(operation, "EventSourceArn", m.event_source_arn)?,
        batch_size: m.batch_size.and_then(|b| u32::try_from(b).ok()),
        enabled: mapping_enabled(&state),
        state,
    })
}

/// Whether a mapping is meant to run, read from its `State`. Only `Disabled`/`Disabling` say
/// "off". `Enabled`/`Enabling` say "on"; `Creating`/`Updating`/`Deleting` (and states AWS may
/// add) do not reveal the target, and reading them as enabled is the safe side: at worst the
/// engine asks to disable a mapping that is still settling, which AWS refuses as a conflict
/// and the next reconcile retries.
pub(super) fn mapping_enabled(state: &str) -> bool {
    !matches!(state, "Disabled" | "Disabling")
}

pub(super) fn required(operation: Operation, field: &str, value: Option<&str>) -> AwsResult<String> {
    value.map(str::to_owned).ok_or_else(|| malformed(operation, field))
}

/// A successful answer without a field Lambda always returns: a broken endpoint or proxy, which
/// is treated like any other unreadable response (transient).
pub(super) fn malformed(operation: Operation, field: &str) -> AwsError {
    AwsError::Unavailable { operation, message: format!("the response lacks {field}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_reads_lambdas_offset_without_a_colon() {
        assert_eq!(parse_last_modified("2026-11-29T13:00:00.000+0000"), Some(1_795_957_200));
        assert_eq!(parse_last_modified("2026-11-29T14:00:00.000+0100"), Some(1_795_957_200));
        assert_eq!(parse_last_modified("2026-11-29T13:00:00Z"), Some(1_795_957_200));
        assert_eq!(parse_last_modified("yesterday"), None);
    }

    #[test]
    fn mapping_states_read_as_enabled_unless_disabled() {
        for state in ["Enabled", "Enabling", "Creating", "Updating", "Deleting", ""] {
            assert!(mapping_enabled(state), "{state}");
        }
        for state in ["Disabled", "Disabling"] {
            assert!(!mapping_enabled(state), "{state}");
        }
    }

    #[test]
    fn versions_skip_latest_and_non_numeric() {
        let config = |v: &str| FunctionConfiguration::builder().version(v).code_sha256("h").build();
        assert_eq!(version_info(&config(LATEST)), None);
        assert_eq!(version_info(&config("abc")), None);
        assert_eq!(
            version_info(&config("12")),
            Some(VersionInfo { version: 12, code_sha256: "h".into(), description: String::new() })
        );
    }

    #[test]
    fn empty_revision_ids_are_not_sent() {
        assert_eq!(precondition(None), None);
        assert_eq!(precondition(Some("")), None);
        assert_eq!(precondition(Some("r1")).as_deref(), Some("r1"));
    }
}
