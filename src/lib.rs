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
