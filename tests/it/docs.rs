//! The generated documentation: the man pages rcptsync(1) and rcptsync-COMMAND(1) and the
//! bash, zsh and fish completions under `doc/`, all from the clap definitions
//! (`rcptsync::cli::args`); the tables of the README's configuration reference (the blocks
//! marked `<!-- generated from FILE by tests/it/docs.rs: TABLE -->`), from the config
//! tables' definitions (each beside its stage, in FILE, and all re-exported by
//! `rcptsync::config::raw`: each key's doc comment and default, the ones the code applies);
//! and rcptsync.toml(5) from that README section, prose and generated tables together.
//!
//! The files are checked in, so that packaging needs no generator: this test fails when one
//! is stale, and `RCPTSYNC_UPDATE_SNAPSHOTS=1 cargo test --test it docs::` rewrites them
//! (review the diff before committing it), like the `--help` snapshots in `help.rs`.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_complete::Shell;
use rcptsync::config::raw::{self, Key};

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
    text.extend_from_slice(format!(".SH \"EXIT STATUS\"\n{EXIT_STATUS}{MAIN_EXTRA}").as_bytes());
    text.extend_from_slice(see_also(&subcommands, None).as_bytes());
    pages.push((page.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = clap_mangen::Man::new(sub.clone()).manual("rcptsync manual");
        let mut text = Vec::new();
        page.render(&mut text).unwrap();
        text.extend_from_slice(command_sections(sub.get_name()).as_bytes());
        text.extend_from_slice(see_also(&subcommands, Some(sub.get_name())).as_bytes());
        pages.push((page.get_filename(), text));
    }
    pages
}

/// EXIT STATUS, FILES, SECURITY and EXAMPLES of rcptsync-`name`(1). SECURITY is the first
/// paragraph of the command module's own `Security:` text (`src/cmd/NAME.rs` or
/// `src/cmd/NAME/mod.rs`), so that the
/// code's doc and the man page cannot drift apart; the files and examples are written here.
fn command_sections(name: &str) -> String {
    let (files, examples) = files_and_examples(name);
    let mut out = format!(".SH \"EXIT STATUS\"\n{EXIT_STATUS}.SH FILES\n");
    for (path, what) in files {
        out.push_str(&format!(".TP\n.I {}\n{}\n", escape(path), inline(what)));
    }
    out.push_str(&format!(".SH SECURITY\n{}\n", inline(&security_of(name))));
    out.push_str(".SH EXAMPLES\n");
    for (command, what) in examples {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            escape(command),
            inline(what)
        ));
    }
    out
}

/// The first paragraph of `Security:` in the module doc of the command's module, as plain text:
/// intra-doc links become their last path segment.
fn security_of(name: &str) -> String {
    let module = name.replace('-', "_");
    let file = [
        format!("src/cmd/{module}.rs"),
        format!("src/cmd/{module}/mod.rs"),
    ]
    .into_iter()
    .map(|f| root().join(f))
    .find(|f| f.exists())
    .unwrap_or_else(|| panic!("no module for rcptsync-{name}"));
    let text = fs_err::read_to_string(&file).unwrap();
    let paragraph: Vec<&str> = text
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .skip_while(|l| !l.starts_with("Security:"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        !paragraph.is_empty(),
        "{} has no Security: paragraph",
        file.display()
    );
    let joined = paragraph.join(" ");
    let joined = joined.strip_prefix("Security: ").unwrap_or(&joined);
    // [`crate::a::b`] and [`x`](crate::a::x) read as `b` and `x`.
    let mut plain = String::new();
    let mut rest = joined;
    while let Some(start) = rest.find("[`") {
        plain.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("`]") else { break };
        let name = after[..end].rsplit("::").next().unwrap_or_default();
        plain.push_str(&format!("`{name}`"));
        rest = &after[end + 2..];
        if rest.starts_with('(') {
            rest = rest.find(')').map_or(rest, |close| &rest[close + 1..]);
        }
    }
    plain.push_str(rest);
    // A sentence in the page: "Runs as root; ...".
    let mut chars = plain.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Each command's files and examples, as (path, what) and (command line, what it does).
#[allow(clippy::type_complexity)]
fn files_and_examples(
    name: &str,
) -> (
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
) {
    const CONFIG: (&str, &str) = (
        "/etc/rcptsync/rcptsync.toml",
        "the configuration (see rcptsync.toml(5)); `-c FILE` names another",
    );
    const MAP: (&str, &str) = (
        "/var/lib/rcptsync/relay_recipients",
        "`[output].path` in the packaged config: the map, with `.lock`, `.state` (the last full run), `.store` (what each directory object gives the map), `.pushed` and `.pushed.lock` (what each gateway acknowledged), `.exports` (which `[[export]]` files stand for the map) and, while watch runs, `.watch` beside it",
    );
    const SPOOL: (&str, &str) = (
        "/var/spool/rcptsync/relay_recipients",
        "`[install].spool`: the map as `receive` stored it, waiting for `apply`",
    );
    const INSTALLED: (&str, &str) = (
        "/etc/postfix/relay_recipients",
        "`[install].map`: the installed map, with `.prev` (the one before, for `--rollback`) and `.applied` (the last outcome, for `status`)",
    );
    match name {
        "extract" => (
            &[CONFIG, MAP],
            &[
                (
                    "rcptsync extract --dry-run",
                    "show what the next run would add and remove, write nothing",
                ),
                (
                    "rcptsync -v extract --full",
                    "search the directory even if it reports no change, and say so",
                ),
            ],
        ),
        "push" => (
            &[
                CONFIG,
                MAP,
                (
                    "~/.ssh/known_hosts",
                    "the gateways' host keys (`StrictHostKeyChecking=yes`)",
                ),
            ],
            &[
                (
                    "rcptsync push",
                    "send the map to every gateway that does not have it yet",
                ),
                (
                    "rcptsync push --resend --dry-run",
                    "say where an unchanged map would go",
                ),
            ],
        ),
        "sync" => (
            &[CONFIG, MAP],
            &[
                (
                    "rcptsync sync",
                    "what the packaged timer runs: extract, then push",
                ),
                (
                    "rcptsync sync --force --resend",
                    "after checking an intended mass removal: install it and send it everywhere",
                ),
            ],
        ),
        "watch" => (
            &[CONFIG, MAP],
            &[
                (
                    "systemctl enable --now rcptsync-watch.service",
                    "instead of the sync timer: follow the directory as a service",
                ),
                (
                    "systemctl reload rcptsync-watch",
                    "load an edited config (SIGHUP); a broken one is refused and the old one kept",
                ),
            ],
        ),
        "receive" => (
            &[
                SPOOL,
                (
                    "~/.ssh/authorized_keys",
                    "of the spool account: `restrict,command=\"rcptsync receive --spool /var/spool/rcptsync\" KEY`",
                ),
            ],
            &[(
                "restrict,command=\"rcptsync receive --spool /var/spool/rcptsync\" ssh-ed25519 AAAA...",
                "the authorized_keys line that lets the internal host deliver maps and nothing else",
            )],
        ),
        "apply" => (
            &[CONFIG, SPOOL, INSTALLED],
            &[
                (
                    "rcptsync apply",
                    "install the spooled map if it is new and passes every check",
                ),
                (
                    "rcptsync apply --rollback",
                    "swap the installed map with the previous one; run again to undo",
                ),
                (
                    "rcptsync apply --from relay_recipients.txt --dry-run",
                    "check a hand-made map and show what it would change",
                ),
            ],
        ),
        "verify" => (
            &[CONFIG],
            &[
                (
                    "rcptsync verify --smtp mx1.example.com",
                    "silent and exit 0 when the gateway answers as it should",
                ),
                (
                    "rcptsync -v verify --smtp mx1.example.com:25 --starttls",
                    "every answer, over a verified TLS session",
                ),
            ],
        ),
        "check" => (
            &[CONFIG],
            &[
                (
                    "rcptsync check",
                    "silent and exit 0 when the config and every file it names are usable",
                ),
                (
                    "rcptsync -v check -c /etc/rcptsync/gateway.toml",
                    "one line per check of a gateway's config",
                ),
                (
                    "rcptsync -v check --connect",
                    "after setting up or rotating a credential: bind to each source, read one entry, reach each gateway's receive",
                ),
            ],
        ),
        "doctor" => (
            &[
                CONFIG,
                (
                    "/etc/postfix/main.cf",
                    "read through `postconf -c DIR`, with master.cf",
                ),
                INSTALLED,
            ],
            &[
                (
                    "rcptsync doctor",
                    "silent and exit 0 when the gateway follows the checklist",
                ),
                (
                    "rcptsync -v doctor --config-dir /etc/postfix-out",
                    "another Postfix instance, with notes and a summary",
                ),
            ],
        ),
        "prune" => (
            &[
                CONFIG,
                (
                    "rcptsync-prune-undo-TIME.ldif",
                    "the undo LDIF, written before the first change (`--undo FILE` names another)",
                ),
            ],
            &[
                (
                    "rcptsync prune",
                    "list the values in excluded domains; change nothing",
                ),
                (
                    "rcptsync prune --apply --undo undo.ldif",
                    "remove them; `ldapmodify -f undo.ldif` puts them back",
                ),
            ],
        ),
        "status" => (
            &[CONFIG, MAP, SPOOL, INSTALLED],
            &[
                (
                    "rcptsync status",
                    "the map, its sources and gateways (or, on a gateway, the installed map)",
                ),
                (
                    "rcptsync status --json",
                    "the same for scripts and monitoring",
                ),
            ],
        ),
        "review" => (
            &[
                CONFIG,
                (
                    "/var/lib/rcptsync/relay_recipients.held",
                    "the held change: its removals, since when, which guard (written by extract)",
                ),
            ],
            &[
                (
                    "rcptsync review",
                    "the held change, its removals by domain and source, and a sample of them",
                ),
                (
                    "rcptsync -v review --json",
                    "the same for scripts, with every address",
                ),
            ],
        ),
        "approve" => (
            &[
                CONFIG,
                (
                    "/var/lib/rcptsync/relay_recipients.approval",
                    "the approval it writes; push carries it to the gateways",
                ),
                (
                    "/etc/rcptsync/approval_key",
                    "the approver's ed25519 key ([safety].approval_key), readable by root only",
                ),
            ],
            &[(
                "rcptsync approve 50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c",
                "let exactly that held change through, on this host and on every gateway",
            )],
        ),
        "import-ini" => (
            &[
                (
                    "relay_recipients.ini",
                    "the legacy Perl script's configuration, read only",
                ),
                (
                    "bind.pw",
                    "the bind password, mode 0600, never overwritten (`--password-file FILE`)",
                ),
            ],
            &[(
                "rcptsync import-ini /etc/postfix/relay_recipients.ini -o rcptsync.toml",
                "convert the legacy configuration; stderr says where the password went",
            )],
        ),
        other => panic!("no FILES and EXAMPLES for rcptsync-{other}(1): add them to docs.rs"),
    }
}

/// The exit codes, for every page.
const EXIT_STATUS: &str = r#".TP
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
refused by a safety guard, the installed map untouched; or removals held back for review for the first time (\fBrcptsync review\fR), the rest of the change written
.TP
.B 4
verify or doctor found problems
"#;

/// What rcptsync(1) says besides the clap definitions and its EXIT STATUS: files, security,
/// examples.
const MAIN_EXTRA: &str = r#".SH FILES
.TP
.I /etc/rcptsync/rcptsync.toml
the configuration (see \fBrcptsync.toml\fR(5))
.TP
.I /var/lib/rcptsync/
the packaged output directory: the map and its \fI.lock\fR, \fI.state\fR, \fI.store\fR, \fI.pushed\fR, \fI.pushed.lock\fR, \fI.held\fR (removals held for review), \fI.approval\fR and (while watch runs) \fI.watch\fR files
.TP
.I /usr/share/doc/rcptsync/examples/
an example configuration with an Active Directory export, an authorized_keys line and a crontab
.SH SECURITY
Each command runs with the least it needs: extract, push and sync as an unprivileged account
that may read the directory; receive as the gateway's SSH account, which can only put one map
into the spool; apply as root, trusting nothing it receives. Each command's page says what it
trusts and what it touches.
.SH EXAMPLES
.TP
.B rcptsync sync
on the internal host, from the packaged timer: extract, then push when the extract succeeded
.TP
.B rcptsync apply
on each gateway, from the packaged path unit when a map arrives
.TP
.B rcptsync verify \-\-smtp mx1.example.com
check that the gateway refuses unknown recipients and accepts the canaries
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

/// The configuration reference's tables, by the name their README block is marked with: the
/// file's tables, the `[[source]]` keys and each source kind's own.
const TABLES: &[(&str, &[Key])] = &[
    ("[[source]]", raw::SOURCE),
    ("[[source]] kind = \"ldap\"", raw::Ldap::KEYS),
    ("[[source]] kind = \"graph\"", raw::Graph::KEYS),
    ("[recipients]", raw::Recipients::KEYS),
    ("[output]", raw::Output::KEYS),
    ("[[export]]", raw::Export::KEYS),
    ("[safety]", raw::Safety::KEYS),
    ("[install]", raw::Install::KEYS),
    ("[[gateway]]", raw::Gateway::KEYS),
    ("[metrics]", raw::Metrics::KEYS),
    ("[watch]", raw::Watch::KEYS),
];

/// The file that defines each table of [`TABLES`], beside the stage that uses it: the README
/// block's marker names it, so that whoever edits the README knows where the text lives.
const DEFINED_IN: &[(&str, &str)] = &[
    ("[[source]]", "src/source/config.rs"),
    ("[[source]] kind = \"ldap\"", "src/source/ldap/config.rs"),
    ("[[source]] kind = \"graph\"", "src/source/graph/config.rs"),
    ("[recipients]", "src/rules/config.rs"),
    ("[output]", "src/map/config.rs"),
    ("[[export]]", "src/export/config.rs"),
    ("[safety]", "src/rules/config.rs"),
    ("[install]", "src/install/config.rs"),
    ("[[gateway]]", "src/transport/config.rs"),
    ("[metrics]", "src/config/raw.rs"),
    ("[watch]", "src/config/raw.rs"),
];

/// A generated block's marker is `BEGIN FILE BY TABLE -->`.
const BEGIN: &str = "<!-- generated from ";
const BY: &str = " by tests/it/docs.rs: ";
const END: &str = "<!-- end generated -->";

/// A table of the reference as Markdown: key, default (the TOML default in a code span, then
/// any text), meaning; without the default column when no key has one (`[[source]]`).
fn markdown_table(keys: &[Key]) -> String {
    let defaults = keys
        .iter()
        .any(|k| k.default.is_some() || !k.default_text.is_empty());
    let mut out = if defaults {
        "| key | default | meaning |\n|---|---|---|\n".to_owned()
    } else {
        "| key | meaning |\n|---|---|\n".to_owned()
    };
    for key in keys {
        let doc: Vec<&str> = key
            .doc
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let doc = doc.join(" ");
        if defaults {
            let default: Vec<String> = key
                .default
                .map(|d| format!("`{d}`"))
                .into_iter()
                .chain((!key.default_text.is_empty()).then(|| key.default_text.to_owned()))
                .collect();
            let default = default.join(" ");
            let default = if default.is_empty() {
                " ".to_owned()
            } else {
                format!(" {default} ")
            };
            out.push_str(&format!("| `{}` |{default}| {doc} |\n", key.name));
        } else {
            out.push_str(&format!("| `{}` | {doc} |\n", key.name));
        }
    }
    out
}

/// `readme` with each generated block rewritten from [`TABLES`]; every table has one block.
fn readme_with_tables(readme: &str) -> String {
    let mut out = String::new();
    let mut rest = readme;
    let mut seen = Vec::new();
    while let Some(begin) = rest.find(BEGIN) {
        let header_end = begin + rest[begin..].find("-->\n").unwrap() + "-->\n".len();
        let marker = &rest[begin + BEGIN.len()..header_end - "-->\n".len()];
        let (_, name) = marker
            .split_once(BY)
            .unwrap_or_else(|| panic!("README: {marker:?} is not FILE{BY}TABLE"));
        let name = name.trim();
        let (_, keys) = TABLES
            .iter()
            .find(|(table, _)| *table == name)
            .unwrap_or_else(|| panic!("README: no table {name:?} in the reference"));
        let (_, file) = DEFINED_IN
            .iter()
            .find(|(table, _)| *table == name)
            .unwrap_or_else(|| panic!("DEFINED_IN: no file for {name}"));
        assert!(root().join(file).is_file(), "DEFINED_IN: {name}: no {file}");
        assert!(!seen.contains(&name), "README: {name} twice");
        seen.push(name);
        let end = header_end + rest[header_end..].find(END).unwrap();
        // The marker is rewritten too, so that it names where the table is defined now.
        out.push_str(&rest[..begin]);
        out.push_str(&format!("{BEGIN}{file}{BY}{name} -->\n"));
        out.push('\n');
        out.push_str(&markdown_table(keys));
        out.push('\n');
        rest = &rest[end..];
    }
    out.push_str(rest);
    for (table, _) in TABLES {
        assert!(
            seen.contains(table),
            "README: no generated block for {table}"
        );
    }
    out
}

/// The README as it is checked in.
fn readme() -> String {
    fs_err::read_to_string(root().join("README.md")).unwrap()
}

/// rcptsync.toml(5): the README's "Configuration reference" section, rendered as roff.
fn config_page(readme: &str) -> Vec<u8> {
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
        if line.trim().is_empty() || trimmed.starts_with("<!--") {
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
                    && !l.starts_with("<!--")
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
    let readme = readme_with_tables(&readme());
    let mut files: Vec<(PathBuf, Vec<u8>)> = man_pages()
        .into_iter()
        .map(|(name, text)| (Path::new("doc/man").join(name), text))
        .collect();
    files.push(("doc/man/rcptsync.toml.5".into(), config_page(&readme)));
    files.push(("README.md".into(), readme.into_bytes()));
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
    // Every page has the four sections, and SECURITY says something.
    for (name, text) in man_pages() {
        let text = String::from_utf8(text).unwrap();
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            ".SH SECURITY",
            ".SH EXAMPLES",
        ] {
            assert!(text.contains(section), "{name} has no {section}");
        }
    }
    assert!(
        security_of("apply").starts_with("Runs as root; the spool is written by"),
        "{}",
        security_of("apply")
    );
    assert!(
        security_of("apply").contains("(`Spooled`)"),
        "{}",
        security_of("apply")
    );
    let config = String::from_utf8(config_page(&readme_with_tables(&readme()))).unwrap();
    for table in [
        "[[source]]",
        "[recipients]",
        "[output]",
        "[safety]",
        "[install]",
        "[[gateway]]",
        "[metrics]",
    ] {
        assert!(
            config.contains(&format!(".SH \"\\fB{table}\\fR")),
            "{table} missing from rcptsync.toml(5)"
        );
    }
    assert!(config.contains(".TP\n\\fBmin_recipients\\fR\n"), "{config}");
}

/// The keys serde accepts, as its "unknown field" (or "unknown variant") message lists them
/// for `text`.
fn accepted<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> Vec<String> {
    let e = toml::from_str::<T>(text).unwrap_err().message().to_owned();
    let (_, expected) = e.split_once("expected").unwrap_or_else(|| panic!("{e}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The reference and what the parser takes are the same keys: every table of the file has a
/// table in the reference, every key the parser accepts is in it (a source's `name` and
/// `path` in `[[source]]`), every key in it is accepted, and `kind` names every kind.
#[test]
fn the_reference_has_every_key_and_only_keys_the_parser_accepts() {
    let names = |keys: &[Key]| keys.iter().map(|k| k.name.to_owned()).collect::<Vec<_>>();
    let source = names(raw::SOURCE);
    let unknown = "not_a_key = 1";
    for table in accepted::<raw::Config>(unknown) {
        assert!(
            TABLES
                .iter()
                .any(|(name, _)| name.starts_with(&format!("[{table}]"))
                    || name.starts_with(&format!("[[{table}]]"))),
            "[{table}] is not in the reference"
        );
    }
    let tables: Vec<(&str, Vec<String>)> = vec![
        ("[[source]] kind = \"ldap\"", accepted::<raw::Ldap>(unknown)),
        (
            "[[source]] kind = \"graph\"",
            accepted::<raw::Graph>(unknown),
        ),
        // The file kinds have no keys of their own: `name` and `path` are `[[source]]` keys.
        (
            "[[source]] kind = \"ldif\" or \"list\"",
            accepted::<raw::FileSource>(unknown),
        ),
        ("[recipients]", accepted::<raw::Recipients>(unknown)),
        ("[output]", accepted::<raw::Output>(unknown)),
        ("[[export]]", accepted::<raw::Export>(unknown)),
        ("[safety]", accepted::<raw::Safety>(unknown)),
        ("[install]", accepted::<raw::Install>(unknown)),
        ("[[gateway]]", accepted::<raw::Gateway>(unknown)),
        ("[metrics]", accepted::<raw::Metrics>(unknown)),
        ("[watch]", accepted::<raw::Watch>(unknown)),
    ];
    let mut source_accepted = vec!["kind".to_owned()];
    for (table, accepted) in &tables {
        let documented = TABLES
            .iter()
            .find(|(name, _)| name == table)
            .map_or_else(Vec::new, |(_, keys)| names(keys));
        for key in accepted {
            assert!(
                documented.contains(key) || source.contains(key),
                "{table}: {key} is accepted but not in the reference"
            );
        }
        for key in &documented {
            assert!(accepted.contains(key), "{table}: {key} is not accepted");
        }
        if table.starts_with("[[source]]") {
            source_accepted.extend(accepted.iter().cloned());
        }
    }
    for key in &source {
        assert!(
            source_accepted.contains(key),
            "[[source]]: {key} is not accepted"
        );
    }
    let kind = raw::SOURCE.iter().find(|k| k.name == "kind").unwrap();
    for variant in accepted::<raw::Config>("[[source]]\nkind = \"not_a_kind\"\n") {
        assert!(
            kind.doc.contains(&format!("`\"{variant}\"`")),
            "kind = \"{variant}\" is not in the reference"
        );
    }
}

/// Every TOML default in the reference (the README's default column) is what a key left out
/// gets: a config that writes each default out is the config that leaves it out. So a
/// default that is not valid for its key, or that the code replaces by another value, fails.
#[test]
fn writing_each_default_out_changes_nothing() {
    use rcptsync::config::Config;
    // Each table with its required keys only.
    let required = |table: &str| match table {
        "[[source]]" => None,
        "[[source]] kind = \"ldap\"" => Some(
            "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nservers = [\"ldaps://dc1.example.com\"]\n\
             base_dn = \"DC=example,DC=com\"\n",
        ),
        "[[source]] kind = \"graph\"" => Some(
            "[[source]]\nname = \"m365\"\nkind = \"graph\"\ntenant = \"contoso.onmicrosoft.com\"\n\
             client_id = \"00000000-0000-0000-0000-000000000000\"\nclient_certificate = \"graph.pem\"\n",
        ),
        "[recipients]" => Some("[recipients]\ndomains = [\"example.com\"]\n"),
        "[output]" => Some("[output]\npath = \"map\"\n"),
        "[[export]]" => Some("[[export]]\npath = \"recipients.txt\"\n"),
        "[safety]" => Some("[safety]\n"),
        "[install]" => Some("[install]\n"),
        "[[gateway]]" => {
            Some("[[gateway]]\nname = \"mx1\"\nhost = \"mx1.example.com\"\nuser = \"postrelay\"\n")
        }
        "[metrics]" => Some("[metrics]\ntextfile = \"rcptsync.prom\"\n"),
        "[watch]" => Some("[watch]\n"),
        other => panic!("no config for {other}"),
    };
    // The whole file, with the defaults of `table` written out.
    let config = |written: Option<&str>| {
        let mut text = String::new();
        for (table, keys) in TABLES {
            let Some(body) = required(table) else {
                continue;
            };
            text.push_str(body);
            if written == Some(*table) {
                for key in keys.iter() {
                    if let Some(default) = key.default {
                        text.push_str(&format!("{} = {default}\n", key.name));
                    }
                }
            }
        }
        let parsed = Config::parse(&text, Path::new("/etc/rcptsync/rcptsync.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        format!("{parsed:?}")
    };
    let implicit = config(None);
    for (table, keys) in TABLES {
        if keys.iter().any(|k| k.default.is_some()) {
            assert_eq!(
                config(Some(table)),
                implicit,
                "{table}: writing the defaults out changed the config"
            );
        }
    }
}
