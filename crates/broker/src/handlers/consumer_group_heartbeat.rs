//! ConsumerGroupHeartbeat (KIP-848): a consumer group member joins, heartbeats, reports
//! what it owns and gets its assignment, or leaves, all in one request.

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_group::{ConsumerGroupHeartbeat, TopicsImage};
use spool_metadata::MetadataImage;
use uuid::Uuid;

use super::join_group::client_host;
use crate::broker::Broker;
use crate::group_coordinator::code;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: ConsumerGroupHeartbeatRequest,
    peer: SocketAddr,
) -> ConsumerGroupHeartbeatResponse {
    let heartbeat = ConsumerGroupHeartbeat {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|s| s.to_string()),
        rack_id: request.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request.subscribed_topic_names.map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: request.subscribed_topic_regex.map(|s| s.to_string()),
        server_assignor: request.server_assignor.map(|s| s.to_string()),
        owned_partitions: request.topic_partitions.map(|tps| tps.into_iter().map(|tp| (tp.topic_id, tp.partitions)).collect()),
        client_id: header.client_id.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        client_host: client_host(peer.ip()),
    };
    // The subscribed topics as the cluster has them now: a change of their partitions
    // bumps the group epoch on the next heartbeat.
    let topics = Topics(broker.image());
    let outcome = broker
        .groups
        .run(broker, &heartbeat.group_id, |shard, now| shard.consumer_group_heartbeat(&heartbeat, &topics, now))
        .await;
    let mut response = ConsumerGroupHeartbeatResponse::default();
    match outcome {
        Ok(result) => {
            response.error_code = code(result.error);
            response.error_message = result.error_message.map(StrBytes::from_string);
            response.member_id = result.member_id.map(StrBytes::from_string);
            response.member_epoch = result.member_epoch;
            response.heartbeat_interval_ms = result.heartbeat_interval_ms;
            response.assignment = result.assignment.map(|assignment| {
                let mut a = Assignment::default();
                a.topic_partitions = assignment
                    .into_iter()
                    .map(|(topic_id, partitions)| {
                        let mut tp = TopicPartitions::default();
                        tp.topic_id = topic_id;
                        tp.partitions = partitions.into_iter().collect();
                        tp
                    })
                    .collect();
                a
            });
        }
        Err(e) => {
            response.error_code = code(Some(e.group_error()));
            response.member_epoch = -1;
        }
    }
    response
}

/// The metadata image as the group coordinator reads it.
struct Topics(Arc<MetadataImage>);

impl TopicsImage for Topics {
    fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
        self.0.topic(name).map(|t| (t.topic_id, i32::try_from(t.partitions.len()).unwrap_or(i32::MAX)))
    }

    fn topic_names(&self) -> Vec<String> {
        self.0.topics().map(|t| t.name.clone()).collect()
    }
}
