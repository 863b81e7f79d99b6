//! The leader epoch cache (`leader-epoch-checkpoint`): maintained on leader and follower
//! appends, truncation and retention, recovered after restarts and crashes, and queried
//! as OffsetsForLeaderEpoch.
#![allow(clippy::unwrap_used)]

mod record_batches;

use std::fs;
use std::path::Path;

use bytes::BytesMut;
use record_batches::{batch, encode, Spec};
use spool_protocol::batch::{set_base_offset, set_partition_leader_epoch};
use spool_storage::{Log, LogConfig};

const NOW_MS: i64 = 1_000_000;
const CHECKPOINT: &str = "leader-epoch-checkpoint";

/// Small segments: each 3-record batch of 30-byte values fills most of one.
fn config() -> LogConfig {
    LogConfig { segment_bytes: 300, ..LogConfig::default() }
}

fn three_records() -> BytesMut {
    encode(&Spec { count: 3, value_bytes: 30, ..Spec::default() })
}

/// Appends one 3-record batch per epoch in `epochs` as the leader; batch `i` holds
/// offsets `3i..3i+3`.
fn leader_log(dir: &Path, epochs: &[i32]) -> Log {
    let mut log = Log::open(dir, config(), NOW_MS).unwrap();
    for &epoch in epochs {
        log.append_as_leader(&three_records(), epoch, NOW_MS).unwrap();
    }
    log
}

/// A follower's copy of a batch: offsets from `base_offset`, stamped with `epoch`.
fn replicated(count: usize, base_offset: i64, epoch: i32) -> BytesMut {
    let mut records = batch(count, 1_000);
    set_base_offset(&mut records, base_offset);
    set_partition_leader_epoch(&mut records, epoch);
    records
}

fn checkpoint_text(dir: &Path) -> String {
    fs::read_to_string(dir.join(CHECKPOINT)).unwrap()
}

#[test]
fn leader_appends_record_each_new_epoch_in_kafkas_file_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_log(dir.path(), &[0, 0, 2, 2, 2, 5]);
    assert_eq!(log.epoch_entries(), vec![(0, 0), (2, 6), (5, 15)]);
    assert_eq!(log.latest_epoch(), Some(5));
    // The file catches up when the log is flushed, before the recovery point moves.
    log.flush().unwrap();
    assert_eq!(checkpoint_text(dir.path()), "0\n3\n0 0\n2 6\n5 15\n");
    assert_eq!(log.epoch_for_offset(5), Some(0));
    assert_eq!(log.epoch_for_offset(6), Some(2));
    assert_eq!(log.epoch_for_offset(17), Some(5));
}

#[test]
fn an_empty_log_has_no_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.latest_epoch(), None);
    assert_eq!(log.epoch_entries(), vec![]);
    assert_eq!(log.end_offset_for_epoch(0), None);
    log.flush().unwrap();
    assert_eq!(checkpoint_text(dir.path()), "0\n0\n");
}

#[test]
fn follower_appends_record_the_epochs_their_batches_carry() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    // One record set with several batches and epoch changes inside it.
    let mut set = replicated(2, 0, 1);
    set.extend_from_slice(&replicated(2, 2, 1));
    set.extend_from_slice(&replicated(1, 4, 3));
    log.append_as_follower(&set).unwrap();
    log.append_as_follower(&replicated(3, 5, 3)).unwrap();
    // A gap in the leader's offsets (compaction): the epoch starts at its batch.
    log.append_as_follower(&replicated(2, 20, 4)).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (3, 4), (4, 20)]);
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 20)));
    assert_eq!(log.end_offset_for_epoch(4), Some((4, 22)));
}

#[test]
fn end_offset_for_epoch_answers_every_case_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    // Entries (1, 0), (3, 6), (6, 12); log end 18.
    let log = leader_log(dir.path(), &[1, 1, 3, 3, 6, 6]);
    assert_eq!(log.epoch_entries(), vec![(1, 0), (3, 6), (6, 12)]);
    // An exact epoch ends where the next one starts.
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 6)));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 12)));
    // The latest epoch ends at the log end.
    assert_eq!(log.end_offset_for_epoch(6), Some((6, 18)));
    // An epoch between entries: the largest epoch below it, and where that one ends.
    assert_eq!(log.end_offset_for_epoch(2), Some((1, 6)));
    assert_eq!(log.end_offset_for_epoch(5), Some((3, 12)));
    // Above the latest epoch and the undefined epoch: UNDEFINED (-1, -1).
    assert_eq!(log.end_offset_for_epoch(7), None);
    assert_eq!(log.end_offset_for_epoch(-1), None);
    // Below the first entry: the requested epoch with the first entry's start offset
    // (Kafka since KIP-279; the follower truncates to the leader's log start).
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 0)));
}

#[test]
fn below_the_first_epoch_after_retention_the_answer_is_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_log(dir.path(), &[1, 1, 3, 3, 6, 6]);
    log.set_config(LogConfig { retention_bytes: 0, ..config() });
    log.enforce_retention_below(NOW_MS, 9).unwrap();
    assert_eq!(log.log_start_offset(), 9);
    // Epoch 1's batches are gone, and epoch 3 now starts at the log start (Kafka's
    // truncateFromStart keeps the epoch covering the new start).
    assert_eq!(log.epoch_entries(), vec![(3, 9), (6, 12)]);
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 9)));
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 9)));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 12)));
    assert_eq!(checkpoint_text(dir.path()), "0\n2\n3 9\n6 12\n");
}

#[test]
fn truncation_drops_the_epochs_of_the_removed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_log(dir.path(), &[1, 1, 3, 3, 6, 6]);
    // To the middle of the first epoch-3 batch: the whole batch goes, so does epoch 3.
    log.truncate_to(8).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.epoch_entries(), vec![(1, 0)]);
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 6)));
    assert_eq!(log.end_offset_for_epoch(3), None);
    // The follower continues with the new leader's epoch.
    log.append_as_follower(&replicated(2, 6, 4)).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (4, 6)]);
    // The truncation is durable, also across a crash.
    drop(log);
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (4, 6)]);
}

#[test]
fn truncating_fully_forgets_every_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_log(dir.path(), &[1, 3]);
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!(log.epoch_entries(), vec![]);
    assert_eq!(checkpoint_text(dir.path()), "0\n0\n");
    log.append_as_follower(&replicated(1, 100, 7)).unwrap();
    assert_eq!(log.epoch_entries(), vec![(7, 100)]);
}

#[test]
fn a_new_leader_records_its_epoch_at_the_log_end_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = leader_log(dir.path(), &[1, 1]);
    log.assign_epoch_start_offset(2).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (2, 6)]);
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 6)));
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 6)));
    // Its first batch starts where the entry says: nothing changes.
    log.append_as_leader(&three_records(), 2, NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (2, 6)]);
    // An epoch entry without data is dropped by a truncation at the log end…
    log.assign_epoch_start_offset(3).unwrap();
    assert_eq!(log.latest_epoch(), Some(3));
    log.truncate_to(log.log_end_offset()).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (2, 6)]);
    // …and by a restart.
    log.assign_epoch_start_offset(4).unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(1, 0), (2, 6)]);
}

#[test]
fn epochs_survive_clean_and_crash_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path(), &[0, 2, 2, 5, 5, 5, 9]);
    let expected = vec![(0, 0), (2, 3), (5, 9), (9, 18)];
    assert_eq!(log.epoch_entries(), expected);
    log.close().unwrap();
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), expected);
    assert_eq!(log.end_offset_for_epoch(5), Some((5, 18)));
    drop(log);
    let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), expected);
    log.append_as_leader(&three_records(), 10, NOW_MS).unwrap();
    drop(log);
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(0, 0), (2, 3), (5, 9), (9, 18), (10, 21)]);
}

#[test]
fn a_deleted_checkpoint_is_rebuilt_identically_from_the_batches() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = leader_log(dir.path(), &[0, 2, 2, 5, 5, 5, 9, 9]);
        // Make the first entry one that only truncateFromStart produces.
        log.set_config(LogConfig { retention_bytes: 0, ..config() });
        log.enforce_retention_below(NOW_MS, 6).unwrap();
        log.set_config(config());
        let expected = log.epoch_entries();
        assert_eq!(expected, vec![(2, 6), (5, 9), (9, 18)]);
        let text = checkpoint_text(dir.path());
        if clean {
            log.close().unwrap();
        } else {
            drop(log);
        }
        fs::remove_file(dir.path().join(CHECKPOINT)).unwrap();
        let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
        assert_eq!(log.epoch_entries(), expected, "clean shutdown: {clean}");
        // The rebuilt cache is saved by the next flush, as appended epochs are.
        log.flush().unwrap();
        assert_eq!(checkpoint_text(dir.path()), text, "clean shutdown: {clean}");
    }
}

#[test]
fn a_corrupt_checkpoint_is_rebuilt_from_the_batches() {
    for garbage in ["", "0\n3\n0 0\n", "0\n2\n5 9\n2 3\n", "not a checkpoint", "1\n0\n"] {
        let dir = tempfile::tempdir().unwrap();
        let log = leader_log(dir.path(), &[0, 2, 5]);
        log.close().unwrap();
        fs::write(dir.path().join(CHECKPOINT), garbage).unwrap();
        let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
        assert_eq!(log.epoch_entries(), vec![(0, 0), (2, 3), (5, 6)], "{garbage:?}");
        log.flush().unwrap();
        assert_eq!(checkpoint_text(dir.path()), "0\n3\n0 0\n2 3\n5 6\n");
    }
}

#[test]
fn entries_of_batches_lost_in_a_crash_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    for epoch in [0, 0, 4] {
        log.append_as_leader(&three_records(), epoch, NOW_MS).unwrap();
    }
    assert_eq!(log.epoch_entries(), vec![(0, 0), (4, 6)]);
    drop(log);
    // The crash tore the epoch-4 batch: recovery cuts it, and its entry must go.
    let path = dir.path().join("00000000000000000000.log");
    let size = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(size - 10).unwrap();
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.epoch_entries(), vec![(0, 0)]);
    log.flush().unwrap();
    assert_eq!(checkpoint_text(dir.path()), "0\n1\n0 0\n");
    assert_eq!(log.end_offset_for_epoch(4), None);
    // Appends at the next epoch start where the log now ends.
    log.append_as_leader(&three_records(), 5, NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(0, 0), (5, 6)]);
}

#[test]
fn after_a_crash_the_entries_past_the_recovery_point_come_from_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    // One segment that never rolls: the recovery point stays 0, nothing is flushed.
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    for epoch in [0, 0, 4, 4] {
        log.append_as_leader(&three_records(), epoch, NOW_MS).unwrap();
    }
    assert_eq!(log.recovery_point(), 0);
    drop(log);
    // A checkpoint that disagrees with the unflushed batches (here: written by hand)
    // loses to them after a crash.
    fs::write(dir.path().join(CHECKPOINT), "0\n2\n0 0\n2 3\n").unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(0, 0), (4, 6)]);
    log.flush().unwrap();
    assert_eq!(checkpoint_text(dir.path()), "0\n2\n0 0\n4 6\n");
}

#[test]
fn time_retention_trims_epochs_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let hour_ms = 3_600_000;
    let config = LogConfig { retention_ms: hour_ms, ..config() };
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    // Batch i (offsets 3i..3i+3, one per segment) has timestamps NOW_MS + i h + 0..=2.
    let now_ms = NOW_MS + 10 * hour_ms;
    for (i, epoch) in [1, 1, 2, 2, 2, 3].into_iter().enumerate() {
        let spec = Spec { count: 3, value_bytes: 30, first_timestamp: NOW_MS + i as i64 * hour_ms, ..Spec::default() };
        log.append_as_leader(&encode(&spec), epoch, now_ms).unwrap();
    }
    assert_eq!(log.epoch_entries(), vec![(1, 0), (2, 6), (3, 15)]);
    // At NOW_MS + 5 h + 2, segments 0..=3 are more than an hour old; segment 4 exactly.
    let deleted = log.enforce_retention(NOW_MS + 5 * hour_ms + 2).unwrap();
    assert_eq!(deleted, 4);
    assert_eq!(log.log_start_offset(), 12);
    assert_eq!(log.epoch_entries(), vec![(2, 12), (3, 15)]);
    log.close().unwrap();
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(2, 12), (3, 15)]);
}

#[test]
fn opening_after_a_crash_writes_no_checkpoint_and_a_second_crash_recovers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    for epoch in [0, 0, 4, 4] {
        log.append_as_leader(&three_records(), epoch, NOW_MS).unwrap();
    }
    drop(log);
    let stale = "0\n2\n0 0\n2 3\n";
    fs::write(dir.path().join(CHECKPOINT), stale).unwrap();
    // Opening corrects the cache in memory only: the recovery point did not move, so
    // nothing it says about flushed batches changed.
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(0, 0), (4, 6)]);
    assert_eq!(checkpoint_text(dir.path()), stale, "opening rewrote the epoch checkpoint");
    assert!(!dir.path().join("recovery-point-offset-checkpoint").exists(), "opening wrote a recovery checkpoint");
    // A second crash before any flush finds the same files and corrects them the same way.
    drop(log);
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.epoch_entries(), vec![(0, 0), (4, 6)]);
}
