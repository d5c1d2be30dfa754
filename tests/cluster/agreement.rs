//! Client/server agreement: every case of the validation table (tests/support/validation_cases.rs,
//! which tests/it/api.rs holds the controller's validator to), with one or more invalid objects for
//! each OpenAPI constraint, CEL rule and transition rule of the CRD, goes through both
//! `api::validate::validate_object` and a real API server (dry-run create, or a real create of
//! the old object and a dry-run replace), which must give the same verdict and the same field
//! paths. A disagreement is a bug in one of them: fix it, never drop the case.
//!
//! Needs `KUBECONFIG` (`eval "$(../shared/kube/up --env)"`); without it, it says it skipped.
//! A second test, without a cluster, checks that the invalid cases between them violate every
//! pattern, enum, bound, length, item count, required field, list-map key and CEL rule of the
//! schema, so a constraint added to src/api/spec.rs without a case in the table fails.
//!
//! How the two answers are compared:
//! - The server's paths are `details.causes[].field` of its `422 Invalid` Status. A `400
//!   BadRequest` for strict field validation (kubectl's default, `fieldValidation=Strict`)
//!   carries no causes: its paths are the `unknown field "..."` names in the message.
//! - The server writes the path of an error about no particular field (CEL rules skipped
//!   after a blocking error, an int32 format error) as `<nil>`; the client writes it as the
//!   empty path. That is the only normalisation.
//! - Paths are compared as sets: the server may report one path twice (a type error and an
//!   enum error on one field), and the messages are worded differently on each side.
//! - A few identity cases compare the verdict only; each says why.

use crate::support;

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::time::Instant;

use kube::Client;
use lambda_alias_controller::api::validate::validate_object;
use serde_json::{Value, json};
use support::objects::valid;
use support::validation_cases::{Case, cases, ok};

const RESOURCES: &str = "/apis/lambda.aliasset.dev/v1alpha1/namespaces";

// --- the two verdicts -------------------------------------------------------------------------

/// Accepted, or rejected with these field paths (`""` for an error about no field).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Rejected(BTreeSet<String>),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accepted => f.write_str("accepted"),
            Verdict::Rejected(paths) => write!(f, "rejected at {paths:?}"),
        }
    }
}

fn client_verdict(case: &Case) -> (Verdict, String) {
    match validate_object(&case.object, case.old.as_ref()) {
        Ok(()) => (Verdict::Accepted, String::new()),
        Err(invalid) => {
            (Verdict::Rejected(invalid.errors.iter().map(|e| e.field.clone()).collect()), invalid.to_string())
        }
    }
}

/// The server's paths: the causes of a `422 Invalid`, else the fields a strict decoding error
/// names. `<nil>` (an error about no field) becomes `""`, as the client writes it.
fn server_paths(status: &kube::core::Status) -> BTreeSet<String> {
    let causes = status.details.as_ref().map(|d| d.causes.as_slice()).unwrap_or_default();
    if !causes.is_empty() {
        return causes
            .iter()
            .map(|c| if c.field == "<nil>" { String::new() } else { c.field.clone() })
            .collect();
    }
    status
        .message
        .split("unknown field \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(String::from)
        .collect()
}

fn json_request(method: &str, uri: &str, body: &Value) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(body).expect("JSON body"))
        .expect("request")
}

async fn send(client: &Client, request: http::Request<Vec<u8>>) -> (Verdict, String) {
    match client.request::<Value>(request).await {
        Ok(_) => (Verdict::Accepted, String::new()),
        Err(kube::Error::Api(status)) => {
            let text = format!("{} {}: {}", status.code, status.reason, status.message);
            (Verdict::Rejected(server_paths(&status)), text)
        }
        Err(e) => panic!("the API server did not answer: {e}"),
    }
}

/// The object as sent to the server: in the test's namespace, and for an update under the old
/// object's name and resourceVersion.
fn placed(object: &Value, namespace: &str, name: Option<&str>, resource_version: Option<&str>) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), json!(namespace));
        if let Some(name) = name {
            meta.insert("name".into(), json!(name));
        }
        if let Some(rv) = resource_version {
            meta.insert("resourceVersion".into(), json!(rv));
        }
    }
    object
}

async fn server_verdict(client: &Client, namespace: &str, case: &Case, index: usize) -> (Verdict, String) {
    let collection = format!("{RESOURCES}/{namespace}/lambdaaliassets");
    let strict_dry_run = "dryRun=All&fieldValidation=Strict";
    let Some(old) = &case.old else {
        let body = placed(&case.object, namespace, None, None);
        return send(client, json_request("POST", &format!("{collection}?{strict_dry_run}"), &body)).await;
    };
    let name = format!("update-{index}");
    let created: Value = client
        .request(json_request(
            "POST",
            &format!("{collection}?fieldValidation=Strict"),
            &placed(old, namespace, Some(&name), None),
        ))
        .await
        .unwrap_or_else(|e| panic!("{}: create the old object: {e}", case.name));
    let resource_version = created.pointer("/metadata/resourceVersion").and_then(Value::as_str);
    let body = placed(&case.object, namespace, Some(&name), resource_version);
    let verdict =
        send(client, json_request("PUT", &format!("{collection}/{name}?{strict_dry_run}"), &body)).await;
    let delete = http::Request::delete(format!("{collection}/{name}")).body(Vec::new()).expect("request");
    client.request_text(delete).await.unwrap_or_else(|e| panic!("{}: delete the old object: {e}", case.name));
    verdict
}

#[tokio::test]
async fn client_and_api_server_agree_on_every_case() {
    let Some(client) = support::cluster::cluster("k8s_agreement").await else { return };
    support::cluster::apply_crd(&client).await;
    let namespace = support::cluster::create_namespace(&client, "lac-agree").await;
    // Established is not yet served everywhere: wait until the valid object is accepted.
    let probe = ok("probe", valid());
    support::cluster::eventually("the API server serves LambdaAliasSets", || async {
        match server_verdict(&client, &namespace, &probe, 0).await {
            (Verdict::Accepted, _) => Ok(()),
            (verdict, text) => Err(format!("{verdict}: {text}")),
        }
    })
    .await;

    let cases = cases();
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let invalid = cases.iter().filter(|c| c.expect.is_some()).count();
    let updates = cases.iter().filter(|c| c.old.is_some()).count();
    assert!(invalid >= 60, "at least 60 invalid objects, got {invalid}");

    let started = Instant::now();
    let mut disagreements = Vec::new();
    let mut wrong_expectations = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let (server, server_text) = server_verdict(&client, &namespace, case, index).await;
        let (client_side, client_text) = client_verdict(case);
        let same = match (&server, &client_side) {
            (Verdict::Rejected(_), Verdict::Rejected(_)) if case.verdict_only.is_some() => true,
            (s, c) => s == c,
        };
        if !same {
            disagreements.push(format!(
                "{}:\n    server {server}: {server_text}\n    client {client_side}: {client_text}",
                case.name
            ));
        }
        let as_expected = match (case.expect, &server) {
            (None, Verdict::Accepted) => true,
            (Some(_), Verdict::Rejected(_)) if case.verdict_only.is_some() => true,
            (Some(field), Verdict::Rejected(paths)) => paths.contains(field),
            _ => false,
        };
        if !as_expected {
            wrong_expectations.push(format!(
                "{}: expected {}, server {server}: {server_text}",
                case.name,
                case.expect.map_or("acceptance".to_string(), |f| format!("an error at {f}"))
            ));
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "client/server agreement: {} cases, {} disagreements ({} invalid, {} valid, {} updates; {:.1} s)",
        cases.len(),
        disagreements.len(),
        invalid,
        cases.len() - invalid,
        updates,
        started.elapsed().as_secs_f64()
    );
    assert!(disagreements.is_empty(), "client and API server disagree:\n{}", disagreements.join("\n"));
    assert!(
        wrong_expectations.is_empty(),
        "cases that do not test what they say:\n{}",
        wrong_expectations.join("\n")
    );
}

// --- coverage: the table violates every constraint and rule of the schema ----------------------

/// Every constraint of the schema outside `status`, as (path with `[]` for list items, kind),
/// and every CEL rule as ("rule", its message).
fn schema_constraints(schema: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    for kind in ["pattern", "enum", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"] {
        if schema.get(kind).is_some() {
            out.insert((path.to_string(), kind.to_string()));
        }
    }
    for key in
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    {
        out.insert((join(key), "required".to_string()));
    }
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
        out.insert((path.to_string(), "duplicate".to_string()));
    }
    for rule in schema.get("x-kubernetes-validations").and_then(Value::as_array).into_iter().flatten() {
        out.insert(("rule".to_string(), rule["message"].as_str().unwrap_or_default().to_string()));
    }
    for (key, child) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
        if !(path.is_empty() && key == "status") {
            schema_constraints(child, &join(key), out);
        }
    }
    if let Some(items) = schema.get("items") {
        schema_constraints(items, &format!("{path}[]"), out);
    }
}

/// The constraint a client error reports, in the terms of [`schema_constraints`].
fn constraint_of(field: &str, message: &str, rules: &BTreeSet<String>) -> Option<(String, String)> {
    if rules.contains(message) {
        return Some(("rule".to_string(), message.to_string()));
    }
    let mut path = String::new();
    let mut in_index = false;
    for c in field.chars() {
        match c {
            '[' => {
                in_index = true;
                path.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => path.push(c),
        }
    }
    let kind = [
        ("must match", "pattern"),
        ("unsupported value", "enum"),
        ("must be greater than or equal", "minimum"),
        ("must be less than or equal", "maximum"),
        ("characters long, got", "maxLength"),
        ("must be at least", "minLength"),
        ("must have at most", "maxItems"),
        ("must have at least", "minItems"),
        ("is required", "required"),
        ("duplicate entry", "duplicate"),
    ]
    .into_iter()
    .find(|(words, _)| message.contains(words))?
    .1;
    if kind == "duplicate" {
        path.truncate(path.len().saturating_sub(2));
    }
    Some((path, kind.to_string()))
}

#[test]
fn the_cases_violate_every_constraint_and_rule_of_the_schema() {
    let schema = lambda_alias_controller::api::validate::openapi_schema();
    let mut wanted = BTreeSet::new();
    schema_constraints(schema, "", &mut wanted);
    let rules: BTreeSet<String> =
        wanted.iter().filter(|(kind, _)| kind == "rule").map(|(_, message)| message.clone()).collect();
    assert!(wanted.len() > 80 && rules.len() >= 14, "walked the schema: {wanted:?}");

    let mut covered = BTreeSet::new();
    let mut unknown_fields = 0;
    for case in cases().iter().filter(|c| c.expect.is_some()) {
        if let Err(invalid) = validate_object(&case.object, case.old.as_ref()) {
            for e in &invalid.errors {
                unknown_fields += usize::from(e.message.starts_with("unknown field"));
                covered.extend(constraint_of(&e.field, &e.message, &rules));
            }
        }
    }
    let missing: Vec<_> = wanted.difference(&covered).collect();
    assert!(missing.is_empty(), "no case violates {missing:#?}");
    assert!(unknown_fields >= 5, "unknown fields at several levels");
}
