//! The live/candidate pair: which alias plays which role (read from the markers), ownership,
//! the phases (Development, Certifying, Certified), the swap by one write, the drain, and the
//! hotfix or pin of the live alias.

use crate::api::Phase;

use super::{Action, AliasChange, AliasInfo, Marker, Outcome, Planner, Role, VersionRef};

/// Which alias of the pair plays which role, read from the markers.
pub(super) struct Roles<'a> {
    pub(super) live: &'a str,
    pub(super) candidate: &'a str,
    pub(super) live_alias: Option<&'a AliasInfo>,
    pub(super) candidate_alias: Option<&'a AliasInfo>,
    /// The live alias's marker (only when it says `role=live`).
    pub(super) live_marker: Option<Marker>,
    pub(super) candidate_marker: Option<Marker>,
    /// The candidate is the previously live alias (a stale `role=live` marker after a swap).
    pub(super) candidate_was_live: bool,
    /// When the previously live alias stops draining (unix seconds).
    pub(super) drain_until: Option<i64>,
}

impl<'a> Planner<'a> {
    pub(super) fn roles(&self) -> Roles<'a> {
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

    pub(super) fn draining(&self, roles: &Roles<'_>) -> bool {
        roles.drain_until.is_some_and(|until| self.input.now < until)
    }

    /// Another set's marker on any alias this set would manage: refuse before writing anything.
    pub(super) fn ownership(&self, roles: &Roles<'_>) -> Option<Outcome> {
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

    /// The live/candidate pair. Returns true when the plan is a swap (nothing else is planned
    /// with it: the next plan sees the new roles).
    pub(super) fn pair(&mut self, roles: &Roles<'a>, phase: Phase) -> bool {
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
            // `spec.rollout`: the live alias finishes shifting (or rolls back) before the roles
            // swap; meanwhile its rollout goes on.
            if let Some(live) = roles.live_alias.filter(|a| !a.routing.is_empty() && spec.rollout.is_some()) {
                self.live(roles);
                if let Some((_, message)) = &mut self.rolling {
                    message.push_str(&format!(
                        "; phase is Certified: the roles swap once the rollout on the live alias {} is over",
                        live.name
                    ));
                }
                return false;
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
                routing: None,
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
        self.roll(roles.live, target, marker, change);
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
}

#[cfg(test)]
mod tests;
