//! The suites that need a real Kubernetes API server, in one test binary (README, "Tests on a
//! real API server"). With `KUBECONFIG` unset each test says so and skips, unless `CI` is set,
//! where it fails. Every test takes fresh namespaces and starts its own controllers limited to
//! them, so the suites run in parallel on one API server and one moto.

/// The harness (tests/support): what this binary uses of it, and nothing more.
#[path = "../support"]
mod support {
    #[path = "harness.rs"]
    mod harness;
    pub use harness::*;
    pub mod cluster;
    pub mod objects;
    pub mod skill_world;
    pub mod smapi;
    pub mod validation_cases;
}

mod agreement;
mod alexa;
mod drift;
mod drift_events;
mod e2e;
mod install;
mod leader;
mod rbac;
mod rollout;
mod shard;
mod shutdown;
mod skill_endpoint;
mod tenancy;
mod tenancy_grants;
mod warm;
