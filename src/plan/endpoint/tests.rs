use crate::api::{LambdaAliasSetSpec, Phase};
use crate::plan::fixtures::*;
use crate::plan::skill::{CertificationStatus, SkillObservation, StageEndpoints};
use crate::plan::{EndpointMove, Input, Plan, PolicyInfo, Snapshot, desired_statement, plan};

fn managed(p: Phase) -> LambdaAliasSetSpec {
    let mut s = phase(spec(), p);
    s.alexa = Some(crate::api::AlexaSettings {
        credentials_secret_ref: crate::api::SecretRef { name: "smapi".into() },
        manage_development_endpoint: true,
    });
    s.triggers = vec![alexa("alexa")];
    s
}

/// Plans with the skills' states; every alias already carries the Alexa permission.
fn run_skills(spec: &LambdaAliasSetSpec, observed: &Snapshot, skills: &[SkillObservation], now: i64) -> Plan {
    let mut observed = observed.clone();
    let statement = desired_statement(&alexa("alexa")).expect("a statement");
    for a in observed.aliases.clone() {
        observed.policies.insert(
            a.name.clone(),
            PolicyInfo { revision_id: "p".into(), statements: vec![statement.clone()] },
        );
    }
    plan(Input { owner: OWNER, spec, observed: &observed, now, skills: Some(skills), watch: None })
}

fn to_prod2(from: &str) -> Vec<EndpointMove> {
    vec![EndpointMove {
        skill_id: SKILL.into(),
        function_arn: ARN.into(),
        alias: "PROD2".into(),
        from: from.into(),
    }]
}

/// When the development stage is re-pointed, and when it is held: (case, spec, observed, skill,
/// expected moves).
#[test]
fn when_the_development_endpoint_moves_and_when_it_is_held() {
    let converged = developing(5, &[1]);
    let not_managed = {
        let mut s = managed(Phase::Development);
        s.alexa.as_mut().unwrap().manage_development_endpoint = false;
        s
    };
    let suspended = LambdaAliasSetSpec { suspend: true, ..managed(Phase::Development) };
    let mut frozen = converged.clone();
    frozen.aliases[1].function_version = "1".into();
    frozen.aliases[1].description = candidate_marker(Phase::Certifying, Some(1));
    let draining = swapped(NOW - 10);
    let on_prod1 = skill(Some("PROD1"), Some("PROD1"), None);
    let cases: Vec<(&str, LambdaAliasSetSpec, Snapshot, SkillObservation, Vec<EndpointMove>)> = vec![
        (
            "on the live alias",
            managed(Phase::Development),
            converged.clone(),
            on_prod1.clone(),
            to_prod2("PROD1"),
        ),
        (
            "unqualified",
            managed(Phase::Development),
            converged.clone(),
            skill(Some("PROD1"), Some(""), None),
            to_prod2("unqualified"),
        ),
        (
            "a version",
            managed(Phase::Development),
            converged.clone(),
            skill(Some("PROD1"), Some("7"), None),
            to_prod2("unqualified"),
        ),
        (
            "already on the candidate",
            managed(Phase::Development),
            converged.clone(),
            skill(Some("PROD1"), Some("PROD2"), None),
            vec![],
        ),
        ("not opted in", not_managed, converged.clone(), on_prod1.clone(), vec![]),
        ("suspended", suspended, converged.clone(), on_prod1.clone(), vec![]),
        ("a frozen candidate", managed(Phase::Certifying), frozen, on_prod1.clone(), vec![]),
        (
            "a review in progress",
            managed(Phase::Development),
            converged.clone(),
            skill(Some("PROD1"), Some("PROD1"), Some((CertificationStatus::InProgress, NOW - 5))),
            vec![],
        ),
        (
            "a failed review does not hold it",
            managed(Phase::Development),
            converged.clone(),
            skill(Some("PROD1"), Some("PROD1"), Some((CertificationStatus::Failed, NOW - 5))),
            to_prod2("PROD1"),
        ),
        (
            "while the previous live alias drains",
            managed(Phase::Certified),
            draining,
            skill(Some("PROD2"), Some("PROD2"), None),
            vec![],
        ),
        (
            "no development stage",
            managed(Phase::Development),
            converged.clone(),
            skill(Some("PROD1"), None, None),
            vec![],
        ),
        (
            "another function only",
            managed(Phase::Development),
            converged.clone(),
            SkillObservation {
                development: Some(StageEndpoints {
                    uris: vec!["arn:aws:lambda:eu-west-1:111122223333:function:other:PROD1".into()],
                }),
                ..on_prod1.clone()
            },
            vec![],
        ),
        (
            "the Lambda side is not converged (the candidate is missing)",
            managed(Phase::Development),
            Snapshot { aliases: converged.aliases[..1].to_vec(), ..converged.clone() },
            on_prod1.clone(),
            vec![],
        ),
    ];
    for (case, spec, observed, skill, expected) in cases {
        let p = run_skills(&spec, &observed, std::slice::from_ref(&skill), NOW);
        assert_eq!(p.endpoints, expected, "{case}: {:?} {:?}", p.outcome, p.actions);
        if !p.endpoints.is_empty() {
            assert!(p.actions.is_empty(), "{case}: SMAPI writes only once the Lambda side is done");
        }
    }
}

#[test]
fn after_the_drain_the_endpoint_follows_the_new_candidate() {
    // Swapped long ago: PROD2 live on 2, PROD1 (the previous live) drained. First the plan moves
    // PROD1 to $LATEST (no endpoint move yet), then, PROD1 tracking, the endpoint follows it.
    let drained = swapped(NOW - 10_000);
    let published = skill(Some("PROD2"), Some("PROD2"), Some((CertificationStatus::Succeeded, NOW - 20_000)));
    let spec = managed(Phase::Certified);
    let p = run_skills(&spec, &drained, std::slice::from_ref(&published), NOW);
    assert!(!p.actions.is_empty() && p.endpoints.is_empty(), "{:?} {:?}", p.actions, p.endpoints);
    let mut tracking = drained.clone();
    tracking.aliases[0].function_version = "$LATEST".into();
    tracking.aliases[0].description = candidate_marker(Phase::Development, None);
    let p = run_skills(&managed(Phase::Development), &tracking, std::slice::from_ref(&published), NOW);
    assert_eq!(
        p.endpoints,
        vec![EndpointMove {
            skill_id: SKILL.into(),
            function_arn: ARN.into(),
            alias: "PROD1".into(),
            from: "PROD2".into()
        }],
        "{:?} {:?}",
        p.outcome,
        p.actions
    );
    assert_eq!(p.endpoints[0].alias_arn(), format!("{ARN}:PROD1"));
}

#[test]
fn a_managed_development_stage_is_not_a_note() {
    let on_prod1 = skill(Some("PROD1"), Some("PROD1"), None);
    let p =
        run_skills(&managed(Phase::Development), &developing(5, &[1]), std::slice::from_ref(&on_prod1), NOW);
    let report = p.report.skill.expect("a skill report");
    assert_eq!((report.development.as_str(), report.note), ("PROD1", None));
    assert_eq!(p.endpoints.len(), 1);
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::live_stage_aliases;

    fn world_of(kind: u8) -> Snapshot {
        match kind {
            0 => developing(5, &[1]),
            1 => {
                let mut frozen = developing(5, &[1, 2]);
                frozen.aliases[1].function_version = "2".into();
                frozen.aliases[1].description = candidate_marker(Phase::Certifying, Some(2));
                frozen
            }
            2 => swapped(NOW - 10),
            3 => swapped(NOW - 10_000),
            _ => {
                let mut tracking = swapped(NOW - 10_000);
                tracking.aliases[0].function_version = "$LATEST".into();
                tracking.aliases[0].description = candidate_marker(Phase::Development, None);
                tracking
            }
        }
    }

    fn stage(choice: u8) -> Option<&'static str> {
        [None, Some("PROD1"), Some("PROD2"), Some(""), Some("7")][usize::from(choice % 5)]
    }

    fn review(choice: u8) -> Option<(CertificationStatus, i64)> {
        let statuses = [
            CertificationStatus::InProgress,
            CertificationStatus::Succeeded,
            CertificationStatus::Failed,
            CertificationStatus::Cancelled,
        ];
        (choice < 4).then(|| (statuses[usize::from(choice)], NOW - 20_000))
    }

    proptest! {
        /// Whatever the phase, the world and the skill: a move is only ever made on a plan with
        /// nothing else to do, to the candidate, never to an alias a live stage calls, and never
        /// while the skill's review is in progress.
        #[test]
        fn moves_only_to_the_candidate_when_nothing_else_is_going_on(
            phase in prop::sample::select(vec![Phase::Development, Phase::Certifying, Phase::Certified, Phase::FromSkill]),
            world in 0u8..5,
            live in 0u8..5,
            dev in 0u8..5,
            review_choice in 0u8..5,
            suspend: bool,
        ) {
            let mut spec = managed(phase);
            spec.suspend = suspend;
            let observed = world_of(world);
            let skill = skill(stage(live), stage(dev), review(review_choice));
            let p = run_skills(&spec, &observed, std::slice::from_ref(&skill), NOW);
            let live_calls = live_stage_aliases(std::slice::from_ref(&skill), ARN);
            for m in &p.endpoints {
                prop_assert!(p.actions.is_empty() && p.outcome == crate::plan::Outcome::Converged, "{:?}", p);
                prop_assert!(!suspend);
                prop_assert_eq!(Some(m.alias.as_str()), p.report.candidate.as_ref().map(|c| c.alias.as_str()));
                prop_assert!(!live_calls.contains(&m.alias), "{m:?} is called by a live stage");
                prop_assert!(skill.latest_review.as_ref().is_none_or(|r| r.status != CertificationStatus::InProgress));
                prop_assert_eq!(observed.alias(&m.alias).map(|a| a.function_version.as_str()), Some("$LATEST"));
            }
        }
    }
}
