//! JoinGroup: a member joins a group's rebalance. Answered when the join phase ends,
//! which may take up to the rebalance timeout (or the initial rebalance delay).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_group::{GroupError, JoinGroup, JoinGroupResult, Protocol, Response};

use crate::broker::Broker;
use crate::group_coordinator::code;

/// Longest a new member waits in a rebalance before the coordinator drops it
/// (Kafka's 5-minute new-member join timeout), plus slack.
const NEW_MEMBER_WAIT: Duration = Duration::from_secs(5 * 60 + 30);

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: JoinGroupRequest,
    peer: SocketAddr,
) -> JoinGroupResponse {
    let version = header.request_api_version;
    let join = JoinGroup {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.filter(|_| version >= 5).map(|s| s.to_string()),
        require_known_member_id: version >= 4,
        support_skipping_assignment: version >= 9,
        client_id: header.client_id.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        client_host: client_host(peer.ip()),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout; Kafka uses the session timeout.
        rebalance_timeout_ms: if version == 0 { request.session_timeout_ms } else { request.rebalance_timeout_ms },
        protocol_type: request.protocol_type.to_string(),
        protocols: request.protocols.into_iter().map(|p| Protocol { name: p.name.to_string(), metadata: p.metadata }).collect(),
        reason: request.reason.map(|s| s.to_string()),
    };
    let wait = Duration::from_millis(join.rebalance_timeout_ms.max(0) as u64).max(NEW_MEMBER_WAIT);
    let coordinator = &broker.groups;
    let (token, answer) = coordinator.register();
    let result = match coordinator.run(broker, &join.group_id, |shard, now| ((), shard.join_group(token, &join, now))).await {
        Ok(()) => match tokio::time::timeout(wait, answer).await {
            Ok(Ok(Response::Join(result))) => result,
            Ok(_) => JoinGroupResult::error(&join.member_id, GroupError::UnknownServerError),
            Err(_) => {
                coordinator.forget(token);
                JoinGroupResult::error(&join.member_id, GroupError::RebalanceInProgress)
            }
        },
        Err(e) => {
            coordinator.forget(token);
            JoinGroupResult::error(&join.member_id, e.group_error())
        }
    };
    response(result, version)
}

/// The member's host as Kafka records it: Java's `InetAddress.toString()` of an address
/// without a resolved name, `/127.0.0.1` (IPv6 as eight uncompressed hex groups).
pub(crate) fn client_host(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("/{v4}"),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("/{}", groups.join(":"))
        }
    }
}

fn response(result: JoinGroupResult, version: i16) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default();
    response.error_code = code(result.error);
    response.generation_id = result.generation_id;
    // Before v7 the protocol name is not nullable: Kafka sends "" when there is none.
    response.protocol_name = match result.protocol_name {
        Some(name) => Some(StrBytes::from_string(name)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    if version >= 7 {
        response.protocol_type = result.protocol_type.map(StrBytes::from_string);
    }
    response.leader = StrBytes::from_string(result.leader);
    response.skip_assignment = version >= 9 && result.skip_assignment;
    response.member_id = StrBytes::from_string(result.member_id);
    response.members = result
        .members
        .into_iter()
        .map(|m| {
            let mut member = JoinGroupResponseMember::default();
            member.member_id = StrBytes::from_string(m.member_id);
            member.group_instance_id = m.group_instance_id.filter(|_| version >= 5).map(StrBytes::from_string);
            member.metadata = m.metadata;
            member
        })
        .collect();
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts_print_as_java_does() {
        assert_eq!(client_host("127.0.0.1".parse().unwrap()), "/127.0.0.1");
        assert_eq!(client_host("::1".parse().unwrap()), "/0:0:0:0:0:0:0:1");
        assert_eq!(client_host("::ffff:10.0.0.7".parse().unwrap()), "/10.0.0.7");
    }
}
