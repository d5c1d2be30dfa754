//! [`AwsError`]: what went wrong with an AWS request, in the terms the engine acts on. Each
//! implementation of the seam ([`super::Call`]) translates its failures into it.

use std::time::Duration;

use super::Operation;
use crate::api::Reason;

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
