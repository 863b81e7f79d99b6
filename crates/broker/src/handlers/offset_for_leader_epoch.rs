//! OffsetForLeaderEpoch: where a leader epoch ends in this leader's log.
//!
//! Consumers use it after a leader change to check that their position is still on
//! the leader's log (KIP-320); a follower could use it to find where to truncate
//! (Spool's followers get the same answer from Fetch's diverging epoch).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.topic.0.to_string();
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let mut result = EpochEndOffset::default();
                result.partition = p.partition;
                result.leader_epoch = -1;
                result.end_offset = -1;
                match end_offset(broker, &name, p.partition, p.current_leader_epoch, p.leader_epoch) {
                    Ok(Some((epoch, offset))) => {
                        result.leader_epoch = epoch;
                        result.end_offset = offset;
                    }
                    Ok(None) => {}
                    Err(code) => result.error_code = code.code(),
                }
                result
            })
            .collect();
        let mut entry = OffsetForLeaderTopicResult::default();
        entry.topic = topic.topic;
        entry.partitions = partitions;
        topics.push(entry);
    }
    let mut response = OffsetForLeaderEpochResponse::default();
    response.topics = topics;
    response
}

fn end_offset(
    broker: &Broker,
    topic: &str,
    index: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> Result<Option<(i32, i64)>, ResponseError> {
    let partition = broker.replicas.get(topic, index).ok_or(ResponseError::UnknownTopicOrPartition)?;
    partition.leader_state(current_leader_epoch)?;
    partition.with_log(|log| log.end_offset_for_epoch(leader_epoch)).map_err(|_| ResponseError::UnknownTopicOrPartition)
}
