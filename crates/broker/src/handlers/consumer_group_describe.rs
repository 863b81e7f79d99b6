//! ConsumerGroupDescribe (KIP-848): consumer groups with their epochs, assignor and
//! members' current and target assignments.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_group::{ConsumerGroupDescription, DescribedTopicPartitions};

use super::topic_name;
use crate::broker::Broker;
use crate::group_coordinator::code;

/// Kafka's value for "authorized operations were not requested".
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// Without ACLs every group operation is allowed: READ (3), DELETE (6), DESCRIBE (8).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let mut response = ConsumerGroupDescribeResponse::default();
    for group_id in request.group_ids {
        let group_id = group_id.0.to_string();
        let described = broker
            .groups
            .run(broker, &group_id, |shard, _| (shard.consumer_group_describe(&group_id), Default::default()))
            .await;
        let mut group = DescribedGroup::default();
        group.group_id = GroupId(StrBytes::from_string(group_id));
        match described {
            Ok(d) => fill(&mut group, d),
            Err(e) => group.error_code = code(Some(e.group_error())),
        }
        group.authorized_operations =
            if request.include_authorized_operations { GROUP_OPERATIONS } else { AUTHORIZED_OPERATIONS_OMITTED };
        response.groups.push(group);
    }
    response
}

fn fill(group: &mut DescribedGroup, d: ConsumerGroupDescription) {
    group.error_code = code(d.error);
    group.error_message = d.error_message.map(StrBytes::from_string);
    group.group_state = StrBytes::from_string(d.state);
    group.group_epoch = d.group_epoch;
    group.assignment_epoch = d.assignment_epoch;
    group.assignor_name = StrBytes::from_string(d.assignor_name);
    group.members = d
        .members
        .into_iter()
        .map(|m| {
            let mut member = Member::default();
            member.member_id = StrBytes::from_string(m.member_id);
            member.instance_id = m.instance_id.map(StrBytes::from_string);
            member.rack_id = m.rack_id.map(StrBytes::from_string);
            member.member_epoch = m.member_epoch;
            member.client_id = StrBytes::from_string(m.client_id);
            member.client_host = StrBytes::from_string(m.client_host);
            member.subscribed_topic_names = m.subscribed_topic_names.iter().map(|t| topic_name(t)).collect();
            member.subscribed_topic_regex = m.subscribed_topic_regex.map(StrBytes::from_string);
            member.assignment = assignment(m.assignment);
            member.target_assignment = assignment(m.target_assignment);
            member
        })
        .collect();
}

fn assignment(partitions: Vec<DescribedTopicPartitions>) -> Assignment {
    let mut a = Assignment::default();
    a.topic_partitions = partitions
        .into_iter()
        .map(|p| {
            let mut tp = TopicPartitions::default();
            tp.topic_id = p.topic_id;
            tp.topic_name = topic_name(&p.topic_name);
            tp.partitions = p.partitions;
            tp
        })
        .collect();
    a
}
