//! The Alexa Skill Management API (SMAPI) adapter: reads, for one skill, which Lambda endpoints its
//! `development` and `live` stages call and its latest certification review, into the planner's
//! [`SkillObservation`] (`reads.rs`). It writes one thing only, and only when a set opts in
//! (`spec.alexa.manageDevelopmentEndpoint`): the development stage's manifest (`write.rs`), never
//! the live stage. `token.rs` is the Login with Amazon token cache, `limit.rs` the rate limit and
//! the 429 pause, this file the settings, the errors and the one request path.
//!
//! Authentication is Login with Amazon (LWA): a refresh token is exchanged for a bearer access
//! token, cached per credentials until shortly before it expires. A 401 from SMAPI drops the
//! cached token and retries the call once with a fresh one. Nothing else is retried here: 429 and
//! 5xx go back to the caller (as [`SmapiError::Throttled`] with SMAPI's `Retry-After` hint, and
//! [`SmapiError::Unavailable`]), whose requeue is the one retry layer.
//!
//! Secrets (client secret, refresh token, access tokens) never appear in an error, a log line or
//! a `Debug` output; answers quoted in errors are scrubbed of them.

mod credentials;
mod http;
mod limit;
pub(crate) mod manifest;
pub(crate) mod model;
mod reads;
mod token;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, RETRY_AFTER, USER_AGENT};
use ::http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use credentials::{AlexaCredentials, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};
use token::{AccessToken, TokenKey};
pub use write::EndpointWrite;

use crate::aws::budget::{Bucket, BucketLimit};
use crate::plan::skill::{SkillObservation, StageEndpoints};
use http::{Http, Reply};
use model::ListedReview;

pub const DEFAULT_SMAPI_ENDPOINT: &str = "https://api.amazonalexa.com";
pub const DEFAULT_LWA_ENDPOINT: &str = "https://api.amazon.com/auth/o2/token";

/// A cached access token is given up this long before LWA says it expires (LWA's tokens last an
/// hour), or after half its lifetime when that is shorter, so a call never starts with a token
/// about to die in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// `maxResults` for the certifications list: SMAPI's maximum, so one page is the usual case.
const CERTIFICATIONS_PAGE_SIZE: &str = "50";
/// A list this long (5000 reviews) means a server that never stops paging.
const MAX_CERTIFICATION_PAGES: usize = 100;
/// Longest server text quoted in an error.
const MAX_QUOTED_CHARS: usize = 300;
/// Above this many cached credentials, unused expired entries are dropped.
const TOKEN_CACHE_PRUNE_AT: usize = 64;

/// Where SMAPI and LWA are (`--smapi-endpoint`, `--lwa-endpoint`); tests point both at a fake.
#[derive(Clone, Debug, PartialEq)]
pub struct SmapiSettings {
    /// SMAPI's base URL, without a path: `https://api.amazonalexa.com`.
    pub smapi_endpoint: String,
    /// LWA's full token URL: `https://api.amazon.com/auth/o2/token`.
    pub lwa_endpoint: String,
    /// `--smapi-rate`: SMAPI requests per second per credentials (a vendor's user), reads and
    /// writes alike; bursts of twice that.
    pub rate: f64,
}

/// `--smapi-rate`'s default. SMAPI publishes no quota; this keeps a steady set's three reads a
/// check far below what the ASK CLI itself sends, and lets a burst of sets through.
pub const DEFAULT_SMAPI_RATE: f64 = 5.0;

impl Default for SmapiSettings {
    fn default() -> Self {
        SmapiSettings {
            smapi_endpoint: DEFAULT_SMAPI_ENDPOINT.to_string(),
            lwa_endpoint: DEFAULT_LWA_ENDPOINT.to_string(),
            rate: DEFAULT_SMAPI_RATE,
        }
    }
}

/// Told of every SMAPI request: (operation, outcome). The controller counts them in a metric.
pub type RequestHook = Arc<dyn Fn(&'static str, &'static str) + Send + Sync>;

/// The operation of a SMAPI request, for the metric.
fn operation(method: &Method, path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default();
    match (method.as_str(), path) {
        ("PUT", p) if p.ends_with("/manifest") => "UpdateManifest",
        (_, p) if p.ends_with("/manifest") => "GetManifest",
        (_, p) if p.ends_with("/certifications") => "ListCertifications",
        (_, p) if p.ends_with("/status") => "GetSkillStatus",
        _ => "Other",
    }
}

/// The outcome label of a SMAPI answer.
fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        303 => "see_other",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        412 => "precondition_failed",
        429 => "throttled",
        500..=599 => "server_error",
        _ => "client_error",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmapiError {
    /// LWA refused the refresh (wrong client id/secret, revoked or foreign refresh token), or
    /// SMAPI answered 401 even to a freshly issued token.
    #[error(
        "{detail}; check the credentials Secret: clientId and clientSecret of the LWA security profile, \
         and a refreshToken issued to that client for a user of the skill's vendor"
    )]
    Unauthorized { detail: String },
    #[error(
        "SMAPI answered 403 for skill {skill_id}: the LWA client's user has no access to this skill (the \
         refreshToken must belong to a user of the vendor that owns the skill)"
    )]
    Forbidden { skill_id: String },
    #[error("SMAPI knows no skill {skill_id} (404): check the alexaSkill trigger's skillId")]
    NotFound { skill_id: String },
    #[error("SMAPI throttled the request (429){}", retry_hint(*retry_after))]
    Throttled { retry_after: Option<Duration> },
    #[error("SMAPI or Login with Amazon unavailable: {0}")]
    Unavailable(String),
    /// A key of the credentials is missing or unusable; `origin` is the Secret or file.
    #[error("Alexa credentials, {origin}: key `{key}` {problem}")]
    InvalidCredentials { origin: String, key: String, problem: String },
    /// The credentials file as a whole is unusable (unreadable, not YAML, not a map).
    #[error("Alexa credentials file {origin}: {reason}")]
    CredentialsFile { origin: String, reason: String },
    #[error("unexpected answer from SMAPI or Login with Amazon: {0}")]
    InvalidResponse(String),
    /// The endpoints or the TLS setup are unusable.
    #[error("SMAPI client setup: {0}")]
    Setup(String),
}

fn retry_hint(retry_after: Option<Duration>) -> String {
    retry_after.map(|d| format!(", retry after {}s", d.as_secs_f64())).unwrap_or_default()
}

impl SmapiError {
    /// A low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            SmapiError::Unauthorized { .. } => "SmapiUnauthorized",
            SmapiError::Forbidden { .. } => "SmapiForbidden",
            SmapiError::NotFound { .. } => "SmapiNotFound",
            SmapiError::Throttled { .. } => "SmapiThrottled",
            SmapiError::Unavailable(_) => "SmapiUnavailable",
            SmapiError::InvalidCredentials { .. } | SmapiError::CredentialsFile { .. } => {
                "SmapiInvalidCredentials"
            }
            SmapiError::InvalidResponse(_) => "SmapiInvalidResponse",
            SmapiError::Setup(_) => "SmapiSetup",
        }
    }
}

pub use manifest::Changed;
pub use model::ManifestUpdate;

/// The SMAPI client: one per process (cheap to clone, shares its connection pool and token cache).
#[derive(Clone)]
pub struct Smapi {
    inner: Arc<Inner>,
}

struct Inner {
    http: Http,
    /// Without a trailing slash.
    smapi_base: String,
    lwa: Uri,
    tokens: Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<Option<AccessToken>>>>>,
    /// One rate limit per credentials, shared by every set (and skill) that uses them; a 429's
    /// `Retry-After` pauses it for all of them.
    limits: Mutex<HashMap<TokenKey, Arc<Bucket>>>,
    limit: BucketLimit,
    /// A 429's `Retry-After` also holds back every request for that skill, whatever the
    /// credentials (sets of one skill may hold different Secrets of its vendor).
    skill_pauses: Mutex<HashMap<String, tokio::time::Instant>>,
    hook: Mutex<Option<RequestHook>>,
}

impl Smapi {
    pub fn new(settings: &SmapiSettings) -> Result<Smapi, SmapiError> {
        let smapi_base = settings.smapi_endpoint.trim().trim_end_matches('/').to_string();
        let base: Uri = endpoint_uri(&smapi_base, "--smapi-endpoint")?;
        if base.path() != "/" && !base.path().is_empty() || base.query().is_some() {
            return Err(SmapiError::Setup(format!(
                "--smapi-endpoint {smapi_base:?} must be a base URL without a path \
                 (like {DEFAULT_SMAPI_ENDPOINT})"
            )));
        }
        let lwa = endpoint_uri(settings.lwa_endpoint.trim(), "--lwa-endpoint")?;
        let https = [&base, &lwa].iter().any(|u| u.scheme_str() == Some("https"));
        let http = Http::new(https).map_err(SmapiError::Setup)?;
        if !(settings.rate.is_finite() && settings.rate > 0.0) {
            return Err(SmapiError::Setup(format!(
                "--smapi-rate {} must be a positive number",
                settings.rate
            )));
        }
        let limit =
            BucketLimit { per_second: settings.rate, burst: (2.0 * settings.rate).ceil().max(1.0) as u32 };
        Ok(Smapi {
            inner: Arc::new(Inner {
                http,
                smapi_base,
                lwa,
                tokens: Mutex::new(HashMap::new()),
                limits: Mutex::new(HashMap::new()),
                limit,
                skill_pauses: Mutex::new(HashMap::new()),
                hook: Mutex::new(None),
            }),
        })
    }

    /// Tells `hook` of every SMAPI request from now on (the controller's metric).
    pub fn on_request(&self, hook: RequestHook) {
        *self.inner.hook.lock().unwrap_or_else(PoisonError::into_inner) = Some(hook);
    }

    /// An authenticated GET; a 401 drops the token and retries once with a fresh one.
    async fn get(&self, credentials: &AlexaCredentials, path_and_query: &str) -> Result<Reply, SmapiError> {
        self.call(credentials, Method::GET, path_and_query, None).await
    }

    /// An authenticated request (`body`: a JSON body and its `If-Match`); a 401 drops the token
    /// and retries once with a fresh one.
    async fn call(
        &self,
        credentials: &AlexaCredentials,
        method: Method,
        path_and_query: &str,
        body: Option<(&Bytes, &str)>,
    ) -> Result<Reply, SmapiError> {
        let uri: Uri = format!("{}{path_and_query}", self.inner.smapi_base)
            .parse()
            .map_err(|e| SmapiError::Setup(format!("cannot build a SMAPI URL for {path_and_query}: {e}")))?;
        let token = self.token(credentials).await?;
        let reply = self.limited(credentials, &method, &uri, &token, body).await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        tracing::debug!(path = path_and_query, "SMAPI answered 401: refreshing the access token once");
        self.forget(credentials, &token).await;
        let token = self.token(credentials).await?;
        let reply = self.limited(credentials, &method, &uri, &token, body).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            let said = quote(&reply, &[&credentials.client_secret, &credentials.refresh_token, &token]);
            return Err(SmapiError::Unauthorized {
                detail: format!(
                    "SMAPI answered 401 to {method} {} even with a freshly issued access token ({said})",
                    uri.path()
                ),
            });
        }
        Ok(reply)
    }

    async fn send(
        &self,
        method: &Method,
        uri: &Uri,
        token: &str,
        body: Option<(&Bytes, &str)>,
    ) -> Result<Reply, SmapiError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(ACCEPT, "application/json, application/hal+json")
            .header(USER_AGENT, user_agent());
        if let Some((_, etag)) = body {
            request = request.header(CONTENT_TYPE, "application/json").header(IF_MATCH, etag);
        }
        let request = request
            .body(Full::new(body.map(|(b, _)| b.clone()).unwrap_or_default()))
            .map_err(|e| SmapiError::Setup(format!("cannot build a request for {}: {e}", uri.path())))?;
        self.inner.http.send(request).await.map_err(|e| {
            SmapiError::Unavailable(format!("{method} {} on {}: {e}", uri.path(), self.inner.smapi_base))
        })
    }

    /// An answer other than the ones the caller handles, as an error.
    fn failure(
        &self,
        reply: &Reply,
        what: &str,
        skill_id: &str,
        credentials: &AlexaCredentials,
    ) -> SmapiError {
        let status = reply.status;
        match status {
            StatusCode::FORBIDDEN => SmapiError::Forbidden { skill_id: skill_id.to_string() },
            StatusCode::NOT_FOUND => SmapiError::NotFound { skill_id: skill_id.to_string() },
            StatusCode::TOO_MANY_REQUESTS => {
                SmapiError::Throttled { retry_after: retry_after(&reply.headers) }
            }
            s if s.is_server_error() => {
                let said = quote(reply, &[&credentials.client_secret, &credentials.refresh_token]);
                SmapiError::Unavailable(format!("SMAPI answered {status} to {what} ({said})"))
            }
            _ => {
                let said = quote(reply, &[&credentials.client_secret, &credentials.refresh_token]);
                SmapiError::InvalidResponse(format!("SMAPI answered {status} to {what} ({said})"))
            }
        }
    }
}

fn endpoint_uri(text: &str, flag: &str) -> Result<Uri, SmapiError> {
    let uri: Uri =
        text.parse().map_err(|e| SmapiError::Setup(format!("{flag} {text:?} is not a URL: {e}")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => {
            Err(SmapiError::Setup(format!("{flag} {text:?} must be an http:// or https:// URL with a host")))
        }
    }
}

fn user_agent() -> String {
    format!("lambda-alias-controller/{}", env!("CARGO_PKG_VERSION"))
}

/// A path segment, percent-encoded except for RFC 3986 unreserved characters (skill ids are
/// `amzn1.ask.skill.<uuid>`, so normally nothing changes).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `Retry-After` in seconds or as an HTTP date; a date in the past means "now".
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// LWA's OAuth `error` code, if the answer is the usual `{"error": ..., "error_description": ...}`.
fn lwa_error_code(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct OAuthError {
        error: Option<String>,
    }
    serde_json::from_slice::<OAuthError>(body).ok()?.error
}

/// What the server said, for an error message: SMAPI's `message` (and `code`), LWA's `error` and
/// `error_description`, or the start of the text; shortened, with every secret replaced.
fn quote(reply: &Reply, secrets: &[&str]) -> String {
    #[derive(Deserialize)]
    struct Said {
        code: Option<String>,
        message: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let text = match serde_json::from_slice::<Said>(&reply.body) {
        Ok(said) => [said.code, said.message, said.error, said.error_description]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": "),
        Err(_) => String::from_utf8_lossy(&reply.body).trim().to_string(),
    };
    let mut text = if text.is_empty() { "no message".to_string() } else { text };
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    if let Some((cut, _)) = text.char_indices().nth(MAX_QUOTED_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::token::usable_for;
    use super::*;

    fn reply(status: u16, body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                ::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                ::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn tokens_are_given_up_before_they_expire() {
        assert_eq!(usable_for(Duration::from_secs(3600)), Duration::from_secs(3540));
        assert_eq!(usable_for(Duration::from_secs(100)), Duration::from_secs(50));
        assert_eq!(usable_for(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(usable_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn cache_keys_change_with_either_secret_and_hide_both() {
        let creds =
            AlexaCredentials { client_id: "c".into(), client_secret: "s".into(), refresh_token: "r".into() };
        let key = TokenKey::of(&creds);
        assert!(key == TokenKey::of(&creds.clone()));
        assert!(key != TokenKey::of(&AlexaCredentials { client_secret: "s2".into(), ..creds.clone() }));
        assert!(key != TokenKey::of(&AlexaCredentials { refresh_token: "r2".into(), ..creds.clone() }));
        // Not a plain concatenation: moving a byte between the two values changes the key.
        let shifted = AlexaCredentials { client_secret: "sr".into(), refresh_token: String::new(), ..creds };
        assert!(key != TokenKey::of(&shifted));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let with = |v: &str| retry_after(&reply(429, "", &[("retry-after", v)]).headers);
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(with("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(with("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&later).unwrap();
        let wait = with(&date).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?} for {date}");
        assert_eq!(with("-1"), None);
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn quoted_answers_are_short_and_scrubbed() {
        let r = reply(400, r#"{"error":"invalid_grant","error_description":"bad token Atzr|xyz"}"#, &[]);
        assert_eq!(quote(&r, &["Atzr|xyz", ""]), "invalid_grant: bad token <redacted>");
        let r = reply(500, r#"{"code":"INTERNAL","message":"boom"}"#, &[]);
        assert_eq!(quote(&r, &[]), "INTERNAL: boom");
        let r = reply(502, &"x".repeat(1000), &[]);
        assert_eq!(quote(&r, &[]).chars().count(), MAX_QUOTED_CHARS + 1);
        assert_eq!(quote(&reply(503, "", &[]), &[]), "no message");
        assert_eq!(lwa_error_code(br#"{"error":"invalid_client"}"#).as_deref(), Some("invalid_client"));
        assert_eq!(lwa_error_code(b"<html>"), None);
    }

    #[test]
    fn skill_ids_are_one_path_segment() {
        assert_eq!(path_segment("amzn1.ask.skill.0000-aa_b~"), "amzn1.ask.skill.0000-aa_b~");
        assert_eq!(path_segment("a/../b?c"), "a%2F..%2Fb%3Fc");
    }

    #[test]
    fn error_labels_and_messages() {
        let throttled = SmapiError::Throttled { retry_after: Some(Duration::from_secs(3)) };
        assert_eq!(throttled.metric_label(), "SmapiThrottled");
        assert!(throttled.to_string().ends_with("retry after 3s"), "{throttled}");
        assert_eq!(
            SmapiError::Throttled { retry_after: None }.to_string(),
            "SMAPI throttled the request (429)"
        );
        let e = SmapiError::Unauthorized { detail: "LWA said no".into() };
        assert!(e.to_string().starts_with("LWA said no; check the credentials Secret"), "{e}");
        assert_eq!(SmapiError::Forbidden { skill_id: "s".into() }.metric_label(), "SmapiForbidden");
    }

    #[tokio::test]
    async fn endpoints_must_be_urls_and_the_smapi_one_a_base() {
        let setup = |smapi: &str, lwa: &str| {
            Smapi::new(&SmapiSettings { smapi_endpoint: smapi.into(), lwa_endpoint: lwa.into(), rate: 5.0 })
                .err()
        };
        assert!(setup("http://127.0.0.1:1/", "http://127.0.0.1:1/auth/o2/token").is_none());
        let e = setup("http://127.0.0.1:1/v1", "http://127.0.0.1:1/t").unwrap();
        assert!(e.to_string().contains("without a path"), "{e}");
        let e = setup("api.amazonalexa.com", "http://127.0.0.1:1/t").unwrap();
        assert!(e.to_string().contains("--smapi-endpoint"), "{e}");
        let e = setup("http://127.0.0.1:1", "ftp://x/t").unwrap();
        assert!(e.to_string().contains("--lwa-endpoint"), "{e}");
        assert!(
            Smapi::new(&SmapiSettings::default()).is_ok(),
            "the defaults need the system's CA certificates"
        );
        let rate = |rate: f64| Smapi::new(&SmapiSettings { rate, ..SmapiSettings::default() }).err();
        for nonsense in [0.0, -1.0, f64::NAN] {
            assert!(rate(nonsense).unwrap().to_string().contains("--smapi-rate"), "{nonsense}");
        }
    }
}
