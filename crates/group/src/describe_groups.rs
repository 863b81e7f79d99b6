//! DescribeGroups: a group's state, protocol and members.

use crate::api::GroupDescription;
use crate::group::GroupState;
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles DescribeGroups for one group. A group that does not exist is described
    /// as `Dead` with no members (Kafka 3.9 answers it without an error).
    pub fn describe_group(&self, group_id: &str) -> GroupDescription {
        let empty = |state: &str| GroupDescription {
            group_id: group_id.to_string(),
            error: None,
            state: state.to_string(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        };
        if let Err(error) = self.validate_group_status(group_id, Api::Offsets) {
            return GroupDescription { error: Some(error), ..empty("") };
        }
        match self.groups.get(group_id) {
            Some(group) => group.describe(),
            None => empty(GroupState::Dead.name()),
        }
    }
}
