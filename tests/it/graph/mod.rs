//! The Microsoft Graph source (`kind = "graph"`), run through the binary against a stand-in:
//! there is no tenant here, so `fixture::graph` serves the documented Graph and token-endpoint
//! protocol on loopback HTTPS, with bodies shaped like Microsoft's examples
//! (`tests/it/fixture/graph_tenant/`, each page named in its README). What these tests prove is rcptsync's side of that protocol: the
//! exact map, the rules, paging, throttling, delta rounds, credentials and the trust bounds.

use std::path::PathBuf;

use serde_json::json;

use crate::fixture::graph::{
    self, AppCertificate, CLIENT_ID, ESC, FORGED, Fault, Graph, SECRET, TENANT,
};
use crate::support::{Run, rcptsync, rcptsync_peak};

/// The map the fixture tenant makes with contoso.com and contoso.onmicrosoft.com accepted and
/// legacy.contoso.com excluded: no guest, no security group, no external contact address.
const MAP: &str = "adele.vance@contoso.com OK\nadelev@contoso.com OK\nadmin@contoso.onmicrosoft.com OK\n\
hrtaskforce@contoso.com OK\ninfo@contoso.com OK\ninfo@contoso.onmicrosoft.com OK\nisaiahl@contoso.com OK\n\
mallory@contoso.com OK\npartner@contoso.com OK\nsales@contoso.com OK\nvertrieb@contoso.com OK\n";

const LOOSE: &str = "[safety]\nmin_recipients = 1\nmax_removed = 1000\nmax_removed_percent = 100\n";

/// A stand-in tenant and a config directory reading it.
struct Setup {
    dir: tempfile::TempDir,
    graph: Graph,
}

impl Setup {
    /// The stand-in, a secret file, and a config using the secret.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let graph = Graph::start(dir.path());
        let setup = Self { dir, graph };
        setup.secret(SECRET);
        setup.config("client_secret_file = \"graph.secret\"", "", "");
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn secret(&self, secret: &str) {
        fs_err::write(self.path("graph.secret"), format!("{secret}\n")).unwrap();
        graph::private(&self.path("graph.secret"));
    }

    /// The Graph source with `credential`, then `sources` (more `[[source]]` tables), then
    /// `[recipients]` with `recipients` added.
    fn config(&self, credential: &str, sources: &str, recipients: &str) {
        let url = self.graph.url();
        fs_err::write(
            self.path("rcptsync.toml"),
            format!(
                "[[source]]\nname = \"m365\"\nkind = \"graph\"\ntenant = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\n\
                 {credential}\nauthority = \"{url}\"\ngraph_url = \"{url}\"\nca_file = \"{}\"\ntimeout = \"10s\"\n\n\
                 {sources}\n\
                 [recipients]\ndomains = [\"contoso.com\", \"contoso.onmicrosoft.com\"]\n\
                 exclude_domains = ['legacy\\.contoso\\.com']\n{recipients}\n\n\
                 [output]\npath = \"out/relay_recipients\"\n\n{LOOSE}",
                self.graph.ca.display()
            ),
        )
        .unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        let config = self.path("rcptsync.toml");
        rcptsync(
            self.dir.path(),
            &[&["-c", config.to_str().unwrap()], args].concat(),
        )
    }

    fn map(&self) -> Option<String> {
        fs_err::read_to_string(self.path("out/relay_recipients")).ok()
    }

    /// Runs a first extract that writes the map, then clears the server's log.
    fn first_run(&self) {
        self.run(&["extract"]).ok();
        assert_eq!(self.map().unwrap(), MAP);
        self.graph.tenant().log.clear();
    }
}

#[test]
fn graph_writes_the_exact_map_and_names_the_object_of_each_rejection() {
    let s = Setup::new();
    let r = s.run(&["-v", "extract"]).ok();
    assert_eq!(s.map().unwrap(), MAP);
    // Neither the secret nor the token is ever printed, even with -v.
    assert!(
        !r.stderr.contains(SECRET) && !r.stderr.contains("eyJ0eXAi"),
        "{r}"
    );
    assert!(
        r.stderr
            .contains("1 guests not exported; 1 disabled users kept"),
        "{r}"
    );
    // Injected values never reach the map; each rejection names the Graph object.
    for value in ["smtp:@contoso.com", "smtp:evil\\nx@contoso.com"] {
        assert!(
            r.stderr.contains(&format!(
                "graph user df043ff1-49d5-414e-86a4-0747484ebd4c (MalloryI@contoso.com): rejected proxyAddresses value \"{value}\""
            )),
            "{value}: {r}"
        );
    }
    let tenant = s.graph.tenant();
    // Every listing selected its properties and asked for full pages; groups were filtered.
    for listing in [
        "/v1.0/users?$select=id,userPrincipalName,proxyAddresses,accountEnabled,userType&$top=999",
        "/v1.0/groups?$filter=mailEnabled%20eq%20true&$select=id,proxyAddresses&$top=999",
        "/v1.0/contacts?$select=id,proxyAddresses&$top=999",
    ] {
        assert!(
            tenant.log.iter().any(|l| l.ends_with(listing)),
            "{listing}: {:#?}",
            tenant.log
        );
    }
    // Seven users at two per page: four pages, the last three through nextLinks.
    assert_eq!(
        tenant
            .log
            .iter()
            .filter(|l| l.contains(" /v1.0/users?"))
            .count(),
        4
    );
}

#[test]
fn graph_exchange_domains_are_the_verified_email_domains() {
    let s = Setup::new();
    let config = fs_err::read_to_string(s.path("rcptsync.toml"))
        .unwrap()
        .replace(
            "domains = [\"contoso.com\", \"contoso.onmicrosoft.com\"]",
            "domains = \"exchange\"",
        );
    fs_err::write(s.path("rcptsync.toml"), config).unwrap();
    let r = s.run(&["-v", "extract"]).ok();
    // teams-only.contoso.com (no Email) and pending.example (not verified) are not accepted;
    // legacy.contoso.com is, and exclude_domains still drops it.
    assert_eq!(s.map().unwrap(), MAP);
    assert!(
        r.stderr.contains("accepted domains from the tenant: contoso.com, contoso.onmicrosoft.com, legacy.contoso.com"),
        "{r}"
    );
}

#[test]
fn graph_a_domain_change_alone_ends_the_delta_fast_path() {
    let s = Setup::new();
    let config = fs_err::read_to_string(s.path("rcptsync.toml"))
        .unwrap()
        .replace(
            "domains = [\"contoso.com\", \"contoso.onmicrosoft.com\"]",
            "domains = \"exchange\"",
        );
    fs_err::write(s.path("rcptsync.toml"), config).unwrap();
    s.first_run();
    // No user, group or contact changes; the tenant's onmicrosoft.com domain stops taking mail.
    s.graph.tenant().change("domains", |domains| {
        for d in domains.iter_mut() {
            if d["id"] == "contoso.onmicrosoft.com" {
                d["supportedServices"] = serde_json::json!(["OfficeCommunicationsOnline"]);
            }
        }
    });
    let r = s.run(&["extract"]).ok();
    assert!(s.graph.tenant().listed("users"), "{r}");
    let map = s.map().unwrap();
    assert!(!map.contains("@contoso.onmicrosoft.com"), "{map}");
    assert!(r.stdout.contains("-admin@contoso.onmicrosoft.com"), "{r}");
}

#[test]
fn graph_throttling_is_survived() {
    let s = Setup::new();
    s.graph.tenant().faults = vec![
        Fault::Throttle("users", 2),
        Fault::Unavailable("contacts", 1),
    ];
    let r = s.run(&["extract"]).ok();
    assert_eq!(s.map().unwrap(), MAP);
    assert!(
        r.stderr.contains("Graph is throttling; retrying in 1s"),
        "{r}"
    );
    let tenant = s.graph.tenant();
    assert!(tenant.faults.is_empty(), "{:?}", tenant.faults);
}

#[test]
fn graph_throttling_that_outlasts_read_timeout_writes_nothing() {
    stops_at_read_timeout(Fault::Throttle("users", 6), 2, 10);
}

#[test]
fn graph_a_failing_page_writes_nothing() {
    let s = Setup::new();
    s.first_run();
    let before = fs_err::read(s.path("out/relay_recipients")).unwrap();
    {
        let mut tenant = s.graph.tenant();
        tenant.change("users", |users| users.truncate(3));
        tenant.faults = vec![Fault::FailPage("users", 1)];
    }
    let r = s.run(&["extract", "--full"]).code(1);
    assert!(
        r.stderr.contains(&format!(
            "source m365: tenant {TENANT}: https://localhost:{}/v1.0/users: HTTP 500 generalException"
        , s.graph.port)),
        "{r}"
    );
    assert!(r.stderr.contains("nothing was written"), "{r}");
    assert_eq!(
        fs_err::read(s.path("out/relay_recipients")).unwrap(),
        before
    );
}

#[test]
fn graph_a_saved_delta_link_that_is_not_the_delta_function_leads_to_a_full_read() {
    let s = Setup::new();
    s.first_run();
    // The state file is the unprivileged extract user's: a users link edited to another
    // collection's delta round (which has no changes) must not pass for the users' round.
    let state_path = s.path("out/relay_recipients.state");
    let state = fs_err::read_to_string(&state_path).unwrap();
    let link = |name: &str| {
        state
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .unwrap()
            .to_owned()
    };
    let (users, contacts) = (link("users"), link("contacts"));
    fs_err::write(&state_path, state.replace(&users, &contacts)).unwrap();
    s.run(&["extract"]).ok();
    // Not taken for "unchanged": the users' changes are read (from the store's own cursor).
    let tenant = s.graph.tenant();
    let users_round = format!(
        "GET localhost:{} /v1.0/users/delta?$deltatoken=",
        s.graph.port
    );
    assert!(
        tenant.log.iter().any(|l| l.starts_with(&users_round)) || tenant.listed("users"),
        "{:#?}",
        tenant.log
    );
}

/// `--full` reads in full without spending the delta rounds first, and the read leaves new
/// deltaLinks, so the next run takes the fast path again.
#[test]
fn graph_full_skips_the_delta_rounds_and_leaves_new_links() {
    let s = Setup::new();
    s.first_run();
    let inode = || {
        use std::os::unix::fs::MetadataExt as _;
        fs_err::metadata(s.path("out/relay_recipients.state"))
            .unwrap()
            .ino()
    };
    let before = inode();
    s.run(&["extract", "--full"]).ok();
    {
        let tenant = s.graph.tenant();
        assert!(
            !tenant.log.iter().any(|l| l.contains("/delta?$deltatoken=")),
            "{:#?}",
            tenant.log
        );
        assert!(tenant.listed("users"), "{:#?}", tenant.log);
    }
    let after = fs_err::read_to_string(s.path("out/relay_recipients.state")).unwrap();
    assert!(
        after.contains("[delta.m365]") && after.contains("/v1.0/users/delta?$deltatoken="),
        "{after}"
    );
    assert_ne!(before, inode(), "the state of the full read is written");
    s.graph.tenant().log.clear();
    s.run(&["extract"]).ok();
    assert!(!s.graph.tenant().listed("users"));
}

#[test]
fn graph_delta_fast_path_skips_the_listing_until_something_changes() {
    let s = Setup::new();
    s.first_run();
    let state = fs_err::read_to_string(s.path("out/relay_recipients.state")).unwrap();
    assert!(
        state.contains("[delta.m365]") && state.contains("/v1.0/users/delta?$deltatoken="),
        "{state}"
    );
    let mtime = fs_err::metadata(s.path("out/relay_recipients"))
        .unwrap()
        .modified()
        .unwrap();

    // Nothing changed: the delta rounds only, silently.
    let r = s.run(&["extract"]).ok();
    assert_eq!(r.stdout, "");
    {
        let tenant = s.graph.tenant();
        for collection in ["users", "groups", "contacts"] {
            assert!(
                !tenant.listed(collection),
                "{collection} listed: {:#?}",
                tenant.log
            );
            assert!(
                tenant
                    .log
                    .iter()
                    .any(|l| l.contains(&format!("/v1.0/{collection}/delta?$deltatoken="))),
                "{:#?}",
                tenant.log
            );
        }
    }
    assert_eq!(
        fs_err::metadata(s.path("out/relay_recipients"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );

    // A new mailbox: the round sees it and only it is read again (by its id), into the store.
    s.graph.tenant().change("users", |users| {
        users.push(json!({"id": "0e3c5b8a-1f2d-4c6e-9a7b-8d9e0f1a2b3c", "userPrincipalName": "new@contoso.com",
            "proxyAddresses": ["SMTP:New@contoso.com"], "accountEnabled": true, "userType": "Member"}));
    });
    s.graph.tenant().log.clear();
    let r = s.run(&["extract"]).ok();
    assert_eq!(
        r.stdout,
        format!(
            "+new@contoso.com\n{}: 12 recipients, 1 added, 0 removed\n",
            s.path("out/relay_recipients").display()
        )
    );
    assert!(!s.graph.tenant().listed("users"));
    assert!(
        s.graph
            .tenant()
            .read_one("users", "0e3c5b8a-1f2d-4c6e-9a7b-8d9e0f1a2b3c")
    );

    // Unchanged again after that full read.
    s.graph.tenant().log.clear();
    s.run(&["extract"]).ok();
    assert!(!s.graph.tenant().listed("users"));
}

#[test]
fn graph_an_expired_delta_token_falls_back_to_a_full_read() {
    let s = Setup::new();
    s.first_run();
    s.graph.tenant().expired = true;
    let r = s.run(&["-v", "extract"]).ok();
    assert!(
        r.stderr
            .contains("the delta token expired; reading in full"),
        "{r}"
    );
    let tenant = s.graph.tenant();
    assert!(tenant.listed("users") && tenant.listed("groups") && tenant.listed("contacts"));
    assert_eq!(s.map().unwrap(), MAP);
}

#[test]
fn graph_an_expired_token_is_renewed() {
    let s = Setup::new();
    s.graph.tenant().token_uses = Some(3);
    s.run(&["extract"]).ok();
    assert_eq!(s.map().unwrap(), MAP);
    let tenant = s.graph.tenant();
    let tokens = tenant.log.iter().filter(|l| l.starts_with("POST ")).count();
    assert!(tokens >= 3, "{:#?}", tenant.log);
}

#[test]
fn graph_a_wrong_secret_names_the_tenant_and_the_fix() {
    let s = Setup::new();
    s.secret("not-the-secret");
    let r = s.run(&["extract"]).code(1);
    assert!(
        r.stderr.contains(&format!("source m365: tenant {TENANT}: https://localhost:{}/{TENANT}/oauth2/v2.0/token: token request refused (HTTP 401, invalid_client: \"AADSTS7000215: Invalid client secret provided.", s.graph.port)),
        "{r}"
    );
    assert!(
        r.stderr.contains("the client secret is wrong or expired"),
        "{r}"
    );
    assert!(
        !r.stderr.contains("not-the-secret"),
        "the secret was printed: {r}"
    );
    assert_eq!(s.map(), None);
}

#[test]
fn graph_a_secret_file_others_can_read_is_refused_before_anything_connects() {
    let s = Setup::new();
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::set_permissions(
        s.path("graph.secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = s.run(&["extract"]).code(2);
    assert!(
        r.stderr
            .contains("graph.secret is accessible by group or others (mode 0644)"),
        "{r}"
    );
    assert!(s.graph.tenant().log.is_empty());
}

#[test]
fn graph_a_certificate_signs_the_client_assertion() {
    let s = Setup::new();
    let cert = AppCertificate::new(s.dir.path(), "app");
    s.graph
        .tenant()
        .certificates
        .insert(cert.thumbprint.clone(), cert.public_key.clone());
    s.config(
        &format!("client_certificate = \"{}\"", cert.pem.display()),
        "",
        "",
    );
    s.run(&["extract"]).ok();
    assert_eq!(s.map().unwrap(), MAP);
}

#[test]
fn graph_a_certificate_the_tenant_does_not_know_is_refused_with_the_fix() {
    let s = Setup::new();
    let known = AppCertificate::new(s.dir.path(), "known");
    s.graph
        .tenant()
        .certificates
        .insert(known.thumbprint, known.public_key);
    let other = AppCertificate::new(s.dir.path(), "other");
    s.config(
        &format!("client_certificate = \"{}\"", other.pem.display()),
        "",
        "",
    );
    let r = s.run(&["extract"]).code(1);
    assert!(r.stderr.contains("AADSTS700027"), "{r}");
    assert!(r.stderr.contains(&other.thumbprint), "{r}");
    assert!(
        r.stderr
            .contains("the certificate is not known to the app registration"),
        "{r}"
    );
    assert_eq!(s.map(), None);
}

#[test]
fn graph_a_missing_permission_names_it_and_admin_consent() {
    let s = Setup::new();
    s.graph.tenant().permissions.remove("OrgContact.Read.All");
    let r = s.run(&["extract"]).code(1);
    assert!(r.stderr.contains("/v1.0/contacts: HTTP 403 Authorization_RequestDenied: \"Insufficient privileges to complete the operation.\"; grant the application permission OrgContact.Read.All"), "{r}");
    assert!(r.stderr.contains("Grant admin consent"), "{r}");
    assert_eq!(s.map(), None);
}

#[test]
fn graph_check_connect_reads_one_object_of_each_collection_and_names_a_missing_permission() {
    let s = Setup::new();
    let r = s.run(&["-v", "check", "--connect"]).ok();
    for line in [
        "ok: source m365: token for tenant ",
        "ok: source m365: users readable (User.Read.All)",
        "ok: source m365: groups readable (Group.Read.All)",
        "ok: source m365: contacts readable (OrgContact.Read.All)",
        "ok: source m365: change feed: delta",
    ] {
        assert!(r.stdout.contains(line), "{line}: {r}");
    }
    // One object a collection: never the whole tenant.
    let log = s.graph.tenant().log.clone();
    let listings: Vec<&String> = log.iter().filter(|l| l.contains("/v1.0/")).collect();
    assert!(
        !listings.is_empty() && listings.iter().all(|l| l.contains("$top=1")),
        "{log:?}"
    );
    s.graph.tenant().permissions.remove("OrgContact.Read.All");
    let r = s.run(&["check", "--connect"]).code(1);
    assert!(
        r.stderr
            .contains("grant the application permission OrgContact.Read.All"),
        "{r}"
    );
    assert_eq!(s.map(), None);
}

#[test]
fn graph_and_ad_merge_into_one_map_under_one_set_of_guards() {
    let s = Setup::new();
    fs_err::write(
        s.path("ad.ldif"),
        "dn: CN=Onprem,OU=Staff,DC=contoso,DC=com\nproxyAddresses: SMTP:onprem@contoso.com\nproxyAddresses: smtp:AdeleV@contoso.com\n\n",
    )
    .unwrap();
    s.config(
        "client_secret_file = \"graph.secret\"",
        "[[source]]\nname = \"ad\"\nkind = \"ldif\"\npath = \"ad.ldif\"\n",
        "",
    );
    let config = fs_err::read_to_string(s.path("rcptsync.toml"))
        .unwrap()
        .replace(
            "[safety]\n",
            "[safety]\ncanaries = [\"onprem@contoso.com\", \"sales@contoso.com\"]\n",
        );
    fs_err::write(s.path("rcptsync.toml"), config).unwrap();
    s.run(&["extract"]).ok();
    let map = s.map().unwrap();
    let mut expected: Vec<&str> = MAP.lines().chain(["onprem@contoso.com OK"]).collect();
    expected.sort();
    assert_eq!(
        map,
        expected
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    // A tenant that cannot be read fails the run: the AD half alone is never written.
    s.graph.tenant().faults = vec![Fault::FailPage("groups", 0)];
    s.run(&["extract", "--full"]).code(1);
    assert_eq!(s.map().unwrap(), map);
}

#[test]
fn graph_a_repeating_next_link_fails_the_read() {
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::RepeatNextLink("users")];
    let r = s.run(&["extract"]).code(1);
    assert!(
        r.stderr
            .contains("the server sent a nextLink that was already read"),
        "{r}"
    );
    assert_eq!(s.map(), None);
}

#[test]
fn graph_an_oversized_body_is_refused() {
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::Oversized("groups")];
    let r = s.run(&["extract"]).code(1);
    assert!(
        r.stderr
            .contains("/v1.0/groups: the answer is larger than 16 MiB and was refused"),
        "{r}"
    );
    assert_eq!(s.map(), None);
}

#[test]
fn graph_an_oversized_body_without_a_length_is_cut_off_at_the_limit() {
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::OversizedUnannounced("groups")];
    let started = std::time::Instant::now();
    let r = s.run(&["extract"]).code(1);
    assert!(
        r.stderr
            .contains("/v1.0/groups: the answer is larger than 16 MiB and was refused"),
        "{r}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{r}"
    );
    assert_eq!(s.map(), None);
}

#[test]
fn graph_a_next_link_chain_that_never_ends_stops_at_read_timeout() {
    stops_at_read_timeout(Fault::EndlessNextLink("users"), 3, 15);
}

/// With `fault`, a full read ends after `read_timeout` (`seconds`), well within `limit`
/// seconds, naming the key; the map from the first run is left as it was.
fn stops_at_read_timeout(fault: Fault, seconds: u64, limit: u64) {
    let s = Setup::new();
    s.first_run();
    // The credential line is the place for extra source keys.
    s.config(
        &format!("client_secret_file = \"graph.secret\"\nread_timeout = \"{seconds}s\""),
        "",
        "",
    );
    s.graph.tenant().faults = vec![fault];
    let started = std::time::Instant::now();
    let r = s.run(&["extract", "--full"]).code(1);
    assert!(
        r.stderr.contains(&format!(
            "the read took longer than read_timeout = {seconds}s"
        )),
        "{r}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(limit),
        "{r}"
    );
    assert_eq!(s.map().unwrap(), MAP);
}

#[test]
fn graph_a_next_link_to_another_host_is_not_followed() {
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::ForeignNextLink("users")];
    let r = s.run(&["extract"]).code(1);
    assert!(
        r.stderr.contains(&format!(
            "https://127.0.0.1:{}/v1.0/users: the server sent a link outside graph_url",
            s.graph.port
        )),
        "{r}"
    );
    assert!(
        !s.graph
            .tenant()
            .log
            .iter()
            .any(|l| l.contains(" 127.0.0.1:")),
        "the token went elsewhere"
    );
    assert_eq!(s.map(), None);
}

#[test]
fn graph_urls_must_be_https() {
    let s = Setup::new();
    let config = fs_err::read_to_string(s.path("rcptsync.toml"))
        .unwrap()
        .replace(
            &format!("graph_url = \"{}\"", s.graph.url()),
            &format!("graph_url = \"http://localhost:{}\"", s.graph.port),
        );
    fs_err::write(s.path("rcptsync.toml"), config).unwrap();
    let r = s.run(&["extract"]).code(2);
    assert!(
        r.stderr.contains("source.graph_url: ") && r.stderr.contains("https is required"),
        "{r}"
    );
}

#[test]
fn graph_a_token_lifetime_past_the_clocks_end_is_capped() {
    // 2^64-1 seconds, as a number and as a string: adding it to the clock overflowed (a
    // panic). The token is still used, and renewed long before such a time.
    for expires_in in [json!(u64::MAX), json!(u64::MAX.to_string())] {
        let s = Setup::new();
        s.graph.tenant().expires_in = expires_in.clone();
        let r = s.run(&["extract"]);
        assert!(!r.stderr.contains("panicked"), "{expires_in}: {r}");
        r.ok();
        assert_eq!(s.map().unwrap(), MAP, "{expires_in}");
    }
}

/// Asserts that nothing the tenant said started a line of its own in `run`'s stderr, or
/// reached it with a raw escape sequence or carriage return (which redraws a terminal line).
#[track_caller]
fn assert_no_forged_lines(run: &Run) {
    assert!(
        !run.stderr
            .lines()
            .any(|l| l.starts_with("rcptsync: error: forged")),
        "{run}"
    );
    assert!(!run.stderr.contains('\x1b'), "raw ESC in stderr: {run:?}");
    assert!(!run.stderr.contains('\r'), "raw CR in stderr: {run:?}");
}

#[test]
fn graph_values_from_the_tenant_cannot_forge_log_lines() {
    // An object whose id and UPN carry a line of their own, with a value that is rejected (the
    // rejection names the object).
    let s = Setup::new();
    s.graph.tenant().change("users", |users| {
        users.push(json!({"id": format!("b6f1c3a2{FORGED} by an id{ESC}"),
            "userPrincipalName": format!("eve{FORGED} by a UPN{ESC}@contoso.com"),
            "proxyAddresses": ["smtp:eve two@contoso.com"], "accountEnabled": true, "userType": "Member"}));
    });
    let r = s.run(&["extract"]).ok();
    assert_no_forged_lines(&r);
    // The object is still named, escaped.
    assert!(
        r.stderr.contains(
            "graph user \"b6f1c3a2\\nrcptsync: error: forged by an id\\u{1b}[31m\" (\"eve\\nrcptsync: error: forged by a UPN\\u{1b}[31m@contoso.com\"): rejected proxyAddresses value"
        ),
        "{r}"
    );

    // Graph's error code and message in a refusal.
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::HostileError("users")];
    let r = s.run(&["extract"]).code(1);
    assert_no_forged_lines(&r);
    assert!(
        r.stderr.contains(
            "/v1.0/users: HTTP 500 \"generalException\\nrcptsync: error: forged by error.code\\u{1b}[31m\": \"An unspecified error has occurred.\\nrcptsync: error: forged by error.message"
        ),
        "{r}"
    );

    // The token endpoint's error and error_description.
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::HostileTokenError];
    let r = s.run(&["extract"]).code(1);
    assert_no_forged_lines(&r);
    assert!(
        r.stderr.contains("token request refused (HTTP 401, \"invalid_client\\nrcptsync: error: forged by error\\u{1b}[31m\": \"AADSTS7000215: Invalid client secret provided.\\u{1b}[31m\\rrcptsync: error: forged by error_description\")"),
        "{r}"
    );

    // A nextLink on the right origin, with a newline in its path: refused, and named escaped.
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::HostileNextLink("users")];
    let r = s.run(&["extract"]).code(1);
    assert_no_forged_lines(&r);
    assert!(
        r.stderr
            .contains("\\nrcptsync: error: forged by a nextLink")
            && r.stderr.contains("a control character"),
        "{r}"
    );
    assert_eq!(s.map(), None);
    assert!(
        !s.graph.tenant().log.iter().any(|l| l.contains("forged")),
        "the link was requested: {:#?}",
        s.graph.tenant().log
    );
}

#[test]
fn graph_an_over_long_next_link_is_refused_naming_the_page() {
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::LongNextLink("users", 64 << 10)];
    let r = s.run(&["extract"]).code(1);
    assert!(
        r.stderr.contains(&format!(
            "https://localhost:{}/v1.0/users: the answer's @odata.nextLink is 65536 bytes long",
            s.graph.port
        )),
        "{r}"
    );
    assert_eq!(s.map(), None);
    // A long link within the bound is followed.
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::LongNextLink("users", 8 << 10)];
    s.run(&["extract"]).ok();
    assert_eq!(s.map().unwrap(), MAP);
}

#[test]
fn graph_a_page_of_tiny_json_values_costs_bounded_memory() {
    // Just under the page limit of tiny values (`0,`) that rcptsync never asked for: read
    // into a generic JSON tree this peaked at 16 times the page's size. The run works.
    let s = Setup::new();
    s.graph.tenant().faults = vec![Fault::HeavyPage("users", (16 << 20) - (64 << 10))];
    let config = s.path("rcptsync.toml");
    let (r, peak) = rcptsync_peak(s.dir.path(), &["-c", config.to_str().unwrap(), "extract"]);
    let r = r.ok();
    assert_eq!(s.map().unwrap(), MAP, "{r}");
    assert!(peak < 64, "peak RSS {peak} MiB: {r}");
}

#[test]
fn graph_internal_relay_opens_a_tenant_domain() {
    // The tenant's /domains does not say which domains are shared address spaces:
    // internal_relay does, and each must be one of the tenant's accepted domains.
    let s = Setup::new();
    let config = fs_err::read_to_string(s.path("rcptsync.toml")).unwrap();
    let with = |open: &str| {
        config.replace(
            "domains = [\"contoso.com\", \"contoso.onmicrosoft.com\"]",
            &format!("domains = \"exchange\"\ninternal_relay = [\"{open}\"]"),
        )
    };
    fs_err::write(s.path("rcptsync.toml"), with("Contoso.onmicrosoft.com")).unwrap();
    let r = s.run(&["extract"]).ok();
    assert_eq!(
        s.map().unwrap(),
        format!("@contoso.onmicrosoft.com OK\n{MAP}")
    );
    assert!(
        r.stderr.contains(
            "error: contoso.onmicrosoft.com is now open: the map accepts every address in it"
        ),
        "{r}"
    );
    // pending.example is not verified: not accepted, so it cannot be opened.
    fs_err::write(s.path("rcptsync.toml"), with("pending.example")).unwrap();
    let r = s.run(&["extract", "--full"]).code(2);
    assert!(
        r.stderr.contains(
            "recipients.internal_relay: pending.example is not one of Exchange's accepted domains"
        ),
        "{r}"
    );
    assert_eq!(
        s.map().unwrap(),
        format!("@contoso.onmicrosoft.com OK\n{MAP}")
    );
}

/// The number of changed objects an incremental run on Graph says it read.
fn delta_read(run: &Run) -> Option<usize> {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("incremental (delta): "))?;
    line.split("incremental (delta): ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

#[test]
fn graph_incremental_maps_equal_full_reads_after_every_round_of_random_changes() {
    // The delta rounds applied to the store: after each round of random changes (users added,
    // deleted, made guests and members again, their addresses changed, disabled; groups made
    // mail-enabled or not; contacts changed; properties nobody exports changed), an
    // incremental run gives, byte for byte, the map of a full read of another config, and
    // lists nothing.
    let s = Setup::new();
    let config = fs_err::read_to_string(s.path("rcptsync.toml")).unwrap();
    fs_err::write(
        s.path("full.toml"),
        config.replace("out/relay_recipients", "full/relay_recipients"),
    )
    .unwrap();
    s.first_run();
    let mut seed = 0x5eed_6a9b_0000_0001u64;
    let mut below = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut next = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for round in 1..=30 {
        let count = 1 + below(4);
        let mut log = Vec::new();
        for _ in 0..count {
            next += 1;
            let kind = below(9);
            kinds.insert(kind);
            let mut tenant = s.graph.tenant();
            let pick = |v: &Vec<serde_json::Value>, n: usize| n % v.len().max(1);
            let r = below(1000);
            match kind {
                0 => tenant.change("users", |users| {
                    users.push(json!({"id": format!("00000000-0000-4000-8000-{next:012}"),
                        "userPrincipalName": format!("n{next}@contoso.com"),
                        "proxyAddresses": [format!("SMTP:n{next}@contoso.com"), format!("smtp:n{next}@contoso.onmicrosoft.com")],
                        "accountEnabled": true, "userType": "Member"}));
                }),
                1 => tenant.change("users", |users| {
                    if users.len() > 3 {
                        let i = pick(users, r);
                        users.remove(i);
                    }
                }),
                2 => tenant.change("users", |users| {
                    let i = pick(users, r);
                    let guest = users[i]["userType"] == "Guest";
                    users[i]["userType"] = json!(if guest { "Member" } else { "Guest" });
                }),
                3 => tenant.change("users", |users| {
                    let i = pick(users, r);
                    users[i]["proxyAddresses"] = json!([format!("SMTP:p{next}@contoso.com")]);
                }),
                4 => tenant.change("users", |users| {
                    let i = pick(users, r);
                    let enabled = users[i]["accountEnabled"] == true;
                    users[i]["accountEnabled"] = json!(!enabled);
                }),
                5 => tenant.change("groups", |groups| {
                    let i = pick(groups, r);
                    let enabled = groups[i]["mailEnabled"] == true;
                    groups[i]["mailEnabled"] = json!(!enabled);
                }),
                6 => tenant.change("contacts", |contacts| {
                    let i = pick(contacts, r);
                    contacts[i]["proxyAddresses"] = json!([format!("SMTP:c{next}@contoso.com")]);
                }),
                7 => tenant.change("groups", |groups| {
                    let i = pick(groups, r);
                    groups[i]["proxyAddresses"] = json!([format!("SMTP:g{next}@contoso.com")]);
                }),
                // A property nobody exports.
                _ => tenant.change("users", |users| {
                    let i = pick(users, r);
                    users[i]["displayName"] = json!(format!("d{next}"));
                }),
            }
            log.push(kind);
        }
        s.graph.tenant().log.clear();
        let run = s.run(&["-v", "extract"]).ok();
        let read = delta_read(&run)
            .unwrap_or_else(|| panic!("round {round}: not an incremental run\n{run}"));
        assert!(
            read <= count,
            "round {round}: read {read} for {count} changes\n{run}"
        );
        {
            let tenant = s.graph.tenant();
            for collection in ["users", "groups", "contacts"] {
                assert!(
                    !tenant.listed(collection),
                    "round {round}: {collection} listed"
                );
            }
        }
        let full = s.path("full.toml");
        rcptsync(
            s.dir.path(),
            &["-c", full.to_str().unwrap(), "extract", "--full"],
        )
        .ok();
        assert_eq!(
            s.map().unwrap(),
            fs_err::read_to_string(s.path("full/relay_recipients")).unwrap(),
            "round {round}: changes {log:?}"
        );
    }
    assert_eq!(kinds.len(), 9, "every kind of change was made: {kinds:?}");
}

#[test]
fn graph_more_changes_than_are_worth_reading_one_by_one_mean_a_full_read() {
    // 1,001 new users: the delta round names them all, and a full read costs less than 1,001
    // reads by id (nor are more ids than that kept, whatever the rounds name).
    let s = Setup::new();
    s.first_run();
    s.graph.tenant().change("users", |users| {
        for n in 0..1001 {
            users.push(json!({"id": format!("00000000-0000-4000-9000-{n:012}"),
                "userPrincipalName": format!("bulk{n}@contoso.com"),
                "proxyAddresses": [format!("SMTP:bulk{n}@contoso.com")],
                "accountEnabled": true, "userType": "Member"}));
        }
    });
    let r = s.run(&["-v", "extract"]).ok();
    assert_eq!(delta_read(&r), None, "{r}");
    assert!(r.stderr.contains("more than 1000 objects changed"), "{r}");
    assert!(s.graph.tenant().listed("users"));
    assert!(
        !s.graph
            .tenant()
            .read_one("users", "00000000-0000-4000-9000-000000000000")
    );
    assert!(s.map().unwrap().contains("bulk1000@contoso.com OK\n"));
}

#[test]
fn graph_objects_without_an_id_leave_no_store_behind() {
    // Objects without an id cannot be kept apart in the store (their keys would be counted
    // as one object's): the map is written, the store is not kept, and the next run reads in
    // full again.
    let s = Setup::new();
    s.graph.tenant().change("users", |users| {
        for n in 0..2 {
            users.push(json!({"userPrincipalName": format!("noid{n}@contoso.com"),
                "proxyAddresses": [format!("SMTP:noid{n}@contoso.com")],
                "accountEnabled": true, "userType": "Member"}));
        }
    });
    let r = s.run(&["extract"]).ok();
    assert!(r.stderr.contains("listed 1 object(s) twice"), "{r}");
    assert!(s.map().unwrap().contains("noid1@contoso.com OK\n"));
    assert!(!s.path("out/relay_recipients.store").exists());
}

#[test]
fn graph_watch_makes_delta_rounds_every_graph_poll_and_lists_nothing_while_idle() {
    let s = Setup::new();
    let config = fs_err::read_to_string(s.path("rcptsync.toml")).unwrap();
    fs_err::write(
        s.path("rcptsync.toml"),
        format!("{config}\n[watch]\ngraph_poll = \"1s\"\n"),
    )
    .unwrap();
    s.first_run();
    let mut watch = crate::cli::watch::Watch::start(s.dir.path());
    let limit = std::time::Duration::from_secs(15);
    // Idle: rounds of the delta function every second (not every poll, 5 s), and no listing.
    let rounds = || {
        s.graph
            .tenant()
            .log
            .iter()
            .filter(|l| l.contains("/v1.0/users/delta?$deltatoken="))
            .count()
    };
    watch.wait_for("a first round", limit, || rounds() >= 1);
    let before = rounds();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert!(
        rounds() - before >= 2,
        "{} rounds in 3.5 s",
        rounds() - before
    );
    for collection in ["users", "groups", "contacts"] {
        assert!(!s.graph.tenant().listed(collection), "{collection} listed");
    }

    s.graph.tenant().change("users", |users| {
        users.push(json!({"id": "0e3c5b8a-1f2d-4c6e-9a7b-8d9e0f1a2b3c", "userPrincipalName": "new@contoso.com",
            "proxyAddresses": ["SMTP:New@contoso.com"], "accountEnabled": true, "userType": "Member"}));
    });
    watch.wait_for("the new mailbox", limit, || {
        s.map().unwrap_or_default().contains("new@contoso.com OK")
    });
    assert_eq!(watch.stop(std::time::Duration::from_secs(5)), 0);
}
