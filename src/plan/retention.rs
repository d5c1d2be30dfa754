//! `retainVersions`: published versions nothing references are deleted, keeping the newest N.
//! Referenced: by an alias (its version, its weights, the versions its marker names, a version
//! being warmed), by an event source mapping, or by a provisioned concurrency config.

use std::collections::BTreeSet;

use crate::api::LambdaAliasSetSpec;

use super::{Action, Marker, Snapshot, VersionRef};

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
            // A version being warmed to become live is about to be referenced.
            if let Some(super::marker::Provisioned::Warming(n)) = m.provisioned {
                referenced.insert(n);
            }
        }
    }
    // A version with provisioned concurrency is kept (someone pays for it to serve).
    referenced.extend(snapshot.warm.iter().filter_map(|c| c.qualifier.parse::<u64>().ok()));
    referenced
}

/// The deletions a plan ends with. Only called once everything else agrees, so that no version
/// about to be referenced can be deleted.
pub(super) fn deletions(spec: &LambdaAliasSetSpec, snapshot: &Snapshot) -> Vec<Action> {
    retention_candidates(spec, snapshot)
        .into_iter()
        .filter(|version| !snapshot.mapped_versions.contains(version))
        .map(|version| Action::DeleteVersion { version })
        .collect()
}

#[cfg(test)]
mod tests;
