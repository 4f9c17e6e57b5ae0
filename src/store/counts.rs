//! How many objects give each map key, as the store keeps it: the keys in sorted runs
//! ("chunks") of about a hundred, each chunk one value of the store's table under its first
//! key. One record per key would make a full read insert two million records at a million
//! recipients (a third of its time); chunks make it twenty thousand, while a change still
//! rewrites only the chunk of each key it touches, and the map's keys are read back in order.
//!
//! Layout of a chunk: per key, its length (one byte), its bytes and its count (4 bytes,
//! little-endian), keys ascending. What is read is not trusted: a chunk that is cut, out of
//! order, not UTF-8 or counts a key for no object is damaged (None), never a panic.

use redb::ReadableTable;

/// Keys per chunk as a full read builds them.
const BUILD: usize = 128;

/// A chunk that grows beyond this many keys is split in two.
pub(super) const MAX: usize = 2 * BUILD;

/// A decoded chunk: keys ascending, each with its count.
pub(super) type Chunk = Vec<(String, u32)>;

/// A chunk being built, keys in ascending order.
#[derive(Debug, Default)]
pub(super) struct Building {
    bytes: Vec<u8>,
    keys: usize,
}

impl Building {
    /// Adds a key and its count; true when the chunk is full ([`Building::take`] it).
    pub(super) fn push(&mut self, key: &str, count: u64) -> bool {
        push(&mut self.bytes, key, count);
        self.keys += 1;
        self.keys == BUILD
    }

    /// The chunk's first key and its bytes, if it has any; it starts again empty.
    pub(super) fn take(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let &len = self.bytes.first()?;
        let first = self.bytes.get(1..=usize::from(len))?.to_vec();
        self.keys = 0;
        Some((first, std::mem::take(&mut self.bytes)))
    }
}

/// Appends one key and its count to an encoded chunk (keys must come in ascending order).
fn push(out: &mut Vec<u8>, key: &str, count: u64) {
    let bytes = &key.as_bytes()[..key.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
    out.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
}

/// The bytes of `chunk`.
pub(super) fn encode(chunk: &[(String, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.iter().map(|(k, _)| k.len() + 5).sum());
    for (key, count) in chunk {
        push(&mut out, key, u64::from(*count));
    }
    out
}

/// The chunk `bytes` hold; None when they are damaged.
pub(super) fn decode(bytes: &[u8]) -> Option<Chunk> {
    let mut chunk: Chunk = Vec::new();
    each(bytes, |key, count| chunk.push((key.to_owned(), count)))?;
    Some(chunk)
}

/// Calls `each` with every key of a chunk and its count, in order, without copying them;
/// None when the chunk is damaged (after the keys before the damage).
pub(super) fn each(mut bytes: &[u8], mut each: impl FnMut(&str, u32)) -> Option<()> {
    let mut last: Option<&str> = None;
    while let Some((&len, rest)) = bytes.split_first() {
        let (key, rest) = rest.split_at_checked(usize::from(len))?;
        let (count, rest) = rest.split_at_checked(4)?;
        let key = std::str::from_utf8(key).ok()?;
        let count = u32::from_le_bytes(count.try_into().ok()?);
        if count == 0 || last.is_some_and(|last| last >= key) {
            return None;
        }
        each(key, count);
        last = Some(key);
        bytes = rest;
    }
    Some(())
}

/// The chunk where `key` is or belongs in `table` (the last that starts at or before it,
/// else the first), with the key it is stored under; an empty chunk under no key when there
/// is none. The error is redb's, or None for a damaged chunk.
pub(super) fn find(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &str,
) -> Result<(Option<Vec<u8>>, Chunk), Option<redb::StorageError>> {
    let mut found = table.range(..=key.as_bytes())?.next_back().transpose()?;
    if found.is_none() {
        found = table.first()?;
    }
    let Some((first, bytes)) = found else {
        return Ok((None, Vec::new()));
    };
    let chunk = decode(bytes.value()).ok_or(None)?;
    Ok((Some(first.value().to_vec()), chunk))
}

/// Stores `chunk` in `table` in place of the chunk stored under `first`.
pub(super) fn put(
    table: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    first: Option<Vec<u8>>,
    chunk: Chunk,
) -> Result<(), redb::StorageError> {
    if let Some(first) = first {
        table.remove(first.as_slice())?;
    }
    for part in split(chunk) {
        if let Some((first, _)) = part.first() {
            table.insert(first.as_bytes(), encode(&part).as_slice())?;
        }
    }
    Ok(())
}

/// `chunk` as the chunks to store: itself, or its two halves when it grew beyond [`MAX`].
fn split(mut chunk: Chunk) -> Vec<Chunk> {
    if chunk.len() <= MAX {
        return vec![chunk];
    }
    let second = chunk.split_off(chunk.len() / 2);
    vec![chunk, second]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_damage_is_refused() {
        let chunk: Chunk = vec![("a@x".into(), 1), ("b@x".into(), 3)];
        let bytes = encode(&chunk);
        assert_eq!(decode(&bytes), Some(chunk.clone()));
        assert_eq!(decode(&[]), Some(Vec::new()));
        // A cut inside a key (a cut between keys is a shorter chunk).
        let first = encode(&chunk[..1]).len();
        for cut in (1..bytes.len()).filter(|&cut| cut != first) {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        // Out of order, repeated, counted for no object, not UTF-8: damaged.
        let reversed: Vec<_> = chunk.iter().rev().cloned().collect();
        assert_eq!(decode(&encode(&reversed)), None);
        assert_eq!(decode(&encode(&[chunk[0].clone(), chunk[0].clone()])), None);
        assert_eq!(decode(&encode(&[("a@x".into(), 0)])), None);
        assert_eq!(decode(&[1, 0xff, 1, 0, 0, 0]), None);
    }

    #[test]
    fn a_chunk_that_grew_is_split_in_order() {
        let chunk: Chunk = (0..=MAX).map(|i| (format!("{i:05}@x"), 1)).collect();
        let parts = split(chunk.clone());
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= MAX && !p.is_empty()));
        assert_eq!(parts.concat(), chunk);
        let full: Chunk = chunk.into_iter().take(MAX).collect();
        assert_eq!(split(full).len(), 1);
    }
}
