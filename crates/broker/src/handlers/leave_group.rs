//! LeaveGroup: members leave without waiting for their session to expire. v0–v2 carry
//! one member id; v3+ a batch, possibly by `group.instance.id` alone.

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_group::{LeaveGroup, LeaveGroupResult, LeavingMember};

use crate::broker::Broker;
use crate::group_coordinator::code;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let version = header.request_api_version;
    let members = if version >= 3 {
        request
            .members
            .into_iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.map(|s| s.to_string()),
                reason: m.reason.map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember { member_id: request.member_id.to_string(), group_instance_id: None, reason: None }]
    };
    let leave = LeaveGroup { group_id: request.group_id.0.to_string(), members };
    let result = broker
        .groups
        .run(broker, &leave.group_id, |shard, now| shard.leave_group(&leave, now))
        .await
        .unwrap_or_else(|e| LeaveGroupResult { error: Some(e.group_error()), members: Vec::new() });

    let mut response = LeaveGroupResponse::default();
    if version >= 3 {
        response.error_code = code(result.error);
        response.members = result
            .members
            .into_iter()
            .map(|(member, error)| {
                let mut entry = MemberResponse::default();
                entry.member_id = StrBytes::from_string(member.member_id);
                entry.group_instance_id = member.group_instance_id.map(StrBytes::from_string);
                entry.error_code = code(error);
                entry
            })
            .collect();
    } else {
        // One member: its error is the response's error (Kafka's LeaveGroupResponse).
        response.error_code = code(result.error.or_else(|| result.members.iter().find_map(|(_, e)| *e)));
    }
    response
}
