//! `rcptsync status [--json]`: what the files beside the map say, without touching the
//! network or changing anything.
//!
//! On the internal host (a config with `[output]`): each source's last full run and change
//! mark (`PATH.state`), the map itself, and each configured gateway's last acknowledged push
//! and last attempt (`PATH.pushed`). On a gateway (`[install]`): the installed map and
//! whether its files are as apply installed them (`PATH.sha256`), a map waiting in the spool,
//! the last apply's outcome (`PATH.applied`), whether a rollback is in force, and when the
//! map was last confirmed current (`PATH.confirmed`; "stale since" while unknown recipients
//! get 450). A host in
//! both roles gets both. `--json` gives the same for scripts and monitoring.
//!
//! Security: runs as any user that can read those files; reads only headers of the spooled
//! file (bounded, as receive's reader is) and changes nothing.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use tracing::warn;

pub mod plugin;
mod text;

use super::watch::beacon::Beacon;
use super::{ExitStatus, Failure as _, Printer, Result};
use crate::hold::held::Summary;
use crate::install::spool::SPOOL_NAME;
use crate::install::stale;
use crate::install::swap::Installer;
use crate::map::payload::Header;
use crate::map::state::{Snapshot, now};
use crate::map::{digest, with_suffix};
use crate::postfix::Postfix;
use crate::transport::record::Record;

/// What status reports on, resolved from the config (`cli/settings.rs`): at least one
/// of the two roles.
#[derive(Debug)]
pub struct Settings {
    /// The config file, as named in the report.
    pub config: PathBuf,
    /// The internal host's side, when the config has `[output]`.
    pub internal: Option<Internal>,
    /// `[install]`: the gateway's side.
    pub install: Option<crate::install::Settings>,
    /// The largest map status measures (`[install].max_bytes`, or its default).
    pub max_bytes: u64,
    /// How to show it.
    pub options: Options,
}

/// The internal host's files: the map, its state and push record, by source and gateway.
#[derive(Debug)]
pub struct Internal {
    /// `[output].path`.
    pub map: PathBuf,
    /// The sources' names, in the config's order.
    pub sources: Vec<String>,
    /// The gateways.
    pub gateways: Vec<crate::transport::Gateway>,
}

/// How to show it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// JSON on stdout instead of lines of text.
    pub json: bool,
}

/// Everything status reports.
#[derive(Debug, Serialize)]
struct Status {
    /// The config file read.
    config: String,
    /// The internal host's map, when the config has `[output]`.
    map: Option<MapFile>,
    /// Each source's last full run.
    sources: Vec<SourceStatus>,
    /// How many objects the last full reconcile found the incremental reads had wrong
    /// (None: there was none yet).
    drift: Option<usize>,
    /// Each configured gateway's pushes.
    gateways: Vec<GatewayStatus>,
    /// What a running (or dead) `watch` last reported, when one ran.
    watch: Option<WatchStatus>,
    /// How the last run that read the directory ended (`PATH.run`).
    last_run: Option<LastRun>,
    /// The change a removal guard holds back, if any (`rcptsync review` shows it).
    held: Option<HeldStatus>,
    /// The gateway side, when the config has `[install]`.
    install: Option<InstallStatus>,
}

/// A map file: how many recipients, its digest, when it last changed.
#[derive(Debug, Serialize)]
struct MapFile {
    path: String,
    recipients: Option<u64>,
    sha256: Option<String>,
    updated: Option<String>,
}

#[derive(Debug, Serialize)]
struct SourceStatus {
    name: String,
    last_full_run: Option<String>,
    change_mark: Option<String>,
    /// How the last run read it: `full`, or the change feed (`syncrepl`).
    method: Option<String>,
    /// Where its next read of changes starts.
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct HeldStatus {
    id: String,
    removals: usize,
    since: String,
    guard: String,
}

#[derive(Debug, Serialize)]
struct WatchStatus {
    /// Its file is fresh: it runs.
    running: bool,
    #[serde(flatten)]
    beacon: Beacon,
}

#[derive(Debug, Serialize)]
struct GatewayStatus {
    name: String,
    destination: String,
    acknowledged_sha256: Option<String>,
    pushed_at: Option<String>,
    /// Whether the gateway acknowledged the map there is now.
    current: bool,
    last_attempt: Option<String>,
    last_result: Option<String>,
}

#[derive(Debug, Serialize)]
struct InstallStatus {
    /// `TYPE:PATH`.
    map: String,
    /// The map type.
    r#type: String,
    recipients: Option<u64>,
    sha256: Option<String>,
    installed: Option<String>,
    /// Whether the files are still those apply installed (false: no record, or edited).
    as_installed: bool,
    spool: SpoolStatus,
    last_apply: Option<LastApply>,
    rolled_back: bool,
    /// When the installed map was last confirmed current (a new map or a confirmation).
    confirmed: Option<String>,
    /// Since when it is stale (unknown recipients get 450), if it is.
    stale_since: Option<String>,
}

#[derive(Debug, Serialize)]
struct SpoolStatus {
    path: String,
    /// `none`, `installed` (the map there is the installed one), `rolled back` (the map a
    /// rollback undid; not installed again by itself), `waiting`, or `unreadable` (not a
    /// regular file with a payload header).
    state: String,
    recipients: Option<usize>,
    sha256: Option<String>,
}

#[derive(Debug, Serialize)]
struct LastRun {
    at: String,
    exit_status: u8,
    result: String,
    /// When a read last found the map current.
    current_as_of: Option<String>,
}

#[derive(Debug, Serialize)]
struct LastApply {
    at: Option<String>,
    exit_status: u8,
    result: String,
}

use super::printer::{rfc3339 as time, rfc3339_seconds as unix};

/// The map at `path` as status reports it. Its directory may be another account's while
/// status runs as root: the file is opened through no link, as a regular file only, and
/// everything reported is read from that one handle in one pass, and only when it is at most
/// `max` bytes (a sparse file of exabytes would have root hash zeros for ever).
fn map_file(path: &Path, max: u64) -> MapFile {
    let measured = match crate::map::nofollow::open_regular(path) {
        Ok(Some(file)) => match file.metadata() {
            Ok(meta) if meta.len() > max => {
                warn!(
                    "{} is {} bytes, more than the {max} a map may have ([install].max_bytes); \
                     not measured",
                    path.display(),
                    meta.len()
                );
                None
            }
            Ok(_) => measure(file, max).ok(),
            Err(e) => {
                warn!("{e}");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            warn!("{e}");
            None
        }
    };
    let (recipients, sha256, updated) = match measured {
        Some((lines, sha256, modified)) => (Some(lines), Some(sha256), modified.map(time)),
        None => (None, None, None),
    };
    MapFile {
        path: path.display().to_string(),
        recipients,
        sha256,
        updated,
    }
}

/// The map's lines (one recipient each), SHA-256 and mtime, from its handle; at most `max`
/// bytes are read, whatever the file grows to meanwhile.
fn measure(file: crate::fs::File, max: u64) -> std::io::Result<(u64, String, Option<SystemTime>)> {
    /// Counts the line ends of what passes through.
    struct Lines(std::io::Take<crate::fs::File>, u64);
    impl std::io::Read for Lines {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            Ok(n)
        }
    }
    let modified = file.metadata()?.modified().ok();
    let mut lines = Lines(std::io::Read::take(file, max), 0);
    let sha256 = digest::sha256_reader(&mut lines)?;
    Ok((lines.1, sha256, modified))
}

/// The header of the spooled map: None when there is no file, Some(None) when there is one
/// without a readable header. The spool is written by the unprivileged ssh account, so the
/// file is opened as apply opens it: looked at before it is opened, without following a link
/// (a FIFO or device put there is never opened), and only its bounded header is read.
fn spooled_header(path: &Path) -> Option<Option<Header>> {
    match crate::map::nofollow::open_regular(path) {
        Ok(None) => None,
        Ok(Some(file)) => Some(Header::read(&mut std::io::BufReader::new(file)).ok()),
        Err(_) => Some(None),
    }
}

/// What each exit status means, as `status` says it.
fn meaning(exit: u8) -> &'static str {
    match exit {
        0 => "ok",
        1 => "failure",
        2 => "config error",
        3 => "refused",
        _ => "unknown",
    }
}

/// Runs status.
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let status = gather(settings)?;
    if settings.options.json {
        let text = serde_json::to_string_pretty(&status)
            .map_err(|e| anyhow::anyhow!("render the status as JSON: {e}"))
            .failure()?;
        printer.line(text)?;
    } else {
        text::print_text(&status, printer)?;
    }
    Ok(ExitStatus::Success)
}

/// Everything status reports, read from the files of the config's roles.
fn gather(settings: &Settings) -> Result<Status> {
    let mut status = Status {
        config: settings.config.display().to_string(),
        map: None,
        sources: Vec::new(),
        drift: None,
        gateways: Vec::new(),
        watch: None,
        last_run: None,
        held: None,
        install: None,
    };
    if let Some(output) = &settings.internal {
        let map = map_file(&output.map, settings.max_bytes);
        let snapshot = Snapshot::read(&with_suffix(&output.map, ".state"));
        status.drift = snapshot.as_ref().and_then(|snap| snap.drift);
        status.sources = output
            .sources
            .iter()
            .map(|name| SourceStatus {
                name: name.clone(),
                last_full_run: snapshot.as_ref().map(|snap| unix(snap.full_at)),
                method: snapshot
                    .as_ref()
                    .and_then(|snap| snap.methods.get(name))
                    .cloned(),
                cursor: snapshot
                    .as_ref()
                    .and_then(|snap| snap.cursors.get(name))
                    .cloned(),
                change_mark: snapshot
                    .as_ref()
                    .and_then(|snap| snap.sources.get(name))
                    .filter(|m| !m.is_empty())
                    .cloned(),
            })
            .collect();
        let record = Record::read(&with_suffix(&output.map, ".pushed"))?;
        let domains = crate::map::domains::read(&output.map).ok().flatten();
        let delivered = map
            .sha256
            .as_deref()
            .map(|sha256| crate::map::domains::delivered(sha256, domains.as_deref()));
        status.gateways = output
            .gateways
            .iter()
            .map(|g| {
                let entry = record.get(g);
                let acknowledged = entry.and_then(|e| e.acknowledged.clone());
                GatewayStatus {
                    name: g.name.clone(),
                    destination: g.destination(),
                    current: acknowledged.is_some() && acknowledged == delivered,
                    acknowledged_sha256: acknowledged
                        .as_deref()
                        .map(|a| crate::map::domains::map_part(a).to_owned()),
                    pushed_at: entry.and_then(|e| e.acknowledged_at).map(unix),
                    last_attempt: entry.and_then(|e| e.attempted_at).map(unix),
                    last_result: entry.and_then(|e| e.result.clone()),
                }
            })
            .collect();
        status.map = Some(map);
        // The header only: root reads no more of the rcptsync account's file than that.
        status.last_run = crate::map::ran::Ran::read(&output.map).map(|ran| LastRun {
            at: unix(ran.at),
            exit_status: ran.exit,
            result: meaning(ran.exit).to_owned(),
            current_as_of: ran.success.map(unix),
        });
        status.held = Summary::read(&crate::hold::held_path(&output.map))
            .unwrap_or_else(|e| {
                warn!("{e}");
                None
            })
            .map(|held| HeldStatus {
                id: held.id,
                removals: held.count,
                since: unix(held.since),
                guard: held.guard,
            });
        status.watch = Beacon::read(&with_suffix(&output.map, ".watch"))
            .unwrap_or_else(|e| {
                warn!("{e}");
                None
            })
            .map(|beacon| WatchStatus {
                running: beacon.fresh(now()),
                beacon,
            });
    }
    if let Some(install) = &settings.install {
        let postfix = Postfix::new(&install.postfix_config_dir);
        let installer = Installer::new(&install.map, &postfix, install.cdb_writer);
        let recorded = installer.installed()?;
        let rolled_back = installer.rolled_back_from().unwrap_or_else(|e| {
            warn!("{e}");
            None
        });
        let live = map_file(&install.map.path, settings.max_bytes);
        let spooled_path = install.spool.join(SPOOL_NAME);
        let spooled = spooled_header(&spooled_path);
        let spool_state = match &spooled {
            None => "none",
            Some(None) => "unreadable",
            Some(Some(h)) if recorded.as_ref().is_some_and(|r| r.source == h.sha256) => "installed",
            Some(Some(h)) if rolled_back.as_ref().is_some_and(|r| r.source == h.sha256) => {
                "rolled back"
            }
            Some(Some(_)) => "waiting",
        };
        let header = spooled.flatten();
        let applied = with_suffix(&install.map.path, ".applied");
        let last_apply = crate::map::nofollow::read_small(&applied, super::apply::APPLIED_MAX)
            .ok()
            .flatten()
            .and_then(|text| {
                let (at, exit) = text.trim().split_once(' ')?;
                let exit: u8 = exit.parse().ok()?;
                Some(LastApply {
                    at: at.parse().ok().map(unix),
                    exit_status: exit,
                    result: meaning(exit).to_owned(),
                })
            });
        status.install = Some(InstallStatus {
            map: install.map.to_string(),
            r#type: install.map.kind.name().to_owned(),
            recipients: live.recipients,
            sha256: live.sha256,
            installed: live.updated,
            as_installed: recorded.is_some(),
            spool: SpoolStatus {
                path: spooled_path.display().to_string(),
                state: spool_state.to_owned(),
                recipients: header.as_ref().map(|h| h.count),
                sha256: header.map(|h| h.sha256),
            },
            last_apply,
            rolled_back: rolled_back.is_some(),
            confirmed: stale::confirmed_at(&install.map.path)
                .unwrap_or_else(|e| {
                    warn!("{e}");
                    None
                })
                .map(unix),
            stale_since: stale::Switched::read(&install.map.path)
                .unwrap_or_else(|e| {
                    warn!("{e}");
                    None
                })
                .map(|s| unix(s.since)),
        });
    }
    Ok(status)
}
