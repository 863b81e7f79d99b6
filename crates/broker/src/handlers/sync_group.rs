//! SyncGroup: members get their assignment; the leader's request carries everybody's.
//! A follower syncing before the leader waits for it.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{RequestHeader, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use spool_group::{GroupError, Response, SyncGroup, SyncGroupResult};

use crate::broker::Broker;
use crate::group_coordinator::code;

/// Longest a follower waits for the leader. The coordinator answers within the
/// group's rebalance timeout, which the request does not carry; this only guards
/// against a lost answer.
const LEADER_WAIT: Duration = Duration::from_secs(30 * 60);

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: SyncGroupRequest) -> SyncGroupResponse {
    let version = header.request_api_version;
    let sync = SyncGroup {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.filter(|_| version >= 3).map(|s| s.to_string()),
        protocol_type: request.protocol_type.filter(|_| version >= 5).map(|s| s.to_string()),
        protocol_name: request.protocol_name.filter(|_| version >= 5).map(|s| s.to_string()),
        assignments: request.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
    };
    let coordinator = &broker.groups;
    let (token, answer) = coordinator.register();
    let result = match coordinator.run(broker, &sync.group_id, |shard, now| ((), shard.sync_group(token, &sync, now))).await {
        Ok(()) => match tokio::time::timeout(LEADER_WAIT, answer).await {
            Ok(Ok(Response::Sync(result))) => result,
            Ok(_) => SyncGroupResult::error(GroupError::UnknownServerError),
            Err(_) => {
                coordinator.forget(token);
                SyncGroupResult::error(GroupError::RebalanceInProgress)
            }
        },
        Err(e) => {
            coordinator.forget(token);
            SyncGroupResult::error(e.group_error())
        }
    };
    let mut response = SyncGroupResponse::default();
    response.error_code = code(result.error);
    if version >= 5 {
        response.protocol_type = result.protocol_type.map(StrBytes::from_string);
        response.protocol_name = result.protocol_name.map(StrBytes::from_string);
    }
    response.assignment = result.assignment;
    response
}
