//! `rcptsync check`: the config as every command would take it, and every file it names,
//! without running anything, as `postfix check`, `sshd -t` and `nginx -t` do. Loading the
//! config already checks its syntax and values (exit 2 naming the file and key); this goes on
//! to the files: each source's bind password, keytab or Graph credential (read with the
//! checks extract makes), each CA file (parsed), each gateway's identity file and
//! known_hosts, the approval key (when this account can read it), the directories the
//! gateway side, the exports and the metrics write to, and each export's program. Silent when all is well (`-v`: one line per check);
//! every problem is named with its fix, and the run exits 2. The packaged units run it as
//! `ExecStartPre=`, so that a broken config fails fast with its message in the journal.
//! `--connect` goes on to open every source and reach every gateway's receive (exit 1 when
//! one fails), as an admin does once after setting up or rotating a credential.
//!
//! Security: reads what the commands read, as the account that runs it; writes nothing (a
//! gateway's receive answers the check with no map written, only its lock taken).

use std::path::Path;

use tracing::error;

use super::{ExitStatus, Printer, Result};
use crate::config::Config;
use crate::source::SourceKind;

/// One check's outcome: what was looked at, and what is wrong with it (with the fix).
struct Checked {
    what: String,
    problem: Option<String>,
}

/// Runs every check on `config` (loaded: its syntax and values are checked already); with
/// `connect`, once the files are right, every source and gateway too.
pub fn run(config: &Config, connect: bool, printer: Printer) -> Result {
    let mut checks = vec![Checked {
        what: format!("config {}", config.path.display()),
        problem: None,
    }];
    sources(config, &mut checks);
    gateways(config, &mut checks);
    approval_key(config, &mut checks);
    directories(config, &mut checks);
    let mut problems = 0;
    for check in &checks {
        match &check.problem {
            None => printer.note(format_args!("ok: {}", check.what))?,
            Some(problem) => {
                problems += 1;
                error!("{}: {problem}", check.what);
            }
        }
    }
    if problems > 0 {
        error!("{problems} problem(s) in {}", config.path.display());
        return Ok(ExitStatus::Usage);
    }
    if connect {
        return connections(config, printer);
    }
    Ok(ExitStatus::Success)
}

/// `--connect`: each source opened and tried ([`crate::source::Reader::check`]), each
/// gateway's receive reached over ssh without a map ([`crate::transport::ssh::check`]);
/// every one is tried, and exit 1 when one failed.
fn connections(config: &Config, printer: Printer) -> Result {
    let mut failed = 0;
    // With domains = "exchange" the first directory source also tells the accepted domains.
    let exchange = config
        .recipients
        .as_ref()
        .is_some_and(|r| matches!(r.domains, crate::rules::DomainSetting::Exchange));
    let mut domains_asked = false;
    for source in &config.sources {
        let directory = matches!(source.kind, SourceKind::Ldap(_) | SourceKind::Graph(_));
        let ask = exchange && directory && !domains_asked;
        domains_asked |= directory;
        let checked = source.reader().and_then(|mut reader| {
            let mut found = reader.check()?;
            if ask && let Some(domains) = reader.accepted_domains() {
                let domains = domains?;
                found.push(format!(
                    "accepted domains (domains = \"exchange\"): {}",
                    domains.accepted.join(", ")
                ));
            }
            Ok(found)
        });
        match checked {
            Ok(found) => {
                for line in found {
                    printer.note(format_args!("ok: source {}: {line}", source.name))?;
                }
            }
            Err(e) => {
                failed += 1;
                error!("{:#}", anyhow::Error::new(e));
            }
        }
    }
    for gateway in &config.gateways {
        let answered =
            crate::transport::ssh::check(gateway).and_then(|reply| match reply.as_str() {
                "OK CHECK" => Ok(()),
                other => Err(crate::transport::ssh::Error::Failed(format!(
                    "the gateway's receive answered {:?}, not OK CHECK",
                    other.chars().take(80).collect::<String>()
                ))),
            });
        match answered {
            Ok(()) => printer.note(format_args!(
                "ok: gateway {}: ssh to {} (host key known, key accepted), receive answers",
                gateway.name,
                gateway.destination()
            ))?,
            Err(e) => {
                failed += 1;
                // A receive that predates the check takes its request for a broken map.
                let old = matches!(&e, crate::transport::ssh::Error::Failed(text) if text.contains("refused the map"));
                error!(
                    "gateway {}: {e}{}",
                    gateway.name,
                    if old {
                        " (a gateway whose rcptsync predates check --connect refuses its request: upgrade it there)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    if failed > 0 {
        error!(
            "{failed} of {} connection(s) failed",
            config.sources.len() + config.gateways.len()
        );
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

/// Each source's credentials, read as extract reads them, and its CA file.
fn sources(config: &Config, checks: &mut Vec<Checked>) {
    for source in &config.sources {
        checks.push(Checked {
            what: format!("source {}: credentials", source.name),
            problem: source.reader().err().map(|e| {
                // What extract would say: the source's error and its causes.
                let error: anyhow::Error = e.into();
                format!("{error:#}")
            }),
        });
        let ca_file = match &source.kind {
            SourceKind::Ldap(ldap) => ldap.ca_file.as_deref(),
            _ => None,
        };
        if let Some(path) = ca_file {
            checks.push(Checked {
                what: format!("source {}: ca_file {}", source.name, path.display()),
                problem: crate::tls::roots(Some(path)).err().map(|e| e.to_string()),
            });
        }
    }
}

/// Each gateway's identity file (as push checks it) and known_hosts.
fn gateways(config: &Config, checks: &mut Vec<Checked>) {
    for gateway in &config.gateways {
        checks.push(Checked {
            what: format!("gateway {}: identity_file", gateway.name),
            problem: crate::transport::ssh::check_identity(gateway)
                .err()
                .map(|e| e.to_string()),
        });
        if let Some(path) = &gateway.known_hosts {
            checks.push(Checked {
                what: format!("gateway {}: known_hosts {}", gateway.name, path.display()),
                problem: readable_file(path),
            });
        }
    }
}

/// The approval key, when this account can read it (the account that syncs should not).
fn approval_key(config: &Config, checks: &mut Vec<Checked>) {
    let Some(key) = &config.approver.key else {
        return;
    };
    let what = format!("[safety].approval_key {}", key.display());
    let problem = match config.approver.readable_here() {
        Some(path) => crate::hold::approval::load_key(path)
            .err()
            .map(|e| e.to_string()),
        None => None,
    };
    checks.push(Checked { what, problem });
}

/// The directories the gateway side and the metrics use, which no command creates.
fn directories(config: &Config, checks: &mut Vec<Checked>) {
    if let Some(install) = &config.install {
        let mut dirs = vec![
            ("[install].spool", install.spool.clone()),
            (
                "[install].map's directory",
                crate::map::atomic::dir_of(&install.map.path).to_owned(),
            ),
            (
                "[install].postfix_config_dir",
                install.postfix_config_dir.clone(),
            ),
        ];
        if let Some(table) = &install.relay_domains {
            dirs.push((
                "[install].relay_domains_map's directory",
                crate::map::atomic::dir_of(&table.map.path).to_owned(),
            ));
        }
        for (key, dir) in dirs {
            checks.push(Checked {
                what: format!("{key} {}", dir.display()),
                problem: directory(&dir),
            });
        }
    }
    for export in &config.exports {
        let dir = crate::map::atomic::dir_of(&export.path);
        checks.push(Checked {
            what: format!(
                "[[export]] {}: directory {}",
                export.path.display(),
                dir.display()
            ),
            problem: directory(dir),
        });
        if let Some(program) = export.command.as_ref().and_then(|argv| argv.first()) {
            checks.push(Checked {
                what: format!("[[export]] {}: command {program}", export.path.display()),
                problem: executable(Path::new(program)),
            });
        }
    }
    if let Some(metrics) = &config.metrics {
        for textfile in [&metrics.textfile, &metrics.apply_textfile] {
            let dir = crate::map::atomic::dir_of(textfile);
            checks.push(Checked {
                what: format!("[metrics].textfile's directory {}", dir.display()),
                problem: directory(dir),
            });
        }
    }
}

/// What is wrong with `path` as a directory that exists, if anything.
fn directory(path: &Path) -> Option<String> {
    match crate::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some("is not a directory".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
            "does not exist; create it (install -d {})",
            path.display()
        )),
        Err(e) => Some(e.to_string()),
    }
}

/// What is wrong with `path` as a program this account can run, if anything.
fn executable(path: &Path) -> Option<String> {
    match rustix::fs::access(path, rustix::fs::Access::EXEC_OK) {
        Ok(()) if crate::fs::metadata(path).is_ok_and(|m| m.is_file()) => None,
        Ok(()) => Some("is not a regular file".into()),
        Err(e) => Some(format!(
            "cannot be run by this account ({e}); install it or fix the path"
        )),
    }
}

/// What is wrong with `path` as a known_hosts file this account can read, if anything.
fn readable_file(path: &Path) -> Option<String> {
    match crate::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => None,
        Ok(_) => Some("is not a regular file".into()),
        Err(e) => Some(format!(
            "{e}; ssh checks the gateway's host key against it (record it with ssh-keyscan \
             after checking its fingerprint)"
        )),
    }
}
