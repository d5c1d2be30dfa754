//! The LambdaAliasSet API: the generated CRD, its OpenAPI and CEL rules (evaluated with kube's
//! client-side CEL engine), transition rules, defaults and the shipped examples.

use std::path::{Path, PathBuf};

use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use lambda_alias_controller::api::{
    self, AlexaSkillKind, DeletionPolicy, LambdaAliasSet, Phase,
    validate::{InvalidObject, openapi_schema, parse_object, validate_object},
};
use serde_json::{Value, json};
use support::objects::{SHA_A, SHA_B, valid, with, without};

mod support;

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

#[track_caller]
fn rejects_update(old: &Value, new: &Value, field: &str) {
    let err = validate_object(new, Some(old)).expect_err("update must be rejected");
    assert!(err.names(field), "expected an error naming {field}, got: {err}");
}

/// The CEL rules alone, the way the API server evaluates them after structural validation.
#[track_caller]
fn cel_rejects(object: &Value, field: &str, words: &str) {
    let errors = Validator::new()
        .validate(openapi_schema(), object, None)
        .expect_err("a CEL rule must reject the object");
    assert!(
        errors.iter().any(|e| e.field_path == field && e.message.contains(words)),
        "expected a CEL error at {field} saying {words:?}, got: {errors:?}"
    );
}

#[test]
fn valid_object_passes_schema_and_cel() {
    validate_object(&valid(), None).expect("valid object");
    Validator::new().validate(openapi_schema(), &valid(), None).expect("valid object passes CEL");
}

#[test]
fn minimal_object_gets_the_schema_defaults() {
    let minimal = json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1", "kind": "LambdaAliasSet",
        "metadata": {"name": "m"}, "spec": {"functionName": "f"}
    });
    let las: LambdaAliasSet = parse_object(&minimal).expect("minimal object is valid");
    assert_eq!(las.spec.aliases, vec!["PROD1", "PROD2"]);
    assert_eq!(las.spec.certification.phase, Phase::Development);
    assert_eq!(las.spec.drain_seconds, 300);
    assert_eq!(las.spec.deletion_policy, DeletionPolicy::Retain);
    assert!(!las.spec.suspend);
    assert_eq!(las.spec.retain_versions, None);
    let alexa = json!([{"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.1"}},
                       {"name": "p", "permission": {"principal": "sns.amazonaws.com"}},
                       {"name": "q", "eventSourceMapping": {"eventSourceArn": "arn:aws:sqs:eu-west-1:111122223333:q"}}]);
    let las = parse_object(&with(minimal, "/spec/triggers", alexa)).expect("valid");
    assert_eq!(las.spec.triggers[0].alexa_skill.as_ref().map(|a| a.kind), Some(AlexaSkillKind::Custom));
    assert_eq!(
        las.spec.triggers[1].permission.as_ref().map(|p| p.action.as_str()),
        Some("lambda:InvokeFunction")
    );
    assert_eq!(las.spec.triggers[2].event_source_mapping.as_ref().map(|m| m.enabled), Some(true));
}

// --- OpenAPI: required, types, enums, ranges, patterns, unknown fields -------------------

#[test]
fn function_name_is_required() {
    rejects(&without(valid(), "/spec/functionName"), "spec.functionName");
}

#[test]
fn function_name_accepts_name_partial_arn_and_arn_without_qualifier() {
    for ok in [
        "trivia-backend",
        "111122223333:function:trivia",
        "arn:aws:lambda:eu-west-1:111122223333:function:trivia",
    ] {
        validate_object(&with(valid(), "/spec/functionName", json!(ok)), None)
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in
        ["arn:aws:lambda:eu-west-1:111122223333:function:trivia:PROD1", "trivia:PROD1", "has space", ""]
    {
        rejects(&with(valid(), "/spec/functionName", json!(bad)), "spec.functionName");
    }
}

#[test]
fn phase_is_an_enum() {
    let err =
        rejects(&with(valid(), "/spec/certification/phase", json!("Released")), "spec.certification.phase");
    assert!(err.to_string().contains("Development"), "lists the allowed values: {err}");
}

#[test]
fn alexa_kind_is_an_enum() {
    rejects(
        &with(valid(), "/spec/triggers/0/alexaSkill/kind", json!("Music")),
        "spec.triggers[0].alexaSkill.kind",
    );
    let smart_home = with(valid(), "/spec/triggers/0/alexaSkill/kind", json!("SmartHome"));
    validate_object(&smart_home, None).expect("SmartHome is allowed");
}

#[test]
fn deletion_policy_is_an_enum() {
    rejects(&with(valid(), "/spec/deletionPolicy", json!("Orphan")), "spec.deletionPolicy");
    validate_object(&with(valid(), "/spec/deletionPolicy", json!("Delete")), None)
        .expect("Delete is allowed");
}

#[test]
fn starting_position_is_an_enum() {
    rejects(
        &with(valid(), "/spec/triggers/5/eventSourceMapping/startingPosition", json!("EARLIEST")),
        "spec.triggers[5].eventSourceMapping.startingPosition",
    );
}

#[test]
fn drain_seconds_is_not_negative() {
    rejects(&with(valid(), "/spec/drainSeconds", json!(-1)), "spec.drainSeconds");
    rejects(&with(valid(), "/spec/drainSeconds", json!("300")), "spec.drainSeconds");
    validate_object(&with(valid(), "/spec/drainSeconds", json!(0)), None).expect("zero drain is allowed");
}

#[test]
fn retain_versions_is_not_negative() {
    rejects(&with(valid(), "/spec/retainVersions", json!(-3)), "spec.retainVersions");
    validate_object(&with(valid(), "/spec/retainVersions", json!(0)), None).expect("zero is allowed");
}

#[test]
fn batch_size_is_between_1_and_10000() {
    for bad in [0, 10001] {
        rejects(
            &with(valid(), "/spec/triggers/5/eventSourceMapping/batchSize", json!(bad)),
            "spec.triggers[5].eventSourceMapping.batchSize",
        );
    }
    for ok in [1, 10000] {
        validate_object(&with(valid(), "/spec/triggers/5/eventSourceMapping/batchSize", json!(ok)), None)
            .expect("in range");
    }
}

#[test]
fn trigger_names_follow_the_pattern() {
    for bad in ["Alexa", "a_b", "-a", "a-", "a234567890123456789012345678901234"] {
        rejects(&with(valid(), "/spec/triggers/0/name", json!(bad)), "spec.triggers[0].name");
    }
}

#[test]
fn skill_ids_are_alexa_skill_ids() {
    rejects(
        &with(valid(), "/spec/triggers/0/alexaSkill/skillId", json!("skill-123")),
        "spec.triggers[0].alexaSkill.skillId",
    );
    validate_object(
        &with(
            valid(),
            "/spec/triggers/0/alexaSkill/skillId",
            json!("amzn1.ask.skill.3b4c5d6e-1234-4f00-9a9a-0123456789ab"),
        ),
        None,
    )
    .expect("real skill id shape");
}

#[test]
fn alias_names_are_lambda_alias_names_and_not_all_digits() {
    for bad in ["123", "PROD 1", "$LATEST", ""] {
        rejects(&with(valid(), "/spec/aliases", json!(["PROD1", bad])), "spec.aliases[1]");
    }
    rejects(&with(valid(), "/spec/aliases", json!(["PROD1", "A".repeat(129)])), "spec.aliases[1]");
    validate_object(&with(valid(), "/spec/aliases", json!(["blue", "green_2"])), None).expect("valid names");
    rejects(&with(valid(), "/spec/stages/0/alias", json!("42")), "spec.stages[0].alias");
}

#[test]
fn arns_and_accounts_follow_their_patterns() {
    rejects(
        &with(
            valid(),
            "/spec/triggers/1/apiGateway/sourceArn",
            json!("arn:aws:sns:eu-west-1:111122223333:t"),
        ),
        "spec.triggers[1].apiGateway.sourceArn",
    );
    rejects(
        &with(valid(), "/spec/triggers/2/s3/bucketArn", json!("trivia-uploads")),
        "spec.triggers[2].s3.bucketArn",
    );
    rejects(
        &with(valid(), "/spec/triggers/2/s3/sourceAccount", json!("1234")),
        "spec.triggers[2].s3.sourceAccount",
    );
    rejects(
        &with(
            valid(),
            "/spec/triggers/3/eventBridge/ruleArn",
            json!("arn:aws:events:eu-west-1:111122223333:bus/x"),
        ),
        "spec.triggers[3].eventBridge.ruleArn",
    );
    rejects(&with(valid(), "/spec/roleArn", json!("arn:aws:iam::1:user/x")), "spec.roleArn");
    rejects(
        &with(valid(), "/spec/certification/codeSha256", json!("not-a-hash")),
        "spec.certification.codeSha256",
    );
    rejects(&with(valid(), "/spec/live", json!({"version": "$LATEST"})), "spec.live.version");
    rejects(&with(valid(), "/spec/region", json!("Europe")), "spec.region");
}

#[test]
fn unknown_fields_are_refused_not_dropped() {
    rejects(&with(valid(), "/spec/liveAlias", json!("PROD1")), "spec.liveAlias");
    rejects(&with(valid(), "/spec/triggers/0/on", json!("Live")), "spec.triggers[0].on");
}

#[test]
fn identity_and_name_are_checked() {
    rejects(&with(valid(), "/kind", json!("Deployment")), "kind");
    rejects(&with(valid(), "/apiVersion", json!("lambda.aliasset.dev/v1")), "apiVersion");
    rejects(&with(valid(), "/metadata/name", json!("Trivia_1")), "metadata.name");
    rejects(&without(valid(), "/spec"), "spec");
}

// --- read as the API server reads it (tests/k8s_agreement.rs holds a real one to this) --------

#[test]
fn only_blocking_errors_skip_the_cel_rules_and_then_say_so() {
    let orphan = with(valid(), "/spec/externalId", json!("abc"));
    // A pattern error does not block: the CEL rule on externalId speaks too.
    let err = rejects(&with(orphan.clone(), "/spec/region", json!("Europe")), "spec.region");
    assert!(err.names("spec.externalId"), "CEL ran: {err}");
    // An unsupported enum value (or a wrong type, a missing field, a too long string or list)
    // blocks them, with an error about no particular field.
    let err =
        rejects(&with(orphan, "/spec/certification/phase", json!("Released")), "spec.certification.phase");
    assert!(!err.names("spec.externalId"), "CEL skipped: {err}");
    assert!(err.errors.iter().any(|e| e.field.is_empty() && e.message.contains("not checked")), "{err}");
}

#[test]
fn nulls_status_and_whole_number_floats_read_as_the_api_server_reads_them() {
    validate_object(&with(valid(), "/spec/drainSeconds", Value::Null), None).expect("pruned, then defaulted");
    validate_object(&with(valid(), "/spec/live", json!({"codeSha256": SHA_A, "version": null})), None)
        .expect("a null field is absent to CEL");
    // An optional enum is not nullable: null is pruned, and the stage then has no target.
    rejects(&with(valid(), "/spec/stages/0/track", Value::Null), "spec.stages[0]");
    validate_object(&with(valid(), "/status", json!({"phase": "Bogus"})), None).expect("status is ignored");
    let las = parse_object(&with(valid(), "/spec/drainSeconds", json!(10.0))).expect("a whole number");
    assert_eq!(las.spec.drain_seconds, 10);
    rejects(&with(valid(), "/spec/drainSeconds", json!(10.5)), "spec.drainSeconds");
}

#[test]
fn unknown_fields_come_alone_and_duplicates_name_the_item() {
    let err =
        rejects(&with(with(valid(), "/spec/bogus", json!(1)), "/spec/drainSeconds", json!(-1)), "spec.bogus");
    assert_eq!(err.errors.len(), 1, "strict decoding fails before validation: {err}");
    rejects(&with(valid(), "/metadata/label", json!({"a": "b"})), "metadata.label");
    rejects(&with(valid(), "/spec/triggers/1/name", json!("alexa")), "spec.triggers[1]");
}

#[test]
fn patterns_have_go_re2_meaning() {
    // RE2's `\s` is ASCII white space: a no-break space is a principal's character.
    let nbsp = with(valid(), "/spec/triggers/4/permission/principal", json!("sns.amazonaws.com\u{a0}x"));
    validate_object(&nbsp, None).expect("[^\\s] accepts U+00A0");
    rejects(
        &with(valid(), "/spec/triggers/4/permission/principal", json!("sns amazonaws.com")),
        "spec.triggers[4].permission.principal",
    );
}

// --- CEL rules -----------------------------------------------------------------------------

#[test]
fn exactly_two_distinct_aliases() {
    rejects(&with(valid(), "/spec/aliases", json!(["PROD1"])), "spec.aliases");
    rejects(&with(valid(), "/spec/aliases", json!(["PROD1", "PROD2", "PROD3"])), "spec.aliases");
    rejects(&with(valid(), "/spec/aliases", json!(["PROD1", "PROD1"])), "spec.aliases");
    cel_rejects(&with(valid(), "/spec/aliases", json!(["PROD1", "PROD1"])), "spec.aliases", "two distinct");
    cel_rejects(&with(valid(), "/spec/aliases", json!(["PROD1"])), "spec.aliases", "two distinct");
}

#[test]
fn aliases_are_never_latest() {
    // The pattern already refuses `$`; the CEL rule says why in words.
    cel_rejects(&with(valid(), "/spec/aliases", json!(["$LATEST", "PROD2"])), "spec.aliases", "$LATEST");
}

#[test]
fn exactly_one_trigger_kind_per_entry() {
    let none = json!({"name": "empty"});
    rejects(&with(valid(), "/spec/triggers/0", none.clone()), "spec.triggers[0]");
    cel_rejects(&with(valid(), "/spec/triggers/0", none), "spec.triggers[0]", "exactly one of alexaSkill");
    let two = json!({"name": "two", "s3": {"bucketArn": "arn:aws:s3:::b-1"}, "eventBridge": {"ruleArn": "arn:aws:events:eu-west-1:111122223333:rule/r"}});
    rejects(&with(valid(), "/spec/triggers/0", two.clone()), "spec.triggers[0]");
    cel_rejects(&with(valid(), "/spec/triggers/0", two), "spec.triggers[0]", "exactly one of alexaSkill");
}

#[test]
fn trigger_names_are_unique() {
    let err = rejects(&with(valid(), "/spec/triggers/1/name", json!("alexa")), "spec.triggers");
    assert!(err.to_string().contains("alexa"), "names the duplicate: {err}");
}

#[test]
fn live_hash_and_version_not_both() {
    let both = with(valid(), "/spec/live", json!({"codeSha256": SHA_A, "version": "3"}));
    rejects(&both, "spec.live");
    cel_rejects(&both, "spec.live", "exactly one of codeSha256 or version");
    validate_object(&with(valid(), "/spec/live", json!({"version": "3"})), None).expect("a pin alone");
    validate_object(&with(valid(), "/spec/live", json!({"codeSha256": SHA_A})), None).expect("a hash alone");
}

fn certified() -> Value {
    with(valid(), "/spec/certification", json!({"phase": "Certified", "codeSha256": SHA_A}))
}

#[test]
fn certified_forbids_a_live_pin() {
    let pinned = with(certified(), "/spec/live", json!({"version": "3"}));
    rejects(&pinned, "spec.live.version");
    cel_rejects(&pinned, "spec.live.version", "absent in phase Certified");
    let certifying = with(pinned, "/spec/certification/phase", json!("Certifying"));
    validate_object(&certifying, None).expect("a pin is fine while Certifying");
}

#[test]
fn certified_forbids_a_stale_live_hash() {
    let stale = with(certified(), "/spec/live", json!({"codeSha256": SHA_B}));
    rejects(&stale, "spec.live.codeSha256");
    cel_rejects(&stale, "spec.live.codeSha256", "equal certification.codeSha256");
    let no_cert_hash = with(
        with(certified(), "/spec/certification", json!({"phase": "Certified"})),
        "/spec/live",
        json!({"codeSha256": SHA_A}),
    );
    rejects(&no_cert_hash, "spec.live.codeSha256");
    validate_object(&with(certified(), "/spec/live", json!({"codeSha256": SHA_A})), None)
        .expect("same hash as certified");
    validate_object(&certified(), None).expect("no live override");
}

#[test]
fn stage_aliases_are_distinct() {
    let dup = with(
        valid(),
        "/spec/stages",
        json!([{"alias": "BETA", "track": "$LATEST"}, {"alias": "BETA", "version": "2"}]),
    );
    rejects(&dup, "spec.stages");
}

#[test]
fn stage_aliases_are_not_in_the_pair() {
    let clash = with(valid(), "/spec/stages/0/alias", json!("PROD2"));
    rejects(&clash, "spec.stages");
    cel_rejects(&clash, "spec.stages", "rotating aliases");
}

#[test]
fn stage_has_exactly_one_of_hash_version_track() {
    let none = with(valid(), "/spec/stages/0", json!({"alias": "BETA"}));
    rejects(&none, "spec.stages[0]");
    cel_rejects(&none, "spec.stages[0]", "exactly one of codeSha256, version or track");
    let two = with(valid(), "/spec/stages/0", json!({"alias": "BETA", "version": "2", "track": "$LATEST"}));
    cel_rejects(&two, "spec.stages[0]", "exactly one of codeSha256, version or track");
    rejects(&with(valid(), "/spec/stages/0/track", json!("LATEST")), "spec.stages[0].track");
    validate_object(&with(valid(), "/spec/stages/0", json!({"alias": "BETA", "codeSha256": SHA_A})), None)
        .expect("hash");
}

#[test]
fn trigger_target_is_a_role_or_a_declared_stage() {
    let undeclared = with(valid(), "/spec/triggers/6/target", json!("STG"));
    rejects(&undeclared, "spec.triggers");
    cel_rejects(&undeclared, "spec.triggers", "declared stage");
    for ok in ["Live", "Candidate", "Both", "BETA"] {
        validate_object(&with(valid(), "/spec/triggers/6/target", json!(ok)), None)
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn external_id_needs_role_arn() {
    let orphan = with(valid(), "/spec/externalId", json!("abc-123"));
    rejects(&orphan, "spec.externalId");
    cel_rejects(&orphan, "spec.externalId", "roleArn");
    let with_role = with(orphan, "/spec/roleArn", json!("arn:aws:iam::111122223333:role/deployer"));
    validate_object(&with_role, None).expect("externalId with roleArn");
}

#[test]
fn region_agrees_with_the_function_arn() {
    let arn =
        with(valid(), "/spec/functionName", json!("arn:aws:lambda:us-east-1:111122223333:function:trivia"));
    rejects(&arn, "spec.region");
    cel_rejects(&arn, "spec.region", "region in the functionName ARN");
    validate_object(&with(arn, "/spec/region", json!("us-east-1")), None).expect("same region");
}

// --- transition rules (oldSelf) ------------------------------------------------------------

#[test]
fn function_name_is_immutable() {
    rejects_update(&valid(), &with(valid(), "/spec/functionName", json!("other")), "spec.functionName");
    validate_object(&with(valid(), "/spec/drainSeconds", json!(60)), Some(&valid()))
        .expect("other fields may change");
}

#[test]
fn aliases_are_immutable() {
    rejects_update(&valid(), &with(valid(), "/spec/aliases", json!(["PROD2", "PROD1"])), "spec.aliases");
}

#[test]
fn phase_cannot_skip_certifying() {
    let phase = |p: &str| with(valid(), "/spec/certification/phase", json!(p));
    rejects_update(&phase("Development"), &phase("Certified"), "spec.certification.phase");
    for (from, to) in [
        ("Development", "Certifying"),
        ("Certifying", "Certified"),
        ("Certified", "Development"),
        ("Certifying", "Development"),
        ("Certified", "Certified"),
    ] {
        validate_object(&phase(to), Some(&phase(from))).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
    }
    // An object stored before `certification` existed defaults to Development.
    rejects_update(&without(valid(), "/spec/certification"), &phase("Certified"), "spec.certification.phase");
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
    let crd = LambdaAliasSet::crd();
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
    assert_eq!(names, ["Function", "Phase", "Live", "Candidate", "Ready", "Reason", "Age"]);
    assert!(columns.contains(&("Live".into(), ".status.live.summary".into())));
    assert!(columns.contains(&("Ready".into(), ".status.conditions[?(@.type==\"Ready\")].status".into())));
}

#[test]
fn api_version_is_the_crds_group_and_version() {
    let crd = LambdaAliasSet::crd();
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
        }
    }
    assert_eq!(seen_kinds.len(), 5, "examples cover alexa, API Gateway, S3, SQS and stages: {seen_kinds:?}");
}

/// The Ready reasons the CRD users install (`crds/`, `kubectl explain`) and the README list are
/// exactly the controller's `Reason::ALL`: none missing, none that the controller never writes.
#[test]
fn the_crd_and_the_readme_list_exactly_the_ready_reasons() {
    use lambda_alias_controller::plan::Reason;
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
