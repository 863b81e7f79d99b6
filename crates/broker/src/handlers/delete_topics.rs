//! DeleteTopics: remove topics (by name, or by id from v6) and their logs.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader};
use spool_metadata::controller::ControllerRequest;

use super::{message, topic_name};
use crate::broker::Broker;
use crate::error::KafkaError;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    // Up to v5 topics come as names; from v6 as (name or id) states.
    let mut targets: Vec<(Option<String>, uuid::Uuid)> =
        request.topic_names.iter().map(|n| (Some(n.0.to_string()), uuid::Uuid::nil())).collect();
    targets.extend(request.topics.iter().map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)));

    let mut results = Vec::with_capacity(targets.len());
    for (name, topic_id) in targets {
        let mut result = DeletableTopicResult::default();
        result.topic_id = topic_id;
        let resolved = match &name {
            Some(name) => Some(name.clone()),
            None => broker.image().topic_by_id(&topic_id).map(|t| t.name.clone()),
        };
        result.name = resolved.as_deref().map(topic_name);
        let outcome = match resolved {
            None => Err(KafkaError::new(ResponseError::UnknownTopicId)),
            Some(_) if !broker.config.delete_topic_enable() => Err(KafkaError::with_message(
                ResponseError::TopicDeletionDisabled,
                "Topic deletion is disabled (delete.topic.enable=false).",
            )),
            Some(name) => {
                if let Some(topic) = broker.image().topic(&name) {
                    result.topic_id = topic.topic_id;
                }
                let deleted = broker.submit(ControllerRequest::DeleteTopic { name: name.clone() }).await.map(|_| ());
                if deleted.is_ok() {
                    // Groups forget their offsets of the topic when each broker sees the
                    // deletion in the metadata (`broker::follow_metadata`).
                    tracing::info!(topic = %name, client = ?header.client_id, "deleted topic");
                }
                deleted
            }
        };
        if let Err(e) = outcome {
            result.error_code = e.code();
            result.error_message = message(e.message);
        }
        results.push(result);
    }
    let mut response = DeleteTopicsResponse::default();
    response.responses = results;
    response
}
