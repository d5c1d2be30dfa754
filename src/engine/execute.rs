//! Execute: a plan's actions in order through the AWS seam, stopping at the first failure, and
//! the effect each write has on the snapshot (so a pass can predict what the next observe sees).

use crate::api::LambdaAliasSetSpec;
use crate::aws::{
    AddPermission, AwsError, CreateAlias, CreateMapping, DeleteAlias, DeleteMapping, DeleteVersion,
    DeleteWarm, LambdaApi, PublishVersion, PutWarm, RemovePermission, UpdateAlias, UpdateMapping,
};
use crate::plan::{Action, Snapshot, VersionRef};

/// One executed action, with what it resolved to (e.g. the published version number).
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    pub action: Action,
    pub detail: String,
}

/// Executing stopped at `index` of the failing pass's actions. `done` holds what was written:
/// the actions before `index`, and from [`converge`](super::converge()) every earlier pass's too.
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
