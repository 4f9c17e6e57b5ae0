//! The one way commands talk to the admin: data and diffs on stdout through [`Printer`],
//! diagnostics on stderr in Postfix's style (`rcptsync: warning: ...`), because the people
//! reading them know Postfix's logs and get them by cron mail.
//!
//! Every write to stdout returns its error, so that a full disk or a closed pipe is noticed;
//! a closed stdout (`rcptsync extract --dry-run | head`) ends the run quietly, as ripgrep
//! does, instead of panicking. Diagnostics never fail the run: a log line that cannot be
//! written is dropped.

use std::fmt;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::map::diff::{Side, write_line};

/// stdout could not be written; with [`std::io::ErrorKind::BrokenPipe`] the reader went away.
#[derive(Debug, thiserror::Error)]
#[error("write to stdout: {0}")]
pub struct Error(#[from] pub std::io::Error);

/// What the commands print on stdout, and how much.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    verbose: bool,
    quiet: bool,
    /// The most `+`/`-` lines a diff prints (None: all of them).
    diff_lines: Option<usize>,
}

impl Printer {
    /// Sets up the diagnostics on stderr (-q errors only, the default adds warnings, -v
    /// info, -vv debug) and returns the printer for stdout.
    pub fn init(quiet: bool, verbose: u8) -> Self {
        let level = match (quiet, verbose) {
            (true, _) => Level::ERROR,
            (false, 0) => Level::WARN,
            (false, 1) => Level::INFO,
            (false, _) => Level::DEBUG,
        };
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .event_format(PostfixStyle)
            // A log line that cannot be written is dropped, not reported on the same stderr.
            .log_internal_errors(false);
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::from_level(level))
            .with(stderr)
            .init();
        Self {
            verbose: verbose > 0 && !quiet,
            quiet,
            diff_lines: None,
        }
    }

    /// The same printer, whose diffs print their `+`/`-` lines only when there are at most
    /// `lines` of them (else the summary alone, which says so): a service's log (watch's
    /// journal) names who came and went, but a first run does not put a line per recipient
    /// into it.
    pub fn at_most(self, lines: usize) -> Self {
        Self {
            diff_lines: Some(lines),
            ..self
        }
    }

    /// Whether -v asked for summaries of runs that changed nothing.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Whether -q asked for silence unless something is wrong: a report that only says all
    /// is well (verify's answers, say) is left out, so that cron or monitoring mails only
    /// problems.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// A buffered writer for many lines (a first run prints one per recipient); call
    /// [`Out::finish`] to flush it and learn whether everything arrived.
    pub fn out(&self) -> Out {
        Out(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout().lock(),
        ))
    }

    /// Prints one line of data.
    pub fn line(&self, text: impl fmt::Display) -> Result<(), Error> {
        let mut out = self.out();
        out.line(text)?;
        out.finish()
    }

    /// Prints a change as a diff: every `+`/`-` line that `merge` hands to its callback, then
    /// the line `summary` makes of what `merge` returned. extract and apply print their
    /// changes this way; a first run prints one line per recipient, so the lines are
    /// buffered and nothing is allocated per line.
    pub fn diff<S, E: From<Error>>(
        &self,
        merge: impl FnOnce(&mut dyn FnMut(Side, &str)) -> Result<S, E>,
        summary: impl FnOnce(S) -> String,
    ) -> Result<(), E> {
        let mut out = self.out();
        let Some(limit) = self.diff_lines else {
            let mut written = Ok(());
            let merged = merge(&mut |side, key| {
                if written.is_ok() {
                    written = write_line(out.writer(), side, key);
                }
            })?;
            written.map_err(Error)?;
            out.line(summary(merged))?;
            return Ok(out.finish()?);
        };
        // Held back until it is known whether there are more than `limit`.
        let (mut held, mut count) = (Vec::new(), 0usize);
        let merged = merge(&mut |side, key| {
            count += 1;
            if count <= limit {
                held.push((side, key.to_owned()));
            }
        })?;
        if count <= limit {
            for (side, key) in &held {
                write_line(out.writer(), *side, key).map_err(Error)?;
            }
            out.line(summary(merged))?;
        } else {
            out.line(format_args!(
                "{} (its {count} address lines left out)",
                summary(merged)
            ))?;
        }
        Ok(out.finish()?)
    }

    /// Tells the admin something they must know although nothing is wrong (where a file went)
    /// on stderr, `rcptsync: text`, because stdout may be data; -q leaves it out. Like every
    /// diagnostic it cannot fail the run.
    pub fn tell(&self, text: impl fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "rcptsync: {text}");
        }
    }

    /// Prints one line only with -v: the summary of a run that changed nothing.
    pub fn note(&self, text: impl fmt::Display) -> Result<(), Error> {
        if self.verbose {
            self.line(text)?;
        }
        Ok(())
    }
}

/// Buffered stdout (see [`Printer::out`]).
pub struct Out(std::io::BufWriter<std::io::StdoutLock<'static>>);

impl Out {
    /// Writes `text` and a line end.
    pub fn line(&mut self, text: impl fmt::Display) -> Result<(), Error> {
        writeln!(self.0, "{text}")?;
        Ok(())
    }

    /// The writer itself, for code that renders into any `Write` (the diff lines).
    pub fn writer(&mut self) -> &mut impl std::io::Write {
        &mut self.0
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> Result<(), Error> {
        self.0.flush()?;
        Ok(())
    }
}

/// `rcptsync: warning: message (key=value, ...)`.
struct PostfixStyle;

impl<S, N> FormatEvent<S, N> for PostfixStyle
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            _ => "",
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        write!(writer, "rcptsync: {level}{}", fields.message)?;
        if !fields.rest.is_empty() {
            write!(writer, " ({})", fields.rest.join(", "))?;
        }
        writeln!(writer)
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.rest.push(format!("{}={value}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push(format!("{}={value:?}", field.name()));
        }
    }
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const LAST_DATE: u64 = 253_402_300_799;

/// A time as rcptsync prints it: RFC 3339 in UTC, to the second. A time no clock here gives
/// (before 1970, after the year 9999: a file's mtime or a record someone set) is printed as
/// what it is, not turned into a panic.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) if since.as_secs() <= LAST_DATE => {
            humantime::format_rfc3339_seconds(time).to_string()
        }
        Ok(since) => format!("{} seconds after 1970 (not a date)", since.as_secs()),
        Err(_) => "before 1970 (not a date)".to_owned(),
    }
}

/// [`rfc3339`] of `seconds` since the epoch.
pub fn rfc3339_seconds(seconds: u64) -> String {
    match seconds {
        0..=LAST_DATE => rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds)),
        _ => format!("{seconds} seconds after 1970 (not a date)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_time_that_is_no_date_is_printed_not_panicked_on() {
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(LAST_DATE), "9999-12-31T23:59:59Z");
        assert!(rfc3339_seconds(LAST_DATE + 1).contains("not a date"));
        assert!(rfc3339_seconds(u64::MAX).contains("not a date"));
        assert!(rfc3339(UNIX_EPOCH - Duration::from_secs(1)).contains("before 1970"));
    }
}
