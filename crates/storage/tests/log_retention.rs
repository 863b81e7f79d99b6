//! Retention by time and by size, and rolling by segment.ms.
#![allow(clippy::unwrap_used)]

mod record_batches;

use record_batches::{batch, encode, files_with_suffix, record_offsets, Spec};
use spool_storage::{Log, LogConfig, ReadError};

const HOUR_MS: i64 = 3_600_000;
const NOW_MS: i64 = 100 * HOUR_MS;

/// One batch per segment: batch `i` has 2 records timestamped `NOW_MS - (10 - i) hours`.
fn aged_log(dir: &std::path::Path, config: LogConfig) -> Log {
    let mut log = Log::open(dir, config, NOW_MS).unwrap();
    for i in 0..10 {
        let spec = Spec { count: 2, first_timestamp: NOW_MS - (10 - i) * HOUR_MS, value_bytes: 100, ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
    }
    assert_eq!(log.segment_count(), 10);
    log
}

fn one_batch_per_segment() -> LogConfig {
    LogConfig { segment_bytes: 300, ..LogConfig::default() }
}

#[test]
fn time_retention_deletes_whole_oldest_segments_and_advances_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_ms: 5 * HOUR_MS + HOUR_MS / 2, ..one_batch_per_segment() };
    let mut log = aged_log(dir.path(), config.clone());
    // Segments 0..=4 have newest records 10..6 hours old (minus 1 ms): older than 5.5 h.
    assert_eq!(log.enforce_retention(NOW_MS).unwrap(), 5);
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.segment_count()), (10, 20, 5));
    assert_eq!(log.enforce_retention(NOW_MS).unwrap(), 0);
    assert!(!dir.path().join("00000000000000000000.log").exists());
    assert!(!dir.path().join("00000000000000000000.index").exists());
    match log.read(9, 1000, i64::MAX, true) {
        Err(ReadError::OffsetOutOfRange { offset: 9, log_start_offset: 10, log_end_offset: 20 }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(record_offsets(&log.read(10, 10_000, i64::MAX, true).unwrap()), (10..20).collect::<Vec<_>>());
    // The log start survives a restart.
    log.close().unwrap();
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (10, 20));
}

#[test]
fn deleted_segments_leave_their_names_at_once_and_their_files_are_removed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_ms: 5 * HOUR_MS + HOUR_MS / 2, ..one_batch_per_segment() };
    let mut log = aged_log(dir.path(), config);
    assert_eq!(log.enforce_retention(NOW_MS).unwrap(), 5);
    // The five segments' names are gone when retention returns: only the kept ones are
    // segments (and, until the background removal, files ending in `.deleted`).
    assert_eq!(files_with_suffix(dir.path(), ".log").len(), 5);
    assert_eq!(files_with_suffix(dir.path(), ".index").len(), 5);
    assert_eq!(files_with_suffix(dir.path(), ".timeindex").len(), 5);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !files_with_suffix(dir.path(), ".deleted").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(files_with_suffix(dir.path(), ".deleted"), Vec::<std::path::PathBuf>::new());
    assert_eq!(record_offsets(&log.read(10, 10_000, i64::MAX, true).unwrap()), (10..20).collect::<Vec<_>>());
}

#[test]
fn an_expired_active_segment_is_replaced_by_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_ms: HOUR_MS / 2, ..one_batch_per_segment() };
    let mut log = aged_log(dir.path(), config);
    assert_eq!(log.enforce_retention(NOW_MS).unwrap(), 10);
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.segment_count()), (20, 20, 1));
    assert!(log.read(20, 1000, i64::MAX, true).unwrap().is_empty());
    // The empty active segment is never deleted, and appends continue at the same offsets.
    assert_eq!(log.enforce_retention(NOW_MS + 100 * HOUR_MS).unwrap(), 0);
    let info = log.append_as_leader(&batch(3, NOW_MS), 0, NOW_MS).unwrap();
    assert_eq!(info.first_offset, 20);
    assert_eq!(record_offsets(&log.read(20, 1000, i64::MAX, true).unwrap()), vec![20, 21, 22]);
}

#[test]
fn no_time_limit_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = aged_log(dir.path(), LogConfig { retention_ms: -1, ..one_batch_per_segment() });
    assert_eq!(log.enforce_retention(NOW_MS + 1000 * HOUR_MS).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);
}

#[test]
fn size_retention_deletes_oldest_segments_while_the_rest_stays_at_or_above_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = aged_log(dir.path(), LogConfig { retention_ms: -1, ..one_batch_per_segment() });
    let segment_bytes = log.size_bytes() / 10;
    // Room for 3.5 segments: 6 go, leaving 4 (deleting a 7th would go below the limit).
    let mut config = log.config().clone();
    config.retention_bytes = (segment_bytes * 7 / 2) as i64;
    log.set_config(config.clone());
    assert_eq!(log.enforce_retention(NOW_MS).unwrap(), 6);
    assert_eq!((log.log_start_offset(), log.segment_count()), (12, 4));
    assert_eq!(log.size_bytes(), 4 * segment_bytes);
    // Exactly at the limit: a segment goes only if what remains is still >= the limit.
    config.retention_bytes = (segment_bytes * 3) as i64;
    log.set_config(config);
    assert_eq!(log.enforce_retention(NOW_MS).unwrap(), 1);
    assert_eq!(log.segment_count(), 3);
}

#[test]
fn retention_never_passes_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_ms: 0, ..one_batch_per_segment() };
    let mut log = aged_log(dir.path(), config);
    // Segment [0, 2) is below the high watermark 3; segment [2, 4) is not entirely.
    assert_eq!(log.enforce_retention_below(NOW_MS, 3).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(log.enforce_retention_below(NOW_MS, 20).unwrap(), 9);
    assert_eq!(log.log_start_offset(), 20);
}

#[test]
fn segments_roll_after_segment_ms_on_append_and_on_timer() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_ms: HOUR_MS, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    log.append_as_leader(&batch(1, NOW_MS), 0, NOW_MS).unwrap();
    log.append_as_leader(&batch(1, NOW_MS + HOUR_MS), 0, NOW_MS).unwrap();
    assert_eq!(log.segment_count(), 1, "exactly segment.ms is not past it");
    // Measured with the new batch's timestamp, as Kafka does.
    log.append_as_leader(&batch(1, NOW_MS + HOUR_MS + 1), 0, NOW_MS).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    log.maybe_roll(NOW_MS + 2 * HOUR_MS).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maybe_roll(NOW_MS + 2 * HOUR_MS + 2).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 3]);
    // An empty active segment never rolls.
    log.maybe_roll(NOW_MS + 100 * HOUR_MS).unwrap();
    assert_eq!(log.segment_count(), 3);
}
