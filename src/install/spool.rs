//! The spool directory between `receive` and `apply`.
//!
//! `receive` (or an admin, or any other transport) leaves complete map files here; `apply`
//! takes the newest. Names starting with a dot are temporary files still being written, and
//! `*.header` files are `receive`'s sidecars: neither is a map.

use std::path::{Path, PathBuf};

/// The newest map file in `dir`, if any.
pub fn newest(dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".header") || name.ends_with(".lock") {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified()?;
        if best.as_ref().is_none_or(|(time, _)| modified > *time) {
            best = Some((modified, entry.path()));
        }
    }
    Ok(best.map(|(_, path)| path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn picks_the_newest_map_and_ignores_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(newest(dir.path()).unwrap(), None);
        let age = |name: &str, secs: u64| {
            let path = dir.path().join(name);
            fs_err::write(&path, "x@example.com OK\n").unwrap();
            let file = fs_err::File::options().write(true).open(&path).unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(secs))
                .unwrap();
        };
        age("old", 300);
        age("new", 100);
        age(".partial.tmp", 1);
        age("new.header", 1);
        fs_err::create_dir(dir.path().join("subdir")).unwrap();
        assert_eq!(newest(dir.path()).unwrap(), Some(dir.path().join("new")));
    }
}
