//! Idempotent producers: duplicates, sequence gaps and epoch fencing, also across
//! restarts and crashes.
#![allow(clippy::unwrap_used)]

mod record_batches;

use record_batches::{batch, idempotent, record_offsets};
use spool_storage::{AppendError, Log, LogConfig};

const NOW_MS: i64 = 1_000_000;
const PRODUCER: i64 = 4242;

fn append(log: &mut Log, epoch: i16, base_sequence: i32, count: usize) -> Result<spool_storage::AppendInfo, AppendError> {
    log.append_as_leader(&idempotent(PRODUCER, epoch, base_sequence, count), 0, NOW_MS)
}

#[test]
fn a_retried_batch_is_not_written_again_and_gets_its_original_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    append(&mut log, 0, 0, 3).unwrap();
    log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    append(&mut log, 0, 3, 2).unwrap();
    let size = log.size_bytes();
    let retry = append(&mut log, 0, 0, 3).unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.first_offset, retry.last_offset, retry.record_count), (0, 2, 0));
    let retry = append(&mut log, 0, 3, 2).unwrap();
    assert_eq!((retry.first_offset, retry.last_offset, retry.duplicate), (5, 6, true));
    assert_eq!((log.size_bytes(), log.log_end_offset()), (size, 7));
    assert_eq!(record_offsets(&log.read(0, usize::MAX, i64::MAX, false).unwrap()).len(), 7);
}

#[test]
fn a_new_leader_that_replicated_a_batch_answers_its_retry_as_a_duplicate() {
    // The batch reached the follower, but its acknowledgement never reached the
    // producer; the follower is elected and the producer retries it there.
    let dir = tempfile::tempdir().unwrap();
    let mut leader = Log::open(dir.path().join("leader"), LogConfig::default(), NOW_MS).unwrap();
    let mut follower = Log::open(dir.path().join("follower"), LogConfig::default(), NOW_MS).unwrap();
    append(&mut leader, 0, 0, 3).unwrap();
    append(&mut leader, 0, 3, 2).unwrap();
    follower.append_as_follower(&leader.read(0, usize::MAX, i64::MAX, false).unwrap()).unwrap();
    let retry = follower.append_as_leader(&idempotent(PRODUCER, 0, 3, 2), 1, NOW_MS).unwrap();
    assert_eq!((retry.first_offset, retry.last_offset, retry.duplicate), (3, 4, true));
    let next = follower.append_as_leader(&idempotent(PRODUCER, 0, 5, 1), 1, NOW_MS).unwrap();
    assert_eq!((next.first_offset, next.duplicate), (5, false));
    assert_eq!(follower.log_end_offset(), 6);
}

#[test]
fn a_sequence_gap_is_out_of_order_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    append(&mut log, 0, 0, 3).unwrap();
    match append(&mut log, 0, 4, 1) {
        Err(AppendError::OutOfOrderSequence { producer_id: PRODUCER, base_sequence: 4, last_sequence: 2, .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(append(&mut log, 0, 3, 1).unwrap().first_offset, 3);
}

#[test]
fn an_older_epoch_is_fenced_and_a_newer_one_starts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    append(&mut log, 2, 0, 1).unwrap();
    match append(&mut log, 1, 1, 1) {
        Err(AppendError::InvalidProducerEpoch { producer_epoch: 1, current_epoch: 2, .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(append(&mut log, 3, 1, 1), Err(AppendError::OutOfOrderSequence { .. })));
    append(&mut log, 3, 0, 1).unwrap();
    assert!(matches!(append(&mut log, 2, 1, 1), Err(AppendError::InvalidProducerEpoch { .. })));
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    append(&mut log, 0, 1_000, 5).unwrap();
    append(&mut log, 0, 1_005, 1).unwrap();
    assert!(matches!(append(&mut log, 0, 0, 1), Err(AppendError::OutOfOrderSequence { .. })));
}

/// Producer state after a sequence of appends with the log reopened in between.
fn check_state_survives(reopen: impl Fn(Log, &std::path::Path) -> Log) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    for i in 0..8 {
        append(&mut log, 1, i * 2, 2).unwrap();
    }
    assert!(log.segment_count() > 2, "snapshots at rolls are exercised");
    let mut log = reopen(log, dir.path());
    assert_eq!(log.log_end_offset(), 16);
    let retry = append(&mut log, 1, 14, 2).unwrap();
    assert_eq!((retry.duplicate, retry.first_offset), (true, 14));
    assert_eq!(append(&mut log, 1, 10, 2).unwrap().first_offset, 10, "duplicate 3 batches back");
    assert!(matches!(append(&mut log, 1, 17, 1), Err(AppendError::OutOfOrderSequence { last_sequence: 15, .. })));
    assert!(matches!(append(&mut log, 0, 0, 1), Err(AppendError::InvalidProducerEpoch { .. })));
    assert_eq!(append(&mut log, 1, 16, 1).unwrap().first_offset, 16);
    assert_eq!(log.log_end_offset(), 17);
}

#[test]
fn producer_state_survives_a_clean_restart() {
    check_state_survives(|log, dir| {
        log.close().unwrap();
        Log::open(dir, LogConfig { segment_bytes: 300, ..LogConfig::default() }, NOW_MS).unwrap()
    });
}

#[test]
fn producer_state_survives_a_crash() {
    check_state_survives(|log, dir| {
        drop(log);
        Log::open(dir, LogConfig { segment_bytes: 300, ..LogConfig::default() }, NOW_MS).unwrap()
    });
}

#[test]
fn producer_state_is_rebuilt_from_the_log_when_snapshots_are_lost_or_damaged() {
    for damage in ["delete", "corrupt"] {
        check_state_survives(|log, dir| {
            log.close().unwrap();
            for snapshot in record_batches::files_with_suffix(dir, ".snapshot") {
                match damage {
                    "delete" => std::fs::remove_file(&snapshot).unwrap(),
                    _ => std::fs::write(&snapshot, b"\x00\x01garbage").unwrap(),
                }
            }
            let log = Log::open(dir, LogConfig { segment_bytes: 300, ..LogConfig::default() }, NOW_MS).unwrap();
            // The damaged snapshots are gone; the state rebuilt from the log is
            // snapshotted at the log end, so the next open replays nothing.
            let snapshots = record_batches::files_with_suffix(dir, ".snapshot");
            assert_eq!(snapshots, [dir.join("00000000000000000016.snapshot")], "{damage}");
            log
        });
    }
}

#[test]
fn expired_producers_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { producer_id_expiration_ms: 1_000, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    append(&mut log, 0, 0, 1).unwrap(); // record timestamps are 1_000
    assert_eq!(log.remove_expired_producers(1_999), 0);
    assert_eq!(log.remove_expired_producers(2_000), 1);
    // Unknown again: any sequence is accepted.
    assert!(!append(&mut log, 0, 50, 1).unwrap().duplicate);
}
