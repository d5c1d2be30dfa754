//! What only the suites without a cluster use (`tests/it`): the CLI run against moto, the
//! CloudWatch client, a credentials file, and the fake SMAPI's controls for failures and rotations.

use lambda_alias_controller::alexa::{AlexaCredentials, SmapiSettings};
use lambda_alias_controller::aws::client::sdk_config;
use serde_json::json;

use super::smapi::{FakeSmapi, Stage};
use super::validation_cases::{Case, cases};
use super::*;

/// Runs the binary with `args` against moto: (exit code, stdout, stderr), within the bounds of
/// [`run_bounded`].
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let run = run_bounded(args);
    (run.code, run.stdout, run.stderr)
}

/// Whatever the input, a run ends by itself within this: a hang detector, not a speed check
/// (a normal refusal takes milliseconds).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// The child's address space: a runaway allocation fails here instead of taking the machine.
const ADDRESS_SPACE_BYTES: u64 = 1 << 30;
/// The most resident memory a run may have used (a normal run uses about 40 MiB).
const MAX_RSS_KIB: i64 = 256 * 1024;

/// One bounded run of the binary.
pub struct Bounded {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub max_rss_kib: i64,
}

/// Runs the binary against moto under [`ADDRESS_SPACE_BYTES`], and asserts it ended by itself
/// within [`DEADLINE`], by exit (not a signal), with at most [`MAX_RSS_KIB`] resident.
#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its peak memory")]
pub fn run_bounded(args: &[&str]) -> Bounded {
    use std::os::unix::process::CommandExt;
    const BIN: &str = env!("CARGO_BIN_EXE_lambda-alias-controller");
    let mut command = std::process::Command::new(BIN);
    command
        .args(args)
        .envs(moto_env())
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: ADDRESS_SPACE_BYTES, rlim_max: ADDRESS_SPACE_BYTES };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    let pid = child.id() as libc::pid_t;
    let (mut out, mut err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
    let readers = (
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = std::io::Read::read_to_end(&mut out, &mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = std::io::Read::read_to_end(&mut err, &mut s);
            s
        }),
    );
    let started = std::time::Instant::now();
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child; status and usage are valid for writes.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(reaped >= 0, "wait4: {}", std::io::Error::last_os_error());
        if reaped == pid {
            break;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{BIN} {args:?} did not end within {DEADLINE:?}: killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let stdout = String::from_utf8_lossy(&readers.0.join().expect("stdout reader")).into_owned();
    let stderr = String::from_utf8_lossy(&readers.1.join().expect("stderr reader")).into_owned();
    assert!(
        libc::WIFEXITED(status),
        "{BIN} {args:?} died by signal {} (a panic that aborts, or the memory limit)\n{stderr}",
        libc::WTERMSIG(status)
    );
    let max_rss_kib = usage.ru_maxrss;
    assert!(max_rss_kib <= MAX_RSS_KIB, "{BIN} {args:?} used {max_rss_kib} KiB resident\n{stderr}");
    Bounded { code: libc::WEXITSTATUS(status), stdout, stderr, max_rss_kib }
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
