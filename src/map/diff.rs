//! What changes between the installed map and the new one: the report cron mails.

use std::collections::BTreeSet;
use std::fmt;

/// Added and removed addresses, each sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// In the new map only.
    pub added: Vec<String>,
    /// In the old map only.
    pub removed: Vec<String>,
}

impl Diff {
    /// Compares two key sets.
    pub fn new(old: &BTreeSet<String>, new: &BTreeSet<String>) -> Self {
        Self {
            added: new.difference(old).cloned().collect(),
            removed: old.difference(new).cloned().collect(),
        }
    }

    /// True when both maps hold the same addresses.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// One line per change, `+address` or `-address`, removals first, like a unified diff body.
impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for address in &self.removed {
            writeln!(f, "-{address}")?;
        }
        for address in &self.added {
            writeln!(f, "+{address}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_and_removed() {
        let old: BTreeSet<String> = ["a@x", "b@x", "c@x"].map(String::from).into();
        let new: BTreeSet<String> = ["b@x", "d@x", "c@x", "0@x"].map(String::from).into();
        let diff = Diff::new(&old, &new);
        assert_eq!(diff.to_string(), "-a@x\n+0@x\n+d@x\n");
        assert!(Diff::new(&old, &old).is_empty());
    }
}
