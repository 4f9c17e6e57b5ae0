//! Shared address spaces on the gateway: an `@domain` line opens a domain (every address in
//! it is accepted, Exchange relays the ones it does not know), but only a domain the gateway
//! itself lists in `[install].internal_relay_domains`; as the spool account, a map that opens
//! any other domain is refused and the live map stays as it was.

use super::util::Gateway;
use crate::support::{Run, rcptsync};

/// `rcptsync verify` against the gateway with a config of `[install]` (whose map says which
/// domains are open) and `recipients` (the `[recipients]` table an internal host would have).
fn verify(gw: &Gateway, verbosity: &str, recipients: &str) -> Run {
    let gateway = gw.postfix.path("rcptsync.toml");
    let config = gw.postfix.path("verify.toml");
    let text = fs_err::read_to_string(&gateway).unwrap();
    fs_err::write(&config, format!("{text}\n[recipients]\n{recipients}\n")).unwrap();
    rcptsync(
        &gw.postfix.path(""),
        &[
            verbosity,
            "verify",
            "-c",
            config.to_str().unwrap(),
            "--smtp",
            &format!("127.0.0.1:{}", gw.postfix.port),
        ],
    )
}

/// A gateway relaying example.com (checked) and shared.example.com (open).
fn gateway(kind: &str) -> Gateway {
    let gw = Gateway::new(kind, "internal_relay_domains = [\"Shared.Example.com\"]\n");
    // Postfix must relay for the open domain as well (the last setting wins).
    let main_cf = gw.postfix.config_dir().join("main.cf");
    let text = fs_err::read_to_string(&main_cf).unwrap();
    fs_err::write(
        &main_cf,
        format!("{text}relay_domains = example.com, shared.example.com\n"),
    )
    .unwrap();
    gw
}

#[test]
fn an_open_domain_accepts_every_address_and_a_checked_one_refuses_the_unknown() {
    for kind in ["cdb", "texthash"] {
        let mut gw = gateway(kind);
        gw.apply_keys(&[
            "@shared.example.com",
            "alice@example.com",
            "bob@shared.example.com",
        ]);
        gw.postfix.start();
        gw.assert_answers(
            &[
                "alice@example.com",
                "bob@shared.example.com",
                "nobody-here@shared.example.com",
                "Someone.Else@SHARED.example.com",
            ],
            &["mallory@example.com"],
        );
        // verify expects a made-up address accepted in the domain the installed map opens,
        // refused in the other.
        let r = verify(&gw, "-v", "domains = [\"example.com\"]").ok();
        assert!(
            r.stdout
                .contains("@shared.example.com (must be accepted: an open domain): 250")
                && r.stdout.contains("@example.com (must be refused): 550"),
            "{r}"
        );
        // Closed again (the directory side guards that step): unknown addresses are refused,
        // and verify says what is wrong.
        gw.apply_keys(&["alice@example.com", "bob@shared.example.com"]);
        gw.assert_answers(
            &["bob@shared.example.com"],
            &["nobody-here@shared.example.com", "mallory@example.com"],
        );
        // Listed in internal_relay_domains, but not open: checked like any other.
        verify(
            &gw,
            "-q",
            "domains = [\"example.com\", \"shared.example.com\"]",
        )
        .ok();
        // The internal host opens it, and the gateway refuses: verify says what is wrong.
        let r = verify(
            &gw,
            "-q",
            "domains = [\"example.com\", \"shared.example.com\"]\ninternal_relay = [\"shared.example.com\"]",
        )
        .code(4);
        assert!(
            r.stdout.contains("an address in an open domain is refused"),
            "{r}"
        );
    }
}

#[test]
fn the_spool_account_cannot_open_a_domain_the_gateway_does_not_list() {
    let gw = gateway("cdb");
    gw.apply_keys(&["alice@example.com", "bob@example.com"]);
    let live = gw.live_files();
    for map in [
        // The checked domain opened.
        "@example.com OK\nalice@example.com OK\n",
        // A domain the gateway does not relay, and a subdomain of the open one.
        "@other.example OK\nalice@example.com OK\n",
        "@sub.shared.example.com OK\nalice@example.com OK\n",
    ] {
        gw.spool_text(map);
        let r = gw.apply(&[]).code(3);
        let domain = map[1..].split(' ').next().unwrap();
        assert!(
            r.stderr.contains(&format!(
                "a wild-card that would accept every address in {domain}, which \
                 [install].internal_relay_domains does not list"
            )),
            "{map}: {r}"
        );
        assert_eq!(gw.live_files(), live, "{map}");
    }
}

#[test]
fn doctor_notes_an_open_domain_and_wants_it_relayed() {
    let gw = gateway("lmdb");
    gw.apply_keys(&[
        "@shared.example.com",
        "abuse@example.com",
        "postmaster@example.com",
    ]);
    let config = gw.postfix.path("rcptsync.toml");
    let dir = gw.postfix.config_dir();
    let doctor = |args: &[&str]| {
        rcptsync(
            &gw.postfix.path(""),
            &[
                &[
                    "doctor",
                    "-c",
                    config.to_str().unwrap(),
                    "--config-dir",
                    dir.to_str().unwrap(),
                ],
                args,
            ]
            .concat(),
        )
    };
    let r = doctor(&["-v"]);
    assert!(
        r.stdout.contains(
            "note: shared.example.com is open (@shared.example.com in the recipient map)"
        ),
        "{r}"
    );
    assert!(!r.stdout.contains("error:"), "{r}");
    // relay_domains without it (and without matching subdomains of example.com): all of its
    // mail would be refused.
    let main_cf = dir.join("main.cf");
    let text = fs_err::read_to_string(&main_cf).unwrap();
    fs_err::write(
        &main_cf,
        format!("{text}relay_domains = example.com\nparent_domain_matches_subdomains =\n"),
    )
    .unwrap();
    let r = doctor(&[]).code(4);
    assert!(
        r.stdout.contains(
            "error: shared.example.com is open in the recipient map (@shared.example.com) but \
             relay_domains does not cover it"
        ),
        "{r}"
    );
}
