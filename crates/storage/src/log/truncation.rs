//! Truncation for replication: dropping the end of the log (a follower that diverged
//! from its leader) or all of it (a follower that fell behind the leader's log start).

use tracing::info;

use super::Log;
use crate::atomic_write::sync_dir;
use crate::cleaner_checkpoint::delete_first_dirty_offset;
use crate::error::LogError;
use crate::producer_snapshot::{delete_snapshot, list_snapshots};
use crate::producer_state::ProducerStateManager;
use crate::segment::LogSegment;

impl Log {
    /// Drops everything at and above `offset`. Whole batches are removed: the batch that
    /// contains `offset` goes entirely, so the log end becomes its base offset (equal to
    /// `offset` when `offset` is a batch boundary, as replication targets are). Leader
    /// epoch entries starting at or past the new log end are dropped (Kafka's
    /// `truncateFromEnd`), and the log start offset comes down to the log end if it was
    /// above it. If `offset >= log end` no data goes, but epoch entries at the log end
    /// (assigned by a leader that wrote nothing) are dropped, as Kafka does; below the
    /// first segment this is [`Log::truncate_fully_and_start_at`]. The lowered recovery
    /// point is checkpointed before any data goes, and the truncation is fsynced before
    /// returning, so a crash cannot bring the dropped batches back.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.max(0);
        if offset >= self.log_end_offset() {
            return self.truncate_leader_epochs_from_end();
        }
        if offset < self.first_segment_base() {
            return self.truncate_fully_and_start_at(offset);
        }
        info!(dir = %self.dir.display(), offset, log_end_offset = self.log_end_offset(), "truncating log");
        self.truncations += 1;
        self.recovery_point = self.recovery_point.min(offset);
        self.write_checkpoint()?;
        self.truncate_cleaner_checkpoint(offset)?;
        let later: Vec<i64> = self.segments.range(offset + 1..).map(|(base, _)| *base).collect();
        let later = later.into_iter().rev().filter_map(|base| self.segments.remove(&base)).collect();
        Self::delete_segments(later)?;
        let active = self.active_mut();
        active.truncate_to(offset)?;
        active.sync()?;
        // Producer snapshots of dropped batches go before the directory sync: one that
        // a power failure brought back would describe batches that later appends replace.
        for snapshot in list_snapshots(&self.dir)?.into_iter().filter(|&s| s > self.log_end_offset()) {
            delete_snapshot(&self.dir, snapshot)?;
        }
        sync_dir(&self.dir)?;
        // Truncation removes whole batches, so the log may now end below `offset`: the
        // checkpoint must not vouch for offsets that later appends will rewrite.
        self.recovery_point = self.recovery_point.min(self.log_end_offset());
        if self.checkpointed_recovery_point != self.recovery_point {
            self.write_checkpoint()?;
        }
        self.truncate_leader_epochs_from_end()?;
        self.log_start_offset = self.log_start_offset.min(self.log_end_offset());
        self.checkpoint_log_start_if_needed()?;
        self.rebuild_producer_state()?;
        Ok(())
    }

    /// Deletes every segment and starts an empty log at `offset` (log start = log end =
    /// `offset`), forgetting all producer state and every leader epoch entry.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.max(0);
        info!(dir = %self.dir.display(), offset, "truncating the whole log");
        self.truncations += 1;
        self.recovery_point = self.recovery_point.min(offset);
        self.write_checkpoint()?;
        delete_first_dirty_offset(&self.dir)?;
        // Keep one segment in the map at every step (see the `Log` invariants).
        let older: Vec<i64> = self.segments.keys().rev().skip(1).copied().collect();
        let older = older.into_iter().filter_map(|base| self.segments.remove(&base)).collect();
        Self::delete_segments(older)?;
        let last_base = self.active().base_offset();
        if last_base == offset {
            self.active_mut().truncate_to(offset)?;
            self.active_mut().sync()?;
        } else {
            let segment = LogSegment::create(&self.dir, offset, &self.config, self.clock_ms)?;
            self.segments.insert(offset, segment);
            let old = self.segments.remove(&last_base).into_iter().collect();
            Self::delete_segments(old)?;
        }
        for snapshot in list_snapshots(&self.dir)? {
            delete_snapshot(&self.dir, snapshot)?;
        }
        self.producers = ProducerStateManager::default();
        self.recovery_point = offset;
        self.write_checkpoint()?;
        self.log_start_offset = offset;
        self.checkpoint_log_start_if_needed()?;
        self.clear_leader_epochs()
    }
}
