//! Follower appends and truncation for replication.
#![allow(clippy::unwrap_used)]

mod record_batches;

use bytes::BytesMut;
use record_batches::{batch, batch_ranges, idempotent, record_offsets};
use spool_protocol::batch::set_base_offset;
use spool_storage::{AppendError, Log, LogConfig};

const NOW_MS: i64 = 1_000_000;

fn at_offset(mut records: BytesMut, base_offset: i64) -> BytesMut {
    set_base_offset(&mut records, base_offset);
    records
}

#[test]
fn follower_appends_keep_the_leaders_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    let info = log.append_as_follower(&at_offset(batch(3, 0), 0)).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 2));
    // A gap is allowed (e.g. compacted on the leader); going backwards is not.
    let mut set = at_offset(batch(2, 0), 10);
    set.extend_from_slice(&at_offset(batch(1, 0), 12));
    log.append_as_follower(&set).unwrap();
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(batch_ranges(&log.read(5, usize::MAX, i64::MAX, false).unwrap()), vec![(10, 11), (12, 12)]);
    match log.append_as_follower(&at_offset(batch(1, 0), 12)) {
        Err(AppendError::OffsetsOutOfOrder { offset: 12, expected_at_least: 13 }) => {}
        other => panic!("unexpected {other:?}"),
    }
    let mut unordered = at_offset(batch(2, 0), 20);
    unordered.extend_from_slice(&at_offset(batch(1, 0), 21));
    assert!(matches!(log.append_as_follower(&unordered), Err(AppendError::OffsetsOutOfOrder { offset: 21, .. })));
    assert_eq!(log.log_end_offset(), 13);
}

#[test]
fn truncation_drops_later_segments_and_appends_continue_at_the_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    for _ in 0..10 {
        log.append_as_leader(&batch(3, 0), 0, NOW_MS).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments >= 5);
    log.truncate_to(12).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert!(log.segment_count() < segments);
    assert!(log.recovery_point() <= 12);
    assert_eq!(record_offsets(&log.read(0, usize::MAX, i64::MAX, false).unwrap()), (0..12).collect::<Vec<_>>());
    assert_eq!(log.append_as_leader(&batch(1, 0), 1, NOW_MS).unwrap().first_offset, 12);
    // Truncating to the middle of a batch removes that whole batch.
    log.truncate_to(10).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    // Beyond the end: nothing happens.
    log.truncate_to(100).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    // The truncation is durable: a crash does not bring the batches back.
    drop(log);
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(record_offsets(&log.read(0, usize::MAX, i64::MAX, false).unwrap()), (0..9).collect::<Vec<_>>());
}

#[test]
fn truncation_rewinds_producer_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    for i in 0..8 {
        log.append_as_leader(&idempotent(7, 0, i * 2, 2), 0, NOW_MS).unwrap();
    }
    log.truncate_to(6).unwrap();
    // Sequences 6.. are gone with their batches: 6 is the next one, not a duplicate.
    let info = log.append_as_leader(&idempotent(7, 0, 6, 2), 0, NOW_MS).unwrap();
    assert_eq!((info.first_offset, info.duplicate), (6, false));
    assert!(log.append_as_leader(&idempotent(7, 0, 4, 2), 0, NOW_MS).unwrap().duplicate);
}

#[test]
fn truncating_fully_starts_an_empty_log_at_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    for _ in 0..6 {
        log.append_as_leader(&idempotent(7, 0, 0, 3), 0, NOW_MS).ok();
    }
    log.truncate_fully_and_start_at(500).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.segment_count()), (500, 500, 1));
    assert!(log.read(500, 100, i64::MAX, true).unwrap().is_empty());
    // Producer state is gone too.
    assert!(!log.append_as_leader(&idempotent(7, 0, 0, 3), 0, NOW_MS).unwrap().duplicate);
    log.append_as_follower(&at_offset(batch(2, 0), 503)).unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 505));
}
