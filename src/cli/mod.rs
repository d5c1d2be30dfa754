//! The verbs of the one binary (DESIGN §3). `plan`, `apply` and `run` arrive with the engine
//! and controller work; each verb is added only once it does what the contract says.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Crd => match crate::api::crd_yaml() {
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
        },
    }
}
