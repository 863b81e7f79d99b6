//! Log compaction for `cleanup.policy=compact` (Kafka's `LogCleanerManager` choice of
//! what to clean and `Cleaner.doClean`).
//!
//! ```text
//!  log start         first dirty offset        first uncleanable offset      log end
//!  v                 v (cleaner checkpoint)    v min(active base, HW, lag)   v
//!  [ clean ......... ][ dirty ................ ][ too new / active ........ ]
//!   rewritten with the key map built over the dirty section; then checkpoint = map end
//! ```
//!
//! One cleaning: (1) build an [`OffsetMap`] key -> latest offset over the whole batches
//! of the dirty section below the first uncleanable offset, as far as the map holds (its
//! end is the map end); (2) group the segments from the log start up to the map end into
//! runs that fit one segment (`segment.bytes`, `segment.index.bytes`, 32-bit relative
//! offsets); (3) for each group write the batches that survive ([`crate::batch_filter`])
//! into `<first base>.log.cleaned`, fsync it, rename it to `.log.swap` (the commit
//! point), delete the group's old segments, rename the swap to `<first base>.log` and
//! rebuild its indexes; (4) checkpoint the map end as the next first dirty offset.
//!
//! Offsets never change: batches keep their offsets, records their offset deltas, so the
//! log has gaps and a read at a vanished offset returns the next surviving batch. The
//! log start and end, the active segment, every batch reaching the high watermark and
//! the idempotent-producer state are left as they are.
//!
//! Crash behaviour: a `.cleaned` file is deleted on open (the old segments are intact);
//! a `.log.swap` file replaces the segments it covers (see `log_loader`). Either way the
//! log is whole, and at worst less compacted. The checkpoint is written last, so a crash
//! only repeats work.
//!
//! The cleaning runs with the log borrowed mutably: appends and reads of this partition
//! wait for it.

use std::collections::HashMap;
use std::fs;

use spool_protocol::record::{decompress_records, Records};
use tracing::{debug, warn};

use super::Log;
use crate::atomic_write::sync_dir;
use crate::batch_filter::{filter_batch, FilterContext, Filtered};
use crate::cleaner_checkpoint::{read_first_dirty_offset, write_first_dirty_offset};
use crate::error::{IoContext, LogError};
use crate::file_names::{offset_file_path, with_added_suffix, CLEANED_SUFFIX, LOG_SUFFIX, SWAP_SUFFIX};
use crate::file_records::FileRecords;
use crate::offset_map::OffsetMap;
use crate::segment::LogSegment;

/// Bytes of surviving batches buffered before a write to the cleaned file.
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Bytes of one offset index entry and one time index entry.
const OFFSET_INDEX_ENTRY_BYTES: u64 = 8;
const TIME_INDEX_ENTRY_BYTES: u64 = 12;

/// What part of a log the cleaner may compact, and how much it would gain (Kafka's
/// `LogToClean` and `cleanableOffsets`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableRange {
    /// Everything below was compacted by an earlier cleaning (or is below the log start).
    pub first_dirty_offset: i64,
    /// The cleaner leaves this offset and everything above alone: the smallest of the
    /// active segment's base offset, the high watermark and the base of the first dirty
    /// segment with a record newer than `min.compaction.lag.ms`.
    pub first_uncleanable_offset: i64,
    /// Bytes of the segments below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the segments overlapping `[first dirty, first uncleanable)`.
    pub dirty_bytes: u64,
    /// How long ago the oldest dirty segment's first batch passed `max.compaction.lag.ms`;
    /// 0 if it has not.
    pub max_compaction_delay_ms: i64,
}

impl CleanableRange {
    /// Dirty bytes over clean plus dirty bytes; 0 for an empty log.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }

    /// Kafka's rule: there are dirty bytes to clean and either the dirty ratio exceeds
    /// `min_cleanable_dirty_ratio` or `max.compaction.lag.ms` has passed.
    pub fn is_due(&self, min_cleanable_dirty_ratio: f64) -> bool {
        self.dirty_bytes > 0 && (self.max_compaction_delay_ms > 0 || self.dirty_ratio() > min_cleanable_dirty_ratio)
    }
}

/// What one cleaning did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanerStats {
    /// The first dirty offset the cleaning started from.
    pub first_dirty_offset: i64,
    /// The new first dirty offset (checkpointed): the end of the key map.
    pub end_offset: i64,
    /// Bytes of the rewritten segments before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Segments rewritten, and how many replaced them.
    pub segments_before: usize,
    pub segments_after: usize,
    /// Keys in the map.
    pub keys: usize,
}

impl Log {
    /// Which part of the log a cleaning would compact, given the partition's
    /// `high_watermark` (records at or above it are never touched) and `now_ms` (for
    /// `min.compaction.lag.ms` and `max.compaction.lag.ms`).
    ///
    /// # Errors
    /// [`LogError::Io`] reading the checkpoint or a segment's modification time.
    pub fn cleanable_range(&self, high_watermark: i64, now_ms: i64) -> Result<CleanableRange, LogError> {
        let (log_start, log_end) = (self.log_start_offset, self.log_end_offset());
        let first_dirty = match read_first_dirty_offset(&self.dir)? {
            Some(offset) if offset >= log_start && offset <= log_end => offset,
            _ => log_start,
        };
        let active_base = self.active().base_offset();
        let mut first_uncleanable = active_base.min(high_watermark);
        let dirty_inactive: Vec<&LogSegment> = self
            .segments
            .range(self.floor_base(first_dirty)..active_base.max(self.floor_base(first_dirty)))
            .map(|(_, segment)| segment)
            .collect();
        let min_lag_ms = self.config.min_compaction_lag_ms.max(0);
        if min_lag_ms > 0 {
            for segment in &dirty_inactive {
                if segment.largest_timestamp()? > now_ms.saturating_sub(min_lag_ms) {
                    first_uncleanable = first_uncleanable.min(segment.base_offset());
                    break;
                }
            }
        }
        let first_uncleanable = first_uncleanable.max(first_dirty);
        let clean_bytes = self.segments.range(..first_dirty).map(|(_, s)| s.size_bytes()).sum();
        let dirty_bytes = if first_dirty < first_uncleanable {
            self.segments.range(self.floor_base(first_dirty)..first_uncleanable).map(|(_, s)| s.size_bytes()).sum()
        } else {
            0
        };
        let clean_until_ms = now_ms.saturating_sub(self.config.max_compaction_lag_ms.max(0));
        let earliest = dirty_inactive.iter().filter_map(|s| s.first_batch_timestamp()).filter(|&t| t > 0).min();
        let max_compaction_delay_ms = earliest.map_or(0, |earliest| clean_until_ms.saturating_sub(earliest).max(0));
        Ok(CleanableRange {
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: first_uncleanable,
            clean_bytes,
            dirty_bytes,
            max_compaction_delay_ms,
        })
    }

    /// Cleans the log if `cleanup.policy` contains `compact` and
    /// [`CleanableRange::is_due`] says so; see [`Log::clean`].
    ///
    /// # Errors
    /// As [`Log::clean`].
    pub fn clean_if_due(&mut self, high_watermark: i64, now_ms: i64, max_map_entries: usize) -> Result<Option<CleanerStats>, LogError> {
        if !self.config.compact || !self.cleanable_range(high_watermark, now_ms)?.is_due(self.config.min_cleanable_dirty_ratio) {
            return Ok(None);
        }
        self.clean(high_watermark, now_ms, max_map_entries).map(Some)
    }

    /// Compacts the log below its first uncleanable offset (see the module docs), with a
    /// key map of at most `max_map_entries` keys, whatever the dirty ratio. Returns what
    /// it did; nothing if there is no dirty batch below the first uncleanable offset.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] if a batch to clean fails its CRC or its records
    /// cannot be read (nothing was replaced then); [`LogError::Io`]. An I/O error while
    /// replacing segments leaves the files consistent for the next open, but this `Log`
    /// should not be used further.
    pub fn clean(&mut self, high_watermark: i64, now_ms: i64, max_map_entries: usize) -> Result<CleanerStats, LogError> {
        self.observe(now_ms);
        let range = self.cleanable_range(high_watermark, now_ms)?;
        let mut stats = CleanerStats { first_dirty_offset: range.first_dirty_offset, end_offset: range.first_dirty_offset, ..Default::default() };
        let mut map = OffsetMap::new(max_map_entries);
        let map_end = self.build_offset_map(&mut map, range.first_dirty_offset, range.first_uncleanable_offset)?;
        stats.keys = map.len();
        if map_end <= range.first_dirty_offset {
            if range.dirty_bytes > 0 && map.len() == 0 {
                warn!(dir = %self.dir.display(), max_map_entries, "the cleaner's key map cannot hold the first dirty batch");
            }
            return Ok(stats);
        }
        let context =
            FilterContext { map: &map, map_end, now_ms, delete_retention_ms: self.config.delete_retention_ms.max(0) };
        for group in self.group_segments(map_end, range.first_uncleanable_offset) {
            let (before, after) = self.clean_group(&group, &context)?;
            stats.bytes_before += before;
            stats.bytes_after += after;
            stats.segments_before += group.len();
            stats.segments_after += 1;
        }
        write_first_dirty_offset(&self.dir, map_end)?;
        sync_dir(&self.dir)?;
        stats.end_offset = map_end;
        debug!(dir = %self.dir.display(), ?stats, "cleaned log");
        Ok(stats)
    }

    /// Puts the keys of the whole batches in `[first_dirty, first_uncleanable)` into
    /// `map`, oldest first, until the next batch might not fit. Returns the map end: one
    /// past the last batch taken (control batches are passed over).
    fn build_offset_map(&self, map: &mut OffsetMap, first_dirty: i64, first_uncleanable: i64) -> Result<i64, LogError> {
        let mut map_end = first_dirty;
        if first_dirty >= first_uncleanable {
            return Ok(map_end);
        }
        let mut stopped = false;
        for segment in self.segments.range(self.floor_base(first_dirty)..first_uncleanable).map(|(_, s)| s) {
            segment.for_each_batch_bytes(|header, batch| {
                if header.last_offset() < first_dirty {
                    return Ok(true);
                }
                if header.last_offset() >= first_uncleanable || !map.has_room_for(header.record_count.max(0) as usize) {
                    stopped = true;
                    return Ok(false);
                }
                if !header.is_control() {
                    let corrupt = |reason: String| LogError::CorruptSegment {
                        path: segment.log_path().to_path_buf(),
                        position: 0,
                        reason: format!("batch at offset {}: {reason}", header.base_offset),
                    };
                    let section = decompress_records(batch, header).map_err(|e| corrupt(e.to_string()))?;
                    for record in Records::new(&section, header.record_count) {
                        let record = record.map_err(|e| corrupt(e.to_string()))?;
                        if let Some(key) = record.key {
                            map.put(key, header.base_offset + i64::from(record.offset_delta));
                        }
                    }
                }
                map_end = header.last_offset() + 1;
                Ok(true)
            })?;
            if stopped {
                break;
            }
        }
        Ok(map_end)
    }

    /// Base offsets of the segments below `map_end`, in runs that each fit one segment
    /// (Kafka's `groupSegmentsBySize`): total bytes within `segment.bytes`, index entries
    /// within `segment.index.bytes`, offsets within 32 bits of the run's base.
    fn group_segments(&self, map_end: i64, first_uncleanable: i64) -> Vec<Vec<i64>> {
        let max_bytes = self.config.segment_bytes_max();
        let max_index_bytes = self.config.segment_index_bytes;
        let candidates: Vec<&LogSegment> = self.segments.range(..map_end).map(|(_, s)| s).collect();
        let mut groups: Vec<Vec<i64>> = Vec::new();
        let mut i = 0;
        while i < candidates.len() {
            let first = candidates[i];
            let mut group = vec![first.base_offset()];
            let (mut bytes, mut index_entries) = (first.size_bytes(), first.offset_index_entries() as u64);
            i += 1;
            while let Some(next) = candidates.get(i) {
                let entries = index_entries + next.offset_index_entries() as u64;
                // The last offset the merged segment may hold: up to the segment after `next`.
                let last_offset = candidates.get(i + 1).map_or(first_uncleanable, |s| s.base_offset()) - 1;
                let fits = bytes + next.size_bytes() <= max_bytes
                    && entries * OFFSET_INDEX_ENTRY_BYTES <= max_index_bytes
                    && (entries + 1) * TIME_INDEX_ENTRY_BYTES <= max_index_bytes
                    && (next.is_empty() || last_offset - first.base_offset() <= i64::from(i32::MAX));
                if !fits {
                    break;
                }
                group.push(next.base_offset());
                bytes += next.size_bytes();
                index_entries = entries;
                i += 1;
            }
            groups.push(group);
        }
        groups
    }

    /// Writes the surviving batches of the segments `group` into one segment and puts it
    /// in their place (see the module docs for the steps). Returns (bytes before, after).
    fn clean_group(&mut self, group: &[i64], context: &FilterContext<'_>) -> Result<(u64, u64), LogError> {
        let Some(&base) = group.first() else { return Ok((0, 0)) };
        let log_path = offset_file_path(&self.dir, base, LOG_SUFFIX);
        let cleaned_path = with_added_suffix(&log_path, CLEANED_SUFFIX);
        let swap_path = with_added_suffix(&log_path, SWAP_SUFFIX);
        let last_data_offsets: HashMap<i64, i64> = self
            .producers
            .entries()
            .filter_map(|(&producer_id, entry)| Some((producer_id, entry.batches.back()?.last_offset)))
            .collect();
        let mut cleaned = FileRecords::open(cleaned_path.clone())?;
        cleaned.truncate_to(0)?;
        let mut bytes_before = 0;
        let mut buffer = Vec::with_capacity(WRITE_BUFFER_BYTES);
        for segment in group.iter().filter_map(|base| self.segments.get(base)) {
            bytes_before += segment.size_bytes();
            segment.for_each_batch_bytes(|header, batch| {
                let retain_empty =
                    header.has_producer_id() && last_data_offsets.get(&header.producer_id) == Some(&header.last_offset());
                match filter_batch(batch, header, context, retain_empty) {
                    Ok(Filtered::Unchanged) => buffer.extend_from_slice(batch),
                    Ok(Filtered::Rewritten(bytes)) => buffer.extend_from_slice(&bytes),
                    Ok(Filtered::Removed) => {}
                    Err(error) => {
                        warn!(segment = %segment.log_path().display(), offset = header.base_offset, %error, "keeping a batch the cleaner cannot read");
                        buffer.extend_from_slice(batch);
                    }
                }
                if buffer.len() >= WRITE_BUFFER_BYTES {
                    cleaned.append(&buffer)?;
                    buffer.clear();
                }
                Ok(true)
            })?;
        }
        cleaned.append(&buffer)?;
        let bytes_after = cleaned.size_bytes();
        if bytes_after > i32::MAX as u64 {
            // Re-compressed batches grew past what 32-bit positions address: keep the group.
            drop(cleaned);
            fs::remove_file(&cleaned_path).at(&cleaned_path)?;
            warn!(dir = %self.dir.display(), base, bytes_after, "cleaned segment too large; left the segments as they were");
            return Ok((bytes_before, bytes_before));
        }
        cleaned.sync()?;
        drop(cleaned);
        fs::rename(&cleaned_path, &swap_path).at(&swap_path)?;
        sync_dir(&self.dir)?;
        // Committed: from here on, a crash completes the swap when the log is opened.
        for old in group {
            if let Some(segment) = self.segments.remove(old) {
                segment.delete()?;
            }
        }
        fs::rename(&swap_path, &log_path).at(&log_path)?;
        sync_dir(&self.dir)?;
        let (mut segment, truncation) = LogSegment::open_and_recover(&self.dir, base, &self.config, self.clock_ms)?;
        if let Some(truncation) = truncation {
            warn!(segment = %log_path.display(), ?truncation, "a cleaned segment did not validate");
        }
        segment.seal()?;
        self.segments.insert(base, segment);
        Ok((bytes_before, bytes_after))
    }

    /// Lowers the cleaner checkpoint to `offset` after a truncation, so records written
    /// again above it count as dirty.
    pub(super) fn truncate_cleaner_checkpoint(&mut self, offset: i64) -> Result<(), LogError> {
        if read_first_dirty_offset(&self.dir)?.is_some_and(|checkpoint| checkpoint > offset) {
            write_first_dirty_offset(&self.dir, offset)?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}
