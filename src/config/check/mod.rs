//! Turning the raw TOML values into checked ones: every check that needs no network, with
//! the key named in each message, and relative paths resolved against the config file. This
//! file holds the whole-file checks and `[metrics]`, as methods of [`Checker`]; the sources
//! have a file of their own ([`source`]).

mod source;

use super::raw;
use super::{Config, DomainSetting, Error, Recipients, Source, SourceKind};
use crate::table::Checker;

impl Checker<'_> {
    /// `source.KEY` with the line of `key` in the `index`th `[[source]]` (or of its `kind`
    /// when `key` is absent), for the checks that involve several keys. serde loses the
    /// spans inside the `kind`-tagged source tables, so the text is parsed again for them.
    fn source_key(&self, index: usize, key: &str) -> String {
        use toml::de::{DeTable, DeValue};
        let line = || {
            let root = DeTable::parse(self.text).ok()?;
            let (_, sources) = root
                .get_ref()
                .iter()
                .find(|(k, _)| *k.get_ref() == "source")?;
            let DeValue::Array(sources) = sources.get_ref() else {
                return None;
            };
            let DeValue::Table(table) = sources.get(index)?.get_ref() else {
                return None;
            };
            let span = table
                .iter()
                .find(|(k, _)| *k.get_ref() == key)
                .or_else(|| table.iter().find(|(k, _)| *k.get_ref() == "kind"))
                .map(|(k, _)| k.span())?;
            Some(self.text.get(..span.start)?.matches('\n').count() + 1)
        };
        match line() {
            Some(n) => format!("line {n}: source.{key}"),
            None => format!("source.{key}"),
        }
    }

    pub(super) fn check(&self, raw: raw::Config) -> Result<Config, Error> {
        let mut sources: Vec<Source> = Vec::new();
        for (index, source) in raw.source.into_iter().enumerate() {
            let (name, kind) = match source {
                raw::Source::Ldap(raw) => (
                    raw.name.clone(),
                    SourceKind::Ldap(Box::new(self.ldap(*raw, index)?)),
                ),
                raw::Source::Ldif(f) => (f.name, SourceKind::Ldif(self.resolve(&f.path))),
                raw::Source::List(f) => (f.name, SourceKind::List(self.resolve(&f.path))),
                raw::Source::Graph(raw) => (raw.name.clone(), SourceKind::Graph(self.graph(raw)?)),
            };
            if sources.iter().any(|s| s.name == name) {
                return Err(self.invalid(
                    "source.name",
                    format!(
                        "{name:?} is used by two sources; names label reports and must be unique"
                    ),
                ));
            }
            sources.push(Source { name, kind });
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
        let metrics = match raw.metrics {
            Some(m) if m.textfile.is_empty() => {
                return Err(self.invalid(
                    "metrics.textfile",
                    "empty path; name a .prom file in node-exporter's textfile directory",
                ));
            }
            Some(m) => {
                let textfile = self.resolve(&m.textfile);
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
                // Both roles on one host: apply (root) gets a file of its own.
                let apply_textfile = if output.is_some() && install.is_some() {
                    textfile.with_file_name(format!("{stem}-apply.prom"))
                } else {
                    textfile.clone()
                };
                Some(super::Metrics {
                    textfile,
                    apply_textfile,
                })
            }
            None => None,
        };
        let (safety, full_every) = self.safety(raw.safety)?;
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
        if let Some(extra) = recipients
            .as_ref()
            .and_then(|r| r.extra.iter().find(|e| safety.canaries.contains(e)))
        {
            return Err(self.invalid(
                "safety.canaries",
                format!("{extra} is also in recipients.extra, so it is always in the map and cannot show that the directory was read; pick a canary that lives in the directory"),
            ));
        }
        // A canary outside a listed set of accepted domains can never be in the map: every run
        // would be refused, which is the config's mistake, so it is said at load.
        if let Some(Recipients {
            domains: DomainSetting::Listed(accepted),
            ..
        }) = &recipients
            && let Some(canary) = safety.canaries.iter().find(|c| {
                c.rsplit_once('@')
                    .is_none_or(|(_, domain)| !accepted.contains(domain))
            })
        {
            return Err(self.invalid(
                "safety.canaries",
                format!("{canary} is not in the accepted domains (recipients.domains), so it can never be in the map and every run would be refused; pick a canary in an accepted domain"),
            ));
        }
        Ok(Config {
            path: self.path.to_owned(),
            sources,
            recipients,
            output,
            safety,
            full_every,
            gateways: raw
                .gateway
                .into_iter()
                .map(|g| self.gateway(g))
                .collect::<Result<Vec<_>, _>>()?,
            install,
            metrics,
        })
    }
}
