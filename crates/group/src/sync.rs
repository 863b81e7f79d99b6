//! SyncGroup: the leader hands in the assignment, every member gets its share.
//!
//! Followers that sync before the leader wait; the leader's SyncGroup stores the group
//! with its assignment and answers everybody at once.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::api::{Output, RequestToken, Response, SyncGroup, SyncGroupResult};
use crate::error::GroupError;
use crate::group::{ClassicGroup, GroupState};
use crate::join::validate_current_member;
use crate::rebalance;
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles a SyncGroup. The answer to `token` is in the returned [`Output`] when it
    /// is known at once, or in the output of the call that completes the assignment.
    pub fn sync_group(&mut self, token: RequestToken, request: &SyncGroup, now_ms: i64) -> Output {
        let mut out = Output::default();
        let fail = |out: &mut Output, error| out.respond(token, Response::Sync(SyncGroupResult::error(error)));
        match self.validate_group_status(&request.group_id, Api::Membership) {
            // A loading coordinator lost any rebalance in progress: the member must
            // rejoin. Older clients do not expect COORDINATOR_LOAD_IN_PROGRESS here.
            Err(GroupError::CoordinatorLoadInProgress) => {
                fail(&mut out, GroupError::RebalanceInProgress);
                return out;
            }
            Err(error) => {
                fail(&mut out, error);
                return out;
            }
            Ok(()) => {}
        }
        let config = &self.config;
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            fail(&mut out, GroupError::UnknownMemberId);
            return out;
        };
        if let Err(error) = validate_sync(group, request) {
            fail(&mut out, error);
            return out;
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => fail(&mut out, GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(&mut out, GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                if let Some(displaced) =
                    group.members.get_mut(&request.member_id).and_then(|m| m.awaiting_sync.replace(token))
                {
                    // A repeated SyncGroup replaces the waiting one (Kafka forgets it).
                    out.respond(displaced, Response::Sync(SyncGroupResult::error(GroupError::RebalanceInProgress)));
                }
                remove_pending_sync_member(group, &request.member_id);
                if group.is_leader(&request.member_id) {
                    complete_assignment(config, group, &request.assignments, now_ms, &mut out);
                }
            }
            GroupState::Stable => {
                remove_pending_sync_member(group, &request.member_id);
                if let Some(member) = group.members.get_mut(&request.member_id) {
                    out.respond(
                        token,
                        Response::Sync(SyncGroupResult {
                            error: None,
                            protocol_type: group.protocol_type.clone(),
                            protocol_name: group.protocol_name.clone(),
                            assignment: member.assignment.clone(),
                        }),
                    );
                    member.reschedule_heartbeat(now_ms);
                }
            }
        }
        out
    }
}

fn validate_sync(group: &ClassicGroup, request: &SyncGroup) -> Result<(), GroupError> {
    validate_current_member(group, &request.member_id, request.group_instance_id.as_deref())?;
    if request.generation_id != group.generation_id {
        return Err(GroupError::IllegalGeneration);
    }
    if request.protocol_type.as_ref().is_some_and(|t| group.protocol_type.as_ref() != Some(t)) {
        return Err(GroupError::InconsistentGroupProtocol);
    }
    if request.protocol_name.as_ref().is_some_and(|p| group.protocol_name.as_ref() != Some(p)) {
        return Err(GroupError::InconsistentGroupProtocol);
    }
    Ok(())
}

/// The member has synced; once every member has, nobody can miss the sync deadline.
fn remove_pending_sync_member(group: &mut ClassicGroup, member_id: &str) {
    group.pending_sync_members.remove(member_id);
    if group.pending_sync_members.is_empty() {
        group.sync_timer = None;
    }
}

/// The leader's assignment arrived: store the group with it and answer every waiting
/// member. Members the leader left out get an empty assignment, as in Kafka.
fn complete_assignment(
    config: &crate::GroupConfig,
    group: &mut ClassicGroup,
    assignments: &[(String, Bytes)],
    now_ms: i64,
    out: &mut Output,
) {
    let given: BTreeMap<&str, &Bytes> = assignments.iter().map(|(id, a)| (id.as_str(), a)).collect();
    let assignment: BTreeMap<String, Bytes> = group
        .members
        .keys()
        .map(|id| (id.clone(), given.get(id.as_str()).map(|a| (*a).clone()).unwrap_or_default()))
        .collect();
    let record = group.metadata_record(&assignment);
    if record.encoded_len() > config.write_bytes_max {
        // What Kafka answers when the log refuses the group's record as too large.
        rebalance::reset_and_propagate_assignment_error(group, GroupError::UnknownServerError, now_ms, out);
        rebalance::maybe_prepare_rebalance(config, group, now_ms, out);
        return;
    }
    out.records.push(record);
    rebalance::set_and_propagate_assignment(group, &assignment, now_ms, out);
    group.transition_to(GroupState::Stable, now_ms);
}
