//! KIP-848 consumer groups: the server-side assignment protocol (`group.protocol=consumer`).
//!
//! ```text
//!   member heartbeat ──► member metadata ──► subscription metadata ──► group epoch + 1
//!   (ConsumerGroupHeartbeat)   changed?         (topics' ids, partitions)     │
//!                                                                             ▼
//!   member's current assignment ◄── reconcile ◄── target assignment (epoch = group epoch)
//!     epoch, assigned, pending revocation          computed by the assignor (uniform, range)
//! ```
//!
//! The group epoch rises whenever the target must change (a member joins, leaves or
//! changes its subscription, or a subscribed topic's partitions change). The target
//! assignment is then recomputed at that epoch, and each member reconciles towards its
//! part of it on its own heartbeats (Kafka's `CurrentAssignmentBuilder`, in
//! [`reconcile`]): partitions it must give up are revoked first and the member stays
//! at its epoch (`UNREVOKED_PARTITIONS`) until it acknowledges by no longer reporting
//! them; partitions that another member still owns are withheld
//! (`UNRELEASED_PARTITIONS`) until that member released them. So no partition is ever
//! owned by two members at once.
//!
//! All durable state is built by replaying the records of [`records`] ([`ConsumerGroup::replay`]):
//! the heartbeat emits records and applies them through the same function the loader
//! uses. Session and rebalance deadlines live only in memory and restart on load.

pub(crate) mod assignor;
mod describe;
mod heartbeat;
mod reconcile;
pub mod records;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use self::records::{
    Assignment, ConsumerGroupMemberMetadataValue, TopicMetadata,
};
use crate::records::GroupRecord;

pub use describe::{ConsumerGroupDescription, ConsumerMemberDescription, DescribedTopicPartitions};
pub use heartbeat::{ConsumerGroupHeartbeat, ConsumerGroupHeartbeatResult, TopicsImage};

/// The group type ListGroups (v5) names consumer groups by.
pub const CONSUMER_GROUP_TYPE: &str = "consumer";

/// Member epoch of a member leaving the group.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// Member epoch of a static member leaving temporarily (it keeps its assignment for its
/// session timeout).
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Where a member is in its reconciliation (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns exactly its target (as of its epoch).
    Stable,
    /// Must revoke partitions before it moves to the next epoch.
    UnrevokedPartitions,
    /// Waits for partitions other members still own.
    UnreleasedPartitions,
    /// A state byte this version does not know: the member is fenced on its next heartbeat.
    Unknown,
}

impl MemberState {
    pub(crate) fn byte(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
            MemberState::Unknown => 127,
        }
    }

    pub(crate) fn from_byte(b: i8) -> Self {
        match b {
            0 => MemberState::Stable,
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Unknown,
        }
    }
}

/// The state of a consumer group, as Kafka names it to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch is ahead of the target assignment.
    Assigning,
    /// Some member has not reached the target assignment.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// One member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerMember {
    pub(crate) member_id: String,
    pub(crate) metadata: ConsumerGroupMemberMetadataValue,
    pub(crate) member_epoch: i32,
    pub(crate) previous_member_epoch: i32,
    pub(crate) state: MemberState,
    pub(crate) assigned: Assignment,
    pub(crate) pending_revocation: Assignment,
    /// When the member is fenced unless it heartbeats first (memory only).
    pub(crate) session_deadline_ms: Option<i64>,
    /// The epoch the member must leave (by revoking) before the deadline (memory only).
    pub(crate) rebalance_deadline: Option<(i32, i64)>,
}

impl ConsumerMember {
    fn new(member_id: &str) -> Self {
        ConsumerMember {
            member_id: member_id.to_string(),
            metadata: ConsumerGroupMemberMetadataValue::default(),
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline_ms: None,
            rebalance_deadline: None,
        }
    }

    /// Whether the member owns its target of `epoch` and nothing else.
    pub(crate) fn is_reconciled_to(&self, epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == epoch
    }

}

/// A consumer group: epochs, subscription metadata, target and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroup {
    pub(crate) group_id: String,
    pub(crate) group_epoch: i32,
    /// The subscribed topics as the group last saw them, by name.
    pub(crate) subscription_metadata: BTreeMap<String, TopicMetadata>,
    pub(crate) assignment_epoch: i32,
    /// Each member's target assignment.
    pub(crate) target: BTreeMap<String, Assignment>,
    pub(crate) members: BTreeMap<String, ConsumerMember>,
    /// The topics each subscription regex matched at the last heartbeat (memory only:
    /// resolved again on the next heartbeat after a load).
    pub(crate) resolved_regexes: BTreeMap<String, BTreeSet<String>>,
}

impl ConsumerGroup {
    pub(crate) fn new(group_id: &str) -> Self {
        ConsumerGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            subscription_metadata: BTreeMap::new(),
            assignment_epoch: 0,
            target: BTreeMap::new(),
            members: BTreeMap::new(),
            resolved_regexes: BTreeMap::new(),
        }
    }

    pub(crate) fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self.members.values().any(|m| !m.is_reconciled_to(self.assignment_epoch)) {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member holding `instance_id`, if any.
    pub(crate) fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.members.values().find(|m| m.metadata.instance_id.as_deref() == Some(instance_id))
    }

    /// The topics a member subscribes to: by name, and those its regex matched.
    pub(crate) fn member_topics<'a>(&'a self, m: &'a ConsumerMember) -> BTreeSet<&'a str> {
        let by_regex = m.metadata.subscribed_topic_regex.as_ref().and_then(|r| self.resolved_regexes.get(r));
        m.metadata.subscribed_topic_names.iter().chain(by_regex.into_iter().flatten()).map(String::as_str).collect()
    }

    /// Every topic some member subscribes to, by name or by regex.
    pub(crate) fn subscribed_topic_names(&self) -> BTreeSet<String> {
        self.members.values().flat_map(|m| self.member_topics(m)).map(str::to_string).collect()
    }

    /// The epoch of the member that owns (or still revokes) a partition, if any.
    pub(crate) fn partition_owner_epochs(&self) -> BTreeMap<(Uuid, i32), i32> {
        let mut owners = BTreeMap::new();
        for m in self.members.values() {
            for assignment in [&m.assigned, &m.pending_revocation] {
                for (topic, partitions) in assignment {
                    for &p in partitions {
                        owners.insert((*topic, p), m.member_epoch);
                    }
                }
            }
        }
        owners
    }

    /// The topic name of a topic id, from the subscription metadata.
    pub(crate) fn topic_name(&self, topic_id: Uuid) -> Option<&str> {
        self.subscription_metadata.values().find(|t| t.topic_id == topic_id).map(|t| t.topic_name.as_str())
    }

    /// Applies one of the group's records. The caller created the group if the record
    /// may create it (member metadata and group metadata records do).
    pub(crate) fn replay(&mut self, record: &GroupRecord) {
        match record {
            GroupRecord::ConsumerGroupMetadata { value: Some(v), .. } => self.group_epoch = v.epoch,
            GroupRecord::ConsumerGroupPartitionMetadata { value, .. } => {
                self.subscription_metadata = value.as_ref().map(|v| v.topics.clone()).unwrap_or_default();
            }
            GroupRecord::ConsumerGroupMemberMetadata { key, value: Some(v) } => {
                self.members.entry(key.member_id.clone()).or_insert_with(|| ConsumerMember::new(&key.member_id)).metadata =
                    v.clone();
            }
            GroupRecord::ConsumerGroupMemberMetadata { key, value: None } => {
                self.members.remove(&key.member_id);
            }
            GroupRecord::ConsumerGroupTargetAssignmentMetadata { value, .. } => {
                self.assignment_epoch = value.as_ref().map_or(0, |v| v.assignment_epoch);
            }
            GroupRecord::ConsumerGroupTargetAssignmentMember { key, value: Some(v) } => {
                self.target.insert(key.member_id.clone(), v.partitions.clone());
            }
            GroupRecord::ConsumerGroupTargetAssignmentMember { key, value: None } => {
                self.target.remove(&key.member_id);
            }
            GroupRecord::ConsumerGroupCurrentMemberAssignment { key, value } => {
                let member =
                    self.members.entry(key.member_id.clone()).or_insert_with(|| ConsumerMember::new(&key.member_id));
                match value {
                    Some(v) => {
                        member.member_epoch = v.member_epoch;
                        member.previous_member_epoch = v.previous_member_epoch;
                        member.state = MemberState::from_byte(v.state);
                        member.assigned = v.assigned_partitions.clone();
                        member.pending_revocation = v.partitions_pending_revocation.clone();
                    }
                    None => {
                        member.member_epoch = LEAVE_GROUP_MEMBER_EPOCH;
                        member.previous_member_epoch = LEAVE_GROUP_MEMBER_EPOCH;
                        member.state = MemberState::Stable;
                        member.assigned.clear();
                        member.pending_revocation.clear();
                    }
                }
            }
            // The group itself is removed by the shard; classic records are not ours.
            GroupRecord::ConsumerGroupMetadata { value: None, .. }
            | GroupRecord::OffsetCommit { .. }
            | GroupRecord::GroupMetadata { .. } => {}
        }
    }

    /// The tombstones that delete the group, in Kafka's order.
    pub(crate) fn tombstones(&self) -> Vec<GroupRecord> {
        let key = crate::records::GroupMetadataKey { group: self.group_id.clone() };
        let member_key = |m: &String| records::ConsumerMemberKey { group: self.group_id.clone(), member_id: m.clone() };
        let mut out = Vec::new();
        for m in self.members.keys() {
            out.push(GroupRecord::ConsumerGroupCurrentMemberAssignment { key: member_key(m), value: None });
        }
        for m in self.target.keys() {
            out.push(GroupRecord::ConsumerGroupTargetAssignmentMember { key: member_key(m), value: None });
        }
        for m in self.members.keys() {
            out.push(GroupRecord::ConsumerGroupMemberMetadata { key: member_key(m), value: None });
        }
        out.push(GroupRecord::ConsumerGroupTargetAssignmentMetadata { key: key.clone(), value: None });
        out.push(GroupRecord::ConsumerGroupPartitionMetadata { key: key.clone(), value: None });
        out.push(GroupRecord::ConsumerGroupMetadata { key, value: None });
        out
    }
}
