//! AWS adapter: everything that talks to AWS goes through here, so that configuration
//! (region, endpoint, retries, timeouts), the call budget and error mapping live in one place.
//!
//! - `seam`: the one seam (`Call<R>` per request type), the table of operations, paging;
//! - `lambda`: the Lambda requests and their answers (the planner's snapshot types);
//! - `cloudwatch`: the CloudWatch requests a rollout watches with;
//! - `sqs`: the SQS requests of drift events (`--drift-events-queue`);
//! - `error`: [`AwsError`], what the engine acts on;
//! - `sdk`: the seam over `aws-sdk-lambda`; `fake` (tests only): the faithful fake;
//! - `budget`: the call budget, counts and the one retry layer, around the seam;
//! - `client`, `connections`: building SDK clients, one per (account, region, role).

pub mod budget;
pub mod client;
pub mod cloudwatch;
pub mod connections;
pub mod error;
/// The faithful in-memory fake, for tests only: compiled for the crate's unit tests and, through
/// the `test-util` feature, for the integration tests (Cargo.toml enables it for them); never in
/// a release build.
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod lambda;
pub mod sdk;
pub mod seam;
pub mod sqs;

pub use cloudwatch::{DescribeAlarms, ErrorQuery, GetMetricData};
pub use error::{AwsError, AwsResult};
pub use lambda::{
    AddPermission, CreateAlias, CreateMapping, DeleteAlias, DeleteMapping, DeleteVersion, DeleteWarm,
    GetFunction, GetPolicy, ListAliases, ListMappings, ListVersions, ListWarm, MappingFilter, PublishVersion,
    PutWarm, RemovePermission, UpdateAlias, UpdateMapping,
};
pub use seam::{AwsApi, Call, CloudWatchApi, LambdaApi, List, Operation, Page, Paged, Request, SqsApi};
pub use sqs::{DeleteMessage, GetQueueAttributes, QueueInfo, QueueMessage, ReceiveMessage};
