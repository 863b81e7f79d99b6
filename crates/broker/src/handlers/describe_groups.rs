//! DescribeGroups: state, protocol and members of groups.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_group::GroupDescription;

use crate::broker::Broker;
use crate::group_coordinator::code;

/// Kafka's value for "authorized operations were not requested".
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// Without ACLs every group operation is allowed: READ (3), DELETE (6), DESCRIBE (8).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let version = header.request_api_version;
    let mut response = DescribeGroupsResponse::default();
    for group_id in request.groups {
        let group_id = group_id.0.to_string();
        let description = broker
            .groups
            .run(broker, &group_id, |shard, _| (shard.describe_group(&group_id), Default::default()))
            .await
            .unwrap_or_else(|e| GroupDescription {
                group_id: group_id.clone(),
                error: Some(e.group_error()),
                state: String::new(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        let mut described = DescribedGroup::default();
        described.error_code = code(description.error);
        described.group_id = GroupId(StrBytes::from_string(description.group_id));
        described.group_state = StrBytes::from_string(description.state);
        described.protocol_type = StrBytes::from_string(description.protocol_type);
        described.protocol_data = StrBytes::from_string(description.protocol);
        described.members = description
            .members
            .into_iter()
            .map(|m| {
                let mut member = DescribedGroupMember::default();
                member.member_id = StrBytes::from_string(m.member_id);
                member.group_instance_id = m.group_instance_id.filter(|_| version >= 4).map(StrBytes::from_string);
                member.client_id = StrBytes::from_string(m.client_id);
                member.client_host = StrBytes::from_string(m.client_host);
                member.member_metadata = m.metadata;
                member.member_assignment = m.assignment;
                member
            })
            .collect();
        described.authorized_operations = if version >= 3 && request.include_authorized_operations {
            GROUP_OPERATIONS
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        };
        response.groups.push(described);
    }
    response
}
