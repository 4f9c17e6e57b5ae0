//! A native writer for Postfix `cdb:` maps, byte-compatible with `postmap cdb:`.
//!
//! The format is D. J. Bernstein's constant database: a 2048-byte header of 256 (position,
//! slot count) pairs, the records (`key length, value length, key, value`, lengths as
//! little-endian u32), then 256 open-addressing hash tables of (hash, record position) slots,
//! each twice as large as the number of keys that fall into it. Postfix stores cdb keys and
//! values WITHOUT a trailing NUL (unlike hash, btree and lmdb), so neither is written here.
//!
//! Building in-process avoids a `postmap` run per apply and is several times faster for large
//! maps; `postmap cdb:` remains available (`cdb_writer = "postmap"`).

use std::io::{self, Seek, SeekFrom, Write};

/// cdb's hash function: h = 5381; h = (h * 33) ^ byte, in u32 arithmetic.
pub fn hash(key: &[u8]) -> u32 {
    key.iter()
        .fold(5381u32, |h, &b| (h << 5).wrapping_add(h) ^ u32::from(b))
}

fn too_large() -> io::Error {
    io::Error::other("the map is too large for the cdb format (4 GiB)")
}

fn u32_of(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| too_large())
}

/// A cdb being written record by record: only the (hash, position) pair of each record is
/// kept (8 bytes a key), so a map of millions of keys is built in a few tens of MB.
pub struct Writer<W> {
    out: W,
    tables: Vec<Vec<(u32, u32)>>,
    position: u32,
}

impl<W: Write + Seek> Writer<W> {
    /// Starts a cdb in `out` (positioned at its start).
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&[0u8; 2048])?;
        Ok(Self {
            out,
            tables: vec![Vec::new(); 256],
            position: 2048,
        })
    }

    /// Adds a record. Keys must be unique (a cdb may hold duplicates, but Postfix would only
    /// ever find the first).
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let h = hash(key);
        self.tables[(h & 0xff) as usize].push((h, self.position));
        self.out.write_all(&u32_of(key.len())?.to_le_bytes())?;
        self.out.write_all(&u32_of(value.len())?.to_le_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(value)?;
        self.position = u32_of(key.len() + value.len())
            .ok()
            .and_then(|n| self.position.checked_add(8)?.checked_add(n))
            .ok_or_else(too_large)?;
        Ok(())
    }

    /// Writes the hash tables and the header; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let mut position = self.position;
        let mut header = Vec::with_capacity(2048);
        let mut slots: Vec<(u32, u32)> = Vec::new();
        let mut bytes = Vec::new();
        for table in &self.tables {
            let len = table.len() * 2;
            header.extend_from_slice(&position.to_le_bytes());
            header.extend_from_slice(&u32_of(len)?.to_le_bytes());
            slots.clear();
            slots.resize(len, (0, 0));
            for &(h, pos) in table {
                let mut slot = (h >> 8) as usize % len;
                while slots[slot].1 != 0 {
                    slot = (slot + 1) % len;
                }
                slots[slot] = (h, pos);
            }
            bytes.clear();
            for &(h, pos) in &slots {
                bytes.extend_from_slice(&h.to_le_bytes());
                bytes.extend_from_slice(&pos.to_le_bytes());
            }
            self.out.write_all(&bytes)?;
            position = u32_of(bytes.len())
                .ok()
                .and_then(|n| position.checked_add(n))
                .ok_or_else(too_large)?;
        }
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader straight from the format description, to check the writer independently.
    fn lookup(db: &[u8], key: &[u8]) -> Option<Vec<u8>> {
        let u32_at = |at: usize| u32::from_le_bytes(db[at..at + 4].try_into().unwrap());
        let h = hash(key);
        let table = (h & 0xff) as usize * 8;
        let (pos, len) = (u32_at(table) as usize, u32_at(table + 4) as usize);
        if len == 0 {
            return None;
        }
        let start = (h >> 8) as usize % len;
        for i in 0..len {
            let slot = pos + ((start + i) % len) * 8;
            let (sh, rp) = (u32_at(slot), u32_at(slot + 4) as usize);
            if rp == 0 {
                return None;
            }
            if sh == h {
                let (kl, vl) = (u32_at(rp) as usize, u32_at(rp + 4) as usize);
                if &db[rp + 8..rp + 8 + kl] == key {
                    return Some(db[rp + 8 + kl..rp + 8 + kl + vl].to_vec());
                }
            }
        }
        None
    }

    #[test]
    fn known_hash_values() {
        assert_eq!(hash(b""), 5381);
        assert_eq!(hash(b"a"), (5381u32 * 33) ^ 97);
    }

    #[test]
    fn every_key_is_found_and_absent_keys_are_not() {
        let keys: Vec<String> = (0..5000).map(|i| format!("user{i}@example.com")).collect();
        let mut writer = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        for key in &keys {
            writer.add(key.as_bytes(), b"OK").unwrap();
        }
        let db = writer.finish().unwrap().into_inner();
        for key in &keys {
            assert_eq!(
                lookup(&db, key.as_bytes()).as_deref(),
                Some(b"OK".as_slice()),
                "{key}"
            );
        }
        assert_eq!(lookup(&db, b"nobody@example.com"), None);
        // Without the trailing NUL, as Postfix writes cdb keys.
        assert_eq!(lookup(&db, b"user1@example.com\0"), None);
    }

    #[test]
    fn empty_database_is_valid() {
        let writer = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        let db = writer.finish().unwrap().into_inner();
        assert_eq!(db.len(), 2048);
        assert_eq!(lookup(&db, b"x"), None);
    }
}
