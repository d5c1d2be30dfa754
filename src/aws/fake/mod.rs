//! A faithful in-memory [`LambdaApi`](super::LambdaApi) for tests: one answer per request of the seam.
//!
//! moto ignores RevisionId, keeps one policy for all qualifiers, drops EventSourceToken, accepts
//! duplicate Sids and reuses version numbers (README, "Testing against AWS without AWS"). This fake enforces those rules, records
//! every call, and injects throttling, faults, crashes and access denials deterministically, so
//! the engine's behaviour under each of them is an ordinary unit test.
//!
//! Out-of-band helpers (`oob_*`, [`FakeLambda::deploy`], [`FakeLambda::set_alias_routing`], ...)
//! edit the state the way a human or another tool would: they are validated like the API calls
//! and bump RevisionIds, but they are not recorded as calls and ignore injected faults.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::cloudwatch::{DescribeAlarms, GetMetricData, MAX_ALARM_NAMES};
use super::lambda::{
    AddPermission, CreateAlias, CreateMapping, DeleteAlias, DeleteMapping, DeleteVersion, GetFunction,
    GetPolicy, ListAliases, ListMappings, ListVersions, MappingFilter, PublishVersion, RemovePermission,
    UpdateAlias, UpdateMapping,
};
use super::seam::{Call, Operation, Page, Request};
use super::{AwsError, AwsResult};
use crate::plan::{
    AlarmInfo, AlarmState, AliasInfo, ErrorCount, FunctionInfo, LATEST, MappingInfo, PolicyInfo, Statement,
    VersionInfo,
};

/// Longest alias or version description AWS accepts.
const MAX_DESCRIPTION: usize = 256;
/// Longest alias name AWS accepts.
const MAX_ALIAS_NAME: usize = 128;
/// Longest statement id AWS accepts.
const MAX_SID: usize = 100;

/// An error to inject, turned into an [`AwsError`] for whichever operation it hits.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// TooManyRequestsException, with or without a retry hint.
    Throttled {
        retry_after: Option<Duration>,
    },
    /// A 5xx.
    Unavailable,
    /// A request timeout: the SDK adapter reports it as `Unavailable("timeout")`.
    Timeout,
    NotFound,
    PreconditionFailed,
    Conflict,
    AccessDenied,
    Invalid,
}

impl Fault {
    pub fn to_error(&self, operation: Operation) -> AwsError {
        let message = "injected fault".to_string();
        match self {
            Fault::Throttled { retry_after } => AwsError::Throttled { operation, retry_after: *retry_after },
            Fault::Unavailable => AwsError::Unavailable { operation, message: "injected 5xx".to_string() },
            Fault::Timeout => AwsError::Unavailable { operation, message: "timeout".to_string() },
            Fault::NotFound => AwsError::NotFound { operation, message },
            Fault::PreconditionFailed => AwsError::PreconditionFailed { operation, message },
            Fault::Conflict => AwsError::Conflict { operation, message },
            Fault::AccessDenied => AwsError::AccessDenied { operation, message },
            Fault::Invalid => AwsError::Invalid { operation, message },
        }
    }
}

/// The in-memory Lambda control plane of one account and region.
#[derive(Debug)]
pub struct FakeLambda {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    account: String,
    region: String,
    functions: BTreeMap<String, Function>,
    mappings: BTreeMap<String, MappingInfo>,
    /// Source of RevisionIds and mapping UUIDs; never goes back, so ids are never reused.
    ids: u64,
    calls: Vec<Operation>,
    writes: usize,
    queued: VecDeque<Fault>,
    /// (operation, remaining count, fault): faults aimed at one operation.
    targeted: Vec<(Operation, u32, Fault)>,
    /// Writes fail once `writes` reaches this.
    crash_at: Option<usize>,
    denied: BTreeSet<Operation>,
    /// What `LastModified` a deploy records (unix seconds); tests move it with `set_clock`.
    clock: i64,
    /// CloudWatch of the same account and region: alarms by name, and `AWS/Lambda` datapoints.
    alarms: BTreeMap<String, AlarmState>,
    datapoints: Vec<Datapoint>,
    /// Seconds a provisioned concurrency config stays IN_PROGRESS after it is put or moved.
    warm_delay: i64,
}

/// One minute's `Errors` and `Invocations` of a version invoked through an alias.
#[derive(Debug)]
struct Datapoint {
    function_name: String,
    alias: String,
    version: u64,
    /// Unix seconds (CloudWatch stamps a datapoint with the start of its minute).
    at: i64,
    invocations: f64,
    errors: f64,
}

#[derive(Debug)]
struct Function {
    arn: String,
    code_sha256: String,
    revision_id: String,
    /// Bumped by configuration changes; with the hash it decides whether a publish is a no-op.
    config_generation: u64,
    versions: BTreeMap<u64, Version>,
    /// Highest version number ever published: numbers are never reused after a delete.
    high_water: u64,
    aliases: BTreeMap<String, Alias>,
    /// Resource policy per qualifier ("" = unqualified); only non-empty policies are kept.
    policies: BTreeMap<String, Policy>,
    /// `LastModified` of `$LATEST`, unix seconds.
    last_modified: i64,
    /// Provisioned concurrency configs by qualifier (a version number or an alias name).
    warm: BTreeMap<String, Warm>,
    /// Qualifiers whose configs fail to initialise, with the StatusReason they report.
    warm_failing: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Version {
    code_sha256: String,
    description: String,
    config_generation: u64,
}

#[derive(Debug)]
struct Alias {
    version: String,
    description: String,
    routing: BTreeMap<String, f64>,
    revision_id: String,
}

#[derive(Debug)]
struct Policy {
    revision_id: String,
    statements: Vec<Statement>,
}

fn not_found(operation: Operation, message: impl Into<String>) -> AwsError {
    AwsError::NotFound { operation, message: message.into() }
}

fn conflict(operation: Operation, message: impl Into<String>) -> AwsError {
    AwsError::Conflict { operation, message: message.into() }
}

fn precondition(operation: Operation, message: impl Into<String>) -> AwsError {
    AwsError::PreconditionFailed { operation, message: message.into() }
}

fn invalid(operation: Operation, message: impl Into<String>) -> AwsError {
    AwsError::Invalid { operation, message: message.into() }
}

/// A published version number as AWS writes it: digits, no sign, not zero.
fn parse_version(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| *n > 0)
}

/// AWS: `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, 1 to 128 characters.
fn validate_alias_name(name: &str, op: Operation) -> AwsResult<()> {
    if name.is_empty() || name.len() > MAX_ALIAS_NAME {
        return Err(invalid(op, format!("alias name must be 1 to {MAX_ALIAS_NAME} characters: {name:?}")));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid(op, format!("alias name must match [a-zA-Z0-9-_]+: {name:?}")));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            op,
            format!("alias name must not be all digits (it would read as a version): {name}"),
        ));
    }
    Ok(())
}

fn validate_description(description: &str, op: Operation) -> AwsResult<()> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(op, format!("description longer than {MAX_DESCRIPTION} characters")));
    }
    Ok(())
}

fn validate_statement(statement: &Statement, op: Operation) -> AwsResult<()> {
    let sid = &statement.sid;
    if sid.is_empty()
        || sid.len() > MAX_SID
        || !sid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(op, format!("StatementId must match [a-zA-Z0-9-_]{{1,{MAX_SID}}}: {sid:?}")));
    }
    if statement.principal.is_empty() {
        return Err(invalid(op, "Principal is required"));
    }
    if !statement.action.starts_with("lambda:") {
        return Err(invalid(op, format!("Action must be a lambda: action: {:?}", statement.action)));
    }
    Ok(())
}

fn policy_key(qualifier: &str) -> &str {
    // The unqualified ARN is $LATEST: both name the same resource policy.
    if qualifier == LATEST { "" } else { qualifier }
}

fn is_stream(event_source_arn: &str) -> bool {
    [":kinesis:", ":dynamodb:", ":kafka:"].iter().any(|s| event_source_arn.contains(s))
}

fn mapping_state(enabled: bool) -> String {
    if enabled { "Enabled" } else { "Disabled" }.to_string()
}

mod rules;
mod sqs;
mod warm;

pub use sqs::FakeQueue;

use warm::Warm;

impl FakeLambda {
    /// An empty control plane for one account and region.
    pub fn new(account: &str, region: &str) -> Self {
        FakeLambda {
            state: Mutex::new(State {
                account: account.to_string(),
                region: region.to_string(),
                functions: BTreeMap::new(),
                mappings: BTreeMap::new(),
                ids: 0,
                calls: Vec::new(),
                writes: 0,
                queued: VecDeque::new(),
                targeted: Vec::new(),
                crash_at: None,
                denied: BTreeSet::new(),
                clock: 0,
                alarms: BTreeMap::new(),
                datapoints: Vec::new(),
                warm_delay: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent state: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One API call: recorded, subject to injected faults, and counted as a write on success.
    fn request<T>(&self, op: Operation, body: impl FnOnce(&mut State) -> AwsResult<T>) -> AwsResult<T> {
        let mut state = self.lock();
        state.calls.push(op);
        if let Some(fault) = state.take_fault(op) {
            return Err(fault.to_error(op));
        }
        if state.denied.contains(&op) {
            return Err(AwsError::AccessDenied { operation: op, message: "denied by the fake".to_string() });
        }
        let write = !op.is_read();
        if write && state.crash_at.is_some_and(|n| state.writes >= n) {
            return Err(AwsError::Unavailable { operation: op, message: "crashed".to_string() });
        }
        let result = body(&mut state);
        if write && result.is_ok() {
            state.writes += 1;
        }
        result
    }

    /// An out-of-band edit: not a call, no faults.
    fn oob<T>(&self, body: impl FnOnce(&mut State) -> AwsResult<T>) -> AwsResult<T> {
        body(&mut self.lock())
    }

    // ----- functions ($LATEST) -----

    /// Creates a function whose `$LATEST` has this hash, replacing any function of that name
    /// (like deleting and re-creating it: version numbers start again at 1). Returns its ARN.
    pub fn add_function(&self, name: &str, code_sha256: &str) -> String {
        let mut state = self.lock();
        let revision = state.new_revision();
        let arn = state.function_arn(name);
        let now = state.clock;
        state.functions.insert(name.to_string(), Function::new(arn.clone(), code_sha256, revision, now));
        arn
    }

    // ----- CloudWatch -----

    /// PutMetricAlarm / SetAlarmState: the alarm exists, in this state.
    pub fn set_alarm(&self, name: &str, state: AlarmState) {
        self.lock().alarms.insert(name.to_string(), state);
    }

    pub fn delete_alarm(&self, name: &str) {
        self.lock().alarms.remove(name);
    }

    /// What Lambda publishes for one minute of invocations of `version` through `alias`.
    pub fn put_invocations(
        &self,
        function_name: &str,
        alias: &str,
        version: u64,
        at: i64,
        invocations: f64,
        errors: f64,
    ) {
        self.lock().datapoints.push(Datapoint {
            function_name: function_name.to_string(),
            alias: alias.to_string(),
            version,
            at: at - at.rem_euclid(super::cloudwatch::PERIOD_SECONDS),
            invocations,
            errors,
        });
    }

    /// The time (unix seconds) later deploys record as `LastModified`.
    pub fn set_clock(&self, unix: i64) {
        self.lock().clock = unix;
    }

    /// UpdateFunctionCode: `$LATEST` gets this hash and a new RevisionId.
    pub fn deploy(&self, function: &str, code_sha256: &str) -> AwsResult<FunctionInfo> {
        self.oob(|state| {
            let revision = state.new_revision();
            let now = state.clock;
            let f = state.function_mut(function, Operation::GetFunction)?;
            f.code_sha256 = code_sha256.to_string();
            f.revision_id = revision;
            f.last_modified = now;
            Ok(f.info())
        })
    }

    /// UpdateFunctionConfiguration: a new RevisionId, same code; the next publish creates a
    /// new version even though the hash is unchanged.
    pub fn set_config_changed(&self, function: &str) -> AwsResult<FunctionInfo> {
        self.oob(|state| {
            let revision = state.new_revision();
            let f = state.function_mut(function, Operation::GetFunction)?;
            f.config_generation += 1;
            f.revision_id = revision;
            Ok(f.info())
        })
    }

    /// The unqualified ARN a function of this name has (whether or not it exists).
    pub fn function_arn(&self, function: &str) -> String {
        self.lock().function_arn(function)
    }

    /// The ARN of an alias (or version) of a function: function ARN + ":" + qualifier.
    pub fn alias_arn(&self, function: &str, alias: &str) -> String {
        format!("{}:{alias}", self.lock().function_arn(function))
    }

    // ----- fault injection -----

    /// The next `n` calls fail with `Throttled`, carrying this retry hint.
    pub fn throttle_next(&self, n: u32, retry_after: Option<Duration>) {
        self.fail_next(n, Fault::Throttled { retry_after });
    }

    /// The next `n` calls (of any operation) fail with this fault.
    pub fn fail_next(&self, n: u32, fault: Fault) {
        let mut state = self.lock();
        state.queued.extend((0..n).map(|_| fault.clone()));
    }

    /// The next `n` calls of `op` fail with this fault; other operations are unaffected.
    pub fn fail_next_on(&self, op: Operation, n: u32, fault: Fault) {
        if n > 0 {
            self.lock().targeted.push((op, n, fault));
        }
    }

    /// After `n` more successful writes, every write fails with `Unavailable("crashed")`
    /// until [`FakeLambda::recover`]; reads keep working (they observe what was written).
    pub fn crash_after_writes(&self, n: usize) {
        let mut state = self.lock();
        state.crash_at = Some(state.writes + n);
    }

    /// Ends a crash and drops every pending injected fault (denials stay).
    pub fn recover(&self) {
        let mut state = self.lock();
        state.crash_at = None;
        state.queued.clear();
        state.targeted.clear();
    }

    /// Every call of `op` fails with `AccessDenied` until [`FakeLambda::allow`].
    pub fn deny(&self, op: Operation) {
        self.lock().denied.insert(op);
    }

    pub fn allow(&self, op: Operation) {
        self.lock().denied.remove(&op);
    }

    // ----- inspection -----

    /// Every call so far, in order, including the failed ones.
    pub fn calls(&self) -> Vec<Operation> {
        self.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// How many calls of `op` were made.
    pub fn calls_of(&self, op: Operation) -> usize {
        self.lock().calls.iter().filter(|o| **o == op).count()
    }

    /// Successful write calls so far (out-of-band edits are not counted).
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// `$LATEST` of a function.
    pub fn latest(&self, function: &str) -> Option<FunctionInfo> {
        self.lock().function(function, Operation::GetFunction).ok().map(Function::info)
    }

    /// Published versions, oldest first.
    pub fn versions(&self, function: &str) -> Vec<VersionInfo> {
        let state = self.lock();
        state.function(function, Operation::ListVersionsByFunction).map_or_else(
            |_| Vec::new(),
            |f| f.versions.iter().map(|(n, v)| Function::version_info(*n, v)).collect(),
        )
    }

    /// The highest version number ever published (0 if none).
    pub fn high_water_mark(&self, function: &str) -> u64 {
        self.lock().function(function, Operation::PublishVersion).map_or(0, |f| f.high_water)
    }

    /// Aliases with version, description, routing and RevisionId, by name.
    pub fn aliases(&self, function: &str) -> Vec<AliasInfo> {
        let state = self.lock();
        state.function(function, Operation::ListAliases).map_or_else(
            |_| Vec::new(),
            |f| f.aliases.iter().map(|(name, a)| f.alias_info(name, a)).collect(),
        )
    }

    pub fn alias(&self, function: &str, name: &str) -> Option<AliasInfo> {
        let state = self.lock();
        let f = state.function(function, Operation::ListAliases).ok()?;
        f.aliases.get(name).map(|a| f.alias_info(name, a))
    }

    /// The policy of one qualifier ("" or `$LATEST`: the unqualified function).
    pub fn policy(&self, function: &str, qualifier: &str) -> Option<PolicyInfo> {
        let state = self.lock();
        let f = state.function(function, Operation::GetPolicy).ok()?;
        f.policies
            .get(policy_key(qualifier))
            .map(|p| PolicyInfo { revision_id: p.revision_id.clone(), statements: p.statements.clone() })
    }

    /// The statements on one qualifier, in the order they were added.
    pub fn statements(&self, function: &str, qualifier: &str) -> Vec<Statement> {
        self.policy(function, qualifier).map(|p| p.statements).unwrap_or_default()
    }

    /// Every qualifier that has a policy, with its statements ("" = unqualified).
    pub fn policies(&self, function: &str) -> BTreeMap<String, Vec<Statement>> {
        let state = self.lock();
        state.function(function, Operation::GetPolicy).map_or_else(
            |_| BTreeMap::new(),
            |f| f.policies.iter().map(|(q, p)| (q.clone(), p.statements.clone())).collect(),
        )
    }

    /// Every event source mapping, by UUID.
    pub fn mappings(&self) -> Vec<MappingInfo> {
        self.lock().mappings.values().cloned().collect()
    }

    pub fn mapping(&self, uuid: &str) -> Option<MappingInfo> {
        self.lock().mappings.get(uuid).cloned()
    }

    // ----- out-of-band changes (drift) -----

    /// Someone publishes `$LATEST` by hand.
    pub fn oob_publish(&self, function: &str, description: &str) -> AwsResult<VersionInfo> {
        self.oob(|state| {
            let sha = state.function(function, Operation::PublishVersion)?.code_sha256.clone();
            state.publish(function, &sha, None, Some(description), Operation::PublishVersion)
        })
    }

    pub fn oob_create_alias(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        description: &str,
    ) -> AwsResult<AliasInfo> {
        self.oob(|state| state.create_alias(function, alias, version, description, Operation::CreateAlias))
    }

    /// Someone re-points an alias by hand; description and routing are kept (as AWS does when
    /// UpdateAlias omits them), and routing must still be valid for the new version.
    pub fn oob_update_alias(&self, function: &str, alias: &str, version: &str) -> AwsResult<AliasInfo> {
        self.oob(|state| {
            state.update_alias(function, alias, version, None, None, None, Operation::UpdateAlias)
        })
    }

    /// Someone edits an alias's description (where the controller keeps its markers).
    pub fn oob_set_alias_description(
        &self,
        function: &str,
        alias: &str,
        description: &str,
    ) -> AwsResult<AliasInfo> {
        self.oob(|state| {
            let version = state
                .function(function, Operation::UpdateAlias)?
                .aliases
                .get(alias)
                .map(|a| a.version.clone())
                .ok_or_else(|| not_found(Operation::UpdateAlias, format!("alias not found: {alias}")))?;
            state.update_alias(
                function,
                alias,
                &version,
                Some(description),
                None,
                None,
                Operation::UpdateAlias,
            )
        })
    }

    pub fn oob_delete_alias(&self, function: &str, alias: &str) -> AwsResult<()> {
        self.oob(|state| state.delete_alias(function, alias, Operation::DeleteAlias))
    }

    /// A weighted alias made outside the controller: `weight` of the traffic goes to `version`.
    /// Validated like AWS's RoutingConfig (one additional published version, weight in [0, 1],
    /// not the primary version, primary not `$LATEST`).
    pub fn set_alias_routing(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        weight: f64,
    ) -> AwsResult<AliasInfo> {
        self.oob(|state| {
            state.set_routing(
                function,
                alias,
                |routing| {
                    routing.insert(version.to_string(), weight);
                },
                Operation::UpdateAlias,
            )
        })
    }

    pub fn clear_alias_routing(&self, function: &str, alias: &str) -> AwsResult<AliasInfo> {
        self.oob(|state| state.set_routing(function, alias, BTreeMap::clear, Operation::UpdateAlias))
    }

    pub fn oob_add_statement(&self, function: &str, qualifier: &str, statement: Statement) -> AwsResult<()> {
        self.oob(|state| {
            state.add_permission(function, qualifier, &statement, None, Operation::AddPermission)
        })
    }

    pub fn oob_remove_statement(&self, function: &str, qualifier: &str, sid: &str) -> AwsResult<()> {
        self.oob(|state| state.remove_permission(function, qualifier, sid, Operation::RemovePermission))
    }

    pub fn oob_create_mapping(&self, request: &CreateMapping) -> AwsResult<MappingInfo> {
        self.oob(|state| state.create_mapping(request, Operation::CreateEventSourceMapping))
    }

    pub fn oob_update_mapping(&self, request: &UpdateMapping) -> AwsResult<MappingInfo> {
        self.oob(|state| state.update_mapping(request, Operation::UpdateEventSourceMapping))
    }

    pub fn oob_delete_mapping(&self, uuid: &str) -> AwsResult<()> {
        self.oob(|state| state.delete_mapping(uuid, Operation::DeleteEventSourceMapping))
    }

    pub fn oob_delete_version(&self, function: &str, version: u64) -> AwsResult<()> {
        self.oob(|state| state.delete_version(function, version, Operation::DeleteFunction))
    }
}

// One answer per request of the seam; each is one call (recorded, subject to injected faults).

impl Call<GetFunction> for FakeLambda {
    async fn call(&self, r: &GetFunction) -> AwsResult<FunctionInfo> {
        let op = GetFunction::OPERATION;
        self.request(op, |state| state.function(&r.function, op).map(Function::info))
    }
}

impl Call<ListVersions> for FakeLambda {
    async fn call(&self, r: &ListVersions) -> AwsResult<Page<VersionInfo>> {
        let op = ListVersions::OPERATION;
        self.request(op, |state| {
            let f = state.function(&r.function, op)?;
            Ok(Page::last(f.versions.iter().map(|(n, v)| Function::version_info(*n, v)).collect()))
        })
    }
}

impl Call<ListAliases> for FakeLambda {
    async fn call(&self, r: &ListAliases) -> AwsResult<Page<AliasInfo>> {
        let op = ListAliases::OPERATION;
        self.request(op, |state| {
            let f = state.function(&r.function, op)?;
            Ok(Page::last(f.aliases.iter().map(|(name, a)| f.alias_info(name, a)).collect()))
        })
    }
}

impl Call<GetPolicy> for FakeLambda {
    async fn call(&self, r: &GetPolicy) -> AwsResult<Option<PolicyInfo>> {
        let op = GetPolicy::OPERATION;
        self.request(op, |state| {
            let f = state.function(&r.function, op)?;
            let key = f.policy_key_of(&r.qualifier, op)?;
            Ok(f.policies
                .get(&key)
                .map(|p| PolicyInfo { revision_id: p.revision_id.clone(), statements: p.statements.clone() }))
        })
    }
}

impl Call<ListMappings> for FakeLambda {
    async fn call(&self, r: &ListMappings) -> AwsResult<Page<MappingInfo>> {
        let op = ListMappings::OPERATION;
        self.request(op, |state| {
            let keep: Box<dyn Fn(&MappingInfo) -> bool> = match &r.filter {
                MappingFilter::Function(qualified_arn) => {
                    let (name, qualifier) = state.parse(qualified_arn, op)?;
                    let mut arn = state.function_arn(&name);
                    if let Some(q) = qualifier {
                        arn = format!("{arn}:{q}");
                    }
                    Box::new(move |m| m.function_arn == arn)
                }
                MappingFilter::EventSource(source) => Box::new(move |m| m.event_source_arn == *source),
            };
            Ok(Page::last(state.mappings.values().filter(|m| keep(m)).cloned().collect()))
        })
    }
}

impl Call<PublishVersion> for FakeLambda {
    async fn call(&self, r: &PublishVersion) -> AwsResult<VersionInfo> {
        let op = PublishVersion::OPERATION;
        self.request(op, |state| {
            state.publish(&r.function, &r.code_sha256, r.revision_id.as_deref(), r.description.as_deref(), op)
        })
    }
}

impl Call<CreateAlias> for FakeLambda {
    async fn call(&self, r: &CreateAlias) -> AwsResult<AliasInfo> {
        let op = CreateAlias::OPERATION;
        self.request(op, |state| state.create_alias(&r.function, &r.name, &r.version, &r.description, op))
    }
}

impl Call<UpdateAlias> for FakeLambda {
    async fn call(&self, r: &UpdateAlias) -> AwsResult<AliasInfo> {
        let op = UpdateAlias::OPERATION;
        let routing: BTreeMap<String, f64> = r.routing.iter().cloned().collect();
        self.request(op, |state| {
            state.update_alias(
                &r.function,
                &r.name,
                &r.version,
                Some(&r.description),
                r.revision_id.as_deref(),
                Some(&routing),
                op,
            )
        })
    }
}

impl Call<DeleteAlias> for FakeLambda {
    async fn call(&self, r: &DeleteAlias) -> AwsResult<()> {
        let op = DeleteAlias::OPERATION;
        self.request(op, |state| state.delete_alias(&r.function, &r.name, op))
    }
}

impl Call<AddPermission> for FakeLambda {
    async fn call(&self, r: &AddPermission) -> AwsResult<()> {
        let op = AddPermission::OPERATION;
        self.request(op, |state| {
            state.add_permission(&r.function, &r.qualifier, &r.statement, r.revision_id.as_deref(), op)
        })
    }
}

impl Call<RemovePermission> for FakeLambda {
    async fn call(&self, r: &RemovePermission) -> AwsResult<()> {
        let op = RemovePermission::OPERATION;
        self.request(op, |state| state.remove_permission(&r.function, &r.qualifier, &r.sid, op))
    }
}

impl Call<CreateMapping> for FakeLambda {
    async fn call(&self, r: &CreateMapping) -> AwsResult<MappingInfo> {
        let op = CreateMapping::OPERATION;
        self.request(op, |state| state.create_mapping(r, op))
    }
}

impl Call<UpdateMapping> for FakeLambda {
    async fn call(&self, r: &UpdateMapping) -> AwsResult<MappingInfo> {
        let op = UpdateMapping::OPERATION;
        self.request(op, |state| state.update_mapping(r, op))
    }
}

impl Call<DeleteMapping> for FakeLambda {
    async fn call(&self, r: &DeleteMapping) -> AwsResult<()> {
        let op = DeleteMapping::OPERATION;
        self.request(op, |state| state.delete_mapping(&r.uuid, op))
    }
}

impl Call<DescribeAlarms> for FakeLambda {
    async fn call(&self, r: &DescribeAlarms) -> AwsResult<Vec<AlarmInfo>> {
        let op = DescribeAlarms::OPERATION;
        self.request(op, |state| {
            if r.names.len() > MAX_ALARM_NAMES {
                return Err(invalid(
                    op,
                    format!("The collection AlarmNames must not have a size greater than {MAX_ALARM_NAMES}."),
                ));
            }
            // Each existing alarm once, in CloudWatch's order (by name); missing ones are absent.
            let names: BTreeSet<&String> = r.names.iter().collect();
            Ok(names
                .into_iter()
                .filter_map(|n| state.alarms.get(n).map(|s| AlarmInfo { name: n.clone(), state: *s }))
                .collect())
        })
    }
}

impl Call<GetMetricData> for FakeLambda {
    async fn call(&self, r: &GetMetricData) -> AwsResult<Vec<ErrorCount>> {
        let op = GetMetricData::OPERATION;
        let (start, end) = r.window();
        self.request(op, |state| {
            if end <= start {
                return Err(invalid(op, "The parameter StartTime must be less than the parameter EndTime."));
            }
            Ok(r.queries
                .iter()
                .map(|q| {
                    let points = state.datapoints.iter().filter(|d| {
                        d.function_name == r.function_name
                            && d.alias == q.alias
                            && d.version == q.version
                            && (start..end).contains(&d.at)
                    });
                    let (invocations, errors) =
                        points.fold((0.0, 0.0), |(i, e), d| (i + d.invocations, e + d.errors));
                    ErrorCount {
                        alias: q.alias.clone(),
                        version: q.version,
                        since: r.since,
                        invocations,
                        errors,
                    }
                })
                .collect())
        })
    }
}

impl Call<DeleteVersion> for FakeLambda {
    async fn call(&self, r: &DeleteVersion) -> AwsResult<()> {
        let op = DeleteVersion::OPERATION;
        self.request(op, |state| state.delete_version(&r.function, r.version, op))
    }
}

#[cfg(test)]
mod tests;
