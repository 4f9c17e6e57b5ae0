//! Turning the raw TOML values into checked ones: every check that needs no network, with
//! the key named in each message, and relative paths resolved against the config file. Each
//! stage checks its own tables (`impl Checker` in its `config.rs`); this file dispatches to
//! them, checks `[metrics]` and what involves several tables (unique names, canaries against
//! `extra` and the accepted domains).

use super::raw;
use super::{Config, DomainSetting, Error, Recipients, Source, SourceKind};
use crate::table::Checker;

impl Checker<'_> {
    pub(super) fn check(&self, raw: raw::Config) -> Result<Config, Error> {
        let mut sources: Vec<Source> = Vec::new();
        for (index, source) in raw.source.into_iter().enumerate() {
            let source = self.source(source, index)?;
            if sources.iter().any(|s| s.name == source.name) {
                return Err(self.invalid(
                    "source.name",
                    format!(
                        "{:?} is used by two sources; names label reports and must be unique",
                        source.name
                    ),
                ));
            }
            sources.push(source);
        }
        // `domains = "exchange"` needs a source that can read the accepted domains.
        let directory = sources
            .iter()
            .any(|s| matches!(s.kind, SourceKind::Ldap(_) | SourceKind::Graph(_)));
        let recipients = raw
            .recipients
            .map(|r| self.recipients(r, directory))
            .transpose()?;
        let output = raw.output.map(|o| self.output(o)).transpose()?;
        let install = raw.install.map(|i| self.install(i)).transpose()?;
        let metrics = raw
            .metrics
            .map(|m| self.metrics(&m, output.is_some() && install.is_some()))
            .transpose()?;
        let (safety, full_every, approver) = self.safety(raw.safety)?;
        let watch = match raw.watch {
            Some(watch) => watch,
            None => raw::Watch::defaults().map_err(|cause| Error::Parse {
                path: self.path.to_owned(),
                cause,
            })?,
        };
        let watch = self.watch(&watch)?;
        for (i, gateway) in raw.gateway.iter().enumerate() {
            if raw.gateway[..i].iter().any(|g| g.name == gateway.name) {
                return Err(self.invalid(
                    "gateway.name",
                    format!(
                        "{:?} is used by two gateways; names must be unique",
                        gateway.name
                    ),
                ));
            }
        }
        if let Some(recipients) = &recipients {
            self.canaries(&safety.canaries, recipients)?;
        }
        let exports = self.exports(raw.export, output.as_ref())?;
        Ok(Config {
            path: self.path.to_owned(),
            sources,
            recipients,
            output,
            safety,
            full_every,
            approver,
            gateways: raw
                .gateway
                .into_iter()
                .map(|g| self.gateway(g))
                .collect::<Result<Vec<_>, _>>()?,
            install,
            metrics,
            watch,
            exports,
        })
    }

    /// `[watch]` checked: durations, none zero or longer than a day (a loop that waits longer
    /// is not watching), `max_delay` not shorter than `quiet`.
    fn watch(&self, raw: &raw::Watch) -> Result<super::Timing, Error> {
        let duration = |key: &str, text: &str| {
            let value = self.duration(key, text)?;
            if value > std::time::Duration::from_secs(86_400) {
                return Err(self.invalid(key, format!("{text:?} is longer than a day")));
            }
            Ok(value)
        };
        let timing = super::Timing {
            poll: duration("watch.poll", &raw.poll)?,
            graph_poll: duration("watch.graph_poll", &raw.graph_poll)?,
            quiet: duration("watch.quiet", &raw.quiet)?,
            max_delay: duration("watch.max_delay", &raw.max_delay)?,
            max_backoff: duration("watch.max_backoff", &raw.max_backoff)?,
        };
        if timing.max_delay < timing.quiet {
            return Err(self.invalid(
                "watch.max_delay",
                format!(
                    "{:?} is shorter than watch.quiet ({:?}); a burst would never be quiet long \
                     enough to be written",
                    raw.max_delay, raw.quiet
                ),
            ));
        }
        Ok(timing)
    }

    /// `[[export]]`s: each its own file, none of them the map or one of the files rcptsync
    /// keeps beside it (`PATH.state`, `PATH.exports`...), and only where there is a map.
    fn exports(
        &self,
        raw: Vec<raw::Export>,
        output: Option<&crate::map::Output>,
    ) -> Result<Vec<crate::export::Export>, Error> {
        let mut exports: Vec<crate::export::Export> = Vec::new();
        for export in raw {
            let export = self.export(export)?;
            let Some(output) = output else {
                return Err(self.invalid(
                    "[[export]]",
                    "needs [output]: an export is made from the map extract writes",
                ));
            };
            // The map, or a file beside it named after it (`PATH.state`, `PATH.exports`...).
            let beside = export.path.parent() == output.path.parent()
                && export
                    .path
                    .file_name()
                    .zip(output.path.file_name())
                    .is_some_and(|(export, map)| {
                        let mut own = map.to_owned();
                        own.push(".");
                        export
                            .as_encoded_bytes()
                            .starts_with(own.as_encoded_bytes())
                    });
            let own = export.path == output.path || beside;
            if own {
                return Err(self.invalid(
                    "export.path",
                    format!(
                        "{}: the map and the files beside it (PATH.*) are rcptsync's own; choose another name",
                        export.path.display()
                    ),
                ));
            }
            if exports.iter().any(|e| e.path == export.path) {
                return Err(self.invalid(
                    "export.path",
                    format!(
                        "{} is the file of two exports; each needs its own",
                        export.path.display()
                    ),
                ));
            }
            exports.push(export);
        }
        Ok(exports)
    }

    /// `[metrics]`: a `.prom` file; on a host in both roles (`both`), apply (root) gets a file
    /// of its own beside it.
    fn metrics(&self, raw: &raw::Metrics, both: bool) -> Result<super::Metrics, Error> {
        if raw.textfile.is_empty() {
            return Err(self.invalid(
                "metrics.textfile",
                "empty path; name a .prom file in node-exporter's textfile directory",
            ));
        }
        let textfile = self.resolve(&raw.textfile);
        let Some(stem) = textfile
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".prom"))
            .filter(|stem| !stem.is_empty())
        else {
            return Err(self.invalid(
                "metrics.textfile",
                "node-exporter reads only files whose names end in .prom; name one, e.g. \
                 \"/var/lib/prometheus/node-exporter/rcptsync.prom\"",
            ));
        };
        let apply_textfile = if both {
            textfile.with_file_name(format!("{stem}-apply.prom"))
        } else {
            textfile.clone()
        };
        Ok(super::Metrics {
            textfile,
            apply_textfile,
        })
    }

    /// The canaries must be able to show that the directory was read: not in `extra`, and
    /// in a listed accepted domain.
    fn canaries(&self, canaries: &[String], recipients: &Recipients) -> Result<(), Error> {
        if let Some(extra) = recipients.extra.iter().find(|e| canaries.contains(e)) {
            return Err(self.invalid(
                "safety.canaries",
                format!("{extra} is also in recipients.extra, so it is always in the map and cannot show that the directory was read; pick a canary that lives in the directory"),
            ));
        }
        // A canary outside a listed set of accepted domains can never be in the map: every run
        // would be refused, which is the config's mistake, so it is said at load.
        if let DomainSetting::Listed(accepted) = &recipients.domains
            && let Some(canary) = canaries.iter().find(|c| {
                c.rsplit_once('@')
                    .is_none_or(|(_, domain)| !accepted.contains(domain))
            })
        {
            return Err(self.invalid(
                "safety.canaries",
                format!("{canary} is not in the accepted domains (recipients.domains), so it can never be in the map and every run would be refused; pick a canary in an accepted domain"),
            ));
        }
        Ok(())
    }
}
