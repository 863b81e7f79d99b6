//! JoinGroup: members enter a group and (re)join its rebalances.
//!
//! A join is usually answered later, when the join phase of the rebalance ends: the
//! request's token waits on the member and the answer appears in the [`Output`] of the
//! call that ended the phase (another join, a leave, or [`GroupCoordinatorShard::tick`]).

use crate::api::{JoinGroup, JoinGroupResult, Output, RequestToken, Response};
use crate::config::{GroupConfig, NEW_MEMBER_JOIN_TIMEOUT_MS, STRING_BYTES_MAX};
use crate::error::GroupError;
use crate::group::{ClassicGroup, GroupState};
use crate::member::Member;
use crate::rebalance;
use crate::shard::{dedup_protocols, Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles a JoinGroup. The answer to `token` is in the returned [`Output`] when it
    /// is known at once, or in the output of a later call.
    pub fn join_group(&mut self, token: RequestToken, request: &JoinGroup, now_ms: i64) -> Output {
        let mut out = Output::default();
        let mut request = request.clone();
        request.protocols = dedup_protocols(&request.protocols);
        if let Err(error) = self.check_join(&request) {
            out.respond(token, Response::Join(JoinGroupResult::error(&request.member_id, error)));
            return out;
        }

        if let Some(group) = self.consumer_groups.get(&request.group_id) {
            // A consumer group with members does not take classic members (no online
            // migration); an empty one is deleted and the group starts over as classic.
            if !group.members.is_empty() {
                let error = GroupError::InconsistentGroupProtocol;
                out.respond(token, Response::Join(JoinGroupResult::error("", error)));
                return out;
            }
            for record in group.tombstones() {
                self.emit(record, &mut out);
            }
        }

        let is_unknown_member = request.member_id.is_empty();
        let new_member_id = is_unknown_member
            .then(|| self.generate_member_id(&request.client_id, request.group_instance_id.as_deref()));
        if !self.groups.contains_key(&request.group_id) {
            if !is_unknown_member {
                out.respond(
                    token,
                    Response::Join(JoinGroupResult::error(&request.member_id, GroupError::UnknownMemberId)),
                );
                return out;
            }
            self.groups.insert(request.group_id.clone(), ClassicGroup::new(&request.group_id, Some(now_ms)));
        }

        let config = &self.config;
        if let Some(group) = self.groups.get_mut(&request.group_id) {
            if !accept_joining_member(config, group, &request.member_id) {
                group.remove(&request.member_id);
                out.respond(token, Response::Join(JoinGroupResult::error("", GroupError::GroupMaxSizeReached)));
            } else if let Some(new_member_id) = new_member_id {
                join_new_member(config, group, token, &request, new_member_id, now_ms, &mut out);
            } else {
                join_current_member(config, group, token, &request, now_ms, &mut out);
            }
            if group.is(GroupState::PreparingRebalance) {
                rebalance::maybe_complete_join(group, now_ms, &mut out);
            }
        }
        self.drop_if_unused(&request.group_id);
        out
    }

    fn check_join(&self, request: &JoinGroup) -> Result<(), GroupError> {
        self.validate_group_status(&request.group_id, Api::Membership)?;
        let timeout = request.session_timeout_ms;
        if timeout < self.config.group_min_session_timeout_ms || timeout > self.config.group_max_session_timeout_ms {
            return Err(GroupError::InvalidSessionTimeout);
        }
        // Everything below is stored in the group's record, whose strings hold at most
        // `int16` bytes; Kafka fails such a join when it writes the record.
        let strings = [
            Some(request.member_id.as_str()),
            request.group_instance_id.as_deref(),
            Some(request.client_id.as_str()),
            Some(request.client_host.as_str()),
            Some(request.protocol_type.as_str()),
        ];
        let too_long = strings.into_iter().flatten().any(|s| s.len() > STRING_BYTES_MAX)
            || request.protocols.iter().any(|p| p.name.len() > STRING_BYTES_MAX);
        if too_long {
            return Err(GroupError::InvalidRequest);
        }
        Ok(())
    }
}

/// Whether the group has room for this member (Kafka's `acceptJoiningMember`). While
/// preparing a rebalance, members already waiting are counted rather than all members,
/// so that lowering `group.max.size` drops the last members to rejoin.
fn accept_joining_member(config: &GroupConfig, group: &ClassicGroup, member_id: &str) -> bool {
    let max = usize::try_from(config.group_max_size).unwrap_or(usize::MAX);
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::PreparingRebalance => {
            group.members.get(member_id).is_some_and(|m| m.awaiting_join.is_some()) || group.num_awaiting_join() < max
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.members.contains_key(member_id) || group.members.len() < max
        }
    }
}

fn join_new_member(
    config: &GroupConfig,
    group: &mut ClassicGroup,
    token: RequestToken,
    request: &JoinGroup,
    new_member_id: String,
    now_ms: i64,
    out: &mut Output,
) {
    if !group.supports_protocols(&request.protocol_type, &request.protocols) {
        out.respond(token, Response::Join(JoinGroupResult::error("", GroupError::InconsistentGroupProtocol)));
        return;
    }
    match &request.group_instance_id {
        Some(instance_id) => match group.static_members.get(instance_id).cloned() {
            Some(old_member_id) => {
                let replace = StaticReplacement { instance_id, old_member_id, new_member_id };
                replace_static_member_and_rebalance(config, group, token, request, replace, now_ms, out);
            }
            None => add_member_and_rebalance(config, group, token, request, new_member_id, now_ms, out),
        },
        None if request.require_known_member_id => {
            // The member must come back with this id; it counts as joining meanwhile.
            group.pending_members.insert(new_member_id.clone(), now_ms + i64::from(request.session_timeout_ms));
            out.respond(token, Response::Join(JoinGroupResult::error(&new_member_id, GroupError::MemberIdRequired)));
        }
        None => add_member_and_rebalance(config, group, token, request, new_member_id, now_ms, out),
    }
}

fn join_current_member(
    config: &GroupConfig,
    group: &mut ClassicGroup,
    token: RequestToken,
    request: &JoinGroup,
    now_ms: i64,
    out: &mut Output,
) {
    let member_id = request.member_id.as_str();
    let fail = |out: &mut Output, error| out.respond(token, Response::Join(JoinGroupResult::error(member_id, error)));
    if !group.supports_protocols(&request.protocol_type, &request.protocols) {
        return fail(out, GroupError::InconsistentGroupProtocol);
    }
    if group.pending_members.contains_key(member_id) {
        if request.group_instance_id.is_some() {
            // Pending ids are only handed to dynamic members; Kafka fails this request.
            return fail(out, GroupError::UnknownServerError);
        }
        return add_member_and_rebalance(config, group, token, request, member_id.to_string(), now_ms, out);
    }
    if let Err(error) = validate_current_member(group, member_id, request.group_instance_id.as_deref()) {
        return fail(out, error);
    }
    let matches = group.members.get(member_id).is_some_and(|m| m.matches(&request.protocols));
    match group.state {
        GroupState::PreparingRebalance => update_member_and_rebalance(config, group, token, request, now_ms, out),
        GroupState::CompletingRebalance if matches => {
            // The member probably missed its answer: give it the current generation again.
            let members = if group.is_leader(member_id) { group.current_member_metadata() } else { Vec::new() };
            out.respond(token, Response::Join(current_generation(group, member_id, members, false)));
        }
        GroupState::Stable if matches && !group.is_leader(member_id) => {
            // A follower with unchanged metadata may simply sync again.
            out.respond(token, Response::Join(current_generation(group, member_id, Vec::new(), false)));
        }
        // Changed metadata, or the leader rejoining (it may have seen topic metadata
        // change, which the members' metadata does not show): rebalance.
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member_and_rebalance(config, group, token, request, now_ms, out)
        }
        GroupState::Empty | GroupState::Dead => fail(out, GroupError::UnknownMemberId),
    }
}

/// Checks that `member_id` is a member and, for a static member, that the instance id
/// still belongs to it (Kafka's `validateCurrentMember`).
pub(crate) fn validate_current_member(
    group: &ClassicGroup,
    member_id: &str,
    group_instance_id: Option<&str>,
) -> Result<(), GroupError> {
    if let Some(instance_id) = group_instance_id {
        match group.static_members.get(instance_id) {
            Some(current) if current != member_id => return Err(GroupError::FencedInstanceId),
            Some(_) => {}
            None => return Err(GroupError::UnknownMemberId),
        }
    }
    if !group.members.contains_key(member_id) {
        return Err(GroupError::UnknownMemberId);
    }
    Ok(())
}

fn current_generation(
    group: &ClassicGroup,
    member_id: &str,
    members: Vec<crate::api::JoinedMember>,
    skip_assignment: bool,
) -> JoinGroupResult {
    JoinGroupResult {
        error: None,
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader_or_empty(),
        skip_assignment,
        member_id: member_id.to_string(),
        members,
    }
}

fn add_member_and_rebalance(
    config: &GroupConfig,
    group: &mut ClassicGroup,
    token: RequestToken,
    request: &JoinGroup,
    member_id: String,
    now_ms: i64,
    out: &mut Output,
) {
    let member = Member {
        member_id,
        group_instance_id: request.group_instance_id.clone(),
        client_id: request.client_id.clone(),
        client_host: request.client_host.clone(),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        session_timeout_ms: request.session_timeout_ms,
        protocol_type: request.protocol_type.clone(),
        protocols: request.protocols.clone(),
        assignment: bytes::Bytes::new(),
        awaiting_join: Some(token),
        awaiting_sync: None,
        is_new: true,
        // A new member cannot heartbeat before its first generation, and a client that
        // disconnected while waiting would stay forever: bound its wait instead.
        heartbeat_deadline_ms: Some(now_ms + NEW_MEMBER_JOIN_TIMEOUT_MS),
    };
    if group.is(GroupState::PreparingRebalance) && group.generation_id == 0 {
        group.new_member_added = true;
    }
    group.add(member);
    rebalance::maybe_prepare_rebalance(config, group, now_ms, out);
}

/// Records the member's new protocols and timeouts, makes its request wait for the
/// rebalance, and starts one if none is under way.
fn update_member_and_rebalance(
    config: &GroupConfig,
    group: &mut ClassicGroup,
    token: RequestToken,
    request: &JoinGroup,
    now_ms: i64,
    out: &mut Output,
) {
    if let Some(member) = group.members.get_mut(&request.member_id) {
        update_member(member, token, request, out);
    }
    rebalance::maybe_prepare_rebalance(config, group, now_ms, out);
}

fn update_member(member: &mut Member, token: RequestToken, request: &JoinGroup, out: &mut Output) {
    member.protocols = request.protocols.clone();
    member.rebalance_timeout_ms = request.rebalance_timeout_ms;
    member.session_timeout_ms = request.session_timeout_ms;
    if let Some(displaced) = member.awaiting_join.replace(token) {
        // A second JoinGroup while the first still waits: Kafka forgets the first one;
        // answering it lets its waiter go. The client rejoins if it still listens.
        out.respond(
            displaced,
            Response::Join(JoinGroupResult::error(&member.member_id, GroupError::RebalanceInProgress)),
        );
    }
}

struct StaticReplacement<'a> {
    instance_id: &'a str,
    old_member_id: String,
    new_member_id: String,
}

/// A static member rejoins with a new member id (it restarted): the new id takes over
/// the old one's place, assignment included; the old id is fenced. A stable group whose
/// protocol choice stays the same does not rebalance (KIP-345).
fn replace_static_member_and_rebalance(
    config: &GroupConfig,
    group: &mut ClassicGroup,
    token: RequestToken,
    request: &JoinGroup,
    replace: StaticReplacement<'_>,
    now_ms: i64,
    out: &mut Output,
) {
    let StaticReplacement { instance_id, old_member_id, new_member_id } = replace;
    let previous_leader = group.leader_or_empty();
    let Some(mut member) = group.members.remove(&old_member_id) else {
        out.respond(token, Response::Join(JoinGroupResult::error("", GroupError::UnknownServerError)));
        return;
    };
    if let Some(stale) = member.awaiting_join.take() {
        out.respond(stale, Response::Join(JoinGroupResult::error(&old_member_id, GroupError::FencedInstanceId)));
    }
    if let Some(stale) = member.awaiting_sync.take() {
        out.respond(stale, Response::Sync(crate::api::SyncGroupResult::error(GroupError::FencedInstanceId)));
    }
    member.member_id = new_member_id.clone();
    member.reschedule_heartbeat(now_ms);
    update_member(&mut member, token, request, out);
    group.members.insert(new_member_id.clone(), member);
    if group.leader_id.as_deref() == Some(old_member_id.as_str()) {
        group.leader_id = Some(new_member_id.clone());
    }
    if group.pending_sync_members.remove(&old_member_id) {
        group.pending_sync_members.insert(new_member_id.clone());
    }
    group.static_members.insert(instance_id.to_string(), new_member_id.clone());

    match group.state {
        GroupState::Stable if group.select_protocol() == group.protocol_name => {
            // Nothing the assignment depends on changed: store the new member id and
            // answer at once with the current generation.
            if let Some(member) = group.members.get_mut(&new_member_id) {
                member.awaiting_join = None;
            }
            out.records.push(group.current_metadata_record());
            let result = if request.support_skipping_assignment {
                // v9+: tell a rejoining leader it leads, but that the assignment stands.
                let is_leader = group.is_leader(&new_member_id);
                let members = if is_leader { group.current_member_metadata() } else { Vec::new() };
                current_generation(group, &new_member_id, members, is_leader)
            } else {
                // Older clients: name the previous leader id so that a rejoining leader
                // does not think it leads and recompute an assignment nobody would get.
                JoinGroupResult {
                    leader: previous_leader,
                    ..current_generation(group, &new_member_id, Vec::new(), false)
                }
            };
            out.respond(token, Response::Join(result));
        }
        GroupState::Stable => rebalance::maybe_prepare_rebalance(config, group, now_ms, out),
        // The leader may already have computed an assignment naming the old id.
        GroupState::CompletingRebalance => rebalance::prepare_rebalance(config, group, now_ms, out),
        GroupState::PreparingRebalance => {}
        GroupState::Empty | GroupState::Dead => {
            debug_assert!(false, "a group with a static member cannot be {}", group.state);
        }
    }
}
