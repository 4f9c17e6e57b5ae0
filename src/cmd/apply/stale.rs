//! apply's last step, whatever came before it: how long ago the installed map was confirmed
//! current, and the switch between 550 and 450 for unknown recipients that follows from it
//! ([`crate::install::stale`]). `rcptsync-apply.timer` runs apply periodically so that the
//! switch happens without a new map.

use anyhow::Context as _;
use tracing::{error, info, warn};

use crate::install::spool::{CONFIRM_NAME, Spooled};
use crate::install::stale::{self, Switched};
use crate::install::swap::Installer;
use crate::install::{self, CdbWriter};
use crate::lock::Lock;
use crate::map::confirm::Confirmation;
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
        match crate::map::nofollow::read_small(&install.spool.join(CONFIRM_NAME), 4096) {
            Ok(Some(text)) => match Confirmation::parse(&text) {
                Ok(c) => said.push((c.sha256, c.time)),
                Err(e) => warn!(
                    "ignoring {}: {e}",
                    install.spool.join(CONFIRM_NAME).display()
                ),
            },
            Ok(None) => {}
            Err(e) => warn!("ignoring the confirmation: {e}"),
        }
        let vouched = vouched.then_some(now);
        let latest = said
            .into_iter()
            .filter(|(sha256, _)| *sha256 == installed.source)
            .map(|(_, time)| time.min(now))
            .chain(vouched)
            .max();
        // Counted from now the first time, rather than found stale at once.
        confirmed = confirmed.max(latest).or(Some(now));
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
    match (stale_since, switched) {
        (Some(since), None) => {
            Switched::on(map, &postfix, since)?;
            reload(&postfix)?;
            error!(
                "{}: not confirmed current since {} (more than [install].stale_after): is the \
                 internal host still syncing? Unknown recipients now get a temporary {} instead \
                 of a rejection, until a new map or a confirmation arrives",
                install.map,
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(confirmed.unwrap_or(0))
                ),
                stale::SOFT,
            );
        }
        (None, Some(switched)) => {
            let kept = switched.off(map, &postfix)?;
            reload(&postfix)?;
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

/// `postfix reload`, when Postfix runs: smtpd reads main.cf only when it starts.
fn reload(postfix: &Postfix) -> anyhow::Result<()> {
    if postfix.is_running()? {
        postfix.reload()?;
        info!("postfix reloaded");
    }
    Ok(())
}
