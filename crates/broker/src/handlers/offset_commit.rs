//! OffsetCommit: store a group's consumed positions. Partitions the cluster does not
//! have are refused (`UNKNOWN_TOPIC_OR_PARTITION`) before the coordinator sees them.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, RequestHeader};
use spool_group::{GroupError, OffsetCommit, PartitionCommit};

use super::topic_name;
use crate::broker::Broker;
use crate::group_coordinator::code;

/// Per topic, each requested partition with its error code; `None` until known.
type Answers = Vec<(String, Vec<(i32, Option<i16>)>)>;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let version = header.request_api_version;
    let image = broker.image();
    let group_id = request.group_id.0.to_string();
    // Per topic, each requested partition with its error, in request order; `None`
    // marks the partitions handed to the coordinator.
    let mut answers: Answers = Vec::with_capacity(request.topics.len());
    let mut commit = OffsetCommit {
        group_id: group_id.clone(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.filter(|_| version >= 7).map(|s| s.to_string()),
        retention_time_ms: if (2..=4).contains(&version) { request.retention_time_ms } else { -1 },
        api_version: version,
        topics: Vec::new(),
    };
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let known = image.topic(&name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        let mut accepted = Vec::new();
        for p in topic.partitions {
            if known.is_some_and(|t| t.partitions.contains_key(&p.partition_index)) {
                partitions.push((p.partition_index, None));
                accepted.push(PartitionCommit {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.map(|m| m.to_string()),
                });
            } else {
                partitions.push((p.partition_index, Some(ResponseError::UnknownTopicOrPartition.code())));
            }
        }
        if !accepted.is_empty() {
            commit.topics.push((name.clone(), accepted));
        }
        answers.push((name, partitions));
    }

    if !commit.topics.is_empty() {
        let outcome = broker.groups.run(broker, &group_id, |shard, now| shard.offset_commit(&commit, now)).await;
        let mut errors = std::collections::HashMap::new();
        match outcome {
            Ok(result) => {
                for (topic, partitions) in result.topics {
                    for (partition, error) in partitions {
                        errors.insert((topic.clone(), partition), code(error));
                    }
                }
            }
            Err(e) => {
                let error = code(Some(e.offset_error()));
                for (topic, partitions) in &commit.topics {
                    for p in partitions {
                        errors.insert((topic.clone(), p.partition), error);
                    }
                }
            }
        }
        for (topic, partitions) in &mut answers {
            for (partition, error) in partitions.iter_mut().filter(|(_, e)| e.is_none()) {
                *error = Some(errors.get(&(topic.clone(), *partition)).copied().unwrap_or(code(Some(GroupError::UnknownServerError))));
            }
        }
    }

    let mut response = OffsetCommitResponse::default();
    response.topics = answers
        .into_iter()
        .map(|(name, partitions)| {
            let mut topic = OffsetCommitResponseTopic::default();
            topic.name = topic_name(&name);
            topic.partitions = partitions
                .into_iter()
                .map(|(index, error)| {
                    let mut partition = OffsetCommitResponsePartition::default();
                    partition.partition_index = index;
                    partition.error_code = error.unwrap_or(0);
                    partition
                })
                .collect();
            topic
        })
        .collect();
    response
}
