//! The Alexa Skill Management API (SMAPI) adapter: reads, for one skill, which Lambda endpoints its
//! `development` and `live` stages call and its latest certification review, into the planner's
//! [`SkillObservation`]. Read-only: the controller never writes to SMAPI.
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
pub(crate) mod manifest;
pub(crate) mod model;

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

/// What a re-point of the development stage did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointWrite {
    /// SMAPI accepted the new manifest (202): it applies it asynchronously.
    Accepted { etag: String, changed: Vec<Changed> },
    /// 412: the manifest changed since it was read; nothing was written.
    Stale,
    /// No endpoint names the function any more (or all already call the new URI).
    Unchanged,
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

/// The client id and a SHA-256 of the secret and refresh token: a rotated Secret gets a fresh
/// token (which proves the new values), and no raw secret is a map key.
#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    client_id: String,
    digest: [u8; 32],
}

impl TokenKey {
    fn of(credentials: &AlexaCredentials) -> TokenKey {
        let mut hasher = Sha256::new();
        hasher.update(b"lambda-alias-controller/lwa\0");
        hasher.update(credentials.client_secret.as_bytes());
        hasher.update(b"\0");
        hasher.update(credentials.refresh_token.as_bytes());
        TokenKey { client_id: credentials.client_id.clone(), digest: hasher.finalize().into() }
    }
}

struct AccessToken {
    value: String,
    /// Not used from this instant on (see [`REFRESH_MARGIN`]).
    usable_until: Instant,
}

/// How long a token that LWA says lasts `expires_in` is used.
fn usable_for(expires_in: Duration) -> Duration {
    expires_in.saturating_sub(REFRESH_MARGIN.min(expires_in / 2))
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

    fn limit_of(&self, credentials: &AlexaCredentials) -> Arc<Bucket> {
        let mut limits = self.inner.limits.lock().unwrap_or_else(PoisonError::into_inner);
        limits
            .entry(TokenKey::of(credentials))
            .or_insert_with(|| Arc::new(Bucket::new(self.inner.limit)))
            .clone()
    }

    /// Everything SMAPI says about `skill_id` now: both stages' endpoints (`None` for a stage that
    /// answers 404, like `live` before the first publication) and the latest certification review.
    /// A skill unknown to SMAPI (404 on both stages and on its certifications) is
    /// [`SmapiError::NotFound`].
    #[tracing::instrument(skip_all, fields(skill = %skill_id))]
    pub async fn observe(
        &self,
        credentials: &AlexaCredentials,
        skill_id: &str,
    ) -> Result<SkillObservation, SmapiError> {
        // One token first, so that bad credentials cost one LWA call, not one per request below.
        self.token(credentials).await?;
        let skill = path_segment(skill_id);
        let (development, live, reviews) = futures::join!(
            self.stage(credentials, skill_id, &skill, "development"),
            self.stage(credentials, skill_id, &skill, "live"),
            self.reviews(credentials, skill_id, &skill),
        );
        // A fixed precedence, whichever request failed first.
        let (development, live, reviews) = (development?, live?, reviews?);
        let latest_review = match reviews {
            Some(reviews) => model::latest_review(&reviews)
                .map_err(|e| SmapiError::InvalidResponse(format!("skill {skill_id}: {e}")))?,
            None if development.is_none() && live.is_none() => {
                return Err(SmapiError::NotFound { skill_id: skill_id.to_string() });
            }
            // The reference documents 404 only as "resource not found" and does not say what a
            // skill never submitted lists; with a stage present, the skill exists: no review.
            None => None,
        };
        Ok(SkillObservation { skill_id: skill_id.to_string(), live, development, latest_review })
    }

    /// Re-points the development stage: every endpoint URI of `function_arn` in its manifest
    /// becomes `new_uri`, every other byte stays (`manifest::retarget`). Reads the manifest with
    /// its ETag and writes it back with `If-Match`, so a change made in between is never
    /// overwritten ([`EndpointWrite::Stale`]). Only ever the development stage.
    #[tracing::instrument(skip_all, fields(skill = %skill_id))]
    pub async fn retarget_development(
        &self,
        credentials: &AlexaCredentials,
        skill_id: &str,
        function_arn: &str,
        new_uri: &str,
    ) -> Result<EndpointWrite, SmapiError> {
        let path = format!("/v1/skills/{}/stages/development/manifest", path_segment(skill_id));
        let reply = self.get(credentials, &path).await?;
        match reply.status {
            StatusCode::OK => {}
            StatusCode::SEE_OTHER => {
                return Err(SmapiError::Unavailable(format!(
                    "skill {skill_id}: the development manifest is being updated (303 See Other)"
                )));
            }
            _ => return Err(self.failure(&reply, &format!("GET {path}"), skill_id, credentials)),
        }
        let etag =
            reply.headers.get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_string).ok_or_else(|| {
                SmapiError::InvalidResponse(format!(
                    "skill {skill_id}: the development manifest came without an ETag"
                ))
            })?;
        let (body, changed) = manifest::retarget(&reply.body, function_arn, new_uri)
            .map_err(|e| SmapiError::InvalidResponse(format!("skill {skill_id}, development stage: {e}")))?;
        if changed.is_empty() {
            return Ok(EndpointWrite::Unchanged);
        }
        let body = Bytes::from(body);
        let put = self.call(credentials, Method::PUT, &path, Some((&body, &etag))).await?;
        match put.status {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => {
                Ok(EndpointWrite::Accepted { etag, changed })
            }
            StatusCode::PRECONDITION_FAILED => Ok(EndpointWrite::Stale),
            _ => Err(self.failure(&put, &format!("PUT {path}"), skill_id, credentials)),
        }
    }

    /// `GET /v1/skills/{skillId}/status?resource=manifest`: the last manifest update request
    /// (`None` when there was none).
    #[tracing::instrument(skip_all, fields(skill = %skill_id))]
    pub async fn manifest_update(
        &self,
        credentials: &AlexaCredentials,
        skill_id: &str,
    ) -> Result<Option<ManifestUpdate>, SmapiError> {
        let path = format!("/v1/skills/{}/status?resource=manifest", path_segment(skill_id));
        let reply = self.get(credentials, &path).await?;
        if reply.status != StatusCode::OK {
            return Err(self.failure(&reply, "GET /v1/skills/{skillId}/status", skill_id, credentials));
        }
        model::manifest_update(&reply.body)
            .map_err(|e| SmapiError::InvalidResponse(format!("skill {skill_id}, manifest status: {e}")))
    }

    /// `GET /v1/skills/{skillId}/stages/{stage}/manifest`; `None` on 404.
    async fn stage(
        &self,
        credentials: &AlexaCredentials,
        skill_id: &str,
        skill: &str,
        stage: &str,
    ) -> Result<Option<StageEndpoints>, SmapiError> {
        let path = format!("/v1/skills/{skill}/stages/{stage}/manifest");
        let reply = self.get(credentials, &path).await?;
        match reply.status {
            StatusCode::OK => model::stage_endpoints(&reply.body)
                .map(Some)
                .map_err(|e| SmapiError::InvalidResponse(format!("skill {skill_id}, {stage} stage: {e}"))),
            StatusCode::NOT_FOUND => Ok(None),
            // The manifest reference lists 303 with a Location to the skill's status: the manifest
            // is being built or updated. Transient: observe again later.
            StatusCode::SEE_OTHER => Err(SmapiError::Unavailable(format!(
                "skill {skill_id}: the {stage} manifest is being updated (303 See Other)"
            ))),
            _ => Err(self.failure(&reply, &format!("GET {path}"), skill_id, credentials)),
        }
    }

    /// Every page of `GET /v1/skills/{skillId}/certifications`; `None` when the list answers 404.
    async fn reviews(
        &self,
        credentials: &AlexaCredentials,
        skill_id: &str,
        skill: &str,
    ) -> Result<Option<Vec<ListedReview>>, SmapiError> {
        let mut reviews = Vec::new();
        let mut next_token: Option<String> = None;
        let mut seen_tokens = std::collections::HashSet::new();
        for _ in 0..MAX_CERTIFICATION_PAGES {
            // Scoped: the serializer is not Send and must not live across the await below.
            let path = {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("maxResults", CERTIFICATIONS_PAGE_SIZE);
                if let Some(token) = &next_token {
                    query.append_pair("nextToken", token);
                }
                format!("/v1/skills/{skill}/certifications?{}", query.finish())
            };
            let reply = self.get(credentials, &path).await?;
            match reply.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND if next_token.is_none() => return Ok(None),
                _ => {
                    let what = format!("GET /v1/skills/{skill}/certifications");
                    return Err(self.failure(&reply, &what, skill_id, credentials));
                }
            }
            let page = model::certification_page(&reply.body)
                .map_err(|e| SmapiError::InvalidResponse(format!("skill {skill_id}: {e}")))?;
            reviews.extend(page.reviews);
            match page.next_token {
                None => return Ok(Some(reviews)),
                Some(token) if !seen_tokens.insert(token.clone()) => {
                    return Err(SmapiError::InvalidResponse(format!(
                        "skill {skill_id}: the certifications list repeats a nextToken"
                    )));
                }
                Some(token) => next_token = Some(token),
            }
        }
        Err(SmapiError::InvalidResponse(format!(
            "skill {skill_id}: the certifications list goes on past {MAX_CERTIFICATION_PAGES} pages"
        )))
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

    /// One request under the credentials' rate limit, counted; a 429 pauses the limit for
    /// every caller, and every request for that skill, until its `Retry-After` (a second
    /// without one).
    async fn limited(
        &self,
        credentials: &AlexaCredentials,
        method: &Method,
        uri: &Uri,
        token: &str,
        body: Option<(&Bytes, &str)>,
    ) -> Result<Reply, SmapiError> {
        let limit = self.limit_of(credentials);
        let skill = uri
            .path()
            .strip_prefix("/v1/skills/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let paused =
            self.inner.skill_pauses.lock().unwrap_or_else(PoisonError::into_inner).get(skill).copied();
        if let Some(until) = paused.filter(|u| *u > tokio::time::Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
        limit.acquire().await;
        let reply = self.send(method, uri, token, body).await;
        let label = reply.as_ref().map_or("unavailable", |r| outcome(r.status));
        let hook = self.inner.hook.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(hook) = hook {
            hook(operation(method, uri.path()), label);
        }
        if let Ok(r) = &reply
            && r.status == StatusCode::TOO_MANY_REQUESTS
        {
            let until =
                tokio::time::Instant::now() + retry_after(&r.headers).unwrap_or(Duration::from_secs(1));
            limit.pause_until(until);
            let mut pauses = self.inner.skill_pauses.lock().unwrap_or_else(PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            pauses.retain(|_, u| *u > now);
            let entry = pauses.entry(skill.to_string()).or_insert(until);
            *entry = (*entry).max(until);
        }
        reply
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

    /// A usable access token for these credentials: the cached one, or a new one from LWA. Callers
    /// for the same credentials wait for one refresh instead of each starting their own.
    async fn token(&self, credentials: &AlexaCredentials) -> Result<String, SmapiError> {
        let slot = self.slot(credentials);
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.usable_until
        {
            return Ok(token.value.clone());
        }
        *cached = None;
        let token = self.fetch_token(credentials).await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Drops `used` from the cache, unless another caller already replaced it.
    async fn forget(&self, credentials: &AlexaCredentials, used: &str) {
        let slot = self.slot(credentials);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == used) {
            *cached = None;
        }
    }

    fn slot(&self, credentials: &AlexaCredentials) -> Arc<tokio::sync::Mutex<Option<AccessToken>>> {
        let mut tokens = self.inner.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.len() > TOKEN_CACHE_PRUNE_AT {
            let now = Instant::now();
            tokens.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot
                        .try_lock()
                        .map(|t| t.as_ref().is_some_and(|t| now < t.usable_until))
                        .unwrap_or(true)
            });
        }
        tokens.entry(TokenKey::of(credentials)).or_default().clone()
    }

    /// `POST {lwa}` with `grant_type=refresh_token`.
    async fn fetch_token(&self, credentials: &AlexaCredentials) -> Result<AccessToken, SmapiError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", &credentials.client_id)
            .append_pair("client_secret", &credentials.client_secret)
            .append_pair("refresh_token", &credentials.refresh_token)
            .finish();
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.inner.lwa.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded;charset=UTF-8")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, user_agent())
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| SmapiError::Setup(format!("cannot build the LWA token request: {e}")))?;
        // The lifetime counts from before the request: never trust a token past its real expiry.
        let asked_at = Instant::now();
        let lwa = &self.inner.lwa;
        let reply = self
            .inner
            .http
            .send(request)
            .await
            .map_err(|e| SmapiError::Unavailable(format!("Login with Amazon ({lwa}): {e}")))?;
        let secrets = [credentials.client_secret.as_str(), credentials.refresh_token.as_str()];
        match reply.status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(SmapiError::Throttled { retry_after: retry_after(&reply.headers) });
            }
            s if s.is_server_error() => {
                return Err(SmapiError::Unavailable(format!(
                    "Login with Amazon ({lwa}) answered {s} ({})",
                    quote(&reply, &secrets)
                )));
            }
            s => {
                let code = lwa_error_code(&reply.body);
                let refused = s == StatusCode::UNAUTHORIZED
                    || matches!(
                        code.as_deref(),
                        Some("invalid_grant" | "invalid_client" | "unauthorized_client")
                    );
                let detail = format!(
                    "Login with Amazon ({lwa}) refused the refresh token for client {}: {s} ({})",
                    credentials.client_id,
                    quote(&reply, &secrets)
                );
                return Err(if refused {
                    SmapiError::Unauthorized { detail }
                } else {
                    SmapiError::InvalidResponse(detail)
                });
            }
        }
        #[derive(Deserialize)]
        struct Grant {
            access_token: Option<String>,
            expires_in: Option<u64>,
            token_type: Option<String>,
        }
        let grant: Grant = serde_json::from_slice(&reply.body).map_err(|e| {
            SmapiError::InvalidResponse(format!(
                "Login with Amazon ({lwa}): the token answer is not JSON: {e}"
            ))
        })?;
        let value = grant.access_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            SmapiError::InvalidResponse(format!(
                "Login with Amazon ({lwa}): the token answer has no access_token"
            ))
        })?;
        if let Some(kind) = grant.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(SmapiError::InvalidResponse(format!(
                "Login with Amazon ({lwa}): token_type {kind:?}, expected bearer"
            )));
        }
        // Without expires_in the token serves the calls of this observation only.
        let lifetime = grant.expires_in.map(|s| usable_for(Duration::from_secs(s))).unwrap_or_default();
        tracing::debug!(
            client_id = %credentials.client_id,
            expires_in = grant.expires_in,
            "fetched a Login with Amazon access token"
        );
        Ok(AccessToken { value, usable_until: asked_at + lifetime })
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
