//! Moving the log start offset by DeleteRecords (Kafka's `maybeIncrementLogStartOffset`
//! with reason `ClientRecordDeletion`, and `deleteLogStartOffsetBreachedSegments`).
//!
//! ```text
//!   before:  [ 0 ........ 99 ][ 100 ....... 199 ][ 200 ... (active) ]
//!   advance_log_start_offset(150)
//!   after:                     [ 100 ..|150 ... 199 ][ 200 ... (active) ]
//!                                       ^ log start: reads below are out of range
//! ```
//!
//! Whole segments below the new start are deleted at once; the records of the first
//! remaining segment below it stay on disk, unreadable, until retention deletes that
//! segment.

use tracing::{info, warn};

use super::Log;
use crate::atomic_write::sync_dir;
use crate::error::LogError;
use crate::log_start_checkpoint::{read_log_start_offset, write_log_start_offset};

impl Log {
    /// Moves the log start offset up to `offset` (DeleteRecords): reads below it become
    /// [`ReadError::OffsetOutOfRange`](crate::ReadError::OffsetOutOfRange), segments
    /// wholly below it are deleted, the leader epoch cache forgets what lies below it,
    /// and the new start is checkpointed in `log-start-offset-checkpoint` first, so it
    /// survives restarts and crashes. An `offset` at or below the current log start
    /// changes nothing; `offset` may equal the log end (everything deleted). Idempotent
    /// producers' state is kept. The broker checks `offset` against the high watermark,
    /// as Kafka does; this log only knows its end.
    ///
    /// # Errors
    /// [`LogError::LogStartBeyondLogEnd`] if `offset` is above the log end (nothing
    /// changed); [`LogError::Io`].
    pub fn advance_log_start_offset(&mut self, offset: i64) -> Result<(), LogError> {
        if offset <= self.log_start_offset {
            return Ok(());
        }
        let log_end_offset = self.log_end_offset();
        if offset > log_end_offset {
            return Err(LogError::LogStartBeyondLogEnd { offset, log_end_offset });
        }
        info!(dir = %self.dir.display(), from = self.log_start_offset, to = offset, "advancing the log start offset");
        let previous = self.log_start_offset;
        self.log_start_offset = offset;
        if let Err(e) = self.checkpoint_log_start_if_needed() {
            self.log_start_offset = previous;
            return Err(e);
        }
        self.truncate_leader_epochs_from_start()?;
        self.delete_segments_below_log_start()?;
        Ok(())
    }

    /// Deletes the segments whose every offset is below the log start offset (the
    /// active segment never is). Returns how many.
    pub(super) fn delete_segments_below_log_start(&mut self) -> Result<usize, LogError> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let count = bases.windows(2).take_while(|pair| pair[1] <= self.log_start_offset).count();
        self.delete_oldest_segments(count, self.clock_ms, "below the log start offset")
    }

    /// Sets the log start offset when the log is opened: the checkpoint, or the first
    /// segment's base offset if that is higher or there is no usable checkpoint, but
    /// never above the log end (a crash may have cut batches the checkpoint covered).
    pub(super) fn load_log_start_offset(&mut self) -> Result<(), LogError> {
        self.checkpointed_log_start_offset = match read_log_start_offset(&self.dir) {
            Ok(offset) => offset,
            Err(LogError::CorruptCheckpoint { path, reason }) => {
                warn!(path = %path.display(), %reason, "ignoring the damaged log start offset checkpoint");
                None
            }
            Err(e) => return Err(e),
        };
        let first_base = self.first_segment_base();
        let checkpointed = self.checkpointed_log_start_offset.unwrap_or(first_base);
        self.log_start_offset = checkpointed.max(first_base).min(self.log_end_offset());
        self.checkpoint_log_start_if_needed()
    }

    /// Writes `log-start-offset-checkpoint` (durably) if opening the log with the file as
    /// it is would give another log start than the current one; see
    /// [`crate::log_start_checkpoint`] for the rule. Retention alone never needs a write.
    pub(super) fn checkpoint_log_start_if_needed(&mut self) -> Result<(), LogError> {
        let first_base = self.first_segment_base();
        let implied = self.checkpointed_log_start_offset.unwrap_or(first_base).max(first_base);
        if implied != self.log_start_offset {
            write_log_start_offset(&self.dir, self.log_start_offset)?;
            sync_dir(&self.dir)?;
            self.checkpointed_log_start_offset = Some(self.log_start_offset);
        }
        Ok(())
    }
}
