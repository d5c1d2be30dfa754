//! The fake Alexa Skill Management API + Login with Amazon (`fake_smapi.py`), one per test binary.
//!
//! [`fake_smapi()`] starts it on a free loopback port the first time, from the venv Python (the
//! one moto runs from: Flask comes with it), and stops it at exit, like moto in `super`. Tests
//! share it, so each one makes its own vendor, client and skill ids ([`unique_skill_id`],
//! [`FakeSmapi::client`]); throttles, outages, token expiry and request counts are per skill or
//! per client, so parallel tests do not see each other.
//!
//! ```ignore
//! let fake = support::smapi::fake_smapi();
//! let vendor = unique_vendor();
//! let credentials = fake.client(&vendor);
//! let skill = unique_skill_id();
//! let live = Stage::custom(&format!("{arn}:PROD1"));
//! fake.create_skill(&skill, &vendor, &Stage::custom(&format!("{arn}:PROD2")), Some(&live));
//! fake.submit(&skill);
//! fake.certify(&skill);
//! fake.publish(&skill); // live = the manifest submitted
//! // the code under test: fake.settings(), or the CLI flags
//! // --smapi-endpoint fake.url() --lwa-endpoint fake.lwa_url()
//! ```

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lambda_alias_controller::alexa::AlexaCredentials;
use serde_json::{Value, json};

/// Certifications per page: small, so that every list of three reviews or more is paged.
pub const PAGE_SIZE: usize = 2;
const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A handle on the running fake.
pub struct FakeSmapi {
    port: u16,
    pub(super) log: PathBuf,
}

static FAKE: OnceLock<Result<FakeSmapi, String>> = OnceLock::new();

/// The shared fake, started on first use. Panics (the test fails, never skips) when it cannot start.
pub fn fake_smapi() -> &'static FakeSmapi {
    match FAKE.get_or_init(start_on_supervisor_thread) {
        Ok(fake) => fake,
        Err(message) => panic!("{message}"),
    }
}

/// A skill id no other test uses: `amzn1.ask.skill.test-<pid>-<n>`.
pub fn unique_skill_id() -> String {
    super::unique_name("amzn1.ask.skill.test")
}

/// A vendor id no other test uses.
pub fn unique_vendor() -> String {
    super::unique_name("M2VENDOR")
}

/// One skill stage's endpoints, as the fake builds its manifest: `apis.<kind>.endpoint.uri` and
/// `apis.<kind>.regions.<REGION>.endpoint.uri`.
#[derive(Clone, Debug)]
pub struct Stage {
    pub(super) kind: &'static str,
    pub(super) uri: Option<String>,
    pub(super) regions: Vec<(String, String)>,
}

impl Stage {
    /// A custom skill's stage calling `uri` (a Lambda ARN, alias qualifier included).
    pub fn custom(uri: &str) -> Stage {
        Stage { kind: "custom", uri: Some(uri.to_string()), regions: Vec::new() }
    }

    /// Adds a per-region endpoint (`NA`, `EU` or `FE`).
    pub fn region(mut self, region: &str, uri: &str) -> Stage {
        self.regions.push((region.to_string(), uri.to_string()));
        self
    }

    fn to_json(&self) -> Value {
        let regions: serde_json::Map<String, Value> =
            self.regions.iter().map(|(r, u)| (r.clone(), Value::String(u.clone()))).collect();
        json!({"kind": self.kind, "uri": self.uri, "regions": regions})
    }
}

impl FakeSmapi {
    /// SMAPI's base URL (`--smapi-endpoint`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// LWA's token URL (`--lwa-endpoint`).
    pub fn lwa_url(&self) -> String {
        format!("{}/auth/o2/token", self.url())
    }

    /// New LWA credentials (client id, secret, refresh token, all unique) of a user of `vendor`;
    /// access tokens last an hour.
    pub fn client(&self, vendor: &str) -> AlexaCredentials {
        self.client_with_token_lifetime(vendor, 3600)
    }

    /// [`Self::client`] whose access tokens expire `expires_in` seconds after they are issued.
    pub fn client_with_token_lifetime(&self, vendor: &str, expires_in: u64) -> AlexaCredentials {
        let credentials = AlexaCredentials {
            client_id: super::unique_name("amzn1.application-oa2-client.test"),
            client_secret: super::unique_name("secret"),
            refresh_token: super::unique_name("Atzr|refresh"),
        };
        self.control(
            "POST",
            "/_fake/clients",
            &json!({
                "clientId": credentials.client_id,
                "clientSecret": credentials.client_secret,
                "refreshToken": credentials.refresh_token,
                "vendorId": vendor,
                "tokenExpiresIn": expires_in,
            }),
        );
        credentials
    }

    /// Creates a skill of `vendor` with its development stage and, when given, its live stage.
    pub fn create_skill(&self, skill_id: &str, vendor: &str, development: &Stage, live: Option<&Stage>) {
        let body = json!({
            "vendorId": vendor,
            "development": development.to_json(),
            "live": live.map(Stage::to_json),
        });
        self.control("POST", &format!("/_fake/skills/{skill_id}"), &body);
    }

    /// Replaces a stage's manifest (`development` or `live`); `None` removes it (404 from then on).
    pub fn set_stage(&self, skill_id: &str, stage: &str, endpoints: Option<&Stage>) {
        let body = endpoints.map(Stage::to_json).unwrap_or(Value::Null);
        self.control("PUT", &format!("/_fake/skills/{skill_id}/stages/{stage}"), &body);
    }

    /// Stores `envelope` (the text of `{"manifest": ...}`) verbatim as the development stage.
    pub fn set_raw_development(&self, skill_id: &str, envelope: &str) {
        let body = json!({"raw": envelope});
        self.control("PUT", &format!("/_fake/skills/{skill_id}/stages/development"), &body);
    }

    /// The development manifest as SMAPI serves it now (the envelope's text) and its ETag.
    pub fn development_text(&self, skill_id: &str) -> (String, String) {
        let answer =
            self.control("GET", &format!("/_fake/skills/{skill_id}/stages/development"), &Value::Null);
        let field = |k: &str| answer[k].as_str().unwrap_or_else(|| panic!("{k}: {answer}")).to_string();
        (field("text"), field("etag"))
    }

    /// Updates of the development manifest take `delay_secs`; the next `fail` end FAILED.
    pub fn script_updates(&self, skill_id: &str, delay_secs: f64, fail: u32) {
        let body = json!({"delay": delay_secs, "fail": fail});
        self.control("POST", &format!("/_fake/skills/{skill_id}/manifest-updates"), &body);
    }

    /// Just before each of the next `count` PUTs of the development manifest, a person edits it.
    pub fn race(&self, skill_id: &str, count: u32) {
        self.control("POST", &format!("/_fake/skills/{skill_id}/race"), &json!({"count": count}));
    }

    /// Every PUT body the development manifest accepted, in order, verbatim.
    pub fn writes(&self, skill_id: &str) -> Vec<String> {
        let answer = self.control("GET", &format!("/_fake/skills/{skill_id}/writes"), &Value::Null);
        answer["writes"]
            .as_array()
            .unwrap_or_else(|| panic!("writes answered {answer}"))
            .iter()
            .map(|w| w.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Submits the development stage for certification now: a new IN_PROGRESS review. Returns its id.
    pub fn submit(&self, skill_id: &str) -> String {
        self.submit_body(skill_id, json!({}))
    }

    pub(super) fn submit_body(&self, skill_id: &str, body: Value) -> String {
        let answer = self.control("POST", &format!("/_fake/skills/{skill_id}/submit"), &body);
        answer["id"].as_str().unwrap_or_else(|| panic!("submit answered {answer}")).to_string()
    }

    /// The review in progress succeeds (certified, not yet published: see [`Self::publish`]).
    pub fn certify(&self, skill_id: &str) {
        self.control("POST", &format!("/_fake/skills/{skill_id}/certify"), &json!({}));
    }

    /// The review in progress fails.
    pub fn fail(&self, skill_id: &str) {
        self.control("POST", &format!("/_fake/skills/{skill_id}/fail"), &json!({}));
    }

    /// Publishes the newest certified review: the live stage becomes the manifest submitted.
    pub fn publish(&self, skill_id: &str) {
        self.control("POST", &format!("/_fake/skills/{skill_id}/publish"), &json!({}));
    }

    /// How many SMAPI calls (any answer) were made for the skill.
    pub fn smapi_requests(&self, skill_id: &str) -> usize {
        self.count("smapi", &format!("skillId={}", super::url_encode(skill_id)))
    }

    /// The paths of every write (PUT) to SMAPI for the skill, whatever the answer.
    pub fn smapi_puts(&self, skill_id: &str) -> Vec<String> {
        self.requests(skill_id)
            .iter()
            .filter(|r| r["method"] == "PUT")
            .map(|r| r["path"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The fake's log of SMAPI requests for the skill, oldest first.
    pub(super) fn requests(&self, skill_id: &str) -> Vec<Value> {
        let answer = self.control(
            "GET",
            &format!("/_fake/requests?skillId={}", super::url_encode(skill_id)),
            &Value::Null,
        );
        answer["requests"]
            .as_array()
            .unwrap_or_else(|| panic!("requests answered {answer}"))
            .iter()
            .filter(|r| r["api"] == "smapi")
            .cloned()
            .collect()
    }

    pub(super) fn count(&self, api: &str, filter: &str) -> usize {
        let answer = self.control("GET", &format!("/_fake/requests?{filter}"), &Value::Null);
        answer[api]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_else(|| panic!("requests answered {answer}"))
    }

    /// One control call; panics unless the fake answers 2xx with JSON.
    pub(super) fn control(&self, method: &str, path_and_query: &str, body: &Value) -> Value {
        let body = if body.is_null() && method == "GET" { String::new() } else { body.to_string() };
        let request = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}",
            port = self.port,
            len = body.len()
        );
        let (status, response) = super::http_exchange(self.port, &request).unwrap_or_else(|e| {
            panic!("fake SMAPI {method} {path_and_query}: {e} (log: {})", self.log.display())
        });
        let text = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        assert!(
            (200..300).contains(&status),
            "fake SMAPI {method} {path_and_query} answered {status}: {text}"
        );
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("fake SMAPI {method} {path_and_query}: {e}: {text}"))
    }
}

/// Starts the fake from a thread that lives as long as the process (see `super` for why).
fn start_on_supervisor_thread() -> Result<FakeSmapi, String> {
    let python = super::moto_python_path();
    super::on_supervisor_thread("fake-smapi", move || start(&python))
}

fn start(python: &Path) -> Result<FakeSmapi, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_smapi.py");
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        if Instant::now() >= deadline {
            break;
        }
        let port = super::free_port().map_err(|e| format!("cannot pick a loopback port: {e}"))?;
        let log = std::env::temp_dir().join(format!("lac-fake-smapi-{}-{port}.log", std::process::id()));
        let args = ["-H", "127.0.0.1", "-p", &port.to_string(), "--page-size", &PAGE_SIZE.to_string()]
            .map(String::from);
        let mut child = super::spawn_server(python, &script, &args, &log, &[])
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        match super::wait_http_ready(&mut child, port, "/_fake/health", |status| status == 200, deadline) {
            Ok(()) => {
                let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
                super::stop_at_exit(pid);
                eprintln!("fake SMAPI ready on 127.0.0.1:{port} (pid {pid}); log: {}", log.display());
                return Ok(FakeSmapi { port, log });
            }
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                failures.push(format!(
                    "port {port}: {reason}\n--- tail of {} ---\n{}",
                    log.display(),
                    super::log_tail(&log)
                ));
            }
        }
    }
    Err(format!("the fake SMAPI ({}) did not start:\n{}", script.display(), failures.join("\n")))
}
