//! The command line: verbs, flags and their checks (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    pub(super) fn settings(&self) -> crate::alexa::SmapiSettings {
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
