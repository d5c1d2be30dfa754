//! `alexa.manageDevelopmentEndpoint` end to end on a real API server: `run` against moto (Lambda)
//! and the fake Skill Management API (`tests/support/fake_smapi.py`), with the credentials in a
//! Secret of the set's namespace.
//!
//! - Two full rounds with `certification.phase: FromSkill` and no manual step at all: submission,
//!   certification and publication are scripted in the fake; after each swap and drain the
//!   development endpoint follows the candidate: PROD2, then PROD1, then PROD2. Each manifest
//!   write is logged with its ETag and SMAPI's status; no write touches the live stage or
//!   happens during a review.
//! - A real-shaped manifest (regional endpoints, unknown fields): a person edits it between the
//!   controller's read and write (412): nothing is overwritten, the next write keeps the edit;
//!   only the endpoint URIs differ. A FAILED update: a Warning, the record in status, no retry
//!   of the same move.
//!
//! Every step is printed with its time, so the run's output is the rounds' log.

use crate::support;

use serde_json::{Value, json};
use support::cluster::{annotate_namespace, cluster, eventually};
use support::skill_world::SkillWorld;
use support::smapi::Stage;

impl SkillWorld {
    /// Waits for live and candidate, Converged, the development stage calling `development`
    /// and (when given) the last update's status.
    async fn expect_endpoint(
        &self,
        live: &str,
        candidate: &str,
        development: &str,
        update: Option<&str>,
    ) -> Value {
        let s =
            eventually(&format!("live {live}, candidate {candidate}, development {development}"), || async {
                let s = self.status().await?;
                let ready = s["conditions"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                    .and_then(|c| c["reason"].as_str())
                    .unwrap_or_default()
                    .to_string();
                let got = (
                    s["live"]["summary"].as_str(),
                    s["candidate"]["summary"].as_str(),
                    s["skill"]["development"].as_str(),
                    ready.as_str(),
                );
                let update_ok = update.is_none_or(|u| s["skill"]["developmentUpdate"]["status"] == u);
                if got == (Some(live), Some(candidate), Some(development), "Converged") && update_ok {
                    Ok(s)
                } else {
                    Err(format!("{got:?} {}", s["skill"]))
                }
            })
            .await;
        self.say(&format!(
            "status: live {live}, candidate {candidate}; skill live stage {}, development stage {}, review {}, developmentUpdate {}",
            s["skill"]["live"], s["skill"]["development"], s["skill"]["certification"]["status"], s["skill"]["developmentUpdate"]
        ));
        s
    }

    /// Logs every accepted write of the development manifest since `from`, with its endpoint.
    fn log_writes(&self, from: usize) -> Vec<String> {
        let writes = self.fake.writes(&self.skill);
        for (n, body) in writes.iter().enumerate().skip(from) {
            let manifest: Value = serde_json::from_str(body).expect("a JSON body");
            self.say(&format!(
                "manifest write {}: endpoint {}",
                n + 1,
                manifest["manifest"]["apis"]["custom"]["endpoint"]["uri"]
            ));
        }
        writes
    }

    /// One certification round with no manual step: deploy, submit, certify, publish; the roles
    /// swap and, after the drain, the development endpoint follows the new candidate.
    async fn round(&self, n: u32, live: &str, candidate: &str, version: &str) {
        self.deploy(&format!("round-{n}")).await;
        let review = self.fake.submit(&self.skill);
        self.say(&format!("round {n}: the skill was submitted for certification (review {review})"));
        self.review("IN_PROGRESS").await;
        self.fake.certify(&self.skill);
        self.say(&format!("round {n}: Amazon certified the skill"));
        self.review("SUCCEEDED").await;
        self.fake.publish(&self.skill);
        self.say(&format!("round {n}: Amazon published the skill: its live stage calls {candidate}"));
        let before = self.fake.writes(&self.skill).len();
        // The new candidate is the old live alias: after the drain it tracks $LATEST and the
        // development stage follows it.
        let s = self
            .expect_endpoint(
                &format!("{candidate}:{version}"),
                &format!("{live}:$LATEST"),
                live,
                Some("SUCCEEDED"),
            )
            .await;
        assert_eq!(s["skill"]["live"], candidate);
        assert_eq!(s["skill"]["developmentUpdate"]["alias"], live);
        assert_eq!(s["skill"]["developmentUpdate"]["from"], candidate);
        let writes = self.log_writes(before);
        assert_eq!(writes.len(), before + 1, "one write per round");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rounds_with_no_manual_step_the_development_endpoint_follows_the_candidate() {
    let Some(client) = cluster("k8s_skill_endpoint").await else { return };
    let w = SkillWorld::start(client, "PROD2", None, &[]).await;
    // Updates take a second at SMAPI: the controller follows IN_PROGRESS to SUCCEEDED.
    w.fake.script_updates(&w.skill, 1.0, 0);
    w.create_with("FromSkill", json!({"manageDevelopmentEndpoint": true})).await;
    let s = w.expect_endpoint("PROD1:1", "PROD2:$LATEST", "PROD2", None).await;
    assert!(s["skill"]["developmentUpdate"].is_null(), "nothing to move: {}", s["skill"]);
    assert!(w.fake.writes(&w.skill).is_empty());

    w.round(1, "PROD1", "PROD2", "2").await;
    w.round(2, "PROD2", "PROD1", "3").await;

    // Only the development stage was ever written, never during a review (the fake answers
    // 409 then, and 403 for the live stage), and every write was accepted.
    let puts = w.fake.smapi_puts(&w.skill);
    let development = format!("/v1/skills/{}/stages/development/manifest", w.skill);
    assert_eq!(puts, vec![development.clone(), development], "{puts:?}");
    let events = w.events().await;
    let moved: Vec<&(String, String)> =
        events.iter().filter(|(r, _)| r == "DevelopmentEndpointMoved").collect();
    assert_eq!(moved.len(), 2, "{events:?}");
    for (reason, note) in &events {
        if reason.starts_with("DevelopmentEndpoint") {
            w.say(&format!("Event {reason}: {note}"));
        }
    }
    assert!(
        moved[0].1.contains(&format!("{}:PROD1", w.arn)) && moved[1].1.contains(&format!("{}:PROD2", w.arn))
    );
    assert_eq!(events.iter().filter(|(r, _)| r == "DevelopmentEndpointUpdated").count(), 2, "{events:?}");
    assert!(
        !events.iter().any(|(r, _)| r == "DevelopmentStageMismatch"),
        "the mismatch is being fixed, not warned about: {events:?}"
    );

    // Steady state: no write, and at most the three reads of an observation per drift check.
    let checks_before = w.controller.metric_sum("lac_drift_checks_total").await.expect("metrics");
    let reads_before = w.fake.smapi_requests(&w.skill);
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let checks = w.controller.metric_sum("lac_drift_checks_total").await.expect("metrics") - checks_before;
    let reads = w.fake.smapi_requests(&w.skill) - reads_before;
    w.say(&format!("steady state: {reads} SMAPI requests in {checks} drift checks, no write"));
    assert!(checks >= 2.0, "the drift lane checked the set (resync 2 s): {checks}");
    assert!(reads as f64 <= 3.0 * (checks + 1.0), "{reads} reads for {checks} checks");
    assert_eq!(w.fake.smapi_puts(&w.skill).len(), 2, "no write in steady state");
    let counted = w.controller.metric_sum("lac_smapi_requests_total").await.expect("metrics");
    assert!(counted >= w.fake.smapi_requests(&w.skill) as f64, "every SMAPI request is counted: {counted}");
}

/// A real-shaped development manifest calling `alias`: regional endpoints (one of another
/// function), an interface that names the function outside an endpoint, unknown fields.
fn rich_manifest(arn: &str, alias: &str) -> String {
    format!(
        r#"{{"manifest": {{"manifestVersion": "1.0",
  "apis": {{"custom": {{"endpoint": {{"sslCertificateType": "Trusted", "uri": "{arn}:{alias}"}},
    "regions": {{"NA": {{"endpoint": {{"uri": "{arn}:{alias}"}}}}, "EU": {{"endpoint": {{"uri":"{arn}:{alias}"}}}}, "FE": {{"endpoint": {{"uri": "{arn}-fe:{alias}"}}}}}},
    "interfaces": [{{"type": "ALEXA_PRESENTATION_APL"}}]}}}},
  "publishingInformation": {{"locales": {{"en-US": {{"name": "Trivia"}}}}, "category": "GAMES"}},
  "x-team": {{"owner": "trivia", "weights": [1.50, 2e3]}}
}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_race_with_a_person_and_a_failed_update_never_overwrite_anything() {
    let Some(client) = cluster("k8s_skill_endpoint").await else { return };
    let w = SkillWorld::start(client, "PROD2", Some("PROD1"), &[]).await;
    w.create_with("Development", json!({"manageDevelopmentEndpoint": true})).await;
    w.expect_endpoint("PROD1:1", "PROD2:$LATEST", "PROD2", None).await;

    // A person points the development stage at the live alias, in a rich manifest, and edits it
    // again right after the controller reads it: the first write is stale (412).
    w.fake.race(&w.skill, 1);
    w.fake.set_raw_development(&w.skill, &rich_manifest(&w.arn, "PROD1"));
    w.say("a person pointed the development stage at PROD1 (a manifest with regions and unknown fields)");
    // The FE region calls another function (in another region): it is not this set's to move.
    let moved = format!("PROD2, other: {}-fe:PROD1", w.arn);
    let s = w.expect_endpoint("PROD1:1", "PROD2:$LATEST", &moved, Some("SUCCEEDED")).await;
    assert_eq!(s["skill"]["developmentUpdate"]["from"], format!("PROD1, other: {}-fe:PROD1", w.arn));
    let events = w.events().await;
    assert!(events.iter().any(|(r, _)| r == "DevelopmentEndpointRaced"), "{events:?}");
    let writes = w.log_writes(0);
    assert_eq!(writes.len(), 1, "the stale write was not made");
    // Only the endpoint URIs of this function changed; the person's edit and every other byte stand.
    let expected = rich_manifest(&w.arn, "PROD1")
        .replace(&format!("\"{}:PROD1\"", w.arn), &format!("\"{}:PROD2\"", w.arn))
        .replace("\"Trivia\"", "\"Trivia (edited)\"");
    let (text, _) = w.fake.development_text(&w.skill);
    assert_eq!(text, writes[0]);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("JSON"),
        serde_json::from_str::<Value>(&expected).expect("JSON"),
        "only the endpoints changed (and the person's edit stands)"
    );
    assert!(text.contains(&format!("{}-fe:PROD1", w.arn)) && text.contains("[1.50, 2e3]"), "{text}");

    // A FAILED update: a Warning, the record, and the same move is not retried.
    w.fake.script_updates(&w.skill, 0.0, 1);
    w.fake.set_stage(&w.skill, "development", Some(&Stage::custom(&format!("{}:PROD1", w.arn))));
    w.say("a person pointed the development stage at PROD1 again; SMAPI will refuse the next update");
    let s = eventually("a FAILED update in status", || async {
        let s = w.status().await?;
        if s["skill"]["developmentUpdate"]["status"] == "FAILED" {
            Ok(s)
        } else {
            Err(s["skill"].to_string())
        }
    })
    .await;
    w.say(&format!("status: developmentUpdate {}", s["skill"]["developmentUpdate"]));
    assert!(
        s["skill"]["developmentUpdate"]["errors"][0].as_str().is_some_and(|e| e.contains("not valid")),
        "{s}"
    );
    eventually("a DevelopmentEndpointFailed Warning", || async {
        let events = w.events().await;
        if events.iter().any(|(r, _)| r == "DevelopmentEndpointFailed") {
            Ok(())
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;
    let writes = w.fake.writes(&w.skill).len();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(w.fake.writes(&w.skill).len(), writes, "the same move is not retried (resync is 2 s)");
    let s = w.status().await.expect("status");
    assert_eq!(s["skill"]["developmentUpdate"]["status"], "FAILED", "the record stands: {}", s["skill"]);
    assert_eq!(s["skill"]["development"], "PROD1", "a FAILED update changed nothing");
    // The person fixes the manifest (another ETag; its EU region now calls the unqualified
    // function): the move is tried again, and goes through.
    let fixed = Stage::custom(&format!("{}:PROD1", w.arn)).region("EU", &w.arn);
    w.fake.set_stage(&w.skill, "development", Some(&fixed));
    w.say("a person edited the development manifest");
    let s = w.expect_endpoint("PROD1:1", "PROD2:$LATEST", "PROD2", Some("SUCCEEDED")).await;
    assert_eq!(s["skill"]["developmentUpdate"]["from"], "PROD1, unqualified");
    assert_eq!(w.fake.writes(&w.skill).len(), writes + 1, "one more write, for the changed manifest");
    assert_eq!(w.fake.smapi_puts(&w.skill).iter().filter(|p| p.contains("/stages/live/")).count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_strict_tenancy_only_an_allowed_skill_is_written() {
    use lambda_alias_controller::tenancy::{ALLOWED_FUNCTIONS, ALLOWED_SKILLS};

    let Some(client) = cluster("k8s_skill_endpoint").await else { return };
    let strict = ["--tenancy", "strict", "--cluster-name", "endpoint-test"];
    let w = SkillWorld::start(client.clone(), "PROD1", Some("PROD1"), &strict).await;
    let (ns, skill, fake, api) = (&w.ns, &w.skill, w.fake, &w.api);
    let functions = format!("arn:aws:lambda:{}:123456789012:function:alexa-skill-*", support::REGION);
    annotate_namespace(&client, ns, json!({ALLOWED_FUNCTIONS: functions})).await;
    w.create_with("Development", json!({"manageDevelopmentEndpoint": true})).await;

    // The function is allowed, the skill is not: converged, the development stage left alone.
    let s = eventually("held by the namespace", || async {
        let obj = api.get("skill").await.map_err(|e| e.to_string())?;
        let s = serde_json::to_value(obj.status).map_err(|e| e.to_string())?;
        let note = s["skill"]["note"].as_str().unwrap_or_default();
        if s["candidate"]["summary"] == "PROD2:$LATEST" && note.contains(ALLOWED_SKILLS) {
            Ok(s)
        } else {
            Err(s.to_string())
        }
    })
    .await;
    assert!(s["skill"]["note"].as_str().is_some_and(|n| n.contains(skill.as_str())), "{}", s["skill"]);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(fake.smapi_puts(skill).is_empty(), "nothing written without the namespace's permission");

    // The platform team allows the skill: the development stage follows the candidate.
    annotate_namespace(&client, ns, json!({ALLOWED_SKILLS: skill})).await;
    eventually("the development stage calls PROD2", || async {
        let obj = api.get("skill").await.map_err(|e| e.to_string())?;
        let s = serde_json::to_value(obj.status).map_err(|e| e.to_string())?;
        if s["skill"]["development"] == "PROD2" && s["skill"]["developmentUpdate"]["status"] == "SUCCEEDED" {
            Ok(())
        } else {
            Err(s["skill"].to_string())
        }
    })
    .await;
    assert_eq!(fake.smapi_puts(skill).len(), 1);
}
