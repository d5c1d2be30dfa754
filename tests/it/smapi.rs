//! The SMAPI adapter (`lambda_alias_controller::alexa`) against the fake SMAPI + LWA server over
//! real HTTP: stages, per-region endpoints, paged certifications, the token cache, the 401 retry,
//! and each error the controller must tell apart. Fails, never skips, when the fake cannot start.

use crate::support;

use std::time::Duration;

use base64::Engine as _;
use lambda_alias_controller::alexa::{AlexaCredentials, EndpointWrite, Smapi, SmapiError, SmapiSettings};
use lambda_alias_controller::plan::skill::{CertificationStatus, Review, SkillObservation, StageEndpoints};
use support::credentials_yaml;
use support::smapi::{FakeSmapi, Stage, fake_smapi, unique_skill_id, unique_vendor};

const FN: &str = "arn:aws:lambda:us-east-1:111122223333:function:trivia";

fn alias(name: &str) -> String {
    format!("{FN}:{name}")
}

fn stage(uris: &[&str]) -> Option<StageEndpoints> {
    Some(StageEndpoints { uris: uris.iter().map(|u| u.to_string()).collect() })
}

fn smapi(fake: &FakeSmapi) -> Smapi {
    Smapi::new(&fake.settings()).expect("a SMAPI client for the fake")
}

/// A vendor, credentials of one of its users, and a skill of that vendor whose development stage
/// calls PROD2 and, when `live`, whose live stage calls PROD1.
fn skill(fake: &FakeSmapi, live: bool) -> (String, AlexaCredentials, String) {
    let vendor = unique_vendor();
    let credentials = fake.client(&vendor);
    let skill_id = unique_skill_id();
    let live_stage = Stage::custom(&alias("PROD1"));
    fake.create_skill(&skill_id, &vendor, &Stage::custom(&alias("PROD2")), live.then_some(&live_stage));
    (vendor, credentials, skill_id)
}

/// The error's message, after checking that it carries none of the secrets.
fn message_without_secrets(error: &SmapiError, credentials: &AlexaCredentials) -> String {
    let message = error.to_string();
    for secret in [&credentials.client_secret, &credentials.refresh_token] {
        assert!(!message.contains(secret.as_str()), "the message leaks a secret: {message}");
    }
    assert!(!message.contains("Atza|"), "the message leaks an access token: {message}");
    message
}

#[tokio::test]
async fn observes_both_stages_and_the_newest_review() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let smapi = smapi(fake);

    let fresh = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(
        fresh,
        SkillObservation {
            skill_id: skill_id.clone(),
            live: stage(&[&alias("PROD1")]),
            development: stage(&[&alias("PROD2")]),
            latest_review: None,
        }
    );

    fake.submit_at(&skill_id, 1_767_000_000.25);
    fake.fail(&skill_id);
    let second = fake.submit_at(&skill_id, 1_767_323_045.678);
    let observed = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(
        observed.latest_review,
        Some(Review {
            id: second.clone(),
            status: CertificationStatus::InProgress,
            submitted_at: 1_767_323_045
        })
    );
    fake.certify(&skill_id);
    let observed = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(
        observed.latest_review.map(|r| (r.id, r.status)),
        Some((second, CertificationStatus::Succeeded))
    );
}

#[tokio::test]
async fn per_region_endpoints_are_collected_for_custom_and_smart_home_skills() {
    let fake = fake_smapi();
    let vendor = unique_vendor();
    let credentials = fake.client(&vendor);
    let skill_id = unique_skill_id();
    let eu = "arn:aws:lambda:eu-west-1:111122223333:function:trivia:PROD2";
    let fe = "arn:aws:lambda:us-west-2:111122223333:function:trivia:PROD2";
    let development =
        Stage::custom(&alias("PROD2")).region("FE", fe).region("EU", eu).region("NA", &alias("PROD2"));
    let live =
        Stage::smart_home(&alias("PROD1")).without_default().region("EU", eu).region("NA", &alias("PROD1"));
    fake.create_skill(&skill_id, &vendor, &development, Some(&live));

    let observed = smapi(fake).observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(
        observed.development,
        stage(&[&alias("PROD2"), eu, fe]),
        "default, then NA (a repeat), EU, FE"
    );
    assert_eq!(observed.live, stage(&[&alias("PROD1"), eu]), "regions only: NA before EU");
}

#[tokio::test]
async fn every_certification_page_is_read_and_the_newest_submission_wins() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    // Five reviews; the fake lists them newest id first, two per page, so the back-dated first
    // review, whose submission is the newest, comes on the third page.
    let first = fake.submit_at(&skill_id, 1_800_000_500.0);
    fake.certify(&skill_id);
    for at in [1_800_000_100.0, 1_800_000_200.0, 1_800_000_300.0] {
        fake.submit_at(&skill_id, at);
        fake.cancel(&skill_id);
    }
    fake.submit_at(&skill_id, 1_800_000_400.0);

    let observed = smapi(fake).observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(
        observed.latest_review,
        Some(Review { id: first, status: CertificationStatus::Succeeded, submitted_at: 1_800_000_500 })
    );
    let pages: Vec<String> = fake
        .smapi_calls(&skill_id)
        .into_iter()
        .filter(|(status, path)| *status == 200 && path.contains("/certifications"))
        .map(|(_, path)| path)
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[0].ends_with("certifications?maxResults=50"), "{pages:?}");
    assert!(pages[1..].iter().all(|p| p.contains("nextToken=")), "{pages:?}");
}

#[tokio::test]
async fn one_token_serves_every_call_until_it_expires() {
    let fake = fake_smapi();
    let vendor = unique_vendor();
    // LWA says 6 s; the client gives a token up after half its life when that is under two minutes.
    let credentials = fake.client_with_token_lifetime(&vendor, 6);
    let skill_id = unique_skill_id();
    fake.create_skill(&skill_id, &vendor, &Stage::custom(&alias("PROD2")), None);
    let smapi = smapi(fake);

    // Concurrent observations wait for one token instead of each asking LWA.
    let results = futures::future::join_all((0..4).map(|_| smapi.observe(&credentials, &skill_id))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(fake.token_requests(&credentials.client_id), 1);
    assert_eq!(fake.smapi_requests(&skill_id), 5 * 3, "two stages and one certifications page each");

    tokio::time::sleep(Duration::from_millis(3100)).await;
    smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(fake.token_requests(&credentials.client_id), 2, "a token past its usable life is replaced");
    let refused = fake.smapi_calls(&skill_id).iter().filter(|(status, _)| *status == 401).count();
    assert_eq!(refused, 0, "replaced before SMAPI saw it expire");
}

#[tokio::test]
async fn the_cache_is_per_credentials() {
    let fake = fake_smapi();
    let (vendor, credentials, skill_id) = skill(fake, false);
    let rotated = fake.another_refresh_token(&credentials, &vendor);
    let smapi = smapi(fake);
    for creds in [&credentials, &rotated, &credentials, &rotated] {
        smapi.observe(creds, &skill_id).await.unwrap();
    }
    assert_eq!(fake.token_requests(&credentials.client_id), 2, "one token per refresh token, each reused");
}

#[tokio::test]
async fn a_token_expired_on_the_server_is_refreshed_once_and_the_calls_retried() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let smapi = smapi(fake);
    let before = smapi.observe(&credentials, &skill_id).await.unwrap();

    fake.expire_tokens(&credentials.client_id);
    let after = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(fake.token_requests(&credentials.client_id), 2, "exactly one refresh");
    let calls = fake.smapi_calls(&skill_id);
    let statuses: Vec<u16> = calls.iter().map(|(status, _)| *status).collect();
    assert_eq!(calls.len(), 9, "3 calls, then 3 refused and 3 retried: {calls:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "{calls:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 6, "{calls:?}");
}

#[tokio::test]
async fn a_fresh_token_refused_by_smapi_is_unauthorized() {
    let fake = fake_smapi();
    let vendor = unique_vendor();
    // Tokens that are dead on arrival: SMAPI answers 401 to the retry too.
    let credentials = fake.client_with_token_lifetime(&vendor, 0);
    let skill_id = unique_skill_id();
    fake.create_skill(&skill_id, &vendor, &Stage::custom(&alias("PROD2")), None);

    let error = smapi(fake).observe(&credentials, &skill_id).await.unwrap_err();
    assert!(matches!(error, SmapiError::Unauthorized { .. }), "{error:?}");
    let message = message_without_secrets(&error, &credentials);
    assert!(message.contains("401") && message.contains("freshly issued"), "{message}");
    assert!(message.contains("check the credentials Secret"), "{message}");
}

#[tokio::test]
async fn credentials_refused_by_lwa_are_unauthorized_and_never_quoted() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let smapi = smapi(fake);

    let wrong_secret = AlexaCredentials { client_secret: "not-the-secret".into(), ..credentials.clone() };
    let error = smapi.observe(&wrong_secret, &skill_id).await.unwrap_err();
    assert!(matches!(error, SmapiError::Unauthorized { .. }), "{error:?}");
    assert_eq!(error.metric_label(), "SmapiUnauthorized");
    let message = message_without_secrets(&error, &wrong_secret);
    assert!(message.contains("invalid_client") && message.contains(&credentials.client_id), "{message}");
    assert!(!message.contains(&credentials.client_secret), "{message}");
    assert_eq!(fake.token_requests(&credentials.client_id), 1, "one LWA call, not one per SMAPI call");
    assert_eq!(fake.smapi_requests(&skill_id), 0);

    let wrong_token = AlexaCredentials { refresh_token: "Atzr|someone-else".into(), ..credentials.clone() };
    let error = smapi.observe(&wrong_token, &skill_id).await.unwrap_err();
    let message = message_without_secrets(&error, &wrong_token);
    assert!(
        matches!(error, SmapiError::Unauthorized { .. }) && message.contains("invalid_grant"),
        "{message}"
    );

    // The right credentials still work: a refusal is not cached.
    assert!(smapi.observe(&credentials, &skill_id).await.is_ok());
}

#[tokio::test]
async fn another_vendors_skill_is_forbidden_and_an_unknown_one_not_found() {
    let fake = fake_smapi();
    let (_, _, skill_id) = skill(fake, true);
    let stranger = fake.client(&unique_vendor());
    let smapi = smapi(fake);

    let error = smapi.observe(&stranger, &skill_id).await.unwrap_err();
    assert!(matches!(&error, SmapiError::Forbidden { skill_id: s } if *s == skill_id), "{error:?}");
    assert_eq!(error.metric_label(), "SmapiForbidden");
    assert!(message_without_secrets(&error, &stranger).contains("no access to this skill"));

    let unknown = unique_skill_id();
    let error = smapi.observe(&stranger, &unknown).await.unwrap_err();
    assert!(matches!(&error, SmapiError::NotFound { skill_id: s } if *s == unknown), "{error:?}");
    assert!(error.to_string().contains("skillId"), "{error}");
}

#[tokio::test]
async fn no_live_stage_until_published_and_live_is_what_was_submitted() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, false);
    let smapi = smapi(fake);

    let observed = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!((observed.live, observed.development), (None, stage(&[&alias("PROD2")])));

    fake.submit(&skill_id);
    // A development edit after the submission is not what gets certified and published.
    fake.set_stage(&skill_id, "development", Some(&Stage::custom(&alias("PROD1"))));
    fake.certify(&skill_id);
    let certified = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(certified.live, None, "certified is not published");
    assert_eq!(certified.latest_review.map(|r| r.status), Some(CertificationStatus::Succeeded));

    fake.publish(&skill_id);
    let published = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(published.live, stage(&[&alias("PROD2")]));
    assert_eq!(published.development, stage(&[&alias("PROD1")]));
}

#[tokio::test]
async fn throttling_gives_the_retry_hint_and_outages_are_unavailable() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let smapi = smapi(fake);

    fake.throttle(&skill_id, 1, 7);
    let error = smapi.observe(&credentials, &skill_id).await.unwrap_err();
    assert!(
        matches!(error, SmapiError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(7)),
        "{error:?}"
    );
    assert_eq!(error.metric_label(), "SmapiThrottled");
    assert!(smapi.observe(&credentials, &skill_id).await.is_ok(), "the throttle is over");

    fake.outage(&skill_id, 1, 503);
    let error = smapi.observe(&credentials, &skill_id).await.unwrap_err();
    assert!(matches!(&error, SmapiError::Unavailable(m) if m.contains("503")), "{error:?}");
    assert!(smapi.observe(&credentials, &skill_id).await.is_ok());
    assert_eq!(fake.token_requests(&credentials.client_id), 1, "429 and 5xx keep the token");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dead_lwa =
        SmapiSettings { lwa_endpoint: format!("http://127.0.0.1:{closed}/auth/o2/token"), ..fake.settings() };
    let error = Smapi::new(&dead_lwa).unwrap().observe(&credentials, &skill_id).await.unwrap_err();
    assert!(matches!(&error, SmapiError::Unavailable(m) if m.contains("Login with Amazon")), "{error:?}");
    assert_eq!(error.metric_label(), "SmapiUnavailable");
}

#[tokio::test]
async fn credentials_from_a_file_or_a_secret_manifest_reach_smapi() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let dir = std::env::temp_dir().join(support::unique_name("lac-alexa-creds"));
    std::fs::create_dir_all(&dir).unwrap();

    let plain = dir.join("alexa.yaml");
    std::fs::write(&plain, credentials_yaml(&credentials)).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let manifest = dir.join("secret.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: alexa\ntype: Opaque\ndata:\n  \
             clientId: {}\n  clientSecret: {}\n  refreshToken: {}\n",
            b64(&credentials.client_id),
            b64(&credentials.client_secret),
            b64(&credentials.refresh_token)
        ),
    )
    .unwrap();
    let smapi = smapi(fake);
    for file in [&plain, &manifest] {
        let read = AlexaCredentials::from_yaml_file(file).unwrap();
        assert_eq!(read, credentials, "{}", file.display());
        assert!(smapi.observe(&read, &skill_id).await.is_ok());
    }

    let incomplete = dir.join("incomplete.yaml");
    std::fs::write(
        &incomplete,
        format!("clientId: {}\nclientSecret: {}\n", credentials.client_id, credentials.client_secret),
    )
    .unwrap();
    let error = AlexaCredentials::from_yaml_file(&incomplete).unwrap_err();
    let message = message_without_secrets(&error, &credentials);
    assert!(
        message.contains(&incomplete.display().to_string()) && message.contains("`refreshToken` is missing")
    );
    assert_eq!(error.metric_label(), "SmapiInvalidCredentials");

    let data = [("clientId", "id"), ("clientSecret", ""), ("refreshToken", "t")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let error = AlexaCredentials::from_secret_data(&data).unwrap_err();
    assert!(
        matches!(&error, SmapiError::InvalidCredentials { key, .. } if key == "clientSecret"),
        "{error:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A real-shaped development manifest (regional endpoints, one of another function, unknown
/// fields, an APL interface that names the function outside an endpoint, odd spacing).
fn rich_manifest() -> String {
    format!(
        r#"{{"manifest": {{
  "manifestVersion" : "1.0",
  "apis": {{"custom": {{
      "endpoint": {{"sslCertificateType": "Trusted", "uri": "{p1}"}},
      "regions": {{"NA": {{"endpoint": {{"uri": "{p1}"}}}}, "EU": {{"endpoint": {{"uri":"{FN}"}}}}, "FE": {{"endpoint": {{"uri": "{FN}-fe:PROD1"}}}}}},
      "interfaces": [{{"type": "ALEXA_PRESENTATION_APL", "supportedViewports": [{{"mode": "HUB", "shape": "ROUND", "minWidth": 100}}]}}]
  }}}},
  "publishingInformation": {{"locales": {{"en-US": {{"name": "Trivia", "keywords": ["quiz"]}}}}, "category": "GAMES"}},
  "x-team": {{"owner": "trivia", "note": "\u00e9t\u00e9", "weights": [1.50, 2e3]}}
}}}}"#,
        p1 = alias("PROD1")
    )
}

#[tokio::test]
async fn the_development_endpoint_is_re_pointed_and_nothing_else_changes() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let before = rich_manifest();
    fake.set_raw_development(&skill_id, &before);
    let (_, etag) = fake.development_text(&skill_id);
    let smapi = smapi(fake);

    let wrote = smapi.retarget_development(&credentials, &skill_id, FN, &alias("PROD2")).await.unwrap();
    let EndpointWrite::Accepted { etag: over, changed } = wrote else { panic!("{wrote:?}") };
    assert_eq!(over, etag, "written over the manifest just read");
    let paths: Vec<&str> = changed.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "manifest.apis.custom.endpoint.uri",
            "manifest.apis.custom.regions.NA.endpoint.uri",
            "manifest.apis.custom.regions.EU.endpoint.uri"
        ]
    );
    let update = smapi.manifest_update(&credentials, &skill_id).await.unwrap().expect("an update");
    assert_eq!(update.status, "SUCCEEDED", "{update:?}");
    // The stage now serves exactly the text written: the original with three URIs replaced.
    let (after, new_etag) = fake.development_text(&skill_id);
    assert_ne!(new_etag, etag);
    let expected = before
        .replace(&format!("\"{}\"", alias("PROD1")), &format!("\"{}\"", alias("PROD2")))
        .replace(&format!("\"uri\":\"{FN}\""), &format!("\"uri\":\"{}\"", alias("PROD2")));
    assert_eq!(after, expected);
    assert!(after.contains(&format!("{FN}-fe:PROD1")), "another function's endpoint stays");
    let observed = smapi.observe(&credentials, &skill_id).await.unwrap();
    assert_eq!(observed.development, stage(&[&alias("PROD2"), &format!("{FN}-fe:PROD1")]));
    assert_eq!(observed.live, stage(&[&alias("PROD1")]), "the live stage is untouched");
    // Nothing left to re-point: no second write.
    let again = smapi.retarget_development(&credentials, &skill_id, FN, &alias("PROD2")).await.unwrap();
    assert_eq!(again, EndpointWrite::Unchanged);
    assert_eq!(fake.writes(&skill_id).len(), 1);
    // Only the development stage was ever written.
    let puts = fake.smapi_puts(&skill_id);
    assert_eq!(puts, vec![format!("/v1/skills/{skill_id}/stages/development/manifest")]);
}

#[tokio::test]
async fn a_stale_etag_writes_nothing_and_a_failed_update_says_why() {
    let fake = fake_smapi();
    let (_, credentials, skill_id) = skill(fake, true);
    let smapi = smapi(fake);
    // A person edits the manifest between our read and our write: 412, nothing written.
    fake.race(&skill_id, 1);
    let raced = smapi.retarget_development(&credentials, &skill_id, FN, &alias("PROD1")).await.unwrap();
    assert_eq!(raced, EndpointWrite::Stale);
    assert!(fake.writes(&skill_id).is_empty(), "a stale ETag is never overwritten");
    let (text, _) = fake.development_text(&skill_id);
    assert!(text.contains("(edited)") && text.contains(&alias("PROD2")), "the person's edit stands: {text}");
    // Read again: it goes through, over the person's edit (which is kept).
    fake.script_updates(&skill_id, 0.0, 1);
    let wrote = smapi.retarget_development(&credentials, &skill_id, FN, &alias("PROD1")).await.unwrap();
    assert!(matches!(wrote, EndpointWrite::Accepted { .. }), "{wrote:?}");
    let update = smapi.manifest_update(&credentials, &skill_id).await.unwrap().expect("an update");
    assert_eq!(update.status, "FAILED");
    assert_eq!(update.errors, vec!["INVALID_MANIFEST: The endpoint is not valid.".to_string()]);
    let (text, _) = fake.development_text(&skill_id);
    assert!(text.contains(&alias("PROD2")), "a FAILED update changes nothing: {text}");
    // Slow updates are IN_PROGRESS until they end.
    fake.script_updates(&skill_id, 30.0, 0);
    smapi.retarget_development(&credentials, &skill_id, FN, &alias("PROD1")).await.unwrap();
    let update = smapi.manifest_update(&credentials, &skill_id).await.unwrap().expect("an update");
    assert_eq!(update.status, "IN_PROGRESS");
}

#[tokio::test]
async fn one_rate_limit_per_credentials_and_a_429_holds_back_every_skill_of_them() {
    let fake = fake_smapi();
    let vendor = unique_vendor();
    let credentials = fake.client(&vendor);
    let (first, second) = (unique_skill_id(), unique_skill_id());
    for skill in [&first, &second] {
        fake.create_skill(skill, &vendor, &Stage::custom(&alias("PROD2")), None);
    }
    // 2 requests a second, bursts of 4: an observation is 3 requests.
    let smapi = Smapi::new(&SmapiSettings { rate: 2.0, ..fake.settings() }).expect("client");
    let counted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = counted.clone();
    smapi.on_request(std::sync::Arc::new(move |op, outcome| sink.lock().unwrap().push((op, outcome))));
    let started = std::time::Instant::now();
    for _ in 0..3 {
        smapi.observe(&credentials, &first).await.expect("observe");
    }
    // 9 requests: 4 at once, then 5 at 2 a second.
    assert!(started.elapsed() >= Duration::from_millis(2400), "held to the rate: {:?}", started.elapsed());
    assert_eq!(counted.lock().unwrap().len(), 9);
    let outcomes: Vec<&str> = counted.lock().unwrap().iter().map(|(_, outcome)| *outcome).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "not_found").count(), 3, "no live stage yet: {outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == "ok").count(), 6, "{outcomes:?}");

    // A 429 with Retry-After 2 for the first skill (one request): the second skill, same
    // credentials, waits for it too.
    let fast = Smapi::new(&SmapiSettings { rate: 100.0, ..fake.settings() }).expect("client");
    fast.observe(&credentials, &first).await.expect("a token and a first observation");
    fake.throttle(&first, 1, 2);
    let throttled = fast.manifest_update(&credentials, &first).await.unwrap_err();
    assert!(matches!(throttled, SmapiError::Throttled { .. }), "{throttled}");
    let held = std::time::Instant::now();
    fast.observe(&credentials, &second).await.expect("observe after the pause");
    assert!(held.elapsed() >= Duration::from_millis(1500), "paused for the hint: {:?}", held.elapsed());
    // And another user of the vendor (another Secret) waits for that skill too.
    let other = fake.client(&vendor);
    fast.observe(&other, &second).await.expect("a token for the other user");
    fake.throttle(&first, 1, 2);
    fast.manifest_update(&credentials, &first).await.unwrap_err();
    let held = std::time::Instant::now();
    fast.observe(&other, &first).await.expect("observe after the pause");
    assert!(
        held.elapsed() >= Duration::from_millis(1500),
        "the skill is paused for all: {:?}",
        held.elapsed()
    );
}
