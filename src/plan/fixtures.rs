//! Builders the planner's tests share: a function with published versions, aliases with
//! markers, the converged worlds, and helpers that read a plan.

use std::collections::BTreeMap;

use super::skill::{CertificationStatus, Review, SkillObservation, StageEndpoints};
use super::{
    Action, AliasChange, AliasInfo, FunctionInfo, Input, MappingInfo, Marker, Plan, Role, Snapshot,
    VersionInfo, VersionRef, plan,
};
use crate::api::{LambdaAliasSetSpec, Phase, Trigger};

pub(super) const OWNER: &str = "skills/trivia";
pub(super) const ARN: &str = "arn:aws:lambda:eu-west-1:111122223333:function:trivia";
pub(super) const NOW: i64 = 1_000_000;

pub(super) fn sha(n: u8) -> String {
    format!("{}=", format!("{n:02}").repeat(22).chars().take(43).collect::<String>())
}

pub(super) fn spec() -> LambdaAliasSetSpec {
    LambdaAliasSetSpec::for_function("trivia")
}

pub(super) fn phase(mut s: LambdaAliasSetSpec, p: Phase) -> LambdaAliasSetSpec {
    s.certification.phase = p;
    s
}

/// A function whose $LATEST has hash `latest` and published versions 1..=n with hashes `shas`.
pub(super) fn world(latest: u8, shas: &[u8]) -> Snapshot {
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

pub(super) fn alias(s: &mut Snapshot, name: &str, version: &str, description: &str) {
    s.aliases.push(AliasInfo {
        name: name.into(),
        alias_arn: format!("{ARN}:{name}"),
        function_version: version.into(),
        description: description.into(),
        routing: BTreeMap::new(),
        revision_id: format!("rev-{name}"),
    });
}

pub(super) fn live_marker(epoch: u64, v: u64, at: Option<i64>) -> String {
    let mut m = Marker::new(OWNER, Role::Live);
    m.epoch = epoch;
    m.version = Some(VersionRef::Number(v));
    if at.is_some() {
        m.promoted = Some(VersionRef::Number(v));
    }
    m.at = at;
    m.render(None)
}

pub(super) fn candidate_marker(p: Phase, frozen: Option<u64>) -> String {
    let mut m = Marker::new(OWNER, Role::Candidate);
    m.phase = Some(p);
    m.frozen = frozen.map(VersionRef::Number);
    m.render(None)
}

/// The converged Development world: PROD1 live on 1, PROD2 tracking $LATEST.
pub(super) fn developing(latest: u8, shas: &[u8]) -> Snapshot {
    let mut s = world(latest, shas);
    alias(&mut s, "PROD1", "1", &live_marker(1, 1, None));
    alias(&mut s, "PROD2", "$LATEST", &candidate_marker(Phase::Development, None));
    s
}

pub(super) fn run(spec: &LambdaAliasSetSpec, observed: &Snapshot) -> Plan {
    plan(Input { owner: OWNER, spec, observed, now: NOW, skills: None, watch: None })
}

pub(super) fn run_at(spec: &LambdaAliasSetSpec, observed: &Snapshot, now: i64) -> Plan {
    plan(Input { owner: OWNER, spec, observed, now, skills: None, watch: None })
}

pub(super) fn updates(p: &Plan) -> Vec<(String, VersionRef, AliasChange)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::UpdateAlias { alias, version, change, .. }
            | Action::CreateAlias { alias, version, change, .. } => Some((alias.clone(), *version, *change)),
            _ => None,
        })
        .collect()
}

pub(super) fn marker_of(p: &Plan, name: &str) -> Marker {
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

pub(super) fn alexa(name: &str) -> Trigger {
    Trigger::alexa(name, "amzn1.ask.skill.1")
}

pub(super) fn mapping(uuid: &str, alias: &str, batch: u32) -> MappingInfo {
    MappingInfo {
        uuid: uuid.into(),
        function_arn: format!("{ARN}:{alias}"),
        event_source_arn: "arn:aws:sqs:eu-west-1:111122223333:orders".into(),
        batch_size: Some(batch),
        enabled: true,
        state: "Enabled".into(),
    }
}

pub(super) fn swapped(at: i64) -> Snapshot {
    let mut s = world(5, &[1, 2]);
    alias(&mut s, "PROD1", "1", &live_marker(1, 1, None));
    alias(&mut s, "PROD2", "2", &live_marker(2, 2, Some(at)));
    s
}

pub(super) const SKILL: &str = "amzn1.ask.skill.1";

/// A skill whose live stage calls `live` and development stage calls `dev` (`None`: no stage;
/// `Some("")`: the unqualified function), with an optional latest review.
pub(super) fn skill(
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
