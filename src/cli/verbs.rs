//! The verbs: `run` (the controller), `crd`, `plan` and `apply`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::aws::budget::{BudgetLimits, Budgets, CallCounter};
use crate::aws::client::AwsSettings;
use crate::aws::connections::Connections;
use crate::engine::{self, status::Health};
use crate::plan::Outcome;
use crate::plan::skill::SkillObservation;

use super::args::*;
use super::init_logging;
use super::manifests::{Manifest, load};
use super::output::{plan_json, print_calls, print_plan_text, print_status};

pub(super) async fn run_controller(args: RunArgs) -> ExitCode {
    init_logging(args.log_format);
    let options = crate::controller::run::RunOptions {
        namespaces: args.namespaces,
        http_addr: args.http_addr,
        concurrency: args.concurrency,
        resync: std::time::Duration::from_secs(args.resync.unwrap_or(match args.drift_events_queue {
            Some(_) => DEFAULT_RESYNC_WITH_EVENTS,
            None => DEFAULT_RESYNC,
        })),
        drift_events_queue: args.drift_events_queue,
        leader_elect: args.leader_elect,
        aws: AwsSettings {
            region: args.region,
            endpoint_url: args.endpoint_url,
            profile: None,
            session_name: None,
        },
        smapi: args.smapi.settings(),
        shard: args.shard,
        drift_budget: args.drift_budget,
        budget_share: args.budget_share,
        tenancy: args.tenancy,
        cluster_name: args.cluster_name,
        caller: None,
    };
    match crate::controller::run::run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "controller stopped");
            ExitCode::from(1)
        }
    }
}

pub(super) fn crd() -> ExitCode {
    match crate::api::crd_yaml() {
        Ok(yaml) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(yaml.as_bytes()).and_then(|()| out.flush()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot render the CRD: {e}");
            ExitCode::from(1)
        }
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Loads and validates every manifest first: if any is invalid, nothing is written for any.
/// What `plan` and `apply` work with: the manifests, AWS, and SMAPI for Alexa-aware sets.
struct Loaded {
    manifests: Vec<Manifest>,
    connections: Connections,
    alexa: Option<(crate::alexa::Smapi, crate::alexa::AlexaCredentials)>,
}

impl Loaded {
    /// The skills' state for an Alexa-aware set (`Ok(None)` for any other).
    async fn skills(&self, m: &Manifest) -> Result<Option<Vec<SkillObservation>>, String> {
        if !m.object.spec.is_alexa_aware() {
            return Ok(None);
        }
        let Some((smapi, credentials)) = &self.alexa else {
            return Err("Alexa-aware set without credentials (a bug: load_all checks)".to_string());
        };
        crate::controller::skills::observe_skills(smapi, credentials, &m.object.spec)
            .await
            .map(Some)
            .map_err(|e| format!("the skill's state is unknown, so nothing was planned: {e}"))
    }
}

/// Loads and validates every manifest first: if any is invalid, nothing is written for any.
/// Alexa-aware sets need `--alexa-credentials`, read once here.
async fn load_all(target: &Target) -> Option<Loaded> {
    let mut manifests = match load(&target.paths) {
        Ok(manifests) => manifests,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return None;
        }
    };
    let aware: Vec<String> = manifests
        .iter()
        .filter(|m| m.object.spec.is_alexa_aware())
        .map(|m| format!("{} ({})", m.owner(), m.source))
        .collect();
    let alexa = match (&target.alexa_credentials, aware.is_empty()) {
        (_, true) => None,
        (None, false) => {
            eprintln!(
                "error: {} {} Alexa-aware (spec.alexa): pass --alexa-credentials FILE with the Secret's clientId, \
                 clientSecret and refreshToken, so that the skill's live stage is known before anything is written",
                aware.join(", "),
                if aware.len() == 1 { "is" } else { "are" }
            );
            return None;
        }
        (Some(path), false) => {
            let loaded = crate::alexa::AlexaCredentials::from_yaml_file(path)
                .and_then(|c| crate::alexa::Smapi::new(&target.smapi.settings()).map(|s| (s, c)));
            match loaded {
                Ok(pair) => Some(pair),
                Err(e) => {
                    eprintln!("error: {e}");
                    return None;
                }
            }
        }
    };
    let settings = AwsSettings {
        region: target.region.clone(),
        endpoint_url: target.endpoint_url.clone(),
        profile: None,
        session_name: Some(crate::aws::client::CLI_SESSION_NAME),
    };
    if let Some(path) = &target.tenancy_file {
        let errors = police(path, target.cluster_name.as_deref(), &settings, &mut manifests).await;
        if !errors.is_empty() {
            for e in errors {
                eprintln!("error: {e}");
            }
            return None;
        }
    }
    let connections = Connections::new(settings, Budgets::new(BudgetLimits::default()), CallCounter::new());
    Some(Loaded { manifests, connections, alexa })
}

/// `--tenancy-file`, read as [`crate::input`] reads any file a person hands the binary.
fn read_tenancy_file(path: &std::path::Path) -> Result<crate::tenancy::Rules, String> {
    let origin = format!("--tenancy-file {}", path.display());
    let document = crate::input::read_text(path, &origin)
        .and_then(|text| crate::input::yaml_document(&text, &origin))
        .map_err(|e| e.to_string())?;
    crate::tenancy::rules_from(document, &origin)
}

/// `--tenancy-file`: every manifest checked as `run --tenancy strict` checks a set (no Lambda
/// call is made for it), and the allowed ones that assume a role get the derived ExternalId.
async fn police(
    path: &std::path::Path,
    cluster_name: Option<&str>,
    settings: &AwsSettings,
    manifests: &mut [Manifest],
) -> Vec<String> {
    let rules = match read_tenancy_file(path) {
        Ok(rules) => rules,
        Err(e) => return vec![e],
    };
    let caller = match crate::aws::client::caller(&crate::aws::client::sdk_config(settings).await).await {
        Ok(caller) => caller,
        Err(e) => return vec![format!("--tenancy-file: {e}")],
    };
    let mut errors = Vec::new();
    for m in manifests.iter_mut() {
        let namespace = m.namespace().to_string();
        let refusal = crate::tenancy::check(
            &m.object.spec,
            &namespace,
            rules.get(&namespace),
            &caller,
            cluster_name.unwrap_or("<cluster-name>"),
        );
        match (refusal, &m.object.spec.role_arn, cluster_name) {
            (Err(message), _, _) => {
                errors.push(format!("{} ({}): {}: {message}", m.owner(), m.source, crate::api::Reason::NotAllowed))
            }
            (Ok(()), Some(_), None) => errors.push(format!(
                "{} ({}): spec.roleArn is assumed with the ExternalId <cluster-name>/{namespace}: pass --cluster-name",
                m.owner(),
                m.source
            )),
            (Ok(()), Some(_), Some(cluster)) => {
                m.object.spec.external_id = Some(crate::tenancy::derived_external_id(cluster, &namespace));
            }
            (Ok(()), None, _) => {}
        }
    }
    errors
}

/// Outcomes that stop a manifest from reaching its spec: errors for both verbs (exit code 1),
/// the same outcomes the controller counts as errors.
pub(super) fn is_error(outcome: &Outcome) -> bool {
    outcome.reason().is_error()
}

pub(super) async fn plan(args: PlanArgs) -> ExitCode {
    let Some(loaded) = load_all(&args.target).await else { return ExitCode::from(1) };
    let connections = &loaded.connections;
    let mut pending = false;
    let mut failed = false;
    let mut reports = Vec::new();
    for m in &loaded.manifests {
        let spec = &m.object.spec;
        let skills = match loaded.skills(m).await {
            Ok(skills) => skills,
            Err(e) => {
                failed = true;
                eprintln!("error: {} ({}): {e}", m.owner(), m.source);
                reports.push(plan_json(m, None, Some(e)));
                continue;
            }
        };
        let client = connections.client_for(spec).await;
        match engine::plan_only(&*client, &m.owner(), spec, skills.as_deref(), now()).await {
            Ok((_, plan)) => {
                pending |= !plan.actions.is_empty();
                if is_error(&plan.outcome) {
                    // The report goes to stdout; the refusal is said on stderr too, as `apply` says it.
                    failed = true;
                    eprintln!(
                        "error: {} ({}): {}: {}",
                        m.owner(),
                        m.source,
                        plan.outcome.reason(),
                        plan.outcome.message()
                    );
                }
                if args.output == Output::Text {
                    print_plan_text(m, &plan);
                }
                reports.push(plan_json(m, Some(&plan), None));
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {} ({}): {e}", m.owner(), m.source);
                reports.push(plan_json(m, None, Some(e.to_string())));
            }
        }
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&reports).unwrap_or_default());
    }
    print_calls(&args.target, connections.calls());
    if failed {
        ExitCode::from(1)
    } else if pending {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

pub(super) async fn apply(args: ApplyArgs) -> ExitCode {
    let Some(loaded) = load_all(&args.target).await else { return ExitCode::from(1) };
    let connections = &loaded.connections;
    let mut failed = false;
    for m in &loaded.manifests {
        let spec = &m.object.spec;
        let owner = m.owner();
        let skills = match loaded.skills(m).await {
            Ok(skills) => skills,
            Err(e) => {
                failed = true;
                eprintln!("error: {owner} ({}): {e}", m.source);
                continue;
            }
        };
        let client = connections.client_for(spec).await;
        let (health, report) = match engine::converge(
            &*client,
            &owner,
            spec,
            skills.as_deref(),
            now,
            engine::MAX_PASSES,
        )
        .await
        {
            Ok(done) => {
                for d in &done.done {
                    eprintln!("{owner}: {} => {}", d.action, d.detail);
                }
                let outcome = &done.last.plan.outcome;
                if is_error(outcome) {
                    failed = true;
                    eprintln!("error: {owner} ({}): {}", m.source, outcome.message());
                }
                (Health::from_outcome(outcome), done.last.plan.report)
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {owner} ({}): {e}", m.source);
                for d in e.done() {
                    eprintln!("{owner}: {} => {}", d.action, d.detail);
                }
                let health = Health::engine_error(&e);
                (health, Default::default())
            }
        };
        let status =
            engine::status::status(Some(&report), &health, m.object.metadata.generation, now(), None);
        print_status(m, &status);
    }
    print_calls(&args.target, connections.calls());
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
