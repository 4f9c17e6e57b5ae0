//! Turning the raw TOML values into checked ones: every check that needs no network, with
//! the key named in each message, and relative paths resolved against the config file.

use std::path::{Path, PathBuf};

use super::raw;
use super::{Config, DomainSetting, Error, Output, Recipients, Source, SourceKind};
use crate::install::{self, CdbWriter, Reload};
use crate::postfix::{MapSpec, MapType};
use crate::rules::address;
use crate::rules::domains::{AcceptedDomains, ExcludedDomains};
use crate::rules::guard::Limits;
use crate::secret::PasswordSource;
use crate::source::graph::{CredentialFile, GraphSourceConfig};
use crate::source::ldap::{self, Bind, LdapSourceConfig};
use crate::transport::Gateway;

/// Turns raw values into checked ones, remembering the file for messages.
pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
    /// The file's text, to find the line of a key (see [`Checker::source_key`]).
    pub(super) text: &'a str,
}

impl Checker<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            key: key.into(),
            message: message.into(),
        }
    }

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

    /// Resolves a path from the file against the config file's directory.
    fn resolve(&self, value: &str) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new("."));
        base.join(value)
    }

    /// A duration such as "30s" or "10m"; zero is refused.
    fn duration(&self, key: &str, text: &str) -> Result<std::time::Duration, Error> {
        humantime::parse_duration(text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                self.invalid(
                    key,
                    format!("{text:?} is not a duration such as \"30s\" or \"10m\""),
                )
            })
    }

    fn address(&self, key: &str, value: &str) -> Result<String, Error> {
        address::normalize(value).map_err(|e| self.invalid(key, format!("{value:?}: {e}")))
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
        let recipients = raw
            .recipients
            .map(|r| self.recipients(r, &sources))
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
        let raw_safety = match raw.safety {
            Some(safety) => safety,
            None => raw::Safety::defaults().map_err(|cause| Error::Parse {
                path: self.path.to_owned(),
                cause,
            })?,
        };
        let full_every = humantime::parse_duration(&raw_safety.full_every).map_err(|_| {
            self.invalid(
                "safety.full_every",
                format!(
                    "{:?} is not a duration such as \"1h\" or \"30m\"",
                    raw_safety.full_every
                ),
            )
        })?;
        let safety = self.safety(raw_safety)?;
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

    fn ldap(&self, raw: raw::Ldap, index: usize) -> Result<LdapSourceConfig, Error> {
        let (servers, discover) = match (raw.servers, raw.discover) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    self.source_key(index, "discover"),
                    format!(
                        "set together with servers (source {:?}); keep one: servers lists the DCs, \
                         discover finds them in DNS",
                        raw.name
                    ),
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    self.source_key(index, "servers"),
                    format!(
                        "missing (source {:?}); list the DCs (servers = [\"ldaps://dc1.example.com\"]) \
                         or find them in DNS (discover = \"example.com\")",
                        raw.name
                    ),
                ));
            }
            (Some(servers), None) => (servers, None),
            (None, Some(domain)) => {
                let domain = domain.trim_end_matches('.').to_owned();
                if domain.is_empty()
                    || self
                        .address("source.discover", &format!("x@{domain}"))
                        .is_err()
                {
                    return Err(self.invalid(
                        self.source_key(index, "discover"),
                        format!("{domain:?} is not a domain name; give the AD domain's DNS name, such as \"example.com\""),
                    ));
                }
                let dns_server = match raw.dns_server.as_deref() {
                    None => None,
                    Some(text) => Some(ldap::discover::parse_dns_server(text).ok_or_else(|| {
                        self.invalid(
                            self.source_key(index, "dns_server"),
                            format!("{text:?} is not IP[:PORT], such as \"192.0.2.53\" or \"[2001:db8::53]:53\""),
                        )
                    })?),
                };
                (
                    Vec::new(),
                    Some(ldap::discover::Discover { domain, dns_server }),
                )
            }
        };
        if discover.is_some()
            && (raw.bind_dn.is_some() || raw.keytab.is_some())
            && raw.ca_file.is_none()
        {
            return Err(self.invalid(
                self.source_key(index, "discover"),
                "with discover and a bind, set ca_file to the CA that issues the DCs' certificates: \
                 DNS answers are not authenticated, and with the system's trust store any host of \
                 the domain with a public certificate could be sent the bind password, or (with a \
                 keytab) any host with an ldap/ service principal could pass for a DC",
            ));
        }
        if discover.is_none() && raw.dns_server.is_some() {
            return Err(self.invalid(
                self.source_key(index, "dns_server"),
                "only used with discover; remove it, or replace servers with discover = \"DOMAIN\"",
            ));
        }
        if discover.is_none() && servers.is_empty() {
            return Err(self.invalid(
                "source.servers",
                "no servers; list at least one ldaps:// or ldap:// URL",
            ));
        }
        for url in &servers {
            let tls = url.starts_with("ldaps://");
            if !tls && !url.starts_with("ldap://") {
                return Err(self.invalid(
                    "source.servers",
                    format!("{url:?} is not an ldap:// or ldaps:// URL"),
                ));
            }
        }
        let timeout = self.duration("source.timeout", &raw.timeout)?;
        let read_timeout = self.duration("source.read_timeout", &raw.read_timeout)?;
        let bound = |key: &str, value: u64| match value {
            0 => Err(self.invalid(
                key,
                "0 would refuse every read; leave it out for the default",
            )),
            value => Ok(value),
        };
        let bounds = ldap::Bounds {
            entries: bound("source.max_entries", raw.max_entries)?,
            values: bound("source.max_values", raw.max_values)?,
            value_bytes: bound("source.max_value_bytes", raw.max_value_bytes)?,
            wire: ldap::Limits {
                message_bytes: bound("source.max_message_bytes", raw.max_message_bytes)?,
                read_bytes: bound("source.max_read_bytes", raw.max_read_bytes)?,
            },
        };
        let filter = raw
            .filter
            .unwrap_or_else(|| ldap::DEFAULT_FILTER.to_owned());
        ldap3::parse_filter(&filter).map_err(|()| {
            self.invalid(
                "source.filter",
                format!("{filter:?} is not a valid LDAP filter (RFC 4515)"),
            )
        })?;
        let page_size = raw.page_size;
        let page_size = i32::try_from(page_size)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| self.invalid("source.page_size", format!("{page_size} is not a page size between 1 and 2147483647 (AD's maximum is 1000 by default)")))?;
        let bind = match (raw.bind_dn, raw.bind_password_file) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(self.invalid("source.bind_password_file", "set without bind_dn; add bind_dn (a DN or UPN), or remove it for an anonymous bind"));
            }
            (Some(dn), file) => Some(Bind {
                dn,
                password: match file {
                    Some(file) => PasswordSource::File(self.resolve(&file)),
                    None => PasswordSource::Env,
                },
            }),
        };
        let kerberos = match (raw.keytab, raw.principal) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.invalid(
                    self.source_key(index, "keytab"),
                    "set without principal; add principal = \"svc-rcptsync@EXAMPLE.COM\" (`klist -k KEYTAB` lists the keytab's principals)",
                ));
            }
            (None, Some(_)) => {
                return Err(self.invalid(
                    self.source_key(index, "principal"),
                    "set without keytab; add keytab = \"/etc/rcptsync/rcptsync.keytab\", the keytab exported for this principal",
                ));
            }
            (Some(keytab), Some(principal)) => {
                if bind.is_some() {
                    return Err(self.invalid(
                        self.source_key(index, "keytab"),
                        "set together with bind_dn; keep one: keytab and principal bind with Kerberos, bind_dn with a password",
                    ));
                }
                if !cfg!(feature = "kerberos") {
                    return Err(self.invalid(
                        self.source_key(index, "keytab"),
                        ldap::kerberos::Error::NotBuilt.to_string(),
                    ));
                }
                let (user, realm) = principal.rsplit_once('@').unwrap_or((&principal, ""));
                if user.is_empty() || realm.is_empty() || principal.contains('\0') {
                    return Err(self.invalid(
                        self.source_key(index, "principal"),
                        format!("{principal:?} is not a principal with its realm, such as \"svc-rcptsync@EXAMPLE.COM\""),
                    ));
                }
                Some(ldap::kerberos::Keytab {
                    path: self.resolve(&keytab),
                    principal,
                })
            }
        };
        // A simple bind carries the password as it is: over plain ldap:// without StartTLS,
        // anyone on the path reads it. Refused here, before anything connects, so that the
        // mistake is a config error and no server ever sees the password. An anonymous bind
        // sends no secret and stays allowed.
        if bind.is_some()
            && !raw.starttls
            && !raw.insecure_cleartext_bind
            && let Some(url) = servers.iter().find(|u| u.starts_with("ldap://"))
        {
            return Err(self.invalid(
                "source.servers",
                format!(
                    "{url} (source {:?}) would receive the bind password of bind_dn in cleartext; \
                     use an ldaps:// URL (LDAPS, port 636) or set starttls = true in this [[source]]",
                    raw.name
                ),
            ));
        }
        if raw.base_dn.trim().is_empty() {
            return Err(self.invalid(
                "source.base_dn",
                "empty; give the directory's base, such as \"DC=example,DC=com\"",
            ));
        }
        Ok(LdapSourceConfig {
            name: raw.name,
            servers,
            discover,
            starttls: raw.starttls,
            insecure_cleartext_bind: raw.insecure_cleartext_bind,
            ca_file: raw.ca_file.map(|f| self.resolve(&f)),
            tls_cn_fallback: raw.tls_cn_fallback,
            timeout,
            read_timeout,
            bounds,
            base_dn: raw.base_dn,
            filter,
            page_size,
            bind,
            kerberos,
        })
    }

    /// An `https://host[:port]` origin (no path, query or trailing slash): the token goes to
    /// no other scheme, ever.
    fn origin(&self, key: &str, text: &str) -> Result<String, Error> {
        let url = text.strip_suffix('/').unwrap_or(text);
        let host = url.strip_prefix("https://").unwrap_or_default();
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
        if ok {
            Ok(url.to_owned())
        } else {
            Err(self.invalid(
                key,
                format!("{text:?} is not an https://host[:port] URL (https is required: the token must never cross in cleartext; no path)"),
            ))
        }
    }

    fn graph(&self, raw: raw::Graph) -> Result<GraphSourceConfig, Error> {
        let credential = match (raw.client_secret_file, raw.client_certificate) {
            (Some(file), None) => CredentialFile::Secret(self.resolve(&file)),
            (None, Some(file)) => CredentialFile::Certificate(self.resolve(&file)),
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "source.client_certificate",
                    "set together with client_secret_file; keep one (the certificate is preferred)",
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    "source.client_certificate",
                    format!("source {:?} has no credential; set client_certificate (a PEM file with the key and the certificate uploaded to the app registration) or client_secret_file", raw.name),
                ));
            }
        };
        let token_like = |key: &str, value: &str| {
            if !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            {
                Ok(())
            } else {
                Err(self.invalid(
                    key,
                    format!("{value:?} is not a tenant domain or id / an application id"),
                ))
            }
        };
        token_like("source.tenant", &raw.tenant)?;
        token_like("source.client_id", &raw.client_id)?;
        Ok(GraphSourceConfig {
            name: raw.name,
            tenant: raw.tenant,
            client_id: raw.client_id,
            credential,
            authority: self.origin("source.authority", &raw.authority)?,
            graph_url: self.origin("source.graph_url", &raw.graph_url)?,
            ca_file: raw.ca_file.map(|f| self.resolve(&f)),
            timeout: self.duration("source.timeout", &raw.timeout)?,
            read_timeout: self.duration("source.read_timeout", &raw.read_timeout)?,
        })
    }

    fn recipients(&self, raw: raw::Recipients, sources: &[Source]) -> Result<Recipients, Error> {
        let domains = match raw.domains {
            raw::Domains::Keyword(word) if word == "exchange" => {
                if !sources
                    .iter()
                    .any(|s| matches!(s.kind, SourceKind::Ldap(_) | SourceKind::Graph(_)))
                {
                    return Err(self.invalid(
                        "recipients.domains",
                        "\"exchange\" reads the accepted domains from Active Directory or the tenant and needs a kind = \"ldap\" or \"graph\" source; list the domains instead",
                    ));
                }
                DomainSetting::Exchange
            }
            raw::Domains::Keyword(word) => {
                return Err(self.invalid(
                    "recipients.domains",
                    format!("{word:?} is neither a list of domains nor \"exchange\""),
                ));
            }
            raw::Domains::List(names) => {
                if names.is_empty() {
                    return Err(self.invalid(
                        "recipients.domains",
                        "no accepted domains: nothing could ever be exported; list the domains the gateway relays",
                    ));
                }
                if let Some(word) = names.iter().find(|n| n.eq_ignore_ascii_case("exchange")) {
                    return Err(self.invalid(
                        "recipients.domains",
                        format!("[{word:?}] would be a domain named {word:?}; to read the accepted domains from Exchange write domains = \"exchange\" (no brackets)"),
                    ));
                }
                for name in &names {
                    let plain = name.strip_prefix("*.").unwrap_or(name);
                    self.address("recipients.domains", &format!("x@{plain}"))
                        .map_err(|_| {
                            self.invalid(
                                "recipients.domains",
                                format!("{name:?} is not a domain name (write `example.com`, or `*.example.com` for its subdomains)"),
                            )
                        })?;
                }
                DomainSetting::Listed(AcceptedDomains::new(&names))
            }
        };
        let excluded = ExcludedDomains::new(&raw.exclude_domains).map_err(|(pattern, e)| {
            self.invalid(
                "recipients.exclude_domains",
                format!("{pattern:?} is not a valid regular expression: {e}"),
            )
        })?;
        let extra = raw
            .extra
            .iter()
            .map(|a| self.address("recipients.extra", a))
            .collect::<Result<_, _>>()?;
        let internal_relay = self.open_domains("recipients.internal_relay", &raw.internal_relay)?;
        if let Some(name) = internal_relay.iter().find(|d| excluded.matches(d)) {
            return Err(self.invalid(
                "recipients.internal_relay",
                format!(
                    "{name:?} is also excluded by recipients.exclude_domains, which exports \
                     nothing of it; remove it from one of the two"
                ),
            ));
        }
        if let DomainSetting::Listed(accepted) = &domains
            && let Some(name) = internal_relay.iter().find(|d| !accepted.contains(d))
        {
            return Err(self.invalid(
                "recipients.internal_relay",
                format!(
                    "{name:?} is not an accepted domain: add it to recipients.domains, or remove it \
                     here (only the gateway's own domains can be opened)"
                ),
            ));
        }
        Ok(Recipients {
            domains,
            excluded,
            skip_auth_required: raw.skip_auth_required,
            use_mail_attribute: raw.use_mail_attribute,
            extra,
            internal_relay,
        })
    }

    /// The exact domain names of `key`, lower case. A wild-card is refused with the reason:
    /// Postfix's `@domain` matches that one domain, never its subdomains.
    fn open_domains(
        &self,
        key: &str,
        names: &[String],
    ) -> Result<std::collections::BTreeSet<String>, Error> {
        names
            .iter()
            .map(|name| {
                if name.starts_with("*.") {
                    return Err(self.invalid(
                        key,
                        format!(
                            "{name:?}: a Postfix @domain line matches one domain, not its \
                             subdomains; list each subdomain to open by its name"
                        ),
                    ));
                }
                match address::normalize(&format!("x@{name}")) {
                    Ok(normal) => Ok(normal["x@".len()..].to_owned()),
                    Err(_) => Err(self.invalid(
                        key,
                        format!("{name:?} is not a domain name (write `example.com`)"),
                    )),
                }
            })
            .collect()
    }

    fn output(&self, raw: raw::Output) -> Result<Output, Error> {
        if raw.path.is_empty() {
            return Err(self.invalid("output.path", "empty path"));
        }
        if raw.value.is_empty()
            || raw
                .value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.invalid(
                "output.value",
                format!("{:?}: the map value must be one non-empty word without spaces (Postfix needs a non-empty value; \"OK\" is usual)", raw.value),
            ));
        }
        Ok(Output {
            path: self.resolve(&raw.path),
            value: raw.value,
        })
    }

    fn gateway(&self, raw: raw::Gateway) -> Result<Gateway, Error> {
        // Host and user end up on ssh's command line: nothing that ssh could read as an
        // option or a second argument.
        let token = |key: &str, value: &str, extra: &str| {
            let ok = !value.is_empty()
                && !value.starts_with('-')
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(c));
            if ok {
                Ok(())
            } else {
                Err(self.invalid(
                    format!("gateway.{key}"),
                    format!("{value:?} is not a valid {key} (letters, digits, dots, hyphens; not starting with -)"),
                ))
            }
        };
        token("name", &raw.name, "")?;
        token("host", &raw.host, ":[]%")?;
        token("user", &raw.user, "")?;
        let port = raw.port;
        if port == 0 {
            return Err(self.invalid("gateway.port", "0 is not a port"));
        }
        let timeout = self.duration("gateway.timeout", &raw.timeout)?;
        Ok(Gateway {
            timeout,
            name: raw.name,
            host: raw.host,
            port,
            user: raw.user,
            identity_file: raw.identity_file.map(|f| self.resolve(&f)),
            known_hosts: raw.known_hosts.map(|f| self.resolve(&f)),
        })
    }

    fn install(&self, raw: raw::Install) -> Result<install::Settings, Error> {
        let map_text = raw.map;
        let Some(map) = MapSpec::parse(&map_text) else {
            let types: Vec<&str> = MapType::ALL.iter().map(|t| t.name()).collect();
            return Err(self.invalid(
                "install.map",
                format!(
                    "{map_text:?} is not TYPE:PATH with TYPE one of {}",
                    types.join(", ")
                ),
            ));
        };
        if !map.path.is_absolute() {
            return Err(self.invalid(
                "install.map",
                format!("{map_text:?}: the path must be absolute, as in relay_recipient_maps"),
            ));
        }
        let reload = match raw.reload.as_str() {
            "auto" => Reload::Auto,
            "always" => Reload::Always,
            "never" => Reload::Never,
            other => {
                return Err(self.invalid(
                    "install.reload",
                    format!("{other:?} is not auto, always or never"),
                ));
            }
        };
        let cdb_writer = match raw.cdb_writer.as_str() {
            "native" => CdbWriter::Native,
            "postmap" => CdbWriter::Postmap,
            other => {
                return Err(self.invalid(
                    "install.cdb_writer",
                    format!("{other:?} is not native or postmap"),
                ));
            }
        };
        let spool = self.resolve(&raw.spool);
        if crate::map::atomic::dir_of(&map.path) == spool {
            return Err(self.invalid(
                "install.spool",
                format!(
                    "{} is also the directory of install.map: the receiving account must not \
                     be able to write where Postfix's map lives; use a spool of its own",
                    spool.display()
                ),
            ));
        }
        Ok(install::Settings {
            spool,
            map,
            postfix_config_dir: self.resolve(&raw.postfix_config_dir),
            reload,
            cdb_writer,
            max_bytes: raw.max_bytes,
            internal_relay_domains: self.open_domains(
                "install.internal_relay_domains",
                &raw.internal_relay_domains,
            )?,
        })
    }

    fn safety(&self, raw: raw::Safety) -> Result<Limits, Error> {
        if !(0.0..=100.0).contains(&raw.max_removed_percent) {
            return Err(self.invalid(
                "safety.max_removed_percent",
                format!(
                    "{} is not a percentage between 0 and 100",
                    raw.max_removed_percent
                ),
            ));
        }
        let canaries = raw
            .canaries
            .iter()
            .map(|a| self.address("safety.canaries", a))
            .collect::<Result<_, _>>()?;
        Ok(Limits {
            min_recipients: raw.min_recipients,
            max_removed: raw.max_removed,
            max_removed_percent: raw.max_removed_percent,
            canaries,
        })
    }
}
