//! Settings for the checks' unit tests: Postfix's defaults, a gateway set up as the checklist
//! says, and ways to change one parameter of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::path::{Path, PathBuf};

use super::Settings;
use crate::postfix::{MapSpec, MapType};

/// Postfix's defaults for [`super::PARAMETERS`] on a host named mx.example.net.
pub(super) const DEFAULTS: &str = "relay_domains =\n\
    relay_recipient_maps =\n\
    mydestination = mx.example.net, localhost.example.net, localhost\n\
    local_recipient_maps = proxy:unix:passwd.byname hash:/etc/aliases\n\
    myorigin = mx.example.net\n\
    myhostname = mx.example.net\n\
    virtual_alias_maps =\n\
    smtpd_reject_unlisted_recipient = yes\n\
    show_user_unknown_table_name = yes\n";

/// A gateway set up as the checklist says.
pub(super) const GOOD: &str = "relay_domains = example.com\n\
    relay_recipient_maps = lmdb:/etc/postfix/relay_recipients\n\
    mydestination =\n\
    local_recipient_maps =\n\
    myorigin = example.com\n\
    show_user_unknown_table_name = no\n";

pub(super) const MASTER: &str = "smtp       inet  n       -       y       -       -       smtpd\n\
    pickup     unix  n       -       y       60      1       pickup\n";

/// Settings as postconf would report them for `main_cf` (the `-x` values are the
/// defaults overridden by main.cf; nothing in these tests needs expanding).
pub(super) fn settings_with(main_cf: &str, master_cf: &str) -> Settings {
    let mut effective = Settings::parse(Path::new("/etc/postfix"), "", DEFAULTS, "").effective;
    let explicit = Settings::parse(Path::new("/etc/postfix"), main_cf, "", "").explicit;
    effective.extend(explicit.clone());
    Settings {
        config_dir: PathBuf::from("/etc/postfix"),
        explicit,
        effective,
        services: Settings::parse(Path::new("/etc/postfix"), "", "", master_cf).services,
    }
}

/// The good gateway with one parameter replaced (or added).
pub(super) fn good_but(setting: &str) -> Settings {
    let name = setting.split('=').next().unwrap().trim();
    let mut main_cf: String = GOOD
        .lines()
        .filter(|line| line.split('=').next().unwrap().trim() != name)
        .map(|line| format!("{line}\n"))
        .collect();
    main_cf.push_str(setting);
    settings_with(&main_cf, MASTER)
}

pub(super) fn good() -> Settings {
    settings_with(GOOD, MASTER)
}

pub(super) fn relays_example(domain: &str) -> Result<bool, Infallible> {
    Ok(domain == "example.com")
}

pub(super) fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

pub(super) fn lmdb(path: &str) -> MapSpec {
    MapSpec {
        kind: MapType::Lmdb,
        path: PathBuf::from(path),
    }
}
