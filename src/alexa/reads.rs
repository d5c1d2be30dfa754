//! The reads: a skill's stages' endpoints and its latest certification review, into the
//! planner's `SkillObservation`.

use super::*;

impl Smapi {
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

    /// `GET /v1/skills/{skillId}/stages/{stage}/manifest`; `None` on 404.
    pub(super) async fn stage(
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
    pub(super) async fn reviews(
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
}
