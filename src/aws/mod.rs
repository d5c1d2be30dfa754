//! AWS adapter: everything that talks to AWS goes through here, so that configuration
//! (region, endpoint, retries, timeouts), the call budget and error mapping live in one place.

pub mod api;
pub mod budget;
pub mod client;
pub mod connections;
/// The faithful in-memory fake, for tests only: compiled for the crate's unit tests and, through
/// the `test-util` feature, for the integration tests (Cargo.toml enables it for them); never in
/// a release build.
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod sdk;

pub use api::{AwsError, AwsResult, LambdaApi, Operation};
