//! CreatePartitions: grow a topic's partition count.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader};
use spool_metadata::controller::ControllerRequest;

use super::{message, topic_name};
use crate::broker::Broker;

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
        let outcome = broker
            .submit(ControllerRequest::CreatePartitions {
                name: name.clone(),
                total_count: topic.count,
                assignments,
                validate_only: request.validate_only,
            })
            .await;
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
