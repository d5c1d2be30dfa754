//! The observe -> plan -> execute loop shared by the CLI and the controller.
//!
//! Each pass observes AWS from scratch, plans, and executes the actions in order, stopping at
//! the first failure; the next pass picks up from whatever is true then. A failed RevisionId or
//! CodeSha256 precondition means someone else changed AWS in between: re-observe, never
//! overwrite.

pub mod drift;
pub mod hold;
pub mod status;

use crate::api::LambdaAliasSetSpec;
use crate::aws::cloudwatch::function_name_of;
use crate::aws::{
    AddPermission, AwsApi, AwsError, CloudWatchApi, CreateAlias, CreateMapping, DeleteAlias, DeleteMapping,
    DeleteVersion, DeleteWarm, DescribeAlarms, ErrorQuery, GetFunction, GetMetricData, GetPolicy, LambdaApi,
    List, ListAliases, ListMappings, ListVersions, ListWarm, PublishVersion, PutWarm, RemovePermission,
    UpdateAlias, UpdateMapping,
};
use crate::plan::skill::SkillObservation;
use crate::plan::{self, Action, Input, Outcome, Plan, Snapshot, VersionRef, Watch, WatchNeed};

/// Reads everything the planner needs. A missing function is a snapshot without a function,
/// not an error.
pub async fn observe<A: LambdaApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
) -> Result<Snapshot, AwsError> {
    let function_name = spec.function_name.as_str();
    let function = match api.call(&GetFunction { function: function_name.to_owned() }).await {
        Ok(f) => f,
        Err(AwsError::NotFound { .. }) => return Ok(Snapshot::default()),
        Err(e) => return Err(e),
    };
    let versions = api.list(ListVersions::new(function_name)).await?;
    let aliases = api.list(ListAliases::new(function_name)).await?;
    let mut snapshot = Snapshot { function: Some(function), versions, aliases, ..Snapshot::default() };
    for name in plan::aliases_to_observe(spec, owner, &snapshot.aliases) {
        let Some(alias_arn) = snapshot.alias(&name).map(|a| a.alias_arn.clone()) else { continue };
        let mappings = api.list(ListMappings::of_function(&alias_arn)).await?;
        // No policy yet: nothing to compare, and no RevisionId to send with the first statement.
        if let Some(policy) =
            api.call(&GetPolicy { function: function_name.to_owned(), qualifier: name.to_owned() }).await?
        {
            snapshot.policies.insert(name, policy);
        }
        snapshot.mappings.extend(mappings);
    }
    // Provisioned concurrency: one listing per function, only for a set that has or had some.
    if plan::observes_warm(spec, owner, &snapshot.aliases) {
        snapshot.warm = api.list(ListWarm::new(function_name)).await?;
    }
    // Only versions the retention rule would delete are checked for mappings that invoke them
    // directly, so a steady state pays nothing for it.
    let function_arn = snapshot.function.as_ref().map(|f| f.function_arn.clone()).unwrap_or_default();
    for version in plan::retention_candidates(spec, &snapshot) {
        if !api.list(ListMappings::of_function(&format!("{function_arn}:{version}"))).await?.is_empty() {
            snapshot.mapped_versions.insert(version);
        }
    }
    Ok(snapshot)
}

/// One executed action, with what it resolved to (e.g. the published version number).
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    pub action: Action,
    pub detail: String,
}

/// Executing stopped at `index` of the failing pass's actions. `done` holds what was written:
/// the actions before `index`, and from [`converge`] every earlier pass's too.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("step {} ({action}) failed: {error}", index + 1)]
pub struct ExecuteError {
    pub index: usize,
    pub action: Action,
    pub error: AwsError,
    pub done: Vec<Done>,
}

/// Runs the actions in order and stops at the first failure.
pub async fn execute<A: LambdaApi>(
    api: &A,
    spec: &LambdaAliasSetSpec,
    snapshot: &Snapshot,
    actions: &[Action],
) -> Result<Vec<Done>, ExecuteError> {
    execute_predicting(api, spec, snapshot, actions).await.map(|(done, _)| done)
}

/// [`execute`], also returning `snapshot` with every executed action's effect applied, built
/// from AWS's answers (the version published, the alias written, the mapping created): what a
/// fresh observe would read if nobody else changed AWS meanwhile.
pub async fn execute_predicting<A: LambdaApi>(
    api: &A,
    spec: &LambdaAliasSetSpec,
    snapshot: &Snapshot,
    actions: &[Action],
) -> Result<(Vec<Done>, Snapshot), ExecuteError> {
    let function = spec.function_name.as_str();
    let function_arn = snapshot.function.as_ref().map(|f| f.function_arn.as_str()).unwrap_or(function);
    let mut predicted = snapshot.clone();
    let mut published: Option<u64> = None;
    let mut done = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        match execute_one(api, function, function_arn, action, &mut published).await {
            Ok((detail, effect)) => {
                effect.apply(&mut predicted, function_arn);
                done.push(Done { action: action.clone(), detail });
            }
            Err(error) => {
                return Err(ExecuteError { index, action: action.clone(), error, done });
            }
        }
    }
    Ok((done, predicted))
}

/// What one executed action changed, from AWS's answer.
enum Effect {
    Published(crate::plan::VersionInfo),
    Alias(crate::plan::AliasInfo),
    AliasDeleted(String),
    StatementAdded { alias: String, statement: crate::plan::Statement },
    StatementRemoved { alias: String, sid: String },
    Mapping(crate::plan::MappingInfo),
    MappingDeleted(String),
    VersionDeleted(u64),
    Warm(crate::plan::WarmConfig),
    WarmDeleted(u64),
}

impl Effect {
    fn apply(self, snapshot: &mut Snapshot, function_arn: &str) {
        match self {
            Effect::Published(version) => {
                // Publishing an unchanged $LATEST answers with the existing version.
                if snapshot.version(version.version).is_none() {
                    snapshot.versions.push(version);
                }
            }
            Effect::Alias(alias) => match snapshot.aliases.iter_mut().find(|a| a.name == alias.name) {
                Some(existing) => *existing = alias,
                None => snapshot.aliases.push(alias),
            },
            Effect::AliasDeleted(name) => {
                let arn = format!("{function_arn}:{name}");
                snapshot.aliases.retain(|a| a.name != name);
                snapshot.policies.remove(&name);
                snapshot.mappings.retain(|m| m.function_arn != arn);
            }
            Effect::StatementAdded { alias, statement } => {
                // The policy's new RevisionId is not in AddPermission's answer: a plan that
                // needs it observes first (the prediction only confirms convergence).
                let policy = snapshot.policies.entry(alias).or_default();
                policy.statements.retain(|s| s.sid != statement.sid);
                policy.statements.push(statement);
            }
            Effect::StatementRemoved { alias, sid } => {
                if let Some(policy) = snapshot.policies.get_mut(&alias) {
                    policy.statements.retain(|s| s.sid != sid);
                    // AWS deletes a policy with its last statement.
                    if policy.statements.is_empty() {
                        snapshot.policies.remove(&alias);
                    }
                }
            }
            Effect::Mapping(mapping) => match snapshot.mappings.iter_mut().find(|m| m.uuid == mapping.uuid) {
                Some(existing) => *existing = mapping,
                None => snapshot.mappings.push(mapping),
            },
            Effect::MappingDeleted(uuid) => snapshot.mappings.retain(|m| m.uuid != uuid),
            Effect::VersionDeleted(version) => {
                snapshot.versions.retain(|v| v.version != version);
                snapshot.mapped_versions.remove(&version);
                snapshot.warm.retain(|c| c.qualifier != version.to_string());
            }
            Effect::Warm(config) => {
                snapshot.warm.retain(|c| c.qualifier != config.qualifier);
                snapshot.warm.push(config);
            }
            Effect::WarmDeleted(version) => snapshot.warm.retain(|c| c.qualifier != version.to_string()),
        }
    }
}

fn resolve(
    version: VersionRef,
    published: Option<u64>,
    operation: crate::aws::Operation,
) -> Result<String, AwsError> {
    version.resolve(published).ok_or_else(|| AwsError::Invalid {
        operation,
        message: "the plan refers to a published version but published none".to_string(),
    })
}

async fn execute_one<A: LambdaApi>(
    api: &A,
    function: &str,
    function_arn: &str,
    action: &Action,
    published: &mut Option<u64>,
) -> Result<(String, Effect), AwsError> {
    use crate::aws::Operation as Op;
    match action {
        Action::PublishVersion { code_sha256, revision_id, description } => {
            let version = api
                .call(&PublishVersion {
                    function: function.to_owned(),
                    code_sha256: code_sha256.to_owned(),
                    revision_id: Some(revision_id.to_owned()),
                    description: description.clone(),
                })
                .await?;
            if &version.code_sha256 != code_sha256 {
                // A publish answered with other code means $LATEST changed under us.
                return Err(AwsError::PreconditionFailed {
                    operation: Op::PublishVersion,
                    message: format!(
                        "published version {} has CodeSha256 {}",
                        version.version, version.code_sha256
                    ),
                });
            }
            *published = Some(version.version);
            Ok((format!("version {}", version.version), Effect::Published(version)))
        }
        Action::CreateAlias { alias, version, marker, .. } => {
            let target = resolve(*version, *published, Op::CreateAlias)?;
            let info = api
                .call(&CreateAlias {
                    function: function.to_owned(),
                    name: alias.to_owned(),
                    version: target.to_owned(),
                    description: marker.render(*published),
                })
                .await?;
            Ok((format!("{alias} -> {target}"), Effect::Alias(info)))
        }
        Action::UpdateAlias { alias, version, marker, revision_id, routing, .. } => {
            let target = resolve(*version, *published, Op::UpdateAlias)?;
            let weighted = match routing {
                Some(w) => Some((resolve(w.version, *published, Op::UpdateAlias)?, w.weight())),
                None => None,
            };
            let info = api
                .call(&UpdateAlias {
                    function: function.to_owned(),
                    name: alias.to_owned(),
                    version: target.to_owned(),
                    description: marker.render(*published),
                    revision_id: Some(revision_id.to_owned()),
                    routing: weighted.clone(),
                })
                .await?;
            let detail = match (weighted, routing) {
                (Some((extra, _)), Some(w)) => format!("{alias} -> {target} with {}% on {extra}", w.percent),
                _ => format!("{alias} -> {target}"),
            };
            Ok((detail, Effect::Alias(info)))
        }
        Action::DeleteAlias { alias } => {
            api.call(&DeleteAlias { function: function.to_owned(), name: alias.to_owned() }).await?;
            Ok((alias.clone(), Effect::AliasDeleted(alias.clone())))
        }
        Action::AddPermission { alias, statement, revision_id, .. } => {
            api.call(&AddPermission {
                function: function.to_owned(),
                qualifier: alias.to_owned(),
                statement: statement.clone(),
                revision_id: revision_id.clone(),
            })
            .await?;
            let effect = Effect::StatementAdded { alias: alias.clone(), statement: statement.clone() };
            Ok((format!("{} on {alias}", statement.sid), effect))
        }
        Action::RemovePermission { alias, sid } => {
            match api
                .call(&RemovePermission {
                    function: function.to_owned(),
                    qualifier: alias.to_owned(),
                    sid: sid.to_owned(),
                })
                .await
            {
                // Already gone is what we wanted.
                Ok(()) | Err(AwsError::NotFound { .. }) => Ok((
                    format!("{sid} from {alias}"),
                    Effect::StatementRemoved { alias: alias.clone(), sid: sid.clone() },
                )),
                Err(e) => Err(e),
            }
        }
        Action::CreateMapping { alias, event_source_arn, batch_size, enabled, starting_position, .. } => {
            let request = CreateMapping {
                function_arn: format!("{function_arn}:{alias}"),
                event_source_arn: event_source_arn.clone(),
                batch_size: *batch_size,
                enabled: *enabled,
                starting_position: starting_position.clone(),
            };
            let mapping = api.call(&request).await?;
            Ok((format!("mapping {} on {alias}", mapping.uuid), Effect::Mapping(mapping)))
        }
        Action::UpdateMapping { uuid, move_to, batch_size, enabled, .. } => {
            let request = UpdateMapping {
                uuid: uuid.clone(),
                function_arn: move_to.as_ref().map(|alias| format!("{function_arn}:{alias}")),
                batch_size: *batch_size,
                enabled: *enabled,
            };
            let mapping = api.call(&request).await?;
            Ok((format!("mapping {uuid}"), Effect::Mapping(mapping)))
        }
        Action::DeleteMapping { uuid, .. } => {
            match api.call(&DeleteMapping { uuid: uuid.to_owned() }).await {
                Ok(()) | Err(AwsError::NotFound { .. }) => {
                    Ok((format!("mapping {uuid}"), Effect::MappingDeleted(uuid.clone())))
                }
                Err(e) => Err(e),
            }
        }
        Action::DeleteVersion { version } => {
            api.call(&DeleteVersion { function: function.to_owned(), version: *version }).await?;
            Ok((format!("version {version}"), Effect::VersionDeleted(*version)))
        }
        Action::PutWarm { version, count, .. } => {
            let number = match version.resolve(*published).and_then(|v| v.parse().ok()) {
                Some(n) => n,
                None => return Err(resolve_error(Op::PutProvisionedConcurrencyConfig)),
            };
            let config =
                api.call(&PutWarm { function: function.to_owned(), version: number, count: *count }).await?;
            Ok((
                format!("{} on version {number}: {}", config.requested, config.status.as_str()),
                Effect::Warm(config),
            ))
        }
        Action::DeleteWarm { version } => {
            match api.call(&DeleteWarm { function: function.to_owned(), version: *version }).await {
                Ok(()) | Err(AwsError::NotFound { .. }) => {
                    Ok((format!("version {version}"), Effect::WarmDeleted(*version)))
                }
                Err(e) => Err(e),
            }
        }
    }
}

fn resolve_error(operation: crate::aws::Operation) -> AwsError {
    AwsError::Invalid {
        operation,
        message: "the plan refers to a published version but published none".to_string(),
    }
}

/// One pass: observe, plan, execute. Returns the plan it executed and what was done.
#[derive(Clone, Debug)]
pub struct Pass {
    pub snapshot: Snapshot,
    pub plan: Plan,
    pub done: Vec<Done>,
    /// `snapshot` with the executed actions' effects applied.
    pub predicted: Snapshot,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading AWS failed; `done` holds what the converge wrote before (see [`EngineError::done`]).
    #[error("observing AWS failed: {error}")]
    Observe { error: AwsError, done: Vec<Done> },
    #[error(transparent)]
    Execute(Box<ExecuteError>),
    #[error(
        "did not converge after {passes} passes; the last plan still had actions (is something else changing AWS?)"
    )]
    NoConvergence { passes: usize, done: Vec<Done> },
}

impl EngineError {
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            EngineError::Observe { error, .. } => Some(error),
            EngineError::Execute(e) => Some(&e.error),
            EngineError::NoConvergence { .. } => None,
        }
    }

    /// Reading AWS failed (before anything was written).
    pub fn observe(error: AwsError) -> Self {
        EngineError::Observe { error, done: Vec::new() }
    }

    /// What was written before the failure: every write of the converge, so that each still
    /// gets its Event and the CLI prints it.
    pub fn done(&self) -> &[Done] {
        match self {
            EngineError::Observe { done, .. } | EngineError::NoConvergence { done, .. } => done,
            EngineError::Execute(e) => &e.done,
        }
    }
}

/// Reads from CloudWatch what `need` asks and `watch` does not hold yet: the alarms in one
/// DescribeAlarms, the error counts in one GetMetricData per step start. A set without
/// `spec.rollout` (or not mid-rollout) never gets here: its plans need nothing.
pub async fn read_watch<A: CloudWatchApi>(
    api: &A,
    spec: &LambdaAliasSetSpec,
    need: &WatchNeed,
    watch: &mut Watch,
    now: i64,
) -> Result<(), AwsError> {
    let names: Vec<String> = need.alarms.iter().filter(|a| !watch.asked.contains(*a)).cloned().collect();
    if !names.is_empty() {
        for alarm in api.call(&DescribeAlarms { names: names.clone() }).await? {
            watch.alarms.insert(alarm.name, alarm.state);
        }
        watch.asked.extend(names);
    }
    let mut by_since: std::collections::BTreeMap<i64, Vec<ErrorQuery>> = Default::default();
    for (alias, version, since) in &need.errors {
        if watch.errors_of(alias, *version, *since).is_none() {
            by_since.entry(*since).or_default().push(ErrorQuery { alias: alias.clone(), version: *version });
        }
    }
    for (since, queries) in by_since {
        let function_name = function_name_of(&spec.function_name).to_owned();
        let counts = api.call(&GetMetricData { function_name, queries, since, until: now }).await?;
        watch.errors.extend(counts);
    }
    Ok(())
}

/// Plans `snapshot`; when the plan asks for CloudWatch's answers (a rollout starting or in
/// progress), reads them into `watch` and plans again with them.
async fn plan_watched<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    snapshot: &Snapshot,
    skills: Option<&[SkillObservation]>,
    now: i64,
    watch: &mut Watch,
) -> Result<Plan, AwsError> {
    let first = plan::plan(Input { owner, spec, observed: snapshot, now, skills, watch: Some(watch) });
    if first.watch.is_empty() {
        return Ok(first);
    }
    read_watch(api, spec, &first.watch, watch, now).await?;
    Ok(plan::plan(Input { owner, spec, observed: snapshot, now, skills, watch: Some(watch) }))
}

/// Observes and plans without writing.
pub async fn plan_only<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: i64,
) -> Result<(Snapshot, Plan), AwsError> {
    let snapshot = observe(api, owner, spec).await?;
    let plan = plan_watched(api, owner, spec, &snapshot, skills, now, &mut Watch::default()).await?;
    Ok((snapshot, plan))
}

/// One reconcile pass: observe, plan, execute in order, stop at the first failure.
pub async fn reconcile_once<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: i64,
) -> Result<Pass, EngineError> {
    pass(api, owner, spec, skills, now, &mut Watch::default()).await
}

/// [`reconcile_once`], with what CloudWatch said earlier in the same converge.
async fn pass<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: i64,
    watch: &mut Watch,
) -> Result<Pass, EngineError> {
    let snapshot = observe(api, owner, spec).await.map_err(EngineError::observe)?;
    let plan =
        plan_watched(api, owner, spec, &snapshot, skills, now, watch).await.map_err(EngineError::observe)?;
    let (done, predicted) = execute_predicting(api, spec, &snapshot, &plan.actions)
        .await
        .map_err(|e| EngineError::Execute(Box::new(e)))?;
    Ok(Pass { snapshot, plan, done, predicted })
}

/// The result of converging: every pass's executed actions and the final (empty) plan.
#[derive(Clone, Debug)]
pub struct Converged {
    pub done: Vec<Done>,
    pub last: Pass,
    pub passes: usize,
}

/// How many observe -> plan -> execute passes one reconcile (or one `apply` of a manifest) may
/// take: a bootstrap takes 2, a swap 3 (the swap is planned alone); more means something else
/// keeps changing AWS.
pub const MAX_PASSES: usize = 10;

/// Repeats passes until a plan has no actions (converged, or only waiting on a drain timer,
/// or blocked on something only a person can fix). A failed precondition re-observes.
/// `skills`: an Alexa-aware set's skills as SMAPI reports them (observed once by the caller).
///
/// After a pass that wrote, the plan for the predicted state (the observed one with AWS's
/// answers applied) decides: empty, and the set has converged without a confirming observe
/// (the property tests check that a fresh observe then plans nothing); otherwise the next pass
/// observes afresh, so every write of it carries current RevisionIds. `last.snapshot` is then
/// the predicted state.
pub async fn converge<A: AwsApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
    skills: Option<&[SkillObservation]>,
    now: impl Fn() -> i64,
    max_passes: usize,
) -> Result<Converged, EngineError> {
    let mut all = Vec::new();
    let mut preconditions = 0;
    // CloudWatch is read once per converge: the passes after a write reuse its answers.
    let mut watch = Watch::default();
    for passes in 1..=max_passes {
        match pass(api, owner, spec, skills, now(), &mut watch).await {
            Ok(pass) => {
                all.extend(pass.done.iter().cloned());
                if pass.plan.actions.is_empty() {
                    return Ok(Converged { done: all, last: pass, passes });
                }
                let mut next =
                    match plan_watched(api, owner, spec, &pass.predicted, skills, now(), &mut watch).await {
                        Ok(next) => next,
                        Err(error) => return Err(EngineError::Observe { error, done: all }),
                    };
                // The pass that rolled back knew why (the alarm, the error rate); the plan after
                // it only knows that the version was rejected.
                if let (Outcome::RolledBack { .. }, Outcome::RolledBack { .. }) =
                    (&next.outcome, &pass.plan.outcome)
                {
                    next.outcome = pass.plan.outcome.clone();
                }
                if next.actions.is_empty() {
                    let snapshot = pass.predicted.clone();
                    let last =
                        Pass { snapshot: snapshot.clone(), plan: next, done: pass.done, predicted: snapshot };
                    return Ok(Converged { done: all, last, passes });
                }
            }
            Err(EngineError::Execute(e))
                if matches!(e.error, AwsError::PreconditionFailed { .. }) && preconditions < 3 =>
            {
                preconditions += 1;
                all.extend(e.done.iter().cloned());
            }
            // The error carries every write of this converge, not only its last pass's.
            Err(EngineError::Execute(mut e)) => {
                all.append(&mut e.done);
                e.done = all;
                return Err(EngineError::Execute(e));
            }
            Err(EngineError::Observe { error, .. }) => return Err(EngineError::Observe { error, done: all }),
            Err(e) => return Err(e),
        }
    }
    Err(EngineError::NoConvergence { passes: max_passes, done: all })
}
