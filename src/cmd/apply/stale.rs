//! apply's last step, whatever came before it: how long ago the installed map was confirmed
//! current, and the switch between 550 and 450 for unknown recipients that follows from it
//! ([`crate::install::stale`]). `rcptsync-apply.timer` runs apply periodically so that the
//! switch happens without a new map.

use anyhow::Context as _;
use tracing::{error, info, warn};

use crate::install::spool::Spooled;
use crate::install::stale::{self, Switched};
use crate::install::swap::Installer;
use crate::install::{self, CdbWriter};
use crate::lock::Lock;
use crate::map::with_suffix;
use crate::postfix::Postfix;

/// Brings the confirmation record up to date and the switch in line with it. `taken`: this
/// run took the spooled payload (installed it, or found it installed), whose time then
/// counts; `vouched`: it installed a map the admin gave (`--from`), confirmed now.
pub(super) fn check(install: &install::Settings, taken: bool, vouched: bool) -> anyhow::Result<()> {
    let map = &install.map.path;
    if !map.exists() && !stale::switched_path(map).exists() {
        return Ok(()); // nothing installed, nothing switched
    }
    let postfix = Postfix::new(&install.postfix_config_dir);
    let _lock = Lock::acquire(&with_suffix(map, ".lock"))?;
    let installer = Installer::new(&install.map, &postfix, CdbWriter::Postmap);
    let now = crate::map::state::now();
    let recorded = stale::confirmed_at(map)?;
    let mut confirmed = recorded;
    if let Some(installed) = installer.installed()? {
        // What vouches for the installed map: the payload it came in (or a later push of
        // it), and the last confirmation; each only up to now.
        let mut said = Vec::new();
        if taken
            && let Ok((Some(spooled), _)) = Spooled::from_spool(&install.spool, install.max_bytes)
            && let Some(header) = &spooled.header
        {
            said.extend(header.time().map(|t| (header.sha256.clone(), t)));
        }
        match stale::confirmation(&install.spool) {
            Ok(Some(c)) => said.push((c.sha256, c.time)),
            Ok(None) => {}
            Err(e) => warn!("{e}"),
        }
        let vouched = vouched.then_some(now);
        let latest = said
            .into_iter()
            .filter(|(sha256, _)| *sha256 == installed.source)
            .map(|(_, time)| time.min(now))
            .chain(vouched)
            .max();
        // Counted from now the first time (a gateway just upgraded, say, whose quiet
        // directory last pushed days ago), rather than found stale at once.
        confirmed = Some(match recorded {
            None => now,
            Some(at) => latest.map_or(at, |latest| latest.max(at)),
        });
    }
    if confirmed != recorded
        && let Some(at) = confirmed
    {
        stale::note_confirmed(map, at).context("record when the map was confirmed")?;
    }
    let switched = Switched::read(map)?;
    let stale_since = match (install.stale_after, confirmed) {
        (Some(after), Some(at)) if now.saturating_sub(at) > after.as_secs() => {
            Some(at + after.as_secs())
        }
        _ => None,
    };
    let reload = || reload(install, &postfix);
    match (stale_since, switched) {
        (Some(since), None) => {
            Switched::on(map, &postfix, since, reload)?;
            error!(
                "{}: not confirmed current since {} (more than [install].stale_after): is the \
                 internal host still syncing? Unknown recipients now get a temporary {} instead \
                 of a rejection, until a new map or a confirmation arrives",
                install.map,
                shown(confirmed.unwrap_or(0)),
                stale::SOFT,
            );
        }
        // A switch that failed half way (postconf, or the reload) is completed.
        (Some(_), Some(switched)) if !switched.applied => {
            switched.complete(map, &postfix, reload)?;
            warn!(
                "{}: the switch to {} is now complete",
                install.map,
                stale::SOFT
            );
        }
        (None, Some(switched)) => {
            let kept = switched.off(map, &postfix)?;
            if switched.applied {
                reload()?;
            }
            match kept {
                None => warn!(
                    "{}: confirmed current again; unknown recipients are rejected again",
                    install.map
                ),
                Some(value) => warn!(
                    "{}: confirmed current again; {} is {value} (changed by hand while the map \
                     was stale), left as it is",
                    install.map,
                    stale::PARAMETER
                ),
            }
        }
        _ => {}
    }
    Ok(())
}

/// A time (seconds since the epoch) as RFC 3339.
fn shown(at: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `postfix reload`, when Postfix runs and `[install].reload` is not `never`: smtpd reads
/// main.cf only when it starts.
fn reload(install: &install::Settings, postfix: &Postfix) -> Result<(), stale::Error> {
    if install.reload == install::Reload::Never {
        warn!(
            "[install].reload = \"never\": reload Postfix for the change of main.cf to take effect"
        );
    } else if postfix.is_running()? {
        postfix.reload()?;
        info!("postfix reloaded");
    }
    Ok(())
}
