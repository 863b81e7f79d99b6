//! Opening a log after a clean shutdown or a crash: torn tails, corruption, indexes,
//! leftovers.
#![allow(clippy::unwrap_used)]

mod record_batches;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use record_batches::{assert_contiguous_from_zero, batch, batch_ranges, encode, files_with_suffix, Spec};
use spool_protocol::batch::Batches;
use spool_storage::{Log, LogConfig};

const NOW_MS: i64 = 1_000_000;

fn segment(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}{suffix}"))
}

/// (position, base offset, size) of every batch in a `.log` file.
fn batches_in(path: &Path) -> Vec<(usize, i64, usize)> {
    let bytes = fs::read(path).unwrap();
    let mut batches = Batches::new(&bytes);
    let mut out = Vec::new();
    let mut position = 0;
    for (header, raw) in batches.by_ref() {
        out.push((position, header.base_offset, raw.len()));
        position += raw.len();
    }
    out
}

/// A log of `count` 3-record batches, left without `close` (a crash).
fn crashed_log(dir: &Path, config: &LogConfig, count: usize) {
    let mut log = Log::open(dir, config.clone(), NOW_MS).unwrap();
    for i in 0..count {
        let spec = Spec { count: 3, first_timestamp: 1_000 + i as i64, value_bytes: 30, ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
    }
    drop(log);
}

#[test]
fn a_torn_tail_is_cut_and_appends_continue_at_contiguous_offsets() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), &LogConfig::default(), 10);
    let path = segment(dir.path(), 0, ".log");
    let batches = batches_in(&path);
    let (last_position, last_base, last_size) = batches[9];
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len((last_position + last_size / 2) as u64).unwrap();
    drop(file);

    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), last_base);
    assert_eq!(fs::metadata(&path).unwrap().len(), last_position as u64);
    assert_contiguous_from_zero(&log);
    let info = log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    assert_eq!(info.first_offset, 27);
    assert_contiguous_from_zero(&log);
}

#[test]
fn garbage_after_the_last_batch_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), &LogConfig::default(), 4);
    let path = segment(dir.path(), 0, ".log");
    let size = fs::metadata(&path).unwrap().len();
    for garbage in [vec![0u8; 100], (0..=255u8).cycle().take(5000).collect::<Vec<u8>>()] {
        OpenOptions::new().append(true).open(&path).unwrap().write_all(&garbage).unwrap();
        let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
        assert_eq!(log.log_end_offset(), 12);
        assert_eq!(fs::metadata(&path).unwrap().len(), size);
        assert_contiguous_from_zero(&log);
    }
}

#[test]
fn a_flipped_byte_fails_the_crc_and_ends_the_log_before_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), &LogConfig::default(), 10);
    let path = segment(dir.path(), 0, ".log");
    let (position, base, size) = batches_in(&path)[5];
    let mut bytes = fs::read(&path).unwrap();
    bytes[position + size - 5] ^= 0x01; // inside the records: only the CRC notices
    fs::write(&path, &bytes).unwrap();

    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), base);
    assert_eq!(fs::metadata(&path).unwrap().len(), position as u64);
    assert_eq!(log.append_as_leader(&batch(1, 0), 0, NOW_MS).unwrap().first_offset, base);
    assert_contiguous_from_zero(&log);
}

#[test]
fn a_batch_whose_offsets_go_backwards_ends_the_log() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), &LogConfig::default(), 3);
    let path = segment(dir.path(), 0, ".log");
    let bytes = fs::read(&path).unwrap();
    let (_, _, first_size) = batches_in(&path)[0];
    // A valid batch (CRC and all) claiming offsets 0..=2 again.
    OpenOptions::new().append(true).open(&path).unwrap().write_all(&bytes[..first_size]).unwrap();
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(fs::metadata(&path).unwrap().len(), bytes.len() as u64);
}

#[test]
fn corruption_after_the_recovery_point_deletes_the_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 400, ..LogConfig::default() };
    crashed_log(dir.path(), &config, 12);
    let logs = files_with_suffix(dir.path(), ".log");
    assert!(logs.len() >= 4, "{logs:?}");
    // As if the crash came before any roll checkpointed: recover from offset 0.
    fs::write(dir.path().join("recovery-point-offset-checkpoint"), "0\n0\n").unwrap();
    let damaged = &logs[1];
    let (position, base, size) = batches_in(damaged)[1];
    let mut bytes = fs::read(damaged).unwrap();
    bytes[position + size / 2] ^= 0xff;
    fs::write(damaged, &bytes).unwrap();

    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), base);
    assert_eq!(files_with_suffix(dir.path(), ".log"), logs[..2].to_vec());
    assert!(files_with_suffix(dir.path(), ".index").len() == 2);
    assert_contiguous_from_zero(&log);
}

#[test]
fn a_corrupt_checkpoint_makes_recovery_check_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 400, ..LogConfig::default() };
    crashed_log(dir.path(), &config, 12);
    let first = segment(dir.path(), 0, ".log");
    let (position, base, size) = batches_in(&first)[1];
    let mut bytes = fs::read(&first).unwrap();
    bytes[position + size - 1] ^= 0xff;
    fs::write(&first, &bytes).unwrap();
    // Rolls checkpointed a recovery point past the first segment, so it is trusted…
    let log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    assert!(log.log_end_offset() > 30);
    drop(log);
    // …until the checkpoint cannot be read.
    fs::write(dir.path().join("recovery-point-offset-checkpoint"), "zero\n").unwrap();
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), base);
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn a_clean_shutdown_is_trusted_but_a_torn_tail_is_still_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    for _ in 0..5 {
        log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    }
    log.close().unwrap();
    let marker = dir.path().join(".kafka_cleanshutdown");
    assert!(marker.exists());
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert!(!marker.exists(), "an open log must not look cleanly shut down");
    assert_eq!(log.log_end_offset(), 10);
    log.close().unwrap();

    let path = segment(dir.path(), 0, ".log");
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 7).unwrap();
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), 8);
    assert_contiguous_from_zero(&log);
}

#[test]
fn every_complete_batch_survives_a_crash_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 700, index_interval_bytes: 100, ..LogConfig::default() };
    crashed_log(dir.path(), &config, 40);
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), 120);
    assert_contiguous_from_zero(&log);
    log.append_as_leader(&batch(1, 0), 0, NOW_MS).unwrap();
    drop(log);
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), 121);
    assert_eq!(batch_ranges(&log.read(64, 1, i64::MAX, true).unwrap()), vec![(63, 65)]);
}

fn index_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = files_with_suffix(dir, ".index");
    files.extend(files_with_suffix(dir, ".timeindex"));
    files.into_iter().map(|p| (p.clone(), fs::read(&p).unwrap())).collect()
}

/// A cleanly closed log with dense indexes over several segments; returns its index files.
fn closed_indexed_log(dir: &Path, config: &LogConfig) -> Vec<(PathBuf, Vec<u8>)> {
    let mut log = Log::open(dir, config.clone(), NOW_MS).unwrap();
    for i in 0..60 {
        let spec = Spec { count: 2, first_timestamp: 5_000 + 10 * i, value_bytes: 20, ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
    }
    assert!(log.segment_count() >= 3);
    log.close().unwrap();
    let indexes = index_files(dir);
    assert!(indexes.iter().any(|(p, bytes)| p.extension().unwrap() == "index" && bytes.len() >= 24));
    indexes
}

fn assert_lookups_work(log: &Log) {
    for offset in 0..120 {
        let bytes = log.read(offset, 1, i64::MAX, true).unwrap();
        let base = offset - offset % 2;
        assert_eq!(batch_ranges(&bytes), vec![(base, base + 1)]);
    }
    assert_eq!(log.offset_for_timestamp(5_301).unwrap(), Some((61, 5_301)));
}

#[test]
fn missing_indexes_are_rebuilt_identically() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 2000, index_interval_bytes: 150, ..LogConfig::default() };
    let indexes = closed_indexed_log(dir.path(), &config);
    for (path, _) in &indexes {
        fs::remove_file(path).unwrap();
    }
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_lookups_work(&log);
    log.close().unwrap();
    assert_eq!(index_files(dir.path()), indexes);
}

#[test]
fn corrupt_indexes_are_rebuilt_identically() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 2000, index_interval_bytes: 150, ..LogConfig::default() };
    let indexes = closed_indexed_log(dir.path(), &config);
    for (i, (path, bytes)) in indexes.iter().enumerate() {
        let damaged = match i % 3 {
            0 => bytes[..bytes.len().saturating_sub(3)].to_vec(), // not whole entries
            1 => vec![0xee; bytes.len().max(24)],                  // points past the end
            _ => bytes.iter().rev().copied().collect(),            // not increasing
        };
        fs::write(path, damaged).unwrap();
    }
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_lookups_work(&log);
    log.close().unwrap();
    assert_eq!(index_files(dir.path()), indexes);
}

#[test]
fn an_index_entry_pointing_into_a_batch_does_not_break_reads() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 1 << 20, index_interval_bytes: 150, ..LogConfig::default() };
    closed_indexed_log(dir.path(), &LogConfig { segment_bytes: 2000, ..config.clone() });
    let path = segment(dir.path(), 0, ".index");
    let mut bytes = fs::read(&path).unwrap();
    assert!(bytes.len() >= 24);
    // Move the first entry's position 3 bytes forward: still increasing, but mid-batch.
    let position = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) + 3;
    bytes[4..8].copy_from_slice(&position.to_be_bytes());
    fs::write(&path, &bytes).unwrap();
    let log = Log::open(dir.path(), LogConfig { segment_bytes: 2000, ..config }, NOW_MS).unwrap();
    assert_lookups_work(&log);
}

/// A log of 90 two-record batches in one segment with dense indexes, flushed after the
/// first 60 (recovery point 120), then left without `close` (a crash); its directory
/// and configuration.
fn crashed_after_a_flush() -> (tempfile::TempDir, LogConfig) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { index_interval_bytes: 150, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    for i in 0..90 {
        let spec = Spec { count: 2, first_timestamp: 5_000 + 10 * i, value_bytes: 20, ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
        if i == 59 {
            log.flush().unwrap();
        }
    }
    assert_eq!((log.segment_count(), log.recovery_point()), (1, 120));
    drop(log);
    (dir, config)
}

#[test]
fn recovery_validates_only_the_batches_after_the_recovery_point() {
    let (dir, config) = crashed_after_a_flush();
    let path = segment(dir.path(), 0, ".log");
    let batches = batches_in(&path);
    let mut bytes = fs::read(&path).unwrap();
    for i in [10, 75] {
        let (position, _, size) = batches[i];
        bytes[position + size - 5] ^= 0x01; // inside the records: only a CRC check notices
    }
    fs::write(&path, &bytes).unwrap();

    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    // Batch 75 (offsets 150..=151) came after the flush: validated, found damaged, cut.
    assert_eq!(log.log_end_offset(), 150);
    assert_eq!(fs::metadata(&path).unwrap().len(), batches[75].0 as u64);
    // Batch 10 was fsynced before the crash: trusted, as Kafka trusts the segments
    // below the recovery point, and not read again (Kafka would re-check it, and every
    // other batch of the segment holding the recovery point).
    assert_eq!(batch_ranges(&log.read(20, 1, i64::MAX, true).unwrap()), vec![(20, 21)]);
}

#[test]
fn indexes_kept_below_the_recovery_point_and_rebuilt_above_it_match_a_full_rebuild() {
    let (dir, config) = crashed_after_a_flush();
    let log = Log::open(dir.path(), config.clone(), NOW_MS).unwrap();
    assert_lookups_work_after_a_flush(&log);
    log.close().unwrap();
    let recovered = index_files(dir.path());
    assert!(recovered.iter().all(|(_, bytes)| bytes.len() >= 3 * 8), "dense indexes: {recovered:?}");
    for (path, _) in &recovered {
        fs::remove_file(path).unwrap();
    }
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_lookups_work_after_a_flush(&log);
    log.close().unwrap();
    assert_eq!(index_files(dir.path()), recovered, "rebuilt from every batch");
}

#[test]
fn damaged_indexes_of_the_segment_holding_the_recovery_point_are_rebuilt() {
    let (dir, config) = crashed_after_a_flush();
    let path = segment(dir.path(), 0, ".index");
    let reversed: Vec<u8> = fs::read(&path).unwrap().chunks(8).rev().flatten().copied().collect();
    fs::write(&path, reversed).unwrap();
    let log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_lookups_work_after_a_flush(&log);
}

fn assert_lookups_work_after_a_flush(log: &Log) {
    assert_eq!(log.log_end_offset(), 180);
    for offset in 0..180 {
        let base = offset - offset % 2;
        assert_eq!(batch_ranges(&log.read(offset, 1, i64::MAX, true).unwrap()), vec![(base, base + 1)]);
    }
    assert_eq!(log.offset_for_timestamp(5_301).unwrap(), Some((61, 5_301)));
    assert_eq!(log.offset_for_timestamp(5_891).unwrap(), Some((179, 5_891)));
}

#[test]
fn leftover_and_orphaned_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), &LogConfig::default(), 2);
    let leftovers = [
        "00000000000000000000.log.deleted",
        "00000000000000000007.index",
        "00000000000000000007.timeindex",
        "00000000000000000003.log.cleaned",
        "00000000000000000003.log.swap",
        "recovery-point-offset-checkpoint.tmp",
    ];
    for name in leftovers {
        fs::write(dir.path().join(name), b"junk").unwrap();
    }
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    for name in leftovers {
        assert!(!dir.path().join(name).exists(), "{name} is still there");
    }
    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn an_empty_or_missing_directory_is_an_empty_log_at_offset_zero() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("topic-0");
    let mut log = Log::open(&dir, LogConfig::default(), NOW_MS).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.segment_count()), (0, 0, 1));
    assert!(segment(&dir, 0, ".log").exists());
    log.append_as_leader(&batch(1, 0), 0, NOW_MS).unwrap();
    log.delete().unwrap();
    assert!(!dir.exists());
}
