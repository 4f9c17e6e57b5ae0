//! Helpers shared by the install tests.

use std::path::PathBuf;

use crate::fixture::postfix::Postfix;
use crate::support::{Run, rcptsync};

/// A configured Postfix instance plus an rcptsync config for applying maps to it.
pub struct Gateway {
    pub postfix: Postfix,
}

impl Gateway {
    /// Configures (does not start) Postfix with `kind` maps and writes `rcptsync.toml` with
    /// the `[install]` table plus `extra` TOML.
    pub fn new(kind: &str, extra: &str) -> Self {
        let postfix = Postfix::configure(kind);
        let gateway = Self { postfix };
        gateway.config(extra);
        gateway
    }

    /// Rewrites `rcptsync.toml` with the `[install]` table plus `extra`.
    pub fn config(&self, extra: &str) {
        fs_err::write(
            self.postfix.path("rcptsync.toml"),
            format!(
                "{}{extra}\n[safety]\nmax_removed_percent = 100\n",
                self.postfix.install_toml()
            ),
        )
        .unwrap();
    }

    /// Puts a map with `keys` (value OK) into the spool as `relay_recipients`, as receive
    /// would: sorted, in a payload.
    pub fn spool(&self, keys: &[&str]) {
        let mut keys = keys.to_vec();
        keys.sort();
        let text: String = keys.iter().map(|k| format!("{k} OK\n")).collect();
        self.spool_text(&text);
    }

    /// Puts the map text `text` into the spool as receive would (in a payload).
    pub fn spool_text(&self, text: &str) {
        fs_err::write(
            self.postfix.path("spool/relay_recipients"),
            crate::library::payload(text.as_bytes()),
        )
        .unwrap();
    }

    /// `rcptsync apply -c rcptsync.toml ARGS...`.
    pub fn apply(&self, args: &[&str]) -> Run {
        let config = self.postfix.path("rcptsync.toml");
        rcptsync(
            &self.postfix.path(""),
            &[&["apply", "-c", config.to_str().unwrap()], args].concat(),
        )
    }

    /// Spools `keys` and applies them, expecting success.
    pub fn apply_keys(&self, keys: &[&str]) -> Run {
        self.spool(keys);
        self.apply(&[]).ok()
    }

    /// The live files of the map (text, indexed, previous, digest record) by name and SHA-256,
    /// for comparisons. Temporary files (`.NAME.XXXX.tmp*`, left by a killed run) are not live.
    pub fn live_files(&self) -> Vec<(String, String)> {
        use sha2::Digest as _;
        let mut files: Vec<(String, String)> = fs_err::read_dir(self.postfix.path("maps"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p: PathBuf| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
            // The lock, apply's outcome record (for status) and when the map was last
            // confirmed current (a later push of the same map moves it) are not the map.
            .filter(|(name, _)| {
                !name.ends_with(".lock")
                    && !name.ends_with(".applied")
                    && !name.ends_with(".confirmed")
                    && !name.starts_with('.')
            })
            .map(|(name, p)| {
                let digest = sha2::Sha256::digest(fs_err::read(&p).unwrap());
                (name, digest.iter().map(|b| format!("{b:02x}")).collect())
            })
            .collect();
        files.sort();
        files
    }

    /// Asserts smtpd accepts `known` and rejects `unknown` as an unknown relay recipient.
    /// A reload is asynchronous (an smtpd that is already idle may take one more client
    /// before it exits), so the answers are asked again for up to 10 s before the assertion:
    /// a map that is wrong stays wrong and still fails, only later.
    pub fn assert_answers(&self, known: &[&str], unknown: &[&str]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let answers = || -> Vec<(String, u16, String)> {
            known
                .iter()
                .chain(unknown)
                .map(|address| {
                    let (code, text) = self.postfix.rcpt(address);
                    (address.to_string(), code, text)
                })
                .collect()
        };
        let expected = |answers: &[(String, u16, String)]| {
            answers.iter().enumerate().all(|(i, (_, code, text))| {
                if i < known.len() {
                    *code == 250
                } else {
                    *code == 550
                        && text.contains("5.1.1")
                        && text.contains("User unknown in relay recipient table")
                }
            })
        };
        let mut got = answers();
        while !expected(&got) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
            got = answers();
        }
        for (i, (address, code, text)) in got.iter().enumerate() {
            if i < known.len() {
                assert_eq!(*code, 250, "{address}: {text}");
            } else {
                assert_eq!(*code, 550, "{address}: {text}");
                assert!(
                    text.contains("5.1.1")
                        && text.contains("User unknown in relay recipient table"),
                    "{text}"
                );
            }
        }
    }
}
