//! The binary's whole life: parse arguments ([`args`]), set up the printer, load the config,
//! turn the arguments into a command's plain options, run it, and map the outcome to an exit
//! code, printing a fatal error once.

pub mod args;

use std::path::{Path, PathBuf};

use std::io::Write as _;

use clap::Parser as _;

use crate::cmd::{self, ExitStatus, Printer};
use crate::config::Config;
use args::{Cli, Command};

/// Where the config is when `-c` does not say.
pub const DEFAULT_CONFIG: &str = "/etc/rcptsync/rcptsync.toml";

/// Runs rcptsync with the process's arguments.
pub fn main() -> std::process::ExitCode {
    // A bug, here or in a library fed a hostile reply, is one line in Postfix's style and
    // ends the run with exit 1 (a panic in a background task fails the operation that waits
    // for it); never a Rust backtrace in the admin's cron mail.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // A panic hook must not panic: a closed stderr is ignored.
        let _ = writeln!(
            std::io::stderr(),
            "rcptsync: error: internal error{at}: {message} (please report this)"
        );
    }));
    let cli = Cli::parse();
    let printer = Printer::init(cli.quiet, cli.verbose);
    match std::panic::catch_unwind(|| run(&cli, printer)) {
        Err(_) => ExitStatus::Failure.into(),
        Ok(Ok(status)) => status.into(),
        Ok(Err(cmd::Error::Closed)) => ExitStatus::Success.into(),
        Ok(Err(err)) => {
            tracing::error!("{err}");
            err.status().into()
        }
    }
}

fn run(cli: &Cli, printer: Printer) -> cmd::Result {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let load = || Config::load(&path);
    match &cli.command {
        Command::Extract(args) => cmd::extract::run(&load()?, &args.options(), printer),
        Command::Sync(args) => cmd::sync::run(&load()?, &args.options(), printer),
        Command::Push(args) => cmd::push::run(&load()?, &args.options(), printer),
        Command::Apply {
            change,
            from,
            rollback,
        } => {
            let options = cmd::apply::Options {
                change: change.options(),
                from: from.clone(),
                rollback: *rollback,
            };
            cmd::apply::run(&load()?, &options, printer)
        }
        Command::Receive {
            spool,
            max_bytes,
            timeout,
        } => {
            let options = cmd::receive::Options {
                spool: spool.clone(),
                max_bytes: *max_bytes,
                timeout: *timeout,
            };
            cmd::receive::run(&options, printer)
        }
        Command::Verify {
            smtp,
            starttls,
            ca_file,
        } => {
            let options = cmd::verify::Options {
                smtp: smtp.clone(),
                starttls: starttls.then(|| ca_file.clone()),
            };
            cmd::verify::run(&load()?, &options, printer)
        }
        Command::Doctor { config_dir } => {
            let config = doctor_config(cli.config.as_deref(), &path)?;
            let install = config.as_ref().and_then(|c| c.install.as_ref());
            let options = cmd::doctor::Options {
                config_dir: config_dir.clone().unwrap_or_else(|| {
                    install.map_or_else(|| "/etc/postfix".into(), |i| i.postfix_config_dir.clone())
                }),
                install: install.map(|i| i.map.clone()),
            };
            cmd::doctor::run(&options, printer)
        }
        Command::Prune { apply, undo } => {
            let options = cmd::prune::Options {
                apply: *apply,
                undo: undo.clone(),
            };
            cmd::prune::run(&load()?, &options, printer)
        }
        Command::Status { json } => {
            cmd::status::run(&load()?, &cmd::status::Options { json: *json }, printer)
        }
        Command::ImportIni {
            file,
            password_file,
            output,
            overwrite,
            force,
        } => {
            if *force {
                tracing::warn!(
                    "import-ini --force is now --overwrite; --force will go in the next release"
                );
            }
            let options = cmd::import_ini::Options {
                file: file.clone(),
                password_file: password_file.clone(),
                output: output.clone(),
                overwrite: *overwrite || *force,
            };
            cmd::import_ini::run(&options, printer)
        }
    }
}

/// doctor's rcptsync config is optional: it only adds the installed map to check. One named
/// with -c must load; the default one is used when it exists.
fn doctor_config(given: Option<&Path>, default: &Path) -> cmd::Result<Option<Config>> {
    match given {
        Some(path) => Ok(Some(Config::load(path)?)),
        None if default.exists() => Ok(Some(Config::load(default)?)),
        None => Ok(None),
    }
}
