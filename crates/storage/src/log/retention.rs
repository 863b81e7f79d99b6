//! Retention: deleting whole old segments by time and by size (Kafka's
//! `deleteRetentionMsBreachedSegments` and `deleteRetentionSizeBreachedSegments`).
//!
//! Only a prefix of the log is ever deleted, oldest segment first, and only segments
//! whose every offset is below the high watermark. The empty active segment is never
//! deleted; when every segment, the active one included, is due, a new empty active
//! segment is rolled first, so the log start moves to the log end. Segments wholly
//! below a log start moved by DeleteRecords are deleted too. The log start offset then
//! moves to the new first segment and the leader epoch cache forgets what lies below it
//! (Kafka's `truncateFromStart`).

use tracing::info;

use super::Log;
use crate::error::LogError;
use crate::segment::LogSegment;

impl Log {
    /// Deletes whole segments beyond retention and advances the log start offset: first
    /// the segments wholly below the log start offset (left by DeleteRecords), then by
    /// time (`retention.ms`: segments whose largest timestamp is more than that older
    /// than `now_ms`), then by size (`retention.bytes`: oldest segments while the log
    /// minus the segment stays at or above the limit); time and size only when
    /// `cleanup.policy` contains `delete` ([`LogConfig::delete`](crate::LogConfig::delete)). Returns the number of
    /// segments deleted. Same as [`Log::enforce_retention_below`] with no high watermark.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        self.enforce_retention_below(now_ms, i64::MAX)
    }

    /// [`Log::enforce_retention`] that never deletes a segment holding offsets at or
    /// above `high_watermark`, so the log start cannot pass it (as Kafka does).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn enforce_retention_below(&mut self, now_ms: i64, high_watermark: i64) -> Result<usize, LogError> {
        self.observe(now_ms);
        let mut deleted = self.delete_segments_below_log_start()?;
        if !self.config.delete {
            // `cleanup.policy=compact` alone: the cleaner, not retention, bounds the log.
            return Ok(deleted);
        }
        if self.config.retention_ms >= 0 {
            let retention_ms = self.config.retention_ms;
            let count = self.count_deletable(high_watermark, |segment| {
                Ok(now_ms.saturating_sub(segment.largest_timestamp()?) > retention_ms)
            })?;
            deleted += self.delete_oldest_segments(count, now_ms, "retention.ms")?;
        }
        if self.config.retention_bytes >= 0 {
            let size_bytes = self.size_bytes();
            let retention_bytes = self.config.retention_bytes as u64;
            if size_bytes >= retention_bytes {
                let mut excess_bytes = size_bytes - retention_bytes;
                let count = self.count_deletable(high_watermark, |segment| {
                    let due = excess_bytes >= segment.size_bytes();
                    if due {
                        excess_bytes -= segment.size_bytes();
                    }
                    Ok(due)
                })?;
                deleted += self.delete_oldest_segments(count, now_ms, "retention.bytes")?;
            }
        }
        Ok(deleted)
    }

    /// The length of the prefix of segments that `due` accepts, stopping at the empty
    /// active segment and at segments reaching `high_watermark`.
    fn count_deletable(
        &self,
        high_watermark: i64,
        mut due: impl FnMut(&LogSegment) -> Result<bool, LogError>,
    ) -> Result<usize, LogError> {
        let log_end = self.log_end_offset();
        let mut segments = self.segments.values().peekable();
        let mut count = 0;
        while let Some(segment) = segments.next() {
            let next = segments.peek();
            let upper_bound = next.map_or(log_end, |next| next.base_offset());
            let last_and_empty = next.is_none() && segment.is_empty();
            if high_watermark < upper_bound || last_and_empty || !due(segment)? {
                break;
            }
            count += 1;
        }
        Ok(count)
    }

    /// Deletes the first `count` segments (rolling first if that is all of them) and moves
    /// the log start offset and the leader epoch cache up to the new first segment.
    pub(super) fn delete_oldest_segments(&mut self, count: usize, now_ms: i64, reason: &str) -> Result<usize, LogError> {
        if count == 0 {
            return Ok(0);
        }
        if count == self.segments.len() {
            // Never leave the log without a segment: start an empty one at the log end.
            self.roll(self.log_end_offset(), now_ms)?;
        }
        let bases: Vec<i64> = self.segments.keys().take(count).copied().collect();
        let segments: Vec<LogSegment> = bases.into_iter().filter_map(|base| self.segments.remove(&base)).collect();
        for segment in &segments {
            info!(segment = %segment.log_path().display(), next_offset = segment.next_offset(), reason, "deleting segment beyond retention");
        }
        Self::delete_segments(segments)?;
        let first_base = self.first_segment_base();
        self.recovery_point = self.recovery_point.max(first_base);
        self.log_start_offset = self.log_start_offset.max(first_base);
        self.truncate_leader_epochs_from_start()?;
        self.checkpoint_log_start_if_needed()?;
        Ok(count)
    }
}
