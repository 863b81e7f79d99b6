//! Heartbeat: a member is alive; `REBALANCE_IN_PROGRESS` tells it to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, RequestHeader};
use spool_group::Heartbeat;

use crate::broker::Broker;
use crate::group_coordinator::code;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: HeartbeatRequest) -> HeartbeatResponse {
    let version = header.request_api_version;
    let heartbeat = Heartbeat {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.filter(|_| version >= 3).map(|s| s.to_string()),
    };
    let outcome = broker
        .groups
        .run(broker, &heartbeat.group_id, |shard, now| (shard.heartbeat(&heartbeat, now), Default::default()))
        .await;
    let error = match outcome {
        Ok(result) => result.err(),
        Err(e) => Some(e.group_error()),
    };
    let mut response = HeartbeatResponse::default();
    response.error_code = code(error);
    response
}
