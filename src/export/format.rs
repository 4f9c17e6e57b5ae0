//! How each format writes the recipients: one pass over the addresses in the map's order,
//! streamed, so that a million recipients cost no more memory than a buffer.

use std::io::{self, Write};

use super::Format;

/// One recipient of an export: the address as the map has it, and where it came from.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// The address (the map's key: lower case, validated).
    pub address: String,
    /// The source's name, `config` for `[recipients].extra`, empty when only a held removal
    /// keeps the address.
    pub source: &'a str,
    /// The object's identity: the objectGUID, entryUUID or Graph id where the source reads
    /// changes, otherwise its DN, or `FILE:LINE` for a list; empty when not known.
    pub id: &'a str,
}

/// Writes `rows` (sorted, unique) and the `open` domains (those with an `@domain` line in the
/// map: every address there is valid) as `format`; returns how many addresses the format
/// cannot carry and left out (a quoted local part, for the MTAs' tables).
pub fn write<'a>(
    format: Format,
    rows: impl Iterator<Item = io::Result<Row<'a>>>,
    open: &[String],
    out: &mut dyn Write,
) -> io::Result<usize> {
    let mut left_out = 0;
    match format {
        Format::List => {
            for row in rows {
                out.write_all(row?.address.as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            out.write_all(b"address,source,id\n")?;
            for row in rows {
                let row = row?;
                writeln!(
                    out,
                    "{},{},{}",
                    csv_field(&row.address),
                    csv_field(row.source),
                    csv_field(row.id)
                )?;
            }
        }
        Format::Json => {
            // One recipient per line: a file a person can diff, still one JSON document.
            out.write_all(b"{\"recipients\": [")?;
            let mut first = true;
            for row in rows {
                let row = row?;
                let object = serde_json::json!({
                    "address": row.address,
                    "source": row.source,
                    "id": row.id,
                });
                out.write_all(if first { b"\n  " } else { b",\n  " })?;
                first = false;
                serde_json::to_writer(&mut *out, &object)?;
            }
            out.write_all(b"\n], \"open_domains\": ")?;
            serde_json::to_writer(&mut *out, open)?;
            out.write_all(b"}\n")?;
        }
        Format::OpenSmtpd | Format::Exim => {
            let wildcard = if format == Format::Exim { "*@" } else { "@" };
            for domain in open {
                writeln!(out, "{wildcard}{domain}")?;
            }
            for row in rows {
                let address = row?.address;
                // OpenSMTPD's table file and Exim's lsearch split a line at white space and
                // read quotes their own way: such an address is left out, and said.
                if address.contains('"') {
                    left_out += 1;
                } else {
                    writeln!(out, "{address}")?;
                }
            }
        }
    }
    Ok(left_out)
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break (a DN has
/// commas), quotes doubled.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: Format, rows: &[(&str, &str, &str)], open: &[&str]) -> (String, usize) {
        let rows = rows.iter().map(|&(address, source, id)| {
            Ok(Row {
                address: address.to_owned(),
                source,
                id,
            })
        });
        let open: Vec<String> = open.iter().map(|d| (*d).to_owned()).collect();
        let mut out = Vec::new();
        let left_out = write(format, rows, &open, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), left_out)
    }

    const ROWS: &[(&str, &str, &str)] = &[
        (
            "alice@example.com",
            "ad",
            "CN=Alice,OU=Staff,DC=example,DC=com",
        ),
        ("\"b,o\"@example.com", "list", "users.txt:3"),
    ];

    #[test]
    fn list_is_the_addresses_without_the_open_domains() {
        let (text, left_out) = render(Format::List, ROWS, &["open.example.com"]);
        assert_eq!(text, "alice@example.com\n\"b,o\"@example.com\n");
        assert_eq!(left_out, 0);
    }

    #[test]
    fn csv_quotes_what_holds_a_comma_or_a_quote() {
        let (text, _) = render(Format::Csv, ROWS, &[]);
        assert_eq!(
            text,
            "address,source,id\n\
             alice@example.com,ad,\"CN=Alice,OU=Staff,DC=example,DC=com\"\n\
             \"\"\"b,o\"\"@example.com\",list,users.txt:3\n"
        );
    }

    #[test]
    fn json_is_one_document_with_the_open_domains() {
        let (text, _) = render(Format::Json, ROWS, &["open.example.com"]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["recipients"][0]["address"], "alice@example.com");
        assert_eq!(value["recipients"][1]["id"], "users.txt:3");
        assert_eq!(value["open_domains"][0], "open.example.com");
        let (empty, _) = render(Format::Json, &[], &[]);
        let value: serde_json::Value = serde_json::from_str(&empty).unwrap();
        assert_eq!(value["recipients"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn mta_tables_write_the_open_domains_their_way_and_leave_out_quoted_local_parts() {
        let (text, left_out) = render(Format::OpenSmtpd, ROWS, &["open.example.com"]);
        assert_eq!(text, "@open.example.com\nalice@example.com\n");
        assert_eq!(left_out, 1);
        let (text, _) = render(Format::Exim, ROWS, &["open.example.com"]);
        assert_eq!(text, "*@open.example.com\nalice@example.com\n");
    }
}
