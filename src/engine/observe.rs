//! Observe: one set's AWS state read from scratch into the planner's `Snapshot`.

use crate::api::LambdaAliasSetSpec;
use crate::aws::{
    AwsError, GetFunction, GetPolicy, LambdaApi, List, ListAliases, ListMappings, ListVersions, ListWarm,
};
use crate::plan::{self, Snapshot};

/// Reads everything the planner needs. A missing function is a snapshot without a function,
/// not an error.
pub async fn observe<A: LambdaApi>(
    api: &A,
    owner: &str,
    spec: &LambdaAliasSetSpec,
) -> Result<Snapshot, AwsError> {
    let function_name = spec.function_name.as_str();
    let function = match api.call(&GetFunction { function: function_name.to_owned() }).await {
        Ok(f) => f,
        Err(AwsError::NotFound { .. }) => return Ok(Snapshot::default()),
        Err(e) => return Err(e),
    };
    let versions = api.list(ListVersions::new(function_name)).await?;
    let aliases = api.list(ListAliases::new(function_name)).await?;
    let mut snapshot = Snapshot { function: Some(function), versions, aliases, ..Snapshot::default() };
    for name in plan::aliases_to_observe(spec, owner, &snapshot.aliases) {
        let Some(alias_arn) = snapshot.alias(&name).map(|a| a.alias_arn.clone()) else { continue };
        let mappings = api.list(ListMappings::of_function(&alias_arn)).await?;
        // No policy yet: nothing to compare, and no RevisionId to send with the first statement.
        if let Some(policy) =
            api.call(&GetPolicy { function: function_name.to_owned(), qualifier: name.to_owned() }).await?
        {
            snapshot.policies.insert(name, policy);
        }
        snapshot.mappings.extend(mappings);
    }
    // Provisioned concurrency: one listing per function, only for a set that has or had some.
    if plan::observes_warm(spec, owner, &snapshot.aliases) {
        snapshot.warm = api.list(ListWarm::new(function_name)).await?;
    }
    // Only versions the retention rule would delete are checked for mappings that invoke them
    // directly, so a steady state pays nothing for it.
    let function_arn = snapshot.function.as_ref().map(|f| f.function_arn.clone()).unwrap_or_default();
    for version in plan::retention_candidates(spec, &snapshot) {
        if !api.list(ListMappings::of_function(&format!("{function_arn}:{version}"))).await?.is_empty() {
            snapshot.mapped_versions.insert(version);
        }
    }
    Ok(snapshot)
}
