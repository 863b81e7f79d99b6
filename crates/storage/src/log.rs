//! The partition log: an ordered set of segments with one active segment at the end
//! (Kafka's `UnifiedLog` + `LocalLog`).
//!
//! ```text
//!  log start                                                  log end (next offset)
//!  v                                                                  v
//!  [ 00000000000000000000.log ][ 00000000000000000120.log ][ …340.log (active) ]
//!  ^ retention deletes here     flushed up to the recovery point ^   appends here
//! ```
//!
//! Invariants: there is always at least one segment, and the last one is the active
//! segment; the log end offset is the active segment's next offset; the log start
//! offset lies between the first segment's base offset and the log end (above the base
//! only after DeleteRecords); the recovery point lies between the first segment's base
//! offset and the log end, and every batch below it is fsynced together with its index
//! entries; the leader epoch cache has no entry at or past the log end, and its first
//! entry does not start below the log start.

mod cleaner;
mod leader_epochs;
mod log_start;
mod retention;
mod timestamp_lookup;
mod truncation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use spool_protocol::batch::{BatchError, BatchHeader, Batches};
use tracing::warn;

use crate::atomic_write::sync_dir;
use crate::background_flush::{BackgroundFlush, UnsyncedFile};
use crate::clean_shutdown::{clear_clean_mark, mark_clean};
use crate::config::LogConfig;
use crate::deletion::{remove_in_background, rename_dir_for_deletion};
use crate::error::{AppendError, LogError, ReadError};
use crate::file_slice::LogSlices;
use crate::leader_epoch_cache::LeaderEpochCache;
use crate::log_loader;
use crate::producer_snapshot::{delete_snapshot, list_snapshots, read_snapshot, write_snapshot};
use crate::producer_state::{LeaderAppendCheck, ProducerStateManager};
use crate::recovery_checkpoint::write_recovery_point;
use crate::segment::{LogSegment, SegmentRead};

pub use cleaner::{CleanableRange, CleanedSegments, CleanerStats, CleaningCommit, CleaningPlan};

/// Where an append's final base offsets and partition leader epochs are.
#[derive(Clone, Copy)]
enum Assigned {
    /// In the batches' bytes (a follower copies its leader's).
    InRecords,
    /// In the parsed headers only (the leader assigned them).
    ByLeader,
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended (for a duplicate: of the original batch).
    pub first_offset: i64,
    /// Offset of the last record appended (for a duplicate: of the original batch).
    pub last_offset: i64,
    /// Largest batch max-timestamp of the append, -1 if none.
    pub max_timestamp: i64,
    /// Records actually written: 0 for a duplicate.
    pub record_count: i64,
    /// The append repeated a batch an idempotent producer had already written: nothing
    /// was written and the offsets are the original ones.
    pub duplicate: bool,
    /// The log start offset after the append (a produce response reports it).
    pub log_start_offset: i64,
}

/// One partition's log on disk (see the module docs).
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Never empty; the last entry is the active segment.
    segments: BTreeMap<i64, LogSegment>,
    /// The first offset a reader may fetch (see the module invariants).
    log_start_offset: i64,
    /// The offset in `log-start-offset-checkpoint`; `None` if it is absent or unreadable.
    checkpointed_log_start_offset: Option<i64>,
    /// Which leader epoch wrote which offsets; as on disk unless `leader_epochs_unsaved`.
    leader_epochs: LeaderEpochCache,
    /// The cache has entries the checkpoint file lacks. They are written (and fsynced)
    /// before the recovery point next advances: entries past the recovery point are
    /// derived again from batch headers after a crash, so the append path need not
    /// fsync a file per new epoch (Kafka's KAFKA-15046).
    leader_epochs_unsaved: bool,
    recovery_point: i64,
    /// The recovery point last written to the checkpoint file.
    checkpointed_recovery_point: i64,
    producers: ProducerStateManager,
    last_flush_ms: i64,
    /// The latest `now_ms` the log was given, for calls that take none.
    clock_ms: i64,
    /// Truncations so far: a cleaning planned before one gives up (see `cleaner`), and
    /// so does the result of a background flush.
    truncations: u64,
    /// The fsync of the segments below the active one, started at the last roll (or of
    /// the recovered segments, started by the first [`Log::flush_if_due`] after the log
    /// was opened after a crash).
    background_flush: Option<BackgroundFlush>,
    /// Where the fsync of what recovery checked after a crash stands.
    recovery_flush: RecoveryFlush,
    /// Why the log is offline (a data fsync failed; see [`LogError::Offline`]): reads,
    /// appends and flushes are refused, and the recovery point never moves again.
    offline: Option<String>,
    /// Told when the log goes offline (see [`Log::on_offline`]).
    offline_hook: Option<OfflineHook>,
}

/// The fsync of the batches recovery checked after a crash, which nothing else made
/// durable: until it is done the recovery point cannot move, and each later crash would
/// re-check them (Kafka leaves it so until the next flush, by default the next roll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecoveryFlush {
    /// Nothing to do: the log was shut down cleanly, or this is done.
    Idle,
    /// To start at the next [`Log::flush_if_due`], not in [`Log::open`]: while a broker
    /// opens its logs one after another, the writeback these fsyncs force (all a crash
    /// left dirty) would hold up the directory fsync each open makes, and with it the
    /// broker's start (measured: 1,000 logs, kill -9 right after 1 GB was written: opened
    /// in 0.9 s instead of 3.1 to 4.2 s).
    Due,
    /// Running as the log's background flush. The first [`Log::flush_if_due`] after it
    /// finished checkpoints the recovery point and snapshots the producer state at the
    /// log end, so that the next open replays only the batches after it: without that
    /// snapshot, a log that never rolls would replay its whole active segment after
    /// every crash. (Kafka writes it at the end of loading; here the snapshot's fsync
    /// stays off the broker's start, like the recovery flush's.)
    Running,
}

/// What [`Log::on_offline`] calls when the log goes offline: with the log's directory
/// and why (the failed fsync).
pub type OfflineHook = std::sync::Arc<dyn Fn(&Path, &str) + Send + Sync>;

impl Log {
    /// Opens (creating if missing) the partition directory and recovers it: removes
    /// leftover files, validates every batch written after the recovery point unless the
    /// last shutdown was clean, truncates a torn tail, rebuilds bad indexes and the
    /// idempotent-producer state, restores the log start offset and validates the leader
    /// epoch cache against the recovered log (rebuilding it from batch headers if its
    /// checkpoint is missing or damaged). An empty directory is an empty log starting at
    /// offset 0.
    ///
    /// # Errors
    /// [`LogError::Io`] when a file operation fails. Damaged data is not an error: it
    /// is cut off and reported with `tracing::warn`.
    pub fn open(dir: impl Into<PathBuf>, config: LogConfig, now_ms: i64) -> Result<Log, LogError> {
        let dir = dir.into();
        let loaded = log_loader::load(&dir, &config, now_ms)?;
        let mut log = Log {
            dir,
            config,
            segments: loaded.segments,
            log_start_offset: 0,
            checkpointed_log_start_offset: None,
            leader_epochs: LeaderEpochCache::default(),
            leader_epochs_unsaved: false,
            recovery_point: loaded.recovery_point,
            checkpointed_recovery_point: loaded.checkpointed_recovery_point.unwrap_or(-1),
            producers: ProducerStateManager::default(),
            last_flush_ms: now_ms,
            clock_ms: now_ms,
            truncations: 0,
            background_flush: None,
            recovery_flush: RecoveryFlush::Idle,
            offline: None,
            offline_hook: None,
        };
        log.load_log_start_offset()?;
        let replayed = log.rebuild_producer_state()?;
        log.load_leader_epochs(loaded.had_clean_shutdown)?;
        // A checkpoint past the recovered log end must not outlive this open: appends
        // below it would count as flushed. A missing (or unreadable) one already means
        // "recover everything"; the next flush writes it.
        if loaded.checkpointed_recovery_point.is_some_and(|c| c != log.recovery_point) {
            log.write_checkpoint()?;
        }
        // From here on the log may be written: a crash must not look clean.
        clear_clean_mark(&log.dir)?;
        sync_dir(&log.dir)?;
        log.active().preallocate_if_configured(&log.config);
        if log.recovery_point < log.log_end_offset() {
            log.recovery_flush = RecoveryFlush::Due;
        } else if replayed {
            // Kafka takes a snapshot at the end of loading, so that the next open
            // replays from here (after a crash, this waits for the recovery flush).
            write_snapshot(&log.dir, log.log_end_offset(), &log.producers)?;
        }
        tracing::debug!(
            dir = %log.dir.display(),
            clean = loaded.had_clean_shutdown,
            log_start_offset = log.log_start_offset(),
            log_end_offset = log.log_end_offset(),
            segments = log.segments.len(),
            "opened log"
        );
        Ok(log)
    }

    /// Has `hook` called once, when this log goes offline: a failed fsync means the disk
    /// under it failed, which its owner (the broker) must act on, not only the clients
    /// of this partition. Called under the log's lock: the hook must not take it.
    pub fn on_offline(&mut self, hook: OfflineHook) {
        self.offline_hook = Some(hook);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration. Size and time limits apply from the next append,
    /// roll or retention check; `segment.index.bytes` from the next new segment.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// The first offset readers may fetch: the first segment's base offset, or an offset
    /// inside the first segment after [`Log::advance_log_start_offset`].
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The base offset of the first segment: where the data on disk starts.
    fn first_segment_base(&self) -> i64 {
        self.segments.keys().next().copied().unwrap_or(0)
    }

    /// The offset the next record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    /// Every batch below this offset is fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Total bytes of the segments' `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(LogSegment::size_bytes).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    fn active(&self) -> &LogSegment {
        self.segments.values().next_back().expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments.values_mut().next_back().expect("a log always has a segment")
    }

    /// Base offset of the segment that contains `offset`, or of the first segment.
    fn floor_base(&self, offset: i64) -> i64 {
        self.segments.range(..=offset).next_back().map_or(self.first_segment_base(), |(base, _)| *base)
    }

    fn observe(&mut self, now_ms: i64) {
        self.clock_ms = self.clock_ms.max(now_ms);
    }

    /// Appends a produce request's record set as the partition leader: assigns offsets
    /// from the log end and `leader_epoch` as each batch's partition leader epoch (written
    /// in place of the ones in `records`, which is not changed), checks idempotent
    /// producers' sequences, records a new epoch in the leader epoch cache, writes the
    /// bytes, rolls the segment first if needed, and fsyncs when `flush.messages` records
    /// are unflushed. `records` must have been validated
    /// (`spool_protocol::batch::validate_record_set`); CRCs are not rechecked.
    ///
    /// # Errors
    /// [`AppendError::InvalidRecords`] if `records` is not whole batches;
    /// [`AppendError::RecordSetTooLarge`]; the idempotence errors
    /// ([`AppendError::OutOfOrderSequence`], [`AppendError::InvalidProducerEpoch`],
    /// [`AppendError::InvalidSequence`]), which write nothing; [`AppendError::Log`] on I/O.
    /// A duplicate is not an error: see [`AppendInfo::duplicate`].
    pub fn append_as_leader(&mut self, records: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo, AppendError> {
        self.observe(now_ms);
        let mut batches = parse_record_set(records)?;
        self.check_record_set_size(records.len())?;
        let mut next_offset = self.log_end_offset();
        for batch in &mut batches {
            batch.base_offset = next_offset;
            batch.partition_leader_epoch = leader_epoch;
            next_offset = batch.last_offset() + 1;
        }
        let updates = match self.producers.check_leader_append(&batches)? {
            LeaderAppendCheck::Duplicate(original) => {
                return Ok(AppendInfo {
                    first_offset: original.first_offset,
                    last_offset: original.last_offset,
                    max_timestamp: original.max_timestamp,
                    record_count: 0,
                    duplicate: true,
                    log_start_offset: self.log_start_offset,
                })
            }
            LeaderAppendCheck::Accept(updates) => updates,
        };
        self.assign_leader_epochs(batches.first().map(|b| (leader_epoch, b.base_offset)))?;
        let info = self.append_batches(records, &batches, Assigned::ByLeader, now_ms)?;
        self.producers.apply(updates);
        self.flush_if_too_many_unflushed()?;
        Ok(info)
    }

    /// Appends batches that already carry offsets, as a follower copying its leader.
    /// Every batch's base offset must be at least the log end and above the previous
    /// batch's last offset. Producer state is updated without checks; the leader epoch
    /// cache records each batch's partition leader epoch where it changes. Time-based
    /// roll decisions use the latest `now_ms` given to any other call of this log.
    ///
    /// # Errors
    /// [`AppendError::OffsetsOutOfOrder`], [`AppendError::OffsetRangeTooLarge`],
    /// [`AppendError::InvalidRecords`], [`AppendError::RecordSetTooLarge`]; [`AppendError::Log`].
    pub fn append_as_follower(&mut self, records: &[u8]) -> Result<AppendInfo, AppendError> {
        let batches = parse_record_set(records)?;
        self.check_record_set_size(records.len())?;
        let mut expected_at_least = self.log_end_offset();
        for batch in &batches {
            if batch.base_offset < expected_at_least {
                return Err(AppendError::OffsetsOutOfOrder { offset: batch.base_offset, expected_at_least });
            }
            expected_at_least = batch.last_offset() + 1;
        }
        let (first_offset, last_offset) = (batches[0].base_offset, expected_at_least - 1);
        if last_offset - first_offset > i32::MAX as i64 {
            return Err(AppendError::OffsetRangeTooLarge { first_offset, last_offset });
        }
        self.assign_leader_epochs(batches.iter().map(|b| (b.partition_leader_epoch, b.base_offset)))?;
        let info = self.append_batches(records, &batches, Assigned::InRecords, self.clock_ms)?;
        batches.iter().for_each(|batch| self.producers.apply_replicated(batch));
        self.flush_if_too_many_unflushed()?;
        Ok(info)
    }

    fn check_record_set_size(&self, size_bytes: usize) -> Result<(), AppendError> {
        let max_bytes = self.config.segment_bytes_max();
        if size_bytes as u64 > max_bytes {
            return Err(AppendError::RecordSetTooLarge { size_bytes: size_bytes as u64, max_bytes });
        }
        Ok(())
    }

    /// Writes `records` (whose headers, with final offsets, are `batches`) to the active
    /// segment, rolling first if it is due.
    fn append_batches(&mut self, records: &[u8], batches: &[BatchHeader], assigned: Assigned, now_ms: i64) -> Result<AppendInfo, LogError> {
        self.finish_background_flush(false)?;
        self.check_online()?;
        let first_offset = batches.first().map_or(self.log_end_offset(), |b| b.base_offset);
        let last_offset = batches.last().map_or(first_offset - 1, BatchHeader::last_offset);
        let max_timestamp = batches.iter().map(|b| b.max_timestamp).max().unwrap_or(-1);
        self.maybe_roll_for_append(records.len() as u64, max_timestamp, first_offset, last_offset, now_ms)?;
        match assigned {
            Assigned::InRecords => self.active_mut().append(records, batches)?,
            Assigned::ByLeader => self.active_mut().append_assigned(records, batches)?,
        }
        let record_count = batches.iter().map(|b| b.record_count as i64).sum();
        let log_start_offset = self.log_start_offset;
        Ok(AppendInfo { first_offset, last_offset, max_timestamp, record_count, duplicate: false, log_start_offset })
    }

    /// Kafka's roll rule: roll a non-empty active segment when the append would make it
    /// exceed `segment.bytes`, when `segment.ms` has passed since its first batch's
    /// timestamp (measured with the new batches' timestamp), when an index is full, or
    /// when the new offsets do not fit its 32-bit relative offsets.
    fn maybe_roll_for_append(&mut self, size_bytes: u64, max_timestamp: i64, first_offset: i64, last_offset: i64, now_ms: i64) -> Result<(), LogError> {
        let active = self.active();
        let offsets_overflow = last_offset - active.base_offset() > i32::MAX as i64;
        if active.is_empty() {
            if offsets_overflow {
                self.replace_empty_active(first_offset, now_ms)?;
            }
            return Ok(());
        }
        let full = active.size_bytes() + size_bytes > self.config.segment_bytes_max();
        let aged = active.time_waited_for_roll_ms(now_ms, max_timestamp) > self.config.segment_ms;
        if full || aged || active.indexes_full() || offsets_overflow {
            self.roll(first_offset.max(self.log_end_offset()), now_ms)?;
        }
        Ok(())
    }

    /// Rolls the active segment when it is older than `segment.ms` (measured from its
    /// first batch's timestamp to `now_ms`). An empty active segment never rolls.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn maybe_roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.observe(now_ms);
        if self.offline.is_some() {
            return Ok(());
        }
        let active = self.active();
        if !active.is_empty() && active.time_waited_for_roll_ms(now_ms, now_ms) > self.config.segment_ms {
            self.roll(self.log_end_offset(), now_ms)?;
        }
        Ok(())
    }

    /// Starts a new active segment at `new_base` (>= the log end). The old one gets its
    /// final time index entry; a producer snapshot is written; the old segment and
    /// everything before it are fsynced on a thread of their own, as Kafka schedules
    /// that flush at every roll (see `background_flush`), and the recovery point moves
    /// to the old log end once they are durable. The recovery point checkpointed here
    /// is the one the previous roll's flush reached: recovery after a crash re-checks at
    /// most the last rolled segment and the active one.
    fn roll(&mut self, new_base: i64, now_ms: i64) -> Result<(), LogError> {
        self.check_online()?;
        let log_end = self.log_end_offset();
        debug_assert!(new_base >= log_end);
        self.active_mut().on_become_inactive()?;
        // One flush at a time: a log rolling faster than the disk writes waits here.
        self.finish_background_flush(true)?;
        self.last_flush_ms = self.last_flush_ms.max(now_ms);
        write_snapshot(&self.dir, log_end, &self.producers)?;
        if self.checkpointed_recovery_point != self.recovery_point {
            write_recovery_point(&self.dir, self.recovery_point)?;
            self.checkpointed_recovery_point = self.recovery_point;
        }
        let segment = LogSegment::create(&self.dir, new_base, &self.config, now_ms)?;
        sync_dir(&self.dir)?;
        self.active_mut().release_memory()?;
        let files = self.unsynced_files()?;
        self.segments.insert(new_base, segment);
        self.background_flush = Some(BackgroundFlush::start(files, log_end, self.truncations));
        tracing::debug!(dir = %self.dir.display(), new_base, "rolled a new segment");
        Ok(())
    }

    /// Starts fsyncing, in the background, the segments that recovery validated after a
    /// crash (see [`RecoveryFlush`]). The checkpoint follows at the next
    /// [`Log::flush_if_due`] once done.
    fn flush_recovered_segments(&mut self) -> Result<(), LogError> {
        let files = self.unsynced_files()?;
        self.background_flush = Some(BackgroundFlush::start(files, self.log_end_offset(), self.truncations));
        self.recovery_flush = RecoveryFlush::Running;
        Ok(())
    }

    /// Descriptors of the files written since their last fsync, of the segments from the
    /// one containing the recovery point on, for a [`BackgroundFlush`].
    fn unsynced_files(&mut self) -> Result<Vec<UnsyncedFile>, LogError> {
        let from = self.floor_base(self.recovery_point);
        let mut files = Vec::new();
        for segment in self.segments.range_mut(from..).map(|(_, s)| s) {
            files.extend(segment.unsynced_files()?);
        }
        Ok(files)
    }

    /// Applies the result of the background flush of rolled segments if it is done (or,
    /// with `wait`, once it is): the recovery point moves up to the segments it made
    /// durable, unless a truncation came in between. A failed flush leaves the recovery
    /// point where it was (the files are synced again by the next flush) and is returned.
    ///
    /// # Errors
    /// [`LogError::Io`] from the flush or from saving the leader epoch cache.
    pub fn finish_background_flush(&mut self, wait: bool) -> Result<(), LogError> {
        let Some(flush) = self.background_flush.take_if(|f| wait || f.is_finished()) else {
            return Ok(());
        };
        let (up_to, truncations) = (flush.up_to, flush.truncations);
        flush.join().map_err(|e| self.go_offline(e))?;
        if truncations == self.truncations && up_to > self.recovery_point {
            // Epoch entries below the new recovery point are no longer derived again
            // from batch headers after a crash.
            self.save_leader_epochs_if_unsaved()?;
            self.recovery_point = up_to.min(self.log_end_offset());
        }
        Ok(())
    }

    /// Replaces an empty active segment by one at `new_base` (a follower append whose
    /// offsets the current base cannot address).
    fn replace_empty_active(&mut self, new_base: i64, now_ms: i64) -> Result<(), LogError> {
        let old_base = self.active().base_offset();
        if old_base == new_base {
            return Ok(());
        }
        let segment = LogSegment::create(&self.dir, new_base, &self.config, now_ms)?;
        self.segments.insert(new_base, segment);
        let old = self.segments.remove(&old_base).into_iter().collect();
        Self::delete_segments(old)?;
        self.log_start_offset = self.log_start_offset.max(self.first_segment_base());
        sync_dir(&self.dir)
    }

    /// Deletes `segments`, already out of the map: their files are renamed at once and
    /// removed on a thread of their own (see `deletion`), so the log is not held while
    /// the file system frees them.
    ///
    /// # Errors
    /// The first [`LogError::Io`] from a rename; the other segments are still deleted.
    fn delete_segments(segments: Vec<LogSegment>) -> Result<(), LogError> {
        let mut renamed = Vec::new();
        let mut result = Ok(());
        for segment in segments {
            match segment.delete() {
                Ok(files) => renamed.extend(files),
                Err(e) => result = result.and(Err(e)),
            }
        }
        remove_in_background(renamed);
        result
    }

    /// Reads whole batches starting with the batch that contains `offset` (a read from
    /// the middle of a batch, or at a log start inside a batch, returns that whole
    /// batch), stopping before any batch whose base offset is `>= max_offset` (the high
    /// watermark, exclusive) and before the result would exceed `max_bytes`, except that
    /// with `min_one_batch` the first batch is returned whole even if it is larger
    /// (Kafka's KIP-74 rule). Reads continue into later segments. Reading at the log end
    /// returns no bytes.
    ///
    /// Memory: the result is at most `max(max_bytes, first batch size)`; callers bound
    /// `max_bytes` (`fetch.max.bytes`, `max.partition.fetch.bytes`).
    ///
    /// # Errors
    /// [`ReadError::OffsetOutOfRange`] when `offset` is below the log start or above the
    /// log end; [`ReadError::Log`] on I/O or corrupt data.
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one_batch: bool) -> Result<Bytes, ReadError> {
        let slices = self.read_slices(offset, max_bytes, max_offset, min_one_batch)?;
        slices.to_bytes().map_err(|source| ReadError::Log(LogError::Io { path: self.dir.clone(), source }))
    }

    /// [`Log::read`] without reading: the batches as slices of their segment files, for
    /// a fetch to send from the page cache (see [`LogSlices`]).
    ///
    /// # Errors
    /// As [`Log::read`].
    pub fn read_slices(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one_batch: bool) -> Result<LogSlices, ReadError> {
        self.check_online()?;
        let (log_start_offset, log_end_offset) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start_offset || offset > log_end_offset {
            return Err(ReadError::OffsetOutOfRange { offset, log_start_offset, log_end_offset });
        }
        let mut out = LogSlices::default();
        for segment in self.segments.range(self.floor_base(offset)..).map(|(_, s)| s) {
            let budget = max_bytes.saturating_sub(out.len());
            let min_one = min_one_batch && out.is_empty();
            let (slice, read) = segment.slice(offset, budget, max_offset, min_one)?;
            if let Some(slice) = slice.filter(|s| !s.is_empty()) {
                out.push(slice);
            }
            if let SegmentRead::Stopped { at_byte_limit } = read {
                out.at_byte_limit = at_byte_limit;
                break;
            }
        }
        Ok(out)
    }

    /// fsyncs every segment from the one containing the recovery point (each file only if
    /// written since its last sync).
    fn sync_segments(&mut self) -> Result<(), LogError> {
        let from = self.floor_base(self.recovery_point);
        for segment in self.segments.range_mut(from..).map(|(_, s)| s) {
            segment.sync()?;
        }
        Ok(())
    }

    /// fsyncs all data and moves the in-memory recovery point to the log end. The
    /// checkpoint file is not rewritten: a stale checkpoint only makes recovery re-check
    /// more batches.
    fn flush_data(&mut self) -> Result<(), LogError> {
        self.finish_background_flush(true)?;
        self.check_online()?;
        self.save_leader_epochs_if_unsaved()?;
        self.sync_segments().map_err(|e| self.go_offline(e))?;
        self.recovery_point = self.log_end_offset();
        self.last_flush_ms = self.clock_ms;
        Ok(())
    }

    /// Takes the log offline after the fsync of its data failed with `error`, which is
    /// returned (see [`LogError::Offline`]).
    fn go_offline(&mut self, error: LogError) -> LogError {
        tracing::error!(dir = %self.dir.display(), %error, "fsync failed: the log is offline until the broker restarts");
        let reason = error.to_string();
        if self.offline.is_none() {
            if let Some(hook) = &self.offline_hook {
                hook(&self.dir, &reason);
            }
        }
        self.offline = Some(reason);
        error
    }

    /// [`LogError::Offline`] if the log is offline.
    fn check_online(&self) -> Result<(), LogError> {
        match &self.offline {
            Some(reason) => Err(LogError::Offline { dir: self.dir.clone(), reason: reason.clone() }),
            None => Ok(()),
        }
    }

    /// The `flush.messages` policy, after each append.
    fn flush_if_too_many_unflushed(&mut self) -> Result<(), LogError> {
        let unflushed = (self.log_end_offset() - self.recovery_point).max(0) as u64;
        if unflushed >= self.config.flush_interval_messages {
            self.flush_data()?;
        }
        Ok(())
    }

    fn write_checkpoint(&mut self) -> Result<(), LogError> {
        write_recovery_point(&self.dir, self.recovery_point)?;
        sync_dir(&self.dir)?;
        self.checkpointed_recovery_point = self.recovery_point;
        Ok(())
    }

    /// fsyncs all data and index files and checkpoints the recovery point (= log end).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.flush_data()?;
        if self.checkpointed_recovery_point != self.recovery_point {
            self.write_checkpoint()?;
        }
        Ok(())
    }

    /// The `flush.ms` policy, for a broker timer: flushes if records are unflushed and
    /// the last flush is at least `flush.ms` old. After a crash, also starts the fsync of
    /// the recovered segments, and once it is done snapshots the producer state and
    /// checkpoints the recovery point.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.observe(now_ms);
        if self.offline.is_some() {
            // Reported when it went offline; nothing here can bring it back.
            return Ok(());
        }
        self.finish_background_flush(false)?;
        if self.background_flush.is_none() {
            match self.recovery_flush {
                RecoveryFlush::Idle => {}
                RecoveryFlush::Due => self.flush_recovered_segments()?,
                RecoveryFlush::Running => {
                    self.recovery_flush = RecoveryFlush::Idle;
                    write_snapshot(&self.dir, self.log_end_offset(), &self.producers)?;
                    self.checkpoint_recovery_point()?;
                }
            }
        }
        let due = now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_interval_ms;
        if due && self.log_end_offset() > self.recovery_point {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the recovery point to its checkpoint file if it moved since the last write
    /// (after applying a finished background flush): Kafka does this for every log each
    /// `log.flush.offset.checkpoint.interval.ms`. The in-memory recovery point moves when
    /// data is fsynced; the file bounds what recovery re-checks after a crash.
    ///
    /// # Errors
    /// [`LogError::Io`] from the flush or the write.
    pub fn checkpoint_recovery_point(&mut self) -> Result<(), LogError> {
        self.finish_background_flush(false)?;
        if self.checkpointed_recovery_point != self.recovery_point {
            self.write_checkpoint()?;
        }
        Ok(())
    }

    /// Forgets idempotent producers whose last batch is older than
    /// `producer.id.expiration.ms`; returns how many. (Kafka checks this every
    /// `producer.id.expiration.check.interval.ms`, 10 minutes by default.)
    pub fn remove_expired_producers(&mut self, now_ms: i64) -> usize {
        self.observe(now_ms);
        self.producers.remove_expired(now_ms, self.config.producer_id_expiration_ms)
    }

    /// Rebuilds the producer state from the newest usable snapshot and the batches after
    /// it. Snapshots above the log end (describing batches that are gone) and damaged
    /// ones are deleted; snapshots below the first segment are not used. Batches below a
    /// log start moved by DeleteRecords still count: they are on disk. Returns whether
    /// batches were replayed (no snapshot was at the log end).
    fn rebuild_producer_state(&mut self) -> Result<bool, LogError> {
        let (log_start, log_end) = (self.first_segment_base(), self.log_end_offset());
        let mut state = ProducerStateManager::default();
        let mut replay_from = log_start;
        for offset in list_snapshots(&self.dir)?.into_iter().rev() {
            if offset > log_end {
                delete_snapshot(&self.dir, offset)?;
                continue;
            }
            if offset < log_start {
                break;
            }
            match read_snapshot(&self.dir, offset) {
                Ok(snapshot) => {
                    state = snapshot;
                    replay_from = offset;
                    break;
                }
                Err(LogError::CorruptCheckpoint { path, reason }) => {
                    warn!(path = %path.display(), %reason, "deleting damaged producer snapshot");
                    delete_snapshot(&self.dir, offset)?;
                }
                Err(e) => return Err(e),
            }
        }
        for segment in self.segments.range(self.floor_base(replay_from)..).map(|(_, s)| s) {
            segment.for_each_batch_from(replay_from, |batch| state.apply_replicated(batch))?;
        }
        self.producers = state;
        Ok(replay_from < log_end)
    }

    /// Clean shutdown: fsyncs everything, writes a producer snapshot at the log end and
    /// the recovery point, then the clean-shutdown marker, so the next open skips recovery.
    ///
    /// # Errors
    /// [`LogError::Io`]; the marker is then not written and the next open recovers.
    pub fn close(mut self) -> Result<(), LogError> {
        self.active_mut().trim()?;
        self.flush_data()?;
        write_snapshot(&self.dir, self.log_end_offset(), &self.producers)?;
        write_recovery_point(&self.dir, self.recovery_point)?;
        mark_clean(&self.dir)
    }

    /// Deletes the partition (topic deletion): renames its directory for deletion and
    /// returns the new path, which [`crate::remove_in_background`] removes off
    /// the caller's path (see `deletion`). A background flush still running keeps
    /// syncing its descriptors; that is harmless.
    ///
    /// # Errors
    /// [`LogError::Io`] when the rename fails; the directory then stays where it was.
    pub fn delete(self) -> Result<PathBuf, LogError> {
        let dir = self.dir.clone();
        drop(self);
        rename_dir_for_deletion(&dir)
    }
}

/// Headers of the whole batches in `records`.
fn parse_record_set(records: &[u8]) -> Result<Vec<BatchHeader>, AppendError> {
    if records.is_empty() {
        return Err(AppendError::InvalidRecords(BatchError::Empty));
    }
    let mut batches = Batches::new(records);
    let headers: Vec<BatchHeader> = batches.by_ref().map(|(header, _)| header).collect();
    let parsed = batches.position();
    if parsed != records.len() {
        let rest = &records[parsed..];
        let error = match BatchHeader::parse(rest) {
            Err(error) => error,
            Ok(header) => BatchError::Truncated { needed: header.size(), available: rest.len() },
        };
        return Err(AppendError::InvalidRecords(error));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_can_be_shared_between_threads() {
        // `read(&self)` is meant to run behind a shared lock from many tasks.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Log>();
    }

    /// A new log of three 2-record batches (offsets 0..6), nothing flushed.
    fn three_batches() -> (tempfile::TempDir, Log) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
        for _ in 0..3 {
            log.append_as_leader(&crate::record_batches::batch(2, 0), 0, 0).unwrap();
        }
        (dir, log)
    }

    #[test]
    fn a_slow_background_flush_overtaken_by_a_truncation_does_not_move_the_recovery_point() {
        let (_dir, mut log) = three_batches();
        // A roll's flush of offsets below 6 is still running when the log truncates to 2
        // and takes new batches at 2..6 that nothing has fsynced.
        let (release, gate) = std::sync::mpsc::channel();
        log.background_flush = Some(BackgroundFlush::gated(6, log.truncations, gate));
        log.truncate_to(2).unwrap();
        for _ in 0..2 {
            log.append_as_leader(&crate::record_batches::batch(2, 0), 1, 0).unwrap();
        }
        assert!(log.background_flush.is_some(), "still running, so not applied before the appends");
        release.send(()).unwrap();
        log.finish_background_flush(true).unwrap();
        assert_eq!((log.log_end_offset(), log.recovery_point()), (6, 0));

        // Without a truncation in between, the same flush moves it.
        let (release, gate) = std::sync::mpsc::channel();
        log.background_flush = Some(BackgroundFlush::gated(4, log.truncations, gate));
        drop(release);
        log.finish_background_flush(true).unwrap();
        assert_eq!(log.recovery_point(), 4);
    }

    #[test]
    fn a_failed_fsync_takes_the_log_offline_until_it_is_opened_again() {
        use std::sync::Arc;
        let (dir, mut log) = three_batches();
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hook_told = told.clone();
        log.on_offline(Arc::new(move |dir, reason| hook_told.lock().unwrap().push((dir.to_path_buf(), reason.to_string()))));
        log.background_flush = Some(BackgroundFlush::failed(6, log.truncations));
        assert!(matches!(log.finish_background_flush(true), Err(LogError::Io { .. })));
        assert_eq!(log.recovery_point(), 0, "nothing below 6 is known to be durable");
        {
            let told = told.lock().unwrap();
            assert_eq!(told.len(), 1, "the owner is told once");
            assert_eq!(told[0].0, log.dir());
            assert!(told[0].1.contains("injected"), "{:?}", told[0].1);
        }
        // Every later write is refused, and so is a flush: a second fsync could succeed
        // although the data the first could not write is gone. Reads too: what the disk
        // holds may not be what was written.
        let offline = |e: &AppendError| matches!(e, AppendError::Log(LogError::Offline { reason, .. }) if reason.contains("injected"));
        let refused = log.append_as_leader(&crate::record_batches::batch(2, 0), 0, 0).unwrap_err();
        assert!(offline(&refused), "{refused}");
        assert!(refused.to_string().contains("restart the broker"), "{refused}");
        assert!(matches!(log.flush(), Err(LogError::Offline { .. })));
        assert!(matches!(log.read(0, 1000, i64::MAX, true), Err(ReadError::Log(LogError::Offline { .. }))));
        log.flush_if_due(i64::MAX).unwrap();
        log.maybe_roll(i64::MAX).unwrap();
        assert_eq!((log.log_end_offset(), log.recovery_point(), log.segment_count()), (6, 0, 1));
        assert_eq!(told.lock().unwrap().len(), 1, "told once, not on every refusal");
        // Not a clean shutdown: the next open checks every batch since the checkpoint.
        assert!(log.close().is_err());
        let mut log = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
        assert_eq!(log.log_end_offset(), 6);
        log.append_as_leader(&crate::record_batches::batch(2, 0), 0, 0).unwrap();
        log.flush().unwrap();
        assert_eq!(log.recovery_point(), 8);
    }

    #[test]
    fn partial_record_sets_report_why() {
        assert!(matches!(parse_record_set(&[]), Err(AppendError::InvalidRecords(BatchError::Empty))));
        assert!(matches!(parse_record_set(&[0u8; 20]), Err(AppendError::InvalidRecords(BatchError::UnsupportedMagic(0)))));
        assert!(matches!(parse_record_set(&[0u8; 10]), Err(AppendError::InvalidRecords(BatchError::Truncated { .. }))));
    }
}
