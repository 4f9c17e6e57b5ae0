//! `rcptsync push`: sends the current map to every `[[gateway]]` in parallel, each only when
//! the map changed since the last successful push to it (or with `--force`).
//!
//! Which map each gateway last received is recorded in `PATH.pushed` (one line per gateway:
//! `name user@host:port sha256`), updated only for gateways that answered OK with the same
//! digest, so a gateway that was down (or moved to another host) gets the map on the next run
//! while the others are left alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info};

use crate::cli::ExitStatus;
use crate::cli::args::Change;
use crate::config::{Config, Gateway};
use crate::lock::Lock;
use crate::map::{atomic, payload::Payload, with_suffix};
use crate::transport::ssh;

/// Runs push.
pub fn run(config: &Config, change: &Change, verbose: bool) -> anyhow::Result<ExitStatus> {
    let out = &config.output()?.path;
    if config.gateways.is_empty() {
        anyhow::bail!(crate::config::Error::Invalid {
            path: config.path.clone(),
            key: "[[gateway]]".into(),
            message: "missing; push needs at least one gateway (name, host, user)".into(),
        });
    }
    let _lock = Lock::acquire(&with_suffix(out, ".lock"))?;
    let body = fs_err::read(out).context("read the map to push (run `rcptsync extract` first)")?;
    let sources: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let payload = Payload::new(body, &sources.join(","), SystemTime::now());
    let record_path = with_suffix(out, ".pushed");
    let mut record = read_record(&record_path)?;

    let due: Vec<&Gateway> = config
        .gateways
        .iter()
        .filter(|g| change.force || record.get(&destination(g)) != Some(&payload.sha256))
        .collect();
    for gateway in config
        .gateways
        .iter()
        .filter(|g| !due.iter().any(|d| d.name == g.name))
    {
        if verbose {
            println!("{}: unchanged, not pushed", gateway.name);
        }
    }
    if change.dry_run {
        for gateway in &due {
            println!(
                "{}: would push {} recipients to {}@{}:{}",
                gateway.name, payload.count, gateway.user, gateway.host, gateway.port
            );
        }
        return Ok(ExitStatus::Success);
    }
    let bytes = payload.to_bytes();
    let results: Vec<(&Gateway, Result<String, ssh::Error>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = due
            .iter()
            .map(|gateway| {
                let bytes = &bytes;
                (*gateway, scope.spawn(move || ssh::send(gateway, bytes)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(gateway, handle)| {
                let result = handle
                    .join()
                    .unwrap_or_else(|_| Err(ssh::Error::Failed("the push thread panicked".into())));
                (gateway, result)
            })
            .collect()
    });
    let mut failed = 0;
    for (gateway, result) in results {
        match result {
            Ok(reply) if !reply.ends_with(&format!(" {}", payload.sha256)) => {
                failed += 1;
                error!(
                    "gateway {} ({}): the receiver answered {reply:?}, not the digest that was sent",
                    gateway.name, gateway.host
                );
            }
            Ok(reply) => {
                println!(
                    "{}: pushed {} recipients to {} ({reply})",
                    gateway.name, payload.count, gateway.host
                );
                record.insert(destination(gateway), payload.sha256.clone());
            }
            Err(e) => {
                failed += 1;
                error!(
                    "gateway {} ({}): push failed: {e}",
                    gateway.name, gateway.host
                );
            }
        }
    }
    write_record(&record_path, &record)?;
    if failed > 0 {
        error!("{failed} of {} gateway(s) did not get the map", due.len());
        return Ok(ExitStatus::Failure);
    }
    info!("pushed to {} gateway(s)", due.len());
    Ok(ExitStatus::Success)
}

/// What the record is keyed by: the gateway and where it is, so that a gateway moved to
/// another host (or port, or account) gets the map again.
fn destination(gateway: &Gateway) -> String {
    format!(
        "{} {}@{}:{}",
        gateway.name, gateway.user, gateway.host, gateway.port
    )
}

fn read_record(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = match fs_err::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(text
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(destination, digest)| (destination.to_owned(), digest.trim().to_owned()))
        .collect())
}

fn write_record(path: &Path, record: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let text: String = record.iter().map(|(n, d)| format!("{n} {d}\n")).collect();
    if fs_err::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
        atomic::write(path, text.as_bytes(), 0o644)?;
    }
    Ok(())
}
