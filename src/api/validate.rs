//! Client-side validation against the CRD's own schema: OpenAPI structure (types, enums,
//! patterns, bounds, required and unknown fields, list-map keys) and the CEL rules, evaluated
//! with kube's client-side CEL engine. The API server enforces the same schema at admission;
//! running it here gives the CLI and objects created before a rule existed the same answer.

use std::{collections::BTreeSet, fmt, sync::LazyLock};

use kube::{
    CustomResourceExt,
    core::cel::{CompiledSchema, apply_defaults, compile_schema, validate_compiled},
};
use regex::Regex;
use serde_json::Value;

use super::LambdaAliasSet;

/// One violated rule, located by its JSON path (e.g. `spec.triggers[1].name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every rule an object violates (never empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InvalidObject {
    pub errors: Vec<FieldError>,
}

impl fmt::Display for InvalidObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl InvalidObject {
    /// Whether any error is located at `field` or below it.
    pub fn names(&self, field: &str) -> bool {
        self.errors.iter().any(|e| {
            e.field == field
                || e.field.starts_with(&format!("{field}."))
                || e.field.starts_with(&format!("{field}["))
        })
    }
}

struct Schema {
    openapi: Value,
    compiled: CompiledSchema,
}

// The CRD is generated from the Rust types once per process.
static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let crd = LambdaAliasSet::crd();
    let openapi = crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    let compiled = compile_schema(&openapi);
    Schema { openapi, compiled }
});

/// The openAPIV3Schema of the served version, as JSON.
pub fn openapi_schema() -> &'static Value {
    &SCHEMA.openapi
}

/// Validates a whole LambdaAliasSet object (as JSON) the way the API server would on create
/// (`old = None`) or update (`old = Some(previous object)`).
pub fn validate_object(object: &Value, old: Option<&Value>) -> Result<(), InvalidObject> {
    let schema = &*SCHEMA;
    let defaulted = apply_defaults(&schema.openapi, object);
    let mut errors = Vec::new();
    check_identity(&defaulted, &mut errors);
    check_node(&schema.openapi, &defaulted, "", &mut errors);
    // CEL rules assume a structurally valid object, as the API server's do.
    if errors.is_empty()
        && let Err(cel) = validate_compiled(&schema.compiled, &defaulted, old)
    {
        errors.extend(
            cel.iter().map(|e| FieldError { field: e.field_path.clone(), message: e.message.clone() }),
        );
    }
    if errors.is_empty() { Ok(()) } else { Err(InvalidObject { errors }) }
}

/// Validates and converts: the typed object with every schema default applied.
pub fn parse_object(object: &Value) -> Result<LambdaAliasSet, InvalidObject> {
    validate_object(object, None)?;
    let defaulted = apply_defaults(&SCHEMA.openapi, object);
    serde_json::from_value(defaulted).map_err(|e| InvalidObject {
        errors: vec![FieldError { field: String::new(), message: format!("cannot read the object: {e}") }],
    })
}

fn check_identity(object: &Value, errors: &mut Vec<FieldError>) {
    let expected_api = "lambda.aliasset.dev/v1alpha1";
    if object.get("apiVersion").and_then(Value::as_str) != Some(expected_api) {
        errors.push(FieldError { field: "apiVersion".into(), message: format!("must be {expected_api}") });
    }
    if object.get("kind").and_then(Value::as_str) != Some("LambdaAliasSet") {
        errors.push(FieldError { field: "kind".into(), message: "must be LambdaAliasSet".into() });
    }
    match object.pointer("/metadata/name").and_then(Value::as_str) {
        Some(name) if is_dns_subdomain(name) => {}
        Some(_) => errors.push(FieldError {
            field: "metadata.name".into(),
            message: "must be a DNS subdomain: lower case alphanumerics, '-' or '.', at most 253 characters"
                .into(),
        }),
        None => errors.push(FieldError { field: "metadata.name".into(), message: "is required".into() }),
    }
    if object.get("spec").is_none() {
        errors.push(FieldError { field: "spec".into(), message: "is required".into() });
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    static RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").ok()
    });
    name.len() <= 253 && RE.as_ref().is_some_and(|re| re.is_match(name))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 { format!("{}...", s.chars().take(80).collect::<String>()) } else { s }
}

/// The structural part of OpenAPI validation, for the subset of the schema this CRD uses.
fn check_node(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let mut push = |message: String| errors.push(FieldError { field: path.to_string(), message });
    if value.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true) && schema.get("type").is_some() {
            push("must not be null".into());
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = actual == expected || (expected == "number" && actual == "integer");
        if !ok {
            push(format!("must be of type {expected}, got {actual} {}", short(value)));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(short).collect();
        push(format!("unsupported value {}: must be one of {}", short(value), list.join(", ")));
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                push(format!("must be at most {max} characters long, got {len}"));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                push(format!("must be at least {min} characters long"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                match Regex::new(pattern) {
                    Ok(re) if re.is_match(s) => {}
                    Ok(_) => push(format!("invalid value {}: must match '{pattern}'", short(value))),
                    Err(e) => push(format!("schema pattern '{pattern}' does not compile: {e}")),
                }
            }
        }
        Value::Number(n) => {
            if let (Some(min), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), n.as_f64())
                && x < min
            {
                push(format!("must be greater than or equal to {min}, got {n}"));
            }
            if let (Some(max), Some(x)) = (schema.get("maximum").and_then(Value::as_f64), n.as_f64())
                && x > max
            {
                push(format!("must be less than or equal to {max}, got {n}"));
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && len > max
            {
                push(format!("must have at most {max} items, got {len}"));
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && len < min
            {
                push(format!("must have at least {min} items, got {len}"));
            }
            if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
                let keys: Vec<&str> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut seen = BTreeSet::new();
                for item in items {
                    let key: Vec<String> =
                        keys.iter().map(|k| short(item.get(*k).unwrap_or(&Value::Null))).collect();
                    if !seen.insert(key.clone()) {
                        push(format!(
                            "duplicate entry with {} = {}: each must be unique",
                            keys.join(","),
                            key.join(",")
                        ));
                    }
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_node(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for key in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(key) {
                        errors.push(FieldError { field: join(path, key), message: "is required".into() });
                    }
                }
            }
            let preserves =
                schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
            for (key, child) in map {
                // The API server checks apiVersion, kind and metadata itself (see check_identity).
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let child_path = join(path, key);
                match properties.and_then(|p| p.get(key)) {
                    Some(child_schema) => check_node(child_schema, child, &child_path, errors),
                    None => {
                        if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                            check_node(extra, child, &child_path, errors);
                        } else if properties.is_some() && !preserves {
                            errors.push(FieldError {
                                field: child_path,
                                message: "unknown field: check the spelling against `kubectl explain lambdaaliasset`".into(),
                            });
                        }
                    }
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}
