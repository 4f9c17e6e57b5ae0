//! doctor against real Postfix configuration directories: a gateway set up as the checklist
//! says (no output, exit 0), and broken ones, each with the exact finding and fix it prints.

use std::process::Command;

use super::util::Gateway;
use crate::fixture::{require, run};
use crate::support::{Run, rcptsync};

/// `rcptsync doctor --config-dir DIR ARGS...` for the gateway's instance.
fn doctor(gw: &Gateway, args: &[&str]) -> Run {
    let dir = gw.postfix.config_dir();
    rcptsync(
        &gw.postfix.path(""),
        &[&["doctor", "--config-dir", dir.to_str().unwrap()], args].concat(),
    )
}

/// doctor with the gateway's rcptsync config (whose [install].map is the installed map).
fn doctor_with_config(gw: &Gateway, args: &[&str]) -> Run {
    let config = gw.postfix.path("rcptsync.toml");
    doctor(gw, &[&["-c", config.to_str().unwrap()], args].concat())
}

/// `postconf -c DIR ARGS...`, as an admin would change main.cf or master.cf.
fn postconf(gw: &Gateway, args: &[&str]) {
    run(Command::new(require("postconf", "postfix"))
        .arg("-c")
        .arg(gw.postfix.config_dir())
        .args(args));
}

/// A gateway complete per the checklist, with a map holding postmaster@ and abuse@.
fn good_gateway() -> Gateway {
    let gw = Gateway::new("lmdb", "");
    gw.apply_keys(&[
        "abuse@example.com",
        "alice@example.com",
        "postmaster@example.com",
    ]);
    postconf(
        &gw,
        &[
            "-e",
            "myorigin = example.com",
            "mydestination =",
            "local_recipient_maps =",
            "show_user_unknown_table_name = no",
        ],
    );
    gw
}

fn dir(gw: &Gateway) -> String {
    gw.postfix.config_dir().display().to_string()
}

#[test]
fn a_good_gateway_prints_nothing() {
    let gw = good_gateway();
    let r = doctor(&gw, &[]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", ""),
        "{r}"
    );
    let r = doctor(&gw, &["-v"]).ok();
    assert_eq!(
        r.stdout,
        format!("doctor: no problems found in {}\n", dir(&gw))
    );
    // With the rcptsync config: relay_recipient_maps uses its [install].map.
    let r = doctor_with_config(&gw, &[]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", ""),
        "{r}"
    );
    // Without --config-dir, the config's postfix_config_dir is the one checked.
    let config = gw.postfix.path("rcptsync.toml");
    let r = rcptsync(
        &gw.postfix.path(""),
        &["doctor", "-v", "-c", config.to_str().unwrap()],
    );
    assert_eq!(
        r.stdout,
        format!("doctor: no problems found in {}\n", dir(&gw)),
        "{r}"
    );
}

#[test]
fn postfix_default_table_name_in_replies_is_only_a_note() {
    let gw = good_gateway();
    postconf(&gw, &["-X", "show_user_unknown_table_name"]);
    // Without -v a note is not a problem: nothing is printed.
    let r = doctor(&gw, &[]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");
    let r = doctor(&gw, &["-v"]).ok();
    assert_eq!(
        r.stdout,
        format!(
            "note: show_user_unknown_table_name = yes: 550 replies say \"User unknown in relay recipient table\"; some admins prefer not to name the table\n  \
             fix: postconf -c {0} -e 'show_user_unknown_table_name = no'\n\
             \n\
             doctor: 0 errors, 0 warnings, 1 note in {0}\n",
            dir(&gw)
        )
    );
}

#[test]
fn empty_relay_recipient_maps_is_an_error() {
    let gw = good_gateway();
    postconf(&gw, &["-e", "relay_recipient_maps ="]);
    let r = doctor(&gw, &[]).code(4);
    assert_eq!(
        r.stdout,
        format!(
            "error: relay_recipient_maps is empty: the gateway accepts mail for every address in its relay domains and forwards it inward\n  \
             fix: postconf -c {0} -e 'relay_recipient_maps = lmdb:{0}/relay_recipients'\n",
            dir(&gw)
        )
    );
    // With the config, the fix names the map rcptsync installs.
    let r = doctor_with_config(&gw, &[]).code(4);
    assert!(
        r.stdout.ends_with(&format!(
            "  fix: postconf -c {} -e 'relay_recipient_maps = {}'\n",
            dir(&gw),
            gw.postfix.map_spec()
        )),
        "{r}"
    );
}

#[test]
fn mydestination_overlapping_relay_domains_is_an_error() {
    let gw = good_gateway();
    postconf(&gw, &["-e", "mydestination = example.com"]);
    let r = doctor(&gw, &[]).code(4);
    assert_eq!(
        r.stdout,
        format!(
            "error: mydestination lists example.com, which relay_domains also covers: Postfix delivers that mail locally on the gateway instead of relaying it inward\n  \
             fix: postconf -c {} -e 'mydestination ='\n",
            dir(&gw)
        )
    );
}

#[test]
fn reject_unlisted_recipient_off_is_an_error() {
    let gw = good_gateway();
    postconf(&gw, &["-e", "smtpd_reject_unlisted_recipient = no"]);
    let r = doctor(&gw, &[]).code(4);
    assert_eq!(
        r.stdout,
        format!(
            "error: smtpd_reject_unlisted_recipient = no: smtpd accepts mail for addresses that are not in relay_recipient_maps and forwards it inward\n  \
             fix: postconf -c {} -e 'smtpd_reject_unlisted_recipient = yes'\n",
            dir(&gw)
        )
    );
}

#[test]
fn a_missing_map_is_an_error() {
    let gw = good_gateway();
    let map = gw.postfix.map_path().display().to_string();
    let spec = gw.postfix.map_spec();

    // The indexed file gone (the text is there): postmap rebuilds it.
    fs_err::remove_file(format!("{map}.lmdb")).unwrap();
    let r = doctor(&gw, &[]).code(4);
    assert_eq!(
        r.stdout,
        format!(
            "error: relay_recipient_maps: {spec}: {map}.lmdb does not exist: smtpd answers every relay recipient with \"451 4.3.0 Temporary lookup failure\"\n  \
             fix: postmap -c {} {spec}\n",
            dir(&gw)
        )
    );

    // Both gone: apply installs it again.
    fs_err::remove_file(&map).unwrap();
    let r = doctor_with_config(&gw, &[]).code(4);
    assert_eq!(
        r.stdout,
        format!(
            "error: relay_recipient_maps: {spec}: {map}.lmdb does not exist: smtpd answers every relay recipient with \"451 4.3.0 Temporary lookup failure\"\n  \
             fix: rcptsync apply  (it writes the map and builds it)\n"
        )
    );
}

#[test]
fn postmaster_must_be_a_recipient_or_a_virtual_alias() {
    let gw = good_gateway();
    gw.apply_keys(&["abuse@example.com", "alice@example.com"]);
    let d = dir(&gw);
    let r = doctor(&gw, &[]).code(4);
    assert_eq!(
        r.stdout,
        format!(
            "error: postmaster@example.com is not a recipient: the gateway rejects mail to it (RFC 5321 requires postmaster for every domain that receives mail)\n  \
             fix: add postmaster@example.com to the directory (or to [recipients] extra), or alias it to a mailbox that is read:\n       \
             echo 'postmaster@example.com admin@internal.example.com' >> {d}/virtual\n       \
             postmap -c {d} hash:{d}/virtual\n       \
             postconf -c {d} -e 'virtual_alias_maps = hash:{d}/virtual'\n"
        )
    );

    // Following the fix: the alias makes postmaster@ reachable, and doctor is quiet.
    fs_err::write(
        format!("{d}/virtual"),
        "postmaster@example.com admin@internal.example.com\n",
    )
    .unwrap();
    run(Command::new(require("postmap", "postfix"))
        .args(["-c", &d])
        .arg(format!("hash:{d}/virtual")));
    postconf(
        &gw,
        &["-e", &format!("virtual_alias_maps = hash:{d}/virtual")],
    );
    let r = doctor_with_config(&gw, &[]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", ""),
        "{r}"
    );
}

#[test]
fn a_local_service_is_a_warning() {
    let gw = good_gateway();
    let master = gw.postfix.config_dir().join("master.cf");
    let mut text = fs_err::read_to_string(&master).unwrap();
    text.push_str("local unix - n n - - local\n");
    fs_err::write(&master, text).unwrap();
    let r = doctor(&gw, &[]).ok();
    assert_eq!(
        r.stdout,
        format!(
            "warning: master.cf runs the local delivery agent (local/unix): a gateway delivers nothing locally\n  \
             fix: postconf -c {0} -M# local/unix  (comments it out; then postfix -c {0} reload)\n",
            dir(&gw)
        )
    );
    // The fix works.
    postconf(&gw, &["-M#", "local/unix"]);
    let r = doctor(&gw, &[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r}");
}

#[test]
fn the_installed_map_must_be_in_relay_recipient_maps() {
    let gw = good_gateway();
    // Someone switched main.cf to the text file itself: rcptsync's lmdb map is not used.
    let map = gw.postfix.map_path().display().to_string();
    postconf(
        &gw,
        &["-e", &format!("relay_recipient_maps = texthash:{map}")],
    );
    // Without a config there is no installed map to expect.
    let r = doctor(&gw, &[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r}");
    let r = doctor_with_config(&gw, &[]).code(4);
    assert_eq!(
        r.stdout,
        format!(
            "error: relay_recipient_maps (texthash:{map}) does not use lmdb:{map}, the map rcptsync installs ([install].map): the recipients rcptsync installs are not checked\n  \
             fix: postconf -c {} -e 'relay_recipient_maps = lmdb:{map}'\n",
            dir(&gw)
        )
    );
}

#[test]
fn several_findings_errors_first_with_a_summary() {
    let gw = good_gateway();
    postconf(
        &gw,
        &[
            "-X",
            "myorigin",
            "mydestination",
            "local_recipient_maps",
            "show_user_unknown_table_name",
        ],
    );
    postconf(&gw, &["-e", "smtpd_reject_unlisted_recipient = no"]);
    // Without -v: the problems, not the note.
    let r = doctor(&gw, &[]).code(4);
    assert!(!r.stdout.contains("note:"), "{r}");
    assert!(r.stdout.starts_with("error:"), "{r}");
    let r = doctor(&gw, &["-v"]).code(4);
    let severities: Vec<&str> = r
        .stdout
        .split("\n\n")
        .map(|paragraph| paragraph.split(':').next().unwrap())
        .collect();
    assert_eq!(
        severities,
        ["error", "warning", "warning", "warning", "note", "doctor"],
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with(&format!(
            "\n\ndoctor: 1 error, 3 warnings, 1 note in {}\n",
            dir(&gw)
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("warning: myorigin is not set, so it is this host's name (mx.rcptsync.test)"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_empty_directory_is_a_runtime_failure_naming_it() {
    let empty = tempfile::tempdir().unwrap();
    let d = empty.path().to_str().unwrap();
    let r = rcptsync(empty.path(), &["doctor", "--config-dir", d]).code(1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .contains(&format!("cannot check the Postfix configuration in {d}")),
        "{r}"
    );
    assert!(r.stderr.contains("main.cf"), "{r}");
}

#[test]
fn recipient_delimiter_must_match_what_the_backend_does_with_tags() {
    let gw = good_gateway();
    let with_backend = |plus: bool| {
        gw.config(&format!("backend_plus_addressing = {plus}\n"));
        doctor_with_config(&gw, &[])
    };
    // An Exchange Server backend (no plus addressing) behind a delimiter of +: backscatter.
    postconf(&gw, &["-e", "recipient_delimiter = +"]);
    let r = with_backend(false).code(4);
    assert!(
        r.stdout
            .contains("error: recipient_delimiter = + makes the gateway accept user+tag@")
            && r.stdout.contains(&format!(
                "fix: postconf -c {} -e 'recipient_delimiter = '",
                dir(&gw)
            )),
        "{r}"
    );
    // Exchange Online (plus addressing) behind it: as it should be.
    assert_eq!(with_backend(true).ok().stdout, "");
    // A mailbox whose address holds a + itself is accepted as listed: only noted (-v).
    gw.apply_keys(&[
        "abuse@example.com",
        "alice@example.com",
        "bob+sales@example.com",
        "postmaster@example.com",
    ]);
    assert_eq!(doctor_with_config(&gw, &[]).ok().stdout, "");
    let r = doctor_with_config(&gw, &["-v"]).ok();
    assert!(
        r.stdout.contains(
            "note: 1 address(es) of the map have a character of recipient_delimiter = + in \
             their local part (such as bob+sales@example.com)"
        ),
        "{r}"
    );
    // Without a delimiter, Exchange Online's tagged mail is refused.
    postconf(&gw, &["-e", "recipient_delimiter ="]);
    let r = with_backend(true).ok();
    assert!(
        r.stdout.contains("warning: the backend accepts user+tag@")
            && r.stdout.contains("-e 'recipient_delimiter = +'"),
        "{r}"
    );
    assert_eq!(with_backend(false).ok().stdout, "");
}
