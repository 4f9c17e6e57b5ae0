//! The configuration file as written, with the defaults of absent keys filled in: serde
//! types, no I/O, no interpretation. [`super::Config`] turns this into checked values.
//!
//! These types are also the configuration reference (see [`crate::table`]): each key's doc
//! comment is what the README's tables (and so rcptsync.toml(5)) say about it, and its
//! default is written once, in the `table!` that defines the key.

use serde::Deserialize;

pub use crate::install::config::Install;
pub use crate::map::config::Output;
pub use crate::rules::config::{Domains, Recipients, Safety};
pub use crate::table::Key;
use crate::table::table;
pub use crate::transport::config::Gateway;

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
    /// `[safety]`; every key has a default, so an absent table is an empty one.
    pub safety: Option<Safety>,
    /// `[[gateway]]` tables, used by `push`.
    #[serde(default)]
    pub gateway: Vec<Gateway>,
    /// `[install]`, used on the gateway by `apply`.
    pub install: Option<Install>,
    /// `[metrics]`: where each run leaves its node-exporter textfile.
    pub metrics: Option<Metrics>,
}

table! {
    /// `[metrics]`.
    pub struct Metrics {
        /// a file for node-exporter's textfile collector, ending in `.prom`, e.g.
        /// `"/var/lib/prometheus/node-exporter/rcptsync.prom"`; replaced atomically (a temporary
        /// file in the same directory, then a rename) after every run. On a host in both roles
        /// (a config with `[output]` and `[install]`), `apply` writes `NAME-apply.prom` beside it
        #[default_text = "(none: no metrics)"]
        textfile: String,
    }
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

/// The `[[source]]` keys of every kind (`name`, the tag `kind`) and the file kinds' `path`:
/// the `[[source]]` table of the reference, before each kind's own ([`Ldap::KEYS`],
/// [`Graph::KEYS`]).
pub const SOURCE: &[Key] = &[
    Key {
        name: "name",
        doc: "label used in logs and reports; unique",
        default: None,
        default_text: "",
    },
    Key {
        name: "kind",
        doc: "`\"ldif\"`, `\"list\"`, `\"ldap\"` or `\"graph\"`",
        default: None,
        default_text: "",
    },
    Key {
        name: "path",
        doc: "(`ldif`, `list`) the file",
        default: None,
        default_text: "",
    },
];

table! {
    /// `kind = "graph"`.
    pub struct Graph {
        [
            /// The `[[source]]` key `name` (see [`SOURCE`]).
            name: String,
        ]
        /// the tenant's domain (`contoso.onmicrosoft.com`) or its id
        #[default_text = "(required)"]
        tenant: String,
        /// the app registration's Application (client) ID
        #[default_text = "(required)"]
        client_id: String,
        /// file holding the client secret's value (one line); same checks as
        /// `bind_password_file` (`chmod 600`, owned by the user rcptsync runs as). Exactly one of
        /// `client_certificate` and `client_secret_file`
        client_secret_file: Option<String>,
        /// PEM file holding the certificate's unencrypted RSA private key and the certificate
        /// (the one uploaded to the app registration); preferred: no reusable secret crosses the
        /// network. Same file checks as `bind_password_file`
        client_certificate: Option<String>,
        /// the token authority (another cloud: `https://login.microsoftonline.us`, ...);
        /// `https://host[:port]` only
        authority: String = "https://login.microsoftonline.com",
        /// Graph's address (another cloud: `https://graph.microsoft.us`, ...);
        /// `https://host[:port]` only: the token is sent nowhere else
        graph_url: String = "https://graph.microsoft.com",
        /// PEM file of extra CA certificates, trusted besides the system store (a TLS-inspecting
        /// proxy's CA)
        ca_file: Option<String>,
        /// the longest one HTTP request may take
        timeout: String = "30s",
        /// the whole read: token, delta rounds, listings and throttling waits
        read_timeout: String = "30m",
    }
}

/// `kind = "ldif"` and `kind = "list"`: keys documented in [`SOURCE`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// The `[[source]]` key `name`.
    pub name: String,
    /// The file; relative paths are relative to the config file's directory.
    pub path: String,
}

table! {
    /// `kind = "ldap"`.
    pub struct Ldap {
        [
            /// The `[[source]]` key `name` (see [`SOURCE`]).
            name: String,
        ]
        /// `ldaps://host[:port]` or `ldap://host[:port]` URLs, tried in order (Global Catalog:
        /// 3269/3268)
        #[default_text = "(this or `discover`)"]
        servers: Option<Vec<String>>,
        /// the AD domain's DNS name (`"example.com"`): the DCs are looked up on every run as DNS
        /// SRV `_ldap._tcp.dc._msdcs.example.com`, ordered by priority and weight (RFC 2782),
        /// and tried in that order as `ldaps://HOST` (636), or `ldap://HOST:PORT` with StartTLS
        /// when `starttls = true`; `-v` lists what DNS returned. DNS answers are not
        /// authenticated, so only targets inside the domain are used (at most 16), and with a
        /// bind (password or keytab) `ca_file` is required (the DCs' own CA, not the system's trust store). Setting
        /// both `servers` and `discover`, or neither, is a config error that names the key's line
        #[default_text = "(this or `servers`)"]
        discover: Option<String>,
        /// with `discover`: the DNS server to ask, `"IP"` or `"IP:PORT"` (`"[IPv6]:PORT"`)
        #[default_text = "the system resolver"]
        dns_server: Option<String>,
        /// upgrade the `ldap://` connections with StartTLS; may be combined with `ldaps://` URLs
        /// in the same source, which use TLS directly
        starttls: bool = false,
        /// lab only: allow the simple bind on `ldap://` URLs without StartTLS, i.e. send the
        /// password in cleartext; every run warns about it
        insecure_cleartext_bind: bool = false,
        /// PEM file of the CA(s) that issued the servers' certificates
        #[default_text = "system trust store"]
        ca_file: Option<String>,
        /// when a server's certificate has no DNS subjectAltName at all (Samba's autogenerated
        /// certificate, old AD CS templates), match the URL's host name against its subject CN
        /// (exact, case-insensitive); the chain, dates and signatures are verified as always, and
        /// a certificate issued under an intermediate CA with name constraints never falls back
        /// (those constraints apply to subjectAltNames only). Off, such a certificate is refused
        /// with a message naming this key and the proper fix, a certificate with subjectAltName
        tls_cn_fallback: bool = false,
        /// connect timeout, and timeout of every LDAP operation
        timeout: String = "10s",
        /// the source's whole read, connecting included: a server that keeps sending (slowly, or
        /// for ever) is cut off then
        read_timeout: String = "30m",
        /// entries in the search
        max_entries: u64 = 10000000,
        /// values of one attribute of one entry, all ranges together
        max_values: u64 = 100000,
        /// bytes of one value
        max_value_bytes: u64 = 65536,
        /// bytes of one LDAP message (one entry), refused from its header, before it is read
        max_message_bytes: u64 = 16777216,
        /// bytes the server sends on one connection
        max_read_bytes: u64 = 4294967296,
        /// search base, e.g. `"DC=example,DC=com"`
        #[default_text = "(required)"]
        base_dn: String,
        /// users with and without mailboxes, contacts, groups, public folders and dynamic
        /// distribution lists that have a `mailNickname`
        #[default_text = "the Exchange recipient filter"]
        filter: Option<String>,
        /// entries per page (AD's MaxPageSize is 1000)
        page_size: u32 = 1000,
        /// DN or UPN (`svc-rcptsync@example.com`) for a simple bind
        #[default_text = "anonymous"]
        bind_dn: Option<String>,
        /// file holding the password (one line); must be a regular file owned by the user
        /// rcptsync runs as (or root) that group and others cannot access (`chmod 600`)
        #[default_text = "`$RCPTSYNC_BIND_PASSWORD`"]
        bind_password_file: Option<String>,
        /// Kerberos instead of a password (with `principal`; not with `bind_dn`): the keytab
        /// exported for the service account, checked as `bind_password_file` is (regular file,
        /// owned by the user rcptsync runs as or root, `chmod 600`). rcptsync logs in from it
        /// by itself into a private in-memory cache (no kinit, no shared cache); realm and
        /// KDCs come from `/etc/krb5.conf` or `$KRB5_CONFIG`. On `ldap://` the session is
        /// sealed (Kerberos encryption, which DCs requiring LDAP signing accept), on `ldaps://`
        /// and StartTLS the tls-server-end-point channel binding is sent (AD's strictest
        /// channel-binding policy). The server's host name in the URL must be the one its
        /// `ldap/HOST` service principal is registered for. Needs a build with Kerberos (the
        /// Debian package; `cargo build --features kerberos`)
        #[default_text = "(none)"]
        keytab: Option<String>,
        /// the principal in `keytab` to log in as, with its realm: `"svc-rcptsync@EXAMPLE.COM"`
        /// (`klist -k KEYTAB` lists them)
        #[default_text = "(none)"]
        principal: Option<String>,
    }
}
