//! What a set may grant under `--tenancy strict`: the principals its permissions name, the
//! sources (`sourceArn`, `bucketArn`, `ruleArn`, API Gateway ARNs, `sourceAccount`) they are
//! conditioned on, and the queues and streams its event source mappings poll. The controller's
//! role makes these writes on the tenant's behalf, so the platform team's Namespace annotations
//! decide them (README "Tenant isolation"):
//!
//! - `allowed-principals`: principal globs (service principals, account IDs, IAM ARNs). Absent:
//!   the built-in trigger kinds' service principals. `sourceAccount` must name the function's own
//!   account or match one of these globs (it grants that account's resources).
//! - `allowed-source-arns`: source ARN globs. Absent: ARNs of the function's own partition and
//!   account (a bucket ARN carries no account, so an S3 source then needs `sourceAccount` set to it).
//! - `allowed-event-sources`: event source ARN globs. Absent: the function's account and region.
//! - `allow-public-invoke: "true"`: the only way to grant `principal: "*"` with neither
//!   `sourceArn` nor `sourceAccount`.
//!
//! A refusal lists every offending trigger with its field, value and the annotation to set.

use std::collections::BTreeMap;

use crate::api::{LambdaAliasSetSpec, Trigger};
use crate::plan::{BUILT_IN_PRINCIPALS, desired_statement};

use super::glob_matches;

pub const ALLOWED_PRINCIPALS: &str = "lambda.aliasset.dev/allowed-principals";
pub const ALLOWED_SOURCE_ARNS: &str = "lambda.aliasset.dev/allowed-source-arns";
pub const ALLOWED_EVENT_SOURCES: &str = "lambda.aliasset.dev/allowed-event-sources";
pub const ALLOW_PUBLIC_INVOKE: &str = "lambda.aliasset.dev/allow-public-invoke";

/// The public principal: any AWS account.
const PUBLIC: &str = "*";

/// What a namespace's annotations allow a set to grant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    principals: Option<Vec<String>>,
    source_arns: Option<Vec<String>>,
    event_sources: Option<Vec<String>>,
    public_invoke: bool,
}

impl Grants {
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Grants {
        let list = |key: &str| annotations.get(key).map(|value| super::glob_list(value));
        Grants {
            principals: list(ALLOWED_PRINCIPALS),
            source_arns: list(ALLOWED_SOURCE_ARNS),
            event_sources: list(ALLOWED_EVENT_SOURCES),
            public_invoke: annotations.get(ALLOW_PUBLIC_INVOKE).is_some_and(|v| v.trim() == "true"),
        }
    }
}

/// The fields of a function ARN that the defaults compare with.
struct Home<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
}

impl<'a> Home<'a> {
    fn of(function_arn: &'a str) -> Home<'a> {
        let (partition, _, region, account, _) = arn_fields(function_arn);
        Home { partition, region, account }
    }
}

/// `arn:partition:service:region:account:resource` (missing fields are empty).
fn arn_fields(arn: &str) -> (&str, &str, &str, &str, &str) {
    let mut parts = arn.splitn(6, ':').skip(1);
    let mut next = || parts.next().unwrap_or_default();
    (next(), next(), next(), next(), next())
}

/// One trigger's grant: the values as its statement carries them, the fields as the user
/// wrote them (paths under `spec.triggers[<name>]`).
struct Grant<'a> {
    trigger: &'a str,
    principal: String,
    /// The principal's field (the kind itself for the built-in kinds, whose principal is fixed).
    principal_field: &'static str,
    source_arn: Option<(String, &'static str)>,
    source_account: Option<(String, &'static str)>,
}

impl<'a> Grant<'a> {
    fn of(trigger: &'a Trigger) -> Option<Grant<'a>> {
        let statement = desired_statement(trigger)?;
        let (principal_field, arn_field, account_field) = if trigger.permission.is_some() {
            ("permission.principal", "permission.sourceArn", "permission.sourceAccount")
        } else if trigger.api_gateway.is_some() {
            ("apiGateway", "apiGateway.sourceArn", "")
        } else if trigger.s3.is_some() {
            ("s3", "s3.bucketArn", "s3.sourceAccount")
        } else if trigger.event_bridge.is_some() {
            ("eventBridge", "eventBridge.ruleArn", "")
        } else {
            ("alexaSkill.kind", "", "")
        };
        Some(Grant {
            trigger: &trigger.name,
            principal: statement.principal,
            principal_field,
            source_arn: statement.source_arn.map(|v| (v, arn_field)),
            source_account: statement.source_account.map(|v| (v, account_field)),
        })
    }
}

/// The refusals of `spec`'s grants on `function_arn`, empty when every grant is allowed.
pub fn refusals(spec: &LambdaAliasSetSpec, function_arn: &str, grants: &Grants) -> Vec<String> {
    let home = Home::of(function_arn);
    let mut refusals = Vec::new();
    for trigger in &spec.triggers {
        if let Some(mapping) = &trigger.event_source_mapping {
            let field = format!("spec.triggers[{}].eventSourceMapping.eventSourceArn", trigger.name);
            if let Some(why) = event_source(&mapping.event_source_arn, &home, grants) {
                refusals
                    .push(format!("trigger {}: {field} {:?} {why}", trigger.name, mapping.event_source_arn));
            }
            continue;
        }
        let Some(grant) = Grant::of(trigger) else { continue };
        refusals.extend(grant_refusals(&grant, &home, grants));
    }
    refusals
}

fn grant_refusals(grant: &Grant<'_>, home: &Home<'_>, grants: &Grants) -> Vec<String> {
    let mut out = Vec::new();
    let trigger = grant.trigger;
    let principal = &grant.principal;
    let principal_field = format!("spec.triggers[{trigger}].{}", grant.principal_field);
    let conditioned = grant.source_arn.is_some() || grant.source_account.is_some();
    if principal == PUBLIC && !grants.public_invoke {
        if conditioned {
            if !listed(&grants.principals, PUBLIC) {
                out.push(format!(
                    "trigger {trigger}: {principal_field} \"*\" (any AWS account, narrowed by its conditions) is not allowed: \
                     {}; a platform admin may list \"*\" in {ALLOWED_PRINCIPALS} or set {ALLOW_PUBLIC_INVOKE}: \"true\"",
                    principals_now(grants)
                ));
            }
        } else {
            out.push(format!(
                "trigger {trigger}: {principal_field} \"*\" with neither sourceArn nor sourceAccount lets any AWS account \
                 invoke the alias, which strict tenancy refuses whatever {ALLOWED_PRINCIPALS} says; add a sourceArn or \
                 sourceAccount condition, or a platform admin sets {ALLOW_PUBLIC_INVOKE}: \"true\" on the namespace"
            ));
        }
    } else if principal != PUBLIC && !principal_allowed(principal, grants) {
        out.push(format!(
            "trigger {trigger}: {principal_field} grants principal {principal:?}, which is not allowed: {}; a platform admin \
             must list it in {ALLOWED_PRINCIPALS}",
            principals_now(grants)
        ));
    }
    if let Some((arn, field)) = &grant.source_arn {
        let field = format!("spec.triggers[{trigger}].{field}");
        if let Some(why) =
            source_arn(arn, grant.source_account.as_ref().map(|(a, _)| a.as_str()), home, grants)
        {
            out.push(format!("trigger {trigger}: {field} {arn:?} {why}"));
        }
    }
    if let Some((account, field)) = &grant.source_account
        && account != home.account
        && !listed(&grants.principals, account)
    {
        out.push(format!(
            "trigger {trigger}: spec.triggers[{trigger}].{field} {account:?} names another account than the \
             function's ({}): a platform admin must list that account in {ALLOWED_PRINCIPALS} ({})",
            home.account,
            current(&grants.principals)
        ));
    }
    out
}

/// Whether `principal` (not `*`) is allowed: the annotation's globs, else the built-in kinds'.
fn principal_allowed(principal: &str, grants: &Grants) -> bool {
    match &grants.principals {
        Some(globs) => globs.iter().any(|g| glob_matches(g, principal)),
        None => BUILT_IN_PRINCIPALS.contains(&principal),
    }
}

fn listed(globs: &Option<Vec<String>>, value: &str) -> bool {
    globs.as_ref().is_some_and(|globs| globs.iter().any(|g| glob_matches(g, value)))
}

fn principals_now(grants: &Grants) -> String {
    match &grants.principals {
        Some(globs) => format!("{ALLOWED_PRINCIPALS} is ({})", globs.join(",")),
        None => format!(
            "{ALLOWED_PRINCIPALS} is absent, which allows the built-in trigger kinds' service principals ({})",
            BUILT_IN_PRINCIPALS.join(",")
        ),
    }
}

fn current(globs: &Option<Vec<String>>) -> String {
    match globs {
        Some(globs) => format!("now {:?}", globs.join(",")),
        None => "now absent".to_string(),
    }
}

/// Why `arn` is refused by the annotation `key`'s `globs`, or `None` when one matches it.
fn unlisted(globs: &[String], key: &str, arn: &str) -> Option<String> {
    (!globs.iter().any(|g| glob_matches(g, arn))).then(|| {
        format!(
            "is not allowed: {key} ({}) has no glob that matches it; a platform admin must add one",
            globs.join(",")
        )
    })
}

/// Why a source ARN is refused, or `None` when it is allowed.
fn source_arn(arn: &str, source_account: Option<&str>, home: &Home<'_>, grants: &Grants) -> Option<String> {
    if let Some(globs) = &grants.source_arns {
        return unlisted(globs, ALLOWED_SOURCE_ARNS, arn);
    }
    let (partition, _, _, account, _) = arn_fields(arn);
    if account.is_empty() {
        // Bucket ARNs carry no account: the condition on the source account stands in for it.
        return (source_account != Some(home.account)).then(|| {
            format!(
                "names no account (bucket ARNs never do), so it may be another account's: set sourceAccount to the \
                 function's account {}, or a platform admin lists the source in {ALLOWED_SOURCE_ARNS} (now absent: \
                 the function's own account only)",
                home.account
            )
        });
    }
    (partition != home.partition || account != home.account).then(|| {
        format!(
            "is in another account than the function's ({}): a platform admin must list it in {ALLOWED_SOURCE_ARNS} \
             (now absent: the function's own account only)",
            home.account
        )
    })
}

/// Why an event source ARN is refused, or `None` when it is allowed.
fn event_source(arn: &str, home: &Home<'_>, grants: &Grants) -> Option<String> {
    if let Some(globs) = &grants.event_sources {
        return unlisted(globs, ALLOWED_EVENT_SOURCES, arn);
    }
    let (partition, _, region, account, _) = arn_fields(arn);
    (partition != home.partition || account != home.account || region != home.region).then(|| {
        format!(
            "is not in the function's account and region ({} {}): a platform admin must list it in \
             {ALLOWED_EVENT_SOURCES} (now absent: the function's own account and region only)",
            home.account, home.region
        )
    })
}

/// How every grant refusal ends: a refused set writes nothing, so it removes nothing either.
pub const REMAINS: &str = "nothing in AWS is changed while the set is refused: a statement or event source mapping \
     it granted earlier remains until the trigger is changed or removed from the spec, or the annotation allows it";

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::tenancy::{Caller, check_grants};

    const OWN: &str = "111122223333";
    const OTHER: &str = "444455556666";

    fn caller() -> Caller {
        Caller { partition: "aws".into(), account: OWN.into(), default_region: Some("eu-west-1".into()) }
    }

    /// One set on `trivia` (eu-west-1, the caller's account) with `triggers`, checked against
    /// the namespace's `annotations`.
    fn check(annotations: &[(&str, &str)], triggers: Value) -> Result<(), String> {
        let mut spec = LambdaAliasSetSpec::for_function("trivia");
        spec.triggers = serde_json::from_value(triggers).expect("triggers");
        let annotations: BTreeMap<String, String> =
            annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        check_grants(&spec, "team-a", Some(&annotations), &caller())
    }

    fn api(arn: &str) -> Value {
        json!([{"name": "api", "apiGateway": {"sourceArn": arn}}])
    }
    fn s3(bucket: &str, account: Option<&str>) -> Value {
        match account {
            Some(a) => json!([{"name": "uploads", "s3": {"bucketArn": bucket, "sourceAccount": a}}]),
            None => json!([{"name": "uploads", "s3": {"bucketArn": bucket}}]),
        }
    }
    fn permission(fields: Value) -> Value {
        json!([{"name": "other", "permission": fields}])
    }
    fn queue(arn: &str) -> Value {
        json!([{"name": "orders", "eventSourceMapping": {"eventSourceArn": arn}}])
    }

    /// (case, annotations, triggers, `None` when allowed, else the words the refusal must contain).
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value, Option<Vec<String>>);

    /// Every rule and default.
    #[test]
    fn every_rule_and_default() {
        let own_api = format!("arn:aws:execute-api:eu-west-1:{OWN}:a1b2c3/*/POST/trivia");
        let other_team_api = format!("arn:aws:execute-api:eu-west-1:{OWN}:z9y8x7/*/POST/trivia");
        let other_account_api = format!("arn:aws:execute-api:eu-west-1:{OTHER}:a1b2c3/*/POST/trivia");
        let own_rule = format!("arn:aws:events:eu-west-1:{OWN}:rule/nightly");
        let other_rule = format!("arn:aws:events:eu-west-1:{OTHER}:rule/nightly");
        let own_queue = format!("arn:aws:sqs:eu-west-1:{OWN}:orders");
        let own_api_glob = format!("arn:aws:execute-api:eu-west-1:{OWN}:a1b2c3/*");
        let own_topic = format!("arn:aws:sns:eu-west-1:{OWN}:news");
        let no_conditions = json!({"principal": "*"});
        let stream_glob = format!("arn:aws:kinesis:*:{OTHER}:stream/orders-*");
        let team_queues = format!("arn:aws:sqs:eu-west-1:{OWN}:team-a-*");
        let sns_and_other = format!("sns.amazonaws.com,{OTHER}");
        let other_roles = format!("arn:aws:iam::{OTHER}:role/*");
        let t = |v: Value| v;
        #[rustfmt::skip]
        let cases: Vec<Case<'_>> = vec![
            // Built-in kinds under the defaults.
            ("alexa custom", vec![], json!([{"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.1"}}]), None),
            ("alexa smart home", vec![], json!([{"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.1", "kind": "SmartHome"}}]), None),
            ("own API", vec![], api(&own_api), None),
            ("own rule", vec![], t(json!([{"name": "nightly", "eventBridge": {"ruleArn": own_rule}}])), None),
            ("own bucket, own account", vec![], s3("arn:aws:s3:::uploads", Some(OWN)), None),
            // Sources: the function's account by default.
            ("another account's API", vec![], api(&other_account_api),
                Some(vec!["trigger api".into(), "spec.triggers[api].apiGateway.sourceArn".into(), other_account_api.clone(), ALLOWED_SOURCE_ARNS.into(), "another account".into()])),
            ("another account's rule", vec![], t(json!([{"name": "nightly", "eventBridge": {"ruleArn": other_rule}}])),
                Some(vec!["spec.triggers[nightly].eventBridge.ruleArn".into(), other_rule.clone(), ALLOWED_SOURCE_ARNS.into()])),
            ("another partition's API", vec![], api(&format!("arn:aws-cn:execute-api:cn-north-1:{OWN}:a1b2c3/*")),
                Some(vec!["apiGateway.sourceArn".into(), ALLOWED_SOURCE_ARNS.into()])),
            ("a bucket with no account", vec![], s3("arn:aws:s3:::uploads", None),
                Some(vec!["spec.triggers[uploads].s3.bucketArn".into(), "arn:aws:s3:::uploads".into(), "names no account".into(), format!("sourceAccount to the function's account {OWN}"), ALLOWED_SOURCE_ARNS.into()])),
            ("another account's bucket", vec![], s3("arn:aws:s3:::uploads", Some(OTHER)),
                Some(vec!["spec.triggers[uploads].s3.sourceAccount".into(), OTHER.into(), ALLOWED_PRINCIPALS.into(), "spec.triggers[uploads].s3.bucketArn".into()])),
            // allowed-source-arns replaces the default: another team's API in the same account.
            ("the team's API, listed", vec![(ALLOWED_SOURCE_ARNS, &own_api_glob)], api(&own_api), None),
            ("another team's API", vec![(ALLOWED_SOURCE_ARNS, &own_api_glob)], api(&other_team_api),
                Some(vec!["apiGateway.sourceArn".into(), other_team_api.clone(), ALLOWED_SOURCE_ARNS.into(), own_api_glob.clone(), "has no glob that matches it".into()])),
            ("a listed bucket needs no account", vec![(ALLOWED_SOURCE_ARNS, "arn:aws:s3:::uploads-*,arn:aws:s3:::uploads")], s3("arn:aws:s3:::uploads", None), None),
            ("globs never cross a colon", vec![(ALLOWED_SOURCE_ARNS, "arn:aws:execute-api:eu-west-1:*")], api(&own_api),
                Some(vec![ALLOWED_SOURCE_ARNS.into()])),
            ("an account glob", vec![(ALLOWED_SOURCE_ARNS, "arn:aws:execute-api:eu-west-1:*:a1b2c3/*")], api(&other_account_api), None),
            // Principals: the built-in kinds' by default, the annotation's otherwise.
            ("sns is not built in", vec![], permission(json!({"principal": "sns.amazonaws.com", "sourceArn": own_topic})),
                Some(vec!["spec.triggers[other].permission.principal".into(), "\"sns.amazonaws.com\"".into(), ALLOWED_PRINCIPALS.into(), "is absent".into()])),
            ("sns listed", vec![(ALLOWED_PRINCIPALS, "sns.amazonaws.com")], permission(json!({"principal": "sns.amazonaws.com", "sourceArn": own_topic})), None),
            ("a service glob", vec![(ALLOWED_PRINCIPALS, "*.amazonaws.com")], permission(json!({"principal": "sns.amazonaws.com", "sourceArn": own_topic})), None),
            ("the annotation replaces the default", vec![(ALLOWED_PRINCIPALS, "sns.amazonaws.com")], json!([{"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.1"}}]),
                Some(vec!["spec.triggers[alexa].alexaSkill.kind".into(), "alexa-appkit.amazon.com".into(), "(sns.amazonaws.com)".into()])),
            ("another account as principal", vec![], permission(json!({"principal": OTHER})),
                Some(vec!["permission.principal".into(), OTHER.into(), ALLOWED_PRINCIPALS.into()])),
            ("another account, listed", vec![(ALLOWED_PRINCIPALS, OTHER)], permission(json!({"principal": OTHER})), None),
            ("an IAM ARN, listed by glob", vec![(ALLOWED_PRINCIPALS, &other_roles)], permission(json!({"principal": format!("arn:aws:iam::{OTHER}:role/caller")})), None),
            // sourceAccount: the function's own, or an account the principals annotation lists.
            ("another sourceAccount", vec![(ALLOWED_PRINCIPALS, "sns.amazonaws.com")], permission(json!({"principal": "sns.amazonaws.com", "sourceAccount": OTHER})),
                Some(vec!["spec.triggers[other].permission.sourceAccount".into(), OTHER.into(), ALLOWED_PRINCIPALS.into(), "(now \"sns.amazonaws.com\")".into()])),
            ("another sourceAccount, listed", vec![(ALLOWED_PRINCIPALS, &sns_and_other)], permission(json!({"principal": "sns.amazonaws.com", "sourceAccount": OTHER})), None),
            // The public principal.
            ("public, no condition", vec![], permission(no_conditions.clone()),
                Some(vec!["spec.triggers[other].permission.principal".into(), "any AWS account".into(), "whatever".into(), ALLOW_PUBLIC_INVOKE.into()])),
            ("public, no condition, whatever the principals say", vec![(ALLOWED_PRINCIPALS, "*")], permission(no_conditions.clone()),
                Some(vec![ALLOW_PUBLIC_INVOKE.into()])),
            ("public, no condition, a value that is not true", vec![(ALLOW_PUBLIC_INVOKE, "yes")], permission(no_conditions.clone()),
                Some(vec![ALLOW_PUBLIC_INVOKE.into()])),
            ("public, opted in", vec![(ALLOW_PUBLIC_INVOKE, "true")], permission(no_conditions.clone()), None),
            ("public with a condition, default", vec![], permission(json!({"principal": "*", "sourceAccount": OWN})),
                Some(vec!["permission.principal".into(), "narrowed by its conditions".into(), ALLOWED_PRINCIPALS.into()])),
            ("public with a condition, listed", vec![(ALLOWED_PRINCIPALS, "*")], permission(json!({"principal": "*", "sourceAccount": OWN})), None),
            ("public with a foreign condition", vec![(ALLOWED_PRINCIPALS, "*")], permission(json!({"principal": "*", "sourceArn": other_rule})),
                Some(vec!["permission.sourceArn".into(), ALLOWED_SOURCE_ARNS.into()])),
            // Event sources: the function's account and region by default.
            ("own queue", vec![], queue(&own_queue), None),
            ("another account's queue", vec![], queue(&format!("arn:aws:sqs:eu-west-1:{OTHER}:orders")),
                Some(vec!["spec.triggers[orders].eventSourceMapping.eventSourceArn".into(), format!("arn:aws:sqs:eu-west-1:{OTHER}:orders"), ALLOWED_EVENT_SOURCES.into(), "account and region".into()])),
            ("another region's queue", vec![], queue(&format!("arn:aws:sqs:us-east-1:{OWN}:orders")),
                Some(vec!["eventSourceMapping.eventSourceArn".into(), ALLOWED_EVENT_SOURCES.into()])),
            ("a listed stream", vec![(ALLOWED_EVENT_SOURCES, &stream_glob)], queue(&format!("arn:aws:kinesis:us-east-1:{OTHER}:stream/orders-eu")), None),
            ("the list replaces the default", vec![(ALLOWED_EVENT_SOURCES, &team_queues)], queue(&own_queue),
                Some(vec![ALLOWED_EVENT_SOURCES.into(), "team-a-*".into()])),
            // Annotations for grants do not matter to what they do not govern.
            ("principals do not govern queues", vec![(ALLOWED_PRINCIPALS, "sns.amazonaws.com")], queue(&own_queue), None),
        ];
        for (case, annotations, triggers, expected) in cases {
            let got = check(&annotations, triggers);
            match (expected, got) {
                (None, Ok(())) => {}
                (None, Err(message)) => panic!("{case}: refused: {message}"),
                (Some(words), Ok(())) => panic!("{case}: allowed, expected a refusal with {words:?}"),
                (Some(words), Err(message)) => {
                    for word in &words {
                        assert!(message.contains(word.as_str()), "{case}: {word:?} missing from: {message}");
                    }
                    assert!(
                        message.contains("namespace team-a does not allow what the set grants"),
                        "{case}: {message}"
                    );
                    assert!(message.ends_with(REMAINS), "{case}: says the statement remains: {message}");
                }
            }
        }
    }

    #[test]
    fn one_message_names_every_refused_trigger() {
        let triggers = json!([
            {"name": "alexa", "alexaSkill": {"skillId": "amzn1.ask.skill.1"}},
            {"name": "public", "permission": {"principal": "*"}},
            {"name": "uploads", "s3": {"bucketArn": "arn:aws:s3:::theirs", "sourceAccount": OTHER}},
            {"name": "orders", "eventSourceMapping": {"eventSourceArn": format!("arn:aws:sqs:eu-west-1:{OTHER}:q")}},
        ]);
        let message = check(&[], triggers).unwrap_err();
        for trigger in ["trigger public:", "trigger uploads:", "trigger orders:"] {
            assert!(message.contains(trigger), "{trigger}: {message}");
        }
        assert!(!message.contains("trigger alexa"), "the allowed trigger is not named: {message}");
        assert_eq!(message.matches(REMAINS).count(), 1, "{message}");
    }

    #[test]
    fn grants_resolve_the_function_like_the_scope_does() {
        // With a role in another account, the function (a bare name) is in the role's account:
        // that account's queue is the function's own.
        let mut spec = LambdaAliasSetSpec::for_function("trivia");
        spec.role_arn = Some(format!("arn:aws:iam::{OTHER}:role/deployer"));
        spec.triggers =
            serde_json::from_value(queue(&format!("arn:aws:sqs:eu-west-1:{OTHER}:orders"))).unwrap();
        assert_eq!(check_grants(&spec, "team-a", None, &caller()), Ok(()));
        spec.triggers =
            serde_json::from_value(queue(&format!("arn:aws:sqs:eu-west-1:{OWN}:orders"))).unwrap();
        assert!(check_grants(&spec, "team-a", None, &caller()).is_err());
    }
}
