//! Flush policy and the recovery point: flush.messages, flush.ms, explicit flushes.
#![allow(clippy::unwrap_used)]

mod record_batches;

use record_batches::{batch, checkpointed_recovery_point, files_with_suffix};
use spool_storage::{Log, LogConfig};

const NOW_MS: i64 = 1_000_000;

#[test]
fn flush_messages_one_fsyncs_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { flush_interval_messages: 1, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    assert_eq!(log.recovery_point(), 0);
    for i in 1..=5 {
        log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
        assert_eq!(log.recovery_point(), 2 * i);
    }
    // The checkpoint file follows on explicit flushes (and rolls, truncation, close):
    // neither opening a new log nor the appends wrote it.
    assert!(!dir.path().join("recovery-point-offset-checkpoint").exists());
    log.flush().unwrap();
    assert_eq!(checkpointed_recovery_point(dir.path()), 10);
}

#[test]
fn flush_messages_counts_records_not_appends() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { flush_interval_messages: 5, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append_as_leader(&batch(1, 0), 0, NOW_MS).unwrap();
    assert_eq!(log.recovery_point(), 5);
}

#[test]
fn by_default_nothing_is_flushed_until_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    for _ in 0..10 {
        log.append_as_leader(&batch(3, 0), 0, NOW_MS).unwrap();
    }
    assert_eq!(log.recovery_point(), 0);
    log.flush_if_due(NOW_MS + 1_000_000_000).unwrap();
    assert_eq!(log.recovery_point(), 0, "flush.ms defaults to never");
    log.flush().unwrap();
    assert_eq!((log.recovery_point(), checkpointed_recovery_point(dir.path())), (30, 30));
}

#[test]
fn flush_ms_flushes_when_the_last_flush_is_old_enough() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { flush_interval_ms: 1_000, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    log.append_as_leader(&batch(3, 0), 0, NOW_MS).unwrap();
    log.flush_if_due(NOW_MS + 999).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.flush_if_due(NOW_MS + 1_000).unwrap();
    assert_eq!((log.recovery_point(), checkpointed_recovery_point(dir.path())), (3, 3));
    log.append_as_leader(&batch(1, 0), 0, NOW_MS + 1_500).unwrap();
    log.flush_if_due(NOW_MS + 1_999).unwrap();
    assert_eq!(log.recovery_point(), 3, "measured from the last flush");
    log.flush_if_due(NOW_MS + 2_000).unwrap();
    assert_eq!(log.recovery_point(), 4);
}

#[test]
fn a_roll_flushes_the_old_segments_in_the_background_and_the_next_roll_checkpoints_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    for _ in 0..8 {
        log.append_as_leader(&batch(3, 0), 0, NOW_MS).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    // Each roll waited for the previous roll's flush and checkpointed what it reached.
    assert_eq!(checkpointed_recovery_point(dir.path()), bases[bases.len() - 2]);
    log.finish_background_flush(true).unwrap();
    assert_eq!(log.recovery_point(), *bases.last().unwrap());
    // A flush checkpoints the log end.
    log.flush().unwrap();
    assert_eq!((log.recovery_point(), checkpointed_recovery_point(dir.path())), (24, 24));
}

#[test]
fn a_background_flush_that_a_truncation_overtook_does_not_move_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    for _ in 0..3 {
        log.append_as_leader(&batch(3, 0), 0, NOW_MS).unwrap();
    }
    let rolled_to = *log.segment_base_offsets().last().unwrap();
    assert!(rolled_to > 3, "the appends rolled: {:?}", log.segment_base_offsets());
    // The log truncates below the rolled segments while their flush may still run, then
    // takes new, unflushed batches at the same offsets.
    log.truncate_to(3).unwrap();
    let bases = log.segment_base_offsets();
    log.append_as_leader(&batch(3, 0), 1, NOW_MS).unwrap();
    assert_eq!((log.log_end_offset(), log.segment_base_offsets()), (6, bases), "no roll (whose flush would cover 3..6)");
    log.finish_background_flush(true).unwrap();
    // Without the check it would be 6: offsets 3..6 counted as flushed, but they are the
    // new batch's, which nothing has fsynced.
    assert!(log.recovery_point() <= 3, "recovery point {} covers unflushed offsets", log.recovery_point());
}

#[test]
fn close_checkpoints_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    log.append_as_leader(&batch(7, 0), 0, NOW_MS).unwrap();
    log.close().unwrap();
    assert_eq!(checkpointed_recovery_point(dir.path()), 7);
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!(log.recovery_point(), 7);
}

#[test]
fn checkpoint_recovery_point_writes_a_recovery_point_that_moved() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { flush_interval_messages: 2, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, NOW_MS).unwrap();
    log.append_as_leader(&batch(2, 0), 0, NOW_MS).unwrap();
    assert_eq!(log.recovery_point(), 2);
    assert!(!dir.path().join("recovery-point-offset-checkpoint").exists(), "flush.messages fsyncs without a checkpoint");
    log.checkpoint_recovery_point().unwrap();
    assert_eq!(checkpointed_recovery_point(dir.path()), 2);
}

#[test]
fn a_log_opened_after_a_crash_fsyncs_what_recovery_checked_and_then_checkpoints_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    for _ in 0..4 {
        log.append_as_leader(&batch(3, 0), 0, NOW_MS).unwrap();
    }
    drop(log); // a crash: no close
    let mut log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!((log.log_end_offset(), log.recovery_point()), (12, 0), "recovery checked 0..12, nothing fsynced it");
    log.finish_background_flush(true).unwrap();
    assert_eq!(log.recovery_point(), 0, "the open itself starts no fsync");
    log.flush_if_due(NOW_MS).unwrap();
    log.finish_background_flush(true).unwrap();
    assert_eq!(log.recovery_point(), 12, "the first tick fsynced the recovered batches in the background");
    assert!(files_with_suffix(dir.path(), ".snapshot").is_empty(), "no roll or close wrote a producer snapshot");
    log.flush_if_due(NOW_MS).unwrap();
    assert_eq!(checkpointed_recovery_point(dir.path()), 12, "the next tick checkpoints it");
    // …and snapshots the producer state there, so that the next open replays from 12,
    // not from the start of the segment.
    assert_eq!(files_with_suffix(dir.path(), ".snapshot"), [dir.path().join("00000000000000000012.snapshot")]);
    log.append_as_leader(&batch(1, 0), 0, NOW_MS).unwrap();
    drop(log); // a second crash
    // Only what came after the first recovery is checked again.
    let log = Log::open(dir.path(), LogConfig::default(), NOW_MS).unwrap();
    assert_eq!((log.log_end_offset(), log.recovery_point()), (13, 12));
}
