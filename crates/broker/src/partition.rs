//! One partition replica hosted by this broker: its log and its high watermark.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    /// A follower's write for a leader epoch that has ended, or on a replica that now
    /// leads: it comes from a fetch answered before leadership moved.
    #[error("leadership moved since the fetch (now leader {leader} at epoch {leader_epoch})")]
    StaleLeaderEpoch { leader: i32, leader_epoch: i32 },
    /// A leader's write on a replica that no longer leads.
    #[error("not the leader (leader {leader} at epoch {leader_epoch})")]
    NotLeader { leader: i32, leader_epoch: i32 },
    /// DeleteRecords up to an offset that is negative (other than -1) or above the high
    /// watermark: records not yet committed cannot be deleted.
    #[error("cannot delete records before offset {offset}: the high watermark is {high_watermark}")]
    BeyondHighWatermark { offset: i64, high_watermark: i64 },
}

/// Why records appended as leader were not confirmed committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitWait {
    /// The high watermark did not reach them in time.
    TimedOut,
    /// Another leader epoch began first: the new leader's log wins, so these records
    /// may be gone; the writer must not be told they are safe (Kafka's `DelayedProduce`
    /// answers `NOT_LEADER_OR_FOLLOWER` then).
    LeadershipLost,
}

/// Why the low watermark was not confirmed at an offset.
#[derive(Debug)]
pub enum LowWatermarkWait {
    /// Some live replica still had records before it when the time was up.
    TimedOut { low_watermark: i64 },
    /// This replica no longer leads, or the partition was deleted.
    Failed(PartitionError),
}

/// What the leader knows of one follower, from its fetches.
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    /// The follower has every record below this offset (its last fetch offset).
    log_end_offset: i64,
    /// The follower's log start offset, as its last fetch said (-1 before its first
    /// fetch in this epoch, or from a fetch version without it).
    log_start_offset: i64,
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
    /// a copy of the replica lists and config strings. A watch, so that writes waiting
    /// to commit learn when leadership moves.
    ///
    /// Lock order: `state` before `log`. Leader and follower writes hold a read borrow of
    /// `state` across the log write, so [`Partition::set_state`] (the write side) never
    /// lands between the leadership check and the write it allowed.
    state: watch::Sender<Arc<PartitionState>>,
    /// On the leader: the log end when this replica became leader in the current epoch.
    /// A follower joins the ISR only once it has everything below it (Kafka's
    /// `leaderEpochStartOffsetOpt`), since the high watermark a new leader starts with
    /// may lag the committed records.
    leader_epoch_start_offset: AtomicI64,
    config: RwLock<Arc<TopicConfig>>,
    followers: Mutex<HashMap<i32, FollowerState>>,
    /// Sent when a follower's log start offset moves: wakes DeleteRecords waiting for
    /// the low watermark ([`Partition::wait_for_low_watermark`]).
    follower_log_start_moved: watch::Sender<()>,
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
        preallocate: config.preallocate,
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
            // No leader until `set_state` below applies `state`, so that a replica
            // opened as leader goes through becoming leader.
            state: watch::channel(Arc::new(PartitionState {
                leader: -1,
                leader_epoch: -1,
                replicas: Vec::new(),
                isr: Vec::new(),
                partition_epoch: -1,
            }))
            .0,
            leader_epoch_start_offset: AtomicI64::new(-1),
            config: RwLock::new(Arc::new(config)),
            followers: Mutex::new(HashMap::new()),
            follower_log_start_moved: watch::channel(()).0,
            isr_change_in_flight: AtomicBool::new(false),
        };
        partition.set_state(state, now_ms);
        partition
    }

    pub fn state(&self) -> Arc<PartitionState> {
        self.state.borrow().clone()
    }

    pub fn is_leader(&self) -> bool {
        self.state.borrow().leader == self.node_id
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
        Self::check_epoch(state, current_leader_epoch)
    }

    /// The state of a partition this broker holds a replica of, leader or follower, checked
    /// against the client's leader epoch as [`Partition::leader_state`] does: a consumer
    /// may fetch from a follower (KIP-392).
    ///
    /// # Errors
    /// As [`Partition::leader_state`], without the leader check.
    pub fn replica_state(&self, current_leader_epoch: i32) -> Result<Arc<PartitionState>, ResponseError> {
        Self::check_epoch(self.state(), current_leader_epoch)
    }

    fn check_epoch(state: Arc<PartitionState>, current_leader_epoch: i32) -> Result<Arc<PartitionState>, ResponseError> {
        if current_leader_epoch >= 0 && current_leader_epoch != state.leader_epoch {
            return Err(if current_leader_epoch < state.leader_epoch {
                ResponseError::FencedLeaderEpoch
            } else {
                ResponseError::UnknownLeaderEpoch
            });
        }
        Ok(state)
    }

    /// Applies leadership from new metadata.
    ///
    /// A replica that becomes leader, or leads in a new epoch, records the epoch's start
    /// at its log end in the leader epoch cache, as Kafka's `makeLeader` does, and starts
    /// tracking its followers as caught up now, so none is dropped from the ISR before it
    /// had a chance to fetch. Writes waiting to commit wake up and see whether their
    /// epoch ended ([`Partition::wait_for_commit`]).
    pub fn set_state(&self, state: PartitionState, now_ms: i64) {
        let state = Arc::new(state);
        let mut previous = state.clone();
        let node_id = self.node_id;
        self.state.send_modify(|current| {
            previous = std::mem::replace(current, state.clone());
            let becomes_leader =
                state.leader == node_id && (previous.leader != node_id || previous.leader_epoch != state.leader_epoch);
            if becomes_leader {
                // Under the state's write lock: no write of the old epoch can follow.
                if let Some(log) = self.log.lock().as_mut() {
                    if let Err(e) = log.assign_epoch_start_offset(state.leader_epoch) {
                        tracing::warn!(
                            topic = %self.topic,
                            partition = self.index,
                            "could not record the start of leader epoch {}: {e}",
                            state.leader_epoch
                        );
                    }
                    self.leader_epoch_start_offset.store(log.log_end_offset(), Ordering::SeqCst);
                }
            }
        });
        self.isr_change_in_flight.store(false, Ordering::SeqCst);
        if state.leader == self.node_id {
            let mut followers = self.followers.lock();
            if previous.leader != self.node_id || previous.leader_epoch != state.leader_epoch {
                followers.clear();
            }
            for replica in state.replicas.iter().filter(|r| **r != self.node_id) {
                followers.entry(*replica).or_insert(FollowerState {
                    log_end_offset: -1,
                    log_start_offset: -1,
                    last_caught_up_ms: now_ms,
                });
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
    /// Returns where the records landed and the leader epoch they were written in, which
    /// [`Partition::wait_for_commit`] needs.
    ///
    /// # Errors
    /// [`PartitionError::NotLeader`] when this replica no longer leads; otherwise from
    /// the log. Nothing is written then.
    pub fn append_as_leader(&self, records: &[u8], now_ms: i64) -> Result<(AppendInfo, i32), PartitionError> {
        let (info, end, leader_epoch) = {
            let state = self.state.borrow();
            if state.leader != self.node_id {
                return Err(PartitionError::NotLeader { leader: state.leader, leader_epoch: state.leader_epoch });
            }
            let mut guard = self.log.lock();
            let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
            let info = log.append_as_leader(records, state.leader_epoch, now_ms)?;
            (info, log.log_end_offset(), state.leader_epoch)
        };
        self.log_end.send_replace(end);
        self.maybe_advance_high_watermark();
        Ok((info, leader_epoch))
    }

    /// Deletes the records before `offset` as leader (DeleteRecords): moves the log
    /// start offset up to it, `-1` meaning the high watermark. Returns the offset the
    /// deletion asked for, `-1` resolved. Followers move their log starts when their next
    /// fetch tells them the leader's (see [`Partition::follow_leader_log_start`]);
    /// [`Partition::wait_for_low_watermark`] waits for them.
    ///
    /// # Errors
    /// [`PartitionError::NotLeader`]; [`PartitionError::BeyondHighWatermark`]; from the
    /// log. Nothing changes then.
    pub fn delete_records_as_leader(&self, offset: i64) -> Result<i64, PartitionError> {
        let state = self.state.borrow();
        if state.leader != self.node_id {
            return Err(PartitionError::NotLeader { leader: state.leader, leader_epoch: state.leader_epoch });
        }
        let high_watermark = self.high_watermark();
        let target = if offset == -1 { high_watermark } else { offset };
        if !(0..=high_watermark).contains(&target) {
            return Err(PartitionError::BeyondHighWatermark { offset, high_watermark });
        }
        let mut guard = self.log.lock();
        let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
        log.advance_log_start_offset(target)?;
        Ok(target)
    }

    /// The low watermark (Kafka's `lowWatermarkIfLeader`): the smallest log start
    /// offset over this leader and its followers on live brokers, as their last fetches
    /// told it (-1 for a follower that has not fetched in this epoch).
    ///
    /// # Errors
    /// [`PartitionError::NotLeader`]; [`PartitionError::Deleted`].
    pub fn low_watermark(&self, is_live: impl Fn(i32) -> bool) -> Result<i64, PartitionError> {
        let state = self.state.borrow();
        if state.leader != self.node_id {
            return Err(PartitionError::NotLeader { leader: state.leader, leader_epoch: state.leader_epoch });
        }
        let local = self.with_log(|log| log.log_start_offset())?;
        let followers = self.followers.lock();
        Ok(followers.iter().filter(|(id, _)| is_live(**id)).map(|(_, f)| f.log_start_offset).fold(local, i64::min))
    }

    /// Waits, up to `timeout`, until the low watermark reaches `offset`: every live
    /// replica has deleted the records before it (Kafka's `DelayedDeleteRecords`).
    /// `brokers` says which brokers are live (through `is_live`); the low watermark is
    /// checked again whenever it changes, a follower's log start moves, or the
    /// partition's state changes. Returns the low watermark then.
    ///
    /// # Errors
    /// [`LowWatermarkWait::TimedOut`] with the last low watermark seen;
    /// [`LowWatermarkWait::Failed`] when this replica stops leading or loses its log.
    pub async fn wait_for_low_watermark<B: Clone>(
        &self,
        offset: i64,
        timeout: Duration,
        mut brokers: watch::Receiver<B>,
        is_live: impl Fn(&B, i32) -> bool,
    ) -> Result<i64, LowWatermarkWait> {
        let mut log_starts = self.follower_log_start_moved.subscribe();
        let mut state = self.state.subscribe();
        let mut last = -1;
        let gone = |_| LowWatermarkWait::Failed(PartitionError::Deleted);
        let wait = async {
            loop {
                log_starts.borrow_and_update();
                state.borrow_and_update();
                let live = brokers.borrow_and_update().clone();
                last = self.low_watermark(|id| is_live(&live, id)).map_err(LowWatermarkWait::Failed)?;
                if last >= offset {
                    return Ok(last);
                }
                tokio::select! {
                    changed = log_starts.changed() => changed.map_err(gone)?,
                    changed = state.changed() => changed.map_err(gone)?,
                    changed = brokers.changed() => changed.map_err(gone)?,
                }
            }
        };
        let outcome = tokio::time::timeout(timeout, wait).await;
        outcome.unwrap_or(Err(LowWatermarkWait::TimedOut { low_watermark: last }))
    }

    /// Moves this follower's log start offset up to the leader's (as Kafka's fetcher
    /// does after each fetch), but not past its own high watermark. DeleteRecords and
    /// the leader's retention so reach every replica.
    ///
    /// # Errors
    /// [`PartitionError::StaleLeaderEpoch`] when that epoch is over; otherwise from the log.
    pub fn follow_leader_log_start(&self, leader_log_start: i64, leader_epoch: i32) -> Result<(), PartitionError> {
        let target = leader_log_start.min(self.high_watermark());
        // Most fetches find nothing to do: that check takes no write.
        if self.with_log(|log| log.log_start_offset())? >= target {
            return Ok(());
        }
        self.write_as_follower(leader_epoch, |log| Ok(log.advance_log_start_offset(target)?))
    }

    /// Waits until the high watermark covers `next_offset`, for records this replica
    /// appended as leader in `leader_epoch`, or until `timeout`.
    ///
    /// # Errors
    /// [`CommitWait::LeadershipLost`] as soon as the epoch ends: a new leader's log may
    /// not hold the records, and a follower's high watermark says nothing about them.
    /// [`CommitWait::TimedOut`] otherwise.
    pub async fn wait_for_commit(&self, next_offset: i64, leader_epoch: i32, timeout: Duration) -> Result<(), CommitWait> {
        let mut high_watermark = self.high_watermark.subscribe();
        let mut state = self.state.subscribe();
        let wait = async {
            loop {
                let reached = *high_watermark.borrow_and_update() >= next_offset;
                // Checked after the high watermark was read: if the epoch is still ours
                // now, that value was set while this replica led in it.
                {
                    let state = state.borrow_and_update();
                    if state.leader != self.node_id || state.leader_epoch != leader_epoch {
                        return Err(CommitWait::LeadershipLost);
                    }
                }
                if reached {
                    return Ok(());
                }
                tokio::select! {
                    changed = high_watermark.changed() => changed.map_err(|_| CommitWait::LeadershipLost)?,
                    changed = state.changed() => changed.map_err(|_| CommitWait::LeadershipLost)?,
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(Err(CommitWait::TimedOut))
    }

    /// Whether `state` has this replica following the leader of `leader_epoch`.
    fn follows_in(&self, state: &PartitionState, leader_epoch: i32) -> bool {
        state.leader != self.node_id && state.leader_epoch == leader_epoch
    }

    /// Runs a follower's write on the log, if this replica still follows in
    /// `leader_epoch`, the epoch of the fetch whose answer it applies. The state stays
    /// borrowed across the write, so leadership cannot move in between.
    fn write_as_follower<R>(
        &self,
        leader_epoch: i32,
        write: impl FnOnce(&mut Log) -> Result<R, PartitionError>,
    ) -> Result<R, PartitionError> {
        let state = self.state.borrow();
        if !self.follows_in(&state, leader_epoch) {
            return Err(PartitionError::StaleLeaderEpoch { leader: state.leader, leader_epoch: state.leader_epoch });
        }
        let mut guard = self.log.lock();
        let log = guard.as_mut().ok_or(PartitionError::Deleted)?;
        let result = write(log)?;
        self.log_end.send_replace(log.log_end_offset());
        Ok(result)
    }

    /// Appends batches copied from the leader of `leader_epoch`, offsets and all.
    ///
    /// # Errors
    /// [`PartitionError::StaleLeaderEpoch`] when that epoch is over; otherwise from the
    /// log. Nothing is written then.
    pub fn append_as_follower(&self, records: &[u8], leader_epoch: i32) -> Result<AppendInfo, PartitionError> {
        self.write_as_follower(leader_epoch, |log| Ok(log.append_as_follower(records)?))
    }

    /// A follower adopts the high watermark of its leader in `leader_epoch`, capped by
    /// its own log end; an answer from an earlier epoch is ignored.
    pub fn set_high_watermark_from_leader(&self, leader_high_watermark: i64, leader_epoch: i32) {
        let state = self.state.borrow();
        if !self.follows_in(&state, leader_epoch) {
            return;
        }
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

    /// Drops every record at or after `offset`: this follower's log diverges from its
    /// leader's in `leader_epoch`.
    ///
    /// # Errors
    /// [`PartitionError::StaleLeaderEpoch`] when that epoch is over; otherwise from the log.
    pub fn truncate_to(&self, offset: i64, leader_epoch: i32) -> Result<(), PartitionError> {
        self.write_as_follower(leader_epoch, |log| Ok(log.truncate_to(offset)?))?;
        self.cap_high_watermark_at_log_end();
        Ok(())
    }

    /// Empties this follower's log and starts it at `log_start_offset`: its leader in
    /// `leader_epoch` deleted what the follower still needed.
    ///
    /// # Errors
    /// [`PartitionError::StaleLeaderEpoch`] when that epoch is over; otherwise from the log.
    pub fn restart_at(&self, log_start_offset: i64, leader_epoch: i32) -> Result<(), PartitionError> {
        self.write_as_follower(leader_epoch, |log| Ok(log.truncate_fully_and_start_at(log_start_offset)?))?;
        self.cap_high_watermark_at_log_end();
        Ok(())
    }

    fn cap_high_watermark_at_log_end(&self) {
        let end = *self.log_end.borrow();
        self.high_watermark.send_if_modified(|hw| {
            if *hw > end {
                *hw = end;
                true
            } else {
                false
            }
        });
    }

    /// Records a follower's fetch on the leader: it has everything below
    /// `fetch_offset` and its log starts at `log_start_offset`. Returns true when the
    /// follower is out of the ISR but has caught up to the high watermark and into this
    /// leader's epoch, so the leader should ask to add it back.
    pub fn record_follower_fetch(&self, replica_id: i32, fetch_offset: i64, log_start_offset: i64, now_ms: i64) -> bool {
        let leader_end = *self.log_end.borrow();
        let log_start_moved = {
            let mut followers = self.followers.lock();
            let Some(follower) = followers.get_mut(&replica_id) else { return false };
            follower.log_end_offset = fetch_offset;
            if fetch_offset >= leader_end {
                follower.last_caught_up_ms = now_ms;
            }
            std::mem::replace(&mut follower.log_start_offset, log_start_offset) != log_start_offset
        };
        if log_start_moved {
            self.follower_log_start_moved.send_replace(());
        }
        self.maybe_advance_high_watermark();
        let state = self.state.borrow();
        state.leader == self.node_id
            && !state.isr.contains(&replica_id)
            && fetch_offset >= *self.high_watermark.borrow()
            && fetch_offset >= self.leader_epoch_start_offset.load(Ordering::SeqCst)
            && !self.isr_change_in_flight.load(Ordering::SeqCst)
    }

    /// The followers this leader knows to hold what a consumer reads from `offset` (their
    /// log start at or below it, their log end at or above it), from their last fetches:
    /// where that consumer could be sent instead (KIP-392), with each one's log end.
    pub fn followers_holding(&self, offset: i64) -> Vec<(i32, i64)> {
        self.followers
            .lock()
            .iter()
            .filter(|(_, f)| f.log_start_offset <= offset && f.log_end_offset >= offset)
            .map(|(id, f)| (*id, f.log_end_offset))
            .collect()
    }

    /// In-sync followers that have not caught up within `lag_max_ms`.
    pub fn lagging_followers(&self, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        let state = self.state.borrow();
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
        let state = self.state.borrow();
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::{Bytes, BytesMut};
    use spool_metadata::config::{resolve_topic_config, BrokerConfig};

    use super::*;

    const NOW_MS: i64 = 1_000_000;
    const LONG: Duration = Duration::from_secs(30);

    /// Leadership of a partition on brokers 1, 2 and 3, all in sync.
    fn led_by(leader: i32, leader_epoch: i32) -> PartitionState {
        PartitionState { leader, leader_epoch, replicas: vec![1, 2, 3], isr: vec![1, 2, 3], partition_epoch: leader_epoch }
    }

    /// Broker `node_id`'s replica, with a log of its own under `dir`.
    fn replica(dir: &tempfile::TempDir, node_id: i32, state: PartitionState) -> Partition {
        let config = resolve_topic_config(&BrokerConfig::new(), &BTreeMap::new());
        let log = Log::open(dir.path().join(format!("node-{node_id}")), log_config(&config), NOW_MS).unwrap();
        Partition::new("t".into(), 0, Uuid::nil(), node_id, log, state, config, NOW_MS)
    }

    fn batch(value: &str) -> BytesMut {
        crate::group_coordinator::encode_plain_batch([(None, Some(Bytes::copy_from_slice(value.as_bytes())))], NOW_MS).unwrap()
    }

    /// The batches of `partition` from `offset`, as a follower's fetch gets them.
    fn batches_from(partition: &Partition, offset: i64) -> Bytes {
        partition.with_log(|log| log.read(offset, usize::MAX, i64::MAX, true).unwrap()).unwrap()
    }

    /// Broker 1 leading in epoch 0 with `values` appended, and broker 2 following it
    /// with all of them copied and the high watermark 1.
    fn leader_and_follower(dir: &tempfile::TempDir, values: &[&str]) -> (Partition, Partition) {
        let leader = replica(dir, 1, led_by(1, 0));
        let follower = replica(dir, 2, led_by(1, 0));
        for value in values {
            leader.append_as_leader(&batch(value), NOW_MS).unwrap();
        }
        follower.append_as_follower(&batches_from(&leader, 0), 0).unwrap();
        follower.set_high_watermark_from_leader(1, 0);
        (leader, follower)
    }

    #[tokio::test]
    async fn a_write_waiting_to_commit_completes_once_every_in_sync_follower_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let leader = replica(&dir, 1, led_by(1, 0));
        let (info, epoch) = leader.append_as_leader(&batch("a"), NOW_MS).unwrap();
        assert_eq!((info.last_offset, epoch), (0, 0));
        leader.record_follower_fetch(2, 1, 0, NOW_MS);
        assert_eq!(leader.wait_for_commit(1, 0, Duration::from_millis(50)).await, Err(CommitWait::TimedOut));
        leader.record_follower_fetch(3, 1, 0, NOW_MS);
        assert_eq!(leader.wait_for_commit(1, 0, LONG).await, Ok(()));
    }

    #[tokio::test]
    async fn a_write_waiting_to_commit_fails_when_leadership_moves_though_the_high_watermark_passes_it_later() {
        let dir = tempfile::tempdir().unwrap();
        // Broker 1 leads in epoch 0 and appends "a" at offset 0; no follower has it.
        let old_leader = replica(&dir, 1, led_by(1, 0));
        old_leader.append_as_leader(&batch("a"), NOW_MS).unwrap();
        let waiting = old_leader.wait_for_commit(1, 0, LONG);
        // Broker 2 is elected in epoch 1 without "a" and appends "b" at offset 0.
        let new_leader = replica(&dir, 2, led_by(2, 1));
        new_leader.append_as_leader(&batch("b"), NOW_MS).unwrap();
        // Broker 1 follows it: truncates "a", copies "b", adopts the high watermark 1.
        old_leader.set_state(led_by(2, 1), NOW_MS);
        old_leader.truncate_to(0, 1).unwrap();
        old_leader.append_as_follower(&batches_from(&new_leader, 0), 1).unwrap();
        old_leader.set_high_watermark_from_leader(1, 1);
        assert_eq!(old_leader.high_watermark(), 1);
        // The write of "a" must not be reported committed: offset 0 now holds "b".
        assert_eq!(waiting.await, Err(CommitWait::LeadershipLost));
    }

    #[tokio::test]
    async fn a_waiting_write_wakes_up_when_leadership_moves() {
        let dir = tempfile::tempdir().unwrap();
        let leader = Arc::new(replica(&dir, 1, led_by(1, 0)));
        leader.append_as_leader(&batch("a"), NOW_MS).unwrap();
        let waiter = tokio::spawn({
            let leader = leader.clone();
            async move { leader.wait_for_commit(1, 0, LONG).await }
        });
        tokio::task::yield_now().await;
        leader.set_state(led_by(2, 1), NOW_MS);
        let outcome = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken by the leadership change");
        assert_eq!(outcome.unwrap(), Err(CommitWait::LeadershipLost));
    }

    #[test]
    fn a_follower_serves_consumers_in_its_leaders_epoch_and_the_leader_knows_which_hold_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let leader = replica(&dir, 1, led_by(1, 3));
        let follower = replica(&dir, 2, led_by(1, 3));
        // Leader-only requests refuse a follower; a consumer's fetch may be served by it.
        assert_eq!(follower.leader_state(3).unwrap_err(), ResponseError::NotLeaderOrFollower);
        assert_eq!(follower.replica_state(3).unwrap().leader, 1);
        assert_eq!(follower.replica_state(-1).unwrap().leader_epoch, 3);
        assert_eq!(follower.replica_state(2).unwrap_err(), ResponseError::FencedLeaderEpoch);
        assert_eq!(follower.replica_state(4).unwrap_err(), ResponseError::UnknownLeaderEpoch);

        for value in ["a", "b", "c"] {
            leader.append_as_leader(&batch(value), NOW_MS).unwrap();
        }
        // Follower 2 has offsets 0 and 1 (log end 2); follower 3 starts at 2 (log end 3).
        leader.record_follower_fetch(2, 2, 0, NOW_MS);
        leader.record_follower_fetch(3, 3, 2, NOW_MS);
        let holding = |offset: i64| {
            let mut found = leader.followers_holding(offset);
            found.sort_unstable();
            found
        };
        assert_eq!(holding(0), vec![(2, 2)]);
        assert_eq!(holding(2), vec![(2, 2), (3, 3)], "a log end at the offset holds it: a consumer at the end waits there");
        assert_eq!(holding(3), vec![(3, 3)]);
        assert_eq!(holding(4), vec![]);
    }

    #[tokio::test]
    async fn deleted_records_are_confirmed_once_every_live_follower_has_deleted_them_too() {
        let dir = tempfile::tempdir().unwrap();
        let leader = Arc::new(replica(&dir, 1, led_by(1, 0)));
        leader.append_as_leader(&batch("a"), NOW_MS).unwrap();
        leader.append_as_leader(&batch("b"), NOW_MS).unwrap();
        leader.record_follower_fetch(2, 2, 0, NOW_MS);
        leader.record_follower_fetch(3, 2, 0, NOW_MS);
        assert_eq!(leader.delete_records_as_leader(-1).unwrap(), 2, "-1 is the high watermark");
        assert_eq!(leader.low_watermark(|_| true).unwrap(), 0, "the followers still start at 0");
        // The live brokers, as the metadata image would say.
        let (brokers, live) = watch::channel(vec![1, 2, 3]);
        let is_live = |live: &Vec<i32>, id: i32| live.contains(&id);
        let short = Duration::from_millis(50);
        let timed_out = leader.wait_for_low_watermark(2, short, live.clone(), is_live).await;
        assert!(matches!(timed_out, Err(LowWatermarkWait::TimedOut { low_watermark: 0 })), "{timed_out:?}");
        assert_eq!(leader.wait_for_low_watermark(0, short, live.clone(), is_live).await.unwrap(), 0, "reached already");

        let waiter = |leader: &Arc<Partition>| {
            let (leader, live) = (leader.clone(), live.clone());
            tokio::spawn(async move { leader.wait_for_low_watermark(2, LONG, live, is_live).await })
        };
        let mut waiting = waiter(&leader);
        leader.record_follower_fetch(2, 2, 2, NOW_MS);
        assert!(tokio::time::timeout(short, &mut waiting).await.is_err(), "follower 3 still starts at 0");
        leader.record_follower_fetch(3, 2, 2, NOW_MS);
        let woken = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("woken by follower 3's fetch");
        assert_eq!(woken.unwrap().unwrap(), 2);

        // A follower on a broker that is no longer live stops holding the answer back
        // (here broker 3 reports a log start behind the others, then is fenced).
        leader.record_follower_fetch(3, 2, 1, NOW_MS);
        let mut waiting = waiter(&leader);
        assert!(tokio::time::timeout(short, &mut waiting).await.is_err(), "broker 3 is live and starts at 1");
        brokers.send_replace(vec![1, 2]);
        let woken = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("woken by the fencing");
        assert_eq!(woken.unwrap().unwrap(), 2);

        leader.set_state(led_by(2, 1), NOW_MS);
        let moved = leader.wait_for_low_watermark(2, short, live, is_live).await;
        assert!(matches!(moved, Err(LowWatermarkWait::Failed(PartitionError::NotLeader { leader: 2, .. }))), "{moved:?}");
    }

    #[test]
    fn a_replica_that_no_longer_leads_refuses_leader_writes() {
        let dir = tempfile::tempdir().unwrap();
        let partition = replica(&dir, 1, led_by(1, 0));
        partition.append_as_leader(&batch("a"), NOW_MS).unwrap();
        partition.set_state(led_by(2, 1), NOW_MS);
        let refused = partition.append_as_leader(&batch("b"), NOW_MS);
        assert!(matches!(refused, Err(PartitionError::NotLeader { leader: 2, leader_epoch: 1 })), "{refused:?}");
        assert_eq!(partition.log_end_offset(), 1);
    }

    #[test]
    fn a_fetch_answer_from_an_ended_epoch_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (leader, follower) = leader_and_follower(&dir, &["a"]);
        // Leadership moves to broker 3 while broker 1, unaware, takes one more write.
        follower.set_state(led_by(3, 1), NOW_MS);
        leader.append_as_leader(&batch("late"), NOW_MS).unwrap();
        let late = batches_from(&leader, 1);
        let stale = follower.append_as_follower(&late, 0);
        assert!(matches!(stale, Err(PartitionError::StaleLeaderEpoch { leader: 3, leader_epoch: 1 })), "{stale:?}");
        assert!(follower.truncate_to(0, 0).is_err());
        assert!(follower.restart_at(5, 0).is_err());
        follower.set_high_watermark_from_leader(0, 0);
        assert_eq!((follower.log_end_offset(), follower.high_watermark()), (1, 1));
        // A replica that leads now takes no follower write at all, in any epoch.
        follower.set_state(led_by(2, 2), NOW_MS);
        assert!(follower.append_as_follower(&late, 2).is_err());
        assert_eq!(follower.log_end_offset(), 1);
        // The answer of the current leader still applies.
        follower.set_state(led_by(1, 3), NOW_MS);
        follower.append_as_follower(&late, 3).unwrap();
        assert_eq!(follower.log_end_offset(), 2);
    }

    #[test]
    fn a_new_leader_records_where_its_epoch_starts_and_admits_followers_only_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let (_old_leader, follower) = leader_and_follower(&dir, &["a", "b"]);
        // Broker 2 is elected in epoch 1 with broker 1 out of the ISR.
        follower.set_state(PartitionState { isr: vec![2, 3], ..led_by(2, 1) }, NOW_MS);
        // Epoch 1 starts at the log end (2) before anything is appended in it, so a
        // follower that asks where epoch 0 ends learns 2, not a log end that moves on.
        assert_eq!(follower.with_log(|log| log.epoch_entries()).unwrap(), vec![(0, 0), (1, 2)]);
        follower.append_as_leader(&batch("c"), NOW_MS).unwrap();
        assert_eq!(follower.with_log(|log| log.end_offset_for_epoch(0)).unwrap(), Some((0, 2)));
        // Broker 1 reached the high watermark (1) but not the epoch's start: not back yet.
        assert!(!follower.record_follower_fetch(1, 1, 0, NOW_MS));
        assert!(follower.record_follower_fetch(1, 2, 0, NOW_MS));
    }
}
