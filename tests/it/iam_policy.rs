//! `deploy/iam-policy.json` grants exactly the AWS actions the controller calls, no more, no
//! less: every Lambda operation of the adapter (`Operation::ALL` through `iam_action()`) and
//! `sts:AssumeRole` (for `spec.roleArn`, see `sdk_config_for` in src/aws/client.rs). A new
//! operation without its grant, or a grant nothing calls any more, fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use lambda_alias_controller::aws::Operation;
use serde_json::Value;

/// What `sdk_config_for` needs besides Lambda: STS AssumeRole, when a set names a `roleArn`.
const ASSUME_ROLE: &str = "sts:AssumeRole";

/// The only actions AWS does not let a policy scope to a function, mapping or alarm ARN.
const UNSCOPED: [&str; 3] =
    ["lambda:ListEventSourceMappings", "lambda:CreateEventSourceMapping", "cloudwatch:GetMetricData"];
/// `spec.rollout`'s alarms: DescribeAlarms takes alarm ARNs.
const ALARM_SCOPED: [&str; 1] = ["cloudwatch:DescribeAlarms"];
/// `--drift-events-queue`: the queue `deploy/drift-events` creates, by its default name (users
/// name theirs).
const QUEUE_SCOPED: [&str; 3] = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"];
const DRIFT_EVENTS_QUEUE: &str = "arn:aws:sqs:*:*:lambda-alias-controller-drift-events";
/// Actions on one event source mapping, scoped to mapping ARNs (the request names only a UUID).
const MAPPING_SCOPED: [&str; 2] = ["lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"];

fn policy() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/iam-policy.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The statements (IAM accepts one object or an array of them).
fn statements(policy: &Value) -> Vec<&Value> {
    match &policy["Statement"] {
        Value::Array(statements) => statements.iter().collect(),
        statement @ Value::Object(_) => vec![statement],
        other => panic!("Statement must be an object or an array, not {other}"),
    }
}

/// A string-or-array-of-strings field (Action, Resource), empty when absent.
fn strings(statement: &Value, field: &str) -> Vec<String> {
    match &statement[field] {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_else(|| panic!("{field} entries must be strings: {v}")).to_owned())
            .collect(),
        other => panic!("{field} must be a string or an array of strings, not {other}"),
    }
}

/// Compile-time guard: a new `Operation` variant breaks this match. Add the variant to
/// `Operation::ALL` and its IAM action to deploy/iam-policy.json, then list it here.
fn known(op: Operation) -> Operation {
    match op {
        Operation::GetFunction
        | Operation::ListVersionsByFunction
        | Operation::ListAliases
        | Operation::GetPolicy
        | Operation::ListEventSourceMappings
        | Operation::PublishVersion
        | Operation::CreateAlias
        | Operation::UpdateAlias
        | Operation::DeleteAlias
        | Operation::AddPermission
        | Operation::RemovePermission
        | Operation::CreateEventSourceMapping
        | Operation::UpdateEventSourceMapping
        | Operation::DeleteEventSourceMapping
        | Operation::DeleteFunction
        | Operation::ListProvisionedConcurrencyConfigs
        | Operation::PutProvisionedConcurrencyConfig
        | Operation::DeleteProvisionedConcurrencyConfig
        | Operation::DescribeAlarms
        | Operation::GetMetricData
        | Operation::ReceiveMessage
        | Operation::DeleteMessage
        | Operation::GetQueueAttributes => op,
    }
}

/// Every action the controller may call (deduplicated: several operations may share one).
fn called() -> BTreeSet<String> {
    Operation::ALL.into_iter().map(|op| known(op).iam_action()).chain([ASSUME_ROLE.to_owned()]).collect()
}

/// Action -> the resources of the statement granting it.
fn grants(policy: &Value) -> BTreeMap<String, Vec<String>> {
    let mut grants = BTreeMap::new();
    for statement in statements(policy) {
        let resources = strings(statement, "Resource");
        for action in strings(statement, "Action") {
            let previous = grants.insert(action.clone(), resources.clone());
            assert!(previous.is_none(), "{action} is granted by two statements: grant each action once");
        }
    }
    grants
}

#[test]
fn grants_exactly_the_actions_the_controller_calls() {
    let granted: BTreeSet<String> = grants(&policy()).into_keys().collect();
    let called = called();
    let missing: Vec<_> = called.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "deploy/iam-policy.json must grant exactly what the controller calls:\n  \
         called but not granted (add): {missing:?}\n  granted but never called (remove): {unused:?}"
    );
}

#[test]
fn allows_named_actions_only() {
    let policy = policy();
    assert_eq!(policy["Version"], "2012-10-17", "the current policy language version");
    let mut sids = BTreeSet::new();
    for statement in statements(&policy) {
        let sid = statement["Sid"].as_str().unwrap_or_default();
        assert!(!sid.is_empty() && sid.chars().all(|c| c.is_ascii_alphanumeric()), "Sid {sid:?}");
        assert!(sids.insert(sid), "duplicate Sid {sid}");
        assert_eq!(statement["Effect"], "Allow", "{sid}: Effect must be Allow");
        for field in ["NotAction", "NotResource", "NotPrincipal", "Principal"] {
            assert!(statement.get(field).is_none(), "{sid}: {field} has no place in this policy");
        }
        let actions = strings(statement, "Action");
        assert!(!actions.is_empty(), "{sid}: no Action");
        for action in actions {
            assert!(!action.contains(['*', '?']), "{sid}: wildcard action {action}: name each action");
        }
        assert!(!strings(statement, "Resource").is_empty(), "{sid}: no Resource");
    }
}

#[test]
fn resources_are_as_narrow_as_aws_allows() {
    for (action, resources) in grants(&policy()) {
        let expected: &[&str] = if UNSCOPED.contains(&action.as_str()) {
            &["*"]
        } else if MAPPING_SCOPED.contains(&action.as_str()) {
            &["arn:aws:lambda:*:*:event-source-mapping:*"]
        } else if ALARM_SCOPED.contains(&action.as_str()) {
            &["arn:aws:cloudwatch:*:*:alarm:*"]
        } else if QUEUE_SCOPED.contains(&action.as_str()) {
            &[DRIFT_EVENTS_QUEUE]
        } else if action == ASSUME_ROLE {
            &["arn:aws:iam::*:role/*"]
        } else {
            // Functions, versions and aliases: unqualified and qualified function ARNs.
            &["arn:aws:lambda:*:*:function:*", "arn:aws:lambda:*:*:function:*:*"]
        };
        assert_eq!(resources, expected, "resources of {action}");
    }
}
