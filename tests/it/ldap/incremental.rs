//! Incremental reads against a real slapd with syncprov and a real Samba AD DC (bound as a
//! plain domain user): after every round of random changes
//! an incremental run must give, byte for byte, the map a full read gives, and say that it
//! read only the changes. Plus what must make a run read in full: a damaged, foreign or
//! missing store, a map written by someone else, a killed run, a refused change.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::fixture::samba::Samba;
use crate::fixture::slapd::{Slapd, mailbox, mailboxes};
use crate::ldap::slapd::ldap_config;
use crate::support::{Run, rcptsync};

/// The source reads OU=Staff only: OU=Elsewhere is outside its base, for moves out and in.
const STAFF: &str = "OU=Staff,DC=example,DC=com";
const ELSEWHERE: &str = "OU=Elsewhere,DC=example,DC=com";

/// slapd with `n` mailboxes under OU=Staff and an OU outside the base.
fn serving(n: usize) -> Slapd {
    let ldif = format!(
        "dn: {ELSEWHERE}\nobjectClass: organizationalUnit\nou: Elsewhere\n\n{}",
        mailboxes(n)
    );
    let slapd = Slapd::start(&ldif);
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\", \"*.corp.example.com\"]",
    );
    // The source's base is OU=Staff; a second config reads the same in full elsewhere.
    let config = fs_err::read_to_string(slapd.path("rcptsync.toml")).unwrap();
    let config = config.replace(
        &format!("base_dn = \"{}\"", Slapd::BASE_DN),
        &format!("base_dn = \"{STAFF}\""),
    );
    fs_err::write(slapd.path("rcptsync.toml"), &config).unwrap();
    fs_err::write(
        slapd.path("full.toml"),
        config.replace("out/relay_recipients", "full/relay_recipients"),
    )
    .unwrap();
    slapd
}

fn incremental(dir: &Path) -> Run {
    rcptsync(dir, &["-v", "extract", "-c", "rcptsync.toml", "--force"])
}

fn full(dir: &Path) -> Run {
    rcptsync(dir, &["extract", "-c", "full.toml", "--full", "--force"])
}

/// A run of `rcptsync.toml` once `[safety].full_every` has passed: a full reconcile.
fn reconcile(dir: &Path) -> Run {
    crate::library::age_store(&dir.join("out/relay_recipients.store"));
    let run = rcptsync(dir, &["-v", "extract", "-c", "rcptsync.toml"]).ok();
    assert!(
        run.stderr.contains("older than [safety].full_every"),
        "{run}"
    );
    run
}

/// The number of changed objects an incremental run says it read; None when it read in full.
fn changed_read(run: &Run) -> Option<usize> {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("incremental (syncrepl): "))?;
    let rest = line.split("incremental (syncrepl): ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

fn same_maps(dir: &Path, round: usize, log: &str) {
    same_files(
        dir,
        "out/relay_recipients",
        "full/relay_recipients",
        round,
        log,
    );
}

/// Panics, showing the lines each has alone, unless `a` and `b` in `dir` are the same bytes.
fn same_files(dir: &Path, a: &str, b: &str, round: usize, log: &str) {
    let a = fs_err::read(dir.join(a)).unwrap();
    let b = fs_err::read(dir.join(b)).unwrap();
    if a != b {
        let a = String::from_utf8_lossy(&a);
        let b = String::from_utf8_lossy(&b);
        let only_a: Vec<_> = a.lines().filter(|l| !b.contains(l)).collect();
        let only_b: Vec<_> = b.lines().filter(|l| !a.contains(l)).collect();
        panic!(
            "round {round}: the incremental file differs from a full read's\n\
             only incremental: {only_a:?}\nonly full: {only_b:?}\nchanges:\n{log}"
        );
    }
}

/// A small deterministic generator (xorshift): the rounds are the same on every run, and a
/// failure names its round.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One object the test knows of: its cn and whether it is under OU=Staff now.
struct Known {
    cn: String,
    inside: bool,
}

fn dn(known: &Known) -> String {
    let ou = if known.inside { STAFF } else { ELSEWHERE };
    format!("CN={},{ou}", known.cn)
}

/// One random change as ldapmodify input, and what it did (for the failure message).
fn random_change(rng: &mut Random, objects: &mut Vec<Known>, next: &mut usize) -> String {
    let pick = rng.below(objects.len());
    let target = dn(&objects[pick]);
    let modify = |change: &str| format!("dn: {target}\nchangetype: modify\n{change}\n-\n\n");
    match rng.below(12) {
        0 => {
            *next += 1;
            let cn = format!("new{next}");
            objects.push(Known {
                cn: cn.clone(),
                inside: true,
            });
            mailbox(&cn, &[&format!("SMTP:{cn}@example.com"), "X500:/o=x"]).replacen(
                "\n",
                "\nchangetype: add\n",
                1,
            )
        }
        1 => {
            objects.swap_remove(pick);
            format!("dn: {target}\nchangetype: delete\n\n")
        }
        2 => {
            *next += 1;
            let cn = format!("renamed{next}");
            let out =
                format!("dn: {target}\nchangetype: modrdn\nnewrdn: CN={cn}\ndeleteoldrdn: 1\n\n");
            objects[pick].cn = cn;
            out
        }
        3 => {
            // A move out of the base, or back in.
            let known = &mut objects[pick];
            known.inside = !known.inside;
            let superior = if known.inside { STAFF } else { ELSEWHERE };
            format!(
                "dn: {target}\nchangetype: modrdn\nnewrdn: CN={}\ndeleteoldrdn: 1\n\
                 newsuperior: {superior}\n\n",
                known.cn
            )
        }
        4 => {
            *next += 1;
            modify(&format!(
                "add: proxyAddresses\nproxyAddresses: smtp:alias{next}@example.com"
            ))
        }
        5 => modify("replace: proxyAddresses\nproxyAddresses: X500:/o=only-x500"),
        6 => {
            *next += 1;
            modify(&format!(
                "replace: proxyAddresses\nproxyAddresses: SMTP:{}@example.com\n\
                 proxyAddresses: smtp:other{next}@eu.corp.example.com",
                objects[pick].cn
            ))
        }
        7 => modify("replace: msExchRequireAuthToSendTo\nmsExchRequireAuthToSendTo: TRUE"),
        8 => modify("replace: msExchRequireAuthToSendTo\nmsExchRequireAuthToSendTo: FALSE"),
        9 => format!("dn: {target}\nchangetype: modify\nreplace: mailNickname\n-\n\n"),
        10 => modify(&format!(
            "replace: mailNickname\nmailNickname: {}",
            objects[pick].cn
        )),
        // An unrelated attribute, or an unrelated object.
        _ => {
            *next += 1;
            if rng.below(2) == 0 {
                modify(&format!("replace: description\ndescription: note {next}"))
            } else {
                format!(
                    "dn: {}\nchangetype: modify\n\
                     replace: description\ndescription: note {next}\n-\n\n",
                    Slapd::BIND_DN
                )
            }
        }
    }
}

#[test]
fn incremental_maps_equal_full_reads_after_every_round_of_random_changes() {
    let slapd = serving(300);
    let dir = slapd.dir();
    // A CSV export names each address's object: after an incremental read, the objects it
    // did not read come from the store, and the file must be a full read's too.
    for (config, csv) in [
        ("rcptsync.toml", "out/origins.csv"),
        ("full.toml", "full/origins.csv"),
    ] {
        let text = fs_err::read_to_string(dir.join(config)).unwrap();
        let text = format!("{text}\n[[export]]\npath = \"{csv}\"\nformat = \"csv\"\n");
        fs_err::write(dir.join(config), text).unwrap();
    }
    // Full reads (there is no store yet), the same map.
    let first = incremental(dir).ok();
    assert_eq!(changed_read(&first), None, "{first}");
    assert!(first.stderr.contains("there is no store"), "{first}");
    full(dir).ok();
    same_maps(dir, 0, "");
    assert!(dir.join("out/relay_recipients.store").exists());

    let mut objects: Vec<Known> = (0..300)
        .map(|i| Known {
            cn: format!("user{i}"),
            inside: true,
        })
        .collect();
    let mut rng = Random(0x5eed_1234_abcd_0001);
    let mut next = 0;
    for round in 1..=40 {
        let count = 1 + rng.below(6);
        let mut log = String::new();
        for _ in 0..count {
            log.push_str(&random_change(&mut rng, &mut objects, &mut next));
        }
        slapd.modify("ldapmodify", &log);
        let run = incremental(dir).ok();
        let read = changed_read(&run)
            .unwrap_or_else(|| panic!("round {round}: not an incremental run\n{run}"));
        // Only what changed: each change touches one object (a rename may be told as its
        // own change), never the directory.
        assert!(
            read <= count,
            "round {round}: read {read} objects for {count} changes\n{run}"
        );
        assert!(
            !run.stderr.contains("still there"),
            "round {round}: a present phase\n{run}"
        );
        full(dir).ok();
        same_maps(dir, round, &log);
        same_files(dir, "out/origins.csv", "full/origins.csv", round, &log);
    }
    // The ids are the objects' entryUUIDs.
    let csv = fs_err::read_to_string(dir.join("out/origins.csv")).unwrap();
    let row = csv.lines().nth(1).unwrap();
    let id = row.rsplit(',').next().unwrap();
    assert!(
        row.contains(",ad,") && id.len() == 36 && id.matches('-').count() == 4,
        "{row}"
    );
    // Status and the metrics tell how the last run read the source.
    let status = rcptsync(dir, &["status", "-c", "rcptsync.toml"]).ok();
    assert!(
        status
            .stdout
            .contains("source ad: last run read only the changes (syncrepl, cursor cookie=rid="),
        "{status}"
    );
    let json = rcptsync(dir, &["status", "-c", "rcptsync.toml", "--json"]).ok();
    assert!(json.stdout.contains("\"method\": \"syncrepl\""), "{json}");
    full(dir).ok();
    let status = rcptsync(dir, &["status", "-c", "full.toml"]).ok();
    assert!(
        status.stdout.contains("source ad: last run read in full"),
        "{status}"
    );
    // A full reconcile of the incrementally kept store finds nothing to report.
    let run = reconcile(dir);
    assert!(!run.stderr.contains("had wrong"), "{run}");
    let status = rcptsync(dir, &["status", "-c", "rcptsync.toml"]).ok();
    assert!(
        status.stdout.contains("last full reconcile: no drift"),
        "{status}"
    );
}

#[test]
fn a_full_reconcile_names_the_objects_an_incremental_read_had_wrong() {
    // An object changed in the store behind the feed's back stands for a change an
    // incremental read missed: the next full reconcile must name it, and set it right.
    let slapd = serving(20);
    let dir = slapd.dir();
    fs_err::create_dir(dir.join("prom")).unwrap();
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!("{config}\n[metrics]\ntextfile = \"prom/rcptsync.prom\"\n"),
    )
    .unwrap();
    incremental(dir).ok();
    let user3 = format!("CN=user3,{STAFF}");
    crate::library::falsify_store(
        &dir.join("out/relay_recipients.store"),
        "ad",
        &user3,
        "SMTP:ghost@example.com",
    );
    // A change made before the reconcile is no drift.
    slapd.modify("ldapadd", &mailbox("during", &["SMTP:during@example.com"]));
    let run = reconcile(dir);
    assert!(
        run.stderr
            .contains("found 1 object(s) that the incremental reads had wrong")
            && run.stderr.to_lowercase().contains(&user3.to_lowercase()),
        "{run}"
    );
    assert!(run.stdout.contains("+during@example.com"), "{run}");
    full(dir).ok();
    same_maps(dir, 0, "");
    let status = rcptsync(dir, &["status", "-c", "rcptsync.toml"]).ok();
    assert!(
        status.stdout.contains("last full reconcile: 1 object(s)"),
        "{status}"
    );
    let prom = fs_err::read_to_string(dir.join("prom/rcptsync.prom")).unwrap();
    assert!(prom.contains("\nrcptsync_drift_objects 1\n"), "{prom}");
}

#[test]
fn a_store_that_cannot_be_trusted_means_a_full_read_that_replaces_it() {
    let slapd = serving(50);
    let dir = slapd.dir();
    let store = dir.join("out/relay_recipients.store");
    incremental(dir).ok();
    let add = |cn: &str| {
        slapd.modify(
            "ldapadd",
            &mailbox(cn, &[&format!("SMTP:{cn}@example.com")]),
        )
    };
    add("a1");
    assert!(changed_read(&incremental(dir).ok()).is_some());

    // Damaged: a warning, a full read, and a store that works again.
    let bytes = fs_err::read(&store).unwrap();
    fs_err::write(&store, &bytes[..bytes.len() / 3]).unwrap();
    add("a2");
    let run = incremental(dir).ok();
    assert_eq!(changed_read(&run), None, "{run}");
    assert!(run.stdout.contains("+a2@example.com"), "{run}");
    add("a3");
    assert!(changed_read(&incremental(dir).ok()).is_some());

    // Garbage, and a link instead of the store: the same.
    fs_err::write(&store, b"garbage".repeat(1000)).unwrap();
    add("a4");
    let run = incremental(dir).ok();
    assert_eq!(changed_read(&run), None, "{run}");
    assert!(
        run.stderr.contains(".store"),
        "the warning names the store\n{run}"
    );
    let elsewhere = dir.join("elsewhere.store");
    fs_err::rename(&store, &elsewhere).unwrap();
    fs_err::os::unix::fs::symlink(&elsewhere, &store).unwrap();
    add("a5");
    let run = incremental(dir).ok();
    assert_eq!(changed_read(&run), None, "{run}");
    assert!(
        fs_err::symlink_metadata(&store).unwrap().is_file(),
        "the link was replaced"
    );

    // Damaged inside (redb is fine, a record is not): the run that meets it reads in full.
    let user3 = format!("CN=user3,{STAFF}");
    crate::library::damage_store_record(&store, "ad", &user3);
    slapd.modify(
        "ldapmodify",
        &format!("dn: {user3}\nchangetype: modify\nadd: proxyAddresses\nproxyAddresses: smtp:u3b@example.com\n-\n\n"),
    );
    let run = incremental(dir).ok();
    assert!(run.stderr.contains("damaged"), "{run}");
    assert!(run.stdout.contains("+u3b@example.com"), "{run}");
    add("a5b");
    assert!(changed_read(&incremental(dir).ok()).is_some());

    // A store of another config (another filter): a full read.
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        config.replace(
            "[recipients]",
            "filter = \"(mailNickname=*)\"\n\n[recipients]",
        ),
    )
    .unwrap();
    add("a6");
    let run = incremental(dir).ok();
    assert_eq!(changed_read(&run), None, "{run}");
    assert!(run.stderr.contains("config changed"), "{run}");

    // A map someone else wrote: a full read, not the store's keys on top of it.
    add("a7");
    let map = dir.join("out/relay_recipients");
    let text = fs_err::read_to_string(&map).unwrap();
    fs_err::write(&map, format!("{text}intruder@example.com OK\n")).unwrap();
    let run = incremental(dir).ok();
    assert_eq!(changed_read(&run), None, "{run}");
    assert!(run.stdout.contains("-intruder@example.com"), "{run}");
    add("a8");
    assert!(changed_read(&incremental(dir).ok()).is_some());
}

#[test]
fn a_store_that_cannot_be_written_costs_the_shortcut_not_the_map() {
    // 8,000 mailboxes: a map of about 500 KB, a store of a few MB. A file size limit between
    // the two fails the store's writes as a full disk would (SIGXFSZ ignored: the write
    // fails with EFBIG): the map is still written, and the next run reads in full again.
    let slapd = serving(8000);
    let dir = slapd.dir();
    let run: Run = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2048; exec \"$0\" -v extract -c rcptsync.toml --force")
        .arg(env!("CARGO_BIN_EXE_rcptsync"))
        .current_dir(dir)
        .output()
        .unwrap()
        .into();
    let run = run.ok();
    assert!(
        run.stderr.contains("the next run reads in full again"),
        "{run}"
    );
    assert!(!dir.join("out/relay_recipients.store").exists(), "{run}");
    full(dir).ok();
    same_maps(dir, 0, "the first run, whose store could not be written");
    slapd.modify("ldapadd", &mailbox("late", &["SMTP:late@example.com"]));
    let run = incremental(dir).ok();
    assert_eq!(changed_read(&run), None, "{run}");
    assert!(run.stdout.contains("+late@example.com"), "{run}");
    assert!(dir.join("out/relay_recipients.store").exists(), "{run}");
}

/// `rcptsync -v extract -c rcptsync.toml EXTRA...` in `dir`.
fn extract_in(dir: &Path, extra: &[&str]) -> Run {
    rcptsync(
        dir,
        &[&["-v", "extract", "-c", "rcptsync.toml"], extra].concat(),
    )
}

/// Deletes the mailboxes user{range} of OU=Staff.
fn delete_staff(slapd: &Slapd, range: std::ops::Range<usize>) {
    let deletions: String = range
        .map(|i| format!("dn: CN=user{i},{STAFF}\nchangetype: delete\n\n"))
        .collect();
    slapd.modify("ldapmodify", &deletions);
}

/// The held change in `dir`, as review's JSON gives it; and its one origin (lower case) with
/// its count.
fn held(dir: &Path) -> (serde_json::Value, (String, u64)) {
    let review = rcptsync(dir, &["review", "--json", "-c", "rcptsync.toml"]).ok();
    let json: serde_json::Value = serde_json::from_str(&review.stdout).unwrap();
    let held = json["held"][0].clone();
    let by_source = held["by_source"].as_object().unwrap();
    assert_eq!(by_source.len(), 1, "{review}");
    let (origin, count) = by_source.iter().next().unwrap();
    let origin = (origin.to_lowercase(), count.as_u64().unwrap());
    (held, origin)
}

#[test]
fn a_mass_deletion_read_as_changes_is_held_while_new_mailboxes_flow_until_approved() {
    // A mass deletion that arrives as changes trips the removal guard like one found by a
    // full read: the map keeps the addresses, says so once, and takes the next new mailbox;
    // the store moves on (it holds what the directory has), so a full reconcile finds no
    // drift; the approval applies the deletion on an incremental run.
    let slapd = serving(100);
    let dir = slapd.dir();
    let extract = |extra: &[&str]| extract_in(dir, extra);
    extract(&[]).ok();
    let before = fs_err::read_to_string(dir.join("out/relay_recipients")).unwrap();
    delete_staff(&slapd, 0..60);
    // The 60 mailboxes had 140 addresses.
    let run = extract(&[]).code(3);
    assert!(changed_read(&run).is_some(), "{run}");
    assert!(run.stderr.contains("holding back 140 removal(s)"), "{run}");
    assert_eq!(
        fs_err::read_to_string(dir.join("out/relay_recipients")).unwrap(),
        before
    );
    // Said once; the new mailbox gets through behind it.
    assert!(!extract(&[]).ok().stderr.contains("holding back"));
    slapd.modify("ldapadd", &mailbox("late", &["SMTP:late@example.com"]));
    let run = extract(&[]).ok();
    assert_eq!(changed_read(&run), Some(1), "{run}");
    assert!(run.stdout.contains("+late@example.com"), "{run}");
    assert!(!run.stdout.contains("-user0@example.com"), "{run}");
    // review knows where they were: the objects the incremental read saw go.
    let (held, origin) = held(dir);
    assert_eq!(origin, (format!("ad {}", STAFF.to_lowercase()), 140));
    let id = held["id"].as_str().unwrap().to_owned();
    // A full reconcile: the held addresses are no drift, and still held.
    reconcile(dir);
    let status = rcptsync(dir, &["status", "-c", "rcptsync.toml"]).ok();
    assert!(
        status.stdout.contains("last full reconcile: no drift"),
        "{status}"
    );
    assert!(status.stdout.contains("held: 140 removal(s)"), "{status}");
    // Approved: the next (incremental) run applies it, with no directory change.
    rcptsync(dir, &["approve", &id, "-c", "rcptsync.toml"]).ok();
    let run = extract(&[]).ok();
    assert!(changed_read(&run).is_some(), "{run}");
    assert!(run.stdout.contains("-user0@example.com"), "{run}");
    assert!(run.stdout.contains("0 added, 140 removed"), "{run}");
    full_equals(dir);
}

#[test]
fn a_mass_deletion_found_by_a_full_read_is_placed_from_the_store_it_replaces() {
    // A full read sees only what is still there: where the held addresses were comes from
    // the store it replaces, for a reconcile (whose drift check holds that store) and for
    // --full alike.
    let slapd = serving(100);
    let dir = slapd.dir();
    let extract = |extra: &[&str]| extract_in(dir, extra);
    extract(&[]).ok();
    let staff = format!("ad {}", STAFF.to_lowercase());
    delete_staff(&slapd, 0..30);
    crate::library::age_store(&dir.join("out/relay_recipients.store"));
    let run = extract(&[]).code(3);
    assert!(
        run.stderr.contains("older than [safety].full_every"),
        "{run}"
    );
    assert_eq!(held(dir).1, (staff.clone(), 70));
    // More go, found by --full: the new ones are placed too (the earlier ones keep theirs).
    delete_staff(&slapd, 30..60);
    let run = extract(&["--full"]).code(3);
    assert!(changed_read(&run).is_none(), "{run}");
    assert_eq!(held(dir).1, (staff, 140));
}

#[test]
fn an_ou_moved_out_of_the_base_and_back_takes_its_recipients_along() {
    // Moving an OU changes the OU, not the entries in it: their own entryCSN stays, so no
    // refresh names them. A changed OU or container therefore means a full read.
    let slapd = serving(10);
    let dir = slapd.dir();
    slapd.modify(
        "ldapadd",
        &format!(
            "dn: OU=Team,{STAFF}\nobjectClass: organizationalUnit\nou: Team\n\n{}",
            mailbox("teamster", &["SMTP:teamster@example.com"]).replace(
                &format!("OU=Staff,{}", Slapd::BASE_DN),
                &format!("OU=Team,{STAFF}")
            )
        ),
    );
    incremental(dir).ok();
    assert!(
        fs_err::read_to_string(dir.join("out/relay_recipients"))
            .unwrap()
            .contains("teamster@")
    );
    for superior in [ELSEWHERE, STAFF] {
        let from = if superior == ELSEWHERE {
            STAFF
        } else {
            ELSEWHERE
        };
        slapd.modify(
            "ldapmodify",
            &format!(
                "dn: OU=Team,{from}\nchangetype: modrdn\nnewrdn: OU=Team\ndeleteoldrdn: 1\n\
                 newsuperior: {superior}\n\n"
            ),
        );
        let run = incremental(dir).ok();
        assert!(run.stderr.contains("an OU or container"), "{run}");
        full_equals(dir);
    }
    assert!(
        fs_err::read_to_string(dir.join("out/relay_recipients"))
            .unwrap()
            .contains("teamster@")
    );
}

#[test]
fn more_changes_than_the_size_limit_allows_mean_a_full_read() {
    // The fixture's service account may read 1000 entries per search (AD's MaxPageSize);
    // a paged full read is not held to that, a sync refresh is.
    let slapd = serving(10);
    let dir = slapd.dir();
    incremental(dir).ok();
    let adds: String = (0..1100)
        .map(|i| mailbox(&format!("bulk{i}"), &[&format!("SMTP:bulk{i}@example.com")]))
        .collect();
    slapd.modify("ldapadd", &adds);
    let run = incremental(dir).ok();
    assert_eq!(changed_read(&run), None, "{run}");
    assert!(run.stderr.contains("size limit; reading in full"), "{run}");
    assert!(run.stdout.contains("+bulk1099@example.com"), "{run}");
    full_equals(dir);
}

/// The incremental map equals a full read's now.
fn full_equals(dir: &Path) {
    full(dir).ok();
    same_maps(dir, 0, "");
}

#[test]
fn a_run_killed_at_any_step_leaves_a_map_its_store_agrees_with() {
    // kill -9 after each step of incremental and full runs (read, store built, map written,
    // store committed, store kept): whatever was left, the next run gives a full read's map.
    let slapd = serving(200);
    let dir = slapd.dir();
    incremental(dir).ok();
    let steps = [
        "extract:read",
        "extract:before-map",
        "extract:map-written",
        "extract:store-committed",
        "extract:store-kept",
    ];
    let mut round = 0;
    for step in steps {
        for mode in ["", "--full"] {
            round += 1;
            slapd.modify(
                "ldapmodify",
                &format!(
                    "{}dn: CN=user{round},{STAFF}\nchangetype: delete\n\n",
                    mailbox(
                        &format!("k{round}"),
                        &[&format!("SMTP:k{round}@example.com")]
                    )
                    .replacen("\n", "\nchangetype: add\n", 1)
                ),
            );
            let mut args = vec!["extract", "-c", "rcptsync.toml", "--force"];
            args.extend((!mode.is_empty()).then_some(mode));
            let status = crate::support::command()
                .args(&args)
                .current_dir(dir)
                .env("RCPTSYNC_TEST_KILL_AT", step)
                .output()
                .unwrap()
                .status;
            let killed = std::os::unix::process::ExitStatusExt::signal(&status) == Some(9);
            // The store is committed only by a run that read incrementally or built one.
            assert!(
                killed || step == "extract:store-committed",
                "{step} {mode}: not killed ({status})"
            );
            let next = incremental(dir).ok();
            full(dir).ok();
            same_maps(dir, round, &format!("killed at {step} {mode}\n{next}"));
        }
    }
}

/// The source's base on Samba, and an OU outside it.
pub(super) const SAMBA_STAFF: &str = "OU=Staff,DC=example,DC=test";
const SAMBA_ELSEWHERE: &str = "OU=Groups,DC=example,DC=test";

/// A Samba DC with `n` more mailboxes under OU=Staff, and configs binding as a plain domain
/// user (not an administrator): `rcptsync.toml` and `full.toml` as for slapd.
pub(super) fn samba_serving(n: usize) -> Samba {
    let samba = Samba::start();
    let dir = samba.dir();
    let users: String = (0..n)
        .map(|i| {
            format!(
                "dn: CN=user{i},{SAMBA_STAFF}\nobjectClass: user\nsAMAccountName: user{i}\n\
                 mailNickname: user{i}\nproxyAddresses: SMTP:user{i}@example.test\n\
                 proxyAddresses: smtp:u{i}@example.test\nproxyAddresses: X500:/o=x/cn=u{i}\n\n"
            )
        })
        .collect();
    fs_err::write(dir.join("users.ldif"), users).unwrap();
    samba.modify("ldapadd", &dir.join("users.ldif"));
    let bind = samba.create_user("svc-rcptsync", "Svc-Rcpt5ync!pw");
    let pw = dir.join("svc.pw");
    fs_err::write(&pw, "Svc-Rcpt5ync!pw\n").unwrap();
    fs_err::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = format!(
        "[[source]]\nname = \"samba\"\nkind = \"ldap\"\nbase_dn = \"{SAMBA_STAFF}\"\n\
         servers = [\"{url}\"]\nca_file = \"{ca}\"\n\
         bind_dn = \"{bind}\"\nbind_password_file = \"svc.pw\"\ntimeout = \"5s\"\n\
         page_size = 7\n\n\
         [recipients]\ndomains = [\"example.test\"]\n\n[output]\npath = \"out/relay_recipients\"\n",
        url = samba.ldaps_url(),
        ca = samba.ca_file().display(),
    );
    fs_err::write(dir.join("rcptsync.toml"), &config).unwrap();
    fs_err::write(
        dir.join("full.toml"),
        config.replace("out/relay_recipients", "full/relay_recipients"),
    )
    .unwrap();
    samba
}

/// The number of changed objects an incremental run on AD says it read.
fn usn_read(run: &Run) -> Option<usize> {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("incremental (usn): "))?;
    line.split("incremental (usn): ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// One random change on Samba, as ldapmodify input.
fn samba_change(rng: &mut Random, objects: &mut Vec<Known>, next: &mut usize) -> String {
    let pick = rng.below(objects.len());
    let ou = |known: &Known| {
        if known.inside {
            SAMBA_STAFF
        } else {
            SAMBA_ELSEWHERE
        }
    };
    let target = format!("CN={},{}", objects[pick].cn, ou(&objects[pick]));
    let modify = |change: &str| format!("dn: {target}\nchangetype: modify\n{change}\n-\n\n");
    *next += 1;
    let n = *next;
    match rng.below(11) {
        0 => {
            let cn = format!("new{n}");
            objects.push(Known {
                cn: cn.clone(),
                inside: true,
            });
            format!(
                "dn: CN={cn},{SAMBA_STAFF}\nchangetype: add\nobjectClass: user\n\
                 sAMAccountName: {cn}\nmailNickname: {cn}\nproxyAddresses: SMTP:{cn}@example.test\n\n"
            )
        }
        1 => {
            objects.swap_remove(pick);
            format!("dn: {target}\nchangetype: delete\n\n")
        }
        2 => {
            let cn = format!("renamed{n}");
            objects[pick].cn = cn.clone();
            format!("dn: {target}\nchangetype: modrdn\nnewrdn: CN={cn}\ndeleteoldrdn: 1\n\n")
        }
        3 => {
            let known = &mut objects[pick];
            known.inside = !known.inside;
            format!(
                "dn: {target}\nchangetype: modrdn\nnewrdn: CN={}\ndeleteoldrdn: 1\n\
                 newsuperior: {}\n\n",
                known.cn,
                ou(known)
            )
        }
        4 => modify(&format!(
            "add: proxyAddresses\nproxyAddresses: smtp:alias{n}@example.test"
        )),
        5 => modify("replace: proxyAddresses\nproxyAddresses: X500:/o=only-x500"),
        6 => modify("replace: msExchRequireAuthToSendTo\nmsExchRequireAuthToSendTo: TRUE"),
        7 => modify("replace: msExchRequireAuthToSendTo\nmsExchRequireAuthToSendTo: FALSE"),
        8 => modify("replace: mailNickname\nmailNickname: x"),
        // replace with no value: removes it, whether it is there or not
        9 => format!("dn: {target}\nchangetype: modify\nreplace: mailNickname\n-\n\n"),
        _ => {
            if rng.below(2) == 0 {
                modify(&format!("replace: description\ndescription: note {n}"))
            } else {
                format!(
                    "dn: CN=svc-rcptsync,CN=Users,DC=example,DC=test\nchangetype: modify\n\
                     replace: description\ndescription: note {n}\n-\n\n"
                )
            }
        }
    }
}

#[test]
fn on_samba_a_non_administrator_reads_changes_once_it_may_list_deleted_objects() {
    let samba = samba_serving(40);
    let dir = samba.dir();
    // Without the right, the account sees no tombstones: it must not read changes, or
    // deletions would be missed silently.
    let run = incremental(dir).ok();
    assert!(
        run.stderr
            .contains("sees no deleted object in CN=Deleted Objects,DC=example,DC=test"),
        "{run}"
    );
    let ldif = dir.join("change.ldif");
    fs_err::write(
        &ldif,
        format!("dn: CN=user0,{SAMBA_STAFF}\nchangetype: delete\n\n"),
    )
    .unwrap();
    samba.modify("ldapmodify", &ldif);
    let run = incremental(dir).ok();
    assert_eq!(usn_read(&run), None, "{run}");
    assert!(run.stdout.contains("-user0@example.test"), "{run}");

    samba.grant_list_deleted("svc-rcptsync");
    // The first run with the right reads in full (the feed came), then only the changes.
    fs_err::write(
        &ldif,
        format!(
            "dn: CN=first,{SAMBA_STAFF}\nchangetype: add\nobjectClass: user\n\
             sAMAccountName: first\nmailNickname: first\nproxyAddresses: SMTP:first@example.test\n\n"
        ),
    )
    .unwrap();
    samba.modify("ldapmodify", &ldif);
    let run = incremental(dir).ok();
    assert!(!run.stderr.contains("sees no deleted object"), "{run}");
    assert!(run.stderr.contains("there is no store"), "{run}");
    assert!(run.stdout.contains("+first@example.test"), "{run}");
    full(dir).ok();
    same_maps(dir, 0, "");

    let mut objects: Vec<Known> = (1..40)
        .map(|i| Known {
            cn: format!("user{i}"),
            inside: true,
        })
        .collect();
    let mut rng = Random(0x5eed_5a3b_a000_0003);
    let mut next = 0;
    let mut all = String::new();
    for round in 1..=25 {
        let count = 1 + rng.below(4);
        let mut log = String::new();
        for _ in 0..count {
            log.push_str(&samba_change(&mut rng, &mut objects, &mut next));
        }
        fs_err::write(&ldif, &log).unwrap();
        samba.modify("ldapmodify", &ldif);
        let run = incremental(dir).ok();
        // A change that changes nothing (a value set to what it was) moves no USN: the run
        // then ends at the change mark.
        if !run.stdout.contains("no change since the last full run") {
            let read = usn_read(&run)
                .unwrap_or_else(|| panic!("round {round}: not an incremental run\n{run}"));
            // The DC changes a few objects of its own now and then; never the directory.
            assert!(
                read <= count + 3,
                "round {round}: read {read} objects for {count} changes\n{run}"
            );
        }
        full(dir).ok();
        same_maps(dir, round, &log);
        all.push_str(&log);
    }
    // The rounds did delete, move out and back, and change the filter's attribute.
    for change in [
        "changetype: delete",
        "newsuperior: OU=Groups",
        "newsuperior: OU=Staff",
        "replace: mailNickname\n-",
    ] {
        assert!(all.contains(change), "no {change:?} in the rounds");
    }

    // A full reconcile of the store the rounds kept finds nothing to report.
    let run = reconcile(dir);
    assert!(!run.stderr.contains("had wrong"), "{run}");
    assert!(
        rcptsync(dir, &["status", "-c", "rcptsync.toml"])
            .ok()
            .stdout
            .contains("last full reconcile: no drift")
    );

    // A DC restored from a backup has another invocationId: its USNs are not the ones the
    // cursor counted, so the next run reads in full.
    samba.set_invocation_id("0123456789abcdef0123456789abcdef");
    fs_err::write(
        &ldif,
        format!("dn: CN=first,{SAMBA_STAFF}\nchangetype: delete\n\n"),
    )
    .unwrap();
    samba.modify("ldapmodify", &ldif);
    let run = incremental(dir).ok();
    assert_eq!(usn_read(&run), None, "{run}");
    assert!(run.stderr.contains("another server"), "{run}");
    assert!(run.stdout.contains("-first@example.test"), "{run}");
    full(dir).ok();
    same_maps(dir, 99, "after the restore");
}
