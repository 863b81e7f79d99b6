//! DescribeQuorum (API key 55): the metadata quorum as KRaft reports it, for
//! `kafka-metadata-quorum describe` and `spool cluster`.
//!
//! The quorum's log is `__cluster_metadata` partition 0. Raft index `i` is offset `i`,
//! so, in Kafka's terms, a replica's log end offset is its last (matched) index + 1 and
//! the high watermark is the committed index + 1 (the offset of the first uncommitted
//! entry); the leader epoch is the Raft term.
//!
//! As in Kafka's `KafkaRaftClient`, only the quorum leader answers: any other node
//! answers `NOT_LEADER_OR_FOLLOWER` at the partition level (clients then ask another
//! node), and a request for any other partition gets `UNKNOWN_TOPIC_OR_PARTITION` for
//! each partition it named.
//!
//! Timestamps (v1+): the leader reports itself as fetched and caught up now, as Kafka
//! does; openraft 0.9 does not tell when another member last fetched or was last caught
//! up, so those are -1 ("unknown" in Kafka's protocol). Directory ids (v2) are the zero
//! uuid: Spool's quorum members have none.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_quorum::{QuorumRole, QuorumStatus};

use crate::broker::{now_ms, Broker};
use crate::handlers::topic_name;

/// The topic of the metadata log, as KRaft names it.
const METADATA_TOPIC: &str = "__cluster_metadata";

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    if !names_only_the_metadata_partition(&request) {
        return unknown_partitions(&request);
    }
    match broker.metadata.status().await {
        Some(status) if status.role == QuorumRole::Leader => {
            leader_response(broker, &status, header.request_api_version, now_ms())
        }
        _ => not_leader(),
    }
}

/// Whether the request asks for exactly `__cluster_metadata` partition 0, the only
/// partition Kafka's Raft client answers for.
fn names_only_the_metadata_partition(request: &DescribeQuorumRequest) -> bool {
    matches!(
        request.topics.as_slice(),
        [topic] if topic.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
    )
}

fn empty_response() -> DescribeQuorumResponse {
    let mut response = DescribeQuorumResponse::default();
    response.error_message = None;
    response
}

fn error_partition(partition_index: i32, error: ResponseError) -> PartitionData {
    let mut partition = PartitionData::default();
    partition.partition_index = partition_index;
    partition.error_code = error.code();
    partition.error_message = None;
    partition
}

/// Every partition the request named, each with UNKNOWN_TOPIC_OR_PARTITION.
fn unknown_partitions(request: &DescribeQuorumRequest) -> DescribeQuorumResponse {
    let mut response = empty_response();
    response.topics = request
        .topics
        .iter()
        .map(|topic| {
            let mut data = TopicData::default();
            data.topic_name = topic.topic_name.clone();
            data.partitions = topic
                .partitions
                .iter()
                .map(|p| error_partition(p.partition_index, ResponseError::UnknownTopicOrPartition))
                .collect();
            data
        })
        .collect();
    response
}

/// This node does not lead the quorum: the client should ask another node.
fn not_leader() -> DescribeQuorumResponse {
    let mut topic = TopicData::default();
    topic.topic_name = topic_name(METADATA_TOPIC);
    topic.partitions = vec![error_partition(0, ResponseError::NotLeaderOrFollower)];
    let mut response = empty_response();
    response.topics = vec![topic];
    response
}

/// A Raft index as a Kafka offset one past it; -1 when unknown.
fn end_offset(index: Option<u64>) -> i64 {
    index.map_or(-1, |i| i64::try_from(i.saturating_add(1)).unwrap_or(i64::MAX))
}

fn replica_state(status: &QuorumStatus, replica_id: i32, now_ms: i64) -> ReplicaState {
    let mut state = ReplicaState::default();
    state.replica_id = BrokerId(replica_id);
    if replica_id == status.node_id {
        state.log_end_offset = end_offset(status.last_log_index);
        state.last_fetch_timestamp = now_ms;
        state.last_caught_up_timestamp = now_ms;
    } else {
        let matched = status.replicas.iter().find(|r| r.node_id == replica_id).and_then(|r| r.matched_index);
        state.log_end_offset = end_offset(matched);
        state.last_fetch_timestamp = -1;
        state.last_caught_up_timestamp = -1;
    }
    state
}

fn leader_response(broker: &Broker, status: &QuorumStatus, version: i16, now_ms: i64) -> DescribeQuorumResponse {
    let mut voters = status.voters.clone();
    voters.sort_unstable();
    let mut observers = status.learners.clone();
    observers.sort_unstable();

    let mut partition = PartitionData::default();
    partition.partition_index = 0;
    partition.error_message = None;
    partition.leader_id = BrokerId(status.node_id);
    partition.leader_epoch = i32::try_from(status.term).unwrap_or(i32::MAX);
    partition.high_watermark = end_offset(status.committed_index);
    partition.current_voters = voters.iter().map(|id| replica_state(status, *id, now_ms)).collect();
    partition.observers = observers.iter().map(|id| replica_state(status, *id, now_ms)).collect();

    let mut topic = TopicData::default();
    topic.topic_name = topic_name(METADATA_TOPIC);
    topic.partitions = vec![partition];
    let mut response = empty_response();
    response.topics = vec![topic];
    if version >= 2 {
        response.nodes = voters.iter().map(|id| voter_node(broker, *id)).collect();
    }
    response
}

/// A voter with the controller endpoint this node knows for it (from
/// `controller.quorum.voters`, or its own controller listener in a cluster of one).
fn voter_node(broker: &Broker, voter_id: i32) -> Node {
    let config = &broker.config;
    let name = config.controller_listener_names().into_iter().next().unwrap_or_else(|| "CONTROLLER".to_string());
    let endpoint = match config.controller_quorum_voters().into_iter().find(|v| v.id == voter_id) {
        Some(voter) => Some((voter.host, voter.port)),
        None if voter_id == broker.node_id => {
            config.listeners().into_iter().find(|l| l.name == name).map(|l| (l.host, l.port))
        }
        None => None,
    };
    let mut node = Node::default();
    node.node_id = BrokerId(voter_id);
    node.listeners = endpoint
        .map(|(host, port)| {
            let mut listener = Listener::default();
            listener.name = StrBytes::from_string(name.clone());
            listener.host = StrBytes::from_string(host);
            listener.port = port;
            listener
        })
        .into_iter()
        .collect();
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_quorum_request;

    fn request(topic: &str, partitions: &[i32]) -> DescribeQuorumRequest {
        let mut data = describe_quorum_request::TopicData::default();
        data.topic_name = topic_name(topic);
        data.partitions = partitions
            .iter()
            .map(|p| {
                let mut partition = describe_quorum_request::PartitionData::default();
                partition.partition_index = *p;
                partition
            })
            .collect();
        let mut request = DescribeQuorumRequest::default();
        request.topics = vec![data];
        request
    }

    fn leader_status() -> QuorumStatus {
        QuorumStatus {
            node_id: 2,
            role: QuorumRole::Leader,
            leader_id: Some(2),
            term: 7,
            voters: vec![3, 1, 2],
            learners: vec![4],
            last_log_index: Some(41),
            committed_index: Some(40),
            applied_index: Some(40),
            snapshot_index: None,
            purged_index: None,
            replicas: vec![
                spool_quorum::ReplicaLag { node_id: 1, matched_index: Some(41), lag_entries: 0 },
                spool_quorum::ReplicaLag { node_id: 3, matched_index: None, lag_entries: 42 },
                spool_quorum::ReplicaLag { node_id: 4, matched_index: Some(30), lag_entries: 11 },
            ],
            millis_since_quorum_ack: Some(5),
        }
    }

    #[test]
    fn only_the_metadata_partition_is_described() {
        assert!(names_only_the_metadata_partition(&request(METADATA_TOPIC, &[0])));
        assert!(!names_only_the_metadata_partition(&request(METADATA_TOPIC, &[1])));
        assert!(!names_only_the_metadata_partition(&request(METADATA_TOPIC, &[0, 1])));
        assert!(!names_only_the_metadata_partition(&request("orders", &[0])));
        assert!(!names_only_the_metadata_partition(&DescribeQuorumRequest::default()));

        let response = unknown_partitions(&request("orders", &[3, 4]));
        assert_eq!(response.error_code, 0);
        let partitions = &response.topics[0].partitions;
        assert_eq!(response.topics[0].topic_name.0.as_str(), "orders");
        assert_eq!(partitions.iter().map(|p| p.partition_index).collect::<Vec<_>>(), vec![3, 4]);
        assert!(partitions.iter().all(|p| p.error_code == ResponseError::UnknownTopicOrPartition.code()));
    }

    #[test]
    fn a_non_leader_answers_not_leader_at_the_partition_level() {
        let response = not_leader();
        assert_eq!(response.error_code, 0);
        assert_eq!(response.topics[0].topic_name.0.as_str(), METADATA_TOPIC);
        assert_eq!(response.topics[0].partitions[0].partition_index, 0);
        assert_eq!(response.topics[0].partitions[0].error_code, ResponseError::NotLeaderOrFollower.code());
    }

    #[test]
    fn replica_states_use_kafka_offsets_and_unknown_markers() {
        let status = leader_status();
        let now = 1_700_000_000_000;
        let me = replica_state(&status, 2, now);
        assert_eq!((me.log_end_offset, me.last_fetch_timestamp, me.last_caught_up_timestamp), (42, now, now));
        let caught_up = replica_state(&status, 1, now);
        assert_eq!((caught_up.log_end_offset, caught_up.last_fetch_timestamp), (42, -1));
        assert_eq!(replica_state(&status, 3, now).log_end_offset, -1, "nothing matched yet");
        assert_eq!(replica_state(&status, 4, now).log_end_offset, 31);
        assert_eq!(end_offset(Some(40)), 41);
        assert_eq!(end_offset(None), -1);
    }
}
