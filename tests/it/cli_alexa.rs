//! `plan` and `apply` for Alexa-aware sets: the Secret's values come from
//! `--alexa-credentials FILE`, the skill's state from the (fake) Skill Management API, and the
//! same interlock as the controller's holds — against moto and `tests/support/fake_smapi.py`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::credentials_yaml;
use support::smapi::{Stage, fake_smapi, unique_skill_id, unique_vendor};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-alias-controller");

struct Skill {
    dir: PathBuf,
    manifest: PathBuf,
    credentials: PathBuf,
    skill: String,
    function: String,
    arn: String,
}

impl Skill {
    /// A moto function, a skill in the fake whose live stage calls `live` and development stage
    /// PROD2, a credentials file and a manifest for `phase`.
    async fn new(live: Option<&str>, phase: &str) -> Skill {
        let fake = fake_smapi();
        let vendor = unique_vendor();
        let credentials = fake.client(&vendor);
        let lambda = support::lambda().await;
        let function = support::unique_name("cli-alexa");
        let arn =
            support::create_function(&lambda, &function, "v1").await.function_arn().expect("arn").to_string();
        let skill = unique_skill_id();
        let stage = |alias: &str| Stage::custom(&format!("{arn}:{alias}"));
        fake.create_skill(&skill, &vendor, &stage("PROD2"), live.map(stage).as_ref());
        let dir = std::env::temp_dir().join(support::unique_name("cli-alexa"));
        std::fs::create_dir_all(&dir).expect("dir");
        let credentials_path = dir.join("smapi.yaml");
        std::fs::write(&credentials_path, credentials_yaml(&credentials)).expect("credentials file");
        let s = Skill {
            manifest: dir.join("skill.yaml"),
            dir,
            credentials: credentials_path,
            skill,
            function,
            arn,
        };
        s.write(phase);
        s
    }

    fn write(&self, phase: &str) {
        let manifest = format!(
            "apiVersion: lambda.aliasset.dev/v1alpha1\nkind: LambdaAliasSet\nmetadata: {{name: skill, namespace: skills}}\n\
             spec:\n  functionName: {}\n  drainSeconds: 0\n  certification: {{phase: {phase}}}\n  \
             alexa: {{credentialsSecretRef: {{name: smapi}}}}\n  triggers:\n    - name: alexa\n      alexaSkill: {{skillId: {}}}\n",
            self.function, self.skill
        );
        std::fs::write(&self.manifest, manifest).expect("manifest");
    }

    /// Runs a verb with the fake's endpoints; `credentials`: pass `--alexa-credentials`.
    fn run(&self, verb: &str, credentials: Option<&Path>) -> (i32, String, String) {
        let fake = fake_smapi();
        let mut cmd = Command::new(BIN);
        cmd.args([
            verb,
            "-f",
            path(&self.manifest),
            "--smapi-endpoint",
            &fake.url(),
            "--lwa-endpoint",
            &fake.lwa_url(),
        ]);
        if let Some(c) = credentials {
            cmd.args(["--alexa-credentials", path(c)]);
        }
        let out = cmd.envs(support::moto_env()).env_remove("AWS_PROFILE").output().expect("run the binary");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn aliases(&self) -> Vec<(String, String)> {
        support::alias_versions(&self.function).await
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[tokio::test]
async fn an_alexa_aware_set_needs_the_credentials_and_writes_nothing_without_them() {
    let s = Skill::new(Some("PROD1"), "Development").await;
    let (code, _, err) = s.run("apply", None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--alexa-credentials FILE") && err.contains("skills/skill"), "{err}");
    assert_eq!(s.aliases().await, Vec::<(String, String)>::new(), "nothing written");

    std::fs::write(s.dir.join("bad.yaml"), "clientId: x\nclientSecret: y\n").expect("file");
    let (code, _, err) = s.run("plan", Some(&s.dir.join("bad.yaml")));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refreshToken"), "the error names the missing key: {err}");
}

#[tokio::test]
async fn from_skill_freezes_the_submitted_code_from_the_cli() {
    let s = Skill::new(Some("PROD1"), "FromSkill").await;
    let (code, out, err) = s.run("apply", Some(&s.credentials));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("live: PROD1") || out.contains("development: PROD2"),
        "status shows the skill: {out}"
    );
    assert_eq!(s.aliases().await, vec![("PROD1".into(), "1".into()), ("PROD2".into(), "$LATEST".into())]);
    fake_smapi().submit(&s.skill);
    let (code, out, err) = s.run("apply", Some(&s.credentials));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("status: IN_PROGRESS"), "{out}");
    assert_eq!(s.aliases().await, vec![("PROD1".into(), "1".into()), ("PROD2".into(), "1".into())]);
    let (code, _, err) = s.run("plan", Some(&s.credentials));
    assert_eq!(code, 0, "nothing left to do: {err}");
}

#[tokio::test]
async fn an_early_certified_waits_from_the_cli_too() {
    let s = Skill::new(Some("PROD1"), "Certifying").await;
    let (code, out, err) = s.run("apply", Some(&s.credentials));
    assert_eq!(code, 0, "{out}\n{err}");
    s.write("Certified");
    let (code, out, err) = s.run("apply", Some(&s.credentials));
    assert_eq!(code, 0, "a wait is not an error: {out}\n{err}");
    assert!(out.contains("reason: AwaitingPublication") && out.contains("still calls PROD1"), "{out}");
    let before = s.aliases().await;
    let (code, out, _) = s.run("plan", Some(&s.credentials));
    assert_eq!(code, 0, "nothing can be done before publication: {out}");
    assert!(out.contains("AwaitingPublication"), "{out}");
    assert_eq!(s.aliases().await, before);
    // A live stage outside the pair: an error that names it, nothing written.
    fake_smapi().set_stage(&s.skill, "live", Some(&Stage::custom(&format!("{}:BETA", s.arn))));
    let (code, out, err) = s.run("apply", Some(&s.credentials));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("SkillEndpointMismatch") || err.contains("neither PROD1 nor PROD2"), "{err}");
    assert_eq!(s.aliases().await, before);
}
