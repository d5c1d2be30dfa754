//! Tenant isolation (`--tenancy strict`): which functions and roles a namespace's sets may use,
//! as the platform team wrote it on the Namespace (tenants cannot edit Namespaces):
//!
//! - `lambda.aliasset.dev/allowed-functions`: comma-separated function ARN globs, covering
//!   partition, region, account and name (`arn:aws:lambda:eu-west-1:111122223333:function:trivia-*`);
//! - `lambda.aliasset.dev/allowed-role-arns`: comma-separated role ARN globs; empty or absent,
//!   only the controller's own credentials (no `spec.roleArn`).
//!
//! - what a set grants (principals, source ARNs and accounts, event sources): `grants`.
//!
//! In a glob, `*` matches any run of characters and `?` any one character, but neither matches
//! `:`, so a glob never reaches across the partition, service, region or account fields of an
//! ARN. Pure: the controller and the CLI (`--tenancy-file`) give it the annotations.

use std::collections::BTreeMap;

use crate::api::LambdaAliasSetSpec;

mod grants;

pub use grants::{
    ALLOW_PUBLIC_INVOKE, ALLOWED_EVENT_SOURCES, ALLOWED_PRINCIPALS, ALLOWED_SOURCE_ARNS, Grants,
};

pub const ALLOWED_FUNCTIONS: &str = "lambda.aliasset.dev/allowed-functions";
pub const ALLOWED_ROLE_ARNS: &str = "lambda.aliasset.dev/allowed-role-arns";
/// Skill id globs whose development stage the controller may write for the namespace's sets
/// (`alexa.manageDevelopmentEndpoint`). Absent: none, under strict.
pub const ALLOWED_SKILLS: &str = "lambda.aliasset.dev/allowed-skills";

/// `--tenancy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Tenancy {
    /// Any set may target any function the controller's credentials reach (as before).
    #[default]
    Open,
    /// A set must be allowed by its Namespace's annotations; the ExternalId is derived.
    Strict,
}

/// Who the controller is when it uses its own credentials: where a bare function name lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The account of the controller's own credentials (STS GetCallerIdentity).
    pub account: String,
    /// The region of sets that name none (`--region` or the standard chain).
    pub default_region: Option<String>,
}

/// What the platform team allows a namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    functions: Option<Vec<String>>,
    roles: Vec<String>,
}

impl Allowed {
    /// From a Namespace's annotations (absent: nothing allowed).
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Allowed {
        Allowed {
            functions: annotations.get(ALLOWED_FUNCTIONS).map(|v| glob_list(v)),
            roles: annotations.get(ALLOWED_ROLE_ARNS).map(|v| glob_list(v)).unwrap_or_default(),
        }
    }
}

/// An annotation's comma-separated globs.
fn glob_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect()
}

/// `ExternalId` the controller sends when it assumes a set's role in strict mode: a role's
/// trust policy can pin the namespaces (of which cluster) that may use it.
pub fn derived_external_id(cluster_name: &str, namespace: &str) -> String {
    format!("{cluster_name}/{namespace}")
}

/// Whether `text` matches `pattern`: `*` any run and `?` any one character, never a `:`.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => {
                // Try every run of non-':' characters, shortest first.
                let mut i = 0;
                loop {
                    if go(rest, &t[i..]) {
                        return true;
                    }
                    if i == t.len() || t[i] == b':' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some((b'?', rest)) => matches!(t.split_first(), Some((c, t)) if *c != b':' && go(rest, t)),
            Some((c, rest)) => matches!(t.split_first(), Some((d, t)) if d == c && go(rest, t)),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// The partition of a region (`cn-north-1` is `aws-cn`).
fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `spec.functionName` as a full ARN, resolved as AWS would: the ARN's own fields, else the
/// region of the set (`spec.region`, else the controller's default) and the account of the
/// credentials in use (the role's, with `spec.roleArn`; the controller's own otherwise).
pub fn function_arn(spec: &LambdaAliasSetSpec, caller: &Caller) -> Result<String, String> {
    let name = spec.function_name.as_str();
    let parts: Vec<&str> = name.split(':').collect();
    if let ["arn", _, "lambda", _, _, "function", _] = parts.as_slice() {
        return Ok(name.to_string());
    }
    let region = spec.region.clone().or_else(|| caller.default_region.clone()).ok_or_else(|| {
        format!(
            "spec.functionName {name:?} cannot be resolved to a full ARN: no region (set spec.region, a full ARN, or the controller's --region)"
        )
    })?;
    let role = spec.role_arn.as_deref().map(|r| r.split(':').collect::<Vec<_>>());
    let role_account = role.as_ref().and_then(|r| r.get(4).copied()).filter(|a| !a.is_empty());
    let role_partition = role.as_ref().and_then(|r| r.get(1).copied()).filter(|p| !p.is_empty());
    let (account, function) = match parts.as_slice() {
        [account, "function", function] => (account.to_string(), function.to_string()),
        _ => (role_account.map_or_else(|| caller.account.clone(), str::to_string), name.to_string()),
    };
    let partition = role_partition.unwrap_or_else(|| {
        if caller.partition.is_empty() { partition_of_region(&region) } else { caller.partition.as_str() }
    });
    Ok(format!("arn:{partition}:lambda:{region}:{account}:function:{function}"))
}

/// Whether `namespace` (with `annotations`, `None` when it has none or is unknown) allows the
/// set: its function and role ([`check_scope`]) and what it grants ([`check_grants`]). `Err`
/// carries the message of the `NotAllowed` condition, naming what to set.
pub fn check(
    spec: &LambdaAliasSetSpec,
    namespace: &str,
    annotations: Option<&BTreeMap<String, String>>,
    caller: &Caller,
    cluster_name: &str,
) -> Result<(), String> {
    check_scope(spec, namespace, annotations, caller, cluster_name)?;
    check_grants(spec, namespace, annotations, caller)
}

/// Whether `namespace` allows what the set grants on its function: every refused trigger, its
/// field, value and the annotation to set, in one message.
pub fn check_grants(
    spec: &LambdaAliasSetSpec,
    namespace: &str,
    annotations: Option<&BTreeMap<String, String>>,
    caller: &Caller,
) -> Result<(), String> {
    let empty = BTreeMap::new();
    let grants = Grants::from_annotations(annotations.unwrap_or(&empty));
    let arn = function_arn(spec, caller)?;
    let refusals = grants::refusals(spec, &arn, &grants);
    if refusals.is_empty() {
        return Ok(());
    }
    Err(format!(
        "namespace {namespace} does not allow what the set grants on {arn}: {}; {}",
        refusals.join("; "),
        grants::REMAINS
    ))
}

/// Whether `namespace` lets the controller write the development stage of `skill_id` for its
/// sets (`alexa.manageDevelopmentEndpoint`): the skill is a resource of its own, outside AWS,
/// that the platform team grants like a function.
pub fn check_skill_write(
    skill_id: &str,
    namespace: &str,
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<(), String> {
    let globs = annotations.and_then(|a| a.get(ALLOWED_SKILLS)).map(|v| glob_list(v)).unwrap_or_default();
    if globs.iter().any(|g| glob_matches(g, skill_id)) {
        return Ok(());
    }
    Err(format!(
        "namespace {namespace} does not let the controller write skill {skill_id}'s development stage: a platform \
         admin must list the skill id (or a glob) in its annotation {ALLOWED_SKILLS}{}",
        if globs.is_empty() { String::new() } else { format!(" (now {:?})", globs.join(",")) }
    ))
}

/// Whether `namespace` allows the set's function and role (and, strict, no `spec.externalId`).
pub fn check_scope(
    spec: &LambdaAliasSetSpec,
    namespace: &str,
    annotations: Option<&BTreeMap<String, String>>,
    caller: &Caller,
    cluster_name: &str,
) -> Result<(), String> {
    if spec.external_id.is_some() {
        return Err(format!(
            "spec.externalId is not allowed with --tenancy strict: the controller sends the ExternalId {:?} \
             (<cluster-name>/<namespace>) when it assumes spec.roleArn; remove spec.externalId and pin that \
             value in the role's trust policy (sts:ExternalId)",
            derived_external_id(cluster_name, namespace)
        ));
    }
    let empty = BTreeMap::new();
    let allowed = Allowed::from_annotations(annotations.unwrap_or(&empty));
    let arn = function_arn(spec, caller)?;
    let Some(globs) = &allowed.functions else {
        return Err(format!(
            "namespace {namespace} allows no function: a platform admin must list function ARN globs in its \
             annotation {ALLOWED_FUNCTIONS} (e.g. \"arn:aws:lambda:eu-west-1:111122223333:function:trivia-*\")"
        ));
    };
    if !globs.iter().any(|g| glob_matches(g, &arn)) {
        return Err(format!(
            "namespace {namespace} does not allow function {arn}: its annotation {ALLOWED_FUNCTIONS} \
             ({}) has no glob that matches it",
            globs.join(",")
        ));
    }
    if let Some(role) = &spec.role_arn {
        if allowed.roles.is_empty() {
            return Err(format!(
                "namespace {namespace} allows only the controller's own credentials, not spec.roleArn {role}: a \
                 platform admin must list role ARN globs in its annotation {ALLOWED_ROLE_ARNS}"
            ));
        }
        if !allowed.roles.iter().any(|g| glob_matches(g, role)) {
            return Err(format!(
                "namespace {namespace} does not allow spec.roleArn {role}: its annotation {ALLOWED_ROLE_ARNS} \
                 ({}) has no glob that matches it",
                allowed.roles.join(",")
            ));
        }
    }
    Ok(())
}

/// Every annotation key strict tenancy reads.
pub const KEYS: [&str; 7] = [
    ALLOWED_FUNCTIONS,
    ALLOWED_ROLE_ARNS,
    ALLOWED_SKILLS,
    ALLOWED_PRINCIPALS,
    ALLOWED_SOURCE_ARNS,
    ALLOWED_EVENT_SOURCES,
    ALLOW_PUBLIC_INVOKE,
];

/// Each namespace's annotations, by namespace.
pub type Rules = BTreeMap<String, BTreeMap<String, String>>;

/// The Namespaces' annotations as one map, namespace -> annotations: what `--tenancy-file` holds
/// once the CLI has read it as YAML (`cli::read_tenancy_file`). `origin` names the file in errors.
pub fn rules_from(document: serde_json::Value, origin: &str) -> Result<Rules, String> {
    let rules: Rules = serde_json::from_value(document).map_err(|e| {
        format!(
            "{origin}: expected a map from namespace to annotations (e.g. `team-a: {{{ALLOWED_FUNCTIONS}: \"arn:...\"}}`): {e}"
        )
    })?;
    for (namespace, annotations) in &rules {
        for (key, value) in annotations {
            if !KEYS.contains(&key.as_str()) {
                return Err(format!(
                    "{origin}: namespace {namespace}: unknown annotation {key:?} (expected one of {})",
                    KEYS.join(", ")
                ));
            }
            if key == ALLOW_PUBLIC_INVOKE && value != "true" && value != "false" {
                return Err(format!(
                    "{origin}: namespace {namespace}: {ALLOW_PUBLIC_INVOKE} is {value:?}, expected \"true\" or \"false\""
                ));
            }
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn caller() -> Caller {
        Caller { partition: "aws".into(), account: ACCOUNT.into(), default_region: Some("eu-west-1".into()) }
    }

    fn annotations(functions: Option<&str>, roles: Option<&str>) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        if let Some(f) = functions {
            a.insert(ALLOWED_FUNCTIONS.to_string(), f.to_string());
        }
        if let Some(r) = roles {
            a.insert(ALLOWED_ROLE_ARNS.to_string(), r.to_string());
        }
        a
    }

    fn spec(function: &str) -> LambdaAliasSetSpec {
        LambdaAliasSetSpec::for_function(function)
    }

    #[test]
    fn globs_never_cross_an_arn_field() {
        let trivia = "arn:aws:lambda:eu-west-1:111122223333:function:trivia-*";
        assert!(glob_matches(trivia, "arn:aws:lambda:eu-west-1:111122223333:function:trivia-backend"));
        assert!(glob_matches(trivia, "arn:aws:lambda:eu-west-1:111122223333:function:trivia-"));
        // Another account, another region, another partition, another name.
        assert!(!glob_matches(trivia, "arn:aws:lambda:eu-west-1:444455556666:function:trivia-backend"));
        assert!(!glob_matches(trivia, "arn:aws:lambda:us-east-1:111122223333:function:trivia-backend"));
        assert!(!glob_matches(trivia, "arn:aws-cn:lambda:eu-west-1:111122223333:function:trivia-backend"));
        assert!(!glob_matches(trivia, "arn:aws:lambda:eu-west-1:111122223333:function:quiz"));
        // A qualified ARN is not the function.
        assert!(!glob_matches(trivia, "arn:aws:lambda:eu-west-1:111122223333:function:trivia-x:PROD1"));
        // `*` in the account field matches one account, never `acct:region`-like runs.
        let any_account = "arn:aws:lambda:eu-west-1:*:function:trivia";
        assert!(glob_matches(any_account, "arn:aws:lambda:eu-west-1:444455556666:function:trivia"));
        assert!(!glob_matches(
            "arn:aws:lambda:*:function:trivia",
            "arn:aws:lambda:eu-west-1:444455556666:function:trivia"
        ));
        assert!(!glob_matches(
            "arn:aws:lambda:eu-west-1:*",
            "arn:aws:lambda:eu-west-1:444455556666:function:trivia"
        ));
        assert!(glob_matches(
            "arn:aws:lambda:eu-west-?:*:function:*",
            "arn:aws:lambda:eu-west-2:1:function:f"
        ));
        assert!(!glob_matches(
            "arn:aws:lambda:eu-west-?:*:function:*",
            "arn:aws:lambda:eu-west-12:1:function:f"
        ));
    }

    #[test]
    fn a_bare_name_resolves_with_the_credentials_in_use() {
        let c = caller();
        assert_eq!(
            function_arn(&spec("trivia"), &c).unwrap(),
            "arn:aws:lambda:eu-west-1:111122223333:function:trivia"
        );
        let mut s = spec("trivia");
        s.region = Some("us-east-1".into());
        s.role_arn = Some("arn:aws:iam::444455556666:role/deployer".into());
        assert_eq!(function_arn(&s, &c).unwrap(), "arn:aws:lambda:us-east-1:444455556666:function:trivia");
        assert_eq!(
            function_arn(&spec("555566667777:function:quiz"), &c).unwrap(),
            "arn:aws:lambda:eu-west-1:555566667777:function:quiz"
        );
        let full = "arn:aws:lambda:ap-south-1:999988887777:function:f";
        assert_eq!(function_arn(&spec(full), &c).unwrap(), full);
        let nowhere = Caller { default_region: None, ..c };
        assert!(function_arn(&spec("trivia"), &nowhere).unwrap_err().contains("spec.region"));
    }

    #[test]
    fn every_refusal_names_what_to_set() {
        let c = caller();
        let a = annotations(Some("arn:aws:lambda:eu-west-1:111122223333:function:trivia-*"), None);
        assert_eq!(check(&spec("trivia-a"), "team-a", Some(&a), &c, "prod"), Ok(()));

        let none = check(&spec("trivia-a"), "team-b", None, &c, "prod").unwrap_err();
        assert!(none.contains("team-b") && none.contains(ALLOWED_FUNCTIONS), "{none}");

        let other = check(&spec("quiz"), "team-a", Some(&a), &c, "prod").unwrap_err();
        assert!(other.contains("function:quiz") && other.contains(ALLOWED_FUNCTIONS), "{other}");

        let mut with_role = spec("trivia-a");
        with_role.role_arn = Some("arn:aws:iam::111122223333:role/team-a".into());
        let own_only = check(&with_role, "team-a", Some(&a), &c, "prod").unwrap_err();
        assert!(own_only.contains(ALLOWED_ROLE_ARNS) && own_only.contains("own credentials"), "{own_only}");
        let empty_roles = annotations(Some("arn:aws:lambda:*:*:function:*"), Some(""));
        assert!(check(&with_role, "team-a", Some(&empty_roles), &c, "prod").is_err());
        let roles = annotations(
            Some("arn:aws:lambda:*:*:function:*"),
            Some("arn:aws:iam::111122223333:role/team-b-*"),
        );
        let wrong_role = check(&with_role, "team-a", Some(&roles), &c, "prod").unwrap_err();
        assert!(wrong_role.contains("role/team-a") && wrong_role.contains(ALLOWED_ROLE_ARNS), "{wrong_role}");
        let right =
            annotations(Some("arn:aws:lambda:*:*:function:*"), Some("arn:aws:iam::111122223333:role/team-a"));
        assert_eq!(check(&with_role, "team-a", Some(&right), &c, "prod"), Ok(()));

        let mut external = with_role.clone();
        external.external_id = Some("chosen-by-the-tenant".into());
        let refused = check(&external, "team-a", Some(&right), &c, "prod").unwrap_err();
        assert!(refused.contains("spec.externalId") && refused.contains("\"prod/team-a\""), "{refused}");
    }

    #[test]
    fn skill_writes_need_the_skill_listed() {
        let skill = "amzn1.ask.skill.0000-aaaa";
        let none = check_skill_write(skill, "team-a", None).unwrap_err();
        assert!(none.contains(ALLOWED_SKILLS) && none.contains(skill) && none.contains("team-a"), "{none}");
        let listed = BTreeMap::from([(ALLOWED_SKILLS.to_string(), "amzn1.ask.skill.0000-*".to_string())]);
        assert_eq!(check_skill_write(skill, "team-a", Some(&listed)), Ok(()));
        let other = BTreeMap::from([(ALLOWED_SKILLS.to_string(), "amzn1.ask.skill.1111-*".to_string())]);
        let refused = check_skill_write(skill, "team-a", Some(&other)).unwrap_err();
        assert!(refused.contains("amzn1.ask.skill.1111-*"), "{refused}");
    }

    #[test]
    fn the_tenancy_file_is_a_map_of_namespaces_to_annotations() {
        let load = |text: &str| {
            let document: serde_json::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
            rules_from(document, "rules.yaml")
        };
        let rules = load(&format!(
            "team-a:\n  {ALLOWED_FUNCTIONS}: \"arn:aws:lambda:*:*:function:a-*\"\n  {ALLOWED_ROLE_ARNS}: \"\"\nteam-b: {{}}\n"
        ))
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules["team-a"][ALLOWED_ROLE_ARNS], "");
        let err = load("team-a:\n  lambda.aliasset.dev/allowed-function: x\n").unwrap_err();
        assert!(err.contains("allowed-function\"") && err.contains("team-a"), "{err}");
        let grants = format!(
            "team-a:\n  {ALLOWED_FUNCTIONS}: \"arn:aws:lambda:*:*:function:a-*\"\n  {ALLOWED_PRINCIPALS}: sns.amazonaws.com\n  \
             {ALLOWED_SOURCE_ARNS}: \"arn:aws:sns:*:111122223333:*\"\n  {ALLOWED_EVENT_SOURCES}: \"arn:aws:sqs:*:111122223333:*\"\n  \
             {ALLOW_PUBLIC_INVOKE}: \"false\"\n"
        );
        assert_eq!(load(&grants).unwrap()["team-a"].len(), 5);
        let err = load(&format!("team-a:\n  {ALLOW_PUBLIC_INVOKE}: \"yes\"\n")).unwrap_err();
        assert!(err.contains(ALLOW_PUBLIC_INVOKE) && err.contains("\"yes\""), "{err}");
        let err = load("- team-a\n").unwrap_err();
        assert!(err.starts_with("rules.yaml: expected a map from namespace to annotations"), "{err}");
    }
}
