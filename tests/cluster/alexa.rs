//! Alexa-aware sets end to end on a real API server: `run` against moto (Lambda) and the fake
//! Skill Management API + Login with Amazon (`tests/support/fake_smapi.py`), with the
//! credentials in a Secret of the set's namespace.
//!
//! - A full round with `certification.phase: FromSkill` and no spec edit: submit → the candidate
//!   freezes on the submitted code; certified → it stays frozen; published → the roles swap;
//!   the old live alias tracks `$LATEST` only after the live stage left it.
//! - A failed certification: the candidate unfreezes, live is never touched.
//! - An early `Certified` waits for publication (`AwaitingPublication`), then swaps.
//!
//! Every step is printed with its time, so the run's output is the round's log.

use crate::support;

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use support::cluster::{cluster, eventually};
use support::skill_world::SkillWorld;
use support::smapi::Stage;

type Round = SkillWorld;

impl SkillWorld {
    /// Waits for live, candidate, the Ready reason and (if given) the phase, then logs the state.
    async fn expect(&self, live: &str, candidate: &str, reason: &str, phase: Option<&str>) -> Value {
        let s =
            eventually(&format!("live {live}, candidate {candidate}, {reason}, phase {phase:?}"), || async {
                let s = self.status().await?;
                let ready = SkillWorld::ready_reason(&s);
                let got = (s["live"]["summary"].as_str(), s["candidate"]["summary"].as_str(), ready.as_str());
                let phase_ok = phase.is_none_or(|p| s["phase"] == p);
                if got == (Some(live), Some(candidate), reason) && phase_ok {
                    Ok(s)
                } else {
                    Err(format!("{got:?} {}", s["phase"]))
                }
            })
            .await;
        self.say(&format!(
            "status: phase {}, live {live}, candidate {candidate}, Ready reason {reason}; skill live stage calls {}, development stage calls {}, review {}",
            s["phase"], s["skill"]["live"], s["skill"]["development"], s["skill"]["certification"]["status"]
        ));
        s
    }

    async fn aliases(&self) -> Vec<(String, String)> {
        support::alias_versions(&self.function).await
    }

    async fn event_reasons(&self) -> Vec<String> {
        self.events().await.into_iter().map(|(reason, _)| reason).collect()
    }

    async fn set_phase(&self, phase: &str) {
        let patch = json!({"spec": {"certification": {"phase": phase}}});
        self.api.patch("skill", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch phase");
        self.say(&format!("a person set certification.phase {phase}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_from_skill_round_follows_amazon_without_spec_edits() {
    let Some(client) = cluster("k8s_alexa").await else { return };
    let r = Round::start(client, "PROD2", None, &[]).await;
    r.create_with("FromSkill", json!({})).await;
    let s = r.expect("PROD1:1", "PROD2:$LATEST", "Converged", Some("Development")).await;
    assert_eq!(
        (s["skill"]["live"].as_str(), s["skill"]["development"].as_str()),
        (Some("none"), Some("PROD2"))
    );

    r.deploy("v2").await;
    let review = r.fake.submit(&r.skill);
    r.say(&format!("the skill was submitted for certification (review {review})"));
    r.review("IN_PROGRESS").await;
    let s = r.expect("PROD1:1", "PROD2:2", "Converged", Some("Certifying")).await;
    assert_eq!(s["skill"]["certification"]["status"], "IN_PROGRESS");

    r.deploy("v3").await;
    r.fake.certify(&r.skill);
    r.say("Amazon certified the skill");
    r.review("SUCCEEDED").await;
    let s = r.expect("PROD1:1", "PROD2:2", "Converged", Some("Certifying")).await;
    assert_eq!(s["skill"]["certification"]["status"], "SUCCEEDED");

    r.fake.publish(&r.skill);
    r.say("Amazon published the skill: its live stage calls PROD2");
    let s = eventually("the swap", || async {
        let s = r.status().await?;
        if s["live"]["summary"] == "PROD2:2" { Ok(s) } else { Err(s["live"].to_string()) }
    })
    .await;
    r.say(&format!("roles swapped: live {}, candidate {}", s["live"]["summary"], s["candidate"]["summary"]));
    assert_eq!(s["phase"], "Certified");
    let s = r.expect("PROD2:2", "PROD1:$LATEST", "Converged", None).await;
    assert_eq!(s["skill"]["live"], "PROD2", "PROD1 tracks $LATEST only once the live stage left it");
    // The development stage still calls PROD2, now live: a Warning, not a block.
    assert!(
        s["skill"]["note"].as_str().is_some_and(|n| n.contains("not the candidate PROD1")),
        "{}",
        s["skill"]
    );
    eventually("a DevelopmentStageMismatch Warning", || async {
        let reasons = r.event_reasons().await;
        if reasons.iter().any(|x| x == "DevelopmentStageMismatch") {
            Ok(())
        } else {
            Err(format!("{reasons:?}"))
        }
    })
    .await;
    r.fake.set_stage(&r.skill, "development", Some(&Stage::custom(&format!("{}:PROD1", r.arn))));
    r.say("the developer pointed the development stage at PROD1");
    eventually("the note clears", || async {
        let s = r.status().await?;
        if s["skill"]["note"].is_null() && s["skill"]["development"] == "PROD1" {
            Ok(())
        } else {
            Err(s["skill"].to_string())
        }
    })
    .await;
    r.say("the next round starts with PROD1 as the candidate");
    assert_eq!(r.aliases().await, vec![("PROD1".into(), "$LATEST".into()), ("PROD2".into(), "2".into())]);

    // deletionPolicy Delete never deletes the alias the live skill calls: it is released.
    let patch = json!({"spec": {"deletionPolicy": "Delete"}});
    r.api.patch("skill", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("policy");
    r.expect("PROD2:2", "PROD1:$LATEST", "Converged", None).await;
    r.api.delete("skill", &Default::default()).await.expect("delete");
    eventually("the set is gone", || async {
        match r.api.get_opt("skill").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
    r.say("deleted with deletionPolicy Delete");
    assert_eq!(r.aliases().await, vec![("PROD2".into(), "2".into())], "PROD1 deleted, PROD2 (live) kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_certification_unfreezes_the_candidate_and_never_touches_live() {
    let Some(client) = cluster("k8s_alexa").await else { return };
    let r = Round::start(client, "PROD2", Some("PROD1"), &[]).await;
    r.create_with("FromSkill", json!({})).await;
    r.expect("PROD1:1", "PROD2:$LATEST", "Converged", Some("Development")).await;
    r.deploy("v2").await;
    r.fake.submit(&r.skill);
    r.say("submitted");
    r.review("IN_PROGRESS").await;
    r.expect("PROD1:1", "PROD2:2", "Converged", Some("Certifying")).await;
    r.fake.fail(&r.skill);
    r.say("Amazon failed the certification");
    r.review("FAILED").await;
    let s = r.expect("PROD1:1", "PROD2:$LATEST", "Converged", Some("Development")).await;
    assert_eq!(s["skill"]["certification"]["status"], "FAILED");
    assert_eq!(r.aliases().await[0], ("PROD1".into(), "1".into()), "live never moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_certified_waits_for_publication() {
    let Some(client) = cluster("k8s_alexa").await else { return };
    let r = Round::start(client, "PROD2", Some("PROD1"), &[]).await;
    r.create_with("Development", json!({})).await;
    r.expect("PROD1:1", "PROD2:$LATEST", "Converged", Some("Development")).await;
    r.deploy("v2").await;
    r.set_phase("Certifying").await;
    r.expect("PROD1:1", "PROD2:2", "Converged", Some("Certifying")).await;
    r.fake.submit(&r.skill);
    r.say("submitted");
    r.set_phase("Certified").await;
    let s = r.expect("PROD1:1", "PROD2:2", "AwaitingPublication", None).await;
    let ready = s["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ready["status"], "False");
    assert!(ready["message"].as_str().is_some_and(|m| m.contains("still calls PROD1")), "{ready}");
    let stalled = s["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Stalled"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(stalled["status"], "False", "waiting, not stalled");
    assert_eq!(
        r.aliases().await,
        vec![("PROD1".into(), "1".into()), ("PROD2".into(), "2".into())],
        "nothing moved"
    );

    r.fake.certify(&r.skill);
    r.fake.publish(&r.skill);
    r.say("Amazon certified and published: the live stage calls PROD2");
    r.expect("PROD2:2", "PROD1:$LATEST", "Converged", None).await;
}
