//! The pure planner: `(spec, observed AWS snapshot, now) -> ordered actions + status`.
//!
//! No I/O, no clock, no SDK or kube types: every rule of DESIGN §2 is decided here and
//! unit-tested as a table of (spec, observed) -> actions. The engine executes the actions in
//! order, stops at the first failure, and plans again from a fresh observation, so a crash
//! after any prefix of a plan converges to the same end state.

pub mod marker;
pub mod model;
mod reason;
pub mod skill;
pub mod snapshot;

use skill::{CertificationStatus, SkillObservation, StageEndpoints, StageTarget};

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{AlexaSkillKind, AliasStatus, LambdaAliasSetSpec, Phase, Trigger, TriggerStatus};

pub use marker::{Marker, Role, VersionRef};
pub use model::{Action, AliasChange, Input, Outcome, Plan, Report, SkillReport};
pub use reason::{Reason, UnknownReason};
pub use snapshot::{
    AliasInfo, FunctionInfo, LATEST, MappingInfo, PolicyInfo, Snapshot, Statement, VersionInfo,
};

/// Statement ids the set owns start with this; everything else in a policy is foreign.
pub const SID_PREFIX: &str = "las-";

pub fn sid(trigger: &str) -> String {
    format!("{SID_PREFIX}{trigger}")
}

/// The aliases whose policies and mappings the adapter must observe: the pair, the declared
/// stages, and any alias carrying this set's marker (a stage removed from the spec).
pub fn aliases_to_observe(spec: &LambdaAliasSetSpec, owner: &str, aliases: &[AliasInfo]) -> Vec<String> {
    let mut names: Vec<String> = spec.aliases.clone();
    names.extend(spec.stages.iter().map(|s| s.alias.clone()));
    for alias in aliases {
        if Marker::parse(&alias.description).is_some_and(|m| m.is_owned_by(owner)) {
            names.push(alias.name.clone());
        }
    }
    let mut seen = BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Versions `retainVersions` would delete, judged by alias references alone. The adapter checks
/// these for event source mappings (a mapping may invoke a version directly) before planning.
pub fn retention_candidates(spec: &LambdaAliasSetSpec, snapshot: &Snapshot) -> Vec<u64> {
    let Some(keep) = spec.retain_versions else { return Vec::new() };
    let referenced = referenced_versions(snapshot);
    let mut unreferenced: Vec<u64> =
        snapshot.versions.iter().map(|v| v.version).filter(|v| !referenced.contains(v)).collect();
    unreferenced.sort_unstable_by(|a, b| b.cmp(a));
    unreferenced.into_iter().skip(keep as usize).collect()
}

fn referenced_versions(snapshot: &Snapshot) -> BTreeSet<u64> {
    let mut referenced: BTreeSet<u64> = snapshot.mapped_versions.clone();
    for alias in &snapshot.aliases {
        referenced.extend(alias.function_version.parse::<u64>().ok());
        referenced.extend(alias.routing.keys().filter_map(|v| v.parse::<u64>().ok()));
        // A marker may name a version the alias was moved away from out of band: keep it, the
        // plan puts the alias back there.
        if let Some(m) = Marker::parse(&alias.description) {
            for v in [m.version, m.promoted, m.frozen].into_iter().flatten() {
                if let VersionRef::Number(n) = v {
                    referenced.insert(n);
                }
            }
        }
    }
    referenced
}

/// Deletion with `deletionPolicy: Retain`: leave AWS as it is and release ownership. Each owned
/// alias keeps its version and its record of roles, without an owner, so a set created later on
/// the same function adopts the same live alias without re-pointing anything.
pub fn release(owner: &str, observed: &Snapshot) -> Vec<Action> {
    let mut actions = Vec::new();
    for alias in &observed.aliases {
        let Some(mut marker) = Marker::parse(&alias.description).filter(|m| m.is_owned_by(owner)) else {
            continue;
        };
        let Some(version) = VersionRef::parse(&alias.function_version) else { continue };
        marker.owner = None;
        actions.push(Action::UpdateAlias {
            alias: alias.name.clone(),
            version,
            marker,
            revision_id: alias.revision_id.clone(),
            change: AliasChange::Release,
        });
    }
    actions
}

/// Deletion with `deletionPolicy: Delete`: the mappings on the set's aliases, then the aliases
/// (their resource policies, and so the owned statements, go with them). Never the function,
/// never an alias another set or a person owns. The aliases in `keep` (those an Alexa skill's
/// live stage calls) are released as with `Retain` instead, mappings and permissions included.
pub fn teardown(owner: &str, observed: &Snapshot, keep: &BTreeSet<String>) -> Vec<Action> {
    let owned: Vec<&AliasInfo> = observed
        .aliases
        .iter()
        .filter(|a| Marker::parse(&a.description).is_some_and(|m| m.is_owned_by(owner)))
        .filter(|a| !keep.contains(&a.name))
        .collect();
    let mut actions: Vec<Action> = release(owner, observed)
        .into_iter()
        .filter(|a| matches!(a, Action::UpdateAlias { alias, .. } if keep.contains(alias)))
        .collect();
    for alias in &owned {
        for mapping in observed.mappings.iter().filter(|m| m.function_arn == alias.alias_arn) {
            actions.push(Action::DeleteMapping {
                uuid: mapping.uuid.clone(),
                alias: alias.name.clone(),
                event_source_arn: mapping.event_source_arn.clone(),
            });
        }
    }
    actions.extend(owned.iter().map(|a| Action::DeleteAlias { alias: a.name.clone() }));
    actions
}

/// Plans one reconcile.
pub fn plan(input: Input<'_>) -> Plan {
    let Some(function) = &input.observed.function else {
        return Plan { actions: Vec::new(), outcome: Outcome::FunctionNotFound, report: Report::default() };
    };
    let mut planner = Planner {
        input,
        latest_sha: function.code_sha256.clone(),
        actions: Vec::new(),
        publish: None,
        blocked: None,
        waiting: None,
    };
    let roles = planner.roles();
    let report = planner.report(&roles, function.function_arn.clone());

    if let Some(outcome) = planner.ownership(&roles) {
        return Plan { actions: Vec::new(), outcome, report };
    }
    if let Some(outcome) = planner.skill_mismatch(&roles) {
        return Plan { actions: Vec::new(), outcome, report };
    }
    let phase = planner.effective_phase(&roles);
    let swapped = planner.pair(&roles, phase);
    if !swapped {
        planner.stages();
        planner.stale_stages(&roles);
        planner.triggers(&roles);
    }
    if let Some(outcome) = planner.blocked.take() {
        return Plan { actions: Vec::new(), outcome, report };
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
        let snapshot = planner.input.observed;
        for version in retention_candidates(planner.input.spec, snapshot) {
            if !snapshot.mapped_versions.contains(&version) {
                actions.push(Action::DeleteVersion { version });
            }
        }
    }
    let outcome = if planner.input.spec.suspend {
        Outcome::Suspended { pending: actions.len() }
    } else if !actions.is_empty() {
        Outcome::Progressing
    } else if let Some(message) = held {
        Outcome::AwaitingPublication { message }
    } else if let Some(until) = planner.waiting {
        Outcome::Draining { until }
    } else {
        Outcome::Converged
    };
    if planner.input.spec.suspend {
        actions.clear();
    }
    Plan { actions, outcome, report }
}

/// Which alias of the pair plays which role, read from the markers.
struct Roles<'a> {
    live: &'a str,
    candidate: &'a str,
    live_alias: Option<&'a AliasInfo>,
    candidate_alias: Option<&'a AliasInfo>,
    /// The live alias's marker (only when it says `role=live`).
    live_marker: Option<Marker>,
    candidate_marker: Option<Marker>,
    /// The candidate is the previously live alias (a stale `role=live` marker after a swap).
    candidate_was_live: bool,
    /// When the previously live alias stops draining (unix seconds).
    drain_until: Option<i64>,
}

struct Planner<'a> {
    input: Input<'a>,
    latest_sha: String,
    actions: Vec<Action>,
    /// The one PublishVersion this plan needs: (expected CodeSha256, description).
    publish: Option<(String, Option<String>)>,
    blocked: Option<Outcome>,
    /// Waiting for a drain to end.
    waiting: Option<i64>,
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

    fn roles(&self) -> Roles<'a> {
        let snapshot = self.snapshot();
        let (first, second) = (self.spec().aliases[0].as_str(), self.spec().aliases[1].as_str());
        let (a0, a1) = (snapshot.alias(first), snapshot.alias(second));
        let (m0, m1) = (self.marker(a0), self.marker(a1));
        let live_epoch = |m: &Option<Marker>| m.as_ref().filter(|m| m.role == Role::Live).map(|m| m.epoch);
        let is_candidate = |m: &Option<Marker>| m.as_ref().is_some_and(|m| m.role == Role::Candidate);
        // The higher live epoch is live; without any live marker, the first name is live unless
        // only it is marked candidate.
        let second_is_live = match (live_epoch(&m0), live_epoch(&m1)) {
            (Some(e0), Some(e1)) => e1 > e0,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            // An Alexa-aware set adopts the alias the skill's live stage calls as live.
            (None, None) if !is_candidate(&m0) && !is_candidate(&m1) => {
                self.live_stage_aliases().is_some_and(|a| a.len() == 1 && a.contains(second))
            }
            (None, None) => is_candidate(&m0) && !is_candidate(&m1),
        };
        let (live, candidate, live_alias, candidate_alias, lm, cm) =
            if second_is_live { (second, first, a1, a0, m1, m0) } else { (first, second, a0, a1, m0, m1) };
        let live_marker = lm.filter(|m| m.role == Role::Live);
        let candidate_was_live = cm.as_ref().is_some_and(|m| m.role == Role::Live);
        let drain_until = if candidate_was_live {
            live_marker.as_ref().and_then(|m| m.at).map(|at| at + i64::from(self.spec().drain_seconds))
        } else {
            None
        };
        Roles {
            live,
            candidate,
            live_alias,
            candidate_alias,
            live_marker,
            candidate_marker: cm,
            candidate_was_live,
            drain_until,
        }
    }

    fn draining(&self, roles: &Roles<'_>) -> bool {
        roles.drain_until.is_some_and(|until| self.input.now < until)
    }

    /// Another set's marker on any alias this set would manage: refuse before writing anything.
    fn ownership(&self, roles: &Roles<'_>) -> Option<Outcome> {
        let mut names = vec![roles.live, roles.candidate];
        names.extend(self.spec().stages.iter().map(|s| s.alias.as_str()));
        for name in names {
            let Some(marker) = self.marker(self.snapshot().alias(name)) else { continue };
            if let Some(other) = &marker.owner
                && !marker.is_owned_by(self.input.owner)
            {
                return Some(Outcome::OwnedByOther { alias: name.to_string(), owner: other.clone() });
            }
        }
        None
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
        });
    }

    /// The live/candidate pair. Returns true when the plan is a swap (nothing else is planned
    /// with it: the next plan sees the new roles).
    fn pair(&mut self, roles: &Roles<'a>, phase: Phase) -> bool {
        let spec = self.spec();
        let owner = self.input.owner;

        // Certified with a frozen candidate: swap by one write, and nothing else.
        let frozen = roles
            .candidate_marker
            .as_ref()
            .filter(|m| m.role == Role::Candidate && m.phase == Some(Phase::Certifying))
            .and_then(|m| m.frozen);
        if phase == Phase::Certified
            && let (Some(VersionRef::Number(n)), Some(candidate)) = (frozen, roles.candidate_alias)
        {
            if let Some(wanted) = &spec.certification.code_sha256
                && self.sha_of(VersionRef::Number(n)) != Some(wanted.as_str())
            {
                self.block(Outcome::CodeMismatch {
                    field: "spec.certification.codeSha256".into(),
                    wanted: wanted.clone(),
                    found: format!(
                        "the candidate was frozen on version {n} with {}: set Certifying again to freeze that code",
                        self.sha_of(VersionRef::Number(n)).unwrap_or("unknown code")
                    ),
                });
                return true;
            }
            // Alexa-aware: the roles swap only once Amazon has published the certified skill,
            // whose live stage then calls the candidate. Before that the live skill still calls
            // the live alias, which must not become the candidate (and later track $LATEST).
            if let Some(message) = self.publication_pending(roles.candidate) {
                self.block(Outcome::AwaitingPublication { message });
                return true;
            }
            let mut marker = Marker::new(owner, Role::Live);
            marker.epoch = roles.live_marker.as_ref().map_or(0, |m| m.epoch) + 1;
            marker.version = Some(VersionRef::Number(n));
            marker.promoted = Some(VersionRef::Number(n));
            marker.at = Some(self.input.now);
            self.actions.push(Action::UpdateAlias {
                alias: candidate.name.clone(),
                version: VersionRef::Number(n),
                marker,
                revision_id: candidate.revision_id.clone(),
                change: AliasChange::Swap,
            });
            return true;
        }
        if phase == Phase::Certified && !roles.candidate_was_live {
            let recorded =
                roles.candidate_marker.as_ref().filter(|m| m.role == Role::Candidate).and_then(|m| m.phase);
            if recorded != Some(Phase::Certified) {
                self.block(Outcome::NothingToPromote);
                return false;
            }
        }

        self.live(roles);
        self.candidate(roles, phase);
        false
    }

    fn live(&mut self, roles: &Roles<'a>) {
        let spec = self.spec();
        let current = roles.live_alias.and_then(|a| VersionRef::parse(&a.function_version));
        let recorded = roles.live_marker.as_ref().and_then(|m| m.version);
        let (target, change) = if let Some(version) = spec.live.as_ref().and_then(|l| l.version.as_deref()) {
            (self.resolve_number("spec.live.version", version), AliasChange::Hotfix)
        } else if let Some(hash) = spec.live.as_ref().and_then(|l| l.code_sha256.as_deref()) {
            (self.resolve_hash("spec.live.codeSha256", hash, current), AliasChange::Hotfix)
        } else if roles.live_alias.is_none() {
            (Some(self.need_publish(None)), AliasChange::Bootstrap)
        } else if let Some(recorded) = recorded {
            (Some(recorded), AliasChange::Drift)
        } else {
            // Adoption: never re-point an existing live alias.
            (current, AliasChange::Adopt)
        };
        let Some(target) = target else { return };
        let mut marker = Marker::new(self.input.owner, Role::Live);
        if let Some(existing) = &roles.live_marker {
            marker.epoch = existing.epoch;
            marker.promoted = existing.promoted;
            marker.at = existing.at;
        } else {
            marker.epoch = 1;
        }
        marker.version = Some(target);
        self.ensure(roles.live, target, marker, change);
    }

    fn candidate(&mut self, roles: &Roles<'a>, phase: Phase) {
        let spec = self.spec();
        let owner = self.input.owner;
        if self.draining(roles) {
            // Nothing re-points a draining alias before drainUntil: a new round waits.
            if let Some(until) = roles.drain_until {
                self.wait(until);
            }
            return;
        }
        let recorded = roles.candidate_marker.as_ref().filter(|m| m.role == Role::Candidate);
        let frozen = recorded.filter(|m| m.phase == Some(Phase::Certifying)).and_then(|m| m.frozen);
        let mut marker = Marker::new(owner, Role::Candidate);
        match phase {
            Phase::Development => {
                marker.phase = Some(Phase::Development);
                self.ensure(roles.candidate, VersionRef::Latest, marker, AliasChange::Track);
            }
            Phase::Certifying => {
                let target = if let Some(hash) = &spec.certification.code_sha256 {
                    match frozen {
                        Some(f) if self.sha_of(f) == Some(hash.as_str()) => Some(f),
                        _ => self.resolve_hash("spec.certification.codeSha256", hash, None),
                    }
                } else {
                    match frozen {
                        Some(f @ VersionRef::Number(n)) if self.snapshot().version(n).is_some() => Some(f),
                        _ if spec.certification.phase == Phase::FromSkill => self.submitted_code(),
                        _ => Some(self.need_publish(spec.certification.description.clone())),
                    }
                };
                let Some(target) = target else { return };
                if target == VersionRef::Published
                    && let Some((_, description)) = &mut self.publish
                    && description.is_none()
                {
                    description.clone_from(&spec.certification.description);
                }
                marker.phase = Some(Phase::Certifying);
                marker.frozen = Some(target);
                let change = if frozen == Some(target) { AliasChange::Drift } else { AliasChange::Freeze };
                self.ensure(roles.candidate, target, marker, change);
            }
            // FromSkill is resolved to one of the three by `effective_phase` before this.
            Phase::Certified | Phase::FromSkill => {
                // After a swap (and its drain) the previous live alias becomes the candidate and
                // tracks $LATEST; the recorded phase says this round's promotion is done.
                marker.phase = Some(Phase::Certified);
                self.ensure(roles.candidate, VersionRef::Latest, marker, AliasChange::Track);
            }
        }
    }

    fn stages(&mut self) {
        let spec = self.spec();
        for (i, stage) in spec.stages.iter().enumerate() {
            let current =
                self.snapshot().alias(&stage.alias).and_then(|a| VersionRef::parse(&a.function_version));
            let target = if stage.track.is_some() {
                Some(VersionRef::Latest)
            } else if let Some(version) = &stage.version {
                self.resolve_number(&format!("spec.stages[{i}].version"), version)
            } else if let Some(hash) = &stage.code_sha256 {
                self.resolve_hash(&format!("spec.stages[{i}].codeSha256"), hash, current)
            } else {
                None
            };
            let Some(target) = target else { continue };
            let marker = Marker::new(self.input.owner, Role::Stage);
            self.ensure(&stage.alias, target, marker, AliasChange::Stage);
        }
    }

    /// Stage aliases this set created that the spec no longer declares: delete them (their
    /// mappings first; their policies go with the alias).
    fn stale_stages(&mut self, roles: &Roles<'_>) {
        let declared: BTreeSet<&str> = self.spec().stages.iter().map(|s| s.alias.as_str()).collect();
        for alias in &self.snapshot().aliases {
            if alias.name == roles.live
                || alias.name == roles.candidate
                || declared.contains(alias.name.as_str())
            {
                continue;
            }
            let owned = Marker::parse(&alias.description)
                .is_some_and(|m| m.role == Role::Stage && m.is_owned_by(self.input.owner));
            if !owned {
                continue;
            }
            for mapping in self.snapshot().mappings.iter().filter(|m| m.function_arn == alias.alias_arn) {
                self.actions.push(Action::DeleteMapping {
                    uuid: mapping.uuid.clone(),
                    alias: alias.name.clone(),
                    event_source_arn: mapping.event_source_arn.clone(),
                });
            }
            self.actions.push(Action::DeleteAlias { alias: alias.name.clone() });
        }
    }

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

    fn triggers(&mut self, roles: &Roles<'a>) {
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

    // ----- Alexa-aware sets: the interlock with the skill's stages (issue: the live skill
    // never breaks). Inert when `input.skills` is None.

    fn function_arn(&self) -> &'a str {
        self.snapshot().function.as_ref().map(|f| f.function_arn.as_str()).unwrap_or_default()
    }

    /// What each skill's live stage calls, for the skills that have a live stage.
    fn live_targets(&self) -> Vec<(&'a SkillObservation, StageTarget)> {
        let arn = self.function_arn();
        self.input
            .skills
            .unwrap_or_default()
            .iter()
            .filter_map(|skill| skill.live.as_ref().map(|live| (skill, StageTarget::of(live, arn))))
            .collect()
    }

    /// Every alias of this function that a skill's live stage calls (`None`: not Alexa-aware).
    fn live_stage_aliases(&self) -> Option<BTreeSet<String>> {
        Some(live_stage_aliases(self.input.skills?, self.function_arn()))
    }

    /// A live stage that calls anything but the pair: nothing is safe to write.
    fn skill_mismatch(&self, roles: &Roles<'_>) -> Option<Outcome> {
        for (skill, target) in self.live_targets() {
            let outside = target.aliases.iter().any(|a| a != roles.live && a != roles.candidate);
            if outside
                || target.aliases.is_empty()
                || !target.unaliased.is_empty()
                || !target.elsewhere.is_empty()
            {
                return Some(Outcome::SkillEndpointMismatch {
                    message: format!(
                        "skill {}'s live stage calls {}, which is neither {} nor {} of this function: point \
                         the skill's endpoint at one of them (or fix spec.aliases); nothing was written",
                        skill.skill_id,
                        target.describe(),
                        roles.live,
                        roles.candidate
                    ),
                });
            }
        }
        None
    }

    /// Why a swap to `candidate` must wait: some skill's live stage does not call it yet.
    fn publication_pending(&self, candidate: &str) -> Option<String> {
        let skills = self.input.skills?;
        let arn = self.function_arn();
        for skill in skills {
            let calls = skill.live.as_ref().map(|l| StageTarget::of(l, arn));
            if calls.as_ref().and_then(StageTarget::single_alias) != Some(candidate) {
                let what = calls.map_or_else(
                    || "nothing (the skill has no live stage yet)".to_string(),
                    |t| t.describe(),
                );
                return Some(format!(
                    "phase is Certified, but skill {}'s live stage still calls {what}: the roles swap once Amazon \
                     publishes the certified skill version, whose endpoint is {candidate}",
                    skill.skill_id
                ));
            }
        }
        None
    }

    /// The skill the phase is derived from: the first Alexa trigger's.
    fn primary_skill(&self) -> Option<&'a SkillObservation> {
        self.input.skills.and_then(|s| s.first())
    }

    /// `certification.phase`, with `FromSkill` resolved from the skill's reviews and stages.
    fn effective_phase(&self, roles: &Roles<'_>) -> Phase {
        let declared = self.spec().certification.phase;
        if declared != Phase::FromSkill {
            return declared;
        }
        let Some(skill) = self.primary_skill() else {
            // The engine never plans FromSkill without the skill's state; Certifying holds what
            // is frozen and publishes nothing new without a review to date it.
            return Phase::Certifying;
        };
        let frozen = roles.candidate_marker.as_ref().is_some_and(|m| {
            m.role == Role::Candidate && m.phase == Some(Phase::Certifying) && m.frozen.is_some()
        });
        let live_calls_candidate = skill
            .live
            .as_ref()
            .and_then(|l| StageTarget::of(l, self.function_arn()).single_alias().map(str::to_string))
            .is_some_and(|a| a == roles.candidate);
        if live_calls_candidate && frozen {
            return Phase::Certified;
        }
        let last_rotation = roles.live_marker.as_ref().and_then(|m| m.at);
        match &skill.latest_review {
            Some(r) if r.status == CertificationStatus::InProgress => Phase::Certifying,
            // Certified by Amazon and not yet published (submitted after the last swap): keep
            // the submitted code frozen until the live stage calls it.
            Some(r)
                if r.status == CertificationStatus::Succeeded
                    && last_rotation.is_none_or(|at| r.submitted_at > at) =>
            {
                Phase::Certifying
            }
            _ => Phase::Development,
        }
    }

    /// FromSkill, Certifying, nothing frozen yet: the code on `$LATEST` when the skill was
    /// submitted. Lambda keeps no history of `$LATEST`, so it is published only if it has not
    /// changed since; otherwise the spec must name the submitted code.
    fn submitted_code(&mut self) -> Option<VersionRef> {
        let submitted = self.primary_skill().and_then(|s| s.latest_review.as_ref()).map(|r| r.submitted_at);
        let modified = self.snapshot().function.as_ref().and_then(|f| f.last_modified);
        if let (Some(submitted), Some(modified)) = (submitted, modified)
            && modified <= submitted
        {
            return Some(self.need_publish(self.spec().certification.description.clone()));
        }
        let mut newest: Vec<&VersionInfo> = self.snapshot().versions.iter().collect();
        newest.sort_by_key(|v| std::cmp::Reverse(v.version));
        let published: Vec<String> =
            newest.iter().take(3).map(|v| format!("version {} has {}", v.version, v.code_sha256)).collect();
        self.block(Outcome::CodeMismatch {
            field: "spec.certification.codeSha256".into(),
            wanted: format!(
                "unset, so the code submitted for certification at {} is frozen",
                submitted.map_or_else(|| "an unknown time".to_string(), model::rfc3339)
            ),
            found: format!(
                "$LATEST (now {}) was modified at {}, after the submission, and Lambda keeps no history of \
                 $LATEST: set spec.certification.codeSha256 to the hash of the code you submitted{}",
                self.latest_sha,
                modified.map_or_else(|| "an unknown time".to_string(), model::rfc3339),
                if published.is_empty() { String::new() } else { format!(" ({})", published.join(", ")) }
            ),
        });
        None
    }

    /// Drops every write that would re-point, move to `$LATEST` or delete an alias a skill's live
    /// stage calls, except a hotfix of the live alias itself. Returns why something was held.
    fn interlock(&self, roles: &Roles<'_>, actions: &mut Vec<Action>) -> Option<String> {
        let protected = self.live_stage_aliases()?;
        let mut held: Vec<String> = Vec::new();
        actions.retain(|action| {
            let (alias, moves) = match action {
                Action::UpdateAlias { alias, version, change, .. } => {
                    let current =
                        self.snapshot().alias(alias).and_then(|a| VersionRef::parse(&a.function_version));
                    let moves = *version == VersionRef::Published || Some(*version) != current;
                    let hotfix = *change == AliasChange::Hotfix && alias == roles.live;
                    (alias, moves && !hotfix)
                }
                Action::DeleteAlias { alias } => (alias, true),
                _ => return true,
            };
            if moves && protected.contains(alias) {
                let version =
                    self.snapshot().alias(alias).map(|a| a.function_version.clone()).unwrap_or_default();
                held.push(format!("{alias} stays on version {version}"));
                return false;
            }
            true
        });
        if held.is_empty() {
            return None;
        }
        // A publish that only a held write needed goes too: a plan that keeps an action forever
        // never settles.
        let uses_published = actions.iter().any(|a| {
            matches!(
                a,
                Action::UpdateAlias { version: VersionRef::Published, .. }
                    | Action::CreateAlias { version: VersionRef::Published, .. }
            )
        });
        if !uses_published {
            actions.retain(|a| !matches!(a, Action::PublishVersion { .. }));
        }
        Some(format!(
            "{}: the skill's live stage still calls it; it changes once Amazon publishes a skill version \
             that calls another alias (or by a hotfix of the live alias itself)",
            held.join("; ")
        ))
    }

    fn skill_report(&self, roles: &Roles<'_>) -> Option<SkillReport> {
        let skill = self.primary_skill()?;
        let arn = self.function_arn();
        let describe = |stage: Option<&StageEndpoints>| {
            stage.map_or_else(|| "none".to_string(), |s| StageTarget::of(s, arn).describe())
        };
        let development = describe(skill.development.as_ref());
        let note = skill
            .development
            .as_ref()
            .filter(|d| StageTarget::of(d, arn).single_alias() != Some(roles.candidate))
            .map(|_| {
                format!(
                    "the skill's development stage calls {development}, not the candidate {}: a certification \
                     round would test other code than the candidate's",
                    roles.candidate
                )
            });
        Some(SkillReport {
            skill_id: skill.skill_id.clone(),
            live: describe(skill.live.as_ref()),
            development,
            review: skill.latest_review.clone(),
            note,
        })
    }

    fn alias_status(&self, name: &str) -> Option<AliasStatus> {
        let alias = self.snapshot().alias(name)?;
        let sha = VersionRef::parse(&alias.function_version).and_then(|v| self.sha_of(v)).map(str::to_string);
        Some(AliasStatus::new(name, &alias.function_version, sha, Some(alias.alias_arn.clone())))
    }

    fn report(&self, roles: &Roles<'a>, function_arn: String) -> Report {
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

/// Every alias of `function_arn` that a skill's live stage calls.
pub fn live_stage_aliases(skills: &[SkillObservation], function_arn: &str) -> BTreeSet<String> {
    skills
        .iter()
        .filter_map(|s| s.live.as_ref())
        .flat_map(|l| StageTarget::of(l, function_arn).aliases)
        .collect()
}

/// The resource-policy statement a trigger needs (`None` for event source mappings).
pub fn desired_statement(trigger: &Trigger) -> Option<Statement> {
    let invoke = "lambda:InvokeFunction".to_string();
    let base = Statement { sid: sid(&trigger.name), action: invoke, ..Statement::default() };
    if let Some(alexa) = &trigger.alexa_skill {
        let principal = match alexa.kind {
            AlexaSkillKind::Custom => "alexa-appkit.amazon.com",
            AlexaSkillKind::SmartHome => "alexa-connectedhome.amazon.com",
        };
        return Some(Statement {
            principal: principal.into(),
            event_source_token: Some(alexa.skill_id.clone()),
            ..base
        });
    }
    if let Some(api) = &trigger.api_gateway {
        return Some(Statement {
            principal: "apigateway.amazonaws.com".into(),
            source_arn: Some(api.source_arn.clone()),
            ..base
        });
    }
    if let Some(s3) = &trigger.s3 {
        return Some(Statement {
            principal: "s3.amazonaws.com".into(),
            source_arn: Some(s3.bucket_arn.clone()),
            source_account: s3.source_account.clone(),
            ..base
        });
    }
    if let Some(eb) = &trigger.event_bridge {
        return Some(Statement {
            principal: "events.amazonaws.com".into(),
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

#[cfg(test)]
mod tests;
