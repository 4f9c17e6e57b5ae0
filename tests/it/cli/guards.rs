//! Every safety guard refuses with exit 3 and leaves the installed map byte-for-byte alone;
//! the removal guards hold the removals back instead (the map keeps those addresses).

use super::util::{Env, map_of, users};

/// Installs a map of u0..u{installed}, then runs extract against `directory` users with the
/// `[safety]` table `safety`; asserts the refusal, the message and an untouched map.
fn refused(installed: usize, directory: &str, safety: &str, message: &str) {
    let env = Env::new(&users(installed), "");
    env.run(&["extract"]).ok();
    let before = env.map().unwrap();
    let mtime = env.age_map();

    env.write("directory.ldif", directory);
    env.config(safety);
    let r = env.run(&["extract"]).code(3);
    assert!(
        r.stderr.contains(message),
        "expected {message:?} in {}",
        r.stderr
    );
    assert!(r.stderr.contains("refusing to replace"), "{}", r.stderr);
    assert_eq!(r.stdout, "", "a refused run prints no diff");
    assert_eq!(env.map().unwrap(), before);
    assert_eq!(env.map_mtime(), mtime);

    // A dry run reports the same refusal, with the diff, and writes nothing either.
    let dry = env.run(&["extract", "--dry-run"]).code(3);
    assert!(dry.stdout.contains("(dry run, nothing written)"));
    assert_eq!(env.map().unwrap(), before);

    // --force overrides, loudly; except an empty map, which it cannot.
    let forced = env.run(&["extract", "--force"]);
    if message.contains("no recipients at all") {
        assert_eq!(forced.code, 3, "{forced}");
        assert!(
            forced.stderr.contains("(--force cannot override this)"),
            "{}",
            forced.stderr
        );
        assert_eq!(env.map().unwrap(), before);
    } else {
        assert_eq!(forced.code, 0, "{forced}");
        assert!(
            forced.stderr.contains("--force overrides safety guard"),
            "{}",
            forced.stderr
        );
        assert_ne!(env.map().unwrap(), before);
    }
}

#[test]
fn empty_result() {
    refused(
        5,
        "",
        "",
        "safety guard: the sources gave no recipients at all",
    );
}

#[test]
fn empty_result_is_refused_even_with_min_recipients_zero() {
    refused(
        5,
        "# nothing\n",
        "[safety]\nmin_recipients = 0\n",
        "the sources gave no recipients at all",
    );
}

#[test]
fn extras_do_not_hide_an_empty_directory() {
    refused(
        5,
        "# the export came back empty\n",
        "[safety]\nmax_removed_percent = 100\n",
        "safety guard: the sources gave no recipients at all",
    );
    // The same with extras configured: they are in the map, but the read is still empty.
    let env = super::util::Env::new("", "");
    let config = fs_err::read_to_string(env.path("rcptsync.toml"))
        .unwrap()
        .replace(
            "exclude_domains",
            "extra = [\"postmaster@example.com\"]\nexclude_domains",
        );
    env.write("rcptsync.toml", &config);
    let r = env.run(&["extract"]).code(3);
    assert!(
        r.stderr
            .contains("safety guard: the sources gave no recipients at all"),
        "{r}"
    );
    assert!(env.map().is_none());
}

#[test]
fn fewer_than_min_recipients() {
    refused(
        20,
        &users(19),
        "[safety]\nmin_recipients = 20\n",
        "safety guard: the sources gave 19 recipients, fewer than min_recipients = 20",
    );
}

/// Installs a map of u0..u{installed}, then runs extract against `directory` users with the
/// `[safety]` table `safety`: a removal guard holds the removals back (cli/held.rs has the
/// rest), so the map keeps every address, and --force lets them through.
fn held_back(installed: usize, directory: &str, safety: &str, message: &str) {
    let env = Env::new(&users(installed), "");
    env.run(&["extract"]).ok();
    let before = env.map().unwrap();
    env.write("directory.ldif", directory);
    env.config(safety);
    let r = env.run(&["extract"]).code(3);
    assert!(r.stderr.contains(message), "expected {message:?} in {r}");
    assert!(r.stderr.contains("holding back"), "{r}");
    assert_eq!(env.map().unwrap(), before);
    let forced = env.run(&["extract", "--force"]).ok();
    assert!(
        forced.stderr.contains("--force overrides safety guard"),
        "{forced}"
    );
    assert_ne!(env.map().unwrap(), before);
}

#[test]
fn more_removals_than_max_removed() {
    held_back(
        100,
        &users(94),
        "[safety]\nmax_removed = 5\nmax_removed_percent = 100\n",
        "safety guard: 6 addresses would be removed, more than max_removed = 5",
    );
}

#[test]
fn larger_share_removed_than_max_removed_percent() {
    held_back(
        100,
        &users(89),
        "[safety]\nmax_removed_percent = 10\n",
        "safety guard: 11 of 100 addresses (11.0%) would be removed, more than max_removed_percent = 10",
    );
}

#[test]
fn canary_missing() {
    refused(
        10,
        &users(10)[..].replace("u3@", "x3@"),
        "[safety]\ncanaries = [\"U3@example.com\"]\n",
        "safety guard: canary u3@example.com is missing from the new map",
    );
}

#[test]
fn within_limits_passes() {
    let env = Env::new(&users(100), "");
    env.run(&["extract"]).ok();
    env.write("directory.ldif", &users(90));
    env.run(&["extract"]).ok();
    assert_eq!(env.map().unwrap(), map_of(0..90));
}

#[test]
fn first_run_checks_min_and_canaries() {
    // No map yet: the removal limits have nothing to measure, but the minimum and the
    // canaries hold, each on its own.
    let env = Env::new(&users(3), "[safety]\nmin_recipients = 4\n");
    let r = env.run(&["extract"]).code(3);
    assert!(env.map().is_none());
    assert!(r.stderr.contains("; there is no map yet;"), "{r}");
    assert!(
        r.stderr
            .contains("safety guard: the sources gave 3 recipients, fewer than min_recipients = 4"),
        "{r}"
    );
    assert!(!r.stderr.contains("unchanged"), "{r}");

    let env = Env::new(
        &users(3),
        "[safety]\nmin_recipients = 1\ncanaries = [\"postmaster@example.com\"]\n",
    );
    let r = env.run(&["extract"]).code(3);
    assert!(env.map().is_none());
    assert!(
        r.stderr
            .contains("safety guard: canary postmaster@example.com is missing from the new map"),
        "{r}"
    );
    assert!(!r.stderr.contains("min_recipients"), "{r}");
    // With the canary in the directory, the first map is written.
    env.write(
        "directory.ldif",
        &[
            users(3),
            super::util::user("Postmaster", &["SMTP:postmaster@example.com"]),
        ]
        .concat(),
    );
    env.run(&["extract"]).ok();
    assert!(env.map().unwrap().contains("postmaster@example.com OK\n"));
}
