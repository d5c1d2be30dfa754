//! Table tests: one per rule of DESIGN §2, each named after the rule it proves.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use super::{FunctionInfo, MappingInfo, PolicyInfo, VersionInfo};
use crate::api::{ApiGateway, EventSourceMapping, LiveOverride, Permission, Stage, Track};

const OWNER: &str = "skills/trivia";
const ARN: &str = "arn:aws:lambda:eu-west-1:111122223333:function:trivia";
const NOW: i64 = 1_000_000;

fn sha(n: u8) -> String {
    format!("{}=", format!("{n:02}").repeat(22).chars().take(43).collect::<String>())
}

fn spec() -> LambdaAliasSetSpec {
    LambdaAliasSetSpec::for_function("trivia")
}

fn phase(mut s: LambdaAliasSetSpec, p: Phase) -> LambdaAliasSetSpec {
    s.certification.phase = p;
    s
}

/// A function whose $LATEST has hash `latest` and published versions 1..=n with hashes `shas`.
fn world(latest: u8, shas: &[u8]) -> Snapshot {
    Snapshot {
        function: Some(FunctionInfo {
            function_arn: ARN.into(),
            code_sha256: sha(latest),
            revision_id: "rev-latest".into(),
            last_modified: Some(0),
        }),
        versions: shas
            .iter()
            .enumerate()
            .map(|(i, s)| VersionInfo {
                version: i as u64 + 1,
                code_sha256: sha(*s),
                description: String::new(),
            })
            .collect(),
        ..Snapshot::default()
    }
}

fn alias(s: &mut Snapshot, name: &str, version: &str, description: &str) {
    s.aliases.push(AliasInfo {
        name: name.into(),
        alias_arn: format!("{ARN}:{name}"),
        function_version: version.into(),
        description: description.into(),
        routing: BTreeMap::new(),
        revision_id: format!("rev-{name}"),
    });
}

fn live_marker(epoch: u64, v: u64, at: Option<i64>) -> String {
    let mut m = Marker::new(OWNER, Role::Live);
    m.epoch = epoch;
    m.version = Some(VersionRef::Number(v));
    if at.is_some() {
        m.promoted = Some(VersionRef::Number(v));
    }
    m.at = at;
    m.render(None)
}

fn candidate_marker(p: Phase, frozen: Option<u64>) -> String {
    let mut m = Marker::new(OWNER, Role::Candidate);
    m.phase = Some(p);
    m.frozen = frozen.map(VersionRef::Number);
    m.render(None)
}

/// The converged Development world: PROD1 live on 1, PROD2 tracking $LATEST.
fn developing(latest: u8, shas: &[u8]) -> Snapshot {
    let mut s = world(latest, shas);
    alias(&mut s, "PROD1", "1", &live_marker(1, 1, None));
    alias(&mut s, "PROD2", "$LATEST", &candidate_marker(Phase::Development, None));
    s
}

fn run(spec: &LambdaAliasSetSpec, observed: &Snapshot) -> Plan {
    plan(Input { owner: OWNER, spec, observed, now: NOW, skills: None })
}

fn run_at(spec: &LambdaAliasSetSpec, observed: &Snapshot, now: i64) -> Plan {
    plan(Input { owner: OWNER, spec, observed, now, skills: None })
}

fn updates(p: &Plan) -> Vec<(String, VersionRef, AliasChange)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::UpdateAlias { alias, version, change, .. }
            | Action::CreateAlias { alias, version, change, .. } => Some((alias.clone(), *version, *change)),
            _ => None,
        })
        .collect()
}

fn marker_of(p: &Plan, name: &str) -> Marker {
    p.actions
        .iter()
        .find_map(|a| match a {
            Action::UpdateAlias { alias, marker, .. } | Action::CreateAlias { alias, marker, .. }
                if alias == name =>
            {
                Some(marker.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no write to {name} in {:?}", p.actions))
}

fn trigger(name: &str) -> Trigger {
    Trigger::named(name)
}

fn alexa(name: &str) -> Trigger {
    Trigger::alexa(name, "amzn1.ask.skill.1")
}

fn queue(name: &str, target: Option<&str>) -> Trigger {
    Trigger {
        event_source_mapping: Some(EventSourceMapping {
            event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into(),
            batch_size: Some(10),
            enabled: true,
            starting_position: None,
        }),
        target: target.map(str::to_string),
        ..trigger(name)
    }
}

fn mapping(uuid: &str, alias: &str, batch: u32) -> MappingInfo {
    MappingInfo {
        uuid: uuid.into(),
        function_arn: format!("{ARN}:{alias}"),
        event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into(),
        batch_size: Some(batch),
        enabled: true,
        state: "Enabled".into(),
    }
}

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

#[test]
fn missing_function_is_reported() {
    let p = run(&spec(), &Snapshot::default());
    assert_eq!(p.outcome, Outcome::FunctionNotFound);
    assert!(p.actions.is_empty());
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

fn swapped(at: i64) -> Snapshot {
    let mut s = world(5, &[1, 2]);
    alias(&mut s, "PROD1", "1", &live_marker(1, 1, None));
    alias(&mut s, "PROD2", "2", &live_marker(2, 2, Some(at)));
    s
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

// --- stages --------------------------------------------------------------------------------

#[test]
fn stages_track_pin_or_follow_a_hash() {
    let mut s = spec();
    s.stages = vec![
        Stage { alias: "DEV".into(), code_sha256: None, version: None, track: Some(Track::Latest) },
        Stage { alias: "STG".into(), code_sha256: None, version: Some("1".into()), track: None },
        Stage { alias: "BETA".into(), code_sha256: Some(sha(2)), version: None, track: None },
    ];
    let p = run(&s, &developing(9, &[1, 2]));
    assert_eq!(
        updates(&p),
        vec![
            ("DEV".into(), VersionRef::Latest, AliasChange::Bootstrap),
            ("STG".into(), VersionRef::Number(1), AliasChange::Bootstrap),
            ("BETA".into(), VersionRef::Number(2), AliasChange::Bootstrap),
        ]
    );
    assert_eq!(marker_of(&p, "DEV").role, Role::Stage);
}

#[test]
fn a_removed_stage_alias_is_deleted_with_its_mappings() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "OLD", "1", &Marker::new(OWNER, Role::Stage).render(None));
    alias(&mut w, "FOREIGN", "1", "someone else's");
    w.mappings.push(mapping("m-old", "OLD", 10));
    let p = run(&spec(), &w);
    assert_eq!(
        p.actions,
        vec![
            Action::DeleteMapping {
                uuid: "m-old".into(),
                alias: "OLD".into(),
                event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into()
            },
            Action::DeleteAlias { alias: "OLD".into() },
        ]
    );
}

// --- triggers ------------------------------------------------------------------------------

#[test]
fn alexa_permission_goes_on_both_aliases_with_the_skill_id_as_token() {
    let mut s = spec();
    s.triggers = vec![alexa("alexa")];
    let mut w = developing(9, &[1]);
    w.policies.insert("PROD1".into(), PolicyInfo { revision_id: "p1".into(), statements: vec![] });
    let p = run(&s, &w);
    let adds: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::AddPermission { alias, statement, revision_id, .. } => {
                Some((alias.as_str(), statement.clone(), revision_id.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(adds.len(), 2);
    assert_eq!(adds[0].0, "PROD1");
    assert_eq!(adds[0].2.as_deref(), Some("p1"), "the first write carries the policy's RevisionId");
    assert_eq!(adds[1].0, "PROD2");
    let st = &adds[0].1;
    assert_eq!((st.sid.as_str(), st.principal.as_str()), ("las-alexa", "alexa-appkit.amazon.com"));
    assert_eq!(st.event_source_token.as_deref(), Some("amzn1.ask.skill.1"));
}

#[test]
fn foreign_statements_are_never_touched_and_stale_owned_ones_are_removed() {
    let mut s = spec();
    s.triggers = vec![alexa("alexa")];
    let wanted = desired_statement(&s.triggers[0]).expect("permission");
    let foreign =
        Statement { sid: "console-added".into(), principal: "sns.amazonaws.com".into(), ..wanted.clone() };
    let stale = Statement { sid: "las-old".into(), ..wanted.clone() };
    let mut w = developing(9, &[1]);
    for a in ["PROD1", "PROD2"] {
        w.policies.insert(
            a.into(),
            PolicyInfo {
                revision_id: "r".into(),
                statements: vec![wanted.clone(), foreign.clone(), stale.clone()],
            },
        );
    }
    let p = run(&s, &w);
    assert_eq!(
        p.actions,
        vec![
            Action::RemovePermission { alias: "PROD1".into(), sid: "las-old".into() },
            Action::RemovePermission { alias: "PROD2".into(), sid: "las-old".into() },
        ]
    );
}

#[test]
fn a_changed_statement_is_replaced() {
    let mut s = spec();
    s.triggers = vec![alexa("alexa")];
    let mut drifted = desired_statement(&s.triggers[0]).expect("permission");
    drifted.event_source_token = None;
    let mut w = developing(9, &[1]);
    w.policies.insert("PROD1".into(), PolicyInfo { revision_id: "r".into(), statements: vec![drifted] });
    let p = run(&s, &w);
    assert_eq!(p.actions[0], Action::RemovePermission { alias: "PROD1".into(), sid: "las-alexa".into() });
    assert!(
        matches!(&p.actions[1], Action::AddPermission { alias, revision_id: None, .. } if alias == "PROD1")
    );
}

#[test]
fn target_limits_a_permission_to_one_role() {
    let mut s = spec();
    s.triggers = vec![Trigger {
        api_gateway: Some(ApiGateway {
            source_arn: "arn:aws:execute-api:eu-west-1:111122223333:a/*/GET/x".into(),
        }),
        target: Some("Live".into()),
        ..trigger("api")
    }];
    let p = run(&s, &developing(9, &[1]));
    let aliases: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| if let Action::AddPermission { alias, .. } = a { Some(alias.as_str()) } else { None })
        .collect();
    assert_eq!(aliases, ["PROD1"]);
}

#[test]
fn permission_trigger_carries_every_field() {
    let t = Trigger {
        permission: Some(Permission {
            principal: "sns.amazonaws.com".into(),
            source_arn: Some("arn:aws:sns:eu-west-1:111122223333:t".into()),
            source_account: Some("111122223333".into()),
            event_source_token: Some("tok".into()),
            action: "lambda:InvokeFunction".into(),
        }),
        ..trigger("other")
    };
    let st = desired_statement(&t).expect("statement");
    assert_eq!(st.source_account.as_deref(), Some("111122223333"));
    assert_eq!(st.event_source_token.as_deref(), Some("tok"));
}

#[test]
fn a_queue_mapping_polls_for_the_live_alias_only() {
    let mut s = spec();
    s.triggers = vec![queue("orders", None)];
    let p = run(&s, &developing(9, &[1]));
    assert!(
        matches!(&p.actions[..], [Action::CreateMapping { alias, batch_size: Some(10), .. }] if alias == "PROD1")
    );
}

#[test]
fn a_swap_moves_the_live_mapping_instead_of_adding_a_second_poller() {
    let mut s = phase(spec(), Phase::Certified);
    s.triggers = vec![queue("orders", None)];
    let mut w = swapped(NOW - 10);
    w.mappings.push(mapping("m1", "PROD1", 10));
    let p = run(&s, &w);
    assert_eq!(
        p.actions,
        vec![Action::UpdateMapping {
            uuid: "m1".into(),
            trigger: "orders".into(),
            move_to: Some("PROD2".into()),
            batch_size: None,
            enabled: None
        }]
    );
}

#[test]
fn duplicate_and_changed_mappings_are_fixed() {
    let mut s = spec();
    s.triggers = vec![queue("orders", Some("Live"))];
    let mut w = developing(9, &[1]);
    w.mappings.push(mapping("m1", "PROD1", 5));
    w.mappings.push(mapping("m2", "PROD1", 10));
    let p = run(&s, &w);
    assert_eq!(p.actions.len(), 2, "{:?}", p.actions);
    assert!(
        matches!(&p.actions[0], Action::UpdateMapping { uuid, batch_size: Some(10), move_to: None, .. } if uuid == "m1")
    );
    assert!(matches!(&p.actions[1], Action::DeleteMapping { uuid, .. } if uuid == "m2"));
}

// --- versions, suspend ---------------------------------------------------------------------

#[test]
fn retain_versions_deletes_only_old_unreferenced_versions() {
    let mut s = spec();
    s.retain_versions = Some(1);
    let mut w = developing(9, &[1, 2, 3, 4, 5, 6]);
    alias(&mut w, "FOREIGN", "2", "not ours, still a reference");
    w.aliases[2].routing.insert("3".into(), 0.2);
    w.mapped_versions.insert(4);
    let p = run(&s, &w);
    // Referenced: 1 (live), 2 and 3 (foreign alias and its routing), 4 (a mapping). Unreferenced:
    // 6, 5 -> keep the newest one (6), delete 5.
    assert_eq!(p.actions, vec![Action::DeleteVersion { version: 5 }]);
    w.mapped_versions.clear();
    assert_eq!(retention_candidates(&s, &w), vec![5, 4], "4 is a candidate until its mapping is seen");
}

#[test]
fn versions_are_not_collected_while_other_changes_are_pending() {
    let mut s = phase(spec(), Phase::Certifying);
    s.retain_versions = Some(0);
    let p = run(&s, &developing(9, &[1, 2]));
    assert!(!p.actions.iter().any(|a| matches!(a, Action::DeleteVersion { .. })));
}

#[test]
fn suspend_observes_and_reports_but_writes_nothing() {
    let mut s = spec();
    s.suspend = true;
    let p = run(&s, &world(1, &[]));
    assert!(p.actions.is_empty());
    assert_eq!(p.outcome, Outcome::Suspended { pending: 3 });
}

#[test]
fn observed_aliases_include_removed_owned_stages() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "OLD", "1", &Marker::new(OWNER, Role::Stage).render(None));
    alias(&mut w, "FOREIGN", "1", "");
    assert_eq!(aliases_to_observe(&spec(), OWNER, &w.aliases), vec!["PROD1", "PROD2", "OLD"]);
}

// --- deletion -------------------------------------------------------------------------------

#[test]
fn release_keeps_versions_and_roles_and_drops_the_owner() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "FOREIGN", "1", "someone else's");
    let actions = release(OWNER, &w);
    assert_eq!(actions.len(), 2);
    for a in &actions {
        let Action::UpdateAlias { alias, version, marker, change, .. } = a else { panic!("{a:?}") };
        assert_eq!(*change, AliasChange::Release);
        assert_eq!(marker.owner, None);
        let before = w.alias(alias).expect("alias");
        assert_eq!(Some(*version), VersionRef::parse(&before.function_version), "not re-pointed");
    }
    // A later set adopts the same roles without re-pointing.
    let mut released = w.clone();
    for a in &actions {
        if let Action::UpdateAlias { alias, marker, .. } = a {
            let entry = released.aliases.iter_mut().find(|x| &x.name == alias).expect("alias");
            entry.description = marker.render(None);
        }
    }
    let p = plan(Input { owner: "other/set", spec: &spec(), observed: &released, now: NOW, skills: None });
    assert!(
        p.actions.iter().all(|a| matches!(a, Action::UpdateAlias { change: AliasChange::Adopt, .. })),
        "{:?}",
        p.actions
    );
    assert_eq!(p.report.live.map(|l| l.summary), Some("PROD1:1".to_string()));
}

#[test]
fn teardown_deletes_owned_mappings_then_owned_aliases_only() {
    let mut w = developing(9, &[1]);
    alias(&mut w, "FOREIGN", "1", "someone else's");
    w.mappings.push(mapping("m1", "PROD1", 10));
    w.mappings.push(mapping("m2", "FOREIGN", 10));
    assert_eq!(
        teardown(OWNER, &w, &BTreeSet::new()),
        vec![
            Action::DeleteMapping {
                uuid: "m1".into(),
                alias: "PROD1".into(),
                event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into()
            },
            Action::DeleteAlias { alias: "PROD1".into() },
            Action::DeleteAlias { alias: "PROD2".into() },
        ]
    );
    assert!(teardown("other/set", &w, &BTreeSet::new()).is_empty(), "never another owner's aliases");
}

#[test]
fn teardown_releases_the_alias_a_skills_live_stage_calls_instead_of_deleting_it() {
    let mut w = developing(9, &[1]);
    w.mappings.push(mapping("m1", "PROD1", 10));
    let keep = live_stage_aliases(&[skill(Some("PROD1"), Some("PROD2"), None)], ARN);
    assert_eq!(keep, BTreeSet::from(["PROD1".to_string()]));
    let actions = teardown(OWNER, &w, &keep);
    assert!(
        matches!(&actions[0], Action::UpdateAlias { alias, change: AliasChange::Release, version, .. }
            if alias == "PROD1" && *version == VersionRef::Number(1)),
        "{actions:?}"
    );
    assert_eq!(actions[1..], [Action::DeleteAlias { alias: "PROD2".into() }], "its mapping stays too");
}

// --- Alexa-aware sets: the interlock with the skill's stages ----------------------------------

use super::skill::{CertificationStatus, Review, SkillObservation, StageEndpoints};

const SKILL: &str = "amzn1.ask.skill.1";

/// A skill whose live stage calls `live` and development stage calls `dev` (`None`: no stage;
/// `Some("")`: the unqualified function), with an optional latest review.
fn skill(
    live: Option<&str>,
    dev: Option<&str>,
    review: Option<(CertificationStatus, i64)>,
) -> SkillObservation {
    let stage = |q: Option<&str>| {
        q.map(|q| StageEndpoints {
            uris: vec![if q.is_empty() { ARN.to_string() } else { format!("{ARN}:{q}") }],
        })
    };
    SkillObservation {
        skill_id: SKILL.into(),
        live: stage(live),
        development: stage(dev),
        latest_review: review.map(|(status, submitted_at)| Review {
            id: "rev-1".into(),
            status,
            submitted_at,
        }),
    }
}

fn alexa_spec(p: Phase) -> LambdaAliasSetSpec {
    let mut s = phase(spec(), p);
    s.alexa = Some(crate::api::AlexaSettings {
        credentials_secret_ref: crate::api::SecretRef { name: "smapi".into() },
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
    plan(Input { owner: OWNER, spec, observed: &observed, now, skills: Some(std::slice::from_ref(skill)) })
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
