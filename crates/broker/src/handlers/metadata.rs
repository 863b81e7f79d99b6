//! Metadata: brokers, the controller, and topics with their partitions' leaders,
//! replicas and in-sync replicas. Creates missing topics when
//! `auto.create.topics.enable` and the request allow it.
//!
//! Addresses are those of the listener the client connected through, as Kafka's
//! `MetadataCache` answers by `request.context.listenerName`: a broker without that
//! listener is left out, and a partition whose leader lacks it has no leader and
//! `LISTENER_NOT_FOUND` (`LEADER_NOT_AVAILABLE` before v6).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_metadata::controller::{ControllerRequest, NewTopic};
use spool_metadata::topic_name::validate_topic_name;
use spool_metadata::{MetadataImage, TopicImage};

use super::topic_name;
use crate::broker::Broker;
use crate::error::KafkaError;

/// Kafka's value for "authorized operations were not requested".
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// From this version on, a leader without the client's listener is `LISTENER_NOT_FOUND`.
const LISTENER_NOT_FOUND_MIN_VERSION: i16 = 6;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: MetadataRequest,
    listener: &str,
) -> MetadataResponse {
    let mut image = broker.image();
    let describe_topic = |image: &MetadataImage, topic: &TopicImage| {
        describe_topic(image, topic, listener, header.request_api_version)
    };
    let mut topics = Vec::new();
    match request.topics {
        None => {
            topics.extend(image.topics().map(|topic| describe_topic(&image, topic)));
        }
        Some(requested) => {
            let auto_create = request.allow_auto_topic_creation && broker.config.auto_create_topics_enable();
            for entry in requested {
                let Some(name) = entry.name.map(|n| n.0.to_string()) else {
                    // A topic asked for by id (Metadata v10+).
                    match image.topic_by_id(&entry.topic_id) {
                        Some(topic) => topics.push(describe_topic(&image, topic)),
                        None => topics.push(error_topic(None, entry.topic_id, ResponseError::UnknownTopicId)),
                    }
                    continue;
                };
                if let Some(topic) = image.topic(&name) {
                    topics.push(describe_topic(&image, topic));
                    continue;
                }
                if validate_topic_name(&name).is_err() {
                    topics.push(error_topic(Some(&name), uuid::Uuid::nil(), ResponseError::InvalidTopicException));
                    continue;
                }
                if !auto_create {
                    topics.push(error_topic(Some(&name), uuid::Uuid::nil(), ResponseError::UnknownTopicOrPartition));
                    continue;
                }
                match auto_create_topic(broker, &name).await {
                    Ok(()) => {
                        image = broker.image();
                        match image.topic(&name) {
                            Some(topic) => topics.push(describe_topic(&image, topic)),
                            None => topics.push(error_topic(Some(&name), uuid::Uuid::nil(), ResponseError::LeaderNotAvailable)),
                        }
                    }
                    Err(e) if e.code == ResponseError::TopicAlreadyExists => {
                        image = broker.image();
                        if let Some(topic) = image.topic(&name) {
                            topics.push(describe_topic(&image, topic));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = %name, client = ?header.client_id, "auto-creation failed: {:?}", e.message);
                        topics.push(error_topic(Some(&name), uuid::Uuid::nil(), e.code));
                    }
                }
            }
        }
    }

    let mut response = MetadataResponse::default();
    response.brokers = image
        .live_brokers()
        .filter_map(|b| Some((b, b.endpoint(listener)?)))
        .map(|(b, endpoint)| {
            let mut entry = MetadataResponseBroker::default();
            entry.node_id = BrokerId(b.broker_id);
            entry.host = StrBytes::from_string(endpoint.host.clone());
            entry.port = endpoint.port;
            entry.rack = b.rack.clone().map(StrBytes::from_string);
            entry
        })
        .collect();
    response.cluster_id = Some(StrBytes::from_string(broker.cluster_id.clone()));
    response.controller_id = BrokerId(broker.controller_id_for_clients(&image));
    response.cluster_authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
    response.topics = topics;
    response
}

async fn auto_create_topic(broker: &Arc<Broker>, name: &str) -> Result<(), KafkaError> {
    let topic = NewTopic { name: name.to_string(), num_partitions: -1, replication_factor: -1, ..Default::default() };
    let defaults = broker.topic_defaults();
    broker
        .submit(ControllerRequest::CreateTopic { topic, topic_id: uuid::Uuid::new_v4(), defaults, validate_only: false })
        .await?;
    tracing::info!(topic = %name, "auto-created topic");
    Ok(())
}

fn describe_topic(image: &MetadataImage, topic: &TopicImage, listener: &str, version: i16) -> MetadataResponseTopic {
    let mut entry = MetadataResponseTopic::default();
    entry.name = Some(topic_name(&topic.name));
    entry.topic_id = topic.topic_id;
    entry.is_internal = topic.name.starts_with("__");
    entry.topic_authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
    entry.partitions = topic
        .partitions
        .values()
        .map(|p| {
            let mut partition = MetadataResponsePartition::default();
            partition.partition_index = p.partition;
            partition.leader_id = BrokerId(p.leader);
            partition.leader_epoch = p.leader_epoch;
            partition.replica_nodes = p.replicas.iter().copied().map(BrokerId).collect();
            partition.isr_nodes = p.isr.iter().copied().map(BrokerId).collect();
            if p.leader < 0 {
                partition.error_code = ResponseError::LeaderNotAvailable.code();
            } else if let Some(leader) = image.broker(p.leader).filter(|b| b.endpoint(listener).is_none()) {
                tracing::debug!(topic = %topic.name, partition = p.partition, "listener {listener} not found on leader {}", leader.broker_id);
                partition.leader_id = BrokerId(-1);
                partition.error_code = if version >= LISTENER_NOT_FOUND_MIN_VERSION {
                    ResponseError::ListenerNotFound.code()
                } else {
                    ResponseError::LeaderNotAvailable.code()
                };
            }
            partition
        })
        .collect();
    entry
}

fn error_topic(name: Option<&str>, topic_id: uuid::Uuid, code: ResponseError) -> MetadataResponseTopic {
    let mut entry = MetadataResponseTopic::default();
    entry.name = name.map(topic_name);
    entry.topic_id = topic_id;
    entry.error_code = code.code();
    entry.topic_authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
    entry
}
