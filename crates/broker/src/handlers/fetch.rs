//! Fetch: return whole batches up to the high watermark, long-polling on `max_wait_ms`
//! until `min_bytes` are available. A waiting fetch is woken by the append that moves
//! a high watermark it reads, not by a timer. A follower is answered up to the log end;
//! one out of sync on a partition under the leader side's replication throttle gets no
//! records while the throttle is exceeded (see [`crate::replication_quota`]).
//!
//! A consumer's fetch (v11 and later) may go to a follower, which serves it up to its
//! own high watermark; with `replica.selector.class` set to Kafka's
//! `RackAwareReplicaSelector`, the leader sends a consumer that names its rack to an
//! in-sync replica on that rack (`preferred_read_replica`, KIP-392).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::select_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, RequestHeader};
use spool_storage::LogSlices;
use tokio::sync::watch;

use super::topic_name;
use crate::broker::{now_ms, Broker};
use crate::client_quotas::throttle_time_ms;
use crate::error::KafkaError;
use crate::partition::{Partition, PartitionError, PartitionState, ReadLimit};
use crate::response::{marker, SPLICE_MIN_BYTES};

/// Upper bound on how long one fetch may wait, whatever the client asks.
const MAX_WAIT_MS_LIMIT: i32 = 60_000;

/// A fetch's answer: the response, whose large record sets are markers standing for
/// `spliced` (see [`crate::response`]).
pub(crate) struct Fetched {
    pub(crate) response: FetchResponse,
    pub(crate) spliced: Vec<LogSlices>,
    /// How long the client is throttled for going over its `consumer_byte_rate`.
    pub(crate) throttle: Duration,
}

/// Serves a Fetch; `principal` is the user of a consumer's quota.
pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, mut request: FetchRequest, principal: &str) -> Fetched {
    let version = header.request_api_version;
    // A follower replicating this broker's partitions names itself (KIP-903 moved the
    // field into `replica_state` in v15).
    let replica_id = if version >= 15 { request.replica_state.replica_id.0 } else { request.replica_id.0 };
    // The broker's `fetch.max.bytes` bounds every fetch, a follower's too, as in Kafka;
    // a request without a limit (max_bytes 0 or less) gets that one. From here on,
    // max_bytes is at least 1.
    let broker_max_bytes = broker.config.fetch_max_bytes().max(1);
    request.max_bytes = if request.max_bytes > 0 { request.max_bytes.min(broker_max_bytes) } else { broker_max_bytes };
    // A consumer's quota, if it has one (followers' fetches never count).
    let quota = if replica_id < 0 { broker.client_quotas.fetch_quota(principal, header.client_id.as_deref().unwrap_or_default()) } else { None };
    if let Some(quota) = &quota {
        // A consumer over its quota gets nothing until its throttle time has passed (as
        // Kafka's throttled response: no partitions); under its quota, it asks for no
        // more than the quota lets through at once.
        let throttle = broker.client_quotas.fetch_throttle(quota, Instant::now());
        if !throttle.is_zero() {
            let mut response = FetchResponse::default();
            response.throttle_time_ms = throttle_time_ms(throttle);
            return Fetched { response, spliced: Vec::new(), throttle };
        }
        let quota_bytes = broker.client_quotas.fetch_max_bytes(quota).clamp(1, i32::MAX as usize) as i32;
        request.max_bytes = request.max_bytes.min(quota_bytes);
    }
    // A fetch waits for no more bytes than it may get (Kafka's `min(min_bytes, max_bytes)`).
    request.min_bytes = request.min_bytes.min(request.max_bytes);
    let wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_LIMIT) as u64);
    let deadline = tokio::time::Instant::now() + wait;
    let read = loop {
        let mut watchers = Vec::new();
        let read = read_once(broker, &request, version, replica_id, &mut watchers);
        let done = read.available_bytes >= request.min_bytes.max(0) as usize
            || read.answer_now
            || watchers.is_empty()
            || tokio::time::Instant::now() >= deadline;
        if done {
            break read;
        }
        let changed = select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            // Deadline reached: answer with whatever is there now.
            break read_once(broker, &request, version, replica_id, &mut Vec::new());
        }
    };
    // What followers of throttled partitions get counts against the leader's
    // throttle, whether or not they are in sync (as Kafka's `sizeOfThrottledPartitions`).
    broker.replicas.leader_quota().record(read.throttled_bytes as u64, Instant::now());
    let mut fetched = read.fetched;
    if let Some(quota) = &quota {
        fetched.throttle = broker.client_quotas.record_fetch(quota, read.bytes, Instant::now());
        fetched.response.throttle_time_ms = throttle_time_ms(fetched.throttle);
    }
    fetched
}

/// One pass over the requested partitions.
struct Read {
    fetched: Fetched,
    /// Record bytes in the answer.
    bytes: usize,
    /// Record bytes the partitions read hold for this fetch, as Kafka's `DelayedFetch`
    /// counts them toward `min_bytes`: what was read, or a partition's whole byte limit
    /// where more was there than that limit let through.
    available_bytes: usize,
    /// Whether a partition answers an error, a divergence or another replica to read
    /// from, so the fetch must not wait.
    answer_now: bool,
    /// Record bytes of partitions under the leader's replication throttle.
    throttled_bytes: usize,
}

/// Reads every requested partition once. Watchers for the partitions read are
/// subscribed before reading, so an append right after the read still wakes the wait.
fn read_once(
    broker: &Arc<Broker>,
    request: &FetchRequest,
    version: i16,
    replica_id: i32,
    watchers: &mut Vec<watch::Receiver<i64>>,
) -> Read {
    let image = broker.image();
    let reader = Reader::of(request, version, replica_id);
    let mut throttled_bytes = 0usize;
    let mut spliced = Vec::new();
    let mut total_bytes = 0usize;
    let mut available_bytes = 0usize;
    let mut answer_now = false;
    let response_max_bytes = if request.max_bytes > 0 { request.max_bytes as usize } else { usize::MAX };
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = if version >= 13 {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for fetch in &topic.partitions {
            let mut data = PartitionData::default();
            data.partition_index = fetch.partition;
            data.high_watermark = -1;
            data.last_stable_offset = -1;
            data.log_start_offset = -1;
            data.preferred_read_replica = BrokerId(-1);
            data.records = Some(Bytes::new());
            if request.isolation_level == 1 {
                data.aborted_transactions = Some(Vec::new());
            }
            let max_bytes = (fetch.partition_max_bytes.max(0) as usize).min(response_max_bytes.saturating_sub(total_bytes));
            let outcome = match &name {
                None => Err((KafkaError::new(ResponseError::UnknownTopicId), -1, -1)),
                Some(name) => read_partition(broker, name, fetch, reader, max_bytes, total_bytes == 0, watchers),
            };
            match outcome {
                Ok(PartitionRead::Diverging { epoch, end_offset, high_watermark, log_start_offset }) => {
                    data.diverging_epoch.epoch = epoch;
                    data.diverging_epoch.end_offset = end_offset;
                    data.high_watermark = high_watermark;
                    data.last_stable_offset = high_watermark;
                    data.log_start_offset = log_start_offset;
                    // The follower must truncate before anything else happens.
                    answer_now = true;
                }
                Ok(PartitionRead::Elsewhere { replica, high_watermark, log_start_offset }) => {
                    data.preferred_read_replica = BrokerId(replica);
                    data.high_watermark = high_watermark;
                    data.last_stable_offset = high_watermark;
                    data.log_start_offset = log_start_offset;
                    answer_now = true;
                }
                Ok(PartitionRead::Records { records, high_watermark, log_start_offset, throttled }) => {
                    if throttled {
                        throttled_bytes += records.len();
                    }
                    // Kafka counts what the partition holds up to its limit, not the
                    // whole batches that fit: a partition with more than its byte limit
                    // lets through is as good as full.
                    available_bytes += if records.at_byte_limit() { max_bytes.max(records.len()) } else { records.len() };
                    data.high_watermark = high_watermark;
                    data.last_stable_offset = high_watermark;
                    data.log_start_offset = log_start_offset;
                    if records.len() >= SPLICE_MIN_BYTES {
                        total_bytes += records.len();
                        data.records = Some(marker(spliced.len()));
                        spliced.push(records);
                    } else {
                        match records.to_bytes() {
                            Ok(bytes) => {
                                total_bytes += bytes.len();
                                data.records = Some(bytes);
                            }
                            Err(e) => {
                                answer_now = true;
                                data.error_code = ResponseError::KafkaStorageError.code();
                                tracing::warn!("fetch of {}-{} failed reading its segment: {e}", name.as_deref().unwrap_or("?"), fetch.partition);
                            }
                        }
                    }
                }
                Err((e, high_watermark, log_start_offset)) => {
                    answer_now = true;
                    data.error_code = e.code();
                    data.high_watermark = high_watermark;
                    data.last_stable_offset = high_watermark;
                    data.log_start_offset = log_start_offset;
                }
            }
            partitions.push(data);
        }
        let mut entry = FetchableTopicResponse::default();
        entry.topic = topic.topic.clone();
        if let Some(name) = &name {
            entry.topic = topic_name(name);
        }
        entry.topic_id = topic.topic_id;
        entry.partitions = partitions;
        topics.push(entry);
    }
    let mut response = FetchResponse::default();
    response.responses = topics;
    Read {
        fetched: Fetched { response, spliced, throttle: Duration::ZERO },
        bytes: total_bytes,
        available_bytes,
        answer_now,
        throttled_bytes,
    }
}

/// Kafka's `RackAwareReplicaSelector` (`replica.selector.class`), on the leader: the
/// replica a consumer on `rack` reading from `offset` should fetch from instead, if any.
/// The leader keeps it if the leader is on that rack or no replica is; else the in-sync
/// follower on that rack holding `offset` with the most records (the lowest id of equals).
fn preferred_read_replica(broker: &Broker, partition: &Partition, state: &PartitionState, offset: i64, rack: &str) -> Option<i32> {
    if rack.is_empty() || state.leader != broker.node_id || !broker.config.rack_aware_replica_selector() {
        return None;
    }
    if broker.config.broker_rack().as_deref() == Some(rack) {
        return None;
    }
    let image = broker.image();
    partition
        .followers_holding(offset)
        .into_iter()
        .filter(|(id, _)| {
            state.isr.contains(id)
                && !image.is_fenced(*id)
                && image.broker(*id).and_then(|b| b.rack.as_deref()) == Some(rack)
        })
        .max_by_key(|(id, log_end)| (*log_end, -id))
        .map(|(id, _)| id)
}

/// What a fetch found in one partition.
enum PartitionRead {
    /// `throttled`: read by a follower of a partition under the leader's replication throttle.
    Records { records: LogSlices, high_watermark: i64, log_start_offset: i64, throttled: bool },
    /// A follower's log diverges from the leader's after `end_offset` of `epoch` (KIP-320).
    Diverging { epoch: i32, end_offset: i64, high_watermark: i64, log_start_offset: i64 },
    /// The consumer should read from `replica`, on its rack (KIP-392).
    Elsewhere { replica: i32, high_watermark: i64, log_start_offset: i64 },
}

/// Who fetches: a follower (its broker id) or a consumer, with the consumer's rack.
#[derive(Clone, Copy)]
enum Reader<'a> {
    Follower(i32),
    /// `rack`: the consumer's `client.rack`, empty when it names none. `any_replica`: the
    /// request may be served by a follower (Fetch v11 and later, as in Kafka).
    Consumer { rack: &'a str, any_replica: bool },
}

impl<'a> Reader<'a> {
    fn of(request: &'a FetchRequest, version: i16, replica_id: i32) -> Reader<'a> {
        if replica_id >= 0 {
            Reader::Follower(replica_id)
        } else {
            Reader::Consumer { rack: request.rack_id.as_str(), any_replica: version >= 11 }
        }
    }
}

type PartitionFetchError = (KafkaError, i64, i64);

fn read_partition(
    broker: &Arc<Broker>,
    topic: &str,
    fetch: &kafka_protocol::messages::fetch_request::FetchPartition,
    reader: Reader<'_>,
    max_bytes: usize,
    min_one_batch: bool,
    watchers: &mut Vec<watch::Receiver<i64>>,
) -> Result<PartitionRead, PartitionFetchError> {
    let index = fetch.partition;
    let Some(partition) = broker.replicas.get(topic, index) else {
        return Err((KafkaError::new(ResponseError::UnknownTopicOrPartition), -1, -1));
    };
    let state = match reader {
        Reader::Consumer { any_replica: true, .. } => partition.replica_state(fetch.current_leader_epoch),
        _ => partition.leader_state(fetch.current_leader_epoch),
    }
    .map_err(|code| (KafkaError::new(code), -1, -1))?;
    let mut throttled = false;
    let mut held_back = false;
    let limit = if let Reader::Follower(replica_id) = reader {
        if !state.replicas.contains(&replica_id) {
            return Err((KafkaError::new(ResponseError::NotLeaderOrFollower), -1, -1));
        }
        if fetch.last_fetched_epoch >= 0 {
            let found = partition
                .with_log(|log| log.end_offset_for_epoch(fetch.last_fetched_epoch))
                .map_err(|e| (KafkaError::with_message(ResponseError::KafkaStorageError, e.to_string()), -1, -1))?;
            if let Some((epoch, end_offset)) = found {
                if epoch < fetch.last_fetched_epoch || end_offset < fetch.fetch_offset {
                    let log_start_offset = partition.with_log(|log| log.log_start_offset()).unwrap_or(-1);
                    return Ok(PartitionRead::Diverging {
                        epoch,
                        end_offset,
                        high_watermark: partition.high_watermark(),
                        log_start_offset,
                    });
                }
            }
        }
        if partition.record_follower_fetch(replica_id, fetch.fetch_offset, fetch.log_start_offset, now_ms()) {
            broker.expand_isr(partition.clone(), replica_id);
        }
        // An out-of-sync follower of a throttled partition gets no records while the
        // throttle is exceeded (Kafka's `shouldLeaderThrottle`).
        let quota = broker.replicas.leader_quota();
        throttled = quota.is_throttled(topic, index);
        held_back = throttled && !state.isr.contains(&replica_id) && quota.is_exceeded(Instant::now());
        watchers.push(partition.subscribe_log_end());
        ReadLimit::LogEnd
    } else {
        if let Reader::Consumer { rack, any_replica: true } = reader {
            if let Some(replica) = preferred_read_replica(broker, &partition, &state, fetch.fetch_offset, rack) {
                let log_start_offset = partition.with_log(|log| log.log_start_offset()).unwrap_or(-1);
                return Ok(PartitionRead::Elsewhere { replica, high_watermark: partition.high_watermark(), log_start_offset });
            }
        }
        watchers.push(partition.subscribe());
        ReadLimit::HighWatermark
    };
    match partition.read(fetch.fetch_offset, max_bytes, min_one_batch, limit) {
        Ok(read) => Ok(PartitionRead::Records {
            records: if held_back { LogSlices::default() } else { read.records },
            high_watermark: read.high_watermark,
            log_start_offset: read.log_start_offset,
            throttled,
        }),
        Err(PartitionError::Read(e)) => {
            let high_watermark = partition.high_watermark();
            let log_start = partition.with_log(|log| log.log_start_offset()).unwrap_or(-1);
            Err((KafkaError::from(&e), high_watermark, log_start))
        }
        Err(PartitionError::Deleted) => Err((KafkaError::new(ResponseError::UnknownTopicOrPartition), -1, -1)),
        Err(e) => Err((KafkaError::with_message(ResponseError::KafkaStorageError, e.to_string()), -1, -1)),
    }
}
