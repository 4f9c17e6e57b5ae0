//! Every path into the rcptsync library that the tests use, in one place: when `src/` is
//! reorganised, this file is the one to follow it. Tests use the library only where the
//! binary cannot show what they check (a server stopped in the middle of a search, a payload
//! built by the sender's own code, the config that import-ini wrote).

pub use rcptsync::config::{Config, SourceKind};
pub use rcptsync::source::ldap::{self, DEFAULT_FILTER, LdapSourceConfig};

/// Changes one object in the store at `path` behind the change feed's back, keeping what the
/// store stands for: what an incremental read that missed a change would leave.
pub fn falsify_store(path: &std::path::Path, source: &str, dn: &str, proxy: &str) {
    let (store, meta) = rcptsync::store::Store::open(path).unwrap().unwrap();
    let txn = store.begin().unwrap();
    {
        let mut tables = txn.tables().unwrap();
        let (id, mut entry) = tables
            .objects(source)
            .unwrap()
            .map(Result::unwrap)
            .find(|(_, e)| e.dn.eq_ignore_ascii_case(dn))
            .unwrap_or_else(|| panic!("no {dn} in the store"));
        entry.proxy_addresses = vec![proxy.to_owned()];
        tables.replace(source, &id, Some(&entry)).unwrap();
    }
    txn.commit(&meta).unwrap();
}

/// The first source of the config at `path`, which must be an LDAP source.
pub fn ldap_source(path: &std::path::Path) -> LdapSourceConfig {
    let mut config = Config::load(path).unwrap();
    match config.sources.remove(0).kind {
        SourceKind::Ldap(source) => *source,
        other => panic!(
            "{}: the first source is not LDAP: {other:?}",
            path.display()
        ),
    }
}

/// Connects to `source` as extract does: the bind password read first, then the servers.
pub fn connect(source: &LdapSourceConfig) -> ldap::Connection {
    let credentials = source.credentials().unwrap();
    ldap::connect(source, &credentials).unwrap()
}

/// The payload `push` sends for the map text `body` (and `receive` stores in the spool).
pub fn payload(body: &[u8]) -> Vec<u8> {
    [header(body).text.as_bytes(), b"\n", body].concat()
}

/// A payload (version 2) of the map text `body` carrying `approval` after it, as push sends
/// one.
pub fn payload_with_approval(body: &[u8], approval: &str) -> Vec<u8> {
    let header = header(body).with_parts(None, Some(approval.len() as u64));
    [header.text.as_bytes(), b"\n", body, approval.as_bytes()].concat()
}

/// A payload (version 3) of the map text `body` carrying the relay domains `domains` (one a
/// line) after it, as push sends one.
pub fn payload_with_domains(body: &[u8], domains: &str) -> Vec<u8> {
    let header = header(body).with_parts(Some(domains.len() as u64), None);
    [header.text.as_bytes(), b"\n", body, domains.as_bytes()].concat()
}

/// The header `push` makes for the map text `body`.
fn header(body: &[u8]) -> rcptsync::map::payload::Header {
    use rcptsync::map::payload::{Header, count_entries};
    Header::new(
        body.len() as u64,
        count_entries(body),
        &rcptsync::map::digest::sha256_hex(body),
        "test",
        std::time::SystemTime::now(),
    )
}

/// The text of an approval of `removals`, valid for an hour, signed with the private key
/// at `key` (as `rcptsync approve` would sign it): an approval the test can aim at another
/// change than the one held.
pub fn approval(removals: &[&str], key: &std::path::Path) -> String {
    use rcptsync::hold::{Removals, approval};
    let key = approval::load_key(key).unwrap();
    let set = Removals::new(removals.iter().map(|r| r.to_string()).collect());
    approval::Approval::new(set, std::time::Duration::from_secs(3600), Some(&key))
        .unwrap()
        .to_text()
        .unwrap()
}

/// The map text of the payload `bytes`: the header's `length` bytes after its blank line
/// (the parts after them, relay domains and approval, left out).
pub fn body(bytes: &[u8]) -> &[u8] {
    let mut input = bytes;
    let header = rcptsync::map::payload::Header::read(&mut input).expect("a payload header");
    &input[..usize::try_from(header.length).unwrap()]
}

/// Replaces the record of the object with DN `dn` in the store at `path` with bytes that are
/// no record, keeping what the store stands for: a store damaged inside.
pub fn damage_store_record(path: &std::path::Path, source: &str, dn: &str) {
    let (store, meta) = rcptsync::store::Store::open(path).unwrap().unwrap();
    let txn = store.begin().unwrap();
    {
        let mut tables = txn.tables().unwrap();
        let (id, _) = tables
            .objects(source)
            .unwrap()
            .map(Result::unwrap)
            .find(|(_, e)| e.dn.eq_ignore_ascii_case(dn))
            .unwrap_or_else(|| panic!("no {dn} in the store"));
        tables.put_record(source, &id, b"not a record").unwrap();
    }
    txn.commit(&meta).unwrap();
}

/// Makes the store at `path` and the state file beside it say that the last full read was
/// long ago, as if `[safety].full_every` had passed: the next run is a full reconcile.
pub fn age_store(path: &std::path::Path) {
    let (store, mut meta) = rcptsync::store::Store::open(path).unwrap().unwrap();
    meta.full_at = 1;
    store.begin().unwrap().commit(&meta).unwrap();
    let state = path.with_extension("state");
    let text = fs_err::read_to_string(&state).unwrap();
    let aged: String = text
        .lines()
        .map(|l| match l.starts_with("full_at = ") {
            true => "full_at = 1\n".to_owned(),
            false => format!("{l}\n"),
        })
        .collect();
    fs_err::write(&state, aged).unwrap();
}
