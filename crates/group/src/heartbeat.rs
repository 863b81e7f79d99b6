//! Heartbeat: a member shows it is alive, and learns whether a rebalance started.

use crate::api::Heartbeat;
use crate::error::GroupError;
use crate::group::GroupState;
use crate::join::validate_current_member;
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles a Heartbeat: restarts the member's session. `REBALANCE_IN_PROGRESS` tells
    /// a member of a stable generation to rejoin.
    ///
    /// # Errors
    /// The error Kafka answers with; none while loading (Kafka answers a heartbeat
    /// blindly then, since the member will learn about any rebalance later).
    pub fn heartbeat(&mut self, request: &Heartbeat, now_ms: i64) -> Result<(), GroupError> {
        match self.validate_group_status(&request.group_id, Api::Membership) {
            Err(GroupError::CoordinatorLoadInProgress) => return Ok(()),
            Err(error) => return Err(error),
            Ok(()) => {}
        }
        let group = self.groups.get_mut(&request.group_id).ok_or(GroupError::UnknownMemberId)?;
        validate_current_member(group, &request.member_id, request.group_instance_id.as_deref())?;
        if request.generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        let state = group.state;
        let member = group.members.get_mut(&request.member_id).ok_or(GroupError::UnknownMemberId)?;
        match state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.reschedule_heartbeat(now_ms);
                Ok(())
            }
            GroupState::PreparingRebalance => {
                member.reschedule_heartbeat(now_ms);
                Err(GroupError::RebalanceInProgress)
            }
        }
    }
}
