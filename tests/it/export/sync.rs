//! An export's upload must not hold back the gateways: `sync` runs it once the map is pushed
//! over the real sshd to `receive`, and one that fails exits 1 naming the export; the next
//! `sync`, with the directory unchanged, runs the upload again.

use crate::fixture::sshd::Sshd;
use crate::support::rcptsync;

#[test]
fn sync_pushes_the_map_though_an_export_command_fails_and_retries_it() {
    let sshd = Sshd::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("list.txt"), "alice@example.com\nbob@example.com\n").unwrap();
    // The upload runs once the gateway has the map: it checks the gateway's spool.
    let script = format!(
        "[ -e {1}/relay_recipients ] || {{ echo 'ran before the push' >&2; exit 1; }}; \
         if [ -e {0}/fail ]; then echo 'service said 503' >&2; exit 1; fi; echo \"$1\" >> {0}/uploads",
        d.display(),
        sshd.spool.display()
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
    assert!(!run.stderr.contains("ran before the push"), "{run}");
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
