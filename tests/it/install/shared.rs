//! Shared address spaces on the gateway: an `@domain` line opens a domain (every address in
//! it is accepted, Exchange relays the ones it does not know), but only a domain the gateway
//! itself lists in `[install].internal_relay_domains`; as the spool account, a map that opens
//! any other domain is refused and the live map stays as it was.

use super::util::Gateway;

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
        // Closed again (the directory side guards that step): unknown addresses are refused.
        gw.apply_keys(&["alice@example.com", "bob@shared.example.com"]);
        gw.assert_answers(
            &["bob@shared.example.com"],
            &["nobody-here@shared.example.com", "mallory@example.com"],
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
