//! The benchmark's LambdaAliasSets: the Alexa example (PROD1/PROD2, one `alexaSkill` trigger,
//! phase Development), one in [`MAPPING_EVERY`] also with an SQS event source mapping. The
//! parent creates them, the controller child's simulated AWS holds their functions, and the
//! memory child drives the same specs to the same end state.

use std::collections::BTreeSet;

use lambda_alias_controller::api::{LambdaAliasSet, LambdaAliasSetSpec};
use serde_json::{Value, json};

use crate::sim::{ACCOUNT, REGION};

/// One set in this many declares an event source mapping (~10 %).
pub const MAPPING_EVERY: usize = 10;
/// `$LATEST`'s code hash in every function.
pub const CODE_SHA256: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
/// Suffix of the functions (and sets) that declare a mapping: the simulated AWS tells the two
/// kinds apart by name.
const MAPPED: &str = "-q";

pub fn has_mapping(i: usize) -> bool {
    i.is_multiple_of(MAPPING_EVERY)
}

pub fn function_name(i: usize) -> String {
    format!("bench-{i:05}{}", if has_mapping(i) { MAPPED } else { "" })
}

/// The object's name is its function's.
pub fn set_name(i: usize) -> String {
    function_name(i)
}

/// (index, class) of a function name, partial or full (qualified) ARN; class 1: with a mapping.
/// An SQS queue ARN names the set that declares it.
pub fn parse_function(ident: &str) -> Option<(usize, usize)> {
    if ident.starts_with("arn:aws:sqs:") {
        let digits = ident.rsplit(':').next()?.strip_prefix("bench-")?;
        return Some((digits.parse().ok()?, 1));
    }
    let name = if ident.starts_with("arn:") { ident.split(':').nth(6)? } else { ident };
    let rest = name.strip_prefix("bench-")?;
    let (digits, class) = match rest.strip_suffix(MAPPED) {
        Some(digits) => (digits, 1),
        None => (rest, 0),
    };
    Some((digits.parse().ok()?, class))
}

pub fn spec_json(i: usize, phase: &str) -> Value {
    let mut triggers = vec![json!({
        "name": "alexa",
        "alexaSkill": {"skillId": format!("amzn1.ask.skill.{i:08x}-0000-4000-8000-{i:012x}"), "kind": "Custom"}
    })];
    if has_mapping(i) {
        triggers.push(json!({
            "name": "queue",
            "eventSourceMapping": {"eventSourceArn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:bench-{i:05}"), "batchSize": 10}
        }));
    }
    json!({
        "functionName": function_name(i),
        "certification": {"phase": phase},
        "triggers": triggers
    })
}

pub fn spec(i: usize, phase: &str) -> LambdaAliasSetSpec {
    serde_json::from_value(spec_json(i, phase)).expect("the benchmark's spec is a valid LambdaAliasSetSpec")
}

pub fn object(namespace: &str, i: usize) -> LambdaAliasSet {
    serde_json::from_value(json!({
        "apiVersion": "lambda.aliasset.dev/v1alpha1",
        "kind": "LambdaAliasSet",
        "metadata": {"name": set_name(i), "namespace": namespace},
        "spec": spec_json(i, "Development")
    }))
    .expect("the benchmark's object is a valid LambdaAliasSet")
}

/// The sets whose spec changes during the drift pass: about `changes` of them, spread evenly,
/// one in [`MAPPING_EVERY`] with a mapping like the whole population.
pub fn changed(n: usize, changes: usize) -> Vec<usize> {
    let changes = changes.min(n);
    let picked: BTreeSet<usize> = (0..changes).map(|k| (k * n / changes + k % MAPPING_EVERY) % n).collect();
    picked.into_iter().collect()
}

/// The owner key the controller uses for a set ("namespace/name").
pub fn owner(namespace: &str, i: usize) -> String {
    format!("{namespace}/{}", set_name(i))
}

/// About `count` sets spread evenly, one in [`MAPPING_EVERY`] with a mapping like the whole
/// population (as [`changed`]), shifted by `offset` and none of `taken`: the sets the
/// out-of-band changes of the drift-events phase are made on. A set already taken gives way to
/// the next of its kind (`MAPPING_EVERY` on), else to the next one.
pub fn others(n: usize, count: usize, offset: usize, taken: &BTreeSet<usize>) -> Vec<usize> {
    let count = count.min(n.saturating_sub(taken.len()));
    let mut picked = BTreeSet::new();
    for k in 0..count {
        let mut i = (k * n / count + k % MAPPING_EVERY + offset) % n;
        for tries in 0..2 * n {
            if !taken.contains(&i) && !picked.contains(&i) {
                break;
            }
            i = (i + if tries < n / MAPPING_EVERY { MAPPING_EVERY } else { 1 }) % n;
        }
        picked.insert(i);
    }
    picked.into_iter().collect()
}
