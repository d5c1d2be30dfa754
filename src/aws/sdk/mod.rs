//! The seam ([`Call`]) over `aws-sdk-lambda`: one request each, built from the request type,
//! answered in the planner's types. Timeouts and credentials come from the client's
//! configuration ([`super::client`]), where the SDK's retries are off: nothing here retries, and
//! each call (each page of a listing) is one HTTP request, which [`super::budget::Metered`]
//! budgets, counts and retries.
//!
//! - `convert`: the SDK's output types into the planner's;
//! - `policy`: GetPolicy's JSON into statements;
//! - `errors`: the one translation of SDK errors into [`AwsError`].

mod cloudwatch;
#[macro_use]
mod convert;
mod errors;
pub(crate) mod policy;
mod sqs;

use std::collections::HashMap;

use aws_sdk_lambda::types::{AliasRoutingConfiguration, EventSourcePosition};

use convert::{
    AliasView, MappingView, alias_info, batch_size, malformed, mapping_info, parse_last_modified,
    precondition, required, version_info,
};
pub use errors::{map_cloudwatch_error, map_error};
pub use policy::parse_policy;
pub use sqs::SdkSqs;

use super::lambda::{
    AddPermission, CreateAlias, CreateMapping, DeleteAlias, DeleteMapping, DeleteVersion, DeleteWarm,
    GetFunction, GetPolicy, ListAliases, ListMappings, ListVersions, ListWarm, MappingFilter, PublishVersion,
    PutWarm, RemovePermission, UpdateAlias, UpdateMapping,
};
use super::seam::{Call, Page, Request};
use super::{AwsError, AwsResult};
use crate::plan::{AliasInfo, FunctionInfo, MappingInfo, PolicyInfo, VersionInfo, WarmConfig, WarmStatus};

/// The Lambda control plane, and the CloudWatch reads of `spec.rollout`, through the AWS SDK:
/// two clients of one configuration (credentials, region, endpoint).
#[derive(Clone, Debug)]
pub struct SdkLambda {
    client: aws_sdk_lambda::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

impl SdkLambda {
    pub fn new(client: aws_sdk_lambda::Client, cloudwatch: aws_sdk_cloudwatch::Client) -> Self {
        Self { client, cloudwatch }
    }

    /// Both clients from one loaded configuration ([`super::client::sdk_config_for`]).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(super::client::lambda_client(config), super::client::cloudwatch_client(config))
    }
}

impl Call<GetFunction> for SdkLambda {
    async fn call(&self, r: &GetFunction) -> AwsResult<FunctionInfo> {
        const OP: super::Operation = GetFunction::OPERATION;
        let out = self
            .client
            .get_function()
            .function_name(&r.function)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        let config = out.configuration().ok_or_else(|| malformed(OP, "Configuration"))?;
        Ok(FunctionInfo {
            function_arn: required(OP, "FunctionArn", config.function_arn())?,
            code_sha256: required(OP, "CodeSha256", config.code_sha256())?,
            // moto omits RevisionId on functions; "" reads as "no precondition available".
            revision_id: config.revision_id().unwrap_or_default().to_owned(),
            last_modified: config.last_modified().and_then(parse_last_modified),
        })
    }
}

impl Call<ListVersions> for SdkLambda {
    async fn call(&self, r: &ListVersions) -> AwsResult<Page<VersionInfo>> {
        let out = self
            .client
            .list_versions_by_function()
            .function_name(&r.function)
            .set_marker(r.marker.clone())
            .send()
            .await
            .map_err(|e| map_error(ListVersions::OPERATION, e))?;
        Ok(Page {
            items: out.versions().iter().filter_map(version_info).collect(),
            next_marker: out.next_marker().map(str::to_owned),
        })
    }
}

impl Call<ListAliases> for SdkLambda {
    async fn call(&self, r: &ListAliases) -> AwsResult<Page<AliasInfo>> {
        const OP: super::Operation = ListAliases::OPERATION;
        let out = self
            .client
            .list_aliases()
            .function_name(&r.function)
            .set_marker(r.marker.clone())
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        Ok(Page {
            items: out
                .aliases()
                .iter()
                .map(|alias| alias_info(OP, AliasView::from(alias)))
                .collect::<AwsResult<_>>()?,
            next_marker: out.next_marker().map(str::to_owned),
        })
    }
}

impl Call<GetPolicy> for SdkLambda {
    async fn call(&self, r: &GetPolicy) -> AwsResult<Option<PolicyInfo>> {
        const OP: super::Operation = GetPolicy::OPERATION;
        let out =
            match self.client.get_policy().function_name(&r.function).qualifier(&r.qualifier).send().await {
                Ok(out) => out,
                Err(e) => {
                    return match map_error(OP, e) {
                        // No policy on this qualifier (or no such qualifier): nothing is granted.
                        AwsError::NotFound { .. } => Ok(None),
                        other => Err(other),
                    };
                }
            };
        let statements = match out.policy() {
            Some(text) => parse_policy(text).map_err(|e| AwsError::Unavailable {
                operation: OP,
                message: format!("the policy returned is not valid JSON: {e}"),
            })?,
            None => Vec::new(),
        };
        Ok(Some(PolicyInfo { revision_id: out.revision_id().unwrap_or_default().to_owned(), statements }))
    }
}

impl Call<ListMappings> for SdkLambda {
    async fn call(&self, r: &ListMappings) -> AwsResult<Page<MappingInfo>> {
        const OP: super::Operation = ListMappings::OPERATION;
        let list = self.client.list_event_source_mappings().set_marker(r.marker.clone());
        let list = match &r.filter {
            MappingFilter::Function(qualified_arn) => list.function_name(qualified_arn),
            MappingFilter::EventSource(event_source_arn) => list.event_source_arn(event_source_arn),
        };
        let out = list.send().await.map_err(|e| map_error(OP, e))?;
        Ok(Page {
            items: out
                .event_source_mappings()
                .iter()
                .map(|mapping| mapping_info(OP, MappingView::from(mapping)))
                .collect::<AwsResult<_>>()?,
            next_marker: out.next_marker().map(str::to_owned),
        })
    }
}

impl Call<PublishVersion> for SdkLambda {
    async fn call(&self, r: &PublishVersion) -> AwsResult<VersionInfo> {
        const OP: super::Operation = PublishVersion::OPERATION;
        let out = self
            .client
            .publish_version()
            .function_name(&r.function)
            .code_sha256(&r.code_sha256)
            .set_revision_id(precondition(r.revision_id.as_deref()))
            .set_description(r.description.clone())
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        let version = required(OP, "Version", out.version())?;
        Ok(VersionInfo {
            version: version.parse().map_err(|_| AwsError::Unavailable {
                operation: OP,
                message: format!("PublishVersion returned a non-numeric version {version:?}"),
            })?,
            code_sha256: required(OP, "CodeSha256", out.code_sha256())?,
            description: out.description().unwrap_or_default().to_owned(),
        })
    }
}

impl Call<CreateAlias> for SdkLambda {
    async fn call(&self, r: &CreateAlias) -> AwsResult<AliasInfo> {
        const OP: super::Operation = CreateAlias::OPERATION;
        let out = self
            .client
            .create_alias()
            .function_name(&r.function)
            .name(&r.name)
            .function_version(&r.version)
            .description(&r.description)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        alias_info(OP, view!(AliasView, out))
    }
}

impl Call<UpdateAlias> for SdkLambda {
    async fn call(&self, r: &UpdateAlias) -> AwsResult<AliasInfo> {
        const OP: super::Operation = UpdateAlias::OPERATION;
        // An explicitly empty weight map clears any weighted routing; omitting RoutingConfig would
        // keep whatever split someone configured.
        let weights: HashMap<String, f64> = r.routing.iter().cloned().collect();
        let routing =
            AliasRoutingConfiguration::builder().set_additional_version_weights(Some(weights)).build();
        let out = self
            .client
            .update_alias()
            .function_name(&r.function)
            .name(&r.name)
            .function_version(&r.version)
            .description(&r.description)
            .routing_config(routing)
            .set_revision_id(precondition(r.revision_id.as_deref()))
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        alias_info(OP, view!(AliasView, out))
    }
}

impl Call<DeleteAlias> for SdkLambda {
    async fn call(&self, r: &DeleteAlias) -> AwsResult<()> {
        self.client
            .delete_alias()
            .function_name(&r.function)
            .name(&r.name)
            .send()
            .await
            .map_err(|e| map_error(DeleteAlias::OPERATION, e))?;
        Ok(())
    }
}

impl Call<AddPermission> for SdkLambda {
    async fn call(&self, r: &AddPermission) -> AwsResult<()> {
        let statement = &r.statement;
        self.client
            .add_permission()
            .function_name(&r.function)
            .qualifier(&r.qualifier)
            .statement_id(&statement.sid)
            .action(&statement.action)
            .principal(&statement.principal)
            .set_source_arn(statement.source_arn.clone())
            .set_source_account(statement.source_account.clone())
            .set_event_source_token(statement.event_source_token.clone())
            .set_revision_id(precondition(r.revision_id.as_deref()))
            .send()
            .await
            .map_err(|e| map_error(AddPermission::OPERATION, e))?;
        Ok(())
    }
}

impl Call<RemovePermission> for SdkLambda {
    async fn call(&self, r: &RemovePermission) -> AwsResult<()> {
        // Deliberately no RevisionId: moto answers 412 to any RemovePermission that carries one.
        self.client
            .remove_permission()
            .function_name(&r.function)
            .qualifier(&r.qualifier)
            .statement_id(&r.sid)
            .send()
            .await
            .map_err(|e| map_error(RemovePermission::OPERATION, e))?;
        Ok(())
    }
}

impl Call<CreateMapping> for SdkLambda {
    async fn call(&self, r: &CreateMapping) -> AwsResult<MappingInfo> {
        const OP: super::Operation = CreateMapping::OPERATION;
        let starting_position = match r.starting_position.as_deref() {
            None => None,
            Some("TRIM_HORIZON") => Some(EventSourcePosition::TrimHorizon),
            Some("LATEST") => Some(EventSourcePosition::Latest),
            // AT_TIMESTAMP needs a timestamp the request cannot carry.
            Some(other) => {
                return Err(AwsError::Invalid {
                    operation: OP,
                    message: format!("unsupported starting position {other:?} (TRIM_HORIZON or LATEST)"),
                });
            }
        };
        let out = self
            .client
            .create_event_source_mapping()
            .function_name(&r.function_arn)
            .event_source_arn(&r.event_source_arn)
            .set_batch_size(batch_size(OP, r.batch_size)?)
            .enabled(r.enabled)
            .set_starting_position(starting_position)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        mapping_info(OP, view!(MappingView, out))
    }
}

impl Call<UpdateMapping> for SdkLambda {
    async fn call(&self, r: &UpdateMapping) -> AwsResult<MappingInfo> {
        const OP: super::Operation = UpdateMapping::OPERATION;
        let out = self
            .client
            .update_event_source_mapping()
            .uuid(&r.uuid)
            .set_function_name(r.function_arn.clone())
            .set_batch_size(batch_size(OP, r.batch_size)?)
            .set_enabled(r.enabled)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        mapping_info(OP, view!(MappingView, out))
    }
}

impl Call<DeleteMapping> for SdkLambda {
    async fn call(&self, r: &DeleteMapping) -> AwsResult<()> {
        self.client
            .delete_event_source_mapping()
            .uuid(&r.uuid)
            .send()
            .await
            .map_err(|e| map_error(DeleteMapping::OPERATION, e))?;
        Ok(())
    }
}

impl Call<DeleteVersion> for SdkLambda {
    async fn call(&self, r: &DeleteVersion) -> AwsResult<()> {
        self.client
            .delete_function()
            .function_name(&r.function)
            .qualifier(r.version.to_string())
            .send()
            .await
            .map_err(|e| map_error(DeleteVersion::OPERATION, e))?;
        Ok(())
    }
}

impl Call<ListWarm> for SdkLambda {
    async fn call(&self, r: &ListWarm) -> AwsResult<Page<WarmConfig>> {
        const OP: super::Operation = ListWarm::OPERATION;
        let out = self
            .client
            .list_provisioned_concurrency_configs()
            .function_name(&r.function)
            .set_marker(r.marker.clone())
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        let items = out
            .provisioned_concurrency_configs()
            .iter()
            .map(|c| {
                // The config's qualifier is the last part of its qualified function ARN.
                let arn = required(OP, "FunctionArn", c.function_arn())?;
                let qualifier = arn.rsplit_once(':').map(|(_, q)| q.to_owned()).unwrap_or_default();
                Ok(WarmConfig {
                    qualifier,
                    requested: count(c.requested_provisioned_concurrent_executions()),
                    allocated: count(c.allocated_provisioned_concurrent_executions()),
                    available: count(c.available_provisioned_concurrent_executions()),
                    status: WarmStatus::parse(c.status().map(|s| s.as_str()).unwrap_or_default()),
                    reason: c.status_reason().map(str::to_owned),
                })
            })
            .collect::<AwsResult<_>>()?;
        Ok(Page { items, next_marker: out.next_marker().map(str::to_owned) })
    }
}

impl Call<PutWarm> for SdkLambda {
    async fn call(&self, r: &PutWarm) -> AwsResult<WarmConfig> {
        const OP: super::Operation = PutWarm::OPERATION;
        let executions = i32::try_from(r.count).map_err(|_| AwsError::Invalid {
            operation: OP,
            message: format!("provisioned concurrency {} is out of range", r.count),
        })?;
        let out = self
            .client
            .put_provisioned_concurrency_config()
            .function_name(&r.function)
            .qualifier(r.version.to_string())
            .provisioned_concurrent_executions(executions)
            .send()
            .await
            .map_err(|e| map_error(OP, e))?;
        Ok(WarmConfig {
            qualifier: r.version.to_string(),
            requested: count(out.requested_provisioned_concurrent_executions()),
            allocated: count(out.allocated_provisioned_concurrent_executions()),
            available: count(out.available_provisioned_concurrent_executions()),
            status: WarmStatus::parse(out.status().map(|s| s.as_str()).unwrap_or_default()),
            reason: out.status_reason().map(str::to_owned),
        })
    }
}

impl Call<DeleteWarm> for SdkLambda {
    async fn call(&self, r: &DeleteWarm) -> AwsResult<()> {
        self.client
            .delete_provisioned_concurrency_config()
            .function_name(&r.function)
            .qualifier(r.version.to_string())
            .send()
            .await
            .map_err(|e| map_error(DeleteWarm::OPERATION, e))?;
        Ok(())
    }
}

/// A count Lambda reports (absent or negative reads as 0).
fn count(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}
