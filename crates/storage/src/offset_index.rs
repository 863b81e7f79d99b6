//! The offset index of a segment: `<base offset>.index`.
//! Layout and crash behaviour are documented on the type.

use std::path::PathBuf;

use crate::background_flush::UnsyncedFile;
use crate::error::LogError;
use crate::index_file::IndexFile;

const ENTRY_BYTES: usize = 8;

fn encode(relative_offset: u32, position: u32) -> [u8; ENTRY_BYTES] {
    let mut entry = [0u8; ENTRY_BYTES];
    entry[..4].copy_from_slice(&relative_offset.to_be_bytes());
    entry[4..].copy_from_slice(&position.to_be_bytes());
    entry
}

fn decode(entry: &[u8; ENTRY_BYTES]) -> (u32, u32) {
    (
        u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]),
        u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]),
    )
}

/// The offset index of one segment, `<base offset>.index`.
///
/// A sparse map from offsets to byte positions in the segment's `.log` file. Entries are
/// 8 bytes, big-endian, in increasing order of both fields:
///
/// ```text
/// offset  size  field
///      0     4  relative offset   last offset of a batch minus the segment's base offset
///      4     4  position          byte position of that batch in the .log file
/// ```
///
/// An entry is added for the first batch that starts more than `index.interval.bytes`
/// after the previous entry's batch, so the index has about one entry per interval. To
/// find the batch containing offset `o`, take the last entry whose offset is `<= o` (or
/// position 0) and scan batch headers forward from its position to the first batch whose
/// last offset is `>= o`.
///
/// The file holds at most `segment.index.bytes / 8` entries; the segment rolls when it
/// is full. Unlike Kafka's, the file is not preallocated: its length is always a whole
/// number of entries.
///
/// Crash behaviour: the index is derived data and has no checksum. Entries are written
/// after the batches they point at; after a crash the index of every segment that is
/// recovered is rebuilt from the `.log` file. An index that is missing, whose length is
/// not a multiple of 8, whose entries are not increasing, or whose last entry does not
/// point at a batch header is rebuilt when the segment is loaded. Entries lost in a
/// crash only make the index sparser.
pub(crate) struct OffsetIndex {
    base_offset: i64,
    file: IndexFile<ENTRY_BYTES>,
}

impl OffsetIndex {
    /// Opens or creates the index of the segment starting at `base_offset`.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn open(path: PathBuf, base_offset: i64, index_bytes_max: u64) -> Result<Self, LogError> {
        let max_entries = usize::try_from(index_bytes_max / ENTRY_BYTES as u64).unwrap_or(usize::MAX);
        Ok(OffsetIndex { base_offset, file: IndexFile::open(path, max_entries)? })
    }

    fn relative(&self, offset: i64) -> Option<u32> {
        u32::try_from(offset.checked_sub(self.base_offset)?).ok()
    }

    fn absolute(&self, relative_offset: u32) -> i64 {
        self.base_offset + relative_offset as i64
    }

    /// Adds an entry (in memory) for the batch at `position` whose last offset is
    /// `offset`. Returns false, adding nothing, if the index is full or the entry would
    /// not increase both fields: a sparser index is still correct.
    pub(crate) fn append(&mut self, offset: i64, position: u32) -> bool {
        let Some(relative) = self.relative(offset) else { return false };
        if self.file.is_full() {
            return false;
        }
        if let Some(last) = self.file.last() {
            let (last_relative, last_position) = decode(&last);
            if relative <= last_relative || position <= last_position {
                return false;
            }
        }
        self.file.push(encode(relative, position));
        true
    }

    /// The last entry whose offset is `<= target`, as (offset, position); `(base, 0)` if none.
    ///
    /// # Errors
    /// [`LogError::Io`] when the entry must be read from the file.
    pub(crate) fn lookup(&self, target: i64) -> Result<(i64, u64), LogError> {
        if target < self.base_offset {
            return Ok((self.base_offset, 0));
        }
        let relative = u32::try_from(target - self.base_offset).unwrap_or(u32::MAX);
        Ok(match self.file.last_matching(|e| decode(e).0 <= relative)? {
            Some(entry) => {
                let (relative, position) = decode(&entry);
                (self.absolute(relative), position as u64)
            }
            None => (self.base_offset, 0),
        })
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
            self.file.partition_point(|e| (decode(e).0 as i64) < limit)?
        };
        self.file.truncate_entries(keep)
    }

    /// The last entry as (offset, position).
    pub(crate) fn last_entry(&self) -> Option<(i64, u64)> {
        self.file.last().map(|e| {
            let (relative, position) = decode(&e);
            (self.absolute(relative), position as u64)
        })
    }

    /// Structural checks that need no `.log` access: whole entries, increasing fields in
    /// the part held in memory. The caller also checks that the last entry points at a
    /// batch. Returns why the index cannot be trusted.
    pub(crate) fn sanity_check(&self) -> Result<(), String> {
        if !self.file.existed() {
            return Err("index file is missing".into());
        }
        if self.file.is_misaligned() {
            return Err(format!("index length is not a multiple of {ENTRY_BYTES}"));
        }
        let increasing = self.file.tail().windows(2).all(|w| {
            let (a, b) = (decode(&w[0]), decode(&w[1]));
            a.0 < b.0 && a.1 < b.1
        });
        if !increasing {
            return Err("index entries are not increasing".into());
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.file.len()
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

    fn open(dir: &tempfile::TempDir, max_bytes: u64) -> OffsetIndex {
        OffsetIndex::open(dir.path().join("00000000000000000100.index"), 100, max_bytes).unwrap()
    }

    #[test]
    fn lookup_finds_largest_entry_not_above_target() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = open(&dir, 1024);
        assert_eq!(index.lookup(150).unwrap(), (100, 0));
        assert!(index.append(109, 4100));
        assert!(index.append(119, 8300));
        assert!(!index.append(119, 9000), "offsets must increase");
        assert!(!index.append(120, 8300), "positions must increase");
        assert!(!index.append(99, 9000), "below base");
        assert_eq!(index.lookup(50).unwrap(), (100, 0));
        assert_eq!(index.lookup(108).unwrap(), (100, 0));
        assert_eq!(index.lookup(109).unwrap(), (109, 4100));
        assert_eq!(index.lookup(118).unwrap(), (109, 4100));
        assert_eq!(index.lookup(1 << 40).unwrap(), (119, 8300));
        assert_eq!(index.last_entry(), Some((119, 8300)));
    }

    #[test]
    fn truncation_drops_entries_at_or_above_offset_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = open(&dir, 1024);
        for i in 1..=10 {
            assert!(index.append(100 + i * 10, (i * 1000) as u32));
        }
        index.truncate_to(150).unwrap();
        assert_eq!(index.last_entry(), Some((140, 4000)));
        index.truncate_to(141).unwrap();
        assert_eq!(index.last_entry(), Some((140, 4000)));
        index.sync().unwrap();
        drop(index);
        let index = open(&dir, 1024);
        assert_eq!(index.len(), 4);
        assert!(index.sanity_check().is_ok());
        assert_eq!(index.lookup(145).unwrap(), (140, 4000));
    }

    #[test]
    fn full_index_refuses_entries_and_bad_files_fail_sanity_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = open(&dir, 16);
        assert!(index.sanity_check().is_err(), "new file counts as missing");
        assert!(index.append(101, 10));
        assert!(index.append(102, 20));
        assert!(index.is_full());
        assert!(!index.append(103, 30));
        index.sync().unwrap();
        drop(index);
        let path = dir.path().join("00000000000000000100.index");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.swap(3, 11); // relative offsets 2, 1: not increasing
        std::fs::write(&path, &bytes).unwrap();
        assert!(open(&dir, 16).sanity_check().unwrap_err().contains("increasing"));
        std::fs::write(&path, &bytes[..12]).unwrap();
        assert!(open(&dir, 16).sanity_check().unwrap_err().contains("multiple"));
    }
}
