//! The verbs of the one binary (README, "The CLI"): `crd`, `run`, `plan`, `apply`.

mod args;
mod manifests;
mod output;
mod verbs;

use std::process::ExitCode;

pub use args::*;
pub use manifests::{Manifest, load};
use verbs::{apply, crd, plan, run_controller};

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

pub(super) fn init_logging(format: LogFormat) {
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
