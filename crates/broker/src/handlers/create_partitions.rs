//! CreatePartitions: grow a topic's partition count.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader};
use spool_metadata::controller;

use super::{message, topic_name};
use crate::broker::Broker;
use crate::error::KafkaError;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let assignments: Option<Vec<Vec<i32>>> = topic
            .assignments
            .as_ref()
            .map(|list| list.iter().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect());
        let outcome = if request.validate_only {
            controller::create_partitions(&broker.image(), &name, topic.count, assignments.as_deref())
                .map(|_| ())
                .map_err(KafkaError::from)
        } else {
            broker
                .commit(|image| {
                    controller::create_partitions(image, &name, topic.count, assignments.as_deref()).map(|r| (r, ()))
                })
                .await
        };
        let mut result = CreatePartitionsTopicResult::default();
        result.name = topic_name(&name);
        if let Err(e) = outcome {
            result.error_code = e.code();
            result.error_message = message(e.message);
        }
        results.push(result);
    }
    let mut response = CreatePartitionsResponse::default();
    response.results = results;
    response
}
