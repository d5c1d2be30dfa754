//! Stage aliases outside the rotation (dev, beta, STG...): each points where its entry says, and
//! a stage this set created that the spec no longer declares is deleted.

use std::collections::BTreeSet;

use crate::api::LambdaAliasSetSpec;

use super::pair::Roles;
use super::{Action, AliasChange, AliasInfo, Marker, Planner, Role, VersionRef};

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

impl<'a> Planner<'a> {
    pub(super) fn stages(&mut self) {
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
            self.roll(&stage.alias, target, marker, AliasChange::Stage);
        }
    }

    /// Stage aliases this set created that the spec no longer declares: delete them (their
    /// mappings first; their policies go with the alias).
    pub(super) fn stale_stages(&mut self, roles: &Roles<'_>) {
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
}

#[cfg(test)]
mod tests;
