//! The binary's whole life: parse arguments, set up logging, run one command, map the outcome
//! to an exit code, print a fatal error once.

pub mod args;
pub mod exit;
pub mod output;

use clap::Parser as _;

use crate::cmd;
use crate::config::{self, Config};
use args::{Cli, Command};
pub use exit::ExitStatus;

/// Runs rcptsync with the process's arguments.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    output::init(cli.quiet, cli.verbose);
    let status = match run(&cli) {
        Ok(status) => status,
        Err(err) => {
            tracing::error!("{err:#}");
            classify(&err)
        }
    };
    status.into()
}

/// Usage and config errors (fix the config) are told apart from runtime failures (retry, or
/// fix the directory/network) by the exit code.
fn classify(err: &anyhow::Error) -> ExitStatus {
    if err.chain().any(|e| e.is::<config::Error>()) {
        ExitStatus::Usage
    } else {
        ExitStatus::Failure
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitStatus> {
    match &cli.command {
        Command::Extract(change) => {
            let config = Config::load(&cli.config)?;
            cmd::extract::run(&config, change, cli.verbose > 0)
        }
        Command::Apply {
            change,
            from,
            rollback,
        } => {
            let config = Config::load(&cli.config)?;
            let input = cmd::apply::Input {
                from: from.as_deref(),
                rollback: *rollback,
            };
            cmd::apply::run(&config, change, &input, cli.verbose > 0)
        }
        Command::Push(change) => {
            cmd::push::run(&Config::load(&cli.config)?, change, cli.verbose > 0)
        }
        Command::Sync(change) => {
            cmd::sync::run(&Config::load(&cli.config)?, change, cli.verbose > 0)
        }
        Command::Receive { spool, max_bytes } => Ok(cmd::receive::run(spool, *max_bytes)),
        Command::Verify { .. }
        | Command::Doctor { .. }
        | Command::Prune { .. }
        | Command::ImportIni { .. } => {
            tracing::error!("this command is not yet implemented in this version of rcptsync");
            Ok(ExitStatus::Usage)
        }
    }
}
