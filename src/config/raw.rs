//! The configuration file exactly as written: serde types, no I/O, no interpretation.
//!
//! Every table denies unknown keys, so a typo (`exclude_domain`) is an error naming the key
//! and the line instead of a silently ignored safety setting. [`super::Config`] turns this into
//! checked values.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[[source]]` tables; at least one is required.
    #[serde(default)]
    pub source: Vec<Source>,
    /// `[recipients]`, required by the commands that extract.
    pub recipients: Option<Recipients>,
    /// `[output]`, required by the commands that extract.
    pub output: Option<Output>,
    /// `[safety]`; every key has a safe default.
    #[serde(default)]
    pub safety: Safety,
    /// `[[gateway]]` tables, used by `push`.
    #[serde(default)]
    pub gateway: Vec<Gateway>,
    /// `[install]`, used on the gateway by `apply`.
    pub install: Option<Install>,
    /// `[metrics]`: where each run leaves its node-exporter textfile.
    pub metrics: Option<Metrics>,
}

/// `[metrics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The textfile node-exporter's textfile collector reads (`*.prom` in its directory).
    pub textfile: String,
}

/// One `[[source]]`, tagged by `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A live directory over LDAP/LDAPS.
    Ldap(Box<Ldap>),
    /// An LDIF export.
    Ldif(FileSource),
    /// A plain list of addresses.
    List(FileSource),
    /// A Microsoft 365 tenant through Microsoft Graph.
    Graph(Graph),
}

/// `kind = "graph"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    /// Label for logs and reports.
    pub name: String,
    /// The tenant's domain (`contoso.onmicrosoft.com`) or id.
    pub tenant: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// File holding the client secret.
    pub client_secret_file: Option<String>,
    /// PEM file with the certificate and its RSA key (preferred over a secret).
    pub client_certificate: Option<String>,
    /// Token authority; default `https://login.microsoftonline.com`.
    pub authority: Option<String>,
    /// Graph endpoint; default `https://graph.microsoft.com`.
    pub graph_url: Option<String>,
    /// Extra trust anchors, besides the system store.
    pub ca_file: Option<String>,
    /// Per-request timeout, e.g. "30s".
    pub timeout: Option<String>,
    /// The whole read, e.g. "30m".
    pub read_timeout: Option<String>,
}

/// `kind = "ldif"` and `kind = "list"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// Label for logs and reports.
    pub name: String,
    /// The file; relative paths are relative to the config file's directory.
    pub path: String,
}

/// `kind = "ldap"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ldap {
    /// Label for logs and reports.
    pub name: String,
    /// Tried in order; or `discover`.
    pub servers: Option<Vec<String>>,
    /// The AD domain whose DCs are found in DNS (SRV `_ldap._tcp.dc._msdcs.DOMAIN`).
    pub discover: Option<String>,
    /// `IP[:PORT]` of the DNS server asked for `discover`; default: the system resolver.
    pub dns_server: Option<String>,
    /// StartTLS on the `ldap://` URLs (`ldaps://` URLs use TLS directly).
    #[serde(default)]
    pub starttls: bool,
    /// Allows a simple bind over plain `ldap://` without StartTLS, for a lab; warned about on
    /// every run.
    #[serde(default)]
    pub insecure_cleartext_bind: bool,
    /// CA bundle; default: the system trust store.
    pub ca_file: Option<String>,
    /// Match the host name against the subject CN of a certificate without subjectAltName.
    #[serde(default)]
    pub tls_cn_fallback: bool,
    /// Connect and per-operation timeout, e.g. "5s".
    pub timeout: Option<String>,
    /// The whole read, e.g. "30m".
    pub read_timeout: Option<String>,
    /// Entries in one search.
    pub max_entries: Option<u64>,
    /// Values of one attribute of one entry.
    pub max_values: Option<u64>,
    /// Bytes of one value.
    pub max_value_bytes: Option<u64>,
    /// Bytes of one LDAP message.
    pub max_message_bytes: Option<u64>,
    /// Bytes the server sends on one connection.
    pub max_read_bytes: Option<u64>,
    /// Search base.
    pub base_dn: String,
    /// Search filter; default: the Exchange recipient filter.
    pub filter: Option<String>,
    /// Paged-results page size.
    pub page_size: Option<u32>,
    /// DN or UPN; absent means an anonymous bind.
    pub bind_dn: Option<String>,
    /// File holding the bind password.
    pub bind_password_file: Option<String>,
    /// Kerberos keytab to bind with (with `principal`, instead of `bind_dn`).
    pub keytab: Option<String>,
    /// The Kerberos principal in `keytab` to bind as.
    pub principal: Option<String>,
}

/// `[recipients]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    /// A list of accepted domains, or the word "exchange".
    pub domains: Domains,
    /// Regular expressions, anchored to the whole domain.
    #[serde(default)]
    pub exclude_domains: Vec<String>,
    /// Skip entries with msExchRequireAuthToSendTo = TRUE.
    #[serde(default = "yes")]
    pub skip_auth_required: bool,
    /// Also take `mail`.
    #[serde(default)]
    pub use_mail_attribute: bool,
    /// Addresses added as they are.
    #[serde(default)]
    pub extra: Vec<String>,
}

fn yes() -> bool {
    true
}

/// `domains = [...]` or `domains = "exchange"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Domains {
    /// Accepted domains listed in the config.
    List(Vec<String>),
    /// A keyword; only "exchange" is valid.
    Keyword(String),
}

/// `[output]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Where the Postfix text map is written.
    pub path: String,
    /// The right-hand side of every map line.
    #[serde(default = "ok")]
    pub value: String,
}

fn ok() -> String {
    "OK".to_owned()
}

/// `[safety]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Safety {
    /// Refuse a map with fewer recipients.
    pub min_recipients: usize,
    /// Refuse more removals than this.
    pub max_removed: usize,
    /// Refuse removals above this percentage of the previous map.
    pub max_removed_percent: f64,
    /// Addresses that must be in every map.
    pub canaries: Vec<String>,
    /// A full search at least this often, even when the directory reports no change.
    pub full_every: String,
}

impl Default for Safety {
    fn default() -> Self {
        Self {
            min_recipients: 1,
            max_removed: 500,
            max_removed_percent: 10.0,
            canaries: Vec::new(),
            full_every: "1h".to_owned(),
        }
    }
}

/// One `[[gateway]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Label for logs and reports.
    pub name: String,
    /// Host name or address for ssh.
    pub host: String,
    /// SSH port.
    pub port: Option<u16>,
    /// SSH user on the gateway.
    pub user: String,
    /// Private key.
    pub identity_file: Option<String>,
    /// Known hosts file; host keys are always checked.
    pub known_hosts: Option<String>,
    /// The longest one push to this gateway may take, e.g. "10m".
    pub timeout: Option<String>,
}

/// `[install]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Spool directory that `receive` writes.
    pub spool: Option<String>,
    /// `TYPE:PATH` of the installed map.
    pub map: Option<String>,
    /// Postfix's config directory.
    pub postfix_config_dir: Option<String>,
    /// auto | always | never.
    pub reload: Option<String>,
    /// How cdb maps are built: native | postmap.
    pub cdb_writer: Option<String>,
    /// The largest map apply reads, in bytes.
    pub max_bytes: Option<u64>,
}
