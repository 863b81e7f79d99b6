//! Produce: validate batches, append them as leader, and answer per `acks`.
//!
//! `acks=0` and `acks=1` answer once the batches are in the log (the connection sends
//! nothing for `acks=0`); `acks=-1` (all) waits until the high watermark passes the
//! last appended offset, bounded by the request's `timeout_ms`, and answers
//! `NOT_LEADER_OR_FOLLOWER` if leadership moves first (the records may be truncated).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use spool_metadata::config::TimestampType;
use spool_protocol::batch::{set_log_append_time, validate_record_set};
use spool_protocol::record::find_record_without_key;

use super::{message, topic_name};
use crate::broker::{now_ms, Broker};
use crate::client_quotas::throttle_time_ms;
use crate::error::KafkaError;
use crate::partition::{CommitWait, Partition, PartitionError};

/// A successful append waiting, for `acks=all`, on the high watermark.
struct Pending {
    topic: usize,
    partition: usize,
    target: Arc<Partition>,
    next_offset: i64,
    /// The leader epoch the batches were appended in.
    leader_epoch: i32,
}

/// Kafka's internal topics (`Topic.INTERNAL_TOPICS`): only the broker writes them.
const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

/// The client id of Kafka's own admin tooling, which alone may write internal topics
/// (`AdminUtils.ADMIN_CLIENT_ID`; `KafkaApis` passes `internalTopicsAllowed` for it).
const ADMIN_CLIENT_ID: &str = "__admin_client";

/// A Produce request whose batches are in the log. For `acks=all` its response waits
/// on the high watermark ([`Produced::complete`]); the connection meanwhile goes on with
/// the requests behind it, so one producer keeps several batches in replication.
pub(crate) struct Produced {
    response: ProduceResponse,
    waiting: Vec<Pending>,
    /// The request's `timeout_ms` from when its batches were appended: one bound for
    /// all its partitions together, as Kafka's `DelayedProduce` has.
    deadline: tokio::time::Instant,
}

impl Produced {
    /// Tells the client it is throttled for `throttle` (client quotas).
    pub(crate) fn set_throttle_time(&mut self, throttle: Duration) {
        self.response.throttle_time_ms = throttle_time_ms(throttle);
    }

    /// True when the response is final: nothing waits on replication.
    pub(crate) fn is_complete(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Waits, bounded by the request's `timeout_ms`, until every appended partition's
    /// high watermark covers its batches, and returns the response.
    pub(crate) async fn complete(self) -> ProduceResponse {
        let Produced { mut response, waiting, deadline } = self;
        for waiting in waiting {
            let result = &mut response.responses[waiting.topic].partition_responses[waiting.partition];
            let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
            match waiting.target.wait_for_commit(waiting.next_offset, waiting.leader_epoch, timeout).await {
                Ok(()) => {}
                Err(CommitWait::TimedOut) => {
                    result.error_code = ResponseError::RequestTimedOut.code();
                    result.error_message = message(Some("timed out waiting for in-sync replicas".into()));
                    continue;
                }
                Err(CommitWait::LeadershipLost) => {
                    result.error_code = ResponseError::NotLeaderOrFollower.code();
                    result.error_message =
                        message(Some("leadership moved before the records were replicated; retry on the new leader".into()));
                    continue;
                }
            }
            // The ISR may have shrunk below min.insync.replicas while the batch waited:
            // it is then committed by fewer replicas than the producer asked for.
            let isr = waiting.target.state().isr.len() as i32;
            let min_isr = waiting.target.config().min_insync_replicas;
            if isr < min_isr {
                result.error_code = ResponseError::NotEnoughReplicasAfterAppend.code();
                result.error_message = message(Some(format!(
                    "written, but the ISR shrank to {isr}, below min.insync.replicas={min_isr}"
                )));
            }
        }
        response
    }
}

/// Appends every partition's batches, in request order, before anything waits.
pub(crate) fn append_all(broker: &Arc<Broker>, header: &RequestHeader, request: ProduceRequest) -> Produced {
    let acks = request.acks;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
    let internal_topics_allowed = header.client_id.as_deref() == Some(ADMIN_CLIENT_ID);
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut waiting = Vec::new();
    for (t, topic) in request.topic_data.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for (p, data) in topic.partition_data.into_iter().enumerate() {
            let mut result = PartitionProduceResponse::default();
            result.index = data.index;
            result.base_offset = -1;
            result.log_append_time_ms = -1;
            result.log_start_offset = -1;
            let appended = if !internal_topics_allowed && INTERNAL_TOPICS.contains(&name.as_str()) {
                // As Kafka's ReplicaManager: INVALID_TOPIC_EXCEPTION, without a custom message.
                Err(KafkaError::new(ResponseError::InvalidTopicException))
            } else {
                append(broker, &name, data.index, data.records, acks)
            };
            match appended {
                Ok(Appended { partition, leader_epoch, first_offset, last_offset, log_start_offset, log_append_time_ms }) => {
                    result.base_offset = first_offset;
                    result.log_append_time_ms = log_append_time_ms;
                    result.log_start_offset = log_start_offset;
                    if acks == -1 {
                        waiting.push(Pending {
                            topic: t,
                            partition: p,
                            target: partition,
                            next_offset: last_offset + 1,
                            leader_epoch,
                        });
                    }
                }
                Err(e) => {
                    result.error_code = e.code();
                    result.error_message = message(e.message);
                }
            }
            partitions.push(result);
        }
        let mut entry = TopicProduceResponse::default();
        entry.name = topic_name(&name);
        entry.topic_id = topic.topic_id;
        entry.partition_responses = partitions;
        responses.push(entry);
    }
    let mut response = ProduceResponse::default();
    response.responses = responses;
    Produced { response, waiting, deadline }
}

/// Where one partition's records landed.
struct Appended {
    partition: Arc<Partition>,
    leader_epoch: i32,
    first_offset: i64,
    last_offset: i64,
    log_start_offset: i64,
    /// The broker's append time for `LogAppendTime` topics, else -1.
    log_append_time_ms: i64,
}

/// Validates and appends one partition's record set.
fn append(broker: &Broker, topic: &str, index: i32, records: Option<Bytes>, acks: i16) -> Result<Appended, KafkaError> {
    if !(-1..=1).contains(&acks) {
        return Err(KafkaError::with_message(ResponseError::InvalidRequiredAcks, format!("acks={acks} is not -1, 0 or 1")));
    }
    let partition = broker.replicas.get(topic, index).ok_or_else(|| {
        KafkaError::with_message(ResponseError::UnknownTopicOrPartition, format!("{topic}-{index} does not exist"))
    })?;
    let state = partition.state();
    if state.leader != broker.node_id {
        return Err(KafkaError::new(ResponseError::NotLeaderOrFollower));
    }
    let config = partition.config();
    if acks == -1 && (state.isr.len() as i32) < config.min_insync_replicas {
        return Err(KafkaError::with_message(
            ResponseError::NotEnoughReplicas,
            format!(
                "{topic}-{index} has {} in-sync replica(s), fewer than min.insync.replicas={}",
                state.isr.len(),
                config.min_insync_replicas
            ),
        ));
    }
    let records = records.ok_or_else(|| KafkaError::with_message(ResponseError::CorruptMessage, "null record set"))?;
    let max_batch_bytes = config.max_message_bytes.max(0) as usize;
    let headers = validate_record_set(&records, max_batch_bytes).map_err(|e| KafkaError::from(&e))?;
    if config.compact_enabled() {
        // Kafka's LogValidator: the one check that decompresses records, for compacted topics only.
        match find_record_without_key(&records, &headers) {
            Ok(None) => {}
            Ok(Some(_)) => {
                let text = format!("Compacted topic cannot accept message without key in topic partition {topic}-{index}.");
                return Err(KafkaError::with_message(ResponseError::InvalidRecord, text));
            }
            Err(e) => return Err(KafkaError::with_message(ResponseError::CorruptMessage, e.to_string())),
        }
    }
    // The log writes the batches with the offsets it assigns from the request's bytes as
    // they are. Only log-append time changes what the CRC covers: then the batches are
    // copied and stamped first.
    let now = now_ms();
    let mut log_append_time_ms = -1;
    let mut stamped = None;
    if config.message_timestamp_type == TimestampType::LogAppendTime {
        log_append_time_ms = now;
        let mut owned = BytesMut::from(&records[..]);
        let mut position = 0;
        for header in &headers {
            set_log_append_time(&mut owned[position..position + header.size()], now);
            position += header.size();
        }
        stamped = Some(owned);
    }
    let records: &[u8] = stamped.as_deref().unwrap_or(&records);
    // An append is a write to the page cache: cheaper inline than a hand-off to another
    // thread. Only a topic that fsyncs every append moves the worker's other tasks
    // elsewhere while it waits for the disk.
    let append = || partition.append_as_leader(records, now);
    let appended = if config.flush_messages <= 1 { tokio::task::block_in_place(append) } else { append() };
    let (info, leader_epoch) = appended.map_err(|e| match e {
        PartitionError::Append(e) => {
            broker.replicas.report_append_failure(topic, index, &e);
            KafkaError::from(&e)
        }
        PartitionError::Deleted => KafkaError::new(ResponseError::UnknownTopicOrPartition),
        PartitionError::NotLeader { .. } => KafkaError::new(ResponseError::NotLeaderOrFollower),
        other => KafkaError::with_message(ResponseError::KafkaStorageError, other.to_string()),
    })?;
    Ok(Appended {
        partition,
        leader_epoch,
        first_offset: info.first_offset,
        last_offset: info.last_offset,
        log_start_offset: info.log_start_offset,
        log_append_time_ms,
    })
}
