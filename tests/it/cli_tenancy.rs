//! `plan`/`apply --tenancy-file`: a PR pipeline checks a tenant's manifests with the same rules
//! the controller applies in `--tenancy strict`, against moto. A refused manifest fails with the
//! annotation to set and nothing is written for any; an allowed one that assumes a role sends the
//! derived ExternalId (moto's request recorder shows it).

use crate::support;

use std::path::{Path, PathBuf};

use lambda_alias_controller::tenancy::{ALLOW_PUBLIC_INVOKE, ALLOWED_FUNCTIONS, ALLOWED_ROLE_ARNS};
use support::run_cli as run;

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write");
    path
}

fn set(namespace: &str, name: &str, function: &str, extra: &str) -> String {
    format!(
        "apiVersion: lambda.aliasset.dev/v1alpha1\nkind: LambdaAliasSet\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  functionName: {function}\n  triggers: [{{name: alexa, alexaSkill: {{skillId: amzn1.ask.skill.cli}}}}]\n{extra}"
    )
}

#[tokio::test]
async fn the_tenancy_file_refuses_what_the_namespace_does_not_allow_and_derives_the_external_id() {
    let lambda = support::lambda().await;
    let fa = support::unique_name("team-a-cli");
    support::create_function(&lambda, &fa, "a").await;
    let role = support::role_arn();
    let dir = std::env::temp_dir().join(support::unique_name("lac-cli-tenancy"));
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = write(
        &dir,
        "tenancy.yaml",
        &format!(
            "team-a:\n  {ALLOWED_FUNCTIONS}: \"arn:aws:lambda:{}:123456789012:function:team-a-*\"\n  {ALLOWED_ROLE_ARNS}: \"{role}\"\nteam-b:\n  {ALLOWED_FUNCTIONS}: \"arn:aws:lambda:*:123456789012:function:team-b-*\"\n",
            support::REGION
        ),
    );
    let rules = rules.to_str().expect("path");

    // team-b on team A's function, beside an allowed manifest: both refused, nothing written.
    let theirs = write(
        &dir,
        "theirs.yaml",
        &format!("{}---\n{}", set("team-a", "ok", &fa, ""), set("team-b", "theirs", &fa, "")),
    );
    let (code, out, err) =
        run(&["apply", "-f", theirs.to_str().expect("path"), "--tenancy-file", rules, "--aws-calls"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("team-b/theirs") && err.contains("NotAllowed") && err.contains(ALLOWED_FUNCTIONS),
        "{err}"
    );
    assert!(!err.contains("team-a/ok"), "the allowed manifest is not an error: {err}");
    assert!(support::alias_versions(&fa).await.is_empty(), "nothing was written for any manifest");

    // A role needs --cluster-name (the ExternalId is derived), and spec.externalId is refused.
    let with_role = write(&dir, "role.yaml", &set("team-a", "ours", &fa, &format!("  roleArn: {role}\n")));
    let with_role = with_role.to_str().expect("path");
    let (code, _, err) = run(&["plan", "-f", with_role, "--tenancy-file", rules]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--cluster-name"), "{err}");
    let chosen = write(
        &dir,
        "chosen.yaml",
        &set("team-a", "ours", &fa, &format!("  roleArn: {role}\n  externalId: mine\n")),
    );
    let (code, _, err) =
        run(&["plan", "-f", chosen.to_str().expect("path"), "--tenancy-file", rules, "--cluster-name", "ci"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("spec.externalId") && err.contains("\"ci/team-a\""), "{err}");

    // Allowed: applied, assuming the role with ExternalId ci/team-a.
    support::moto_start_recording();
    let (code, out, err) = run(&["apply", "-f", with_role, "--tenancy-file", rules, "--cluster-name", "ci"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(support::alias_versions(&fa).await.len(), 2);
    let encoded = role.replace(':', "%3A").replace('/', "%2F");
    let assumed: Vec<String> = support::moto_recorded_bodies()
        .into_iter()
        .filter(|b| b.contains("Action=AssumeRole") && b.contains(&encoded))
        .collect();
    assert!(!assumed.is_empty(), "the role was assumed");
    assert!(assumed.iter().all(|b| b.contains("ExternalId=ci%2Fteam-a")), "{assumed:?}");
}

#[tokio::test]
async fn the_tenancy_file_governs_what_a_manifest_grants() {
    let lambda = support::lambda().await;
    let function = support::unique_name("team-a-grants");
    support::create_function(&lambda, &function, "a").await;
    let dir = std::env::temp_dir().join(support::unique_name("lac-cli-grants"));
    std::fs::create_dir_all(&dir).expect("dir");
    let allow =
        format!("{ALLOWED_FUNCTIONS}: \"arn:aws:lambda:{}:123456789012:function:team-a-*\"", support::REGION);
    let strict = write(&dir, "strict.yaml", &format!("team-a:\n  {allow}\n"));
    let public =
        write(&dir, "public.yaml", &format!("team-a:\n  {allow}\n  {ALLOW_PUBLIC_INVOKE}: \"true\"\n"));
    let manifest = write(
        &dir,
        "public-set.yaml",
        &format!(
            "apiVersion: lambda.aliasset.dev/v1alpha1\nkind: LambdaAliasSet\nmetadata: {{name: open-door, namespace: team-a}}\n\
             spec:\n  functionName: {function}\n  triggers: [{{name: anyone, permission: {{principal: \"*\"}}}}]\n"
        ),
    );
    let manifest = manifest.to_str().expect("path");

    // A public grant without a condition: refused, and nothing written.
    let (code, out, err) = run(&["apply", "-f", manifest, "--tenancy-file", strict.to_str().expect("path")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("team-a/open-door")
            && err.contains("NotAllowed")
            && err.contains("spec.triggers[anyone].permission.principal")
            && err.contains("any AWS account")
            && err.contains(ALLOW_PUBLIC_INVOKE),
        "{err}"
    );
    assert!(support::alias_versions(&function).await.is_empty(), "nothing was written");

    // The platform team opted the namespace in: the same manifest applies.
    let (code, out, err) = run(&["apply", "-f", manifest, "--tenancy-file", public.to_str().expect("path")]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(support::alias_versions(&function).await.len(), 2);
}
