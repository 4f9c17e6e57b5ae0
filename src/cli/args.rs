//! The command line, defined once: these doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::raw::{Install, Key};

/// Keep a Postfix gateway's relay recipient map in step with Active Directory / LDAP.
///
/// Reads the valid recipients from the directory, writes a Postfix map atomically, pushes
/// it to the gateways and installs it there, refusing any change that looks like a broken
/// directory read. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 3 refused
/// by a safety guard (nothing installed), or removals newly held back for review (the rest
/// installed), 4 verify/doctor found problems.
#[derive(Debug, Parser)]
#[command(name = "rcptsync", version, max_term_width = 100)]
pub struct Cli {
    /// The configuration file [default: /etc/rcptsync/rcptsync.toml].
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: a summary even when nothing changed (-v), details of every decision (-vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each is one step of the pipeline and runs with the least privilege it needs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the sources, apply the recipient rules, write the map and print what changed.
    ///
    /// Prints nothing when nothing changed. Refuses (exit 3) and keeps the old map when a
    /// safety guard says the read is wrong; a removal guard holds the removals back instead
    /// (the map keeps those addresses and takes the rest; exit 3 once, see review and
    /// approve). When the directory reports no change since the last full run, the
    /// search is skipped; where a source has a change feed (AD's uSNChanged, OpenLDAP's
    /// syncprov), only what changed is read, into the store beside the map (see --full).
    Extract(Extraction),
    /// Send the current map to every `[[gateway]]` over ssh, in parallel, only if it changed.
    ///
    /// --resend pushes even a map the gateway already has; --dry-run says where it would push.
    Push(Push),
    /// Extract, then push (only when the extract succeeded, or held removals back).
    ///
    /// --force overrides extract's safety guards; --resend pushes even a map the gateway
    /// already has. (Until the next release, --force alone also resends, as it did before,
    /// with a warning.)
    Sync(Sync),
    /// Keep the map and every gateway in step with the directory, as a service.
    ///
    /// Reads each change as the directory announces it (OpenLDAP's syncprov, AD's change
    /// notifications) or as its change
    /// mark shows it (`[watch].poll`), writes the map through the same guards as extract and
    /// pushes it as push does, within seconds; retries what failed. SIGHUP loads the config
    /// again, SIGTERM stops it. Pick it or the sync timer, not both.
    Watch(Watch),
    /// On the gateway, as the SSH forced command: read one map from stdin into the spool.
    ///
    /// Answers `OK COUNT SHA256` or `ERROR reason` on stdout. Needs no config file.
    Receive(Receive),
    /// On the gateway, as root: validate the spooled map, build it, swap it in, reload if needed.
    ///
    /// Prints nothing when the map is already installed. Refuses (exit 3) a map with an
    /// invalid line or one that fails a safety guard; the installed map is then unchanged.
    Apply(Apply),
    /// Probe the gateway over SMTP: unknown addresses must be refused, canaries accepted.
    ///
    /// Never sends DATA. Prints only the wrong answers, so nothing when all is well (-v
    /// prints every answer). Exit 4 when an answer is not what it should be, 1 when the
    /// server cannot be reached.
    Verify(Verify),
    /// Check the config as every command would take it, and every file it names.
    ///
    /// Password files, keytabs and Graph credentials (with extract's checks), CA files,
    /// identity files and known_hosts, the approval key (when this account can read it), the
    /// gateway's, the exports' and the metrics' directories, the exports' programs. Prints
    /// nothing when all is well (-v: one line per check); each problem is named with its fix,
    /// and the exit status is 2. Changes nothing, and connects to nothing unless --connect.
    Check(Check),
    /// Check the gateway's Postfix settings against the relay-gateway checklist.
    ///
    /// Each finding says what is wrong and the command that fixes it. Prints nothing when
    /// there are no errors or warnings (notes, and a summary, only with -v). Exit 4 when a
    /// finding is an error.
    Doctor(Doctor),
    /// Remove proxyAddresses in excluded domains from the directory (dry run unless --apply).
    ///
    /// Deletes single values, never the attribute, never a primary SMTP: address; writes an
    /// undo LDIF (for ldapmodify) before the first change. Unlike the other commands, which
    /// change rcptsync's own files and take --dry-run, prune changes the directory: so it only
    /// lists what it would remove unless told --apply, and a forgotten flag never deletes.
    Prune(Prune),
    /// Show the state of the map, its sources and gateways, or of a gateway's installed map.
    ///
    /// Reads only the files beside the maps: each source's last full run, change mark and how
    /// the last run read it (in full, or only the changes from which cursor),
    /// the map (recipients, sha256, when it changed), each gateway's last acknowledged push
    /// and last attempt; on a gateway the installed map, a spooled map waiting, the last
    /// apply's outcome and whether a rollback is in force. Changes nothing.
    Status(Status),
    /// Show the change a removal guard holds back: its ID, since when, which guard, the
    /// removals by domain and by source, and a sample of the addresses (all with -v).
    ///
    /// Prints nothing when nothing is held. Changes nothing.
    Review(Review),
    /// Let exactly the held change ID through: the next sync removes those addresses and
    /// pushes the approval, which the gateways honour once.
    ///
    /// Signs the approval with [safety].approval_key when set (run it as the account that
    /// can read the key, root by default). An ID that is not the change held now (mistyped,
    /// or the change grew or shrank since review) approves nothing and exits 2.
    Approve(Approve),
    /// Convert the legacy Perl script's relay_recipients.ini to rcptsync TOML (on stdout, or
    /// -o FILE).
    ///
    /// The bind password goes to a separate file (mode 0600, never overwritten), never into
    /// the TOML; stderr says where it went. Exit 1, never 0, when the TOML could not be
    /// written (the password file is then removed again).
    ImportIni(ImportIni),
}

/// Flags of receive.
#[derive(Debug, Args)]
pub struct Receive {
    /// The spool directory (apply's `[install].spool`).
    #[arg(long, value_name = "DIR")]
    pub spool: PathBuf,
    /// Refuse maps larger than this many bytes.
    // The default of [install].max_bytes: receive takes no map that apply would refuse.
    #[arg(long, value_name = "BYTES", default_value = Key::default_of(Install::KEYS, "max_bytes"))]
    pub max_bytes: u64,
    /// Give up on a sender that has not delivered a complete map within this time.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

impl Receive {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::receive::Options {
        crate::cmd::receive::Options {
            spool: self.spool.clone(),
            max_bytes: self.max_bytes,
            timeout: self.timeout,
        }
    }
}

/// Flags of apply.
#[derive(Debug, Args)]
pub struct Apply {
    /// Guards and dry run.
    #[command(flatten)]
    pub change: Change,
    /// Apply this map file (a plain map, or a payload as receive stores it) instead of the
    /// spooled one; it gets the same checks.
    #[arg(long, value_name = "FILE", conflicts_with = "rollback")]
    pub from: Option<PathBuf>,
    /// Swap the installed map with the previous one (PATH.prev); run again to undo.
    #[arg(long)]
    pub rollback: bool,
    /// Leave the spooled map alone: only take a confirmation that the installed map is
    /// current, and switch unknown recipients between 550 and 450 by how long ago it was
    /// ([install].stale_after; rcptsync-apply.timer runs this)
    #[arg(long, conflicts_with_all = ["from", "rollback"])]
    pub freshness: bool,
}

impl Apply {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::apply::Options {
        crate::cmd::apply::Options {
            change: self.change.options(),
            from: self.from.clone(),
            rollback: self.rollback,
            freshness: self.freshness,
        }
    }
}

/// Flags of check.
#[derive(Debug, Args)]
pub struct Check {
    /// Also connect: bind to each source and read one entry (and see that the server pages
    /// searches and offers the change feed), and open an ssh session to each gateway's
    /// receive without sending a map. Exit 1 when one fails.
    #[arg(long)]
    pub connect: bool,
}

/// Flags of verify.
#[derive(Debug, Args)]
pub struct Verify {
    /// The SMTP server to probe; port 25 unless one is given (`[IPv6]:PORT` for IPv6).
    #[arg(long, value_name = "HOST[:PORT]", default_value = "127.0.0.1:25")]
    pub smtp: String,
    /// Upgrade the session with STARTTLS first (the certificate is verified).
    #[arg(long)]
    pub starttls: bool,
    /// CA certificates to verify the gateway's STARTTLS certificate with [default: the
    /// system trust store].
    #[arg(long, value_name = "FILE", requires = "starttls")]
    pub ca_file: Option<PathBuf>,
}

impl Verify {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::verify::Options {
        crate::cmd::verify::Options {
            smtp: self.smtp.clone(),
            starttls: self.starttls.then(|| self.ca_file.clone()),
        }
    }
}

/// Flags of doctor.
#[derive(Debug, Args)]
pub struct Doctor {
    /// Postfix's configuration directory [default: the config's
    /// install.postfix_config_dir, else /etc/postfix].
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
}

/// Flags of prune.
#[derive(Debug, Args)]
pub struct Prune {
    /// Really change the directory (without it: list what would be removed).
    #[arg(long)]
    pub apply: bool,
    /// Where to write the undo LDIF [default: rcptsync-prune-undo-TIME.ldif].
    #[arg(long, value_name = "FILE")]
    pub undo: Option<PathBuf>,
}

impl Prune {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::prune::Options {
        crate::cmd::prune::Options {
            apply: self.apply,
            undo: self.undo.clone(),
        }
    }
}

/// Flags of status.
#[derive(Debug, Args)]
pub struct Status {
    /// Print JSON (for scripts and monitoring) instead of text.
    #[arg(long, conflicts_with = "plugin")]
    pub json: bool,
    /// Report as a monitoring plugin: one line with perfdata, exit 0 OK, 1 WARNING,
    /// 2 CRITICAL, 3 UNKNOWN (a usage or config error too)
    #[arg(long)]
    pub plugin: bool,
    /// With --plugin: WARNING when the map was last found current (on a gateway: confirmed)
    /// longer ago than this
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = humantime::parse_duration)]
    pub warning: std::time::Duration,
    /// With --plugin: CRITICAL when longer ago than this
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = humantime::parse_duration)]
    pub critical: std::time::Duration,
}

impl Status {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::status::Options {
        crate::cmd::status::Options { json: self.json }
    }
}

/// Flags of review.
#[derive(Debug, Args)]
pub struct Review {
    /// Print JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Review {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::review::Options {
        crate::cmd::review::Options { json: self.json }
    }
}

/// Flags of approve.
#[derive(Debug, Args)]
pub struct Approve {
    /// The change's ID, as review shows it.
    pub id: String,
}

/// Flags of import-ini.
#[derive(Debug, Args)]
pub struct ImportIni {
    /// The legacy .ini file.
    pub file: PathBuf,
    /// Where to write the bind password.
    #[arg(long, value_name = "FILE", default_value = "bind.pw")]
    pub password_file: PathBuf,
    /// Write the TOML to this file instead of stdout (refused if it exists, unless
    /// --overwrite).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing -o FILE (the password file is never overwritten).
    #[arg(long, requires = "output")]
    pub overwrite: bool,
    /// The old spelling of --overwrite, kept for one release (with a warning).
    #[arg(long, requires = "output", hide = true)]
    pub force: bool,
}

impl ImportIni {
    /// The command's options: `--force` still means `--overwrite`, said once.
    pub fn options(&self) -> crate::cmd::import_ini::Options {
        if self.force {
            tracing::warn!(
                "import-ini --force is now --overwrite; --force will go in the next release"
            );
        }
        crate::cmd::import_ini::Options {
            file: self.file.clone(),
            password_file: self.password_file.clone(),
            output: self.output.clone(),
            overwrite: self.overwrite || self.force,
        }
    }
}

/// Flags of push.
#[derive(Debug, Args)]
pub struct Push {
    /// Say where the map would go, push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Push even to a gateway that already acknowledged this map (after it lost its spool,
    /// or to test the path); with --dry-run, say so.
    #[arg(long)]
    pub resend: bool,
    /// The old spelling of --resend, kept for one release (with a warning).
    #[arg(long, hide = true)]
    pub force: bool,
}

impl Push {
    /// The command's options: `--force` still means `--resend`, said once.
    pub fn options(&self) -> crate::cmd::Change {
        if self.force {
            tracing::warn!(
                "push --force is now push --resend; --force will go in the next release"
            );
        }
        crate::cmd::Change {
            dry_run: self.dry_run,
            force: false,
            resend: self.resend || self.force,
        }
    }
}

/// Flags of sync: extract's and push's.
#[derive(Debug, Args)]
pub struct Sync {
    /// Extract's flags.
    #[command(flatten)]
    pub extraction: Extraction,
    /// Push even to a gateway that already acknowledged this map.
    #[arg(long)]
    pub resend: bool,
}

impl Sync {
    /// The command's options. `--force` alone keeps resending for one release, with a
    /// warning that names both flags.
    pub fn options(&self) -> crate::cmd::extract::Options {
        let mut options = self.extraction.options();
        let force = options.change.force;
        if force && !self.resend {
            tracing::warn!(
                "sync --force overrides the safety guards and, for this release only, also \
                 pushes a map a gateway already has; from the next release --force only \
                 overrides the guards: add --resend to keep pushing an unchanged map"
            );
        }
        options.change.resend = self.resend || force;
        options
    }
}

/// Flags of watch: none of its own; `[watch]` in the config says how it waits.
#[derive(Debug, Args)]
pub struct Watch {}

/// Flags of the commands that extract.
#[derive(Debug, Args)]
pub struct Extraction {
    /// Guards and dry run.
    #[command(flatten)]
    pub change: Change,
    /// Read every source in full: even when it reports no change since the last full run,
    /// and where it could read only the changes (this rebuilds the store beside the map).
    #[arg(long)]
    pub full: bool,
    /// Also write every entry the directory sources returned, as LDIF, to this new file
    /// (mode 0600; it holds addresses): a `kind = "ldif"` source that reproduces the run, for
    /// a bug report or a test case. Implies --full.
    #[arg(long, value_name = "FILE", hide = true)]
    pub dump_entries: Option<PathBuf>,
}

impl Extraction {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::extract::Options {
        crate::cmd::extract::Options {
            change: self.change.options(),
            full: self.full,
            dump_entries: self.dump_entries.clone(),
            defer_commands: false,
        }
    }
}

/// Flags of the commands that change something.
#[derive(Debug, Args)]
pub struct Change {
    /// Show what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Override a safety guard (logged loudly); use only for an intended mass change.
    #[arg(long)]
    pub force: bool,
}

impl Change {
    /// The command's options.
    pub fn options(&self) -> crate::cmd::Change {
        crate::cmd::Change {
            dry_run: self.dry_run,
            force: self.force,
            resend: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
