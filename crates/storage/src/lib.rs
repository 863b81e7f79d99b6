//! The partition log on disk: Kafka's log layout and semantics for one partition.
//!
//! What this crate owns: [`Log`], a directory of segments that the broker appends to,
//! reads from by offset or timestamp, flushes, truncates and prunes by retention. It does
//! file I/O but nothing else: no network, no clock (time comes in as `now_ms`), and
//! threads only to fsync rolled segments (`background_flush`), to remove deleted
//! segments and partitions (`deletion`), and, when it is on, to evict appended data
//! from the page cache ([`drop_behind`]).
//!
//! A partition directory (`DATA/<topic>-<partition>/`) holds:
//!
//! ```text
//! 00000000000000000000.log         record batches as produced, offsets rewritten   (file_records)
//! 00000000000000000000.index       sparse offset -> position                        (offset_index)
//! 00000000000000000000.timeindex   sparse max timestamp -> offset                   (time_index)
//! 00000000000000004096.log/.index/.timeindex   …one triple per segment; the last is active
//! 00000000000000004096.snapshot    idempotent-producer state at that offset        (producer_snapshot)
//! recovery-point-offset-checkpoint offset below which everything is fsynced        (recovery_checkpoint)
//! leader-epoch-checkpoint          (leader epoch, start offset) of each epoch      (leader_epoch_checkpoint)
//! log-start-offset-checkpoint      log start moved by DeleteRecords                 (log_start_checkpoint)
//! cleaner-offset-checkpoint        first offset the log cleaner has not compacted   (cleaner_checkpoint)
//! 00000000000000000000.log.cleaned / .log.swap   a compaction in progress           (log::cleaner)
//! .kafka_cleanshutdown             present only while the log is cleanly closed     (clean_shutdown)
//! ```
//!
//! Each file's byte layout and crash behaviour is documented on its module.
//!
//! Invariants the crate keeps:
//! - Offsets are assigned once: the log end only moves forward, except by an explicit
//!   [`Log::truncate_to`]; a batch is never split, and its bytes are stored as sent.
//! - A read never returns a partial batch, and returns the whole batch that contains the
//!   requested offset.
//! - Every batch below the recovery point is fsynced with its index entries; after a
//!   crash, every batch above it is validated (CRC32C) before the log is used, and the
//!   log ends at the first invalid one.
//! - Appends and reads do per-batch work only (headers), never per-record work; records
//!   are decoded only to answer a lookup by timestamp.
//! - Memory per segment is bounded: indexes keep at most a few thousand entries in
//!   memory, scans use fixed-size buffers.
//! - Idempotent producers: an acknowledged batch is never written twice, and the state
//!   that guarantees it survives restarts and crashes (snapshots + log replay).
//! - Leader epochs: the epoch cache never lacks the entry of a batch in the log (its
//!   checkpoint is written before the recovery point passes a new epoch's batches, and
//!   the entries past the recovery point are rebuilt from batch headers after a crash)
//!   and never keeps one past the log end (cut on truncation and on open), so
//!   OffsetsForLeaderEpoch answers from the log as it is.
//! - The log start offset only moves up, except by truncation; reads below it are out of
//!   range, and a start moved by DeleteRecords survives restarts and crashes.
//! - Compaction (`cleanup.policy=compact`) removes records but never moves one: offsets
//!   keep their records, a read at a removed offset returns the next surviving batch, and
//!   nothing at or above the high watermark or in the active segment is rewritten. A
//!   crash at any step leaves the old segments or the cleaned ones, never neither.

// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod atomic_write;
mod background_flush;
mod batch_filter;
mod clean_shutdown;
mod cleaner_checkpoint;
mod config;
mod deletion;
pub mod drop_behind;
mod error;
mod file_names;
mod file_records;
mod file_slice;
mod index_file;
mod leader_epoch_cache;
mod leader_epoch_checkpoint;
mod log;
mod log_loader;
mod log_start_checkpoint;
mod offset_index;
mod offset_map;
mod producer_snapshot;
mod producer_state;
mod recovery_checkpoint;
mod segment;
// The unit tests build batches with the integration tests' builder, which names the
// crate as its users do.
#[cfg(test)]
extern crate self as spool_storage;
#[cfg(test)]
#[path = "../tests/record_batches/mod.rs"]
mod record_batches;
mod time_index;

pub use atomic_write::{replace_file, sync_dir};
pub use config::LogConfig;
pub use deletion::{deleted_logs_in, remove_in_background};
pub use error::{AppendError, LogError, ReadError};
pub use file_slice::{FileSlice, LogSlices};
pub use log::{AppendInfo, CleanableRange, CleanedSegments, CleanerStats, CleaningCommit, CleaningPlan, Log, OfflineHook};
pub use offset_map::OFFSET_MAP_ENTRY_BYTES;
