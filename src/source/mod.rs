//! Sources of recipients: a directory (LDAP, or an LDIF export of one), a Microsoft 365
//! tenant (Graph) or a plain list.
//!
//! A source only reads; it never decides what is a valid recipient. Directory sources turn
//! each object into an [`Entry`] holding just the attributes the
//! recipient rules look at, so that the rules (in [`crate::rules`]) are the same whatever the
//! transport. Any read error is
//! fatal for the run: a partial read must never reach the map.
//!
//! Every kind of source is one [`Reader`]: extract (and whatever else reads a source) opens
//! it, asks for its change mark and its accepted domains, and reads it, without knowing which
//! kind it is. Only [`Source::reader`] looks at the kind.
//!
//! Security: sources need read access to the directory and to their files, nothing more.

pub mod ber;
pub mod config;
mod file;
pub mod graph;
pub mod ldap;
pub mod ldif;
pub mod list;

use std::path::PathBuf;

use crate::rules::Entry;
use graph::GraphSourceConfig;
use ldap::LdapSourceConfig;
use ldap::exchange::AcceptedDomains;

/// One `[[source]]`, checked.
#[derive(Debug, Clone)]
pub struct Source {
    /// The label used in logs and reports.
    pub name: String,
    /// What to read.
    pub kind: SourceKind,
}

/// What a source reads.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A live directory.
    Ldap(Box<LdapSourceConfig>),
    /// An LDIF export at this path.
    Ldif(PathBuf),
    /// A list of addresses at this path.
    List(PathBuf),
    /// A Microsoft 365 tenant.
    Graph(GraphSourceConfig),
}

/// Where a source that reads changes starts its next look (Graph: the deltaLink of each
/// collection), as named strings: kept in the state file from one full read to the next,
/// opaque to everyone but the source that wrote it.
pub type Cursor = std::collections::BTreeMap<String, String>;

/// What a source hands on: a directory object for the recipient rules, or an address line of
/// a list (its place, `FILE:LINE`, names it in a rejection).
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// An object of a directory (LDAP, LDIF, Graph).
    Entry(&'a Entry),
    /// An object of a directory that reads its changes ([`Reader::feed`]), with its stable
    /// identity, under which the store keeps it.
    Object {
        /// The identity (entryUUID).
        id: &'a str,
        /// The object.
        entry: &'a Entry,
    },
    /// One address of a list.
    Listed {
        /// `FILE:LINE`.
        at: &'a str,
        /// The address as written.
        address: &'a str,
    },
}

/// What a full read leaves for the next run.
#[derive(Debug, Default)]
pub struct Read {
    /// Where the next run's change mark starts (Graph's deltaLinks).
    pub cursor: Option<Cursor>,
    /// The change mark that stands for what was read, when only the read itself can tell it
    /// (Graph); None keeps the mark read before the read.
    pub mark: Option<String>,
}

/// How a source reads only what changed ([`Reader::feed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// The method, for status and the logs (`syncrepl`).
    pub method: &'static str,
    /// The server (and naming context) a cursor belongs to: a cursor of another one means a
    /// full read.
    pub identity: String,
}

/// One change, from [`Reader::read_changes`].
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// The object is (now) a recipient object as given: added, changed, moved in.
    Changed {
        /// Its identity.
        id: &'a str,
        /// The object as it is now.
        entry: &'a Entry,
    },
    /// The object is no recipient object any more (deleted, moved out, no longer matching
    /// the filter), or never was one: the store forgets it, if it knew it.
    Gone {
        /// Its identity.
        id: &'a str,
    },
}

/// What a read of changes leaves.
#[derive(Debug, Default)]
pub struct Changes {
    /// Where the next read of changes starts.
    pub cursor: Cursor,
    /// When the source could not tell deletions, the identities still there: every object
    /// of the store neither in it nor changed is gone.
    pub present: Option<std::collections::HashSet<String>>,
    /// Objects the directory said changed (for the report: an incremental read must read
    /// only those).
    pub changed: usize,
}

/// A source ready to be read: its secrets are read, nothing is connected yet.
///
/// The steps come in this order: [`open`](Reader::open), then any of
/// [`change_mark`](Reader::change_mark) and [`accepted_domains`](Reader::accepted_domains),
/// then at most one [`read`](Reader::read).
pub trait Reader {
    /// Connects and authenticates, so that a refused login fails the run before anything is
    /// read (a file source has nothing to open).
    fn open(&mut self) -> Result<(), Error>;

    /// A mark that moves whenever the source's content may have changed; None when it cannot
    /// be told (then the run reads in full). `cursor` is what the last full read left (None
    /// to force a full read). A mark that cannot be had only costs the shortcut: it is
    /// logged, never an error.
    fn change_mark(&mut self, cursor: Option<&Cursor>) -> Option<String>;

    /// Exchange's accepted domains, for `domains = "exchange"`; None when this kind of source
    /// cannot tell them.
    fn accepted_domains(&mut self) -> Option<Result<AcceptedDomains, Error>>;

    /// Reads everything, each item to `each`; any error means the read is incomplete. A
    /// source with a [`feed`](Reader::feed) hands its objects as [`Item::Object`].
    fn read(&mut self, each: &mut dyn FnMut(Item<'_>)) -> Result<Read, Error>;

    /// For `check --connect`: connects and tries what a run needs, without reading more than
    /// it must (an LDAP server: the bind, the base DN, one entry, paging, the change feed);
    /// what it found, a line each. A file is read whole, which costs little.
    fn check(&mut self) -> Result<Vec<String>, Error> {
        self.open()?;
        let mut items = 0usize;
        self.read(&mut |_| items += 1)?;
        Ok(vec![format!(
            "{items} {} read",
            if items == 1 { "entry" } else { "entries" }
        )])
    }

    /// How this source reads only what changed; None when it cannot (then every read is a
    /// full one). Asked after [`open`](Reader::open), before anything is read.
    fn feed(&mut self) -> Result<Option<Feed>, Error> {
        Ok(None)
    }

    /// Where a read of changes would start now: taken before a full read, so that the next
    /// read of changes also sees what changed while the full read ran.
    fn cursor_now(&mut self) -> Result<Cursor, Error> {
        Ok(Cursor::new())
    }

    /// Reads what changed since `cursor`, each change to `each`; None when the cursor is no
    /// longer valid (the run reads in full instead). Any error means the read is
    /// incomplete.
    fn read_changes(
        &mut self,
        _cursor: &Cursor,
        _each: &mut dyn FnMut(Change<'_>),
    ) -> Result<Option<Changes>, Error> {
        Ok(None)
    }

    /// For `watch`: calls `wake` whenever the source changes, as the server announces it,
    /// until `stop` is set ([`Followed::Stopped`]); an error when the source fails (watch
    /// connects again, and the next read catches up). [`Followed::Unsupported`] at once when
    /// the source announces nothing: watch then asks for its change mark every so often.
    fn follow(
        &mut self,
        _stop: &std::sync::atomic::AtomicBool,
        _wake: &mut dyn FnMut(),
    ) -> Result<Followed, Error> {
        Ok(Followed::Unsupported)
    }
}

/// How [`Reader::follow`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// Asked to stop.
    Stopped,
    /// The source does not announce its changes.
    Unsupported,
}

impl Source {
    /// The reader of this source, with its bind password, keytab or Graph credential read
    /// now, before anything connects ([`Error::is_usage`]).
    pub fn reader(&self) -> Result<Box<dyn Reader + '_>, Error> {
        let fail = |cause| Error {
            source_name: self.name.clone(),
            cause: Box::new(cause),
        };
        Ok(match &self.kind {
            SourceKind::Ldap(config) => Box::new(ldap::reader::Reader::new(
                &self.name,
                config,
                config
                    .credentials()
                    .map_err(|e| fail(Cause::Credentials(Box::new(e))))?,
            )),
            SourceKind::Graph(config) => Box::new(graph::reader::Reader::new(
                &self.name,
                config,
                config
                    .credentials()
                    .map_err(|e| fail(Cause::Credentials(Box::new(e))))?,
            )),
            SourceKind::Ldif(path) => Box::new(file::Reader::ldif(&self.name, path)),
            SourceKind::List(path) => Box::new(file::Reader::list(&self.name, path)),
        })
    }
}

/// Why a source could not be used; named by the source.
#[derive(Debug, thiserror::Error)]
#[error("source {source_name}")]
pub struct Error {
    /// The source's name.
    pub source_name: String,
    /// What went wrong.
    #[source]
    pub cause: Box<Cause>,
}

impl Error {
    /// Whether the admin must fix the configuration or a secret file (exit 2) rather than
    /// retry or fix the directory (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(*self.cause, Cause::Credentials(_))
    }
}

/// What went wrong with a source.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The bind password, keytab or Graph credential was refused.
    #[error(transparent)]
    Credentials(Box<dyn std::error::Error + Send + Sync>),
    /// Exchange's accepted domains could not be read.
    #[error("accepted domains")]
    AcceptedDomains(#[source] Box<Cause>),
    /// The directory could not be read.
    #[error(transparent)]
    Ldap(#[from] ldap::Error),
    /// The tenant could not be read.
    #[error(transparent)]
    Graph(#[from] graph::Error),
    /// The LDIF file could not be read.
    #[error(transparent)]
    Ldif(#[from] ldif::Error),
    /// The list could not be read.
    #[error(transparent)]
    List(#[from] std::io::Error),
}

/// An error and its causes in one line, each said once: the libraries (ldap3, ureq, rustls)
/// wrap the cause that names the fix (an unknown issuer, a timeout) several layers deep.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        source = e.source();
    }
    text
}
