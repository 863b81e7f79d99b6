//! The log cleaner's key map: for every key in the dirty section of a log, the offset of
//! its latest record (Kafka's `SkimpyOffsetMap`).
//!
//! Keys are stored as a 128-bit digest (two SipHash-1-3 hashes under keys drawn at
//! random per map), as Kafka stores an MD5 digest: memory per entry is fixed whatever
//! the key size, and since the hash keys are secret, producers cannot craft keys whose
//! digests collide (a collision would make the cleaner drop a record of another key).
//! The map holds at most a configured number of entries; the cleaner stops adding
//! batches when the next one might not fit.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Bytes the cleaner accounts per entry of the map (digest and offset), as Kafka does
/// when it sizes the map from `log.cleaner.dedupe.buffer.size`.
pub const OFFSET_MAP_ENTRY_BYTES: usize = 24;

/// Key digest -> latest offset, bounded (see the module docs).
pub(crate) struct OffsetMap {
    entries: HashMap<u128, i64>,
    max_entries: usize,
    hashers: (RandomState, RandomState),
}

impl OffsetMap {
    pub(crate) fn new(max_entries: usize) -> Self {
        OffsetMap { entries: HashMap::new(), max_entries, hashers: (RandomState::new(), RandomState::new()) }
    }

    fn digest(&self, key: &[u8]) -> u128 {
        let high = self.hashers.0.hash_one(key);
        let low = self.hashers.1.hash_one(key);
        (u128::from(high) << 64) | u128::from(low)
    }

    /// Whether `count` more keys surely fit.
    pub(crate) fn has_room_for(&self, count: usize) -> bool {
        self.entries.len().saturating_add(count) <= self.max_entries
    }

    /// Records `offset` as the latest offset of `key` (offsets are put in increasing order).
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) {
        let digest = self.digest(key);
        self.entries.insert(digest, offset);
    }

    /// The latest offset put for `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.entries.get(&self.digest(key)).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_per_key_within_its_bound() {
        let mut map = OffsetMap::new(2);
        assert!(map.has_room_for(2) && !map.has_room_for(3));
        map.put(b"a", 1);
        map.put(b"b", 2);
        map.put(b"a", 3);
        assert_eq!((map.get(b"a"), map.get(b"b"), map.get(b"c")), (Some(3), Some(2), None));
        assert_eq!(map.len(), 2);
        assert!(!map.has_room_for(1));
    }
}
