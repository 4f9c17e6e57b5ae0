//! The relay domains table across the real chain: `sync` on the internal host carries the
//! accepted domains after the map, OpenSSH's forced `receive` stores them, and `apply` as
//! root installs them as the `cdb:` table that the gateway's `relay_domains` names, within
//! its own `[install].relay_domains_allowed`. A domain newly accepted is relayed (250 where
//! it was "Relay access denied"); as the spool account, a payload that adds a domain outside
//! the allowed patterns, or drops one while keeping its addresses, is refused with exit 3
//! and every live table byte-identical; a domain removed with its addresses trips the
//! gateway's removal guard like the addresses.

use std::path::Path;

use crate::fixture::postfix::Postfix;
use crate::fixture::sshd::Sshd;
use crate::library::payload_with_domains;
use crate::support::{Run, rcptsync};

/// A gateway relaying the domains of its `cdb:` relay domains table (max_removed = 5), and
/// an internal host with a list source pushing to it over ssh.
struct Chain {
    postfix: Postfix,
    sshd: Sshd,
    internal: tempfile::TempDir,
}

impl Chain {
    fn new() -> Self {
        let postfix = Postfix::configure("cdb");
        let sshd = Sshd::start(Some(&postfix.path("spool")));
        let internal = tempfile::tempdir().unwrap();
        let table = format!("cdb:{}", postfix.path("maps/relay_domains").display());
        fs_err::write(
            postfix.path("gateway.toml"),
            format!(
                "{}relay_domains_map = \"{table}\"\n\
                 relay_domains_allowed = [\"example.com\", \"*.example.net\"]\n\
                 [safety]\nmax_removed = 5\nmax_removed_percent = 100\n",
                postfix.install_toml(),
            ),
        )
        .unwrap();
        let chain = Self {
            postfix,
            sshd,
            internal,
        };
        chain.accept(&["example.com"]);
        let people: String = (0..20).map(|i| format!("u{i}@example.com\n")).collect();
        chain.directory(&people);
        chain.sync().ok();
        chain.apply().ok();
        assert_eq!(chain.table(), "example.com OK\n");
        // relay_domains names the table rcptsync installs; doctor said it did not.
        let doctor = chain.doctor();
        assert!(
            doctor
                .stdout
                .contains(&format!("relay_domains does not name {table}")),
            "{doctor}"
        );
        let main_cf = chain.postfix.path("etc/main.cf");
        let text = fs_err::read_to_string(&main_cf).unwrap();
        fs_err::write(
            &main_cf,
            // The probes come from 127.0.0.1, which must not be let relay anywhere.
            text.replace(
                "relay_domains = example.com\n",
                &format!("relay_domains = {table}\n"),
            )
            .replace("permit_mynetworks, reject_unauth", "reject_unauth"),
        )
        .unwrap();
        let doctor = chain.doctor();
        assert!(
            !doctor.stdout.contains("relay_domains does not name"),
            "{doctor}"
        );
        let mut chain = chain;
        chain.postfix.start();
        chain
    }

    fn dir(&self) -> &Path {
        self.internal.path()
    }

    /// The internal host's config, accepting `domains`.
    fn accept(&self, domains: &[&str]) {
        let quoted: Vec<String> = domains.iter().map(|d| format!("\"{d}\"")).collect();
        fs_err::write(
            self.dir().join("rcptsync.toml"),
            format!(
                "[[source]]\nname = \"people\"\nkind = \"list\"\npath = \"list.txt\"\n\
                 [recipients]\ndomains = [{}]\n[output]\npath = \"out/relay_recipients\"\n\
                 [safety]\nmax_removed_percent = 100\nmax_removed = 1000\n{}",
                quoted.join(", "),
                self.sshd.gateway_toml("mx1")
            ),
        )
        .unwrap();
    }

    fn directory(&self, list: &str) {
        fs_err::write(self.dir().join("list.txt"), list).unwrap();
    }

    fn sync(&self) -> Run {
        rcptsync(self.dir(), &["sync", "-c", "rcptsync.toml"])
    }

    fn apply(&self) -> Run {
        self.postfix.rcptsync(&["apply"])
    }

    fn doctor(&self) -> Run {
        self.postfix.rcptsync(&["-v", "doctor"])
    }

    fn table(&self) -> String {
        fs_err::read_to_string(self.postfix.path("maps/relay_domains")).unwrap()
    }
}

#[test]
fn a_newly_accepted_domain_is_relayed_after_sync_and_apply() {
    let chain = Chain::new();
    let postfix = &chain.postfix;
    assert_eq!(postfix.rcpt("u1@example.com").0, 250);
    let (code, text) = postfix.rcpt("ann@sales.example.net");
    assert_eq!(code, 554, "{text}");
    assert!(text.contains("Relay access denied"), "{text}");

    // Exchange accepts a new domain, and a mailbox gets an address there.
    chain.accept(&["example.com", "sales.example.net"]);
    let people: String = (0..20).map(|i| format!("u{i}@example.com\n")).collect();
    chain.directory(&format!("{people}ann@sales.example.net\n"));
    let synced = chain.sync().ok();
    assert!(
        synced.stdout.contains("mx1: pushed 21 recipients"),
        "{synced}"
    );
    let applied = chain.apply().ok();
    assert!(
        applied
            .stdout
            .contains("2 relay domains (added: sales.example.net; removed: none)"),
        "{applied}"
    );
    assert_eq!(chain.table(), "example.com OK\nsales.example.net OK\n");
    let (code, text) = postfix.rcpt("ann@sales.example.net");
    assert_eq!(code, 250, "{text}");
    assert_eq!(postfix.rcpt("nobody@sales.example.net").0, 550);

    // A wildcard accepted. Postfix's default parent_domain_matches_subdomains lists
    // relay_domains: Postfix would look up no `.example.net`, and the wildcard's line would be
    // example.net, which relay_domains_allowed does not cover: refused, with the fix, and the
    // tables left as they are (doctor notes the setting too).
    chain.accept(&["example.com", "sales.example.net", "*.example.net"]);
    let synced = chain.sync().ok();
    assert!(
        synced.stdout.contains("mx1: pushed 21 recipients"),
        "{synced}"
    );
    let before = chain.postfix.live();
    let refused = chain.apply().code(3);
    assert!(
        refused
            .stderr
            .contains("relay domain \"*.example.net\" would relay example.net itself too"),
        "{refused}"
    );
    assert_eq!(chain.postfix.live(), before);
    assert!(
        chain
            .doctor()
            .stdout
            .contains("parent_domain_matches_subdomains lists relay_domains"),
    );

    // Without relay_domains there, apply writes the wildcard as `.example.net`: subdomains
    // only, and only the table changes (the map is left alone); the next sync has nothing to
    // push. doctor has nothing more to say about it.
    let main_cf = postfix.path("etc/main.cf");
    let text = fs_err::read_to_string(&main_cf).unwrap();
    fs_err::write(
        &main_cf,
        format!("{text}parent_domain_matches_subdomains = smtpd_access_maps\n"),
    )
    .unwrap();
    let map_before = fs_err::read(postfix.map_path()).unwrap();
    let applied = chain.apply().ok();
    assert!(
        applied
            .stdout
            .contains("3 relay domains (added: .example.net; removed: none)"),
        "{applied}"
    );
    assert_eq!(fs_err::read(postfix.map_path()).unwrap(), map_before);
    assert_eq!(
        chain.table(),
        ".example.net OK\nexample.com OK\nsales.example.net OK\n"
    );
    assert_eq!(
        postfix.rcpt("x@eu.example.net").0,
        550,
        "relayed, not listed"
    );
    let (code, text) = postfix.rcpt("x@example.net");
    assert_eq!(code, 554, "{text}");
    let again = chain.sync().ok();
    assert!(again.stdout.is_empty(), "{again}");
    assert_eq!(chain.apply().ok().stdout, "");
    let doctor = chain.doctor();
    assert!(
        !doctor.stdout.contains("parent_domain_matches_subdomains"),
        "{doctor}"
    );
}

#[test]
fn the_spool_account_cannot_add_a_domain_or_drop_one_under_its_addresses() {
    let chain = Chain::new();
    let before = chain.postfix.live();
    let map = fs_err::read_to_string(chain.postfix.map_path()).unwrap();
    let spool = |bytes: &[u8]| {
        fs_err::write(chain.postfix.path("spool/relay_recipients"), bytes).unwrap();
    };
    for (domains, said) in [
        (
            "example.com\nevil.test\n",
            "relay domain \"evil.test\" is not within [install].relay_domains_allowed",
        ),
        (
            "example.com\n*.net\n",
            "relay domain \"*.net\" is not within [install].relay_domains_allowed",
        ),
        (
            "example.com\nexample.com OK\n",
            "relay domain line 2: \"example.com OK\" is not a domain name",
        ),
    ] {
        spool(&payload_with_domains(map.as_bytes(), domains));
        let refused = chain.apply().code(3);
        assert!(refused.stderr.contains(said), "{domains:?}: {refused}");
        assert!(
            refused.stderr.contains("the installed map is unchanged"),
            "{refused}"
        );
        assert_eq!(chain.postfix.live(), before, "{domains:?}");
    }
    assert_eq!(chain.postfix.rcpt("x@evil.test").0, 554);

    // The map as it is, but example.com no longer relayed: its twenty addresses would lose
    // their relay, which is a removal of twenty past max_removed = 5.
    spool(&payload_with_domains(map.as_bytes(), "sales.example.net\n"));
    let refused = chain.apply().code(3);
    assert!(
        refused
            .stderr
            .contains("20 address(es) of the map are in relay domains the payload removes"),
        "{refused}"
    );
    assert_eq!(chain.postfix.live(), before);
    assert_eq!(chain.postfix.rcpt("u1@example.com").0, 250);

    // The same with more domains in front than apply's report counts: every address that
    // loses its relay is still counted.
    let mut padded: String = (0..1200).map(|i| format!("a@d{i:05}.test OK\n")).collect();
    padded.push_str(&map);
    spool(&payload_with_domains(padded.as_bytes(), ""));
    let refused = chain.apply().code(3);
    assert!(
        refused
            .stderr
            .contains("20 address(es) of the map are in relay domains the payload removes"),
        "{refused}"
    );
    assert_eq!(chain.postfix.live(), before);
}

#[test]
fn a_domain_removed_with_its_addresses_trips_the_gateways_guard() {
    let chain = Chain::new();
    chain.accept(&["example.com", "sales.example.net"]);
    let people: String = (0..20).map(|i| format!("u{i}@example.com\n")).collect();
    let sales: String = (0..10)
        .map(|i| format!("s{i}@sales.example.net\n"))
        .collect();
    chain.directory(&format!("{people}{sales}"));
    chain.sync().ok();
    chain.apply().ok();
    assert_eq!(chain.postfix.rcpt("s1@sales.example.net").0, 250);
    let before = chain.postfix.live();

    // The domain goes from the accepted domains (the internal host allows it); the gateway's
    // guard counts its ten addresses and refuses map and table alike.
    chain.accept(&["example.com"]);
    chain.sync().ok();
    let refused = chain.apply().code(3);
    assert!(refused.stderr.contains("max_removed"), "{refused}");
    assert_eq!(chain.postfix.live(), before);
    assert_eq!(chain.postfix.rcpt("s1@sales.example.net").0, 250);
    // --force is the admin's word for it.
    let forced = chain.postfix.rcptsync(&["apply", "--force"]).ok();
    assert!(
        forced.stdout.contains("removed: sales.example.net"),
        "{forced}"
    );
    assert_eq!(chain.table(), "example.com OK\n");
    assert_eq!(chain.postfix.rcpt("s1@sales.example.net").0, 554);
}
