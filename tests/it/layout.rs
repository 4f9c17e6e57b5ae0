//! The shape of the code, checked from the source files themselves (outside tests and
//! comments): neither the top-level modules nor the files import each other around a circle,
//! no module imports the layers above it (`cli` → `cmd` → `config` → the rest), no file is
//! over 500 lines before its tests, and no `Result<_, String>` (errors are typed, with their
//! object). A change that breaks one of these fails here, naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/` that is not test-only (`#[cfg(test)] mod fixtures;`), with
/// its text before its `mod tests`.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in fs_err::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs_err::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let mut all = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
    // The test-only modules, as files: `#[cfg(test)]` (and other attributes), then `mod x;`.
    let mut test_only = BTreeSet::new();
    for (path, text) in &all {
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => path.parent().unwrap().to_owned(),
            _ => path.with_extension(""),
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some(name) = line.strip_prefix("mod ").and_then(|l| l.strip_suffix(';'))
                && lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| l.starts_with("#["))
                    .any(|l| *l == "#[cfg(test)]")
            {
                test_only.insert(dir.join(format!("{name}.rs")));
                test_only.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    let mut out: Vec<(PathBuf, String)> = all
        .into_iter()
        .filter(|(path, _)| !test_only.contains(path))
        .map(|(path, text)| {
            // The code before `mod tests`, with the attributes in front of it.
            let lines: Vec<&str> = text.lines().collect();
            let end = lines
                .iter()
                .position(|l| {
                    let l = l.trim_start();
                    let l = l
                        .strip_prefix("pub(crate) ")
                        .or_else(|| l.strip_prefix("pub "))
                        .unwrap_or(l);
                    l.starts_with("mod tests")
                })
                .map(|at| {
                    let mut start = at;
                    while start > 0 && lines[start - 1].trim_start().starts_with("#[") {
                        start -= 1;
                    }
                    start
                })
                .unwrap_or(lines.len());
            (path, lines[..end].join("\n"))
        })
        .collect();
    out.sort();
    out
}

/// The top-level module a file belongs to (`source` for `src/source/ldap/wire.rs`); None for
/// the crate root and the binary.
fn top_module(path: &Path) -> Option<String> {
    let relative = path
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The top-level modules `code` names: `crate::NAME` paths and `use crate::{NAME, ...}`.
fn imports(code: &str) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            // The first name of each item of the group (`a::b`, `c`).
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars().chain([',']) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() && name != "self" {
                            names.insert(name);
                        }
                        item.clear();
                    }
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// A circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, done, path) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn the_top_level_modules_import_each_other_without_a_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in sources() {
        let Some(module) = top_module(&path) else {
            continue;
        };
        let names = imports(&code);
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(names.into_iter().filter(|n| *n != module));
    }
    assert!(graph.contains_key("source") && graph["cmd"].contains("source"));
    assert_eq!(circle(&graph), None, "module graph: {graph:#?}");
}

/// The layers, top down: a module may import only modules below its own layer (or in it,
/// without a circle). The stages and the neutral modules never reach up into `config`,
/// `cmd` or `cli`.
#[test]
fn no_module_imports_the_layers_above_it() {
    let layer = |module: &str| match module {
        "cli" => 0,
        "cmd" => 1,
        "config" => 2,
        _ => 3,
    };
    let mut upward = Vec::new();
    for (path, code) in sources() {
        let Some(module) = top_module(&path) else {
            continue;
        };
        for name in imports(&code) {
            if layer(&name) < layer(&module) {
                upward.push(format!("{} uses crate::{name}", path.display()));
            }
        }
    }
    assert!(upward.is_empty(), "imports running back up: {upward:#?}");
}

/// No two files import each other, directly or around a circle: the graph of files from
/// their `crate::` and `super::` paths (a parent declaring a child is not an import).
#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let files = sources();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // Each file as its module path: src/source/ldap/mod.rs is ["source", "ldap"].
    let module_of = |path: &Path| -> Vec<String> {
        let relative = path.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(
            parts.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            parts.pop();
        }
        parts
    };
    let known: BTreeSet<Vec<String>> = files.iter().map(|(p, _)| module_of(p)).collect();
    // The longest module path that is a file.
    let file_of = |mut path: Vec<String>| -> Option<Vec<String>> {
        while !path.is_empty() {
            if known.contains(&path) {
                return Some(path);
            }
            path.pop();
        }
        None
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in &files {
        let module = module_of(path);
        let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        for target in paths(code) {
            let (mut base, rest) = match target.first().map(String::as_str) {
                Some("crate") => (Vec::new(), &target[1..]),
                Some("super") => (parent.clone(), &target[1..]),
                Some("self") => (module.clone(), &target[1..]),
                _ => continue,
            };
            let mut rest = rest;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            if let Some(file) = file_of(base)
                && file != module
            {
                graph
                    .entry(module.join("::"))
                    .or_default()
                    .insert(file.join("::"));
            }
        }
    }
    assert!(graph.contains_key("source::ldap::reader"), "{graph:#?}");
    assert_eq!(circle(&graph), None, "file graph: {graph:#?}");
}

/// The paths `code` names from `crate`, `super` or `self`, as segments; a `use` group
/// (`use super::{a, b::c}`) gives one path per item.
fn paths(code: &str) -> Vec<Vec<String>> {
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    for head in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(head) {
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let mut segments = vec![head.trim_end_matches(':').to_owned()];
            let mut rest = &code[i + head.len()..];
            loop {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    break;
                }
                rest = &rest[name.len()..];
                segments.push(name);
                match rest.strip_prefix("::") {
                    Some(more) => rest = more,
                    None => break,
                }
            }
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let mut path = segments.clone();
                    path.extend(
                        name.split("::")
                            .filter(|s| !s.is_empty() && *s != "self")
                            .map(str::to_owned),
                    );
                    out.push(path);
                }
            } else {
                out.push(segments);
            }
        }
    }
    out
}

#[test]
fn the_circle_check_finds_a_circle() {
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(
        circle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        imports("use crate::{map::diff, rules};\nlet x = crate::fs::read(p);\n// crate::cli\n"),
        BTreeSet::from(["fs".into(), "map".into(), "rules".into()])
    );
    assert_eq!(
        paths("use super::{frame, Error};\nself::wire::open();"),
        [
            vec!["super".to_owned(), "frame".into()],
            vec!["super".to_owned(), "Error".into()],
            vec!["self".to_owned(), "wire".into(), "open".into()],
        ]
    );
}

#[test]
fn no_file_is_over_500_lines_before_its_tests() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, code)| code.lines().count() > 500)
        .map(|(path, code)| format!("{}: {} lines", path.display(), code.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these by job: {long:#?}");
}

/// The `Result<..>` types in `code` (comments left out, whitespace joined, so a signature
/// rustfmt wrapped is one) whose error type is `String`.
fn string_errors(code: &str) -> Vec<String> {
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    let mut found = Vec::new();
    for (i, _) in code.match_indices("Result<") {
        // The arguments, to the `>` that closes this `<`, cut at their top-level commas.
        let open = i + "Result".len();
        let mut depth = 0;
        let mut args = vec![String::new()];
        let mut end = None;
        for (j, c) in code[open..].char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = Some(open + j);
                break;
            }
            match c {
                ',' if depth == 1 => args.push(String::new()),
                _ if j > 0 => args.last_mut().unwrap().push(c),
                _ => {}
            }
        }
        // A trailing comma (rustfmt's, in a wrapped signature) ends no argument.
        let args: Vec<&str> = args
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .collect();
        if let Some(end) = end
            && args.len() == 2
            && args[1] == "String"
        {
            found.push(code[i..=end].to_owned());
        }
    }
    found
}

#[test]
fn no_function_outside_tests_returns_a_string_error() {
    let found: Vec<String> = sources()
        .into_iter()
        .flat_map(|(path, code)| {
            string_errors(&code)
                .into_iter()
                .map(move |r| format!("{}: {r}", path.display()))
        })
        .collect();
    assert!(found.is_empty(), "give these a typed error: {found:#?}");
}

#[test]
fn the_string_error_check_sees_through_wrapping() {
    assert_eq!(
        string_errors("fn f(\n    x: u8,\n) -> Result<\n    Vec<(u8, String)>,\n    String,\n> {"),
        ["Result< Vec<(u8, String)>, String, >"]
    );
    assert!(string_errors("fn f() -> Result<String, Error> {").is_empty());
    assert!(string_errors("// -> Result<(), String>\nfn f() {}").is_empty());
}
