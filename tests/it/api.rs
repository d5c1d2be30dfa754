//! The LambdaAliasSet API: the generated CRD, its OpenAPI and CEL rules (evaluated with kube's
//! client-side CEL engine), transition rules, defaults and the shipped examples.

use std::path::{Path, PathBuf};

use kube::core::cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use lambda_alias_controller::api::{
    self, AlexaSkillKind, DeletionPolicy, LambdaAliasSet, Phase,
    validate::{InvalidObject, openapi_schema, parse_object, validate_object},
};
use serde_json::Value;
use support::named;
use support::objects::{valid, with};
use support::validation_cases::{Case, cases, minimal, minimal_triggers};

use crate::support;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Rejected by the full client-side validation, with an error located at `field`.
#[track_caller]
fn rejects(object: &Value, field: &str) -> InvalidObject {
    let err = validate_object(object, None).expect_err("object must be rejected");
    assert!(err.names(field), "expected an error naming {field}, got: {err}");
    err
}

#[test]
fn valid_object_passes_schema_and_cel() {
    validate_object(&valid(), None).expect("valid object");
    Validator::new().validate(openapi_schema(), &valid(), None).expect("valid object passes CEL");
}

#[test]
fn minimal_object_gets_the_schema_defaults() {
    let las: LambdaAliasSet = parse_object(&minimal()).expect("minimal object is valid");
    assert_eq!(las.spec.aliases, vec!["PROD1", "PROD2"]);
    assert_eq!(las.spec.certification.phase, Phase::Development);
    assert_eq!(las.spec.drain_seconds, 300);
    assert_eq!(las.spec.deletion_policy, DeletionPolicy::Retain);
    assert!(!las.spec.suspend);
    assert_eq!(las.spec.retain_versions, None);
    let las = parse_object(&with(minimal(), "/spec/triggers", minimal_triggers())).expect("valid");
    assert_eq!(las.spec.triggers[0].alexa_skill.as_ref().map(|a| a.kind), Some(AlexaSkillKind::Custom));
    assert_eq!(
        las.spec.triggers[1].permission.as_ref().map(|p| p.action.as_str()),
        Some("lambda:InvokeFunction")
    );
    assert_eq!(las.spec.triggers[2].event_source_mapping.as_ref().map(|m| m.enabled), Some(true));
}

// --- the validation cases: OpenAPI (required, types, enums, ranges, patterns, unknown fields),
// CEL rules and transition rules (oldSelf), in tests/support/validation_cases.rs, which
// tests/cluster/agreement.rs holds a real API server to ---------------------------------------------

/// What is wrong with the controller's verdict on `case`, if anything.
fn wrong_verdict(case: &Case) -> Option<String> {
    let verdict = validate_object(&case.object, case.old.as_ref());
    match (case.expect, verdict) {
        (None, Ok(())) => None,
        (None, Err(err)) => Some(format!("rejected: {err}")),
        (Some(field), Ok(())) => Some(format!("accepted, expected an error at {field}")),
        (Some(field), Err(err)) if !err.errors.iter().any(|e| e.field == field) => {
            Some(format!("expected an error at {field}, got: {err}"))
        }
        (Some(_), Err(err)) => match case.message {
            Some(words) if !err.to_string().contains(words) => {
                Some(format!("the error does not say {words:?}: {err}"))
            }
            _ => None,
        },
    }
}

/// What is wrong with the CEL rules' verdict alone, evaluated the way the API server evaluates
/// them after structural validation, if the case says what it must be.
fn wrong_cel_verdict(case: &Case) -> Option<String> {
    let (field, words) = case.cel?;
    match Validator::new().validate(openapi_schema(), &case.object, case.old.as_ref()) {
        Ok(()) => Some(format!("no CEL rule rejects it, expected one at {field} saying {words:?}")),
        Err(errors) if errors.iter().any(|e| e.field_path == field && e.message.contains(words)) => None,
        Err(errors) => Some(format!("expected a CEL error at {field} saying {words:?}, got: {errors:?}")),
    }
}

#[test]
fn the_validator_gives_every_case_its_verdict() {
    let cases = cases();
    let mut wrong = Vec::new();
    for case in &cases {
        wrong.extend(wrong_verdict(case).map(|w| format!("{}: {w}", case.name)));
        wrong.extend(wrong_cel_verdict(case).map(|w| format!("{} (CEL alone): {w}", case.name)));
    }
    let cel = cases.iter().filter(|c| c.cel.is_some()).count();
    assert!(cases.len() >= 248 && cel >= 14, "{} cases, {cel} with a CEL verdict", cases.len());
    assert!(wrong.is_empty(), "cases the validator gets wrong:\n{}", wrong.join("\n"));
}

// --- more than a verdict: what the errors say -----------------------------------------------

#[test]
fn only_blocking_errors_skip_the_cel_rules_and_then_say_so() {
    // A pattern error does not block: the CEL rule on externalId speaks too.
    let err = rejects(&named("pattern error and CEL error together").object, "spec.region");
    assert!(err.names("spec.externalId"), "CEL ran: {err}");
    // An unsupported enum value (or a wrong type, a missing field, a too long string or list)
    // blocks them, with an error about no particular field.
    let err = rejects(&named("an enum error skips the CEL rules").object, "spec.certification.phase");
    assert!(!err.names("spec.externalId"), "CEL skipped: {err}");
    assert!(err.errors.iter().any(|e| e.field.is_empty() && e.message.contains("not checked")), "{err}");
}

#[test]
fn whole_number_floats_read_as_integers() {
    let las = parse_object(&named("drainSeconds 10.0 is a whole number").object).expect("a whole number");
    assert_eq!(las.spec.drain_seconds, 10);
}

#[test]
fn unknown_fields_come_alone() {
    let err = rejects(&named("unknown field hides other errors").object, "spec.bogus");
    assert_eq!(err.errors.len(), 1, "strict decoding fails before validation: {err}");
}

// --- bounds that keep the API server's CEL cost estimate finite ------------------------------

fn walk<'a>(schema: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    out.push((path.clone(), schema));
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            walk(v, format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(items, format!("{path}[]"), out);
    }
}

#[test]
fn every_spec_string_and_list_is_bounded() {
    let mut nodes = Vec::new();
    walk(&openapi_schema()["properties"]["spec"], "spec".into(), &mut nodes);
    let mut unbounded = Vec::new();
    for (path, node) in &nodes {
        match node.get("type").and_then(Value::as_str) {
            Some("string") if node.get("maxLength").is_none() && node.get("enum").is_none() => {
                unbounded.push(path.clone())
            }
            Some("array") if node.get("maxItems").is_none() => unbounded.push(path.clone()),
            _ => {}
        }
    }
    assert!(nodes.len() > 40, "walked the spec schema ({} nodes)", nodes.len());
    assert!(unbounded.is_empty(), "unbounded strings or lists: {unbounded:?}");
}

#[test]
fn every_cel_rule_compiles_within_the_cost_budget() {
    let mut nodes = Vec::new();
    walk(&openapi_schema()["properties"]["spec"], "spec".into(), &mut nodes);
    let mut rules = 0;
    for (path, node) in nodes {
        let Some(list) = node.get("x-kubernetes-validations").and_then(Value::as_array) else { continue };
        let compiled = compile_schema(node);
        assert!(!compiled.has_errors(), "{path}: {:?}", compiled.compilation_errors());
        for rule in list {
            rules += 1;
            let text = rule["rule"].as_str().expect("rule text");
            assert!(
                rule["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{path}: rule {text} has a message"
            );
            let warnings = analyze_rule(text, &compiled, ScopeContext::CrdValidation);
            // kube-cel's scope check does not know comprehension variables (`t` in
            // `self.triggers.all(t, ...)`), so only the cost warnings are meaningful here.
            let serious: Vec<_> = warnings
                .iter()
                .filter(|w| matches!(w.kind, WarningKind::CostExceeded | WarningKind::MissingBounds))
                .collect();
            assert!(serious.is_empty(), "{path}: {text}: {serious:?}");
        }
    }
    assert!(rules >= 14, "found {rules} CEL rules");
}

// --- the generated CRD -------------------------------------------------------------------------

#[test]
fn crd_names_subresource_and_printer_columns() {
    let crd = api::crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("lambdaaliassets.lambda.aliasset.dev"));
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "LambdaAliasSet");
    assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["las".to_string()][..]));
    assert_eq!(crd.spec.names.categories.as_deref(), Some(&["lambda".to_string()][..]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(), "status subresource");
    let columns: Vec<(String, String)> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.json_path.clone()))
        .collect();
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Function", "Phase", "Live", "Candidate", "Warm", "Ready", "Reason", "Age"]);
    assert!(columns.contains(&("Warm".into(), ".status.live.provisionedConcurrency.status".into())));
    assert!(columns.contains(&("Live".into(), ".status.live.summary".into())));
    assert!(columns.contains(&("Ready".into(), ".status.conditions[?(@.type==\"Ready\")].status".into())));
}

#[test]
fn api_version_is_the_crds_group_and_version() {
    let crd = api::crd();
    assert_eq!(api::API_VERSION, format!("{}/{}", crd.spec.group, crd.spec.versions[0].name));
}

#[test]
fn status_summary_is_alias_colon_version() {
    let s = api::AliasStatus::new("PROD2", "$LATEST", None, None);
    assert_eq!(s.summary, "PROD2:$LATEST");
}

#[test]
fn crds_folder_is_generated_and_fresh() {
    let expected = api::crd_yaml().expect("render CRD");
    let path = root().join("crds/lambdaaliasset.yaml");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(on_disk == expected, "{} is stale: run `make crds` and commit it", path.display());
}

#[test]
fn crd_verb_prints_the_committed_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-alias-controller"))
        .arg("crd")
        .output()
        .expect("run the binary");
    assert!(out.status.success(), "crd exits 0");
    assert_eq!(String::from_utf8_lossy(&out.stdout), api::crd_yaml().expect("render CRD"));
}

// --- shipped examples ---------------------------------------------------------------------------

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read example");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let yaml = serde_yaml::Value::deserialize(doc).expect("YAML parses");
            serde_json::to_value(yaml).expect("YAML maps to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

#[test]
fn every_example_is_valid() {
    let dir = root().join("deploy/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/examples exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "one example per use case, found {files:?}");
    let mut seen_kinds = std::collections::BTreeSet::new();
    for file in files {
        let docs = documents(&file);
        assert!(!docs.is_empty(), "{} has a document", file.display());
        for doc in docs {
            let las = parse_object(&doc).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for t in &las.spec.triggers {
                for (kind, present) in [
                    ("alexaSkill", t.alexa_skill.is_some()),
                    ("apiGateway", t.api_gateway.is_some()),
                    ("s3", t.s3.is_some()),
                    ("eventSourceMapping", t.event_source_mapping.is_some()),
                ] {
                    if present {
                        seen_kinds.insert(kind);
                    }
                }
            }
            if !las.spec.stages.is_empty() {
                seen_kinds.insert("stages");
            }
            if las.spec.rollout.is_some() {
                seen_kinds.insert("rollout");
            }
            if las.spec.provisioned_concurrency.is_some() {
                seen_kinds.insert("provisionedConcurrency");
            }
        }
    }
    assert_eq!(
        seen_kinds.len(),
        7,
        "examples cover alexa, API Gateway, S3, SQS, stages, rollouts and provisioned concurrency: {seen_kinds:?}"
    );
}

/// The Ready reasons the CRD users install (`crds/`, `kubectl explain`) and the README list are
/// exactly the controller's `Reason::ALL`: none missing, none that the controller never writes.
#[test]
fn the_crd_and_the_readme_list_exactly_the_ready_reasons() {
    use lambda_alias_controller::api::Reason;
    use std::collections::BTreeSet;
    let all: BTreeSet<String> = Reason::ALL.iter().map(|r| r.as_str().to_string()).collect();
    assert_eq!(all.len(), Reason::ALL.len(), "each reason once");

    let crd: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("crds/lambdaaliasset.yaml")).expect("the CRD"),
    )
    .expect("CRD YAML");
    let description = crd
        .pointer(
            "/spec/versions/0/schema/openAPIV3Schema/properties/status/properties/conditions/description",
        )
        .and_then(Value::as_str)
        .expect("status.conditions has a description");
    let (_, listed) = description.split_once("is one of: ").expect("the description lists the reasons");
    let in_crd: BTreeSet<String> =
        listed.trim_end_matches('.').split(", ").map(|r| r.trim().to_string()).collect();
    assert_eq!(in_crd, all, "the CRD's status.conditions description (run `make crds`)");

    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let (_, from) = readme.split_once("`Ready` (reason ").expect("the README lists the Ready reasons");
    let (span, _) = from.split_once("), `Reconciling`").expect("... up to the Reconciling condition");
    let in_readme: BTreeSet<String> = span.split('`').skip(1).step_by(2).map(|r| r.to_string()).collect();
    assert_eq!(in_readme, all, "README.md's list of Ready reasons (Status)");
}
