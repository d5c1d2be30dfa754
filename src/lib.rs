//! lambda-alias-controller: keeps AWS Lambda versions, aliases and triggers in the state a
//! `LambdaAliasSet` declares.
//!
//! The map is ARCHITECTURE.md. In one line each:
//! - [`api`]: the CRD types (spec, status, CEL rules, printer columns) and the validator; no I/O;
//! - [`plan`]: the pure planner, `(spec, snapshot, now) -> actions + report`, and its vocabulary;
//! - [`tenancy`]: the pure Namespace rules of `--tenancy strict`;
//! - [`aws`]: the one seam for AWS operations, the SDK and the fake behind it, the call budget;
//! - [`alexa`]: the Skill Management API / Login with Amazon adapter, filling the planner's
//!   skill observation;
//! - [`engine`]: observe -> plan -> execute against the seam, the drift check and the status,
//!   shared by the CLI and the controller;
//! - [`controller`]: the Kubernetes glue (watch, finalizer, status patch, Events, metrics, health);
//! - [`input`]: bounded reading of the files a person hands the binary (manifests, tenancy,
//!   credentials);
//! - [`cli`]: the verbs of the one binary (`crd`, `run`, `plan`, `apply`).

pub mod alexa;
pub mod api;
pub mod aws;
pub mod cli;
pub mod controller;
pub mod engine;
pub mod input;
pub mod plan;
pub mod tenancy;

/// Every message of an error chain, outermost first: `outer: inner: ...` (an HTTP client's own
/// message is often just "client error"; the cause says what happened).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
