//! DeleteRecords: move partitions' log start offsets up (Kafka's `AdminClient.deleteRecords`,
//! `kafka-delete-records`, Kafka Streams purging its repartition topics).
//!
//! Each partition must be led here; the offset is at most the high watermark (`-1`
//! meaning the high watermark). The answer's low watermark is this leader's new log
//! start offset: followers follow it at their next fetch (Kafka waits for them first).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader};

use crate::broker::Broker;
use crate::partition::PartitionError;

pub(crate) async fn handle(broker: &Arc<Broker>, _header: &RequestHeader, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let mut result = DeleteRecordsPartitionResult::default();
            result.partition_index = p.partition_index;
            result.low_watermark = -1;
            match delete_before(broker, &name, p.partition_index, p.offset) {
                Ok(low_watermark) => result.low_watermark = low_watermark,
                Err(error) => result.error_code = error.code(),
            }
            partitions.push(result);
        }
        let mut entry = DeleteRecordsTopicResult::default();
        entry.name = topic.name;
        entry.partitions = partitions;
        topics.push(entry);
    }
    let mut response = DeleteRecordsResponse::default();
    response.topics = topics;
    response
}

/// Deletes one partition's records before `offset`; its new log start offset.
fn delete_before(broker: &Broker, topic: &str, index: i32, offset: i64) -> Result<i64, ResponseError> {
    let partition = broker.replicas.get(topic, index).ok_or(ResponseError::UnknownTopicOrPartition)?;
    // The log start is checkpointed (and fsynced) before it moves.
    tokio::task::block_in_place(|| partition.delete_records_as_leader(offset)).map_err(|e| match e {
        PartitionError::NotLeader { .. } => ResponseError::NotLeaderOrFollower,
        PartitionError::BeyondHighWatermark { .. } => ResponseError::OffsetOutOfRange,
        PartitionError::Deleted => ResponseError::UnknownTopicOrPartition,
        other => {
            tracing::warn!(topic, partition = index, "DeleteRecords failed: {other}");
            ResponseError::KafkaStorageError
        }
    })
}
