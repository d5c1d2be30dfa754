//! Deletion: `deletionPolicy` applied behind the finalizer. `Retain` releases ownership and
//! leaves AWS as it is; `Delete` removes the set's mappings and aliases, never the function.
//! An error that retrying cannot heal lets the object go with a Warning Event; a transient one
//! keeps the finalizer and is retried (README "Finalizer").

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{Context, Error, LambdaProvider, events, key_of};
use crate::api::{DeletionPolicy, LambdaAliasSet};
use crate::aws::AwsError;
use crate::engine;
use crate::plan;

/// Errors that retrying can heal: the finalizer stays. Any other lets the object go.
fn heals(error: &AwsError) -> bool {
    matches!(
        error,
        AwsError::Throttled { .. }
            | AwsError::Unavailable { .. }
            | AwsError::PreconditionFailed { .. }
            | AwsError::Conflict { .. }
    )
}

pub(super) async fn cleanup<P: LambdaProvider>(
    obj: Arc<LambdaAliasSet>,
    ctx: &Context<P>,
) -> Result<Action, Error> {
    let key = key_of(&*obj);
    ctx.drift.forget(obj.metadata.uid.as_deref().unwrap_or(&key));
    let reference = obj.object_ref(&());
    // A set whose function or role its namespace does not allow never touched AWS and does not
    // now: deletion only releases the finalizer. One refused only for what it grants still
    // removes what it owns (README "Tenant isolation").
    let spec = match ctx.tenancy.admit_scope(&obj.namespace().unwrap_or_default(), &obj.spec) {
        Ok(spec) => spec.into_owned(),
        Err(message) => {
            let note = format!("not allowed, so AWS is left as it is: {message}");
            ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", note)).await;
            ctx.metrics.forget(&key);
            return Ok(Action::await_change());
        }
    };
    let aws = ctx.aws.client_for(&spec).await;
    let policy = obj.spec.deletion_policy;
    let give_up = |error: &AwsError| {
        format!(
            "deletionPolicy {policy:?} could not be applied ({error}); the object is released and AWS is left as it is"
        )
    };
    let snapshot = match engine::observe(&*aws, &key, &obj.spec).await {
        Ok(s) => s,
        Err(e) if heals(&e) => return Err(Error::Cleanup(e)),
        Err(e) => {
            ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", give_up(&e))).await;
            ctx.metrics.forget(&key);
            return Ok(Action::await_change());
        }
    };
    if snapshot.function.is_none() {
        let note = format!("function {} not found: nothing to clean up", obj.spec.function_name);
        ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", note)).await;
        ctx.metrics.forget(&key);
        return Ok(Action::await_change());
    }
    let actions = match policy {
        DeletionPolicy::Retain => plan::release(&key, &snapshot),
        // An Alexa-aware set never deletes the alias the skill's live stage calls: it is released
        // instead. Without the skill's state, nothing can be deleted safely: all are released.
        DeletionPolicy::Delete if obj.spec.is_alexa_aware() => {
            let function_arn = snapshot.function.as_ref().map(|f| f.function_arn.clone()).unwrap_or_default();
            let keep = match ctx.skills.observe(&obj.namespace().unwrap_or_default(), &obj.spec).await {
                Ok(skills) => plan::live_stage_aliases(&skills, &function_arn),
                Err(error) => {
                    let note = format!(
                        "deletionPolicy Delete: the skill's state is unknown ({error}), so no alias is deleted; they are released as with Retain"
                    );
                    ctx.events.publish(&reference, events::warning("CleanupSkipped", "Delete", note)).await;
                    snapshot.aliases.iter().map(|a| a.name.clone()).collect()
                }
            };
            plan::teardown(&key, &snapshot, &keep)
        }
        DeletionPolicy::Delete => plan::teardown(&key, &snapshot, &Default::default()),
    };
    match engine::execute(&*aws, &obj.spec, &snapshot, &actions).await {
        Ok(done) => {
            for d in &done {
                ctx.events.publish(&reference, events::for_action(d, obj.status.as_ref())).await;
            }
        }
        Err(e) => {
            for d in &e.done {
                ctx.events.publish(&reference, events::for_action(d, obj.status.as_ref())).await;
            }
            if heals(&e.error) {
                return Err(Error::Cleanup(e.error));
            }
            ctx.events
                .publish(&reference, events::warning("CleanupSkipped", "Delete", give_up(&e.error)))
                .await;
        }
    }
    ctx.metrics.forget(&key);
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Operation;

    #[test]
    fn only_transient_errors_keep_the_finalizer() {
        let op = Operation::DeleteAlias;
        let message = String::new();
        let heal = [
            AwsError::Throttled { operation: op, retry_after: None },
            AwsError::Unavailable { operation: op, message: message.clone() },
            AwsError::PreconditionFailed { operation: op, message: message.clone() },
            AwsError::Conflict { operation: op, message: message.clone() },
        ];
        assert!(heal.iter().all(heals));
        let give_up = [
            AwsError::NotFound { operation: op, message: message.clone() },
            AwsError::AccessDenied { operation: op, message: message.clone() },
            AwsError::Invalid { operation: op, message },
        ];
        assert!(!give_up.iter().any(heals), "{give_up:?}");
    }
}
