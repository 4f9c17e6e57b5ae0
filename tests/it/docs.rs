//! The generated documentation under `doc/`: the man pages rcptsync(1) and
//! rcptsync-COMMAND(1) and the bash, zsh and fish completions, all from the clap definitions
//! (`rcptsync::cli::args`), and rcptsync.toml(5) from the README's configuration reference
//! (the one place the keys and their defaults are written down for people).
//!
//! The defaults in the README's tables are checked against the ones the code applies
//! (`the_documented_defaults_are_the_ones_the_code_applies`), so the man page cannot drift
//! from the code either.
//!
//! The files are checked in, so that packaging needs no generator: this test fails when one
//! is stale, and `RCPTSYNC_UPDATE_SNAPSHOTS=1 cargo test --test it docs::` rewrites them
//! (review the diff before committing it), like the `--help` snapshots in `help.rs`.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_complete::Shell;

/// The man pages of the command line: rcptsync(1), then one per visible subcommand.
fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = rcptsync::cli::args::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("rcptsync-{}(1)", s.get_name()))
        .collect();
    let mut pages = Vec::new();
    let page = clap_mangen::Man::new(cmd.clone()).manual("rcptsync manual");
    let mut text = Vec::new();
    page.render(&mut text).unwrap();
    text.extend_from_slice(MAIN_EXTRA.as_bytes());
    text.extend_from_slice(see_also(&subcommands, None).as_bytes());
    pages.push((page.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = clap_mangen::Man::new(sub.clone()).manual("rcptsync manual");
        let mut text = Vec::new();
        page.render(&mut text).unwrap();
        text.extend_from_slice(see_also(&subcommands, Some(sub.get_name())).as_bytes());
        pages.push((page.get_filename(), text));
    }
    pages
}

/// What rcptsync(1) says besides the clap definitions: exit status and files.
const MAIN_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
.B 0
success, whether or not anything changed
.TP
.B 1
runtime failure (directory, I/O, ssh, postmap, another run holds the lock)
.TP
.B 2
usage or configuration error
.TP
.B 3
refused by a safety guard; the installed map is untouched
.TP
.B 4
verify or doctor found problems
.SH FILES
.TP
.I /etc/rcptsync/rcptsync.toml
the configuration (see \fBrcptsync.toml\fR(5))
.TP
.I /var/lib/rcptsync/
the packaged output directory: the map and its \fI.lock\fR, \fI.state\fR and \fI.pushed\fR files
.TP
.I /usr/share/doc/rcptsync/examples/
an example configuration with an Active Directory export, an authorized_keys line and a crontab
"#;

fn see_also(subcommands: &[String], this: Option<&str>) -> String {
    let mut refs = vec![r"\fBrcptsync.toml\fR(5)".to_owned()];
    if this.is_some() {
        refs.insert(0, r"\fBrcptsync\fR(1)".to_owned());
    }
    for sub in subcommands {
        let (name, section) = sub.split_once('(').unwrap();
        if this.is_none_or(|t| name != format!("rcptsync-{t}")) {
            refs.push(format!(r"\fB{name}\fR({section}"));
        }
    }
    refs.push(r"\fBpostmap\fR(1), \fBpostconf\fR(5), \fBsystemd.exec\fR(5)".to_owned());
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", "))
}

/// The completion scripts, with the names the shells look them up by.
fn completions() -> Vec<(String, Vec<u8>)> {
    [
        (Shell::Bash, "rcptsync.bash"),
        (Shell::Zsh, "_rcptsync"),
        (Shell::Fish, "rcptsync.fish"),
    ]
    .into_iter()
    .map(|(shell, name)| {
        let mut cmd = rcptsync::cli::args::Cli::command();
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd, "rcptsync", &mut text);
        (name.to_owned(), text)
    })
    .collect()
}

/// rcptsync.toml(5): the README's "Configuration reference" section, rendered as roff.
fn config_page() -> Vec<u8> {
    let readme = fs_err::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("\n## Configuration reference\n")
        .expect("README has a Configuration reference");
    let section = &readme[start + 1..];
    let body = section[section.find('\n').unwrap() + 1..]
        .split("\n## ")
        .next()
        .unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let mut roff = format!(
        ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n\
         .TH rcptsync.toml 5  \"rcptsync.toml {version}\" \"rcptsync manual\"\n\
         .SH NAME\nrcptsync.toml \\- configuration of rcptsync(1)\n\
         .SH SYNOPSIS\n.I /etc/rcptsync/rcptsync.toml\n\
         .SH DESCRIPTION\n"
    );
    roff.push_str(&markdown_to_roff(body));
    roff.push_str(
        ".SH FILES\n.TP\n.I /etc/rcptsync/rcptsync.toml\nthe packaged configuration \
         (owner root, group rcptsync, mode 0640)\n.TP\n\
         .I /usr/share/doc/rcptsync/examples/rcptsync.toml\nthe bundled example\n\
         .SH \"SEE ALSO\"\n\\fBrcptsync\\fR(1), \\fBpostconf\\fR(5)\n",
    );
    roff.into_bytes()
}

/// The little Markdown the README uses (headings, paragraphs, lists, tables, code blocks,
/// `code`) as man(7) roff.
fn markdown_to_roff(markdown: &str) -> String {
    let mut out = String::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if line.trim().is_empty() {
            continue;
        } else if let Some(heading) = line.strip_prefix("#### ") {
            out.push_str(&format!(".SS \"{}\"\n", quoted(heading)));
        } else if let Some(heading) = line.strip_prefix("### ") {
            out.push_str(&format!(".SH \"{}\"\n", quoted(heading)));
        } else if trimmed.starts_with("```") {
            out.push_str(".PP\n.RS 4\n.nf\n");
            for code in lines.by_ref() {
                if code.trim_start().starts_with("```") {
                    break;
                }
                out.push_str(&format!("\\&{}\n", code.replace('\\', "\\e")));
            }
            out.push_str(".fi\n.RE\n");
        } else if line.starts_with('|') {
            // The header row names the columns; the separator row follows.
            let header = cells(line);
            lines.next();
            while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
                let row = cells(row);
                out.push_str(&format!(".TP\n\\fB{}\\fR\n", plain_code(&row[0])));
                if header.len() == 3 {
                    let default = if row[1].is_empty() {
                        String::new()
                    } else if row[1].starts_with('(') {
                        inline(&row[1])
                    } else {
                        format!("(default: {})", inline(&row[1]))
                    };
                    out.push_str(&format!("{}\n", inline(&row[2])));
                    if !default.is_empty() {
                        out.push_str(&format!("{default}\n"));
                    }
                } else {
                    out.push_str(&format!("{}\n", inline(&row[1..].join(" "))));
                }
            }
        } else {
            let (lead, mut text) = if let Some(item) = line.strip_prefix("- ") {
                (".IP \\(bu 2\n".to_owned(), item.to_owned())
            } else if let Some((n, item)) = line.split_once(". ")
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
            {
                (format!(".IP {n}. 4\n"), item.to_owned())
            } else {
                (".PP\n".to_owned(), line.to_owned())
            };
            // The paragraph or item goes on until a blank line or the next block.
            while let Some(more) = lines.next_if(|l| {
                !l.trim().is_empty()
                    && !l.starts_with("- ")
                    && !l.starts_with('#')
                    && !l.starts_with('|')
                    && !l.trim_start().starts_with("```")
                    && !l.split_once(". ").is_some_and(|(n, _)| {
                        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
                    })
            }) {
                text.push(' ');
                text.push_str(more.trim());
            }
            out.push_str(&lead);
            out.push_str(&inline(&text));
            out.push('\n');
        }
    }
    out
}

/// A heading as a macro argument: its double quotes cannot end the argument.
fn quoted(text: &str) -> String {
    inline(text).replace('"', "\\(dq")
}

/// The cells of a table row; a `|` inside a code span does not end a cell.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![String::new()];
    let mut code = false;
    for c in inner.chars() {
        match c {
            '`' => code = !code,
            '|' if !code => {
                cells.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(cell) = cells.last_mut() {
            cell.push(c);
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// A table's key cell: its code spans without the backticks.
fn plain_code(cell: &str) -> String {
    escape(&cell.replace('`', ""))
}

/// Text with `code` spans in bold, escaped for roff.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("\\fB{}\\fR", escape(part)));
        } else {
            out.push_str(&escape(&part.replace("**", "")));
        }
    }
    // A line that starts with a dot or a quote would be read as a request.
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every generated file with its path under the repository.
fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = man_pages()
        .into_iter()
        .map(|(name, text)| (Path::new("doc/man").join(name), text))
        .collect();
    files.push(("doc/man/rcptsync.toml.5".into(), config_page()));
    files.extend(
        completions()
            .into_iter()
            .map(|(name, text)| (Path::new("doc/completions").join(name), text)),
    );
    files
}

#[test]
fn generated_docs_are_current() {
    let update = std::env::var_os("RCPTSYNC_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, text) in generated() {
        let full = root().join(&path);
        if update {
            fs_err::create_dir_all(full.parent().unwrap()).unwrap();
            fs_err::write(&full, &text).unwrap();
        } else if fs_err::read(&full).ok().as_deref() != Some(text.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated docs: {} (RCPTSYNC_UPDATE_SNAPSHOTS=1 cargo test --test it docs:: rewrites them)",
        stale.join(", ")
    );
}

#[test]
fn every_command_has_a_man_page_and_the_config_page_has_every_table() {
    let pages: Vec<String> = man_pages().into_iter().map(|(name, _)| name).collect();
    for command in [
        "extract", "push", "sync", "receive", "apply", "verify", "doctor",
    ] {
        assert!(
            pages.contains(&format!("rcptsync-{command}.1")),
            "{pages:?}"
        );
    }
    let config = String::from_utf8(config_page()).unwrap();
    for table in [
        "[[source]]",
        "[recipients]",
        "[output]",
        "[safety]",
        "[install]",
        "[[gateway]]",
    ] {
        assert!(
            config.contains(&format!(".SH \"\\fB{table}\\fR")),
            "{table} missing from rcptsync.toml(5)"
        );
    }
    assert!(config.contains(".TP\n\\fBmin_recipients\\fR\n"), "{config}");
}

/// The README's default column (the text rcptsync.toml(5) is made from) against the defaults
/// the code applies: a config that sets none of these keys, loaded as rcptsync loads it.
/// Each default is written in the code and once in the README; this keeps the two equal.
#[test]
fn the_documented_defaults_are_the_ones_the_code_applies() {
    use rcptsync::config::{Config, SourceKind};
    let readme = fs_err::read_to_string(root().join("README.md")).unwrap();
    // (key, first code span of its default cell) of every three-column table row.
    let documented: Vec<(String, String)> = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(cells)
        .filter(|row| row.len() == 3)
        .filter_map(|row| {
            let default = row[1].split('`').nth(1)?.trim_matches('"').to_owned();
            Some((row[0].trim_matches('`').to_owned(), default))
        })
        .collect();
    let config = Config::parse(
        "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nservers = [\"ldaps://dc1.example.com\"]\n\
         base_dn = \"DC=example,DC=com\"\n\
         [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"map\"\n\
         [[gateway]]\nname = \"mx1\"\nhost = \"mx1.example.com\"\nuser = \"postrelay\"\n\
         [install]\n",
        Path::new("/etc/rcptsync/rcptsync.toml"),
    )
    .unwrap();
    let SourceKind::Ldap(ldap) = &config.sources[0].kind else {
        panic!("{:?}", config.sources[0].kind)
    };
    let recipients = config.recipients.as_ref().unwrap();
    let install = config.install.as_ref().unwrap();
    let gateway = &config.gateways[0];
    let duration = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
    let applied: Vec<(&str, String)> = vec![
        ("starttls", ldap.starttls.to_string()),
        ("timeout", duration(ldap.timeout)),
        ("page_size", ldap.page_size.to_string()),
        (
            "insecure_cleartext_bind",
            ldap.insecure_cleartext_bind.to_string(),
        ),
        (
            "skip_auth_required",
            recipients.skip_auth_required.to_string(),
        ),
        (
            "use_mail_attribute",
            recipients.use_mail_attribute.to_string(),
        ),
        ("value", config.output.as_ref().unwrap().value.clone()),
        ("min_recipients", config.safety.min_recipients.to_string()),
        ("max_removed", config.safety.max_removed.to_string()),
        (
            "max_removed_percent",
            config.safety.max_removed_percent.to_string(),
        ),
        ("full_every", duration(config.full_every)),
        ("map", install.map.to_string()),
        ("spool", install.spool.display().to_string()),
        (
            "postfix_config_dir",
            install.postfix_config_dir.display().to_string(),
        ),
        ("reload", lower(&install.reload)),
        ("cdb_writer", lower(&install.cdb_writer)),
        ("max_bytes", install.max_bytes.to_string()),
        ("port", gateway.port.to_string()),
        ("read_timeout", duration(ldap.read_timeout)),
        ("tls_cn_fallback", ldap.tls_cn_fallback.to_string()),
        ("max_entries", ldap.bounds.entries.to_string()),
        ("max_values", ldap.bounds.values.to_string()),
        ("max_value_bytes", ldap.bounds.value_bytes.to_string()),
        (
            "max_message_bytes",
            ldap.bounds.wire.message_bytes.to_string(),
        ),
        ("max_read_bytes", ldap.bounds.wire.read_bytes.to_string()),
    ];
    for (key, value) in &applied {
        let defaults: Vec<&String> = documented
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, d)| d)
            .collect();
        assert!(
            defaults.contains(&value),
            "{key}: the code's default is {value:?}, the README says {defaults:?}"
        );
    }
    // Keys documented twice (timeout) have one default per table.
    let gateway_timeout = documented
        .iter()
        .filter(|(k, _)| k == "timeout")
        .map(|(_, d)| d.clone())
        .collect::<Vec<_>>();
    assert!(
        gateway_timeout.contains(&duration(gateway.timeout)),
        "[[gateway]] timeout: {gateway_timeout:?}"
    );
}
