//! The native cdb writer against Postfix's own tools: every key of a 100,000-key map is found
//! by `postmap -q`, keys carry no trailing NUL (as `cdb -d` shows), and the file is the same
//! as `postmap cdb:` makes from the same text.

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::util::Gateway;
use crate::fixture::require;

#[test]
fn native_cdb_matches_postmap_for_100k_keys() {
    let gw = Gateway::new("cdb", "");
    let keys: Vec<String> = (0..100_000)
        .map(|i| format!("user{i}@example.com"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    gw.apply_keys(&refs);
    let map = gw.postfix.map_path();
    let cdb = format!("{}.cdb", map.display());

    // postmap -q - reads keys from stdin and prints each one it finds.
    let mut query = Command::new(require("postmap", "postfix"))
        .arg("-c")
        .arg(gw.postfix.config_dir())
        .args(["-q", "-", &format!("cdb:{}", map.display())])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = query.stdin.take().unwrap();
    let input: String =
        keys.iter().map(|k| format!("{k}\n")).collect::<String>() + "nobody@example.com\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = query.wait_with_output().unwrap();
    writer.join().unwrap();
    let found = String::from_utf8(out.stdout).unwrap();
    assert_eq!(found.lines().count(), 100_000);
    assert!(
        found.lines().all(|l| l.ends_with("\tOK")),
        "{}",
        &found[..200]
    );

    // cdb -d prints +klen,dlen:key->value; the lengths show there is no trailing NUL.
    let dump = Command::new(require("cdb", "tinycdb"))
        .args(["-d", &cdb])
        .output()
        .unwrap();
    let dump = String::from_utf8(dump.stdout).unwrap();
    let first = dump.lines().next().unwrap();
    let key = "user0@example.com";
    assert_eq!(
        first,
        format!("+{},2:{key}->OK", key.len()),
        "a NUL would make it {}",
        key.len() + 1
    );

    // postmap cdb: from the same text gives the same bytes.
    let copy = gw.postfix.path("copy");
    fs_err::copy(&map, &copy).unwrap();
    crate::fixture::run(
        Command::new(require("postmap", "postfix"))
            .arg("-c")
            .arg(gw.postfix.config_dir())
            .arg(format!("cdb:{}", copy.display())),
    );
    let theirs = fs_err::read(format!("{}.cdb", copy.display())).unwrap();
    let ours = fs_err::read(&cdb).unwrap();
    assert!(
        theirs == ours,
        "native cdb ({} bytes) differs from postmap's ({} bytes)",
        ours.len(),
        theirs.len()
    );
}
