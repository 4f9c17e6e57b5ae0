//! A sorted, de-duplicated set of map keys that stays small at a million recipients.
//!
//! A `BTreeSet<String>` costs about 90 bytes per key (string header, heap allocation, tree
//! node); at 2-3 million keys that alone breaks the memory budget. Here the key bytes live in
//! 1 MiB chunks (no reallocation copies, no per-key allocation) and each key is one `u64`
//! (its offset and length), about 30 bytes per key in all. Keys are appended in any order and
//! sorted once, by bytes, which is the order of the map file.

/// Bytes per chunk; a key (at most 254 bytes) never spans two chunks.
const CHUNK: usize = 1 << 20;

/// Map keys, sorted and unique after [`KeySet::finish`].
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    chunks: Vec<Vec<u8>>,
    /// `offset << 8 | len`, offset counted over all chunks as if they were one buffer.
    spans: Vec<u64>,
    sorted: bool,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            sorted: true,
            ..Self::default()
        }
    }

    /// Adds a key (at most 255 bytes; map keys are at most 254); duplicates are dropped later.
    pub fn push(&mut self, key: &str) {
        let bytes = key.as_bytes();
        let len = bytes.len().min(255);
        // Keys pushed in ascending order (read back from the store) need no sort.
        self.sorted = self.sorted
            && self
                .spans
                .last()
                .is_none_or(|&last| self.bytes(last) < &bytes[..len]);
        if self.chunks.last().is_none_or(|c| c.len() + len > CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let index = self.chunks.len() - 1;
        let Some(chunk) = self.chunks.last_mut() else {
            return;
        };
        let offset = (index * CHUNK + chunk.len()) as u64;
        chunk.extend_from_slice(&bytes[..len]);
        self.spans.push(offset << 8 | len as u64);
    }

    /// A key's bytes: sorting and searching compare bytes (the same order as `str`), which
    /// spares them a UTF-8 check per comparison.
    fn bytes(&self, span: u64) -> &[u8] {
        let offset = (span >> 8) as usize;
        let len = (span & 0xff) as usize;
        let chunk = &self.chunks[offset / CHUNK];
        let start = offset % CHUNK;
        &chunk[start..start + len]
    }

    fn get(&self, span: u64) -> &str {
        // Only whole &str were pushed, so the bytes are valid UTF-8.
        std::str::from_utf8(self.bytes(span)).unwrap_or_default()
    }

    /// Sorts and removes duplicates; call before reading.
    pub fn finish(&mut self) {
        if self.sorted {
            return;
        }
        let mut spans = std::mem::take(&mut self.spans);
        // In parallel: the sort runs after the directory search, when the other core (slapd's,
        // if the directory is local) is free again; at a million recipients it is a visible
        // part of the run.
        use rayon::slice::ParallelSliceMut as _;
        spans.par_sort_unstable_by(|&a, &b| self.bytes(a).cmp(self.bytes(b)));
        spans.dedup_by(|a, b| self.bytes(*a) == self.bytes(*b));
        spans.shrink_to_fit();
        self.spans = spans;
        self.sorted = true;
    }

    /// [`KeySet::finish`], calling `each` first with every distinct key and how many times it
    /// was pushed (in order): what the incremental store counts for each key.
    pub fn finish_counting(&mut self, mut each: impl FnMut(&str, u64)) {
        let mut spans = std::mem::take(&mut self.spans);
        use rayon::slice::ParallelSliceMut as _;
        spans.par_sort_unstable_by(|&a, &b| self.bytes(a).cmp(self.bytes(b)));
        let mut start = 0;
        while start < spans.len() {
            let key = self.bytes(spans[start]);
            let run = spans[start..]
                .iter()
                .take_while(|&&s| self.bytes(s) == key)
                .count();
            each(self.get(spans[start]), run as u64);
            start += run;
        }
        spans.dedup_by(|a, b| self.bytes(*a) == self.bytes(*b));
        spans.shrink_to_fit();
        self.spans = spans;
        self.sorted = true;
    }

    /// Number of keys (after [`KeySet::finish`]: unique keys).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether `key` is in the set (after [`KeySet::finish`]).
    pub fn contains(&self, key: &str) -> bool {
        self.spans
            .binary_search_by(|&span| self.bytes(span).cmp(key.as_bytes()))
            .is_ok()
    }

    /// The keys in order (after [`KeySet::finish`]).
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans.iter().map(|&span| self.get(span))
    }
}

impl<'a> FromIterator<&'a str> for KeySet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut set = Self::new();
        for key in iter {
            set.push(key);
        }
        set.finish();
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pushed_in_order_need_no_sort_and_one_out_of_order_is_noticed() {
        let mut set = KeySet::new();
        for key in ["a@x", "b@x", "c@x"] {
            set.push(key);
        }
        assert!(set.sorted, "ascending pushes keep the set sorted");
        assert!(set.contains("b@x"));
        set.push("b@x");
        assert!(!set.sorted, "a repeated key is not ascending");
        set.push("0@x");
        set.finish();
        assert_eq!(set.iter().collect::<Vec<_>>(), ["0@x", "a@x", "b@x", "c@x"]);
    }

    #[test]
    fn sorts_dedups_and_finds() {
        let set: KeySet = ["b@x", "a@x", "c@x", "a@x"].into_iter().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), ["a@x", "b@x", "c@x"]);
        assert_eq!(set.len(), 3);
        assert!(set.contains("b@x") && !set.contains("d@x"));
        assert!(KeySet::new().is_empty());
    }

    #[test]
    fn keys_never_span_chunks() {
        let keys: Vec<String> = (0..60_000)
            .map(|i| format!("{i:0>20}@example.com"))
            .collect();
        let set: KeySet = keys.iter().map(String::as_str).collect();
        assert!(set.chunks.len() > 1);
        assert_eq!(set.len(), 60_000);
        assert!(set.iter().zip(&keys).all(|(a, b)| a == b));
        let long = "x".repeat(254);
        let mut one = KeySet::new();
        one.push(&long);
        one.finish();
        assert_eq!(one.iter().next(), Some(long.as_str()));
    }
}
