//! `rcptsync check` through the binary: silent and exit 0 on a usable config, one line per
//! check with -v, and each unusable file named with its fix and exit 2, before anything
//! connects (the servers named here do not exist). openssl makes the CA file, so these run
//! with the system tests.

use std::os::unix::fs::PermissionsExt as _;

use super::util::{Env, LOOSE, users};

/// A config with an LDAP source (bind password, CA file), a gateway (identity file,
/// known_hosts), a gateway side and metrics, every file in place.
fn full() -> Env {
    let env = Env::new(&users(1), LOOSE);
    let dir = env.path("");
    env.write("bind.pw", "secret\n");
    fs_err::set_permissions(env.path("bind.pw"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let certs = crate::fixture::tls::Certs::new(&dir, "check");
    fs_err::copy(&certs.ca, env.path("ca.pem")).unwrap();
    env.write("id_ed25519", "not read by check beyond its mode\n");
    fs_err::set_permissions(
        env.path("id_ed25519"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env.write("known_hosts", "mx1.example.com ssh-ed25519 AAAA\n");
    env.write("upload.sh", "#!/bin/sh\n");
    fs_err::set_permissions(
        env.path("upload.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for sub in ["spool", "maps", "postfix", "prom", "exports"] {
        fs_err::create_dir_all(dir.join(sub)).unwrap();
    }
    env.write(
        "rcptsync.toml",
        &format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nservers = [\"ldap://dc1.invalid\"]\n\
             base_dn = \"DC=example,DC=com\"\nbind_dn = \"CN=svc,DC=example,DC=com\"\n\
             bind_password_file = \"bind.pw\"\nstarttls = true\nca_file = \"ca.pem\"\n\
             [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n{LOOSE}\
             [[gateway]]\nname = \"mx1\"\nhost = \"mx1.example.com\"\nuser = \"postrelay\"\n\
             identity_file = \"id_ed25519\"\nknown_hosts = \"known_hosts\"\n\
             [install]\nspool = \"spool\"\nmap = \"cdb:{0}/maps/relay_recipients\"\npostfix_config_dir = \"postfix\"\n\
             [metrics]\ntextfile = \"prom/rcptsync.prom\"\n\
             [[export]]\npath = \"exports/list.txt\"\ncommand = [\"{0}/upload.sh\"]\n",
            dir.display()
        ),
    );
    env
}

#[test]
fn a_usable_config_is_silent_and_verbose_lists_every_check() {
    let env = full();
    let quiet = env.run(&["check"]).ok();
    assert_eq!(
        (quiet.stdout.as_str(), quiet.stderr.as_str()),
        ("", ""),
        "{quiet}"
    );
    let verbose = env.run(&["-v", "check"]).ok();
    for line in [
        "ok: config ",
        "ok: source ad: credentials",
        "ok: source ad: ca_file ",
        "ok: gateway mx1: identity_file",
        "ok: gateway mx1: known_hosts ",
        "ok: [install].spool ",
        "ok: [install].postfix_config_dir ",
        "ok: [metrics].textfile's directory ",
        "ok: [[export]] ",
    ] {
        assert!(verbose.stdout.contains(line), "{line}: {verbose}");
    }
    // Nothing was written or connected to: no map, no record.
    assert!(!env.path("out").exists());
}

/// What is broken, how, and what the message must say.
type Case<'a> = (&'a str, &'a dyn Fn(&Env), &'a str);

#[test]
fn each_unusable_file_is_named_with_its_fix_and_exit_2() {
    let cases: [Case; 8] = [
        (
            "password file readable by others",
            &|env| {
                fs_err::set_permissions(
                    env.path("bind.pw"),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap();
            },
            "bind.pw",
        ),
        (
            "password file missing",
            &|env| fs_err::remove_file(env.path("bind.pw")).unwrap(),
            "bind.pw",
        ),
        (
            "CA file that is no certificate",
            &|env| env.write("ca.pem", "not a certificate\n"),
            "ca.pem",
        ),
        (
            "identity file readable by others",
            &|env| {
                fs_err::set_permissions(
                    env.path("id_ed25519"),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap();
            },
            "chmod 600",
        ),
        (
            "known_hosts missing",
            &|env| fs_err::remove_file(env.path("known_hosts")).unwrap(),
            "ssh-keyscan",
        ),
        (
            "spool missing",
            &|env| fs_err::remove_dir(env.path("spool")).unwrap(),
            "install -d ",
        ),
        (
            "export directory missing",
            &|env| fs_err::remove_dir(env.path("exports")).unwrap(),
            "exports: does not exist; create it",
        ),
        (
            "export command not executable",
            &|env| {
                fs_err::set_permissions(
                    env.path("upload.sh"),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap();
            },
            "upload.sh: cannot be run by this account",
        ),
    ];
    for (what, breaks, said) in cases {
        let env = full();
        breaks(&env);
        let r = env.run(&["check"]).code(2);
        assert!(r.stderr.contains(said), "{what}: {r}");
        assert!(r.stderr.contains("1 problem(s) in "), "{what}: {r}");
        assert_eq!(r.stdout, "", "{what}");
    }
    // A config error is the loader's, named with file and key, exit 2 as well.
    let env = full();
    env.write("rcptsync.toml", "[output]\npath = 5\n");
    let r = env.run(&["check"]).code(2);
    assert!(r.stderr.contains("rcptsync.toml"), "{r}");
}
