//! ListGroups: the groups this broker coordinates.

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group_coordinator::code;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: ListGroupsRequest) -> ListGroupsResponse {
    let version = header.request_api_version;
    let states: Vec<String> = if version >= 4 { request.states_filter.iter().map(|s| s.to_string()).collect() } else { Vec::new() };
    let types: Vec<String> = if version >= 5 { request.types_filter.iter().map(|s| s.to_string()).collect() } else { Vec::new() };
    let result = broker.groups.list_groups(&states, &types).await;
    let mut response = ListGroupsResponse::default();
    response.error_code = code(result.error);
    response.groups = result
        .groups
        .into_iter()
        .map(|g| {
            let mut listed = ListedGroup::default();
            listed.group_id = GroupId(StrBytes::from_string(g.group_id));
            listed.protocol_type = StrBytes::from_string(g.protocol_type);
            if version >= 4 {
                listed.group_state = StrBytes::from_static_str(g.state);
            }
            if version >= 5 {
                listed.group_type = StrBytes::from_static_str(g.group_type);
            }
            listed
        })
        .collect();
    response
}
