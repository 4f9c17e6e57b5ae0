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
    let load = || Config::load(&cli.config_path());
    let verbose = cli.verbose > 0;
    match &cli.command {
        Command::Extract(args) => cmd::extract::run(&load()?, args, verbose),
        Command::Apply {
            change,
            from,
            rollback,
        } => {
            let config = load()?;
            let input = cmd::apply::Input {
                from: from.as_deref(),
                rollback: *rollback,
            };
            cmd::apply::run(&config, change, &input, verbose)
        }
        Command::Push(change) => cmd::push::run(&load()?, change, verbose),
        Command::Sync(args) => cmd::sync::run(&load()?, args, verbose),
        Command::Receive { spool, max_bytes } => Ok(cmd::receive::run(spool, *max_bytes)),
        Command::Verify {
            smtp,
            starttls,
            ca_file,
        } => {
            let tls = starttls.then_some(ca_file.as_deref());
            cmd::verify::run(&load()?, smtp, tls)
        }
        Command::Doctor { config_dir } => {
            // The rcptsync config is optional here: it only adds the installed map to check.
            let config = match &cli.config {
                Some(path) => Some(Config::load(path)?),
                None => Some(cli.config_path())
                    .filter(|p| p.exists())
                    .map(|p| Config::load(&p))
                    .transpose()?,
            };
            let config_dir = config_dir.clone().unwrap_or_else(|| {
                config
                    .as_ref()
                    .and_then(|c| c.install.as_ref())
                    .map_or_else(|| "/etc/postfix".into(), |i| i.postfix_config_dir.clone())
            });
            cmd::doctor::run(config.as_ref(), &config_dir, verbose)
        }
        Command::Prune { apply, undo } => cmd::prune::run(&load()?, *apply, undo.as_deref()),
        Command::ImportIni {
            file,
            password_file,
        } => cmd::import_ini::run(file, password_file),
    }
}
