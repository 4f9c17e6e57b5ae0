//! The configuration: the TOML file ([`raw`]) checked and resolved into values the commands
//! can use without further checks.
//!
//! Everything that can be checked without touching the network is checked here, so that a
//! mistake is a usage error (exit 2) naming the file and key before anything runs: addresses
//! in `extra` and `canaries` pass the same validator as directory values, `exclude_domains`
//! must compile, the map value must be a single token. Relative paths are resolved against the
//! directory of the config file, so a config and its data can move together.
//!
//! Each stage defines and checks its own tables beside its code (`src/*/config.rs`, with the
//! toolkit of [`crate::table`]), and none imports this module; here are the loading, the whole
//! file ([`raw::Config`]), `[metrics]` and the checks that involve several tables. The checked
//! tables are re-exported, so that the commands take them all from here.

mod check;
pub mod legacy;
pub mod raw;

use std::path::{Path, PathBuf};

use crate::install;
pub use crate::map::Output;
use crate::rules::guard::Limits;
pub use crate::rules::{DomainSetting, Recipients};
pub use crate::source::{Source, SourceKind};
pub use crate::table::Error;
use crate::transport::Gateway;

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
    /// `[safety].approval_key` and `approval_valid`: how `approve` signs.
    pub approver: crate::hold::Approver,
    /// The `[[gateway]]` tables (used by `push`).
    pub gateways: Vec<Gateway>,
    /// The `[install]` table (used on the gateway).
    pub install: Option<install::Settings>,
    /// `[metrics]`: the node-exporter textfiles every run rewrites, if any.
    pub metrics: Option<Metrics>,
    /// `[watch]`: how `watch` waits.
    pub watch: Timing,
    /// The `[[export]]` tables (written by `extract` after the map).
    pub exports: Vec<crate::export::Export>,
}

/// `[watch]`, checked: how `watch` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `poll`.
    pub poll: std::time::Duration,
    /// `graph_poll`.
    pub graph_poll: std::time::Duration,
    /// `quiet`.
    pub quiet: std::time::Duration,
    /// `max_delay`.
    pub max_delay: std::time::Duration,
    /// `max_backoff`.
    pub max_backoff: std::time::Duration,
}

/// `[metrics]`, one textfile per role: a file that root's `apply` and the rcptsync account's
/// `sync` both wrote and read back would let either steer the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// `textfile`: what `extract`, `push` and `sync` write.
    pub textfile: PathBuf,
    /// What `apply` writes: `textfile` on a gateway's config; on a config in both roles (with
    /// `[output]` and `[install]`), `NAME-apply.prom` beside it.
    pub apply_textfile: PathBuf,
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
                "add at least one (kind = \"ldap\", \"graph\", \"ldif\" or \"list\") to extract recipients",
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
    pub fn install(&self) -> Result<&install::Settings, Error> {
        self.install.as_ref().ok_or_else(|| {
            self.missing(
                "[install]",
                "apply runs on the gateway and needs map = \"TYPE:PATH\" (and spool, postfix_config_dir)",
            )
        })
    }
}

impl Config {
    /// Reads and checks the config at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = crate::fs::read_to_string(path)?;
        Self::parse(&text, path)
    }

    /// Checks config `text` as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let raw: raw::Config = toml::from_str(text).map_err(|cause| {
            source_error(text, path, &cause).unwrap_or_else(|| Error::Parse {
                path: path.to_owned(),
                cause,
            })
        })?;
        crate::table::Checker { path, text }.check(raw)
    }
}

/// serde reads a whole `[[source]]` table to learn its `kind` before the rest, so TOML puts
/// any mistake inside one at a `[[source]]` header line. This reads each table again, alone,
/// as its kind, to name the line of the key that is wrong; None when that does not apply.
fn source_error(text: &str, path: &Path, cause: &toml::de::Error) -> Option<Error> {
    let start = cause.span()?.start;
    if !text.get(start..)?.starts_with("[[source]]") {
        return None;
    }
    let mut offset = 0;
    let mut headers = Vec::new();
    for line in text.split_inclusive('\n') {
        offset += line.len();
        if line.trim_start().starts_with("[[source]]") {
            headers.push(offset);
        }
    }
    headers
        .into_iter()
        .find_map(|body_start| table_error(text, path, body_start))
}

/// The mistake in the `[[source]]` table whose keys begin at `body_start`, if any.
fn table_error(text: &str, path: &Path, body_start: usize) -> Option<Error> {
    let rest = text.get(body_start..)?;
    let mut body_len = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            break;
        }
        body_len += line.len();
    }
    // The tag is not a field of the kind's table: blanked out, so offsets stay the same.
    let mut kind = None;
    let body: String = rest[..body_len]
        .split_inclusive('\n')
        .map(|line| {
            let key = line.trim_start();
            match key.strip_prefix("kind").map(str::trim_start) {
                Some(value) if value.starts_with('=') => {
                    kind = toml::from_str::<toml::Table>(key)
                        .ok()
                        .and_then(|t| t.get("kind")?.as_str().map(str::to_owned));
                    // Byte for byte, so that every offset after it still points into `text`.
                    let end = line.len() - line.trim_end_matches(['\r', '\n']).len();
                    " ".repeat(line.len() - end) + &line[line.len() - end..]
                }
                _ => line.to_owned(),
            }
        })
        .collect();
    let kind = kind?;
    let error = match kind.as_str() {
        "ldap" => toml::from_str::<raw::Ldap>(&body).err(),
        "ldif" | "list" => toml::from_str::<raw::FileSource>(&body).err(),
        "graph" => toml::from_str::<raw::Graph>(&body).err(),
        _ => None,
    }?;
    let at = body_start + error.span()?.start;
    let line = text.get(..at)?.matches('\n').count() + 1;
    Some(Error::Source {
        path: path.to_owned(),
        line,
        kind,
        message: error.message().to_owned(),
        text: text
            .lines()
            .nth(line - 1)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ldap::LdapSourceConfig;
    use std::collections::BTreeSet;

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
    fn open_domains_are_exact_accepted_names_on_both_sides() {
        let with = |key: &str| {
            MINIMAL.replace(
                "domains = [\"example.com\"]",
                &format!("domains = [\"example.com\", \"Corp.Example\"]\n{key}"),
            )
        };
        let config = parse(&with("internal_relay = [\"CORP.example\"]")).unwrap();
        let parts = config.extraction().unwrap();
        assert_eq!(
            parts.recipients.internal_relay,
            BTreeSet::from(["corp.example".to_owned()])
        );
        let e = error(&with("internal_relay = [\"other.example\"]"));
        assert!(
            e.contains("recipients.internal_relay")
                && e.contains("\"other.example\" is not an accepted domain"),
            "{e}"
        );
        let e = error(&with(
            "internal_relay = [\"corp.example\"]\nexclude_domains = ['corp\\.example']",
        ));
        assert!(
            e.contains("is also excluded by recipients.exclude_domains"),
            "{e}"
        );
        let e = error(&with("internal_relay = [\"*.corp.example\"]"));
        assert!(e.contains("matches one domain, not its subdomains"), "{e}");
        let e = error(&with("internal_relay = [\"corp example\"]"));
        assert!(e.contains("is not a domain name"), "{e}");

        let gateway = "[install]\nmap = \"cdb:/etc/postfix/relay_recipients\"\n";
        let config = parse(&format!(
            "{gateway}internal_relay_domains = [\"Corp.Example\"]\n"
        ))
        .unwrap();
        assert_eq!(
            config.install.unwrap().internal_relay_domains,
            BTreeSet::from(["corp.example".to_owned()])
        );
        let e = error(&format!(
            "{gateway}internal_relay_domains = [\"*.x.example\"]\n"
        ));
        assert!(
            e.contains("install.internal_relay_domains") && e.contains("not its subdomains"),
            "{e}"
        );
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
        assert!(
            e.contains("needs a kind = \"ldap\" or \"graph\" source"),
            "{e}"
        );
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
        assert_eq!(install.reload, crate::install::Reload::Auto);
        let e = config.extraction().unwrap_err().to_string();
        assert!(e.contains("[[source]]: missing"), "{e}");
        let e = parse(MINIMAL).unwrap().install().unwrap_err().to_string();
        assert!(e.contains("[install]: missing"), "{e}");
        for (bad, key) in [
            ("map = \"dbm:/x\"", "install.map"),
            ("map = \"hash:relative\"", "install.map"),
            ("reload = \"sometimes\"", "install.reload"),
            ("cdb_writer = \"fast\"", "install.cdb_writer"),
            (
                "map = \"cdb:/var/spool/rcptsync/relay_recipients\"",
                "install.spool",
            ),
        ] {
            let e = parse(&format!("[install]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn a_mistake_inside_a_source_is_reported_at_its_key() {
        let text = "[recipients]\ndomains = [\"example.com\"]\n\n[[source]]\nname = \"a\"\nkind = \"list\"\npath = \"a.txt\"\n\n\
                    [[source]]\nname = \"ad\"\nkind = \"ldap\"\nservers = [\"ldaps://dc1\"]\nbase_dn = \"DC=x\"\npage_size = \"big\"\n";
        let e = error(text);
        assert!(
            e.contains("rcptsync.toml: line 14: in this [[source]] (kind = \"ldap\"): invalid type: string \"big\", expected u32\n  page_size = \"big\""),
            "{e}"
        );
        // A kind with a multi-byte character, and CRLF lines: the line is still found.
        let e = error(
            &text
                .replace("kind = \"ldap\"", "kind = \"ldap\" # Jörg's ÄD")
                .replace('\n', "\r\n"),
        );
        assert!(e.contains("line 14:"), "{e}");
        let e = error(&text.replace("page_size = \"big\"", "base_dnn = \"x\""));
        assert!(
            e.contains("line 14:") && e.contains("unknown field `base_dnn`"),
            "{e}"
        );
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
    fn a_canary_outside_the_accepted_domains_or_a_bracketed_exchange_is_refused_at_load() {
        let e = error(&MINIMAL.replace(
            "domains = [\"example.com\"]",
            "domains = [\"example.com\"]\n[safety]\ncanaries = [\"ceo@example.org\"]",
        ));
        assert!(
            e.contains("safety.canaries: ceo@example.org is not in the accepted domains"),
            "{e}"
        );
        let e = error(&MINIMAL.replace("domains = [\"example.com\"]", "domains = [\"exchange\"]"));
        assert!(
            e.contains("write domains = \"exchange\" (no brackets)"),
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

    /// MINIMAL with an LDAP source made of `keys` (servers, starttls, bind...).
    fn with_ldap(keys: &str) -> String {
        format!(
            "{MINIMAL}\n[[source]]\nname = \"ad\"\nkind = \"ldap\"\nbase_dn = \"DC=example,DC=com\"\n{keys}\n"
        )
    }

    fn ldap_source(config: &Config) -> &LdapSourceConfig {
        match &config.sources[1].kind {
            SourceKind::Ldap(l) => l,
            other => panic!("{other:?}"),
        }
    }

    const BIND: &str = "bind_dn = \"svc@example.com\"\nbind_password_file = \"bind.pw\"";

    #[test]
    fn a_bind_on_plain_ldap_without_starttls_is_refused_naming_url_and_fixes() {
        let e = error(&with_ldap(&format!(
            "servers = [\"ldaps://dc1.example.com\", \"ldap://dc2.example.com:389\"]\n{BIND}"
        )));
        assert_eq!(
            e,
            "/etc/rcptsync/rcptsync.toml: source.servers: ldap://dc2.example.com:389 (source \"ad\") \
             would receive the bind password of bind_dn in cleartext; use an ldaps:// URL (LDAPS, \
             port 636) or set starttls = true in this [[source]]"
        );
        // The password from the environment crosses just the same.
        let e = error(&with_ldap(
            "servers = [\"ldap://dc1.example.com\"]\nbind_dn = \"svc@example.com\"",
        ));
        assert!(
            e.contains("ldap://dc1.example.com (source \"ad\") would receive the bind password"),
            "{e}"
        );
    }

    #[test]
    fn kerberos_needs_keytab_and_principal_and_no_bind_dn() {
        const KRB: &str = "keytab = \"rcptsync.keytab\"\nprincipal = \"svc-rcptsync@EXAMPLE.COM\"";
        let plain = "servers = [\"ldap://dc1.example.com\"]";
        let e = error(&with_ldap(&format!("{plain}\nkeytab = \"k\"")));
        assert!(
            e.contains("source.keytab") && e.contains("set without principal"),
            "{e}"
        );
        let e = error(&with_ldap(&format!(
            "{plain}\nprincipal = \"svc@EXAMPLE.COM\""
        )));
        assert!(e.contains("set without keytab"), "{e}");
        let e = error(&with_ldap(&format!("{plain}\n{KRB}\n{BIND}")));
        assert!(e.contains("set together with bind_dn; keep one"), "{e}");
        if !cfg!(feature = "kerberos") {
            let e = error(&with_ldap(&format!("{plain}\n{KRB}")));
            assert!(e.contains("built without Kerberos support"), "{e}");
            return;
        }
        let e = error(&with_ldap(&format!(
            "{plain}\nkeytab = \"k\"\nprincipal = \"svc-rcptsync\""
        )));
        assert!(e.contains("is not a principal with its realm"), "{e}");
        // Found in DNS, the DCs must be vouched for by their CA, as for a password bind.
        let e = error(&with_ldap(&format!("discover = \"example.com\"\n{KRB}")));
        assert!(
            e.contains("source.discover") && e.contains("set ca_file"),
            "{e}"
        );
        // Plain ldap:// is fine: Kerberos seals the session, no password crosses.
        let config = parse(&with_ldap(&format!("{plain}\n{KRB}"))).unwrap();
        let l = ldap_source(&config);
        assert!(l.bind.is_none());
        let k = l.kerberos.as_ref().unwrap();
        assert_eq!(k.principal, "svc-rcptsync@EXAMPLE.COM");
        assert_eq!(
            k.path,
            std::path::Path::new("/etc/rcptsync/rcptsync.keytab")
        );
    }

    #[test]
    fn starttls_covers_the_plain_urls_and_combines_with_ldaps() {
        let config = parse(&with_ldap(&format!(
            "servers = [\"ldap://dc1.example.com\"]\nstarttls = true\n{BIND}"
        )))
        .unwrap();
        assert!(ldap_source(&config).starttls);
        // Mixed: ldaps:// uses TLS directly, StartTLS applies to the ldap:// URL.
        let config = parse(&with_ldap(&format!(
            "servers = [\"ldaps://dc1.example.com\", \"ldap://dc2.example.com\"]\nstarttls = true\n{BIND}"
        )))
        .unwrap();
        let l = ldap_source(&config);
        assert_eq!(
            l.servers,
            ["ldaps://dc1.example.com", "ldap://dc2.example.com"]
        );
        assert!(l.starttls && !l.insecure_cleartext_bind);
        // ldaps:// alone needs nothing more.
        parse(&with_ldap(&format!(
            "servers = [\"ldaps://dc1.example.com\"]\n{BIND}"
        )))
        .unwrap();
    }

    /// The 1-based line of the first line of `text` that starts with `key`.
    fn line_of(text: &str, key: &str) -> usize {
        text.lines().position(|l| l.starts_with(key)).unwrap() + 1
    }

    #[test]
    fn discover_replaces_servers_and_errors_name_the_line() {
        let text = with_ldap(&format!(
            "discover = \"example.com\"\ndns_server = \"127.0.0.1:5353\"\n{BIND}"
        ));
        // A bind to DCs found in DNS needs the DCs' own CA.
        let e = error(&text);
        assert!(
            e.contains("source.discover: with discover and a bind, set ca_file"),
            "{e}"
        );
        let text = format!("{text}ca_file = \"ca.pem\"\n");
        let config = parse(&text).unwrap();
        let l = ldap_source(&config);
        assert!(l.servers.is_empty());
        let d = l.discover.as_ref().unwrap();
        assert_eq!(d.domain, "example.com");
        assert_eq!(d.dns_server.unwrap().to_string(), "127.0.0.1:5353");
        assert!(!l.tls_cn_fallback);

        let text = with_ldap("servers = [\"ldaps://dc1.example.com\"]\ndiscover = \"example.com\"");
        let e = error(&text);
        assert_eq!(
            e,
            format!(
                "/etc/rcptsync/rcptsync.toml: line {}: source.discover: set together with servers \
                 (source \"ad\"); keep one: servers lists the DCs, discover finds them in DNS",
                line_of(&text, "discover")
            )
        );
        let text = with_ldap("starttls = true");
        let e = error(&text);
        assert!(
            e.starts_with(&format!(
                "/etc/rcptsync/rcptsync.toml: line {}: source.servers: missing (source \"ad\")",
                line_of(&text, "kind = \"ldap\"")
            )),
            "{e}"
        );
        assert!(e.contains("discover = \"example.com\""), "{e}");
        let text = with_ldap("discover = \"example.com\"\ndns_server = \"dns.example.com\"");
        let e = error(&text);
        assert!(
            e.contains(&format!(
                "line {}: source.dns_server: \"dns.example.com\" is not IP[:PORT]",
                line_of(&text, "dns_server")
            )),
            "{e}"
        );
        let e = error(&with_ldap(
            "servers = [\"ldaps://dc1\"]\ndns_server = \"192.0.2.53\"",
        ));
        assert!(
            e.contains("source.dns_server: only used with discover"),
            "{e}"
        );
        let e = error(&with_ldap("discover = \"not a domain\""));
        assert!(
            e.contains("source.discover: \"not a domain\" is not a domain name"),
            "{e}"
        );
        let config = parse(&with_ldap(
            "servers = [\"ldaps://dc1\"]\ntls_cn_fallback = true",
        ))
        .unwrap();
        assert!(ldap_source(&config).tls_cn_fallback);
    }

    #[test]
    fn an_anonymous_bind_may_use_plain_ldap() {
        let config = parse(&with_ldap("servers = [\"ldap://dc1.example.com\"]")).unwrap();
        let l = ldap_source(&config);
        assert!(l.bind.is_none() && !l.starttls);
    }

    #[test]
    fn insecure_cleartext_bind_allows_a_bind_on_plain_ldap() {
        let config = parse(&with_ldap(&format!(
            "servers = [\"ldap://dc1.example.com\"]\ninsecure_cleartext_bind = true\n{BIND}"
        )))
        .unwrap();
        let l = ldap_source(&config);
        assert!(l.insecure_cleartext_bind && l.bind.is_some() && !l.starttls);
        assert_eq!(l.name, "ad");
    }

    /// MINIMAL with a Graph source made of `keys` (the credential and any others).
    fn with_graph(keys: &str) -> String {
        format!(
            "{MINIMAL}\n[[source]]\nname = \"m365\"\nkind = \"graph\"\ntenant = \"contoso.onmicrosoft.com\"\n\
             client_id = \"00000000-0000-0000-0000-000000000000\"\n{keys}\n"
        )
    }

    #[test]
    fn a_graph_source_gets_the_global_cloud_and_one_credential() {
        let config = parse(&with_graph("client_certificate = \"graph.pem\"")).unwrap();
        let SourceKind::Graph(g) = &config.sources[1].kind else {
            panic!("{:?}", config.sources[1]);
        };
        assert_eq!(g.authority, "https://login.microsoftonline.com");
        assert_eq!(g.graph_url, "https://graph.microsoft.com");
        assert_eq!(g.timeout, std::time::Duration::from_secs(30));
        assert_eq!(
            g.credential,
            crate::source::graph::CredentialFile::Certificate("/etc/rcptsync/graph.pem".into())
        );
        let config = parse(&with_graph(
            "client_secret_file = \"graph.secret\"\ngraph_url = \"https://graph.microsoft.us/\"",
        ))
        .unwrap();
        let SourceKind::Graph(g) = &config.sources[1].kind else {
            panic!("{:?}", config.sources[1]);
        };
        assert_eq!(g.graph_url, "https://graph.microsoft.us");
        for (keys, key) in [
            ("", "source.client_certificate"),
            (
                "client_certificate = \"a\"\nclient_secret_file = \"b\"",
                "source.client_certificate",
            ),
            (
                "client_certificate = \"a\"\ngraph_url = \"http://graph.microsoft.com\"",
                "source.graph_url",
            ),
            (
                "client_certificate = \"a\"\nauthority = \"https://login.microsoftonline.com/x?y\"",
                "source.authority",
            ),
            (
                "client_certificate = \"a\"\ntimeout = \"0s\"",
                "source.timeout",
            ),
        ] {
            let e = error(&with_graph(keys));
            assert!(e.contains(key), "{keys}: {e}");
        }
        let e = error(&with_graph("client_certificate = \"a\"\nbase_dn = \"x\""));
        assert!(e.contains("unknown field `base_dn`"), "{e}");
        // "exchange" may come from the tenant.
        parse(
            &with_graph("client_certificate = \"a\"").replace("[\"example.com\"]", "\"exchange\""),
        )
        .unwrap();
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
