//! `spec.provisionedConcurrency` (README "Provisioned concurrency"): configs follow the roles.
//!
//! The set keeps its configs on **published versions**, never on its aliases. A config on an
//! alias moves with the alias, and AWS then deallocates the old version before the new one is
//! READY (minutes of a cold live skill); a config on a version stays where it is. So a version
//! that is about to become live is warmed first, and the alias moves only once that config is
//! READY at the live count:
//! - the version(s) the live alias serves (both while a rollout shifts weights) hold `live`;
//! - a version a hotfix, pin or rollout moves the live alias to is warmed to `live` first (the
//!   live marker records it as `pc=N` before the config is put, so it is never left behind);
//! - a frozen candidate holds `candidate`, and `live` once the swap is near (phase Certified, or
//!   for an Alexa-aware set a review in progress or succeeded: Amazon's publication is the swap,
//!   which nobody can delay), and a Certified swap waits for READY;
//! - the previously live alias keeps its version's config while it drains;
//! - a config of the set (on a version its roles serve or its markers name) that no role needs
//!   is deleted: after the alias left it for a live alias, before the move otherwise; never one
//!   on a version another alias serves.
//!
//! A version whose config FAILED never becomes live: the move waits, `WarmupFailed`.

use std::collections::{BTreeMap, BTreeSet};

use super::marker::Provisioned;
use super::pair::Roles;
use super::skill::CertificationStatus;
use super::{
    Action, AliasChange, AliasInfo, Marker, Outcome, Planner, Role, VersionRef, WarmConfig, WarmStatus,
    Weighted,
};
use crate::api::{LambdaAliasSetSpec, Phase, ProvisionedConcurrencyStatus};

/// Whether the engine lists the function's configs for this set: it declares
/// `spec.provisionedConcurrency`, or its live marker says it made some (they are deleted once
/// the field is gone).
pub fn observes_warm(spec: &LambdaAliasSetSpec, owner: &str, aliases: &[AliasInfo]) -> bool {
    spec.provisioned_concurrency.is_some()
        || spec.aliases.iter().any(|name| {
            aliases
                .iter()
                .find(|a| a.name == *name)
                .and_then(|a| Marker::parse(&a.description))
                .is_some_and(|m| m.role == Role::Live && m.provisioned.is_some() && m.is_owned_by(owner))
        })
}

/// The published versions an alias serves: its own and its weighted one.
fn served(alias: Option<&AliasInfo>) -> BTreeSet<u64> {
    let Some(alias) = alias else { return BTreeSet::new() };
    std::iter::once(alias.function_version.as_str())
        .chain(alias.routing.keys().map(String::as_str))
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// The versions an alias write leaves the alias serving.
fn written_versions(version: VersionRef, routing: Option<Weighted>) -> Vec<VersionRef> {
    std::iter::once(version).chain(routing.map(|w| w.version)).collect()
}

/// What the status shows of a config.
pub(super) fn config_status(version: u64, config: &WarmConfig) -> ProvisionedConcurrencyStatus {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    ProvisionedConcurrencyStatus {
        version: version.to_string(),
        requested: count(config.requested),
        allocated: count(config.allocated),
        available: count(config.available),
        status: config.status.as_str().to_string(),
        reason: config.reason.clone(),
    }
}

/// Which versions the status reports for the live alias and the candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct WarmReport {
    pub(super) live: Option<u64>,
    pub(super) candidate: Option<u64>,
}

impl<'a> Planner<'a> {
    /// Runs after the pair, the stages and the triggers planned their writes: holds the moves
    /// that need a warm version first, and adds the configs' own writes.
    pub(super) fn warm(&mut self, roles: &Roles<'a>, phase: Phase) {
        let declared = self.spec().provisioned_concurrency.clone();
        let recorded = roles.live_marker.as_ref().and_then(|m| m.provisioned);
        if declared.is_none() && recorded.is_none() {
            return;
        }
        let snapshot = self.snapshot();
        if declared.is_some()
            && let Some(name) =
                [roles.live, roles.candidate].into_iter().find(|n| snapshot.warm_config(n).is_some())
        {
            self.block(Outcome::WarmupFailed {
                message: format!(
                    "alias {name} has a provisioned concurrency config of its own; this set keeps its configs on \
                     versions (so that a move never deallocates the live version first) and never deletes capacity \
                     it did not make: delete that config (qualifier {name}) or remove spec.provisionedConcurrency"
                ),
            });
            return;
        }
        let live_now = served(roles.live_alias);
        let mut desired: BTreeMap<VersionRef, (u32, &'static str)> = BTreeMap::new();
        let mut warming_live = None;
        if let Some(pc) = &declared {
            warming_live = self.hold_cold_moves(roles, pc.live, &live_now, &mut desired);
            self.desire_roles(roles, phase, pc.live, pc.candidate, &mut desired);
        }
        let deletions = self.unneeded(roles, &desired, &live_now);
        let wanted = match (&declared, warming_live) {
            (Some(_), Some(n)) => Some(Provisioned::Warming(n)),
            (Some(_), None) => Some(Provisioned::Managed),
            // The field is gone: the record stays until the last config is deleted.
            (None, _) if !deletions.is_empty() => recorded,
            (None, _) => None,
        };
        let (before, after): (Vec<u64>, Vec<u64>) =
            deletions.into_iter().partition(|n| !live_now.contains(n));
        let mut front: Vec<Action> =
            before.into_iter().map(|version| Action::DeleteWarm { version }).collect();
        front.append(&mut self.actions);
        self.actions = front;
        self.record(roles, wanted);
        for (version, (count, role)) in &desired {
            let config = match version {
                VersionRef::Number(n) => snapshot.warm_config(&n.to_string()),
                _ => None,
            };
            match config {
                Some(c) if c.requested == *count || c.status == WarmStatus::Failed => {}
                // A version this plan publishes is provisioned by the next plan, which knows its
                // number (a publish of unchanged code answers with an existing version, which
                // may already hold a config for another role).
                _ if matches!(version, VersionRef::Latest | VersionRef::Published) => {}
                _ => self.actions.push(Action::PutWarm { version: *version, count: *count, role }),
            }
        }
        self.actions.extend(after.into_iter().map(|version| Action::DeleteWarm { version }));
        self.note_warming(&desired);
        self.warm_report = Some(WarmReport {
            live: warming_live.or_else(|| roles.live_alias.and_then(|a| a.function_version.parse().ok())),
            candidate: roles.candidate_alias.and_then(|a| a.function_version.parse().ok()),
        });
    }

    /// Holds back each planned move that would put the live alias (or, by a swap, the live
    /// role) on a version without a READY config at the live count, and desires that config.
    /// Returns the version a live move waits for.
    fn hold_cold_moves(
        &mut self,
        roles: &Roles<'a>,
        live: u32,
        live_now: &BTreeSet<u64>,
        desired: &mut BTreeMap<VersionRef, (u32, &'static str)>,
    ) -> Option<u64> {
        let alexa_aware = self.input.skills.is_some();
        let mut waiting_for = None;
        let mut kept = Vec::new();
        for action in std::mem::take(&mut self.actions) {
            let moving = match &action {
                Action::UpdateAlias { alias, version, change, routing, .. }
                    if *alias == roles.live && matches!(change, AliasChange::Hotfix | AliasChange::Step) =>
                {
                    Some((written_versions(*version, *routing), false))
                }
                // An Alexa-aware set's swap follows Amazon's publication: it cannot wait.
                Action::UpdateAlias { alias, version, change: AliasChange::Swap, .. }
                    if *alias == roles.candidate && !alexa_aware =>
                {
                    Some((vec![*version], true))
                }
                _ => None,
            };
            let Some((versions, swap)) = moving else {
                kept.push(action);
                continue;
            };
            let new: Vec<VersionRef> = versions
                .into_iter()
                .filter(|v| !matches!(v, VersionRef::Number(n) if live_now.contains(n)))
                .collect();
            let mut cold = Vec::new();
            for version in new {
                let VersionRef::Number(n) = version else {
                    // Published by this plan: warmed by the next, before the alias moves.
                    cold.push("a version still to be published".to_string());
                    continue;
                };
                let config = self.snapshot().warm_config(&n.to_string());
                match config {
                    Some(c) if c.status == WarmStatus::Ready && c.requested == live => {}
                    // FAILED is the version's: it does not initialise, whatever the count.
                    Some(c) if c.status == WarmStatus::Failed => {
                        let whom = if swap { roles.candidate } else { roles.live };
                        self.block(Outcome::WarmupFailed {
                            message: format!(
                                "version {n}'s provisioned concurrency FAILED ({}): it does not initialise, so {} \
                                 stays where it is; name another version (or fix the code and publish again)",
                                c.reason.as_deref().unwrap_or("no reason given"),
                                if swap { format!("the roles do not swap ({whom} stays the candidate)") } else { format!("{whom} stays live") }
                            ),
                        });
                        cold.push(format!("version {n}"));
                    }
                    _ => {
                        desired.insert(version, (live, "live"));
                        if !swap && waiting_for.is_none() {
                            waiting_for = Some(n);
                        }
                        let progress = match config {
                            Some(c) if c.requested == live => {
                                format!(" ({}: {} of {live} allocated)", c.status.as_str(), c.allocated)
                            }
                            _ => " (being provisioned)".to_string(),
                        };
                        cold.push(format!("version {n}{progress}"));
                    }
                }
            }
            if cold.is_empty() {
                kept.push(action);
            } else {
                let what = if swap { "the swap of roles" } else { "the live alias's move" };
                self.warming.get_or_insert_with(|| {
                    format!(
                        "{what} waits until {} holds {live} READY provisioned concurrency",
                        cold.join(" and ")
                    )
                });
            }
        }
        self.actions = kept;
        waiting_for
    }

    /// The configs each role needs once this plan's alias writes are done.
    fn desire_roles(
        &self,
        roles: &Roles<'a>,
        phase: Phase,
        live: u32,
        candidate: u32,
        desired: &mut BTreeMap<VersionRef, (u32, &'static str)>,
    ) {
        let mut want = |version: VersionRef, count: u32, role: &'static str| {
            if count > 0 && version != VersionRef::Latest {
                let entry = desired.entry(version).or_insert((count, role));
                if count > entry.0 {
                    *entry = (count, role);
                }
            }
        };
        let (live_end, _) = self.end_state(roles.live, roles.live_alias);
        for version in live_end {
            want(version, live, "live");
        }
        // A swap in this plan: the candidate's version becomes the live one, and the live alias
        // starts draining on its own.
        if self.actions.iter().any(Action::is_swap) {
            for version in self.end_state(roles.candidate, roles.candidate_alias).0 {
                want(version, live, "live");
            }
            return;
        }
        if self.draining(roles) {
            for n in served(roles.candidate_alias) {
                want(VersionRef::Number(n), live, "draining");
            }
            return;
        }
        let (candidate_end, marker) = self.end_state(roles.candidate, roles.candidate_alias);
        let frozen = marker.is_some_and(|m| m.role == Role::Candidate && m.phase == Some(Phase::Certifying));
        if !frozen {
            return;
        }
        let reviewed = self.input.skills.is_some_and(|skills| {
            skills.iter().any(|s| {
                s.latest_review.as_ref().is_some_and(|r| {
                    matches!(r.status, CertificationStatus::InProgress | CertificationStatus::Succeeded)
                })
            })
        });
        let count = if phase == Phase::Certified || reviewed { live } else { candidate };
        for version in candidate_end {
            want(version, count, "candidate");
        }
    }

    /// The versions an alias serves once this plan's writes are done, and its marker then.
    fn end_state(&self, name: &str, alias: Option<&AliasInfo>) -> (Vec<VersionRef>, Option<Marker>) {
        let written = self.actions.iter().rev().find_map(|a| match a {
            Action::UpdateAlias { alias, version, marker, routing, .. } if alias == name => {
                Some((written_versions(*version, *routing), Some(marker.clone())))
            }
            Action::CreateAlias { alias, version, marker, .. } if alias == name => {
                Some((vec![*version], Some(marker.clone())))
            }
            _ => None,
        });
        written.unwrap_or_else(|| {
            let versions = served(alias).into_iter().map(VersionRef::Number).collect();
            (versions, alias.and_then(|a| Marker::parse(&a.description)))
        })
    }

    /// The set's configs (on versions its pair serves or its markers name) that no role needs,
    /// leaving alone any on a version another alias serves.
    fn unneeded(
        &self,
        roles: &Roles<'a>,
        desired: &BTreeMap<VersionRef, (u32, &'static str)>,
        live_now: &BTreeSet<u64>,
    ) -> Vec<u64> {
        let mut ours: BTreeSet<u64> = live_now.clone();
        ours.extend(served(roles.candidate_alias));
        if let Some(m) = &roles.live_marker {
            ours.extend(m.previous);
            ours.extend(m.rejected);
            if let Some(Provisioned::Warming(n)) = m.provisioned {
                ours.insert(n);
            }
            if let Some(VersionRef::Number(n)) = m.version {
                ours.insert(n);
            }
        }
        if let Some(VersionRef::Number(n)) = roles.candidate_marker.as_ref().and_then(|m| m.frozen) {
            ours.insert(n);
        }
        let pair = [roles.live, roles.candidate];
        let elsewhere: BTreeSet<u64> = self
            .snapshot()
            .aliases
            .iter()
            .filter(|a| !pair.contains(&a.name.as_str()))
            .flat_map(|a| served(Some(a)))
            .collect();
        self.snapshot()
            .warm
            .iter()
            .filter_map(|c| c.qualifier.parse::<u64>().ok())
            .filter(|n| {
                ours.contains(n) && !elsewhere.contains(n) && !desired.contains_key(&VersionRef::Number(*n))
            })
            .collect()
    }

    /// The live marker's `pc=` record: carried by every write of the live alias in this plan
    /// (a swap's included), or written alone before any config it must cover is put.
    fn record(&mut self, roles: &Roles<'a>, wanted: Option<Provisioned>) {
        let Some(live) = roles.live_alias else {
            // Bootstrap: the live alias is created with the record.
            for action in &mut self.actions {
                if let Action::CreateAlias { alias, marker, .. } = action
                    && *alias == roles.live
                {
                    marker.provisioned = wanted;
                }
            }
            return;
        };
        let from = live.function_version.parse::<u64>().ok();
        for action in &mut self.actions {
            match action {
                Action::UpdateAlias { alias, change: AliasChange::Swap, marker, .. }
                    if *alias == roles.candidate =>
                {
                    marker.provisioned = wanted;
                }
                Action::UpdateAlias { alias, version, marker, change, .. } if *alias == roles.live => {
                    marker.provisioned = wanted;
                    // A move off a version keeps it named (as the version served before), so
                    // that its config is found and deleted even after a crash.
                    if wanted.is_some()
                        && *change != AliasChange::RollBack
                        && marker.previous.is_none()
                        && let (Some(from), VersionRef::Number(to)) = (from, *version)
                        && from != to
                    {
                        marker.previous = Some(from);
                    }
                }
                _ => {}
            }
        }
        // Writes of the live alias that only differed from AWS by the record are not needed.
        let routing = super::rollout::weighted_version(live);
        let current = VersionRef::parse(&live.function_version);
        let same_routing = |r: &Option<Weighted>| {
            r.map(|w| (w.version, w.percent)) == routing.map(|(v, p)| (VersionRef::Number(v), p))
        };
        self.actions.retain(|a| match a {
            Action::UpdateAlias { alias, version, marker, routing: r, change, .. }
                if *alias == live.name && *change != AliasChange::Swap =>
            {
                !(current == Some(*version) && same_routing(r) && marker.render(None) == live.description)
            }
            _ => true,
        });
        let writes_live = self
            .actions
            .iter()
            .any(|a| matches!(a, Action::UpdateAlias { alias, .. } if *alias == live.name));
        if !writes_live
            && let Some(observed) = &roles.live_marker
            && observed.provisioned != wanted
            && let Some(version) = current
        {
            let mut marker = observed.clone();
            marker.provisioned = wanted;
            self.actions.push(Action::UpdateAlias {
                alias: live.name.clone(),
                version,
                marker,
                revision_id: live.revision_id.clone(),
                change: AliasChange::Record,
                routing: routing.map(|(v, percent)| Weighted { version: VersionRef::Number(v), percent }),
            });
        }
    }

    /// Desired configs not READY yet: the set waits on them (unless something else is pending).
    fn note_warming(&mut self, desired: &BTreeMap<VersionRef, (u32, &'static str)>) {
        if self.warming.is_some() {
            return;
        }
        for (version, (count, role)) in desired {
            let VersionRef::Number(n) = version else { continue };
            match self.snapshot().warm_config(&n.to_string()) {
                Some(c) if c.status == WarmStatus::Ready && c.requested == *count => {}
                Some(c) if c.status == WarmStatus::Failed => {}
                Some(c) => {
                    self.warming = Some(format!(
                        "provisioned concurrency of version {n} (the {role} alias's) is {}: {} of {} allocated",
                        c.status.as_str(),
                        c.allocated,
                        count
                    ));
                    return;
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
