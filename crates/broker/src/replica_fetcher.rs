//! Followers copy their leaders' logs with the ordinary Fetch API.
//!
//! One fetcher task per leader broker fetches every partition this broker follows
//! from that leader, from the local log end, long-polling the leader. Each response is
//! appended as it came (the leader's offsets and epochs kept) and the leader's high
//! watermark adopted. A leader that finds the follower's log diverging from its own
//! (KIP-320: the follower's last fetched epoch ends earlier on the leader) answers
//! with the epoch's end offset, and the follower truncates to it before fetching on.
//!
//! A partition under the follower side's replication throttle that is out of sync is
//! left out of the fetches while the throttle is exceeded (see
//! [`crate::replication_quota`]); when that leaves nothing to ask for, the fetcher waits
//! `replica.fetch.backoff.ms`, as Kafka's does.
//!
//! An answer is applied only to what it was asked for: a partition still fetched from
//! this leader, whose log end has not moved and whose leader epoch has not changed since
//! the request left (Kafka's `AbstractFetcherThread` checks the same). A fetch can be
//! answered long after it was sent, by a leader that was paused or cut off meanwhile;
//! its records must not land in a log that now leads, or follows another leader.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::append_failures::AppendFailures;
use crate::broker_client::BrokerConnection;
use crate::partition::{Partition, PartitionError};
use crate::replication_quota::ReplicationQuota;

/// The Fetch version followers use: flexible, with leader epochs and diverging-epoch
/// answers, still addressing topics by name.
const REPLICA_FETCH_VERSION: i16 = 12;

/// Settings of the fetchers, from the broker config (`replica.fetch.*`).
#[derive(Debug, Clone)]
pub(crate) struct FetcherConfig {
    pub node_id: i32,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub partition_max_bytes: i32,
    pub response_max_bytes: i32,
    pub backoff_ms: u64,
    /// Where appends that failed on the disk are reported.
    pub append_failures: Arc<AppendFailures>,
    /// The follower side's replication throttle (see [`crate::replication_quota`]).
    pub quota: Arc<ReplicationQuota>,
}

/// The partitions one fetcher replicates, by topic and index; shared with its task.
type SharedPartitions = Arc<Mutex<BTreeMap<(String, i32), Arc<Partition>>>>;

struct Fetcher {
    partitions: SharedPartitions,
    address: Arc<Mutex<String>>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts, updates and stops the fetcher tasks as leadership moves.
pub(crate) struct ReplicaFetcherManager {
    config: FetcherConfig,
    fetchers: Mutex<HashMap<i32, Fetcher>>,
}

impl ReplicaFetcherManager {
    pub(crate) fn new(config: FetcherConfig) -> Self {
        ReplicaFetcherManager { config, fetchers: Mutex::new(HashMap::new()) }
    }

    /// Sets what this broker follows: for each leader broker, its address and the
    /// partitions to copy from it. Fetchers of leaders no longer followed stop.
    pub(crate) fn update(&self, wanted: HashMap<i32, (String, Vec<Arc<Partition>>)>) {
        let mut fetchers = self.fetchers.lock();
        fetchers.retain(|leader, fetcher| {
            let keep = wanted.contains_key(leader);
            if !keep {
                fetcher.task.abort();
            }
            keep
        });
        for (leader, (address, partitions)) in wanted {
            let set: BTreeMap<(String, i32), Arc<Partition>> =
                partitions.into_iter().map(|p| ((p.topic.clone(), p.index), p)).collect();
            match fetchers.get(&leader) {
                Some(fetcher) => {
                    *fetcher.partitions.lock() = set;
                    *fetcher.address.lock() = address;
                    fetcher.wake.notify_one();
                }
                None => {
                    let partitions = Arc::new(Mutex::new(set));
                    let address = Arc::new(Mutex::new(address));
                    let wake = Arc::new(Notify::new());
                    let task = tokio::spawn(run_fetcher(
                        leader,
                        self.config.clone(),
                        partitions.clone(),
                        address.clone(),
                        wake.clone(),
                    ));
                    fetchers.insert(leader, Fetcher { partitions, address, wake, task });
                }
            }
        }
    }

    /// Stops every fetcher.
    pub(crate) fn shutdown(&self) {
        for (_, fetcher) in self.fetchers.lock().drain() {
            fetcher.task.abort();
        }
    }
}

async fn run_fetcher(
    leader: i32,
    config: FetcherConfig,
    partitions: SharedPartitions,
    address: Arc<Mutex<String>>,
    wake: Arc<Notify>,
) {
    let backoff = Duration::from_millis(config.backoff_ms.max(10));
    let request_timeout = Duration::from_millis(config.max_wait_ms.max(0) as u64 + 30_000);
    let mut connection: Option<BrokerConnection> = None;
    loop {
        let current: Vec<Arc<Partition>> = partitions.lock().values().cloned().collect();
        if current.is_empty() {
            wake.notified().await;
            continue;
        }
        if connection.is_none() {
            let addr = address.lock().clone();
            match BrokerConnection::connect(
                &addr,
                format!("spool-replica-fetcher-{}", config.node_id),
                Duration::from_secs(5),
                config.response_max_bytes.max(1) as usize + 1024 * 1024,
            )
            .await
            {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    tracing::warn!(leader, "replica fetcher: {e}; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else { continue };
        let (request, asked) = build_request(&config, &current);
        if asked.is_empty() {
            // Every partition is throttled: wait as Kafka's fetcher does when it has
            // nothing to ask for, or until what it follows changes.
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = wake.notified() => {}
            }
            continue;
        }
        let response: FetchResponse = match conn.call(ApiKey::Fetch, REPLICA_FETCH_VERSION, &request, request_timeout).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(leader, "replica fetch failed: {e}; reconnecting");
                connection = None;
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        if response.error_code != 0 {
            tracing::warn!(leader, "replica fetch answered error {}", response.error_code);
            tokio::time::sleep(backoff).await;
            continue;
        }
        let mut should_back_off = false;
        for topic in response.responses {
            let name = topic.topic.0.to_string();
            for data in topic.partitions {
                let key = (name.clone(), data.partition_index);
                let Some(asked) = asked.get(&key) else { continue };
                if config.quota.is_throttled(&name, data.partition_index) {
                    let bytes = data.records.as_ref().map_or(0, |r| r.len());
                    config.quota.record(bytes as u64, Instant::now());
                }
                let still_fetched = partitions.lock().get(&key).is_some_and(|p| Arc::ptr_eq(p, &asked.partition));
                if !still_fetched || asked.partition.log_end_offset() != asked.fetch_offset {
                    tracing::debug!(leader, topic = %name, partition = data.partition_index, "replica fetch: answer outdated, dropped");
                    continue;
                }
                if let Err(reason) = apply_partition_response(&asked.partition, asked.leader_epoch, data, &config.append_failures) {
                    tracing::debug!(leader, topic = %name, "replica fetch: {reason}");
                    should_back_off = true;
                }
            }
        }
        if should_back_off {
            tokio::time::sleep(backoff).await;
        }
    }
}

/// What one fetch asked for a partition, to check its answer against.
struct Asked {
    partition: Arc<Partition>,
    leader_epoch: i32,
    fetch_offset: i64,
}

fn build_request(config: &FetcherConfig, partitions: &[Arc<Partition>]) -> (FetchRequest, HashMap<(String, i32), Asked>) {
    let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    let mut asked = HashMap::with_capacity(partitions.len());
    let now = Instant::now();
    for partition in partitions {
        let state = partition.state();
        // An out-of-sync replica of a throttled partition waits while the throttle is
        // exceeded (Kafka's `shouldFollowerThrottle`); one in the ISR never does.
        if !state.isr.contains(&config.node_id)
            && config.quota.is_throttled(&partition.topic, partition.index)
            && config.quota.is_exceeded(now)
        {
            continue;
        }
        let (log_start, last_epoch) = partition
            .with_log(|log| (log.log_start_offset(), log.latest_epoch().unwrap_or(-1)))
            .unwrap_or((0, -1));
        let mut fetch = FetchPartition::default();
        fetch.partition = partition.index;
        fetch.current_leader_epoch = state.leader_epoch;
        fetch.fetch_offset = partition.log_end_offset();
        fetch.last_fetched_epoch = last_epoch;
        fetch.log_start_offset = log_start;
        fetch.partition_max_bytes = config.partition_max_bytes;
        asked.insert(
            (partition.topic.clone(), partition.index),
            Asked { partition: partition.clone(), leader_epoch: state.leader_epoch, fetch_offset: fetch.fetch_offset },
        );
        topics.entry(partition.topic.clone()).or_default().push(fetch);
    }
    let mut request = FetchRequest::default();
    request.replica_id = BrokerId(config.node_id);
    request.max_wait_ms = config.max_wait_ms;
    request.min_bytes = config.min_bytes;
    request.max_bytes = config.response_max_bytes;
    request.isolation_level = 0;
    request.session_id = 0;
    request.session_epoch = -1;
    request.topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let mut topic = FetchTopic::default();
            topic.topic = crate::handlers::topic_name(&name);
            topic.partitions = partitions;
            topic
        })
        .collect();
    (request, asked)
}

/// Applies one partition's answer from the leader of `leader_epoch`.
fn apply_partition_response(
    partition: &Partition,
    leader_epoch: i32,
    data: kafka_protocol::messages::fetch_response::PartitionData,
    append_failures: &AppendFailures,
) -> Result<(), String> {
    if data.error_code != 0 {
        let error = ResponseError::try_from_code(data.error_code);
        if data.error_code == ResponseError::OffsetOutOfRange.code() && data.log_start_offset > partition.log_end_offset() {
            // The leader deleted what this follower still needed: start over at its log start.
            partition.restart_at(data.log_start_offset, leader_epoch).map_err(|e| e.to_string())?;
            partition.set_high_watermark_from_leader(data.high_watermark, leader_epoch);
            return Err(format!("log start moved to {}", data.log_start_offset));
        }
        return Err(format!("{}-{}: {error:?}", partition.topic, partition.index));
    }
    if data.diverging_epoch.epoch >= 0 {
        let local_end = partition
            .with_log(|log| log.end_offset_for_epoch(data.diverging_epoch.epoch).map(|(_, end)| end))
            .map_err(|e| e.to_string())?
            .unwrap_or(data.diverging_epoch.end_offset);
        let target = data.diverging_epoch.end_offset.min(local_end);
        tracing::info!(
            topic = %partition.topic,
            partition = partition.index,
            "log diverges from the leader at epoch {}: truncating to {target}",
            data.diverging_epoch.epoch
        );
        partition.truncate_to(target, leader_epoch).map_err(|e| e.to_string())?;
        return Ok(());
    }
    if let Some(records) = data.records.as_ref().filter(|r| !r.is_empty()) {
        partition.append_as_follower(records, leader_epoch).map_err(|e| {
            if let PartitionError::Append(e) = &e {
                append_failures.report(&partition.topic, partition.index, true, e);
            }
            e.to_string()
        })?;
    }
    partition.set_high_watermark_from_leader(data.high_watermark, leader_epoch);
    if data.log_start_offset > 0 {
        partition.follow_leader_log_start(data.log_start_offset, leader_epoch).map_err(|e| e.to_string())?;
    }
    Ok(())
}
