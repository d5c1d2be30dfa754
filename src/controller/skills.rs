//! Alexa-aware sets: the skill's state for the planner's interlock, read with the credentials
//! in the Secret the spec names (and only that Secret), from the Skill Management API.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::alexa::{AlexaCredentials, EndpointWrite, ManifestUpdate, Smapi, SmapiError};
use crate::api::Reason;
use crate::api::{AlexaSettings, LambdaAliasSetSpec};
use crate::engine::status::Health;
use crate::plan::EndpointMove;
use crate::plan::skill::SkillObservation;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the skill's state could not be read. Nothing is written to AWS without it.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    #[error(
        "spec.alexa.credentialsSecretRef: Secret {namespace}/{name} does not exist (it needs the keys clientId, clientSecret and refreshToken)"
    )]
    SecretNotFound { namespace: String, name: String },
    #[error("spec.alexa.credentialsSecretRef: cannot read Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0}")]
    Smapi(#[from] SmapiError),
}

impl SkillError {
    /// The Ready condition a reconcile ends with: a person must fix credentials, access or the
    /// skill id (Stalled, [`Reason::is_stalled`]); throttling and outages heal by retrying.
    pub fn health(&self) -> Health {
        let message = format!("the skill's state is unknown, so nothing was written: {self}");
        Health::failed(self.reason(), message)
    }

    /// The Ready reason. For SMAPI's answers that a person must fix, its metric label's text.
    pub fn reason(&self) -> Reason {
        match self {
            SkillError::SecretNotFound { .. } => Reason::CredentialsNotFound,
            SkillError::Kube { .. } => Reason::CredentialsUnreadable,
            SkillError::Smapi(e) => match e {
                SmapiError::Throttled { .. } => Reason::Throttled,
                SmapiError::Unavailable(_) | SmapiError::InvalidResponse(_) => Reason::SkillApiUnavailable,
                SmapiError::Unauthorized { .. } => Reason::SmapiUnauthorized,
                SmapiError::Forbidden { .. } => Reason::SmapiForbidden,
                SmapiError::NotFound { .. } => Reason::SmapiNotFound,
                SmapiError::InvalidCredentials { .. } | SmapiError::CredentialsFile { .. } => {
                    Reason::SmapiInvalidCredentials
                }
                SmapiError::Setup(_) => Reason::SmapiSetup,
            },
        }
    }

    /// When to look again: SMAPI's hint when throttled, slowly when a person must act.
    pub fn retry_after(&self) -> Duration {
        match self {
            SkillError::Smapi(SmapiError::Throttled { retry_after }) => {
                retry_after.unwrap_or(Duration::from_secs(30)).max(Duration::from_secs(1))
            }
            e if e.health().stalled => Duration::from_secs(300),
            _ => Duration::from_secs(30),
        }
    }
}

/// Where an Alexa-aware set's skill state comes from.
pub trait SkillSource: Send + Sync + 'static {
    /// One observation per distinct skill id of the set's Alexa triggers, in spec order.
    fn observe<'a>(
        &'a self,
        namespace: &'a str,
        spec: &'a LambdaAliasSetSpec,
    ) -> BoxFuture<'a, Result<Vec<SkillObservation>, SkillError>>;

    /// Re-points a skill's development stage (`alexa.manageDevelopmentEndpoint`): only ever
    /// the development stage.
    fn retarget<'a>(
        &'a self,
        namespace: &'a str,
        spec: &'a LambdaAliasSetSpec,
        endpoint: &'a EndpointMove,
    ) -> BoxFuture<'a, Result<EndpointWrite, SkillError>>;

    /// SMAPI's last manifest update request of a skill (`None`: none was ever made).
    fn manifest_update<'a>(
        &'a self,
        namespace: &'a str,
        spec: &'a LambdaAliasSetSpec,
        skill_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ManifestUpdate>, SkillError>>;
}

/// The real source: the Secret through the Kubernetes API, the state through SMAPI.
pub struct SmapiSkills {
    pub client: kube::Client,
    pub smapi: Smapi,
}

impl SmapiSkills {
    /// The credentials in the Secret the spec names (and only that Secret).
    async fn credentials(
        &self,
        namespace: &str,
        alexa: &AlexaSettings,
    ) -> Result<AlexaCredentials, SkillError> {
        let name = alexa.credentials_secret_ref.name.as_str();
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets
            .get_opt(name)
            .await
            .map_err(|source| SkillError::Kube { namespace: namespace.into(), name: name.into(), source })?
            .ok_or_else(|| SkillError::SecretNotFound { namespace: namespace.into(), name: name.into() })?;
        let data = secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
        Ok(AlexaCredentials::from_secret_data(&data).map_err(|e| match e {
            SmapiError::InvalidCredentials { key, problem, .. } => {
                SmapiError::InvalidCredentials { origin: format!("Secret {namespace}/{name}"), key, problem }
            }
            other => other,
        })?)
    }
}

impl SkillSource for SmapiSkills {
    fn observe<'a>(
        &'a self,
        namespace: &'a str,
        spec: &'a LambdaAliasSetSpec,
    ) -> BoxFuture<'a, Result<Vec<SkillObservation>, SkillError>> {
        Box::pin(async move {
            let Some(alexa) = &spec.alexa else { return Ok(Vec::new()) };
            let credentials = self.credentials(namespace, alexa).await?;
            observe_skills(&self.smapi, &credentials, spec).await.map_err(SkillError::Smapi)
        })
    }

    fn retarget<'a>(
        &'a self,
        namespace: &'a str,
        spec: &'a LambdaAliasSetSpec,
        endpoint: &'a EndpointMove,
    ) -> BoxFuture<'a, Result<EndpointWrite, SkillError>> {
        Box::pin(async move {
            let Some(alexa) = &spec.alexa else { return Ok(EndpointWrite::Unchanged) };
            let credentials = self.credentials(namespace, alexa).await?;
            let uri = endpoint.alias_arn();
            let write = self.smapi.retarget_development(
                &credentials,
                &endpoint.skill_id,
                &endpoint.function_arn,
                &uri,
            );
            Ok(write.await?)
        })
    }

    fn manifest_update<'a>(
        &'a self,
        namespace: &'a str,
        spec: &'a LambdaAliasSetSpec,
        skill_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ManifestUpdate>, SkillError>> {
        Box::pin(async move {
            let Some(alexa) = &spec.alexa else { return Ok(None) };
            let credentials = self.credentials(namespace, alexa).await?;
            Ok(self.smapi.manifest_update(&credentials, skill_id).await?)
        })
    }
}

/// Observes every skill of the set's Alexa triggers with one set of credentials (the CLI's
/// `--alexa-credentials` and the controller's Secret alike).
pub async fn observe_skills(
    smapi: &Smapi,
    credentials: &AlexaCredentials,
    spec: &LambdaAliasSetSpec,
) -> Result<Vec<SkillObservation>, SmapiError> {
    let mut skills = Vec::new();
    for skill_id in spec.skill_ids() {
        skills.push(smapi.observe(credentials, skill_id).await?);
    }
    Ok(skills)
}

/// For tests: a fixed answer.
#[cfg(test)]
pub struct FixedSkills(pub std::sync::Mutex<Result<Vec<SkillObservation>, String>>);

#[cfg(test)]
impl SkillSource for FixedSkills {
    fn observe<'a>(
        &'a self,
        _namespace: &'a str,
        _spec: &'a LambdaAliasSetSpec,
    ) -> BoxFuture<'a, Result<Vec<SkillObservation>, SkillError>> {
        let answer = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move { answer.map_err(|e| SkillError::Smapi(SmapiError::Unavailable(e))) })
    }

    /// The request-level tests never opt in to manageDevelopmentEndpoint: a write is an error.
    fn retarget<'a>(
        &'a self,
        _namespace: &'a str,
        _spec: &'a LambdaAliasSetSpec,
        _endpoint: &'a EndpointMove,
    ) -> BoxFuture<'a, Result<EndpointWrite, SkillError>> {
        Box::pin(async { Err(SkillError::Smapi(SmapiError::Setup("FixedSkills writes nothing".into()))) })
    }

    fn manifest_update<'a>(
        &'a self,
        _namespace: &'a str,
        _spec: &'a LambdaAliasSetSpec,
        _skill_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ManifestUpdate>, SkillError>> {
        Box::pin(async { Ok(None) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_of_what_a_person_must_fix_are_smapis_metric_labels() {
        let must_fix = [
            SmapiError::Unauthorized { detail: String::new() },
            SmapiError::Forbidden { skill_id: String::new() },
            SmapiError::NotFound { skill_id: String::new() },
            SmapiError::InvalidCredentials {
                origin: String::new(),
                key: String::new(),
                problem: String::new(),
            },
            SmapiError::CredentialsFile { origin: String::new(), reason: String::new() },
            SmapiError::Setup(String::new()),
        ];
        for e in must_fix {
            let label = e.metric_label();
            let health = SkillError::Smapi(e).health();
            assert_eq!(health.reason, label);
            assert!(health.stalled && !health.reconciling && !health.ready, "{label}");
        }
        let heals = [
            (SkillError::Smapi(SmapiError::Throttled { retry_after: None }), "Throttled"),
            (SkillError::Smapi(SmapiError::Unavailable(String::new())), "SkillApiUnavailable"),
            (SkillError::Smapi(SmapiError::InvalidResponse(String::new())), "SkillApiUnavailable"),
        ];
        for (e, reason) in heals {
            let health = e.health();
            assert_eq!(health.reason, reason);
            assert!(!health.stalled && health.reconciling, "{reason}");
        }
        let missing = SkillError::SecretNotFound { namespace: "n".into(), name: "s".into() }.health();
        assert_eq!((missing.reason, missing.stalled), (Reason::CredentialsNotFound, true));
    }
}
