//! Client-side validation against the CRD's own schema, giving the API server's answer: the same
//! steps in the same order, so the CLI and objects created before a rule existed get the same
//! verdict and the same field paths as `kubectl apply` (tests/cluster/agreement.rs holds both sides
//! to that on a real API server).
//!
//! 1. Decoding: `apiVersion` and `kind` must name this resource, and (as with kubectl's
//!    `fieldValidation=Strict`) no field may be unknown to the schema, `metadata` and `status`
//!    included. The server stops there, so these errors come alone.
//! 2. Preparing: `status` is dropped (the status subresource ignores it on create and update),
//!    `null` in a non-nullable field is pruned, schema defaults are applied, and whole numbers
//!    written as floats (`10.0`) become integers, as the server stores them.
//! 3. OpenAPI validation (types, enums, bounds, patterns with Go's RE2 semantics, required
//!    fields, list-map keys) and `metadata.name`.
//! 4. The CEL rules (kube's client-side CEL engine) — unless step 3 found a wrong type, an
//!    unsupported enum value, a missing required field, a too long string or a too long list:
//!    then, like the server, they are skipped with an error saying so.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    sync::{LazyLock, Mutex},
};

use kube::core::cel::{CompiledSchema, ErrorKind, ValidationError, compile_schema, validate_compiled};
use regex::Regex;
use serde_json::{Map, Value};

use super::LambdaAliasSet;

/// One violated rule, located by its JSON path (e.g. `spec.triggers[1].name`). An empty path
/// is the object as a whole (the API server writes it `<nil>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
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

/// What the API server adds when it skips the CEL rules after a blocking error.
pub const RULES_NOT_CHECKED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

use super::API_VERSION;
const KIND: &str = "LambdaAliasSet";

/// The fields of `metadata` (ObjectMeta) the API server decodes; any other is unknown.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

struct Schema {
    openapi: Value,
    compiled: CompiledSchema,
    /// The `fieldPath` of each CEL rule that has one, by rule text.
    rule_field_paths: HashMap<String, String>,
}

// The CRD is generated from the Rust types once per process.
static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let crd = super::crd();
    let openapi = crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    let compiled = compile_schema(&openapi);
    let mut rule_field_paths = HashMap::new();
    collect_rule_field_paths(&openapi, &mut rule_field_paths);
    Schema { openapi, compiled, rule_field_paths }
});

fn collect_rule_field_paths(schema: &Value, out: &mut HashMap<String, String>) {
    for rule in schema.get("x-kubernetes-validations").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(text), Some(field_path)) =
            (rule.get("rule").and_then(Value::as_str), rule.get("fieldPath").and_then(Value::as_str))
        {
            out.insert(text.to_string(), field_path.to_string());
        }
    }
    for child in schema.get("properties").and_then(Value::as_object).into_iter().flat_map(Map::values) {
        collect_rule_field_paths(child, out);
    }
    if let Some(items) = schema.get("items") {
        collect_rule_field_paths(items, out);
    }
}

/// Where the API server reports a CEL error: a rule that evaluates to false at its `fieldPath`,
/// a rule that fails to evaluate (say, `matches()` on a pattern built from an invalid value) at
/// the node that carries the rule.
fn cel_error_path(error: &ValidationError) -> String {
    let field_path = SCHEMA
        .rule_field_paths
        .get(&error.rule)
        .filter(|_| !matches!(error.kind, ErrorKind::ValidationFailure));
    let Some(field_path) = field_path else { return error.field_path.clone() };
    let suffix = if field_path.starts_with('.') { field_path.clone() } else { format!(".{field_path}") };
    match error.field_path.strip_suffix(&suffix) {
        Some(node) => node.to_string(),
        None => error.field_path.strip_suffix(field_path.as_str()).unwrap_or(&error.field_path).to_string(),
    }
}

/// The openAPIV3Schema of the served version, as JSON.
pub fn openapi_schema() -> &'static Value {
    &SCHEMA.openapi
}

/// Validates a whole LambdaAliasSet object (as JSON) the way the API server would on create
/// (`old = None`) or update (`old = Some(previous object)`).
pub fn validate_object(object: &Value, old: Option<&Value>) -> Result<(), InvalidObject> {
    let schema = &*SCHEMA;
    let mut errors = Vec::new();
    check_type_meta(object, &mut errors);
    if errors.is_empty() {
        check_unknown_fields(&schema.openapi, object, "", &mut errors);
    }
    if !errors.is_empty() {
        return Err(InvalidObject { errors });
    }

    let prepared = prepare(object);
    let mut report = Report::default();
    check_metadata(&prepared, &mut report);
    check_node(&schema.openapi, &prepared, "", &mut report);
    if report.blocking {
        report.errors.push(FieldError { field: String::new(), message: RULES_NOT_CHECKED.into() });
    } else {
        // CEL sees a nullable field set to null as absent (`has()` is false), as on the server.
        let new = without_nulls(&prepared);
        let old = old.map(|o| without_nulls(&prepare(o)));
        if let Err(cel) = validate_compiled(&schema.compiled, &new, old.as_ref()) {
            report.errors.extend(
                cel.iter().map(|e| FieldError { field: cel_error_path(e), message: e.message.clone() }),
            );
        }
    }
    if report.errors.is_empty() { Ok(()) } else { Err(InvalidObject { errors: report.errors }) }
}

/// Validates and converts: the typed object with every schema default applied (and without
/// `status`, which the API server ignores on create and update).
pub fn parse_object(object: &Value) -> Result<LambdaAliasSet, InvalidObject> {
    validate_object(object, None)?;
    serde_json::from_value(prepare(object)).map_err(|e| InvalidObject {
        errors: vec![FieldError { field: String::new(), message: format!("cannot read the object: {e}") }],
    })
}

#[derive(Default)]
struct Report {
    errors: Vec<FieldError>,
    /// A wrong type, an unsupported value, a missing required field, a too long string or a
    /// too long list: the API server then skips the CEL rules.
    blocking: bool,
}

impl Report {
    fn invalid(&mut self, field: &str, message: String) {
        self.errors.push(FieldError { field: field.to_string(), message });
    }

    fn blocking(&mut self, field: &str, message: String) {
        self.blocking = true;
        self.invalid(field, message);
    }
}

/// `apiVersion` and `kind`: the server cannot decode the object as this resource otherwise.
fn check_type_meta(object: &Value, errors: &mut Vec<FieldError>) {
    if object.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
        errors.push(FieldError { field: "apiVersion".into(), message: format!("must be {API_VERSION}") });
    }
    if object.get("kind").and_then(Value::as_str) != Some(KIND) {
        errors.push(FieldError { field: "kind".into(), message: format!("must be {KIND}") });
    }
}

/// Strict field validation: every field the schema (or ObjectMeta) does not declare.
fn check_unknown_fields(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let preserves =
                schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
            for (key, child) in map {
                let child_path = join(path, key);
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                if path.is_empty() && key == "metadata" {
                    for meta_key in child.as_object().into_iter().flat_map(Map::keys) {
                        if !OBJECT_META_FIELDS.contains(&meta_key.as_str()) {
                            errors.push(unknown_field(join("metadata", meta_key)));
                        }
                    }
                    continue;
                }
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(child_schema), _) | (None, Some(child_schema)) => {
                        check_unknown_fields(child_schema, child, &child_path, errors)
                    }
                    (None, None) if properties.is_some() && !preserves => {
                        errors.push(unknown_field(child_path))
                    }
                    (None, None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_unknown_fields(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

fn unknown_field(field: String) -> FieldError {
    FieldError {
        field,
        message: "unknown field: check the spelling against `kubectl explain lambdaaliasset`".into(),
    }
}

/// What the API server validates: the object without `status`, with non-nullable nulls
/// pruned, defaults applied and whole-number floats as integers.
fn prepare(object: &Value) -> Value {
    let mut prepared = object.clone();
    if let Some(map) = prepared.as_object_mut() {
        map.remove("status");
    }
    normalize(&SCHEMA.openapi, &mut prepared);
    prepared
}

/// The largest integer a float64 holds exactly; the server's limit for "a JSON integer".
const MAX_JSON_INTEGER: f64 = 9_007_199_254_740_991.0;

fn normalize(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                    map.values_mut().for_each(|child| normalize(additional, child));
                }
                return;
            };
            for (key, property) in properties {
                let nullable = property.get("nullable").and_then(Value::as_bool) == Some(true);
                if map.get(key).is_some_and(Value::is_null) && !nullable {
                    map.remove(key);
                }
                if !map.contains_key(key)
                    && let Some(default) = property.get("default")
                {
                    map.insert(key.clone(), default.clone());
                }
            }
            for (key, child) in map.iter_mut() {
                if let Some(property) = properties.get(key) {
                    normalize(property, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                items.iter_mut().for_each(|item| normalize(item_schema, item));
            }
        }
        Value::Number(n) if schema.get("type").and_then(Value::as_str) == Some("integer") => {
            if n.is_f64()
                && let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= MAX_JSON_INTEGER
            {
                *value = Value::from(f as i64);
            }
        }
        _ => {}
    }
}

/// The object as CEL sees it: object fields set to `null` are absent.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn check_metadata(object: &Value, report: &mut Report) {
    match object.pointer("/metadata/name") {
        None | Some(Value::Null) => {
            report.blocking("metadata.name", "is required".into());
        }
        Some(Value::String(name)) if is_dns_subdomain(name) => {}
        Some(_) => report.invalid(
            "metadata.name",
            "must be a DNS subdomain: lower case alphanumerics, '-' or '.', at most 253 characters".into(),
        ),
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

/// The JSON type as the API server's decoder sees it: a number is an integer when it fits an
/// int64 (else the decoder yields a float64).
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() => "integer",
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

/// The structural part of OpenAPI validation, for the subset of the schema this CRD uses,
/// with the API server's error classes: see [`Report::blocking`].
fn check_node(schema: &Value, value: &Value, path: &str, report: &mut Report) {
    let enum_values = schema.get("enum").and_then(Value::as_array);
    let unsupported = |value: &Value, allowed: &Vec<Value>| {
        let list: Vec<String> = allowed.iter().filter(|v| !v.is_null()).map(short).collect();
        format!("unsupported value {}: must be one of {}", short(value), list.join(", "))
    };
    if value.is_null() {
        // The server never matches null against an enum, even one that lists null.
        if let Some(allowed) = enum_values {
            report.blocking(path, unsupported(value, allowed));
        } else if schema.get("nullable").and_then(Value::as_bool) != Some(true)
            && schema.get("type").is_some()
        {
            let expected = schema.get("type").and_then(Value::as_str).unwrap_or_default();
            report.blocking(path, format!("must be of type {expected}, got null"));
        }
        return;
    }
    let expected = schema.get("type").and_then(Value::as_str);
    let actual = type_name(value);
    let type_ok = match expected {
        Some(expected) => actual == expected || (expected == "number" && actual == "integer"),
        None => true,
    };
    if let Some(expected) = expected.filter(|_| !type_ok) {
        report.blocking(path, format!("must be of type {expected}, got {actual} {}", short(value)));
    }
    if let Some(allowed) = enum_values
        && !allowed.contains(value)
    {
        report.blocking(path, unsupported(value, allowed));
    }
    match value {
        Value::Number(n) => check_number(schema, n, path, report),
        _ if !type_ok => {}
        Value::String(s) => check_string(schema, s, path, report),
        Value::Array(items) => check_array(schema, items, path, report),
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for key in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(key) {
                        report.blocking(&join(path, key), "is required".into());
                    }
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                // apiVersion, kind and metadata have their own checks; unknown fields were
                // refused before (strict decoding).
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) {
                    check_node(child_schema, child, &join(path, key), report);
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn check_number(schema: &Value, n: &serde_json::Number, path: &str, report: &mut Report) {
    let Some(x) = n.as_f64() else { return };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && x < min
    {
        report.invalid(path, format!("must be greater than or equal to {min}, got {n}"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && x > max
    {
        report.invalid(path, format!("must be less than or equal to {max}, got {n}"));
    }
    let fits = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        Some("int64") => n.is_i64(),
        _ => true,
    };
    if !fits {
        // The server reports a format error without a field (`<nil>`), naming it in the text.
        let format = schema.get("format").and_then(Value::as_str).unwrap_or_default();
        report.invalid("", format!("{path}: must be of type integer with format {format}, got {n}"));
    }
}

/// Like the server (go-openapi), the first failing check only: maxLength, minLength, pattern.
fn check_string(schema: &Value, s: &str, path: &str, report: &mut Report) {
    let len = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        report.blocking(path, format!("must be at most {max} characters long, got {len}"));
    } else if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        report.invalid(path, format!("must be at least {min} characters long"));
    } else if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match go_regex(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => report
                .invalid(path, format!("invalid value {}: must match '{pattern}'", short(&Value::from(s)))),
            Err(e) => report.invalid(path, format!("schema pattern '{pattern}' does not compile: {e}")),
        }
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, report: &mut Report) {
    let len = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        report.blocking(path, format!("must have at most {max} items, got {len}"));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        report.invalid(path, format!("must have at least {min} items, got {len}"));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check_node(item_schema, item, &format!("{path}[{i}]"), report);
        }
    }
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
        check_map_keys(schema, items, path, report);
    }
}

/// `x-kubernetes-list-type: map`: each item an object (or null), each key tuple once (an
/// absent key is a value too). Like the server, only the first offence is reported: the first
/// item that is not an object, else the first duplicate, at that item's index.
fn check_map_keys(schema: &Value, items: &[Value], path: &str, report: &mut Report) {
    if let Some(i) = items.iter().position(|item| !item.is_object() && !item.is_null()) {
        let message = format!("{} must be an object for an array of list-type map", short(&items[i]));
        report.invalid(&format!("{path}[{i}]"), message);
        return;
    }
    let keys: Vec<&str> = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let key: Vec<(&str, Option<String>)> =
            keys.iter().map(|k| (*k, item.get(*k).map(Value::to_string))).collect();
        let text = key
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(", ");
        if !seen.insert(key) {
            let message = format!("duplicate entry ({text}): each {} must be unique", keys.join(","));
            report.invalid(&format!("{path}[{i}]"), message);
            return;
        }
    }
}

/// A schema pattern compiled once, with Go RE2's meaning: the API server's `\d`, `\s` and `\w`
/// are ASCII classes (Rust's are Unicode, where `[^\s]` refuses a no-break space).
fn go_regex(pattern: &str) -> Result<Regex, String> {
    static CACHE: LazyLock<Mutex<HashMap<String, Result<Regex, String>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(&ascii_perl_classes(pattern)).map_err(|e| e.to_string()))
        .clone()
}

/// Rewrites `\d \s \w \D \S \W` as the explicit ASCII classes RE2 gives them.
fn ascii_perl_classes(pattern: &str) -> String {
    const DIGIT: &str = "0-9";
    const SPACE: &str = r"\t\n\f\r ";
    const WORD: &str = "0-9A-Za-z_";
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match next {
                    'd' | 'D' => Some(DIGIT),
                    's' | 'S' => Some(SPACE),
                    'w' | 'W' => Some(WORD),
                    _ => None,
                };
                match class {
                    Some(set) if next.is_ascii_lowercase() && in_class => out.push_str(set),
                    Some(set) if next.is_ascii_lowercase() => out.push_str(&format!("[{set}]")),
                    // A negated class nests inside a class in Rust's syntax.
                    Some(set) => out.push_str(&format!("[^{set}]")),
                    None => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class such as [:alpha:], copied through its closing ']'.
                out.push('[');
                for c in chars.by_ref() {
                    out.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ascii_perl_classes;

    #[test]
    fn perl_classes_become_ascii() {
        assert_eq!(ascii_perl_classes(r"^[^\s]+$"), r"^[^\t\n\f\r ]+$");
        assert_eq!(ascii_perl_classes(r"\d+\w"), "[0-9]+[0-9A-Za-z_]");
        assert_eq!(ascii_perl_classes(r"[\S.]"), r"[[^\t\n\f\r ].]");
        assert_eq!(ascii_perl_classes(r"[]a][[:alpha:]x]\.\\s"), r"[\]a][[:alpha:]x]\.\\s");
    }
}
