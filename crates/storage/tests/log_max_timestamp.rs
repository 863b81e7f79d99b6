//! ListOffsets `MAX_TIMESTAMP` (KIP-734): the largest record timestamp in the log and
//! the offset of the first record carrying it.
#![allow(clippy::unwrap_used)]

mod record_batches;

use std::path::Path;

use kafka_protocol::records::Compression;
use record_batches::{files_with_suffix, with_timestamps};
use spool_protocol::batch::set_log_append_time;
use spool_storage::{Log, LogConfig};

const NOW_MS: i64 = 1_000_000;

/// Record timestamps of each batch, in append order: out of order within batches and
/// across them. The largest, 9000, is first reached by offset 4 (in the middle of a
/// batch); offsets 5 and 9 carry it too.
const BATCHES: [&[i64]; 5] = [
    &[5_000, 7_000, 6_000],        // offsets 0..=2
    &[1_000, 9_000, 9_000, 2_000], // offsets 3..=6
    &[8_000, 3_000],               // offsets 7..=8
    &[9_000, 100],                 // offsets 9..=10
    &[4_000],                      // offset 11
];

/// One batch per segment.
fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 150, ..LogConfig::default() }
}

fn configs() -> [LogConfig; 2] {
    [LogConfig::default(), small_segments()]
}

fn fill(dir: &Path, config: &LogConfig, compression: Compression) -> Log {
    let mut log = Log::open(dir, config.clone(), NOW_MS).unwrap();
    for timestamps in BATCHES {
        log.append_as_leader(&with_timestamps(timestamps, compression), 0, NOW_MS).unwrap();
    }
    log
}

/// The answer by brute force over every record at or above `from`.
fn expected(from: i64) -> Option<(i64, i64)> {
    let records = BATCHES.iter().flat_map(|b| b.iter().copied()).zip(0i64..);
    records.filter(|&(_, offset)| offset >= from).fold(None, |best, (timestamp, offset)| match best {
        Some((t, _)) if t >= timestamp => best,
        _ => Some((timestamp, offset)),
    })
}

#[test]
fn finds_the_first_record_with_the_largest_timestamp_across_segments() {
    assert_eq!(expected(0), Some((9_000, 4)));
    for config in configs() {
        for compression in [Compression::None, Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let log = fill(dir.path(), &config, compression);
            assert_eq!(log.max_timestamp_and_offset().unwrap(), expected(0), "{compression:?}, {config:?}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(fill(dir.path(), &small_segments(), Compression::None).segment_count() >= 5);
}

#[test]
fn the_answer_survives_clean_and_crash_restarts_and_lost_time_indexes() {
    for config in configs() {
        let dir = tempfile::tempdir().unwrap();
        let log = fill(dir.path(), &config, Compression::Lz4);
        log.close().unwrap();
        let log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((9_000, 4)), "clean, {config:?}");
        drop(log);
        let log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((9_000, 4)), "crash, {config:?}");
        log.close().unwrap();
        for time_index in files_with_suffix(dir.path(), ".timeindex") {
            std::fs::remove_file(time_index).unwrap();
        }
        let log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((9_000, 4)), "rebuilt indexes, {config:?}");
    }
}

#[test]
fn appends_and_truncation_move_the_answer() {
    for config in configs() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = fill(dir.path(), &config, Compression::None);
        log.append_as_leader(&with_timestamps(&[50, 9_500, 9_500], Compression::Zstd), 0, NOW_MS).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((9_500, 13)));
        // A later tie does not move it.
        log.append_as_leader(&with_timestamps(&[9_500], Compression::None), 0, NOW_MS).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((9_500, 13)));
        log.truncate_to(12).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((9_000, 4)), "{config:?}");
        log.truncate_to(4).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((7_000, 1)), "{config:?}");
    }
}

#[test]
fn log_append_time_batches_answer_with_their_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = fill(dir.path(), &small_segments(), Compression::None);
    let mut stamped = with_timestamps(&[1, 2, 3], Compression::Gzip);
    set_log_append_time(&mut stamped, 20_000);
    log.append_as_leader(&stamped, 0, NOW_MS).unwrap();
    assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((20_000, 12)));
}

#[test]
fn no_timestamps_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.max_timestamp_and_offset().unwrap(), None);
    log.append_as_leader(&with_timestamps(&[-1, -1], Compression::None), 0, NOW_MS).unwrap();
    assert_eq!(log.max_timestamp_and_offset().unwrap(), None);
    log.append_as_leader(&with_timestamps(&[0], Compression::None), 0, NOW_MS).unwrap();
    assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((0, 2)));
}

#[test]
fn records_below_a_log_start_moved_by_delete_records_do_not_count() {
    for config in configs() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = fill(dir.path(), &config, Compression::Gzip);
        // Inside the batch holding offsets 3..=6: offset 5 still carries 9000.
        log.advance_log_start_offset(5).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), expected(5));
        assert_eq!(expected(5), Some((9_000, 5)));
        // Past both: the next 9000 is at offset 9, in a later batch.
        log.advance_log_start_offset(6).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), expected(6));
        assert_eq!(expected(6), Some((9_000, 9)));
        log.advance_log_start_offset(10).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((4_000, 11)), "{config:?}");
        // The same after a restart.
        log.close().unwrap();
        let log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
        assert_eq!(log.max_timestamp_and_offset().unwrap(), Some((4_000, 11)), "{config:?}");
    }
}
