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

mod support;

use std::io::Write;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::{Value, json};
use support::cluster::{Controller, ControllerEnv, apply_crd, cluster, create_namespace, eventually};
use support::smapi::{FakeSmapi, Stage, fake_smapi, unique_skill_id, unique_vendor};

struct World {
    client: Client,
    api: Api<LambdaAliasSet>,
    fake: &'static FakeSmapi,
    skill: String,
    function: String,
    arn: String,
    ns: String,
    started: Instant,
    controller: Controller,
}

impl World {
    /// A namespace with the credentials Secret, a moto function, a skill whose development
    /// stage calls `development` (and live stage `live`), and the controller.
    async fn start(client: Client, development: &str, live: Option<&str>) -> World {
        apply_crd(&client).await;
        let ns = create_namespace(&client, "lac-endpoint").await;
        let fake = fake_smapi();
        let vendor = unique_vendor();
        let credentials = fake.client(&vendor);
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "smapi", "namespace": ns},
            "stringData": {
                "clientId": credentials.client_id,
                "clientSecret": credentials.client_secret,
                "refreshToken": credentials.refresh_token,
            }
        }))
        .expect("secret");
        Api::<Secret>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret");
        let lambda = support::lambda().await;
        let function = support::unique_name("endpoint-skill");
        let created = support::create_function(&lambda, &function, "v1").await;
        let arn = created.function_arn().expect("function ARN").to_string();
        let skill = unique_skill_id();
        let stage = |alias: &str| Stage::custom(&format!("{arn}:{alias}"));
        fake.create_skill(&skill, &vendor, &stage(development), live.map(stage).as_ref());
        let controller = Controller::start(
            &[
                "--namespace",
                &ns,
                "--resync",
                "2",
                "--smapi-endpoint",
                &fake.url(),
                "--lwa-endpoint",
                &fake.lwa_url(),
            ],
            ControllerEnv { kubeconfig: None, aws: support::moto_env(), extra: vec![] },
        );
        let api = Api::namespaced(client.clone(), &ns);
        World { client, api, fake, skill, function, arn, ns, started: Instant::now(), controller }
    }

    fn say(&self, what: &str) {
        let _ = writeln!(std::io::stderr(), "[{:6.1} s] {what}", self.started.elapsed().as_secs_f64());
    }

    async fn create(&self, phase: &str) {
        let set: LambdaAliasSet = serde_json::from_value(json!({
            "apiVersion": "lambda.aliasset.dev/v1alpha1",
            "kind": "LambdaAliasSet",
            "metadata": {"name": "skill"},
            "spec": {
                "functionName": self.function,
                "drainSeconds": 3,
                "certification": {"phase": phase},
                "alexa": {"credentialsSecretRef": {"name": "smapi"}, "manageDevelopmentEndpoint": true},
                "triggers": [{"name": "alexa", "alexaSkill": {"skillId": self.skill}}]
            }
        }))
        .expect("set");
        self.api.create(&PostParams::default(), &set).await.expect("create set");
        self.say(&format!("created LambdaAliasSet skill, phase {phase}, manageDevelopmentEndpoint: true"));
    }

    async fn status(&self) -> Result<Value, String> {
        let obj = self.api.get("skill").await.map_err(|e| e.to_string())?;
        serde_json::to_value(obj.status).map_err(|e| e.to_string())
    }

    /// Waits for live and candidate, Converged, the development stage calling `development`
    /// and (when given) the last update's status.
    async fn expect(&self, live: &str, candidate: &str, development: &str, update: Option<&str>) -> Value {
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

    async fn review(&self, state: &str) {
        eventually(&format!("the review is {state} in status"), || async {
            let s = self.status().await?;
            let got = s["skill"]["certification"]["status"].clone();
            if got == state { Ok(()) } else { Err(got.to_string()) }
        })
        .await;
    }

    async fn deploy(&self, marker: &str) {
        support::lambda()
            .await
            .update_function_code()
            .function_name(&self.function)
            .zip_file(aws_sdk_lambda::primitives::Blob::new(support::demo_zip(marker)))
            .send()
            .await
            .expect("deploy");
        self.say(&format!("CI deployed {marker} to $LATEST"));
    }

    async fn events(&self) -> Vec<(String, String)> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        let mut listed: Vec<Event> = events.list(&ListParams::default()).await.expect("events").items;
        listed.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        listed.into_iter().map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default())).collect()
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
            .expect(&format!("{candidate}:{version}"), &format!("{live}:$LATEST"), live, Some("SUCCEEDED"))
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
    let w = World::start(client, "PROD2", None).await;
    // Updates take a second at SMAPI: the controller follows IN_PROGRESS to SUCCEEDED.
    w.fake.script_updates(&w.skill, 1.0, 0);
    w.create("FromSkill").await;
    let s = w.expect("PROD1:1", "PROD2:$LATEST", "PROD2", None).await;
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
    let w = World::start(client, "PROD2", Some("PROD1")).await;
    w.create("Development").await;
    w.expect("PROD1:1", "PROD2:$LATEST", "PROD2", None).await;

    // A person points the development stage at the live alias, in a rich manifest, and edits it
    // again right after the controller reads it: the first write is stale (412).
    w.fake.race(&w.skill, 1);
    w.fake.set_raw_development(&w.skill, &rich_manifest(&w.arn, "PROD1"));
    w.say("a person pointed the development stage at PROD1 (a manifest with regions and unknown fields)");
    // The FE region calls another function (in another region): it is not this set's to move.
    let moved = format!("PROD2, other: {}-fe:PROD1", w.arn);
    let s = w.expect("PROD1:1", "PROD2:$LATEST", &moved, Some("SUCCEEDED")).await;
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
    assert_eq!(w.fake.smapi_puts(&w.skill).iter().filter(|p| p.contains("/stages/live/")).count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_strict_tenancy_only_an_allowed_skill_is_written() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Patch, PatchParams};
    use lambda_alias_controller::tenancy::{ALLOWED_FUNCTIONS, ALLOWED_SKILLS};

    let Some(client) = cluster("k8s_skill_endpoint").await else { return };
    apply_crd(&client).await;
    let ns = create_namespace(&client, "lac-endpoint-strict").await;
    let fake = fake_smapi();
    let vendor = unique_vendor();
    let credentials = fake.client(&vendor);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "smapi", "namespace": ns},
        "stringData": {
            "clientId": credentials.client_id,
            "clientSecret": credentials.client_secret,
            "refreshToken": credentials.refresh_token,
        }
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let function = support::unique_name("strict-skill");
    let created = support::create_function(&support::lambda().await, &function, "v1").await;
    let arn = created.function_arn().expect("function ARN").to_string();
    let skill = unique_skill_id();
    let stage = |alias: &str| Stage::custom(&format!("{arn}:{alias}"));
    fake.create_skill(&skill, &vendor, &stage("PROD1"), Some(&stage("PROD1")));
    let annotate = |annotations: Value| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let patch = json!({"metadata": {"annotations": annotations}});
            Api::<Namespace>::all(client)
                .patch(&ns, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("annotate");
        }
    };
    annotate(json!({ALLOWED_FUNCTIONS: format!("arn:aws:lambda:{}:123456789012:function:strict-skill-*", support::REGION)})).await;
    let controller = Controller::start(
        &[
            "--namespace",
            &ns,
            "--resync",
            "2",
            "--tenancy",
            "strict",
            "--cluster-name",
            "endpoint-test",
            "--smapi-endpoint",
            &fake.url(),
            "--lwa-endpoint",
            &fake.lwa_url(),
        ],
        ControllerEnv { kubeconfig: None, aws: support::moto_env(), extra: vec![] },
    );
    let set: LambdaAliasSet = serde_json::from_value(json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": "skill"},
        "spec": {
            "functionName": function,
            "alexa": {"credentialsSecretRef": {"name": "smapi"}, "manageDevelopmentEndpoint": true},
            "triggers": [{"name": "alexa", "alexaSkill": {"skillId": skill}}]
        }
    }))
    .expect("set");
    let api: Api<LambdaAliasSet> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &set).await.expect("create");

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
    assert!(s["skill"]["note"].as_str().is_some_and(|n| n.contains(&skill)), "{}", s["skill"]);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(fake.smapi_puts(&skill).is_empty(), "nothing written without the namespace's permission");

    // The platform team allows the skill: the development stage follows the candidate.
    annotate(json!({ALLOWED_SKILLS: skill})).await;
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
    assert_eq!(fake.smapi_puts(&skill).len(), 1);
    drop(controller);
}
