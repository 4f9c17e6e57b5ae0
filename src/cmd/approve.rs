//! `rcptsync approve ID`: lets exactly the held change `ID` through ([`crate::hold`]). It
//! writes the approval beside the map (signed with `[safety].approval_key` when set); the
//! next `sync` (or `watch`, which notices the file) applies the approved removals the
//! directory still lacks and pushes the approval to the gateways, whose `apply` honours it
//! once. An ID that is not the change held now (unknown, or the change grew or shrank since
//! it was reviewed) approves nothing.
//!
//! Security: run by the approver (root by default), the one account that can read the key.
//! The directory beside the map belongs to the account that runs sync: it is opened without
//! following a link anywhere on its path, the held record is read through that handle,
//! bounded and checked line by line (its digest must match its addresses, so what is signed
//! is what `review` showed), and the approval is written through the same handle.

use std::path::PathBuf;

use anyhow::Context as _;
use tracing::warn;

use super::{Error, ExitStatus, Failure as _, Printer, Result};
use crate::hold::{self, Approver, approval::Approval, held::Held};
use crate::map::{atomic, nofollow};

/// What approve works with, resolved from the config (`cli/settings.rs`).
#[derive(Debug)]
pub struct Settings {
    /// The config file, for the commands it suggests.
    pub config: PathBuf,
    /// `[output].path`: the held record and the approval are beside it.
    pub map: PathBuf,
    /// `[safety].approval_key` and `approval_valid`.
    pub approver: Approver,
    /// The change to approve, as `review` shows it.
    pub id: String,
}

/// Runs approve.
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let held_path = hold::held_path(&settings.map);
    let approval_path = hold::approval_path(&settings.map);
    let name = |path: &std::path::Path| path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    // The key first: a key that cannot be used is the config's problem, found before
    // anything is read.
    let key = settings
        .approver
        .key
        .as_deref()
        .map(hold::approval::load_key)
        .transpose()
        .map_err(|e| Error::Usage(e.into()))?;
    let dir = nofollow::Dir::open(atomic::dir_of(&settings.map)).failure()?;
    if let Some(path) = &settings.approver.key {
        warn_if_sync_can_read(path, atomic::dir_of(&settings.map));
    }
    let text = dir
        .read(&name(&held_path), hold::MAX_BYTES)
        .with_context(|| format!("read {}", held_path.display()))
        .failure()?;
    let config = settings.config.display();
    let Some(text) = text else {
        return Err(Error::Usage(anyhow::anyhow!(
            "nothing is held in {}, so there is no change {} to approve (`rcptsync status -c \
             {config}` shows the map's state)",
            held_path.display(),
            settings.id
        )));
    };
    let text = String::from_utf8(text)
        .map_err(|_| anyhow::anyhow!("{} is not text", held_path.display()))
        .failure()?;
    let held = Held::parse(&text, &held_path).failure()?;
    let id = held.removals.id();
    if !settings.id.eq_ignore_ascii_case(id) {
        return Err(Error::Usage(anyhow::anyhow!(
            "change {} is not the change held now, which is {id} ({} removal(s)): the change \
             grew, shrank, or the ID is mistyped; nothing was approved. Review it again with \
             `rcptsync review -c {config}`",
            settings.id,
            held.removals.len()
        )));
    }
    if key.is_none() {
        warn!(
            "[safety].approval_key is not set: the approval is not signed. The next sync \
             applies it here, but a gateway with [install].approval_keys refuses it, and one \
             without refuses the removals over its own limits as before"
        );
    }
    let approval =
        Approval::new(held.removals.clone(), settings.approver.valid, key.as_ref()).failure()?;
    // The earlier approvals that are still valid stay beside it: a gateway that was down
    // while they were applied needs them when it is back.
    let mut text = earlier(&dir, &approval_path, id)?;
    text.push_str(&approval.to_text().failure()?);
    dir.replace(&name(&approval_path), text.as_bytes(), 0o644)
        .failure()?;
    printer.line(format_args!(
        "approved change {id}: {} removal(s), valid until {}{}; the next sync applies them and \
         pushes the approval to the gateways",
        approval.removals.len(),
        approval.not_after_text(),
        if approval.is_signed() { ", signed" } else { "" }
    ))?;
    Ok(ExitStatus::Success)
}

/// Warns when the account that owns the map's directory (the one that runs sync and watch)
/// owns the key too, and so can read it: whoever can read the key can approve, which the
/// gateways' guards are there to prevent.
fn warn_if_sync_can_read(key: &std::path::Path, dir: &std::path::Path) {
    use std::os::unix::fs::MetadataExt as _;
    let owner = |path: &std::path::Path| crate::fs::symlink_metadata(path).ok().map(|m| m.uid());
    if let (Some(key_owner), Some(dir_owner)) = (owner(key), owner(dir))
        && key_owner == dir_owner
        && key_owner != 0
    {
        warn!(
            "{} belongs to uid {key_owner}, which also owns {} and so runs sync: that account \
             can read the key and approve on its own; make the key root's (chown root, chmod \
             0600) and run approve as root",
            key.display(),
            dir.display()
        );
    }
}

/// The text of the approvals at `path` (read through `dir`) that stay beside a new one for
/// change `id`: valid, of other changes, the newest [`hold::approval::MAX_KEPT`] - 1. One
/// that cannot be read is dropped, with a warning.
fn earlier(dir: &nofollow::Dir, path: &std::path::Path, id: &str) -> Result<String> {
    let name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    let bytes = dir
        .read(&name, hold::MAX_BYTES)
        .with_context(|| format!("read {}", path.display()))
        .failure()?
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let now = crate::map::state::now();
    let mut kept = Vec::new();
    for one in hold::approval::split(&text) {
        match Approval::parse(one, path) {
            Ok(approval) if !approval.expired(now) && approval.id() != id => kept.push(one),
            Ok(_) => {}
            Err(e) => warn!("{e}; that approval is dropped"),
        }
    }
    let skip = kept.len().saturating_sub(hold::approval::MAX_KEPT - 1);
    Ok(kept[skip..].concat())
}
