//! One segment of a partition log: `<base offset>.log` with its `.index` and `.timeindex`
//! (Kafka's `LogSegment`).
//!
//! The segment keeps in memory what appends and rolls need without touching the disk:
//! the next offset, the largest timestamp and the offset of its batch, the first batch's
//! timestamp (for `segment.ms`) and the bytes since the last index entry. [`LogSegment::load`]
//! and [`LogSegment::recover`] establish these from the files; appends keep them.
//!
//! Index entries are decided per batch by one rule, used alike by appends, recovery and
//! loading: a batch gets an offset index entry (its last offset, its position) when more
//! than `index.interval.bytes` of batches were added since the previous entry's batch,
//! and then the time index gets the segment's largest timestamp so far if it grew.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use spool_protocol::batch::{BatchHeader, BATCH_HEADER_LEN};
use tracing::warn;

use crate::background_flush::UnsyncedFile;
use crate::config::LogConfig;
use crate::error::{IoContext, LogError};
use crate::file_names::{offset_file_path, with_added_suffix, DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::file_records::{FileRecords, Scanned};
use crate::log_loader::remove_if_present;
use crate::file_slice::FileSlice;
use crate::offset_index::OffsetIndex;
use crate::time_index::TimeIndex;

/// Read size when scanning headers from an index entry to a target batch.
const LOOKUP_CHUNK_BYTES: usize = 16 * 1024;
/// Read size when walking the headers of the batches a fetch returns: one read covers
/// many small batches, and costs little next to one large batch.
const SLICE_SCAN_CHUNK_BYTES: usize = 4 * 1024;
/// Read size when validating whole segments; larger batches are checked by streaming.
const RECOVERY_CHUNK_BYTES: usize = 1024 * 1024;

/// Bytes cut from the end of a segment by recovery or loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Truncation {
    pub(crate) position: u64,
    pub(crate) bytes_removed: u64,
    pub(crate) reason: String,
}

/// What a read from one segment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentRead {
    /// Every batch from the target to the end of the segment was taken (`bytes` of
    /// them, possibly none); the read may continue in the next segment.
    Exhausted { bytes: usize },
    /// A limit was reached; the read is complete. `at_byte_limit`: the limit was
    /// `max_bytes`, with a batch left that the byte limit alone kept out, so more could
    /// be read than was.
    Stopped { at_byte_limit: bool },
}

enum Find {
    Found(u64, BatchHeader),
    NotFound,
    Bad { position: u64, reason: String },
}

/// The indexes and the running state that decides their entries. Separate from the
/// `.log` file so a scanner can borrow the file while this is updated.
struct SegmentIndexes {
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    next_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    first_batch_timestamp: Option<i64>,
    bytes_since_last_index_entry: u64,
    index_interval_bytes: u64,
}

impl SegmentIndexes {
    /// Accounts for the batch at `position`, adding index entries by the module's rule.
    fn on_batch(&mut self, position: u64, header: &BatchHeader) {
        if position == 0 {
            self.first_batch_timestamp = Some(header.max_timestamp);
        }
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            if let Ok(position) = u32::try_from(position) {
                self.offset_index.append(header.last_offset(), position);
                self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp, false);
            }
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += header.size() as u64;
        self.next_offset = header.last_offset() + 1;
    }

    /// Drops the entries of both indexes for offsets at or past `offset`.
    fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        self.offset_index.truncate_to(offset)?;
        self.time_index.truncate_to(offset)
    }

    /// Writes the entries both indexes hold in memory only.
    fn write_if_buffered(&mut self) -> Result<(), LogError> {
        self.offset_index.write_if_buffered()?;
        self.time_index.write_if_buffered()
    }
}

/// A segment (see the module docs).
pub(crate) struct LogSegment {
    base_offset: i64,
    log: FileRecords,
    indexes: SegmentIndexes,
    created_ms: i64,
}

impl LogSegment {
    /// Opens the three files without reading them; [`LogSegment::load`] or
    /// [`LogSegment::recover`] must follow before the segment is used.
    fn open_files(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64) -> Result<Self, LogError> {
        Self::open_files_named(dir, base_offset, config, now_ms, "")
    }

    /// [`LogSegment::open_files`] for files whose names end in `suffix` (see
    /// [`LogSegment::file_paths`]).
    fn open_files_named(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64, suffix: &str) -> Result<Self, LogError> {
        let [log_path, index_path, time_index_path] = Self::file_paths(dir, base_offset, suffix);
        let log = FileRecords::open(log_path)?;
        let index_bytes_max = config.segment_index_bytes;
        let offset_index = OffsetIndex::open(index_path, base_offset, index_bytes_max)?;
        let time_index = TimeIndex::open(time_index_path, base_offset, index_bytes_max)?;
        Ok(LogSegment {
            base_offset,
            log,
            indexes: SegmentIndexes {
                offset_index,
                time_index,
                next_offset: base_offset,
                max_timestamp: -1,
                offset_of_max_timestamp: base_offset,
                first_batch_timestamp: None,
                bytes_since_last_index_entry: 0,
                index_interval_bytes: config.index_interval_bytes,
            },
            created_ms: now_ms,
        })
    }

    /// Creates a new empty segment. Leftover empty files of the same name are reused.
    ///
    /// # Errors
    /// [`LogError::SegmentExists`] if a non-empty `.log` file is in the way; [`LogError::Io`].
    pub(crate) fn create(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64) -> Result<Self, LogError> {
        let path = offset_file_path(dir, base_offset, LOG_SUFFIX);
        match fs::metadata(&path) {
            Ok(meta) if meta.len() > 0 => return Err(LogError::SegmentExists { path }),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).at(&path),
        }
        let mut segment = Self::open_files(dir, base_offset, config, now_ms)?;
        segment.indexes.offset_index.reset()?;
        segment.indexes.time_index.reset()?;
        segment.preallocate_if_configured(config);
        Ok(segment)
    }

    /// Reserves `segment.bytes` of disk for the segment when `preallocate` is on (see
    /// [`FileRecords::preallocate`]); [`LogSegment::trim`] and
    /// [`LogSegment::on_become_inactive`] give back what was not used.
    pub(crate) fn preallocate_if_configured(&self, config: &LogConfig) {
        if config.preallocate {
            self.log.preallocate(config.segment_bytes_max());
        }
    }

    /// The `.log`, `.index` and `.timeindex` paths of the segment at `base_offset`, each
    /// with `suffix` added (`""` for a segment of the log).
    pub(crate) fn file_paths(dir: &Path, base_offset: i64, suffix: &str) -> [PathBuf; 3] {
        [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX].map(|kind| with_added_suffix(&offset_file_path(dir, base_offset, kind), suffix))
    }

    /// Creates an empty segment outside the log, its files named as the log's with
    /// `suffix` added (the cleaner writes a segment as `<base>.log.cleaned`,
    /// `<base>.index.cleaned` and `<base>.timeindex.cleaned`); files of those names are
    /// emptied. Appends build its indexes as they do for a segment of the log.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn create_staged(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64, suffix: &str) -> Result<Self, LogError> {
        let mut segment = Self::open_files_named(dir, base_offset, config, now_ms, suffix)?;
        segment.log.truncate_to(0)?;
        segment.indexes.offset_index.reset()?;
        segment.indexes.time_index.reset()?;
        Ok(segment)
    }

    /// Opens an existing segment whose data is trusted (written before the recovery
    /// point, or after a clean shutdown): indexes that fail their sanity checks are
    /// rebuilt by [`LogSegment::recover`]; otherwise only the batches after the last
    /// index entry are read (headers only), and a partial batch there is cut off.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn load(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64) -> Result<(Self, Option<Truncation>), LogError> {
        let mut segment = Self::open_files(dir, base_offset, config, now_ms)?;
        let truncation = segment.load_from_indexes(false)?;
        Ok((segment, truncation))
    }

    /// Opens an existing segment that holds batches written after the recovery point and
    /// validates them (header, length, CRC32C, increasing offsets), rebuilding the
    /// indexes from there and cutting the file at the first invalid batch.
    ///
    /// The batches below `recovery_point` were fsynced together with their index
    /// entries, so they are trusted as in a segment below the recovery point (see
    /// [`LogSegment::load`]): the index entries at or past the recovery point are
    /// dropped, and validation starts at the last entry left. Recovery thus reads what
    /// was written since the last flush, not the whole segment (Kafka validates every
    /// batch of the segment: up to 1 GiB per log, for logs that never rolled). If the
    /// indexes fail their checks, or `recovery_point` is at or below the segment's base
    /// offset, every batch is validated and the indexes are rebuilt.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn open_and_recover(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        recovery_point: i64,
    ) -> Result<(Self, Option<Truncation>), LogError> {
        let mut segment = Self::open_files(dir, base_offset, config, now_ms)?;
        let truncation = if recovery_point > base_offset {
            let indexes = &mut segment.indexes;
            indexes.truncate_to(recovery_point)?;
            // An earlier recovery may have rewritten the entries kept without a sync:
            // they are fsynced again with the recovered batches.
            indexes.offset_index.assume_unsynced();
            indexes.time_index.assume_unsynced();
            segment.load_from_indexes(true)?
        } else {
            segment.recover()?
        };
        Ok((segment, truncation))
    }

    /// Derives the running state from the indexes and the batches after the last offset
    /// index entry (CRC-checked with `verify`), or, if the indexes fail their checks,
    /// validates every batch and rebuilds them.
    fn load_from_indexes(&mut self, verify: bool) -> Result<Option<Truncation>, LogError> {
        if let Err(reason) = self.index_sanity()? {
            warn!(segment = %self.log.path().display(), %reason, "rebuilding the indexes of the segment");
            return self.recover();
        }
        let truncation = self.rescan_tail(verify)?;
        if let Some((_, offset)) = self.indexes.time_index.last_entry() {
            if offset >= self.indexes.next_offset {
                warn!(segment = %self.log.path().display(), "time index points past the end of the segment; rebuilding the indexes");
                return self.recover();
            }
        }
        Ok(truncation)
    }

    /// Checks the indexes against each other and the `.log` file, cheaply.
    fn index_sanity(&self) -> Result<Result<(), String>, LogError> {
        if let Err(reason) = self.indexes.offset_index.sanity_check() {
            return Ok(Err(reason));
        }
        if let Err(reason) = self.indexes.time_index.sanity_check() {
            return Ok(Err(reason));
        }
        let Some((entry_offset, position)) = self.indexes.offset_index.last_entry() else { return Ok(Ok(())) };
        if position >= self.log.size_bytes() {
            return Ok(Err(format!("last index entry points at byte {position}, past the end")));
        }
        match self.header_at(position)? {
            Scanned::Batch { header, .. } if header.base_offset >= self.base_offset && header.last_offset() <= entry_offset => {
                Ok(Ok(()))
            }
            other => Ok(Err(format!("last index entry ({entry_offset}, {position}) does not point at its batch: {other:?}"))),
        }
    }

    /// Re-validates the whole segment and rebuilds its indexes (see [`LogSegment::open_and_recover`]).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn recover(&mut self) -> Result<Option<Truncation>, LogError> {
        self.indexes.offset_index.reset()?;
        self.indexes.time_index.reset()?;
        self.reset_running_state(None);
        self.scan_from(0, true)
    }

    /// Re-derives the running state from the indexes and the batches after the last
    /// offset index entry (headers only, unless `verify`: then CRCs too).
    fn rescan_tail(&mut self, verify: bool) -> Result<Option<Truncation>, LogError> {
        let last_time_entry = self.indexes.time_index.last_entry();
        self.reset_running_state(last_time_entry);
        let position = self.indexes.offset_index.last_entry().map_or(0, |(_, position)| position);
        if position > 0 {
            if let Scanned::Batch { header, .. } = self.header_at(0)? {
                self.indexes.first_batch_timestamp = Some(header.max_timestamp);
            }
        }
        self.scan_from(position, verify)
    }

    /// The batch header at `position`, reading only the header.
    fn header_at(&self, position: u64) -> Result<Scanned, LogError> {
        self.log.scanner(position, BATCH_HEADER_LEN).next(false)
    }

    fn reset_running_state(&mut self, last_time_entry: Option<(i64, i64)>) {
        let (max_timestamp, offset) = last_time_entry.unwrap_or((-1, self.base_offset));
        let indexes = &mut self.indexes;
        indexes.next_offset = self.base_offset;
        indexes.max_timestamp = max_timestamp;
        indexes.offset_of_max_timestamp = offset;
        indexes.first_batch_timestamp = None;
        indexes.bytes_since_last_index_entry = 0;
    }

    /// Feeds every batch from `position` to the running state, cutting the file at the
    /// first batch that is invalid (or, with `verify`, fails its CRC).
    fn scan_from(&mut self, position: u64, verify: bool) -> Result<Option<Truncation>, LogError> {
        let chunk_bytes = if verify { RECOVERY_CHUNK_BYTES } else { LOOKUP_CHUNK_BYTES };
        let mut scanner = self.log.scanner(position, chunk_bytes);
        let mut min_offset = self.base_offset;
        let invalid = loop {
            match scanner.next(verify)? {
                Scanned::Batch { position, header } => {
                    if header.base_offset < min_offset || header.last_offset() - self.base_offset > i32::MAX as i64 {
                        let reason = format!(
                            "batch offsets {}..={} are not above {} or out of the segment's range",
                            header.base_offset,
                            header.last_offset(),
                            min_offset - 1
                        );
                        break Some((position, reason));
                    }
                    min_offset = header.last_offset() + 1;
                    self.indexes.on_batch(position, &header);
                }
                Scanned::Invalid { position, error } => break Some((position, error.to_string())),
                Scanned::End => break None,
            }
        };
        let truncation = match invalid {
            Some((position, reason)) => {
                let bytes_removed = self.log.size_bytes() - position;
                self.log.truncate_to(position)?;
                self.indexes.truncate_to(self.indexes.next_offset)?;
                Some(Truncation { position, bytes_removed, reason })
            }
            None => None,
        };
        self.indexes.write_if_buffered()?;
        Ok(truncation)
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// One past the last offset in the segment; the base offset while it is empty.
    pub(crate) fn next_offset(&self) -> i64 {
        self.indexes.next_offset
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.log.size_bytes() == 0
    }

    pub(crate) fn log_path(&self) -> &Path {
        self.log.path()
    }

    /// The largest batch max-timestamp in the segment, -1 if none has one.
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.indexes.max_timestamp
    }

    /// What retention compares with `retention.ms`: the largest timestamp, or the file's
    /// modification time when no batch carries a timestamp (as Kafka does).
    ///
    /// # Errors
    /// [`LogError::Io`] reading the modification time.
    pub(crate) fn largest_timestamp(&self) -> Result<i64, LogError> {
        if self.indexes.max_timestamp >= 0 {
            return Ok(self.indexes.max_timestamp);
        }
        self.log.last_modified_ms()
    }

    /// The max timestamp of the first batch, if the segment has a batch (Kafka's
    /// `getFirstBatchTimestamp`, used for `max.compaction.lag.ms`).
    pub(crate) fn first_batch_timestamp(&self) -> Option<i64> {
        self.indexes.first_batch_timestamp
    }

    /// Entries of the offset index (the log cleaner bounds merged segments' indexes).
    pub(crate) fn offset_index_entries(&self) -> usize {
        self.indexes.offset_index.len()
    }

    pub(crate) fn indexes_full(&self) -> bool {
        self.indexes.offset_index.is_full() || self.indexes.time_index.is_full()
    }

    /// How long the segment has been filling, for `segment.ms`: `message_timestamp`
    /// minus the first batch's max timestamp, or `now_ms` minus the segment's creation
    /// (or load) time when the first batch has no timestamp (Kafka's `timeWaitedForRoll`).
    pub(crate) fn time_waited_for_roll_ms(&self, now_ms: i64, message_timestamp: i64) -> i64 {
        match self.indexes.first_batch_timestamp {
            Some(first) if first >= 0 => message_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Appends whole batches whose headers (with their final offsets) are `batches`.
    ///
    /// # Errors
    /// [`LogError::Io`] if the `.log` write fails; nothing changed then. Once the batches
    /// are written the append has happened: a failed index write is only logged (the
    /// entries stay buffered and the next write or sync retries them).
    pub(crate) fn append(&mut self, records: &[u8], batches: &[BatchHeader]) -> Result<(), LogError> {
        let position = self.log.append(records)?;
        self.index_appended(position, batches);
        Ok(())
    }

    /// [`LogSegment::append`] of batches whose base offsets and partition leader epochs
    /// are those in `batches`, not those in `records` (a leader's append; see
    /// [`FileRecords::append_assigned`]).
    ///
    /// # Errors
    /// As [`LogSegment::append`].
    pub(crate) fn append_assigned(&mut self, records: &[u8], batches: &[BatchHeader]) -> Result<(), LogError> {
        let position = self.log.append_assigned(records, batches)?;
        self.index_appended(position, batches);
        Ok(())
    }

    /// Index entries for `batches`, just written from `position` on.
    fn index_appended(&mut self, mut position: u64, batches: &[BatchHeader]) {
        for header in batches {
            self.indexes.on_batch(position, header);
            position += header.size() as u64;
        }
        if let Err(error) = self.indexes.write_if_buffered() {
            warn!(segment = %self.log.path().display(), %error, "index write failed; will retry");
        }
    }

    /// Calls `f` with the header of every batch from the one containing `offset` to the
    /// end of the segment, in order.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] if the bytes on the way are not batches; [`LogError::Io`].
    pub(crate) fn for_each_batch_from(&self, offset: i64, mut f: impl FnMut(&BatchHeader)) -> Result<(), LogError> {
        let Some((position, _)) = self.find_batch(offset)? else { return Ok(()) };
        let mut scanner = self.log.scanner(position, RECOVERY_CHUNK_BYTES);
        loop {
            match scanner.next(false)? {
                Scanned::Batch { header, .. } => f(&header),
                Scanned::Invalid { position, error } => {
                    let path = self.log.path().to_path_buf();
                    return Err(LogError::CorruptSegment { path, position, reason: error.to_string() });
                }
                Scanned::End => return Ok(()),
            }
        }
    }

    /// The `.log` file, for the log cleaner, which reads inactive segments through
    /// [`FileRecords::try_clone_for_reading`] handles without the log.
    pub(crate) fn records(&self) -> &FileRecords {
        &self.log
    }

    /// The position and header of the first batch whose last offset is `>= target`.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] if the bytes on the way are not batches; [`LogError::Io`].
    pub(crate) fn find_batch(&self, target: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        if target >= self.indexes.next_offset {
            return Ok(None);
        }
        let (entry_offset, entry_position) = self.indexes.offset_index.lookup(target)?;
        // Position 0 means no entry applies (the first batch never gets one).
        let promised_last_offset = if entry_position == 0 { i64::MAX } else { entry_offset };
        let outcome = match self.scan_for(target, entry_position, promised_last_offset)? {
            Find::Bad { position, reason } if entry_position > 0 => {
                warn!(segment = %self.log.path().display(), position, %reason, "offset index entry is wrong; scanning the segment from its start");
                self.scan_for(target, 0, i64::MAX)?
            }
            outcome => outcome,
        };
        match outcome {
            Find::Found(position, header) => Ok(Some((position, header))),
            Find::NotFound => Ok(None),
            Find::Bad { position, reason } => {
                Err(LogError::CorruptSegment { path: self.log.path().to_path_buf(), position, reason })
            }
        }
    }

    /// Scans from `from` (whose batch must end at or before `entry_offset`) to the batch
    /// containing `target`.
    fn scan_for(&self, target: i64, from: u64, entry_offset: i64) -> Result<Find, LogError> {
        let mut scanner = self.log.scanner(from, LOOKUP_CHUNK_BYTES);
        let mut first = true;
        loop {
            match scanner.next(false)? {
                Scanned::Batch { position, header } => {
                    if first && (header.base_offset < self.base_offset || header.last_offset() > entry_offset) {
                        let reason = format!("batch {}..={} where the index promised one ending at or before {entry_offset}", header.base_offset, header.last_offset());
                        return Ok(Find::Bad { position, reason });
                    }
                    first = false;
                    if header.last_offset() >= target {
                        return Ok(Find::Found(position, header));
                    }
                }
                Scanned::Invalid { position, error } => return Ok(Find::Bad { position, reason: error.to_string() }),
                Scanned::End => return Ok(Find::NotFound),
            }
        }
    }

    /// Whole batches starting with the one containing `target`, as a slice of the file:
    /// stopping before a batch whose base offset is `>= max_offset` and before the slice
    /// would be longer than `max_bytes`, except that with `min_one_batch` the first
    /// batch is taken whole regardless of `max_bytes`. Only batch headers are read.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`]; [`LogError::Io`].
    pub(crate) fn slice(
        &self,
        target: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<(Option<FileSlice>, SegmentRead), LogError> {
        let Some((start, first)) = self.find_batch(target)? else {
            return Ok((None, SegmentRead::Exhausted { bytes: 0 }));
        };
        if first.base_offset >= max_offset {
            return Ok((None, SegmentRead::Stopped { at_byte_limit: false }));
        }
        let available = self.log.size_bytes() - start;
        let first_bytes = first.size() as u64;
        let limit = if min_one_batch { (max_bytes as u64).max(first_bytes) } else { max_bytes as u64 };
        let window = available.min(limit);
        if window < first_bytes {
            return Ok((None, SegmentRead::Stopped { at_byte_limit: true }));
        }
        let mut taken = first_bytes;
        // Headers are read up to the segment's end, so that the batch after the window
        // tells which limit stopped the read.
        let mut scanner = self.log.scanner_until(start + first_bytes, start + available, SLICE_SCAN_CHUNK_BYTES);
        let stop = loop {
            match scanner.next(false)? {
                Scanned::Batch { header, .. } if header.base_offset >= max_offset => break Some(false),
                Scanned::Batch { header, .. } if taken + header.size() as u64 > window => break Some(true),
                Scanned::Batch { header, .. } => taken += header.size() as u64,
                Scanned::End => break None,
                // Bad bytes, reported by the read that starts there: the slice ends here.
                Scanned::Invalid { .. } => break Some(false),
            }
        };
        let slice = self.log.slice(start, taken as usize);
        match stop {
            Some(at_byte_limit) => Ok((Some(slice), SegmentRead::Stopped { at_byte_limit })),
            None => Ok((Some(slice), SegmentRead::Exhausted { bytes: taken as usize })),
        }
    }

    /// The first record at an offset `>= start_offset` whose timestamp is `>= timestamp`,
    /// as (offset, timestamp) (Kafka's `findOffsetByTimestamp`). Starts at the time
    /// index's entry for `timestamp` and decodes only the batch that holds the answer.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] if a batch on the way cannot be parsed or decoded.
    pub(crate) fn find_offset_by_timestamp(&self, timestamp: i64, start_offset: i64) -> Result<Option<(i64, i64)>, LogError> {
        if self.indexes.max_timestamp < timestamp {
            return Ok(None);
        }
        let indexed_offset = self.indexes.time_index.lookup(timestamp)?.map_or(self.base_offset, |(_, offset)| offset);
        let (_, position) = self.indexes.offset_index.lookup(indexed_offset.max(start_offset))?;
        let mut scanner = self.log.scanner(position, LOOKUP_CHUNK_BYTES);
        loop {
            match scanner.next(false)? {
                Scanned::Batch { position, header } if header.max_timestamp >= timestamp && header.last_offset() >= start_offset => {
                    if let Some(found) = self.find_in_batch(position, &header, start_offset, |t| t >= timestamp)? {
                        return Ok(Some(found));
                    }
                }
                Scanned::Batch { .. } => {}
                Scanned::Invalid { position, error } => return Err(self.corrupt(position, error.to_string())),
                Scanned::End => return Ok(None),
            }
        }
    }

    /// The segment's largest record timestamp among offsets `>= start_offset`, with the
    /// offset of the first record carrying it (KIP-734's max timestamp, and Kafka's
    /// `offsetOfMaxTimestamp` of the batch holding it); `None` if no such record has a
    /// timestamp.
    ///
    /// The segment tracks its largest batch max-timestamp and the batch that first
    /// reached it; only that batch is decoded. When `start_offset` falls inside the
    /// segment after the start of that batch (the log start moved by DeleteRecords), the
    /// batches from `start_offset` on are scanned instead, decoding the one that
    /// `start_offset` splits and the one holding the answer.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] if a batch on the way cannot be parsed or decoded;
    /// [`LogError::Io`].
    pub(crate) fn max_timestamp_and_offset(&self, start_offset: i64) -> Result<Option<(i64, i64)>, LogError> {
        let max_timestamp = self.indexes.max_timestamp;
        if max_timestamp < 0 || start_offset >= self.indexes.next_offset {
            return Ok(None);
        }
        let Some((position, header)) = self.find_batch(self.indexes.offset_of_max_timestamp)? else { return Ok(None) };
        if header.base_offset >= start_offset {
            return self.first_record_at_max_timestamp(position, &header).map(Some);
        }
        self.max_timestamp_and_offset_from(start_offset)
    }

    /// [`LogSegment::max_timestamp_and_offset`] by a scan of the batches from `start_offset`.
    fn max_timestamp_and_offset_from(&self, start_offset: i64) -> Result<Option<(i64, i64)>, LogError> {
        let Some((position, _)) = self.find_batch(start_offset)? else { return Ok(None) };
        let mut scanner = self.log.scanner(position, LOOKUP_CHUNK_BYTES);
        // The best so far: a record of the split batch, or a later batch (decoded at the end).
        let mut best_record: Option<(i64, i64)> = None;
        let mut best_batch: Option<(u64, BatchHeader)> = None;
        loop {
            let (position, header) = match scanner.next(false)? {
                Scanned::Batch { position, header } => (position, header),
                Scanned::Invalid { position, error } => return Err(self.corrupt(position, error.to_string())),
                Scanned::End => break,
            };
            let best_timestamp = match (best_batch, best_record) {
                (Some((_, batch)), _) => batch.max_timestamp,
                (None, Some((timestamp, _))) => timestamp,
                (None, None) => -1,
            };
            if header.max_timestamp <= best_timestamp {
                continue;
            }
            if header.base_offset >= start_offset {
                best_batch = Some((position, header));
            } else {
                // The batch `start_offset` splits (the first one): only its records from
                // `start_offset` count; take the first with the largest timestamp.
                let mut found: Option<(i64, i64)> = None;
                for record in self.decode_batch(position, &header)?.iter().filter(|r| r.offset >= start_offset) {
                    let timestamp = if header.is_log_append_time() { header.max_timestamp } else { record.timestamp };
                    if timestamp > found.map_or(best_timestamp, |(t, _)| t) {
                        found = Some((timestamp, record.offset));
                    }
                }
                if found.is_some() {
                    best_record = found;
                }
            }
        }
        match best_batch {
            Some((position, header)) => self.first_record_at_max_timestamp(position, &header).map(Some),
            None => Ok(best_record),
        }
    }

    /// (max timestamp, offset of the first record carrying it) of the batch at `position`.
    fn first_record_at_max_timestamp(&self, position: u64, header: &BatchHeader) -> Result<(i64, i64), LogError> {
        let max_timestamp = header.max_timestamp;
        let found = self.find_in_batch(position, header, header.base_offset, |t| t == max_timestamp)?;
        // A batch whose header promises a timestamp no record has: fall back to its last
        // offset (what Kafka answered before KAFKA-16310).
        Ok(found.map_or((max_timestamp, header.last_offset()), |(offset, timestamp)| (timestamp, offset)))
    }

    /// The first record of the batch at `position` at an offset `>= min_offset` whose
    /// timestamp satisfies `matches`, as (offset, timestamp).
    fn find_in_batch(
        &self,
        position: u64,
        header: &BatchHeader,
        min_offset: i64,
        matches: impl Fn(i64) -> bool,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if header.is_log_append_time() {
            // Every record of the batch carries the batch's max timestamp.
            let first = header.base_offset.max(min_offset);
            let found = matches(header.max_timestamp) && first <= header.last_offset();
            return Ok(found.then_some((first, header.max_timestamp)));
        }
        let records = self.decode_batch(position, header)?;
        Ok(records.iter().find(|r| r.offset >= min_offset && matches(r.timestamp)).map(|r| (r.offset, r.timestamp)))
    }

    /// The records of the batch at `position`, decoded (and decompressed).
    fn decode_batch(&self, position: u64, header: &BatchHeader) -> Result<Vec<kafka_protocol::records::Record>, LogError> {
        let mut buf = vec![0u8; header.size()];
        self.log.read_exact_at(&mut buf, position)?;
        let mut bytes = Bytes::from(buf);
        let set = RecordBatchDecoder::decode(&mut bytes)
            .map_err(|e| self.corrupt(position, format!("cannot decode batch: {e}")))?;
        Ok(set.records)
    }

    fn corrupt(&self, position: u64, reason: String) -> LogError {
        LogError::CorruptSegment { path: self.log.path().to_path_buf(), position, reason }
    }

    /// Removes every batch whose last offset is `>= offset` (so the batch containing
    /// `offset` goes whole). Returns the bytes removed.
    ///
    /// # Errors
    /// [`LogError::Io`]; [`LogError::CorruptSegment`] if the batch cannot be found.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<u64, LogError> {
        let Some((position, _)) = self.find_batch(offset)? else { return Ok(0) };
        let bytes_removed = self.log.size_bytes() - position;
        self.indexes.truncate_to(offset)?;
        self.log.truncate_to(position)?;
        if let Some(truncation) = self.rescan_tail(false)? {
            warn!(segment = %self.log.path().display(), ?truncation, "cut an invalid batch found while truncating");
        }
        Ok(bytes_removed)
    }

    /// Called when a newer segment becomes the active one: records the final time index
    /// entry (the segment's largest timestamp) and drops bytes of failed appends and
    /// disk reserved past the end.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn on_become_inactive(&mut self) -> Result<(), LogError> {
        let indexes = &mut self.indexes;
        indexes.time_index.maybe_append(indexes.max_timestamp, indexes.offset_of_max_timestamp, true);
        self.log.trim()
    }

    /// Makes a segment that is not the active one ready to stay as it is: adds the final
    /// time index entry if missing, writes and fsyncs index entries that changed (e.g. a
    /// rebuild), and keeps only the last index entries in memory.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn seal(&mut self) -> Result<(), LogError> {
        self.on_become_inactive()?;
        self.release_memory()?;
        self.indexes.offset_index.sync()?;
        self.indexes.time_index.sync()
    }

    /// fsyncs the `.log` file and both indexes (each only if written since its last sync).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        self.log.sync()?;
        self.indexes.offset_index.sync()?;
        self.indexes.time_index.sync()
    }

    /// The files [`LogSegment::sync`] would fsync, through descriptors of their own, for
    /// an fsync that runs without the log (see `background_flush`).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn unsynced_files(&mut self) -> Result<Vec<UnsyncedFile>, LogError> {
        let files = [self.log.unsynced_file()?, self.indexes.offset_index.unsynced_file()?, self.indexes.time_index.unsynced_file()?];
        Ok(files.into_iter().flatten().collect())
    }

    /// Drops bytes past the in-memory size left by a failed append, and disk reserved
    /// past it.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn trim(&mut self) -> Result<(), LogError> {
        self.log.trim()
    }

    /// Keeps only the last index entries in memory (for segments that no longer grow).
    ///
    /// # Errors
    /// [`LogError::Io`] writing buffered entries.
    pub(crate) fn release_memory(&mut self) -> Result<(), LogError> {
        self.indexes.offset_index.release_memory()?;
        self.indexes.time_index.release_memory()
    }

    /// Deletes the segment: its files are renamed with the suffix `.deleted` (the `.log`
    /// first, so a crash part way leaves no segment behind, only files that the next
    /// open removes), and the new names are returned for
    /// [`crate::deletion::remove_in_background`] to remove: freeing a large file is slow,
    /// and the caller holds the log.
    ///
    /// # Errors
    /// [`LogError::Io`]; the files renamed so far are removed by the next open.
    pub(crate) fn delete(self) -> Result<Vec<PathBuf>, LogError> {
        let dir = self.log.path().parent().map(Path::to_path_buf).unwrap_or_default();
        let base_offset = self.base_offset;
        drop(self);
        Self::rename_files_for_deletion(&dir, base_offset)
    }

    /// Renames the files of the segment at `base_offset` in `dir` for deletion (see
    /// [`LogSegment::delete`]) and returns their new names; files that are missing are
    /// skipped.
    fn rename_files_for_deletion(dir: &Path, base_offset: i64) -> Result<Vec<PathBuf>, LogError> {
        let mut renamed = Vec::with_capacity(3);
        for path in Self::file_paths(dir, base_offset, "") {
            let deleted = with_added_suffix(&path, DELETED_SUFFIX);
            match fs::rename(&path, &deleted) {
                Ok(()) => renamed.push(deleted),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(&path),
            }
        }
        Ok(renamed)
    }

    /// Deletes the files of the segment at `base_offset` in `dir` now (opening a log:
    /// nothing waits on it), renamed first as by [`LogSegment::delete`].
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn delete_files(dir: &Path, base_offset: i64) -> Result<(), LogError> {
        Self::rename_files_for_deletion(dir, base_offset)?.iter().try_for_each(|path| remove_if_present(path))
    }
}
