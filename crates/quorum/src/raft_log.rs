//! The Raft log on disk: entries in segment files, all live entries also in memory.
//!
//! Layout, in the quorum directory:
//! ```text
//! 00000000000000000000.raftlog   entries 0..k      (file name: 20-digit index of its first entry)
//! 0000000000000000000k.raftlog   entries k..       (the active segment: appends go here)
//! log-start                      JSON of the last purged LogId (or null): entries up to it are gone
//! ```
//! Each entry is one record:
//! ```text
//! +----------------+------------------+----------------------------------+
//! | length: u32 BE | crc32c: u32 BE   | payload: JSON of openraft Entry  |
//! +----------------+------------------+----------------------------------+
//!                   (CRC-32C of the payload)
//! ```
//! Indexes are consecutive across segments. An append writes its records and fsyncs the
//! segment before it is acknowledged. A crash can leave a torn record at the end of the
//! last segment: recovery stops at the first record whose length runs past the end of the
//! file or whose CRC does not match, and cuts the file there (those entries were never
//! acknowledged). The same damage in an earlier segment is corruption and refuses the start.
//!
//! Truncation (a follower dropping a divergent suffix) deletes later segments, newest
//! first, then cuts the segment holding the first dropped entry, fsyncing before it
//! returns. Purging (after a snapshot) writes `log-start` first, then deletes the segments
//! whose entries are all purged; a crash in between is repaired on the next open.
//!
//! The metadata log is small between snapshots, so every live entry is also kept in
//! memory and reads never touch the disk.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use openraft::RaftLogId;

use crate::durable_file::{read_if_exists, sync_dir, write_atomically};
use crate::raft_types::{Entry, LogId};

const SEGMENT_SUFFIX: &str = ".raftlog";
const LOG_START_FILE: &str = "log-start";
const RECORD_HEADER_BYTES: usize = 8;

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RaftLogError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt raft log {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("raft log append out of order: entry {index} after last index {last:?}")]
    OutOfOrder { index: u64, last: Option<u64> },
}

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RaftLogError + 'a {
    move |source| RaftLogError::Io { context, path: path.to_path_buf(), source }
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Index of the entry after the last one written to this file.
    next_index: u64,
    size_bytes: u64,
}

/// A live entry and where its record starts.
#[derive(Debug)]
struct StoredEntry {
    entry: Entry,
    segment_base: u64,
    position: u64,
}

/// The Raft log (see the module docs).
#[derive(Debug)]
pub(crate) struct RaftLog {
    dir: PathBuf,
    segment_bytes_max: u64,
    record_bytes_max: usize,
    segments: BTreeMap<u64, Segment>,
    entries: BTreeMap<u64, StoredEntry>,
    last_purged: Option<LogId>,
}

impl RaftLog {
    /// Opens the log in `dir` (which must exist), recovering a torn tail.
    /// `record_bytes_max` bounds one record; a longer length field is treated as damage.
    ///
    /// # Errors
    /// [`RaftLogError::Corrupt`] for damage other than a torn tail; [`RaftLogError::Io`].
    pub(crate) fn open(dir: &Path, segment_bytes_max: u64, record_bytes_max: usize) -> Result<RaftLog, RaftLogError> {
        let start_path = dir.join(LOG_START_FILE);
        let last_purged: Option<LogId> = match read_if_exists(&start_path).map_err(io_err("reading", &start_path))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| RaftLogError::Corrupt { path: start_path.clone(), detail: e.to_string() })?,
            None => None,
        };
        let mut log = RaftLog {
            dir: dir.to_path_buf(),
            segment_bytes_max,
            record_bytes_max,
            segments: BTreeMap::new(),
            entries: BTreeMap::new(),
            last_purged,
        };
        let mut bases = Vec::new();
        for item in fs::read_dir(dir).map_err(io_err("listing", dir))? {
            let name = item.map_err(io_err("listing", dir))?.file_name().to_string_lossy().into_owned();
            if let Some(base) = name.strip_suffix(SEGMENT_SUFFIX).and_then(|b| b.parse::<u64>().ok()) {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let count = bases.len();
        for (i, base) in bases.into_iter().enumerate() {
            log.load_segment(base, i + 1 == count)?;
        }
        log.delete_purged_segments()?;
        Ok(log)
    }

    fn segment_path(&self, base: u64) -> PathBuf {
        self.dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
    }

    fn load_segment(&mut self, base: u64, is_last: bool) -> Result<(), RaftLogError> {
        let path = self.segment_path(base);
        let bytes = fs::read(&path).map_err(io_err("reading", &path))?;
        let corrupt = |detail: String| RaftLogError::Corrupt { path: path.clone(), detail };
        if let Some(last) = self.last_index_in_files() {
            if base != last + 1 {
                return Err(corrupt(format!("segment starts at index {base}, but the previous one ends at {last}")));
            }
        }
        let mut position = 0usize;
        let mut next_index = base;
        while position < bytes.len() {
            let Some(payload) = record_at(&bytes, position, self.record_bytes_max) else {
                if !is_last {
                    return Err(corrupt(format!("damaged record at byte {position} of a sealed segment")));
                }
                tracing::warn!(
                    path = %path.display(),
                    position,
                    dropped_bytes = bytes.len() - position,
                    "cutting a torn tail off the raft log (entries never acknowledged)"
                );
                let file = OpenOptions::new().write(true).open(&path).map_err(io_err("opening", &path))?;
                file.set_len(position as u64).map_err(io_err("truncating", &path))?;
                file.sync_all().map_err(io_err("syncing", &path))?;
                break;
            };
            let entry: Entry = serde_json::from_slice(payload)
                .map_err(|e| corrupt(format!("unreadable entry at byte {position}: {e}")))?;
            if entry.get_log_id().index != next_index {
                return Err(corrupt(format!(
                    "entry at byte {position} has index {}, expected {next_index}",
                    entry.get_log_id().index
                )));
            }
            let purged = self.last_purged.is_some_and(|p| next_index <= p.index);
            if !purged {
                self.entries.insert(next_index, StoredEntry { entry, segment_base: base, position: position as u64 });
            }
            position += RECORD_HEADER_BYTES + payload.len();
            next_index += 1;
        }
        self.segments.insert(base, Segment { path, next_index, size_bytes: position as u64 });
        Ok(())
    }

    fn last_index_in_files(&self) -> Option<u64> {
        self.segments.values().next_back().and_then(|s| s.next_index.checked_sub(1))
    }

    /// The last purged entry's id.
    pub(crate) fn last_purged(&self) -> Option<LogId> {
        self.last_purged
    }

    /// The last entry's id, or the last purged one when the log holds no entry.
    pub(crate) fn last_log_id(&self) -> Option<LogId> {
        self.entries.values().next_back().map(|s| *s.entry.get_log_id()).or(self.last_purged)
    }

    /// Copies of the live entries with indexes in `range`.
    pub(crate) fn entries(&self, range: impl std::ops::RangeBounds<u64>) -> Vec<Entry> {
        self.entries.range(range).map(|(_, s)| s.entry.clone()).collect()
    }

    /// Appends `entries` (consecutive, following the last entry) and fsyncs them.
    ///
    /// # Errors
    /// [`RaftLogError::OutOfOrder`] when an index does not follow; [`RaftLogError::Io`].
    /// After an I/O error the in-memory view holds only what was written before it.
    pub(crate) fn append(&mut self, entries: impl IntoIterator<Item = Entry>) -> Result<(), RaftLogError> {
        let mut pending: Vec<(u64, Vec<u8>, Vec<StoredEntry>)> = Vec::new();
        let mut last = self.last_log_id().map(|id| id.index);
        for entry in entries {
            let index = entry.get_log_id().index;
            if last.is_some_and(|l| index != l + 1) {
                return Err(RaftLogError::OutOfOrder { index, last });
            }
            last = Some(index);
            let payload = serde_json::to_vec(&entry).map_err(|e| RaftLogError::Io {
                context: "encoding entry for",
                path: self.dir.clone(),
                source: io::Error::other(e),
            })?;
            let base = self.active_base_for(index, &pending, payload.len())?;
            if pending.last().map(|(b, _, _)| *b) != Some(base) {
                pending.push((base, Vec::new(), Vec::new()));
            }
            let Some((_, buffer, stored)) = pending.last_mut() else { continue };
            let segment_size = self.segments.get(&base).map_or(0, |s| s.size_bytes);
            let position = segment_size + buffer.len() as u64;
            buffer.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            buffer.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
            buffer.extend_from_slice(&payload);
            stored.push(StoredEntry { entry, segment_base: base, position });
        }
        for (base, buffer, stored) in pending {
            let Some(segment) = self.segments.get_mut(&base) else { continue };
            let mut file = OpenOptions::new().append(true).open(&segment.path).map_err(io_err("opening", &segment.path))?;
            file.write_all(&buffer).map_err(io_err("appending to", &segment.path))?;
            file.sync_data().map_err(io_err("syncing", &segment.path))?;
            segment.size_bytes += buffer.len() as u64;
            for s in stored {
                let index = s.entry.get_log_id().index;
                segment.next_index = index + 1;
                self.entries.insert(index, s);
            }
        }
        Ok(())
    }

    /// The segment the entry at `index` goes to, rolling a new one when the active one is
    /// full or does not end right before `index` (after a purge past its end).
    fn active_base_for(
        &mut self,
        index: u64,
        pending: &[(u64, Vec<u8>, Vec<StoredEntry>)],
        payload_bytes: usize,
    ) -> Result<u64, RaftLogError> {
        if let Some((&base, segment)) = self.segments.iter().next_back() {
            let pending_bytes = pending.last().filter(|(b, _, _)| *b == base).map_or(0, |(_, buf, _)| buf.len() as u64);
            let pending_count = pending.last().filter(|(b, _, _)| *b == base).map_or(0, |(_, _, s)| s.len() as u64);
            let contiguous = segment.next_index + pending_count == index;
            let size = segment.size_bytes + pending_bytes;
            let fits = size == 0 || size + (RECORD_HEADER_BYTES + payload_bytes) as u64 <= self.segment_bytes_max;
            if contiguous && fits {
                return Ok(base);
            }
        }
        let path = self.segment_path(index);
        File::create(&path).map_err(io_err("creating", &path))?;
        sync_dir(&self.dir).map_err(io_err("syncing", &self.dir))?;
        self.segments.insert(index, Segment { path, next_index: index, size_bytes: 0 });
        Ok(index)
    }

    /// Drops the entries at and after `index`, durably.
    ///
    /// # Errors
    /// [`RaftLogError::Io`].
    pub(crate) fn truncate(&mut self, index: u64) -> Result<(), RaftLogError> {
        let cut = self.entries.get(&index).map(|s| (s.segment_base, s.position));
        self.entries.split_off(&index);
        let later: Vec<u64> = self.segments.range(index..).map(|(base, _)| *base).collect();
        let mut deleted = false;
        for base in later.into_iter().rev() {
            if cut.is_some_and(|(b, _)| b == base) {
                continue;
            }
            if let Some(segment) = self.segments.remove(&base) {
                fs::remove_file(&segment.path).map_err(io_err("deleting", &segment.path))?;
                deleted = true;
            }
        }
        if let Some((base, position)) = cut {
            if let Some(segment) = self.segments.get_mut(&base) {
                let file = OpenOptions::new().write(true).open(&segment.path).map_err(io_err("opening", &segment.path))?;
                file.set_len(position).map_err(io_err("truncating", &segment.path))?;
                file.sync_all().map_err(io_err("syncing", &segment.path))?;
                segment.size_bytes = position;
                segment.next_index = index;
            }
        }
        if deleted {
            sync_dir(&self.dir).map_err(io_err("syncing", &self.dir))?;
        }
        Ok(())
    }

    /// Forgets the entries up to and including `log_id` (which may lie past the last
    /// entry, after a snapshot was installed).
    ///
    /// # Errors
    /// [`RaftLogError::Io`].
    pub(crate) fn purge(&mut self, log_id: LogId) -> Result<(), RaftLogError> {
        if self.last_purged.is_some_and(|p| p.index >= log_id.index) {
            return Ok(());
        }
        let path = self.dir.join(LOG_START_FILE);
        let bytes = serde_json::to_vec(&Some(log_id)).map_err(|e| RaftLogError::Io {
            context: "encoding",
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        write_atomically(&path, &bytes).map_err(io_err("writing", &path))?;
        self.last_purged = Some(log_id);
        self.entries = self.entries.split_off(&(log_id.index + 1));
        self.delete_purged_segments()
    }

    /// Deletes the segments whose entries are all purged.
    fn delete_purged_segments(&mut self) -> Result<(), RaftLogError> {
        let Some(purged) = self.last_purged else { return Ok(()) };
        let dead: Vec<u64> =
            self.segments.iter().filter(|(_, s)| s.next_index <= purged.index + 1).map(|(base, _)| *base).collect();
        for base in &dead {
            if let Some(segment) = self.segments.remove(base) {
                fs::remove_file(&segment.path).map_err(io_err("deleting", &segment.path))?;
            }
        }
        if !dead.is_empty() {
            sync_dir(&self.dir).map_err(io_err("syncing", &self.dir))?;
        }
        Ok(())
    }

    #[cfg(test)]
    fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// The payload of the intact record at `position`, or `None` when it is torn or damaged.
fn record_at(bytes: &[u8], position: usize, record_bytes_max: usize) -> Option<&[u8]> {
    let header = bytes.get(position..position + RECORD_HEADER_BYTES)?;
    let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if length > record_bytes_max {
        return None;
    }
    let start = position + RECORD_HEADER_BYTES;
    let payload = bytes.get(start..start + length)?;
    (crc32c::crc32c(payload) == crc).then_some(payload)
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};
    use spool_metadata::MetadataRecord;

    use super::*;
    use crate::raft_types::MetadataBatch;

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(MetadataBatch {
                records: vec![MetadataRecord::ProducerIds { next_producer_id: index as i64 }],
            }),
        }
    }

    fn indexes(log: &RaftLog) -> Vec<u64> {
        log.entries(..).iter().map(|e| e.log_id.index).collect()
    }

    #[test]
    fn entries_survive_reopen_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path(), 200, 1 << 20).unwrap();
        log.append((0..10).map(|i| entry(1, i))).unwrap();
        assert!(log.segment_count() > 1, "small segments roll");
        drop(log);
        let log = RaftLog::open(dir.path(), 200, 1 << 20).unwrap();
        assert_eq!(indexes(&log), (0..10).collect::<Vec<_>>());
        assert_eq!(log.last_log_id().map(|id| id.index), Some(9));
    }

    #[test]
    fn torn_tail_is_cut_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        log.append((0..3).map(|i| entry(1, i))).unwrap();
        let path = log.segment_path(0);
        drop(log);
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        fs::write(&path, &bytes).unwrap();
        let mut log = RaftLog::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(indexes(&log), vec![0, 1]);
        log.append([entry(2, 2)]).unwrap();
        drop(log);
        let log = RaftLog::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(log.last_log_id().map(|id| (id.leader_id.term, id.index)), Some((2, 2)));
    }

    #[test]
    fn damage_in_a_sealed_segment_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path(), 150, 1 << 20).unwrap();
        log.append((0..6).map(|i| entry(1, i))).unwrap();
        let path = log.segment_path(0);
        drop(log);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(RaftLog::open(dir.path(), 150, 1 << 20), Err(RaftLogError::Corrupt { .. })));
    }

    #[test]
    fn truncate_and_purge_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path(), 200, 1 << 20).unwrap();
        log.append((0..10).map(|i| entry(1, i))).unwrap();
        log.truncate(6).unwrap();
        log.append((6..8).map(|i| entry(2, i))).unwrap();
        log.purge(LogId::new(CommittedLeaderId::new(1, 1), 3)).unwrap();
        drop(log);
        let mut log = RaftLog::open(dir.path(), 200, 1 << 20).unwrap();
        assert_eq!(indexes(&log), vec![4, 5, 6, 7]);
        assert_eq!(log.entries(6..7)[0].log_id.leader_id.term, 2);
        assert_eq!(log.last_purged().map(|id| id.index), Some(3));
        assert!(matches!(log.append([entry(2, 9)]), Err(RaftLogError::OutOfOrder { index: 9, .. })));

        // A purge past the end (a snapshot was installed) empties the log; appends resume after it.
        log.purge(LogId::new(CommittedLeaderId::new(3, 1), 20)).unwrap();
        assert!(indexes(&log).is_empty());
        assert_eq!(log.last_log_id().map(|id| id.index), Some(20));
        log.append([entry(3, 21)]).unwrap();
        drop(log);
        let log = RaftLog::open(dir.path(), 200, 1 << 20).unwrap();
        assert_eq!(indexes(&log), vec![21]);
    }
}
