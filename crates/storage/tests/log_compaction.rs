//! Log compaction: what a cleaning keeps, what it never touches, and recovery after a
//! crash at each step of a segment swap.
#![allow(clippy::unwrap_used)]

mod record_batches;

use std::fs;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use record_batches::{batch_ranges, files_with_suffix};
use spool_protocol::batch::{BatchHeader, Codec};
use spool_storage::{AppendError, CleaningCommit, Log, LogConfig};

const NOW_MS: i64 = 1_000_000;
const DAY_MS: i64 = 86_400_000;
const MAP_ENTRIES: usize = 1 << 16;

/// One batch of keyed records (`None` value: a tombstone), optionally idempotent.
fn keyed(entries: &[(&str, Option<&str>)], compression: Compression, producer: Option<(i64, i16, i32)>) -> BytesMut {
    let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, 0));
    let records: Vec<Record> = entries
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp: NOW_MS - 1000 + i as i64,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression }).unwrap();
    if producer.is_none() {
        buf[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        let crc = crc32c::crc32c(&buf[21..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    buf
}

fn put(log: &mut Log, entries: &[(&str, Option<&str>)]) {
    log.append_as_leader(&keyed(entries, Compression::None, None), 0, NOW_MS).unwrap();
}

/// (offset, key, value, timestamp) of every record the log returns from `offset` on.
fn records_from(log: &Log, offset: i64) -> Vec<(i64, String, Option<String>, i64)> {
    let mut bytes = log.read(offset, usize::MAX, i64::MAX, true).unwrap();
    let text = |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    RecordBatchDecoder::decode_all(&mut bytes)
        .unwrap()
        .iter()
        .flat_map(|set| set.records.iter().map(|r| (r.offset, text(&r.key).unwrap_or_default(), text(&r.value), r.timestamp)))
        .collect()
}

/// (offset, key, value) of every record.
type Summary = Vec<(i64, String, Option<String>)>;

fn summary(log: &Log) -> Summary {
    records_from(log, log.log_start_offset()).into_iter().map(|(o, k, v, _)| (o, k, v)).collect()
}

fn compacted(segment_bytes: u64) -> LogConfig {
    LogConfig { segment_bytes, compact: true, delete: false, delete_retention_ms: DAY_MS, ..LogConfig::default() }
}

/// Ten one-batch segments (`segment.bytes` 100) writing keys a, b, c in turn, then an
/// active segment with one batch: offsets 0..=10, value `v<offset>`.
fn churned_log(dir: &Path) -> Log {
    let mut log = Log::open(dir, compacted(100), NOW_MS).unwrap();
    for i in 0..11 {
        let key = ["a", "b", "c"][i % 3];
        put(&mut log, &[(key, Some(&format!("v{i}")))]);
    }
    assert_eq!((log.segment_count(), log.log_end_offset()), (11, 11));
    log
}

fn s(key: &str, value: &str) -> (String, Option<String>) {
    (key.to_string(), Some(value.to_string()))
}

#[test]
fn keeps_the_latest_value_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let size_before = log.size_bytes();
    let stats = log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!((stats.first_dirty_offset, stats.end_offset, stats.keys), (0, 10, 3));
    // Latest below the active segment: a@9, b@7, c@8; the active batch (b@10) is untouched.
    let expected: Vec<_> = [(7, s("b", "v7")), (8, s("c", "v8")), (9, s("a", "v9")), (10, s("b", "v10"))]
        .into_iter()
        .map(|(o, (k, v))| (o, k, v))
        .collect();
    assert_eq!(summary(&log), expected);
    assert!(log.size_bytes() < size_before);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 11));
    // A read at a removed offset returns the next surviving batch.
    assert_eq!(batch_ranges(&log.read(2, usize::MAX, i64::MAX, true).unwrap())[0], (7, 7));
    // The same after a restart, with the indexes rebuilt or trusted.
    drop(log);
    let log = Log::open(dir.path(), compacted(100), NOW_MS).unwrap();
    assert_eq!(summary(&log), expected);
    assert_eq!(log.cleanable_range(11, NOW_MS).unwrap().first_dirty_offset, 10);
}

#[test]
fn nothing_at_or_above_the_high_watermark_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let high_watermark = 5;
    let above: Vec<_> = records_from(&log, high_watermark);
    let stats = log.clean(high_watermark, NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!(stats.end_offset, 5);
    // Below the HW only the latest of each key among offsets < 5 may go: a@0 (a@3), b@1 (b@4).
    let offsets: Vec<i64> = summary(&log).iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(records_from(&log, high_watermark), above);
    // Segments wholly above the HW keep their files as they were.
    assert!(dir.path().join("00000000000000000006.log").exists());
}

#[test]
fn the_active_segment_and_young_segments_are_not_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compacted(1 << 20), NOW_MS).unwrap();
    for i in 0..5 {
        put(&mut log, &[("a", Some(&format!("v{i}")))]);
    }
    let range = log.cleanable_range(5, NOW_MS).unwrap();
    assert_eq!((range.first_uncleanable_offset, range.dirty_bytes), (0, 0));
    assert!(!range.is_due(0.0));
    assert_eq!(log.clean(5, NOW_MS, MAP_ENTRIES).unwrap().end_offset, 0);
    assert_eq!(summary(&log).len(), 5);
    // min.compaction.lag.ms keeps segments with a record younger than the lag.
    let young = tempfile::tempdir().unwrap();
    let mut log = churned_log(young.path());
    log.set_config(LogConfig { min_compaction_lag_ms: 500, ..compacted(100) });
    // Records are timestamped NOW_MS - 1000: young until NOW_MS - 500.
    assert_eq!(log.cleanable_range(11, NOW_MS - 600).unwrap().first_uncleanable_offset, 0);
    assert_eq!(log.cleanable_range(11, NOW_MS).unwrap().first_uncleanable_offset, 10);
}

#[test]
fn dirty_ratio_and_max_compaction_lag_decide_when_a_log_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let range = log.cleanable_range(11, NOW_MS).unwrap();
    assert_eq!((range.clean_bytes, range.first_dirty_offset), (0, 0));
    assert_eq!(range.dirty_ratio(), 1.0);
    assert!(range.is_due(0.5) && !range.is_due(1.0));
    assert!(log.clean_if_due(11, NOW_MS, MAP_ENTRIES).unwrap().is_some());
    // One more dirty segment (b@10) next to a clean section of 3 batches: about 1/4.
    put(&mut log, &[("d", Some("x"))]);
    let range = log.cleanable_range(12, NOW_MS).unwrap();
    assert!(range.dirty_ratio() > 0.2 && range.dirty_ratio() < 0.3, "{range:?}");
    assert!(!range.is_due(0.5));
    assert!(log.clean_if_due(12, NOW_MS, MAP_ENTRIES).unwrap().is_none());
    // max.compaction.lag.ms: the dirty segment's first batch is older than the lag.
    log.set_config(LogConfig { max_compaction_lag_ms: 100, ..compacted(100) });
    let range = log.cleanable_range(12, NOW_MS).unwrap();
    assert_eq!(range.max_compaction_delay_ms, 1000 - 100);
    assert!(range.is_due(0.9));
    // A log without cleanup.policy=compact is never cleaned.
    log.set_config(LogConfig { compact: false, ..compacted(100) });
    assert!(log.clean_if_due(12, NOW_MS, MAP_ENTRIES).unwrap().is_none());
}

#[test]
fn tombstones_go_only_after_delete_retention_ms() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compacted(100), NOW_MS).unwrap();
    put(&mut log, &[("a", Some("1"))]);
    put(&mut log, &[("a", None)]);
    put(&mut log, &[("b", Some("2"))]);
    put(&mut log, &[("c", Some("3"))]);
    log.clean(4, NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!(summary(&log).iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    // The tombstone keeps its timestamp though its batch now carries a delete horizon.
    assert_eq!(records_from(&log, 1)[0].3, NOW_MS - 1000);
    // Later cleanings (each with new dirty data) drop it once the horizon has passed.
    put(&mut log, &[("d", Some("4"))]);
    log.clean(5, NOW_MS + DAY_MS - 1, MAP_ENTRIES).unwrap();
    assert_eq!(summary(&log)[0], (1, "a".into(), None));
    put(&mut log, &[("e", Some("5"))]);
    log.clean(6, NOW_MS + DAY_MS, MAP_ENTRIES).unwrap();
    let keys: Vec<(i64, String)> = summary(&log).into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(keys, vec![(2, "b".into()), (3, "c".into()), (4, "d".into()), (5, "e".into())]);
}

#[test]
fn compressed_batches_keep_their_codec() {
    for compression in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), compacted(1 << 20), NOW_MS).unwrap();
        let first = [("a", Some("1")), ("b", Some("2")), ("c", Some("3"))];
        log.append_as_leader(&keyed(&first, compression, None), 0, NOW_MS).unwrap();
        log.append_as_leader(&keyed(&[("b", Some("4")), ("x", None)], compression, None), 0, NOW_MS).unwrap();
        log.set_config(compacted(100)); // the next append rolls
        put(&mut log, &[("z", Some("active"))]);
        log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
        let bytes = log.read(0, usize::MAX, i64::MAX, true).unwrap();
        let header = BatchHeader::parse(&bytes).unwrap();
        assert_ne!(header.codec(), Codec::None, "{compression:?}");
        assert_eq!((header.base_offset, header.last_offset(), header.record_count), (0, 2, 2));
        let expected = vec![
            (0, "a".to_string(), Some("1".to_string())),
            (2, "c".into(), Some("3".into())),
            (3, "b".into(), Some("4".into())),
            (4, "x".into(), None),
            (5, "z".into(), Some("active".into())),
        ];
        assert_eq!(summary(&log), expected, "{compression:?}");
    }
}

#[test]
fn cleaning_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    put(&mut log, &[("a", None)]);
    log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
    let once = log.read(0, usize::MAX, i64::MAX, true).unwrap();
    let stats = log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!(stats.segments_before, 0, "nothing dirty: nothing rewritten");
    // Even with the checkpoint gone (the whole log dirty again) the result is the same.
    fs::remove_file(dir.path().join("cleaner-offset-checkpoint")).unwrap();
    let stats = log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
    assert!(stats.segments_before > 0);
    assert_eq!(log.read(0, usize::MAX, i64::MAX, true).unwrap(), once);
}

#[test]
fn a_full_key_map_cleans_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let stats = log.clean(11, NOW_MS, 2).unwrap();
    assert_eq!((stats.end_offset, stats.keys), (2, 2));
    // 4 entries: three keys, and room for the next batch's key to be a new one.
    let stats = log.clean(11, NOW_MS, 4).unwrap();
    assert_eq!((stats.first_dirty_offset, stats.end_offset), (2, 10));
    assert_eq!(summary(&log).iter().map(|r| r.0).collect::<Vec<_>>(), vec![7, 8, 9, 10]);
}

#[test]
fn keyless_records_are_removed_and_producer_state_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compacted(120), NOW_MS).unwrap();
    // Producer 7's only batch is superseded, but it is its last batch: kept, empty.
    log.append_as_leader(&keyed(&[("a", Some("p0")), ("b", Some("p1"))], Compression::None, Some((7, 0, 0))), 0, NOW_MS)
        .unwrap();
    put(&mut log, &[("a", Some("x")), ("b", Some("y"))]);
    let keyless = record_batches::batch(2, NOW_MS);
    log.append_as_leader(&keyless, 0, NOW_MS).unwrap();
    put(&mut log, &[("c", Some("active"))]);
    let end = log.log_end_offset();
    log.clean(end, NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(summary(&log).iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3, 6]);
    let ranges = batch_ranges(&log.read(0, usize::MAX, i64::MAX, true).unwrap());
    assert_eq!(ranges[0], (0, 1), "the producer's empty batch keeps its offsets");
    // After a restart without producer snapshots, the state comes from that empty batch.
    drop(log);
    for snapshot in files_with_suffix(dir.path(), ".snapshot") {
        fs::remove_file(snapshot).unwrap();
    }
    let mut log = Log::open(dir.path(), compacted(120), NOW_MS).unwrap();
    let duplicate = log
        .append_as_leader(&keyed(&[("a", Some("p0")), ("b", Some("p1"))], Compression::None, Some((7, 0, 0))), 0, NOW_MS)
        .unwrap();
    assert!(duplicate.duplicate);
    let next = keyed(&[("a", Some("p2"))], Compression::None, Some((7, 0, 2)));
    assert!(log.append_as_leader(&next.clone(), 0, NOW_MS).is_ok());
    let gap = keyed(&[("a", Some("p9"))], Compression::None, Some((7, 0, 9)));
    assert!(matches!(log.append_as_leader(&gap.clone(), 0, NOW_MS), Err(AppendError::OutOfOrderSequence { .. })));
}

/// A log of one-batch segments, and the directory of the same log cleaned into one segment.
fn original_and_cleaned() -> (tempfile::TempDir, tempfile::TempDir, Summary) {
    let original = tempfile::tempdir().unwrap();
    let log = churned_log(original.path());
    let before = summary(&log);
    drop(log);
    let cleaned = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(original.path()).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, cleaned.path().join(path.file_name().unwrap())).unwrap();
    }
    let mut log = Log::open(cleaned.path(), compacted(100), NOW_MS).unwrap();
    log.set_config(compacted(1 << 20));
    let stats = log.clean(11, NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!((stats.segments_before, stats.segments_after), (10, 1));
    let after = summary(&log);
    assert_ne!(before, after);
    drop(log);
    (original, cleaned, after)
}

const FIRST: &str = "00000000000000000000.log";

#[test]
fn a_crash_before_the_swap_leaves_the_old_segments() {
    let (original, _cleaned, _) = original_and_cleaned();
    let before = summary(&Log::open(original.path(), compacted(100), NOW_MS).unwrap());
    fs::write(original.path().join(format!("{FIRST}.cleaned")), b"half written").unwrap();
    let log = Log::open(original.path(), compacted(100), NOW_MS).unwrap();
    assert_eq!(summary(&log), before);
    assert!(files_with_suffix(original.path(), ".cleaned").is_empty());
}

#[test]
fn a_crash_after_the_swap_file_is_complete_finishes_the_swap() {
    // The swap file is in place and 0, 1, ..., `deleted` - 1 of the old segments are gone.
    for deleted in [0, 1, 4, 10] {
        let (original, cleaned, after) = original_and_cleaned();
        fs::copy(cleaned.path().join(FIRST), original.path().join(format!("{FIRST}.swap"))).unwrap();
        for base in 0..deleted {
            let name = format!("{base:020}.log");
            fs::rename(original.path().join(&name), original.path().join(format!("{name}.deleted"))).unwrap();
        }
        let mut log = Log::open(original.path(), compacted(100), NOW_MS).unwrap();
        assert_eq!(summary(&log), after, "{deleted} old segments deleted");
        assert!(files_with_suffix(original.path(), ".swap").is_empty());
        assert!(files_with_suffix(original.path(), ".deleted").is_empty());
        // Appends and a later cleaning carry on from there.
        put(&mut log, &[("a", Some("later"))]);
        log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
        assert_eq!(summary(&log).last().unwrap().0, 11);
    }
}

#[test]
fn a_crash_after_the_cleaned_indexes_took_their_names_finishes_the_swap() {
    // The swap file is in place, the old segments are gone and the cleaned segment's
    // indexes already carry the segment's names: the open that completes the swap
    // replaces them with rebuilt ones.
    let (original, cleaned, after) = original_and_cleaned();
    fs::copy(cleaned.path().join(FIRST), original.path().join(format!("{FIRST}.swap"))).unwrap();
    for base in 0..10 {
        for suffix in ["log", "index", "timeindex"] {
            let name = format!("{base:020}.{suffix}");
            fs::rename(original.path().join(&name), original.path().join(format!("{name}.deleted"))).unwrap();
        }
    }
    for suffix in ["index", "timeindex"] {
        let name = format!("{:020}.{suffix}", 0);
        fs::copy(cleaned.path().join(&name), original.path().join(&name)).unwrap();
    }
    let log = Log::open(original.path(), compacted(100), NOW_MS).unwrap();
    assert_eq!(summary(&log), after);
    assert!(files_with_suffix(original.path(), ".swap").is_empty());
}

#[test]
fn a_cleaned_segment_comes_with_the_indexes_a_rebuild_would_make() {
    // Many batches per segment and an index entry after every batch, so the cleaned
    // segment's indexes have entries to get wrong.
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { index_interval_bytes: 1, ..compacted(2_000) };
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    for i in 0..120 {
        let (key, value) = (format!("k{}", i % 7), format!("v{i}"));
        put(&mut log, &[(key.as_str(), Some(value.as_str()))]);
    }
    assert!(log.segment_count() > 3, "{:?}", log.segment_base_offsets());
    log.set_config(LogConfig { segment_bytes: 1 << 20, ..config.clone() });
    let stats = log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!(stats.segments_after, 1, "{stats:?}");
    let cleaned = summary(&log);
    let index_files = || ["00000000000000000000.index", "00000000000000000000.timeindex"].map(|name| fs::read(dir.path().join(name)).unwrap());
    let built = index_files();
    assert!(built[0].len() >= 8 * 3, "the cleaned segment has offset index entries: {} bytes", built[0].len());
    // Every surviving record can be looked up by its offset through those indexes.
    for (offset, key, value) in &cleaned {
        assert_eq!(records_from(&log, *offset).first().map(|r| (r.0, r.1.clone(), r.2.clone())), Some((*offset, key.clone(), value.clone())));
    }
    // A crash with nothing checkpointed: the open validates every segment and rebuilds
    // its indexes from the batches, and arrives at the same files.
    drop(log);
    fs::remove_file(dir.path().join("recovery-point-offset-checkpoint")).ok();
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(summary(&log), cleaned);
    assert_eq!(index_files(), built);
}

#[test]
fn truncation_below_the_checkpoint_makes_rewritten_offsets_dirty() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    log.clean(11, NOW_MS, MAP_ENTRIES).unwrap();
    log.truncate_to(8).unwrap();
    assert_eq!(log.cleanable_range(8, NOW_MS).unwrap().first_dirty_offset, 8);
    log.truncate_fully_and_start_at(20).unwrap();
    assert_eq!(log.cleanable_range(20, NOW_MS).unwrap().first_dirty_offset, 20);
}

// A cleaning in phases: plan and commit need the log, the build in between does not, and
// the log may change meanwhile.

/// The records of `churned_log` once cleaned up to offset 10.
fn churned_and_cleaned() -> Summary {
    [(7, s("b", "v7")), (8, s("c", "v8")), (9, s("a", "v9")), (10, s("b", "v10"))]
        .into_iter()
        .map(|(o, (k, v))| (o, k, v))
        .collect()
}

fn no_leftovers(dir: &Path) {
    assert!(files_with_suffix(dir, ".cleaned").is_empty());
    assert!(files_with_suffix(dir, ".swap").is_empty());
}

#[test]
fn appends_between_the_build_and_the_commit_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let plan = log.plan_cleaning(11, NOW_MS, MAP_ENTRIES).unwrap();
    assert_eq!((plan.range().first_dirty_offset, plan.range().first_uncleanable_offset), (0, 10));
    let built = plan.build().unwrap();
    for suffix in [".log.cleaned", ".index.cleaned", ".timeindex.cleaned"] {
        assert_eq!(files_with_suffix(dir.path(), suffix).len(), 10, "one cleaned segment per one-segment group");
    }
    // Each of these appends rolls a segment: the active one of the plan becomes inactive.
    put(&mut log, &[("a", Some("later"))]);
    put(&mut log, &[("d", Some("new"))]);
    let stats = log.commit_cleaning(built).unwrap().expect("nothing the plan holds changed");
    assert_eq!((stats.first_dirty_offset, stats.end_offset, stats.segments_before), (0, 10, 10));
    let mut expected = churned_and_cleaned();
    expected.extend([(11, "a".into(), Some("later".into())), (12, "d".into(), Some("new".into()))]);
    assert_eq!(summary(&log), expected);
    no_leftovers(dir.path());
    assert_eq!(log.cleanable_range(13, NOW_MS).unwrap().first_dirty_offset, 10);
    drop(log);
    assert_eq!(summary(&Log::open(dir.path(), compacted(100), NOW_MS).unwrap()), expected);
}

#[test]
fn groups_are_committed_one_at_a_time_and_reads_see_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let mut built = log.plan_cleaning(11, NOW_MS, MAP_ENTRIES).unwrap().build().unwrap();
    let latest = churned_and_cleaned();
    let mut steps = 0;
    loop {
        let step = log.commit_cleaned_group(&mut built).unwrap();
        steps += 1;
        // Between two commits the log is whole: every latest value is there.
        let now = summary(&log);
        assert!(latest.iter().all(|record| now.contains(record)), "after step {steps}: {now:?}");
        match step {
            CleaningCommit::Pending => assert_eq!(files_with_suffix(dir.path(), ".log.cleaned").len(), 10 - steps),
            CleaningCommit::Done(stats) => {
                assert_eq!(stats.end_offset, 10);
                break;
            }
            CleaningCommit::GaveUp => panic!("nothing changed"),
        }
    }
    assert_eq!(steps, 10);
    assert_eq!(summary(&log), latest);
    no_leftovers(dir.path());
}

/// Plans and builds a cleaning of `churned_log`, changes the log with `change`, and
/// checks that the commit gives up leaving the log as `change` made it and no file
/// behind, and that the next cleaning works. Returns the log's records after `change`.
fn commit_gives_up_after(change: impl FnOnce(&mut Log)) -> Summary {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let built = log.plan_cleaning(11, NOW_MS, MAP_ENTRIES).unwrap().build().unwrap();
    change(&mut log);
    let changed = summary(&log);
    let segments = log.segment_base_offsets();
    assert_eq!(log.commit_cleaning(built).unwrap(), None);
    assert_eq!(summary(&log), changed);
    assert_eq!(log.segment_base_offsets(), segments);
    no_leftovers(dir.path());
    // Nothing was checkpointed: the next cleaning starts where this one did.
    let range = log.cleanable_range(log.log_end_offset(), NOW_MS).unwrap();
    assert_eq!(range.first_dirty_offset, log.log_start_offset());
    let stats = log.clean(log.log_end_offset(), NOW_MS, MAP_ENTRIES).unwrap();
    assert!(stats.segments_before > 0);
    drop(log);
    assert_eq!(summary(&Log::open(dir.path(), compacted(100), NOW_MS).unwrap()).last(), changed.last());
    changed
}

#[test]
fn the_commit_gives_up_when_retention_deleted_a_planned_segment() {
    commit_gives_up_after(|log| {
        log.set_config(LogConfig { delete: true, retention_ms: 0, ..compacted(100) });
        // Everything is past retention; the segments below offset 3 are below the HW.
        assert_eq!(log.enforce_retention_below(NOW_MS, 3).unwrap(), 3);
        log.set_config(compacted(100));
    });
}

#[test]
fn the_commit_gives_up_when_delete_records_moved_the_log_start_past_a_planned_segment() {
    let changed = commit_gives_up_after(|log| log.advance_log_start_offset(4).unwrap());
    assert_eq!(changed[0].0, 4);
}

#[test]
fn the_commit_gives_up_when_the_log_was_truncated_below_a_planned_segment() {
    // Rewritten to the same sizes: segment 8 is the same file at the same size again, but
    // its records are new; only the truncation tells.
    let changed = commit_gives_up_after(|log| {
        log.truncate_to(8).unwrap();
        for (i, key) in [(8, "c"), (9, "a"), (10, "b")] {
            put(log, &[(key, Some(&format!("w{i}")))]);
        }
    });
    let rewritten: Summary = [(8, "c"), (9, "a"), (10, "b")].map(|(o, k)| (o, k.into(), Some(format!("w{o}")))).into();
    assert_eq!(changed[8..], rewritten);
}

#[test]
fn the_commit_gives_up_when_another_cleaning_came_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = churned_log(dir.path());
    let built = log.plan_cleaning(11, NOW_MS, MAP_ENTRIES).unwrap().build().unwrap();
    assert_eq!(log.clean(11, NOW_MS, MAP_ENTRIES).unwrap().end_offset, 10);
    let segments = log.segment_base_offsets();
    assert_eq!(log.commit_cleaning(built).unwrap(), None);
    assert_eq!((summary(&log), log.segment_base_offsets()), (churned_and_cleaned(), segments));
    assert_eq!(log.cleanable_range(11, NOW_MS).unwrap().first_dirty_offset, 10);
    no_leftovers(dir.path());
}

#[test]
fn a_cleaning_of_a_deleted_log_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = churned_log(&path);
    let mut plan_log = log;
    let built = plan_log.plan_cleaning(11, NOW_MS, MAP_ENTRIES).unwrap().build().unwrap();
    plan_log.delete().unwrap();
    // A new log in the same directory (the topic created again) is not touched.
    let mut log = Log::open(&path, compacted(100), NOW_MS).unwrap();
    put(&mut log, &[("x", Some("new"))]);
    put(&mut log, &[("x", Some("newer"))]);
    let before = summary(&log);
    assert_eq!(log.commit_cleaning(built).unwrap(), None);
    assert_eq!(summary(&log), before);
    no_leftovers(&path);
    // Dropping a built cleaning of a deleted log removes nothing and does not fail.
    let built = log.plan_cleaning(2, NOW_MS, MAP_ENTRIES).unwrap().build().unwrap();
    log.delete().unwrap();
    drop(built);
    assert!(!path.exists());
}
