//! What `plan` and `apply` print: the plan as text or JSON, each status as YAML, the AWS calls.

use serde_json::json;

use super::args::Target;
use super::manifests::Manifest;
use super::verbs::is_error;
use crate::aws::budget::CallCounter;
use crate::plan::Plan;

pub(super) fn print_calls(target: &Target, calls: &CallCounter) {
    if target.aws_calls {
        let by_op = calls.by_operation();
        let parts: Vec<String> = by_op.iter().map(|(op, n)| format!("{op}={n}")).collect();
        eprintln!("aws calls: {} ({})", calls.total(), parts.join(" "));
    }
}

pub(super) fn print_plan_text(m: &Manifest, plan: &Plan) {
    println!("{} (function {}): {}", m.owner(), m.object.spec.function_name, plan.outcome.reason());
    if plan.actions.is_empty() {
        println!("  nothing to do: {}", plan.outcome.message());
    }
    for (i, action) in plan.actions.iter().enumerate() {
        println!("  {}. {action}", i + 1);
    }
    if is_error(&plan.outcome) {
        println!("  {}", plan.outcome.message());
    }
}

pub(super) fn plan_json(m: &Manifest, plan: Option<&Plan>, error: Option<String>) -> serde_json::Value {
    json!({
        "name": m.name(),
        "namespace": m.namespace(),
        "source": m.source,
        "function": m.object.spec.function_name,
        "actions": plan.map(|p| p.actions.iter().map(|a| json!({"action": a.verb(), "description": a.to_string()})).collect::<Vec<_>>()).unwrap_or_default(),
        "outcome": plan.map(|p| json!({"reason": p.outcome.reason().as_str(), "message": p.outcome.message()})),
        "error": error,
    })
}

/// `apply`'s output: each set's resulting status as a YAML document on stdout.
pub(super) fn print_status(m: &Manifest, status: &crate::api::LambdaAliasSetStatus) {
    let document = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": "LambdaAliasSet",
        "metadata": {"name": m.name(), "namespace": m.namespace()},
        "status": status,
    });
    match serde_yaml::to_string(&document) {
        Ok(yaml) => print!("---\n{yaml}"),
        Err(e) => eprintln!("error: cannot print the status of {}: {e}", m.owner()),
    }
}
