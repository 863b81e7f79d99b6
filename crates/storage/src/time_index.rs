//! The time index of a segment: `<base offset>.timeindex`.
//! Layout and crash behaviour are documented on the type.

use std::path::PathBuf;

use crate::background_flush::UnsyncedFile;
use crate::error::LogError;
use crate::index_file::IndexFile;

const ENTRY_BYTES: usize = 12;

fn encode(timestamp: i64, relative_offset: u32) -> [u8; ENTRY_BYTES] {
    let mut entry = [0u8; ENTRY_BYTES];
    entry[..8].copy_from_slice(&timestamp.to_be_bytes());
    entry[8..].copy_from_slice(&relative_offset.to_be_bytes());
    entry
}

fn decode(entry: &[u8; ENTRY_BYTES]) -> (i64, u32) {
    let mut timestamp = [0u8; 8];
    timestamp.copy_from_slice(&entry[..8]);
    (i64::from_be_bytes(timestamp), u32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]]))
}

/// The time index of one segment, `<base offset>.timeindex`.
///
/// A sparse map from timestamps to offsets. Entries are 12 bytes, big-endian:
///
/// ```text
/// offset  size  field
///      0     8  timestamp         the largest batch max-timestamp seen so far in the segment
///      8     4  relative offset   last offset of the batch that carried it, minus the base offset
/// ```
///
/// Whenever the offset index gets an entry, the time index gets one too if the
/// segment's largest timestamp has grown since its last entry; when the segment stops
/// being the active one, a final entry with the segment's largest timestamp is added.
/// Both fields therefore strictly increase, an entry `(t, o)` says "no record at or
/// before offset `o` has a timestamp above `t`, and the batch ending at `o` reaches
/// `t`", and the last entry holds the segment's largest timestamp, which retention uses.
///
/// To find the first record with timestamp `>= t`: take the last entry with timestamp
/// `<= t` (or the segment start), look its offset up in the offset index, and scan batch
/// headers forward from there for the first batch whose max timestamp is `>= t`.
///
/// The file holds at most `segment.index.bytes / 12` entries (plus the final one).
///
/// Crash behaviour: like the offset index, this is derived data without a checksum. It
/// is rebuilt with its segment's offset index when the segment is recovered, or when it
/// is missing, not a whole number of entries, or not increasing.
pub(crate) struct TimeIndex {
    base_offset: i64,
    file: IndexFile<ENTRY_BYTES>,
}

impl TimeIndex {
    /// Opens or creates the time index of the segment starting at `base_offset`.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn open(path: PathBuf, base_offset: i64, index_bytes_max: u64) -> Result<Self, LogError> {
        let max_entries = usize::try_from(index_bytes_max / ENTRY_BYTES as u64).unwrap_or(usize::MAX);
        Ok(TimeIndex { base_offset, file: IndexFile::open(path, max_entries)? })
    }

    /// Adds `(timestamp, offset)` (in memory) if `timestamp` is larger than the last
    /// entry's (or, for an empty index, not negative). Unless `skip_full_check`, nothing
    /// is added to a full index. Returns whether an entry was added.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) -> bool {
        let Some(relative) = offset.checked_sub(self.base_offset).and_then(|r| u32::try_from(r).ok()) else {
            return false;
        };
        if !skip_full_check && self.file.is_full() {
            return false;
        }
        let (last_timestamp, last_relative) = self.file.last().map(|e| decode(&e)).unwrap_or((-1, 0));
        if timestamp <= last_timestamp || (self.file.len() > 0 && relative <= last_relative) {
            return false;
        }
        self.file.push(encode(timestamp, relative));
        true
    }

    /// The last entry whose timestamp is `<= timestamp`, as (timestamp, offset).
    ///
    /// # Errors
    /// [`LogError::Io`] when the entry must be read from the file.
    pub(crate) fn lookup(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let found = self.file.last_matching(|e| decode(e).0 <= timestamp)?;
        Ok(found.map(|e| {
            let (timestamp, relative) = decode(&e);
            (timestamp, self.base_offset + relative as i64)
        }))
    }

    /// Removes the entries whose offset is `>= offset`.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let keep = if offset <= self.base_offset {
            0
        } else {
            let limit = (offset - self.base_offset).min(u32::MAX as i64 + 1);
            self.file.partition_point(|e| (decode(e).1 as i64) < limit)?
        };
        self.file.truncate_entries(keep)
    }

    /// The last entry as (timestamp, offset): the segment's largest timestamp so far.
    pub(crate) fn last_entry(&self) -> Option<(i64, i64)> {
        self.file.last().map(|e| {
            let (timestamp, relative) = decode(&e);
            (timestamp, self.base_offset + relative as i64)
        })
    }

    /// Structural checks: present, whole entries, increasing in the part held in memory.
    pub(crate) fn sanity_check(&self) -> Result<(), String> {
        if !self.file.existed() {
            return Err("time index file is missing".into());
        }
        if self.file.is_misaligned() {
            return Err(format!("time index length is not a multiple of {ENTRY_BYTES}"));
        }
        let increasing = self.file.tail().windows(2).all(|w| {
            let (a, b) = (decode(&w[0]), decode(&w[1]));
            a.0 < b.0 && a.1 < b.1
        });
        if !increasing {
            return Err("time index entries are not increasing".into());
        }
        Ok(())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub(crate) fn write_if_buffered(&mut self) -> Result<(), LogError> {
        self.file.write_if_buffered()
    }

    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        self.file.sync()
    }

    pub(crate) fn unsynced_file(&mut self) -> Result<Option<UnsyncedFile>, LogError> {
        self.file.unsynced_file()
    }

    pub(crate) fn release_memory(&mut self) -> Result<(), LogError> {
        self.file.release_memory()
    }

    pub(crate) fn reset(&mut self) -> Result<(), LogError> {
        self.file.reset()
    }

    pub(crate) fn assume_unsynced(&mut self) {
        self.file.assume_unsynced();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir, max_bytes: u64) -> TimeIndex {
        TimeIndex::open(dir.path().join("00000000000000000010.timeindex"), 10, max_bytes).unwrap()
    }

    #[test]
    fn appends_only_growing_timestamps_and_looks_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = open(&dir, 1200);
        assert!(!index.maybe_append(-1, 12, false), "no timestamp");
        assert!(index.maybe_append(1000, 12, false));
        assert!(!index.maybe_append(1000, 15, false), "timestamp did not grow");
        assert!(!index.maybe_append(900, 20, false));
        assert!(index.maybe_append(2000, 20, false));
        assert_eq!(index.lookup(999).unwrap(), None);
        assert_eq!(index.lookup(1000).unwrap(), Some((1000, 12)));
        assert_eq!(index.lookup(1999).unwrap(), Some((1000, 12)));
        assert_eq!(index.lookup(i64::MAX).unwrap(), Some((2000, 20)));
        assert_eq!(index.last_entry(), Some((2000, 20)));
        index.truncate_to(20).unwrap();
        assert_eq!(index.last_entry(), Some((1000, 12)));
    }

    #[test]
    fn final_entry_may_exceed_the_limit_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = open(&dir, 12);
        assert!(index.maybe_append(5, 10, false));
        assert!(index.is_full());
        assert!(!index.maybe_append(6, 11, false));
        assert!(index.maybe_append(6, 11, true));
        index.sync().unwrap();
        drop(index);
        let index = open(&dir, 12);
        assert!(index.sanity_check().is_ok());
        assert_eq!(index.last_entry(), Some((6, 11)));
    }
}
