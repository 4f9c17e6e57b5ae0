//! `kind = "graph"`: a Microsoft 365 / Entra ID tenant read through Microsoft Graph v1.0.
//!
//! The cloud half of a hybrid organisation (or all of a cloud-only one) has no LDAP to read:
//! its recipients are Graph's users, mail-enabled groups and org contacts. A run gets an
//! application token with the client-credentials grant ([`Credentials`]: a client secret, or a
//! certificate whose key signs a client assertion), then lists each collection completely
//! ([`Client::read`]), following `@odata.nextLink` pages. Each object becomes an [`Entry`](crate::source::Entry) named
//! `graph user <id>` (group, contact) so that a rejected value points at the object to fix; the
//! recipient rules are the same as for Active Directory. Guests are never exported; disabled
//! users stay (shared mailboxes are disabled users).
//!
//! Delta queries make frequent runs cheap: after a full read the source keeps one deltaLink per
//! collection in the state file; the next run replays them, and when every round reports no
//! change (and nothing else moved) the listing is skipped. Any change, or an expired token
//! (HTTP 410), means a full read: the delta answer is only ever used to decide *whether* to
//! read, never *what* the map holds.
//!
//! Anything short of a complete read is an [`Error`] and nothing is written: a page that fails
//! after its bounded retries, a nextLink that repeats or leads away from `graph_url`, a body over
//! [`MAX_BODY`], more than [`MAX_PAGES`] pages, a read that outlasts `read_timeout`.
//!
//! Security: needs only the read-only application permissions User.Read.All, Group.Read.All,
//! OrgContact.Read.All and Domain.Read.All. HTTPS is required for every URL, certificates are
//! verified (system store plus `ca_file`), redirects are not followed, and the token is sent
//! only to `graph_url`'s origin. The secret, the key and the token are never logged.

mod auth;
mod http;
mod read;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use auth::Credentials;
pub use read::Delta;

/// The largest response body accepted; a larger one is refused without reading past the limit
/// (a 999-object page of users is well under 10 MiB).
pub const MAX_BODY: u64 = 16 * 1024 * 1024;
/// The most pages one listing may take: 10 million objects at Graph's 999 per page, far beyond
/// any tenant; a chain longer than that is a loop, not a directory.
pub const MAX_PAGES: usize = 10_000_000 / 999 + 1;
/// A checked `kind = "graph"` source.
#[derive(Debug, Clone)]
pub struct GraphSourceConfig {
    /// The source's name, for messages.
    pub name: String,
    /// The tenant's domain (`contoso.onmicrosoft.com`) or id.
    pub tenant: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// How the application proves who it is.
    pub credential: CredentialFile,
    /// The token authority, `https://` without a trailing slash.
    pub authority: String,
    /// Graph's origin, `https://host[:port]`: the only place the token is sent.
    pub graph_url: String,
    /// Extra trust anchors, besides the system store.
    pub ca_file: Option<PathBuf>,
    /// The longest one HTTP request may take.
    pub timeout: Duration,
    /// The longest the whole read (token, delta rounds, listings, throttling waits) may take.
    pub read_timeout: Duration,
}

/// Where the application's credential is read from, before anything connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialFile {
    /// `client_secret_file`: the client secret, one line.
    Secret(PathBuf),
    /// `client_certificate`: a PEM file with the RSA private key and its certificate.
    Certificate(PathBuf),
}

/// The deltaLink of each collection after a full read, by collection (`users`, `groups`,
/// `contacts`); kept in the state file between runs.
pub type DeltaLinks = BTreeMap<String, String>;

/// Why the tenant could not be read; in every case nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The secret file or certificate file is refused (the admin's to fix).
    #[error(transparent)]
    Secret(#[from] crate::source::ldap::secret::Error),
    /// The certificate file holds no usable RSA key and certificate.
    #[error("client_certificate {}: {reason}", path.display())]
    Certificate {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong with it, and the fix.
        reason: String,
    },
    /// The CA file could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// A request failed for good (after the retries that apply).
    #[error(
        "tenant {tenant}: {endpoint}: {reason}; the result would be incomplete, so nothing was written"
    )]
    Request {
        /// The tenant as configured.
        tenant: String,
        /// The URL without its query (tokens and skip tokens stay out of logs).
        endpoint: String,
        /// What went wrong and, where known, the fix.
        reason: String,
    },
    /// A listing failed: what was read so far is not the tenant's content. (Not a `source`:
    /// the one message must not print the cause twice.)
    #[error("{0}; the result would be incomplete, so nothing was written")]
    Incomplete(Box<Error>),
}

/// A tenant ready to be read: an HTTP client and the application's credentials, with the
/// token fetched on first use and renewed when it expires.
#[derive(Debug)]
pub struct Client {
    http: http::Http,
    auth: auth::Auth,
    /// The digest of the accepted domains this run read (`domains = "exchange"`): kept with
    /// the deltaLinks, since no delta round covers `/domains`.
    domains: Option<String>,
}

impl Client {
    /// Gets the token now, so that a refused credential fails the source at once, in one
    /// message, before any delta round or listing.
    pub fn authenticate(&mut self) -> Result<(), Error> {
        self.auth.token(&self.http).map(|_| ())
    }
}

/// Sets up the client of `config` (no request is made yet).
pub fn connect(config: &GraphSourceConfig, credentials: Credentials) -> Result<Client, Error> {
    Ok(Client {
        http: http::Http::new(config)?,
        auth: auth::Auth::new(config, credentials),
        domains: None,
    })
}

impl GraphSourceConfig {
    /// The source's change mark for the state file, recorded after a full read and again
    /// whenever the delta rounds saw no change: constant, so that the snapshot comparison
    /// treats it like an unchanged LDAP mark (the deltaLinks themselves are kept beside it).
    pub fn mark(&self) -> String {
        format!("graph {} tenant={} unchanged", self.graph_url, self.tenant)
    }
}
