//! One table of validation cases: an object (and, for an update, the stored object before it)
//! and the verdict it must get. tests/it/api.rs holds the controller's own validator
//! (`api::validate::validate_object`) to each case; tests/cluster/agreement.rs holds a real API
//! server to the same cases and checks that the two agree. A case added here is checked on both
//! sides; a field says when part of a case only applies to one of them.

use serde_json::{Value, json};

use super::objects::{SHA_A, SHA_B, valid, with, without};

// --- fixtures (valid(), with() and without() come from objects.rs) ----------------------------

pub fn minimal() -> Value {
    json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1", "kind": "LambdaAliasSet",
        "metadata": {"name": "m"}, "spec": {"functionName": "f"}
    })
}

/// One trigger of each kind whose other fields have defaults.
pub fn minimal_triggers() -> Value {
    json!([
        {"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.1"}},
        {"name": "p", "permission": {"principal": "sns.amazonaws.com"}},
        {"name": "q", "eventSourceMapping": {"eventSourceArn": "arn:aws:sqs:eu-west-1:111122223333:q"}}
    ])
}

pub fn certified() -> Value {
    with(valid(), "/spec/certification", json!({"phase": "Certified", "codeSha256": SHA_A}))
}

pub fn phase(p: &str) -> Value {
    with(valid(), "/spec/certification/phase", json!(p))
}

/// The valid object, Alexa-aware: SMAPI credentials from the Secret `smapi`.
pub fn alexa_aware() -> Value {
    with(valid(), "/spec/alexa", json!({"credentialsSecretRef": {"name": "smapi"}}))
}

pub fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

pub fn triggers(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"name": format!("t{i}"), "s3": {"bucketArn": "arn:aws:s3:::bucket-1"}}))
            .collect(),
    )
}

pub fn stages(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"alias": format!("S{i}"), "version": "1"})).collect())
}

// --- the case table ---------------------------------------------------------------------------

pub struct Case {
    pub name: String,
    pub object: Value,
    /// The previous object: an update. The server gets it created for real, then a dry-run replace.
    pub old: Option<Value>,
    /// `None`: valid. `Some(path)`: invalid, and both validators name `path` among their errors.
    pub expect: Option<&'static str>,
    /// Client only: words the controller's error must contain (the server words its own).
    pub message: Option<&'static str>,
    /// Client only: the CEL rules alone, run by kube's client-side CEL engine the way the API
    /// server runs them after structural validation, reject the object at this path with a
    /// message containing these words.
    pub cel: Option<(&'static str, &'static str)>,
    /// Server only: `Some(why)`: compare the verdicts only, not the paths.
    pub verdict_only: Option<&'static str>,
}

impl Case {
    pub fn verdict_only(mut self, why: &'static str) -> Case {
        self.verdict_only = Some(why);
        self
    }

    pub fn saying(mut self, words: &'static str) -> Case {
        self.message = Some(words);
        self
    }

    pub fn cel(mut self, field: &'static str, words: &'static str) -> Case {
        self.cel = Some((field, words));
        self
    }
}

fn case(name: &str, object: Value, old: Option<Value>, expect: Option<&'static str>) -> Case {
    Case { name: name.to_string(), object, old, expect, message: None, cel: None, verdict_only: None }
}

pub fn ok(name: &str, object: Value) -> Case {
    case(name, object, None, None)
}

pub fn bad(name: &str, object: Value, field: &'static str) -> Case {
    case(name, object, None, Some(field))
}

pub fn ok_update(name: &str, old: Value, new: Value) -> Case {
    case(name, new, Some(old), None)
}

pub fn bad_update(name: &str, old: Value, new: Value, field: &'static str) -> Case {
    case(name, new, Some(old), Some(field))
}

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(valid_cases());
    cases.extend(required_and_type_cases());
    cases.extend(pattern_and_length_cases());
    cases.extend(enum_and_bound_cases());
    cases.extend(unknown_field_and_identity_cases());
    cases.extend(cel_cases());
    cases.extend(transition_cases());
    cases.extend(rollout_cases());
    cases.extend(provisioned_concurrency_cases());
    cases
}

/// The valid object with `spec.provisionedConcurrency` set to `pc`.
pub fn provisioned(pc: Value) -> Value {
    with(valid(), "/spec/provisionedConcurrency", pc)
}

pub fn provisioned_concurrency_cases() -> Vec<Case> {
    vec![
        ok("provisionedConcurrency: live only (candidate defaults to 0)", provisioned(json!({"live": 10}))),
        ok("provisionedConcurrency: live and candidate", provisioned(json!({"live": 10, "candidate": 2}))),
        bad(
            "provisionedConcurrency: live required",
            provisioned(json!({"candidate": 2})),
            "spec.provisionedConcurrency.live",
        ),
        bad(
            "provisionedConcurrency: live 0",
            provisioned(json!({"live": 0})),
            "spec.provisionedConcurrency.live",
        ),
        bad(
            "provisionedConcurrency: live above 100000",
            provisioned(json!({"live": 100001})),
            "spec.provisionedConcurrency.live",
        ),
        bad(
            "provisionedConcurrency: candidate above 100000",
            provisioned(json!({"live": 1, "candidate": 100001})),
            "spec.provisionedConcurrency.candidate",
        ),
        bad(
            "provisionedConcurrency: a negative candidate",
            provisioned(json!({"live": 1, "candidate": -1})),
            "spec.provisionedConcurrency.candidate",
        ),
        bad(
            "provisionedConcurrency: live as text",
            provisioned(json!({"live": "10"})),
            "spec.provisionedConcurrency.live",
        ),
        bad(
            "provisionedConcurrency: an unknown field",
            provisioned(json!({"live": 1, "alias": 2})),
            "spec.provisionedConcurrency.alias",
        ),
    ]
}

/// The valid object with `spec.rollout` set to `rollout`.
pub fn rollout(rollout: Value) -> Value {
    with(valid(), "/spec/rollout", rollout)
}

pub fn rollout_cases() -> Vec<Case> {
    let linear: Vec<i64> = (1..=9).map(|i| i * 10).collect();
    let twenty: Vec<i64> = (1..=20).collect();
    let alarms: Vec<String> = (0..10).map(|i| format!("alarm {i}")).collect();
    vec![
        ok(
            "rollout: a canary (SAM's Canary10Percent5Minutes)",
            rollout(json!({"steps": [10], "intervalSeconds": 300})),
        ),
        ok(
            "rollout: linear with alarms and the error-rate guard",
            rollout(json!({"steps": linear, "intervalSeconds": 60, "alarms": alarms, "maxErrorRate": 0.05})),
        ),
        ok("rollout: 20 steps, the interval defaulted", rollout(json!({"steps": twenty}))),
        bad("rollout: steps required", rollout(json!({"intervalSeconds": 60})), "spec.rollout.steps"),
        bad("rollout: no steps", rollout(json!({"steps": []})), "spec.rollout.steps"),
        bad(
            "rollout: 21 steps",
            rollout(json!({"steps": (1..=21).collect::<Vec<i64>>()})),
            "spec.rollout.steps",
        ),
        bad("rollout: a step of 0", rollout(json!({"steps": [0, 50]})), "spec.rollout.steps[0]"),
        bad("rollout: a step of 100", rollout(json!({"steps": [50, 100]})), "spec.rollout.steps[1]"),
        bad("rollout: steps going down", rollout(json!({"steps": [10, 50, 20]})), "spec.rollout.steps")
            .cel("spec.rollout.steps", "strictly increasing"),
        bad("rollout: a step repeated", rollout(json!({"steps": [10, 10]})), "spec.rollout.steps")
            .cel("spec.rollout.steps", "strictly increasing"),
        bad(
            "rollout: interval 0",
            rollout(json!({"steps": [10], "intervalSeconds": 0})),
            "spec.rollout.intervalSeconds",
        ),
        bad(
            "rollout: interval over a day",
            rollout(json!({"steps": [10], "intervalSeconds": 86401})),
            "spec.rollout.intervalSeconds",
        ),
        bad(
            "rollout: 11 alarms",
            rollout(json!({"steps": [10], "alarms": (0..11).map(|i| format!("a{i}")).collect::<Vec<_>>()})),
            "spec.rollout.alarms",
        ),
        bad(
            "rollout: an empty alarm name",
            rollout(json!({"steps": [10], "alarms": [""]})),
            "spec.rollout.alarms[0]",
        ),
        bad(
            "rollout: an alarm name of 256 characters",
            rollout(json!({"steps": [10], "alarms": [long('a', 256)]})),
            "spec.rollout.alarms[0]",
        ),
        bad(
            "rollout: an alarm name with a control character",
            rollout(json!({"steps": [10], "alarms": ["errors\nlatency"]})),
            "spec.rollout.alarms[0]",
        ),
        bad(
            "rollout: maxErrorRate above 1",
            rollout(json!({"steps": [10], "maxErrorRate": 1.5})),
            "spec.rollout.maxErrorRate",
        ),
        bad(
            "rollout: maxErrorRate below 0",
            rollout(json!({"steps": [10], "maxErrorRate": -0.1})),
            "spec.rollout.maxErrorRate",
        ),
    ]
}

pub fn valid_cases() -> Vec<Case> {
    let arn = "arn:aws:lambda:us-east-1:111122223333:function:trivia";
    let mut cases = vec![
        ok("every trigger kind and a stage", valid()),
        ok("minimal object", minimal()),
        ok("minimal triggers get their defaults", with(minimal(), "/spec/triggers", minimal_triggers())),
        ok(
            "functionName: partial ARN",
            with(valid(), "/spec/functionName", json!("111122223333:function:trivia")),
        ),
        ok(
            "functionName: full ARN in the spec's region",
            with(
                valid(),
                "/spec/functionName",
                json!("arn:aws:lambda:eu-west-1:111122223333:function:trivia"),
            ),
        ),
        ok("functionName: 64-character name", with(valid(), "/spec/functionName", json!(long('f', 64)))),
        ok("alexa kind SmartHome", with(valid(), "/spec/triggers/0/alexaSkill/kind", json!("SmartHome"))),
        ok("deletionPolicy Delete", with(valid(), "/spec/deletionPolicy", json!("Delete"))),
        ok("drainSeconds 0", with(valid(), "/spec/drainSeconds", json!(0))),
        ok("drainSeconds at its maximum", with(valid(), "/spec/drainSeconds", json!(604800))),
        ok("drainSeconds 10.0 is a whole number", with(valid(), "/spec/drainSeconds", json!(10.0))),
        ok("retainVersions 0", with(valid(), "/spec/retainVersions", json!(0))),
        ok("retainVersions at its maximum", with(valid(), "/spec/retainVersions", json!(1000))),
        ok("suspend true", with(valid(), "/spec/suspend", json!(true))),
        ok(
            "real skill id shape",
            with(
                valid(),
                "/spec/triggers/0/alexaSkill/skillId",
                json!("amzn1.ask.skill.3b4c5d6e-1234-4f00-9a9a-0123456789ab"),
            ),
        ),
        ok("aliases blue and green_2", with(valid(), "/spec/aliases", json!(["blue", "green_2"]))),
        ok("live: a pin alone", with(valid(), "/spec/live", json!({"version": "3"}))),
        ok("live: a hash alone", with(valid(), "/spec/live", json!({"codeSha256": SHA_A}))),
        ok("live: pin while Certifying", with(phase("Certifying"), "/spec/live", json!({"version": "3"}))),
        ok("live: pin while Certifying a hash", {
            let pinned = with(certified(), "/spec/live", json!({"version": "3"}));
            with(pinned, "/spec/certification/phase", json!("Certifying"))
        }),
        ok(
            "Certified: live hash equals the certified one",
            with(certified(), "/spec/live", json!({"codeSha256": SHA_A})),
        ),
        ok("Certified without a live override", certified()),
        ok("stage on a hash", with(valid(), "/spec/stages/0", json!({"alias": "BETA", "codeSha256": SHA_A}))),
        ok("stage on a version", with(valid(), "/spec/stages/0", json!({"alias": "BETA", "version": "12"}))),
        ok("externalId with roleArn", {
            let v = with(valid(), "/spec/externalId", json!("abc-123"));
            with(v, "/spec/roleArn", json!("arn:aws:iam::111122223333:role/deployer"))
        }),
        ok("function ARN with the same region", {
            let v = with(valid(), "/spec/functionName", json!(arn));
            with(v, "/spec/region", json!("us-east-1"))
        }),
        ok(
            "function ARN without a region",
            without(with(valid(), "/spec/functionName", json!(arn)), "/spec/region"),
        ),
        ok(
            "partial ARN with any region",
            with(valid(), "/spec/functionName", json!("111122223333:function:t")),
        ),
        ok("batchSize 1", with(valid(), "/spec/triggers/5/eventSourceMapping/batchSize", json!(1))),
        ok("batchSize 10000", with(valid(), "/spec/triggers/5/eventSourceMapping/batchSize", json!(10000))),
        ok(
            "startingPosition TRIM_HORIZON",
            with(valid(), "/spec/triggers/5/eventSourceMapping/startingPosition", json!("TRIM_HORIZON")),
        ),
        ok("mapping disabled", with(valid(), "/spec/triggers/5/eventSourceMapping/enabled", json!(false))),
        ok(
            "permission with every field",
            with(
                valid(),
                "/spec/triggers/4/permission",
                json!({"principal": "*", "sourceArn": "arn:aws:sns:eu-west-1:111122223333:topic",
                       "sourceAccount": "111122223333", "eventSourceToken": "tok.en_1-2", "action": "lambda:*"}),
            ),
        ),
        ok("permission action *", with(valid(), "/spec/triggers/4/permission/action", json!("*"))),
        ok("s3 without sourceAccount", without(valid(), "/spec/triggers/2/s3/sourceAccount")),
        ok("as many triggers as allowed", with(valid(), "/spec/triggers", triggers(64))),
        ok(
            "as many stages as allowed",
            with(without(valid(), "/spec/triggers/6/target"), "/spec/stages", stages(16)),
        ),
        ok("no stages and no triggers", without(without(valid(), "/spec/stages"), "/spec/triggers")),
        // Go's `\s` is ASCII: a no-break space is not white space to the API server's RE2.
        ok(
            "principal with a no-break space",
            with(valid(), "/spec/triggers/4/permission/principal", json!("sns.amazonaws.com\u{a0}x")),
        ),
        // maxLength counts characters, not bytes (400 bytes here).
        ok(
            "description of 200 two-byte characters",
            with(valid(), "/spec/certification/description", json!(long('é', 200))),
        ),
        // status is the controller's: the status subresource drops it on create.
        ok("status is ignored on create", with(valid(), "/status", json!({"phase": "Bogus", "live": 3}))),
        ok("a bad status phase is ignored on create", with(valid(), "/status", json!({"phase": "Bogus"}))),
        // null in a non-nullable field is pruned, then defaulted.
        ok("drainSeconds null gets the default", with(valid(), "/spec/drainSeconds", Value::Null)),
        ok(
            "alexa kind null gets the default",
            with(valid(), "/spec/triggers/0/alexaSkill/kind", Value::Null),
        ),
        ok("certification null gets the default", with(valid(), "/spec/certification", Value::Null)),
        // null in a nullable field stays, and CEL's has() sees it as absent.
        ok("externalId null", with(valid(), "/spec/externalId", Value::Null)),
        ok("live null", with(valid(), "/spec/live", Value::Null)),
        ok(
            "live hash with a null version",
            with(valid(), "/spec/live", json!({"codeSha256": SHA_A, "version": null})),
        ),
        ok("a second trigger kind set to null", with(valid(), "/spec/triggers/0/apiGateway", Value::Null)),
        ok("metadata with labels and annotations", {
            let v = with(valid(), "/metadata/labels", json!({"app": "trivia"}));
            with(v, "/metadata/annotations", json!({"note": "x"}))
        }),
    ];
    for target in ["Live", "Candidate", "Both"] {
        cases.push(ok(&format!("target {target}"), with(valid(), "/spec/triggers/6/target", json!(target))));
    }
    cases.extend([
        ok_update("drainSeconds may change", valid(), with(valid(), "/spec/drainSeconds", json!(60))),
        ok(
            "manageDevelopmentEndpoint on an Alexa-aware set",
            with(alexa_aware(), "/spec/alexa/manageDevelopmentEndpoint", json!(true)),
        ),
        ok(
            "FromSkill on an Alexa-aware set",
            with(alexa_aware(), "/spec/certification/phase", json!("FromSkill")),
        ),
        ok_update(
            "Development -> FromSkill",
            alexa_aware(),
            with(alexa_aware(), "/spec/certification/phase", json!("FromSkill")),
        ),
        ok_update(
            "FromSkill -> Certified",
            with(alexa_aware(), "/spec/certification/phase", json!("FromSkill")),
            with(alexa_aware(), "/spec/certification/phase", json!("Certified")),
        ),
        ok_update("Development -> Certifying", phase("Development"), phase("Certifying")),
        ok_update("Certifying -> Certified", phase("Certifying"), phase("Certified")),
        ok_update("Certified -> Development", phase("Certified"), phase("Development")),
        ok_update("Certifying -> Development", phase("Certifying"), phase("Development")),
        ok_update("Certified -> Certified", phase("Certified"), phase("Certified")),
        ok_update(
            "stored without certification -> Certifying",
            without(valid(), "/spec/certification"),
            phase("Certifying"),
        ),
        ok_update(
            "stages and triggers may change",
            valid(),
            with(with(valid(), "/spec/stages", stages(3)), "/spec/triggers", triggers(2)),
        ),
        ok_update("status is ignored on update", valid(), with(valid(), "/status", json!({"phase": 7}))),
    ]);
    cases
}

pub fn required_and_type_cases() -> Vec<Case> {
    vec![
        bad("functionName missing", without(valid(), "/spec/functionName"), "spec.functionName"),
        bad("functionName null", with(valid(), "/spec/functionName", Value::Null), "spec.functionName"),
        bad("spec missing", without(valid(), "/spec"), "spec"),
        bad("spec null", with(valid(), "/spec", Value::Null), "spec"),
        bad(
            "stage alias missing",
            with(valid(), "/spec/stages/0", json!({"track": "$LATEST"})),
            "spec.stages[0].alias",
        ),
        bad("trigger name missing", without(valid(), "/spec/triggers/0/name"), "spec.triggers[0].name"),
        bad(
            "two triggers without a name (also duplicates)",
            without(without(valid(), "/spec/triggers/0/name"), "/spec/triggers/1/name"),
            "spec.triggers[1]",
        ),
        bad(
            "skillId missing",
            without(valid(), "/spec/triggers/0/alexaSkill/skillId"),
            "spec.triggers[0].alexaSkill.skillId",
        ),
        bad(
            "skillId null",
            with(valid(), "/spec/triggers/0/alexaSkill/skillId", Value::Null),
            "spec.triggers[0].alexaSkill.skillId",
        ),
        bad(
            "apiGateway sourceArn missing",
            with(valid(), "/spec/triggers/1/apiGateway", json!({})),
            "spec.triggers[1].apiGateway.sourceArn",
        ),
        bad(
            "s3 bucketArn missing",
            without(valid(), "/spec/triggers/2/s3/bucketArn"),
            "spec.triggers[2].s3.bucketArn",
        ),
        bad(
            "eventBridge ruleArn missing",
            with(valid(), "/spec/triggers/3/eventBridge", json!({})),
            "spec.triggers[3].eventBridge.ruleArn",
        ),
        bad(
            "permission principal missing",
            without(valid(), "/spec/triggers/4/permission/principal"),
            "spec.triggers[4].permission.principal",
        ),
        bad(
            "eventSourceArn missing",
            without(valid(), "/spec/triggers/5/eventSourceMapping/eventSourceArn"),
            "spec.triggers[5].eventSourceMapping.eventSourceArn",
        ),
        bad(
            "drainSeconds as a string",
            with(valid(), "/spec/drainSeconds", json!("300")),
            "spec.drainSeconds",
        ),
        bad("drainSeconds 1.5", with(valid(), "/spec/drainSeconds", json!(1.5)), "spec.drainSeconds"),
        bad("drainSeconds 10.5", with(valid(), "/spec/drainSeconds", json!(10.5)), "spec.drainSeconds"),
        bad(
            "drainSeconds 1e20 is a float",
            with(valid(), "/spec/drainSeconds", json!(1e20)),
            "spec.drainSeconds",
        ),
        bad(
            "batchSize 1.5",
            with(valid(), "/spec/triggers/5/eventSourceMapping/batchSize", json!(1.5)),
            "spec.triggers[5].eventSourceMapping.batchSize",
        ),
        bad(
            "deletionPolicy as a number",
            with(valid(), "/spec/deletionPolicy", json!(5)),
            "spec.deletionPolicy",
        ),
        bad("suspend as a string", with(valid(), "/spec/suspend", json!("yes")), "spec.suspend"),
        bad(
            "enabled as a string",
            with(valid(), "/spec/triggers/5/eventSourceMapping/enabled", json!("yes")),
            "spec.triggers[5].eventSourceMapping.enabled",
        ),
        bad("aliases as a string", with(valid(), "/spec/aliases", json!("PROD1")), "spec.aliases"),
        bad("alias as a number", with(valid(), "/spec/aliases", json!([1, "PROD2"])), "spec.aliases[0]"),
        bad("alias null", with(valid(), "/spec/aliases", json!(["PROD1", null])), "spec.aliases[1]"),
        bad("stages as an object", with(valid(), "/spec/stages", json!({})), "spec.stages"),
        bad("spec as a string", with(valid(), "/spec", json!("x")), "spec"),
        bad("trigger as a string", with(valid(), "/spec/triggers", json!(["x"])), "spec.triggers[0]"),
        bad("trigger null", with(valid(), "/spec/triggers/0", Value::Null), "spec.triggers[0]"),
        bad(
            "certification as a string",
            with(valid(), "/spec/certification", json!("Certified")),
            "spec.certification",
        ),
        bad("live as a string", with(valid(), "/spec/live", json!("3")), "spec.live"),
        bad("region as a number", with(valid(), "/spec/region", json!(1)), "spec.region"),
    ]
}

pub fn pattern_and_length_cases() -> Vec<Case> {
    let role = "arn:aws:iam::111122223333:role/deployer";
    let with_role = || with(valid(), "/spec/roleArn", json!(role));
    let mut cases = Vec::new();
    // RE2's `$` is the end of the text, never before a final newline.
    for bad_name in [
        "arn:aws:lambda:eu-west-1:111122223333:function:trivia:PROD1",
        "trivia:PROD1",
        "has space",
        "trivia\n",
    ] {
        cases.push(bad(
            &format!("functionName {bad_name:?}"),
            with(valid(), "/spec/functionName", json!(bad_name)),
            "spec.functionName",
        ));
    }
    for bad_name in ["Alexa", "a_b", "-a", "a-", "a234567890123456789012345678901234"] {
        cases.push(bad(
            &format!("trigger name {bad_name:?}"),
            with(valid(), "/spec/triggers/0/name", json!(bad_name)),
            "spec.triggers[0].name",
        ));
    }
    for bad_alias in ["123", "PROD 1", "$LATEST"] {
        cases.push(bad(
            &format!("alias {bad_alias:?}"),
            with(valid(), "/spec/aliases", json!(["PROD1", bad_alias])),
            "spec.aliases[1]",
        ));
    }
    cases.extend([
        bad("functionName empty", with(valid(), "/spec/functionName", json!("")), "spec.functionName"),
        bad(
            "functionName too long",
            with(valid(), "/spec/functionName", json!(long('f', 141))),
            "spec.functionName",
        ),
        bad("region pattern", with(valid(), "/spec/region", json!("Europe")), "spec.region"),
        bad(
            "region too long",
            with(valid(), "/spec/region", json!(format!("eu-{}-1", long('w', 30)))),
            "spec.region",
        ),
        bad(
            "roleArn of a user",
            with(valid(), "/spec/roleArn", json!("arn:aws:iam::1:user/x")),
            "spec.roleArn",
        ),
        bad(
            "roleArn too long",
            with(
                valid(),
                "/spec/roleArn",
                json!(format!("arn:aws:iam::111122223333:role/{}", long('r', 2030))),
            ),
            "spec.roleArn",
        ),
        bad("FromSkill without alexa", phase("FromSkill"), "spec.certification.phase"),
        bad(
            "FromSkill without an alexaSkill trigger",
            with(
                with(
                    alexa_aware(),
                    "/spec/triggers",
                    json!([{"name": "p", "permission": {"principal": "sns.amazonaws.com"}}]),
                ),
                "/spec/certification/phase",
                json!("FromSkill"),
            ),
            "spec.certification.phase",
        ),
        bad(
            "manageDevelopmentEndpoint without an alexaSkill trigger",
            with(
                with(
                    alexa_aware(),
                    "/spec/triggers",
                    json!([{"name": "p", "permission": {"principal": "sns.amazonaws.com"}}]),
                ),
                "/spec/alexa/manageDevelopmentEndpoint",
                json!(true),
            ),
            "spec.alexa.manageDevelopmentEndpoint",
        ),
        bad(
            "manageDevelopmentEndpoint without credentials",
            with(valid(), "/spec/alexa", json!({"manageDevelopmentEndpoint": true})),
            "spec.alexa.credentialsSecretRef",
        ),
        bad(
            "manageDevelopmentEndpoint is a boolean",
            with(alexa_aware(), "/spec/alexa/manageDevelopmentEndpoint", json!("yes")),
            "spec.alexa.manageDevelopmentEndpoint",
        ),
        bad(
            "alexa without credentialsSecretRef",
            with(valid(), "/spec/alexa", json!({})),
            "spec.alexa.credentialsSecretRef",
        ),
        bad(
            "credentialsSecretRef without name",
            with(valid(), "/spec/alexa", json!({"credentialsSecretRef": {}})),
            "spec.alexa.credentialsSecretRef.name",
        ),
        bad(
            "credentialsSecretRef name empty",
            with(alexa_aware(), "/spec/alexa/credentialsSecretRef/name", json!("")),
            "spec.alexa.credentialsSecretRef.name",
        ),
        bad(
            "credentialsSecretRef name too long",
            with(alexa_aware(), "/spec/alexa/credentialsSecretRef/name", json!(long('s', 254))),
            "spec.alexa.credentialsSecretRef.name",
        ),
        bad(
            "credentialsSecretRef name pattern",
            with(alexa_aware(), "/spec/alexa/credentialsSecretRef/name", json!("Smapi_Creds")),
            "spec.alexa.credentialsSecretRef.name",
        ),
        bad("externalId pattern", with(with_role(), "/spec/externalId", json!("a b")), "spec.externalId"),
        bad("externalId too short", with(with_role(), "/spec/externalId", json!("a")), "spec.externalId"),
        bad(
            "externalId too long",
            with(with_role(), "/spec/externalId", json!(long('e', 1225))),
            "spec.externalId",
        ),
        bad(
            "alias empty (and not two distinct)",
            with(valid(), "/spec/aliases", json!(["PROD1", ""])),
            "spec.aliases[1]",
        ),
        bad(
            "alias too long",
            with(valid(), "/spec/aliases", json!(["PROD1", long('A', 129)])),
            "spec.aliases[1]",
        ),
        bad(
            "certification codeSha256 pattern",
            with(valid(), "/spec/certification/codeSha256", json!("not-a-hash")),
            "spec.certification.codeSha256",
        ),
        bad(
            "certification codeSha256 too long",
            with(valid(), "/spec/certification/codeSha256", json!(format!("{SHA_A}A"))),
            "spec.certification.codeSha256",
        ),
        bad(
            "certification description too long",
            with(valid(), "/spec/certification/description", json!(long('é', 257))),
            "spec.certification.description",
        ),
        bad(
            "live codeSha256 pattern",
            with(valid(), "/spec/live", json!({"codeSha256": "abc"})),
            "spec.live.codeSha256",
        ),
        bad(
            "live version $LATEST",
            with(valid(), "/spec/live", json!({"version": "$LATEST"})),
            "spec.live.version",
        ),
        bad("live version 0", with(valid(), "/spec/live", json!({"version": "0"})), "spec.live.version"),
        bad(
            "live version too long",
            with(valid(), "/spec/live", json!({"version": "12345678901"})),
            "spec.live.version",
        ),
        bad(
            "live codeSha256 too long",
            with(valid(), "/spec/live", json!({"codeSha256": format!("{SHA_A}=")})),
            "spec.live.codeSha256",
        ),
        bad(
            "stage codeSha256 too long",
            with(valid(), "/spec/stages/0", json!({"alias": "BETA", "codeSha256": format!("A{SHA_A}")})),
            "spec.stages[0].codeSha256",
        ),
        bad(
            "stage version too long",
            with(valid(), "/spec/stages/0", json!({"alias": "BETA", "version": "10000000000"})),
            "spec.stages[0].version",
        ),
        bad(
            "permission sourceAccount too long",
            with(valid(), "/spec/triggers/4/permission/sourceAccount", json!("1111222233334")),
            "spec.triggers[4].permission.sourceAccount",
        ),
        bad(
            "permission sourceArn too long",
            with(
                valid(),
                "/spec/triggers/4/permission/sourceArn",
                json!(format!("arn:aws:sns:eu-west-1:111122223333:{}", long('t', 1000))),
            ),
            "spec.triggers[4].permission.sourceArn",
        ),
        bad(
            "stage alias all digits",
            with(valid(), "/spec/stages/0/alias", json!("42")),
            "spec.stages[0].alias",
        ),
        bad("stage alias empty", with(valid(), "/spec/stages/0/alias", json!("")), "spec.stages[0].alias"),
        bad(
            "stage alias too long",
            with(valid(), "/spec/stages/0/alias", json!(long('B', 129))),
            "spec.stages[0].alias",
        ),
        bad(
            "stage codeSha256 pattern",
            with(valid(), "/spec/stages/0", json!({"alias": "BETA", "codeSha256": "x"})),
            "spec.stages[0].codeSha256",
        ),
        bad(
            "stage version 01",
            with(valid(), "/spec/stages/0", json!({"alias": "BETA", "version": "01"})),
            "spec.stages[0].version",
        ),
        bad(
            "trigger name too long",
            with(valid(), "/spec/triggers/0/name", json!(long('a', 34))),
            "spec.triggers[0].name",
        ),
        bad("trigger name empty", with(valid(), "/spec/triggers/0/name", json!("")), "spec.triggers[0].name"),
        bad(
            "skillId pattern",
            with(valid(), "/spec/triggers/0/alexaSkill/skillId", json!("skill-123")),
            "spec.triggers[0].alexaSkill.skillId",
        ),
        bad(
            "skillId too long",
            with(
                valid(),
                "/spec/triggers/0/alexaSkill/skillId",
                json!(format!("amzn1.ask.skill.{}", long('1', 113))),
            ),
            "spec.triggers[0].alexaSkill.skillId",
        ),
        bad(
            "apiGateway sourceArn of SNS",
            with(
                valid(),
                "/spec/triggers/1/apiGateway/sourceArn",
                json!("arn:aws:sns:eu-west-1:111122223333:t"),
            ),
            "spec.triggers[1].apiGateway.sourceArn",
        ),
        bad(
            "apiGateway sourceArn too long",
            with(
                valid(),
                "/spec/triggers/1/apiGateway/sourceArn",
                json!(format!("arn:aws:execute-api:eu-west-1:111122223333:abc/{}", long('x', 1000))),
            ),
            "spec.triggers[1].apiGateway.sourceArn",
        ),
        bad(
            "s3 bucketArn pattern",
            with(valid(), "/spec/triggers/2/s3/bucketArn", json!("trivia-uploads")),
            "spec.triggers[2].s3.bucketArn",
        ),
        bad(
            "s3 bucketArn too long",
            with(valid(), "/spec/triggers/2/s3/bucketArn", json!(format!("arn:aws:s3:::{}", long('b', 120)))),
            "spec.triggers[2].s3.bucketArn",
        ),
        bad(
            "s3 sourceAccount pattern",
            with(valid(), "/spec/triggers/2/s3/sourceAccount", json!("1234")),
            "spec.triggers[2].s3.sourceAccount",
        ),
        bad(
            "s3 sourceAccount too long",
            with(valid(), "/spec/triggers/2/s3/sourceAccount", json!("1111222233334")),
            "spec.triggers[2].s3.sourceAccount",
        ),
        bad(
            "eventBridge ruleArn of a bus",
            with(
                valid(),
                "/spec/triggers/3/eventBridge/ruleArn",
                json!("arn:aws:events:eu-west-1:111122223333:bus/x"),
            ),
            "spec.triggers[3].eventBridge.ruleArn",
        ),
        bad(
            "eventBridge ruleArn too long",
            with(
                valid(),
                "/spec/triggers/3/eventBridge/ruleArn",
                json!(format!("arn:aws:events:eu-west-1:111122223333:rule/{}", long('r', 1000))),
            ),
            "spec.triggers[3].eventBridge.ruleArn",
        ),
        bad(
            "principal empty",
            with(valid(), "/spec/triggers/4/permission/principal", json!("")),
            "spec.triggers[4].permission.principal",
        ),
        bad(
            "principal with a space",
            with(valid(), "/spec/triggers/4/permission/principal", json!("sns amazonaws.com")),
            "spec.triggers[4].permission.principal",
        ),
        bad(
            "principal with a tab",
            with(valid(), "/spec/triggers/4/permission/principal", json!("sns\tamazonaws.com")),
            "spec.triggers[4].permission.principal",
        ),
        bad(
            "principal too long",
            with(valid(), "/spec/triggers/4/permission/principal", json!(long('p', 257))),
            "spec.triggers[4].permission.principal",
        ),
        bad(
            "permission sourceArn pattern",
            with(valid(), "/spec/triggers/4/permission/sourceArn", json!("arn:aws")),
            "spec.triggers[4].permission.sourceArn",
        ),
        bad(
            "permission sourceAccount pattern",
            with(valid(), "/spec/triggers/4/permission/sourceAccount", json!("abc")),
            "spec.triggers[4].permission.sourceAccount",
        ),
        bad(
            "eventSourceToken pattern",
            with(valid(), "/spec/triggers/4/permission/eventSourceToken", json!("a b")),
            "spec.triggers[4].permission.eventSourceToken",
        ),
        bad(
            "eventSourceToken too long",
            with(valid(), "/spec/triggers/4/permission/eventSourceToken", json!(long('t', 257))),
            "spec.triggers[4].permission.eventSourceToken",
        ),
        bad(
            "action of another service",
            with(valid(), "/spec/triggers/4/permission/action", json!("s3:GetObject")),
            "spec.triggers[4].permission.action",
        ),
        bad(
            "action too long",
            with(valid(), "/spec/triggers/4/permission/action", json!(format!("lambda:{}", long('a', 60)))),
            "spec.triggers[4].permission.action",
        ),
        bad(
            "eventSourceArn pattern",
            with(valid(), "/spec/triggers/5/eventSourceMapping/eventSourceArn", json!("orders")),
            "spec.triggers[5].eventSourceMapping.eventSourceArn",
        ),
        bad(
            "eventSourceArn too long",
            with(
                valid(),
                "/spec/triggers/5/eventSourceMapping/eventSourceArn",
                json!(format!("arn:aws:sqs:eu-west-1:111122223333:{}", long('q', 1000))),
            ),
            "spec.triggers[5].eventSourceMapping.eventSourceArn",
        ),
        bad("target empty", with(valid(), "/spec/triggers/6/target", json!("")), "spec.triggers[6].target"),
        bad(
            "target all digits",
            with(valid(), "/spec/triggers/6/target", json!("123")),
            "spec.triggers[6].target",
        ),
        bad(
            "target too long",
            with(valid(), "/spec/triggers/6/target", json!(long('T', 129))),
            "spec.triggers[6].target",
        ),
    ]);
    cases
}

pub fn enum_and_bound_cases() -> Vec<Case> {
    vec![
        bad(
            "phase Released",
            with(valid(), "/spec/certification/phase", json!("Released")),
            "spec.certification.phase",
        )
        .saying("Development"),
        bad(
            "alexa kind Music",
            with(valid(), "/spec/triggers/0/alexaSkill/kind", json!("Music")),
            "spec.triggers[0].alexaSkill.kind",
        ),
        bad(
            "deletionPolicy Orphan",
            with(valid(), "/spec/deletionPolicy", json!("Orphan")),
            "spec.deletionPolicy",
        ),
        bad(
            "startingPosition EARLIEST",
            with(valid(), "/spec/triggers/5/eventSourceMapping/startingPosition", json!("EARLIEST")),
            "spec.triggers[5].eventSourceMapping.startingPosition",
        ),
        bad("track LATEST", with(valid(), "/spec/stages/0/track", json!("LATEST")), "spec.stages[0].track"),
        bad("track \"null\"", with(valid(), "/spec/stages/0/track", json!("null")), "spec.stages[0].track"),
        // An optional enum is not nullable: a null is pruned like an absent field, so a stage
        // left with no target breaks the "exactly one" rule and a null startingPosition is fine.
        bad("track null", with(valid(), "/spec/stages/0/track", Value::Null), "spec.stages[0]"),
        ok(
            "startingPosition null is pruned",
            with(valid(), "/spec/triggers/5/eventSourceMapping/startingPosition", Value::Null),
        ),
        bad("drainSeconds -1", with(valid(), "/spec/drainSeconds", json!(-1)), "spec.drainSeconds"),
        bad(
            "drainSeconds over 7 days",
            with(valid(), "/spec/drainSeconds", json!(604801)),
            "spec.drainSeconds",
        ),
        bad("retainVersions -3", with(valid(), "/spec/retainVersions", json!(-3)), "spec.retainVersions"),
        bad("retainVersions 1001", with(valid(), "/spec/retainVersions", json!(1001)), "spec.retainVersions"),
        // Beyond int32 too: the server adds a format error without a field.
        bad(
            "retainVersions 3000000000",
            with(valid(), "/spec/retainVersions", json!(3_000_000_000u64)),
            "spec.retainVersions",
        ),
        bad(
            "batchSize 0",
            with(valid(), "/spec/triggers/5/eventSourceMapping/batchSize", json!(0)),
            "spec.triggers[5].eventSourceMapping.batchSize",
        ),
        bad(
            "batchSize 10001",
            with(valid(), "/spec/triggers/5/eventSourceMapping/batchSize", json!(10001)),
            "spec.triggers[5].eventSourceMapping.batchSize",
        ),
        // minItems does not block the CEL rules, so the size rule speaks too.
        bad("one alias", with(valid(), "/spec/aliases", json!(["PROD1"])), "spec.aliases")
            .cel("spec.aliases", "two distinct"),
        bad(
            "three aliases",
            with(valid(), "/spec/aliases", json!(["PROD1", "PROD2", "PROD3"])),
            "spec.aliases",
        ),
        bad("17 stages", with(valid(), "/spec/stages", stages(17)), "spec.stages"),
        bad("65 triggers", with(valid(), "/spec/triggers", triggers(65)), "spec.triggers"),
        bad(
            "duplicate trigger names",
            with(valid(), "/spec/triggers/1/name", json!("alexa")),
            "spec.triggers[1]",
        )
        .saying("alexa"),
        bad(
            "three triggers with one name",
            with(
                with(valid(), "/spec/triggers/1/name", json!("alexa")),
                "/spec/triggers/2/name",
                json!("alexa"),
            ),
            "spec.triggers[1]",
        ),
        bad("two null triggers", with(valid(), "/spec/triggers", json!([null, null])), "spec.triggers[1]"),
        bad(
            "two triggers that are not objects",
            with(valid(), "/spec/triggers", json!([1, "x"])),
            "spec.triggers[1]",
        ),
        bad(
            "duplicate stage aliases",
            with(
                valid(),
                "/spec/stages",
                json!([{"alias": "BETA", "track": "$LATEST"}, {"alias": "BETA", "version": "2"}]),
            ),
            "spec.stages[1]",
        ),
    ]
}

pub fn unknown_field_and_identity_cases() -> Vec<Case> {
    vec![
        bad("unknown spec.liveAlias", with(valid(), "/spec/liveAlias", json!("PROD1")), "spec.liveAlias"),
        bad(
            "unknown trigger field `on`",
            with(valid(), "/spec/triggers/0/on", json!("Live")),
            "spec.triggers[0].on",
        ),
        bad(
            "unknown certification.phases",
            with(valid(), "/spec/certification/phases", json!("Certified")),
            "spec.certification.phases",
        ),
        bad(
            "unknown alexaSkill.skill_id",
            with(valid(), "/spec/triggers/0/alexaSkill/skill_id", json!("x")),
            "spec.triggers[0].alexaSkill.skill_id",
        ),
        bad(
            "unknown stage field",
            with(valid(), "/spec/stages/0/latest", json!(true)),
            "spec.stages[0].latest",
        ),
        bad("unknown top-level field", with(valid(), "/specs", json!({})), "specs"),
        bad("unknown metadata field", with(valid(), "/metadata/label", json!({"a": "b"})), "metadata.label"),
        bad("unknown status field", with(valid(), "/status", json!({"ready": true})), "status.ready"),
        // Strict decoding fails first: the other errors are not reported yet.
        bad(
            "unknown field hides other errors",
            with(with(valid(), "/spec/bogus", json!(1)), "/spec/drainSeconds", json!(-1)),
            "spec.bogus",
        ),
        bad("kind Deployment", with(valid(), "/kind", json!("Deployment")), "kind"),
        // Posted to the v1alpha1 URL, the server decodes the body as another version's object and
        // reports that as a decoding error (`unknown field "spec"`); the client names apiVersion.
        bad("apiVersion v1", with(valid(), "/apiVersion", json!("lambda.aliasset.dev/v1")), "apiVersion")
            .verdict_only("the server reports a decoding error, not a field"),
        // The server answers `Object 'Kind' is missing`, a decoding error without a field.
        bad("kind missing", without(valid(), "/kind"), "kind")
            .verdict_only("the server reports a decoding error, not a field"),
        bad("metadata.name Trivia_1", with(valid(), "/metadata/name", json!("Trivia_1")), "metadata.name"),
        bad(
            "metadata.name too long",
            with(valid(), "/metadata/name", json!(long('n', 254))),
            "metadata.name",
        ),
        bad("metadata.name missing", without(valid(), "/metadata/name"), "metadata.name"),
        bad("metadata null", with(valid(), "/metadata", Value::Null), "metadata.name"),
    ]
}

pub fn cel_cases() -> Vec<Case> {
    let arn = "arn:aws:lambda:us-east-1:111122223333:function:trivia";
    vec![
        bad("two equal aliases", with(valid(), "/spec/aliases", json!(["PROD1", "PROD1"])), "spec.aliases")
            .cel("spec.aliases", "two distinct"),
        // The pattern and the CEL rule both speak: a pattern error does not block CEL.
        bad(
            "$LATEST as an alias",
            with(valid(), "/spec/aliases", json!(["$LATEST", "PROD2"])),
            "spec.aliases",
        )
        .cel("spec.aliases", "$LATEST"),
        bad(
            "trigger without a kind",
            with(valid(), "/spec/triggers/0", json!({"name": "empty"})),
            "spec.triggers[0]",
        )
        .cel("spec.triggers[0]", "exactly one of alexaSkill"),
        bad(
            "trigger with two kinds",
            with(
                valid(),
                "/spec/triggers/0",
                json!({"name": "two", "s3": {"bucketArn": "arn:aws:s3:::b-1"},
                       "eventBridge": {"ruleArn": "arn:aws:events:eu-west-1:111122223333:rule/r"}}),
            ),
            "spec.triggers[0]",
        )
        .cel("spec.triggers[0]", "exactly one of alexaSkill"),
        bad(
            "trigger whose only kind is null",
            with(valid(), "/spec/triggers/0", json!({"name": "nil", "alexaSkill": null})),
            "spec.triggers[0]",
        ),
        bad(
            "live hash and version",
            with(valid(), "/spec/live", json!({"codeSha256": SHA_A, "version": "3"})),
            "spec.live",
        )
        .cel("spec.live", "exactly one of codeSha256 or version"),
        bad("live empty", with(valid(), "/spec/live", json!({})), "spec.live"),
        bad(
            "live with both null",
            with(valid(), "/spec/live", json!({"codeSha256": null, "version": null})),
            "spec.live",
        ),
        bad(
            "Certified with a live pin",
            with(certified(), "/spec/live", json!({"version": "3"})),
            "spec.live.version",
        )
        .cel("spec.live.version", "absent in phase Certified"),
        bad(
            "Certified with a stale live hash",
            with(certified(), "/spec/live", json!({"codeSha256": SHA_B})),
            "spec.live.codeSha256",
        )
        .cel("spec.live.codeSha256", "equal certification.codeSha256"),
        bad(
            "Certified without a certified hash, with a live hash",
            with(
                with(certified(), "/spec/certification", json!({"phase": "Certified"})),
                "/spec/live",
                json!({"codeSha256": SHA_A}),
            ),
            "spec.live.codeSha256",
        ),
        bad("stage alias in the pair", with(valid(), "/spec/stages/0/alias", json!("PROD2")), "spec.stages")
            .cel("spec.stages", "rotating aliases"),
        bad(
            "stage without a target",
            with(valid(), "/spec/stages/0", json!({"alias": "BETA"})),
            "spec.stages[0]",
        )
        .cel("spec.stages[0]", "exactly one of codeSha256, version or track"),
        bad(
            "stage with version and track",
            with(valid(), "/spec/stages/0", json!({"alias": "BETA", "version": "2", "track": "$LATEST"})),
            "spec.stages[0]",
        )
        .cel("spec.stages[0]", "exactly one of codeSha256, version or track"),
        bad(
            "stage with all three",
            with(
                valid(),
                "/spec/stages/0",
                json!({"alias": "BETA", "codeSha256": SHA_A, "version": "2", "track": "$LATEST"}),
            ),
            "spec.stages[0]",
        ),
        bad(
            "target an undeclared stage",
            with(valid(), "/spec/triggers/6/target", json!("STG")),
            "spec.triggers",
        )
        .cel("spec.triggers", "declared stage"),
        bad(
            "target a stage when there are none",
            without(with(valid(), "/spec/triggers/6/target", json!("BETA")), "/spec/stages"),
            "spec.triggers",
        ),
        bad(
            "externalId without roleArn",
            with(valid(), "/spec/externalId", json!("abc-123")),
            "spec.externalId",
        )
        .cel("spec.externalId", "roleArn"),
        bad("region differs from the ARN's", with(valid(), "/spec/functionName", json!(arn)), "spec.region")
            .cel("spec.region", "region in the functionName ARN"),
        // The rule builds a regular expression from the region: a region that fails its own
        // pattern can break the rule (an evaluation error, at the rule's node `spec`) ...
        bad(
            "region that is not a regular expression",
            with(with(valid(), "/spec/functionName", json!(arn)), "/spec/region", json!("us-east-1(")),
            "spec.region",
        ),
        // ... or satisfy it whatever the ARN says; the region's pattern still refuses it.
        bad(
            "region that matches any ARN region",
            with(with(valid(), "/spec/functionName", json!(arn)), "/spec/region", json!(".*")),
            "spec.region",
        ),
        bad(
            "pattern error and CEL error together",
            with(with(valid(), "/spec/externalId", json!("abc")), "/spec/region", json!("Europe")),
            "spec.externalId",
        ),
        bad(
            "an enum error skips the CEL rules",
            with(
                with(valid(), "/spec/externalId", json!("abc")),
                "/spec/certification/phase",
                json!("Released"),
            ),
            "spec.certification.phase",
        ),
        bad(
            "a too long string skips the CEL rules",
            with(
                with(valid(), "/spec/externalId", json!("abc")),
                "/spec/triggers/0/name",
                json!(long('a', 40)),
            ),
            "spec.triggers[0].name",
        ),
        bad(
            "a bound error does not skip the CEL rules",
            with(
                with(valid(), "/spec/externalId", json!("abc")),
                "/spec/retainVersions",
                json!(3_000_000_000u64),
            ),
            "spec.externalId",
        ),
        bad(
            "a bad metadata.name does not skip the CEL rules",
            with(with(valid(), "/spec/externalId", json!("abc")), "/metadata/name", json!("A")),
            "spec.externalId",
        ),
    ]
}

pub fn transition_cases() -> Vec<Case> {
    vec![
        bad_update(
            "functionName is immutable",
            valid(),
            with(valid(), "/spec/functionName", json!("other")),
            "spec.functionName",
        ),
        bad_update(
            "functionName cannot become an ARN",
            valid(),
            with(
                valid(),
                "/spec/functionName",
                json!("arn:aws:lambda:eu-west-1:111122223333:function:trivia-backend"),
            ),
            "spec.functionName",
        ),
        bad_update(
            "aliases cannot swap",
            valid(),
            with(valid(), "/spec/aliases", json!(["PROD2", "PROD1"])),
            "spec.aliases",
        ),
        bad_update(
            "aliases cannot be renamed",
            valid(),
            with(valid(), "/spec/aliases", json!(["BLUE", "GREEN"])),
            "spec.aliases",
        ),
        bad_update(
            "defaulted aliases cannot be renamed",
            without(valid(), "/spec/aliases"),
            with(valid(), "/spec/aliases", json!(["PROD1", "PROD3"])),
            "spec.aliases",
        ),
        bad_update(
            "Development -> Certified",
            phase("Development"),
            phase("Certified"),
            "spec.certification.phase",
        ),
        bad_update(
            "stored without certification -> Certified",
            without(valid(), "/spec/certification"),
            phase("Certified"),
            "spec.certification.phase",
        ),
        bad_update(
            "two transition rules at once",
            valid(),
            with(with(valid(), "/spec/functionName", json!("other")), "/spec/aliases", json!(["A", "B"])),
            "spec.aliases",
        ),
        bad_update(
            "a transition and a create rule at once",
            phase("Development"),
            with(phase("Certified"), "/spec/externalId", json!("abc")),
            "spec.externalId",
        ),
        // A type error skips every CEL rule, the transition rules included.
        bad_update(
            "a type error skips the transition rules",
            valid(),
            with(with(valid(), "/spec/functionName", json!("other")), "/spec/drainSeconds", json!("x")),
            "spec.drainSeconds",
        ),
        bad_update(
            "an update is validated like a create",
            valid(),
            with(valid(), "/spec/triggers/0/name", json!("Alexa")),
            "spec.triggers[0].name",
        ),
    ]
}
