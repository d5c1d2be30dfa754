//! The skill's development endpoint follows the candidate (`spec.alexa.manageDevelopmentEndpoint`):
//! which skills' development stage to re-point, and when to hold. The write itself is SMAPI's
//! (`crate::alexa`, driven by the controller); a move names no stage because only the
//! development stage is ever written, never the live one (README "Alexa-aware sets").
//!
//! Only the skill of the first Alexa trigger is managed (the one `FromSkill` reads, whose record
//! `status.skill` holds). A development stage is re-pointed only when everything else agrees: the set is not
//! suspended, the Lambda side has nothing left to do and is converged (so no drain is running),
//! the candidate tracks `$LATEST` (a frozen candidate is under certification), no skill's live
//! stage calls the candidate, and that skill has no review in progress (Amazon has frozen the
//! submitted manifest).

use super::pair::Roles;
use super::skill::{CertificationStatus, StageTarget};
use super::{Action, LATEST, Outcome, Planner};

/// One development stage to re-point: every endpoint URI of its manifest that names this
/// function (unqualified, a version or another alias) becomes the candidate alias's ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointMove {
    pub skill_id: String,
    /// The function's unqualified ARN: which URIs are this function's.
    pub function_arn: String,
    /// The candidate alias.
    pub alias: String,
    /// What the development stage calls now, as the status shows it.
    pub from: String,
}

impl EndpointMove {
    /// The URI every endpoint of this function gets.
    pub fn alias_arn(&self) -> String {
        format!("{}:{}", self.function_arn, self.alias)
    }
}

impl<'a> Planner<'a> {
    /// The development stages to re-point once this plan's actions are done (`actions` and
    /// `outcome` are the plan's own): none unless the set opted in and nothing else is going on.
    pub(super) fn endpoint_moves(
        &self,
        roles: &Roles<'_>,
        actions: &[Action],
        outcome: &Outcome,
    ) -> Vec<EndpointMove> {
        let spec = self.spec();
        let opted_in = spec.alexa.as_ref().is_some_and(|a| a.manage_development_endpoint);
        let Some(skills) = self.input.skills.filter(|_| opted_in) else { return Vec::new() };
        if spec.suspend || !actions.is_empty() || *outcome != Outcome::Converged {
            return Vec::new();
        }
        let tracks = self.snapshot().alias(roles.candidate).is_some_and(|a| a.function_version == LATEST);
        let live_calls_candidate = self.live_stage_aliases().is_some_and(|a| a.contains(roles.candidate));
        if !tracks || live_calls_candidate {
            return Vec::new();
        }
        let arn = self.function_arn();
        // The skill of the first Alexa trigger, as for FromSkill: its record is the status's.
        skills
            .iter()
            .take(1)
            .filter(|s| s.latest_review.as_ref().is_none_or(|r| r.status != CertificationStatus::InProgress))
            .filter_map(|skill| {
                let target = StageTarget::of(skill.development.as_ref()?, arn);
                let elsewhere_alias = target.aliases.iter().any(|a| a != roles.candidate);
                (elsewhere_alias || !target.unaliased.is_empty()).then(|| EndpointMove {
                    skill_id: skill.skill_id.clone(),
                    function_arn: arn.to_string(),
                    alias: roles.candidate.to_string(),
                    from: target.describe(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
