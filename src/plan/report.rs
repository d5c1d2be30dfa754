//! The status a plan reports: the roles and their versions, the drain, the last rotation, which
//! aliases carry each trigger, and the skill's stages.

use crate::api::{AliasStatus, Phase, TriggerStatus};

use super::pair::Roles;
use super::{Planner, Report, Role, VersionRef, sid};

impl<'a> Planner<'a> {
    fn alias_status(&self, name: &str) -> Option<AliasStatus> {
        let alias = self.snapshot().alias(name)?;
        let sha = VersionRef::parse(&alias.function_version).and_then(|v| self.sha_of(v)).map(str::to_string);
        let mut status = AliasStatus::new(name, &alias.function_version, sha, Some(alias.alias_arn.clone()));
        // Weighted routing (a rollout's step): `PROD1:3→4 (10%)`.
        if let Some((weighted, percent)) = super::weighted_version(alias) {
            status.summary = format!("{name}:{}→{weighted} ({percent}%)", alias.function_version);
        }
        Some(status)
    }

    pub(super) fn report(&self, roles: &Roles<'a>, function_arn: String) -> Report {
        let snapshot = self.snapshot();
        let recorded_phase = if roles.candidate_was_live {
            Some(Phase::Certified)
        } else {
            roles.candidate_marker.as_ref().filter(|m| m.role == Role::Candidate).and_then(|m| m.phase)
        };
        let drain_until = roles.drain_until.filter(|until| self.input.now < *until);
        let last_rotation = roles.live_marker.as_ref().and_then(|m| {
            let at = m.at?;
            let promoted = m.promoted.map(|p| p.to_string()).unwrap_or_default();
            Some((at, roles.live.to_string(), promoted))
        });
        let mut triggers = Vec::new();
        for trigger in &self.spec().triggers {
            let mut aliases = Vec::new();
            let mut names: Vec<&str> = vec![roles.live, roles.candidate];
            names.extend(self.spec().stages.iter().map(|s| s.alias.as_str()));
            for name in names {
                let carried = match &trigger.event_source_mapping {
                    Some(esm) => snapshot.alias(name).is_some_and(|a| {
                        snapshot.mappings.iter().any(|m| {
                            m.function_arn == a.alias_arn && m.event_source_arn == esm.event_source_arn
                        })
                    }),
                    None => snapshot
                        .policies
                        .get(name)
                        .is_some_and(|p| p.statements.iter().any(|s| s.sid == sid(&trigger.name))),
                };
                if carried {
                    aliases.push(name.to_string());
                }
            }
            triggers.push(TriggerStatus { name: trigger.name.clone(), aliases });
        }
        Report {
            function_arn: Some(function_arn),
            phase: recorded_phase,
            live: self.alias_status(roles.live),
            candidate: self.alias_status(roles.candidate),
            stages: self.spec().stages.iter().filter_map(|s| self.alias_status(&s.alias)).collect(),
            drain_until,
            last_rotation,
            triggers,
            skill: self.skill_report(roles),
        }
    }
}
