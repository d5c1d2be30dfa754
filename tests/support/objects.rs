//! LambdaAliasSet objects shared by the API suites (tests/it/api.rs, tests/cluster/agreement.rs) and
//! the cluster suites: one valid object to mutate, JSON-pointer edits, and the small Alexa set
//! the controller suites create.

use serde_json::{Value, json};

/// Two well-formed code hashes (base64 of 32 bytes).
pub const SHA_A: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
pub const SHA_B: &str = "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A valid object exercising every trigger kind and a stage.
pub fn valid() -> Value {
    json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": "trivia", "namespace": "skills"},
        "spec": {
            "functionName": "trivia-backend",
            "region": "eu-west-1",
            "aliases": ["PROD1", "PROD2"],
            "certification": {"phase": "Development"},
            "drainSeconds": 300,
            "stages": [{"alias": "BETA", "track": "$LATEST"}],
            "triggers": [
                {"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.0000", "kind": "Custom"}},
                {"name": "api", "apiGateway": {"sourceArn": "arn:aws:execute-api:eu-west-1:111122223333:abc123/*/POST/trivia"}},
                {"name": "uploads", "s3": {"bucketArn": "arn:aws:s3:::trivia-uploads", "sourceAccount": "111122223333"}},
                {"name": "nightly", "eventBridge": {"ruleArn": "arn:aws:events:eu-west-1:111122223333:rule/nightly"}},
                {"name": "other", "permission": {"principal": "sns.amazonaws.com", "sourceArn": "arn:aws:sns:eu-west-1:111122223333:topic"}},
                {"name": "orders", "eventSourceMapping": {"eventSourceArn": "arn:aws:sqs:eu-west-1:111122223333:orders", "batchSize": 10}, "target": "Live"},
                {"name": "beta-api", "apiGateway": {"sourceArn": "arn:aws:execute-api:eu-west-1:111122223333:abc123/*/GET/beta"}, "target": "BETA"}
            ],
            "retainVersions": 10,
            "deletionPolicy": "Retain"
        }
    })
}

/// `object` with the value at a JSON pointer set (a map key or a list index).
pub fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let target = object.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent} in the object"));
    match target {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("index")] = value,
        other => panic!("cannot set {key} on {other}"),
    }
    object
}

/// `object` without the map key a JSON pointer names.
pub fn without(mut object: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    object.pointer_mut(parent).and_then(Value::as_object_mut).expect("parent object").remove(key);
    object
}
