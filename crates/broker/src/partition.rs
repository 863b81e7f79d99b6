//! One partition replica hosted by this broker: its log and its high watermark.

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use spool_metadata::config::TopicConfig;
use spool_storage::{AppendError, AppendInfo, Log, LogConfig, LogError, ReadError};
use tokio::sync::watch;
use uuid::Uuid;

/// The leadership state of a partition as the latest metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// What a read returns besides the batches.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// Why an operation on a partition failed.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("partition was deleted")]
    Deleted,
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// A partition replica: the log plus the high watermark that bounds what consumers see.
///
/// Invariant: `high_watermark <= log end offset`; it only moves forward while the log
/// is not truncated. Waiters (long-poll fetches, `acks=all` produces) subscribe to it.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub topic_id: Uuid,
    /// `None` once the partition has been deleted.
    log: Mutex<Option<Log>>,
    high_watermark: watch::Sender<i64>,
    state: RwLock<PartitionState>,
    config: RwLock<TopicConfig>,
}

/// Maps a topic's resolved configuration to the storage layer's settings.
pub(crate) fn log_config(config: &TopicConfig) -> LogConfig {
    LogConfig {
        segment_bytes: config.segment_bytes.max(1) as u64,
        segment_ms: config.segment_ms,
        segment_index_bytes: config.segment_index_bytes.max(1) as u64,
        index_interval_bytes: config.index_interval_bytes.max(0) as u64,
        retention_ms: config.retention_ms,
        retention_bytes: config.retention_bytes,
        flush_interval_messages: config.flush_messages.max(1) as u64,
        flush_interval_ms: config.flush_ms,
        ..LogConfig::default()
    }
}

impl Partition {
    /// Wraps an opened log. A replica that is the only member of its ISR has every
    /// record of its log committed, so the high watermark starts at the log end.
    pub fn new(topic: String, index: i32, topic_id: Uuid, log: Log, state: PartitionState, config: TopicConfig) -> Self {
        let end = log.log_end_offset();
        let (high_watermark, _) = watch::channel(end);
        Partition {
            topic,
            index,
            topic_id,
            log: Mutex::new(Some(log)),
            high_watermark,
            state: RwLock::new(state),
            config: RwLock::new(config),
        }
    }

    pub fn state(&self) -> PartitionState {
        self.state.read().clone()
    }

    pub fn set_state(&self, state: PartitionState) {
        *self.state.write() = state;
    }

    pub fn config(&self) -> TopicConfig {
        self.config.read().clone()
    }

    /// Applies a changed topic configuration to the log.
    pub fn set_config(&self, config: TopicConfig) {
        if let Some(log) = self.log.lock().as_mut() {
            log.set_config(log_config(&config));
        }
        *self.config.write() = config;
    }

    /// Appends a validated record set as leader and advances the high watermark.
    ///
    /// # Errors
    /// [`PartitionError`] from the log; nothing is written then.
    pub fn append_as_leader(&self, records: &mut [u8], now_ms: i64) -> Result<AppendInfo, PartitionError> {
        let leader_epoch = self.state.read().leader_epoch;
        let (info, end) = {
            let mut guard = self.log.lock();
            let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
            let info = log.append_as_leader(records, leader_epoch, now_ms)?;
            (info, log.log_end_offset())
        };
        self.advance_high_watermark(end);
        Ok(info)
    }

    /// The high watermark is the smallest log end over the in-sync replicas. With this
    /// broker as the only in-sync replica that is its own log end.
    fn advance_high_watermark(&self, local_end: i64) {
        self.high_watermark.send_if_modified(|hw| {
            if local_end > *hw {
                *hw = local_end;
                true
            } else {
                false
            }
        });
    }

    /// Reads whole batches from `offset`, up to the high watermark.
    ///
    /// # Errors
    /// [`PartitionError::Read`] with `OffsetOutOfRange` outside `[log start, log end]`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<ReadResult, PartitionError> {
        let high_watermark = *self.high_watermark.borrow();
        let guard = self.log.lock();
        let log = guard.as_ref().ok_or(PartitionError::Deleted)?;
        let records = log.read(offset, max_bytes, high_watermark, min_one_batch)?;
        Ok(ReadResult { records, high_watermark, log_start_offset: log.log_start_offset() })
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// A receiver woken whenever the high watermark moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// Runs `f` on the log, if the partition still exists.
    pub fn with_log<R>(&self, f: impl FnOnce(&mut Log) -> R) -> Result<R, PartitionError> {
        let mut guard = self.log.lock();
        let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
        Ok(f(log))
    }

    /// Takes the log out so it can be closed or deleted; later calls see `Deleted`.
    pub fn take_log(&self) -> Option<Log> {
        self.log.lock().take()
    }
}
