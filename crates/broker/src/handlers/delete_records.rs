//! DeleteRecords: move partitions' log start offsets up (Kafka's `AdminClient.deleteRecords`,
//! `kafka-delete-records`, Kafka Streams purging its repartition topics).
//!
//! Each partition must be led here; the offset is at most the high watermark (`-1`
//! meaning the high watermark). The leader deletes at once; its followers delete when
//! their next fetch tells them the leader's log start. As Kafka's `DelayedDeleteRecords`,
//! the answer waits, up to the request's `timeout_ms`, until the low watermark (the
//! smallest log start over the replicas on live brokers) reaches the offset, and gives
//! that low watermark; `REQUEST_TIMED_OUT` if it does not get there in time (the
//! records are deleted on the leader all the same).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader};
use spool_metadata::MetadataImage;

use crate::broker::Broker;
use crate::partition::{LowWatermarkWait, Partition, PartitionError};

/// A partition deleted on this leader whose answer waits for the low watermark.
struct Pending {
    topic: usize,
    partition: usize,
    target: Arc<Partition>,
    offset: i64,
}

pub(crate) async fn handle(broker: &Arc<Broker>, _header: &RequestHeader, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut pending = Vec::new();
    for (t, topic) in request.topics.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for (p, requested) in topic.partitions.iter().enumerate() {
            let mut result = DeleteRecordsPartitionResult::default();
            result.partition_index = requested.partition_index;
            result.low_watermark = -1;
            match delete_before(broker, &name, requested.partition_index, requested.offset) {
                Ok((target, offset)) => pending.push(Pending { topic: t, partition: p, target, offset }),
                Err(error) => result.error_code = error.code(),
            }
            partitions.push(result);
        }
        let mut entry = DeleteRecordsTopicResult::default();
        entry.name = topic.name;
        entry.partitions = partitions;
        topics.push(entry);
    }
    let is_live = |image: &Arc<MetadataImage>, id: i32| image.broker(id).is_some() && !image.is_fenced(id);
    for Pending { topic, partition, target, offset } in pending {
        let result = &mut topics[topic].partitions[partition];
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
        match target.wait_for_low_watermark(offset, timeout, broker.metadata.subscribe(), is_live).await {
            Ok(low_watermark) => result.low_watermark = low_watermark,
            Err(LowWatermarkWait::TimedOut { low_watermark }) => {
                result.low_watermark = low_watermark;
                result.error_code = ResponseError::RequestTimedOut.code();
            }
            Err(LowWatermarkWait::Failed(e)) => result.error_code = error_code(e, &target).code(),
        }
    }
    let mut response = DeleteRecordsResponse::default();
    response.topics = topics;
    response
}

/// Deletes one partition's records before `offset` on this leader; the partition and
/// the offset its low watermark must reach (`-1` resolved to the high watermark).
fn delete_before(broker: &Broker, topic: &str, index: i32, offset: i64) -> Result<(Arc<Partition>, i64), ResponseError> {
    let partition = broker.replicas.get(topic, index).ok_or(ResponseError::UnknownTopicOrPartition)?;
    // The log start is checkpointed (and fsynced) before it moves.
    match tokio::task::block_in_place(|| partition.delete_records_as_leader(offset)) {
        Ok(target) => Ok((partition, target)),
        Err(e) => Err(error_code(e, &partition)),
    }
}

fn error_code(error: PartitionError, partition: &Partition) -> ResponseError {
    match error {
        PartitionError::NotLeader { .. } => ResponseError::NotLeaderOrFollower,
        PartitionError::BeyondHighWatermark { .. } => ResponseError::OffsetOutOfRange,
        PartitionError::Deleted => ResponseError::UnknownTopicOrPartition,
        other => {
            tracing::warn!(topic = %partition.topic, partition = partition.index, "DeleteRecords failed: {other}");
            ResponseError::KafkaStorageError
        }
    }
}
