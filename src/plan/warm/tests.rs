use crate::api::{Phase, ProvisionedConcurrency};
use crate::plan::fixtures::*;
use crate::plan::marker::Provisioned;
use crate::plan::skill::CertificationStatus;
use crate::plan::{
    Action, AliasChange, Input, Marker, Outcome, Plan, Snapshot, VersionRef, WarmConfig, WarmStatus, plan,
};

fn pc(live: u32, candidate: u32) -> Option<ProvisionedConcurrency> {
    Some(ProvisionedConcurrency { live, candidate })
}

fn config(version: u64, requested: u32, status: WarmStatus) -> WarmConfig {
    let allocated = if status == WarmStatus::Ready { requested } else { 0 };
    WarmConfig {
        qualifier: version.to_string(),
        requested,
        allocated,
        available: allocated,
        status,
        reason: None,
    }
}

/// PROD1 live on 1 with its record and a READY config of 5; PROD2 frozen on 2 for certification
/// with a READY config of `candidate`.
fn certifying(candidate: u32) -> Snapshot {
    let mut s = world(9, &[1, 2]);
    let mut live = Marker::parse(&live_marker(1, 1, None)).expect("marker");
    live.provisioned = Some(Provisioned::Managed);
    alias(&mut s, "PROD1", "1", &live.render(None));
    alias(&mut s, "PROD2", "2", &candidate_marker(Phase::Certifying, Some(2)));
    s.warm = vec![config(1, 5, WarmStatus::Ready), config(2, candidate, WarmStatus::Ready)];
    s
}

fn puts(p: &Plan) -> Vec<(VersionRef, u32)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::PutWarm { version, count, .. } => Some((*version, *count)),
            _ => None,
        })
        .collect()
}

fn with_skill(spec: &crate::api::LambdaAliasSetSpec, s: &Snapshot, review: CertificationStatus) -> Plan {
    let skill = skill(Some("PROD1"), Some("PROD2"), Some((review, NOW - 10)));
    plan(Input {
        owner: OWNER,
        spec,
        observed: s,
        now: NOW,
        skills: Some(std::slice::from_ref(&skill)),
        watch: None,
    })
}

#[test]
fn a_frozen_candidate_holds_its_count_and_the_live_count_once_the_swap_is_near() {
    let mut spec = phase(spec(), Phase::Certifying);
    spec.provisioned_concurrency = pc(5, 1);
    let p = run(&spec, &certifying(1));
    assert!(p.actions.is_empty(), "steady: {:?}", p.actions);
    assert_eq!(p.outcome, Outcome::Converged);
    // Certified: the candidate is warmed to the live count, and the swap waits.
    let p = run(&phase(spec.clone(), Phase::Certified), &certifying(1));
    assert_eq!(puts(&p), [(VersionRef::Number(2), 5)]);
    assert!(!p.actions.iter().any(Action::is_swap), "{:?}", p.actions);
    // The candidate's version does not initialise (FAILED at the candidate's count): no swap.
    let mut failed = certifying(1);
    failed.warm[1].status = WarmStatus::Failed;
    failed.warm[1].reason = Some("FUNCTION_ERROR_INIT_FAILURE".into());
    let p = run(&phase(spec.clone(), Phase::Certified), &failed);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let Outcome::WarmupFailed { message } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert!(message.contains("FUNCTION_ERROR_INIT_FAILURE") && message.contains("do not swap"), "{message}");
    // READY at the live count: the swap, alone with nothing else to warm.
    let p = run(&phase(spec.clone(), Phase::Certified), &certifying(5));
    assert!(p.actions.iter().any(Action::is_swap), "{:?}", p.actions);
    assert!(puts(&p).is_empty(), "{:?}", p.actions);
    // Alexa-aware: Amazon's publication is the swap, so a review in progress (or succeeded)
    // already warms the candidate; a failed review does not.
    let mut alexa_spec = spec.clone();
    alexa_spec.triggers = vec![alexa("alexa")];
    alexa_spec.alexa = Some(crate::api::AlexaSettings {
        credentials_secret_ref: crate::api::SecretRef { name: "smapi".into() },
        manage_development_endpoint: false,
    });
    let mut s = certifying(1);
    for name in ["PROD1", "PROD2"] {
        s.policies.insert(
            name.into(),
            crate::plan::PolicyInfo {
                revision_id: "p".into(),
                statements: vec![crate::plan::desired_statement(&alexa("alexa")).expect("statement")],
            },
        );
    }
    for (review, warmed) in [
        (CertificationStatus::InProgress, true),
        (CertificationStatus::Succeeded, true),
        (CertificationStatus::Failed, false),
    ] {
        let p = with_skill(&alexa_spec, &s, review);
        assert_eq!(puts(&p) == [(VersionRef::Number(2), 5)], warmed, "{review:?}: {:?}", p.actions);
    }
}

#[test]
fn a_pin_waits_for_its_version_and_the_record_comes_before_the_config() {
    let mut spec = spec();
    spec.provisioned_concurrency = pc(5, 0);
    spec.live = Some(crate::api::LiveOverride { code_sha256: None, version: Some("2".into()) });
    let mut s = developing(9, &[1, 2]);
    let mut live = Marker::parse(&s.aliases[0].description).expect("marker");
    live.provisioned = Some(Provisioned::Managed);
    s.aliases[0].description = live.render(None);
    s.warm = vec![config(1, 5, WarmStatus::Ready)];
    let p = run(&spec, &s);
    let Some(Action::UpdateAlias { alias, version, marker, change: AliasChange::Record, .. }) =
        p.actions.first()
    else {
        panic!("the record first: {:?}", p.actions)
    };
    assert_eq!(
        (alias.as_str(), *version, marker.provisioned),
        ("PROD1", VersionRef::Number(1), Some(Provisioned::Warming(2)))
    );
    assert_eq!(puts(&p), [(VersionRef::Number(2), 5)]);
    assert_eq!(p.actions.len(), 2, "{:?}", p.actions);
    // IN_PROGRESS: nothing to write, Warming names the version and the allocation.
    s.warm.push(config(2, 5, WarmStatus::InProgress));
    let mut recorded = Marker::parse(&s.aliases[0].description).expect("marker");
    recorded.provisioned = Some(Provisioned::Warming(2));
    s.aliases[0].description = recorded.render(None);
    let p = run(&spec, &s);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let Outcome::Warming { message } = &p.outcome else { panic!("{:?}", p.outcome) };
    assert!(
        message.contains("version 2 (IN_PROGRESS: 0 of 5 allocated)") && message.contains("5 READY"),
        "{message}"
    );
    // READY: the move, the record back to managed with version 1 as the one served before, then
    // version 1's config goes.
    s.warm.retain(|c| c.qualifier != "2");
    s.warm.push(config(2, 5, WarmStatus::Ready));
    let p = run(&spec, &s);
    let verbs: Vec<&str> = p.actions.iter().map(Action::verb).collect();
    assert_eq!(verbs, ["UpdateAlias", "DeleteProvisionedConcurrencyConfig"], "{:?}", p.actions);
    let moved = marker_of(&p, "PROD1");
    assert_eq!((moved.provisioned, moved.previous), (Some(Provisioned::Managed), Some(1)));
}

#[test]
fn never_on_latest_and_a_candidate_tracking_latest_holds_none() {
    let mut spec = spec();
    spec.provisioned_concurrency = pc(5, 3);
    let s = developing(9, &[1]);
    let p = run(&spec, &s);
    assert_eq!(puts(&p), [(VersionRef::Number(1), 5)], "the live version only: {:?}", p.actions);
    // Bootstrap: the version to be published is provisioned by the next plan, once its number
    // is known (publishing unchanged code answers with an existing version).
    let p = run(&spec, &world(9, &[]));
    assert!(puts(&p).is_empty(), "{:?}", p.actions);
}
