//! Idempotent-producer state of one partition (Kafka's `ProducerStateManager`).
//!
//! For every producer id that wrote a batch, the partition remembers the producer's
//! epoch and the sequence and offset ranges of its last [`RETAINED_BATCHES`] batches. A
//! leader append is checked against it:
//!
//! - a batch whose epoch and (first, last) sequence equal a retained batch's is a
//!   *duplicate* (a producer retry): the whole append is skipped and answered with the
//!   original offsets;
//! - an epoch older than the stored one is fenced (`INVALID_PRODUCER_EPOCH`);
//! - a newer epoch must start at sequence 0, and the same epoch must continue at the
//!   last sequence + 1, wrapping after `i32::MAX` (`OUT_OF_ORDER_SEQUENCE_NUMBER`);
//! - an unknown producer id is accepted at any sequence.
//!
//! Appends from a follower and batches replayed from the log are applied without checks,
//! in log order, so replaying the log rebuilds the same state. The state is persisted in
//! snapshot files (`producer_snapshot`) so that a restart replays only the log after
//! the latest snapshot.

use std::collections::{HashMap, VecDeque};

use spool_protocol::batch::BatchHeader;

use crate::error::AppendError;

/// Batches remembered per producer for duplicate detection: the most a producer has in
/// flight (`max.in.flight.requests.per.connection` <= 5 for idempotence).
pub(crate) const RETAINED_BATCHES: usize = 5;

/// The sequence and offset ranges of one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
}

impl BatchMetadata {
    fn of(header: &BatchHeader) -> Self {
        BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: header.last_sequence(),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
        }
    }
}

/// What the partition knows about one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducerStateEntry {
    pub(crate) epoch: i16,
    /// Oldest first; at most [`RETAINED_BATCHES`].
    pub(crate) batches: VecDeque<BatchMetadata>,
    /// Max timestamp of the last batch, for expiration.
    pub(crate) last_timestamp: i64,
}

impl ProducerStateEntry {
    fn new(epoch: i16) -> Self {
        ProducerStateEntry { epoch, batches: VecDeque::with_capacity(RETAINED_BATCHES), last_timestamp: -1 }
    }

    fn last_seq(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }

    /// Records a batch, resetting the retained batches when the epoch changes.
    fn add_batch(&mut self, header: &BatchHeader) {
        if header.producer_epoch != self.epoch {
            self.epoch = header.producer_epoch;
            self.batches.clear();
        }
        if self.batches.len() == RETAINED_BATCHES {
            self.batches.pop_front();
        }
        self.batches.push_back(BatchMetadata::of(header));
        self.last_timestamp = header.max_timestamp;
    }

    fn find_duplicate(&self, header: &BatchHeader) -> Option<BatchMetadata> {
        if header.producer_epoch != self.epoch {
            return None;
        }
        let last_seq = header.last_sequence();
        self.batches.iter().find(|b| b.first_seq == header.base_sequence && b.last_seq == last_seq).copied()
    }
}

/// The verdict on a leader append.
#[derive(Debug)]
pub(crate) enum LeaderAppendCheck {
    /// A batch repeats one already in the log: append nothing, answer with its offsets.
    Duplicate(BatchMetadata),
    /// Every batch is in order; apply the updates once the bytes are written.
    Accept(ProducerUpdates),
}

/// The new entries of the producers an append touches.
#[derive(Debug, Default)]
pub(crate) struct ProducerUpdates {
    entries: Vec<(i64, ProducerStateEntry)>,
}

impl ProducerUpdates {
    fn entry_mut(&mut self, producer_id: i64) -> Option<&mut ProducerStateEntry> {
        self.entries.iter_mut().find(|(id, _)| *id == producer_id).map(|(_, entry)| entry)
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq as i64 == last_seq as i64 + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// Producer states by producer id (see the module docs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerStateEntry>,
}

impl ProducerStateManager {
    pub(crate) fn from_entries(entries: impl IntoIterator<Item = (i64, ProducerStateEntry)>) -> Self {
        ProducerStateManager { producers: entries.into_iter().collect() }
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&i64, &ProducerStateEntry)> {
        self.producers.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    #[cfg(test)]
    pub(crate) fn get(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Checks the batches of a leader append, whose headers already carry the offsets
    /// they will get. Nothing changes until [`ProducerStateManager::apply`].
    ///
    /// # Errors
    /// [`AppendError::InvalidProducerEpoch`], [`AppendError::OutOfOrderSequence`] or
    /// [`AppendError::InvalidSequence`] for the first batch that fails.
    pub(crate) fn check_leader_append(&self, batches: &[BatchHeader]) -> Result<LeaderAppendCheck, AppendError> {
        let mut updates = ProducerUpdates::default();
        for header in batches.iter().filter(|h| h.has_producer_id()) {
            let producer_id = header.producer_id;
            if let Some(duplicate) = self.producers.get(&producer_id).and_then(|e| e.find_duplicate(header)) {
                return Ok(LeaderAppendCheck::Duplicate(duplicate));
            }
            if header.base_sequence < 0 {
                return Err(AppendError::InvalidSequence { producer_id, base_sequence: header.base_sequence });
            }
            if updates.entry_mut(producer_id).is_none() {
                match self.producers.get(&producer_id) {
                    Some(entry) => updates.entries.push((producer_id, entry.clone())),
                    None => {
                        // Unknown producer: any sequence is accepted.
                        let mut entry = ProducerStateEntry::new(header.producer_epoch);
                        entry.add_batch(header);
                        updates.entries.push((producer_id, entry));
                        continue;
                    }
                }
            }
            let Some(entry) = updates.entry_mut(producer_id) else { continue };
            check_batch(entry, header)?;
            entry.add_batch(header);
        }
        Ok(LeaderAppendCheck::Accept(updates))
    }

    /// Stores the entries of an accepted leader append.
    pub(crate) fn apply(&mut self, updates: ProducerUpdates) {
        self.producers.extend(updates.entries);
    }

    /// Records a batch from the log or a leader without checks.
    pub(crate) fn apply_replicated(&mut self, header: &BatchHeader) {
        if !header.has_producer_id() {
            return;
        }
        self.producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerStateEntry::new(header.producer_epoch))
            .add_batch(header);
    }

    /// Forgets producers whose last batch is `expiration_ms` or more older than `now_ms`.
    /// Returns how many were removed.
    pub(crate) fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| now_ms.saturating_sub(entry.last_timestamp) < expiration_ms);
        before - self.producers.len()
    }
}

/// Epoch and sequence checks of one batch of a known producer.
fn check_batch(entry: &ProducerStateEntry, header: &BatchHeader) -> Result<(), AppendError> {
    let producer_id = header.producer_id;
    if header.producer_epoch < entry.epoch {
        return Err(AppendError::InvalidProducerEpoch {
            producer_id,
            producer_epoch: header.producer_epoch,
            current_epoch: entry.epoch,
        });
    }
    let last_sequence = if header.producer_epoch == entry.epoch { entry.last_seq() } else { -1 };
    let ok = if header.producer_epoch != entry.epoch {
        header.base_sequence == 0
    } else {
        in_sequence(last_sequence, header.base_sequence)
    };
    if ok {
        Ok(())
    } else {
        Err(AppendError::OutOfOrderSequence {
            producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            last_sequence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(producer_id: i64, epoch: i16, base_sequence: i32, count: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 1000,
            max_timestamp: 1000 + base_offset,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            record_count: count,
        }
    }

    fn accept(state: &mut ProducerStateManager, batches: &[BatchHeader]) {
        match state.check_leader_append(batches).unwrap() {
            LeaderAppendCheck::Accept(updates) => state.apply(updates),
            other => panic!("expected accept, got {other:?}"),
        }
    }

    #[test]
    fn sequences_must_follow_and_duplicates_return_original_offsets() {
        let mut state = ProducerStateManager::default();
        accept(&mut state, &[header(7, 0, 0, 3, 0)]);
        accept(&mut state, &[header(7, 0, 3, 2, 3)]);
        match state.check_leader_append(&[header(7, 0, 0, 3, 5)]).unwrap() {
            LeaderAppendCheck::Duplicate(meta) => assert_eq!((meta.first_offset, meta.last_offset), (0, 2)),
            other => panic!("{other:?}"),
        }
        let err = state.check_leader_append(&[header(7, 0, 6, 1, 5)]).unwrap_err();
        assert!(matches!(err, AppendError::OutOfOrderSequence { base_sequence: 6, last_sequence: 4, .. }));
        // Two batches of one producer in one append are checked against each other.
        accept(&mut state, &[header(7, 0, 5, 1, 5), header(7, 0, 6, 1, 6)]);
        let err = state.check_leader_append(&[header(7, 0, 7, 1, 7), header(7, 0, 9, 1, 8)]).unwrap_err();
        assert!(matches!(err, AppendError::OutOfOrderSequence { base_sequence: 9, .. }));
        assert_eq!(state.get(7).unwrap().last_seq(), 6, "a refused append changes nothing");
    }

    #[test]
    fn epochs_fence_and_reset_sequences() {
        let mut state = ProducerStateManager::default();
        accept(&mut state, &[header(1, 3, 10, 1, 0)]); // unknown producer: any sequence
        let err = state.check_leader_append(&[header(1, 2, 11, 1, 1)]).unwrap_err();
        assert!(matches!(err, AppendError::InvalidProducerEpoch { producer_epoch: 2, current_epoch: 3, .. }));
        let err = state.check_leader_append(&[header(1, 4, 5, 1, 1)]).unwrap_err();
        assert!(matches!(err, AppendError::OutOfOrderSequence { base_sequence: 5, last_sequence: -1, .. }));
        accept(&mut state, &[header(1, 4, 0, 1, 1)]);
        assert_eq!(state.get(1).unwrap().batches.len(), 1, "new epoch forgets old batches");
        let err = state.check_leader_append(&[header(1, 4, -1, 1, 2)]).unwrap_err();
        assert!(matches!(err, AppendError::InvalidSequence { .. }));
    }

    #[test]
    fn sequence_wraps_and_only_five_batches_are_retained() {
        let mut state = ProducerStateManager::default();
        accept(&mut state, &[header(9, 0, i32::MAX - 1, 2, 0)]);
        accept(&mut state, &[header(9, 0, 0, 1, 2)]);
        for i in 0..5 {
            accept(&mut state, &[header(9, 0, 1 + i, 1, 3 + i as i64)]);
        }
        assert_eq!(state.get(9).unwrap().batches.len(), RETAINED_BATCHES);
        // The oldest batch (seq 0) was evicted: its retry is now out of order, not a duplicate.
        let err = state.check_leader_append(&[header(9, 0, 0, 1, 8)]).unwrap_err();
        assert!(matches!(err, AppendError::OutOfOrderSequence { .. }));
        assert!(matches!(
            state.check_leader_append(&[header(9, 0, 1, 1, 8)]).unwrap(),
            LeaderAppendCheck::Duplicate(BatchMetadata { first_offset: 3, .. })
        ));
    }

    #[test]
    fn replay_rebuilds_the_same_state_and_expiry_forgets() {
        let batches = [header(1, 0, 0, 2, 0), header(2, 0, 5, 1, 2), header(1, 0, 2, 1, 3), header(-1, -1, -1, 4, 4)];
        let mut leader = ProducerStateManager::default();
        for batch in &batches {
            accept(&mut leader, std::slice::from_ref(batch));
        }
        let mut replayed = ProducerStateManager::default();
        batches.iter().for_each(|b| replayed.apply_replicated(b));
        assert_eq!(leader, replayed);
        assert_eq!(replayed.len(), 2);
        // Producer 1's last timestamp is 1003, producer 2's 1002.
        assert_eq!(replayed.remove_expired(2002, 1000), 1);
        assert!(replayed.get(1).is_some());
    }
}
