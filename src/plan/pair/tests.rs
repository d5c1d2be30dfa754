//! The pair's rules, each test named after the rule it proves.

use crate::api::{LiveOverride, Phase};
use crate::plan::fixtures::*;
use crate::plan::{Action, AliasChange, Outcome, Role, VersionRef};

// --- roles, bootstrap and adoption ---------------------------------------------------------

#[test]
fn bootstrap_creates_live_on_a_published_version_and_candidate_on_latest() {
    let p = run(&spec(), &world(1, &[]));
    assert!(matches!(&p.actions[0], Action::PublishVersion { code_sha256, .. } if *code_sha256 == sha(1)));
    assert_eq!(
        updates(&p),
        vec![
            ("PROD1".into(), VersionRef::Published, AliasChange::Bootstrap),
            ("PROD2".into(), VersionRef::Latest, AliasChange::Bootstrap),
        ]
    );
    assert_eq!(marker_of(&p, "PROD1").role, Role::Live);
    assert_eq!(p.outcome, Outcome::Progressing);
}

#[test]
fn bootstrap_uses_live_pin_when_set() {
    let mut s = spec();
    s.live = Some(LiveOverride { code_sha256: None, version: Some("2".into()) });
    let p = run(&s, &world(9, &[1, 2]));
    assert!(!p.actions.iter().any(|a| matches!(a, Action::PublishVersion { .. })));
    assert_eq!(updates(&p)[0], ("PROD1".into(), VersionRef::Number(2), AliasChange::Bootstrap));
}

#[test]
fn first_sight_without_markers_makes_the_first_alias_live() {
    let mut s = world(3, &[1, 2]);
    alias(&mut s, "PROD2", "1", "");
    alias(&mut s, "PROD1", "2", "");
    let p = run(&spec(), &s);
    assert_eq!(marker_of(&p, "PROD1").role, Role::Live);
    assert_eq!(marker_of(&p, "PROD2").role, Role::Candidate);
}

#[test]
fn adoption_never_repoints_the_live_alias() {
    let mut s = world(3, &[1, 2]);
    alias(&mut s, "PROD1", "1", "hand-made");
    alias(&mut s, "PROD2", "2", "hand-made");
    let p = run(&spec(), &s);
    assert!(updates(&p).contains(&("PROD1".into(), VersionRef::Number(1), AliasChange::Adopt)));
    assert!(
        !p.actions.iter().any(|a| matches!(a, Action::PublishVersion { .. })),
        "adoption publishes nothing"
    );
    assert_eq!(marker_of(&p, "PROD1").version, Some(VersionRef::Number(1)));
    // The candidate is not live: it follows the phase.
    assert!(updates(&p).contains(&("PROD2".into(), VersionRef::Latest, AliasChange::Track)));
}

#[test]
fn adopting_a_weighted_alias_leaves_its_weights_alone() {
    let mut s = world(3, &[1, 2]);
    alias(&mut s, "PROD1", "1", "");
    s.aliases[0].routing.insert("2".into(), 0.1);
    alias(&mut s, "PROD2", "$LATEST", &candidate_marker(Phase::Development, None));
    let p = run(&spec(), &s);
    assert!(!updates(&p).iter().any(|(a, ..)| a == "PROD1"), "{:?}", p.actions);
}

#[test]
fn higher_live_epoch_is_live() {
    let mut s = world(3, &[1, 2]);
    alias(&mut s, "PROD1", "1", &live_marker(1, 1, None));
    alias(&mut s, "PROD2", "2", &live_marker(2, 2, Some(NOW - 10_000)));
    let p = run(&spec(), &s);
    assert_eq!(p.report.live.as_ref().map(|l| l.alias.as_str()), Some("PROD2"));
    assert_eq!(p.report.candidate.as_ref().map(|l| l.summary.as_str()), Some("PROD1:1"));
}

#[test]
fn released_markers_are_adopted_with_their_roles() {
    let mut s = world(3, &[1, 2]);
    alias(&mut s, "PROD1", "1", "las:v1 role=live epoch=1 v=1");
    alias(&mut s, "PROD2", "2", "las:v1 role=live epoch=2 v=2 p=2 at=1");
    let p = run(&spec(), &s);
    // PROD2 stays live (higher epoch) and only its marker is rewritten with the new owner.
    assert_eq!(updates(&p)[0], ("PROD2".into(), VersionRef::Number(2), AliasChange::Adopt));
    assert!(marker_of(&p, "PROD2").is_owned_by(OWNER));
}

#[test]
fn another_sets_alias_is_refused_with_nothing_written() {
    let mut s = developing(1, &[1]);
    s.aliases[1].description = "las:v1 owner=other/set role=candidate phase=Development".into();
    let p = run(&spec(), &s);
    assert!(p.actions.is_empty());
    assert_eq!(p.outcome, Outcome::OwnedByOther { alias: "PROD2".into(), owner: "other/set".into() });
}

// --- phases -------------------------------------------------------------------------------

#[test]
fn steady_development_writes_nothing() {
    let p = run(&spec(), &developing(7, &[1]));
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(p.outcome, Outcome::Converged);
    assert_eq!(p.report.candidate.as_ref().map(|c| c.summary.as_str()), Some("PROD2:$LATEST"));
}

#[test]
fn certifying_publishes_latest_and_freezes_the_candidate() {
    let mut s = phase(spec(), Phase::Certifying);
    s.certification.description = Some("2.4.0".into());
    let p = run(&s, &developing(2, &[1]));
    assert!(matches!(&p.actions[0], Action::PublishVersion { code_sha256, description, revision_id }
        if *code_sha256 == sha(2) && description.as_deref() == Some("2.4.0") && revision_id == "rev-latest"));
    assert_eq!(updates(&p), vec![("PROD2".into(), VersionRef::Published, AliasChange::Freeze)]);
    assert_eq!(marker_of(&p, "PROD2").frozen, Some(VersionRef::Published));
}

#[test]
fn frozen_candidate_ignores_later_latest_changes() {
    let mut s = developing(5, &[1, 2]);
    s.aliases[1].function_version = "2".into();
    s.aliases[1].description = candidate_marker(Phase::Certifying, Some(2));
    let p = run(&phase(spec(), Phase::Certifying), &s);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
}

#[test]
fn certifying_with_hash_uses_the_newest_version_with_it() {
    let mut s = phase(spec(), Phase::Certifying);
    s.certification.code_sha256 = Some(sha(4));
    let p = run(&s, &developing(9, &[1, 4, 4, 5]));
    assert_eq!(updates(&p), vec![("PROD2".into(), VersionRef::Number(3), AliasChange::Freeze)]);
    assert!(!p.actions.iter().any(|a| matches!(a, Action::PublishVersion { .. })));
}

#[test]
fn certifying_with_hash_publishes_latest_when_it_has_it() {
    let mut s = phase(spec(), Phase::Certifying);
    s.certification.code_sha256 = Some(sha(9));
    let p = run(&s, &developing(9, &[1]));
    assert!(matches!(&p.actions[0], Action::PublishVersion { code_sha256, .. } if *code_sha256 == sha(9)));
}

#[test]
fn certifying_with_unknown_hash_writes_nothing_and_reports_code_mismatch() {
    let mut s = phase(spec(), Phase::Certifying);
    s.certification.code_sha256 = Some(sha(8));
    let p = run(&s, &developing(9, &[1]));
    assert!(p.actions.is_empty());
    assert!(
        matches!(p.outcome, Outcome::CodeMismatch { ref field, .. } if field == "spec.certification.codeSha256")
    );
}

#[test]
fn a_version_that_happens_to_be_on_the_candidate_is_not_a_submission() {
    // After a swap and drain, PROD1 (old live) is the candidate on version 1 with a stale live marker.
    let mut s = world(3, &[1, 2]);
    alias(&mut s, "PROD1", "1", &live_marker(1, 1, None));
    alias(&mut s, "PROD2", "2", &live_marker(2, 2, Some(NOW - 1_000)));
    let p = run(&phase(spec(), Phase::Certifying), &s);
    assert!(matches!(&p.actions[0], Action::PublishVersion { .. }), "{:?}", p.actions);
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Published, AliasChange::Freeze)]);
}

#[test]
fn certified_swaps_roles_with_a_single_write() {
    let mut s = developing(5, &[1, 2]);
    s.aliases[1].function_version = "2".into();
    s.aliases[1].description = candidate_marker(Phase::Certifying, Some(2));
    let p = run(&phase(spec(), Phase::Certified), &s);
    assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
    assert!(p.actions[0].is_swap());
    let m = marker_of(&p, "PROD2");
    assert_eq!((m.role, m.epoch, m.at, m.promoted), (Role::Live, 2, Some(NOW), Some(VersionRef::Number(2))));
    // The write carries the candidate's RevisionId: a concurrent change fails it.
    assert!(matches!(&p.actions[0], Action::UpdateAlias { revision_id, .. } if revision_id == "rev-PROD2"));
}

#[test]
fn reconciling_again_never_swaps_again() {
    let p = run(&phase(spec(), Phase::Certified), &swapped(NOW - 10));
    assert!(!p.actions.iter().any(Action::is_swap));
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(p.outcome, Outcome::Draining { until: NOW - 10 + 300 });
    assert_eq!(p.report.live.as_ref().map(|l| l.summary.as_str()), Some("PROD2:2"));
    assert_eq!(p.report.last_rotation, Some((NOW - 10, "PROD2".into(), "2".into())));
}

#[test]
fn nothing_rep_points_a_draining_alias_before_drain_until() {
    for p in [Phase::Development, Phase::Certifying, Phase::Certified] {
        let plan = run(&phase(spec(), p), &swapped(NOW - 299));
        assert!(plan.actions.is_empty(), "{p:?}: {:?}", plan.actions);
        assert!(matches!(plan.outcome, Outcome::Draining { .. }));
    }
}

#[test]
fn after_drain_the_old_live_alias_tracks_latest() {
    let p = run_at(&phase(spec(), Phase::Certified), &swapped(NOW - 300), NOW);
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Latest, AliasChange::Track)]);
    let m = marker_of(&p, "PROD1");
    assert_eq!((m.role, m.phase), (Role::Candidate, Some(Phase::Certified)));
}

#[test]
fn certified_after_the_round_is_converged_not_nothing_to_promote() {
    let mut s = swapped(NOW - 10_000);
    s.aliases[0].function_version = "$LATEST".into();
    s.aliases[0].description = candidate_marker(Phase::Certified, None);
    let p = run(&phase(spec(), Phase::Certified), &s);
    assert_eq!(p.outcome, Outcome::Converged, "{:?}", p.actions);
}

#[test]
fn certified_with_nothing_frozen_writes_nothing() {
    let p = run(&phase(spec(), Phase::Certified), &developing(3, &[1]));
    assert!(p.actions.is_empty());
    assert_eq!(p.outcome, Outcome::NothingToPromote);
    let p = run(&phase(spec(), Phase::Certified), &world(3, &[]));
    assert_eq!(p.outcome, Outcome::NothingToPromote, "not even a bootstrap");
}

#[test]
fn next_round_runs_with_roles_reversed() {
    let mut s = swapped(NOW - 10_000);
    s.aliases[0].function_version = "$LATEST".into();
    s.aliases[0].description = candidate_marker(Phase::Certified, None);
    let p = run(&phase(spec(), Phase::Certifying), &s);
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Published, AliasChange::Freeze)]);
}

#[test]
fn swap_checks_the_certified_hash() {
    let mut s = developing(5, &[1, 2]);
    s.aliases[1].function_version = "2".into();
    s.aliases[1].description = candidate_marker(Phase::Certifying, Some(2));
    let mut sp = phase(spec(), Phase::Certified);
    sp.certification.code_sha256 = Some(sha(7));
    let p = run(&sp, &s);
    assert!(p.actions.is_empty());
    assert!(
        matches!(&p.outcome, Outcome::CodeMismatch { found, .. } if found.contains("frozen on version 2")),
        "{:?}",
        p.outcome
    );
}

// --- hotfix, rollback, drift ---------------------------------------------------------------

#[test]
fn hotfix_by_hash_moves_live_to_the_newest_version_with_it() {
    let mut s = spec();
    s.live = Some(LiveOverride { code_sha256: Some(sha(3)), version: None });
    let p = run(&s, &developing(9, &[1, 3, 3]));
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Number(3), AliasChange::Hotfix)]);
    assert_eq!(marker_of(&p, "PROD1").version, Some(VersionRef::Number(3)));
}

#[test]
fn hotfix_publishes_latest_when_only_latest_has_the_hash() {
    let mut s = phase(spec(), Phase::Certifying);
    s.live = Some(LiveOverride { code_sha256: Some(sha(9)), version: None });
    let mut w = developing(9, &[1, 2]);
    w.aliases[1].function_version = "2".into();
    w.aliases[1].description = candidate_marker(Phase::Certifying, Some(2));
    let p = run(&s, &w);
    assert!(matches!(p.actions[0], Action::PublishVersion { .. }));
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Published, AliasChange::Hotfix)]);
}

#[test]
fn hotfix_keeps_a_live_version_that_already_has_the_hash() {
    let mut s = spec();
    s.live = Some(LiveOverride { code_sha256: Some(sha(1)), version: None });
    let p = run(&s, &developing(9, &[1, 1]));
    assert!(p.actions.is_empty(), "{:?}", p.actions);
}

#[test]
fn rollback_pins_live_to_a_version() {
    let mut s = spec();
    s.live = Some(LiveOverride { code_sha256: None, version: Some("1".into()) });
    let mut w = developing(9, &[1, 2]);
    w.aliases[0].function_version = "2".into();
    w.aliases[0].description = live_marker(1, 2, None);
    let p = run(&s, &w);
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Number(1), AliasChange::Hotfix)]);
}

#[test]
fn pin_to_a_missing_version_writes_nothing() {
    let mut s = spec();
    s.live = Some(LiveOverride { code_sha256: None, version: Some("7".into()) });
    let p = run(&s, &developing(9, &[1]));
    assert!(p.actions.is_empty());
    assert_eq!(
        p.outcome,
        Outcome::VersionNotFound { field: "spec.live.version".into(), version: "7".into() }
    );
}

#[test]
fn live_drift_is_put_back_to_the_recorded_version() {
    let mut w = developing(9, &[1, 2]);
    w.aliases[0].function_version = "2".into(); // moved by hand; the marker still says v=1
    let p = run(&spec(), &w);
    assert_eq!(updates(&p), vec![("PROD1".into(), VersionRef::Number(1), AliasChange::Drift)]);
}

#[test]
fn candidate_drift_is_put_back() {
    let mut w = developing(9, &[1, 2]);
    w.aliases[1].function_version = "2".into();
    let p = run(&spec(), &w);
    assert_eq!(updates(&p), vec![("PROD2".into(), VersionRef::Latest, AliasChange::Track)]);
}
