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
//! as a segment of its own, `<first base>.log.cleaned` with its indexes
//! `<first base>.index.cleaned` and `.timeindex.cleaned`, and fsync them; (4) for each
//! group rename the cleaned `.log` to `.log.swap` (the commit point), delete the group's
//! old segments, rename the cleaned indexes and then the swap to their segment names,
//! and load the segment (its indexes are checked, not rebuilt); (5) checkpoint the map
//! end as the next first dirty offset.
//!
//! Offsets never change: batches keep their offsets, records their offset deltas, so the
//! log has gaps and a read at a vanished offset returns the next surviving batch. The
//! log start and end, the active segment, every batch reaching the high watermark and
//! the idempotent-producer state are left as they are.
//!
//! Crash behaviour: `.cleaned` files are deleted on open (the old segments are intact);
//! a `.log.swap` file replaces the segments it covers (see `log_loader`), and indexes
//! that do not belong to it are rebuilt. Either way the log is whole, and at worst less
//! compacted. The checkpoint is written last, so a crash only repeats work.
//!
//! Locking (Kafka's cleaner reads and writes segments without the log lock and takes it
//! only in `replaceSegments`): a cleaning runs in three phases so that the partition's
//! appends and reads wait only for the cheap ones.
//!
//! ```text
//!  Log::plan_cleaning        &mut Log   range, segments below the first uncleanable
//!                                       offset (inactive: immutable) with their own
//!                                       read handles, producer state, config
//!  CleaningPlan::build       no Log     steps (1)-(3): every byte read, CRC'd, written
//!  Log::commit_cleaned_group &mut Log   step (4) for one group (step (5) after the last):
//!                                       renames, directory syncs, an index check;
//!                                       if the group's segments are still in the log as
//!                                       planned and the log was not truncated; else the
//!                                       cleaning gives up and its `.cleaned` files go
//! ```
//!
//! Meanwhile appends go to the active segment and new segments, which the plan does not
//! hold; retention, DeleteRecords and truncation may remove planned segments, which the
//! commit notices. Readers holding the log see the old segments or the cleaned one,
//! never a gap: a swap happens within one commit. [`Log::clean`] runs the phases in one
//! go.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use spool_protocol::batch::BatchHeader;
use spool_protocol::record::{decompress_records, Records};
use tracing::{debug, warn};

use super::Log;
use crate::atomic_write::sync_dir;
use crate::batch_filter::{filter_batch, FilterContext, Filtered};
use crate::cleaner_checkpoint::{read_first_dirty_offset, write_first_dirty_offset};
use crate::error::{IoContext, LogError};
use crate::config::LogConfig;
use crate::file_names::{with_added_suffix, CLEANED_SUFFIX, SWAP_SUFFIX};
use crate::file_records::FileRecords;
use crate::log_loader::remove_if_present;
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

/// A segment as a [`CleaningPlan`] saw it, with its own handle to read it.
struct PlannedSegment {
    base_offset: i64,
    size_bytes: u64,
    offset_index_entries: usize,
    /// Reads the first `size_bytes` bytes of the segment's `.log` file.
    records: FileRecords,
}

impl PlannedSegment {
    fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }
}

/// What one cleaning will compact, made by [`Log::plan_cleaning`] under the log's lock;
/// [`CleaningPlan::build`] does the work without the log. Holds a file handle per
/// inactive segment below the first uncleanable offset until it is built. One cleaning
/// of a log at a time: two would write the same `.cleaned` files.
pub struct CleaningPlan {
    dir: PathBuf,
    range: CleanableRange,
    now_ms: i64,
    max_map_entries: usize,
    /// The segments below the first uncleanable offset, oldest first; all inactive.
    /// Empty when nothing is dirty.
    segments: Vec<PlannedSegment>,
    /// Producer id -> last offset of its last batch, for the producers the log knows.
    last_data_offsets: HashMap<i64, i64>,
    /// The log's configuration at planning time.
    config: LogConfig,
    /// The log's truncation count at planning time.
    truncations: u64,
}

impl CleaningPlan {
    /// The part of the log the plan cleans.
    pub fn range(&self) -> CleanableRange {
        self.range
    }

    /// The middle phase of a cleaning (see the module docs), without the log: builds the
    /// key map over the dirty section and writes every group's surviving batches to its
    /// `<first base>.log.cleaned` file, fsynced. Appends, reads and retention may go on
    /// meanwhile; [`Log::commit_cleaned_group`] checks the segments are still there.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] if a batch to clean fails its CRC or its records
    /// cannot be read; [`LogError::Io`]. No `.cleaned` file is left behind then.
    pub fn build(self) -> Result<CleanedSegments, LogError> {
        let range = self.range;
        let first_dirty_offset = range.first_dirty_offset;
        let mut stats = CleanerStats { first_dirty_offset, end_offset: first_dirty_offset, ..Default::default() };
        let mut map = OffsetMap::new(self.max_map_entries);
        let map_end = self.build_offset_map(&mut map)?;
        stats.keys = map.len();
        let mut cleaned = CleanedSegments { dir: self.dir.clone(), truncations: self.truncations, stats, groups: VecDeque::new() };
        if map_end <= range.first_dirty_offset {
            if range.dirty_bytes > 0 && map.len() == 0 {
                let max_map_entries = self.max_map_entries;
                warn!(dir = %self.dir.display(), max_map_entries, "the cleaner's key map cannot hold the first dirty batch");
            }
            return Ok(cleaned);
        }
        let delete_retention_ms = self.config.delete_retention_ms.max(0);
        let context = FilterContext { map: &map, map_end, now_ms: self.now_ms, delete_retention_ms };
        let (max_bytes, max_index_bytes) = (self.config.segment_bytes_max(), self.config.segment_index_bytes);
        let sizes = group_sizes(&self.segments, map_end, range.first_uncleanable_offset, max_bytes, max_index_bytes);
        let mut segments = self.segments.into_iter();
        for size in sizes {
            let group: Vec<PlannedSegment> = segments.by_ref().take(size).collect();
            let group = clean_group(&self.dir, &self.config, self.now_ms, group, &context, &self.last_data_offsets)?;
            cleaned.stats.bytes_before += group.bytes_before;
            cleaned.stats.bytes_after += group.bytes_after;
            cleaned.stats.segments_before += group.segments.len();
            cleaned.stats.segments_after += 1;
            cleaned.groups.push_back(group);
        }
        cleaned.stats.end_offset = map_end;
        Ok(cleaned)
    }

    /// Puts the keys of the whole batches in `[first_dirty, first_uncleanable)` into
    /// `map`, oldest first, until the next batch might not fit. Returns the map end: one
    /// past the last batch taken (control batches are passed over).
    fn build_offset_map(&self, map: &mut OffsetMap) -> Result<i64, LogError> {
        let (first_dirty, first_uncleanable) = (self.range.first_dirty_offset, self.range.first_uncleanable_offset);
        let mut map_end = first_dirty;
        // The segment containing the first dirty offset, and those after it.
        let from = self.segments.iter().rposition(|s| s.base_offset <= first_dirty).unwrap_or(0);
        let mut stopped = false;
        for segment in &self.segments[from..] {
            segment.records.for_each_batch_bytes(|header, batch| {
                if header.last_offset() < first_dirty {
                    return Ok(true);
                }
                if header.last_offset() >= first_uncleanable || !map.has_room_for(header.record_count.max(0) as usize) {
                    stopped = true;
                    return Ok(false);
                }
                if !header.is_control() {
                    let corrupt = |reason: String| LogError::CorruptSegment {
                        path: segment.records.path().to_path_buf(),
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
}

/// Sizes of the runs, from the first segment, of the segments below `map_end` that each
/// fit one segment (Kafka's `groupSegmentsBySize`): total bytes within `max_bytes`
/// (`segment.bytes`), index entries within `max_index_bytes` (`segment.index.bytes`),
/// offsets within 32 bits of the run's base.
fn group_sizes(segments: &[PlannedSegment], map_end: i64, first_uncleanable: i64, max_bytes: u64, max_index_bytes: u64) -> Vec<usize> {
    let candidates: Vec<&PlannedSegment> = segments.iter().take_while(|s| s.base_offset < map_end).collect();
    let mut sizes = Vec::new();
    let mut i = 0;
    while i < candidates.len() {
        let first = candidates[i];
        let mut size = 1;
        let (mut bytes, mut index_entries) = (first.size_bytes, first.offset_index_entries as u64);
        i += 1;
        while let Some(next) = candidates.get(i) {
            let entries = index_entries + next.offset_index_entries as u64;
            // The last offset the merged segment may hold: up to the segment after `next`.
            let last_offset = candidates.get(i + 1).map_or(first_uncleanable, |s| s.base_offset) - 1;
            let fits = bytes + next.size_bytes <= max_bytes
                && entries * OFFSET_INDEX_ENTRY_BYTES <= max_index_bytes
                && (entries + 1) * TIME_INDEX_ENTRY_BYTES <= max_index_bytes
                && (next.is_empty() || last_offset - first.base_offset <= i64::from(i32::MAX));
            if !fits {
                break;
            }
            size += 1;
            bytes += next.size_bytes;
            index_entries = entries;
            i += 1;
        }
        sizes.push(size);
    }
    sizes
}

/// Writes the surviving batches of `segments` as the segment `<first base>.log.cleaned`
/// with its indexes, fsynced (see the module docs). `last_data_offsets`: producer id ->
/// last offset of its last batch. A cleaned segment too large for 32-bit positions is
/// deleted and the group kept as it is; so are files left by an error.
fn clean_group(
    dir: &Path,
    config: &LogConfig,
    now_ms: i64,
    segments: Vec<PlannedSegment>,
    context: &FilterContext<'_>,
    last_data_offsets: &HashMap<i64, i64>,
) -> Result<CleanedGroup, LogError> {
    let mut group = CleanedGroup { segments, bytes_before: 0, bytes_after: 0, cleaned_files: None };
    let Some(base) = group.segments.first().map(|s| s.base_offset) else { return Ok(group) };
    // From here on dropping `group` deletes the files.
    group.cleaned_files = Some(LogSegment::file_paths(dir, base, CLEANED_SUFFIX));
    let mut cleaned = LogSegment::create_staged(dir, base, config, now_ms, CLEANED_SUFFIX)?;
    let mut buffer = Vec::with_capacity(WRITE_BUFFER_BYTES);
    let mut headers = Vec::new();
    for segment in &group.segments {
        group.bytes_before += segment.size_bytes;
        segment.records.for_each_batch_bytes(|header, batch| {
            let retain_empty =
                header.has_producer_id() && last_data_offsets.get(&header.producer_id) == Some(&header.last_offset());
            match filter_batch(batch, header, context, retain_empty) {
                Ok(Filtered::Unchanged) => {
                    buffer.extend_from_slice(batch);
                    headers.push(*header);
                }
                Ok(Filtered::Rewritten(bytes)) => {
                    let rewritten = BatchHeader::parse(&bytes).map_err(|e| LogError::CorruptSegment {
                        path: segment.records.path().to_path_buf(),
                        position: 0,
                        reason: format!("batch at offset {} rewritten by the cleaner: {e}", header.base_offset),
                    })?;
                    buffer.extend_from_slice(&bytes);
                    headers.push(rewritten);
                }
                Ok(Filtered::Removed) => {}
                Err(error) => {
                    let path = segment.records.path();
                    warn!(segment = %path.display(), offset = header.base_offset, %error, "keeping a batch the cleaner cannot read");
                    buffer.extend_from_slice(batch);
                    headers.push(*header);
                }
            }
            if buffer.len() >= WRITE_BUFFER_BYTES {
                cleaned.append(&buffer, &headers)?;
                buffer.clear();
                headers.clear();
            }
            Ok(true)
        })?;
    }
    if !buffer.is_empty() {
        cleaned.append(&buffer, &headers)?;
    }
    group.bytes_after = cleaned.size_bytes();
    if group.bytes_after > i32::MAX as u64 {
        // Re-compressed batches grew past what 32-bit positions address: keep the group.
        drop(cleaned);
        if let Some(files) = group.cleaned_files.take() {
            files.iter().try_for_each(|path| remove_if_present(path))?;
        }
        warn!(dir = %dir.display(), base, bytes_after = group.bytes_after, "cleaned segment too large; left the segments as they were");
        group.bytes_after = group.bytes_before;
        return Ok(group);
    }
    cleaned.seal()?;
    cleaned.sync()?;
    Ok(group)
}

/// One group of segments and the cleaned segment that will replace it.
struct CleanedGroup {
    /// The segments it replaces, oldest first (never empty once cleaned).
    segments: Vec<PlannedSegment>,
    bytes_before: u64,
    bytes_after: u64,
    /// The cleaned segment's `.log`, `.index` and `.timeindex` files, named with the
    /// suffix `.cleaned` and fsynced; `None` once swapped in or when the group is left as
    /// it is.
    cleaned_files: Option<[PathBuf; 3]>,
}

impl Drop for CleanedGroup {
    /// A group that is not swapped in leaves no `.cleaned` file behind.
    fn drop(&mut self) {
        for path in self.cleaned_files.take().into_iter().flatten() {
            if let Err(error) = remove_if_present(&path) {
                warn!(path = %path.display(), %error, "could not remove a cleaned segment that was not used");
            }
        }
    }
}

/// The cleaned segments of a log, from [`CleaningPlan::build`], waiting for
/// [`Log::commit_cleaned_group`] to swap them in. Dropping it deletes the `.cleaned`
/// files not swapped in yet (the cleaning is given up).
pub struct CleanedSegments {
    dir: PathBuf,
    truncations: u64,
    /// What the whole cleaning does, once every group is swapped in.
    stats: CleanerStats,
    /// Groups not swapped in yet, oldest first.
    groups: VecDeque<CleanedGroup>,
}

impl CleanedSegments {
    /// What the cleaning will have done once committed.
    pub fn stats(&self) -> CleanerStats {
        self.stats
    }

    /// Gives the cleaning up: deletes the `.cleaned` files left.
    fn abandon(&mut self) {
        self.groups.clear();
    }
}

/// What one [`Log::commit_cleaned_group`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleaningCommit {
    /// A cleaned segment was swapped in; more are waiting.
    Pending,
    /// The cleaning is complete (and checkpointed if it cleaned anything).
    Done(CleanerStats),
    /// The log changed since the plan: the cleaned files left were deleted and the
    /// checkpoint did not move. A later cleaning starts again.
    GaveUp,
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
        match self.plan_cleaning_if_due(high_watermark, now_ms, max_map_entries)? {
            Some(plan) => self.clean_as_planned(plan).map(Some),
            None => Ok(None),
        }
    }

    /// Compacts the log below its first uncleanable offset (see the module docs), with a
    /// key map of at most `max_map_entries` keys, whatever the dirty ratio: the three
    /// phases of a cleaning in one go, the log borrowed throughout. Returns what it did;
    /// nothing if there is no dirty batch below the first uncleanable offset.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] if a batch to clean fails its CRC or its records
    /// cannot be read (nothing was replaced then); [`LogError::Io`]. An I/O error while
    /// replacing segments leaves the files consistent for the next open, but this `Log`
    /// should not be used further.
    pub fn clean(&mut self, high_watermark: i64, now_ms: i64, max_map_entries: usize) -> Result<CleanerStats, LogError> {
        let plan = self.plan_cleaning(high_watermark, now_ms, max_map_entries)?;
        self.clean_as_planned(plan)
    }

    fn clean_as_planned(&mut self, plan: CleaningPlan) -> Result<CleanerStats, LogError> {
        let first_dirty_offset = plan.range.first_dirty_offset;
        let cleaned = plan.build()?;
        // Nothing can change the log between the phases here: the commit always happens.
        let nothing = CleanerStats { first_dirty_offset, end_offset: first_dirty_offset, ..Default::default() };
        Ok(self.commit_cleaning(cleaned)?.unwrap_or(nothing))
    }

    /// [`Log::plan_cleaning`] if `cleanup.policy` contains `compact` and
    /// [`CleanableRange::is_due`] says so.
    ///
    /// # Errors
    /// As [`Log::plan_cleaning`].
    pub fn plan_cleaning_if_due(
        &mut self,
        high_watermark: i64,
        now_ms: i64,
        max_map_entries: usize,
    ) -> Result<Option<CleaningPlan>, LogError> {
        if !self.config.compact || !self.cleanable_range(high_watermark, now_ms)?.is_due(self.config.min_cleanable_dirty_ratio) {
            return Ok(None);
        }
        self.plan_cleaning(high_watermark, now_ms, max_map_entries).map(Some)
    }

    /// The first phase of a cleaning (see the module docs), whatever the dirty ratio:
    /// what [`Log::clean`] would compact, with handles to read those segments without
    /// the log. Cheap: no segment is read.
    ///
    /// # Errors
    /// [`LogError::Io`] reading the checkpoint or duplicating a file handle.
    pub fn plan_cleaning(&mut self, high_watermark: i64, now_ms: i64, max_map_entries: usize) -> Result<CleaningPlan, LogError> {
        self.observe(now_ms);
        let range = self.cleanable_range(high_watermark, now_ms)?;
        let mut segments = Vec::new();
        if range.first_dirty_offset < range.first_uncleanable_offset {
            // Below the first uncleanable offset every segment is inactive: immutable
            // until retention, DeleteRecords or truncation removes it.
            let below = range.first_uncleanable_offset.min(self.active().base_offset());
            for segment in self.segments.range(..below).map(|(_, segment)| segment) {
                segments.push(PlannedSegment {
                    base_offset: segment.base_offset(),
                    size_bytes: segment.size_bytes(),
                    offset_index_entries: segment.offset_index_entries(),
                    records: segment.records().try_clone_for_reading()?,
                });
            }
        }
        let last_data_offsets = self
            .producers
            .entries()
            .filter_map(|(&producer_id, entry)| Some((producer_id, entry.batches.back()?.last_offset)))
            .collect();
        Ok(CleaningPlan {
            dir: self.dir.clone(),
            range,
            now_ms,
            max_map_entries,
            segments,
            last_data_offsets,
            config: self.config.clone(),
            truncations: self.truncations,
        })
    }

    /// The last phase of a cleaning: [`Log::commit_cleaned_group`] until the cleaning is
    /// done or gives up. Returns what it did, or `None` if it gave up.
    ///
    /// # Errors
    /// As [`Log::commit_cleaned_group`].
    pub fn commit_cleaning(&mut self, mut cleaned: CleanedSegments) -> Result<Option<CleanerStats>, LogError> {
        loop {
            match self.commit_cleaned_group(&mut cleaned)? {
                CleaningCommit::Pending => {}
                CleaningCommit::Done(stats) => return Ok(Some(stats)),
                CleaningCommit::GaveUp => return Ok(None),
            }
        }
    }

    /// Puts the next cleaned segment of `cleaned` in place of the segments it was made
    /// from (see the module docs for the steps), and after the last one checkpoints the
    /// map end as the next first dirty offset. Gives up, deleting every `.cleaned` file
    /// left, when those segments are no longer in the log as they were planned: retention
    /// or DeleteRecords removed one, the log was truncated, cleaned by another cleaning or
    /// is another log. Segments already replaced stay replaced: each one holds what the
    /// map left of its own segments, and the checkpoint does not move.
    ///
    /// # Errors
    /// [`LogError::Io`]. An I/O error while replacing segments leaves the files
    /// consistent for the next open, but this `Log` should not be used further.
    pub fn commit_cleaned_group(&mut self, cleaned: &mut CleanedSegments) -> Result<CleaningCommit, LogError> {
        if let Some(reason) = self.cleaning_invalidated(cleaned)? {
            debug!(dir = %self.dir.display(), reason, "the log changed while it was cleaned; giving up the cleaning");
            cleaned.abandon();
            return Ok(CleaningCommit::GaveUp);
        }
        if let Some(group) = cleaned.groups.pop_front() {
            self.swap_in(group)?;
            if !cleaned.groups.is_empty() {
                return Ok(CleaningCommit::Pending);
            }
        }
        let stats = cleaned.stats;
        if stats.end_offset > stats.first_dirty_offset {
            write_first_dirty_offset(&self.dir, stats.end_offset)?;
            sync_dir(&self.dir)?;
            debug!(dir = %self.dir.display(), ?stats, "cleaned log");
        }
        Ok(CleaningCommit::Done(stats))
    }

    /// Why the next group of `cleaned` cannot be swapped in, if it cannot.
    fn cleaning_invalidated(&self, cleaned: &CleanedSegments) -> Result<Option<&'static str>, LogError> {
        if cleaned.dir != self.dir {
            return Ok(Some("cleaned segments of another log"));
        }
        if cleaned.truncations != self.truncations {
            return Ok(Some("the log was truncated"));
        }
        let Some(group) = cleaned.groups.front() else { return Ok(None) };
        let active_base = self.active().base_offset();
        for planned in &group.segments {
            let Some(segment) = self.segments.get(&planned.base_offset) else {
                return Ok(Some("a segment to replace was deleted"));
            };
            if planned.base_offset >= active_base
                || segment.size_bytes() != planned.size_bytes
                || !segment.records().is_same_file(&planned.records)?
            {
                return Ok(Some("a segment to replace changed"));
            }
        }
        Ok(None)
    }

    /// Puts `group`'s cleaned segment in place of its segments; see the module docs.
    fn swap_in(&mut self, mut group: CleanedGroup) -> Result<(), LogError> {
        let Some(base) = group.segments.first().map(|s| s.base_offset) else { return Ok(()) };
        let Some([cleaned_log, cleaned_index, cleaned_time_index]) = group.cleaned_files.take() else { return Ok(()) };
        let [log_path, index_path, time_index_path] = LogSegment::file_paths(&self.dir, base, "");
        let swap_path = with_added_suffix(&log_path, SWAP_SUFFIX);
        fs::rename(&cleaned_log, &swap_path).at(&swap_path)?;
        sync_dir(&self.dir)?;
        // Committed: from here on, a crash completes the swap when the log is opened.
        let old = group.segments.iter().filter_map(|old| self.segments.remove(&old.base_offset)).collect();
        Self::delete_segments(old)?;
        drop(group);
        // The old segment at `base` gave up its index names above; a crash before the
        // swap below gets its indexes rebuilt by the open that completes it.
        fs::rename(&cleaned_index, &index_path).at(&index_path)?;
        fs::rename(&cleaned_time_index, &time_index_path).at(&time_index_path)?;
        fs::rename(&swap_path, &log_path).at(&log_path)?;
        sync_dir(&self.dir)?;
        let (mut segment, truncation) = LogSegment::load(&self.dir, base, &self.config, self.clock_ms)?;
        if let Some(truncation) = truncation {
            warn!(segment = %log_path.display(), ?truncation, "a cleaned segment did not load whole");
        }
        segment.seal()?;
        self.segments.insert(base, segment);
        Ok(())
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
