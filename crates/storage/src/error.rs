//! Errors of the storage crate, one enum per kind of operation.
//!
//! [`LogError`] is what any disk operation can fail with; [`AppendError`] and
//! [`ReadError`] add what only appends or reads can hit. The broker maps these to Kafka
//! error codes in one place; the code each variant stands for is named on it.

use std::io;
use std::path::{Path, PathBuf};

use spool_protocol::batch::BatchError;

/// A failure of the log's files: I/O, or data on disk that cannot be used; or a request
/// the log cannot carry out.
///
/// All of these are Kafka's `KAFKA_STORAGE_ERROR` (56) to a client, except
/// [`LogError::LogStartBeyondLogEnd`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A segment holds bytes that are not a record batch where one must start. Recovery
    /// truncates such tails; this is only returned when it is found later, by a read.
    #[error("corrupt segment {path} at byte {position}: {reason}")]
    CorruptSegment { path: PathBuf, position: u64, reason: String },
    /// A checkpoint or snapshot file does not parse. Callers inside the crate fall back
    /// to rebuilding what the file held.
    #[error("corrupt checkpoint {path}: {reason}")]
    CorruptCheckpoint { path: PathBuf, reason: String },
    /// A new segment would overwrite a non-empty file of the same name.
    #[error("segment {path} already exists and is not empty")]
    SegmentExists { path: PathBuf },
    /// The log start offset cannot move past the log end (Kafka `OFFSET_OUT_OF_RANGE`, 1,
    /// for DeleteRecords; the broker checks the high watermark, which is lower, first).
    /// Nothing changed.
    #[error("cannot move the log start offset to {offset}, past the log end {log_end_offset}")]
    LogStartBeyondLogEnd { offset: i64, log_end_offset: i64 },
    /// An fsync of the log's data failed earlier, so the log serves no more reads or
    /// writes and its recovery point stays where it was: a second fsync may report
    /// success although the kernel dropped the data the first one could not write, and
    /// reads could return what the disk holds instead of what was written (Kafka takes
    /// the log directory offline). Restarting the broker recovers the log from its last
    /// checkpoint, checking every batch written since.
    #[error("the log in {dir} is offline after a failed fsync ({reason}); restart the broker to recover it")]
    Offline { dir: PathBuf, reason: String },
}

/// Why an append was refused. Nothing was written when one of these is returned, except
/// for [`AppendError::Log`], after which the log may hold a partial write past its end
/// that the next append overwrites and recovery removes.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Log(#[from] LogError),
    /// The record set is not a sequence of whole v2 batches (Kafka `CORRUPT_MESSAGE`, 2).
    #[error("invalid record set: {0}")]
    InvalidRecords(BatchError),
    /// The record set is larger than `segment.bytes` (Kafka `MESSAGE_TOO_LARGE`, 10).
    #[error("record set of {size_bytes} bytes exceeds segment.bytes {max_bytes}")]
    RecordSetTooLarge { size_bytes: u64, max_bytes: u64 },
    /// The producer's sequence does not follow the last one stored for it
    /// (Kafka `OUT_OF_ORDER_SEQUENCE_NUMBER`, 45). `last_sequence` is -1 when the
    /// producer's current epoch has no batch yet.
    #[error(
        "out of order sequence for producer {producer_id} epoch {producer_epoch}: \
         batch starts at {base_sequence}, last stored sequence is {last_sequence}"
    )]
    OutOfOrderSequence { producer_id: i64, producer_epoch: i16, base_sequence: i32, last_sequence: i32 },
    /// The batch's producer epoch is older than the one stored (Kafka
    /// `INVALID_PRODUCER_EPOCH`, 47).
    #[error("producer {producer_id} epoch {producer_epoch} is older than the current epoch {current_epoch}")]
    InvalidProducerEpoch { producer_id: i64, producer_epoch: i16, current_epoch: i16 },
    /// An idempotent batch without a sequence number (Kafka `INVALID_RECORD`, 87).
    #[error("batch of producer {producer_id} has invalid base sequence {base_sequence}")]
    InvalidSequence { producer_id: i64, base_sequence: i32 },
    /// A follower append whose offsets are below the log end or not increasing
    /// (Kafka's `OffsetsOutOfOrderException` / `UnexpectedAppendOffsetException`).
    #[error("batch offset {offset} is below the expected minimum {expected_at_least}")]
    OffsetsOutOfOrder { offset: i64, expected_at_least: i64 },
    /// A follower append spanning more offsets than one segment can address.
    #[error("record set spans offsets {first_offset}..={last_offset}, more than one segment can hold")]
    OffsetRangeTooLarge { first_offset: i64, last_offset: i64 },
}

/// Why a read returned no data.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The offset is below the log start or above the log end (Kafka
    /// `OFFSET_OUT_OF_RANGE`, 1). Reading exactly at the log end is not an error.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange { offset: i64, log_start_offset: i64, log_end_offset: i64 },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Attaches the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T, LogError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, LogError> {
        self.map_err(|source| LogError::Io { path: path.to_path_buf(), source })
    }
}
