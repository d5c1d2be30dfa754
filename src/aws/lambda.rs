//! The Lambda operations the controller uses: one request type each, with its answer. Their rows
//! in the table of operations are in [`super::seam`]; they are answered by the SDK
//! ([`super::sdk`]) and the fake.
//!
//! `function` fields are what the user wrote in `spec.functionName` (name, partial ARN or ARN,
//! never qualified); qualifiers are passed separately.

use super::seam::{Operation, Page, Paged, Request};
use crate::plan::{AliasInfo, FunctionInfo, MappingInfo, PolicyInfo, Statement, VersionInfo, WarmConfig};

/// Implements [`Request`] for a request type: its operation, its answer, and the field that names
/// the resource it concerns.
macro_rules! request {
    ($request:ident => $op:ident -> $output:ty, |$r:ident| $resource:expr) => {
        impl Request for $request {
            type Output = $output;
            const OPERATION: Operation = Operation::$op;
            fn resource(&self) -> Option<&str> {
                let $r = self;
                $resource
            }
        }
    };
}

pub(super) use request;

/// Implements [`Paged`] for a listing request with a `marker` field.
macro_rules! paged {
    ($request:ident, $item:ty) => {
        impl Paged for $request {
            type Item = $item;
            fn set_marker(&mut self, marker: Option<String>) {
                self.marker = marker;
            }
        }
    };
}

/// GetFunction without qualifier: what `$LATEST` is right now. `NotFound` when the function
/// does not exist.
#[derive(Clone, Debug, PartialEq)]
pub struct GetFunction {
    pub function: String,
}
request!(GetFunction => GetFunction -> FunctionInfo, |r| Some(&r.function));

/// One page of ListVersionsByFunction, without `$LATEST`.
#[derive(Clone, Debug, PartialEq)]
pub struct ListVersions {
    pub function: String,
    pub marker: Option<String>,
}
request!(ListVersions => ListVersionsByFunction -> Page<VersionInfo>, |r| Some(&r.function));
paged!(ListVersions, VersionInfo);

/// One page of ListAliases.
#[derive(Clone, Debug, PartialEq)]
pub struct ListAliases {
    pub function: String,
    pub marker: Option<String>,
}
request!(ListAliases => ListAliases -> Page<AliasInfo>, |r| Some(&r.function));
paged!(ListAliases, AliasInfo);

impl ListVersions {
    /// The first page.
    pub fn new(function: &str) -> Self {
        ListVersions { function: function.to_owned(), marker: None }
    }
}

impl ListAliases {
    /// The first page.
    pub fn new(function: &str) -> Self {
        ListAliases { function: function.to_owned(), marker: None }
    }
}

/// GetPolicy for one qualifier; `None` when the qualifier has no policy.
#[derive(Clone, Debug, PartialEq)]
pub struct GetPolicy {
    pub function: String,
    pub qualifier: String,
}
request!(GetPolicy => GetPolicy -> Option<PolicyInfo>, |r| Some(&r.function));

/// Which mappings ListEventSourceMappings lists.
#[derive(Clone, Debug, PartialEq)]
pub enum MappingFilter {
    /// The mappings of one qualified function ARN (AWS matches `FunctionName` exactly).
    Function(String),
    /// Every function's mappings of one event source: the one listing that covers every alias of
    /// a set at once, so the drift check lists each declared source once.
    EventSource(String),
}

/// One page of ListEventSourceMappings.
#[derive(Clone, Debug, PartialEq)]
pub struct ListMappings {
    pub filter: MappingFilter,
    pub marker: Option<String>,
}
request!(ListMappings => ListEventSourceMappings -> Page<MappingInfo>, |r| match &r.filter {
    MappingFilter::Function(arn) | MappingFilter::EventSource(arn) => Some(arn),
});
paged!(ListMappings, MappingInfo);

impl ListMappings {
    /// The first page of one qualified function ARN's mappings.
    pub fn of_function(qualified_arn: &str) -> Self {
        ListMappings { filter: MappingFilter::Function(qualified_arn.to_owned()), marker: None }
    }

    /// The first page of one event source's mappings.
    pub fn of_source(event_source_arn: &str) -> Self {
        ListMappings { filter: MappingFilter::EventSource(event_source_arn.to_owned()), marker: None }
    }
}

/// PublishVersion of `$LATEST` with the CodeSha256 and RevisionId preconditions. Publishing an
/// unchanged `$LATEST` returns the existing version, as AWS does.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishVersion {
    pub function: String,
    pub code_sha256: String,
    pub revision_id: Option<String>,
    pub description: Option<String>,
}
request!(PublishVersion => PublishVersion -> VersionInfo, |r| Some(&r.function));

#[derive(Clone, Debug, PartialEq)]
pub struct CreateAlias {
    pub function: String,
    pub name: String,
    pub version: String,
    pub description: String,
}
request!(CreateAlias => CreateAlias -> AliasInfo, |r| Some(&r.function));

/// UpdateAlias with the alias's RevisionId as precondition. Always sends RoutingConfig: `None`
/// clears any weights (the alias points at `version` alone), `Some((version, weight))` is a
/// rollout's step.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateAlias {
    pub function: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub revision_id: Option<String>,
    pub routing: Option<(String, f64)>,
}
request!(UpdateAlias => UpdateAlias -> AliasInfo, |r| Some(&r.function));

#[derive(Clone, Debug, PartialEq)]
pub struct DeleteAlias {
    pub function: String,
    pub name: String,
}
request!(DeleteAlias => DeleteAlias -> (), |r| Some(&r.function));

/// AddPermission on one qualifier, with the policy's RevisionId as precondition when given.
#[derive(Clone, Debug, PartialEq)]
pub struct AddPermission {
    pub function: String,
    pub qualifier: String,
    pub statement: Statement,
    pub revision_id: Option<String>,
}
request!(AddPermission => AddPermission -> (), |r| Some(&r.function));

/// RemovePermission, without a RevisionId (moto answers 412 to any that carries one).
#[derive(Clone, Debug, PartialEq)]
pub struct RemovePermission {
    pub function: String,
    pub qualifier: String,
    pub sid: String,
}
request!(RemovePermission => RemovePermission -> (), |r| Some(&r.function));

#[derive(Clone, Debug, PartialEq)]
pub struct CreateMapping {
    /// The qualified alias ARN the mapping invokes.
    pub function_arn: String,
    pub event_source_arn: String,
    pub batch_size: Option<u32>,
    pub enabled: bool,
    /// `TRIM_HORIZON` or `LATEST`, for streams.
    pub starting_position: Option<String>,
}
request!(CreateMapping => CreateEventSourceMapping -> MappingInfo, |r| Some(&r.function_arn));

#[derive(Clone, Debug, PartialEq)]
pub struct UpdateMapping {
    pub uuid: String,
    /// Moves the mapping to another qualified function ARN (a swap moves `Live` mappings).
    pub function_arn: Option<String>,
    pub batch_size: Option<u32>,
    pub enabled: Option<bool>,
}
request!(UpdateMapping => UpdateEventSourceMapping -> MappingInfo, |r| r.function_arn.as_deref());

#[derive(Clone, Debug, PartialEq)]
pub struct DeleteMapping {
    pub uuid: String,
}
request!(DeleteMapping => DeleteEventSourceMapping -> (), |_r| None);

/// DeleteFunction with a version qualifier (never unqualified: the function is never deleted).
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteVersion {
    pub function: String,
    pub version: u64,
}
request!(DeleteVersion => DeleteFunction -> (), |r| Some(&r.function));

/// One page of ListProvisionedConcurrencyConfigs: every config of the function (on versions and
/// on aliases).
#[derive(Clone, Debug, PartialEq)]
pub struct ListWarm {
    pub function: String,
    pub marker: Option<String>,
}
request!(ListWarm => ListProvisionedConcurrencyConfigs -> Page<WarmConfig>, |r| Some(&r.function));
paged!(ListWarm, WarmConfig);

impl ListWarm {
    /// The first page.
    pub fn new(function: &str) -> Self {
        ListWarm { function: function.to_owned(), marker: None }
    }
}

/// PutProvisionedConcurrencyConfig on one published version: creates the config or changes its
/// count. The answer is the config as it stands (IN_PROGRESS until Lambda has allocated it).
#[derive(Clone, Debug, PartialEq)]
pub struct PutWarm {
    pub function: String,
    pub version: u64,
    pub count: u32,
}
request!(PutWarm => PutProvisionedConcurrencyConfig -> WarmConfig, |r| Some(&r.function));

/// DeleteProvisionedConcurrencyConfig on one published version.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteWarm {
    pub function: String,
    pub version: u64,
}
request!(DeleteWarm => DeleteProvisionedConcurrencyConfig -> (), |r| Some(&r.function));
