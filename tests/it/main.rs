//! The integration suites that need no Kubernetes API server, in one test binary (README,
//! "Tests"): the fake, moto, the CLI and the property suites. One moto server serves them all
//! (`support`); every test names its own functions and queues, so they run in parallel.

/// The harness (tests/support): what this binary uses of it, and nothing more.
#[path = "../support"]
mod support {
    #[path = "harness.rs"]
    mod harness;
    pub use harness::*;
    mod standalone;
    pub use standalone::*;
    pub mod objects;
    pub mod smapi;
    pub mod validation_cases;
}

mod api;
mod architecture;
mod aws_sdk;
mod aws_throttling;
mod cli_alexa;
mod cli_e2e;
mod cli_tenancy;
mod engine_faults;
mod iam_policy;
mod interlock;
mod moto_smoke;
mod properties;
mod properties_rollout;
mod properties_warm;
mod smapi;
mod warm;
