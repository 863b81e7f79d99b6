//! What the offset and time indexes share: a file of fixed-size entries, appended in
//! key order and searched by binary search.
//!
//! Kafka memory-maps its index files. This crate forbids `unsafe`, so an index keeps
//! instead a bounded in-memory *tail*: the last [`WARM_ENTRIES`] to `2 * WARM_ENTRIES`
//! entries, which include every entry not yet written to the file. Lookups near the end
//! of the log (consumers at the tail: most of them) are answered from memory, like
//! Kafka's "warm section"; older entries are read with positioned reads. New entries are
//! written in groups of [`WRITE_GROUP_ENTRIES`] and on [`IndexFile::sync`].
//!
//! Invariants: `tail_start <= written_entries <= entries`; the tail holds entries
//! `tail_start..entries`; when `entries > 0` the tail is not empty, so the last entry is
//! always in memory.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::background_flush::UnsyncedFile;
use crate::error::{IoContext, LogError};

/// Entries kept in memory at the end of an index after it is trimmed.
pub(crate) const WARM_ENTRIES: usize = 1024;
/// Unwritten entries that trigger a write to the file.
pub(crate) const WRITE_GROUP_ENTRIES: usize = 256;

/// A file of `N`-byte entries with a bounded in-memory tail (see the module docs).
pub(crate) struct IndexFile<const N: usize> {
    path: PathBuf,
    file: File,
    max_entries: usize,
    entries: usize,
    written_entries: usize,
    tail_start: usize,
    tail: Vec<[u8; N]>,
    /// Written since the last sync. False after open: an index is only trusted as it is
    /// on disk when its segment is below the recovery point, i.e. was synced; indexes of
    /// recovered segments are rebuilt (and marked unsynced by the reset).
    unsynced: bool,
    /// The file existed before it was opened.
    existed: bool,
    /// The file length was not a multiple of `N` when opened.
    misaligned: bool,
}

impl<const N: usize> IndexFile<N> {
    /// Opens the index at `path`, creating an empty one if it is missing. At most
    /// `max_entries` entries may be appended (`segment.index.bytes / N`).
    ///
    /// A file whose length is not a multiple of `N` opens with its whole entries and
    /// reports [`IndexFile::is_misaligned`]; the owner rebuilds it.
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be opened or read.
    pub(crate) fn open(path: PathBuf, max_entries: usize) -> Result<Self, LogError> {
        let (file, existed) = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
                (file.at(&path)?, false)
            }
            Err(e) => return Err(e).at(&path),
        };
        let len_bytes = file.metadata().at(&path)?.len();
        let entries = usize::try_from(len_bytes / N as u64).unwrap_or(usize::MAX);
        let mut index = IndexFile {
            path,
            file,
            max_entries,
            entries,
            written_entries: entries,
            tail_start: entries,
            tail: Vec::new(),
            unsynced: false,
            existed,
            misaligned: len_bytes % N as u64 != 0,
        };
        index.load_tail()?;
        Ok(index)
    }

    /// Reads the last written entries (up to [`WARM_ENTRIES`]) into an empty tail.
    fn load_tail(&mut self) -> Result<(), LogError> {
        debug_assert!(self.tail.is_empty() && self.written_entries == self.entries);
        let start = self.entries.saturating_sub(WARM_ENTRIES);
        let mut bytes = vec![0u8; (self.entries - start) * N];
        self.file.read_exact_at(&mut bytes, (start * N) as u64).at(&self.path)?;
        self.tail = bytes
            .chunks_exact(N)
            .map(|chunk| {
                let mut entry = [0u8; N];
                entry.copy_from_slice(chunk);
                entry
            })
            .collect();
        self.tail_start = start;
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    pub(crate) fn existed(&self) -> bool {
        self.existed
    }

    pub(crate) fn is_misaligned(&self) -> bool {
        self.misaligned
    }

    /// The entries held in memory: the last ones of the index.
    pub(crate) fn tail(&self) -> &[[u8; N]] {
        &self.tail
    }

    pub(crate) fn last(&self) -> Option<[u8; N]> {
        self.tail.last().copied()
    }

    /// Entry `i`, from memory or the file.
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be read.
    ///
    /// # Panics
    /// If `i >= self.len()` (a programming error).
    pub(crate) fn entry(&self, i: usize) -> Result<[u8; N], LogError> {
        assert!(i < self.entries, "index entry {i} of {}", self.entries);
        if i >= self.tail_start {
            return Ok(self.tail[i - self.tail_start]);
        }
        let mut entry = [0u8; N];
        self.file.read_exact_at(&mut entry, (i * N) as u64).at(&self.path)?;
        Ok(entry)
    }

    /// The number of leading entries for which `pred` holds; `pred` must hold for a
    /// prefix of the entries and fail for the rest (entries are sorted by their key).
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be read.
    pub(crate) fn partition_point(&self, pred: impl Fn(&[u8; N]) -> bool) -> Result<usize, LogError> {
        if let Some(first) = self.tail.first() {
            if pred(first) {
                return Ok(self.tail_start + self.tail.partition_point(&pred));
            }
        }
        let (mut lo, mut hi) = (0, self.tail_start);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.entry(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The last entry for which `pred` holds (see [`IndexFile::partition_point`]).
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be read.
    pub(crate) fn last_matching(&self, pred: impl Fn(&[u8; N]) -> bool) -> Result<Option<[u8; N]>, LogError> {
        match self.partition_point(pred)? {
            0 => Ok(None),
            n => self.entry(n - 1).map(Some),
        }
    }

    /// Adds an entry in memory; it reaches the file with [`IndexFile::write_if_buffered`]
    /// or [`IndexFile::sync`]. The caller checks order and fullness.
    pub(crate) fn push(&mut self, entry: [u8; N]) {
        self.tail.push(entry);
        self.entries += 1;
    }

    /// Writes buffered entries once there are enough of them, and trims the tail.
    ///
    /// # Errors
    /// [`LogError::Io`]; the entries stay buffered and are written by a later call.
    pub(crate) fn write_if_buffered(&mut self) -> Result<(), LogError> {
        if self.entries - self.written_entries >= WRITE_GROUP_ENTRIES || self.tail.len() > 2 * WARM_ENTRIES {
            self.write_pending()?;
            if self.tail.len() > 2 * WARM_ENTRIES {
                self.trim_tail(WARM_ENTRIES);
            }
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), LogError> {
        let pending = &self.tail[self.written_entries - self.tail_start..];
        if pending.is_empty() {
            return Ok(());
        }
        let bytes = pending.concat();
        self.file.write_all_at(&bytes, (self.written_entries * N) as u64).at(&self.path)?;
        self.written_entries = self.entries;
        self.unsynced = true;
        Ok(())
    }

    /// Drops all but the last `keep` (at least one) entries from memory.
    fn trim_tail(&mut self, keep: usize) {
        debug_assert_eq!(self.written_entries, self.entries);
        let drop_count = self.tail.len().saturating_sub(keep.max(1));
        self.tail.drain(..drop_count);
        self.tail_start += drop_count;
    }

    /// Writes buffered entries and fsyncs the file if anything changed since the last sync.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        self.write_pending()?;
        if self.unsynced {
            self.file.sync_data().at(&self.path)?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Has the next [`IndexFile::sync`] fsync the file even if nothing is written before:
    /// for entries whose durability is not known.
    pub(crate) fn assume_unsynced(&mut self) {
        self.unsynced = true;
    }

    /// Writes buffered entries; another descriptor for the file if it was written since
    /// the last sync, for an fsync without the segment (the flag stays until
    /// [`IndexFile::sync`] runs).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn unsynced_file(&mut self) -> Result<Option<UnsyncedFile>, LogError> {
        self.write_pending()?;
        self.unsynced.then(|| UnsyncedFile::dup(&self.path, &self.file)).transpose()
    }

    /// Writes buffered entries and keeps only the last entry in memory: for indexes of
    /// segments that no longer grow.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn release_memory(&mut self) -> Result<(), LogError> {
        self.write_pending()?;
        self.trim_tail(1);
        self.tail.shrink_to_fit();
        Ok(())
    }

    /// Keeps the first `n` entries.
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be shortened or its new tail read.
    pub(crate) fn truncate_entries(&mut self, n: usize) -> Result<(), LogError> {
        if n >= self.entries {
            return Ok(());
        }
        if n < self.written_entries {
            self.file.set_len((n * N) as u64).at(&self.path)?;
            self.written_entries = n;
            self.unsynced = true;
        }
        self.entries = n;
        self.misaligned = false;
        if n > self.tail_start {
            self.tail.truncate(n - self.tail_start);
        } else {
            self.tail.clear();
            self.load_tail()?;
        }
        Ok(())
    }

    /// Removes every entry.
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be truncated.
    pub(crate) fn reset(&mut self) -> Result<(), LogError> {
        self.file.set_len(0).at(&self.path)?;
        self.entries = 0;
        self.written_entries = 0;
        self.tail_start = 0;
        self.tail.clear();
        self.misaligned = false;
        self.unsynced = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: u32) -> [u8; 4] {
        k.to_be_bytes()
    }
    fn key(e: &[u8; 4]) -> u32 {
        u32::from_be_bytes(*e)
    }

    #[test]
    fn entries_survive_reopen_and_search_spans_file_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i");
        let count = 3 * WARM_ENTRIES + 17;
        {
            let mut index = IndexFile::<4>::open(path.clone(), usize::MAX).unwrap();
            assert!(!index.existed());
            for k in 0..count as u32 {
                index.push(entry(k * 2));
                index.write_if_buffered().unwrap();
            }
            assert!(index.tail().len() <= 2 * WARM_ENTRIES);
            for target in [0u32, 1, 2, 777, 4000, (count as u32) * 2 - 2, u32::MAX] {
                let found = index.last_matching(|e| key(e) <= target).unwrap().map(|e| key(&e));
                assert_eq!(found, Some((target / 2).min(count as u32 - 1) * 2), "target {target}");
            }
            index.sync().unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (count * 4) as u64);
        let index = IndexFile::<4>::open(path, usize::MAX).unwrap();
        assert!(index.existed());
        assert_eq!(index.len(), count);
        assert_eq!(index.tail().len(), WARM_ENTRIES);
        assert_eq!(index.last().map(|e| key(&e)), Some((count as u32 - 1) * 2));
        assert_eq!(index.last_matching(|e| key(e) <= 9).unwrap().map(|e| key(&e)), Some(8));
        assert_eq!(index.partition_point(|e| key(e) < 11).unwrap(), 6);
    }

    #[test]
    fn truncation_below_the_tail_reloads_it_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i");
        let mut index = IndexFile::<4>::open(path.clone(), usize::MAX).unwrap();
        for k in 0..(3 * WARM_ENTRIES) as u32 {
            index.push(entry(k));
            index.write_if_buffered().unwrap();
        }
        index.truncate_entries(10).unwrap();
        assert_eq!(index.len(), 10);
        assert_eq!(index.last().map(|e| key(&e)), Some(9));
        index.push(entry(10));
        index.sync().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44);
        index.reset().unwrap();
        assert_eq!(index.len(), 0);
        assert_eq!(index.last(), None);
    }

    #[test]
    fn misaligned_file_is_reported_and_fullness_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i");
        std::fs::write(&path, [0u8; 10]).unwrap();
        let mut index = IndexFile::<4>::open(path, 3).unwrap();
        assert!(index.is_misaligned());
        assert_eq!(index.len(), 2);
        assert!(!index.is_full());
        index.push(entry(5));
        assert!(index.is_full());
    }
}
