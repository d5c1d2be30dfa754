//! The rate limit: one bucket per credentials (`--smapi-rate`), and the pause a 429's
//! `Retry-After` puts on every request for its credentials and its skill.

use super::*;

impl Smapi {
    pub(super) fn limit_of(&self, credentials: &AlexaCredentials) -> Arc<Bucket> {
        let mut limits = self.inner.limits.lock().unwrap_or_else(PoisonError::into_inner);
        limits
            .entry(TokenKey::of(credentials))
            .or_insert_with(|| Arc::new(Bucket::new(self.inner.limit)))
            .clone()
    }

    /// One request under the credentials' rate limit, counted; a 429 pauses the limit for
    /// every caller, and every request for that skill, until its `Retry-After` (a second
    /// without one).
    pub(super) async fn limited(
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
}
