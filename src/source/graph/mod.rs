//! `kind = "graph"`: a Microsoft 365 / Entra ID tenant read through Microsoft Graph v1.0.
//!
//! The cloud half of a hybrid organisation (or all of a cloud-only one) has no LDAP to read:
//! its recipients are Graph's users, mail-enabled groups and org contacts. A run gets an
//! application token with the client-credentials grant ([`Credentials`]: a client secret, or a
//! certificate whose key signs a client assertion), then lists each collection completely
//! ([`Client::read`]), following `@odata.nextLink` pages. Each object becomes an [`Entry`](crate::rules::Entry) named
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
//! after its bounded retries, a nextLink that repeats, is longer than [`MAX_LINK`] or leads away
//! from `graph_url`, a body over [`MAX_BODY`], more than [`MAX_PAGES`] pages, a read that
//! outlasts `read_timeout`.
//!
//! Security: needs only the read-only application permissions User.Read.All, Group.Read.All,
//! OrgContact.Read.All and Domain.Read.All. HTTPS is required for every URL, certificates are
//! verified (system store plus `ca_file`), redirects are not followed, and the token is sent
//! only to `graph_url`'s origin (a link is parsed and must name the same scheme, host and port,
//! with no user name and nothing a parser would silently drop or rewrite). The secret, the key
//! and the token are never logged. Graph and the token authority are trusted to authenticate
//! the application, not with the host's logs or memory: every name they send that reaches a
//! message (object id, UPN, error code and message, a link) is quoted and escaped when it is not
//! plain, and a page is parsed into the few properties rcptsync selected, one object at a time,
//! so that what one answer can cost is bounded by [`MAX_BODY`] and `page::MAX_VALUES`.

mod auth;
mod changes;
pub mod config;
mod http;
mod page;
mod read;
pub(crate) mod reader;

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

pub use auth::Credentials;
pub use changes::Delta;

/// The largest response body accepted; a larger one is refused without reading past the limit.
/// A page is at most 999 objects (`$top=999`) of the four or five properties rcptsync selects:
/// about 1 KiB per object even with a dozen addresses, under 1 MiB a page. 16 MiB leaves room
/// for an average of some 300 addresses on every object of a page (Exchange Online allows 400
/// on one), while what a page costs (its body, the largest string in it and one object: see
/// `page.rs`) stays a few tens of MiB.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;
/// The longest `@odata.nextLink` or `@odata.deltaLink` accepted. Graph's links are its origin,
/// the path and query of the request, and a skip or delta token of some hundred bytes to a few
/// KiB; a link of more than 16 KiB is not Graph's, and each one is kept until the next page.
pub const MAX_LINK: usize = 16 * 1024;
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
    /// Apply the delta rounds to the store (`incremental`).
    pub incremental: bool,
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
/// `contacts`): the Graph source's [`Cursor`](crate::source::Cursor), kept in the state file
/// between runs.
pub type DeltaLinks = crate::source::Cursor;

/// Why the tenant could not be read; in every case nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The secret file or certificate file is refused (the admin's to fix).
    #[error(transparent)]
    Secret(#[from] crate::secret::Error),
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
    /// the one message must not print the cause twice; a failed request already says that
    /// nothing was written.)
    #[error("{}", incomplete(.0))]
    Incomplete(Box<Error>),
}

fn incomplete(cause: &Error) -> String {
    match cause {
        Error::Request { .. } | Error::Incomplete(_) => cause.to_string(),
        _ => format!("{cause}; the result would be incomplete, so nothing was written"),
    }
}

/// The longest name shown as it is; a longer one is quoted, and so cut.
const PLAIN: usize = 256;
/// The most characters of Graph's own words (an error message) a message quotes.
const SAID: usize = 400;

/// A name Graph gave (an object id, a UPN, an error code, a link without its query) as
/// messages show it: as it is when it is plain, that is printable ASCII without space, quote,
/// parenthesis or backslash (every GUID, URL and ordinary UPN), else quoted, escaped and cut as
/// a rejected directory value is ([`crate::rules::address::quote`]). Said raw, a newline in a
/// name would forge a line of the cron mail and an escape sequence would drive the admin's
/// terminal; a plain name has no quote, so it never passes for a quoted one.
fn shown(name: &str) -> Cow<'_, str> {
    let plain = !name.is_empty()
        && name.len() <= PLAIN
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"()\\".contains(&b));
    if plain {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(crate::rules::address::quote(name))
    }
}

/// Graph's or the authority's own words (`error.message`, `error_description`) as messages
/// show them: always quoted and escaped (they are sentences, never plain), and cut after
/// [`SAID`] characters, with the length, since any answer can be as long as [`MAX_BODY`].
fn said(text: &str) -> String {
    crate::rules::address::quote_at_most(text, SAID)
}

/// `text` with every character that could end or redraw a line or steer a terminal (control
/// characters, Unicode line and paragraph separators, bidirectional overrides) escaped: the
/// last guard on a message about a request, whose parts each say where they came from, so
/// that no path into it (a transport error, a parser's message) can print them raw.
fn escape_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = crate::rules::address::unsafe_char;
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
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
