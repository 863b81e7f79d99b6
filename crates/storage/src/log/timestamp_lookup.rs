//! ListOffsets by time: the first offset at or after a timestamp, and the record with
//! the largest timestamp (KIP-734, `MAX_TIMESTAMP` = -3). Both decode at most a couple
//! of batches: off the hot path, never on append or fetch.

use super::Log;
use crate::error::ReadError;
use crate::segment::LogSegment;

impl Log {
    /// ListOffsets by timestamp: the earliest offset at or above the log start whose
    /// record timestamp is `>= ts`, with that timestamp; `None` if no record has one.
    /// Uses the time index to find the starting batch and decodes only the batch holding
    /// the answer.
    ///
    /// # Errors
    /// [`ReadError::Log`] on I/O or corrupt data.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, ReadError> {
        for segment in self.segments.values() {
            if segment.max_timestamp() >= ts {
                if let Some(found) = segment.find_offset_by_timestamp(ts, self.log_start_offset)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// ListOffsets `MAX_TIMESTAMP` (-3, KIP-734): the largest record timestamp at or
    /// above the log start, and the offset of the first record carrying it, as
    /// (timestamp, offset); `None` if no record has a timestamp (an empty log, or only
    /// timestamps of -1).
    ///
    /// Each segment knows its largest timestamp and the batch that first reached it, so
    /// this picks the first segment with the largest one and decodes that one batch
    /// (Kafka's `offsetOfMaxTimestamp`, KAFKA-16310), plus, when DeleteRecords moved the
    /// log start into the first segment, the batch the log start splits. (Kafka 3.9
    /// would also consider the records below a log start moved that way.)
    ///
    /// # Errors
    /// [`ReadError::Log`] on I/O or corrupt data.
    pub fn max_timestamp_and_offset(&self) -> Result<Option<(i64, i64)>, ReadError> {
        let log_start = self.log_start_offset;
        // The winner so far: resolved to (timestamp, offset), or a segment whose largest
        // timestamp counts whole (it starts at or after the log start), resolved at the end.
        let mut best_resolved: Option<(i64, i64)> = None;
        let mut best_segment: Option<&LogSegment> = None;
        for segment in self.segments.values() {
            let best_timestamp = best_segment.map_or(best_resolved.map_or(-1, |(t, _)| t), LogSegment::max_timestamp);
            if segment.max_timestamp() <= best_timestamp {
                continue;
            }
            if segment.base_offset() >= log_start {
                best_segment = Some(segment);
            } else if let Some(found) = segment.max_timestamp_and_offset(log_start)? {
                if found.0 > best_timestamp {
                    best_resolved = Some(found);
                    best_segment = None;
                }
            }
        }
        match best_segment {
            Some(segment) => Ok(segment.max_timestamp_and_offset(log_start)?),
            None => Ok(best_resolved),
        }
    }
}
