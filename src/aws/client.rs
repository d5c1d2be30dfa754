//! The one place that builds AWS SDK configuration and clients.
//!
//! Every AWS client in the controller and the CLI is built from [`sdk_config`], so
//! retries (none: see there), timeouts, region and endpoint handling stay consistent, and tests can
//! point everything at a local emulator (moto) through `endpoint_url` or the
//! standard `AWS_ENDPOINT_URL` environment variable.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_lambda::config::SharedCredentialsProvider;

/// TCP/TLS connect timeout: an endpoint that does not accept a connection in
/// this time is unreachable, not slow.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound for one request (sent, full response read). Lambda control-plane calls are
/// small; 30s only trips on a stuck connection. The SDK makes one attempt per operation, so
/// this bounds the operation too.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of an STS call (AssumeRole) before credentials are reported unavailable. STS is not
/// the Lambda budget's concern: it is called about once an hour per role.
const STS_MAX_ATTEMPTS: u32 = 3;
/// RoleSessionName for assumed roles: what CloudTrail shows as the caller. The controller's
/// drift events tell its own writes by it (README "Drift events"), so the CLI uses another.
pub const SESSION_NAME: &str = "lambda-alias-controller";
/// RoleSessionName of the CLI's `plan` and `apply`: their writes are not the controller's.
pub const CLI_SESSION_NAME: &str = "lambda-alias-controller-cli";

/// Caller-supplied overrides on top of the standard AWS configuration chain
/// (environment variables, shared config/credentials files, web identity,
/// IMDS, ...). Every field is optional: `None` means "let the default chain decide".
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Region override, e.g. `eu-west-1`. Otherwise `AWS_REGION` / the profile.
    pub region: Option<String>,
    /// Endpoint override for all services, e.g. `http://127.0.0.1:5000` for
    /// moto. Without it, `AWS_ENDPOINT_URL` (and the per-service variants) still
    /// apply through the default chain.
    pub endpoint_url: Option<String>,
    /// Named profile from the shared config files. Otherwise `AWS_PROFILE`.
    pub profile: Option<String>,
    /// RoleSessionName of assumed roles; `None`: [`SESSION_NAME`].
    pub session_name: Option<&'static str>,
}

/// Loads the shared SDK configuration with our overrides applied.
///
/// The behavior version is pinned rather than `latest()` so that an SDK upgrade
/// cannot silently change defaults (retry, timeouts, checksums) under us.
///
/// The SDK does not retry (`RetryConfig::disabled()`): one SDK call is one HTTP request, and
/// [`super::budget::Metered`] is the one retry layer. Each of its attempts, and each page of a
/// listing, takes a token from the budget of the account+region and is counted by operation and
/// outcome; a throttle pauses the pool for every set of the account+region, for AWS's hint.
/// Why not the SDK's retries routed through the budget: its hooks (interceptors, the retry
/// strategy) are synchronous, so an attempt cannot wait there for a token shared by every
/// client of the account+region; its own rate limiter and retry tokens know neither the
/// account nor Lambda's three quota pools; and each outcome label would have to be rebuilt from
/// the raw response, where `Metered` has the mapped [`super::AwsError`]. With one layer, the
/// fake-backed tests exercise the very retry code production runs. (Two stacked
/// layers multiplied requests, 4 SDK attempts under each of `Metered`'s 4, and hid three in
/// four from the budget and the metrics.)
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    // The profile is set first: it decides where region and credentials come from
    // unless they are overridden explicitly below.
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile.clone());
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint_url) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint_url.clone());
    }
    loader.load().await
}

/// Configuration for one target: [`sdk_config`] with the region overridden when `region` is
/// given, and, when `role_arn` is given, credentials from assuming that role (with
/// `external_id` when given). STS is called with the base configuration (same endpoint and
/// timeouts) and the base credentials, with the SDK's standard retries: STS requests are not
/// Lambda's and do not go through `Metered`. The assumed credentials are cached and refreshed
/// before they expire by the configuration's identity cache.
pub async fn sdk_config_for(
    settings: &AwsSettings,
    region: Option<&str>,
    role_arn: Option<&str>,
    external_id: Option<&str>,
) -> SdkConfig {
    let base = match region {
        Some(region) => {
            sdk_config(&AwsSettings { region: Some(region.to_owned()), ..settings.clone() }).await
        }
        None => sdk_config(settings).await,
    };
    let Some(role_arn) = role_arn else {
        return base;
    };
    let sts =
        base.to_builder().retry_config(RetryConfig::standard().with_max_attempts(STS_MAX_ATTEMPTS)).build();
    let mut provider = AssumeRoleProvider::builder(role_arn)
        .configure(&sts)
        .session_name(settings.session_name.unwrap_or(SESSION_NAME));
    if let Some(external_id) = external_id {
        provider = provider.external_id(external_id);
    }
    let provider = provider.build().await;
    base.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
}

/// Who the configuration's own credentials are (STS GetCallerIdentity), for `--tenancy strict`:
/// a bare function name belongs to this account and partition.
pub async fn caller(config: &SdkConfig) -> Result<crate::tenancy::Caller, String> {
    caller_identity(config).await.map(|(caller, _)| caller)
}

/// [`caller`], and the ARN of the credentials (what CloudTrail shows as `userIdentity.arn` of
/// the controller's own calls).
pub async fn caller_identity(config: &SdkConfig) -> Result<(crate::tenancy::Caller, String), String> {
    let sts =
        config.to_builder().retry_config(RetryConfig::standard().with_max_attempts(STS_MAX_ATTEMPTS)).build();
    let out = aws_sdk_sts::Client::new(&sts).get_caller_identity().send().await.map_err(|e| {
        format!(
            "cannot tell which account the AWS credentials belong to (sts:GetCallerIdentity): {}",
            aws_sdk_sts::error::DisplayErrorContext(&e)
        )
    })?;
    let account = out.account().unwrap_or_default().to_string();
    let partition = out.arn().and_then(|arn| arn.split(':').nth(1)).unwrap_or("aws").to_string();
    if account.is_empty() {
        return Err("sts:GetCallerIdentity returned no account".to_string());
    }
    let arn = out.arn().unwrap_or_default().to_string();
    Ok((
        crate::tenancy::Caller { partition, account, default_region: config.region().map(|r| r.to_string()) },
        arn,
    ))
}

/// Builds a Lambda client from a loaded configuration. Clients are cheap to
/// clone and share one connection pool, so build once and clone.
pub fn lambda_client(config: &SdkConfig) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(config)
}

/// The CloudWatch client of the same configuration (`spec.rollout`'s alarms and metrics).
pub fn cloudwatch_client(config: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(config)
}

/// The SQS client of a configuration: drift events' queue (`--drift-events-queue`).
pub fn sqs_client(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overrides_are_applied() {
        let settings = AwsSettings {
            region: Some("eu-west-3".to_owned()),
            endpoint_url: Some("http://127.0.0.1:1".to_owned()),
            profile: None,
            session_name: None,
        };
        let config = sdk_config(&settings).await;
        assert_eq!(config.region().map(AsRef::as_ref), Some("eu-west-3"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
        let retry = config.retry_config().expect("retry config is always set");
        assert_eq!(retry.max_attempts(), 1, "the SDK makes one attempt: Metered is the one retry layer");
        let timeouts = config.timeout_config().expect("timeouts are always set");
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        // Building a client must not panic with this configuration.
        let _client = lambda_client(&config);
    }

    #[tokio::test]
    async fn sdk_config_for_overrides_region_and_keeps_the_rest() {
        let settings = AwsSettings {
            region: Some("eu-west-3".to_owned()),
            endpoint_url: Some("http://127.0.0.1:1".to_owned()),
            profile: None,
            session_name: None,
        };
        let plain = sdk_config_for(&settings, None, None, None).await;
        assert_eq!(plain.region().map(AsRef::as_ref), Some("eu-west-3"));
        let config = sdk_config_for(
            &settings,
            Some("ap-south-1"),
            Some("arn:aws:iam::123456789012:role/r"),
            Some("x"),
        )
        .await;
        assert_eq!(config.region().map(AsRef::as_ref), Some("ap-south-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
        assert_eq!(
            config.retry_config().map(|r| r.max_attempts()),
            Some(1),
            "Lambda requests are not retried by the SDK"
        );
        assert_eq!(config.timeout_config().and_then(|t| t.operation_timeout()), Some(OPERATION_TIMEOUT));
        assert!(config.credentials_provider().is_some());
    }
}
