//! The run's exports ([`crate::export`]): made from the map once it stands, so that every
//! consumer sees what the gateways see; which source and object gave each address, for the
//! formats that say so, comes from [`super::record`].

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context as _;
use tracing::warn;

use super::Settings;
use super::record::{Origins, Read};
use crate::export::state::{Due, Made, State};
use crate::export::{Export, Format, Row};
use crate::map::text::SortedKeys;
use crate::map::{state::file_mark, with_suffix};

/// Whether any export needs the map read again (its content is due): then the run may not
/// stop at "unchanged".
pub(super) fn need_read(settings: &Settings) -> bool {
    if settings.exports.is_empty() {
        return false;
    }
    let out = &settings.output.path;
    let state = State::read(&state_path(out));
    let map = file_mark(out).unwrap_or_default();
    settings
        .exports
        .iter()
        .any(|export| state.due(export, &map) == Due::Content)
}

/// Whether a record of where addresses came from is needed this run.
pub(super) fn records_origins(settings: &Settings) -> bool {
    settings.exports.iter().any(|e| e.format.has_origins())
}

/// Makes every export that is due from the map in place; with no `read` (the run found
/// nothing changed), only the commands that are due run, and without `commands` none (they
/// stay owed). Every export is tried, and each failure is said at error; whether all were
/// made. What failed is tried again by the next run.
pub(super) fn make(settings: &Settings, read: Option<Read<'_, '_>>, commands: bool) -> bool {
    if settings.exports.is_empty() {
        return true;
    }
    let out = &settings.output.path;
    let state_path = state_path(out);
    let mut state = State::read(&state_path);
    let map = match file_mark(out) {
        Ok(map) => map,
        Err(e) => {
            tracing::error!("no export is made: read {}: {e}", out.display());
            return false;
        }
    };
    let mut origins: Option<Origins> = None;
    let mut failed = 0;
    for export in &settings.exports {
        let mut due = state.due(export, &map);
        // Where an address came from can change while the map does not (an alias moved to
        // another object): a run that read makes those formats again; the same content is
        // not written.
        if read.is_some() && export.format.has_origins() {
            due = Due::Content;
        }
        if due == Due::Nothing || (due == Due::Content && read.is_none()) {
            continue;
        }
        // A command counts as done only for the file the record describes: a run killed
        // after it replaced the file, before it recorded that, left a command owed.
        let file_now = file_mark(&export.path).ok();
        let mut command_done = state
            .made(export)
            .filter(|made| file_now.as_deref() == Some(made.file.as_str()))
            .and_then(|made| made.command_done.clone());
        if due == Due::Content {
            if let (true, None, Some(read)) = (export.format.has_origins(), &origins, &read) {
                origins = Some(Origins::gather(settings, read));
            }
            match write(settings, export, origins.as_ref()) {
                Ok(true) => command_done = None,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!("export {}: {e:#}", export.path.display());
                    failed += 1;
                    continue;
                }
            }
        }
        if commands && export.command.is_some() && command_done != export.command {
            match crate::export::run_command(export) {
                Ok(()) => command_done = export.command.clone(),
                Err(e) => {
                    tracing::error!("{e}");
                    failed += 1;
                }
            }
        }
        // Recorded even when the command failed: the next run then runs only the command.
        state.record(Made {
            path: export.path.clone(),
            format: export.format.name().to_owned(),
            map: map.clone(),
            file: file_mark(&export.path).unwrap_or_default(),
            command_done,
        });
    }
    if let Err(e) = state.write(&state_path) {
        // Each export is then made again by the next run: time, not correctness.
        warn!("{e}; the next run makes every export again");
    }
    failed == 0
}

/// Where the exports' state is kept, beside the map.
fn state_path(out: &Path) -> std::path::PathBuf {
    with_suffix(out, ".exports")
}

/// Writes `export` from the map (whether its file changed).
fn write(settings: &Settings, export: &Export, origins: Option<&Origins>) -> anyhow::Result<bool> {
    let out = &settings.output.path;
    let keys = || -> anyhow::Result<SortedKeys<_>> {
        SortedKeys::open(out)
            .with_context(|| format!("read {}", out.display()))?
            .with_context(|| format!("{} is not there", out.display()))
    };
    // The open domains first (`@domain` keys sort among the others).
    let mut open = Vec::new();
    for key in keys()? {
        if let Some(domain) = key?.strip_prefix('@') {
            open.push(domain.to_owned());
        }
    }
    let extra: HashSet<&str> = settings
        .recipients
        .extra
        .iter()
        .map(String::as_str)
        .collect();
    let mut at = 0;
    let rows = keys()?.filter_map(|key| {
        let key = match key {
            Ok(key) if key.starts_with('@') => return None,
            Ok(key) => key,
            Err(e) => return Some(Err(std::io::Error::other(e.to_string()))),
        };
        let (source, id) = match origins {
            Some(origins) => origins.of(&key, &mut at),
            None => ("", ""),
        };
        let source = match source {
            "" if extra.contains(key.as_str()) => "config",
            source => source,
        };
        Some(Ok(Row {
            address: key,
            source,
            id,
        }))
    });
    if !open.is_empty() && matches!(export.format, Format::List | Format::Csv) {
        // Said at info: every run would say it again. The README says what to do.
        tracing::info!(
            "export {}: the open domain(s) {} accept every address and are not in a {} file; \
             let the service accept any address there",
            export.path.display(),
            open.join(", "),
            export.format.name()
        );
    }
    let written = crate::export::write(export, rows, &open)?;
    if written.left_out > 0 {
        warn!(
            "export {}: {} address(es) with a quoted local part are left out: the {} format \
             cannot carry them",
            export.path.display(),
            written.left_out,
            export.format.name()
        );
    }
    Ok(written.changed)
}
