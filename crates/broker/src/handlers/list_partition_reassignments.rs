//! ListPartitionReassignments: the reassignments in progress
//! (`kafka-reassign-partitions --list/--verify/--execute`,
//! `AdminClient.listPartitionReassignments`).
//!
//! As in Kafka, the active controller answers (any broker forwards the request), so a
//! broker whose metadata trails the controller's (one that was paused, say) never
//! reports a reassignment that already completed or was cancelled. A null topic list
//! means every partition being reassigned; named topics that do not exist and
//! partitions not being reassigned are left out.

use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{OngoingPartitionReassignment, OngoingTopicReassignment};
use kafka_protocol::messages::{BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, RequestHeader};
use spool_metadata::controller::{ControllerReply, ControllerRequest};

use super::{message, submit_expecting, topic_name};
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let topics = request.topics.map(|topics| topics.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    let mut response = ListPartitionReassignmentsResponse::default();
    let request = ControllerRequest::ListPartitionReassignments { topics };
    let replied = submit_expecting(broker, request, |reply| match reply {
        ControllerReply::OngoingReassignments(ongoing) => Ok(ongoing),
        other => Err(other),
    });
    let ongoing = match replied.await {
        Ok(ongoing) => ongoing,
        Err(e) => {
            response.error_code = e.code();
            response.error_message = message(e.message);
            return response;
        }
    };
    let ids = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect();
    for reassignment in ongoing {
        let mut entry = OngoingPartitionReassignment::default();
        entry.partition_index = reassignment.partition;
        entry.replicas = ids(&reassignment.replicas);
        entry.adding_replicas = ids(&reassignment.adding);
        entry.removing_replicas = ids(&reassignment.removing);
        match response.topics.iter_mut().find(|t| t.name.0.as_str() == reassignment.topic) {
            Some(topic) => topic.partitions.push(entry),
            None => {
                let mut topic = OngoingTopicReassignment::default();
                topic.name = topic_name(&reassignment.topic);
                topic.partitions = vec![entry];
                response.topics.push(topic);
            }
        }
    }
    response
}
