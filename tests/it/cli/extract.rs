//! extract: the exact map, the diff, silence and untouched files when nothing changed, dry runs.

use std::time::Duration;

use super::util::{Env, LOOSE, map_of, user, users};

#[test]
fn writes_the_exact_map_from_the_rules() {
    let ldif = [
        user("A", &["SMTP:Ann@Example.com", "smtp:ann.alias@example.com", "X500:/o=x/cn=ann", "SIP:ann@example.com"]),
        user("B", &["smtp:b@legacy.example.com", "SMTP:b@example.com.evil.net", "smtp:b@other.org"]),
        user("C", &["smtp:@example.com", "smtp:c@", "smtp:c\u{7f}@example.com", "SMTP:c@example.com"]),
        "dn: CN=G,DC=example,DC=com\nmsExchRequireAuthToSendTo: TRUE\nproxyAddresses: SMTP:internal@example.com\n\n".into(),
        "dn: CN=K,DC=example,DC=com\ntargetAddress: SMTP:k@example.com\nmail: k@example.com\n\n".into(),
        "dn:: Q049TXVsdGksREM9ZXhhbXBsZSxEQz1jb20=\nproxyAddresses:: c210cDpNdWx0aUBleGFtcGxlLmNvbQ==\n\n".into(),
    ]
    .concat();
    let env = Env::new(&ldif, LOOSE);
    let r = env.run(&["extract"]).ok();
    assert_eq!(
        env.map().unwrap(),
        "ann.alias@example.com OK\nann@example.com OK\nc@example.com OK\nmulti@example.com OK\n"
    );
    // Every rejected value is reported with its DN.
    for value in ["smtp:@example.com", "smtp:c@", "smtp:c\\u{7f}@example.com"] {
        assert!(
            r.stderr.contains(&format!(
                "CN=C,OU=Staff,DC=example,DC=com: rejected proxyAddresses value \"{value}\""
            )),
            "{value}: {}",
            r.stderr
        );
    }
}

#[test]
fn mail_attribute_and_value_are_configurable() {
    let ldif = "dn: CN=K,DC=example,DC=com\nmail: K@example.com\n\n";
    let env = Env::new(ldif, LOOSE);
    assert_eq!(
        env.run(&["extract"]).code,
        3,
        "nothing but mail: empty map refused"
    );
    let config = fs_err::read_to_string(env.path("rcptsync.toml"))
        .unwrap()
        .replace(
            "exclude_domains",
            "use_mail_attribute = true\nexclude_domains",
        )
        .replace("[output]\n", "[output]\nvalue = \"relay\"\n");
    env.write("rcptsync.toml", &config);
    env.run(&["extract"]).ok();
    assert_eq!(env.map().unwrap(), "k@example.com relay\n");
}

#[test]
fn merges_several_sources_and_extras() {
    let env = Env::new(&users(2), "");
    env.write(
        "more.ldif",
        &user("X", &["SMTP:u1@example.com", "SMTP:x@example.com"]),
    );
    env.write(
        "list.txt",
        "# comment\nU0@example.com\nlisted@example.com\nnot valid@example.com\n",
    );
    env.write(
        "rcptsync.toml",
        "[[source]]\nname = \"a\"\nkind = \"ldif\"\npath = \"directory.ldif\"\n\
         [[source]]\nname = \"b\"\nkind = \"ldif\"\npath = \"more.ldif\"\n\
         [[source]]\nname = \"c\"\nkind = \"list\"\npath = \"list.txt\"\n\
         [recipients]\ndomains = [\"example.com\"]\nextra = [\"Postmaster@Example.com\"]\n\
         [output]\npath = \"out/relay_recipients\"\n",
    );
    let r = env.run(&["extract"]).ok();
    assert_eq!(
        env.map().unwrap(),
        "listed@example.com OK\npostmaster@example.com OK\nu0@example.com OK\nu1@example.com OK\nx@example.com OK\n"
    );
    assert!(
        r.stderr.contains(
            "list.txt:4: rejected line value \"not valid@example.com\": contains whitespace"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn prints_the_diff_and_then_nothing_when_unchanged() {
    let env = Env::new(&users(3), LOOSE);
    let first = env.run(&["extract"]).ok();
    assert!(
        first
            .stdout
            .starts_with("+u0@example.com\n+u1@example.com\n+u2@example.com\n")
    );

    env.write(
        "directory.ldif",
        &[users(2), user("New", &["SMTP:new@example.com"])].concat(),
    );
    let second = env.run(&["extract"]).ok();
    let path = env.map_path();
    assert_eq!(
        second.stdout,
        format!(
            "+new@example.com\n-u2@example.com\n{}: 3 recipients, 1 added, 1 removed\n",
            path.display()
        )
    );
    assert_eq!(
        env.map().unwrap(),
        "new@example.com OK\nu0@example.com OK\nu1@example.com OK\n"
    );

    // Unchanged: no output at all, and the file is not rewritten (same mtime, same inode).
    let mtime = env.age_map();
    let inode = std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&path).unwrap());
    let third = env.run(&["extract"]);
    assert_eq!(
        (third.code, third.stdout.as_str(), third.stderr.as_str()),
        (0, "", "")
    );
    assert_eq!(env.map_mtime(), mtime);
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(&path).unwrap()),
        inode
    );

    // -v says so; the sources were not even read again (their digests are unchanged).
    let verbose = env.run(&["-v", "extract"]);
    assert_eq!(
        verbose.stdout,
        format!(
            "{}: unchanged (the sources report no change since the last full run)\n",
            path.display()
        )
    );
    assert_eq!(env.map_mtime(), mtime);
    // --full reads them anyway, and finds the same map.
    let full = env.run(&["-v", "extract", "--full"]);
    assert_eq!(
        full.stdout,
        format!("{}: 3 recipients, unchanged\n", path.display())
    );
    assert_eq!(env.map_mtime(), mtime);
}

#[test]
fn a_changed_config_or_an_edited_map_means_a_full_run() {
    let env = Env::new(&users(2), LOOSE);
    env.run(&["extract"]).ok();
    // Same sources, other rules: the map is rebuilt.
    let config = fs_err::read_to_string(env.path("rcptsync.toml")).unwrap();
    env.write(
        "rcptsync.toml",
        &config.replace("[output]\n", "[output]\nvalue = \"RELAY\"\n"),
    );
    env.run(&["extract"]).ok();
    assert_eq!(
        env.map().unwrap(),
        "u0@example.com RELAY\nu1@example.com RELAY\n"
    );
    // A map edited by hand is put right on the next run.
    fs_err::write(env.map_path(), "u0@example.com RELAY\n").unwrap();
    let r = env.run(&["extract"]).ok();
    assert_eq!(
        env.map().unwrap(),
        "u0@example.com RELAY\nu1@example.com RELAY\n"
    );
    assert!(r.stdout.contains("+u1@example.com"), "{}", r.stdout);
}

#[test]
fn a_map_edited_out_of_order_is_compared_once_and_put_right() {
    let env = Env::new(&users(3), LOOSE);
    env.run(&["extract"]).ok();
    // Out of order: the streamed comparison stops at line 2 (after it had seen keys) and
    // starts again on the whole map, which must not count or print anything twice.
    fs_err::write(
        env.map_path(),
        "u2@example.com OK\nu1@example.com OK\nu0@example.com OK\nzz@example.com OK\n",
    )
    .unwrap();
    let r = env.run(&["extract"]).ok();
    assert_eq!(
        r.stdout,
        format!(
            "-zz@example.com\n{}: 3 recipients, 0 added, 1 removed\n",
            env.map_path().display()
        )
    );
    assert_eq!(env.map().unwrap(), map_of(0..3));
}

#[test]
fn a_diff_too_large_to_keep_is_read_again_to_be_printed() {
    // 120,000 diff lines: more than extract keeps from its counting pass (100,000), so the
    // printed diff comes from a second pass over the replaced map.
    let n = 60_000;
    let env = Env::new(
        &users(n),
        "[safety]\nmin_recipients = 1\nmax_removed = 1000000\nmax_removed_percent = 100\n",
    );
    env.run(&["extract"]).ok();
    let others: String = (0..n)
        .map(|i| user(&format!("V{i}"), &[&format!("SMTP:v{i}@example.com")]))
        .collect();
    env.write("directory.ldif", &others);
    let r = env.run(&["extract"]).ok();
    let mut expected: Vec<String> = (0..n).map(|i| format!("-u{i}@example.com")).collect();
    expected.sort();
    let mut added: Vec<String> = (0..n).map(|i| format!("+v{i}@example.com")).collect();
    added.sort();
    expected.extend(added);
    expected.push(format!(
        "{}: {n} recipients, {n} added, {n} removed",
        env.map_path().display()
    ));
    assert!(r.stdout.lines().eq(expected.iter().map(String::as_str)));
}

#[test]
fn quiet_hides_warnings_but_not_the_diff() {
    let ldif = [users(1), user("Bad", &["smtp:bad value@example.com"])].concat();
    let warning = "rcptsync: warning: CN=Bad,OU=Staff,DC=example,DC=com: rejected proxyAddresses \
                   value \"smtp:bad value@example.com\": contains whitespace\n";
    let diff = |env: &Env| {
        format!(
            "+u0@example.com\n{}: 1 recipients, 1 added, 0 removed\n",
            env.map_path().display()
        )
    };
    // Without -q the rejected value is warned about: there is something for -q to hide.
    let loud = Env::new(&ldif, LOOSE);
    let r = loud.run(&["extract"]).ok();
    assert!(r.stderr.contains(warning), "{r}");
    assert_eq!(r.stdout, diff(&loud));

    // With -q the warning is gone, and the diff and the summary are still on stdout.
    let quiet = Env::new(&ldif, LOOSE);
    let r = quiet.run(&["-q", "extract"]).ok();
    assert_eq!(r.stderr, "", "{r}");
    assert_eq!(r.stdout, diff(&quiet));
    assert_eq!(quiet.map().unwrap(), map_of(0..1));
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    let env = Env::new(&users(2), LOOSE);
    let first = env.run(&["extract", "--dry-run"]).ok();
    assert!(first.stdout.contains("+u0@example.com\n+u1@example.com\n"));
    assert!(
        first
            .stdout
            .ends_with("2 recipients, 2 added, 0 removed (dry run, nothing written)\n")
    );
    assert!(!env.path("out").exists(), "a dry run creates nothing");

    env.run(&["extract"]).ok();
    let mtime = env.age_map();
    env.write("directory.ldif", &users(3));
    let dry = env.run(&["extract", "--dry-run"]).ok();
    assert!(
        dry.stdout.starts_with("+u2@example.com\n"),
        "{}",
        dry.stdout
    );
    assert_eq!(env.map().unwrap(), map_of(0..2));
    assert_eq!(env.map_mtime(), mtime);
}

/// Giving the map to root:mail needs root: in the system tier.
#[cfg(feature = "system-tests")]
#[test]
fn keeps_the_owner_group_and_mode_of_an_existing_map() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let env = Env::new(&users(1), LOOSE);
    env.run(&["extract"]).ok();
    let attributes = |env: &Env| {
        let meta = fs_err::metadata(env.map_path()).unwrap();
        (meta.uid(), meta.gid(), meta.mode() & 0o7777)
    };
    assert_eq!(attributes(&env).2, 0o644);
    // root:mail 0640, as an admin may set it for a group that reads the map.
    let mail = 8;
    std::os::unix::fs::chown(env.map_path(), Some(0), Some(mail)).unwrap();
    fs_err::set_permissions(env.map_path(), std::fs::Permissions::from_mode(0o640)).unwrap();
    env.write("directory.ldif", &users(2));
    env.run(&["extract"]).ok();
    assert_eq!(attributes(&env), (0, mail, 0o640));
    assert_eq!(env.map().unwrap(), map_of(0..2));
    // No temporary files are left in the output directory.
    let mut names: Vec<_> = fs_err::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "relay_recipients",
            "relay_recipients.domains",
            "relay_recipients.lock",
            "relay_recipients.run",
            "relay_recipients.state"
        ]
    );
}

#[test]
fn an_output_path_that_is_a_symlink_is_refused_not_replaced() {
    let env = Env::new(&users(1), LOOSE);
    fs_err::create_dir(env.path("out")).unwrap();
    env.write("real_map", "");
    fs_err::os::unix::fs::symlink(env.path("real_map"), env.map_path()).unwrap();
    let r = env.run(&["extract"]).code(1);
    assert!(r.stderr.contains("is a symbolic link"), "{r}");
    assert!(
        fs_err::symlink_metadata(env.map_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs_err::read_to_string(env.path("real_map")).unwrap(), "");
}

#[test]
fn temporary_files_of_a_killed_run_are_removed() {
    let env = Env::new(&users(1), LOOSE);
    fs_err::create_dir(env.path("out")).unwrap();
    let leftover = env.path("out/.relay_recipients.AbC123.tmp");
    env.write("out/.relay_recipients.AbC123.tmp", "half a map");
    env.run(&["extract"]).ok();
    assert!(!leftover.exists());
}

#[test]
fn a_huge_rejected_value_is_quoted_cut_not_whole() {
    // A 5 MB value fails validation: the warning names the entry and the value's length, and
    // quotes only its start (the cron mail would otherwise carry all of it).
    let huge = format!("smtp:{}@example.com", "x".repeat(5 << 20));
    let ldif = [users(1), user("Huge", &[&huge])].concat();
    let env = Env::new(&ldif, LOOSE);
    let r = env.run(&["extract"]).ok();
    assert!(
        r.stderr
            .contains("CN=Huge,OU=Staff,DC=example,DC=com: rejected"),
        "{}",
        &r.stderr[..r.stderr.len().min(500)]
    );
    assert!(
        r.stderr.contains(&format!("... ({} bytes)", huge.len())),
        "{}",
        &r.stderr[..r.stderr.len().min(500)]
    );
    assert!(r.stderr.len() < 1000, "{} bytes on stderr", r.stderr.len());
}

#[test]
fn the_files_beside_the_map_neither_stall_nor_steer_a_run() {
    // As the account that can write beside the map: a FIFO, a link to /dev/zero and a huge
    // file at PATH.state and PATH.pushed. extract and status must neither wait on them nor
    // read them whole; a state file that cannot be read means a full run.
    let limit = Duration::from_secs(20);
    let env = Env::new(&users(2), LOOSE);
    env.run(&["extract"]).ok();
    let state = env.path("out/relay_recipients.state");
    let pushed = env.path("out/relay_recipients.pushed");
    let full = format!("{}: 2 recipients, unchanged\n", env.map_path().display());
    let huge = || {
        let file = fs_err::File::create(&state).unwrap();
        file.set_len(300 << 20).unwrap();
    };
    let fifo = crate::support::mkfifo;
    for (what, plant) in [
        ("a FIFO", &(|| fifo(&state)) as &dyn Fn()),
        ("a link to /dev/zero", &|| {
            fs_err::os::unix::fs::symlink("/dev/zero", &state).unwrap()
        }),
        ("a 300 MB file", &huge),
    ] {
        fs_err::remove_file(&state).unwrap();
        plant();
        let r = env.run_within(&["-v", "extract"], limit).ok();
        assert_eq!(r.stdout, full, "{what}: {r}");
        assert!(
            r.stderr.contains(&state.display().to_string()),
            "{what}: the file is named: {r}"
        );
        // The run replaced it with a snapshot: the next run skips the search again.
        let r = env.run_within(&["-v", "extract"], limit).ok();
        assert!(
            r.stdout.contains("unchanged (the sources report no change"),
            "{what}: {r}"
        );
        // status reads it too: it ends, and says what it found of it.
        fs_err::remove_file(&state).unwrap();
        plant();
        let r = env.run_within(&["status"], limit).ok();
        assert!(!r.stderr.contains("panicked"), "{what}: {r}");
        assert!(
            r.stdout.contains("last full run never"),
            "{what}: the planted file is no snapshot: {r}"
        );
        fs_err::remove_file(&state).unwrap();
        env.run(&["extract", "--full"]).ok();
    }

    // PATH.pushed: status names it and ends.
    for (what, plant) in [
        ("a FIFO", &(|| fifo(&pushed)) as &dyn Fn()),
        ("a link to /dev/zero", &|| {
            fs_err::os::unix::fs::symlink("/dev/zero", &pushed).unwrap()
        }),
    ] {
        plant();
        let r = env.run_within(&["status"], limit);
        assert!(
            r.stderr.contains(&pushed.display().to_string()),
            "{what}: the file is named: {r}"
        );
        fs_err::remove_file(&pushed).unwrap();
    }

    // A last full run in the future (a clock that was once wrong) does not switch full reads
    // off: the next run reads in full.
    let text = fs_err::read_to_string(&state).unwrap();
    let future = text
        .lines()
        .map(|l| {
            if l.starts_with("full_at = ") {
                "full_at = 4102444800".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(future, text.trim_end());
    fs_err::write(&state, future).unwrap();
    let r = env.run_within(&["-v", "extract"], limit).ok();
    assert_eq!(r.stdout, full, "{r}");

    // The map itself, which status reads (as root, on a real host): a FIFO, a link or a
    // sparse file of a terabyte there is named, neither waited on nor read through.
    let map = env.map_path();
    let sparse = || {
        let file = fs_err::File::create(&map).unwrap();
        file.set_len(1 << 40).unwrap();
    };
    for (what, plant) in [
        ("a FIFO", &(|| fifo(&map)) as &dyn Fn()),
        ("a link to /dev/zero", &|| {
            fs_err::os::unix::fs::symlink("/dev/zero", &map).unwrap()
        }),
        ("a sparse terabyte", &sparse),
    ] {
        fs_err::remove_file(&map).unwrap();
        plant();
        let r = env.run_within(&["status"], limit);
        assert!(
            r.stderr.contains(&map.display().to_string()) && r.stderr.contains("not"),
            "{what}: the map is named: {r}"
        );
    }
}

#[test]
fn an_internal_relay_domain_is_one_line_that_opens_and_is_guarded_when_it_closes() {
    // shared.example.com is a shared address space: one @ line, the directory's address in
    // it kept; a directory value "@example.com" is still rejected, opening nothing.
    let ldif = [
        users(2),
        user("Shared", &["SMTP:dana@shared.example.com"]),
        user("Wild", &["smtp:@example.com"]),
    ]
    .concat();
    let open = "domains = [\"example.com\", \"shared.example.com\"]\ninternal_relay = [\"shared.example.com\"]";
    let env = Env::new(&ldif, LOOSE);
    let config = fs_err::read_to_string(env.path("rcptsync.toml")).unwrap();
    let opened = config.replace("domains = [\"example.com\"]", open);
    assert_ne!(opened, config);
    env.write("rcptsync.toml", &opened);
    let r = env.run(&["extract"]).ok();
    assert_eq!(
        env.map().unwrap(),
        "@shared.example.com OK\ndana@shared.example.com OK\nu0@example.com OK\nu1@example.com OK\n"
    );
    assert!(r.stdout.starts_with("+@shared.example.com\n"), "{r}");
    assert!(
        r.stderr
            .contains("rejected proxyAddresses value \"smtp:@example.com\""),
        "{r}"
    );
    assert!(
        r.stderr.contains("error: shared.example.com is now open"),
        "{r}"
    );
    // Said once only: a later change of the map does not repeat it.
    env.write(
        "directory.ldif",
        &[ldif.as_str(), &user("New", &["SMTP:new@example.com"])].concat(),
    );
    let r = env.run(&["extract"]).ok();
    assert!(r.stdout.contains("+new@example.com\n"), "{r}");
    assert!(!r.stderr.contains("is now open"), "{r}");

    // Closing it is refused like a mass removal; --force does it, one line of the diff.
    env.write(
        "rcptsync.toml",
        &config.replace(
            "domains = [\"example.com\"]",
            "domains = [\"example.com\", \"shared.example.com\"]",
        ),
    );
    let map = env.map().unwrap();
    let r = env.run(&["extract"]).code(3);
    assert!(
        r.stderr
            .contains("safety guard: shared.example.com would no longer be open"),
        "{r}"
    );
    assert_eq!(env.map().unwrap(), map);
    let r = env.run(&["extract", "--force"]).ok();
    assert!(r.stdout.starts_with("-@shared.example.com\n"), "{r}");
    assert_eq!(
        env.map().unwrap(),
        "dana@shared.example.com OK\nnew@example.com OK\nu0@example.com OK\nu1@example.com OK\n"
    );
}

/// A dump that cannot be written (its disk is full) fails the run before the map is
/// replaced: the map keeps what it had. Mounting the small disk needs root: in the system tier.
#[cfg(feature = "system-tests")]
#[test]
fn a_dump_that_fails_leaves_the_map_as_it_was() {
    let env = Env::new(&users(200), LOOSE);
    env.run(&["extract"]).ok();
    let before = fs_err::read_to_string(env.map_path()).unwrap();
    env.write("directory.ldif", &users(210));
    fs_err::create_dir(env.path("full")).unwrap();
    let _disk = crate::fixture::Tmpfs::mount(&env.path("full"), "4k");
    let dump = env.path("full/entries.ldif");
    let r = env
        .run(&["extract", "--dump-entries", dump.to_str().unwrap()])
        .code(1);
    assert!(r.stderr.contains("No space left on device"), "{r}");
    assert_eq!(
        fs_err::read_to_string(env.map_path()).unwrap(),
        before,
        "{r}"
    );
    assert_eq!(
        r.stdout, "",
        "no diff is printed for a map that was not written: {r}"
    );
}
