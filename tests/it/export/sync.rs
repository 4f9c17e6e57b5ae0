//! An export's upload that fails must not hold back the gateways: `sync` pushes the map over
//! the real sshd to `receive` all the same, and exits 1 naming the export; the next `sync`,
//! with the directory unchanged, runs the upload again.

use crate::fixture::sshd::Sshd;
use crate::support::rcptsync;

#[test]
fn sync_pushes_the_map_though_an_export_command_fails_and_retries_it() {
    let sshd = Sshd::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("list.txt"), "alice@example.com\nbob@example.com\n").unwrap();
    let script = format!(
        "if [ -e {0}/fail ]; then echo 'service said 503' >&2; exit 1; fi; echo \"$1\" >> {0}/uploads",
        d.display()
    );
    fs_err::write(
        d.join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"list\"\nkind = \"list\"\npath = \"list.txt\"\n\
             [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n\
             [safety]\nmax_removed_percent = 100\n{}\
             [[export]]\npath = \"recipients.txt\"\ncommand = [\"/bin/sh\", \"-c\", {script:?}, \"sh\"]\n",
            sshd.gateway_toml("mx1")
        ),
    )
    .unwrap();
    fs_err::write(d.join("fail"), "").unwrap();
    let run = rcptsync(d, &["sync", "-c", "rcptsync.toml"]).code(1);
    assert!(run.stderr.contains("service said 503"), "{run}");
    let spooled = fs_err::read(sshd.spool.join("relay_recipients")).unwrap();
    assert_eq!(
        crate::library::body(&spooled),
        fs_err::read(d.join("out/relay_recipients")).unwrap()
    );
    assert!(!d.join("uploads").exists());
    // Nothing changed in the directory: the upload runs again, and only it.
    fs_err::remove_file(d.join("fail")).unwrap();
    rcptsync(d, &["sync", "-c", "rcptsync.toml"]).ok();
    assert_eq!(
        fs_err::read_to_string(d.join("uploads")).unwrap(),
        format!("{}\n", d.join("recipients.txt").display())
    );
}
