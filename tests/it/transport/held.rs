//! Held changes across the real chain: `sync` on the internal host, OpenSSH into the
//! gateway's forced `receive`, `apply` as root with its own removal guard and
//! `[install].approval_keys`. Additions reach the gateway while removals are held; one signed
//! approval lets exactly that change through, once; and the spool account (which can write
//! anything into the spool) gets no mass removal past the gateway with an unsigned map, a key
//! the gateway does not list, a replayed approval, an approval of another change or a
//! tampered one: each refused with exit 3 and the live map byte-identical.

use std::path::Path;
use std::process::Command;

use crate::fixture::postfix::Postfix;
use crate::fixture::sshd::{Sshd, keygen};
use crate::library::{approval, payload, payload_with_approval};
use crate::support::{Run, rcptsync};

/// The list of u{range}@example.com plus `more`.
fn list(range: std::ops::Range<usize>, more: &[&str]) -> String {
    range
        .map(|i| format!("u{i}@example.com\n"))
        .chain(more.iter().map(|m| format!("{m}\n")))
        .collect()
}

/// The map text (value OK, sorted) of the same.
fn map(range: std::ops::Range<usize>, more: &[&str]) -> String {
    let mut lines: Vec<String> = list(range, more)
        .lines()
        .map(|l| format!("{l} OK\n"))
        .collect();
    lines.sort();
    lines.concat()
}

/// The held change's ID, as review's JSON gives it.
fn held_id(internal: &Path) -> String {
    let review = rcptsync(internal, &["review", "--json", "-c", "rcptsync.toml"]).ok();
    let json: serde_json::Value = serde_json::from_str(&review.stdout).unwrap();
    json["held"][0]["id"].as_str().unwrap().to_owned()
}

/// The chain: a gateway (Postfix with a cdb map, sshd into its spool) whose own removal
/// guard is max_removed = 5 and which lists the approver's key, and an internal host with a
/// list source, the same limit and the approver's key.
struct Chain {
    postfix: Postfix,
    _sshd: Sshd,
    internal: tempfile::TempDir,
    key: std::path::PathBuf,
    public: String,
}

impl Chain {
    fn new() -> Self {
        let postfix = Postfix::configure("cdb");
        let sshd = Sshd::start(Some(&postfix.path("spool")));
        let internal = tempfile::tempdir().unwrap();
        let key = internal.path().join("approval_key");
        keygen(&key);
        let public = fs_err::read_to_string(internal.path().join("approval_key.pub")).unwrap();
        fs_err::write(
            postfix.path("gateway.toml"),
            format!(
                "{}approval_keys = [\"{}\"]\n[safety]\nmax_removed = 5\nmax_removed_percent = 100\n",
                postfix.install_toml(),
                public.trim()
            ),
        )
        .unwrap();
        fs_err::write(
            internal.path().join("rcptsync.toml"),
            format!(
                "[[source]]\nname = \"people\"\nkind = \"list\"\npath = \"list.txt\"\n\
                 [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n\
                 [safety]\nmax_removed = 5\nmax_removed_percent = 100\napproval_key = \"approval_key\"\n{}",
                sshd.gateway_toml("mx1")
            ),
        )
        .unwrap();
        let chain = Self {
            postfix,
            _sshd: sshd,
            internal,
            key,
            public,
        };
        chain.directory(list(0..100, &[]));
        chain.sync().ok();
        chain.apply().ok();
        assert_eq!(chain.live_map(), map(0..100, &[]));
        chain
    }

    fn dir(&self) -> &Path {
        self.internal.path()
    }

    fn directory(&self, list: String) {
        fs_err::write(self.dir().join("list.txt"), list).unwrap();
    }

    fn sync(&self) -> Run {
        rcptsync(self.dir(), &["sync", "-c", "rcptsync.toml"])
    }

    fn approve(&self) -> String {
        let id = held_id(self.dir());
        let approved = rcptsync(self.dir(), &["approve", &id, "-c", "rcptsync.toml"]).ok();
        assert!(approved.stdout.contains(", signed;"), "{approved}");
        id
    }

    fn apply(&self) -> Run {
        self.postfix.rcptsync(&["apply"])
    }

    fn spool(&self, bytes: &[u8]) {
        fs_err::write(self.postfix.path("spool/relay_recipients"), bytes).unwrap();
    }

    fn live_map(&self) -> String {
        fs_err::read_to_string(self.postfix.map_path()).unwrap()
    }
}

#[test]
fn additions_flow_while_removals_are_held_and_one_signed_approval_lets_exactly_them_through() {
    let chain = Chain::new();
    let (postfix, internal, key, public) = (&chain.postfix, chain.dir(), &chain.key, &chain.public);
    let apply = || chain.apply();
    let sync = || chain.sync();
    let spool = |bytes: &[u8]| chain.spool(bytes);
    let live_map = || chain.live_map();

    // Ten leave, one arrives: sync holds the removals (exit 3, once) and still pushes the
    // newcomer, which the gateway installs.
    fs_err::write(
        internal.join("list.txt"),
        list(0..90, &["newcomer@example.com"]),
    )
    .unwrap();
    let held = sync().code(3);
    assert!(held.stderr.contains("holding back 10 removal(s)"), "{held}");
    assert!(held.stdout.contains("mx1: pushed 101 recipients"), "{held}");
    apply().ok();
    assert_eq!(live_map(), map(0..100, &["newcomer@example.com"]));
    assert_eq!(sync().ok().stderr, "", "the held change is said once");

    // Approved with the key: the next sync applies it and the gateway's guard lets exactly
    // those ten through, without --force.
    let id = chain.approve();
    // OpenSSH's own tool verifies the signature too.
    verify_with_ssh_keygen(&internal.join("out/relay_recipients.approval"), public);
    let pushed = sync().ok();
    assert!(
        pushed.stdout.contains("mx1: pushed 91 recipients"),
        "{pushed}"
    );
    let with_approval = fs_err::read(postfix.path("spool/relay_recipients")).unwrap();
    assert!(with_approval.starts_with(b"rcptsync-map 3\n"));
    let text = String::from_utf8_lossy(&with_approval);
    assert!(text.contains("\ndomains: 12\napproval: "), "{text}");
    let installed = apply().ok();
    assert!(
        installed
            .stderr
            .contains(&format!("approved change {id} (signed by SHA256:"))
            && installed
                .stderr
                .contains("10 removal(s) approved, 0 within the limits"),
        "{installed}"
    );
    let approved_map = map(0..90, &["newcomer@example.com"]);
    assert_eq!(live_map(), approved_map);

    // From here on, the spool account. First the map comes back to the state it had before
    // the approval (additions pass any guard)...
    spool(&payload(map(0..100, &["newcomer@example.com"]).as_bytes()));
    apply().ok();
    let before = postfix.live();
    let refused = |what: &str, bytes: &[u8], said: &str| {
        spool(bytes);
        let r: Run = apply();
        assert_eq!(r.code, 3, "{what}: {r}");
        assert!(r.stderr.contains(said), "{what}: {said:?} not in {r}");
        assert_eq!(postfix.live(), before, "{what}: the live map changed");
    };
    // ... then the very payload that carried the approval is replayed: honoured once only.
    refused(
        "a replayed approval",
        &with_approval,
        "was honoured here before",
    );
    let body = approved_map.as_bytes();
    refused(
        "an unsigned mass removal",
        &payload(body),
        "10 addresses would be removed, more than max_removed = 5",
    );
    let other_key = internal.join("other_key");
    keygen(&other_key);
    let removed: Vec<String> = (90..100).map(|i| format!("u{i}@example.com")).collect();
    let removed: Vec<&str> = removed.iter().map(String::as_str).collect();
    refused(
        "an approval signed by a key the gateway does not list",
        &payload_with_approval(body, &approval(&removed, &other_key)),
        "is not valid for any key in [install].approval_keys",
    );
    let others: Vec<String> = (0..10).map(|i| format!("u{i}@example.com")).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    refused(
        "an approval of another change",
        &payload_with_approval(body, &approval(&others, key)),
        "do not name 10 of the removals",
    );
    let good = approval(&removed, key);
    let later = good.replacen("not-after: 2", "not-after: 3", 1);
    refused(
        "an approval whose expiry was moved",
        &payload_with_approval(body, &later),
        "is not valid for any key",
    );
    let swapped = good.replacen("u95@example.com\n", "u95@example.org\n", 1);
    refused(
        "an approval whose addresses were changed",
        &payload_with_approval(body, &swapped),
        "the digest does not match the addresses listed",
    );
    let mut tampered = payload_with_approval(body, &good);
    let at = tampered.len() - 3;
    tampered[at] ^= 1;
    refused(
        "an approval with a byte of its addresses flipped",
        &tampered,
        "not used",
    );
    // The genuine approval with a map that removes more than it names (the map itself is
    // not signed: what the approval does not name counts against the gateway's limits).
    refused(
        "the genuine approval with a map that removes more",
        &payload_with_approval(map(0..80, &["newcomer@example.com"]).as_bytes(), &good),
        "do not name 10 of the removals",
    );
    // A record of honoured approvals that cannot be read honours nothing: the genuine
    // approval is refused with it, and the live map stays as it is.
    let record = postfix.path("maps/relay_recipients.approvals");
    let honoured = fs_err::read(&record).unwrap();
    fs_err::write(&record, "garbage\n").unwrap();
    let damaged = postfix.live();
    spool(&payload_with_approval(body, &good));
    let r = apply().code(3);
    assert!(r.stderr.contains("the record of honoured approvals"), "{r}");
    assert_eq!(postfix.live(), damaged);
    fs_err::write(&record, honoured).unwrap();
    // The control: the same approval, untouched, goes through (so each refusal above was
    // the tampering's doing).
    spool(&payload_with_approval(body, &good));
    apply().ok();
    assert_eq!(live_map(), approved_map);

    // An approval is honoured by the first map that uses any of it, even where this
    // gateway's own limits would have let that map through: it cannot be replayed later.
    spool(&payload(map(0..100, &["newcomer@example.com"]).as_bytes()));
    apply().ok();
    // u90..u92 go: within this gateway's limit of 5, so the approval is not needed.
    let small: Vec<&str> = removed[..3].to_vec();
    let within = approval(&small, key);
    let rest: Vec<String> = (93..100).map(|i| format!("u{i}@example.com")).collect();
    let mut kept: Vec<&str> = rest.iter().map(String::as_str).collect();
    kept.push("newcomer@example.com");
    spool(&payload_with_approval(
        map(0..90, &kept).as_bytes(),
        &within,
    ));
    let nonce = within
        .lines()
        .nth(3)
        .unwrap()
        .strip_prefix("nonce: ")
        .unwrap()
        .to_owned();
    let honoured =
        || fs_err::read_to_string(postfix.path("maps/relay_recipients.approvals")).unwrap();
    assert!(!honoured().contains(&nonce));
    apply().ok();
    assert!(honoured().contains(&nonce), "{}", honoured());
}

/// Checks `approval` (a file `approve` wrote) with `ssh-keygen -Y verify`, as the README
/// shows: the header lines are the message, the armored block the signature.
fn verify_with_ssh_keygen(approval: &Path, public: &str) {
    let text = fs_err::read_to_string(approval).unwrap();
    let (header, rest) = text.split_once("\n\n").unwrap();
    let signature = &rest[..rest.find("\n\n").unwrap() + 1];
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("message"), format!("{header}\n")).unwrap();
    fs_err::write(dir.path().join("sig"), signature).unwrap();
    fs_err::write(
        dir.path().join("allowed"),
        format!("approver {}", public.trim()),
    )
    .unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f", "allowed", "-I", "approver", "-n"])
        .arg("rcptsync-approval")
        .args(["-s", "sig"])
        .current_dir(dir.path())
        .stdin(
            fs_err::File::open(dir.path().join("message"))
                .unwrap()
                .into_file(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -Y verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_gateway_that_missed_two_approved_changes_takes_both_when_it_is_back() {
    let chain = Chain::new();
    // The gateway is "down": maps reach its spool, but nobody applies them.
    chain.directory(list(0..90, &[]));
    chain.sync().code(3);
    let first = chain.approve();
    chain.sync().ok();
    chain.directory(list(0..80, &["newcomer@example.com"]));
    chain.sync().code(3);
    let second = chain.approve();
    assert_ne!(first, second);
    let pushed = chain.sync().ok();
    assert!(
        pushed.stdout.contains("mx1: pushed 81 recipients"),
        "{pushed}"
    );
    // Back up: the map removes both sets, 20 addresses, and carries both approvals.
    let installed = chain.apply().ok();
    for id in [&first, &second] {
        assert!(
            installed
                .stderr
                .contains(&format!("approved change {id} (signed by")),
            "{installed}"
        );
    }
    assert!(
        installed
            .stderr
            .contains("20 removal(s) approved, 0 within the limits"),
        "{installed}"
    );
    assert_eq!(chain.live_map(), map(0..80, &["newcomer@example.com"]));
}
