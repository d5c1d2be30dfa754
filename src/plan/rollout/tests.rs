use std::collections::BTreeMap;

use super::super::fixtures::*;
use super::super::{
    Action, AlarmState, AliasChange, ErrorCount, Input, Marker, Outcome, Plan, Snapshot, VersionInfo,
    VersionRef, Watch, Weighted, plan,
};
use crate::api::{LambdaAliasSetSpec, LiveOverride, Phase, Rollout, Stage};

const STEP: i64 = 300;

fn rollout(alarms: &[&str]) -> Rollout {
    Rollout {
        steps: vec![10, 50],
        interval_seconds: STEP as u32,
        alarms: alarms.iter().map(|a| a.to_string()).collect(),
        max_error_rate: None,
    }
}

/// PROD1 live on 1, PROD2 tracking $LATEST; versions 1-3; the spec pins live to `to`.
fn hotfix(to: &str, rollout: Rollout) -> (LambdaAliasSetSpec, Snapshot) {
    let mut spec = spec();
    spec.live = Some(LiveOverride { code_sha256: None, version: Some(to.into()) });
    spec.rollout = Some(rollout);
    (spec, developing(9, &[1, 2, 3]))
}

fn watch(alarms: &[(&str, AlarmState)]) -> Watch {
    Watch {
        asked: alarms.iter().map(|(n, _)| n.to_string()).collect(),
        alarms: alarms.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
        errors: Vec::new(),
    }
}

fn run_watched(spec: &LambdaAliasSetSpec, observed: &Snapshot, now: i64, watch: &Watch) -> Plan {
    plan(Input { owner: OWNER, spec, observed, now, skills: None, watch: Some(watch) })
}

/// What AWS holds after the plan's writes (the version a publish makes is the next number).
fn apply(s: &mut Snapshot, p: &Plan) {
    let mut published = None;
    for action in &p.actions {
        match action {
            Action::PublishVersion { code_sha256, .. } => {
                let n = s.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
                s.versions.push(VersionInfo {
                    version: n,
                    code_sha256: code_sha256.clone(),
                    description: String::new(),
                });
                published = Some(n);
            }
            Action::UpdateAlias { alias, version, marker, routing, .. } => {
                let a = s.aliases.iter_mut().find(|a| &a.name == alias).expect("alias exists");
                a.function_version = version.resolve(published).expect("resolved");
                a.description = marker.render(published);
                a.routing = routing
                    .map(|w| BTreeMap::from([(w.version.resolve(published).expect("resolved"), w.weight())]))
                    .unwrap_or_default();
                a.revision_id = format!("{}-next", a.revision_id);
            }
            other => panic!("unexpected action {other:?}"),
        }
    }
}

fn weights(s: &Snapshot, alias: &str) -> (String, BTreeMap<String, f64>) {
    let a = s.alias(alias).expect("alias");
    (a.function_version.clone(), a.routing.clone())
}

fn live(s: &Snapshot) -> Marker {
    Marker::parse(&s.alias("PROD1").expect("PROD1").description).expect("marker")
}

#[test]
fn a_canary_shifts_in_steps_each_held_its_interval_then_serves_the_new_version_alone() {
    let (spec, mut s) = hotfix("2", rollout(&["errors"]));
    let ok = watch(&[("errors", AlarmState::Ok)]);

    // Without the alarms' states nothing is decided: the plan asks for them.
    let asked = run_at(&spec, &s, NOW);
    assert!(asked.actions.is_empty());
    assert_eq!(asked.outcome, Outcome::Progressing);
    assert!(asked.watch.alarms.contains("errors"), "{:?}", asked.watch);

    let first = run_watched(&spec, &s, NOW, &ok);
    assert!(first.watch.is_empty());
    let Some(Action::UpdateAlias { version, routing, change, revision_id, .. }) = first.actions.first()
    else {
        panic!("{:?}", first.actions)
    };
    assert_eq!(first.actions.len(), 1);
    assert_eq!(
        (*version, *change),
        (VersionRef::Number(1), AliasChange::Step),
        "the old version stays primary"
    );
    assert_eq!(*routing, Some(Weighted { version: VersionRef::Number(2), percent: 10 }));
    assert_eq!(revision_id, "rev-PROD1", "every write carries the alias's RevisionId");
    apply(&mut s, &first);
    assert_eq!(live(&s).since, Some(NOW), "the step's start is recorded in AWS");
    assert_eq!(
        live(&s).version,
        Some(VersionRef::Number(1)),
        "the record still says 1 until the move is complete"
    );

    // Held for its interval: nothing written, the status says where it stands.
    let held = run_watched(&spec, &s, NOW + STEP - 1, &ok);
    assert!(held.actions.is_empty(), "{:?}", held.actions);
    assert!(
        matches!(held.outcome, Outcome::RollingOut { until, .. } if until == NOW + STEP),
        "{:?}",
        held.outcome
    );
    assert!(held.outcome.is_settled() && !held.outcome.is_stalled());
    let status = held.report.live.expect("live");
    assert_eq!(status.summary, "PROD1:1→2 (10%)");
    let rollout = status.rollout.expect("rollout status");
    assert_eq!((rollout.from.as_str(), rollout.to.as_str(), rollout.weight), ("1", "2", 10));
    assert_eq!((rollout.step, rollout.steps), (1, 2));
    assert_eq!(rollout.alarms[0].state, "OK");

    let second = run_watched(&spec, &s, NOW + STEP, &ok);
    assert_eq!(updates(&second), [("PROD1".into(), VersionRef::Number(1), AliasChange::Step)]);
    apply(&mut s, &second);
    assert_eq!(weights(&s, "PROD1"), ("1".into(), BTreeMap::from([("2".into(), 0.5)])));
    assert_eq!(live(&s).since, Some(NOW + STEP));
    assert!(run_watched(&spec, &s, NOW + 2 * STEP - 1, &ok).actions.is_empty(), "the second step waits too");

    let done = run_watched(&spec, &s, NOW + 2 * STEP, &ok);
    assert_eq!(updates(&done), [("PROD1".into(), VersionRef::Number(2), AliasChange::Hotfix)]);
    apply(&mut s, &done);
    assert_eq!(weights(&s, "PROD1"), ("2".into(), BTreeMap::new()));
    let m = live(&s);
    assert_eq!((m.version, m.previous, m.since), (Some(VersionRef::Number(2)), Some(1), None));

    let steady = run_watched(&spec, &s, NOW + 3 * STEP, &ok);
    assert!(steady.actions.is_empty() && steady.watch.is_empty(), "converged reads no alarm: {steady:?}");
    assert_eq!(steady.outcome, Outcome::Converged);
}

#[test]
fn an_alarm_in_alarm_mid_step_rolls_back_in_one_write_and_the_target_is_not_tried_again() {
    let (spec, mut s) = hotfix("2", rollout(&["errors", "latency"]));
    let ok = watch(&[("errors", AlarmState::Ok), ("latency", AlarmState::InsufficientData)]);
    let p = run_watched(&spec, &s, NOW, &ok);
    apply(&mut s, &p);
    let firing = watch(&[("errors", AlarmState::Ok), ("latency", AlarmState::Alarm)]);

    let back = run_watched(&spec, &s, NOW + 30, &firing);
    assert_eq!(updates(&back), [("PROD1".into(), VersionRef::Number(1), AliasChange::RollBack)]);
    let Outcome::RolledBack { message } = &back.outcome else { panic!("{:?}", back.outcome) };
    assert!(message.contains("latency") && message.contains("version 2"), "{message}");
    apply(&mut s, &back);
    assert_eq!(weights(&s, "PROD1"), ("1".into(), BTreeMap::new()), "the old version alone");
    assert_eq!((live(&s).rejected, live(&s).since), (Some(2), None));

    // The spec still asks for 2: nothing is written, even once the alarm is OK again.
    for w in [&firing, &ok] {
        let held = run_watched(&spec, &s, NOW + 600, w);
        assert!(held.actions.is_empty(), "{:?}", held.actions);
        assert!(matches!(held.outcome, Outcome::RolledBack { .. }), "{:?}", held.outcome);
        assert!(held.outcome.is_stalled());
        assert_eq!(held.report.live.and_then(|l| l.rolled_back).as_deref(), Some("2"));
    }

    // Another target starts a new rollout (and forgets the rejection).
    let mut other = spec.clone();
    other.live = Some(LiveOverride { code_sha256: None, version: Some("3".into()) });
    let fresh = run_watched(&other, &s, NOW + 700, &ok);
    let Some(Action::UpdateAlias { routing, marker, .. }) = fresh.actions.first() else {
        panic!("{fresh:?}")
    };
    assert_eq!(*routing, Some(Weighted { version: VersionRef::Number(3), percent: 10 }));
    assert_eq!((marker.rejected, marker.since), (None, Some(NOW + 700)));

    // Going back to 1 accepts the rollback: the record forgets it, live stays on 1.
    let mut accept = spec.clone();
    accept.live = Some(LiveOverride { code_sha256: None, version: Some("1".into()) });
    let accepted = run_watched(&accept, &s, NOW + 700, &ok);
    assert_eq!(updates(&accepted), [("PROD1".into(), VersionRef::Number(1), AliasChange::Hotfix)]);
    assert_eq!(marker_of(&accepted, "PROD1").rejected, None);
}

#[test]
fn an_alarm_already_firing_holds_a_new_version_but_never_a_move_back() {
    let (spec, mut s) = hotfix("2", rollout(&["errors"]));
    let firing = watch(&[("errors", AlarmState::Alarm)]);
    let held = run_watched(&spec, &s, NOW, &firing);
    assert!(held.actions.is_empty());
    let Outcome::AlarmActive { message } = &held.outcome else { panic!("{:?}", held.outcome) };
    assert!(message.contains("errors") && message.contains("version 2"), "{message}");
    assert!(!held.outcome.is_stalled() && !held.outcome.is_settled());

    // Live served 1 before 2 (a completed rollout recorded prev=1): moving back to 1 under the
    // alarm is one write, not held and not shifted.
    let ok = watch(&[("errors", AlarmState::Ok)]);
    for t in [NOW, NOW + STEP, NOW + 2 * STEP] {
        let p = run_watched(&spec, &s, t, &ok);
        apply(&mut s, &p);
    }
    assert_eq!((weights(&s, "PROD1").0.as_str(), live(&s).previous), ("2", Some(1)));
    let mut back = spec.clone();
    back.live = Some(LiveOverride { code_sha256: None, version: Some("1".into()) });
    let rollback = run_watched(&back, &s, NOW + 3 * STEP, &firing);
    assert_eq!(updates(&rollback), [("PROD1".into(), VersionRef::Number(1), AliasChange::Hotfix)]);
    assert!(matches!(rollback.actions[0], Action::UpdateAlias { routing: None, .. }));
    // A version it never served is held like any other.
    back.live = Some(LiveOverride { code_sha256: None, version: Some("3".into()) });
    assert!(matches!(run_watched(&back, &s, NOW + 3 * STEP, &firing).outcome, Outcome::AlarmActive { .. }));
}

#[test]
fn an_alarm_that_does_not_exist_stalls_without_a_write() {
    let (spec, mut s) = hotfix("2", rollout(&["errors", "typo"]));
    let mut w = watch(&[("errors", AlarmState::Ok)]);
    w.asked.insert("typo".into());
    let p = run_watched(&spec, &s, NOW, &w);
    assert!(p.actions.is_empty());
    let Outcome::AlarmNotFound { message } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert!(message.contains("typo") && !message.contains("errors,"), "{message}");
    assert!(p.outcome.is_stalled());
    // Mid-rollout too: the step is not advanced (nor rolled back) without every alarm.
    let ok = watch(&[("errors", AlarmState::Ok), ("typo", AlarmState::Ok)]);
    let p = run_watched(&spec, &s, NOW, &ok);
    apply(&mut s, &p);
    assert!(matches!(run_watched(&spec, &s, NOW + STEP, &w).outcome, Outcome::AlarmNotFound { .. }));
}

fn errors(version: u64, since: i64, invocations: f64, errors: f64) -> ErrorCount {
    ErrorCount { alias: "PROD1".into(), version, since, invocations, errors }
}

#[test]
fn the_error_rate_guard_rolls_back_above_the_rate_and_passes_too_few_invocations_only_on_time() {
    let mut r = rollout(&[]);
    r.max_error_rate = Some(0.05);
    let (spec, mut s) = hotfix("2", r);
    let none = Watch::default();
    let first = run_watched(&spec, &s, NOW, &none);
    assert!(first.watch.is_empty(), "nothing to read before the first step: {:?}", first.watch);
    apply(&mut s, &first);

    let asked = run_watched(&spec, &s, NOW + 60, &none);
    assert!(asked.actions.is_empty());
    assert!(asked.watch.errors.contains(&("PROD1".into(), 2, NOW)), "{:?}", asked.watch);

    let with = |count: ErrorCount| Watch { errors: vec![count], ..Watch::default() };
    // 4 of 100: under 5 %, the step is held.
    let fine = run_watched(&spec, &s, NOW + 60, &with(errors(2, NOW, 100.0, 4.0)));
    assert!(fine.actions.is_empty() && matches!(fine.outcome, Outcome::RollingOut { .. }));
    // 6 of 100: above, rolled back.
    let bad = run_watched(&spec, &s, NOW + 60, &with(errors(2, NOW, 100.0, 6.0)));
    assert_eq!(updates(&bad), [("PROD1".into(), VersionRef::Number(1), AliasChange::RollBack)]);
    let Outcome::RolledBack { message } = &bad.outcome else { panic!("{:?}", bad.outcome) };
    assert!(message.contains("6 errors in 100 invocations") && message.contains("5.0%"), "{message}");
    // 10 of 10: too few to judge; held, said so, and passed once the interval is over.
    let few = run_watched(&spec, &s, NOW + 60, &with(errors(2, NOW, 10.0, 10.0)));
    assert!(few.actions.is_empty());
    assert!(few.outcome.message().contains("too few to judge"), "{}", few.outcome.message());
    let judged = few.report.live.and_then(|l| l.rollout).and_then(|r| r.errors).expect("errors status");
    assert!(!judged.judged);
    let on_time = run_watched(&spec, &s, NOW + STEP, &with(errors(2, NOW, 10.0, 10.0)));
    assert_eq!(updates(&on_time), [("PROD1".into(), VersionRef::Number(1), AliasChange::Step)]);
}

#[test]
fn a_certified_swap_waits_while_the_live_alias_is_mid_rollout() {
    let (mut spec, mut s) = hotfix("2", rollout(&[]));
    let p = run_watched(&spec, &s, NOW, &Watch::default());
    apply(&mut s, &p);
    // The candidate was frozen on 3 for certification; the phase says Certified.
    s.aliases.iter_mut().find(|a| a.name == "PROD2").expect("PROD2").function_version = "3".into();
    s.aliases.iter_mut().find(|a| a.name == "PROD2").expect("PROD2").description =
        candidate_marker(Phase::Certifying, Some(3));
    // (The planner sees the pin; the schema would ask for it as live.codeSha256 in Certified.)
    spec = phase(spec, Phase::Certified);
    let p = run_watched(&spec, &s, NOW + 10, &Watch::default());
    assert!(!p.actions.iter().any(Action::is_swap), "{:?}", p.actions);
    let Outcome::RollingOut { message, .. } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert!(message.contains("roles swap once the rollout"), "{message}");
}

#[test]
fn a_new_target_mid_rollout_withdraws_the_old_weights_first() {
    let (spec, mut s) = hotfix("2", rollout(&[]));
    let p = run_watched(&spec, &s, NOW, &Watch::default());
    apply(&mut s, &p);
    let mut other = spec.clone();
    other.live = Some(LiveOverride { code_sha256: None, version: Some("3".into()) });
    let withdrawn = run_watched(&other, &s, NOW + 10, &Watch::default());
    assert!(matches!(
        withdrawn.actions.as_slice(),
        [Action::UpdateAlias { routing: None, version: VersionRef::Number(1), .. }]
    ));
    apply(&mut s, &withdrawn);
    let started = run_watched(&other, &s, NOW + 10, &Watch::default());
    assert!(matches!(
        started.actions.as_slice(),
        [Action::UpdateAlias { routing: Some(Weighted { version: VersionRef::Number(3), percent: 10 }), .. }]
    ));
    // The spec back on the old version abandons the rollout at once.
    let mut s2 = s.clone();
    apply(&mut s2, &started);
    let mut back = spec.clone();
    back.live = Some(LiveOverride { code_sha256: None, version: Some("1".into()) });
    let abandoned = run_watched(&back, &s2, NOW + 20, &Watch::default());
    assert!(matches!(
        abandoned.actions.as_slice(),
        [Action::UpdateAlias { routing: None, version: VersionRef::Number(1), .. }]
    ));
}

#[test]
fn weights_without_a_recorded_start_begin_their_step_now_and_drift_is_put_back_at_once() {
    let (spec, mut s) = hotfix("2", rollout(&[]));
    s.aliases[0].routing = BTreeMap::from([("2".into(), 0.1)]);
    let p = run_watched(&spec, &s, NOW, &Watch::default());
    let Some(Action::UpdateAlias { routing, marker, change, .. }) = p.actions.first() else {
        panic!("{p:?}")
    };
    assert_eq!((*change, marker.since), (AliasChange::Step, Some(NOW)));
    assert_eq!(*routing, Some(Weighted { version: VersionRef::Number(2), percent: 10 }), "the same weight");

    // Someone re-pointed live to 3 by hand: back to the recorded 1 in one write, not in steps.
    let (spec, mut s) = hotfix("2", rollout(&[]));
    s.aliases[0].function_version = "3".into();
    let p = run_watched(&spec, &s, NOW, &Watch::default());
    assert!(matches!(
        p.actions.as_slice(),
        [Action::UpdateAlias {
            version: VersionRef::Number(1),
            routing: None,
            change: AliasChange::Drift,
            ..
        }]
    ));
}

#[test]
fn stages_roll_out_too_and_what_aws_cannot_weight_is_one_write() {
    let mut spec = spec();
    spec.rollout = Some(rollout(&[]));
    spec.stages =
        vec![Stage { alias: "BETA".into(), code_sha256: None, version: Some("2".into()), track: None }];
    let mut s = developing(9, &[1, 2, 3]);
    let mut beta = Marker::new(OWNER, super::super::Role::Stage);
    alias(&mut s, "BETA", "1", &beta.render(None));
    let p = run_watched(&spec, &s, NOW, &Watch::default());
    assert!(matches!(
        p.actions.as_slice(),
        [Action::UpdateAlias { routing: Some(Weighted { percent: 10, .. }), change: AliasChange::Step, .. }]
    ));
    // A stage tracking $LATEST moves in one write (AWS weights published versions only), and so
    // does a stage on $LATEST moving to a version.
    spec.stages[0].version = None;
    spec.stages[0].track = Some(crate::api::Track::Latest);
    assert_eq!(
        updates(&run_watched(&spec, &s, NOW, &Watch::default())),
        [("BETA".into(), VersionRef::Latest, AliasChange::Stage)]
    );
    beta.since = None;
    s.aliases.iter_mut().find(|a| a.name == "BETA").expect("BETA").function_version = "$LATEST".into();
    spec.stages[0].track = None;
    spec.stages[0].version = Some("2".into());
    assert!(matches!(
        run_watched(&spec, &s, NOW, &Watch::default()).actions.as_slice(),
        [Action::UpdateAlias { routing: None, version: VersionRef::Number(2), .. }]
    ));
}

#[test]
fn a_hotfix_by_hash_publishes_then_weights_the_published_version() {
    let mut spec = spec();
    spec.live = Some(LiveOverride { code_sha256: Some(sha(9)), version: None });
    spec.rollout = Some(rollout(&[]));
    let mut s = developing(9, &[1]);
    let p = run_watched(&spec, &s, NOW, &Watch::default());
    assert!(matches!(p.actions.first(), Some(Action::PublishVersion { .. })));
    assert!(matches!(
        p.actions.get(1),
        Some(Action::UpdateAlias {
            version: VersionRef::Number(1),
            routing: Some(Weighted { version: VersionRef::Published, percent: 10 }),
            ..
        })
    ));
    apply(&mut s, &p);
    assert_eq!(weights(&s, "PROD1"), ("1".into(), BTreeMap::from([("2".into(), 0.1)])));
    assert!(
        run_watched(&spec, &s, NOW + 1, &Watch::default()).actions.is_empty(),
        "the published version is the one weighted"
    );
}

#[test]
fn without_a_rollout_a_hotfix_is_one_write_and_a_routed_alias_is_put_on_one_version() {
    let (mut spec, mut s) = hotfix("2", rollout(&[]));
    spec.rollout = None;
    assert!(matches!(
        run(&spec, &s).actions.as_slice(),
        [Action::UpdateAlias {
            version: VersionRef::Number(2),
            routing: None,
            change: AliasChange::Hotfix,
            ..
        }]
    ));
    // A rollout removed mid-way: the move completes in one write.
    s.aliases[0].routing = BTreeMap::from([("2".into(), 0.5)]);
    assert!(matches!(
        run(&spec, &s).actions.as_slice(),
        [Action::UpdateAlias { version: VersionRef::Number(2), routing: None, .. }]
    ));
}

#[test]
fn a_stalled_set_writes_nothing_but_a_rollback() {
    // Live rolled back 2 and the spec still asks for it (stalled); BETA is mid-step on 2.
    let (mut spec, mut s) = hotfix("2", rollout(&["errors"]));
    spec.stages =
        vec![Stage { alias: "BETA".into(), code_sha256: None, version: Some("2".into()), track: None }];
    alias(&mut s, "BETA", "1", &Marker::new(OWNER, super::super::Role::Stage).render(None));
    let ok = watch(&[("errors", AlarmState::Ok)]);
    let started = run_watched(&spec, &s, NOW, &ok);
    assert_eq!(started.actions.len(), 2, "both aliases start: {:?}", started.actions);
    apply(&mut s, &started);
    let firing = watch(&[("errors", AlarmState::Alarm)]);
    // The alarm rolls back both, each in its one write.
    let mut back = run_watched(&spec, &s, NOW + 10, &firing);
    assert_eq!(
        updates(&back),
        [
            ("PROD1".into(), VersionRef::Number(1), AliasChange::RollBack),
            ("BETA".into(), VersionRef::Number(1), AliasChange::RollBack)
        ]
    );
    // With PROD1 already held (rejected) and BETA still weighted, BETA's rollback is not held
    // by PROD1's stall.
    back.actions.truncate(1);
    apply(&mut s, &back);
    assert!(weights(&s, "BETA").1.contains_key("2"), "BETA still mid-step");
    let p = run_watched(&spec, &s, NOW + 20, &firing);
    assert_eq!(updates(&p), [("BETA".into(), VersionRef::Number(1), AliasChange::RollBack)]);
    let Outcome::RolledBack { message } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert!(message.contains("BETA") && message.contains("errors"), "{message}");
    // ... while nothing else is written, and an OK alarm leaves BETA's weight where it is.
    let held = run_watched(&spec, &s, NOW + 2 * STEP, &ok);
    assert!(held.actions.is_empty(), "{:?}", held.actions);
    assert!(held.outcome.is_stalled(), "{:?}", held.outcome);
}
