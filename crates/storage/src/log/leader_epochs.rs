//! The log's leader epoch cache: kept up to date on append, truncation and retention,
//! validated on open, and queried for OffsetsForLeaderEpoch (Kafka's use of
//! `LeaderEpochFileCache` in `UnifiedLog`). The cache itself is
//! [`LeaderEpochCache`]; its file is [`crate::leader_epoch_checkpoint`].

use tracing::{debug, info, warn};

use super::Log;
use crate::atomic_write::sync_dir;
use crate::error::LogError;
use crate::leader_epoch_cache::LeaderEpochCache;
use crate::leader_epoch_checkpoint::{read_leader_epochs, write_leader_epochs};

impl Log {
    /// The latest leader epoch that wrote to the log (or that
    /// [`Log::assign_epoch_start_offset`] recorded); `None` if the cache is empty.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.leader_epochs.latest_epoch()
    }

    /// OffsetsForLeaderEpoch (Kafka's `endOffsetFor`): the largest epoch `<= epoch` the
    /// log knows, and the offset where it ends, i.e. the start offset of the next higher
    /// epoch, or the log end offset when `epoch` is the latest epoch. When `epoch` is
    /// below the first known epoch (its data was deleted), the answer is `epoch` with
    /// the start offset of the first known epoch, as in Kafka since KIP-279.
    ///
    /// `None` stands for Kafka's `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)` = (-1, -1):
    /// `epoch` is -1, above the latest epoch, or the cache is empty.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.leader_epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The leader epoch cache as (epoch, start offset) pairs, both increasing.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.leader_epochs.entries().iter().map(|e| (e.epoch, e.start_offset)).collect()
    }

    /// The epoch of the leader that wrote `offset` (Kafka's `epochForOffset`, which
    /// ListOffsets answers carry); `None` below the first entry.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.leader_epochs.epoch_for_offset(offset)
    }

    /// Records that `leader_epoch` starts at the log end, for a replica becoming leader
    /// before it appends anything (Kafka's `maybeAssignEpochStartOffset(epoch, logEndOffset)`
    /// in `Partition.makeLeader`), so OffsetsForLeaderEpoch answers for the new epoch at
    /// once. Nothing changes if `leader_epoch` is already the latest epoch or negative;
    /// a lower epoch removes the entries it conflicts with, as Kafka does. The entry is
    /// dropped again by a restart or truncation if no batch of that epoch follows it.
    ///
    /// # Errors
    /// [`LogError::Io`] writing the checkpoint; the cache is then unchanged.
    pub fn assign_epoch_start_offset(&mut self, leader_epoch: i32) -> Result<(), LogError> {
        let log_end = self.log_end_offset();
        self.assign_leader_epochs(std::iter::once((leader_epoch, log_end)))
    }

    /// Assigns each (epoch, start offset) in order, as appended batches do. The
    /// checkpoint file is brought up to date before the recovery point passes these
    /// batches (see `Log::leader_epochs_unsaved`), not on the append path.
    pub(super) fn assign_leader_epochs(&mut self, assignments: impl IntoIterator<Item = (i32, i64)>) -> Result<(), LogError> {
        let mut updated: Option<LeaderEpochCache> = None;
        for (epoch, start_offset) in assignments {
            if updated.as_ref().unwrap_or(&self.leader_epochs).is_update_needed(epoch, start_offset) {
                updated.get_or_insert_with(|| self.leader_epochs.clone()).assign(epoch, start_offset);
            }
        }
        if let Some(cache) = updated {
            tracing::debug!(dir = %self.dir.display(), entries = ?cache.entries(), "new leader epoch entry");
            self.leader_epochs = cache;
            self.leader_epochs_unsaved = true;
        }
        Ok(())
    }

    /// Writes the epoch checkpoint if it lacks entries of the cache.
    pub(super) fn save_leader_epochs_if_unsaved(&mut self) -> Result<(), LogError> {
        if self.leader_epochs_unsaved {
            save(self, &self.leader_epochs)?;
            self.leader_epochs_unsaved = false;
        }
        Ok(())
    }

    /// Drops epoch entries starting at or past the log end (after a truncation).
    pub(super) fn truncate_leader_epochs_from_end(&mut self) -> Result<(), LogError> {
        let log_end = self.log_end_offset();
        if self.leader_epochs.truncate_from_end(log_end) {
            save(self, &self.leader_epochs)?;
            self.leader_epochs_unsaved = false;
        }
        Ok(())
    }

    /// Forgets epoch entries below the log start offset (after it moved up).
    pub(super) fn truncate_leader_epochs_from_start(&mut self) -> Result<(), LogError> {
        if self.leader_epochs.truncate_from_start(self.log_start_offset) {
            save(self, &self.leader_epochs)?;
            self.leader_epochs_unsaved = false;
        }
        Ok(())
    }

    pub(super) fn clear_leader_epochs(&mut self) -> Result<(), LogError> {
        if self.leader_epochs.clear() {
            save(self, &self.leader_epochs)?;
            self.leader_epochs_unsaved = false;
        }
        Ok(())
    }

    /// Loads the cache when the log is opened (segments, log start and recovery point
    /// already known) and makes it agree with the recovered log: entries at or past the
    /// log end are dropped; after an unclean shutdown, the entries of batches past the
    /// recovery point are derived again from their headers; entries below the log start
    /// are truncated. A missing or damaged checkpoint is rebuilt from every batch
    /// header. The file is rewritten only if the cache differs from it.
    pub(super) fn load_leader_epochs(&mut self, had_clean_shutdown: bool) -> Result<(), LogError> {
        let on_disk = match read_leader_epochs(&self.dir) {
            Ok(cache) => cache,
            Err(LogError::CorruptCheckpoint { path, reason }) => {
                warn!(path = %path.display(), %reason, "ignoring the damaged leader epoch checkpoint; rebuilding it from the batches");
                None
            }
            Err(e) => return Err(e),
        };
        let mut cache = match &on_disk {
            Some(cache) => {
                let mut cache = cache.clone();
                cache.truncate_from_end(self.log_end_offset());
                if !had_clean_shutdown {
                    self.assign_epochs_of_batches_from(&mut cache, self.recovery_point)?;
                }
                cache
            }
            None => {
                if self.log_end_offset() > self.first_segment_base() {
                    debug!(dir = %self.dir.display(), "no leader epoch checkpoint (none written yet, or deleted); rebuilding it from the batches");
                }
                let mut cache = LeaderEpochCache::default();
                self.assign_epochs_of_batches_from(&mut cache, self.first_segment_base())?;
                cache
            }
        };
        cache.truncate_from_start(self.log_start_offset);
        if on_disk.as_ref() != Some(&cache) {
            if on_disk.is_some() {
                let before = on_disk.as_ref().map(LeaderEpochCache::entries);
                info!(dir = %self.dir.display(), ?before, after = ?cache.entries(), "corrected the leader epoch cache to the recovered log");
            }
            // Saved as appended epochs are: before the recovery point passes the batches
            // (the next flush). Until then a crash finds the same file and corrects it
            // the same way, since opening does not move the recovery point.
            self.leader_epochs_unsaved = true;
        }
        self.leader_epochs = cache;
        Ok(())
    }

    /// Replaces what `cache` says about the batches from the one containing `from` on by
    /// what their headers say: drops entries starting at or after that batch, then
    /// assigns every batch's epoch in order (headers only).
    fn assign_epochs_of_batches_from(&self, cache: &mut LeaderEpochCache, from: i64) -> Result<(), LogError> {
        let mut first = true;
        for segment in self.segments.range(self.floor_base(from)..).map(|(_, s)| s) {
            segment.for_each_batch_from(from, |batch| {
                if first {
                    cache.truncate_from_end(batch.base_offset);
                    first = false;
                }
                cache.assign(batch.partition_leader_epoch, batch.base_offset);
            })?;
        }
        Ok(())
    }
}

/// Writes `cache` to the checkpoint durably.
/// Replaces the checkpoint with `cache` (which always includes any unsaved entries).
fn save(log: &Log, cache: &LeaderEpochCache) -> Result<(), LogError> {
    write_leader_epochs(&log.dir, cache)?;
    sync_dir(&log.dir)
}
