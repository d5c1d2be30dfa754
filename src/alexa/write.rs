//! The one write: the development stage's manifest re-pointed at the candidate (the PUT carries
//! `If-Match`), and the status of SMAPI's asynchronous update.

use super::*;

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

impl Smapi {
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
}
