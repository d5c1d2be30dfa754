//! The Lambda operations the controller uses, as a trait: implemented over the AWS SDK
//! ([`super::sdk::SdkLambda`]) and by a faithful in-memory fake (`FakeLambda`, for tests) that
//! enforces the rules moto ignores. Observation and execution ([`crate::engine`]) are written
//! once against this trait, so the fake exercises the same code that talks to AWS.
//!
//! `function` arguments are what the user wrote in `spec.functionName` (name, partial ARN or
//! ARN, never qualified); qualifiers are passed separately.

use std::{fmt, future::Future, time::Duration};

use crate::plan::{AliasInfo, FunctionInfo, MappingInfo, PolicyInfo, Reason, Statement, VersionInfo};

#[derive(Clone, Debug, PartialEq)]
pub struct CreateMapping {
    /// The qualified alias ARN the mapping invokes.
    pub function_arn: String,
    pub event_source_arn: String,
    pub batch_size: Option<u32>,
    pub enabled: bool,
    /// `TRIM_HORIZON` or `LATEST`, for streams.
    pub starting_position: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpdateMapping {
    pub uuid: String,
    /// Moves the mapping to another qualified function ARN (a swap moves `Live` mappings).
    pub function_arn: Option<String>,
    pub batch_size: Option<u32>,
    pub enabled: Option<bool>,
}

/// The Lambda control-plane operations, by the name the IAM policy uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    GetFunction,
    ListVersionsByFunction,
    ListAliases,
    GetPolicy,
    ListEventSourceMappings,
    PublishVersion,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    AddPermission,
    RemovePermission,
    CreateEventSourceMapping,
    UpdateEventSourceMapping,
    DeleteEventSourceMapping,
    DeleteFunction,
}

impl Operation {
    /// Operations that only read: safe to retry after a transient failure, and not writes for
    /// the fake's crash injection.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Operation::GetFunction
                | Operation::ListVersionsByFunction
                | Operation::ListAliases
                | Operation::GetPolicy
                | Operation::ListEventSourceMappings
        )
    }

    pub const ALL: [Operation; 15] = [
        Operation::GetFunction,
        Operation::ListVersionsByFunction,
        Operation::ListAliases,
        Operation::GetPolicy,
        Operation::ListEventSourceMappings,
        Operation::PublishVersion,
        Operation::CreateAlias,
        Operation::UpdateAlias,
        Operation::DeleteAlias,
        Operation::AddPermission,
        Operation::RemovePermission,
        Operation::CreateEventSourceMapping,
        Operation::UpdateEventSourceMapping,
        Operation::DeleteEventSourceMapping,
        Operation::DeleteFunction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::GetFunction => "GetFunction",
            Operation::ListVersionsByFunction => "ListVersionsByFunction",
            Operation::ListAliases => "ListAliases",
            Operation::GetPolicy => "GetPolicy",
            Operation::ListEventSourceMappings => "ListEventSourceMappings",
            Operation::PublishVersion => "PublishVersion",
            Operation::CreateAlias => "CreateAlias",
            Operation::UpdateAlias => "UpdateAlias",
            Operation::DeleteAlias => "DeleteAlias",
            Operation::AddPermission => "AddPermission",
            Operation::RemovePermission => "RemovePermission",
            Operation::CreateEventSourceMapping => "CreateEventSourceMapping",
            Operation::UpdateEventSourceMapping => "UpdateEventSourceMapping",
            Operation::DeleteEventSourceMapping => "DeleteEventSourceMapping",
            Operation::DeleteFunction => "DeleteFunction",
        }
    }

    /// The IAM action that authorises this operation.
    pub fn iam_action(self) -> String {
        match self {
            // Deleting a version is DeleteFunction with a qualifier.
            Operation::DeleteFunction => "lambda:DeleteFunction".to_string(),
            // The Lambda API calls these ListVersionsByFunction etc.; IAM uses the same names.
            other => format!("lambda:{}", other.name()),
        }
    }

    /// GetFunction has its own, larger quota (100 req/s); everything else shares 15 req/s.
    pub fn is_get_function(self) -> bool {
        matches!(self, Operation::GetFunction)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What went wrong, in the terms the engine acts on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AwsError {
    /// ResourceNotFoundException (function, alias, version, policy, statement or mapping).
    #[error("{operation}: not found: {message}")]
    NotFound { operation: Operation, message: String },
    /// PreconditionFailedException: a RevisionId or CodeSha256 precondition did not hold.
    /// The engine re-observes instead of overwriting.
    #[error("{operation}: precondition failed (someone else changed it): {message}")]
    PreconditionFailed { operation: Operation, message: String },
    /// ResourceConflictException: already exists, or an update is in progress.
    #[error("{operation}: conflict: {message}")]
    Conflict { operation: Operation, message: String },
    /// AccessDeniedException and friends: names the IAM action to grant.
    #[error("{operation}: access denied: grant {} to the controller's role ({message})", operation.iam_action())]
    AccessDenied { operation: Operation, message: String },
    /// TooManyRequestsException, with the server's retry hint when it gave one.
    #[error("{operation}: throttled by AWS{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    Throttled { operation: Operation, retry_after: Option<Duration> },
    /// InvalidParameterValueException and other client errors: the request itself is wrong.
    #[error("{operation}: invalid request: {message}")]
    Invalid { operation: Operation, message: String },
    /// 5xx, timeouts, connection errors: transient, retry later.
    #[error("{operation}: AWS unavailable: {message}")]
    Unavailable { operation: Operation, message: String },
}

impl AwsError {
    pub fn operation(&self) -> Operation {
        match self {
            AwsError::NotFound { operation, .. }
            | AwsError::PreconditionFailed { operation, .. }
            | AwsError::Conflict { operation, .. }
            | AwsError::AccessDenied { operation, .. }
            | AwsError::Throttled { operation, .. }
            | AwsError::Invalid { operation, .. }
            | AwsError::Unavailable { operation, .. } => *operation,
        }
    }

    /// A low-cardinality label for metrics and the Ready condition's reason.
    pub fn reason(&self) -> Reason {
        match self {
            AwsError::NotFound { .. } => Reason::NotFound,
            AwsError::PreconditionFailed { .. } => Reason::PreconditionFailed,
            AwsError::Conflict { .. } => Reason::Conflict,
            AwsError::AccessDenied { .. } => Reason::AccessDenied,
            AwsError::Throttled { .. } => Reason::Throttled,
            AwsError::Invalid { .. } => Reason::InvalidRequest,
            AwsError::Unavailable { .. } => Reason::Unavailable,
        }
    }
}

pub type AwsResult<T> = Result<T, AwsError>;

/// What surrounds each request a [`LambdaApi`] call sends: `request` is one HTTP request to AWS
/// (one call of the fake), and may be called again to retry it. [`super::budget::Metered`] takes
/// a token from the budget, counts the outcome and retries around each call; [`Direct`] sends
/// once. A listing of several pages passes each page's request through here (the `*_via`
/// methods of [`LambdaApi`]), so that a page is budgeted, counted and retried like any call.
pub trait Requests: Sync {
    fn send<T, F, Fut>(&self, operation: Operation, request: F) -> impl Future<Output = AwsResult<T>> + Send
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = AwsResult<T>> + Send;
}

/// Sends each request once: no budget, no count, no retry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Direct;

impl Requests for Direct {
    async fn send<T, F, Fut>(&self, _operation: Operation, mut request: F) -> AwsResult<T>
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = AwsResult<T>> + Send,
    {
        request().await
    }
}

/// The Lambda control plane, one method per operation. Implementations translate errors into
/// [`AwsError`] and follow pagination themselves; they do not retry (the one retry layer is
/// [`super::budget::Metered`]).
pub trait LambdaApi: Send + Sync {
    /// GetFunction without qualifier. `NotFound` when the function does not exist.
    fn get_function(&self, function: &str) -> impl Future<Output = AwsResult<FunctionInfo>> + Send;
    /// ListVersionsByFunction, every page, without `$LATEST`.
    fn list_versions(&self, function: &str) -> impl Future<Output = AwsResult<Vec<VersionInfo>>> + Send;
    /// ListAliases, every page.
    fn list_aliases(&self, function: &str) -> impl Future<Output = AwsResult<Vec<AliasInfo>>> + Send;
    /// GetPolicy for one qualifier; `None` when the qualifier has no policy.
    fn get_policy(
        &self,
        function: &str,
        qualifier: &str,
    ) -> impl Future<Output = AwsResult<Option<PolicyInfo>>> + Send;
    /// ListEventSourceMappings for one qualified function ARN, every page.
    fn list_mappings(&self, qualified_arn: &str) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send;
    /// ListEventSourceMappings for one event source (every function's mappings of it), every
    /// page. AWS matches `FunctionName` exactly, so this is the one listing that covers every
    /// alias of a set at once: the drift check lists each declared source once.
    fn list_mappings_for_source(
        &self,
        event_source_arn: &str,
    ) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send;
    /// PublishVersion of `$LATEST` with the CodeSha256 and RevisionId preconditions. Publishing
    /// an unchanged `$LATEST` returns the existing version, as AWS does.
    fn publish_version(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
        description: Option<&str>,
    ) -> impl Future<Output = AwsResult<VersionInfo>> + Send;
    fn create_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
    ) -> impl Future<Output = AwsResult<AliasInfo>> + Send;
    /// UpdateAlias with the alias's RevisionId as precondition. Clears any routing config: an
    /// owned alias points at exactly one version.
    fn update_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
        revision_id: Option<&str>,
    ) -> impl Future<Output = AwsResult<AliasInfo>> + Send;
    fn delete_alias(&self, function: &str, name: &str) -> impl Future<Output = AwsResult<()>> + Send;
    /// AddPermission on one qualifier, with the policy's RevisionId as precondition when given.
    fn add_permission(
        &self,
        function: &str,
        qualifier: &str,
        statement: &Statement,
        revision_id: Option<&str>,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    /// RemovePermission, without a RevisionId (moto answers 412 to any that carries one).
    fn remove_permission(
        &self,
        function: &str,
        qualifier: &str,
        sid: &str,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    fn create_mapping(&self, request: &CreateMapping) -> impl Future<Output = AwsResult<MappingInfo>> + Send;
    fn update_mapping(&self, request: &UpdateMapping) -> impl Future<Output = AwsResult<MappingInfo>> + Send;
    fn delete_mapping(&self, uuid: &str) -> impl Future<Output = AwsResult<()>> + Send;
    /// DeleteFunction with a version qualifier (never unqualified: the function is never deleted).
    fn delete_version(&self, function: &str, version: u64) -> impl Future<Output = AwsResult<()>> + Send;

    /// [`Self::list_versions`] with every request it sends passed through `requests`. By default
    /// the whole listing is one request; an implementation that pages sends one per page.
    fn list_versions_via(
        &self,
        function: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<VersionInfo>>> + Send {
        requests.send(Operation::ListVersionsByFunction, move || self.list_versions(function))
    }
    /// [`Self::list_aliases`] with every request it sends passed through `requests`.
    fn list_aliases_via(
        &self,
        function: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<AliasInfo>>> + Send {
        requests.send(Operation::ListAliases, move || self.list_aliases(function))
    }
    /// [`Self::list_mappings`] with every request it sends passed through `requests`.
    fn list_mappings_via(
        &self,
        qualified_arn: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send {
        requests.send(Operation::ListEventSourceMappings, move || self.list_mappings(qualified_arn))
    }
    /// [`Self::list_mappings_for_source`] with every request it sends passed through `requests`.
    fn list_mappings_for_source_via(
        &self,
        event_source_arn: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send {
        requests
            .send(Operation::ListEventSourceMappings, move || self.list_mappings_for_source(event_source_arn))
    }
}

/// A shared client is a client: the controller hands one `Arc` to many reconciles.
impl<T: LambdaApi> LambdaApi for std::sync::Arc<T> {
    fn get_function(&self, function: &str) -> impl Future<Output = AwsResult<FunctionInfo>> + Send {
        (**self).get_function(function)
    }
    fn list_versions(&self, function: &str) -> impl Future<Output = AwsResult<Vec<VersionInfo>>> + Send {
        (**self).list_versions(function)
    }
    fn list_aliases(&self, function: &str) -> impl Future<Output = AwsResult<Vec<AliasInfo>>> + Send {
        (**self).list_aliases(function)
    }
    fn get_policy(
        &self,
        function: &str,
        qualifier: &str,
    ) -> impl Future<Output = AwsResult<Option<PolicyInfo>>> + Send {
        (**self).get_policy(function, qualifier)
    }
    fn list_mappings(&self, qualified_arn: &str) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send {
        (**self).list_mappings(qualified_arn)
    }
    fn list_mappings_for_source(
        &self,
        event_source_arn: &str,
    ) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send {
        (**self).list_mappings_for_source(event_source_arn)
    }
    fn publish_version(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
        description: Option<&str>,
    ) -> impl Future<Output = AwsResult<VersionInfo>> + Send {
        (**self).publish_version(function, code_sha256, revision_id, description)
    }
    fn create_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
    ) -> impl Future<Output = AwsResult<AliasInfo>> + Send {
        (**self).create_alias(function, name, version, description)
    }
    fn update_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
        revision_id: Option<&str>,
    ) -> impl Future<Output = AwsResult<AliasInfo>> + Send {
        (**self).update_alias(function, name, version, description, revision_id)
    }
    fn delete_alias(&self, function: &str, name: &str) -> impl Future<Output = AwsResult<()>> + Send {
        (**self).delete_alias(function, name)
    }
    fn add_permission(
        &self,
        function: &str,
        qualifier: &str,
        statement: &Statement,
        revision_id: Option<&str>,
    ) -> impl Future<Output = AwsResult<()>> + Send {
        (**self).add_permission(function, qualifier, statement, revision_id)
    }
    fn remove_permission(
        &self,
        function: &str,
        qualifier: &str,
        sid: &str,
    ) -> impl Future<Output = AwsResult<()>> + Send {
        (**self).remove_permission(function, qualifier, sid)
    }
    fn create_mapping(&self, request: &CreateMapping) -> impl Future<Output = AwsResult<MappingInfo>> + Send {
        (**self).create_mapping(request)
    }
    fn update_mapping(&self, request: &UpdateMapping) -> impl Future<Output = AwsResult<MappingInfo>> + Send {
        (**self).update_mapping(request)
    }
    fn delete_mapping(&self, uuid: &str) -> impl Future<Output = AwsResult<()>> + Send {
        (**self).delete_mapping(uuid)
    }
    fn delete_version(&self, function: &str, version: u64) -> impl Future<Output = AwsResult<()>> + Send {
        (**self).delete_version(function, version)
    }
    fn list_versions_via(
        &self,
        function: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<VersionInfo>>> + Send {
        (**self).list_versions_via(function, requests)
    }
    fn list_aliases_via(
        &self,
        function: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<AliasInfo>>> + Send {
        (**self).list_aliases_via(function, requests)
    }
    fn list_mappings_via(
        &self,
        qualified_arn: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send {
        (**self).list_mappings_via(qualified_arn, requests)
    }
    fn list_mappings_for_source_via(
        &self,
        event_source_arn: &str,
        requests: &impl Requests,
    ) -> impl Future<Output = AwsResult<Vec<MappingInfo>>> + Send {
        (**self).list_mappings_for_source_via(event_source_arn, requests)
    }
}
