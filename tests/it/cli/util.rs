//! Test helpers: a temporary working directory with a config, and a way to run the binary.

use std::path::PathBuf;

pub use crate::support::{Run, rcptsync as run};
use std::time::{Duration, SystemTime};

/// A private directory holding a config, its sources and its output map.
pub struct Env {
    dir: tempfile::TempDir,
}

/// The `[safety]` table most tests use: permissive enough not to get in the way.
pub const LOOSE: &str =
    "[safety]\nmin_recipients = 1\nmax_removed = 1000\nmax_removed_percent = 100\n";

impl Env {
    /// A directory with `directory.ldif` holding `ldif` and a config reading it for
    /// example.com, excluding legacy.example.com, plus the `extra` TOML text.
    pub fn new(ldif: &str, extra: &str) -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        env.write("directory.ldif", ldif);
        env.config(extra);
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) {
        fs_err::write(self.path(name), content).unwrap();
    }

    /// Rewrites the config with the standard source and recipients tables plus `extra`.
    pub fn config(&self, extra: &str) {
        self.write(
            "rcptsync.toml",
            &format!(
                "[[source]]\nname = \"ad\"\nkind = \"ldif\"\npath = \"directory.ldif\"\n\n\
                 [recipients]\ndomains = [\"example.com\"]\nexclude_domains = ['legacy\\.example\\.com']\n\n\
                 [output]\npath = \"out/relay_recipients\"\n\n{extra}"
            ),
        );
    }

    /// Runs `rcptsync -c CONFIG ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let config = self.path("rcptsync.toml");
        run(
            self.dir.path(),
            &[&["-c", config.to_str().unwrap()], args].concat(),
        )
    }

    /// [`Env::run`], failing the test if the run takes longer than `limit` (a hung run).
    pub fn run_within(&self, args: &[&str], limit: Duration) -> Run {
        let config = self.path("rcptsync.toml");
        crate::support::rcptsync_within(
            self.dir.path(),
            &[&["-c", config.to_str().unwrap()], args].concat(),
            limit,
        )
    }

    pub fn map_path(&self) -> PathBuf {
        self.path("out/relay_recipients")
    }

    /// The map's bytes, or None when there is no map.
    pub fn map(&self) -> Option<String> {
        fs_err::read_to_string(self.map_path()).ok()
    }

    /// Sets the map's mtime an hour back, so that any rewrite shows.
    pub fn age_map(&self) -> SystemTime {
        let old = SystemTime::now() - Duration::from_secs(3600);
        let file = fs_err::File::options()
            .write(true)
            .open(self.map_path())
            .unwrap();
        file.set_modified(old).unwrap();
        fs_err::metadata(self.map_path())
            .unwrap()
            .modified()
            .unwrap()
    }

    pub fn map_mtime(&self) -> SystemTime {
        fs_err::metadata(self.map_path())
            .unwrap()
            .modified()
            .unwrap()
    }
}

/// An ldifde-style user entry with the given proxyAddresses.
pub fn user(cn: &str, proxies: &[&str]) -> String {
    let mut s =
        format!("dn: CN={cn},OU=Staff,DC=example,DC=com\nchangetype: add\nobjectClass: user\n");
    for p in proxies {
        s.push_str(&format!("proxyAddresses: {p}\n"));
    }
    s.push('\n');
    s
}

/// `n` users u0..u{n-1}@example.com.
pub fn users(n: usize) -> String {
    (0..n)
        .map(|i| user(&format!("U{i}"), &[&format!("SMTP:u{i}@example.com")]))
        .collect()
}

/// The map text for users u{range}.
pub fn map_of(range: std::ops::Range<usize>) -> String {
    let mut keys: Vec<String> = range.map(|i| format!("u{i}@example.com OK\n")).collect();
    keys.sort();
    keys.concat()
}
