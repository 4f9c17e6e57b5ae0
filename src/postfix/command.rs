//! Postfix's own commands, run the way an admin would run them: `postmap`, `postconf` and
//! `postfix`, always with `-c CONFIG_DIR` (a gateway may run several instances, and Debian's
//! "No configuration" install has no main.cf in /etc/postfix at all).
//!
//! The programs are looked up in PATH and then in /usr/sbin and /usr/local/sbin, because cron
//! runs jobs with a PATH that lacks the sbin directories.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Postfix command that could not be run or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program is not installed.
    #[error(
        "{program} not found in PATH, /usr/sbin or /usr/local/sbin; install Postfix (apt-get install postfix{package})"
    )]
    NotFound {
        /// postmap, postconf or postfix.
        program: &'static str,
        /// Extra packages to name (e.g. ` postfix-lmdb`).
        package: String,
    },
    /// It ran and failed.
    #[error("{command} failed: {reason}")]
    Failed {
        /// The command line.
        command: String,
        /// Exit status and what it printed on stderr.
        reason: String,
    },
}

/// One Postfix instance, named by its configuration directory.
#[derive(Debug, Clone)]
pub struct Postfix {
    config_dir: PathBuf,
}

fn find(program: &'static str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

impl Postfix {
    /// The instance whose main.cf is in `config_dir`.
    pub fn new(config_dir: &Path) -> Self {
        Self {
            config_dir: config_dir.to_owned(),
        }
    }

    /// Runs `program -c CONFIG_DIR args...`; Ok(Some(stdout)) on exit 0, Ok(None) on exit 1
    /// when `one_means_no` (postmap -q's "not found"), an error otherwise.
    fn run(
        &self,
        program: &'static str,
        args: &[&str],
        one_means_no: bool,
    ) -> Result<Option<String>, Error> {
        let binary = find(program).ok_or_else(|| Error::NotFound {
            program,
            package: String::new(),
        })?;
        let mut command = Command::new(&binary);
        command.arg("-c").arg(&self.config_dir).args(args);
        let shown = format!(
            "{program} -c {} {}",
            self.config_dir.display(),
            args.join(" ")
        );
        let output = command.output().map_err(|e| Error::Failed {
            command: shown.clone(),
            reason: e.to_string(),
        })?;
        match output.status.code() {
            Some(0) => Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned())),
            // postmap -q and postfix status say "no" with 1; warnings (a missing master.cf,
            // say) may come with it, a failure says fatal.
            Some(1)
                if one_means_no && !String::from_utf8_lossy(&output.stderr).contains("fatal:") =>
            {
                Ok(None)
            }
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let mut reason = output.status.to_string();
                if !stderr.trim().is_empty() {
                    reason = format!("{reason}: {}", stderr.trim().replace('\n', "; "));
                }
                let package = if stderr.contains("unsupported dictionary type: lmdb") {
                    " postfix-lmdb"
                } else if stderr.contains("unsupported dictionary type: cdb") {
                    " postfix-cdb"
                } else {
                    ""
                };
                if !package.is_empty() {
                    reason = format!("{reason} (install it with: apt-get install{package})");
                }
                Err(Error::Failed {
                    command: shown,
                    reason,
                })
            }
        }
    }

    /// `postmap TYPE:FILE`: builds the indexed file next to FILE.
    pub fn postmap(&self, map: &str) -> Result<(), Error> {
        self.run("postmap", &[map], false).map(drop)
    }

    /// `postmap -q KEY TYPE:FILE`: the value, or None when the key is not in the map.
    pub fn query(&self, map: &str, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .run("postmap", &["-q", key, map], true)?
            .map(|v| v.trim_end_matches('\n').to_owned()))
    }

    /// `postfix reload`: daemons re-read their configuration and maps.
    pub fn reload(&self) -> Result<(), Error> {
        self.run("postfix", &["reload"], false).map(drop)
    }

    /// `postfix status`: whether the instance's master daemon is running.
    pub fn is_running(&self) -> Result<bool, Error> {
        Ok(self.run("postfix", &["status"], true)?.is_some())
    }

    /// `postconf -x -h NAME`: a parameter's value with `$name` references expanded.
    pub fn param(&self, name: &str) -> Result<String, Error> {
        Ok(self
            .run("postconf", &["-x", "-h", name], false)?
            .unwrap_or_default()
            .trim()
            .to_owned())
    }

    /// `postconf ARGS`: its output, for reading main.cf and master.cf as Postfix itself sees
    /// them (`-n` for explicit settings, `-x NAME...` for effective values, `-M` for services).
    pub fn postconf(&self, args: &[&str]) -> Result<String, Error> {
        Ok(self.run("postconf", args, false)?.unwrap_or_default())
    }
}
