//! DNS discovery against a hostile DNS server (issue 22): an SRV target whose first label is
//! `xn--localhost:PORT#-yzb`, which hickory renders as `localhost:PORT#ü.DOMAIN` (so it ends
//! with the domain), must never be made a URL whose host is `localhost`: a TLS listener there
//! with a certificate from the configured CA would be sent the service account's simple bind,
//! password included. The run fails naming the record and the refused target, and the
//! listener sees no connection at all, with LDAPS and with StartTLS.

use std::os::unix::fs::PermissionsExt as _;

use hickory_resolver::proto::rr::Name;

use crate::fixture::dns::{Bait, HostileDns};
use crate::fixture::tls::Certs;
use crate::support::rcptsync;

const DOMAIN: &str = "example.test";
const PASSWORD: &str = "s3cret-bind-password";

/// Runs `extract` with `discover` against a DNS server whose only SRV target smuggles in
/// `localhost:PORT`, PORT being the bait's; asserts that the bait got nothing.
fn hostile_target_gets_no_bind(starttls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::new(dir.path(), "bait");
    let bait = Bait::start(&certs);
    let label = format!("xn--localhost:{}#-yzb", bait.port);
    // The attack's premise, so that this test cannot pass for want of it: the Unicode
    // rendering of the target is `localhost:PORT#ü.example.test`.
    let name = Name::from_labels([label.as_bytes(), b"example", b"test"]).unwrap();
    assert_eq!(
        name.to_utf8(),
        format!("localhost:{}#\u{fc}.{DOMAIN}.", bait.port)
    );
    let dns = HostileDns::srv(&[label.as_bytes(), b"example", b"test"], 389);

    fs_err::create_dir(dir.path().join("out")).unwrap();
    fs_err::write(dir.path().join("bind.pw"), format!("{PASSWORD}\n")).unwrap();
    fs_err::set_permissions(
        dir.path().join("bind.pw"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs_err::write(
        dir.path().join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"dc\"\nkind = \"ldap\"\ndiscover = \"{DOMAIN}\"\n\
             dns_server = \"127.0.0.1:{dns}\"\nca_file = \"{ca}\"\nstarttls = {starttls}\n\
             base_dn = \"DC=example,DC=test\"\nbind_dn = \"svc@example.test\"\n\
             bind_password_file = \"bind.pw\"\ntimeout = \"3s\"\n\n\
             [recipients]\ndomains = [\"{DOMAIN}\"]\n\n[output]\npath = \"out/relay_recipients\"\n",
            dns = dns.port,
            ca = certs.ca.display(),
        ),
    )
    .unwrap();

    let run = rcptsync(dir.path(), &["extract", "-c", "rcptsync.toml"]).code(1);
    assert!(dns.queries() > 0, "the DNS server was never asked: {run}");
    let caught = bait.caught();
    assert!(
        !caught
            .bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "the bind password reached localhost:{} ({} connection(s)): {run}",
        bait.port,
        caught.connections
    );
    assert_eq!(
        caught.connections,
        0,
        "something connected to localhost:{} ({} bytes): {run}",
        bait.port,
        caught.bytes.len()
    );
    // Refused, naming the record and the target as DNS sent it (ASCII, quoted).
    assert!(
        run.stderr.contains("_ldap._tcp.dc._msdcs.example.test."),
        "{run}"
    );
    assert!(run.stderr.contains("no domain controller found"), "{run}");
    let refused = format!(
        "refusing SRV target \"xn--localhost\\\\:{}\\\\#-yzb.example.test\": it is not a host name of letters, digits, hyphens and dots",
        bait.port
    );
    assert!(run.stderr.contains(&refused), "{refused}\n{run}");
    // And the error itself, for whoever reads only the last line.
    let error = format!(
        "no usable target (refused \"xn--localhost\\\\:{}\\\\#-yzb.example.test\": ",
        bait.port
    );
    assert!(run.stderr.contains(&error), "{error}\n{run}");
    let rendered = format!("localhost:{}#\u{fc}", bait.port);
    assert!(!run.stderr.contains(&rendered), "{run}");
    assert!(!dir.path().join("out/relay_recipients").exists(), "{run}");
}

#[test]
fn an_idna_srv_target_smuggling_a_port_is_refused_with_ldaps() {
    hostile_target_gets_no_bind(false);
}

#[test]
fn an_idna_srv_target_smuggling_a_port_is_refused_with_starttls() {
    hostile_target_gets_no_bind(true);
}
