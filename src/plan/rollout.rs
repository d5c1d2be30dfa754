//! `spec.rollout`: a change of version of the live alias or of a stage alias reaches traffic in
//! steps of weighted routing, each held `intervalSeconds` while CloudWatch alarms (and the
//! built-in error-rate guard) are watched; an alarm in ALARM sends the alias back to the old
//! version alone (README "Progressive rollouts").
//!
//! The rollout's state is in AWS, like the rotation's: the alias's routing config says which
//! version is weighted and how much, the marker's `since` when the step being held began, `rej`
//! the version a rollout rolled back and `prev` the version served before the last completed
//! move. A restart, a re-created set or the CLI continues the same rollout from there: each step
//! is one UpdateAlias (with the alias's RevisionId) whose marker carries its start, so a crash
//! can neither skip a step nor shift twice.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{AlarmStatus, ErrorsStatus, Rollout, RolloutStatus};

use super::model::rfc3339;
use super::{
    Action, AlarmState, AliasChange, AliasInfo, Marker, Outcome, Planner, VersionRef, Watch, Weighted,
};

/// `maxErrorRate` judges a step from this many invocations of the new version; with fewer, the
/// step passes when its interval is over (README "Progressive rollouts").
pub const MIN_INVOCATIONS: f64 = 20.0;

static NO_WATCH: Watch = Watch { asked: BTreeSet::new(), alarms: BTreeMap::new(), errors: Vec::new() };

/// The one weighted version of an alias and its percent, when it has exactly one.
pub fn weighted_version(alias: &AliasInfo) -> Option<(u64, u8)> {
    let mut entries = alias.routing.iter();
    let (version, weight) = entries.next()?;
    if entries.next().is_some() {
        return None;
    }
    Some((version.parse().ok()?, Weighted::percent_of(*weight)))
}

/// How a rollout stands on one alias, for its status.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct AliasRollout {
    pub(super) status: Option<RolloutStatus>,
    pub(super) rolled_back: Option<u64>,
}

impl<'a> Planner<'a> {
    /// Points the owned alias `name` at `target` as [`Planner::ensure`] does; under
    /// `spec.rollout` a change of version by `Hotfix` or `Stage` goes in steps instead. `wanted` is
    /// the marker for the alias once it serves `target` alone.
    pub(super) fn roll(&mut self, name: &str, target: VersionRef, mut wanted: Marker, change: AliasChange) {
        let owner = self.input.owner;
        let alias = self.snapshot().alias(name);
        let recorded = alias.and_then(|a| Marker::parse(&a.description)).filter(|m| m.is_owned_by(owner));
        if let Some(recorded) = &recorded {
            wanted.previous = recorded.previous;
        }
        let (Some(rollout), Some(alias), Some(recorded)) = (self.spec().rollout.as_ref(), alias, recorded)
        else {
            return self.ensure(name, target, wanted, change);
        };
        // AWS cannot weight an alias whose own version is $LATEST: that move is one write.
        let Some(VersionRef::Number(from)) = VersionRef::parse(&alias.function_version) else {
            return self.ensure(name, target, wanted, change);
        };
        // The record says which version the alias serves: found on another, it is put back at
        // once (drift), never shifted there in steps.
        if let Some(VersionRef::Number(served)) = recorded.version
            && served != from
        {
            let mut back = recorded.clone();
            back.since = None;
            self.update(alias, VersionRef::Number(served), back, AliasChange::Drift, None);
            return;
        }
        let stepped = matches!(change, AliasChange::Hotfix | AliasChange::Stage);
        let to = match target {
            VersionRef::Number(n) if n != from && stepped => Some(n),
            VersionRef::Published if stepped => None,
            // No change of version (a rollout in progress is abandoned: the spec is back on
            // `from`, and `ensure` clears the weights), `$LATEST`, bootstrap or drift: one write.
            _ => return self.ensure(name, target, wanted, change),
        };
        match weighted_version(alias) {
            Some((weighted, percent)) if Some(weighted) == to => {
                self.mid_rollout(rollout, alias, &recorded, from, weighted, percent, wanted, change);
            }
            Some(_) => {
                // Weights towards a version the spec no longer asks for: withdrawn first, and the
                // next pass starts the new rollout from `from` alone.
                let mut withdrawn = recorded.clone();
                withdrawn.since = None;
                self.update(alias, VersionRef::Number(from), withdrawn, change, None);
            }
            None => {
                if alias.routing.is_empty() {
                    self.start_rollout(rollout, alias, &recorded, from, target, to, wanted, change);
                } else {
                    // More than one weight (not something AWS allows today): points at `from` alone.
                    self.update(alias, VersionRef::Number(from), recorded.clone(), AliasChange::Drift, None);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start_rollout(
        &mut self,
        rollout: &Rollout,
        alias: &AliasInfo,
        recorded: &Marker,
        from: u64,
        target: VersionRef,
        to: Option<u64>,
        mut wanted: Marker,
        change: AliasChange,
    ) {
        let name = alias.name.as_str();
        if let Some(n) = to
            && recorded.rejected == Some(n)
        {
            self.note_rollout(name, AliasRollout { status: None, rolled_back: Some(n) });
            self.rolled_back_hold(name, from, n, rollout);
            return;
        }
        let Some(watch) = self.watched(rollout, None) else { return };
        let firing = firing(rollout, watch);
        if !firing.is_empty() {
            // A rollback must never be held by the alarm it is meant to fix: a move back to a
            // version this alias served before goes in one write.
            let back = to.is_some_and(|n| {
                recorded.previous == Some(n) || recorded.promoted == Some(VersionRef::Number(n))
            });
            if back {
                wanted.previous = Some(from);
                self.update(alias, target, wanted, change, None);
            } else {
                self.block(Outcome::AlarmActive {
                    message: format!(
                        "{name}: alarm {} is in ALARM, so version {target} is not deployed into it ({name} stays on \
                         version {from}); the rollout starts once every alarm is OK, or move it back to a version it \
                         served before to roll back at once",
                        firing.join(", ")
                    ),
                });
            }
            return;
        }
        let mut step = recorded.clone();
        step.since = Some(self.input.now);
        step.rejected = None;
        let percent = first_step(rollout);
        self.update(
            alias,
            VersionRef::Number(from),
            step,
            AliasChange::Step,
            Some(Weighted { version: target, percent }),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn mid_rollout(
        &mut self,
        rollout: &Rollout,
        alias: &AliasInfo,
        recorded: &Marker,
        from: u64,
        to: u64,
        percent: u8,
        mut wanted: Marker,
        change: AliasChange,
    ) {
        let name = alias.name.as_str();
        let now = self.input.now;
        let weighted = |percent| Some(Weighted { version: VersionRef::Number(to), percent });
        let Some(since) = recorded.since else {
            // Weights without a step start (written by hand, or before this set owned the
            // alias): the step being held begins now, so it still waits its whole interval.
            let mut step = recorded.clone();
            step.since = Some(now);
            self.update(alias, VersionRef::Number(from), step, AliasChange::Step, weighted(percent));
            return;
        };
        let query = rollout.max_error_rate.map(|_| (name.to_string(), to, since));
        let Some(watch) = self.watched(rollout, query) else { return };
        let errors = rollout.max_error_rate.and_then(|_| watch.errors_of(name, to, since));
        let mut rejected = recorded.clone();
        rejected.since = None;
        rejected.rejected = Some(to);
        let firing = firing(rollout, watch);
        if !firing.is_empty() {
            self.update(alias, VersionRef::Number(from), rejected, AliasChange::RollBack, None);
            self.rolled_back(format!(
                "{name}: alarm {} went to ALARM with {percent}% of the traffic on version {to}: rolled back to \
                 version {from} alone; version {to} is not tried again while the spec asks for it",
                firing.join(", ")
            ));
            return;
        }
        if let (Some(max), Some(count)) = (rollout.max_error_rate, errors)
            && count.invocations >= MIN_INVOCATIONS
            && count.errors / count.invocations > max
        {
            self.update(alias, VersionRef::Number(from), rejected, AliasChange::RollBack, None);
            self.rolled_back(format!(
                "{name}: version {to} had {} errors in {} invocations since its step began ({:.1}%), above \
                 maxErrorRate {:.1}%: rolled back to version {from} alone; version {to} is not tried again while \
                 the spec asks for it",
                count.errors,
                count.invocations,
                100.0 * count.errors / count.invocations,
                100.0 * max
            ));
            return;
        }
        let until = since + i64::from(rollout.interval_seconds);
        let steps: Vec<u8> = steps(rollout);
        let step = steps.iter().filter(|s| **s <= percent).count().max(1);
        let status = RolloutStatus {
            from: from.to_string(),
            to: to.to_string(),
            weight: i32::from(percent),
            step: step as i32,
            steps: steps.len() as i32,
            next_step_at: crate::api::time_at(until),
            alarms: rollout
                .alarms
                .iter()
                .filter_map(|a| {
                    watch.alarms.get(a).map(|s| AlarmStatus { name: a.clone(), state: s.as_str().into() })
                })
                .collect(),
            errors: errors.map(|e| ErrorsStatus {
                invocations: e.invocations as i64,
                errors: e.errors as i64,
                judged: e.invocations >= MIN_INVOCATIONS,
            }),
        };
        self.note_rollout(name, AliasRollout { status: Some(status), rolled_back: None });
        if now < until {
            let judged = match errors {
                Some(e) if e.invocations < MIN_INVOCATIONS => format!(
                    "; {} invocations so far, too few to judge maxErrorRate (the step passes when its interval is over)",
                    e.invocations
                ),
                _ => String::new(),
            };
            self.rolling(
                until,
                format!(
                    "{name}: {percent}% of the traffic on version {to}, the rest on {from} (step {step} of {}); the \
                     next step is at {}{judged}",
                    steps.len(),
                    rfc3339(until)
                ),
            );
            return;
        }
        match steps.iter().find(|s| **s > percent) {
            Some(next) => {
                let mut step = recorded.clone();
                step.since = Some(now);
                self.update(alias, VersionRef::Number(from), step, AliasChange::Step, weighted(*next));
            }
            None => {
                wanted.previous = Some(from);
                self.update(alias, VersionRef::Number(to), wanted, change, None);
            }
        }
    }

    /// The spec still asks for the version a rollout rolled back: nothing is written.
    fn rolled_back_hold(&mut self, name: &str, from: u64, rejected: u64, rollout: &Rollout) {
        let now_firing = self.input.watch.map(|w| firing(rollout, w)).unwrap_or_default();
        let firing = if now_firing.is_empty() {
            String::new()
        } else {
            format!(" (in ALARM now: {})", now_firing.join(", "))
        };
        self.block(Outcome::RolledBack {
            message: format!(
                "{name}: version {rejected} was rolled back to {from} during its rollout{firing}, and the spec still asks \
                 for it, so it is not tried again: name another version or code hash (or {from} to accept the \
                 rollback); the Warning Event RolledBack says which alarm or error rate rejected it"
            ),
        });
    }

    /// The alarms' states and the error count the rollout needs; `None` (nothing planned for
    /// this alias) while the engine has still to read them, or when an alarm does not exist.
    fn watched(&mut self, rollout: &Rollout, errors: Option<(String, u64, i64)>) -> Option<&'a Watch> {
        let mut need = super::WatchNeed::default();
        need.alarms.extend(rollout.alarms.iter().cloned());
        need.errors.extend(errors);
        if need.is_empty() {
            return Some(&NO_WATCH);
        }
        let Some(watch) = self.input.watch.filter(|w| need.met_by(w)) else {
            self.need.alarms.extend(need.alarms);
            self.need.errors.extend(need.errors);
            return None;
        };
        let missing: Vec<&str> =
            rollout.alarms.iter().filter(|a| !watch.alarms.contains_key(*a)).map(String::as_str).collect();
        if !missing.is_empty() {
            self.block(Outcome::AlarmNotFound {
                message: format!(
                    "CloudWatch alarm {} of spec.rollout.alarms does not exist in the set's region: create it or \
                     remove it from the list; nothing was written",
                    missing.join(", ")
                ),
            });
            return None;
        }
        Some(watch)
    }

    fn update(
        &mut self,
        alias: &AliasInfo,
        version: VersionRef,
        marker: Marker,
        change: AliasChange,
        routing: Option<Weighted>,
    ) {
        self.actions.push(Action::UpdateAlias {
            alias: alias.name.clone(),
            version,
            marker,
            revision_id: alias.revision_id.clone(),
            change,
            routing,
        });
    }

    fn note_rollout(&mut self, alias: &str, rollout: AliasRollout) {
        self.rollouts.insert(alias.to_string(), rollout);
    }

    pub(super) fn rolling(&mut self, until: i64, message: String) {
        match &mut self.rolling {
            Some((at, text)) => {
                if until < *at {
                    *at = until;
                }
                text.push_str("; ");
                text.push_str(&message);
            }
            None => self.rolling = Some((until, message)),
        }
    }

    fn rolled_back(&mut self, message: String) {
        if self.rolled_back.is_none() {
            self.rolled_back = Some(message);
        }
    }
}

/// The listed alarms in ALARM, in the spec's order.
fn firing<'w>(rollout: &'w Rollout, watch: &Watch) -> Vec<&'w str> {
    rollout
        .alarms
        .iter()
        .filter(|a| watch.alarms.get(*a) == Some(&AlarmState::Alarm))
        .map(String::as_str)
        .collect()
}

/// The spec's steps as percents (the schema bounds them to 1-99).
fn steps(rollout: &Rollout) -> Vec<u8> {
    rollout.steps.iter().map(|s| (*s).clamp(1, 99) as u8).collect()
}

fn first_step(rollout: &Rollout) -> u8 {
    steps(rollout).first().copied().unwrap_or(10)
}

#[cfg(test)]
mod tests;
