//! [`LambdaApi`] over `aws-sdk-lambda`: request building, pagination, policy parsing and the one
//! translation of SDK errors into [`AwsError`]. Timeouts and credentials come from the client's
//! configuration ([`super::client`]), where the SDK's retries are off: nothing here retries, and
//! each SDK call (each page of a listing) is one HTTP request, which
//! [`super::budget::Metered`] budgets, counts and retries.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::list_aliases::ListAliasesOutput;
use aws_sdk_lambda::operation::list_event_source_mappings::ListEventSourceMappingsOutput;
use aws_sdk_lambda::operation::list_event_source_mappings::builders::ListEventSourceMappingsFluentBuilder;
use aws_sdk_lambda::operation::list_versions_by_function::ListVersionsByFunctionOutput;
use aws_sdk_lambda::types::{
    AliasConfiguration, AliasRoutingConfiguration, EventSourceMappingConfiguration, EventSourcePosition,
    FunctionConfiguration,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;

use super::api::{AwsError, AwsResult, CreateMapping, Direct, LambdaApi, Operation, Requests, UpdateMapping};
use crate::plan::{AliasInfo, FunctionInfo, LATEST, MappingInfo, PolicyInfo, Statement, VersionInfo};

/// Longest message kept from an AWS error: enough for the code and the reason, short enough for
/// a status condition.
const MAX_MESSAGE_CHARS: usize = 300;

/// An SDK paginator (`into_paginator`) as a stream of pages that owns the paginator, so that
/// [`paginate`] can keep it between pages without naming its type.
macro_rules! pages {
    ($request:expr) => {
        futures::stream::unfold($request.into_paginator().send(), |mut pages| async move {
            pages.next().await.map(|page| (page, pages))
        })
        .boxed()
    };
}

/// The Lambda control plane through the AWS SDK.
#[derive(Clone, Debug)]
pub struct SdkLambda {
    client: aws_sdk_lambda::Client,
}

impl SdkLambda {
    /// ListEventSourceMappings with `filter` (by function or by event source), every page.
    async fn mappings_via(
        &self,
        requests: &impl Requests,
        filter: impl Fn(ListEventSourceMappingsFluentBuilder) -> ListEventSourceMappingsFluentBuilder
        + Send
        + Sync,
    ) -> AwsResult<Vec<MappingInfo>> {
        const OP: Operation = Operation::ListEventSourceMappings;
        let start = |marker| pages!(filter(self.client.list_event_source_mappings()).set_marker(marker));
        let pages = paginate(requests, OP, start, ListEventSourceMappingsOutput::next_marker).await?;
        pages
            .iter()
            .flat_map(|page| page.event_source_mappings())
            .map(|mapping| mapping_info(OP, MappingView::from(mapping)))
            .collect()
    }

    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }
}

/// Lambda's `LastModified` (`2026-11-29T13:00:00.000+0000`: an offset without a colon, which
/// RFC 3339 parsers refuse) as unix seconds.
fn parse_last_modified(text: &str) -> Option<i64> {
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

impl LambdaApi for SdkLambda {
    async fn get_function(&self, function: &str) -> AwsResult<FunctionInfo> {
        const OP: Operation = Operation::GetFunction;
        let out =
            self.client.get_function().function_name(function).send().await.map_err(|e| map_error(OP, e))?;
        let config = out.configuration().ok_or_else(|| malformed(OP, "Configuration"))?;
        Ok(FunctionInfo {
            function_arn: required(OP, "FunctionArn", config.function_arn())?,
            code_sha256: required(OP, "CodeSha256", config.code_sha256())?,
            // moto omits RevisionId on functions; "" reads as "no precondition available".
            revision_id: config.revision_id().unwrap_or_default().to_owned(),
            last_modified: config.last_modified().and_then(parse_last_modified),
        })
    }

    async fn list_versions(&self, function: &str) -> AwsResult<Vec<VersionInfo>> {
        self.list_versions_via(function, &Direct).await
    }

    async fn list_aliases(&self, function: &str) -> AwsResult<Vec<AliasInfo>> {
        self.list_aliases_via(function, &Direct).await
    }

    async fn list_versions_via(
        &self,
        function: &str,
        requests: &impl Requests,
    ) -> AwsResult<Vec<VersionInfo>> {
        const OP: Operation = Operation::ListVersionsByFunction;
        let start = |marker| {
            pages!(self.client.list_versions_by_function().function_name(function).set_marker(marker))
        };
        let pages = paginate(requests, OP, start, ListVersionsByFunctionOutput::next_marker).await?;
        Ok(pages.iter().flat_map(|page| page.versions()).filter_map(version_info).collect())
    }

    async fn list_aliases_via(&self, function: &str, requests: &impl Requests) -> AwsResult<Vec<AliasInfo>> {
        const OP: Operation = Operation::ListAliases;
        let start = |marker| pages!(self.client.list_aliases().function_name(function).set_marker(marker));
        let pages = paginate(requests, OP, start, ListAliasesOutput::next_marker).await?;
        pages
            .iter()
            .flat_map(|page| page.aliases())
            .map(|alias| alias_info(OP, AliasView::from(alias)))
            .collect()
    }

    async fn list_mappings_via(
        &self,
        qualified_arn: &str,
        requests: &impl Requests,
    ) -> AwsResult<Vec<MappingInfo>> {
        self.mappings_via(requests, |list| list.function_name(qualified_arn)).await
    }

    async fn list_mappings_for_source_via(
        &self,
        event_source_arn: &str,
        requests: &impl Requests,
    ) -> AwsResult<Vec<MappingInfo>> {
        self.mappings_via(requests, |list| list.event_source_arn(event_source_arn)).await
    }

    async fn get_policy(&self, function: &str, qualifier: &str) -> AwsResult<Option<PolicyInfo>> {
        const OP: Operation = Operation::GetPolicy;
        let out = match self.client.get_policy().function_name(function).qualifier(qualifier).send().await {
            Ok(out) => out,
            Err(e) => {
                return match map_error(OP, e) {
                    // No policy on this qualifier (or no such qualifier): nothing is granted.
                    AwsError::NotFound { .. } => Ok(None),
                    other => Err(other),
                };
            }
        };
        let statements = match out.policy() {
            Some(text) => parse_policy(text).map_err(|e| AwsError::Unavailable {
                operation: OP,
                message: format!("the policy returned is not valid JSON: {e}"),
            })?,
            None => Vec::new(),
        };
        Ok(Some(PolicyInfo { revision_id: out.revision_id().unwrap_or_default().to_owned(), statements }))
    }

    async fn list_mappings(&self, qualified_arn: &str) -> AwsResult<Vec<MappingInfo>> {
        self.list_mappings_via(qualified_arn, &Direct).await
    }

    async fn list_mappings_for_source(&self, event_source_arn: &str) -> AwsResult<Vec<MappingInfo>> {
        self.list_mappings_for_source_via(event_source_arn, &Direct).await
    }

    async fn publish_version(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
        description: Option<&str>,
    ) -> AwsResult<VersionInfo> {
        const OP: Operation = Operation::PublishVersion;
        let out = self
            .client
            .publish_version()
            .function_name(function)
            .code_sha256(code_sha256)
            .set_revision_id(precondition(revision_id))
            .set_description(description.map(str::to_owned))
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        let version = required(OP, "Version", out.version())?;
        Ok(VersionInfo {
            version: version.parse().map_err(|_| AwsError::Unavailable {
                operation: OP,
                message: format!("PublishVersion returned a non-numeric version {version:?}"),
            })?,
            code_sha256: required(OP, "CodeSha256", out.code_sha256())?,
            description: out.description().unwrap_or_default().to_owned(),
        })
    }

    async fn create_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
    ) -> AwsResult<AliasInfo> {
        const OP: Operation = Operation::CreateAlias;
        let out = self
            .client
            .create_alias()
            .function_name(function)
            .name(name)
            .function_version(version)
            .description(description)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        alias_info(
            OP,
            AliasView {
                name: out.name(),
                alias_arn: out.alias_arn(),
                function_version: out.function_version(),
                description: out.description(),
                routing: out.routing_config(),
                revision_id: out.revision_id(),
            },
        )
    }

    async fn update_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
        revision_id: Option<&str>,
    ) -> AwsResult<AliasInfo> {
        const OP: Operation = Operation::UpdateAlias;
        // An explicitly empty weight map clears any weighted routing; omitting RoutingConfig would
        // keep whatever split someone configured.
        let no_routing =
            AliasRoutingConfiguration::builder().set_additional_version_weights(Some(HashMap::new())).build();
        let out = self
            .client
            .update_alias()
            .function_name(function)
            .name(name)
            .function_version(version)
            .description(description)
            .routing_config(no_routing)
            .set_revision_id(precondition(revision_id))
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        alias_info(
            OP,
            AliasView {
                name: out.name(),
                alias_arn: out.alias_arn(),
                function_version: out.function_version(),
                description: out.description(),
                routing: out.routing_config(),
                revision_id: out.revision_id(),
            },
        )
    }

    async fn delete_alias(&self, function: &str, name: &str) -> AwsResult<()> {
        self.client
            .delete_alias()
            .function_name(function)
            .name(name)
            .send()
            .await
            .map_err(|e| map_error(Operation::DeleteAlias, e))?;
        Ok(())
    }

    async fn add_permission(
        &self,
        function: &str,
        qualifier: &str,
        statement: &Statement,
        revision_id: Option<&str>,
    ) -> AwsResult<()> {
        self.client
            .add_permission()
            .function_name(function)
            .qualifier(qualifier)
            .statement_id(&statement.sid)
            .action(&statement.action)
            .principal(&statement.principal)
            .set_source_arn(statement.source_arn.clone())
            .set_source_account(statement.source_account.clone())
            .set_event_source_token(statement.event_source_token.clone())
            .set_revision_id(precondition(revision_id))
            .send()
            .await
            .map_err(|e| map_error(Operation::AddPermission, e))?;
        Ok(())
    }

    async fn remove_permission(&self, function: &str, qualifier: &str, sid: &str) -> AwsResult<()> {
        // Deliberately no RevisionId: moto answers 412 to any RemovePermission that carries one.
        self.client
            .remove_permission()
            .function_name(function)
            .qualifier(qualifier)
            .statement_id(sid)
            .send()
            .await
            .map_err(|e| map_error(Operation::RemovePermission, e))?;
        Ok(())
    }

    async fn create_mapping(&self, request: &CreateMapping) -> AwsResult<MappingInfo> {
        const OP: Operation = Operation::CreateEventSourceMapping;
        let starting_position = match request.starting_position.as_deref() {
            None => None,
            Some("TRIM_HORIZON") => Some(EventSourcePosition::TrimHorizon),
            Some("LATEST") => Some(EventSourcePosition::Latest),
            // AT_TIMESTAMP needs a timestamp the request cannot carry.
            Some(other) => {
                return Err(AwsError::Invalid {
                    operation: OP,
                    message: format!("unsupported starting position {other:?} (TRIM_HORIZON or LATEST)"),
                });
            }
        };
        let out = self
            .client
            .create_event_source_mapping()
            .function_name(&request.function_arn)
            .event_source_arn(&request.event_source_arn)
            .set_batch_size(batch_size(OP, request.batch_size)?)
            .enabled(request.enabled)
            .set_starting_position(starting_position)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        mapping_info(
            OP,
            MappingView {
                uuid: out.uuid(),
                function_arn: out.function_arn(),
                event_source_arn: out.event_source_arn(),
                batch_size: out.batch_size(),
                state: out.state(),
            },
        )
    }

    async fn update_mapping(&self, request: &UpdateMapping) -> AwsResult<MappingInfo> {
        const OP: Operation = Operation::UpdateEventSourceMapping;
        let out = self
            .client
            .update_event_source_mapping()
            .uuid(&request.uuid)
            .set_function_name(request.function_arn.clone())
            .set_batch_size(batch_size(OP, request.batch_size)?)
            .set_enabled(request.enabled)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        mapping_info(
            OP,
            MappingView {
                uuid: out.uuid(),
                function_arn: out.function_arn(),
                event_source_arn: out.event_source_arn(),
                batch_size: out.batch_size(),
                state: out.state(),
            },
        )
    }

    async fn delete_mapping(&self, uuid: &str) -> AwsResult<()> {
        self.client
            .delete_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(|e| map_error(Operation::DeleteEventSourceMapping, e))?;
        Ok(())
    }

    async fn delete_version(&self, function: &str, version: u64) -> AwsResult<()> {
        self.client
            .delete_function()
            .function_name(function)
            .qualifier(version.to_string())
            .send()
            .await
            .map_err(|e| map_error(Operation::DeleteFunction, e))?;
        Ok(())
    }
}

/// Every page of a listing, each page's request passed through `requests` (the budget's token,
/// the count and the retries under [`super::budget::Metered`]). The SDK's paginator sends one
/// request per page it is asked for and ends at its first error, so a retried page starts a new
/// paginator at the marker the failed page was asked with (`start(marker)`); the pages already
/// read are not asked again.
fn paginate<'a, O, E>(
    requests: &'a impl Requests,
    operation: Operation,
    start: impl Fn(Option<String>) -> BoxStream<'a, Result<O, SdkError<E, HttpResponse>>> + Send + Sync + 'a,
    next_marker: fn(&O) -> Option<&str>,
) -> BoxFuture<'a, AwsResult<Vec<O>>>
where
    O: Send + 'a,
    E: StdError + Send + Sync + 'static,
    aws_sdk_lambda::Error: From<E>,
{
    // Boxed, so that proving the controller's futures `Send` stops at this `dyn Future + Send`
    // instead of looking into these closures' futures with erased lifetimes, which rustc cannot
    // do ("implementation of `Send` is not general enough", rust-lang/rust#64552).
    Box::pin(async move {
        let live = Mutex::new(None);
        let mut markers = Pages::new(operation);
        let mut pages = Vec::new();
        loop {
            let page = requests
                .send(operation, || {
                    let marker = markers.marker();
                    let taken = live.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let mut stream = taken.unwrap_or_else(|| start(marker));
                    let live = &live;
                    async move {
                        match stream.next().await {
                            Some(Ok(page)) => {
                                *live.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream);
                                Ok(page)
                            }
                            Some(Err(error)) => Err(map_error(operation, error)),
                            None => Err(AwsError::Unavailable {
                                operation,
                                message: "the paginator ended before the last page".to_owned(),
                            }),
                        }
                    }
                })
                .await?;
            let more = markers.advance(next_marker(&page))?;
            pages.push(page);
            if !more {
                return Ok(pages);
            }
        }
    })
}

/// Follows `NextMarker` and refuses a marker that repeats, so a misbehaving endpoint cannot
/// keep a reconcile paging forever (the SDK's paginator only notices a marker equal to the one
/// it just sent, and then stops without an error).
struct Pages {
    operation: Operation,
    next: Option<String>,
    seen: Vec<String>,
}

impl Pages {
    fn new(operation: Operation) -> Self {
        Self { operation, next: None, seen: Vec::new() }
    }

    /// The marker for the next request (`None` for the first page).
    fn marker(&self) -> Option<String> {
        self.next.clone()
    }

    /// Records the page's `NextMarker`; false when there are no more pages.
    fn advance(&mut self, next_marker: Option<&str>) -> AwsResult<bool> {
        let Some(marker) = next_marker.filter(|m| !m.is_empty()) else {
            return Ok(false);
        };
        if self.seen.iter().any(|seen| seen == marker) {
            return Err(AwsError::Unavailable {
                operation: self.operation,
                message: "pagination marker repeated; the listing would never end".to_owned(),
            });
        }
        self.seen.push(marker.to_owned());
        self.next = Some(marker.to_owned());
        Ok(true)
    }
}

/// A RevisionId precondition to send. Empty reads as unknown (moto omits RevisionId on
/// functions), and sending it would make AWS reject the call.
fn precondition(revision_id: Option<&str>) -> Option<String> {
    revision_id.filter(|r| !r.is_empty()).map(str::to_owned)
}

fn batch_size(operation: Operation, size: Option<u32>) -> AwsResult<Option<i32>> {
    size.map(|s| {
        i32::try_from(s)
            .map_err(|_| AwsError::Invalid { operation, message: format!("batch size {s} is out of range") })
    })
    .transpose()
}

/// A published version, or `None` for `$LATEST` and anything whose version is not a number.
fn version_info(config: &FunctionConfiguration) -> Option<VersionInfo> {
    let version = config.version().filter(|v| *v != LATEST)?.parse().ok()?;
    Some(VersionInfo {
        version,
        code_sha256: config.code_sha256().unwrap_or_default().to_owned(),
        description: config.description().unwrap_or_default().to_owned(),
    })
}

/// The alias fields every alias-returning output shares (they are distinct SDK types).
struct AliasView<'a> {
    name: Option<&'a str>,
    alias_arn: Option<&'a str>,
    function_version: Option<&'a str>,
    description: Option<&'a str>,
    routing: Option<&'a AliasRoutingConfiguration>,
    revision_id: Option<&'a str>,
}

impl<'a> From<&'a AliasConfiguration> for AliasView<'a> {
    fn from(alias: &'a AliasConfiguration) -> Self {
        Self {
            name: alias.name(),
            alias_arn: alias.alias_arn(),
            function_version: alias.function_version(),
            description: alias.description(),
            routing: alias.routing_config(),
            revision_id: alias.revision_id(),
        }
    }
}

fn alias_info(operation: Operation, alias: AliasView<'_>) -> AwsResult<AliasInfo> {
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
struct MappingView<'a> {
    uuid: Option<&'a str>,
    function_arn: Option<&'a str>,
    event_source_arn: Option<&'a str>,
    batch_size: Option<i32>,
    state: Option<&'a str>,
}

impl<'a> From<&'a EventSourceMappingConfiguration> for MappingView<'a> {
    fn from(m: &'a EventSourceMappingConfiguration) -> Self {
        Self {
            uuid: m.uuid(),
            function_arn: m.function_arn(),
            event_source_arn: m.event_source_arn(),
            batch_size: m.batch_size(),
            state: m.state(),
        }
    }
}

fn mapping_info(operation: Operation, m: MappingView<'_>) -> AwsResult<MappingInfo> {
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
fn mapping_enabled(state: &str) -> bool {
    !matches!(state, "Disabled" | "Disabling")
}

fn required(operation: Operation, field: &str, value: Option<&str>) -> AwsResult<String> {
    value.map(str::to_owned).ok_or_else(|| malformed(operation, field))
}

/// A successful answer without a field Lambda always returns: a broken endpoint or proxy, which
/// is treated like any other unreadable response (transient).
fn malformed(operation: Operation, field: &str) -> AwsError {
    AwsError::Unavailable { operation, message: format!("the response lacks {field}") }
}

// ----- resource-based policy -------------------------------------------------------------------

/// Parses a Lambda resource-based policy into statements in the shape `AddPermission` takes.
/// Lenient by design: a statement in a shape we do not know keeps its Sid and whatever could be
/// read, so one odd statement never hides the others. Statements without a Sid are skipped:
/// nothing could address them (RemovePermission takes a Sid).
pub(crate) fn parse_policy(text: &str) -> Result<Vec<Statement>, serde_json::Error> {
    let doc: Value = serde_json::from_str(text)?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        // The policy grammar also allows a single statement object.
        Some(item @ Value::Object(_)) => vec![item],
        _ => Vec::new(),
    };
    Ok(statements.into_iter().filter_map(parse_statement).collect())
}

fn parse_statement(value: &Value) -> Option<Statement> {
    let sid = value.get("Sid")?.as_str()?.to_owned();
    let mut statement = Statement {
        sid,
        principal: value.get("Principal").and_then(principal).unwrap_or_default(),
        action: value.get("Action").and_then(single_string).unwrap_or_default(),
        ..Statement::default()
    };
    if let Some(Value::Object(conditions)) = value.get("Condition") {
        for (operator, block) in conditions {
            let Value::Object(block) = block else { continue };
            for (key, value) in block {
                let Some(value) = single_string(value) else { continue };
                // Condition keys are case-insensitive in IAM; operators are not.
                match (operator.as_str(), key.to_ascii_lowercase().as_str()) {
                    ("ArnLike" | "ArnEquals", "aws:sourcearn") => statement.source_arn = Some(value),
                    ("StringEquals", "aws:sourceaccount") => statement.source_account = Some(value),
                    ("StringEquals", "lambda:eventsourcetoken") => statement.event_source_token = Some(value),
                    _ => {}
                }
            }
        }
    }
    Some(statement)
}

/// The principal as `AddPermission` takes it: a service name, an account id, or `*`.
fn principal(value: &Value) -> Option<String> {
    match value {
        // `"*"`, or (moto) the principal exactly as it was added.
        Value::String(s) => Some(account_or_arn(s)),
        Value::Object(map) => map
            .get("Service")
            .and_then(single_string)
            .or_else(|| map.get("AWS").and_then(single_string).map(|aws| account_or_arn(&aws))),
        _ => None,
    }
}

/// `arn:<partition>:iam::<account>:root` is how AWS writes an account principal; AddPermission
/// takes the bare account id. Anything else (a role ARN, `*`) is kept as written.
fn account_or_arn(principal: &str) -> String {
    match principal.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _partition, "iam", "", account, "root"] if !account.is_empty() => (*account).to_owned(),
        _ => principal.to_owned(),
    }
}

/// A string, or a list holding exactly one string (the policy grammar allows both).
fn single_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => match items.as_slice() {
            [Value::String(s)] => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

// ----- errors ----------------------------------------------------------------------------------

/// Translates an SDK error into [`AwsError`]: the one place that decides what the engine sees.
/// The operation error is converted into the service-wide [`aws_sdk_lambda::Error`] so that
/// every operation's throttling error exposes its `retryAfterSeconds` the same way.
pub(crate) fn map_error<E>(operation: Operation, error: SdkError<E, HttpResponse>) -> AwsError
where
    E: StdError + Send + Sync + 'static,
    aws_sdk_lambda::Error: From<E>,
{
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let header_retry = context.raw().headers().get("Retry-After").and_then(parse_seconds);
            let service_error = aws_sdk_lambda::Error::from(context.into_err());
            let field_retry = match &service_error {
                aws_sdk_lambda::Error::TooManyRequestsException(e) => {
                    e.retry_after_seconds().and_then(parse_seconds)
                }
                _ => None,
            };
            let message =
                service_error.message().map(str::to_owned).unwrap_or_else(|| service_error.to_string());
            classify(operation, status, service_error.code(), &message, field_retry.or(header_retry))
        }
        SdkError::TimeoutError(_) => {
            AwsError::Unavailable { operation, message: "request timed out".to_owned() }
        }
        SdkError::DispatchFailure(failure) => {
            // Credentials are resolved while sending, so a refused AssumeRole or missing
            // credentials surface here rather than as a service error.
            let chain = failure.as_connector_error().map(|e| crate::error_chain(e)).unwrap_or_default();
            if failure.is_other() && is_credentials_refusal(&chain) {
                AwsError::AccessDenied {
                    operation,
                    message: short(format!("cannot get credentials: {chain}")),
                }
            } else {
                AwsError::Unavailable { operation, message: short(format!("request not sent: {chain}")) }
            }
        }
        SdkError::ResponseError(ref response) => {
            let status = response.raw().status().as_u16();
            AwsError::Unavailable {
                operation,
                message: short(format!(
                    "unreadable response (HTTP {status}): {}",
                    crate::error_chain(&error)
                )),
            }
        }
        SdkError::ConstructionFailure(_) => AwsError::Invalid {
            operation,
            message: short(format!("request not built: {}", crate::error_chain(&error))),
        },
        other => AwsError::Unavailable { operation, message: short(crate::error_chain(&other)) },
    }
}

/// Classifies a service error by its code, falling back to the HTTP status when the code is
/// missing or unknown (a code AWS added later, a proxy or load balancer answering).
fn classify(
    operation: Operation,
    status: u16,
    code: Option<&str>,
    message: &str,
    retry_after: Option<Duration>,
) -> AwsError {
    let message = short(match code {
        Some(code) => format!("{code}: {message}"),
        None => format!("HTTP {status}: {message}"),
    });
    let code = code.unwrap_or_default();
    match code {
        "ResourceNotFoundException" => AwsError::NotFound { operation, message },
        "PreconditionFailedException" => AwsError::PreconditionFailed { operation, message },
        // PublishVersion with a CodeSha256 that is no longer $LATEST's: AWS answers 400, but it is
        // a failed precondition (someone deployed in between), so the engine re-observes.
        "InvalidParameterValueException" if message.contains("CodeSHA256") => {
            AwsError::PreconditionFailed { operation, message }
        }
        // In use / not ready are "an update is in progress": retry after it settles.
        // (moto says ConflictException for an alias that exists.)
        "ResourceConflictException"
        | "ConflictException"
        | "ResourceInUseException"
        | "ResourceNotReadyException" => AwsError::Conflict { operation, message },
        "TooManyRequestsException" | "ThrottlingException" | "Throttling" | "RequestLimitExceeded" => {
            AwsError::Throttled { operation, retry_after }
        }
        _ if is_auth_code(code) => AwsError::AccessDenied { operation, message },
        _ => match status {
            401 | 403 => AwsError::AccessDenied { operation, message },
            404 => AwsError::NotFound { operation, message },
            409 => AwsError::Conflict { operation, message },
            412 => AwsError::PreconditionFailed { operation, message },
            429 => AwsError::Throttled { operation, retry_after },
            400..=499 => AwsError::Invalid { operation, message },
            // 5xx, and anything else that is not a client error, is AWS's problem.
            _ => AwsError::Unavailable { operation, message },
        },
    }
}

/// Error codes that mean "these credentials may not do this" (or are not credentials at all).
fn is_auth_code(code: &str) -> bool {
    const AUTH_CODES: [&str; 7] = [
        "AccessDenied",
        "UnrecognizedClient",
        "ExpiredToken",
        "InvalidClientTokenId",
        "InvalidSignature",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
    ];
    AUTH_CODES.iter().any(|auth| code.contains(auth))
}

/// Whether a dispatch failure's error chain is a credentials provider that was refused or is
/// not configured, as opposed to one that could not reach STS (transient). The credential
/// types are not reachable from this crate, so this reads their messages: the SDK renders a
/// refused AssumeRole as "unhandled error (AccessDenied)" under "an error occurred while
/// loading credentials".
fn is_credentials_refusal(chain: &str) -> bool {
    let about_credentials = chain.contains("credential");
    let refused = is_auth_code(chain)
        || chain.contains("not enabled")
        || chain.contains("not properly configured")
        || chain.contains("no credentials");
    about_credentials && refused
}

/// Seconds as `Retry-After` / `retryAfterSeconds` write them (an integer, tolerated as a
/// decimal); an HTTP date or anything else gives no hint.
fn parse_seconds(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

fn short(message: impl Into<String>) -> String {
    let mut message: String = message.into();
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_modified_reads_lambdas_offset_without_a_colon() {
        assert_eq!(super::parse_last_modified("2026-11-29T13:00:00.000+0000"), Some(1_795_957_200));
        assert_eq!(super::parse_last_modified("2026-11-29T14:00:00.000+0100"), Some(1_795_957_200));
        assert_eq!(super::parse_last_modified("2026-11-29T13:00:00Z"), Some(1_795_957_200));
        assert_eq!(super::parse_last_modified("yesterday"), None);
    }

    use super::*;

    use aws_sdk_lambda::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_lambda::operation::get_function::GetFunctionError;
    use aws_sdk_lambda::operation::get_policy::GetPolicyError;
    use aws_sdk_lambda::operation::publish_version::PublishVersionError;
    use aws_sdk_lambda::primitives::SdkBody;
    use aws_sdk_lambda::types::error::{
        InvalidParameterValueException, PreconditionFailedException, ResourceConflictException,
        ResourceNotFoundException, ServiceException, TooManyRequestsException,
    };

    // ----- policy parser: samples as AWS returns them from GetPolicy -----

    const ALEXA: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"alexa-skill","Effect":"Allow","Principal":{"Service":"alexa-appkit.amazon.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:skill:live","Condition":{"StringEquals":{"lambda:EventSourceToken":"amzn1.ask.skill.0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}}}]}"#;

    const S3: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"s3-invoke","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:thumbs:live","Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::uploads-bucket"}}}]}"#;

    const API_GATEWAY: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"apigw-get-pets","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:pets:live","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*/GET/pets"}}}]}"#;

    fn only(text: &str) -> Statement {
        let mut statements = parse_policy(text).expect("valid policy");
        assert_eq!(statements.len(), 1, "{statements:?}");
        statements.remove(0)
    }

    #[test]
    fn parses_alexa_statement_with_event_source_token() {
        assert_eq!(
            only(ALEXA),
            Statement {
                sid: "alexa-skill".into(),
                principal: "alexa-appkit.amazon.com".into(),
                action: "lambda:InvokeFunction".into(),
                source_arn: None,
                source_account: None,
                event_source_token: Some("amzn1.ask.skill.0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into()),
            }
        );
    }

    #[test]
    fn parses_s3_statement_with_source_account_and_arn() {
        assert_eq!(
            only(S3),
            Statement {
                sid: "s3-invoke".into(),
                principal: "s3.amazonaws.com".into(),
                action: "lambda:InvokeFunction".into(),
                source_arn: Some("arn:aws:s3:::uploads-bucket".into()),
                source_account: Some("123456789012".into()),
                event_source_token: None,
            }
        );
    }

    #[test]
    fn parses_api_gateway_statement() {
        assert_eq!(
            only(API_GATEWAY),
            Statement {
                sid: "apigw-get-pets".into(),
                principal: "apigateway.amazonaws.com".into(),
                action: "lambda:InvokeFunction".into(),
                source_arn: Some("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*/GET/pets".into()),
                ..Statement::default()
            }
        );
    }

    #[test]
    fn maps_account_and_wildcard_principals_to_add_permission_form() {
        let text = r#"{"Version":"2012-10-17","Id":"default","Statement":[
            {"Sid":"cross-account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f"},
            {"Sid":"bare-account","Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":["lambda:InvokeFunction"],"Resource":"arn:aws:lambda:us-east-1:123456789012:function:f"},
            {"Sid":"gov-account","Effect":"Allow","Principal":{"AWS":"arn:aws-us-gov:iam::210987654321:root"},"Action":"lambda:InvokeFunction","Resource":"r"},
            {"Sid":"role","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:role/caller"},"Action":"lambda:InvokeFunction","Resource":"r"},
            {"Sid":"url","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"r","Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}},
            {"Sid":"moto-style","Effect":"Allow","Principal":"alexa-appkit.amazon.com","Action":"lambda:InvokeFunction","Resource":"r"}
        ]}"#;
        let principals: Vec<(String, String, String)> = parse_policy(text)
            .expect("valid policy")
            .into_iter()
            .map(|s| (s.sid, s.principal, s.action))
            .collect();
        let expected = [
            ("cross-account", "210987654321", "lambda:InvokeFunction"),
            ("bare-account", "210987654321", "lambda:InvokeFunction"),
            ("gov-account", "210987654321", "lambda:InvokeFunction"),
            ("role", "arn:aws:iam::210987654321:role/caller", "lambda:InvokeFunction"),
            ("url", "*", "lambda:InvokeFunctionUrl"),
            ("moto-style", "alexa-appkit.amazon.com", "lambda:InvokeFunction"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
        assert_eq!(principals, expected);
    }

    #[test]
    fn unknown_shapes_keep_the_sid_and_what_could_be_read() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"weird","Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":["lambda:InvokeFunction","lambda:GetFunction"],"Condition":{"ArnLike":{"AWS:SourceArn":["arn:a","arn:b"]},"StringEquals":{"aws:sourceaccount":"123456789012"},"Bool":"nonsense"}},
            {"Sid":"no-principal","Effect":"Allow","Action":"lambda:InvokeFunction","Condition":[]},
            {"Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"},
            {"Sid":42},
            "not a statement"
        ]}"#;
        let statements = parse_policy(text).expect("valid JSON");
        assert_eq!(
            statements,
            vec![
                Statement {
                    sid: "weird".into(),
                    source_account: Some("123456789012".into()),
                    ..Statement::default()
                },
                Statement {
                    sid: "no-principal".into(),
                    action: "lambda:InvokeFunction".into(),
                    ..Statement::default()
                },
            ]
        );
    }

    #[test]
    fn single_statement_object_and_empty_policies_parse() {
        let one = r#"{"Version":"2012-10-17","Statement":{"Sid":"solo","Principal":"*","Action":"lambda:InvokeFunction"}}"#;
        assert_eq!(parse_policy(one).expect("valid").len(), 1);
        assert!(parse_policy(r#"{"Version":"2012-10-17"}"#).expect("valid").is_empty());
        assert!(parse_policy("not json").is_err());
    }

    // ----- error mapping on constructed SDK errors -----

    fn response(status: u16, headers: &[(&'static str, &'static str)]) -> HttpResponse {
        let mut response = HttpResponse::new(status.try_into().expect("valid status"), SdkBody::empty());
        for (name, value) in headers {
            response.headers_mut().insert(*name, *value);
        }
        response
    }

    fn meta(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    fn service<E>(error: E, status: u16) -> SdkError<E, HttpResponse> {
        SdkError::service_error(error, response(status, &[]))
    }

    #[test]
    fn modeled_service_errors_map_by_code() {
        let op = Operation::GetFunction;
        let not_found = GetFunctionError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope")
                .meta(meta(
                    "ResourceNotFoundException",
                    "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope",
                ))
                .build(),
        );
        assert_eq!(
            map_error(op, service(not_found, 404)),
            AwsError::NotFound {
                operation: op,
                message: "ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
                    .into()
            }
        );

        let invalid = GetFunctionError::InvalidParameterValueException(
            InvalidParameterValueException::builder()
                .message("bad name")
                .meta(meta("InvalidParameterValueException", "bad name"))
                .build(),
        );
        assert!(matches!(map_error(op, service(invalid, 400)), AwsError::Invalid { .. }));

        let broken = GetFunctionError::ServiceException(
            ServiceException::builder().message("oops").meta(meta("ServiceException", "oops")).build(),
        );
        assert!(matches!(map_error(op, service(broken, 500)), AwsError::Unavailable { .. }));

        let publish = Operation::PublishVersion;
        let stale = PublishVersionError::PreconditionFailedException(
            PreconditionFailedException::builder()
                .message("The RevisionId provided does not match the latest RevisionId")
                .meta(meta("PreconditionFailedException", "The RevisionId provided does not match"))
                .build(),
        );
        assert!(matches!(map_error(publish, service(stale, 412)), AwsError::PreconditionFailed { .. }));
        let busy = PublishVersionError::ResourceConflictException(
            ResourceConflictException::builder()
                .message("An update is in progress")
                .meta(meta("ResourceConflictException", "An update is in progress"))
                .build(),
        );
        assert!(matches!(map_error(publish, service(busy, 409)), AwsError::Conflict { .. }));
    }

    #[test]
    fn throttling_carries_the_retry_hint_from_the_field_or_the_header() {
        let op = Operation::GetPolicy;
        let with_field = GetPolicyError::TooManyRequestsException(
            TooManyRequestsException::builder()
                .retry_after_seconds("7")
                .message("Rate exceeded")
                .meta(meta("TooManyRequestsException", "Rate exceeded"))
                .build(),
        );
        assert_eq!(
            map_error(op, service(with_field, 429)),
            AwsError::Throttled { operation: op, retry_after: Some(Duration::from_secs(7)) }
        );

        let without_field = GetPolicyError::TooManyRequestsException(
            TooManyRequestsException::builder()
                .meta(meta("TooManyRequestsException", "Rate exceeded"))
                .build(),
        );
        let error = SdkError::service_error(without_field, response(429, &[("Retry-After", "3")]));
        assert_eq!(
            map_error(op, error),
            AwsError::Throttled { operation: op, retry_after: Some(Duration::from_secs(3)) }
        );

        let no_hint = GetPolicyError::generic(meta("ThrottlingException", "slow down"));
        assert_eq!(
            map_error(op, service(no_hint, 400)),
            AwsError::Throttled { operation: op, retry_after: None }
        );
    }

    #[test]
    fn unmodeled_codes_and_bare_statuses_map_sensibly() {
        let op = Operation::ListAliases;
        let cases = [
            (Some("AccessDeniedException"), 403, "AccessDenied"),
            (Some("UnrecognizedClientException"), 403, "AccessDenied"),
            (Some("ExpiredTokenException"), 403, "AccessDenied"),
            (Some("InvalidSignatureException"), 403, "AccessDenied"),
            (Some("KMSAccessDeniedException"), 502, "AccessDenied"),
            (Some("ResourceInUseException"), 400, "Conflict"),
            (Some("ConflictException"), 409, "Conflict"),
            (Some("SomethingNewException"), 400, "InvalidRequest"),
            (Some("SomethingNewException"), 503, "Unavailable"),
            (None, 404, "NotFound"),
            (None, 409, "Conflict"),
            (None, 412, "PreconditionFailed"),
            (None, 429, "Throttled"),
            (None, 403, "AccessDenied"),
            (None, 400, "InvalidRequest"),
            (None, 500, "Unavailable"),
        ];
        for (code, status, reason) in cases {
            let mut builder = ErrorMetadata::builder().message("m");
            if let Some(code) = code {
                builder = builder.code(code);
            }
            let error = aws_sdk_lambda::operation::list_aliases::ListAliasesError::generic(builder.build());
            let mapped = map_error(op, service(error, status));
            assert_eq!(mapped.reason(), reason, "{code:?} / {status}: {mapped}");
            assert_eq!(mapped.operation(), op);
        }
    }

    #[test]
    fn messages_are_short_and_name_the_code() {
        let op = Operation::AddPermission;
        let long = "x".repeat(5000);
        let error = aws_sdk_lambda::operation::add_permission::AddPermissionError::generic(meta(
            "InvalidParameterValueException",
            &long,
        ));
        let AwsError::Invalid { message, .. } = map_error(op, service(error, 400)) else {
            panic!("expected Invalid");
        };
        assert!(message.starts_with("InvalidParameterValueException: xxx"), "{message}");
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1, "{}", message.len());
    }

    #[test]
    fn a_stale_code_sha256_on_publish_is_a_failed_precondition() {
        let stale = classify(
            Operation::PublishVersion,
            400,
            Some("InvalidParameterValueException"),
            "CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST (def). Please try again.",
            None,
        );
        assert!(matches!(stale, AwsError::PreconditionFailed { .. }), "{stale:?}");
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn StdError + 'static))
        }
    }

    fn chain(messages: &[&'static str]) -> Layer {
        messages.iter().rev().fold(None, |inner, m| Some(Layer(m, inner.map(Box::new)))).expect("non-empty")
    }

    #[test]
    fn transport_failures_are_unavailable_and_refused_credentials_are_access_denied() {
        let op = Operation::GetFunction;
        let timeout: SdkError<GetFunctionError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert!(matches!(map_error(op, timeout), AwsError::Unavailable { .. }));

        let io: SdkError<GetFunctionError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(chain(&["connection refused"]))));
        assert!(matches!(map_error(op, io), AwsError::Unavailable { .. }));

        // What a refused AssumeRole looks like once the identity resolver wrapped it.
        let refused: SdkError<GetFunctionError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(chain(&[
                    "an error occurred while loading credentials",
                    "service error",
                    "unhandled error (AccessDenied)",
                ])),
                None,
            ));
        let mapped = map_error(op, refused);
        assert!(matches!(mapped, AwsError::AccessDenied { .. }), "{mapped:?}");
        assert!(mapped.to_string().contains("AccessDenied"), "{mapped}");

        // STS unreachable: the credentials will come once it answers.
        let unreachable: SdkError<GetFunctionError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(chain(&[
                    "an error occurred while loading credentials",
                    "dispatch failure",
                    "io error",
                ])),
                None,
            ));
        assert!(matches!(map_error(op, unreachable), AwsError::Unavailable { .. }));

        let unbuilt: SdkError<GetFunctionError, HttpResponse> =
            SdkError::construction_failure(chain(&["missing FunctionName"]));
        assert!(matches!(map_error(op, unbuilt), AwsError::Invalid { .. }));

        let unreadable: SdkError<GetFunctionError, HttpResponse> =
            SdkError::response_error(chain(&["expected JSON"]), response(200, &[]));
        assert!(matches!(map_error(op, unreadable), AwsError::Unavailable { .. }));
    }

    #[test]
    fn retry_hints_parse_seconds_only() {
        assert_eq!(parse_seconds("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_seconds(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("NaN"), None);
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
    fn pages_stop_on_missing_or_empty_marker_and_refuse_repeats() {
        let mut pages = Pages::new(Operation::ListAliases);
        assert_eq!(pages.marker(), None);
        assert_eq!(pages.advance(Some("a")), Ok(true));
        assert_eq!(pages.marker().as_deref(), Some("a"));
        assert_eq!(pages.advance(Some("b")), Ok(true));
        assert!(matches!(pages.advance(Some("a")), Err(AwsError::Unavailable { .. })));
        assert_eq!(Pages::new(Operation::ListAliases).advance(Some("")), Ok(false));
        assert_eq!(Pages::new(Operation::ListAliases).advance(None), Ok(false));
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
