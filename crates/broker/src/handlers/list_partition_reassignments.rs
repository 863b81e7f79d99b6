//! ListPartitionReassignments: the reassignments in progress
//! (`kafka-reassign-partitions --list/--verify`, `AdminClient.listPartitionReassignments`).
//!
//! Answered from this broker's metadata image, which trails the controller's by the
//! time a committed change takes to reach it. As in Kafka, a null topic list means
//! every partition being reassigned; named topics that do not exist and partitions not
//! being reassigned are left out.

use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{OngoingPartitionReassignment, OngoingTopicReassignment};
use kafka_protocol::messages::{BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, RequestHeader};
use spool_metadata::records::PartitionRecord;

use super::topic_name;
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let image = broker.image();
    let asked: Vec<(String, Option<Vec<i32>>)> = match &request.topics {
        Some(topics) => topics.iter().map(|t| (t.name.0.to_string(), Some(t.partition_indexes.clone()))).collect(),
        None => image.topics().map(|t| (t.name.clone(), None)).collect(),
    };
    let mut response = ListPartitionReassignmentsResponse::default();
    for (name, indexes) in asked {
        let Some(topic) = image.topic(&name) else { continue };
        let ongoing: Vec<OngoingPartitionReassignment> = match indexes {
            Some(indexes) => indexes.iter().filter_map(|i| topic.partitions.get(i)).filter_map(ongoing).collect(),
            None => topic.partitions.values().filter_map(ongoing).collect(),
        };
        if !ongoing.is_empty() {
            let mut entry = OngoingTopicReassignment::default();
            entry.name = topic_name(&name);
            entry.partitions = ongoing;
            response.topics.push(entry);
        }
    }
    response
}

fn ongoing(partition: &PartitionRecord) -> Option<OngoingPartitionReassignment> {
    if !partition.is_reassigning() {
        return None;
    }
    let ids = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect();
    let mut entry = OngoingPartitionReassignment::default();
    entry.partition_index = partition.partition;
    entry.replicas = ids(&partition.replicas);
    entry.adding_replicas = ids(&partition.adding_replicas);
    entry.removing_replicas = ids(&partition.removing_replicas);
    Some(entry)
}
