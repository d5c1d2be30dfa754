//! SMAPI's JSON, read into the planner's vocabulary (`crate::plan::skill`). Pure functions: the
//! HTTP side lives in `super`.
//!
//! What the stored SMAPI reference says, and what we decided where it is silent:
//! - `GET /v1/skills/{skillId}/stages/{stage}/manifest` answers a `SkillManifestEnvelope`:
//!   `{"manifest": {..., "apis": {"custom": {"endpoint": {"uri"}, "regions": {"NA": {"endpoint":
//!   {"uri"}}, ...}}}}}` (`smartHome` has the same shape). The manifest schema names the regions
//!   `NA`, `EU` and `FE`; we read every key under `regions` (in that order, then any other key
//!   alphabetically) so that a region added later is still watched. An endpoint may be an HTTPS
//!   URL instead of a Lambda ARN: it is kept, and the planner sorts it as "elsewhere".
//! - `GET /v1/skills/{skillId}/certifications` answers a `ListCertificationsResponse`:
//!   `{"isTruncated", "nextToken", "totalCount", "items": [{"id", "status",
//!   "skillSubmissionTimestamp", "reviewTrackingInfo"}]}`. `nextToken` is "present when
//!   isTruncated is true"; generated clients omit a false `isTruncated`, so an absent one means
//!   false. The operation says items are sorted newest `skillSubmissionTimestamp` first, the
//!   response schema says "descending on id": we trust neither and take the maximum ourselves.
//! - `skillSubmissionTimestamp` is a date-time (SMAPI's Java and Go models read it as
//!   `OffsetDateTime` / RFC 3339). We accept RFC 3339 / ISO 8601 with `Z` or an offset, with or
//!   without fractions; one without any offset is read as UTC (not documented, never seen, but
//!   better than refusing the whole observation). Fractions are dropped (floor to the second):
//!   a submission read a little early makes `$LATEST` look newer, so the planner waits instead of
//!   freezing code that may postdate the submission.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::plan::skill::{CertificationStatus, Review, StageEndpoints};

/// Region keys in the order the manifest schema lists them.
const KNOWN_REGIONS: [&str; 3] = ["NA", "EU", "FE"];

#[derive(Deserialize)]
struct Envelope {
    manifest: Option<Manifest>,
}

#[derive(Deserialize)]
struct Manifest {
    apis: Option<Apis>,
}

#[derive(Deserialize)]
struct Apis {
    custom: Option<Api>,
    #[serde(rename = "smartHome")]
    smart_home: Option<Api>,
}

#[derive(Deserialize)]
struct Api {
    endpoint: Option<Endpoint>,
    regions: Option<BTreeMap<String, Region>>,
}

#[derive(Deserialize)]
struct Region {
    endpoint: Option<Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    uri: Option<String>,
}

/// A stage manifest's endpoint URIs: each API's default `endpoint.uri`, then its per-region ones;
/// `custom` before `smartHome`; duplicates once. A manifest with no endpoint at all gives an empty
/// list (a skill being set up), not an error.
pub(crate) fn stage_endpoints(body: &[u8]) -> Result<StageEndpoints, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("stage manifest is not the expected JSON: {e}"))?;
    let manifest = envelope.manifest.ok_or("stage manifest answer has no `manifest`")?;
    let mut uris: Vec<String> = Vec::new();
    let mut push = |uri: Option<String>| {
        if let Some(uri) = uri.map(|u| u.trim().to_string()).filter(|u| !u.is_empty())
            && !uris.contains(&uri)
        {
            uris.push(uri);
        }
    };
    let apis = manifest.apis.map(|a| [a.custom, a.smart_home]).unwrap_or_default();
    for api in apis.into_iter().flatten() {
        push(api.endpoint.and_then(|e| e.uri));
        let mut regions: Vec<(String, Region)> = api.regions.unwrap_or_default().into_iter().collect();
        regions.sort_by_key(|(key, _)| {
            (KNOWN_REGIONS.iter().position(|k| k == key).unwrap_or(KNOWN_REGIONS.len()), key.clone())
        });
        for (_, region) in regions {
            push(region.endpoint.and_then(|e| e.uri));
        }
    }
    Ok(StageEndpoints { uris })
}

/// SMAPI's last manifest update request (`GET /v1/skills/{skillId}/status?resource=manifest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestUpdate {
    /// `IN_PROGRESS`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    /// SMAPI's error and warning messages (`code: message`).
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// The ETag of the development manifest now (`manifest.eTag`), when SMAPI gives it.
    pub etag: Option<String>,
}

/// `{"manifest": {"eTag", "lastUpdateRequest": {"status", "errors": [{code, message}],
/// "warnings": [...]}}}`; `None` without a `lastUpdateRequest` (no update was ever made).
pub(crate) fn manifest_update(body: &[u8]) -> Result<Option<ManifestUpdate>, String> {
    #[derive(Deserialize)]
    struct Status {
        manifest: Option<ManifestStatus>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ManifestStatus {
        #[serde(rename = "eTag")]
        etag: Option<String>,
        last_update_request: Option<UpdateRequest>,
    }
    #[derive(Deserialize)]
    struct UpdateRequest {
        status: String,
        #[serde(default)]
        errors: Vec<Message>,
        #[serde(default)]
        warnings: Vec<Message>,
    }
    #[derive(Deserialize)]
    struct Message {
        code: Option<String>,
        message: Option<String>,
    }
    let text = |m: Message| match (m.code, m.message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (c, m) => m.or(c).unwrap_or_default(),
    };
    let status: Status = serde_json::from_slice(body).map_err(|e| format!("not the expected JSON: {e}"))?;
    let Some(manifest) = status.manifest else { return Ok(None) };
    let Some(update) = manifest.last_update_request else { return Ok(None) };
    if !matches!(update.status.as_str(), "IN_PROGRESS" | "SUCCEEDED" | "FAILED") {
        return Err(format!("unknown lastUpdateRequest.status {:?}", update.status));
    }
    Ok(Some(ManifestUpdate {
        status: update.status,
        errors: update.errors.into_iter().map(text).collect(),
        warnings: update.warnings.into_iter().map(text).collect(),
        etag: manifest.etag,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    is_truncated: Option<bool>,
    next_token: Option<String>,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    id: Option<String>,
    status: Option<String>,
    skill_submission_timestamp: Option<String>,
}

/// One certification review as listed; the status is checked only on the one that matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListedReview {
    pub id: String,
    pub status: String,
    pub submitted_at: i64,
}

/// One page of the certifications list.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CertificationPage {
    pub reviews: Vec<ListedReview>,
    /// The token for the next page; `None` on the last one.
    pub next_token: Option<String>,
}

pub(crate) fn certification_page(body: &[u8]) -> Result<CertificationPage, String> {
    let page: Page = serde_json::from_slice(body)
        .map_err(|e| format!("certifications list is not the expected JSON: {e}"))?;
    let next_token = page.next_token.filter(|t| !t.is_empty());
    let next_token = match (page.is_truncated, next_token) {
        (Some(false), _) => None,
        (Some(true), None) => {
            return Err("certifications list says isTruncated but gives no nextToken".into());
        }
        (_, token) => token,
    };
    let mut reviews = Vec::with_capacity(page.items.len());
    for (n, item) in page.items.into_iter().enumerate() {
        let id = item.id.filter(|i| !i.is_empty()).ok_or(format!("certification item {n} has no id"))?;
        let stamp = item
            .skill_submission_timestamp
            .ok_or(format!("certification {id} has no skillSubmissionTimestamp"))?;
        let submitted_at = parse_timestamp(&stamp)
            .map_err(|e| format!("certification {id}: skillSubmissionTimestamp {e}"))?;
        let status = item.status.ok_or(format!("certification {id} has no status"))?;
        reviews.push(ListedReview { id, status, submitted_at });
    }
    Ok(CertificationPage { reviews, next_token })
}

/// The review with the newest submission (the first listed among equals). Only its status must
/// be one we know: an unknown status on an old review does not hide the current one.
pub(crate) fn latest_review(reviews: &[ListedReview]) -> Result<Option<Review>, String> {
    let mut latest: Option<&ListedReview> = None;
    for review in reviews {
        if latest.is_none_or(|l| review.submitted_at > l.submitted_at) {
            latest = Some(review);
        }
    }
    let Some(latest) = latest else { return Ok(None) };
    let status = CertificationStatus::parse(&latest.status)
        .ok_or(format!("certification {} has an unknown status {:?}", latest.id, latest.status))?;
    Ok(Some(Review { id: latest.id.clone(), status, submitted_at: latest.submitted_at }))
}

/// An ISO 8601 date-time as unix seconds (see the module comment for the rules).
pub(crate) fn parse_timestamp(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    match text.parse::<jiff::civil::DateTime>() {
        Ok(dt) => dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_second())
            .map_err(|e| format!("{text:?} is out of range: {e}")),
        Err(e) => Err(format!("{text:?} is not an ISO 8601 date-time: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_manifest_update_request() {
        let body = br#"{"manifest": {"eTag": "e1", "lastUpdateRequest": {"status": "FAILED",
            "errors": [{"code": "INVALID_MANIFEST", "message": "bad endpoint"}, {"message": "only text"}],
            "warnings": [{"code": "W"}]}}}"#;
        assert_eq!(
            manifest_update(body).unwrap(),
            Some(ManifestUpdate {
                status: "FAILED".into(),
                errors: vec!["INVALID_MANIFEST: bad endpoint".into(), "only text".into()],
                warnings: vec!["W".into()],
                etag: Some("e1".into()),
            })
        );
        let done = br#"{"manifest": {"lastUpdateRequest": {"status": "SUCCEEDED"}}}"#;
        assert_eq!(manifest_update(done).unwrap().map(|u| u.status), Some("SUCCEEDED".into()));
        assert_eq!(manifest_update(br#"{"manifest": {"eTag": "e1"}}"#).unwrap(), None);
        assert!(manifest_update(br#"{"manifest": {"lastUpdateRequest": {"status": "WHAT"}}}"#).is_err());
        assert!(manifest_update(b"<html>").is_err());
    }

    fn uris(json: &str) -> Vec<String> {
        stage_endpoints(json.as_bytes()).unwrap().uris
    }

    #[test]
    fn custom_endpoint_then_regions_in_schema_order() {
        let json = r#"{"manifest": {"manifestVersion": "1.0", "apis": {"custom": {
            "endpoint": {"uri": "arn:aws:lambda:us-east-1:1:function:f:PROD1"},
            "interfaces": [],
            "regions": {
                "FE": {"endpoint": {"uri": "arn:aws:lambda:us-west-2:1:function:f:PROD1"}},
                "EU": {"endpoint": {"uri": "arn:aws:lambda:eu-west-1:1:function:f:PROD1"}},
                "NA": {"endpoint": {"uri": "arn:aws:lambda:us-east-1:1:function:f:PROD1"}},
                "XX": {"endpoint": {"uri": "arn:aws:lambda:af-south-1:1:function:f:PROD1"}}
            }}}}}"#;
        assert_eq!(
            uris(json),
            vec![
                "arn:aws:lambda:us-east-1:1:function:f:PROD1", // default; NA repeats it
                "arn:aws:lambda:eu-west-1:1:function:f:PROD1",
                "arn:aws:lambda:us-west-2:1:function:f:PROD1",
                "arn:aws:lambda:af-south-1:1:function:f:PROD1",
            ]
        );
    }

    #[test]
    fn smart_home_endpoints_and_region_only_manifests() {
        let json = r#"{"manifest": {"apis": {"smartHome": {
            "protocolVersion": "3",
            "regions": {"EU": {"endpoint": {"uri": "arn:aws:lambda:eu-west-1:1:function:f:PROD2"}}}}}}}"#;
        assert_eq!(uris(json), vec!["arn:aws:lambda:eu-west-1:1:function:f:PROD2"]);
        let both = r#"{"manifest": {"apis": {
            "smartHome": {"endpoint": {"uri": "b"}},
            "custom": {"endpoint": {"uri": "a"}, "regions": {"NA": {"endpoint": {}}}}}}}"#;
        assert_eq!(uris(both), vec!["a", "b"]);
    }

    #[test]
    fn manifests_without_endpoints_are_empty_and_garbage_is_refused() {
        assert!(uris(r#"{"manifest": {"publishingInformation": {}}}"#).is_empty());
        assert!(uris(r#"{"manifest": {"apis": {"flashBriefing": {}}}}"#).is_empty());
        assert!(stage_endpoints(b"{}").unwrap_err().contains("no `manifest`"));
        assert!(stage_endpoints(b"<html>").is_err());
        assert!(stage_endpoints(br#"{"manifest": {"apis": {"custom": {"endpoint": "x"}}}}"#).is_err());
    }

    #[test]
    fn pages_follow_next_token_only_while_truncated() {
        let page = certification_page(
            br#"{"_links": {}, "isTruncated": true, "nextToken": "abc", "totalCount": 3,
                "items": [{"id": "c1", "status": "SUCCEEDED",
                           "skillSubmissionTimestamp": "2026-01-02T03:04:05.678Z",
                           "reviewTrackingInfo": {"lastUpdated": "2026-01-03T00:00:00Z"}}]}"#,
        )
        .unwrap();
        assert_eq!(page.next_token.as_deref(), Some("abc"));
        assert_eq!(
            page.reviews,
            vec![ListedReview { id: "c1".into(), status: "SUCCEEDED".into(), submitted_at: 1_767_323_045 }]
        );
        let last =
            certification_page(br#"{"isTruncated": false, "nextToken": "stale", "items": []}"#).unwrap();
        assert_eq!(last, CertificationPage { reviews: vec![], next_token: None });
        // An omitted isTruncated is false, but a token alone still means "more".
        assert_eq!(certification_page(br#"{"items": []}"#).unwrap().next_token, None);
        assert_eq!(certification_page(br#"{"nextToken": "t"}"#).unwrap().next_token.as_deref(), Some("t"));
        assert!(
            certification_page(br#"{"isTruncated": true, "items": []}"#).unwrap_err().contains("nextToken")
        );
        assert!(certification_page(br#"{"isTruncated": true, "nextToken": "", "items": []}"#).is_err());
    }

    #[test]
    fn items_need_id_status_and_a_readable_timestamp() {
        let err =
            |item: &str| certification_page(format!(r#"{{"items": [{item}]}}"#).as_bytes()).unwrap_err();
        assert!(
            err(r#"{"status": "FAILED", "skillSubmissionTimestamp": "2026-01-01T00:00:00Z"}"#)
                .contains("no id")
        );
        assert!(err(r#"{"id": "c", "status": "FAILED"}"#).contains("skillSubmissionTimestamp"));
        assert!(
            err(r#"{"id": "c", "skillSubmissionTimestamp": "2026-01-01T00:00:00Z"}"#).contains("no status")
        );
        assert!(
            err(r#"{"id": "c", "status": "FAILED", "skillSubmissionTimestamp": "yesterday"}"#)
                .contains("not an ISO 8601")
        );
    }

    fn listed(id: &str, status: &str, at: i64) -> ListedReview {
        ListedReview { id: id.into(), status: status.into(), submitted_at: at }
    }

    #[test]
    fn latest_review_is_the_newest_submission_whatever_the_order() {
        assert_eq!(latest_review(&[]).unwrap(), None);
        let reviews =
            [listed("a", "FAILED", 100), listed("c", "IN_PROGRESS", 300), listed("b", "SUCCEEDED", 200)];
        assert_eq!(
            latest_review(&reviews).unwrap(),
            Some(Review { id: "c".into(), status: CertificationStatus::InProgress, submitted_at: 300 })
        );
        // Ties: the first listed (SMAPI lists newest first).
        let tie = [listed("x", "CANCELLED", 5), listed("y", "SUCCEEDED", 5)];
        assert_eq!(latest_review(&tie).unwrap().map(|r| r.id), Some("x".to_string()));
        // An unknown status matters only on the latest review.
        let old_unknown = [listed("old", "SOMETHING_NEW", 1), listed("new", "FAILED", 2)];
        assert_eq!(latest_review(&old_unknown).unwrap().map(|r| r.status), Some(CertificationStatus::Failed));
        let new_unknown = [listed("old", "FAILED", 1), listed("new", "SOMETHING_NEW", 2)];
        assert!(latest_review(&new_unknown).unwrap_err().contains("SOMETHING_NEW"));
    }

    #[test]
    fn timestamps_in_the_forms_smapi_models_write() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_timestamp("2026-01-02T03:04:05Z"), Ok(1_767_323_045));
        assert_eq!(parse_timestamp("2026-01-02T03:04:05.999Z"), Ok(1_767_323_045), "fractions floor");
        assert_eq!(parse_timestamp("2026-01-02T03:04:05.123456789+00:00"), Ok(1_767_323_045));
        assert_eq!(parse_timestamp("2026-01-02T05:04:05+02:00"), Ok(1_767_323_045));
        assert_eq!(parse_timestamp("2026-01-01T19:04:05-08:00"), Ok(1_767_323_045));
        assert_eq!(parse_timestamp("2026-01-02T03:04:05"), Ok(1_767_323_045), "no offset: UTC");
        assert_eq!(parse_timestamp(" 2026-01-02T03:04:05.5 "), Ok(1_767_323_045));
        assert!(parse_timestamp("").is_err());
        assert!(parse_timestamp("1767323045").is_err());
        assert!(parse_timestamp("02/01/2026 03:04").is_err());
    }
}
