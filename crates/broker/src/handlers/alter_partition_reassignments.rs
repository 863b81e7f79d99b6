//! AlterPartitionReassignments: moving partition replicas between brokers
//! (`kafka-reassign-partitions --execute/--cancel`,
//! `AdminClient.alterPartitionReassignments`).
//!
//! Any broker forwards the request to the active controller, which starts, replaces or
//! cancels (null replicas) each partition's reassignment; see
//! [`spool_metadata::controller::alter_partition_reassignment`]. Each partition gets its
//! own error code: one refused does not stop the others. The brokers carry the
//! reassignment out as the metadata changes reach them: new replicas open the partition
//! and fetch from its leader, removed ones delete their copies once it completes.

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{ReassignablePartitionResponse, ReassignableTopicResponse};
use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, RequestHeader};
use spool_metadata::controller::{ControllerReply, ControllerRequest};

use super::{message, submit_expecting, topic_name};
use crate::broker::Broker;
use crate::error::KafkaError;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let partitions: Vec<(String, i32, Option<Vec<i32>>)> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|p| {
                let target = p.replicas.as_ref().map(|replicas| replicas.iter().map(|b| b.0).collect());
                (topic.name.0.to_string(), p.partition_index, target)
            })
        })
        .collect();
    let mut response = AlterPartitionReassignmentsResponse::default();
    let request = ControllerRequest::AlterPartitionReassignments { partitions };
    let replied = submit_expecting(broker, request, |reply| match reply {
        ControllerReply::Reassignments(outcomes) => Ok(outcomes),
        other => Err(other),
    });
    let outcomes = match replied.await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            response.error_code = e.code();
            response.error_message = message(e.message);
            return response;
        }
    };
    for (topic, partition, outcome) in outcomes {
        let mut result = ReassignablePartitionResponse::default();
        result.partition_index = partition;
        if let Err(e) = outcome {
            let e = KafkaError::from(e);
            result.error_code = e.code();
            result.error_message = message(e.message);
        }
        match response.responses.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(entry) => entry.partitions.push(result),
            None => {
                let mut entry = ReassignableTopicResponse::default();
                entry.name = topic_name(&topic);
                entry.partitions = vec![result];
                response.responses.push(entry);
            }
        }
    }
    response
}
