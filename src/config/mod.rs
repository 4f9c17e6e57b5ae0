//! The configuration: the TOML file ([`raw`]) checked and resolved into values the commands
//! can use without further checks.
//!
//! Everything that can be checked without touching the network is checked here, so that a
//! mistake is a usage error (exit 2) naming the file and key before anything runs: addresses
//! in `extra` and `canaries` pass the same validator as directory values, `exclude_domains`
//! must compile, the map value must be a single token. Relative paths are resolved against the
//! directory of the config file, so a config and its data can move together.

pub mod legacy;
pub mod raw;

use std::path::{Path, PathBuf};

use crate::rules::address;
use crate::rules::domains::{AcceptedDomains, ExcludedDomains};
use crate::rules::guard::Limits;
use crate::source::ldap::secret::PasswordSource;
use crate::source::ldap::{self, Bind, LdapSourceConfig};

/// A config that cannot be used; always a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (the message names it).
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{}: {cause}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The TOML error, with line and key.
        cause: toml::de::Error,
    },
    /// A key has a value that cannot work.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key, as written in the file (`recipients.extra`).
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// A checked configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The sources, in the order given.
    pub sources: Vec<Source>,
    /// The `[recipients]` policy (absent on a gateway that only applies maps).
    pub recipients: Option<Recipients>,
    /// The `[output]` map (absent on a gateway that only applies maps).
    pub output: Option<Output>,
    /// The `[safety]` guards.
    pub safety: Limits,
    /// `[safety].full_every`: the longest extract goes without a full search.
    pub full_every: std::time::Duration,
    /// The `[[gateway]]` tables (used by `push`).
    pub gateways: Vec<Gateway>,
    /// The `[install]` table (used on the gateway).
    pub install: Option<Install>,
}

/// What `extract` needs from the config: sources, rules and an output.
#[derive(Debug)]
pub struct Extraction<'a> {
    /// The sources, at least one.
    pub sources: &'a [Source],
    /// The `[recipients]` table.
    pub recipients: &'a Recipients,
    /// The `[output]` table.
    pub output: &'a Output,
}

impl Config {
    fn missing(&self, what: &str, why: &str) -> Error {
        Error::Invalid {
            path: self.path.clone(),
            key: what.to_owned(),
            message: format!("missing; {why}"),
        }
    }

    /// The `[output]` table (the map `extract` writes and `push` sends), or a usage error.
    pub fn output(&self) -> Result<&Output, Error> {
        self.output.as_ref().ok_or_else(|| {
            self.missing("[output]", "it says where the map is written (path = ...)")
        })
    }

    /// The parts `extract` needs, or a usage error naming the missing table.
    pub fn extraction(&self) -> Result<Extraction<'_>, Error> {
        if self.sources.is_empty() {
            return Err(self.missing(
                "[[source]]",
                "add at least one (kind = \"ldap\", \"ldif\" or \"list\") to extract recipients",
            ));
        }
        let recipients = self.recipients.as_ref().ok_or_else(|| {
            self.missing(
                "[recipients]",
                "it says which domains are exported (domains = [...])",
            )
        })?;
        let output = self.output.as_ref().ok_or_else(|| {
            self.missing("[output]", "it says where the map is written (path = ...)")
        })?;
        Ok(Extraction {
            sources: &self.sources,
            recipients,
            output,
        })
    }

    /// The `[install]` table `apply` needs, or a usage error.
    pub fn install(&self) -> Result<&Install, Error> {
        self.install.as_ref().ok_or_else(|| {
            self.missing(
                "[install]",
                "apply runs on the gateway and needs map = \"TYPE:PATH\" (and spool, postfix_config_dir)",
            )
        })
    }
}

/// One `[[gateway]]`, checked.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Label for reports and the push record.
    pub name: String,
    /// Host name or address for ssh.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// The gateway's receiving account.
    pub user: String,
    /// Private key; None leaves the choice to ssh's own configuration.
    pub identity_file: Option<PathBuf>,
    /// Known-hosts file; None means ssh's default. Host keys are checked either way.
    pub known_hosts: Option<PathBuf>,
}

/// The `[install]` table, checked.
#[derive(Debug, Clone)]
pub struct Install {
    /// Where `receive` leaves maps for `apply`.
    pub spool: PathBuf,
    /// The installed map.
    pub map: MapSpec,
    /// Postfix's configuration directory, passed to every Postfix command as `-c`.
    pub postfix_config_dir: PathBuf,
    /// When to run `postfix reload`.
    pub reload: Reload,
    /// Who writes cdb files.
    pub cdb_writer: CdbWriter,
}

/// A Postfix map type rcptsync can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    /// Berkeley DB hash (`PATH.db`).
    Hash,
    /// Berkeley DB btree (`PATH.db`).
    Btree,
    /// D. J. Bernstein's constant database (`PATH.cdb`).
    Cdb,
    /// OpenLDAP's LMDB (`PATH.lmdb`).
    Lmdb,
    /// The text file itself, read into memory by each daemon (needs a reload).
    Texthash,
}

impl MapType {
    /// The type Postfix calls `name`, if rcptsync can install it.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Hash,
            Self::Btree,
            Self::Cdb,
            Self::Lmdb,
            Self::Texthash,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }

    /// The name Postfix uses (`hash`, `lmdb`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Btree => "btree",
            Self::Cdb => "cdb",
            Self::Lmdb => "lmdb",
            Self::Texthash => "texthash",
        }
    }

    /// The suffix of the indexed file postmap makes next to the text file, if any.
    pub fn suffix(self) -> Option<&'static str> {
        match self {
            Self::Hash | Self::Btree => Some(".db"),
            Self::Cdb => Some(".cdb"),
            Self::Lmdb => Some(".lmdb"),
            Self::Texthash => None,
        }
    }

    /// Whether daemons only see a new map after `postfix reload`: texthash is read once,
    /// the indexed types are reopened by the daemons when the file is replaced.
    pub fn needs_reload(self) -> bool {
        self == Self::Texthash
    }
}

/// `TYPE:PATH` from `[install].map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// The map type.
    pub kind: MapType,
    /// The text file; the indexed file is this plus [`MapType::suffix`].
    pub path: PathBuf,
}

impl std::fmt::Display for MapSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.path.display())
    }
}

/// `[install].reload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Only when the map type needs it (texthash).
    Auto,
    /// After every change.
    Always,
    /// Never (the admin reloads).
    Never,
}

/// `[install].cdb_writer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdbWriter {
    /// rcptsync's own writer (faster; same format as postmap).
    Native,
    /// `postmap cdb:`.
    Postmap,
}

/// One `[[source]]`.
#[derive(Debug)]
pub struct Source {
    /// The label used in logs and reports.
    pub name: String,
    /// What to read.
    pub kind: SourceKind,
}

/// What a source reads.
#[derive(Debug)]
pub enum SourceKind {
    /// A live directory.
    Ldap(LdapSourceConfig),
    /// An LDIF export at this path.
    Ldif(PathBuf),
    /// A list of addresses at this path.
    List(PathBuf),
}

/// Where the accepted domains come from.
#[derive(Debug)]
pub enum DomainSetting {
    /// Listed in the config.
    Listed(AcceptedDomains),
    /// Read from Exchange's accepted-domain objects in the directory.
    Exchange,
}

/// The `[recipients]` table, checked.
#[derive(Debug)]
pub struct Recipients {
    /// Accepted domains.
    pub domains: DomainSetting,
    /// Excluded domains.
    pub excluded: ExcludedDomains,
    /// Skip entries that require authenticated senders.
    pub skip_auth_required: bool,
    /// Also take `mail`.
    pub use_mail_attribute: bool,
    /// Extra addresses, already normalized.
    pub extra: Vec<String>,
}

/// The `[output]` table, checked.
#[derive(Debug)]
pub struct Output {
    /// The text map.
    pub path: PathBuf,
    /// The value written after every address.
    pub value: String,
}

impl Config {
    /// Reads and checks the config at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = fs_err::read_to_string(path)?;
        Self::parse(&text, path)
    }

    /// Checks config `text` as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let raw: raw::Config = toml::from_str(text).map_err(|cause| Error::Parse {
            path: path.to_owned(),
            cause,
        })?;
        Checker { path }.check(raw)
    }
}

/// Turns raw values into checked ones, remembering the file for messages.
struct Checker<'a> {
    path: &'a Path,
}

impl Checker<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Resolves a path from the file against the config file's directory.
    fn resolve(&self, value: &str) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new("."));
        base.join(value)
    }

    fn address(&self, key: &str, value: &str) -> Result<String, Error> {
        address::normalize(value).map_err(|e| self.invalid(key, format!("{value:?}: {e}")))
    }

    fn check(&self, raw: raw::Config) -> Result<Config, Error> {
        let mut sources: Vec<Source> = Vec::new();
        for source in raw.source {
            let (name, kind) = match source {
                raw::Source::Ldap(raw) => (raw.name.clone(), SourceKind::Ldap(self.ldap(raw)?)),
                raw::Source::Ldif(f) => (f.name, SourceKind::Ldif(self.resolve(&f.path))),
                raw::Source::List(f) => (f.name, SourceKind::List(self.resolve(&f.path))),
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
        let full_every = humantime::parse_duration(&raw.safety.full_every).map_err(|_| {
            self.invalid(
                "safety.full_every",
                format!(
                    "{:?} is not a duration such as \"1h\" or \"30m\"",
                    raw.safety.full_every
                ),
            )
        })?;
        let safety = self.safety(raw.safety)?;
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
        })
    }

    fn ldap(&self, raw: raw::Ldap) -> Result<LdapSourceConfig, Error> {
        if raw.servers.is_empty() {
            return Err(self.invalid(
                "source.servers",
                "no servers; list at least one ldaps:// or ldap:// URL",
            ));
        }
        for url in &raw.servers {
            let tls = url.starts_with("ldaps://");
            if !tls && !url.starts_with("ldap://") {
                return Err(self.invalid(
                    "source.servers",
                    format!("{url:?} is not an ldap:// or ldaps:// URL"),
                ));
            }
            if tls && raw.starttls {
                return Err(self.invalid(
                    "source.starttls",
                    format!("starttls = true does not apply to {url} (ldaps:// is TLS already); use ldap:// with StartTLS, or drop starttls"),
                ));
            }
        }
        let timeout = match &raw.timeout {
            None => std::time::Duration::from_secs(10),
            Some(text) => humantime::parse_duration(text)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    self.invalid(
                        "source.timeout",
                        format!("{text:?} is not a duration such as \"5s\" or \"1m\""),
                    )
                })?,
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
        let page_size = raw.page_size.unwrap_or(1000);
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
        if raw.base_dn.trim().is_empty() {
            return Err(self.invalid(
                "source.base_dn",
                "empty; give the directory's base, such as \"DC=example,DC=com\"",
            ));
        }
        Ok(LdapSourceConfig {
            servers: raw.servers,
            starttls: raw.starttls,
            ca_file: raw.ca_file.map(|f| self.resolve(&f)),
            timeout,
            base_dn: raw.base_dn,
            filter,
            page_size,
            bind,
        })
    }

    fn recipients(&self, raw: raw::Recipients, sources: &[Source]) -> Result<Recipients, Error> {
        let domains = match raw.domains {
            raw::Domains::Keyword(word) if word == "exchange" => {
                if !sources
                    .iter()
                    .any(|s| matches!(s.kind, SourceKind::Ldap(_)))
                {
                    return Err(self.invalid(
                        "recipients.domains",
                        "\"exchange\" reads the accepted domains from Active Directory and needs a kind = \"ldap\" source; list the domains instead",
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
        Ok(Recipients {
            domains,
            excluded,
            skip_auth_required: raw.skip_auth_required,
            use_mail_attribute: raw.use_mail_attribute,
            extra,
        })
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
        let port = raw.port.unwrap_or(22);
        if port == 0 {
            return Err(self.invalid("gateway.port", "0 is not a port"));
        }
        Ok(Gateway {
            name: raw.name,
            host: raw.host,
            port,
            user: raw.user,
            identity_file: raw.identity_file.map(|f| self.resolve(&f)),
            known_hosts: raw.known_hosts.map(|f| self.resolve(&f)),
        })
    }

    fn install(&self, raw: raw::Install) -> Result<Install, Error> {
        let map_text = raw
            .map
            .unwrap_or_else(|| "lmdb:/etc/postfix/relay_recipients".to_owned());
        let (kind, path) = map_text.split_once(':').unwrap_or(("", ""));
        let Some(kind) = MapType::from_name(kind) else {
            return Err(self.invalid(
                "install.map",
                format!("{map_text:?} is not TYPE:PATH with TYPE one of hash, btree, cdb, lmdb, texthash"),
            ));
        };
        if !path.starts_with('/') {
            return Err(self.invalid(
                "install.map",
                format!("{map_text:?}: the path must be absolute, as in relay_recipient_maps"),
            ));
        }
        let reload = match raw.reload.as_deref().unwrap_or("auto") {
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
        let cdb_writer = match raw.cdb_writer.as_deref().unwrap_or("native") {
            "native" => CdbWriter::Native,
            "postmap" => CdbWriter::Postmap,
            other => {
                return Err(self.invalid(
                    "install.cdb_writer",
                    format!("{other:?} is not native or postmap"),
                ));
            }
        };
        Ok(Install {
            spool: self.resolve(raw.spool.as_deref().unwrap_or("/var/spool/rcptsync")),
            map: MapSpec {
                kind,
                path: PathBuf::from(path),
            },
            postfix_config_dir: self
                .resolve(raw.postfix_config_dir.as_deref().unwrap_or("/etc/postfix")),
            reload,
            cdb_writer,
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

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[source]]
name = "export"
kind = "ldif"
path = "directory.ldif"

[recipients]
domains = ["example.com"]

[output]
path = "out/relay_recipients"
"#;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(text, Path::new("/etc/rcptsync/rcptsync.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_gets_safe_defaults_and_resolved_paths() {
        let config = parse(MINIMAL).unwrap();
        assert!(
            matches!(&config.sources[0].kind, SourceKind::Ldif(p) if p == Path::new("/etc/rcptsync/directory.ldif"))
        );
        let parts = config.extraction().unwrap();
        assert_eq!(
            parts.output.path,
            Path::new("/etc/rcptsync/out/relay_recipients")
        );
        assert_eq!(parts.output.value, "OK");
        assert!(parts.recipients.skip_auth_required);
        assert_eq!(config.safety.min_recipients, 1);
        assert_eq!(config.safety.max_removed, 500);
        assert_eq!(config.safety.max_removed_percent, 10.0);
    }

    #[test]
    fn unknown_keys_name_key_line_and_file() {
        let e = error(&MINIMAL.replace("[output]", "[output]\npth = \"x\""));
        assert!(
            e.starts_with("/etc/rcptsync/rcptsync.toml: TOML parse error at line 11"),
            "{e}"
        );
        assert!(e.contains("unknown field `pth`"), "{e}");
        let e = error(&MINIMAL.replace("[recipients]", "[recipients]\nexclude_domain = []"));
        assert!(e.contains("unknown field `exclude_domain`"), "{e}");
        let e = error(&MINIMAL.replace(
            "path = \"directory.ldif\"",
            "path = \"directory.ldif\"\nservers = []",
        ));
        assert!(e.contains("unknown field `servers`"), "{e}");
        let e = error(&MINIMAL.replace("kind = \"ldif\"", "kind = \"ldiff\""));
        assert!(e.contains("unknown variant `ldiff`"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let e = error(&MINIMAL.replace(
            "[output]",
            "[safety]\ncanaries = [\"@example.com\"]\n[output]",
        ));
        assert!(
            e.starts_with(
                "/etc/rcptsync/rcptsync.toml: safety.canaries: \"@example.com\": bare @domain"
            ),
            "{e}"
        );
        let e = error(&MINIMAL.replace("[output]", "[output]\nvalue = \"O K\""));
        assert!(e.contains("output.value"), "{e}");
        let e = error(&MINIMAL.replace(
            "domains = [\"example.com\"]",
            "domains = [\"example.com\"]\nexclude_domains = [\"(\"]",
        ));
        assert!(
            e.contains("recipients.exclude_domains: \"(\" is not a valid regular expression"),
            "{e}"
        );
        let e = error(&MINIMAL.replace("[\"example.com\"]", "\"exchange\""));
        assert!(e.contains("needs a kind = \"ldap\" source"), "{e}");
        let e = error(&MINIMAL.replace("[\"example.com\"]", "[\"exa mple.com\"]"));
        assert!(e.contains("is not a domain name"), "{e}");
        let e =
            error(&MINIMAL.replace("[output]", "[safety]\nmax_removed_percent = 150\n[output]"));
        assert!(e.contains("not a percentage"), "{e}");
        let e = error(&format!(
            "{MINIMAL}\n[[source]]\nname = \"export\"\nkind = \"list\"\npath = \"x\"\n"
        ));
        assert!(e.contains("used by two sources"), "{e}");
    }

    #[test]
    fn a_gateway_config_needs_only_install() {
        let config = parse("[install]\nmap = \"cdb:/etc/postfix/relay_recipients\"\n").unwrap();
        let install = config.install().unwrap();
        assert_eq!(install.map.to_string(), "cdb:/etc/postfix/relay_recipients");
        assert_eq!(install.spool, Path::new("/var/spool/rcptsync"));
        assert_eq!(install.reload, Reload::Auto);
        let e = config.extraction().unwrap_err().to_string();
        assert!(e.contains("[[source]]: missing"), "{e}");
        let e = parse(MINIMAL).unwrap().install().unwrap_err().to_string();
        assert!(e.contains("[install]: missing"), "{e}");
        for (bad, key) in [
            ("map = \"dbm:/x\"", "install.map"),
            ("map = \"hash:relative\"", "install.map"),
            ("reload = \"sometimes\"", "install.reload"),
            ("cdb_writer = \"fast\"", "install.cdb_writer"),
        ] {
            let e = parse(&format!("[install]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn a_canary_cannot_be_an_extra() {
        let e = error(&MINIMAL.replace(
            "domains = [\"example.com\"]",
            "domains = [\"example.com\"]\nextra = [\"postmaster@example.com\"]\n[safety]\ncanaries = [\"PostMaster@example.com\"]",
        ));
        assert!(
            e.contains("safety.canaries: postmaster@example.com is also in recipients.extra"),
            "{e}"
        );
    }

    #[test]
    fn gateways_are_checked() {
        let gw = |body: &str| format!("{MINIMAL}\n[[gateway]]\n{body}\n");
        let config = parse(&gw("name = \"mx1\"\nhost = \"mx1.example.com\"\nuser = \"postrelay\"\nidentity_file = \"id\"")).unwrap();
        assert_eq!(config.gateways[0].port, 22);
        assert_eq!(
            config.gateways[0].identity_file.as_deref(),
            Some(Path::new("/etc/rcptsync/id"))
        );
        for (body, key) in [
            (
                "name = \"mx1\"\nhost = \"-oProxyCommand=x\"\nuser = \"u\"",
                "gateway.host",
            ),
            (
                "name = \"mx1\"\nhost = \"a b\"\nuser = \"u\"",
                "gateway.host",
            ),
            (
                "name = \"mx1\"\nhost = \"h\"\nuser = \"-l\"",
                "gateway.user",
            ),
            (
                "name = \"mx1\"\nhost = \"h\"\nuser = \"u\"\nport = 0",
                "gateway.port",
            ),
        ] {
            let e = error(&gw(body));
            assert!(e.contains(key), "{body}: {e}");
        }
        let twice = format!(
            "{}[[gateway]]\nname = \"mx1\"\nhost = \"h2\"\nuser = \"u\"\n",
            gw("name = \"mx1\"\nhost = \"h\"\nuser = \"u\"")
        );
        assert!(error(&twice).contains("used by two gateways"));
    }

    #[test]
    fn extras_are_normalized() {
        let config = parse(&MINIMAL.replace(
            "domains = [\"example.com\"]",
            "domains = [\"example.com\"]\nextra = [\"PostMaster@Example.com\"]",
        ))
        .unwrap();
        assert_eq!(
            config.extraction().unwrap().recipients.extra,
            ["postmaster@example.com"]
        );
    }
}
