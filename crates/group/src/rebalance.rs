//! The rebalance protocol's moving parts, shared by every operation: preparing a
//! rebalance, completing the join phase, handing out assignments, removing members.
//!
//! These mirror Kafka's `GroupCoordinator` (`prepareRebalance`, `onCompleteJoin`,
//! `propagateAssignment`, `removeMemberAndUpdateGroup`, …). Where Kafka registers a
//! delayed operation in a purgatory, the group here records a deadline
//! ([`JoinTimer`], `sync_timer`, a member's `heartbeat_deadline_ms`) that
//! [`crate::GroupCoordinatorShard::tick`] fires; where Kafka calls a response callback,
//! the answer goes into the [`Output`] under the waiting request's token.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::api::{JoinGroupResult, Output, Response, SyncGroupResult};
use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::group::{ClassicGroup, GroupState, JoinTimer};

/// Starts a rebalance if the group's state allows one.
pub(crate) fn maybe_prepare_rebalance(cfg: &GroupConfig, group: &mut ClassicGroup, now_ms: i64, out: &mut Output) {
    if group.can_rebalance() {
        prepare_rebalance(cfg, group, now_ms, out);
    }
}

/// Moves the group to `PreparingRebalance`: members waiting for an assignment are told
/// to rejoin, and the join phase gets its deadline (the initial delay for an empty
/// group, the members' largest rebalance timeout otherwise).
pub(crate) fn prepare_rebalance(cfg: &GroupConfig, group: &mut ClassicGroup, now_ms: i64, out: &mut Output) {
    if group.is(GroupState::CompletingRebalance) {
        reset_and_propagate_assignment_error(group, GroupError::RebalanceInProgress, now_ms, out);
    }
    group.pending_sync_members.clear();
    group.sync_timer = None;

    let rebalance_timeout_ms = group.rebalance_timeout_ms();
    group.join_timer = Some(if group.is(GroupState::Empty) {
        let delay_ms = i64::from(cfg.group_initial_rebalance_delay_ms.max(0));
        JoinTimer::Initial {
            deadline_ms: now_ms + delay_ms,
            configured_delay_ms: delay_ms,
            delay_ms,
            remaining_ms: (rebalance_timeout_ms - delay_ms).max(0),
        }
    } else {
        JoinTimer::Rebalance { deadline_ms: now_ms + rebalance_timeout_ms }
    });
    group.transition_to(GroupState::PreparingRebalance, now_ms);
    maybe_complete_join(group, now_ms, out);
}

/// Completes the join phase early when every member has rejoined (not during the
/// initial delay, which always runs its course).
pub(crate) fn maybe_complete_join(group: &mut ClassicGroup, now_ms: i64, out: &mut Output) {
    let ordinary = matches!(group.join_timer, Some(JoinTimer::Rebalance { .. }));
    if group.is(GroupState::PreparingRebalance) && ordinary && group.has_all_members_joined() {
        group.join_timer = None;
        complete_join(group, now_ms, out);
    }
}

/// The join timer ran out.
pub(crate) fn expire_join(group: &mut ClassicGroup, now_ms: i64, out: &mut Output) {
    match group.join_timer.take() {
        Some(JoinTimer::Initial { configured_delay_ms, delay_ms, remaining_ms, .. })
            if group.new_member_added && remaining_ms != 0 =>
        {
            // Members are still arriving: wait another delay, within the rebalance timeout.
            group.new_member_added = false;
            let delay = configured_delay_ms.min(remaining_ms);
            group.join_timer = Some(JoinTimer::Initial {
                deadline_ms: now_ms + delay,
                configured_delay_ms,
                delay_ms: delay,
                remaining_ms: (remaining_ms - delay_ms).max(0),
            });
        }
        Some(_) => complete_join(group, now_ms, out),
        None => {}
    }
}

/// Ends the join phase (Kafka's `onCompleteJoin`): dynamic members that did not rejoin
/// are dropped, the next generation starts, and every joined member gets its answer,
/// the leader with everybody's metadata.
pub(crate) fn complete_join(group: &mut ClassicGroup, now_ms: i64, out: &mut Output) {
    let not_rejoined: Vec<String> = group
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none() && !m.is_static())
        .map(|m| m.member_id.clone())
        .collect();
    for member_id in not_rejoined {
        group.remove(&member_id);
    }

    if !group.maybe_elect_new_joined_leader() && !group.members.is_empty() {
        // Only static members that did not rejoin are left: wait for them (or for their
        // sessions to expire) another rebalance timeout.
        group.join_timer = Some(JoinTimer::Rebalance { deadline_ms: now_ms + group.rebalance_timeout_ms() });
        return;
    }

    group.new_member_added = false;
    group.init_next_generation(now_ms);
    if group.is(GroupState::Empty) {
        out.records.push(group.metadata_record(&BTreeMap::new()));
        return;
    }

    let leader_members = group.current_member_metadata();
    let generation_id = group.generation_id;
    let protocol_type = group.protocol_type.clone();
    let protocol_name = group.protocol_name.clone();
    let leader = group.leader_or_empty();
    for member in group.members.values_mut() {
        if let Some(token) = member.awaiting_join.take() {
            out.respond(
                token,
                Response::Join(JoinGroupResult {
                    error: None,
                    generation_id,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    leader: leader.clone(),
                    skip_assignment: false,
                    member_id: member.member_id.clone(),
                    members: if member.member_id == leader { leader_members.clone() } else { Vec::new() },
                }),
            );
        }
        member.reschedule_heartbeat(now_ms);
        member.is_new = false;
    }
    group.pending_sync_members = group.members.keys().cloned().collect();
    group.sync_timer = Some((generation_id, now_ms + group.rebalance_timeout_ms()));
}

/// Gives every member its assignment and answers the members waiting in SyncGroup.
pub(crate) fn set_and_propagate_assignment(
    group: &mut ClassicGroup,
    assignment: &BTreeMap<String, Bytes>,
    now_ms: i64,
    out: &mut Output,
) {
    debug_assert!(group.is(GroupState::CompletingRebalance));
    for member in group.members.values_mut() {
        member.assignment = assignment.get(&member.member_id).cloned().unwrap_or_default();
    }
    propagate_assignment(group, None, now_ms, out);
}

/// Clears the assignments and answers the members waiting in SyncGroup with `error`.
pub(crate) fn reset_and_propagate_assignment_error(
    group: &mut ClassicGroup,
    error: GroupError,
    now_ms: i64,
    out: &mut Output,
) {
    debug_assert!(group.is(GroupState::CompletingRebalance));
    for member in group.members.values_mut() {
        member.assignment = Bytes::new();
    }
    propagate_assignment(group, Some(error), now_ms, out);
}

fn propagate_assignment(group: &mut ClassicGroup, error: Option<GroupError>, now_ms: i64, out: &mut Output) {
    let (protocol_type, protocol_name) = match error {
        None => (group.protocol_type.clone(), group.protocol_name.clone()),
        Some(_) => (None, None),
    };
    for member in group.members.values_mut() {
        if let Some(token) = member.awaiting_sync.take() {
            out.respond(
                token,
                Response::Sync(SyncGroupResult {
                    error,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: member.assignment.clone(),
                }),
            );
            // A session that ran out while the member waited was ignored; start a new one.
            member.reschedule_heartbeat(now_ms);
        }
    }
}

/// Removes a member that left or failed, and lets the group react: a rebalance when it
/// was stable, or an earlier end of a join phase that waited for this member.
pub(crate) fn remove_member_and_update_group(
    cfg: &GroupConfig,
    group: &mut ClassicGroup,
    member_id: &str,
    now_ms: i64,
    out: &mut Output,
) {
    if let Some(token) = group.members.get_mut(member_id).and_then(|m| m.awaiting_join.take()) {
        // A new member timing out while it waits: it may retry, so tell it to start over.
        out.respond(token, Response::Join(JoinGroupResult::error("", GroupError::UnknownMemberId)));
    }
    if let Some(token) = group.members.get_mut(member_id).and_then(|m| m.awaiting_sync.take()) {
        out.respond(token, Response::Sync(SyncGroupResult::error(GroupError::UnknownMemberId)));
    }
    group.remove(member_id);
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => maybe_prepare_rebalance(cfg, group, now_ms, out),
        GroupState::PreparingRebalance => maybe_complete_join(group, now_ms, out),
        GroupState::Empty | GroupState::Dead => {}
    }
}

/// Removes a member that got an id but never joined with it.
pub(crate) fn remove_pending_member_and_update_group(
    group: &mut ClassicGroup,
    member_id: &str,
    now_ms: i64,
    out: &mut Output,
) {
    group.remove(member_id);
    if group.is(GroupState::PreparingRebalance) {
        maybe_complete_join(group, now_ms, out);
    }
}

/// Members that never sent their SyncGroup by the deadline are removed, and the group
/// rebalances without them (Kafka's `onExpirePendingSync`).
pub(crate) fn expire_pending_sync(cfg: &GroupConfig, group: &mut ClassicGroup, now_ms: i64, out: &mut Output) {
    let Some((generation, _)) = group.sync_timer.take() else { return };
    if generation != group.generation_id
        || !matches!(group.state, GroupState::CompletingRebalance | GroupState::Stable)
        || group.pending_sync_members.is_empty()
    {
        return;
    }
    let late: Vec<String> = group.pending_sync_members.iter().cloned().collect();
    for member_id in &late {
        if let Some(token) = group.members.get_mut(member_id).and_then(|m| m.awaiting_join.take()) {
            out.respond(token, Response::Join(JoinGroupResult::error("", GroupError::UnknownMemberId)));
        }
        group.remove(member_id);
    }
    prepare_rebalance(cfg, group, now_ms, out);
}

/// A member's session deadline passed.
pub(crate) fn expire_heartbeat(
    cfg: &GroupConfig,
    group: &mut ClassicGroup,
    member_id: &str,
    now_ms: i64,
    out: &mut Output,
) {
    let Some(member) = group.members.get_mut(member_id) else { return };
    member.heartbeat_deadline_ms = None;
    if member.expires_at_deadline() {
        remove_member_and_update_group(cfg, group, member_id, now_ms, out);
    }
}
