//! The `[[source]]` tables: LDAP (servers or DNS discovery, TLS, bind, bounds) and Graph.

use super::super::{Error, raw};
use super::Checker;
use crate::secret::PasswordSource;
use crate::source::graph::{CredentialFile, GraphSourceConfig};
use crate::source::ldap::{self, Bind, LdapSourceConfig};

impl Checker<'_> {
    pub(super) fn ldap(&self, raw: raw::Ldap, index: usize) -> Result<LdapSourceConfig, Error> {
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
                    || crate::rules::address::normalize(&format!("x@{domain}")).is_err()
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

    pub(super) fn graph(&self, raw: raw::Graph) -> Result<GraphSourceConfig, Error> {
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
}
