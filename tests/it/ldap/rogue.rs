//! A misbehaving LDAP server (tests/it/fixture/rogue_ldap.rs): whatever it answers, extract
//! fails with a message that names the problem, never panics, never takes a partial read for
//! the directory, and leaves the existing map byte-for-byte alone.

use crate::fixture::rogue_ldap::{Page, RogueLdap};
use crate::support::{Run, rcptsync};

/// Runs `extract --full` against the server, with an existing map in place.
fn extract_against(server: &RogueLdap) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir(dir.path().join("out")).unwrap();
    fs_err::write(
        dir.path().join("out/relay_recipients"),
        "live@example.com OK\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"rogue\"\nkind = \"ldap\"\nservers = [\"ldap://127.0.0.1:{}\"]\n\
             base_dn = \"DC=example,DC=com\"\ntimeout = \"3s\"\n\
             [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n",
            server.port
        ),
    )
    .unwrap();
    let run = rcptsync(dir.path(), &["-c", "rcptsync.toml", "extract", "--full"]);
    (run, dir)
}

fn assert_refused(pages: Vec<Page>, message: &str) {
    let server = RogueLdap::start(pages);
    let started = std::time::Instant::now();
    let (run, dir) = extract_against(&server);
    let run = run.code(1);
    assert!(run.stderr.contains(message), "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(!run.stderr.contains("internal error"), "{run}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(
        fs_err::read_to_string(dir.path().join("out/relay_recipients")).unwrap(),
        "live@example.com OK\n"
    );
}

#[test]
fn a_malformed_paging_control_is_an_error_not_a_panic() {
    assert_refused(
        vec![Page::RawControl(vec![0x30, 0x05, 0x02])],
        "the paged-results control of page 1 is malformed",
    );
}

#[test]
fn a_later_page_without_the_paging_control_is_an_incomplete_result() {
    assert_refused(
        vec![Page::Cookie(b"c1".to_vec()), Page::NoControl],
        "page 2 came back without the paged-results control",
    );
}

#[test]
fn a_cookie_that_repeats_is_an_error_not_an_endless_search() {
    assert_refused(
        vec![Page::Cookie(b"same".to_vec())],
        "returned a paging cookie the server had returned before",
    );
}
