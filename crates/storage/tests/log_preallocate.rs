//! `preallocate`: the active segment's disk is reserved up front and given back when
//! the segment stops being active; the file's length is always what was appended, so
//! readers and recovery never see the reservation.
#![allow(clippy::unwrap_used)]

mod record_batches;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use record_batches::{assert_contiguous_from_zero, encode, small_segments, Spec};
use spool_storage::{Log, LogConfig};

const NOW_MS: i64 = 1_000_000;
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
/// Disk a segment may use past its length without holding a reservation (the
/// filesystem's last partial block and its own bookkeeping blocks).
const SLACK_BYTES: u64 = 64 * 1024;

fn config(preallocate: bool) -> LogConfig {
    LogConfig { preallocate, ..small_segments(SEGMENT_BYTES) }
}

fn segment_log(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Whether the filesystem under `dir` lets a segment be reserved. `preallocate` is
/// advisory and reserves only while a tenth of the filesystem stays free, so on a
/// fuller disk there is no reservation to observe: the test says so and checks nothing.
fn room_to_reserve(dir: &Path) -> bool {
    let fs = rustix::fs::statvfs(dir).unwrap();
    let (available, total) = (fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize);
    let room = available.saturating_sub(2 * SEGMENT_BYTES) >= total / 10;
    if !room {
        eprintln!(
            "skipped: the filesystem under {} has {available} of {total} bytes free, less than the tenth \
             a reservation leaves free; free some space to run this test",
            dir.display()
        );
    }
    room
}

/// (length, bytes of disk allocated) of a file.
fn length_and_allocated(path: &Path) -> (u64, u64) {
    let meta = fs::metadata(path).unwrap();
    (meta.len(), meta.blocks() * 512)
}

/// Appends `count` batches of 10 records of 10 kB each (about 100 kB per batch).
fn append_batches(log: &mut Log, count: usize) {
    for i in 0..count {
        let spec = Spec { count: 10, value_bytes: 10_000, tag: format!("b{i}"), ..Spec::default() };
        log.append_as_leader(&encode(&spec), 0, NOW_MS).unwrap();
    }
}

#[test]
fn the_active_segment_reserves_segment_bytes_and_gives_back_the_rest_when_it_rolls_or_closes() {
    let dir = tempfile::tempdir().unwrap();
    if !room_to_reserve(dir.path()) {
        return;
    }
    let mut log = Log::open(dir.path(), config(true), NOW_MS).unwrap();
    append_batches(&mut log, 3);
    let (len, allocated) = length_and_allocated(&segment_log(dir.path(), 0));
    assert!(len > 300_000 && len < 400_000, "the length is what was appended: {len}");
    assert!(allocated >= SEGMENT_BYTES, "segment.bytes reserved: {allocated} bytes allocated");
    assert_contiguous_from_zero(&log);

    // Past 4 MiB the log rolls: the first segment keeps only what it holds.
    append_batches(&mut log, 40);
    let second = log.segment_base_offsets()[1];
    let (len, allocated) = length_and_allocated(&segment_log(dir.path(), 0));
    assert!(allocated < len + SLACK_BYTES, "a rolled segment gives its reservation back: {allocated} for {len}");
    let (_, allocated) = length_and_allocated(&segment_log(dir.path(), second));
    assert!(allocated >= SEGMENT_BYTES, "the new active segment is reserved: {allocated}");
    assert_contiguous_from_zero(&log);

    log.close().unwrap();
    let (len, allocated) = length_and_allocated(&segment_log(dir.path(), second));
    assert!(allocated < len + SLACK_BYTES, "a clean close gives the reservation back: {allocated} for {len}");

    // Opened again, the active segment is reserved again and appends go on.
    let mut log = Log::open(dir.path(), config(true), NOW_MS).unwrap();
    let (_, allocated) = length_and_allocated(&segment_log(dir.path(), second));
    assert!(allocated >= SEGMENT_BYTES, "reopened active segment reserved: {allocated}");
    append_batches(&mut log, 1);
    assert_contiguous_from_zero(&log);
}

#[test]
fn without_preallocate_a_segment_holds_only_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(false), NOW_MS).unwrap();
    append_batches(&mut log, 3);
    log.flush().unwrap();
    let (len, allocated) = length_and_allocated(&segment_log(dir.path(), 0));
    assert!(allocated < len + SLACK_BYTES, "{allocated} bytes allocated for {len}");
}

#[test]
fn a_crash_leaves_the_records_whole_and_the_reservation_is_given_back_later() {
    let dir = tempfile::tempdir().unwrap();
    if !room_to_reserve(dir.path()) {
        return;
    }
    let mut log = Log::open(dir.path(), config(true), NOW_MS).unwrap();
    append_batches(&mut log, 5);
    let end = log.log_end_offset();
    drop(log); // a crash: no close, the reservation stays on the disk
    let path = segment_log(dir.path(), 0);
    let (len, allocated) = length_and_allocated(&path);
    assert!(allocated >= SEGMENT_BYTES, "{allocated}");

    // Recovery reads only the file's length: every record, nothing more.
    let log = Log::open(dir.path(), config(false), NOW_MS).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
    assert_contiguous_from_zero(&log);
    // With preallocate off now, the leftover reservation goes at the next close.
    log.close().unwrap();
    let (len, allocated) = length_and_allocated(&path);
    assert!(allocated < len + SLACK_BYTES, "{allocated} bytes allocated for {len}");
}
