//! The pure planner: `(spec, observed AWS snapshot, now) -> ordered actions + status`.
//!
//! No I/O, no clock, no SDK or kube types: every rule of the README's "How it decides" is
//! decided here and unit-tested as a table of (spec, observed) -> actions. The engine executes
//! the actions in order, stops at the first failure, and plans again from a fresh observation,
//! so a crash after any prefix of a plan converges to the same end state.
//!
//! [`plan`] runs the concerns in order on one `Planner`, which holds what they share (the
//! input, the actions so far, the one publish, the first blocking outcome) and the alias writes
//! they all use: `pair` (roles, phases, swap, drain, hotfix), `stages`, `triggers` (statements
//! and event source mappings), `interlock` (what an Alexa skill's live stage calls), `endpoint`
//! (the skill's development endpoint follows the candidate), `report` (the status), `retention`
//! (`retainVersions`); `teardown` is deletion, outside a plan.

mod endpoint;
mod interlock;
pub mod marker;
pub mod model;
mod pair;
mod report;
mod retention;
mod rollout;
pub mod skill;
pub mod snapshot;
mod stages;
mod teardown;
mod triggers;
mod warm;

#[cfg(test)]
mod fixtures;

use crate::api::LambdaAliasSetSpec;

pub use endpoint::EndpointMove;
pub use interlock::live_stage_aliases;
pub use marker::{Marker, Role, VersionRef};
pub use model::{Action, AliasChange, Input, Outcome, Plan, Report, SkillReport, Weighted};
pub use retention::retention_candidates;
pub use rollout::{MIN_INVOCATIONS, weighted_version};
pub use snapshot::{
    AlarmInfo, AlarmState, AliasInfo, ErrorCount, FunctionInfo, LATEST, MappingInfo, PolicyInfo, Snapshot,
    Statement, VersionInfo, WarmConfig, WarmStatus, Watch, WatchNeed,
};
pub use stages::aliases_to_observe;
pub use teardown::{release, teardown};
pub use triggers::{BUILT_IN_PRINCIPALS, SID_PREFIX, desired_statement, sid};
pub use warm::observes_warm;

/// Plans one reconcile.
pub fn plan(input: Input<'_>) -> Plan {
    let Some(function) = &input.observed.function else {
        return Plan {
            actions: Vec::new(),
            outcome: Outcome::FunctionNotFound,
            report: Report::default(),
            endpoints: Vec::new(),
            watch: WatchNeed::default(),
        };
    };
    let mut planner = Planner {
        input,
        latest_sha: function.code_sha256.clone(),
        actions: Vec::new(),
        publish: None,
        blocked: None,
        waiting: None,
        need: WatchNeed::default(),
        rollouts: std::collections::BTreeMap::new(),
        rolling: None,
        rolled_back: None,
        warming: None,
        warm_report: None,
    };
    let roles = planner.roles();
    let mut report = planner.report(&roles, function.function_arn.clone());
    let nothing = |outcome, report| Plan {
        actions: Vec::new(),
        outcome,
        report,
        endpoints: Vec::new(),
        watch: WatchNeed::default(),
    };

    if let Some(outcome) = planner.ownership(&roles) {
        return nothing(outcome, report);
    }
    if let Some(outcome) = planner.skill_mismatch(&roles) {
        return nothing(outcome, report);
    }
    let phase = planner.effective_phase(&roles);
    let swapped = planner.pair(&roles, phase);
    if !swapped {
        planner.stages();
        planner.stale_stages(&roles);
        planner.triggers(&roles);
    }
    planner.warm(&roles, phase);
    planner.report_rollouts(&mut report);
    planner.report_warm(&mut report);
    // CloudWatch has still to be read for a rollout: nothing is decided (or written) without it.
    if !planner.need.is_empty() {
        let watch = std::mem::take(&mut planner.need);
        return Plan { watch, ..nothing(Outcome::Progressing, report) };
    }
    if let Some(outcome) = planner.blocked.take() {
        // A stalled set writes nothing, except a rollback: an alias mid-rollout holds its weight
        // and is still watched, and an alarm sends it back (README "Progressive rollouts").
        let rollbacks: Vec<Action> = planner.actions.drain(..).filter(Action::is_rollback).collect();
        if rollbacks.is_empty() || planner.input.spec.suspend {
            return nothing(outcome, report);
        }
        let message = planner.rolled_back.take().unwrap_or_default();
        return Plan { actions: rollbacks, ..nothing(Outcome::RolledBack { message }, report) };
    }
    let mut actions = Vec::new();
    if let Some((code_sha256, description)) = planner.publish.take() {
        actions.push(Action::PublishVersion {
            code_sha256,
            revision_id: function.revision_id.clone(),
            description,
        });
    }
    actions.append(&mut planner.actions);
    let held = planner.interlock(&roles, &mut actions);
    // Versions are collected only once everything else agrees, so that no version about to be
    // referenced can be deleted.
    if actions.is_empty() {
        actions = retention::deletions(planner.input.spec, planner.input.observed);
    }
    let outcome = if planner.input.spec.suspend {
        Outcome::Suspended { pending: actions.len() }
    } else if let Some(message) = planner.rolled_back.take().filter(|_| !actions.is_empty()) {
        // The write that rolls back is in this plan: the set reads RolledBack from now on.
        Outcome::RolledBack { message }
    } else if !actions.is_empty() {
        Outcome::Progressing
    } else if let Some(message) = held {
        Outcome::AwaitingPublication { message }
    } else if let Some(message) = planner.warming.take() {
        Outcome::Warming { message }
    } else if let Some((until, message)) = planner.rolling.take() {
        Outcome::RollingOut { message, until: planner.waiting.map_or(until, |w| w.min(until)) }
    } else if let Some(until) = planner.waiting {
        Outcome::Draining { until }
    } else {
        Outcome::Converged
    };
    if planner.input.spec.suspend {
        actions.clear();
    }
    let endpoints = planner.endpoint_moves(&roles, &actions, &outcome);
    Plan { actions, outcome, report, endpoints, watch: WatchNeed::default() }
}

/// One plan in the making: the concerns push their writes here, ask for the one publish, and
/// record the first outcome that blocks every write.
struct Planner<'a> {
    input: Input<'a>,
    latest_sha: String,
    actions: Vec<Action>,
    /// The one PublishVersion this plan needs: (expected CodeSha256, description).
    publish: Option<(String, Option<String>)>,
    blocked: Option<Outcome>,
    /// Waiting for a drain to end.
    waiting: Option<i64>,
    /// `spec.rollout`: what CloudWatch must answer before the plan can decide.
    need: WatchNeed,
    /// `spec.rollout`: each alias's rollout, for its status.
    rollouts: std::collections::BTreeMap<String, rollout::AliasRollout>,
    /// `spec.rollout`: waiting for a step's interval to pass (unix seconds), and why.
    rolling: Option<(i64, String)>,
    /// `spec.rollout`: this plan rolls an alias back, and why.
    rolled_back: Option<String>,
    /// `spec.provisionedConcurrency`: waiting for a config to be READY, and why.
    warming: Option<String>,
    /// `spec.provisionedConcurrency`: which configs the status shows.
    warm_report: Option<warm::WarmReport>,
}

impl<'a> Planner<'a> {
    fn snapshot(&self) -> &'a Snapshot {
        self.input.observed
    }

    fn spec(&self) -> &'a LambdaAliasSetSpec {
        self.input.spec
    }

    fn marker(&self, alias: Option<&AliasInfo>) -> Option<Marker> {
        alias.and_then(|a| Marker::parse(&a.description))
    }

    fn block(&mut self, outcome: Outcome) {
        if self.blocked.is_none() {
            self.blocked = Some(outcome);
        }
    }

    fn wait(&mut self, until: i64) {
        self.waiting = Some(self.waiting.map_or(until, |w| w.min(until)));
    }

    fn need_publish(&mut self, description: Option<String>) -> VersionRef {
        let sha = self.latest_sha.clone();
        match &mut self.publish {
            Some((_, existing)) => {
                if existing.is_none() {
                    *existing = description;
                }
            }
            None => self.publish = Some((sha, description)),
        }
        VersionRef::Published
    }

    fn sha_of(&self, version: VersionRef) -> Option<&'a str> {
        match version {
            VersionRef::Number(n) => self.snapshot().version(n).map(|v| v.code_sha256.as_str()),
            VersionRef::Latest => self.snapshot().function.as_ref().map(|f| f.code_sha256.as_str()),
            VersionRef::Published => None,
        }
    }

    /// A code hash to a version: the alias's current version if it already has the hash, else the
    /// newest published version with it, else `$LATEST` published if it has it.
    fn resolve_hash(&mut self, field: &str, hash: &str, current: Option<VersionRef>) -> Option<VersionRef> {
        if let Some(current @ VersionRef::Number(_)) = current
            && self.sha_of(current) == Some(hash)
        {
            return Some(current);
        }
        let newest =
            self.snapshot().versions.iter().filter(|v| v.code_sha256 == hash).map(|v| v.version).max();
        if let Some(n) = newest {
            return Some(VersionRef::Number(n));
        }
        if self.latest_sha == hash {
            return Some(self.need_publish(None));
        }
        self.block(Outcome::CodeMismatch {
            field: field.to_string(),
            wanted: hash.to_string(),
            found: format!(
                "no published version has that code and $LATEST has {}: deploy that code to the function",
                self.latest_sha
            ),
        });
        None
    }

    fn resolve_number(&mut self, field: &str, version: &str) -> Option<VersionRef> {
        match version.parse::<u64>() {
            Ok(n) if self.snapshot().version(n).is_some() => Some(VersionRef::Number(n)),
            _ => {
                self.block(Outcome::VersionNotFound {
                    field: field.to_string(),
                    version: version.to_string(),
                });
                None
            }
        }
    }

    /// Makes `alias` point at `version` with `marker`: create, move, or rewrite the marker.
    fn ensure(&mut self, name: &str, version: VersionRef, marker: Marker, change: AliasChange) {
        let Some(alias) = self.snapshot().alias(name) else {
            self.actions.push(Action::CreateAlias {
                alias: name.to_string(),
                version,
                marker,
                change: AliasChange::Bootstrap,
            });
            return;
        };
        let current = VersionRef::parse(&alias.function_version);
        let moved = version == VersionRef::Published || Some(version) != current;
        let ours = Marker::parse(&alias.description).is_some_and(|m| m.is_owned_by(self.input.owner));
        // A marker naming the version still to be published only comes with a move to it.
        let marker_changed = alias.description != marker.render(None);
        let routed = !alias.routing.is_empty();
        let change = if moved {
            change
        } else if !ours {
            // Adopting an alias with weighted routing would clear the weights (UpdateAlias
            // replaces the routing config): leave it as it is rather than shift traffic.
            if routed {
                return;
            }
            AliasChange::Adopt
        } else if routed {
            AliasChange::Drift
        } else if marker_changed {
            change
        } else {
            return;
        };
        self.actions.push(Action::UpdateAlias {
            alias: name.to_string(),
            version,
            marker,
            revision_id: alias.revision_id.clone(),
            change,
            routing: None,
        });
    }

    /// The configs of the live alias's and the candidate's versions into their status.
    fn report_warm(&self, report: &mut Report) {
        let Some(which) = self.warm_report else { return };
        let snapshot = self.snapshot();
        for (status, version) in
            [(report.live.as_mut(), which.live), (report.candidate.as_mut(), which.candidate)]
        {
            if let (Some(status), Some(n)) = (status, version) {
                status.provisioned_concurrency =
                    snapshot.warm_config(&n.to_string()).map(|c| warm::config_status(n, c));
            }
        }
    }

    /// Each alias's rollout into the report's status of it.
    fn report_rollouts(&self, report: &mut Report) {
        let statuses = report.live.iter_mut().chain(report.stages.iter_mut());
        for status in statuses {
            if let Some(rollout) = self.rollouts.get(&status.alias) {
                status.rollout.clone_from(&rollout.status);
                status.rolled_back = rollout.rolled_back.map(|v| v.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests;
