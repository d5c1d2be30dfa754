//! lambda-alias-controller: keeps AWS Lambda versions, aliases and triggers in the state a
//! `LambdaAliasSet` declares.
//!
//! Layout: [`api`] (the CRD types, no I/O), [`plan`] (the pure planner), [`aws`] (the adapter),
//! [`controller`] (the Kubernetes glue) and [`cli`] (the verbs of the one binary).

pub mod alexa;
pub mod api;
pub mod aws;
pub mod cli;
pub mod controller;
pub mod engine;
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
