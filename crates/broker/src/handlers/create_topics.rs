//! CreateTopics: validate, place replicas and persist new topics through the controller.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_metadata::config::describe_topic_configs;
use spool_metadata::controller::{ControllerRequest, NewTopic};
use spool_metadata::records::ConfigResource;

use super::{message, topic_name};
use crate::broker::Broker;
use crate::error::KafkaError;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: CreateTopicsRequest) -> CreateTopicsResponse {
    // The created topic's configs are part of the response from v5 on.
    let with_configs = header.request_api_version >= 5;
    let defaults = broker.topic_defaults();
    let mut results = Vec::with_capacity(request.topics.len());
    let mut seen = std::collections::HashSet::new();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut result = CreatableTopicResult::default();
        result.name = topic_name(&name);
        result.num_partitions = -1;
        result.replication_factor = -1;
        if !seen.insert(name.clone()) {
            let e = KafkaError::with_message(
                kafka_protocol::error::ResponseError::InvalidRequest,
                format!("Create topics request from client contains multiple entries for the topic {name}"),
            );
            result.error_code = e.code();
            result.error_message = message(e.message);
            results.push(result);
            continue;
        }
        let new_topic = NewTopic {
            name: name.clone(),
            num_partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignments: topic
                .assignments
                .iter()
                .map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect()))
                .collect(),
            configs: topic
                .configs
                .iter()
                .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
                .collect::<BTreeMap<_, _>>(),
        };
        let topic_id = uuid::Uuid::new_v4();
        let outcome = broker
            .submit(ControllerRequest::CreateTopic {
                topic: new_topic.clone(),
                topic_id,
                defaults,
                validate_only: request.validate_only,
            })
            .await;
        match outcome {
            Ok(_) => {
                let image = broker.image();
                if let Some(created) = image.topic(&name) {
                    result.topic_id = created.topic_id;
                    result.num_partitions = created.partitions.len() as i32;
                    result.replication_factor = created.partitions.values().next().map_or(-1, |p| p.replicas.len() as i16);
                } else if request.validate_only {
                    result.num_partitions =
                        if topic.num_partitions == -1 { defaults.num_partitions } else { topic.num_partitions };
                    result.replication_factor =
                        if topic.replication_factor == -1 { defaults.replication_factor } else { topic.replication_factor };
                }
                let overrides = if !with_configs {
                    None
                } else if request.validate_only {
                    Some(new_topic.configs.clone())
                } else {
                    Some(image.configs(&ConfigResource::Topic(name.clone())))
                };
                result.configs = overrides.map(|overrides| {
                    describe_topic_configs(&broker.config, &overrides)
                        .into_iter()
                        .map(|c| {
                            let mut entry = CreatableTopicConfigs::default();
                            entry.name = StrBytes::from_string(c.name);
                            entry.value = c.value.map(StrBytes::from_string);
                            entry.read_only = c.read_only;
                            entry.config_source = c.source as i8;
                            entry.is_sensitive = c.sensitive;
                            entry
                        })
                        .collect()
                });
                if !request.validate_only {
                    tracing::info!(topic = %name, partitions = result.num_partitions, "created topic");
                }
            }
            Err(e) => {
                result.error_code = e.code();
                result.error_message = message(e.message);
            }
        }
        results.push(result);
    }
    let mut response = CreateTopicsResponse::default();
    response.topics = results;
    response
}
