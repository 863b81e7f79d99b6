//! ElectLeaders: preferred leader election (`kafka-leader-election --election-type
//! PREFERRED`, `AdminClient.electLeaders`).
//!
//! The active controller makes each partition's preferred replica (the first of its
//! assignment) its leader where that replica is live and in sync; see
//! [`spool_metadata::controller::elect_preferred_leaders`]. A null partition list means
//! every partition, and then, as in Kafka, the answer leaves out the partitions whose
//! preferred replica already led. Unclean election (type 1) is refused: Spool never
//! makes an out-of-sync replica leader, as that loses acknowledged records.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, RequestHeader};
use spool_metadata::controller::{ControllerReply, ControllerRequest, Election};

use super::{message, submit_expecting, topic_name};
use crate::broker::Broker;
use crate::error::KafkaError;

/// `ElectionType.PREFERRED`; `UNCLEAN` is 1.
const PREFERRED: i8 = 0;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: ElectLeadersRequest) -> ElectLeadersResponse {
    let asked: Option<Vec<(String, i32)>> = request.topic_partitions.as_ref().map(|topics| {
        topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.to_string(), *p))).collect()
    });
    let outcome = if request.election_type != PREFERRED {
        Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            "unclean leader election is not supported: Spool only elects in-sync replicas, which hold every acknowledged record",
        ))
    } else {
        let request = ControllerRequest::ElectPreferredLeaders { partitions: asked.clone() };
        submit_expecting(broker, request, |reply| match reply {
            ControllerReply::Elections(elections) => Ok(elections),
            other => Err(other),
        })
        .await
    };
    let mut response = ElectLeadersResponse::default();
    match outcome {
        Ok(elections) => {
            response.replica_election_results =
                group_by_topic(elections.into_iter().map(|(topic, partition, election)| (topic, partition, code(election), None)));
        }
        // Versions from 1 carry a top-level error; v0 only has the partitions' errors.
        Err(e) if header.request_api_version >= 1 => {
            response.error_code = e.code();
        }
        Err(e) => {
            let partitions = asked.unwrap_or_default();
            response.replica_election_results =
                group_by_topic(partitions.into_iter().map(|(topic, partition)| (topic, partition, e.code(), e.message.clone())));
        }
    }
    response
}

fn code(election: Election) -> i16 {
    match election {
        Election::Elected => 0,
        Election::NotNeeded => ResponseError::ElectionNotNeeded.code(),
        Election::PreferredNotAvailable => ResponseError::PreferredLeaderNotAvailable.code(),
        Election::UnknownPartition => ResponseError::UnknownTopicOrPartition.code(),
    }
}

/// The per-partition results, one entry per topic in first-seen order.
fn group_by_topic(results: impl Iterator<Item = (String, i32, i16, Option<String>)>) -> Vec<ReplicaElectionResult> {
    let mut topics: Vec<ReplicaElectionResult> = Vec::new();
    for (topic, partition, error_code, error_message) in results {
        let mut result = PartitionResult::default();
        result.partition_id = partition;
        result.error_code = error_code;
        result.error_message = message(error_message);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
            Some(entry) => entry.partition_result.push(result),
            None => {
                let mut entry = ReplicaElectionResult::default();
                entry.topic = topic_name(&topic);
                entry.partition_result = vec![result];
                topics.push(entry);
            }
        }
    }
    topics
}
