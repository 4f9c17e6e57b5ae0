//! One resolve step per command: the config and the command's options become that command's
//! settings, and a table the command needs but the config lacks is a usage error (exit 2)
//! naming the table, raised here, before anything runs. The commands take their settings
//! and never see the whole [`Config`], so a command cannot come to depend on a table it does
//! not check for.

use std::path::PathBuf;

use crate::cmd::metrics::Hook;
use crate::cmd::{
    apply, approve, doctor, extract, prune, push, review, status, sync, verify, watch,
};
use crate::config::raw::{Install, Key};
use crate::config::{Config, DomainSetting, Error, SourceKind};

/// A missing table, with what it is for.
fn missing(config: &Config, table: &str, why: &str) -> Error {
    Error::Invalid {
        path: config.path.clone(),
        key: table.to_owned(),
        message: format!("missing; {why}"),
    }
}

/// The metrics hook of the internal host's commands (extract, push, sync), when the config
/// has `[metrics]`; it needs no other table, so that a config error is reported too.
pub fn internal_metrics(config: &Config) -> Option<Hook<'_>> {
    config.metrics.as_ref().map(|m| Hook::Internal {
        textfile: &m.textfile,
        map: config.output.as_ref().map(|o| o.path.as_path()),
        gateways: &config.gateways,
    })
}

/// apply's metrics hook, when the config has `[metrics]` (`[install]` may be missing).
pub fn apply_metrics(config: &Config, freshness: bool) -> Option<Hook<'_>> {
    config.metrics.as_ref().map(|m| Hook::Apply {
        textfile: &m.apply_textfile,
        installed: config.install.as_ref().map(|i| i.map.path.as_path()),
        freshness,
    })
}

/// extract needs sources, `[recipients]` and `[output]`.
pub fn extract(config: &Config, options: extract::Options) -> Result<extract::Settings, Error> {
    let parts = config.extraction()?;
    if let Some(key) = config.approver.readable_here() {
        tracing::warn!(
            "this account can read [safety].approval_key {}: it could approve held removals on \
             its own; make the key root's (chown root, chmod 0600) and run approve as root",
            key.display()
        );
    }
    Ok(extract::Settings {
        config: config.path.clone(),
        sources: parts.sources.to_vec(),
        recipients: parts.recipients.clone(),
        output: parts.output.clone(),
        safety: config.safety.clone(),
        full_every: config.full_every,
        exports: config.exports.clone(),
        options,
    })
}

/// push needs `[output]` and at least one `[[gateway]]`.
pub fn push(config: &Config, change: crate::cmd::Change) -> Result<push::Settings, Error> {
    let map = config.output()?.path.clone();
    if config.gateways.is_empty() {
        return Err(missing(
            config,
            "[[gateway]]",
            "push needs at least one gateway (name, host, user)",
        ));
    }
    let sources: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    Ok(push::Settings {
        map,
        gateways: config.gateways.clone(),
        sources: sources.join(","),
        change,
        confirm: false,
    })
}

/// sync needs what extract needs and what push needs, checked before either runs.
pub fn sync(config: &Config, options: extract::Options) -> Result<sync::Settings, Error> {
    let change = options.change;
    let options = extract::Options {
        defer_commands: true,
        ..options
    };
    Ok(sync::Settings {
        extract: extract(config, options)?,
        push: push::Settings {
            confirm: true,
            ..push(config, change)?
        },
    })
}

/// watch needs what extract needs; the gateways are optional (without, it keeps the map only).
pub fn watch(config: &Config) -> Result<watch::Settings, Error> {
    let options = extract::Options {
        defer_commands: true,
        ..extract::Options::default()
    };
    let push = match config.gateways.is_empty() {
        true => None,
        false => Some(push::Settings {
            confirm: true,
            ..push(config, options.change)?
        }),
    };
    Ok(watch::Settings {
        extract: extract(config, options)?,
        push,
        timing: config.watch,
        metrics: config.metrics.as_ref().map(|m| m.textfile.clone()),
        gateways: config.gateways.clone(),
    })
}

/// apply needs `[install]`; it reports to `[metrics]`'s apply textfile.
pub fn apply(config: &Config, options: apply::Options) -> Result<apply::Settings, Error> {
    Ok(apply::Settings {
        install: config.install()?.clone(),
        safety: config.safety.clone(),
        options,
    })
}

/// verify needs something to ask about: listed accepted domains, open domains or canaries.
pub fn verify(config: &Config, options: verify::Options) -> Result<verify::Settings, Error> {
    let domains: Vec<String> = match config.recipients.as_ref().map(|r| &r.domains) {
        Some(DomainSetting::Listed(accepted)) => accepted.names().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    // Open domains: as the internal host names them, and on a gateway the installed map's
    // `@domain` lines (internal_relay_domains only says which domains may be open).
    let mut open: Vec<String> = config
        .recipients
        .iter()
        .flat_map(|r| r.internal_relay.iter())
        .cloned()
        .collect();
    if let Some(install) = &config.install {
        open.extend(verify::installed_open_domains(&install.map.path));
    }
    open.sort();
    open.dedup();
    let canaries = config.safety.canaries.clone();
    if domains.is_empty() && open.is_empty() && canaries.is_empty() {
        return Err(Error::Invalid {
            path: config.path.clone(),
            key: "[recipients].domains / [safety].canaries".into(),
            message: "verify needs accepted domains or canaries to know what to ask".into(),
        });
    }
    Ok(verify::Settings {
        domains,
        open,
        canaries,
        plus: config
            .install
            .as_ref()
            .and_then(|i| i.backend_plus_addressing),
        options,
    })
}

/// prune needs an LDAP source (the first one is the directory it changes) and
/// `[recipients]`'s excluded domains.
pub fn prune(config: &Config, options: prune::Options) -> Result<prune::Settings, Error> {
    let parts = config.extraction()?;
    let Some((name, source)) = parts.sources.iter().find_map(|s| match &s.kind {
        SourceKind::Ldap(l) => Some((&s.name, l)),
        _ => None,
    }) else {
        return Err(Error::Invalid {
            path: config.path.clone(),
            key: "[[source]]".into(),
            message: "prune changes the directory and needs a kind = \"ldap\" source".into(),
        });
    };
    Ok(prune::Settings {
        name: name.clone(),
        source: (**source).clone(),
        excluded: parts.recipients.excluded.clone(),
        options,
    })
}

/// status needs one of the two roles: `[output]` or `[install]`.
pub fn status(config: &Config, options: status::Options) -> Result<status::Settings, Error> {
    if config.output.is_none() && config.install.is_none() {
        return Err(missing(
            config,
            "[output] / [install]",
            "status reports the map of the internal host ([output]) or of a gateway ([install])",
        ));
    }
    let internal = config.output.as_ref().map(|output| status::Internal {
        map: output.path.clone(),
        sources: config.sources.iter().map(|s| s.name.clone()).collect(),
        gateways: config.gateways.clone(),
    });
    // The largest map apply takes is the largest one worth measuring, on either side.
    let max_bytes = match &config.install {
        Some(install) => install.max_bytes,
        None => Key::default_of(Install::KEYS, "max_bytes")
            .and_then(|text| text.parse().ok())
            .unwrap_or(u64::MAX),
    };
    Ok(status::Settings {
        config: config.path.clone(),
        internal,
        install: config.install.clone(),
        max_bytes,
        options,
    })
}

/// doctor needs no config; one that has `[install]` says where Postfix's configuration is
/// and adds the installed map to the checks. `config_dir` (`--config-dir`) wins.
pub fn doctor(config: Option<&Config>, config_dir: Option<PathBuf>) -> doctor::Options {
    let install = config.and_then(|c| c.install.as_ref());
    doctor::Options {
        config_dir: config_dir.unwrap_or_else(|| {
            install.map_or_else(|| "/etc/postfix".into(), |i| i.postfix_config_dir.clone())
        }),
        install: install.map(|i| i.map.clone()),
        plus: install.and_then(|i| i.backend_plus_addressing),
        relay_table: install.and_then(|i| i.relay_domains.as_ref().map(|t| t.map.clone())),
    }
}

/// review's settings: the map beside which the held record is.
pub fn review(config: &Config, options: review::Options) -> Result<review::Settings, Error> {
    let output = config.output.as_ref().ok_or_else(|| {
        missing(
            config,
            "[output]",
            "review shows what is held beside the map it names",
        )
    })?;
    Ok(review::Settings {
        config: config.path.clone(),
        map: output.path.clone(),
        options,
    })
}

/// approve's settings: the map beside which the held record is, and how to sign.
pub fn approve(config: &Config, id: &str) -> Result<approve::Settings, Error> {
    let output = config.output.as_ref().ok_or_else(|| {
        missing(
            config,
            "[output]",
            "approve writes the approval beside the map it names",
        )
    })?;
    Ok(approve::Settings {
        config: config.path.clone(),
        map: output.path.clone(),
        approver: config.approver.clone(),
        id: id.to_owned(),
    })
}
