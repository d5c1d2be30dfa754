//! Deletion of a set (its finalizer), outside any plan: `deletionPolicy: Retain` releases what the
//! set owns, `Delete` removes it.

use std::collections::BTreeSet;

use super::{Action, AliasChange, AliasInfo, Marker, Snapshot, VersionRef};

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
        // A rollout's weights stay as they are: releasing shifts no traffic.
        let routing = super::weighted_version(alias)
            .map(|(v, percent)| super::Weighted { version: VersionRef::Number(v), percent });
        actions.push(Action::UpdateAlias {
            alias: alias.name.clone(),
            version,
            marker,
            revision_id: alias.revision_id.clone(),
            change: AliasChange::Release,
            routing,
        });
    }
    actions
}

/// Deletion with `deletionPolicy: Delete`: the provisioned concurrency of the versions only the
/// set's aliases serve, the mappings on the set's aliases, then the aliases (their resource
/// policies, and so the owned statements, go with them). Never the function,
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
    // Provisioned concurrency on the versions only the deleted aliases serve (and a version the
    // live marker says is being warmed) goes first, while those aliases still say it is ours.
    let served = |a: &AliasInfo| -> Vec<String> {
        std::iter::once(a.function_version.clone()).chain(a.routing.keys().cloned()).collect()
    };
    let gone: BTreeSet<&str> = owned.iter().map(|a| a.name.as_str()).collect();
    let staying: BTreeSet<String> =
        observed.aliases.iter().filter(|a| !gone.contains(a.name.as_str())).flat_map(served).collect();
    let mut ours: BTreeSet<String> = owned.iter().flat_map(|a| served(a)).collect();
    ours.extend(owned.iter().filter_map(|a| Marker::parse(&a.description)).filter_map(
        |m| match m.provisioned {
            Some(super::marker::Provisioned::Warming(n)) => Some(n.to_string()),
            _ => None,
        },
    ));
    for config in &observed.warm {
        if let Ok(version) = config.qualifier.parse::<u64>()
            && ours.contains(&config.qualifier)
            && !staying.contains(&config.qualifier)
        {
            actions.push(Action::DeleteWarm { version });
        }
    }
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

#[cfg(test)]
mod tests;
