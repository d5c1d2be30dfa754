//! The cheap drift check: what a periodic pass reads of a set that has converged, instead of a
//! full observe.
//!
//! A full observe reads `$LATEST`, every version, every alias, and for each alias the set may
//! own its policy and its event source mappings: for the Alexa example 4 calls from the shared
//! 15 req/s pool. Most of that cannot change without something the cheap reads see:
//! - an alias re-pointed, re-described, re-routed, created or deleted: `ListAliases` (which
//!   returns every alias with its version, routing and description);
//! - new code or a new `LastModified` on `$LATEST`: `GetFunction` (its own 100 req/s pool);
//! - a statement of ours removed or changed, or one added beside it: `GetPolicy` (its own
//!   pool), only on the aliases that carry statements of ours;
//! - a mapping of a declared source moved, changed, disabled, deleted or duplicated: one
//!   `ListEventSourceMappings` per declared event source (AWS matches `FunctionName` exactly,
//!   so listing by source is the one listing that covers every alias at once), only for sets
//!   that declare mappings;
//! - a provisioned concurrency config changed, deleted or added: one
//!   `ListProvisionedConcurrencyConfigs`, only for sets that declare provisioned concurrency.
//!
//! A [`Baseline`] is the fingerprint of those reads in a snapshot the planner found converged.
//! The drift check reads them again and compares: equal, and the planner would decide the same
//! as last time; different, and the caller runs the full observe -> plan -> execute.
//!
//! What the cheap reads do not see, and when it is caught instead (README, "Drift checks and the two lanes"):
//! versions published or deleted by hand without touching `$LATEST` or any alias (retention
//! applies them at the next full observe), and a mapping of an undeclared event source attached
//! by hand to one of the set's aliases (removed at the next full observe).

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::api::LambdaAliasSetSpec;
use crate::aws::{AwsError, GetFunction, GetPolicy, LambdaApi, List, ListAliases, ListMappings, ListWarm};
use crate::plan::{self, MappingInfo, SID_PREFIX, Snapshot};

/// The fingerprint of what the cheap reads see in a converged snapshot, and which reads those
/// are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    fingerprint: u64,
    /// Aliases that carry statements of ours: their policies are read.
    policy_aliases: Vec<String>,
    /// The declared event sources: each is listed once.
    sources: Vec<String>,
    /// `spec.provisionedConcurrency` (or configs of the set left to delete): the function's
    /// configs are listed once.
    warm: bool,
}

/// Calls one drift check makes, by quota pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckCost {
    pub get_function: u32,
    pub get_policy: u32,
    pub shared: u32,
}

impl Baseline {
    /// The baseline of a snapshot the planner found converged for `spec`.
    pub fn of(spec: &LambdaAliasSetSpec, owner: &str, snapshot: &Snapshot) -> Baseline {
        let policy_aliases: Vec<String> = snapshot
            .policies
            .iter()
            .filter(|(_, p)| p.statements.iter().any(|s| s.sid.starts_with(SID_PREFIX)))
            .map(|(alias, _)| alias.clone())
            .collect();
        let sources: Vec<String> = spec
            .triggers
            .iter()
            .filter_map(|t| t.event_source_mapping.as_ref().map(|m| m.event_source_arn.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let warm = plan::observes_warm(spec, owner, &snapshot.aliases);
        let fingerprint = fingerprint(spec, owner, snapshot, &policy_aliases, &sources);
        Baseline { fingerprint, policy_aliases, sources, warm }
    }

    /// What one check costs, by pool (pages beyond the first aside).
    pub fn cost(&self) -> CheckCost {
        CheckCost {
            get_function: 1,
            get_policy: self.policy_aliases.len() as u32,
            shared: 1 + self.sources.len() as u32 + u32::from(self.warm),
        }
    }
}

/// Reads what the baseline covers and says whether it is as it was.
pub async fn unchanged<A: LambdaApi>(
    api: &A,
    spec: &LambdaAliasSetSpec,
    owner: &str,
    baseline: &Baseline,
) -> Result<bool, AwsError> {
    let function_name = spec.function_name.as_str();
    let function = match api.call(&GetFunction { function: function_name.to_owned() }).await {
        Ok(f) => f,
        // Gone: certainly not as it was.
        Err(AwsError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let aliases = api.list(ListAliases::new(function_name)).await?;
    let mut seen = Snapshot { function: Some(function), aliases, ..Snapshot::default() };
    for alias in &baseline.policy_aliases {
        if let Some(policy) =
            api.call(&GetPolicy { function: function_name.to_owned(), qualifier: alias.to_owned() }).await?
        {
            seen.policies.insert(alias.clone(), policy);
        }
    }
    for source in &baseline.sources {
        seen.mappings.extend(api.list(ListMappings::of_source(source)).await?);
    }
    if baseline.warm {
        seen.warm = api.list(ListWarm::new(function_name)).await?;
    }
    Ok(fingerprint(spec, owner, &seen, &baseline.policy_aliases, &baseline.sources) == baseline.fingerprint)
}

/// One hash over exactly what the cheap reads return, computed the same way from a full
/// snapshot and from the cheap reads. RevisionIds are left out: an answer that the planner
/// reads the same way must compare equal, whether it was observed or predicted.
fn fingerprint(
    spec: &LambdaAliasSetSpec,
    owner: &str,
    snapshot: &Snapshot,
    policy_aliases: &[String],
    sources: &[String],
) -> u64 {
    let mut h = DefaultHasher::new();
    match &snapshot.function {
        Some(f) => (1u8, &f.function_arn, &f.code_sha256, f.last_modified).hash(&mut h),
        None => 0u8.hash(&mut h),
    }
    let mut aliases: Vec<_> = snapshot.aliases.iter().collect();
    aliases.sort_by(|a, b| a.name.cmp(&b.name));
    for a in &aliases {
        (&a.name, &a.alias_arn, &a.function_version, &a.description).hash(&mut h);
        for (version, weight) in &a.routing {
            (version, weight.to_bits()).hash(&mut h);
        }
    }
    for alias in policy_aliases {
        match snapshot.policies.get(alias) {
            Some(p) => {
                let mut statements = p.statements.clone();
                statements.sort();
                (alias, 1u8, statements).hash(&mut h);
            }
            None => (alias, 0u8).hash(&mut h),
        }
    }
    // Provisioned concurrency configs, when listed (empty otherwise, in both snapshots).
    let mut warm: Vec<_> = snapshot.warm.iter().collect();
    warm.sort_by(|a, b| a.qualifier.cmp(&b.qualifier));
    warm.hash(&mut h);
    if !sources.is_empty() {
        // Only mappings of declared sources on aliases the set may own: those are what a full
        // observe lists (it lists by alias) and what listing by source returns (filtered here).
        let names = plan::aliases_to_observe(spec, owner, &snapshot.aliases);
        let owned: BTreeSet<&str> =
            names.iter().filter_map(|name| snapshot.alias(name).map(|a| a.alias_arn.as_str())).collect();
        let mut mappings: Vec<&MappingInfo> = snapshot
            .mappings
            .iter()
            .filter(|m| owned.contains(m.function_arn.as_str()) && sources.contains(&m.event_source_arn))
            .collect();
        mappings.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        for m in mappings {
            (&m.uuid, &m.function_arn, &m.event_source_arn, m.batch_size, m.enabled).hash(&mut h);
        }
    }
    h.finish()
}
