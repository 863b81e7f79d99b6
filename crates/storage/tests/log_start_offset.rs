//! The log start offset moved by DeleteRecords (`log-start-offset-checkpoint`).
#![allow(clippy::unwrap_used)]

mod record_batches;

use std::fs;
use std::path::Path;

use bytes::BytesMut;
use record_batches::{batch, batch_ranges, encode, record_offsets, Spec};
use spool_protocol::batch::set_base_offset;
use spool_storage::{Log, LogConfig, LogError, ReadError};

const NOW_MS: i64 = 1_000_000;
const CHECKPOINT: &str = "log-start-offset-checkpoint";

/// One 3-record batch per segment: segment `i` holds offsets `3i..3i+3`.
fn config() -> LogConfig {
    LogConfig { segment_bytes: 300, ..LogConfig::default() }
}

/// `batches` batches of 3 records; batch `i` has timestamps `10_000 + 100 i + 0..=2`
/// and leader epoch `i / 2`.
fn filled(dir: &Path, batches: i64) -> Log {
    let mut log = Log::open(dir, config(), NOW_MS).unwrap();
    for i in 0..batches {
        let spec = Spec { count: 3, value_bytes: 30, first_timestamp: 10_000 + 100 * i, ..Spec::default() };
        log.append_as_leader(&encode(&spec), (i / 2) as i32, NOW_MS).unwrap();
    }
    assert_eq!(log.segment_count() as i64, batches);
    log
}

/// A follower's copy of a one-batch record set, at `base_offset`.
fn at_offset(mut records: BytesMut, base_offset: i64) -> BytesMut {
    set_base_offset(&mut records, base_offset);
    records
}

fn assert_out_of_range(log: &Log, offset: i64) {
    match log.read(offset, 10_000, i64::MAX, true) {
        Err(ReadError::OffsetOutOfRange { offset: o, log_start_offset, .. }) => {
            assert_eq!((o, log_start_offset), (offset, log.log_start_offset()))
        }
        other => panic!("read at {offset}: unexpected {other:?}"),
    }
}

#[test]
fn advancing_hides_offsets_below_and_deletes_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 5);
    log.advance_log_start_offset(7).unwrap();
    assert_eq!(log.log_start_offset(), 7);
    // Segments [0, 3) and [3, 6) are gone; [6, 9) stays with the log start inside it.
    assert_eq!(log.segment_base_offsets(), vec![6, 9, 12]);
    assert!(!dir.path().join("00000000000000000000.log").exists());
    assert_out_of_range(&log, 6);
    assert_out_of_range(&log, 0);
    // A read at the log start returns the whole batch containing it.
    let bytes = log.read(7, 10_000, i64::MAX, true).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(6, 8), (9, 11), (12, 14)]);
    assert_eq!(fs::read_to_string(dir.path().join(CHECKPOINT)).unwrap(), "0\n7\n");
    // Lookups by time do not answer below the log start.
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((7, 10_201)));
    // The leader epoch cache forgets what lies below: epoch 1 (batches 2, 3) now
    // starts at the log start.
    assert_eq!(log.epoch_entries(), vec![(1, 7), (2, 12)]);
    // An append reports the log start, as a produce response does.
    assert_eq!(log.append_as_leader(&batch(1, 0), 2, NOW_MS).unwrap().log_start_offset, 7);
}

#[test]
fn the_log_start_survives_clean_and_crash_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 5);
    log.advance_log_start_offset(10).unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (10, 15));
    assert_out_of_range(&log, 9);
    drop(log);
    let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(log.epoch_entries(), vec![(1, 10), (2, 12)]);
    assert_eq!(record_offsets(&log.read(10, 10_000, i64::MAX, true).unwrap()), (9..15).collect::<Vec<_>>());
    log.append_as_leader(&encode(&Spec { count: 2, ..Spec::default() }), 2, NOW_MS).unwrap();
    drop(log);
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (10, 17));
}

#[test]
fn advancing_backwards_does_nothing_and_past_the_end_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 3);
    log.advance_log_start_offset(4).unwrap();
    log.advance_log_start_offset(2).unwrap();
    log.advance_log_start_offset(4).unwrap();
    assert_eq!(log.log_start_offset(), 4);
    match log.advance_log_start_offset(10) {
        Err(LogError::LogStartBeyondLogEnd { offset: 10, log_end_offset: 9 }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!((log.log_start_offset(), log.segment_count()), (4, 2));
    assert_eq!(fs::read_to_string(dir.path().join(CHECKPOINT)).unwrap(), "0\n4\n");
}

#[test]
fn advancing_to_the_log_end_hides_everything_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 3);
    log.advance_log_start_offset(9).unwrap();
    // The active segment stays, unreadable below the log start.
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.segment_base_offsets()), (9, 9, vec![6]));
    assert_out_of_range(&log, 8);
    assert!(log.read(9, 10_000, i64::MAX, true).unwrap().is_empty());
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp_and_offset().unwrap(), None);
    let info = log.append_as_leader(&encode(&Spec { count: 2, ..Spec::default() }), 1, NOW_MS).unwrap();
    assert_eq!(info.first_offset, 9);
    log.close().unwrap();
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (9, 11));
}

#[test]
fn retention_deletes_the_segment_holding_the_log_start_and_moves_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 5);
    log.advance_log_start_offset(7).unwrap();
    log.set_config(LogConfig { retention_bytes: 0, ..config() });
    assert_eq!(log.enforce_retention_below(NOW_MS, 12).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 12);
    assert_eq!(log.epoch_entries(), vec![(2, 12)]);
    drop(log);
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.log_start_offset(), 12);
}

#[test]
fn retention_deletes_segments_left_below_the_log_start_by_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), 5);
    log.close().unwrap();
    // A crash after the checkpoint was written and before any segment was deleted.
    fs::write(dir.path().join(CHECKPOINT), "0\n10\n").unwrap();
    let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(log.epoch_entries(), vec![(1, 10), (2, 12)]);
    assert_out_of_range(&log, 9);
    assert_eq!(log.segment_count(), 5);
    assert_eq!(log.enforce_retention(NOW_MS).unwrap(), 3);
    assert_eq!(log.segment_base_offsets(), vec![9, 12]);
    assert_eq!(log.log_start_offset(), 10);
}

#[test]
fn truncation_below_the_log_start_lowers_it_durably() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 5);
    log.advance_log_start_offset(8).unwrap();
    // Into the segment holding the log start: Kafka lowers the log start to the target.
    log.truncate_to(6).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 6));
    for i in 0..4 {
        log.append_as_follower(&at_offset(batch(3, 0), 6 + 3 * i)).unwrap();
    }
    assert_eq!(log.log_end_offset(), 18);
    // The checkpoint (8) must not come back after a crash, now that the log is longer.
    drop(log);
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 18));
    // Below the first segment: the log restarts empty at the target.
    let mut log = log;
    log.truncate_to(2).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));
    drop(log);
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));
}

#[test]
fn a_damaged_checkpoint_falls_back_to_the_first_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 5);
    log.advance_log_start_offset(7).unwrap();
    log.close().unwrap();
    fs::write(dir.path().join(CHECKPOINT), "0\nseven\n").unwrap();
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!(log.log_start_offset(), 6);
}

#[test]
fn a_checkpoint_past_the_recovered_log_end_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), 2);
    log.close().unwrap();
    fs::write(dir.path().join(CHECKPOINT), "0\n40\n").unwrap();
    let log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 6));
    assert_eq!(fs::read_to_string(dir.path().join(CHECKPOINT)).unwrap(), "0\n6\n");
}
