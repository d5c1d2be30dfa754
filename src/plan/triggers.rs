//! Triggers: the resource-policy statements the set owns on each alias (Sid `las-<trigger>`),
//! and the event source mappings that poll for an alias.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{AlexaSkillKind, Trigger};

use super::pair::Roles;
use super::{Action, Planner, Statement};

/// Statement ids the set owns start with this; everything else in a policy is foreign.
pub const SID_PREFIX: &str = "las-";

/// The service principals the built-in trigger kinds grant.
pub const ALEXA_CUSTOM_PRINCIPAL: &str = "alexa-appkit.amazon.com";
pub const ALEXA_SMART_HOME_PRINCIPAL: &str = "alexa-connectedhome.amazon.com";
pub const API_GATEWAY_PRINCIPAL: &str = "apigateway.amazonaws.com";
pub const S3_PRINCIPAL: &str = "s3.amazonaws.com";
pub const EVENTBRIDGE_PRINCIPAL: &str = "events.amazonaws.com";
pub const BUILT_IN_PRINCIPALS: [&str; 5] = [
    ALEXA_CUSTOM_PRINCIPAL,
    ALEXA_SMART_HOME_PRINCIPAL,
    API_GATEWAY_PRINCIPAL,
    S3_PRINCIPAL,
    EVENTBRIDGE_PRINCIPAL,
];

pub fn sid(trigger: &str) -> String {
    format!("{SID_PREFIX}{trigger}")
}

/// The resource-policy statement a trigger needs (`None` for event source mappings).
pub fn desired_statement(trigger: &Trigger) -> Option<Statement> {
    let invoke = "lambda:InvokeFunction".to_string();
    let base = Statement { sid: sid(&trigger.name), action: invoke, ..Statement::default() };
    if let Some(alexa) = &trigger.alexa_skill {
        let principal = match alexa.kind {
            AlexaSkillKind::Custom => ALEXA_CUSTOM_PRINCIPAL,
            AlexaSkillKind::SmartHome => ALEXA_SMART_HOME_PRINCIPAL,
        };
        return Some(Statement {
            principal: principal.into(),
            event_source_token: Some(alexa.skill_id.clone()),
            ..base
        });
    }
    if let Some(api) = &trigger.api_gateway {
        return Some(Statement {
            principal: API_GATEWAY_PRINCIPAL.into(),
            source_arn: Some(api.source_arn.clone()),
            ..base
        });
    }
    if let Some(s3) = &trigger.s3 {
        return Some(Statement {
            principal: S3_PRINCIPAL.into(),
            source_arn: Some(s3.bucket_arn.clone()),
            source_account: s3.source_account.clone(),
            ..base
        });
    }
    if let Some(eb) = &trigger.event_bridge {
        return Some(Statement {
            principal: EVENTBRIDGE_PRINCIPAL.into(),
            source_arn: Some(eb.rule_arn.clone()),
            ..base
        });
    }
    if let Some(p) = &trigger.permission {
        return Some(Statement {
            principal: p.principal.clone(),
            action: p.action.clone(),
            source_arn: p.source_arn.clone(),
            source_account: p.source_account.clone(),
            event_source_token: p.event_source_token.clone(),
            ..base
        });
    }
    None
}

impl<'a> Planner<'a> {
    fn trigger_targets(&self, trigger: &Trigger, roles: &Roles<'a>) -> Vec<&'a str> {
        let is_mapping = trigger.event_source_mapping.is_some();
        match trigger.target.as_deref() {
            None if is_mapping => vec![roles.live],
            None | Some("Both") => vec![roles.live, roles.candidate],
            Some("Live") => vec![roles.live],
            Some("Candidate") => vec![roles.candidate],
            Some(stage) => self
                .spec()
                .stages
                .iter()
                .find(|s| s.alias == stage)
                .map(|s| vec![s.alias.as_str()])
                .unwrap_or_default(),
        }
    }

    pub(super) fn triggers(&mut self, roles: &Roles<'a>) {
        let spec = self.spec();
        let snapshot = self.snapshot();
        let mut carriers: Vec<&str> = vec![roles.live, roles.candidate];
        carriers.extend(spec.stages.iter().map(|s| s.alias.as_str()));

        let mut statements: BTreeMap<&str, BTreeMap<String, (&str, Statement)>> = BTreeMap::new();
        let mut mappings: Vec<(&str, &Trigger)> = Vec::new();
        for trigger in &spec.triggers {
            for alias in self.trigger_targets(trigger, roles) {
                match desired_statement(trigger) {
                    Some(statement) => {
                        statements
                            .entry(alias)
                            .or_default()
                            .insert(statement.sid.clone(), (trigger.name.as_str(), statement));
                    }
                    None => mappings.push((alias, trigger)),
                }
            }
        }

        let draining_alias = self.draining(roles).then_some(roles.candidate);
        for alias in &carriers {
            let desired = statements.remove(alias).unwrap_or_default();
            let policy = snapshot.policies.get(*alias);
            let observed: Vec<&Statement> = policy.map(|p| p.statements.iter().collect()).unwrap_or_default();
            let mut removed = false;
            for st in observed.iter().filter(|s| s.sid.starts_with(SID_PREFIX)) {
                let keep = desired.get(&st.sid).is_some_and(|(_, d)| d == *st);
                // A draining alias keeps what it carried until the drain ends.
                let stale_while_draining = !desired.contains_key(&st.sid) && draining_alias == Some(*alias);
                if !keep && !stale_while_draining {
                    self.actions
                        .push(Action::RemovePermission { alias: alias.to_string(), sid: st.sid.clone() });
                    removed = true;
                }
            }
            let mut revision = if removed { None } else { policy.map(|p| p.revision_id.clone()) };
            for (sid, (trigger, statement)) in desired {
                if observed.iter().any(|o| o.sid == sid && **o == statement) {
                    continue;
                }
                self.actions.push(Action::AddPermission {
                    alias: alias.to_string(),
                    trigger: trigger.to_string(),
                    statement,
                    // Only the first write can carry the observed RevisionId: each write changes it.
                    revision_id: revision.take(),
                });
            }
        }
        self.mappings(&carriers, &mappings);
    }

    fn mappings(&mut self, carriers: &[&str], desired: &[(&str, &Trigger)]) {
        let snapshot = self.snapshot();
        let Some(function) = &snapshot.function else { return };
        let arn_of = |alias: &str| format!("{}:{alias}", function.function_arn);
        let alias_of = |arn: &str| carriers.iter().find(|c| arn_of(c) == arn).map(|c| c.to_string());
        let observed: Vec<_> = snapshot
            .mappings
            .iter()
            .filter(|m| carriers.iter().any(|c| arn_of(c) == m.function_arn))
            .collect();
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let mut pending: Vec<(&str, &Trigger)> = Vec::new();
        // 1. Already in place: only batch size and enabled can differ.
        for &(alias, trigger) in desired {
            let Some(spec) = &trigger.event_source_mapping else { continue };
            let found = observed.iter().find(|m| {
                !used.contains(m.uuid.as_str())
                    && m.function_arn == arn_of(alias)
                    && m.event_source_arn == spec.event_source_arn
            });
            match found {
                Some(m) => {
                    used.insert(m.uuid.as_str());
                    let batch = spec.batch_size.filter(|b| m.batch_size != Some(*b));
                    let enabled = (m.enabled != spec.enabled).then_some(spec.enabled);
                    if batch.is_some() || enabled.is_some() {
                        self.actions.push(Action::UpdateMapping {
                            uuid: m.uuid.clone(),
                            trigger: trigger.name.clone(),
                            move_to: None,
                            batch_size: batch,
                            enabled,
                        });
                    }
                }
                None => pending.push((alias, trigger)),
            }
        }
        // 2. On another alias of the set (a swap moved the role): move it, so one queue never
        //    has two pollers for one role. 3. Otherwise create it.
        for (alias, trigger) in pending {
            let Some(spec) = &trigger.event_source_mapping else { continue };
            let movable = observed.iter().find(|m| {
                !used.contains(m.uuid.as_str())
                    && m.event_source_arn == spec.event_source_arn
                    && !desired.iter().any(|(a, t)| {
                        arn_of(a) == m.function_arn
                            && t.event_source_mapping
                                .as_ref()
                                .is_some_and(|e| e.event_source_arn == m.event_source_arn)
                    })
            });
            if let Some(m) = movable {
                used.insert(m.uuid.as_str());
                self.actions.push(Action::UpdateMapping {
                    uuid: m.uuid.clone(),
                    trigger: trigger.name.clone(),
                    move_to: Some(alias.to_string()),
                    batch_size: spec.batch_size.filter(|b| m.batch_size != Some(*b)),
                    enabled: (m.enabled != spec.enabled).then_some(spec.enabled),
                });
            } else {
                self.actions.push(Action::CreateMapping {
                    alias: alias.to_string(),
                    trigger: trigger.name.clone(),
                    event_source_arn: spec.event_source_arn.clone(),
                    batch_size: spec.batch_size,
                    enabled: spec.enabled,
                    starting_position: spec.starting_position.map(|p| match p {
                        crate::api::StartingPosition::TrimHorizon => "TRIM_HORIZON".to_string(),
                        crate::api::StartingPosition::Latest => "LATEST".to_string(),
                    }),
                });
            }
        }
        // 4. Every other mapping on the set's aliases is stale (or a duplicate): delete it.
        for m in observed {
            if !used.contains(m.uuid.as_str()) {
                self.actions.push(Action::DeleteMapping {
                    uuid: m.uuid.clone(),
                    alias: alias_of(&m.function_arn).unwrap_or_else(|| m.function_arn.clone()),
                    event_source_arn: m.event_source_arn.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
