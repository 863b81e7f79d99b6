//! DeleteGroups: remove empty groups and their committed offsets.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group_coordinator::code;

pub(crate) async fn handle(broker: &Arc<Broker>, _header: &RequestHeader, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut response = DeleteGroupsResponse::default();
    for group_id in request.groups_names {
        let group_id = group_id.0.to_string();
        let ids = [group_id.clone()];
        let error = match broker.groups.run(broker, &group_id, |shard, _| shard.delete_groups(&ids)).await {
            Ok(results) => results.into_iter().next().and_then(|(_, e)| e),
            Err(e) => Some(e.group_error()),
        };
        let mut result = DeletableGroupResult::default();
        result.group_id = GroupId(StrBytes::from_string(group_id));
        result.error_code = code(error);
        response.results.push(result);
    }
    response
}
