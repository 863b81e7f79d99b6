//! ListOffsets: earliest (-2), latest (-1), the record with the largest timestamp (-3,
//! KIP-734), earliest local (-4, the same as earliest without tiered storage) or the
//! first offset at/after a timestamp.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};

use super::topic_name;
use crate::broker::Broker;
use crate::error::KafkaError;

const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: ListOffsetsRequest) -> ListOffsetsResponse {
    // The leader epoch is part of the response from v4 on.
    let with_epoch = header.request_api_version >= 4;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let mut result = ListOffsetsPartitionResponse::default();
                result.partition_index = p.partition_index;
                result.timestamp = -1;
                result.offset = -1;
                result.leader_epoch = -1;
                match lookup(broker, &name, p.partition_index, p.current_leader_epoch, p.timestamp) {
                    Ok((offset, timestamp, leader_epoch)) => {
                        result.offset = offset;
                        result.timestamp = timestamp;
                        if with_epoch {
                            result.leader_epoch = leader_epoch;
                        }
                    }
                    Err(e) => result.error_code = e.code(),
                }
                result
            })
            .collect();
        let mut entry = ListOffsetsTopicResponse::default();
        entry.name = topic_name(&name);
        entry.partitions = partitions;
        topics.push(entry);
    }
    let mut response = ListOffsetsResponse::default();
    response.topics = topics;
    response
}

/// Returns (offset, timestamp, leader epoch) for one partition.
fn lookup(
    broker: &Broker,
    topic: &str,
    index: i32,
    current_leader_epoch: i32,
    timestamp: i64,
) -> Result<(i64, i64, i32), KafkaError> {
    let partition = broker
        .replicas
        .get(topic, index)
        .ok_or_else(|| KafkaError::new(ResponseError::UnknownTopicOrPartition))?;
    let state = partition.leader_state(current_leader_epoch).map_err(KafkaError::new)?;
    let high_watermark = partition.high_watermark();
    let storage_error = |e: String| KafkaError::with_message(ResponseError::KafkaStorageError, e);
    match timestamp {
        LATEST_TIMESTAMP => Ok((high_watermark, -1, state.leader_epoch)),
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => {
            let start = partition.with_log(|log| log.log_start_offset()).map_err(|e| storage_error(e.to_string()))?;
            Ok((start, -1, state.leader_epoch))
        }
        MAX_TIMESTAMP => {
            let found = partition
                .with_log(|log| log.max_timestamp_and_offset())
                .map_err(|e| storage_error(e.to_string()))?
                .map_err(|e| storage_error(e.to_string()))?;
            match found {
                Some((ts, offset)) if offset < high_watermark => {
                    let epoch = partition.with_log(|log| log.epoch_for_offset(offset)).ok().flatten();
                    Ok((offset, ts, epoch.unwrap_or(state.leader_epoch)))
                }
                _ => Ok((-1, -1, state.leader_epoch)),
            }
        }
        t if t < 0 => Err(KafkaError::with_message(
            ResponseError::UnsupportedVersion,
            format!("special timestamp {t} is not supported"),
        )),
        t => {
            let found = partition
                .with_log(|log| log.offset_for_timestamp(t))
                .map_err(|e| storage_error(e.to_string()))?
                .map_err(|e| storage_error(e.to_string()))?;
            match found {
                // Never point a consumer above the high watermark.
                Some((offset, ts)) if offset < high_watermark => {
                    let epoch = partition.with_log(|log| log.epoch_for_offset(offset)).ok().flatten();
                    Ok((offset, ts, epoch.unwrap_or(state.leader_epoch)))
                }
                _ => Ok((-1, -1, state.leader_epoch)),
            }
        }
    }
}
