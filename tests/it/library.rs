//! Every path into the rcptsync library that the tests use, in one place: when `src/` is
//! reorganised, this file is the one to follow it. Tests use the library only where the
//! binary cannot show what they check (a server stopped in the middle of a search, a payload
//! built by the sender's own code, the config that import-ini wrote).

pub use rcptsync::config::{Config, SourceKind};
pub use rcptsync::map::payload::Payload;
pub use rcptsync::source::ldap::{self, DEFAULT_FILTER, LdapSourceConfig};

/// The first source of the config at `path`, which must be an LDAP source.
pub fn ldap_source(path: &std::path::Path) -> LdapSourceConfig {
    let mut config = Config::load(path).unwrap();
    match config.sources.remove(0).kind {
        SourceKind::Ldap(source) => source,
        other => panic!(
            "{}: the first source is not LDAP: {other:?}",
            path.display()
        ),
    }
}
