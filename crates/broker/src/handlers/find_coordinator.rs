//! FindCoordinator: which broker coordinates a group.
//!
//! A group's coordinator is the leader of its partition of `__consumer_offsets`; the
//! topic is created on the first request, as Kafka does. v0–v3 ask for one key, v4+ for
//! a batch. Transactions are not supported, so transaction keys get
//! `COORDINATOR_NOT_AVAILABLE`. The coordinator's address is that of the client's
//! listener; a coordinator without that listener is not available to it (Kafka's
//! `getAliveBrokerNode(id, listenerName)`).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::message;
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::group_coordinator::GROUP_METADATA_TOPIC;

/// `key_type` of a consumer group.
const GROUP_KEY_TYPE: i8 = 0;
/// `key_type` of a transactional id.
const TRANSACTION_KEY_TYPE: i8 = 1;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: FindCoordinatorRequest,
    listener: &str,
) -> FindCoordinatorResponse {
    let version = header.request_api_version;
    let keys = if version >= 4 { request.coordinator_keys } else { vec![request.key] };
    let mut coordinators = Vec::with_capacity(keys.len());
    for key in keys {
        let mut coordinator = Coordinator::default();
        match find(broker, request.key_type, &key, listener).await {
            Ok((node_id, host, port)) => {
                coordinator.node_id = BrokerId(node_id);
                coordinator.host = StrBytes::from_string(host);
                coordinator.port = port;
            }
            Err(e) => {
                coordinator.node_id = BrokerId(-1);
                coordinator.port = -1;
                coordinator.error_code = e.code();
                coordinator.error_message = message(e.message.or_else(|| Some(e.code.to_string())));
            }
        }
        coordinator.key = key;
        coordinators.push(coordinator);
    }
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = coordinators;
    } else if let Some(c) = coordinators.pop() {
        response.error_code = c.error_code;
        response.error_message = if version >= 1 { c.error_message } else { None };
        response.node_id = c.node_id;
        response.host = c.host;
        response.port = c.port;
    }
    response
}

async fn find(broker: &Arc<Broker>, key_type: i8, key: &str, listener: &str) -> Result<(i32, String, i32), KafkaError> {
    match key_type {
        GROUP_KEY_TYPE => {}
        TRANSACTION_KEY_TYPE => {
            return Err(KafkaError::with_message(ResponseError::CoordinatorNotAvailable, "transactions are not supported"));
        }
        other => return Err(KafkaError::with_message(ResponseError::InvalidRequest, format!("unknown key type {other}"))),
    }
    broker.groups.ensure_topic(broker).await.map_err(|e| {
        tracing::warn!("cannot create {GROUP_METADATA_TOPIC}: {:?} {:?}", e.code, e.message);
        KafkaError::new(ResponseError::CoordinatorNotAvailable)
    })?;
    let image = broker.image();
    let partition = broker.groups.partition_for(key);
    let leader = image.partition(GROUP_METADATA_TOPIC, partition).map_or(-1, |p| p.leader);
    let node = image.broker(leader).filter(|_| !image.is_fenced(leader));
    match node.and_then(|node| Some((node.broker_id, node.endpoint(listener)?))) {
        Some((node_id, endpoint)) => Ok((node_id, endpoint.host.clone(), endpoint.port)),
        None => Err(KafkaError::new(ResponseError::CoordinatorNotAvailable)),
    }
}
