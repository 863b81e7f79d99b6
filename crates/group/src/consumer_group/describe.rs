//! ConsumerGroupDescribe: a consumer group's epochs, assignor and members with their
//! current and target assignments.

use uuid::Uuid;

use super::records::Assignment;
use super::ConsumerGroup;
use crate::error::GroupError;
use crate::shard::{Api, GroupCoordinatorShard};

/// Partitions of one topic, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedTopicPartitions {
    pub topic_id: Uuid,
    /// Empty when the topic is not in the group's subscription metadata any more.
    pub topic_name: String,
    pub partitions: Vec<i32>,
}

/// One member of a described consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub assignment: Vec<DescribedTopicPartitions>,
    pub target_assignment: Vec<DescribedTopicPartitions>,
}

/// The answer to ConsumerGroupDescribe for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub error: Option<GroupError>,
    pub error_message: Option<String>,
    /// Kafka's state name: Empty, Assigning, Reconciling or Stable.
    pub state: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}

impl GroupCoordinatorShard {
    /// Handles ConsumerGroupDescribe for one group: `GROUP_ID_NOT_FOUND` when there is
    /// no consumer group of that id (a classic group is not one).
    pub fn consumer_group_describe(&self, group_id: &str) -> ConsumerGroupDescription {
        let failed = |error, message: Option<&str>| ConsumerGroupDescription {
            group_id: group_id.to_string(),
            error: Some(error),
            error_message: message.map(str::to_string),
            state: String::new(),
            group_epoch: 0,
            assignment_epoch: 0,
            assignor_name: String::new(),
            members: Vec::new(),
        };
        if let Err(error) = self.validate_group_status(group_id, Api::Offsets) {
            return failed(error, None);
        }
        match self.consumer_groups.get(group_id) {
            Some(group) => describe(group, &self.config.consumer_assignors),
            None if self.groups.contains_key(group_id) => {
                failed(GroupError::GroupIdNotFound, Some("The group is not a consumer group."))
            }
            None => failed(GroupError::GroupIdNotFound, None),
        }
    }
}

fn describe(group: &ConsumerGroup, assignors: &[String]) -> ConsumerGroupDescription {
    let named = |a: &Assignment| {
        a.iter()
            .map(|(id, ps)| DescribedTopicPartitions {
                topic_id: *id,
                topic_name: group.topic_name(*id).unwrap_or_default().to_string(),
                partitions: ps.iter().copied().collect(),
            })
            .collect::<Vec<_>>()
    };
    let empty = Assignment::new();
    ConsumerGroupDescription {
        group_id: group.group_id.clone(),
        error: None,
        error_message: None,
        state: group.state().name().to_string(),
        group_epoch: group.group_epoch,
        assignment_epoch: group.assignment_epoch,
        assignor_name: super::heartbeat::preferred_assignor(group, assignors),
        members: group
            .members
            .values()
            .map(|m| ConsumerMemberDescription {
                member_id: m.member_id.clone(),
                instance_id: m.metadata.instance_id.clone(),
                rack_id: m.metadata.rack_id.clone(),
                member_epoch: m.member_epoch,
                client_id: m.metadata.client_id.clone(),
                client_host: m.metadata.client_host.clone(),
                subscribed_topic_names: m.metadata.subscribed_topic_names.clone(),
                subscribed_topic_regex: m.metadata.subscribed_topic_regex.clone(),
                assignment: named(&m.assigned),
                target_assignment: named(group.target.get(&m.member_id).unwrap_or(&empty)),
            })
            .collect(),
    }
}
