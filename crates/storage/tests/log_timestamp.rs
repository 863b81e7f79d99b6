//! ListOffsets by timestamp: the earliest offset whose timestamp is >= the target.
#![allow(clippy::unwrap_used)]

mod record_batches;

use kafka_protocol::records::Compression;
use record_batches::{encode, Spec};
use spool_storage::{Log, LogConfig};

const NOW_MS: i64 = 1_000_000;

/// Batches of 4 records, 10 ms apart, batch `i` starting at `10_000 + 100 * i`; index
/// entries for almost every batch and several segments.
fn timed_log(dir: &std::path::Path, config: &LogConfig) -> Log {
    let mut log = Log::open(dir, config.clone(), NOW_MS).unwrap();
    for i in 0..40 {
        let spec = Spec { count: 4, first_timestamp: 10_000 + 100 * i, timestamp_step: 10, ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
    }
    log
}

fn config() -> LogConfig {
    LogConfig { segment_bytes: 1500, index_interval_bytes: 1, ..LogConfig::default() }
}

fn expected(ts: i64) -> Option<(i64, i64)> {
    // Record offset o has timestamp 10_000 + 100 * (o / 4) + 10 * (o % 4).
    (0..160).map(|o| (o, 10_000 + 100 * (o / 4) + 10 * (o % 4))).find(|&(_, t)| t >= ts)
}

#[test]
fn finds_the_first_record_at_or_after_the_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let log = timed_log(dir.path(), &config);
    assert!(log.segment_count() > 3);
    for ts in [0, 10_000, 10_005, 10_010, 10_031, 10_100, 12_345, 13_930, 13_931] {
        assert_eq!(log.offset_for_timestamp(ts).unwrap(), expected(ts), "timestamp {ts}");
    }
    assert_eq!(log.offset_for_timestamp(14_000).unwrap(), None);
    log.close().unwrap();
    // The same answers from indexes read back from disk.
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    for ts in (9_990..14_000).step_by(37) {
        assert_eq!(log.offset_for_timestamp(ts).unwrap(), expected(ts), "timestamp {ts} after reopen");
    }
}

#[test]
fn out_of_order_timestamps_return_the_earliest_offset_reaching_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(), NOW_MS).unwrap();
    for first_timestamp in [5_000, 9_000, 3_000, 9_500, 1_000] {
        let spec = Spec { count: 3, first_timestamp, timestamp_step: 100, ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
    }
    assert_eq!(log.offset_for_timestamp(5_150).unwrap(), Some((2, 5_200)));
    assert_eq!(log.offset_for_timestamp(9_150).unwrap(), Some((5, 9_200)));
    assert_eq!(log.offset_for_timestamp(9_250).unwrap(), Some((9, 9_500)));
    assert_eq!(log.offset_for_timestamp(9_650).unwrap(), Some((11, 9_700)));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 5_000)));
}

#[test]
fn compressed_batches_are_decoded_to_find_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    for (i, compression) in [Compression::Gzip, Compression::Lz4, Compression::Zstd].into_iter().enumerate() {
        let spec = Spec { count: 10, first_timestamp: 1_000 * (i as i64 + 1), compression, ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
    }
    assert_eq!(log.offset_for_timestamp(2_007).unwrap(), Some((17, 2_007)));
    assert_eq!(log.offset_for_timestamp(3_009).unwrap(), Some((29, 3_009)));
    assert_eq!(log.offset_for_timestamp(3_010).unwrap(), None);
}
