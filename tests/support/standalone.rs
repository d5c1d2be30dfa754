//! What only the suites without a cluster use (`tests/it`): the CLI run against moto, the
//! CloudWatch client, a credentials file, and the fake SMAPI's controls for failures and rotations.

use lambda_alias_controller::alexa::{AlexaCredentials, SmapiSettings};
use lambda_alias_controller::aws::client::sdk_config;
use serde_json::json;

use super::smapi::{FakeSmapi, Stage};
use super::validation_cases::{Case, cases};
use super::*;

/// Runs the binary with `args` against moto: (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    const BIN: &str = env!("CARGO_BIN_EXE_lambda-alias-controller");
    let output = std::process::Command::new(BIN)
        .args(args)
        .envs(moto_env())
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    let code = output.status.code().unwrap_or_else(|| panic!("{BIN} {args:?} died by a signal"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (code, stdout, stderr)
}

/// A CloudWatch client for moto, as [`lambda`] (same builder, same settings).
pub async fn cloudwatch() -> aws_sdk_cloudwatch::Client {
    lambda_alias_controller::aws::client::cloudwatch_client(&sdk_config(&aws_settings()).await)
}

/// A YAML credentials file's content (`--alexa-credentials FILE`).
pub fn credentials_yaml(credentials: &AlexaCredentials) -> String {
    format!(
        "clientId: {}\nclientSecret: {}\nrefreshToken: {}\n",
        json!(credentials.client_id),
        json!(credentials.client_secret),
        json!(credentials.refresh_token)
    )
}

/// The case with this name (for a test that asserts more about it than its verdict).
pub fn named(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case named {name:?}"))
}

impl Stage {
    /// A smart home skill's stage calling `uri`.
    pub fn smart_home(uri: &str) -> Stage {
        Stage { kind: "smartHome", uri: Some(uri.to_string()), regions: Vec::new() }
    }

    /// Drops the default endpoint (a manifest with per-region endpoints only).
    pub fn without_default(mut self) -> Stage {
        self.uri = None;
        self
    }
}

impl FakeSmapi {
    /// Settings that point the crate's SMAPI client at the fake.
    pub fn settings(&self) -> SmapiSettings {
        SmapiSettings { smapi_endpoint: self.url(), lwa_endpoint: self.lwa_url(), ..SmapiSettings::default() }
    }

    /// A second refresh token for the same LWA client (another authorization by a user of
    /// `vendor`), as when a Secret is rotated: same client id and secret, new refresh token.
    pub fn another_refresh_token(&self, credentials: &AlexaCredentials, vendor: &str) -> AlexaCredentials {
        let rotated =
            AlexaCredentials { refresh_token: super::unique_name("Atzr|refresh"), ..credentials.clone() };
        self.control(
            "POST",
            "/_fake/clients",
            &json!({
                "clientId": rotated.client_id,
                "clientSecret": rotated.client_secret,
                "refreshToken": rotated.refresh_token,
                "vendorId": vendor,
            }),
        );
        rotated
    }

    /// [`Self::submit`] with `skillSubmissionTimestamp` = `unix_seconds` (fractions allowed).
    pub fn submit_at(&self, skill_id: &str, unix_seconds: f64) -> String {
        self.submit_body(skill_id, json!({"submittedAt": unix_seconds}))
    }

    /// The review in progress is withdrawn (CANCELLED).
    pub fn cancel(&self, skill_id: &str) {
        self.control("POST", &format!("/_fake/skills/{skill_id}/cancel"), &json!({}));
    }

    /// The next `count` SMAPI calls for the skill answer 429 with `Retry-After: retry_after_secs`.
    pub fn throttle(&self, skill_id: &str, count: u32, retry_after_secs: u32) {
        let body = json!({"count": count, "retryAfter": retry_after_secs});
        self.control("POST", &format!("/_fake/skills/{skill_id}/throttle"), &body);
    }

    /// The next `count` SMAPI calls for the skill answer `status` (5xx).
    pub fn outage(&self, skill_id: &str, count: u32, status: u16) {
        let body = json!({"count": count, "status": status});
        self.control("POST", &format!("/_fake/skills/{skill_id}/outage"), &body);
    }

    /// Every access token issued to the client expires now, on the server side only (the client's
    /// cache still holds it, as after a server-side revocation).
    pub fn expire_tokens(&self, client_id: &str) {
        self.control(
            "POST",
            &format!("/_fake/clients/{}/expire-tokens", super::url_encode(client_id)),
            &json!({}),
        );
    }

    /// How many token requests (granted or refused) the client has made to LWA.
    pub fn token_requests(&self, client_id: &str) -> usize {
        self.count("lwa", &format!("clientId={}", super::url_encode(client_id)))
    }

    /// The SMAPI calls made for the skill, oldest first: `(status, path with query)`.
    pub fn smapi_calls(&self, skill_id: &str) -> Vec<(u16, String)> {
        self.requests(skill_id)
            .iter()
            .map(|r| {
                let status = r["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
                (status, r["path"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    }
}
