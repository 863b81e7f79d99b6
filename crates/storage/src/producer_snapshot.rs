//! Producer-state snapshots: `<offset>.snapshot` (Kafka's producer snapshot files).
//!
//! A snapshot holds the idempotent-producer state after every batch below `offset`, so
//! a restart replays only the batches from `offset` to the log end. One is written when
//! a segment rolls (named by the new segment's base offset), on clean shutdown and after
//! an open that replayed batches (named by the log end; after a crash, once the
//! recovered batches are fsynced); the two newest are kept.
//!
//! Layout (big-endian):
//!
//! ```text
//! offset  size  field
//!      0     2  version = 1
//!      2     4  CRC32C of every byte after this field
//!      6     8  offset (equals the one in the file name)
//!     14     4  producer count
//!     18     …  producers, each:
//!                 8  producer id
//!                 2  producer epoch
//!                 8  last timestamp
//!                 1  retained batch count (0..=5)
//!                 …  batches, each 32 bytes:
//!                      4 first sequence, 4 last sequence,
//!                      8 first offset, 8 last offset, 8 max timestamp
//! ```
//!
//! Crash behaviour: snapshots are written to a temporary file, fsynced and renamed, so a
//! snapshot is complete or absent. One that fails its CRC or does not parse is deleted
//! and an older one (or an empty state plus a replay of the whole log) is used. Snapshots
//! above the recovered log end describe batches that are gone and are deleted.

use std::collections::VecDeque;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::atomic_write::replace_file;
use crate::error::{IoContext, LogError};
use crate::file_names::{offset_file_path, parse_offset_file_name, SNAPSHOT_SUFFIX};
use crate::producer_state::{BatchMetadata, ProducerStateEntry, ProducerStateManager, RETAINED_BATCHES};

const VERSION: u16 = 1;
const HEADER_BYTES: usize = 18;
const PRODUCER_BYTES: usize = 19;
const BATCH_BYTES: usize = 32;

/// Snapshot files kept in a partition directory.
pub(crate) const SNAPSHOTS_KEPT: usize = 2;

pub(crate) fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    offset_file_path(dir, offset, SNAPSHOT_SUFFIX)
}

/// Offsets of the snapshot files in `dir`, ascending.
///
/// # Errors
/// [`LogError::Io`] listing the directory.
pub(crate) fn list_snapshots(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if let Some(offset) = entry.file_name().to_str().and_then(|n| parse_offset_file_name(n, SNAPSHOT_SUFFIX)) {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Deletes the snapshot at `offset`, if present.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn delete_snapshot(dir: &Path, offset: i64) -> Result<(), LogError> {
    let path = snapshot_path(dir, offset);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e).at(&path),
        _ => Ok(()),
    }
}

/// Writes the snapshot of `state` at `offset` (durable once the directory is synced) and
/// deletes all but the [`SNAPSHOTS_KEPT`] newest snapshots.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn write_snapshot(dir: &Path, offset: i64, state: &ProducerStateManager) -> Result<(), LogError> {
    replace_file(&snapshot_path(dir, offset), &encode(offset, state))?;
    let offsets = list_snapshots(dir)?;
    for old in &offsets[..offsets.len().saturating_sub(SNAPSHOTS_KEPT)] {
        delete_snapshot(dir, *old)?;
    }
    Ok(())
}

/// Reads the snapshot at `offset`.
///
/// # Errors
/// [`LogError::CorruptCheckpoint`] if it fails its checks; [`LogError::Io`].
pub(crate) fn read_snapshot(dir: &Path, offset: i64) -> Result<ProducerStateManager, LogError> {
    let path = snapshot_path(dir, offset);
    let bytes = fs::read(&path).at(&path)?;
    decode(offset, &bytes).map_err(|reason| LogError::CorruptCheckpoint { path, reason })
}

fn encode(offset: i64, state: &ProducerStateManager) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + state.len() * (PRODUCER_BYTES + RETAINED_BATCHES * BATCH_BYTES));
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&(state.len() as u32).to_be_bytes());
    let mut producers: Vec<_> = state.entries().collect();
    producers.sort_unstable_by_key(|(id, _)| **id);
    for (producer_id, entry) in producers {
        body.extend_from_slice(&producer_id.to_be_bytes());
        body.extend_from_slice(&entry.epoch.to_be_bytes());
        body.extend_from_slice(&entry.last_timestamp.to_be_bytes());
        body.push(entry.batches.len() as u8);
        for batch in &entry.batches {
            body.extend_from_slice(&batch.first_seq.to_be_bytes());
            body.extend_from_slice(&batch.last_seq.to_be_bytes());
            body.extend_from_slice(&batch.first_offset.to_be_bytes());
            body.extend_from_slice(&batch.last_offset.to_be_bytes());
            body.extend_from_slice(&batch.max_timestamp.to_be_bytes());
        }
    }
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A cursor over the snapshot bytes that reports running out instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.bytes.len() < N {
            return Err("snapshot is truncated".into());
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[..N]);
        self.bytes = &self.bytes[N..];
        Ok(out)
    }
    fn i16(&mut self) -> Result<i16, String> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.take().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.take().map(i64::from_be_bytes)
    }
}

fn decode(offset: i64, bytes: &[u8]) -> Result<ProducerStateManager, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!("snapshot of {} bytes is shorter than its header", bytes.len()));
    }
    let version = u16::from_be_bytes([bytes[0], bytes[1]]);
    if version != VERSION {
        return Err(format!("unknown snapshot version {version}"));
    }
    let stored = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let computed = crc32c::crc32c(&bytes[6..]);
    if stored != computed {
        return Err(format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"));
    }
    let mut reader = Reader { bytes: &bytes[6..] };
    let stored_offset = reader.i64()?;
    if stored_offset != offset {
        return Err(format!("snapshot holds offset {stored_offset}, its name says {offset}"));
    }
    let count = u32::from_be_bytes(reader.take()?) as usize;
    // Each producer takes at least PRODUCER_BYTES: bound the count before allocating.
    if count > reader.bytes.len() / PRODUCER_BYTES {
        return Err(format!("snapshot claims {count} producers in {} bytes", reader.bytes.len()));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let producer_id = reader.i64()?;
        let epoch = reader.i16()?;
        let last_timestamp = reader.i64()?;
        let [batch_count] = reader.take::<1>()?;
        if batch_count as usize > RETAINED_BATCHES {
            return Err(format!("producer {producer_id} has {batch_count} batches"));
        }
        let mut batches = VecDeque::with_capacity(RETAINED_BATCHES);
        for _ in 0..batch_count {
            batches.push_back(BatchMetadata {
                first_seq: reader.i32()?,
                last_seq: reader.i32()?,
                first_offset: reader.i64()?,
                last_offset: reader.i64()?,
                max_timestamp: reader.i64()?,
            });
        }
        entries.push((producer_id, ProducerStateEntry { epoch, batches, last_timestamp }));
    }
    if !reader.bytes.is_empty() {
        return Err(format!("{} unexpected bytes after the producers", reader.bytes.len()));
    }
    Ok(ProducerStateManager::from_entries(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spool_protocol::batch::BatchHeader;

    fn state() -> ProducerStateManager {
        let mut state = ProducerStateManager::default();
        for (i, producer_id) in [5i64, 9, 5, 5].into_iter().enumerate() {
            state.apply_replicated(&BatchHeader {
                base_offset: i as i64 * 10,
                batch_length: 100,
                partition_leader_epoch: 0,
                magic: 2,
                crc: 0,
                attributes: 0,
                last_offset_delta: 9,
                base_timestamp: 0,
                max_timestamp: 100 + i as i64,
                producer_id,
                producer_epoch: 2,
                base_sequence: i as i32 * 10,
                record_count: 10,
            });
        }
        state
    }

    #[test]
    fn round_trips_and_keeps_two_newest() {
        let dir = tempfile::tempdir().unwrap();
        let state = state();
        for offset in [10, 20, 40] {
            write_snapshot(dir.path(), offset, &state).unwrap();
        }
        assert_eq!(list_snapshots(dir.path()).unwrap(), vec![20, 40]);
        assert_eq!(read_snapshot(dir.path(), 40).unwrap(), state);
        assert_eq!(read_snapshot(dir.path(), 40).unwrap().get(5).unwrap().batches.len(), 3);
    }

    #[test]
    fn damaged_snapshots_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_snapshot(dir.path(), 7, &state()).unwrap();
        let path = snapshot_path(dir.path(), 7);
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[30] ^= 0x40;
        for bad in [flipped, good[..good.len() - 3].to_vec(), good[..4].to_vec()] {
            fs::write(&path, &bad).unwrap();
            assert!(matches!(read_snapshot(dir.path(), 7), Err(LogError::CorruptCheckpoint { .. })));
        }
        fs::write(snapshot_path(dir.path(), 8), &good).unwrap();
        let err = read_snapshot(dir.path(), 8).unwrap_err();
        assert!(err.to_string().contains("its name says 8"), "{err}");
    }
}
