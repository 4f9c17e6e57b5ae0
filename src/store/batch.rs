//! Objects on their way from a full read to the thread that writes the store.

use crate::rules::Entry;

/// Objects on their way to the store, packed into one buffer: a full read hands a million
/// of them to the thread that writes the store, and two allocations per object (made on one
/// thread, freed on the other) would cost more than the store's own work.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    /// Per object: its source's index, where its identity ends and where its record ends.
    objects: Vec<(usize, usize, usize)>,
}

impl Batch {
    /// Adds object `id` of the source at `source` (an index the writer resolves).
    pub fn push(&mut self, source: usize, id: &str, entry: &Entry) {
        self.bytes.extend_from_slice(id.as_bytes());
        let id_end = self.bytes.len();
        super::record::encode_into(&mut self.bytes, entry);
        self.objects.push((source, id_end, self.bytes.len()));
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// The bytes of its objects.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Empties it, keeping its buffers for the next objects.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.objects.clear();
    }

    /// Its objects: source index, identity, record.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &[u8], &[u8])> {
        let mut start = 0;
        self.objects.iter().map(move |&(source, id_end, end)| {
            let object = (source, &self.bytes[start..id_end], &self.bytes[id_end..end]);
            start = end;
            object
        })
    }
}
