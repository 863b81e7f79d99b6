//! LeaveGroup: members leave at once instead of waiting for their session to end.

use crate::api::{LeaveGroup, LeaveGroupResult, Output};
use crate::error::GroupError;
use crate::join::validate_current_member;
use crate::rebalance;
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles a LeaveGroup for a batch of members (one for v0–v2). A member given by
    /// instance id alone (empty member id) is removed by an administrator.
    pub fn leave_group(&mut self, request: &LeaveGroup, now_ms: i64) -> (LeaveGroupResult, Output) {
        let mut out = Output::default();
        if let Err(error) = self.validate_group_status(&request.group_id, Api::Membership) {
            return (LeaveGroupResult { error: Some(error), members: Vec::new() }, out);
        }
        let config = &self.config;
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            let members = request.members.iter().map(|m| (m.clone(), Some(GroupError::UnknownMemberId))).collect();
            return (LeaveGroupResult { error: None, members }, out);
        };
        let mut results = Vec::with_capacity(request.members.len());
        for leaving in &request.members {
            let error = if leaving.member_id.is_empty() {
                match leaving.group_instance_id.as_ref().and_then(|id| group.static_members.get(id)).cloned() {
                    Some(member_id) => {
                        rebalance::remove_member_and_update_group(config, group, &member_id, now_ms, &mut out);
                        None
                    }
                    None => Some(GroupError::UnknownMemberId),
                }
            } else if group.pending_members.contains_key(&leaving.member_id) {
                rebalance::remove_pending_member_and_update_group(group, &leaving.member_id, now_ms, &mut out);
                None
            } else {
                match validate_current_member(group, &leaving.member_id, leaving.group_instance_id.as_deref()) {
                    Ok(()) => {
                        rebalance::remove_member_and_update_group(config, group, &leaving.member_id, now_ms, &mut out);
                        None
                    }
                    Err(error) => Some(error),
                }
            };
            results.push((leaving.clone(), error));
        }
        self.drop_if_unused(&request.group_id);
        (LeaveGroupResult { error: None, members: results }, out)
    }
}
