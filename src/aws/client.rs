//! The one place that builds AWS SDK configuration and clients.
//!
//! Every AWS client in the controller and the CLI is built from [`sdk_config`], so
//! retries, timeouts, region and endpoint handling stay consistent, and tests can
//! point everything at a local emulator (moto) through `endpoint_url` or the
//! standard `AWS_ENDPOINT_URL` environment variable.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Total attempts per operation (first try + retries). Bounded so that a
/// reconcile loop fails fast and requeues instead of hanging on a sick API.
const MAX_ATTEMPTS: u32 = 4;
/// TCP/TLS connect timeout: an endpoint that does not accept a connection in
/// this time is unreachable, not slow.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound for one attempt (request sent, full response read). Lambda
/// control-plane calls are small; 30s only trips on a stuck connection.
const OPERATION_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for a whole operation including every retry and backoff, so a
/// single call can never block a reconcile for more than this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(90);

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
}

/// Loads the shared SDK configuration with our overrides applied.
///
/// The behavior version is pinned rather than `latest()` so that an SDK upgrade
/// cannot silently change defaults (retry, timeouts, checksums) under us.
/// Retries use adaptive mode, which adds client-side rate limiting on
/// throttling errors: the controller may fan out many calls to the Lambda
/// control plane, whose per-account API limits are low.
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
        .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(OPERATION_ATTEMPT_TIMEOUT)
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

/// Builds a Lambda client from a loaded configuration. Clients are cheap to
/// clone and share one connection pool, so build once and clone.
pub fn lambda_client(config: &SdkConfig) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(config)
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
        };
        let config = sdk_config(&settings).await;
        assert_eq!(config.region().map(AsRef::as_ref), Some("eu-west-3"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
        let retry = config.retry_config().expect("retry config is always set");
        assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        let timeouts = config.timeout_config().expect("timeouts are always set");
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(OPERATION_ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        // Building a client must not panic with this configuration.
        let _client = lambda_client(&config);
    }
}
