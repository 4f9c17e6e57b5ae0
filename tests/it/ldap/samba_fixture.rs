//! Smoke tests of the Samba AD DC fixture, with the `ldapsearch` command line only: they pin
//! down what the real server does (TLS, referrals, range retrieval, refusing simple binds on
//! plain LDAP), so that failures in the LDAP source's own tests are not the fixture's.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use crate::fixture::samba::Samba;
use crate::fixture::tls::Certs;
use crate::fixture::{require, run};
use crate::library::DEFAULT_FILTER;

/// Attribute name -> values, per DN.
type Entries = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Parses unwrapped `ldapsearch -LLL` output (comments, e.g. search references, are skipped).
fn entries(ldif: &str) -> Entries {
    let mut entries = Entries::new();
    for block in ldif.split("\n\n") {
        let mut dn = None;
        let mut attrs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (name, value) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            if name == "dn" {
                dn = Some(value.to_owned());
            } else {
                attrs
                    .entry(name.to_owned())
                    .or_default()
                    .push(value.to_owned());
            }
        }
        if let Some(dn) = dn {
            entries.insert(dn, attrs);
        }
    }
    entries
}

/// `ldapsearch` against `url` with the fixture's CA and admin credentials, not yet run.
fn ldapsearch(samba: &Samba, url: &str) -> Command {
    let mut cmd = Command::new(require("ldapsearch", "ldap-utils"));
    cmd.env("LDAPTLS_CACERT", samba.ca_file())
        .env("LDAPTLS_REQCERT", "demand")
        .args([
            "-H",
            url,
            "-x",
            "-D",
            Samba::ADMIN_UPN,
            "-w",
            samba.admin_password(),
            "-o",
            "nettimeout=10",
            "-o",
            "ldif-wrap=no",
        ]);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn default_exchange_filter_over_ldaps_returns_the_six_recipients() {
    // rcptsync's own default filter (the seed's Exchange recipient filter), not a copy: what
    // this pins down is what the LDAP source sends.
    let samba = Samba::start();
    let out = samba.ldapsearch(
        Samba::BASE_DN,
        DEFAULT_FILTER,
        &[
            "mailNickname",
            "proxyAddresses",
            "msExchRequireAuthToSendTo",
            "targetAddress",
        ],
    );
    let found = entries(&out);
    let dn = |cn: &str, ou: &str| format!("CN={cn},OU={ou},{}", Samba::BASE_DN);
    let expected = [
        dn("Alice Archer", "Staff"),
        dn("Sales", "Staff"),
        dn("All Staff", "Groups"),
        dn("Carol Partner", "Contacts"),
        dn("Bob Legacy", "Staff"),
        dn("Many Addresses", "Staff"),
    ];
    let mut names: Vec<&String> = found.keys().collect();
    names.sort();
    let mut want: Vec<&String> = expected.iter().collect();
    want.sort();
    assert_eq!(names, want, "{out}");

    let alice = &found[&dn("Alice Archer", "Staff")];
    assert_eq!(
        alice["proxyAddresses"],
        [
            "SMTP:Alice.Archer@example.test",
            "smtp:alice@example.test",
            "X500:/o=Example/ou=Exchange/cn=Recipients/cn=alice",
            "SIP:alice@example.test"
        ]
    );
    assert_eq!(alice["mailNickname"], ["alice"]);
    let group = &found[&dn("All Staff", "Groups")];
    assert_eq!(group["msExchRequireAuthToSendTo"], ["TRUE"]);
    assert_eq!(group["proxyAddresses"], ["SMTP:all-staff@example.test"]);
    let carol = &found[&dn("Carol Partner", "Contacts")];
    assert_eq!(carol["targetAddress"], ["SMTP:carol@partner.example.org"]);
    assert_eq!(
        carol["proxyAddresses"],
        [
            "SMTP:carol@partner.example.org",
            "smtp:carol.partner@example.test"
        ]
    );
    assert_eq!(
        found[&dn("Bob Legacy", "Staff")]["proxyAddresses"],
        ["SMTP:bob@example.test", "smtp:bob@legacy.example.test"]
    );
    let many = &found[&dn("Many Addresses", "Staff")]["proxyAddresses"];
    assert_eq!(many.len(), 31);
    assert_eq!(many[0], "SMTP:many@example.test");
    assert!(!found.keys().any(|dn| dn.contains("No Mail")));
    // No Mail exists, it is only the filter that skips it.
    assert!(
        samba
            .ldapsearch(Samba::BASE_DN, "(cn=No Mail)", &["1.1"])
            .contains("dn: CN=No Mail,OU=Staff")
    );

    // The disabled shared mailbox keeps what a source needs to tell it apart.
    let sales = entries(&samba.ldapsearch(
        Samba::BASE_DN,
        "(mailNickname=sales)",
        &[
            "userAccountControl",
            "msExchRecipientTypeDetails",
            "homeMDB",
        ],
    ));
    let sales = &sales[&dn("Sales", "Staff")];
    assert_eq!(sales["userAccountControl"], ["514"]);
    assert_eq!(sales["msExchRecipientTypeDetails"], ["4"]);
    assert!(
        sales["homeMDB"][0].starts_with("CN=Mailbox Database 01,"),
        "{sales:?}"
    );
}

#[test]
fn ldaps_certificate_verifies_only_against_the_fixture_ca() {
    let samba = Samba::start();
    let ok = run(ldapsearch(&samba, samba.ldaps_url()).args([
        "-LLL",
        "-b",
        Samba::BASE_DN,
        "-s",
        "base",
        "1.1",
    ]));
    assert!(text(&ok).contains(&format!("dn: {}", Samba::BASE_DN)));

    let other = Certs::new(samba.dir(), "other");
    let out = ldapsearch(&samba, samba.ldaps_url())
        .env("LDAPTLS_CACERT", &other.ca)
        .args(["-LLL", "-b", Samba::BASE_DN, "-s", "base", "1.1"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a foreign CA was accepted:\n{}",
        text(&out)
    );
}

#[test]
fn simple_bind_on_plain_ldap_is_refused() {
    let samba = Samba::start();
    let out = ldapsearch(&samba, samba.ldap_url())
        .args(["-LLL", "-b", Samba::BASE_DN, "-s", "base", "1.1"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Strong(er) authentication required"),
        "{}",
        text(&out)
    );
}

#[test]
fn subtree_search_from_the_domain_root_returns_a_search_reference() {
    let samba = Samba::start();
    // Without -LLL, ldapsearch prints references as "# search reference" / "ref: URL".
    let out = run(ldapsearch(&samba, samba.ldaps_url()).args([
        "-b",
        Samba::BASE_DN,
        "(cn=No Mail)",
        "1.1",
    ]));
    let out = text(&out);
    assert!(out.contains("# search reference"), "{out}");
    assert!(
        out.contains(&format!("ref: ldaps://example.test/{}", Samba::CONFIG_DN)),
        "{out}"
    );
    assert!(out.contains("# numReferences: 1"), "{out}");
}

#[test]
fn accepted_domains_are_in_the_configuration_nc() {
    let samba = Samba::start();
    let out = samba.ldapsearch(
        Samba::CONFIG_DN,
        "(objectClass=msExchAcceptedDomain)",
        &["msExchAcceptedDomainName", "msExchAcceptedDomainFlags"],
    );
    let found: BTreeMap<String, String> = entries(&out)
        .into_values()
        .map(|a| {
            (
                a["msExchAcceptedDomainName"][0].clone(),
                a["msExchAcceptedDomainFlags"][0].clone(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        ("example.test", "12"),
        ("*.sub.example.test", "2"),
        ("relay.example.org", "1"),
    ]
    .into_iter()
    .map(|(d, f)| (d.to_owned(), f.to_owned()))
    .collect();
    assert_eq!(found, expected, "{out}");
    assert!(out.contains(
        "dn: CN=example.test,CN=Accepted Domains,CN=Transport Settings,CN=Example Org,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=example,DC=test"
    ));
}

#[test]
fn range_retrieval_of_proxy_addresses_is_honoured() {
    let samba = Samba::start();
    let out = samba.ldapsearch(
        Samba::BASE_DN,
        "(mailNickname=many)",
        &["proxyAddresses;range=0-9"],
    );
    let found = entries(&out);
    let many = &found[&format!("CN=Many Addresses,OU=Staff,{}", Samba::BASE_DN)];
    assert_eq!(
        many.keys().collect::<Vec<_>>(),
        ["proxyAddresses;range=0-9"],
        "{out}"
    );
    let values = &many["proxyAddresses;range=0-9"];
    assert_eq!(values.len(), 10, "{out}");
    assert_eq!(values[0], "SMTP:many@example.test");
    assert_eq!(values[9], "smtp:many9@example.test");

    // The last chunk is marked with "*", as in Active Directory.
    let out = samba.ldapsearch(
        Samba::BASE_DN,
        "(mailNickname=many)",
        &["proxyAddresses;range=30-*"],
    );
    assert!(
        out.contains("proxyAddresses;range=30-*: smtp:many30@example.test"),
        "{out}"
    );
}

#[test]
fn stop_kills_samba_and_is_idempotent() {
    let mut samba = Samba::start();
    fs_err::write(samba.dir().join("scratch.txt"), "tests may write here").unwrap();
    samba.stop();
    samba.stop();
    let out = ldapsearch(&samba, samba.ldaps_url())
        .args(["-LLL", "-b", Samba::BASE_DN, "-s", "base", "1.1"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "samba still answers after stop():\n{}",
        text(&out)
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", 636)).is_err());
}
