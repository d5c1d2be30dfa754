//! The one translation of SDK errors into [`AwsError`]: what the engine sees of a failed request.

use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use crate::aws::{AwsError, Operation};

/// Longest message kept from an AWS error: enough for the code and the reason, short enough for
/// a status condition.
const MAX_MESSAGE_CHARS: usize = 300;

/// Translates an SDK error into [`AwsError`]: the one place that decides what the engine sees.
/// The operation error is converted into the service-wide [`aws_sdk_lambda::Error`] so that
/// every operation's throttling error exposes its `retryAfterSeconds` the same way.
pub fn map_error<E>(operation: Operation, error: SdkError<E, HttpResponse>) -> AwsError
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
        other => not_answered(operation, other),
    }
}

/// [`map_error`] for CloudWatch's operations (and SQS's): their errors carry a code and a message, and its
/// throttling (`Throttling`, HTTP 400) no retry hint.
pub fn map_cloudwatch_error<E>(operation: Operation, error: SdkError<E, HttpResponse>) -> AwsError
where
    E: StdError + ProvideErrorMetadata + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let header_retry = context.raw().headers().get("Retry-After").and_then(parse_seconds);
            let service_error = context.into_err();
            let message =
                service_error.message().map(str::to_owned).unwrap_or_else(|| service_error.to_string());
            classify(operation, status, service_error.code(), &message, header_retry)
        }
        other => not_answered(operation, other),
    }
}

/// An SDK error that is not the service's answer: a timeout, a request not sent (credentials
/// included), a response that could not be read.
fn not_answered<E>(operation: Operation, error: SdkError<E, HttpResponse>) -> AwsError
where
    E: StdError + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(_) => {
            AwsError::Unavailable { operation, message: short(crate::error_chain(&error)) }
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
        "ResourceNotFoundException" | "ProvisionedConcurrencyConfigNotFoundException" => {
            AwsError::NotFound { operation, message }
        }
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
}
