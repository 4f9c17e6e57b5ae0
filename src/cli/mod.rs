//! The binary's whole life: parse arguments ([`args`], where each command's flags become
//! its plain options), set up the printer, load the config and resolve it with the options
//! into the command's settings ([`settings`]), run it, and map the outcome to an exit code,
//! printing a fatal error once.

pub mod args;
pub mod settings;

use std::path::{Path, PathBuf};

use std::io::Write as _;

use clap::Parser as _;

use crate::cmd::{self, ExitStatus, Printer, metrics};
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A plugin host reads exit 2 as CRITICAL: a usage error there is UNKNOWN.
        Err(e) if plugin_asked() && e.use_stderr() => {
            println!("{}", cmd::status::plugin::unknown(&e.to_string()));
            return std::process::ExitCode::from(3);
        }
        Err(e) => e.exit(),
    };
    let printer = Printer::init(cli.quiet, cli.verbose);
    if let Command::Status(args) = &cli.command
        && args.plugin
    {
        return plugin(&cli, args, printer);
    }
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

/// Whether the command line asks for `status --plugin` (looked at when it does not parse).
fn plugin_asked() -> bool {
    std::env::args_os().any(|a| a == "--plugin")
}

/// `status --plugin`: the line on stdout, the state as the exit status; whatever goes wrong
/// (a config error too) is UNKNOWN.
fn plugin(cli: &Cli, args: &args::Status, printer: Printer) -> std::process::ExitCode {
    use cmd::status::plugin::{self, State, Thresholds};
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let limits = Thresholds {
        warning: args.warning,
        critical: args.critical,
    };
    let checked = Config::load(&path)
        .map_err(cmd::Error::from)
        .and_then(|config| Ok(settings::status(&config, args.options())?))
        .and_then(|settings| plugin::check(&settings, limits));
    let (state, line) = match checked {
        Ok(found) => found,
        Err(e) => (State::Unknown, plugin::unknown(&e.to_string())),
    };
    let _ = printer.line(line);
    std::process::ExitCode::from(state as u8)
}

fn run(cli: &Cli, printer: Printer) -> cmd::Result {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let load = || Config::load(&path);
    match &cli.command {
        // The commands that leave metrics resolve their settings inside the hook: a config
        // error (exit 2) is what monitoring must see too.
        Command::Extract(args) => {
            let (config, options) = (load()?, args.options());
            let hook = settings::internal_metrics(&config);
            metrics::around(hook, options.change.dry_run, |seen| {
                cmd::extract::run(&settings::extract(&config, options)?, printer, seen)
            })
        }
        Command::Sync(args) => {
            let (config, options) = (load()?, args.options());
            let hook = settings::internal_metrics(&config);
            metrics::around(hook, options.change.dry_run, |seen| {
                cmd::sync::run(&settings::sync(&config, options)?, printer, seen)
            })
        }
        Command::Watch(_) => cmd::watch::run(&|| Ok(settings::watch(&load()?)?), printer),
        Command::Push(args) => {
            let (config, change) = (load()?, args.options());
            let hook = settings::internal_metrics(&config);
            metrics::around(hook, change.dry_run, |_| {
                cmd::push::run(&settings::push(&config, change)?, printer)
            })
        }
        Command::Apply(args) => {
            let (config, options) = (load()?, args.options());
            let hook = settings::apply_metrics(&config, options.freshness);
            metrics::around(hook, options.change.dry_run, |_| {
                cmd::apply::run(&settings::apply(&config, options)?, printer)
            })
        }
        Command::Receive(args) => cmd::receive::run(&args.options(), printer),
        Command::Check(args) => cmd::check::run(&load()?, args.connect, printer),
        Command::Verify(args) => {
            cmd::verify::run(&settings::verify(&load()?, args.options())?, printer)
        }
        Command::Doctor(args) => {
            let config = doctor_config(cli.config.as_deref(), &path)?;
            let options = settings::doctor(config.as_ref(), args.config_dir.clone());
            cmd::doctor::run(&options, printer)
        }
        Command::Prune(args) => {
            cmd::prune::run(&settings::prune(&load()?, args.options())?, printer)
        }
        Command::Status(args) => {
            cmd::status::run(&settings::status(&load()?, args.options())?, printer)
        }
        Command::Review(args) => {
            cmd::review::run(&settings::review(&load()?, args.options())?, printer)
        }
        Command::Approve(args) => {
            cmd::approve::run(&settings::approve(&load()?, &args.id)?, printer)
        }
        Command::ImportIni(args) => cmd::import_ini::run(&args.options(), printer),
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
