//! AWS adapter: everything that talks to AWS goes through here, so that configuration
//! (region, endpoint, retries, timeouts), the call budget and error mapping live in one place.

pub mod api;
pub mod budget;
pub mod client;
pub mod connections;
pub mod fake;
pub mod sdk;

pub use api::{AwsError, AwsResult, LambdaApi, Operation};
