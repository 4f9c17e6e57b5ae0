//! The LDAP source against a real slapd: paging past AD's 1000-entry limit, failover, TLS,
//! binds, referrals, accepted domains, and failures that must leave the map untouched.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::fixture::slapd::{Slapd, mailbox, mailboxes};
use crate::library;
use crate::support::{self, Run, rcptsync};

/// Writes `bind.pw` (mode 0600) and `rcptsync.toml` for an LDAP source with `source` keys
/// (servers etc.) and accepted `domains` (TOML) into `dir`, slapd's directory.
///
/// The bind never crosses in cleartext (the config refuses that): unless `source` sets its
/// own TLS keys, the plain URLs get StartTLS, verified against the fixture's CA in `dir`
/// (the certificate is for `localhost`, hence [`Slapd::url`]).
pub fn ldap_config(dir: &Path, source: &str, domains: &str) {
    let tls = if source.contains("starttls") || source.contains("ca_file") {
        ""
    } else {
        "starttls = true\nca_file = \"slapd-ca.pem\"\n"
    };
    let source = format!("{tls}{source}");
    let pw = dir.join("bind.pw");
    fs_err::write(&pw, format!("{}\n", Slapd::BIND_PW)).unwrap();
    fs_err::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nbase_dn = \"{base}\"\n\
             bind_dn = \"{bind}\"\nbind_password_file = \"bind.pw\"\n{source}\n\n\
             [recipients]\ndomains = {domains}\nexclude_domains = ['legacy\\.example\\.com']\n\n\
             [output]\npath = \"out/relay_recipients\"\n",
            base = Slapd::BASE_DN,
            bind = Slapd::BIND_DN,
        ),
    )
    .unwrap();
}

fn map(dir: &Path) -> Option<String> {
    fs_err::read_to_string(dir.join("out/relay_recipients")).ok()
}

fn keys(dir: &Path) -> BTreeSet<String> {
    map(dir)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

/// 2600 generated mailboxes plus the special cases: an auth-required group, an external
/// contact, a disabled shared mailbox, an address in an excluded domain.
fn directory() -> String {
    let base = Slapd::BASE_DN;
    format!(
        "{}{}{}\
         dn: CN=All Staff,OU=Staff,{base}\nobjectClass: group\nobjectClass: exchangeRecipient\ncn: All Staff\n\
         objectCategory: group\nmailNickname: allstaff\nmsExchRequireAuthToSendTo: TRUE\nproxyAddresses: SMTP:all-staff@example.com\n\n\
         dn: CN=Carol,OU=Staff,{base}\nobjectClass: contact\nobjectClass: exchangeRecipient\ncn: Carol\nsn: Carol\n\
         objectCategory: person\nmailNickname: carol\ntargetAddress: SMTP:carol@partner.example.org\n\
         proxyAddresses: SMTP:carol@partner.example.org\nproxyAddresses: smtp:carol@example.com\n\n\
         dn: CN=No Mail,OU=Staff,{base}\nobjectClass: user\nobjectClass: exchangeRecipient\ncn: No Mail\nsn: x\nobjectCategory: person\n\n",
        mailboxes(2600),
        mailbox("Sales", &["SMTP:sales@example.com"])
            .replace("userAccountControl: 512", "userAccountControl: 514"),
        mailbox(
            "Bob",
            &["SMTP:bob@example.com", "smtp:bob@legacy.example.com"]
        ),
    )
}

/// The keys the generated directory must give for accepted domains example.com (and, with
/// `corp`, *.corp.example.com).
fn expected(corp: bool) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for i in 0..2600 {
        keys.insert(format!("user{i}@example.com"));
        keys.insert(format!("u{i}@example.com"));
        if corp && i % 3 == 0 {
            keys.insert(format!("user{i}@eu.corp.example.com"));
        }
    }
    for k in ["sales@example.com", "bob@example.com", "carol@example.com"] {
        keys.insert(k.to_owned());
    }
    keys
}

/// slapd with [`directory`] and a config reading it over plain LDAP for `domains`.
fn serving(domains: &str) -> Slapd {
    let slapd = Slapd::start(&directory());
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        domains,
    );
    slapd
}

#[test]
fn pages_through_more_than_the_size_limit() {
    let slapd = serving("[\"example.com\"]");
    let r = rcptsync(slapd.dir(), &["-v", "extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(keys(slapd.dir()), expected(false));
    assert!(r.stderr.contains("pages=3"), "{}", r.stderr);
    assert!(!r.stderr.contains(Slapd::BIND_PW) && !r.stdout.contains(Slapd::BIND_PW));
}

#[test]
fn exchange_accepted_domains_are_read_from_the_configuration() {
    let slapd = serving("\"exchange\"");
    let r = rcptsync(slapd.dir(), &["-v", "extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(keys(slapd.dir()), expected(true));
    assert!(
        r.stderr.contains(
            "accepted domains from Exchange: *.corp.example.com, example.com \
             (external relay, not exported: partner.example.org)"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("\"not a domain!\" is not a domain name; ignored"),
        "{}",
        r.stderr
    );
}

#[test]
fn fails_over_to_the_next_server_and_says_which_answered() {
    let slapd = Slapd::start(&directory());
    // One port that refuses connections, one that accepts them and never answers.
    let refused = crate::fixture::free_port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    ldap_config(
        slapd.dir(),
        &format!(
            "servers = [\"ldap://127.0.0.1:{refused}\", \"ldap://127.0.0.1:{silent_port}\", \"{}\"]\ntimeout = \"1s\"",
            slapd.url()
        ),
        "[\"example.com\"]",
    );
    let r = rcptsync(slapd.dir(), &["extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(keys(slapd.dir()), expected(false));
    assert!(
        r.stderr
            .contains(&format!("directory server ldap://127.0.0.1:{refused}: ")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "directory server ldap://127.0.0.1:{silent_port}: timed out"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("using {} after 2 failed server(s)", slapd.url())),
        "{}",
        r.stderr
    );
}

/// Installs the full map from `slapd`, then changes the config with `edit` and expects the next
/// extract to fail with exit 1 and `message`, leaving the map byte-for-byte and mtime alone.
fn fails_without_touching_the_map(
    slapd: &Slapd,
    edit: impl Fn(String) -> String,
    message: &str,
) -> Run {
    let dir = slapd.dir();
    if map(dir).is_none() {
        ldap_config(
            dir,
            &format!("servers = [\"{}\"]", slapd.url()),
            "[\"example.com\"]",
        );
        rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).ok();
    }
    let before = map(dir).unwrap();
    let file = fs_err::File::options()
        .write(true)
        .open(dir.join("out/relay_recipients"))
        .unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    file.set_modified(old).unwrap();
    let mtime = fs_err::metadata(dir.join("out/relay_recipients"))
        .unwrap()
        .modified()
        .unwrap();
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    fs_err::write(dir.join("rcptsync.toml"), edit(config.clone())).unwrap();
    let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]);
    fs_err::write(dir.join("rcptsync.toml"), config).unwrap();
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains(message),
        "expected {message:?} in:\n{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert_eq!(map(dir).unwrap(), before);
    assert_eq!(
        fs_err::metadata(dir.join("out/relay_recipients"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
    r
}

#[test]
fn all_servers_failing_is_an_error() {
    let slapd = Slapd::start(&directory());
    let down = crate::fixture::free_port();
    fails_without_touching_the_map(
        &slapd,
        |c| c.replace(&slapd.url(), &format!("ldap://127.0.0.1:{down}")),
        "no directory server could be used",
    );
}

#[test]
fn a_connection_dropped_mid_paging_fails_the_run() {
    let slapd = Slapd::start(&directory());
    // The first page is about 300 kB; cut well after the bind, inside the second page.
    let proxy = crate::fixture::CutProxy::start(slapd.port, 400_000);
    let r = fails_without_touching_the_map(
        &slapd,
        |c| c.replace(&slapd.url(), &format!("ldap://localhost:{}", proxy.port)),
        "search of \"DC=example,DC=com\" failed",
    );
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
}

#[test]
fn a_server_stopped_mid_paging_fails_the_search() {
    let mut slapd = Slapd::start(&directory());
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\"]",
    );
    let source = library::ldap_source(&slapd.path("rcptsync.toml"));
    let mut seen = 0;
    let connection = library::connect(&source);
    let result = library::ldap::read(&source, connection, None, |_, _| {
        seen += 1;
        if seen == 1500 {
            slapd.stop();
        }
    });
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("search of \"DC=example,DC=com\" failed"),
        "{error}"
    );
    assert!(
        seen < 2603,
        "the search went on after the server was gone: {seen}"
    );
}

#[test]
fn a_size_limit_hit_during_paging_is_detected() {
    // slapd ends a paged search with sizeLimitExceeded once a total limit is reached, as a
    // server-side limit would; the map must not shrink to what came before it.
    let slapd = Slapd::start_with(
        &directory(),
        &format!("limits dn.exact=\"{}\" size.prtotal=1500", Slapd::BIND_DN),
    );
    let dir = slapd.dir();
    ldap_config(
        dir,
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\"]",
    );
    fs_err::create_dir_all(dir.join("out")).unwrap();
    fs_err::write(dir.join("out/relay_recipients"), "keep@example.com OK\n").unwrap();
    let r = fails_without_touching_the_map(&slapd, |c| c, "sizeLimitExceeded");
    assert!(r.stderr.contains("page 2"), "{}", r.stderr);
}

#[test]
fn a_page_size_above_the_server_limit_is_detected() {
    let slapd = Slapd::start(&directory());
    fails_without_touching_the_map(
        &slapd,
        |c| c.replace("kind = \"ldap\"", "kind = \"ldap\"\npage_size = 5000"),
        "the server ended page 1 with result code 11 (adminLimitExceeded): \"illegal pagedResults page size\"",
    );
}

#[test]
fn ldaps_and_starttls_verify_the_certificate() {
    let slapd = Slapd::start(&directory());
    let dir = slapd.dir();
    let ca = slapd.certs.ca.display().to_string();
    for source in [
        format!("servers = [\"{}\"]\nca_file = \"{ca}\"", slapd.ldaps_url()),
        format!(
            "servers = [\"ldap://localhost:{}\"]\nstarttls = true\nca_file = \"{ca}\"",
            slapd.port
        ),
    ] {
        ldap_config(dir, &source, "[\"example.com\"]");
        rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).ok();
        assert_eq!(keys(dir), expected(false));
    }
}

#[test]
fn tls_with_an_unknown_ca_is_refused_with_a_clear_error() {
    let slapd = Slapd::start(&directory());
    let other = crate::fixture::tls::Certs::new(slapd.dir(), "other");
    let ldaps = slapd.ldaps_url();
    let ca = slapd.certs.ca.display().to_string();
    let wrong = other.ca.display().to_string();
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{ldaps}\"]\nca_file = \"{ca}\""),
        "[\"example.com\"]",
    );
    rcptsync(slapd.dir(), &["extract", "-c", "rcptsync.toml"]).ok();
    fails_without_touching_the_map(
        &slapd,
        |c| c.replace(&ca, &wrong),
        "TLS certificate verification failed: the server's certificate is not signed by a trusted CA (set ca_file",
    );
    // Without ca_file the system trust store is used, which does not know the test CA either.
    fails_without_touching_the_map(
        &slapd,
        |c| c.replace(&format!("ca_file = \"{ca}\""), ""),
        "not signed by a trusted CA",
    );
    // StartTLS fails the same way; there is no fallback to cleartext.
    fails_without_touching_the_map(
        &slapd,
        |c| {
            c.replace(&ldaps, &format!("ldap://localhost:{}", slapd.port))
                .replace(&ca, &wrong)
                .replace("kind = \"ldap\"", "kind = \"ldap\"\nstarttls = true")
        },
        "not signed by a trusted CA",
    );
}

#[test]
fn tls_with_a_host_name_mismatch_is_refused() {
    let slapd = Slapd::start(&directory());
    let ca = slapd.certs.ca.display().to_string();
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]\nca_file = \"{ca}\"", slapd.ldaps_url()),
        "[\"example.com\"]",
    );
    rcptsync(slapd.dir(), &["extract", "-c", "rcptsync.toml"]).ok();
    // The certificate is for localhost, not 127.0.0.1.
    fails_without_touching_the_map(
        &slapd,
        |c| c.replace("ldaps://localhost:", "ldaps://127.0.0.1:"),
        "the certificate does not match the host name in the URL",
    );
}

#[test]
fn bind_failures_and_password_handling() {
    let slapd = Slapd::start(&directory());
    let dir = slapd.dir();
    let r = fails_without_touching_the_map(
        &slapd,
        |c| {
            fs_err::write(dir.join("wrong.pw"), "not-the-password\n").unwrap();
            fs_err::set_permissions(dir.join("wrong.pw"), std::fs::Permissions::from_mode(0o600))
                .unwrap();
            c.replace("bind.pw", "wrong.pw")
        },
        &format!("bind as {} failed: invalid credentials", Slapd::BIND_DN),
    );
    assert!(!r.stderr.contains("not-the-password"));

    // A password file others can read is refused before anything is sent: a config error
    // (exit 2), said once.
    fs_err::set_permissions(dir.join("bind.pw"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = map(dir).unwrap();
    let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).code(2);
    assert_eq!(
        r.stderr
            .matches("source ad: bind.pw is accessible by group or others (mode 0644); run `chmod 600 bind.pw`")
            .count(),
        1,
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("mode 0644").count(), 1, "{}", r.stderr);
    assert_eq!(map(dir).unwrap(), before);
    fs_err::set_permissions(dir.join("bind.pw"), std::fs::Permissions::from_mode(0o600)).unwrap();

    // The password may come from the environment instead (never from argv).
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        config.replace("bind_password_file = \"bind.pw\"\n", ""),
    )
    .unwrap();
    fs_err::write(dir.join("out/relay_recipients"), "old@example.com OK\n").unwrap();
    let r = Run::from(
        support::command()
            .args(["-vv", "extract", "--force", "-c", "rcptsync.toml"])
            .current_dir(dir)
            .env("RCPTSYNC_BIND_PASSWORD", Slapd::BIND_PW)
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(keys(dir), expected(false));
    let printed = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !printed.contains(Slapd::BIND_PW),
        "the password was printed"
    );
}

#[test]
fn anonymous_bind_works_when_no_bind_dn_is_set() {
    let slapd = serving("[\"example.com\"]");
    let config = fs_err::read_to_string(slapd.path("rcptsync.toml")).unwrap();
    let anonymous: String = config
        .lines()
        .filter(|l| !l.starts_with("bind_"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs_err::write(slapd.path("rcptsync.toml"), anonymous).unwrap();
    rcptsync(slapd.dir(), &["extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(keys(slapd.dir()), expected(false));
}

#[test]
fn referrals_are_not_chased_and_do_not_fail_the_run() {
    // The referral leads to a listener that counts who connects: a chase that failed quietly
    // (as one to a dead port would) still shows as a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let referral = format!(
        "dn: OU=Elsewhere,{base}\nobjectClass: referral\nobjectClass: extensibleObject\nou: Elsewhere\n\
         ref: ldap://127.0.0.1:{port}/OU=Elsewhere,{base}\n\n",
        base = Slapd::BASE_DN
    );
    let slapd = Slapd::start(&format!("{}{referral}", directory()));
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\"]",
    );
    let r = rcptsync(slapd.dir(), &["-vv", "extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(keys(slapd.dir()), expected(false));
    assert!(r.stderr.contains("referrals=1"), "{}", r.stderr);
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the referral was followed"
    );
}

#[test]
fn an_unchanged_directory_is_not_searched_again() {
    let slapd = serving("[\"example.com\"]");
    let dir = slapd.dir();
    let extract = |args: &[&str]| {
        rcptsync(
            dir,
            &[&["-v", "extract", "-c", "rcptsync.toml"], args].concat(),
        )
    };
    extract(&[]).ok();
    let unchanged =
        "out/relay_recipients: unchanged (the sources report no change since the last full run)\n";
    let r = extract(&[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, unchanged), "{r}");
    assert!(
        !r.stderr.contains("read "),
        "the directory was searched: {}",
        r.stderr
    );

    // A change in the directory moves its contextCSN: the next run searches and finds it.
    slapd.modify(
        "ldapadd",
        &mailbox("Newcomer", &["SMTP:newcomer@example.com"]),
    );
    let r = extract(&[]).ok();
    assert!(r.stdout.contains("+newcomer@example.com\n"), "{}", r.stdout);
    assert_eq!(extract(&[]).stdout, unchanged);

    // --full searches anyway; so does a run after full_every has passed.
    assert!(
        extract(&["--full"])
            .stdout
            .ends_with("recipients, unchanged\n")
    );
    let config = fs_err::read_to_string(slapd.path("rcptsync.toml")).unwrap();
    fs_err::write(
        slapd.path("rcptsync.toml"),
        format!("{config}\n[safety]\nfull_every = \"0s\"\n"),
    )
    .unwrap();
    assert!(extract(&[]).stdout.ends_with("recipients, unchanged\n"));
}

#[test]
fn without_syncprov_every_run_searches() {
    // slapadd -w writes a contextCSN that nothing updates without syncprov: it must not be
    // taken for a change mark, or new entries would wait for the next full_every.
    let slapd = Slapd::start_full(&directory(), "", false);
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\"]",
    );
    let extract = || rcptsync(slapd.dir(), &["-v", "extract", "-c", "rcptsync.toml"]);
    extract().ok();
    slapd.modify(
        "ldapadd",
        &mailbox("Newcomer", &["SMTP:newcomer@example.com"]),
    );
    let r = extract().ok();
    assert!(r.stdout.contains("+newcomer@example.com\n"), "{}", r.stdout);
}

#[test]
fn dumped_entries_reproduce_the_run_as_an_ldif_source() {
    // What the directory returned, written as LDIF (a user's problem as a test case): read
    // back as a kind = "ldif" source, it makes the same map.
    let slapd = serving("[\"example.com\"]");
    let dir = slapd.dir();
    rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).ok();
    // Unchanged since: --dump-entries reads in full all the same.
    let r = rcptsync(
        dir,
        &[
            "-v",
            "extract",
            "-c",
            "rcptsync.toml",
            "--dump-entries",
            "dump.ldif",
        ],
    )
    .ok();
    assert!(r.stdout.contains("recipients, unchanged"), "{r}");
    let dump = dir.join("dump.ldif");
    let mode = fs_err::metadata(&dump).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    let source_end = config.find("[recipients]").unwrap();
    fs_err::write(
        dir.join("replay.toml"),
        format!(
            "[[source]]\nname = \"dump\"\nkind = \"ldif\"\npath = \"dump.ldif\"\n\n{}",
            config[source_end..].replace("out/relay_recipients", "replay/relay_recipients")
        ),
    )
    .unwrap();
    rcptsync(dir, &["extract", "-c", "replay.toml"]).ok();
    assert_eq!(
        fs_err::read_to_string(dir.join("replay/relay_recipients")).unwrap(),
        map(dir).unwrap()
    );
    // An existing dump is never overwritten.
    let r = rcptsync(
        dir,
        &[
            "extract",
            "-c",
            "rcptsync.toml",
            "--dump-entries",
            "dump.ldif",
        ],
    );
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("dump.ldif"), "{r}");
}

/// `ldapsearch` as an admin runs it for an export (paged, default output: ldapsearch's
/// `# extended LDIF` header and its result trailer), against `slapd` with `filter`.
fn ldapsearch_export(slapd: &Slapd, filter: &str) -> String {
    let out = crate::fixture::run(
        std::process::Command::new(crate::fixture::require("ldapsearch", "ldap-utils")).args([
            "-x",
            "-H",
            &slapd.url(),
            "-D",
            Slapd::BIND_DN,
            "-w",
            Slapd::BIND_PW,
            "-b",
            Slapd::BASE_DN,
            "-E",
            "pr=1000/noprompt",
            filter,
        ]),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_real_ldapsearch_export_cut_before_its_trailer_is_refused_as_truncated() {
    let slapd = serving("[\"example.com\"]");
    let dir = slapd.dir();
    let export = ldapsearch_export(&slapd, "(objectClass=*)");
    assert!(export.starts_with("# extended LDIF\n"), "{export:.200}");
    fs_err::write(dir.join("export.ldif"), &export).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        "[[source]]\nname = \"export\"\nkind = \"ldif\"\npath = \"export.ldif\"\n\
         [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n\
         [safety]\nmax_removed_percent = 100\n",
    )
    .unwrap();
    rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).ok();
    let whole = map(dir).unwrap();
    assert!(whole.lines().count() > 2000, "{}", whole.lines().count());

    // The same export cut at an entry boundary (a copy that stopped, an ldapsearch that was
    // killed): in its first page, before any trailer, or in a later one, after a page's
    // trailer. Refused, naming the file, and the map is left alone.
    let first_trailer = export.find("# search result").unwrap();
    let cut = |at: usize| export[..at].rfind("\n\n").unwrap() + 2;
    for (at, said) in [
        (cut(first_trailer / 2), "it looks truncated"),
        (
            cut(first_trailer + export.len() / 4),
            "entries follow the last",
        ),
    ] {
        fs_err::write(dir.join("export.ldif"), &export[..at]).unwrap();
        let r = rcptsync(dir, &["extract", "-c", "rcptsync.toml"]).code(1);
        assert!(
            r.stderr.contains("export.ldif:") && r.stderr.contains(said),
            "{r}"
        );
        assert_eq!(map(dir).unwrap(), whole);
    }

    // One entry: said as one.
    fs_err::write(
        dir.join("export.ldif"),
        ldapsearch_export(&slapd, "(cn=Bob)"),
    )
    .unwrap();
    let r = rcptsync(
        dir,
        &[
            "-vv",
            "extract",
            "--dry-run",
            "--force",
            "-c",
            "rcptsync.toml",
        ],
    )
    .ok();
    assert!(r.stderr.contains("source export: 1 entry\n"), "{r}");
    assert!(!r.stderr.contains("1 entries"), "{r}");
}
