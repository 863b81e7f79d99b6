//! Appending as leader and reading back: offsets, segment rolls, fetch limits.
#![allow(clippy::unwrap_used)]

mod record_batches;

use record_batches::{batch, batch_ranges, encode, record_offsets, record_values, small_segments, Spec};
use spool_protocol::batch::{validate_record_set, BatchHeader};
use spool_storage::{AppendError, Log, LogConfig, ReadError};

const NOW_MS: i64 = 1_000_000;

#[test]
fn offsets_are_contiguous_and_log_end_is_the_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let info = log.append_as_leader(&batch(3, 1_000), 5, NOW_MS).unwrap();
    assert_eq!((info.first_offset, info.last_offset, info.record_count), (0, 2, 3));
    assert_eq!(info.max_timestamp, 1_002);
    assert!(!info.duplicate);
    assert_eq!(log.log_end_offset(), 3);
    // Two batches in one record set.
    let mut set = batch(2, 2_000);
    set.extend_from_slice(&batch(4, 3_000));
    let info = log.append_as_leader(&set, 5, NOW_MS).unwrap();
    assert_eq!((info.first_offset, info.last_offset, info.record_count), (3, 8, 6));
    assert_eq!(log.log_end_offset(), 9);

    let bytes = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(0, 2), (3, 4), (5, 8)]);
    assert_eq!(record_offsets(&bytes), (0..9).collect::<Vec<_>>());
    // Stored batches are still valid (offset and epoch rewrites keep the CRC) and carry the epoch.
    let headers = validate_record_set(&bytes, usize::MAX).unwrap();
    assert!(headers.iter().all(|h| h.partition_leader_epoch == 5));
}

#[test]
fn the_callers_buffer_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    log.append_as_leader(&batch(7, 0), 0, NOW_MS).unwrap();
    let records = batch(2, 0);
    let sent = records.clone();
    log.append_as_leader(&records, 3, NOW_MS).unwrap();
    assert_eq!(records, sent, "the offsets and epoch are written to the log, not into the request");
    let stored = log.read(7, usize::MAX, i64::MAX, false).unwrap();
    let header = BatchHeader::parse(&stored).unwrap();
    assert_eq!((header.base_offset, header.partition_leader_epoch), (7, 3));
    // Apart from those two fields, the stored batch is the one sent.
    assert_eq!(stored[16..], sent[16..]);
    assert_eq!(stored[8..12], sent[8..12]);
}

#[test]
fn a_record_set_of_more_batches_than_one_write_takes_is_stored_whole() {
    // 700 batches: more than one pwritev's 1,024 buffers (two per batch).
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    let mut set = Vec::new();
    let mut values = Vec::new();
    for i in 0..700 {
        let spec = Spec { count: 1 + i % 3, tag: format!("b{i}"), ..Spec::default() };
        set.extend_from_slice(&encode(&spec));
        values.extend((0..spec.count).map(|r| format!("b{i}-{r}-")));
    }
    let info = log.append_as_leader(&set, 9, NOW_MS).unwrap();
    assert_eq!(info.last_offset + 1, values.len() as i64);
    let bytes = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(bytes.len(), set.len());
    assert_eq!(record_offsets(&bytes), (0..values.len() as i64).collect::<Vec<_>>());
    let stored: Vec<String> = record_values(&bytes).into_iter().map(|v| v[..v.rfind('-').unwrap() + 1].to_string()).collect();
    assert_eq!(stored, values);
    let headers = validate_record_set(&bytes, usize::MAX).unwrap();
    assert!(headers.iter().all(|h| h.partition_leader_epoch == 9));
}

#[test]
fn reads_span_segment_rolls_and_return_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_segments(1024), NOW_MS).unwrap();
    let mut expected_values = Vec::new();
    for i in 0..60 {
        let spec = Spec { count: 1 + i % 4, tag: format!("b{i}"), value_bytes: 40, ..Spec::default() };
        let records = encode(&spec);
        expected_values.extend((0..spec.count).map(|r| format!("b{i}-{r}-")));
        log.append_as_leader(&records, 0, NOW_MS).unwrap();
    }
    assert!(log.segment_count() > 5, "only {} segments", log.segment_count());
    for size in std::fs::read_dir(dir.path()).unwrap().filter_map(|e| {
        let path = e.unwrap().path();
        path.extension().is_some_and(|x| x == "log").then(|| std::fs::metadata(path).unwrap().len())
    }) {
        assert!(size <= 1024, "segment of {size} bytes");
    }
    let total = log.log_end_offset();
    let all = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(record_offsets(&all), (0..total).collect::<Vec<_>>());
    let values: Vec<String> = record_values(&all).iter().map(|v| v.trim_end_matches('x').to_string()).collect();
    assert_eq!(values, expected_values);
    // From every offset: the first batch contains it, and the rest follows contiguously.
    for offset in 0..total {
        let bytes = log.read(offset, usize::MAX, i64::MAX, false).unwrap();
        let ranges = batch_ranges(&bytes);
        assert!(ranges[0].0 <= offset && offset <= ranges[0].1, "offset {offset}: {:?}", ranges[0]);
        assert_eq!(ranges.last().unwrap().1, total - 1);
    }
}

#[test]
fn a_read_from_the_middle_of_a_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    log.append_as_leader(&batch(5, 0), 0, NOW_MS).unwrap();
    log.append_as_leader(&batch(5, 0), 0, NOW_MS).unwrap();
    let bytes = log.read(7, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(5, 9)]);
    assert_eq!(record_offsets(&bytes), vec![5, 6, 7, 8, 9]);
    let bytes = log.read(9, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(5, 9)]);
}

#[test]
fn the_high_watermark_stops_the_read_before_batches_at_or_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_segments(400), NOW_MS).unwrap();
    for _ in 0..10 {
        log.append_as_leader(&batch(3, 0), 0, NOW_MS).unwrap();
    }
    assert!(log.segment_count() > 1);
    let bytes = log.read(0, usize::MAX, 9, false).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(0, 2), (3, 5), (6, 8)]);
    // A high watermark inside a batch keeps the batches starting below it.
    let bytes = log.read(0, usize::MAX, 10, false).unwrap();
    assert_eq!(batch_ranges(&bytes).last(), Some(&(9, 11)));
    // Nothing below the high watermark at the requested offset: empty, not an error.
    assert!(log.read(9, usize::MAX, 9, true).unwrap().is_empty());
    assert!(log.read(20, usize::MAX, 9, true).unwrap().is_empty());
}

#[test]
fn max_bytes_returns_whole_batches_only_and_min_one_batch_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_segments(4096), NOW_MS).unwrap();
    let mut sizes = Vec::new();
    for _ in 0..6 {
        let records = encode(&Spec { count: 2, value_bytes: 100, ..Spec::default() });
        sizes.push(records.len());
        log.append_as_leader(&records, 0, NOW_MS).unwrap();
    }
    let one = sizes[0];
    assert_eq!(log.read(0, 2 * one, i64::MAX, false).unwrap().len(), 2 * one);
    assert_eq!(batch_ranges(&log.read(0, 3 * one - 1, i64::MAX, false).unwrap()).len(), 2);
    // The first batch does not fit: nothing, unless min_one_batch.
    assert!(log.read(0, one - 1, i64::MAX, false).unwrap().is_empty());
    assert!(log.read(0, 0, i64::MAX, false).unwrap().is_empty());
    let bytes = log.read(2, 10, i64::MAX, true).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(2, 3)]);
    let bytes = log.read(2, 0, i64::MAX, true).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(2, 3)]);
}

#[test]
fn min_one_batch_and_max_bytes_apply_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_segments(300), NOW_MS).unwrap();
    let mut sizes = Vec::new();
    for _ in 0..8 {
        let records = encode(&Spec { count: 2, value_bytes: 100, ..Spec::default() });
        sizes.push(records.len());
        log.append_as_leader(&records, 0, NOW_MS).unwrap();
    }
    assert_eq!(log.segment_count(), 8, "one batch per segment");
    let bytes = log.read(0, 3 * sizes[0] + 5, i64::MAX, false).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(0, 1), (2, 3), (4, 5)]);
    let bytes = log.read(3, 1, i64::MAX, true).unwrap();
    assert_eq!(batch_ranges(&bytes), vec![(2, 3)]);
}

/// A read tells whether its byte limit kept out a batch that its offset limit would
/// have let through: a fetch then counts the limit as available (see `LogSlices`).
#[test]
fn a_read_says_whether_its_byte_limit_kept_batches_out() {
    for segment_bytes in [4096, 300] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_segments(segment_bytes), NOW_MS).unwrap();
        let mut one = 0;
        for _ in 0..6 {
            let records = encode(&Spec { count: 2, value_bytes: 100, ..Spec::default() });
            one = records.len();
            log.append_as_leader(&records, 0, NOW_MS).unwrap();
        }
        let at_limit = |offset: i64, max_bytes: usize, max_offset: i64, min_one_batch: bool| {
            let slices = log.read_slices(offset, max_bytes, max_offset, min_one_batch).unwrap();
            (slices.len() / one, slices.at_byte_limit())
        };
        let segments = log.segment_count();
        // Cut inside a batch, at a batch's end, before the first batch.
        assert_eq!(at_limit(0, 2 * one + 10, i64::MAX, false), (2, true), "{segments} segments");
        assert_eq!(at_limit(0, 2 * one, i64::MAX, false), (2, true), "{segments} segments");
        assert_eq!(at_limit(0, one - 1, i64::MAX, false), (0, true), "{segments} segments");
        assert_eq!(at_limit(0, 1, i64::MAX, true), (1, true), "{segments} segments");
        // Everything up to the offset limit fits: the offset limit stopped the read.
        assert_eq!(at_limit(0, 3 * one, 6, false), (3, false), "{segments} segments");
        assert_eq!(at_limit(0, 2 * one, 4, false), (2, false), "{segments} segments");
        assert_eq!(at_limit(0, usize::MAX, i64::MAX, false), (6, false), "{segments} segments");
        assert_eq!(at_limit(8, 2 * one, i64::MAX, false), (2, false), "the log end, {segments} segments");
        assert_eq!(at_limit(12, 10, i64::MAX, false), (0, false), "at the log end, {segments} segments");
        assert_eq!(at_limit(4, 10, 4, false), (0, false), "at the offset limit, {segments} segments");
    }
}

#[test]
fn reads_outside_the_log_are_out_of_range_and_at_the_end_are_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert!(log.read(0, 100, i64::MAX, true).unwrap().is_empty());
    log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    assert!(log.read(2, 100, i64::MAX, true).unwrap().is_empty());
    match log.read(3, 100, i64::MAX, true) {
        Err(ReadError::OffsetOutOfRange { offset: 3, log_start_offset: 0, log_end_offset: 2 }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(log.read(-1, 100, i64::MAX, true), Err(ReadError::OffsetOutOfRange { .. })));
}

#[test]
fn malformed_or_oversized_record_sets_are_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_segments(512), NOW_MS).unwrap();
    assert!(matches!(log.append_as_leader(&[], 0, NOW_MS), Err(AppendError::InvalidRecords(_))));
    let mut partial = batch(2, 0);
    partial.extend_from_slice(&batch(1, 0)[..30]);
    assert!(matches!(log.append_as_leader(&partial, 0, NOW_MS), Err(AppendError::InvalidRecords(_))));
    let large = encode(&Spec { count: 4, value_bytes: 200, ..Spec::default() });
    assert!(matches!(
        log.append_as_leader(&large, 0, NOW_MS),
        Err(AppendError::RecordSetTooLarge { max_bytes: 512, .. })
    ));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
}

#[test]
fn lookups_through_a_large_index_find_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    // An index entry for nearly every batch: thousands of entries, most only on disk.
    let config = LogConfig { index_interval_bytes: 1, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    for _ in 0..5000 {
        log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    }
    let check = |log: &Log| {
        for offset in (0..10_000).step_by(7) {
            let bytes = log.read(offset, 1, i64::MAX, true).unwrap();
            let base = offset - offset % 2;
            assert_eq!(batch_ranges(&bytes), vec![(base, base + 1)], "offset {offset}");
        }
    };
    check(&log);
    log.close().unwrap();
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), 10_000);
    check(&log);
    let index_len = std::fs::metadata(dir.path().join("00000000000000000000.index")).unwrap().len();
    assert_eq!(index_len, 4999 * 8, "one entry per batch after the first");
}

#[test]
fn slices_name_what_a_read_returns_and_outlive_a_deleted_log_but_not_a_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path().join("p-0"), small_segments(300), NOW_MS).unwrap();
    for _ in 0..4 {
        log.append_as_leader(&encode(&Spec { count: 2, value_bytes: 100, ..Spec::default() }), 0, NOW_MS).unwrap();
    }
    assert_eq!(log.segment_count(), 4, "one batch per segment");
    for (offset, max_bytes, max_offset) in [(0, usize::MAX, i64::MAX), (3, usize::MAX, 6), (2, 400, i64::MAX), (8, usize::MAX, i64::MAX)] {
        let slices = log.read_slices(offset, max_bytes, max_offset, true).unwrap();
        let read = log.read(offset, max_bytes, max_offset, true).unwrap();
        assert_eq!(slices.to_bytes().unwrap(), read, "read_slices({offset}, {max_bytes}, {max_offset}) names the bytes read returns");
        assert_eq!(slices.len(), read.len());
        assert!(slices.slices().iter().all(|s| !s.is_empty()), "no empty slices");
    }
    let everything = log.read_slices(0, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(everything.slices().len(), 4, "one slice per segment");
    let expected = everything.to_bytes().unwrap();
    // A segment deleted meanwhile (retention, topic deletion) is still sent whole.
    log.delete().unwrap();
    assert_eq!(everything.to_bytes().unwrap(), expected);

    // A truncation cuts the file under a slice: reading it fails instead of returning
    // fewer or other bytes.
    let mut log = Log::open(dir.path().join("q-0"), LogConfig::default(), NOW_MS).unwrap();
    for _ in 0..3 {
        log.append_as_leader(&batch(2, NOW_MS), 0, NOW_MS).unwrap();
    }
    let tail = log.read_slices(2, usize::MAX, i64::MAX, false).unwrap();
    log.truncate_to(2).unwrap();
    let error = tail.to_bytes().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
}
