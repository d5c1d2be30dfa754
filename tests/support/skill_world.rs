//! The world of the Alexa suites on a real API server: a namespace with the credentials Secret,
//! a moto function, a skill in the fake SMAPI and the controller watching the namespace, with
//! the steps a round takes (deploy, the set's status, the review, Events). Each suite adds its
//! own expectations in an `impl SkillWorld` block of its own (one binary holds both suites, so their method names differ).

use std::io::Write;
use std::time::Instant;

use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use lambda_alias_controller::api::LambdaAliasSet;
use serde_json::{Value, json};

use super::cluster::create_credentials_secret;
use super::cluster::{Controller, ControllerEnv, apply_crd, create_namespace, eventually};
use super::smapi::{FakeSmapi, Stage, fake_smapi, unique_skill_id, unique_vendor};

pub struct SkillWorld {
    pub client: Client,
    pub api: Api<LambdaAliasSet>,
    pub fake: &'static FakeSmapi,
    pub skill: String,
    pub function: String,
    pub arn: String,
    pub ns: String,
    pub started: Instant,
    pub controller: Controller,
}

impl SkillWorld {
    /// `development` and `live`: the aliases the skill's stages call (`None`: no live stage).
    /// `flags`: more controller flags.
    pub async fn start(client: Client, development: &str, live: Option<&str>, flags: &[&str]) -> SkillWorld {
        apply_crd(&client).await;
        let ns = create_namespace(&client, "lac-alexa").await;
        let fake = fake_smapi();
        let vendor = unique_vendor();
        let credentials = fake.client(&vendor);
        create_credentials_secret(&client, &ns, &credentials).await;
        let lambda = super::lambda().await;
        let function = super::unique_name("alexa-skill");
        let created = super::create_function(&lambda, &function, "v1").await;
        let arn = created.function_arn().expect("function ARN").to_string();
        let skill = unique_skill_id();
        let stage = |alias: &str| Stage::custom(&format!("{arn}:{alias}"));
        fake.create_skill(&skill, &vendor, &stage(development), live.map(stage).as_ref());
        let (smapi, lwa) = (fake.url(), fake.lwa_url());
        let mut args =
            vec!["--namespace", &ns, "--resync", "2", "--smapi-endpoint", &smapi, "--lwa-endpoint", &lwa];
        args.extend_from_slice(flags);
        let controller = Controller::start(
            &args,
            ControllerEnv { kubeconfig: None, aws: super::moto_env(), extra: vec![] },
        );
        let api = Api::namespaced(client.clone(), &ns);
        SkillWorld { client, api, fake, skill, function, arn, ns, started: Instant::now(), controller }
    }

    pub fn say(&self, what: &str) {
        let _ = writeln!(std::io::stderr(), "[{:6.1} s] {what}", self.started.elapsed().as_secs_f64());
    }

    /// Creates the set `skill` on the function, Alexa-aware on the skill, with `alexa` merged
    /// into `spec.alexa` (e.g. `{"manageDevelopmentEndpoint": true}`).
    pub async fn create_with(&self, phase: &str, alexa: Value) {
        let mut settings = json!({"credentialsSecretRef": {"name": "smapi"}});
        if let (Some(into), Some(from)) = (settings.as_object_mut(), alexa.as_object()) {
            into.extend(from.clone());
        }
        let set: LambdaAliasSet = serde_json::from_value(json!({
            "apiVersion": "lambda.aliasset.dev/v1alpha1",
            "kind": "LambdaAliasSet",
            "metadata": {"name": "skill"},
            "spec": {
                "functionName": self.function,
                "drainSeconds": 3,
                "certification": {"phase": phase},
                "alexa": settings,
                "triggers": [{"name": "alexa", "alexaSkill": {"skillId": self.skill}}]
            }
        }))
        .expect("set");
        self.api.create(&PostParams::default(), &set).await.expect("create set");
        self.say(&format!("created LambdaAliasSet skill, certification.phase {phase}, alexa {alexa}"));
    }

    pub async fn status(&self) -> Result<Value, String> {
        let obj = self.api.get("skill").await.map_err(|e| e.to_string())?;
        serde_json::to_value(obj.status).map_err(|e| e.to_string())
    }

    /// Waits until the status shows the latest review in `state`.
    pub async fn review(&self, state: &str) {
        eventually(&format!("the review is {state} in status"), || async {
            let s = self.status().await?;
            let got = s["skill"]["certification"]["status"].clone();
            if got == state { Ok(()) } else { Err(got.to_string()) }
        })
        .await;
    }

    pub async fn deploy(&self, marker: &str) {
        super::lambda()
            .await
            .update_function_code()
            .function_name(&self.function)
            .zip_file(aws_sdk_lambda::primitives::Blob::new(super::demo_zip(marker)))
            .send()
            .await
            .expect("deploy");
        self.say(&format!("CI deployed {marker} to $LATEST"));
    }

    /// The namespace's Events, oldest first: (reason, note).
    pub async fn events(&self) -> Vec<(String, String)> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        let mut listed: Vec<Event> = events.list(&ListParams::default()).await.expect("events").items;
        listed.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        listed.into_iter().map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default())).collect()
    }

    /// The Ready condition's reason.
    pub fn ready_reason(status: &Value) -> String {
        status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["reason"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}
