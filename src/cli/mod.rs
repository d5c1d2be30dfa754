//! The verbs of the one binary (README, "The CLI"): `crd`, `run`, `plan`, `apply`.

mod manifests;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::aws::budget::{BudgetLimits, Budgets, CallCounter};
use crate::aws::client::AwsSettings;
use crate::aws::connections::Connections;
use crate::engine::{self, status::Health};
use crate::plan::skill::SkillObservation;
use crate::plan::{Outcome, Plan};

pub use manifests::{Manifest, load};

#[derive(Parser, Debug)]
#[command(
    name = "lambda-alias-controller",
    version,
    about = "Keeps AWS Lambda versions, aliases and triggers in the state a LambdaAliasSet declares"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinition YAML (identical to crds/lambdaaliasset.yaml).
    Crd,
    /// Run the controller (in-cluster config or KUBECONFIG).
    Run(RunArgs),
    /// Observe AWS and print the ordered actions each manifest would take; write nothing.
    /// Exit 0: nothing to do, 2: changes pending, 1: any error.
    Plan(PlanArgs),
    /// Reconcile each manifest against AWS until converged (or only waiting on a drain timer)
    /// and print each resulting status as YAML. Exit 0: success, 1: any error.
    Apply(ApplyArgs),
}

#[derive(Args, Debug)]
pub struct Target {
    /// Manifest files, multi-document YAML files or directories (repeatable).
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Send AWS calls to this endpoint (a local emulator); AWS_ENDPOINT_URL works as well.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Region for sets that name none (else the standard AWS chain decides).
    #[arg(long)]
    pub region: Option<String>,
    /// Print the AWS calls made, by operation, to stderr when done.
    #[arg(long)]
    pub aws_calls: bool,
    /// Alexa-aware sets (spec.alexa): the Skill Management API credentials, as a YAML or JSON
    /// map with clientId, clientSecret and refreshToken, or the Secret's manifest itself.
    #[arg(long, value_name = "FILE")]
    pub alexa_credentials: Option<PathBuf>,
    #[command(flatten)]
    pub smapi: SmapiArgs,
    /// Check each manifest as `run --tenancy strict` would: a YAML map from namespace to the
    /// Namespace's annotations (lambda.aliasset.dev/allowed-functions, .../allowed-role-arns).
    /// A manifest its namespace does not allow fails, and nothing is written for any.
    #[arg(long, value_name = "FILE")]
    pub tenancy_file: Option<PathBuf>,
    /// With --tenancy-file: the cluster name of the derived ExternalId (`<cluster-name>/<namespace>`)
    /// sent when a manifest's spec.roleArn is assumed.
    #[arg(long, requires = "tenancy_file")]
    pub cluster_name: Option<String>,
}

/// Where the Alexa Skill Management API and Login with Amazon are.
#[derive(Args, Debug, Clone)]
pub struct SmapiArgs {
    /// SMAPI's base URL.
    #[arg(long, default_value = crate::alexa::DEFAULT_SMAPI_ENDPOINT)]
    pub smapi_endpoint: String,
    /// Login with Amazon's token URL.
    #[arg(long, default_value = crate::alexa::DEFAULT_LWA_ENDPOINT)]
    pub lwa_endpoint: String,
    /// SMAPI requests per second per Alexa credentials (reads and writes; bursts of twice that).
    #[arg(long, default_value_t = crate::alexa::DEFAULT_SMAPI_RATE)]
    pub smapi_rate: f64,
}

impl SmapiArgs {
    fn settings(&self) -> crate::alexa::SmapiSettings {
        crate::alexa::SmapiSettings {
            smapi_endpoint: self.smapi_endpoint.clone(),
            lwa_endpoint: self.lwa_endpoint.clone(),
            rate: self.smapi_rate,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A fraction in (0, 1], for `--drift-budget` and `--budget-share`.
fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err(format!("{text} is not a fraction in (0, 1] (e.g. 0.25)"))
    }
}

/// `--resync`'s default without drift events, and with them (README "Drift events").
pub const DEFAULT_RESYNC: u64 = 300;
pub const DEFAULT_RESYNC_WITH_EVENTS: u64 = 21_600;

/// An SQS queue URL: `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (or `http://` for a local
/// emulator).
fn queue_url(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest.and_then(|r| r.split_once('/')) {
        Some((host, path)) if !host.is_empty() && !path.is_empty() && !path.ends_with('/') => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, as `aws sqs get-queue-url` prints it)"
        )),
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (repeatable). Default: all namespaces.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: std::net::SocketAddr,
    /// Reconciles running at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Periodic drift check of every set, in seconds: the checks are spread evenly over this
    /// period, and the pass takes longer when the drift budget cannot check every set in it.
    /// Default: 300, or 21600 (6 hours) with --drift-events-queue, where it is the safety net.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub resync: Option<u64>,
    /// Drift events: the URL of an SQS queue an EventBridge rule fills with CloudTrail's Lambda
    /// events (deploy/drift-events). Each event books a priority drift check of the sets on its
    /// function, so out-of-band changes are found in seconds.
    #[arg(long, value_parser = queue_url)]
    pub drift_events_queue: Option<String>,
    /// The fraction of each AWS quota pool periodic drift checks may use (spec changes, drain
    /// timers and retries go first, up to the whole budget).
    #[arg(long, default_value_t = crate::aws::budget::DEFAULT_DRIFT_SHARE, value_parser = fraction)]
    pub drift_budget: f64,
    /// Reconcile only the sets this label selector selects (e.g. `shard=a`), so that several
    /// replicas split the sets; give each `--budget-share`.
    #[arg(long)]
    pub shard: Option<String>,
    /// The fraction of the account's AWS quotas this replica spends (e.g. 0.5 for each of two
    /// shards).
    #[arg(long, default_value_t = 1.0, value_parser = fraction)]
    pub budget_share: f64,
    /// open: a set in any namespace may target any function the controller's credentials
    /// reach. strict: only what its Namespace's annotations allow
    /// (lambda.aliasset.dev/allowed-functions, lambda.aliasset.dev/allowed-role-arns), and an
    /// assumed role gets the ExternalId `<cluster-name>/<namespace>`.
    #[arg(long, value_enum, default_value_t = crate::tenancy::Tenancy::Open)]
    pub tenancy: crate::tenancy::Tenancy,
    /// This cluster's name, the first half of the derived ExternalId (needed with --tenancy strict).
    #[arg(long)]
    pub cluster_name: Option<String>,
    /// Lease-based leader election, for several replicas.
    #[arg(long)]
    pub leader_elect: bool,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Send AWS calls to this endpoint (a local emulator); AWS_ENDPOINT_URL works as well.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Region for sets that name none (else the standard AWS chain decides).
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    pub smapi: SmapiArgs,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: Target,
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Crd => crd(),
        Command::Run(args) => block_on(run_controller(args)),
        Command::Plan(args) => block_on(plan(args)),
        Command::Apply(args) => block_on(apply(args)),
    }
}

fn block_on(future: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => {
            let code = runtime.block_on(future);
            // Dropping a runtime waits for every blocking task (DNS lookups, file reads of the
            // AWS chain) without limit; the process is ending, so give them half a second.
            runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            code
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// Library crates log at warn unless `RUST_LOG` names them: `RUST_LOG=debug` makes the
/// controller verbose without drowning it in HTTP client traces.
const QUIET_LIBRARIES: &str = "kube=warn,kube_runtime=warn,kube_client=warn,aws_config=warn,aws_smithy_runtime=warn,\
aws_smithy_http_client=warn,aws_sdk_lambda=warn,aws_sdk_sts=warn,hyper=warn,hyper_util=warn,rustls=warn,tower=warn";

fn init_logging(format: LogFormat) {
    let user = std::env::var("RUST_LOG").unwrap_or_default();
    let directives = format!("info,{QUIET_LIBRARIES},{user}");
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{QUIET_LIBRARIES}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn run_controller(args: RunArgs) -> ExitCode {
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

fn crd() -> ExitCode {
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

fn print_calls(target: &Target, calls: &CallCounter) {
    if target.aws_calls {
        let by_op = calls.by_operation();
        let parts: Vec<String> = by_op.iter().map(|(op, n)| format!("{op}={n}")).collect();
        eprintln!("aws calls: {} ({})", calls.total(), parts.join(" "));
    }
}

/// Outcomes that stop a manifest from reaching its spec: errors for both verbs (exit code 1),
/// the same outcomes the controller counts as errors.
fn is_error(outcome: &Outcome) -> bool {
    outcome.reason().is_error()
}

async fn plan(args: PlanArgs) -> ExitCode {
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

fn print_plan_text(m: &Manifest, plan: &Plan) {
    println!("{} (function {}): {}", m.owner(), m.object.spec.function_name, plan.outcome.reason());
    if plan.actions.is_empty() {
        println!("  nothing to do: {}", plan.outcome.message());
    }
    for (i, action) in plan.actions.iter().enumerate() {
        println!("  {}. {action}", i + 1);
    }
    if is_error(&plan.outcome) {
        println!("  {}", plan.outcome.message());
    }
}

fn plan_json(m: &Manifest, plan: Option<&Plan>, error: Option<String>) -> serde_json::Value {
    json!({
        "name": m.name(),
        "namespace": m.namespace(),
        "source": m.source,
        "function": m.object.spec.function_name,
        "actions": plan.map(|p| p.actions.iter().map(|a| json!({"action": a.verb(), "description": a.to_string()})).collect::<Vec<_>>()).unwrap_or_default(),
        "outcome": plan.map(|p| json!({"reason": p.outcome.reason().as_str(), "message": p.outcome.message()})),
        "error": error,
    })
}

async fn apply(args: ApplyArgs) -> ExitCode {
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
        let document = json!({
            "apiVersion": crate::api::API_VERSION,
            "kind": "LambdaAliasSet",
            "metadata": {"name": m.name(), "namespace": m.namespace()},
            "status": status,
        });
        match serde_yaml::to_string(&document) {
            Ok(yaml) => print!("---\n{yaml}"),
            Err(e) => eprintln!("error: cannot print the status of {owner}: {e}"),
        }
    }
    print_calls(&args.target, connections.calls());
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
