//! Safety guards: the last line of defence against a bad directory read.
//!
//! A directory query that fails half-way, a filter typo or a wrong base DN yields a *smaller*
//! set of recipients, not an error. Installed, that map would bounce real mail. So before a new
//! map replaces the old one it must have at least `min_recipients` entries, must not remove
//! more than `max_removed` addresses or `max_removed_percent` of the old map, and must contain
//! every canary. A refusal leaves the old map byte-for-byte as it was; `--force` overrides it
//! for the rare intended mass change, and says so loudly.

use std::fmt;

/// The `[safety]` limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Fewer recipients than this is refused.
    pub min_recipients: usize,
    /// More removals than this (counted against the previous map) is refused.
    pub max_removed: usize,
    /// Removals above this share of the previous map are refused.
    pub max_removed_percent: f64,
    /// Addresses (already normalized) that must be in every map.
    pub canaries: Vec<String>,
}

/// One guard that did not hold; the message says which and by how much.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// The new map would be empty.
    Empty,
    /// Fewer recipients than `min_recipients`.
    TooFew {
        /// Recipients in the new map.
        count: usize,
        /// The configured minimum.
        min: usize,
    },
    /// More absolute removals than `max_removed`.
    TooManyRemoved {
        /// Addresses the new map would drop.
        removed: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A larger share removed than `max_removed_percent`.
    TooLargeShareRemoved {
        /// Addresses the new map would drop.
        removed: usize,
        /// Size of the previous map.
        previous: usize,
        /// The configured maximum percentage.
        max_percent: f64,
    },
    /// A canary address is missing.
    CanaryMissing {
        /// The missing address.
        address: String,
    },
    /// An open domain (an `@domain` line) would become checked: every address of it that
    /// the map does not list starts to be refused, a mass removal of unknown size.
    DomainClosed {
        /// The domain.
        domain: String,
    },
}

impl Violation {
    /// Whether `--force` may override it: never for an empty map, which would make the gateway
    /// reject every recipient (and an empty cdb is fatal to smtpd).
    pub fn overridable(&self) -> bool {
        *self != Self::Empty
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the sources gave no recipients at all"),
            Self::TooFew { count, min } => write!(
                f,
                "the sources gave {count} recipients, fewer than min_recipients = {min}"
            ),
            Self::TooManyRemoved { removed, max } => write!(
                f,
                "{removed} addresses would be removed, more than max_removed = {max}"
            ),
            Self::TooLargeShareRemoved {
                removed,
                previous,
                max_percent,
            } => write!(
                f,
                "{removed} of {previous} addresses ({:.1}%) would be removed, more than max_removed_percent = {max_percent}",
                percent(*removed, *previous)
            ),
            Self::CanaryMissing { address } => {
                write!(f, "canary {address} is missing from the new map")
            }
            Self::DomainClosed { domain } => write!(
                f,
                "{domain} would no longer be open (its @{domain} line would go): every address \
                 in it that the map does not list would be refused from then on"
            ),
        }
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A proposed map, as the guards see it.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    /// Recipients in the new map.
    pub count: usize,
    /// How many of them came from the sources: addresses the config adds itself (`extra`)
    /// must not make an empty directory read look like a map.
    pub sourced: usize,
    /// Size of the previous map and how many of its addresses the new one drops; None when
    /// there is no previous map (a first run: removal limits have nothing to measure).
    pub previous: Option<(usize, usize)>,
    /// The open domains of the previous map that the new one closes.
    pub closed: &'a [String],
}

/// Checks a proposed map against the limits; `contains` says whether the new map has a key.
pub fn check(
    limits: &Limits,
    proposal: &Proposal,
    contains: impl Fn(&str) -> bool,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    if proposal.sourced == 0 {
        violations.push(Violation::Empty);
    } else if proposal.sourced < limits.min_recipients {
        violations.push(Violation::TooFew {
            count: proposal.sourced,
            min: limits.min_recipients,
        });
    }
    if let Some((previous, removed)) = proposal.previous {
        if removed > limits.max_removed {
            violations.push(Violation::TooManyRemoved {
                removed,
                max: limits.max_removed,
            });
        }
        if percent(removed, previous) > limits.max_removed_percent {
            violations.push(Violation::TooLargeShareRemoved {
                removed,
                previous,
                max_percent: limits.max_removed_percent,
            });
        }
    }
    for canary in &limits.canaries {
        if !contains(canary) {
            violations.push(Violation::CanaryMissing {
                address: canary.clone(),
            });
        }
    }
    for domain in proposal.closed {
        violations.push(Violation::DomainClosed {
            domain: domain.clone(),
        });
    }
    violations
}

/// What the guards decided about a proposed map, `--force` included: one rule for extract
/// and apply alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The guards that did not hold.
    pub violations: Vec<Violation>,
    /// `--force` was given and may override every one of them.
    pub forced: bool,
}

impl Verdict {
    /// Checks `proposal` against `limits` ([`check`]) and applies `force`: it overrides the
    /// violations only when it may override each of them.
    pub fn new(
        limits: &Limits,
        proposal: &Proposal,
        contains: impl Fn(&str) -> bool,
        force: bool,
    ) -> Self {
        let violations = check(limits, proposal, contains);
        let forced =
            force && !violations.is_empty() && violations.iter().all(Violation::overridable);
        Self { violations, forced }
    }

    /// Whether the change may go ahead.
    pub fn allows(&self) -> bool {
        self.violations.is_empty() || self.forced
    }

    /// Whether `--force` would let the change go ahead (so that advice to use it is given
    /// only where it can help).
    pub fn overridable(&self) -> bool {
        self.violations.iter().all(Violation::overridable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn set(n: std::ops::Range<usize>) -> BTreeSet<String> {
        n.map(|i| format!("u{i}@example.com")).collect()
    }

    /// The guards for `new` replacing `previous`, all from the sources.
    fn run(
        limits: &Limits,
        new: &BTreeSet<String>,
        sourced: usize,
        previous: Option<&BTreeSet<String>>,
    ) -> Vec<Violation> {
        let proposal = Proposal {
            count: new.len(),
            sourced,
            previous: previous.map(|p| (p.len(), p.difference(new).count())),
            closed: &[],
        };
        check(limits, &proposal, |k| new.contains(k))
    }

    fn limits() -> Limits {
        Limits {
            min_recipients: 1,
            max_removed: 500,
            max_removed_percent: 10.0,
            canaries: vec![],
        }
    }

    #[test]
    fn force_overrides_everything_but_an_empty_map() {
        let proposal = |sourced| Proposal {
            count: sourced,
            sourced,
            previous: Some((100, 50)),
            closed: &[],
        };
        let forced = Verdict::new(&limits(), &proposal(50), |_| true, true);
        assert!(forced.forced && forced.allows() && forced.overridable());
        let refused = Verdict::new(&limits(), &proposal(50), |_| true, false);
        assert!(!refused.forced && !refused.allows());
        let empty = Verdict::new(&limits(), &proposal(0), |_| true, true);
        assert!(!empty.forced && !empty.allows() && !empty.overridable());
        let first_run = Proposal {
            count: 10,
            sourced: 10,
            previous: None,
            closed: &[],
        };
        let clean = Verdict::new(&limits(), &first_run, |_| true, true);
        assert!(clean.violations.is_empty() && clean.allows() && !clean.forced);
    }

    #[test]
    fn passes_within_limits() {
        assert!(
            run(
                &limits(),
                &set(0..100),
                set(0..100).len(),
                Some(&set(0..110))
            )
            .is_empty()
        );
        assert!(run(&limits(), &set(0..100), set(0..100).len(), None).is_empty());
    }

    #[test]
    fn empty_and_too_few() {
        assert_eq!(
            run(&limits(), &BTreeSet::new(), 0, None),
            vec![Violation::Empty]
        );
        let l = Limits {
            min_recipients: 50,
            ..limits()
        };
        assert_eq!(
            run(&l, &set(0..49), set(0..49).len(), None),
            vec![Violation::TooFew { count: 49, min: 50 }]
        );
        assert!(run(&l, &set(0..50), set(0..50).len(), None).is_empty());
    }

    #[test]
    fn removals_absolute_and_percent() {
        let l = Limits {
            max_removed: 5,
            max_removed_percent: 100.0,
            ..limits()
        };
        assert!(run(&l, &set(0..95), set(0..95).len(), Some(&set(0..100))).is_empty());
        assert_eq!(
            run(&l, &set(0..94), set(0..94).len(), Some(&set(0..100))),
            vec![Violation::TooManyRemoved { removed: 6, max: 5 }]
        );
        // Exactly 10% is allowed, more is not; additions do not offset removals.
        assert!(
            run(
                &limits(),
                &set(10..200),
                set(10..200).len(),
                Some(&set(0..100))
            )
            .is_empty()
        );
        let v = run(
            &limits(),
            &set(11..200),
            set(11..200).len(),
            Some(&set(0..100)),
        );
        assert_eq!(
            v,
            vec![Violation::TooLargeShareRemoved {
                removed: 11,
                previous: 100,
                max_percent: 10.0
            }]
        );
        assert_eq!(
            v[0].to_string(),
            "11 of 100 addresses (11.0%) would be removed, more than max_removed_percent = 10"
        );
    }

    #[test]
    fn only_sourced_recipients_count_for_empty_and_minimum() {
        // Two extras and nothing from the directory: still an empty read.
        assert_eq!(run(&limits(), &set(0..2), 0, None), vec![Violation::Empty]);
        let l = Limits {
            min_recipients: 3,
            ..limits()
        };
        assert_eq!(
            run(&l, &set(0..4), 2, None),
            vec![Violation::TooFew { count: 2, min: 3 }]
        );
    }

    #[test]
    fn canaries() {
        let l = Limits {
            canaries: vec!["u1@example.com".into(), "postmaster@example.com".into()],
            ..limits()
        };
        assert_eq!(
            run(&l, &set(0..10), set(0..10).len(), None),
            vec![Violation::CanaryMissing {
                address: "postmaster@example.com".into()
            }]
        );
    }

    #[test]
    fn reports_every_violation() {
        let l = Limits {
            min_recipients: 10,
            max_removed: 1,
            canaries: vec!["x@example.com".into()],
            ..limits()
        };
        assert_eq!(
            run(&l, &set(0..5), set(0..5).len(), Some(&set(0..100))).len(),
            4
        );
    }

    #[test]
    fn closing_an_open_domain_is_refused_unless_forced() {
        let closed = ["corp.example".to_owned()];
        let proposal = Proposal {
            count: 100,
            sourced: 100,
            previous: Some((101, 1)),
            closed: &closed,
        };
        let refused = Verdict::new(&limits(), &proposal, |_| true, false);
        assert_eq!(
            refused.violations,
            [Violation::DomainClosed {
                domain: "corp.example".into()
            }]
        );
        assert!(!refused.allows() && refused.overridable());
        assert!(
            refused.violations[0].to_string().starts_with(
                "corp.example would no longer be open (its @corp.example line would go)"
            )
        );
        assert!(Verdict::new(&limits(), &proposal, |_| true, true).allows());
    }
}
