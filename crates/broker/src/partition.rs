//! One partition replica hosted by this broker: its log and its high watermark.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, RwLock};
use spool_metadata::config::TopicConfig;
use spool_storage::{AppendError, AppendInfo, Log, LogConfig, LogError, LogSlices, ReadError};
use tokio::sync::watch;
use uuid::Uuid;

/// The leadership state of a partition as the latest metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Version of the partition record; an ISR change names the one it changes.
    pub partition_epoch: i32,
}

/// What a read returns: the batches, as slices of their segment files, and the
/// partition's bounds at the time.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: LogSlices,
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

/// What the leader knows of one follower, from its fetches.
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    /// The follower has every record below this offset (its last fetch offset).
    log_end_offset: i64,
    /// When the follower last fetched up to the leader's log end.
    last_caught_up_ms: i64,
}

/// How far a read may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadLimit {
    /// Consumers: only committed records.
    HighWatermark,
    /// Followers: everything the leader has.
    LogEnd,
}

/// A partition replica: the log, the high watermark that bounds what consumers see and,
/// on the leader, what each follower has replicated.
///
/// Invariants: `high_watermark <= log end offset`; on the leader the high watermark is
/// the smallest log end over the in-sync replicas and only moves forward; on a follower
/// it is the leader's high watermark capped by the local log end.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub topic_id: Uuid,
    node_id: i32,
    /// `None` once the partition has been deleted.
    log: Mutex<Option<Log>>,
    high_watermark: watch::Sender<i64>,
    /// The local log end; wakes follower fetches waiting for new data.
    log_end: watch::Sender<i64>,
    /// Shared snapshots: every request reads them, and a read is a reference count, not
    /// a copy of the replica lists and config strings.
    state: RwLock<Arc<PartitionState>>,
    config: RwLock<Arc<TopicConfig>>,
    followers: Mutex<HashMap<i32, FollowerState>>,
    /// Set while an ISR change for this partition is on its way to the controller.
    isr_change_in_flight: AtomicBool,
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
        delete: config.delete_enabled(),
        compact: config.compact_enabled(),
        delete_retention_ms: config.delete_retention_ms,
        min_compaction_lag_ms: config.min_compaction_lag_ms,
        max_compaction_lag_ms: config.max_compaction_lag_ms,
        min_cleanable_dirty_ratio: config.min_cleanable_dirty_ratio,
        ..LogConfig::default()
    }
}

impl Partition {
    /// Wraps an opened log. A replica that is the only one of its partition has every
    /// record of its log committed, so its high watermark starts at the log end; with
    /// other replicas it starts at the log start and rises as they confirm.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topic: String,
        index: i32,
        topic_id: Uuid,
        node_id: i32,
        log: Log,
        state: PartitionState,
        config: TopicConfig,
        now_ms: i64,
    ) -> Self {
        let end = log.log_end_offset();
        let start = if state.replicas == [node_id] { end } else { log.log_start_offset() };
        let partition = Partition {
            topic,
            index,
            topic_id,
            node_id,
            log: Mutex::new(Some(log)),
            high_watermark: watch::channel(start).0,
            log_end: watch::channel(end).0,
            state: RwLock::new(Arc::new(state.clone())),
            config: RwLock::new(Arc::new(config)),
            followers: Mutex::new(HashMap::new()),
            isr_change_in_flight: AtomicBool::new(false),
        };
        partition.set_state(state, now_ms);
        partition
    }

    pub fn state(&self) -> Arc<PartitionState> {
        self.state.read().clone()
    }

    pub fn is_leader(&self) -> bool {
        self.state.read().leader == self.node_id
    }

    /// The state of a partition this broker leads, checked against the leader epoch the
    /// client knows (`-1`: no check), as every leader-only request does.
    ///
    /// # Errors
    /// `NOT_LEADER_OR_FOLLOWER` when another broker leads; `FENCED_LEADER_EPOCH` for a
    /// stale client epoch, `UNKNOWN_LEADER_EPOCH` for one this broker has not seen yet.
    pub fn leader_state(&self, current_leader_epoch: i32) -> Result<Arc<PartitionState>, ResponseError> {
        let state = self.state();
        if state.leader != self.node_id {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if current_leader_epoch >= 0 && current_leader_epoch != state.leader_epoch {
            return Err(if current_leader_epoch < state.leader_epoch {
                ResponseError::FencedLeaderEpoch
            } else {
                ResponseError::UnknownLeaderEpoch
            });
        }
        Ok(state)
    }

    /// Applies leadership from new metadata. A new leader starts tracking its
    /// followers as caught up now, so none is dropped from the ISR before it had a
    /// chance to fetch.
    pub fn set_state(&self, state: PartitionState, now_ms: i64) {
        let previous = std::mem::replace(&mut *self.state.write(), Arc::new(state.clone()));
        self.isr_change_in_flight.store(false, Ordering::SeqCst);
        if state.leader == self.node_id {
            let mut followers = self.followers.lock();
            if previous.leader != self.node_id || previous.leader_epoch != state.leader_epoch {
                followers.clear();
            }
            for replica in state.replicas.iter().filter(|r| **r != self.node_id) {
                followers.entry(*replica).or_insert(FollowerState { log_end_offset: -1, last_caught_up_ms: now_ms });
            }
            followers.retain(|id, _| state.replicas.contains(id));
            drop(followers);
            self.maybe_advance_high_watermark();
        } else {
            self.followers.lock().clear();
        }
    }

    pub fn config(&self) -> Arc<TopicConfig> {
        self.config.read().clone()
    }

    /// Applies a changed topic configuration to the log.
    pub fn set_config(&self, config: TopicConfig) {
        if let Some(log) = self.log.lock().as_mut() {
            log.set_config(log_config(&config));
        }
        *self.config.write() = Arc::new(config);
    }

    /// Appends a validated record set as leader and advances the high watermark.
    ///
    /// # Errors
    /// [`PartitionError`] from the log; nothing is written then.
    pub fn append_as_leader(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, PartitionError> {
        let leader_epoch = self.state.read().leader_epoch;
        let (info, end) = {
            let mut guard = self.log.lock();
            let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
            let info = log.append_as_leader(records, leader_epoch, now_ms)?;
            (info, log.log_end_offset())
        };
        self.log_end.send_replace(end);
        self.maybe_advance_high_watermark();
        Ok(info)
    }

    /// Appends batches copied from the leader, offsets and all.
    ///
    /// # Errors
    /// [`PartitionError`] from the log; nothing is written then.
    pub fn append_as_follower(&self, records: &[u8]) -> Result<AppendInfo, PartitionError> {
        let (info, end) = {
            let mut guard = self.log.lock();
            let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
            let info = log.append_as_follower(records)?;
            (info, log.log_end_offset())
        };
        self.log_end.send_replace(end);
        Ok(info)
    }

    /// A follower adopts the leader's high watermark, capped by its own log end.
    pub fn set_high_watermark_from_leader(&self, leader_high_watermark: i64) {
        let end = *self.log_end.borrow();
        let new = leader_high_watermark.min(end);
        self.high_watermark.send_if_modified(|hw| {
            if *hw != new {
                *hw = new;
                true
            } else {
                false
            }
        });
    }

    /// Drops every record at or after `offset` (a follower diverging from its leader).
    ///
    /// # Errors
    /// [`PartitionError`] from the log.
    pub fn truncate_to(&self, offset: i64) -> Result<(), PartitionError> {
        let end = {
            let mut guard = self.log.lock();
            let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
            log.truncate_to(offset)?;
            log.log_end_offset()
        };
        self.log_end.send_replace(end);
        self.high_watermark.send_if_modified(|hw| {
            if *hw > end {
                *hw = end;
                true
            } else {
                false
            }
        });
        Ok(())
    }

    /// Records a follower's fetch on the leader: it has everything below
    /// `fetch_offset`. Returns true when the follower is out of the ISR but has caught
    /// up to the high watermark, so the leader should ask to add it back.
    pub fn record_follower_fetch(&self, replica_id: i32, fetch_offset: i64, now_ms: i64) -> bool {
        let leader_end = *self.log_end.borrow();
        {
            let mut followers = self.followers.lock();
            let Some(follower) = followers.get_mut(&replica_id) else { return false };
            follower.log_end_offset = fetch_offset;
            if fetch_offset >= leader_end {
                follower.last_caught_up_ms = now_ms;
            }
        }
        self.maybe_advance_high_watermark();
        let state = self.state.read();
        state.leader == self.node_id
            && !state.isr.contains(&replica_id)
            && fetch_offset >= *self.high_watermark.borrow()
            && !self.isr_change_in_flight.load(Ordering::SeqCst)
    }

    /// In-sync followers that have not caught up within `lag_max_ms`.
    pub fn lagging_followers(&self, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        let state = self.state.read();
        if state.leader != self.node_id || self.isr_change_in_flight.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let followers = self.followers.lock();
        state
            .isr
            .iter()
            .copied()
            .filter(|id| *id != self.node_id)
            .filter(|id| followers.get(id).is_none_or(|f| now_ms - f.last_caught_up_ms > lag_max_ms))
            .collect()
    }

    /// Marks an ISR change as sent (returns false if one already is on its way).
    pub fn begin_isr_change(&self) -> bool {
        !self.isr_change_in_flight.swap(true, Ordering::SeqCst)
    }

    /// Clears the in-flight mark after the controller answered.
    pub fn end_isr_change(&self) {
        self.isr_change_in_flight.store(false, Ordering::SeqCst);
    }

    /// The high watermark is the smallest log end over the in-sync replicas. With this
    /// broker as the only in-sync replica that is its own log end.
    fn maybe_advance_high_watermark(&self) {
        let state = self.state.read();
        if state.leader != self.node_id {
            return;
        }
        let mut new = *self.log_end.borrow();
        let followers = self.followers.lock();
        for replica in state.isr.iter().filter(|r| **r != self.node_id) {
            match followers.get(replica) {
                Some(f) if f.log_end_offset >= 0 => new = new.min(f.log_end_offset),
                _ => return,
            }
        }
        self.high_watermark.send_if_modified(|hw| {
            if new > *hw {
                *hw = new;
                true
            } else {
                false
            }
        });
    }

    /// Reads whole batches from `offset`, up to the high watermark or the log end.
    ///
    /// # Errors
    /// [`PartitionError::Read`] with `OffsetOutOfRange` outside `[log start, log end]`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool, limit: ReadLimit) -> Result<ReadResult, PartitionError> {
        let high_watermark = *self.high_watermark.borrow();
        let guard = self.log.lock();
        let log = guard.as_ref().ok_or(PartitionError::Deleted)?;
        let max_offset = match limit {
            ReadLimit::HighWatermark => high_watermark,
            ReadLimit::LogEnd => log.log_end_offset(),
        };
        let records = log.read_slices(offset, max_bytes, max_offset, min_one_batch)?;
        Ok(ReadResult { records, high_watermark, log_start_offset: log.log_start_offset() })
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    pub fn log_end_offset(&self) -> i64 {
        *self.log_end.borrow()
    }

    /// A receiver woken whenever the high watermark moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// A receiver woken whenever the local log end moves.
    pub fn subscribe_log_end(&self) -> watch::Receiver<i64> {
        self.log_end.subscribe()
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
