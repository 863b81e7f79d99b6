//! The group coordinator's runtime: the async shell around `spool_group`'s shards.
//!
//! ```text
//!  handlers ──► GroupCoordinator::run(group) ──► shard (pure) ──► Output { records, responses }
//!                      │                                              │
//!                      │   append records to __consumer_offsets-P ◄───┘ (then wait for the HW)
//!                      │   then deliver responses: oneshot per RequestToken
//!  timer task ──► tick(now) of every shard whose deadline passed, refresh leadership
//! ```
//!
//! A group lives on partition `partition_for(group)` of `__consumer_offsets`; the broker
//! leading that partition runs the partition's [`GroupCoordinatorShard`]. The topic is
//! created on the first FindCoordinator, as Kafka does. When this broker leads a
//! partition, the shard replays the partition (answering `COORDINATOR_LOAD_IN_PROGRESS`
//! meanwhile) and then serves; when it stops leading, waiting requests are answered
//! `NOT_COORDINATOR`.
//!
//! Invariants kept here:
//! - a shard's records are in its partition, below the high watermark, before any
//!   response of the same operation leaves (the shard's lock is held across the write,
//!   so operations on a shard are also totally ordered);
//! - a failed write answers with Kafka's error for it and reloads the shard from the
//!   log, since the shard's memory is then ahead of the log;
//! - every registered token is answered once, or its handler times out waiting.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use spool_group::{
    AppendFailure, GroupConfig, GroupCoordinatorShard, GroupError, GroupRecord, ListGroupsResult, Output, RequestToken, Response,
};
use spool_protocol::batch::Batches;
use spool_metadata::config::BrokerConfig;
use spool_metadata::controller::{ControllerRequest, NewTopic};
use tokio::sync::{oneshot, watch, Mutex, Notify};

use crate::broker::{now_ms, Broker};
use crate::error::KafkaError;
use crate::partition::{CommitWait, Partition, PartitionError};

/// Kafka's internal topic of group metadata and committed offsets.
pub(crate) const GROUP_METADATA_TOPIC: &str = "__consumer_offsets";

/// Most bytes read from the log at a time while loading a shard
/// (Kafka's `offsets.load.buffer.size` default).
const LOAD_READ_BYTES: usize = 5 * 1024 * 1024;

/// Longest a timer pass waits when no deadline is nearer; also how soon a change of
/// leadership is noticed.
const TIMER_IDLE: Duration = Duration::from_millis(1000);

/// One partition's coordinator on this broker.
enum Slot {
    /// Another broker leads the partition (or nobody yet).
    NotCoordinator,
    /// The partition is being replayed; the placeholder (a shard still loading) answers
    /// requests meanwhile. `load` tells the loads apart.
    Loading { placeholder: GroupCoordinatorShard, load: u64 },
    Active(GroupCoordinatorShard),
}

/// Why a coordinator operation did not run or did not stick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunError {
    /// This broker does not coordinate the group's partition.
    NotCoordinator,
    /// The operation's records could not be written.
    Write(AppendFailure),
}

/// The group coordinator of this broker: one slot per `__consumer_offsets` partition.
pub struct GroupCoordinator {
    config: GroupConfig,
    replication_factor: i16,
    segment_bytes: i32,
    commit_timeout: Duration,
    slots: Vec<Mutex<Slot>>,
    waiters: parking_lot::Mutex<HashMap<RequestToken, oneshot::Sender<Response>>>,
    next_token: AtomicU64,
    next_load: AtomicU64,
    /// Wakes the timer task after an operation may have moved a deadline earlier.
    wake: Notify,
    /// Serialises creation of the internal topic.
    create_topic: Mutex<()>,
    stop: watch::Sender<bool>,
}

impl GroupCoordinator {
    pub fn new(broker_config: &BrokerConfig) -> Self {
        let config = group_config(broker_config);
        let slots = (0..config.offsets_topic_num_partitions).map(|_| Mutex::new(Slot::NotCoordinator)).collect();
        GroupCoordinator {
            config,
            replication_factor: broker_config.offsets_topic_replication_factor(),
            segment_bytes: broker_config.offsets_topic_segment_bytes(),
            commit_timeout: Duration::from_millis(broker_config.offsets_commit_timeout_ms().max(1) as u64),
            slots,
            waiters: parking_lot::Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            next_load: AtomicU64::new(1),
            wake: Notify::new(),
            create_topic: Mutex::new(()),
            stop: watch::channel(false).0,
        }
    }

    /// The `__consumer_offsets` partition of `group_id`.
    pub(crate) fn partition_for(&self, group_id: &str) -> i32 {
        spool_group::partition_for(group_id, self.config.offsets_topic_num_partitions)
    }

    /// Creates `__consumer_offsets` if it does not exist yet, then starts loading the
    /// partitions this broker leads.
    ///
    /// # Errors
    /// The controller's error when the topic could not be created.
    pub(crate) async fn ensure_topic(self: &Arc<Self>, broker: &Arc<Broker>) -> Result<(), KafkaError> {
        if broker.image().topic(GROUP_METADATA_TOPIC).is_none() {
            let _creating = self.create_topic.lock().await;
            if broker.image().topic(GROUP_METADATA_TOPIC).is_none() {
                self.create(broker).await?;
            }
        }
        self.refresh(broker).await;
        Ok(())
    }

    async fn create(&self, broker: &Arc<Broker>) -> Result<(), KafkaError> {
        let live = broker.image().live_brokers().count().max(1);
        let replication_factor = self.replication_factor.clamp(1, i16::try_from(live).unwrap_or(i16::MAX));
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            ("segment.bytes".to_string(), self.segment_bytes.to_string()),
        ]);
        let topic = NewTopic {
            name: GROUP_METADATA_TOPIC.to_string(),
            num_partitions: self.config.offsets_topic_num_partitions,
            replication_factor,
            assignments: BTreeMap::new(),
            configs,
        };
        let request =
            ControllerRequest::CreateTopic { topic, topic_id: uuid::Uuid::new_v4(), defaults: broker.topic_defaults(), validate_only: false };
        match broker.submit(request).await {
            Ok(_) => {
                tracing::info!(partitions = self.config.offsets_topic_num_partitions, replication_factor, "created {GROUP_METADATA_TOPIC}");
                Ok(())
            }
            Err(e) if e.code == ResponseError::TopicAlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A token for a JoinGroup or SyncGroup, with the receiver of its answer.
    pub(crate) fn register(&self) -> (RequestToken, oneshot::Receiver<Response>) {
        let token = RequestToken(self.next_token.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().insert(token, tx);
        (token, rx)
    }

    /// Forgets a token whose answer is no longer awaited.
    pub(crate) fn forget(&self, token: RequestToken) {
        self.waiters.lock().remove(&token);
    }

    fn deliver(&self, responses: impl IntoIterator<Item = (RequestToken, Response)>) {
        let mut waiters = self.waiters.lock();
        for (token, response) in responses {
            if let Some(tx) = waiters.remove(&token) {
                let _ = tx.send(response);
            }
        }
    }

    /// ListGroups over every shard of this broker; `COORDINATOR_LOAD_IN_PROGRESS` while
    /// any of them loads, along with the groups known so far (as Kafka answers).
    pub(crate) async fn list_groups(&self, states: &[String], types: &[String]) -> ListGroupsResult {
        let mut all = ListGroupsResult { error: None, groups: Vec::new() };
        for slot in &self.slots {
            let shard = slot.lock().await;
            let result = match &*shard {
                Slot::Active(shard) | Slot::Loading { placeholder: shard, .. } => shard.list_groups(states, types),
                Slot::NotCoordinator => continue,
            };
            all.error = all.error.or(result.error);
            all.groups.extend(result.groups);
        }
        all
    }

    /// Removes every group's committed offsets of `topics` (just deleted) on the shards
    /// this broker coordinates, as Kafka's `onPartitionsDeleted` does; the tombstones
    /// replicate with the partition, so other replicas forget them too.
    pub(crate) async fn on_topics_deleted(self: &Arc<Self>, broker: &Arc<Broker>, topics: &[String]) {
        for partition in 0..self.config.offsets_topic_num_partitions {
            if matches!(&*self.slots[partition as usize].lock().await, Slot::NotCoordinator) {
                continue;
            }
            if let Err(e) = self.run_on(broker, partition, |shard, _| ((), shard.on_topics_deleted(topics))).await {
                tracing::warn!(partition, ?topics, "removing offsets of deleted topics failed: {e:?}");
            }
        }
    }

    /// Runs `op` on the shard of `group_id`, writes the records it returns and then
    /// delivers the delayed answers it produced.
    ///
    /// # Errors
    /// [`RunError::NotCoordinator`] when this broker does not coordinate the group;
    /// [`RunError::Write`] when the records could not be written (the delayed answers
    /// then carry the write's error instead).
    pub(crate) async fn run<R>(
        self: &Arc<Self>,
        broker: &Arc<Broker>,
        group_id: &str,
        op: impl FnOnce(&mut GroupCoordinatorShard, i64) -> (R, Output),
    ) -> Result<R, RunError> {
        self.run_on(broker, self.partition_for(group_id), op).await
    }

    async fn run_on<R>(
        self: &Arc<Self>,
        broker: &Arc<Broker>,
        partition: i32,
        op: impl FnOnce(&mut GroupCoordinatorShard, i64) -> (R, Output),
    ) -> Result<R, RunError> {
        let Some(slot) = self.slots.get(partition as usize) else { return Err(RunError::NotCoordinator) };
        let mut slot = slot.lock().await;
        let now = now_ms();
        let shard = match &mut *slot {
            Slot::Active(shard) => shard,
            Slot::Loading { placeholder, .. } => placeholder,
            Slot::NotCoordinator => return Err(RunError::NotCoordinator),
        };
        let (result, out) = op(shard, now);
        match self.write(broker, partition, &out.records, now).await {
            Ok(()) => {
                self.deliver(out.responses);
                self.wake.notify_one();
                Ok(result)
            }
            Err(failure) => {
                tracing::warn!(partition, "writing to {GROUP_METADATA_TOPIC} failed ({failure:?}); reloading the partition");
                self.deliver(out.responses.into_iter().map(|(t, r)| (t, r.with_write_failure(failure))));
                // Memory is ahead of the log now: start over from the log.
                if let Slot::Active(shard) | Slot::Loading { placeholder: shard, .. } = &mut *slot {
                    self.deliver(shard.unload().responses);
                }
                *slot = Slot::NotCoordinator;
                self.wake.notify_one();
                Err(RunError::Write(failure))
            }
        }
    }

    /// Appends `records` as one batch to the partition and waits until the high
    /// watermark covers them.
    async fn write(&self, broker: &Broker, partition: i32, records: &[GroupRecord], now: i64) -> Result<(), AppendFailure> {
        if records.is_empty() {
            return Ok(());
        }
        let target = broker.replicas.get(GROUP_METADATA_TOPIC, partition).ok_or(AppendFailure::Unavailable)?;
        if target.state().leader != broker.node_id {
            return Err(AppendFailure::NotLeader);
        }
        let batch = encode_batch(records, now).map_err(|e| {
            tracing::error!("encoding {GROUP_METADATA_TOPIC} records failed: {e}");
            AppendFailure::TooLarge
        })?;
        if batch.len() > target.config().max_message_bytes.max(0) as usize {
            return Err(AppendFailure::TooLarge);
        }
        let (info, leader_epoch) = tokio::task::block_in_place(|| target.append_as_leader(&batch, now)).map_err(|e| match e {
            PartitionError::Deleted => AppendFailure::Unavailable,
            PartitionError::NotLeader { .. } => AppendFailure::NotLeader,
            other => {
                tracing::error!(partition, "appending to {GROUP_METADATA_TOPIC} failed: {other}");
                AppendFailure::NotLeader
            }
        })?;
        target.wait_for_commit(info.last_offset + 1, leader_epoch, self.commit_timeout).await.map_err(|e| match e {
            CommitWait::TimedOut => AppendFailure::Timeout,
            CommitWait::LeadershipLost => AppendFailure::NotLeader,
        })
    }

    /// Brings the slots in line with which `__consumer_offsets` partitions this broker
    /// leads: starts loading new ones, unloads lost ones.
    pub(crate) async fn refresh(self: &Arc<Self>, broker: &Arc<Broker>) {
        for partition in 0..self.config.offsets_topic_num_partitions {
            let leads = broker
                .replicas
                .get(GROUP_METADATA_TOPIC, partition)
                .is_some_and(|p| p.state().leader == broker.node_id);
            let mut slot = self.slots[partition as usize].lock().await;
            match (&mut *slot, leads) {
                (Slot::NotCoordinator, true) => {
                    let load = self.next_load.fetch_add(1, Ordering::Relaxed);
                    let placeholder = GroupCoordinatorShard::new(partition, self.config.clone(), 0);
                    *slot = Slot::Loading { placeholder, load };
                    tokio::spawn(self.clone().load(broker.clone(), partition, load));
                }
                (Slot::Active(shard), false) => {
                    tracing::info!(partition, "no longer coordinating {GROUP_METADATA_TOPIC}-{partition}");
                    self.deliver(shard.unload().responses);
                    *slot = Slot::NotCoordinator;
                }
                (Slot::Loading { .. }, false) => *slot = Slot::NotCoordinator,
                _ => {}
            }
        }
    }

    /// Replays one partition into a new shard and makes it the active one, unless the
    /// slot moved on meanwhile.
    async fn load(self: Arc<Self>, broker: Arc<Broker>, partition: i32, load: u64) {
        let started = now_ms();
        let config = self.config.clone();
        let source = broker.replicas.get(GROUP_METADATA_TOPIC, partition);
        let loaded = tokio::task::spawn_blocking(move || match source {
            Some(source) => replay_partition(&source, config, member_id_seed()),
            None => Err(format!("{GROUP_METADATA_TOPIC}-{partition} is not hosted here")),
        })
        .await
        .unwrap_or_else(|e| Err(format!("loading task failed: {e}")));
        let mut slot = self.slots[partition as usize].lock().await;
        if !matches!(&*slot, Slot::Loading { load: current, .. } if *current == load) {
            return;
        }
        match loaded {
            Ok((mut shard, records)) => {
                let now = now_ms();
                let out = shard.complete_load(now);
                if let Err(failure) = self.write(&broker, partition, &out.records, now).await {
                    tracing::warn!(partition, "loading {GROUP_METADATA_TOPIC}-{partition}: write failed ({failure:?})");
                    *slot = Slot::NotCoordinator;
                    return;
                }
                self.deliver(out.responses);
                if records > 0 {
                    tracing::info!(partition, records, elapsed_ms = now - started, "loaded {GROUP_METADATA_TOPIC}-{partition}");
                }
                *slot = Slot::Active(shard);
                self.wake.notify_one();
            }
            Err(e) => {
                tracing::error!(partition, "loading {GROUP_METADATA_TOPIC}-{partition} failed: {e}");
                *slot = Slot::NotCoordinator;
            }
        }
    }

    /// Fires the shards' deadlines (sessions, rebalances, offset retention) as they come
    /// and follows leadership changes, until [`Self::stop`].
    pub(crate) async fn run_timers(self: Arc<Self>, broker: Arc<Broker>) {
        let mut stopped = self.stop.subscribe();
        let mut last_refresh = i64::MIN;
        loop {
            let now = now_ms();
            if now.saturating_sub(last_refresh) >= TIMER_IDLE.as_millis() as i64 {
                self.refresh(&broker).await;
                last_refresh = now;
            }
            let mut next = now + TIMER_IDLE.as_millis() as i64;
            for partition in 0..self.config.offsets_topic_num_partitions {
                let deadline = match &*self.slots[partition as usize].lock().await {
                    Slot::Active(shard) => shard.next_deadline_ms(),
                    _ => None,
                };
                match deadline {
                    Some(d) if d <= now => {
                        let _ = self.run_on(&broker, partition, |shard, now| ((), shard.tick(now))).await;
                        next = now;
                    }
                    Some(d) => next = next.min(d),
                    None => {}
                }
            }
            let sleep = Duration::from_millis((next - now_ms()).clamp(0, TIMER_IDLE.as_millis() as i64) as u64);
            tokio::select! {
                _ = stopped.changed() => return,
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Ends the timer task; waiting requests time out in their handlers.
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// The coordinator's settings from the broker's configuration.
fn group_config(c: &BrokerConfig) -> GroupConfig {
    GroupConfig {
        offsets_topic_num_partitions: c.offsets_topic_num_partitions().max(1),
        group_min_session_timeout_ms: c.group_min_session_timeout_ms(),
        group_max_session_timeout_ms: c.group_max_session_timeout_ms(),
        group_initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms(),
        group_max_size: c.group_max_size(),
        offsets_retention_ms: i64::from(c.offsets_retention_minutes()) * 60_000,
        offsets_retention_check_interval_ms: c.offsets_retention_check_interval_ms().max(1),
        offset_metadata_max_bytes: c.offset_metadata_max_bytes().max(0) as usize,
        consumer_session_timeout_ms: c.group_consumer_session_timeout_ms(),
        consumer_heartbeat_interval_ms: c.group_consumer_heartbeat_interval_ms(),
        consumer_max_size: c.group_consumer_max_size(),
        consumer_assignors: c.group_consumer_assignors(),
        consumer_protocol_enabled: c.group_coordinator_rebalance_protocols().iter().any(|p| p == "consumer"),
        ..GroupConfig::default()
    }
}

/// A random seed for member ids, so ids stay unique across restarts.
fn member_id_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// Reads a partition from its log start to its high watermark into a new shard.
/// Returns the shard and how many records it replayed.
fn replay_partition(source: &Partition, config: GroupConfig, seed: u64) -> Result<(GroupCoordinatorShard, usize), String> {
    let mut shard = GroupCoordinatorShard::new(source.index, config, seed);
    let mut offset = source.with_log(|log| log.log_start_offset()).map_err(|e| e.to_string())?;
    let mut count = 0;
    loop {
        let read = source.read(offset, LOAD_READ_BYTES, true, crate::partition::ReadLimit::HighWatermark).map_err(|e| e.to_string())?;
        if offset >= read.high_watermark || read.records.is_empty() {
            break;
        }
        let records = read.records.to_bytes().map_err(|e| format!("reading batches at {offset}: {e}"))?;
        let mut buf = records.clone();
        let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| format!("decoding batches at {offset}: {e}"))?;
        let before = offset;
        for record in sets.into_iter().flat_map(|s| s.records) {
            if record.offset < offset {
                continue;
            }
            offset = record.offset + 1;
            if record.control {
                continue;
            }
            let Some(key) = record.key.as_deref() else { continue };
            match GroupRecord::decode(key, record.value.as_deref()) {
                Ok(Some(decoded)) => {
                    shard.replay(&decoded);
                    count += 1;
                }
                Ok(None) => tracing::warn!(offset = record.offset, "skipping a record of unknown type in {GROUP_METADATA_TOPIC}"),
                Err(e) => tracing::error!(offset = record.offset, "skipping an unreadable {GROUP_METADATA_TOPIC} record: {e}"),
            }
        }
        // A compacted batch may end past its last surviving record: resume after the batch.
        let batches_end = Batches::new(&records).last().map_or(offset, |(header, _)| header.last_offset() + 1);
        offset = offset.max(batches_end);
        if offset == before {
            break;
        }
    }
    Ok((shard, count))
}

fn encode_batch(records: &[GroupRecord], now_ms: i64) -> Result<BytesMut, String> {
    encode_plain_batch(records.iter().map(|r| (Some(Bytes::from(r.encode_key())), r.encode_value().map(Bytes::from))), now_ms)
}

/// One uncompressed v2 batch holding a record per `(key, value)`, at offsets from 0,
/// all stamped `timestamp` (the broker's own writes; unit tests build batches with it too).
pub(crate) fn encode_plain_batch(
    records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>)>,
    timestamp: i64,
) -> Result<BytesMut, String> {
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp,
            key,
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

impl From<GroupError> for KafkaError {
    fn from(e: GroupError) -> Self {
        let code = match e {
            GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::NotCoordinator => ResponseError::NotCoordinator,
            GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
            GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
            GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
            GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
            GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
            GroupError::InvalidCommitOffsetSize => ResponseError::InvalidCommitOffsetSize,
            GroupError::RequestTimedOut => ResponseError::RequestTimedOut,
            GroupError::InvalidRequest => ResponseError::InvalidRequest,
            GroupError::UnknownServerError => ResponseError::UnknownServerError,
            GroupError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
            GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
            GroupError::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
            GroupError::UnreleasedInstanceId => ResponseError::UnreleasedInstanceId,
            GroupError::UnsupportedVersion => ResponseError::UnsupportedVersion,
            GroupError::InvalidRegularExpression => ResponseError::InvalidRegularExpression,
        };
        KafkaError::new(code)
    }
}

impl RunError {
    /// The error of a JoinGroup, SyncGroup, Heartbeat, LeaveGroup or admin request.
    pub(crate) fn group_error(self) -> GroupError {
        match self {
            RunError::NotCoordinator => GroupError::NotCoordinator,
            RunError::Write(failure) => failure.group_write_error(),
        }
    }

    /// The error of an OffsetCommit.
    pub(crate) fn offset_error(self) -> GroupError {
        match self {
            RunError::NotCoordinator => GroupError::NotCoordinator,
            RunError::Write(failure) => failure.offset_write_error(),
        }
    }
}

/// The wire code of an optional group error.
pub(crate) fn code(error: Option<GroupError>) -> i16 {
    error.map_or(0, |e| KafkaError::from(e).code())
}
