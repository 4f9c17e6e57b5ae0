//! The objects as the store keeps them: not one record each, but in packs. An object's
//! identity hashes to a bucket (the hash's top bits, about [`PER_BUCKET`] objects a bucket),
//! and each bucket's objects are one value of the store's table, or a few (one per part a
//! full read wrote). A full read then writes a few thousand values in key order instead of
//! inserting a million records at random places in a B-tree that outgrows its cache (which
//! cost seconds at a million objects); an incremental run reads and rewrites the pack of each
//! object that changed.
//!
//! A value's key: the source's prefix, the bucket and the part (both 4 bytes, big-endian).
//! A pack: per object, its identity and its record ([`super::record`]), each with a 4-byte
//! little-endian length. Objects come out in (hash, identity) order whatever the number of
//! buckets, so that two stores can be compared in one pass ([`order`]). What is read is not
//! trusted: a pack that is cut is damaged, never a panic.

use redb::ReadableTable as _;

/// Objects a bucket should hold on average.
const PER_BUCKET: usize = 64;

/// The fewest buckets a source has (2^4), so that a store built from few objects does not
/// put those that come later into one growing pack.
const MIN_BITS: u8 = 4;

/// The most buckets a source has (2^20).
const MAX_BITS: u8 = 20;

/// The most parts a store has: a full read of 16 MB parts stops at `max_entries` long before.
const MAX_PARTS: u32 = 1 << 16;

/// The most objects a pack takes in an incremental run: a store built small whose directory
/// grew (every change would rewrite a pack of thousands of objects) is built again by a
/// full read ([`Fault::Outgrown`]).
const MAX_PACK: usize = 64 * PER_BUCKET;

/// An object as a pack holds it: identity and record.
type Object<'p> = (&'p [u8], &'p [u8]);

/// An object read out of the store: identity and record.
type Owned = (Vec<u8>, Vec<u8>);

/// The objects table: pack key → pack.
pub(super) type Table<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

/// What went wrong reading or writing packs.
pub(super) enum Fault {
    /// redb's.
    Storage(redb::StorageError),
    /// A pack that is not one.
    Damaged,
    /// A pack that would hold more than [`MAX_PACK`] objects.
    Outgrown,
}

impl From<redb::StorageError> for Fault {
    fn from(e: redb::StorageError) -> Self {
        Self::Storage(e)
    }
}

/// The hash of an identity (FNV-1a, 64 bits): stable across versions and platforms, since
/// the store is read by the next run.
pub(super) fn hash(id: &[u8]) -> u64 {
    hash_on(0xcbf2_9ce4_8422_2325, id)
}

/// FNV-1a of `bytes`, going on from `hash`.
pub(super) fn hash_on(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where object `id` comes in the order of the store's objects (the order of
/// [`super::Tables::objects`]).
pub fn order(id: &str) -> (u64, &str) {
    (hash(id.as_bytes()), id)
}

/// The bucket of a hash with `bits` bits of buckets.
fn bucket(hash: u64, bits: u8) -> u32 {
    match bits {
        0 => 0,
        bits => (hash >> (64 - u32::from(bits))) as u32,
    }
}

/// The bucket bits for about `objects` objects.
pub(super) fn bits_for(objects: usize) -> u8 {
    let buckets = objects / PER_BUCKET;
    ((usize::BITS - buckets.leading_zeros()) as u8).clamp(MIN_BITS, MAX_BITS)
}

/// How a source's objects are packed: the bucket bits, and how many parts a full read
/// wrote (at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    /// 2^bits buckets.
    pub(super) bits: u8,
    /// Parts 0 to `parts - 1`.
    pub(super) parts: u32,
}

impl Layout {
    /// The layout [`Layout`]'s `Display` wrote; None for anything else.
    pub(super) fn parse(text: &str) -> Option<Self> {
        let (bits, parts) = text.split_once(' ')?;
        Some(Self {
            bits: bits.parse().ok().filter(|&bits| bits <= MAX_BITS)?,
            parts: parts
                .parse()
                .ok()
                .filter(|&p| (1..=MAX_PARTS).contains(&p))?,
        })
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.bits, self.parts)
    }
}

/// The key of bucket `bucket` of part `part` of the source whose prefix is `prefix`: part
/// first, so that a full read appends each part after the last instead of inserting it
/// between the values of the parts before.
fn key(prefix: &[u8], part: u32, bucket: u32) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&part.to_be_bytes());
    key.extend_from_slice(&bucket.to_be_bytes());
    key
}

/// The bucket a key names.
fn bucket_of(key: &[u8]) -> Option<u32> {
    let at = key.len().checked_sub(4)?;
    Some(u32::from_be_bytes(key[at..].try_into().ok()?))
}

/// Appends object `id` with its record to a pack.
pub(super) fn push(pack: &mut Vec<u8>, id: &[u8], record: &[u8]) {
    for part in [id, record] {
        pack.extend_from_slice(&(part.len() as u32).to_le_bytes());
        pack.extend_from_slice(part);
    }
}

/// The objects of a pack: identity and record.
fn unpack(mut pack: &[u8]) -> Result<Vec<Object<'_>>, Fault> {
    fn take<'p>(pack: &mut &'p [u8]) -> Option<&'p [u8]> {
        let (len, rest) = pack.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (part, rest) = rest.split_at_checked(len)?;
        *pack = rest;
        Some(part)
    }
    let mut objects = Vec::new();
    while !pack.is_empty() {
        let id = take(&mut pack).ok_or(Fault::Damaged)?;
        let record = take(&mut pack).ok_or(Fault::Damaged)?;
        objects.push((id, record));
    }
    Ok(objects)
}

/// The pack stored under `key`, if any.
fn pack(table: &Table<'_>, key: &[u8]) -> Result<Option<Vec<u8>>, Fault> {
    Ok(table.get(key)?.map(|pack| pack.value().to_vec()))
}

/// The record of object `id`; None when the store has no such object.
pub(super) fn get(
    table: &Table<'_>,
    prefix: &[u8],
    layout: Layout,
    id: &[u8],
) -> Result<Option<Vec<u8>>, Fault> {
    let bucket = bucket(hash(id), layout.bits);
    for part in 0..layout.parts {
        if let Some(pack) = pack(table, &key(prefix, part, bucket))?
            && let Some((_, record)) = unpack(&pack)?.into_iter().find(|(i, _)| *i == id)
        {
            return Ok(Some(record.to_vec()));
        }
    }
    Ok(None)
}

/// Stores `record` as object `id` (None: forgets the object), reading and writing only the
/// packs of its bucket that hold it or take it (the last part's); the old record, if any.
pub(super) fn replace(
    table: &mut Table<'_>,
    prefix: &[u8],
    layout: Layout,
    id: &[u8],
    record: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, Fault> {
    let bucket = bucket(hash(id), layout.bits);
    let last = layout.parts.saturating_sub(1);
    let mut old = None;
    for part in 0..layout.parts {
        let key = key(prefix, part, bucket);
        let stored = pack(table, &key)?.unwrap_or_default();
        let objects = unpack(&stored)?;
        let found = objects.iter().position(|(i, _)| *i == id);
        let append = record.filter(|_| part == last);
        if found.is_none() && append.is_none() {
            continue;
        }
        let count = objects.len();
        let mut rest = Vec::with_capacity(stored.len() + append.map_or(0, |r| r.len() + 8));
        for (at, (i, r)) in objects.into_iter().enumerate() {
            match Some(at) == found {
                true => old = Some(r.to_vec()),
                false => push(&mut rest, i, r),
            }
        }
        if let Some(record) = append {
            if count >= MAX_PACK {
                return Err(Fault::Outgrown);
            }
            push(&mut rest, id, record);
        }
        match rest.is_empty() {
            true => table.remove(key.as_slice())?,
            false => table.insert(key.as_slice(), rest.as_slice())?,
        };
    }
    Ok(old)
}

/// Writes part `part` of every bucket from `objects` (source prefix, identity, record) in
/// key order; empty buckets get no value.
pub(super) fn write_part(
    table: &mut Table<'_>,
    bits: u8,
    part: u32,
    objects: &[(&[u8], &[u8], &[u8])],
) -> Result<(), redb::StorageError> {
    // Each identity hashed once, not at every comparison.
    let mut order: Vec<(&[u8], u64, u32)> = objects
        .iter()
        .enumerate()
        .map(|(at, &(prefix, id, _))| (prefix, hash(id), at as u32))
        .collect();
    order.sort_unstable_by(|a, b| {
        (a.0, a.1, objects[a.2 as usize].1).cmp(&(b.0, b.1, objects[b.2 as usize].1))
    });
    let mut pack = Vec::new();
    let mut at = 0;
    while let Some(&(prefix, hash, _)) = order.get(at) {
        let bucket = bucket(hash, bits);
        pack.clear();
        while let Some(&(p, h, index)) = order.get(at) {
            if p != prefix || self::bucket(h, bits) != bucket {
                break;
            }
            let (_, id, record) = objects[index as usize];
            push(&mut pack, id, record);
            at += 1;
        }
        table.insert(key(prefix, part, bucket).as_slice(), pack.as_slice())?;
    }
    Ok(())
}

/// The objects of the source whose prefix is `prefix`, a bucket at a time (its packs of
/// every part), in [`order`]: identity and record.
pub(super) fn objects<'a, 't>(
    table: &'a Table<'t>,
    prefix: &[u8],
    layout: Layout,
) -> Result<impl Iterator<Item = Result<Owned, Fault>> + use<'a, 't>, Fault> {
    let mut parts = Vec::new();
    for part in 0..layout.parts {
        let (first, last) = (key(prefix, part, 0), key(prefix, part, u32::MAX));
        parts.push(table.range(first.as_slice()..=last.as_slice())?.peekable());
    }
    let mut bucket = Vec::new().into_iter();
    let next = std::iter::from_fn(move || {
        loop {
            if let Some(object) = bucket.next() {
                return Some(Ok(object));
            }
            // The lowest bucket any part has next.
            let mut next = None;
            for part in &mut parts {
                match part.peek() {
                    Some(Ok((key, _))) => match bucket_of(key.value()) {
                        Some(b) => next = Some(next.map_or(b, |n: u32| n.min(b))),
                        None => return Some(Err(Fault::Damaged)),
                    },
                    Some(Err(_)) => {
                        return part.next().and_then(|r| r.err()).map(|e| Err(e.into()));
                    }
                    None => {}
                }
            }
            let next = next?;
            let mut objects = Vec::new();
            for part in &mut parts {
                while let Some(Ok((key, _))) = part.peek()
                    && bucket_of(key.value()) == Some(next)
                {
                    let Some(Ok((_, pack))) = part.next() else {
                        return Some(Err(Fault::Damaged));
                    };
                    match unpack(pack.value()) {
                        Ok(found) => objects.extend(
                            found
                                .into_iter()
                                .map(|(id, record)| (id.to_vec(), record.to_vec())),
                        ),
                        Err(e) => return Some(Err(e)),
                    }
                }
            }
            objects.sort_unstable_by(|(a, _), (b, _)| (hash(a), a).cmp(&(hash(b), b)));
            bucket = objects.into_iter();
        }
    });
    // Nothing after an error: the part that failed would fail again.
    Ok(next.scan(false, |failed, item| {
        (!*failed).then(|| {
            *failed = item.is_err();
            item
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_hash_order_whatever_their_number() {
        let ids: Vec<String> = (0..2000).map(|i| format!("id-{i}")).collect();
        for bits in [0, 1, 5, 11] {
            let mut sorted = ids.clone();
            sorted.sort_by(|a, b| order(a).cmp(&order(b)));
            let buckets: Vec<u32> = sorted
                .iter()
                .map(|id| bucket(hash(id.as_bytes()), bits))
                .collect();
            assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "bits {bits}");
        }
        assert_eq!(bits_for(0), MIN_BITS);
        assert_eq!(bits_for(100_000), 11);
        assert_eq!(bits_for(usize::MAX), MAX_BITS);
        // FNV-1a's published test vector: the hash must not change between versions.
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_layout_is_read_back_and_a_damaged_one_refused() {
        let layout = Layout { bits: 11, parts: 3 };
        assert_eq!(Layout::parse(&layout.to_string()), Some(layout));
        for damaged in ["11 0", "11 4294967295", "21 1", "11", "x 1", "11 1 1", ""] {
            assert_eq!(Layout::parse(damaged), None, "{damaged:?}");
        }
    }

    #[test]
    fn packs_round_trip_and_damage_is_refused() {
        let mut pack = Vec::new();
        push(&mut pack, b"one", b"rec1");
        push(&mut pack, b"two", b"");
        let objects = unpack(&pack).ok().unwrap();
        assert_eq!(objects, [(&b"one"[..], &b"rec1"[..]), (b"two", b"")]);
        for cut in (1..pack.len()).filter(|&c| c != 15) {
            assert!(unpack(&pack[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"x");
        assert!(unpack(&huge).is_err());
    }
}
