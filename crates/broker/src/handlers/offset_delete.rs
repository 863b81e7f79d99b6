//! OffsetDelete: remove committed offsets of a group (not of topics an active
//! consumer group consumes).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader};
use spool_group::OffsetDeleteResult;

use super::topic_name;
use crate::broker::Broker;
use crate::group_coordinator::code;

pub(crate) async fn handle(broker: &Arc<Broker>, _header: &RequestHeader, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let image = broker.image();
    let group_id = request.group_id.0.to_string();
    let mut known: Vec<(String, Vec<i32>)> = Vec::new();
    let mut unknown: Vec<(String, i32)> = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let partitions = topic.partitions.iter().map(|p| p.partition_index);
        match image.topic(&name) {
            Some(t) => {
                let (ok, missing): (Vec<i32>, Vec<i32>) = partitions.partition(|p| t.partitions.contains_key(p));
                unknown.extend(missing.into_iter().map(|p| (name.clone(), p)));
                known.push((name, ok));
            }
            None => unknown.extend(partitions.map(|p| (name.clone(), p))),
        }
    }
    let result = broker
        .groups
        .run(broker, &group_id, |shard, _| shard.offset_delete(&group_id, &known))
        .await
        .unwrap_or_else(|e| OffsetDeleteResult { error: Some(e.group_error()), topics: Vec::new() });

    let mut response = OffsetDeleteResponse::default();
    response.error_code = code(result.error);
    if result.error.is_some() {
        return response;
    }
    let mut topics: Vec<(String, Vec<(i32, i16)>)> =
        result.topics.into_iter().map(|(t, ps)| (t, ps.into_iter().map(|(p, e)| (p, code(e))).collect())).collect();
    for (name, partition) in unknown {
        let error = ResponseError::UnknownTopicOrPartition.code();
        match topics.iter_mut().find(|(t, _)| *t == name) {
            Some((_, ps)) => ps.push((partition, error)),
            None => topics.push((name, vec![(partition, error)])),
        }
    }
    response.topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let mut topic = OffsetDeleteResponseTopic::default();
            topic.name = topic_name(&name);
            topic.partitions = partitions
                .into_iter()
                .map(|(index, error)| {
                    let mut p = OffsetDeleteResponsePartition::default();
                    p.partition_index = index;
                    p.error_code = error;
                    p
                })
                .collect();
            topic
        })
        .collect();
    response
}
