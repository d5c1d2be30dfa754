//! A faithful in-memory [`LambdaApi`] for tests.
//!
//! moto ignores RevisionId, keeps one policy for all qualifiers, drops EventSourceToken, accepts
//! duplicate Sids and reuses version numbers (DESIGN §6). This fake enforces those rules, records
//! every call, and injects throttling, faults, crashes and access denials deterministically, so
//! the engine's behaviour under each of them is an ordinary unit test.
//!
//! Out-of-band helpers (`oob_*`, [`FakeLambda::deploy`], [`FakeLambda::set_alias_routing`], ...)
//! edit the state the way a human or another tool would: they are validated like the API calls
//! and bump RevisionIds, but they are not recorded as calls and ignore injected faults.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::api::{
    AliasInfo, AwsError, AwsResult, CreateMapping, FunctionInfo, LATEST, LambdaApi, MappingInfo, Operation,
    PolicyInfo, Statement, UpdateMapping, VersionInfo,
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

fn is_write(op: Operation) -> bool {
    !matches!(
        op,
        Operation::GetFunction
            | Operation::ListVersionsByFunction
            | Operation::ListAliases
            | Operation::GetPolicy
            | Operation::ListEventSourceMappings
    )
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

impl Function {
    fn new(arn: String, code_sha256: &str, revision_id: String, last_modified: i64) -> Self {
        Function {
            last_modified,
            arn,
            code_sha256: code_sha256.to_string(),
            revision_id,
            config_generation: 0,
            versions: BTreeMap::new(),
            high_water: 0,
            aliases: BTreeMap::new(),
            policies: BTreeMap::new(),
        }
    }

    fn info(&self) -> FunctionInfo {
        FunctionInfo {
            function_arn: self.arn.clone(),
            code_sha256: self.code_sha256.clone(),
            revision_id: self.revision_id.clone(),
            last_modified: Some(self.last_modified),
        }
    }

    fn version_info(number: u64, version: &Version) -> VersionInfo {
        VersionInfo {
            version: number,
            code_sha256: version.code_sha256.clone(),
            description: version.description.clone(),
        }
    }

    fn alias_info(&self, name: &str, alias: &Alias) -> AliasInfo {
        AliasInfo {
            name: name.to_string(),
            alias_arn: format!("{}:{name}", self.arn),
            function_version: alias.version.clone(),
            description: alias.description.clone(),
            routing: alias.routing.clone(),
            revision_id: alias.revision_id.clone(),
        }
    }

    fn qualifier_exists(&self, qualifier: &str) -> bool {
        if qualifier == LATEST {
            return true;
        }
        match parse_version(qualifier) {
            Some(n) => self.versions.contains_key(&n),
            None => self.aliases.contains_key(qualifier),
        }
    }

    /// The policy key of an existing qualifier ("" or `$LATEST` for the unqualified function).
    fn policy_key_of(&self, qualifier: &str, op: Operation) -> AwsResult<String> {
        let key = policy_key(qualifier);
        if key.is_empty() || self.qualifier_exists(key) {
            Ok(key.to_string())
        } else {
            Err(not_found(op, format!("function not found: {}:{qualifier}", self.arn)))
        }
    }

    /// An alias target: `$LATEST` or an existing published version.
    fn check_target(&self, version: &str, op: Operation) -> AwsResult<()> {
        if version == LATEST {
            return Ok(());
        }
        match parse_version(version) {
            Some(n) if self.versions.contains_key(&n) => Ok(()),
            Some(_) => Err(not_found(op, format!("version {version} of {} does not exist", self.arn))),
            None => Err(invalid(op, format!("function version must be a number or $LATEST: {version:?}"))),
        }
    }

    /// AWS: at most one additional version, weight in [0, 1], a published version other than
    /// the primary one, and the primary version must not be `$LATEST`.
    fn check_routing(&self, primary: &str, routing: &BTreeMap<String, f64>, op: Operation) -> AwsResult<()> {
        if routing.is_empty() {
            return Ok(());
        }
        if routing.len() > 1 {
            return Err(invalid(op, "routing config supports at most one additional version"));
        }
        if primary == LATEST {
            return Err(invalid(op, "routing config cannot be used with $LATEST"));
        }
        for (version, weight) in routing {
            if !(0.0..=1.0).contains(weight) {
                return Err(invalid(op, format!("routing weight must be within [0.0, 1.0]: {weight}")));
            }
            if version == primary {
                return Err(invalid(op, "the additional version must differ from the alias's version"));
            }
            match parse_version(version) {
                Some(n) if self.versions.contains_key(&n) => {}
                Some(_) => {
                    return Err(not_found(op, format!("version {version} of {} does not exist", self.arn)));
                }
                None => {
                    return Err(invalid(op, format!("additional version must be published: {version:?}")));
                }
            }
        }
        Ok(())
    }
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.ids += 1;
        self.ids
    }

    fn new_revision(&mut self) -> String {
        let n = self.next_id();
        format!("{n:08x}-0000-4000-a000-{n:012x}")
    }

    fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{}:function:{name}", self.region, self.account)
    }

    /// Splits a function identifier (name, partial ARN or ARN, optionally qualified) into the
    /// function name and qualifier.
    fn parse(&self, ident: &str, op: Operation) -> AwsResult<(String, Option<String>)> {
        let parts: Vec<&str> = ident.split(':').collect();
        let (account, region, name, qualifier) = match parts.as_slice() {
            ["arn", _, "lambda", region, account, "function", name] => {
                (Some(*account), Some(*region), *name, None)
            }
            ["arn", _, "lambda", region, account, "function", name, q] => {
                (Some(*account), Some(*region), *name, Some(*q))
            }
            [account, "function", name] => (Some(*account), None, *name, None),
            [account, "function", name, q] => (Some(*account), None, *name, Some(*q)),
            [name] => (None, None, *name, None),
            [name, q] => (None, None, *name, Some(*q)),
            _ => return Err(invalid(op, format!("not a function name or ARN: {ident:?}"))),
        };
        if name.is_empty() || qualifier == Some("") {
            return Err(invalid(op, format!("not a function name or ARN: {ident:?}")));
        }
        // Another account or region is another control plane, where this function does not exist.
        if account.is_some_and(|a| a != self.account) || region.is_some_and(|r| r != self.region) {
            return Err(not_found(op, format!("function not found: {ident}")));
        }
        Ok((name.to_string(), qualifier.map(str::to_string)))
    }

    fn unqualified_name(&self, ident: &str, op: Operation) -> AwsResult<String> {
        match self.parse(ident, op)? {
            (name, None) => Ok(name),
            (_, Some(_)) => Err(invalid(op, format!("expected an unqualified function: {ident}"))),
        }
    }

    fn function(&self, ident: &str, op: Operation) -> AwsResult<&Function> {
        let name = self.unqualified_name(ident, op)?;
        self.functions.get(&name).ok_or_else(|| not_found(op, format!("function not found: {ident}")))
    }

    fn function_mut(&mut self, ident: &str, op: Operation) -> AwsResult<&mut Function> {
        let name = self.unqualified_name(ident, op)?;
        self.functions.get_mut(&name).ok_or_else(|| not_found(op, format!("function not found: {ident}")))
    }

    /// The normalised ARN a mapping stores, after checking that function and qualifier exist.
    fn mapping_target(&self, ident: &str, op: Operation) -> AwsResult<String> {
        let (name, qualifier) = self.parse(ident, op)?;
        let function =
            self.functions.get(&name).ok_or_else(|| not_found(op, format!("function not found: {ident}")))?;
        match qualifier {
            None => Ok(function.arn.clone()),
            Some(q) if function.qualifier_exists(&q) => Ok(format!("{}:{q}", function.arn)),
            Some(_) => Err(not_found(op, format!("function not found: {ident}"))),
        }
    }

    /// The next injected fault for `op`, if any: aimed faults first, then the queue.
    fn take_fault(&mut self, op: Operation) -> Option<Fault> {
        if let Some(i) = self.targeted.iter().position(|(o, n, _)| *o == op && *n > 0) {
            let entry = &mut self.targeted[i];
            entry.1 -= 1;
            let fault = entry.2.clone();
            if entry.1 == 0 {
                self.targeted.remove(i);
            }
            return Some(fault);
        }
        self.queued.pop_front()
    }

    fn publish(
        &mut self,
        ident: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
        description: Option<&str>,
        op: Operation,
    ) -> AwsResult<VersionInfo> {
        let description = description.unwrap_or_default();
        validate_description(description, op)?;
        let f = self.function_mut(ident, op)?;
        if code_sha256 != f.code_sha256 {
            return Err(precondition(
                op,
                format!(
                    "CodeSha256 ({code_sha256}) is different from current CodeSha256 in $LATEST ({})",
                    f.code_sha256
                ),
            ));
        }
        if let Some(r) = revision_id
            && r != f.revision_id
        {
            return Err(precondition(
                op,
                format!("RevisionId {r} does not match $LATEST ({})", f.revision_id),
            ));
        }
        // Unchanged code and configuration since the newest version: AWS returns that version.
        if let Some((&n, v)) = f.versions.last_key_value()
            && v.code_sha256 == f.code_sha256
            && v.config_generation == f.config_generation
        {
            return Ok(Function::version_info(n, v));
        }
        f.high_water += 1;
        let version = Version {
            code_sha256: f.code_sha256.clone(),
            description: description.to_string(),
            config_generation: f.config_generation,
        };
        let info = Function::version_info(f.high_water, &version);
        f.versions.insert(f.high_water, version);
        Ok(info)
    }

    fn create_alias(
        &mut self,
        ident: &str,
        name: &str,
        version: &str,
        description: &str,
        op: Operation,
    ) -> AwsResult<AliasInfo> {
        validate_alias_name(name, op)?;
        validate_description(description, op)?;
        let revision_id = self.new_revision();
        let f = self.function_mut(ident, op)?;
        if f.aliases.contains_key(name) {
            return Err(conflict(op, format!("alias already exists: {}:{name}", f.arn)));
        }
        f.check_target(version, op)?;
        let alias = Alias {
            version: version.to_string(),
            description: description.to_string(),
            routing: BTreeMap::new(),
            revision_id,
        };
        let info = f.alias_info(name, &alias);
        f.aliases.insert(name.to_string(), alias);
        Ok(info)
    }

    /// UpdateAlias. `description: None` keeps the current one; `clear_routing` is what the
    /// trait's `update_alias` does, while an out-of-band update keeps routing like AWS does
    /// when RoutingConfig is omitted.
    #[allow(clippy::too_many_arguments)]
    fn update_alias(
        &mut self,
        ident: &str,
        name: &str,
        version: &str,
        description: Option<&str>,
        revision_id: Option<&str>,
        clear_routing: bool,
        op: Operation,
    ) -> AwsResult<AliasInfo> {
        if let Some(d) = description {
            validate_description(d, op)?;
        }
        let new_revision = self.new_revision();
        let f = self.function_mut(ident, op)?;
        let alias =
            f.aliases.get(name).ok_or_else(|| not_found(op, format!("alias not found: {}:{name}", f.arn)))?;
        if let Some(r) = revision_id
            && r != alias.revision_id
        {
            return Err(precondition(
                op,
                format!("RevisionId {r} does not match alias {name} ({})", alias.revision_id),
            ));
        }
        f.check_target(version, op)?;
        let routing = if clear_routing { BTreeMap::new() } else { alias.routing.clone() };
        f.check_routing(version, &routing, op)?;
        let description = description.map_or_else(|| alias.description.clone(), str::to_string);
        let alias = Alias { version: version.to_string(), description, routing, revision_id: new_revision };
        let info = f.alias_info(name, &alias);
        f.aliases.insert(name.to_string(), alias);
        Ok(info)
    }

    fn set_routing(
        &mut self,
        ident: &str,
        name: &str,
        routing: impl FnOnce(&mut BTreeMap<String, f64>),
        op: Operation,
    ) -> AwsResult<AliasInfo> {
        let new_revision = self.new_revision();
        let f = self.function_mut(ident, op)?;
        let alias =
            f.aliases.get(name).ok_or_else(|| not_found(op, format!("alias not found: {}:{name}", f.arn)))?;
        let mut new_routing = alias.routing.clone();
        routing(&mut new_routing);
        f.check_routing(&alias.version, &new_routing, op)?;
        if let Some(alias) = f.aliases.get_mut(name) {
            alias.routing = new_routing;
            alias.revision_id = new_revision;
        }
        let alias = f.aliases.get(name).ok_or_else(|| not_found(op, format!("alias not found: {name}")))?;
        Ok(f.alias_info(name, alias))
    }

    fn delete_alias(&mut self, ident: &str, name: &str, op: Operation) -> AwsResult<()> {
        let f = self.function_mut(ident, op)?;
        if f.aliases.remove(name).is_none() {
            return Err(not_found(op, format!("alias not found: {}:{name}", f.arn)));
        }
        // The alias's resource policy goes with it.
        f.policies.remove(name);
        Ok(())
    }

    fn add_permission(
        &mut self,
        ident: &str,
        qualifier: &str,
        statement: &Statement,
        revision_id: Option<&str>,
        op: Operation,
    ) -> AwsResult<()> {
        validate_statement(statement, op)?;
        let new_revision = self.new_revision();
        let f = self.function_mut(ident, op)?;
        let key = f.policy_key_of(qualifier, op)?;
        let current = f.policies.get(&key);
        if let Some(r) = revision_id {
            match current {
                Some(p) if p.revision_id == r => {}
                Some(p) => {
                    return Err(precondition(
                        op,
                        format!("RevisionId {r} does not match the policy ({})", p.revision_id),
                    ));
                }
                None => {
                    return Err(precondition(
                        op,
                        format!("RevisionId {r} given but {qualifier:?} has no policy"),
                    ));
                }
            }
        }
        if current.is_some_and(|p| p.statements.iter().any(|s| s.sid == statement.sid)) {
            return Err(conflict(
                op,
                format!("the statement id ({}) provided already exists on {qualifier:?}", statement.sid),
            ));
        }
        let policy = f
            .policies
            .entry(key)
            .or_insert_with(|| Policy { revision_id: String::new(), statements: Vec::new() });
        policy.statements.push(statement.clone());
        policy.revision_id = new_revision;
        Ok(())
    }

    fn remove_permission(&mut self, ident: &str, qualifier: &str, sid: &str, op: Operation) -> AwsResult<()> {
        let new_revision = self.new_revision();
        let f = self.function_mut(ident, op)?;
        let key = f.policy_key_of(qualifier, op)?;
        let missing = || not_found(op, format!("statement {sid} not found on {qualifier:?}"));
        let policy = f.policies.get_mut(&key).ok_or_else(missing)?;
        let index = policy.statements.iter().position(|s| s.sid == sid).ok_or_else(missing)?;
        policy.statements.remove(index);
        policy.revision_id = new_revision;
        // AWS deletes an empty policy: GetPolicy then answers "not found".
        if policy.statements.is_empty() {
            f.policies.remove(&key);
        }
        Ok(())
    }

    fn check_batch_size(batch_size: Option<u32>, op: Operation) -> AwsResult<()> {
        match batch_size {
            Some(n) if n == 0 || n > 10_000 => Err(invalid(op, format!("BatchSize must be 1 to 10000: {n}"))),
            _ => Ok(()),
        }
    }

    fn duplicate_mapping(
        &self,
        uuid: Option<&str>,
        function_arn: &str,
        event_source_arn: &str,
    ) -> Option<&str> {
        self.mappings
            .values()
            .find(|m| {
                Some(m.uuid.as_str()) != uuid
                    && m.function_arn == function_arn
                    && m.event_source_arn == event_source_arn
            })
            .map(|m| m.uuid.as_str())
    }

    fn create_mapping(&mut self, request: &CreateMapping, op: Operation) -> AwsResult<MappingInfo> {
        let function_arn = self.mapping_target(&request.function_arn, op)?;
        let source = &request.event_source_arn;
        if !source.starts_with("arn:") {
            return Err(invalid(op, format!("EventSourceArn must be an ARN: {source:?}")));
        }
        Self::check_batch_size(request.batch_size, op)?;
        match (is_stream(source), &request.starting_position) {
            (true, None) => return Err(invalid(op, "StartingPosition is required for a stream source")),
            (false, Some(_)) => {
                return Err(invalid(op, "StartingPosition is only allowed for a stream source"));
            }
            _ => {}
        }
        if let Some(uuid) = self.duplicate_mapping(None, &function_arn, source) {
            return Err(conflict(
                op,
                format!("an event source mapping with {source} and {function_arn} already exists: {uuid}"),
            ));
        }
        let n = self.next_id();
        let mapping = MappingInfo {
            uuid: format!("{n:08x}-0000-4000-8000-{n:012x}"),
            function_arn,
            event_source_arn: source.clone(),
            batch_size: request.batch_size,
            enabled: request.enabled,
            state: mapping_state(request.enabled),
        };
        self.mappings.insert(mapping.uuid.clone(), mapping.clone());
        Ok(mapping)
    }

    fn update_mapping(&mut self, request: &UpdateMapping, op: Operation) -> AwsResult<MappingInfo> {
        let target = match &request.function_arn {
            Some(arn) => Some(self.mapping_target(arn, op)?),
            None => None,
        };
        Self::check_batch_size(request.batch_size, op)?;
        let current = self
            .mappings
            .get(&request.uuid)
            .ok_or_else(|| not_found(op, format!("event source mapping not found: {}", request.uuid)))?;
        if let Some(t) = &target
            && let Some(other) = self.duplicate_mapping(Some(&request.uuid), t, &current.event_source_arn)
        {
            return Err(conflict(
                op,
                format!(
                    "an event source mapping with {} and {t} already exists: {other}",
                    current.event_source_arn
                ),
            ));
        }
        let mapping = self
            .mappings
            .get_mut(&request.uuid)
            .ok_or_else(|| not_found(op, format!("event source mapping not found: {}", request.uuid)))?;
        if let Some(t) = target {
            mapping.function_arn = t;
        }
        if let Some(b) = request.batch_size {
            mapping.batch_size = Some(b);
        }
        if let Some(e) = request.enabled {
            mapping.enabled = e;
            mapping.state = mapping_state(e);
        }
        Ok(mapping.clone())
    }

    fn delete_mapping(&mut self, uuid: &str, op: Operation) -> AwsResult<()> {
        match self.mappings.remove(uuid) {
            Some(_) => Ok(()),
            None => Err(not_found(op, format!("event source mapping not found: {uuid}"))),
        }
    }

    fn delete_version(&mut self, ident: &str, version: u64, op: Operation) -> AwsResult<()> {
        let f = self.function_mut(ident, op)?;
        if !f.versions.contains_key(&version) {
            return Err(not_found(op, format!("version {version} of {} does not exist", f.arn)));
        }
        let text = version.to_string();
        if let Some(name) =
            f.aliases.iter().find(|(_, a)| a.version == text || a.routing.contains_key(&text)).map(|(n, _)| n)
        {
            return Err(conflict(op, format!("version {version} is referenced by alias {name}")));
        }
        f.versions.remove(&version);
        f.policies.remove(&text);
        Ok(())
    }
}

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
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent state: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One API call: recorded, subject to injected faults, and counted as a write on success.
    fn call<T>(&self, op: Operation, body: impl FnOnce(&mut State) -> AwsResult<T>) -> AwsResult<T> {
        let mut state = self.lock();
        state.calls.push(op);
        if let Some(fault) = state.take_fault(op) {
            return Err(fault.to_error(op));
        }
        if state.denied.contains(&op) {
            return Err(AwsError::AccessDenied { operation: op, message: "denied by the fake".to_string() });
        }
        let write = is_write(op);
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
            state.update_alias(function, alias, version, None, None, false, Operation::UpdateAlias)
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
                false,
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

impl LambdaApi for FakeLambda {
    async fn get_function(&self, function: &str) -> AwsResult<FunctionInfo> {
        let op = Operation::GetFunction;
        self.call(op, |state| state.function(function, op).map(Function::info))
    }

    async fn list_versions(&self, function: &str) -> AwsResult<Vec<VersionInfo>> {
        let op = Operation::ListVersionsByFunction;
        self.call(op, |state| {
            let f = state.function(function, op)?;
            Ok(f.versions.iter().map(|(n, v)| Function::version_info(*n, v)).collect())
        })
    }

    async fn list_aliases(&self, function: &str) -> AwsResult<Vec<AliasInfo>> {
        let op = Operation::ListAliases;
        self.call(op, |state| {
            let f = state.function(function, op)?;
            Ok(f.aliases.iter().map(|(name, a)| f.alias_info(name, a)).collect())
        })
    }

    async fn get_policy(&self, function: &str, qualifier: &str) -> AwsResult<Option<PolicyInfo>> {
        let op = Operation::GetPolicy;
        self.call(op, |state| {
            let f = state.function(function, op)?;
            let key = f.policy_key_of(qualifier, op)?;
            Ok(f.policies
                .get(&key)
                .map(|p| PolicyInfo { revision_id: p.revision_id.clone(), statements: p.statements.clone() }))
        })
    }

    async fn list_mappings(&self, qualified_arn: &str) -> AwsResult<Vec<MappingInfo>> {
        let op = Operation::ListEventSourceMappings;
        self.call(op, |state| {
            let (name, qualifier) = state.parse(qualified_arn, op)?;
            let mut arn = state.function_arn(&name);
            if let Some(q) = qualifier {
                arn = format!("{arn}:{q}");
            }
            Ok(state.mappings.values().filter(|m| m.function_arn == arn).cloned().collect())
        })
    }

    async fn publish_version(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
        description: Option<&str>,
    ) -> AwsResult<VersionInfo> {
        let op = Operation::PublishVersion;
        self.call(op, |state| state.publish(function, code_sha256, revision_id, description, op))
    }

    async fn create_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
    ) -> AwsResult<AliasInfo> {
        let op = Operation::CreateAlias;
        self.call(op, |state| state.create_alias(function, name, version, description, op))
    }

    async fn update_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
        revision_id: Option<&str>,
    ) -> AwsResult<AliasInfo> {
        let op = Operation::UpdateAlias;
        self.call(op, |state| {
            state.update_alias(function, name, version, Some(description), revision_id, true, op)
        })
    }

    async fn delete_alias(&self, function: &str, name: &str) -> AwsResult<()> {
        let op = Operation::DeleteAlias;
        self.call(op, |state| state.delete_alias(function, name, op))
    }

    async fn add_permission(
        &self,
        function: &str,
        qualifier: &str,
        statement: &Statement,
        revision_id: Option<&str>,
    ) -> AwsResult<()> {
        let op = Operation::AddPermission;
        self.call(op, |state| state.add_permission(function, qualifier, statement, revision_id, op))
    }

    async fn remove_permission(&self, function: &str, qualifier: &str, sid: &str) -> AwsResult<()> {
        let op = Operation::RemovePermission;
        self.call(op, |state| state.remove_permission(function, qualifier, sid, op))
    }

    async fn create_mapping(&self, request: &CreateMapping) -> AwsResult<MappingInfo> {
        let op = Operation::CreateEventSourceMapping;
        self.call(op, |state| state.create_mapping(request, op))
    }

    async fn update_mapping(&self, request: &UpdateMapping) -> AwsResult<MappingInfo> {
        let op = Operation::UpdateEventSourceMapping;
        self.call(op, |state| state.update_mapping(request, op))
    }

    async fn delete_mapping(&self, uuid: &str) -> AwsResult<()> {
        let op = Operation::DeleteEventSourceMapping;
        self.call(op, |state| state.delete_mapping(uuid, op))
    }

    async fn delete_version(&self, function: &str, version: u64) -> AwsResult<()> {
        let op = Operation::DeleteFunction;
        self.call(op, |state| state.delete_version(function, version, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "eu-west-1";
    const FN: &str = "skill";

    fn fake() -> FakeLambda {
        let fake = FakeLambda::new(ACCOUNT, REGION);
        fake.add_function(FN, "sha-a");
        fake
    }

    fn alexa(sid: &str, skill: &str) -> Statement {
        Statement {
            sid: sid.to_string(),
            principal: "alexa-appkit.amazon.com".to_string(),
            action: "lambda:InvokeFunction".to_string(),
            event_source_token: Some(skill.to_string()),
            ..Statement::default()
        }
    }

    fn sqs(queue: &str, target: &str) -> CreateMapping {
        CreateMapping {
            function_arn: target.to_string(),
            event_source_arn: format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"),
            batch_size: Some(10),
            enabled: true,
            starting_position: None,
        }
    }

    async fn publish(fake: &FakeLambda) -> u64 {
        let latest = fake.get_function(FN).await.unwrap();
        fake.publish_version(FN, &latest.code_sha256, Some(&latest.revision_id), None).await.unwrap().version
    }

    fn reason<T: std::fmt::Debug>(result: AwsResult<T>) -> &'static str {
        result.unwrap_err().reason()
    }

    #[tokio::test]
    async fn function_identifiers_accept_name_partial_and_full_arn() {
        let fake = fake();
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FN}");
        for ident in [FN.to_string(), format!("{ACCOUNT}:function:{FN}"), arn.clone()] {
            assert_eq!(fake.get_function(&ident).await.unwrap().function_arn, arn, "{ident}");
        }
        assert_eq!(reason(fake.get_function("other").await), "NotFound");
        let elsewhere = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FN}");
        assert_eq!(reason(fake.get_function(&elsewhere).await), "NotFound");
        assert_eq!(reason(fake.get_function("222222222222:function:skill").await), "NotFound");
        assert_eq!(reason(fake.get_function(&format!("{FN}:PROD1")).await), "InvalidRequest");
    }

    #[tokio::test]
    async fn stale_revision_id_is_refused() {
        let fake = fake();
        let stale = fake.get_function(FN).await.unwrap().revision_id;
        fake.set_config_changed(FN).unwrap();
        let publish = fake.publish_version(FN, "sha-a", Some(&stale), None).await;
        assert_eq!(reason(publish), "PreconditionFailed");

        let v1 = publish_latest(&fake).await;
        let alias = fake.create_alias(FN, "PROD1", &v1, "").await.unwrap();
        fake.oob_set_alias_description(FN, "PROD1", "changed by hand").unwrap();
        let update = fake.update_alias(FN, "PROD1", LATEST, "", Some(&alias.revision_id)).await;
        assert_eq!(reason(update), "PreconditionFailed");
        assert_eq!(fake.alias(FN, "PROD1").unwrap().function_version, v1);

        fake.add_permission(FN, "PROD1", &alexa("las-a", "skill-1"), None).await.unwrap();
        let policy = fake.get_policy(FN, "PROD1").await.unwrap().unwrap();
        fake.oob_add_statement(FN, "PROD1", alexa("foreign", "skill-2")).unwrap();
        let add =
            fake.add_permission(FN, "PROD1", &alexa("las-b", "skill-3"), Some(&policy.revision_id)).await;
        assert_eq!(reason(add), "PreconditionFailed");
        // With the current RevisionId the same writes go through.
        let current = fake.get_policy(FN, "PROD1").await.unwrap().unwrap().revision_id;
        fake.add_permission(FN, "PROD1", &alexa("las-b", "skill-3"), Some(&current)).await.unwrap();
    }

    async fn publish_latest(fake: &FakeLambda) -> String {
        publish(fake).await.to_string()
    }

    #[tokio::test]
    async fn every_write_changes_the_revision_id() {
        let fake = fake();
        let r0 = fake.get_function(FN).await.unwrap().revision_id;
        let r1 = fake.deploy(FN, "sha-b").unwrap().revision_id;
        let r2 = fake.set_config_changed(FN).unwrap().revision_id;
        let v = publish_latest(&fake).await;
        let a0 = fake.create_alias(FN, "PROD1", &v, "").await.unwrap().revision_id;
        let a1 = fake.update_alias(FN, "PROD1", &v, "d", Some(&a0)).await.unwrap().revision_id;
        fake.add_permission(FN, "PROD1", &alexa("s1", "k"), None).await.unwrap();
        let p0 = fake.policy(FN, "PROD1").unwrap().revision_id;
        fake.add_permission(FN, "PROD1", &alexa("s2", "k"), None).await.unwrap();
        let p1 = fake.policy(FN, "PROD1").unwrap().revision_id;
        fake.remove_permission(FN, "PROD1", "s1").await.unwrap();
        let p2 = fake.policy(FN, "PROD1").unwrap().revision_id;
        let all = [r0, r1, r2, a0, a1, p0, p1, p2];
        let distinct: BTreeSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{all:?}");
    }

    #[tokio::test]
    async fn publish_with_other_code_sha256_is_refused() {
        let fake = fake();
        let result = fake.publish_version(FN, "sha-other", None, None).await;
        assert_eq!(reason(result), "PreconditionFailed");
        assert!(fake.versions(FN).is_empty());
    }

    #[tokio::test]
    async fn publish_is_a_no_op_when_latest_unchanged() {
        let fake = fake();
        let v1 = publish(&fake).await;
        assert_eq!(publish(&fake).await, v1);
        // Re-uploading identical code changes the RevisionId but neither code nor config.
        fake.deploy(FN, "sha-a").unwrap();
        assert_eq!(publish(&fake).await, v1);
        assert_eq!(fake.versions(FN).len(), 1);
        fake.deploy(FN, "sha-b").unwrap();
        assert_eq!(publish(&fake).await, v1 + 1);
    }

    #[tokio::test]
    async fn config_change_publishes_a_new_version_with_same_hash() {
        let fake = fake();
        let v1 = publish(&fake).await;
        fake.set_config_changed(FN).unwrap();
        let v2 = publish(&fake).await;
        assert_eq!(v2, v1 + 1);
        let versions = fake.versions(FN);
        assert!(versions.iter().all(|v| v.code_sha256 == "sha-a"), "{versions:?}");
    }

    #[tokio::test]
    async fn version_numbers_are_never_reused() {
        let fake = fake();
        let v1 = publish(&fake).await;
        fake.deploy(FN, "sha-b").unwrap();
        let v2 = publish(&fake).await;
        fake.delete_version(FN, v2).await.unwrap();
        fake.deploy(FN, "sha-c").unwrap();
        let v3 = publish(&fake).await;
        assert_eq!((v1, v2, v3), (1, 2, 3));
        assert_eq!(fake.high_water_mark(FN), 3);
        let numbers: Vec<u64> = fake.list_versions(FN).await.unwrap().iter().map(|v| v.version).collect();
        assert_eq!(numbers, vec![1, 3]);
    }

    #[tokio::test]
    async fn publish_after_deleting_the_newest_version_creates_a_new_one() {
        let fake = fake();
        let v1 = publish(&fake).await;
        fake.delete_version(FN, v1).await.unwrap();
        assert_eq!(publish(&fake).await, 2);
    }

    #[tokio::test]
    async fn alias_names_are_validated() {
        let fake = fake();
        let long = "a".repeat(129);
        for bad in ["", "123", "$LATEST", "PROD 1", "PROD.1", "PROD:1", long.as_str()] {
            assert_eq!(reason(fake.create_alias(FN, bad, LATEST, "").await), "InvalidRequest", "{bad:?}");
        }
        let max = "a".repeat(128);
        for good in ["PROD1", "live", "1a", "a-b_c", max.as_str()] {
            fake.create_alias(FN, good, LATEST, "").await.unwrap();
        }
    }

    #[tokio::test]
    async fn alias_description_is_limited_to_256_characters() {
        let fake = fake();
        let too_long = "x".repeat(257);
        assert_eq!(reason(fake.create_alias(FN, "PROD1", LATEST, &too_long).await), "InvalidRequest");
        let alias = fake.create_alias(FN, "PROD1", LATEST, &"x".repeat(256)).await.unwrap();
        let update = fake.update_alias(FN, "PROD1", LATEST, &too_long, Some(&alias.revision_id)).await;
        assert_eq!(reason(update), "InvalidRequest");
    }

    #[tokio::test]
    async fn create_alias_on_existing_name_conflicts() {
        let fake = fake();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        assert_eq!(reason(fake.create_alias(FN, "PROD1", LATEST, "").await), "Conflict");
    }

    #[tokio::test]
    async fn create_alias_on_missing_version_is_not_found() {
        let fake = fake();
        assert_eq!(reason(fake.create_alias(FN, "PROD1", "7", "").await), "NotFound");
        assert_eq!(reason(fake.create_alias(FN, "PROD1", "latest", "").await), "InvalidRequest");
        assert!(fake.aliases(FN).is_empty());
    }

    #[tokio::test]
    async fn update_missing_alias_is_not_found() {
        let fake = fake();
        assert_eq!(reason(fake.update_alias(FN, "PROD1", LATEST, "", None).await), "NotFound");
        assert_eq!(reason(fake.delete_alias(FN, "PROD1").await), "NotFound");
    }

    #[tokio::test]
    async fn update_alias_clears_routing() {
        let fake = fake();
        let v1 = publish_latest(&fake).await;
        fake.set_config_changed(FN).unwrap();
        let v2 = publish_latest(&fake).await;
        fake.create_alias(FN, "PROD1", &v1, "").await.unwrap();
        let weighted = fake.set_alias_routing(FN, "PROD1", &v2, 0.1).unwrap();
        assert_eq!(weighted.routing, BTreeMap::from([(v2.clone(), 0.1)]));
        let updated = fake.update_alias(FN, "PROD1", &v2, "", Some(&weighted.revision_id)).await.unwrap();
        assert!(updated.routing.is_empty());
        assert_eq!(fake.alias(FN, "PROD1").unwrap(), updated);
    }

    #[tokio::test]
    async fn routing_is_validated() {
        let fake = fake();
        let v1 = publish_latest(&fake).await;
        fake.set_config_changed(FN).unwrap();
        let v2 = publish_latest(&fake).await;
        fake.set_config_changed(FN).unwrap();
        let v3 = publish_latest(&fake).await;
        fake.create_alias(FN, "PROD1", &v1, "").await.unwrap();
        fake.create_alias(FN, "DEV", LATEST, "").await.unwrap();
        let err = |r: AwsResult<AliasInfo>| r.unwrap_err().reason();
        assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v2, 1.5)), "InvalidRequest");
        assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v2, -0.1)), "InvalidRequest");
        assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v2, f64::NAN)), "InvalidRequest");
        assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v1, 0.5)), "InvalidRequest");
        assert_eq!(err(fake.set_alias_routing(FN, "PROD1", LATEST, 0.5)), "InvalidRequest");
        assert_eq!(err(fake.set_alias_routing(FN, "PROD1", "9", 0.5)), "NotFound");
        assert_eq!(err(fake.set_alias_routing(FN, "DEV", &v2, 0.5)), "InvalidRequest");
        assert_eq!(err(fake.set_alias_routing(FN, "MISSING", &v2, 0.5)), "NotFound");
        fake.set_alias_routing(FN, "PROD1", &v2, 1.0).unwrap();
        // At most one additional version: a second one is refused, re-weighting the same is fine.
        assert_eq!(err(fake.set_alias_routing(FN, "PROD1", &v3, 0.2)), "InvalidRequest");
        let alias = fake.set_alias_routing(FN, "PROD1", &v2, 0.0).unwrap();
        assert_eq!(alias.routing, BTreeMap::from([(v2.clone(), 0.0)]));
        // A manual re-point onto the routed version would make routing invalid.
        assert_eq!(err(fake.oob_update_alias(FN, "PROD1", &v2)), "InvalidRequest");
        fake.clear_alias_routing(FN, "PROD1").unwrap();
        assert!(fake.alias(FN, "PROD1").unwrap().routing.is_empty());
    }

    #[tokio::test]
    async fn alias_arn_is_function_arn_and_name() {
        let fake = fake();
        let alias = fake.create_alias(FN, "PROD1", LATEST, "live").await.unwrap();
        assert_eq!(alias.alias_arn, format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FN}:PROD1"));
        assert_eq!(alias.alias_arn, fake.alias_arn(FN, "PROD1"));
        assert_eq!(fake.list_aliases(FN).await.unwrap(), vec![alias]);
    }

    #[tokio::test]
    async fn policies_are_per_qualifier() {
        let fake = fake();
        let v1 = publish_latest(&fake).await;
        fake.create_alias(FN, "PROD1", &v1, "").await.unwrap();
        fake.create_alias(FN, "PROD2", &v1, "").await.unwrap();
        fake.add_permission(FN, "PROD1", &alexa("las-alexa", "skill-1"), None).await.unwrap();
        assert_eq!(fake.get_policy(FN, "PROD1").await.unwrap().unwrap().statements.len(), 1);
        assert_eq!(fake.get_policy(FN, "PROD2").await.unwrap(), None);
        assert_eq!(fake.get_policy(FN, &v1).await.unwrap(), None);
        assert_eq!(fake.get_policy(FN, "").await.unwrap(), None);
        // The same Sid on another qualifier is another statement.
        fake.add_permission(FN, "PROD2", &alexa("las-alexa", "skill-2"), None).await.unwrap();
        assert_eq!(fake.statements(FN, "PROD1")[0].event_source_token.as_deref(), Some("skill-1"));
        assert_eq!(fake.statements(FN, "PROD2")[0].event_source_token.as_deref(), Some("skill-2"));
    }

    #[tokio::test]
    async fn duplicate_sid_conflicts() {
        let fake = fake();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        fake.add_permission(FN, "PROD1", &alexa("las-alexa", "skill-1"), None).await.unwrap();
        let again = fake.add_permission(FN, "PROD1", &alexa("las-alexa", "skill-other"), None).await;
        assert_eq!(reason(again), "Conflict");
        assert_eq!(fake.statements(FN, "PROD1"), vec![alexa("las-alexa", "skill-1")]);
    }

    #[tokio::test]
    async fn event_source_token_round_trips() {
        let fake = fake();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        let statement = Statement {
            source_arn: Some("arn:aws:execute-api:eu-west-1:123456789012:abc/*".to_string()),
            source_account: Some(ACCOUNT.to_string()),
            ..alexa("las-alexa", "amzn1.ask.skill.1234")
        };
        fake.add_permission(FN, "PROD1", &statement, None).await.unwrap();
        let policy = fake.get_policy(FN, "PROD1").await.unwrap().unwrap();
        assert_eq!(policy.statements, vec![statement]);
    }

    #[tokio::test]
    async fn empty_policy_reads_as_none() {
        let fake = fake();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        assert_eq!(fake.get_policy(FN, "PROD1").await.unwrap(), None);
        fake.add_permission(FN, "PROD1", &alexa("s", "k"), None).await.unwrap();
        fake.remove_permission(FN, "PROD1", "s").await.unwrap();
        assert_eq!(fake.get_policy(FN, "PROD1").await.unwrap(), None);
        // No policy means no RevisionId to hold on to.
        let add = fake.add_permission(FN, "PROD1", &alexa("s", "k"), Some("stale")).await;
        assert_eq!(reason(add), "PreconditionFailed");
    }

    #[tokio::test]
    async fn removing_missing_sid_is_not_found() {
        let fake = fake();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        assert_eq!(reason(fake.remove_permission(FN, "PROD1", "nope").await), "NotFound");
        fake.add_permission(FN, "PROD1", &alexa("s", "k"), None).await.unwrap();
        assert_eq!(reason(fake.remove_permission(FN, "PROD1", "nope").await), "NotFound");
    }

    #[tokio::test]
    async fn policy_qualifier_must_exist() {
        let fake = fake();
        assert_eq!(reason(fake.add_permission(FN, "PROD1", &alexa("s", "k"), None).await), "NotFound");
        assert_eq!(reason(fake.get_policy(FN, "PROD1").await), "NotFound");
        assert_eq!(reason(fake.get_policy(FN, "3").await), "NotFound");
        assert_eq!(reason(fake.remove_permission(FN, "PROD1", "s").await), "NotFound");
        let v1 = publish_latest(&fake).await;
        fake.add_permission(FN, &v1, &alexa("s", "k"), None).await.unwrap();
        assert_eq!(fake.statements(FN, &v1).len(), 1);
    }

    #[tokio::test]
    async fn invalid_statements_are_refused() {
        let fake = fake();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        let bad_sid = alexa("las alexa", "k");
        let no_principal = Statement { principal: String::new(), ..alexa("s", "k") };
        let bad_action = Statement { action: "InvokeFunction".to_string(), ..alexa("s", "k") };
        for statement in [bad_sid, no_principal, bad_action] {
            assert_eq!(reason(fake.add_permission(FN, "PROD1", &statement, None).await), "InvalidRequest");
        }
    }

    #[tokio::test]
    async fn deleting_an_alias_drops_its_policy() {
        let fake = fake();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        fake.add_permission(FN, "PROD1", &alexa("s", "k"), None).await.unwrap();
        fake.delete_alias(FN, "PROD1").await.unwrap();
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        assert_eq!(fake.get_policy(FN, "PROD1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn referenced_version_cannot_be_deleted() {
        let fake = fake();
        let v1 = publish(&fake).await;
        fake.set_config_changed(FN).unwrap();
        let v2 = publish(&fake).await;
        fake.set_config_changed(FN).unwrap();
        let v3 = publish(&fake).await;
        fake.create_alias(FN, "PROD1", &v1.to_string(), "").await.unwrap();
        fake.set_alias_routing(FN, "PROD1", &v2.to_string(), 0.05).unwrap();
        assert_eq!(reason(fake.delete_version(FN, v1).await), "Conflict");
        assert_eq!(reason(fake.delete_version(FN, v2).await), "Conflict");
        fake.delete_version(FN, v3).await.unwrap();
        assert_eq!(fake.versions(FN).len(), 2);
        fake.clear_alias_routing(FN, "PROD1").unwrap();
        fake.delete_version(FN, v2).await.unwrap();
    }

    #[tokio::test]
    async fn deleting_missing_version_is_not_found() {
        let fake = fake();
        assert_eq!(reason(fake.delete_version(FN, 1).await), "NotFound");
        let v1 = publish(&fake).await;
        fake.delete_version(FN, v1).await.unwrap();
        assert_eq!(reason(fake.delete_version(FN, v1).await), "NotFound");
    }

    #[tokio::test]
    async fn version_with_mapping_can_be_deleted() {
        let fake = fake();
        let v1 = publish(&fake).await;
        let target = fake.alias_arn(FN, &v1.to_string());
        fake.create_mapping(&sqs("q", &target)).await.unwrap();
        fake.delete_version(FN, v1).await.unwrap();
    }

    #[tokio::test]
    async fn mapping_target_must_exist() {
        let fake = fake();
        let missing_alias = fake.alias_arn(FN, "PROD1");
        assert_eq!(reason(fake.create_mapping(&sqs("q", &missing_alias)).await), "NotFound");
        let missing_version = fake.alias_arn(FN, "4");
        assert_eq!(reason(fake.create_mapping(&sqs("q", &missing_version)).await), "NotFound");
        let other_function = fake.alias_arn("other", "PROD1");
        assert_eq!(reason(fake.create_mapping(&sqs("q", &other_function)).await), "NotFound");
        fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        let mapping = fake.create_mapping(&sqs("q", &format!("{FN}:PROD1"))).await.unwrap();
        // Stored under the full qualified ARN, however it was named.
        assert_eq!(mapping.function_arn, missing_alias);
        assert_eq!((mapping.enabled, mapping.state.as_str()), (true, "Enabled"));
    }

    #[tokio::test]
    async fn stream_mappings_need_a_starting_position() {
        let fake = fake();
        let target = fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap().alias_arn;
        let stream = CreateMapping {
            event_source_arn: format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s"),
            ..sqs("q", &target)
        };
        assert_eq!(reason(fake.create_mapping(&stream).await), "InvalidRequest");
        let queue = CreateMapping { starting_position: Some("LATEST".to_string()), ..sqs("q", &target) };
        assert_eq!(reason(fake.create_mapping(&queue).await), "InvalidRequest");
        let stream = CreateMapping { starting_position: Some("TRIM_HORIZON".to_string()), ..stream };
        fake.create_mapping(&stream).await.unwrap();
    }

    #[tokio::test]
    async fn duplicate_mapping_conflicts() {
        let fake = fake();
        let prod1 = fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap().alias_arn;
        let prod2 = fake.create_alias(FN, "PROD2", LATEST, "").await.unwrap().alias_arn;
        fake.create_mapping(&sqs("q", &prod1)).await.unwrap();
        assert_eq!(reason(fake.create_mapping(&sqs("q", &prod1)).await), "Conflict");
        // The same queue on another alias, or another queue on the same alias, is fine...
        let on_prod2 = fake.create_mapping(&sqs("q", &prod2)).await.unwrap();
        fake.create_mapping(&sqs("other", &prod1)).await.unwrap();
        // ...but moving it onto an alias that already polls that queue is a duplicate.
        let moved = UpdateMapping {
            uuid: on_prod2.uuid.clone(),
            function_arn: Some(prod1.clone()),
            batch_size: None,
            enabled: None,
        };
        assert_eq!(reason(fake.update_mapping(&moved).await), "Conflict");
        assert_eq!(fake.mapping(&on_prod2.uuid).unwrap().function_arn, prod2);
    }

    #[tokio::test]
    async fn mapping_uuids_are_unique() {
        let fake = fake();
        let target = fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap().alias_arn;
        let mut uuids = BTreeSet::new();
        for i in 0..20 {
            let mapping = fake.create_mapping(&sqs(&format!("q{i}"), &target)).await.unwrap();
            fake.delete_mapping(&mapping.uuid).await.unwrap();
            assert!(uuids.insert(mapping.uuid));
        }
        assert_eq!(reason(fake.delete_mapping(uuids.first().unwrap()).await), "NotFound");
    }

    #[tokio::test]
    async fn list_mappings_matches_the_qualified_arn_exactly() {
        let fake = fake();
        let v1 = publish_latest(&fake).await;
        let prod1 = fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap().alias_arn;
        let prod10 = fake.create_alias(FN, "PROD10", LATEST, "").await.unwrap().alias_arn;
        let a = fake.create_mapping(&sqs("a", &prod1)).await.unwrap();
        fake.create_mapping(&sqs("b", &prod10)).await.unwrap();
        fake.create_mapping(&sqs("c", &fake.alias_arn(FN, &v1))).await.unwrap();
        fake.create_mapping(&sqs("d", &fake.function_arn(FN))).await.unwrap();
        assert_eq!(fake.list_mappings(&prod1).await.unwrap(), vec![a]);
        assert_eq!(fake.list_mappings(&fake.alias_arn(FN, "PROD2")).await.unwrap(), vec![]);
        assert_eq!(fake.list_mappings(&fake.function_arn(FN)).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn update_mapping_moves_it() {
        let fake = fake();
        let prod1 = fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap().alias_arn;
        let prod2 = fake.create_alias(FN, "PROD2", LATEST, "").await.unwrap().alias_arn;
        let mapping = fake.create_mapping(&sqs("q", &prod1)).await.unwrap();
        let request = UpdateMapping {
            uuid: mapping.uuid.clone(),
            function_arn: Some(prod2.clone()),
            batch_size: Some(5),
            enabled: Some(false),
        };
        let moved = fake.update_mapping(&request).await.unwrap();
        assert_eq!((moved.function_arn.as_str(), moved.batch_size), (prod2.as_str(), Some(5)));
        assert_eq!((moved.enabled, moved.state.as_str()), (false, "Disabled"));
        assert!(fake.list_mappings(&prod1).await.unwrap().is_empty());
        let to_nowhere = UpdateMapping { function_arn: Some(fake.alias_arn(FN, "GONE")), ..request.clone() };
        assert_eq!(reason(fake.update_mapping(&to_nowhere).await), "NotFound");
        let unknown = UpdateMapping { uuid: "nope".to_string(), ..request };
        assert_eq!(reason(fake.update_mapping(&unknown).await), "NotFound");
    }

    #[tokio::test]
    async fn throttle_carries_retry_hint() {
        let fake = fake();
        fake.throttle_next(2, Some(Duration::from_secs(3)));
        for _ in 0..2 {
            let error = fake.list_aliases(FN).await.unwrap_err();
            assert_eq!(
                error,
                AwsError::Throttled {
                    operation: Operation::ListAliases,
                    retry_after: Some(Duration::from_secs(3))
                }
            );
        }
        fake.list_aliases(FN).await.unwrap();
    }

    #[tokio::test]
    async fn fail_next_injects_unavailable_and_timeout() {
        let fake = fake();
        fake.fail_next(1, Fault::Unavailable);
        fake.fail_next(1, Fault::Timeout);
        assert_eq!(reason(fake.get_function(FN).await), "Unavailable");
        let timeout = fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap_err();
        assert_eq!(
            timeout,
            AwsError::Unavailable { operation: Operation::CreateAlias, message: "timeout".to_string() }
        );
        // A failed write wrote nothing.
        assert!(fake.aliases(FN).is_empty());
        fake.get_function(FN).await.unwrap();
    }

    #[tokio::test]
    async fn fail_next_on_hits_only_that_operation() {
        let fake = fake();
        fake.fail_next_on(Operation::UpdateAlias, 1, Fault::Conflict);
        let alias = fake.create_alias(FN, "PROD1", LATEST, "").await.unwrap();
        let update = fake.update_alias(FN, "PROD1", LATEST, "", Some(&alias.revision_id)).await;
        assert_eq!(reason(update), "Conflict");
        fake.update_alias(FN, "PROD1", LATEST, "", Some(&alias.revision_id)).await.unwrap();
    }

    #[tokio::test]
    async fn crash_after_writes_stops_every_later_write() {
        let fake = fake();
        fake.crash_after_writes(2);
        let v1 = publish_latest(&fake).await;
        fake.create_alias(FN, "PROD1", &v1, "").await.unwrap();
        let crashed = fake.create_alias(FN, "PROD2", &v1, "").await.unwrap_err();
        assert_eq!(
            crashed,
            AwsError::Unavailable { operation: Operation::CreateAlias, message: "crashed".to_string() }
        );
        assert_eq!(reason(fake.delete_alias(FN, "PROD1").await), "Unavailable");
        assert_eq!(reason(fake.add_permission(FN, "PROD1", &alexa("s", "k"), None).await), "Unavailable");
        // Reads still observe what the first writes did.
        assert_eq!(fake.list_aliases(FN).await.unwrap().len(), 1);
        assert_eq!(fake.writes(), 2);
        fake.recover();
        fake.create_alias(FN, "PROD2", &v1, "").await.unwrap();
        assert_eq!(fake.writes(), 3);
    }

    #[tokio::test]
    async fn denied_operation_is_access_denied() {
        let fake = fake();
        fake.deny(Operation::PublishVersion);
        let error = fake.publish_version(FN, "sha-a", None, None).await.unwrap_err();
        assert_eq!(error.reason(), "AccessDenied");
        assert!(error.to_string().contains("lambda:PublishVersion"), "{error}");
        fake.get_function(FN).await.unwrap();
        fake.allow(Operation::PublishVersion);
        fake.publish_version(FN, "sha-a", None, None).await.unwrap();
    }

    #[tokio::test]
    async fn calls_are_recorded_including_failures() {
        let fake = fake();
        fake.get_function(FN).await.unwrap();
        let _ = fake.delete_alias(FN, "missing").await;
        fake.throttle_next(1, None);
        let _ = fake.list_aliases(FN).await;
        assert_eq!(
            fake.calls(),
            vec![Operation::GetFunction, Operation::DeleteAlias, Operation::ListAliases]
        );
        assert_eq!(fake.calls_of(Operation::DeleteAlias), 1);
        // Only successful writes count as writes.
        assert_eq!(fake.writes(), 0);
        fake.clear_calls();
        assert!(fake.calls().is_empty());
    }

    #[tokio::test]
    async fn out_of_band_changes_are_not_calls_but_bump_revisions() {
        let fake = fake();
        let v1 = fake.oob_publish(FN, "by hand").unwrap();
        let alias = fake.oob_create_alias(FN, "PROD1", &v1.version.to_string(), "").unwrap();
        let moved = fake.oob_update_alias(FN, "PROD1", LATEST).unwrap();
        assert_ne!(alias.revision_id, moved.revision_id);
        fake.oob_add_statement(FN, "PROD1", alexa("foreign", "k")).unwrap();
        let mapping = fake.oob_create_mapping(&sqs("q", &alias.alias_arn)).unwrap();
        fake.oob_delete_mapping(&mapping.uuid).unwrap();
        fake.oob_remove_statement(FN, "PROD1", "foreign").unwrap();
        fake.oob_delete_alias(FN, "PROD1").unwrap();
        fake.oob_delete_version(FN, v1.version).unwrap();
        assert!(fake.calls().is_empty());
        assert_eq!(fake.writes(), 0);
        // Injected faults are for API calls only.
        fake.crash_after_writes(0);
        fake.oob_create_alias(FN, "PROD1", LATEST, "").unwrap();
    }

    #[test]
    fn futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let fake = fake();
        let future = fake.get_function(FN);
        assert_send(&future);
        let request = sqs("q", "x");
        assert_send(&fake.create_mapping(&request));
    }
}
