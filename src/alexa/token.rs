//! The Login with Amazon token cache: one access token per credentials, fetched from a refresh
//! token, given up shortly before it expires, dropped after a 401.

use super::*;

/// The client id and a SHA-256 of the secret and refresh token: a rotated Secret gets a fresh
/// token (which proves the new values), and no raw secret is a map key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct TokenKey {
    client_id: String,
    digest: [u8; 32],
}

impl TokenKey {
    pub(super) fn of(credentials: &AlexaCredentials) -> TokenKey {
        let mut hasher = Sha256::new();
        hasher.update(b"lambda-alias-controller/lwa\0");
        hasher.update(credentials.client_secret.as_bytes());
        hasher.update(b"\0");
        hasher.update(credentials.refresh_token.as_bytes());
        TokenKey { client_id: credentials.client_id.clone(), digest: hasher.finalize().into() }
    }
}

pub(super) struct AccessToken {
    value: String,
    /// Not used from this instant on (see [`REFRESH_MARGIN`]).
    usable_until: Instant,
}

/// How long a token that LWA says lasts `expires_in` is used.
pub(super) fn usable_for(expires_in: Duration) -> Duration {
    expires_in.saturating_sub(REFRESH_MARGIN.min(expires_in / 2))
}

impl Smapi {
    /// A usable access token for these credentials: the cached one, or a new one from LWA. Callers
    /// for the same credentials wait for one refresh instead of each starting their own.
    pub(super) async fn token(&self, credentials: &AlexaCredentials) -> Result<String, SmapiError> {
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
    pub(super) async fn forget(&self, credentials: &AlexaCredentials, used: &str) {
        let slot = self.slot(credentials);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == used) {
            *cached = None;
        }
    }

    pub(super) fn slot(
        &self,
        credentials: &AlexaCredentials,
    ) -> Arc<tokio::sync::Mutex<Option<AccessToken>>> {
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
    pub(super) async fn fetch_token(
        &self,
        credentials: &AlexaCredentials,
    ) -> Result<AccessToken, SmapiError> {
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
