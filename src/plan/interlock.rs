//! Alexa-aware sets: the interlock with the skill's stages, so that the live skill never breaks.
//! The alias a skill's live stage calls is held where it is, a swap waits for Amazon to publish
//! the certified skill, and `FromSkill` reads the phase from the skill's reviews. Inert when
//! `input.skills` is None.

use std::collections::BTreeSet;

use crate::api::Phase;

use super::pair::Roles;
use super::skill::{CertificationStatus, SkillObservation, StageEndpoints, StageTarget};
use super::{Action, AliasChange, Outcome, Planner, Role, SkillReport, VersionInfo, VersionRef, model};

/// Every alias of `function_arn` that a skill's live stage calls.
pub fn live_stage_aliases(skills: &[SkillObservation], function_arn: &str) -> BTreeSet<String> {
    skills
        .iter()
        .filter_map(|s| s.live.as_ref())
        .flat_map(|l| StageTarget::of(l, function_arn).aliases)
        .collect()
}

impl<'a> Planner<'a> {
    pub(super) fn function_arn(&self) -> &'a str {
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
    pub(super) fn live_stage_aliases(&self) -> Option<BTreeSet<String>> {
        Some(live_stage_aliases(self.input.skills?, self.function_arn()))
    }

    /// A live stage that calls anything but the pair: nothing is safe to write.
    pub(super) fn skill_mismatch(&self, roles: &Roles<'_>) -> Option<Outcome> {
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
    pub(super) fn publication_pending(&self, candidate: &str) -> Option<String> {
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
    pub(super) fn effective_phase(&self, roles: &Roles<'_>) -> Phase {
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
    pub(super) fn submitted_code(&mut self) -> Option<VersionRef> {
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
    pub(super) fn interlock(&self, roles: &Roles<'_>, actions: &mut Vec<Action>) -> Option<String> {
        let protected = self.live_stage_aliases()?;
        let mut held: Vec<String> = Vec::new();
        actions.retain(|action| {
            let (alias, moves) = match action {
                Action::UpdateAlias { alias, version, change, routing, .. } => {
                    let observed = self.snapshot().alias(alias);
                    let current = observed.and_then(|a| VersionRef::parse(&a.function_version));
                    let weights =
                        observed.and_then(super::weighted_version).map(|(v, p)| (VersionRef::Number(v), p));
                    let moves = *version == VersionRef::Published
                        || Some(*version) != current
                        || routing.map(|w| (w.version, w.percent)) != weights;
                    // The live alias's own hotfix, in one write or by `spec.rollout`'s steps.
                    let hotfix =
                        matches!(change, AliasChange::Hotfix | AliasChange::Step | AliasChange::RollBack)
                            && alias == roles.live;
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

    pub(super) fn skill_report(&self, roles: &Roles<'_>) -> Option<SkillReport> {
        let skill = self.primary_skill()?;
        let arn = self.function_arn();
        let describe = |stage: Option<&StageEndpoints>| {
            stage.map_or_else(|| "none".to_string(), |s| StageTarget::of(s, arn).describe())
        };
        let development = describe(skill.development.as_ref());
        // With manageDevelopmentEndpoint the mismatch is the controller's to fix, not a Warning:
        // the controller notes only why it holds a move (README "Alexa-aware sets").
        let managed = self.spec().alexa.as_ref().is_some_and(|a| a.manage_development_endpoint);
        let note = skill
            .development
            .as_ref()
            .filter(|_| !managed)
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
            development_update: None,
        })
    }
}

#[cfg(test)]
mod tests;
