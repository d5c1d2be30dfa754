use crate::api::{LambdaAliasSetSpec, LiveOverride, Phase};
use crate::plan::fixtures::*;
use crate::plan::skill::{CertificationStatus, SkillObservation};
use crate::plan::{Action, AliasChange, Input, Outcome, Plan, PolicyInfo, Role, Snapshot, VersionRef};
use crate::plan::{desired_statement, plan};

// --- Alexa-aware sets: the interlock with the skill's stages ----------------------------------

fn alexa_spec(p: Phase) -> LambdaAliasSetSpec {
    let mut s = phase(spec(), p);
    s.alexa = Some(crate::api::AlexaSettings {
        credentials_secret_ref: crate::api::SecretRef { name: "smapi".into() },
        manage_development_endpoint: false,
    });
    s.triggers = vec![alexa("alexa")];
    s
}

/// Plans with the skill's state; both aliases already carry the Alexa permission, so that only
/// the pair's moves are in the plan.
fn run_skill(spec: &LambdaAliasSetSpec, observed: &Snapshot, skill: &SkillObservation, now: i64) -> Plan {
    let mut observed = observed.clone();
    let statement = desired_statement(&alexa("alexa")).expect("a statement");
    for name in ["PROD1", "PROD2"] {
        if observed.alias(name).is_some() {
            observed.policies.insert(
                name.into(),
                PolicyInfo { revision_id: "p".into(), statements: vec![statement.clone()] },
            );
        }
    }
    plan(Input {
        owner: OWNER,
        spec,
        observed: &observed,
        now,
        skills: Some(std::slice::from_ref(skill)),
        watch: None,
    })
}

/// The frozen Certifying world: PROD1 live on 1, PROD2 frozen on 2.
fn frozen_world() -> Snapshot {
    let mut s = developing(5, &[1, 2]);
    s.aliases[1].function_version = "2".into();
    s.aliases[1].description = candidate_marker(Phase::Certifying, Some(2));
    s
}

/// Updates and deletions of `alias` that change what it serves.
fn moves_of(p: &Plan, alias: &str, observed: &Snapshot) -> Vec<String> {
    let current = observed.alias(alias).map(|a| a.function_version.clone()).unwrap_or_default();
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::UpdateAlias { alias: name, version, .. }
                if name == alias && version.to_string() != current =>
            {
                Some(a.to_string())
            }
            Action::DeleteAlias { alias: name } if name == alias => Some(a.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn without_skills_nothing_changes() {
    let observed = frozen_world();
    let declared = run(&phase(spec(), Phase::Certified), &observed);
    assert!(declared.actions[0].is_swap(), "no interlock without credentials");
    assert_eq!(declared.report.skill, None);
}

#[test]
fn an_early_certified_waits_for_publication_and_writes_nothing() {
    let observed = frozen_world();
    let live_on_prod1 = skill(Some("PROD1"), Some("PROD2"), Some((CertificationStatus::Succeeded, NOW - 50)));
    let p = run_skill(&alexa_spec(Phase::Certified), &observed, &live_on_prod1, NOW);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let Outcome::AwaitingPublication { message } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert!(message.contains("live stage still calls PROD1") && message.contains("PROD2"), "{message}");
    assert!(!p.outcome.is_stalled(), "waiting, not stalled");
    // Once Amazon publishes (the live stage calls the candidate), the swap goes through.
    let published = skill(Some("PROD2"), Some("PROD2"), Some((CertificationStatus::Succeeded, NOW - 50)));
    let p = run_skill(&alexa_spec(Phase::Certified), &observed, &published, NOW);
    assert!(p.actions.len() == 1 && p.actions[0].is_swap(), "{:?}", p.actions);
    // No live stage yet (never published): the swap waits too.
    let unpublished = skill(None, Some("PROD2"), None);
    let p = run_skill(&alexa_spec(Phase::Certified), &observed, &unpublished, NOW);
    assert!(matches!(p.outcome, Outcome::AwaitingPublication { .. }), "{:?}", p.outcome);
}

#[test]
fn the_alias_the_live_stage_calls_is_never_moved_to_latest_after_the_drain() {
    // Swapped (by a declared Certified under an older controller) while the live stage still
    // calls PROD1: after the drain PROD1 would track $LATEST; it is held instead.
    let observed = swapped(NOW - 10_000);
    let still_prod1 = skill(Some("PROD1"), Some("PROD2"), None);
    let p = run_skill(&alexa_spec(Phase::Certified), &observed, &still_prod1, NOW);
    assert_eq!(moves_of(&p, "PROD1", &observed), Vec::<String>::new());
    let Outcome::AwaitingPublication { message } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert!(message.contains("PROD1 stays on version 1"), "{message}");
    // The live stage moved away: now PROD1 may track $LATEST.
    let moved = skill(Some("PROD2"), Some("PROD1"), None);
    let p = run_skill(&alexa_spec(Phase::Certified), &observed, &moved, NOW);
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Latest, AliasChange::Track)]);
}

#[test]
fn a_live_pin_never_moves_an_alias_the_live_stage_calls_unless_it_is_the_live_alias() {
    // The live alias itself may be hotfixed or rolled back: that is what a hotfix is for.
    let observed = developing(5, &[1, 2]);
    let mut s = alexa_spec(Phase::Development);
    s.live = Some(LiveOverride { code_sha256: None, version: Some("2".into()) });
    let calls_live = skill(Some("PROD1"), Some("PROD2"), None);
    let p = run_skill(&s, &observed, &calls_live, NOW);
    assert!(updates(&p).contains(&("PROD1".into(), VersionRef::Number(2), AliasChange::Hotfix)));
    // Drift of the alias the live stage calls is not "put back" either: it is held as found.
    let mut drifted = developing(5, &[1, 2]);
    drifted.aliases[0].function_version = "2".into();
    let p = run_skill(&alexa_spec(Phase::Development), &drifted, &calls_live, NOW);
    assert_eq!(moves_of(&p, "PROD1", &drifted), Vec::<String>::new());
    assert!(matches!(p.outcome, Outcome::AwaitingPublication { .. }), "{:?}", p.outcome);
}

#[test]
fn a_live_stage_calling_neither_alias_of_the_pair_stalls_with_nothing_written() {
    for live in ["BETA", "", "7"] {
        let p =
            run_skill(&alexa_spec(Phase::Development), &world(3, &[1]), &skill(Some(live), None, None), NOW);
        assert!(p.actions.is_empty(), "{live}: {:?}", p.actions);
        let Outcome::SkillEndpointMismatch { message } = &p.outcome else {
            panic!("{live}: {:?}", p.outcome)
        };
        assert!(message.contains("neither PROD1 nor PROD2"), "{message}");
        assert!(p.outcome.is_stalled());
    }
}

#[test]
fn a_development_stage_not_calling_the_candidate_is_a_note_not_a_block() {
    let observed = developing(5, &[1]);
    let p = run_skill(
        &alexa_spec(Phase::Development),
        &observed,
        &skill(Some("PROD1"), Some("PROD1"), None),
        NOW,
    );
    assert_eq!(p.outcome, Outcome::Converged);
    let report = p.report.skill.expect("skill report");
    assert_eq!((report.live.as_str(), report.development.as_str()), ("PROD1", "PROD1"));
    assert!(report.note.as_deref().is_some_and(|n| n.contains("not the candidate PROD2")), "{report:?}");
    let p = run_skill(
        &alexa_spec(Phase::Development),
        &observed,
        &skill(Some("PROD1"), Some("PROD2"), None),
        NOW,
    );
    assert_eq!(p.report.skill.and_then(|r| r.note), None);
}

#[test]
fn adoption_makes_the_alias_the_live_stage_calls_live() {
    let mut s = world(3, &[1, 2]);
    alias(&mut s, "PROD1", "1", "hand-made");
    alias(&mut s, "PROD2", "2", "hand-made");
    let p = run_skill(&alexa_spec(Phase::Development), &s, &skill(Some("PROD2"), Some("PROD1"), None), NOW);
    assert_eq!(marker_of(&p, "PROD2").role, Role::Live);
    assert!(updates(&p).contains(&("PROD1".into(), VersionRef::Latest, AliasChange::Track)));
    assert_eq!(moves_of(&p, "PROD2", &s), Vec::<String>::new());
}

#[test]
fn from_skill_certifying_while_a_review_is_in_progress_freezes_the_submitted_code() {
    // $LATEST (hash 5) last modified at 0, submitted at NOW - 100: that is the submitted code.
    let in_review = skill(Some("PROD1"), Some("PROD2"), Some((CertificationStatus::InProgress, NOW - 100)));
    let p = run_skill(&alexa_spec(Phase::FromSkill), &developing(5, &[1]), &in_review, NOW);
    assert!(matches!(&p.actions[0], Action::PublishVersion { code_sha256, .. } if *code_sha256 == sha(5)));
    assert_eq!(updates(&p), vec![("PROD2".into(), VersionRef::Published, AliasChange::Freeze)]);
    // Frozen: later deploys do not move it.
    let p = run_skill(&alexa_spec(Phase::FromSkill), &frozen_world(), &in_review, NOW);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
}

#[test]
fn from_skill_never_guesses_the_submitted_code() {
    // $LATEST changed after the submission: no publish, a message naming the field to set.
    let mut observed = developing(5, &[1]);
    if let Some(f) = observed.function.as_mut() {
        f.last_modified = Some(NOW - 10);
    }
    let in_review = skill(Some("PROD1"), Some("PROD2"), Some((CertificationStatus::InProgress, NOW - 100)));
    let p = run_skill(&alexa_spec(Phase::FromSkill), &observed, &in_review, NOW);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let Outcome::CodeMismatch { field, found, .. } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert_eq!(field, "spec.certification.codeSha256");
    assert!(
        found.contains("keeps no history") && found.contains(&format!("version 1 has {}", sha(1))),
        "{found}"
    );
    // Naming the code resolves it.
    let mut named = alexa_spec(Phase::FromSkill);
    named.certification.code_sha256 = Some(sha(1));
    let p = run_skill(&named, &observed, &in_review, NOW);
    assert_eq!(updates(&p), vec![("PROD2".into(), VersionRef::Number(1), AliasChange::Freeze)]);
}

#[test]
fn from_skill_follows_certification_to_the_swap_and_back_to_development() {
    // Submitted before the swap below (a review is published after it is submitted).
    let submitted = NOW - 1000;
    // Certified by Amazon, not yet published: the candidate stays frozen.
    let certified = skill(Some("PROD1"), Some("PROD2"), Some((CertificationStatus::Succeeded, submitted)));
    let p = run_skill(&alexa_spec(Phase::FromSkill), &frozen_world(), &certified, NOW);
    assert_eq!(p.outcome, Outcome::Converged, "{:?}", p.actions);
    // Published: the live stage calls the candidate, which becomes live by one write.
    let published = skill(Some("PROD2"), Some("PROD2"), Some((CertificationStatus::Succeeded, submitted)));
    let p = run_skill(&alexa_spec(Phase::FromSkill), &frozen_world(), &published, NOW);
    assert!(p.actions.len() == 1 && p.actions[0].is_swap(), "{:?}", p.actions);
    // After the swap and the drain, the old live alias tracks $LATEST (the live stage left it).
    let p = run_skill(&alexa_spec(Phase::FromSkill), &swapped(NOW - 400), &published, NOW);
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Latest, AliasChange::Track)]);
    // A failed or cancelled review unfreezes the candidate; live is never touched.
    for status in [CertificationStatus::Failed, CertificationStatus::Cancelled] {
        let failed = skill(Some("PROD1"), Some("PROD2"), Some((status, submitted)));
        let p = run_skill(&alexa_spec(Phase::FromSkill), &frozen_world(), &failed, NOW);
        assert_eq!(updates(&p), vec![("PROD2".into(), VersionRef::Latest, AliasChange::Track)], "{status:?}");
    }
    // No review at all: Development.
    let none = skill(Some("PROD1"), Some("PROD2"), None);
    let p = run_skill(&alexa_spec(Phase::FromSkill), &developing(5, &[1]), &none, NOW);
    assert_eq!(p.outcome, Outcome::Converged);
}

#[test]
fn a_rollout_of_the_live_alias_the_live_stage_calls_passes_the_interlock() {
    // spec.rollout's step is a hotfix of the live alias itself, in weights: the interlock's
    // exception covers it, and the alias the live stage calls keeps its version as primary.
    let observed = developing(5, &[1, 2]);
    let mut s = alexa_spec(Phase::Development);
    s.live = Some(LiveOverride { code_sha256: None, version: Some("2".into()) });
    s.rollout = Some(crate::api::Rollout {
        steps: vec![10],
        interval_seconds: 300,
        alarms: Vec::new(),
        max_error_rate: None,
    });
    let calls_live = skill(Some("PROD1"), Some("PROD2"), None);
    let p = run_skill(&s, &observed, &calls_live, NOW);
    let step = p.actions.iter().find_map(|a| match a {
        Action::UpdateAlias { alias, version, change: AliasChange::Step, routing: Some(w), .. }
            if alias == "PROD1" =>
        {
            Some((*version, w.version, w.percent))
        }
        _ => None,
    });
    assert_eq!(step, Some((VersionRef::Number(1), VersionRef::Number(2), 10)), "{:?}", p.actions);
    assert!(!p.outcome.is_stalled(), "{:?}", p.outcome);
}
