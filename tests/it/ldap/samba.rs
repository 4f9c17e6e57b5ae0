//! The LDAP source against a real Active Directory implementation (Samba AD DC): LDAPS with
//! the DC's CA and a UPN bind, accepted domains from the Configuration partition, the DC's
//! refusal of simple binds without TLS, StartTLS, referrals, ranged attribute retrieval.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::fixture::samba::Samba;
use crate::library;
use crate::support::rcptsync;

/// Writes `admin.pw` and a config for one LDAP source (`servers` and TLS keys in `source`)
/// binding as the domain administrator by UPN, with Exchange's accepted domains.
pub(super) fn samba_config(samba: &Samba, source: &str) {
    let dir = samba.dir();
    let pw = dir.join("admin.pw");
    fs_err::write(&pw, samba.admin_password()).unwrap();
    fs_err::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"samba\"\nkind = \"ldap\"\nbase_dn = \"{base}\"\n\
             bind_dn = \"{upn}\"\nbind_password_file = \"admin.pw\"\ntimeout = \"5s\"\n{source}\n\n\
             [recipients]\ndomains = \"exchange\"\nexclude_domains = ['legacy\\.example\\.test']\n\n\
             [output]\npath = \"out/relay_recipients\"\n",
            base = Samba::BASE_DN,
            upn = Samba::ADMIN_UPN,
        ),
    )
    .unwrap();
}

/// A config for LDAPS with the DC's CA, the usual way to reach a DC.
fn ldaps_config(samba: &Samba) {
    let ca = samba.ca_file().display();
    // Small pages, so that every read of the fixture's few recipients takes several.
    samba_config(
        samba,
        &format!(
            "servers = [\"{}\"]\nca_file = \"{ca}\"\npage_size = 2",
            samba.ldaps_url()
        ),
    );
}

pub(super) fn map(dir: &Path) -> Option<String> {
    fs_err::read_to_string(dir.join("out/relay_recipients")).ok()
}

/// The map the fixture's recipients must give.
pub(super) fn expected() -> String {
    let mut keys: BTreeSet<String> = [
        "alice.archer@example.test",  // primary SMTP, lower-cased
        "alice@example.test",         // (X500 and SIP skipped)
        "sales@example.test",         // disabled shared mailbox: still a recipient
        "carol.partner@example.test", // contact: only the accepted-domain address
        "bob@example.test",           // (bob@legacy.example.test excluded)
        "many@example.test",
    ]
    .map(String::from)
    .into();
    keys.extend((1..=30).map(|i| format!("many{i}@example.test")));
    keys.iter().map(|k| format!("{k} OK\n")).collect()
}

#[test]
fn ldaps_with_upn_bind_and_exchange_accepted_domains() {
    let samba = Samba::start();
    let dir = samba.dir();
    let ca = samba.ca_file().display().to_string();
    ldaps_config(&samba);
    let r = rcptsync(dir, &["-v", "extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(map(dir).unwrap(), expected());
    assert!(
        r.stderr.contains(
            "accepted domains from Exchange: *.sub.example.test, example.test \
             (external relay, not exported: relay.example.org)"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(samba.admin_password()));

    // The same DC with a CA that did not issue its certificate: refused, map untouched.
    let other = crate::fixture::tls::Certs::new(dir, "other");
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        config.replace(&ca, &other.ca.display().to_string()),
    )
    .unwrap();
    let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).code(1);
    assert!(
        r.stderr.contains("not signed by a trusted CA"),
        "{}",
        r.stderr
    );
    assert_eq!(map(dir).unwrap(), expected());
}

#[test]
fn simple_bind_without_tls_is_refused_and_explained_then_failover_and_starttls_work() {
    let samba = Samba::start();
    let dir = samba.dir();
    let ca = samba.ca_file().display().to_string();
    // rcptsync itself refuses to send the password in cleartext: a config error.
    samba_config(&samba, &format!("servers = [\"{}\"]", samba.ldap_url()));
    let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).code(2);
    assert!(
        r.stderr
            .contains("would receive the bind password of bind_dn in cleartext"),
        "{}",
        r.stderr
    );
    // With the lab opt-out the DC refuses it too, and rcptsync explains the refusal.
    samba_config(
        &samba,
        &format!(
            "servers = [\"{}\"]\ninsecure_cleartext_bind = true",
            samba.ldap_url()
        ),
    );
    let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).code(1);
    assert!(
        r.stderr.contains("refuses a simple bind without TLS (\"Strong(er) authentication required\"); use an ldaps:// URL or starttls = true"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("insecure_cleartext_bind = true: sending the bind password"),
        "{}",
        r.stderr
    );
    assert!(map(dir).is_none());

    // The plain URL first, LDAPS second: the bind refusal fails over to the next server
    // (insecure_cleartext_bind, so that the plain URL really tries a cleartext bind).
    samba_config(
        &samba,
        &format!(
            "servers = [\"{}\", \"{}\"]\nca_file = \"{ca}\"\ninsecure_cleartext_bind = true",
            samba.ldap_url(),
            samba.ldaps_url()
        ),
    );
    let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).ok();
    assert!(
        r.stderr.contains(&format!(
            "using {} after 1 failed server(s)",
            samba.ldaps_url()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(map(dir).unwrap(), expected());

    // StartTLS on the plain port satisfies the DC too.
    fs_err::remove_file(dir.join("out/relay_recipients")).unwrap();
    samba_config(
        &samba,
        &format!(
            "servers = [\"{}\"]\nstarttls = true\nca_file = \"{ca}\"",
            samba.ldap_url()
        ),
    );
    rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(map(dir).unwrap(), expected());
}

#[test]
fn domain_root_referrals_are_skipped_and_ranged_values_are_completed() {
    let samba = Samba::start();
    let dir = samba.dir();
    ldaps_config(&samba);
    let source = library::ldap_source(&dir.join("rcptsync.toml"));
    let mut connection = library::connect(&source);

    // A subtree search from the domain root meets references to other naming contexts.
    let stats = connection
        .search(Samba::BASE_DN, "(objectClass=*)", &["cn"], 1000, |_, _| {})
        .unwrap();
    assert!(stats.referrals > 0, "{stats:?}");
    // Samba sends the same paging cookie on every page of a search: it is followed to the end.
    let paged = connection
        .search(Samba::BASE_DN, "(objectClass=*)", &["cn"], 50, |_, _| {})
        .unwrap();
    assert!(paged.pages > 2, "{paged:?}");
    assert_eq!(
        (paged.entries, paged.referrals),
        (stats.entries, stats.referrals)
    );

    // Ask for the first 10 values only, as AD hands out the first 1500: the source must fetch
    // the remaining ranges itself and pass on all 31 values.
    let mut values = Vec::new();
    let stats = connection
        .search(
            Samba::BASE_DN,
            "(mailNickname=many)",
            &["proxyAddresses;range=0-9"],
            1000,
            |_, attrs| {
                for (name, vs) in attrs {
                    values.extend(vs.into_iter().map(|v| (name.clone(), v)));
                }
            },
        )
        .unwrap();
    assert_eq!(stats.ranged, 1, "{stats:?}");
    assert_eq!(values.len(), 31, "{values:?}");
    assert!(
        values
            .iter()
            .all(|(name, _)| library::ldap::is_attribute(name, "proxyAddresses")),
        "{values:?}"
    );
    let unique: BTreeSet<_> = values.iter().map(|(_, v)| v.to_ascii_lowercase()).collect();
    assert_eq!(unique.len(), 31);
    assert!(unique.contains("smtp:many30@example.test"));
}

#[test]
fn prune_removes_an_excluded_address_and_the_undo_ldif_restores_it() {
    let samba = Samba::start();
    let dir = samba.dir();
    ldaps_config(&samba);
    // prune needs the listed domains only for [recipients]; the exclusions are what matter.
    let config = fs_err::read_to_string(dir.join("rcptsync.toml"))
        .unwrap()
        .replace("domains = \"exchange\"", "domains = [\"example.test\"]");
    fs_err::write(dir.join("rcptsync.toml"), config).unwrap();
    let bob =
        |samba: &Samba| samba.ldapsearch(Samba::BASE_DN, "(mailNickname=bob)", &["proxyAddresses"]);
    assert!(bob(&samba).contains("smtp:bob@legacy.example.test"));

    let dry = rcptsync(dir, &["prune", "-c", "rcptsync.toml"]).ok();
    assert!(
        dry.stdout.contains(
            ": \"smtp:bob@legacy.example.test\"\n1 value(s) in excluded domains would be removed"
        ),
        "{}",
        dry.stdout
    );

    rcptsync(
        dir,
        &[
            "prune",
            "--apply",
            "--undo",
            "undo.ldif",
            "-c",
            "rcptsync.toml",
        ],
    )
    .ok();
    let after = bob(&samba);
    assert!(
        !after.contains("legacy.example.test") && after.contains("SMTP:bob@example.test"),
        "{after}"
    );

    samba.modify("ldapmodify", &dir.join("undo.ldif"));
    assert!(bob(&samba).contains("smtp:bob@legacy.example.test"));
}

#[test]
fn an_unchanged_dc_is_not_searched_again_and_a_change_is_seen() {
    let samba = Samba::start();
    let dir = samba.dir();
    ldaps_config(&samba);
    let extract = || rcptsync(dir, &["-v", "extract", "-c", "rcptsync.toml"]);
    extract().ok();
    let r = extract();
    assert_eq!(
        r.stdout,
        "out/relay_recipients: unchanged (the sources report no change since the last full run)\n",
        "{r}"
    );
    let state = fs_err::read_to_string(dir.join("out/relay_recipients.state")).unwrap();
    assert!(
        state.contains("usn="),
        "the DC's highestCommittedUSN is the mark: {state}"
    );

    // A new mailbox raises the DC's highestCommittedUSN.
    let ldif = dir.join("new.ldif");
    fs_err::write(
        &ldif,
        format!(
            "dn: CN=Dora New,OU=Staff,{}\nobjectClass: user\nsAMAccountName: dora\nmailNickname: dora\n\
             proxyAddresses: SMTP:dora@example.test\n",
            Samba::BASE_DN
        ),
    )
    .unwrap();
    samba.modify("ldapadd", &ldif);
    let r = extract().ok();
    assert!(r.stdout.contains("+dora@example.test\n"), "{}", r.stdout);
}

/// Exchange's accepted domains of every kind on a real DC: InternalRelay and an Authoritative
/// domain with AddressBookEnabled off are open (an `@domain` line), the Authoritative one with
/// AddressBookEnabled stays checked, an InternalRelay wild-card stays checked (Postfix cannot
/// open subdomains) with advice, ExternalRelay is not exported. A directory value that looks
/// like a wild-card is still rejected. Closing an open domain is refused like a mass removal.
#[test]
fn internal_relay_and_address_book_disabled_domains_are_open() {
    let samba = Samba::start();
    let dir = samba.dir();
    ldaps_config(&samba);
    let domains = Samba::accepted_domains_dn();
    let ldif = dir.join("shared.ldif");
    fs_err::write(
        &ldif,
        format!(
            "dn: CN=shared.example.test,{domains}\nobjectClass: msExchAcceptedDomain\n\
             msExchAcceptedDomainName: shared.example.test\nmsExchAcceptedDomainFlags: 2\n\n\
             dn: CN=nobook.example.test,{domains}\nobjectClass: msExchAcceptedDomain\n\
             msExchAcceptedDomainName: nobook.example.test\nmsExchAcceptedDomainFlags: 0\n\n\
             dn: CN=legacy.example.test,{domains}\nobjectClass: msExchAcceptedDomain\n\
             msExchAcceptedDomainName: legacy.example.test\nmsExchAcceptedDomainFlags: 2\n\n\
             dn: CN=Dana Shared,OU=Staff,{base}\nobjectClass: user\nsAMAccountName: dana\n\
             mailNickname: dana\nproxyAddresses: SMTP:dana@shared.example.test\n\
             proxyAddresses: smtp:@example.test\n",
            base = Samba::BASE_DN
        ),
    )
    .unwrap();
    samba.modify("ldapadd", &ldif);

    let r = rcptsync(dir, &["-v", "extract", "-c", "rcptsync.toml"]).ok();
    let open = "@nobook.example.test OK\n@shared.example.test OK\n";
    let mut want = format!("{open}{}", expected());
    want.push_str("dana@shared.example.test OK\n");
    let mut lines: Vec<&str> = want.lines().collect();
    lines.sort_unstable();
    let want: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(map(dir).unwrap(), want);
    assert!(
        r.stderr.contains(
            "accepted domains from Exchange: *.sub.example.test, example.test, \
             legacy.example.test, nobook.example.test, shared.example.test (open, every address \
             accepted: legacy.example.test, nobook.example.test, shared.example.test) (external \
             relay, not exported: relay.example.org)"
        ),
        "{r}"
    );
    // legacy.example.test is excluded (exclude_domains): not opened either.
    assert!(
        r.stderr.contains(
            "legacy.example.test is open in Exchange but excluded (exclude_domains): not opened"
        ),
        "{r}"
    );
    assert!(
        r.stderr.contains(
            "accepted domain *.sub.example.test is a shared address space (InternalRelay or \
             AddressBookEnabled off), but Postfix's @domain wild-card matches one domain"
        ),
        "{r}"
    );
    assert!(
        r.stderr.contains(
            "rcptsync: error: shared.example.test is now open: the map accepts every address in it"
        ),
        "{r}"
    );
    // The directory's "@example.test" is rejected, and opens nothing.
    assert!(
        r.stderr
            .contains("CN=Dana Shared,OU=Staff,DC=example,DC=test: rejected proxyAddresses value \"smtp:@example.test\""),
        "{r}"
    );
    assert!(r.stdout.contains("+@shared.example.test\n"), "{r}");

    // shared.example.test becomes Authoritative (with AddressBookEnabled): closing it is
    // refused like a mass removal, the map stays; --force closes it.
    let change = dir.join("close.ldif");
    fs_err::write(
        &change,
        format!(
            "dn: CN=shared.example.test,{domains}\nchangetype: modify\n\
             replace: msExchAcceptedDomainFlags\nmsExchAcceptedDomainFlags: 8\n"
        ),
    )
    .unwrap();
    samba.modify("ldapmodify", &change);
    let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).code(3);
    assert!(
        r.stderr.contains(
            "safety guard: shared.example.test would no longer be open (its @shared.example.test \
             line would go)"
        ),
        "{r}"
    );
    assert_eq!(map(dir).unwrap(), want);
    let r = rcptsync(dir, &["extract", "--force", "-c", "rcptsync.toml"]).ok();
    assert!(r.stdout.contains("-@shared.example.test\n"), "{r}");
    let closed = map(dir).unwrap();
    assert!(
        !closed.lines().any(|l| l == "@shared.example.test OK"),
        "{closed}"
    );
    assert!(
        closed.lines().any(|l| l == "@nobook.example.test OK"),
        "{closed}"
    );
    assert!(
        closed.contains("\ndana@shared.example.test OK\n"),
        "{closed}"
    );
}

/// `check --connect` on the DC: the bind over LDAPS, the base, one entry, paging, and the
/// uSNChanged feed once something was deleted (the administrator sees the tombstones); a
/// wrong password is named with AD's meaning of it.
#[test]
fn check_connect_binds_reads_one_entry_and_finds_the_usn_feed() {
    let samba = Samba::start();
    let dir = samba.dir();
    ldaps_config(&samba);
    let check = || rcptsync(dir, &["-v", "check", "--connect", "-c", "rcptsync.toml"]).ok();
    let run = check();
    for line in [
        &format!("ok: source samba: bound to {}", samba.ldaps_url()),
        "ok: source samba: base_dn DC=example,DC=test is there; the server pages searches",
        "ok: source samba: an entry matches the filter: CN=",
        "ok: source samba: accepted domains (domains = \"exchange\"): ",
        // A new domain has deleted nothing yet, so deletions cannot be told: said, not failed.
        "ok: source samba: no change feed: every run reads in full",
    ] {
        assert!(run.stdout.contains(line), "{line}: {run}");
    }
    assert!(run.stderr.contains("sees no deleted object"), "{run}");
    let ldif = dir.join("delete.ldif");
    fs_err::write(
        &ldif,
        format!(
            "dn: CN=Many Addresses,OU=Staff,{}\nchangetype: delete\n\n",
            Samba::BASE_DN
        ),
    )
    .unwrap();
    samba.modify("ldapmodify", &ldif);
    let run = check();
    assert!(
        run.stdout.contains("ok: source samba: change feed: usn"),
        "{run}"
    );
    fs_err::write(dir.join("admin.pw"), "not-the-password").unwrap();
    let run = rcptsync(dir, &["check", "--connect", "-c", "rcptsync.toml"]).code(1);
    assert!(run.stderr.contains("wrong password"), "{run}");
    assert!(!run.stderr.contains(samba.admin_password()), "{run}");
    assert!(map(dir).is_none());
}
