//! The leader epoch cache: which leader epoch wrote which offsets (Kafka's
//! `LeaderEpochFileCache`, KIP-101 and KIP-279).
//!
//! ```text
//!   entries:  (epoch 0, start 0)  (epoch 2, start 120)  (epoch 5, start 300)
//!   offsets:  [0 ....... 119]     [120 ......... 299]    [300 ..... log end)
//! ```
//!
//! Each entry says "the first batch written under `epoch` starts at `start_offset`";
//! an epoch ends where the next entry starts, the latest one at the log end. A replica
//! returning after a leader change asks the new leader for the end offset of its own
//! latest epoch (OffsetsForLeaderEpoch) and truncates to it, which removes exactly the
//! batches the new leader never had.
//!
//! Invariant: epochs and start offsets both strictly increase along the entries.
//!
//! This type is pure: it does no I/O. [`Log`](crate::Log) persists it after every
//! change as `leader-epoch-checkpoint` (see [`crate::leader_epoch_checkpoint`]).

use tracing::warn;

/// One entry of the cache: `epoch` started writing at `start_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EpochEntry {
    pub(crate) epoch: i32,
    pub(crate) start_offset: i64,
}

/// The entries of one partition (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaderEpochCache {
    /// Ordered by epoch and by start offset (both strictly increasing).
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// A cache holding `entries`, which must keep the invariant.
    ///
    /// # Errors
    /// A description of the first violation: a negative field, or an entry whose epoch
    /// or start offset is not above the previous one's.
    pub(crate) fn from_entries(entries: Vec<EpochEntry>) -> Result<Self, String> {
        for (i, entry) in entries.iter().enumerate() {
            if entry.epoch < 0 || entry.start_offset < 0 {
                return Err(format!("entry {i} ({} {}) is negative", entry.epoch, entry.start_offset));
            }
            if let Some(previous) = i.checked_sub(1).map(|p| entries[p]) {
                if entry.epoch <= previous.epoch || entry.start_offset <= previous.start_offset {
                    return Err(format!(
                        "entry {i} ({} {}) does not follow ({} {})",
                        entry.epoch, entry.start_offset, previous.epoch, previous.start_offset
                    ));
                }
            }
        }
        Ok(LeaderEpochCache { entries })
    }

    pub(crate) fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Whether [`LeaderEpochCache::assign`] would change the cache: the epoch differs
    /// from the latest one, or the same epoch would start earlier (Kafka's
    /// `isUpdateNeeded`). Negative epochs (a batch that no leader stamped) never do.
    pub(crate) fn is_update_needed(&self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        self.entries.last().is_none_or(|latest| epoch != latest.epoch || start_offset < latest.start_offset)
    }

    /// Records that `epoch` writes from `start_offset` (called for every appended batch,
    /// and by a new leader at its log end). Entries that would break the ordering, those
    /// with an epoch `>= epoch` or a start offset `>= start_offset`, are removed first,
    /// as Kafka does. Returns whether the cache changed.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if !self.is_update_needed(epoch, start_offset) {
            return false;
        }
        let keep = self.entries.iter().rposition(|e| e.epoch < epoch && e.start_offset < start_offset).map_or(0, |i| i + 1);
        let removed = &self.entries[keep..];
        // Replacing an entry that had no data yet (same start offset) is expected.
        if removed.len() > 1 || removed.first().is_some_and(|e| e.start_offset != start_offset) {
            warn!(epoch, start_offset, ?removed, "new leader epoch entry removes conflicting entries");
        }
        self.entries.truncate(keep);
        self.entries.push(EpochEntry { epoch, start_offset });
        true
    }

    /// Removes the entries whose start offset is `>= end_offset` (the log was truncated
    /// to end there; Kafka's `truncateFromEnd`). Returns whether the cache changed.
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let keep = self.entries.partition_point(|e| e.start_offset < end_offset);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// Forgets what lies below `start_offset` (the log start moved up; Kafka's
    /// `truncateFromStart`): entries starting at or below it are removed, and the last
    /// of them comes back starting at `start_offset`, since its epoch still covers the
    /// first offsets of the log. Returns whether the cache changed.
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self.entries.partition_point(|e| e.start_offset <= start_offset);
        if below == 0 {
            return false;
        }
        let covering = EpochEntry { epoch: self.entries[below - 1].epoch, start_offset };
        let changed = below > 1 || self.entries[0] != covering;
        self.entries.drain(..below - 1);
        self.entries[0] = covering;
        changed
    }

    /// Removes every entry (the whole log was replaced). Returns whether the cache changed.
    pub(crate) fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// Kafka's `endOffsetFor`: the largest epoch `<= requested_epoch` that the cache
    /// knows, with the offset where it ends, i.e. the start offset of the next higher
    /// epoch, or `log_end_offset` when `requested_epoch` is the latest epoch. When
    /// `requested_epoch` is below every entry, the answer is `requested_epoch` with the
    /// start offset of the first entry (the data before it is gone; KIP-279). `None` is
    /// Kafka's `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`: `requested_epoch` is -1, is
    /// above the latest epoch, or the cache is empty.
    pub(crate) fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        if requested_epoch == -1 {
            return None;
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return Some((requested_epoch, log_end_offset));
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested_epoch);
        let next = self.entries.get(higher)?;
        match higher.checked_sub(1).map(|floor| self.entries[floor]) {
            Some(floor) => Some((floor.epoch, next.start_offset)),
            None => Some((requested_epoch, next.start_offset)),
        }
    }

    /// The epoch that wrote `offset`: that of the last entry starting at or below it
    /// (Kafka's `epochForOffset`); `None` below the first entry.
    pub(crate) fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let covering = self.entries.partition_point(|e| e.start_offset <= offset);
        covering.checked_sub(1).map(|i| self.entries[i].epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let entries = entries.iter().map(|&(epoch, start_offset)| EpochEntry { epoch, start_offset }).collect();
        LeaderEpochCache::from_entries(entries).unwrap()
    }

    fn pairs(cache: &LeaderEpochCache) -> Vec<(i32, i64)> {
        cache.entries().iter().map(|e| (e.epoch, e.start_offset)).collect()
    }

    #[test]
    fn assign_records_only_changes_of_epoch() {
        let mut c = LeaderEpochCache::default();
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5), "same epoch, later offset");
        assert!(c.assign(2, 10));
        assert!(!c.assign(-1, 20), "unstamped batches are ignored");
        assert!(c.assign(3, 20));
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10), (3, 20)]);
        // The same epoch starting earlier replaces its entry.
        assert!(c.assign(3, 15));
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10), (3, 15)]);
        // A lower epoch removes every entry that is not below it in both fields.
        assert!(c.assign(1, 12));
        assert_eq!(pairs(&c), vec![(0, 0), (1, 12)]);
        // A new epoch at the start offset of the latest one (no data yet) replaces it.
        assert!(c.assign(4, 12));
        assert_eq!(pairs(&c), vec![(0, 0), (4, 12)]);
    }

    #[test]
    fn from_entries_rejects_disorder() {
        for bad in [vec![(1, 5), (1, 6)], vec![(1, 5), (2, 5)], vec![(2, 5), (1, 6)], vec![(-1, 0)], vec![(0, -3)]] {
            let entries = bad.iter().map(|&(epoch, start_offset)| EpochEntry { epoch, start_offset }).collect();
            assert!(LeaderEpochCache::from_entries(entries).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn end_offset_follows_kafka() {
        let c = cache(&[(1, 0), (3, 100), (6, 250)]);
        assert_eq!(c.end_offset_for(1, 400), Some((1, 100)));
        assert_eq!(c.end_offset_for(3, 400), Some((3, 250)));
        assert_eq!(c.end_offset_for(2, 400), Some((1, 100)), "between entries: the floor epoch");
        assert_eq!(c.end_offset_for(5, 400), Some((3, 250)));
        assert_eq!(c.end_offset_for(6, 400), Some((6, 400)), "latest: the log end");
        assert_eq!(c.end_offset_for(7, 400), None, "above the latest");
        assert_eq!(c.end_offset_for(-1, 400), None, "undefined epoch");
        let c = cache(&[(4, 50), (6, 90)]);
        assert_eq!(c.end_offset_for(2, 400), Some((2, 50)), "below the first: its start offset");
        assert_eq!(LeaderEpochCache::default().end_offset_for(0, 400), None);
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 100), (6, 250)]);
        assert!(!c.truncate_from_end(251));
        assert!(c.truncate_from_end(250));
        assert_eq!(pairs(&c), vec![(1, 0), (3, 100)]);
        let mut c = cache(&[(1, 0), (3, 100), (6, 250)]);
        assert!(!c.truncate_from_start(0));
        assert!(c.truncate_from_start(120));
        assert_eq!(pairs(&c), vec![(3, 120), (6, 250)]);
        assert!(c.truncate_from_start(250));
        assert_eq!(pairs(&c), vec![(6, 250)]);
        assert!(!c.truncate_from_start(250));
        assert!(c.truncate_from_start(300));
        assert_eq!(pairs(&c), vec![(6, 300)]);
        assert_eq!(c.epoch_for_offset(299), None);
        assert_eq!(c.epoch_for_offset(300), Some(6));
        assert!(c.clear());
        assert!(!c.clear());
    }

    #[test]
    fn epoch_for_offset_finds_the_covering_entry() {
        let c = cache(&[(1, 10), (3, 100)]);
        assert_eq!(c.epoch_for_offset(9), None);
        assert_eq!(c.epoch_for_offset(10), Some(1));
        assert_eq!(c.epoch_for_offset(99), Some(1));
        assert_eq!(c.epoch_for_offset(100), Some(3));
        assert_eq!(c.epoch_for_offset(i64::MAX), Some(3));
    }
}
