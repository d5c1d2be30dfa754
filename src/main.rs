use std::process::ExitCode;

use clap::Parser;
use lambda_alias_controller::cli::{Cli, run};

fn main() -> ExitCode {
    run(Cli::parse())
}
