//! `[[export]]`: the recipient tables `extract` writes besides the Postfix map, for a filtering
//! service or another MTA. The table lives beside the export's code; [`super::Export`] is
//! what the check makes of it.

use crate::table::{Checker, Error, table};

table! {
    /// One `[[export]]`.
    pub struct Export {
        /// the file to write (its directory must exist); replaced atomically, and only when
        /// its content changes
        #[default_text = "(required)"]
        path: String,
        /// `"list"` (one address per line), `"csv"` (`address,source,id`), `"json"`,
        /// `"opensmtpd"` (a `table` file for `match ... rcpt-to <table>`) or `"exim"` (a file
        /// for `recipients = lsearch*@;PATH`)
        format: String = "list",
        /// a program to run after the file changed, as an argument list without a shell, e.g.
        /// `["/usr/local/bin/upload-recipients", "--service", "mx"]`; the export's path is
        /// appended. It must exit 0 within `timeout`, or the run exits 1 and the next run tries
        /// it again
        #[default_text = "(none)"]
        command: Option<Vec<String>>,
        /// the longest `command` may run; then it is killed (with everything it started)
        timeout: String = "5m",
    }
}

impl Checker<'_> {
    /// One `[[export]]` checked: a known format, and a command that runs the same from cron
    /// as from a shell (an absolute program, no empty argument list).
    pub(crate) fn export(&self, raw: Export) -> Result<super::Export, Error> {
        if raw.path.is_empty() {
            return Err(self.invalid("export.path", "empty path"));
        }
        let format = super::Format::parse(&raw.format).ok_or_else(|| {
            self.invalid(
                "export.format",
                format!(
                    "{:?} is not a format; use \"list\", \"csv\", \"json\", \"opensmtpd\" or \"exim\"",
                    raw.format
                ),
            )
        })?;
        let command = match raw.command {
            None => None,
            Some(argv) => {
                match argv.first() {
                    None => {
                        return Err(self.invalid(
                            "export.command",
                            "an empty list; give the program and its arguments, or remove the key",
                        ));
                    }
                    Some(program) if !program.starts_with('/') => {
                        return Err(self.invalid(
                            "export.command",
                            format!(
                                "{program:?}: the program must be an absolute path (cron's PATH is short, and no shell looks it up)"
                            ),
                        ));
                    }
                    Some(_) => {}
                }
                Some(argv)
            }
        };
        Ok(super::Export {
            path: self.resolve(&raw.path),
            format,
            command,
            timeout: self.duration("export.timeout", &raw.timeout)?,
        })
    }
}
