//! A classic group: its state machine, members and committed offsets.
//!
//! ```text
//!                 first join / member change          all joined or rebalance timeout
//!   Empty ─────────────────────────────► PreparingRebalance ──────────────────► CompletingRebalance
//!     ▲   ◄──── nobody rejoined ─────────────┘   ▲    ▲                                │
//!     │                                          │    └──── member change ─────────────┤ leader's
//!     │ offsets expired / group deleted          └──── member change / leader rejoins ─┤ SyncGroup
//!     ▼                                                                                ▼
//!   Dead (removed)                                                                   Stable
//! ```
//!
//! The generation increases each time a rebalance completes. Only members of the current
//! generation may sync, heartbeat and commit; the leader (one member) computes the
//! assignment on the client side and hands it to the coordinator in its SyncGroup.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

use crate::api::{GroupDescription, JoinedMember, MemberDescription, Protocol};
use crate::consumer_protocol::{subscribed_topics, CONSUMER_PROTOCOL_TYPE};
use crate::member::Member;
use crate::records::{GroupMetadataKey, GroupMetadataValue, GroupRecord, MemberMetadataValue};

/// The state of a classic group, named as Kafka names it to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    /// No members; offsets may remain.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// A new generation formed; waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments.
    Stable,
    /// Removed (only ever reported for groups that do not exist).
    Dead,
}

impl GroupState {
    /// Kafka's name of the state, as ListGroups and DescribeGroups report it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    fn valid_previous(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When the join phase of a rebalance ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinTimer {
    /// The first rebalance of an empty group (Kafka's `InitialDelayedJoin`): waits the
    /// full delay even if everybody joined, and waits again (up to `remaining_ms` in
    /// total) while new members keep arriving.
    Initial { deadline_ms: i64, configured_delay_ms: i64, delay_ms: i64, remaining_ms: i64 },
    /// Any other rebalance (`DelayedJoin`): ends when every member rejoined, or at the
    /// deadline (the largest rebalance timeout of the members), dropping the others.
    Rebalance { deadline_ms: i64 },
}

impl JoinTimer {
    pub(crate) fn deadline_ms(&self) -> i64 {
        match *self {
            JoinTimer::Initial { deadline_ms, .. } | JoinTimer::Rebalance { deadline_ms } => deadline_ms,
        }
    }
}

/// A group and everything the coordinator knows about it.
#[derive(Debug, Clone)]
pub(crate) struct ClassicGroup {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    /// When the group entered `state`; `None` when loaded from a record without it.
    pub(crate) state_timestamp_ms: Option<i64>,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation_id: i32,
    pub(crate) leader_id: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// `group.instance.id` to the member id currently holding it.
    pub(crate) static_members: BTreeMap<String, String>,
    /// Members told `MEMBER_ID_REQUIRED`, with the deadline for their second join.
    pub(crate) pending_members: BTreeMap<String, i64>,
    /// Members of the new generation that have not sent their SyncGroup yet.
    pub(crate) pending_sync_members: BTreeSet<String>,
    /// A member joined during the initial delay, so the delay is extended.
    pub(crate) new_member_added: bool,
    pub(crate) join_timer: Option<JoinTimer>,
    /// Generation and deadline by which every member must have sent its SyncGroup.
    pub(crate) sync_timer: Option<(i32, i64)>,
    /// Topics the members of a `consumer` group subscribe to; `None` when unknown.
    pub(crate) subscribed_topics: Option<BTreeSet<String>>,
}

impl ClassicGroup {
    pub(crate) fn new(group_id: &str, state_timestamp_ms: Option<i64>) -> Self {
        ClassicGroup {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync_members: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            subscribed_topics: None,
        }
    }

    pub(crate) fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub(crate) fn leader_or_empty(&self) -> String {
        self.leader_id.clone().unwrap_or_default()
    }

    pub(crate) fn transition_to(&mut self, state: GroupState, now_ms: i64) {
        debug_assert!(
            state.valid_previous().contains(&self.state),
            "group {} cannot move from {} to {}",
            self.group_id,
            self.state,
            state
        );
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    /// Kafka's `PreparingRebalance.validPreviousStates`.
    pub(crate) fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance.valid_previous().contains(&self.state)
    }

    pub(crate) fn num_awaiting_join(&self) -> usize {
        self.members.values().filter(|m| m.awaiting_join.is_some()).count()
    }

    pub(crate) fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.num_awaiting_join() && self.pending_members.is_empty()
    }

    /// The largest rebalance timeout among the members.
    pub(crate) fn rebalance_timeout_ms(&self) -> i64 {
        self.members.values().map(|m| i64::from(m.rebalance_timeout_ms)).max().unwrap_or(0).max(0)
    }

    /// Adds a member; the first member fixes the protocol type, and becomes leader if
    /// there is none.
    pub(crate) fn add(&mut self, member: Member) {
        if let Some(instance_id) = &member.group_instance_id {
            debug_assert!(!self.static_members.contains_key(instance_id));
            self.static_members.insert(instance_id.clone(), member.member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member; a departing leader hands over to the first remaining member.
    pub(crate) fn remove(&mut self, member_id: &str) -> Option<Member> {
        let removed = self.members.remove(member_id);
        if let Some(instance_id) = removed.as_ref().and_then(|m| m.group_instance_id.as_ref()) {
            self.static_members.remove(instance_id);
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_members.remove(member_id);
        self.pending_sync_members.remove(member_id);
        removed
    }

    /// Makes sure the leader is among the members that rejoined, electing another one if
    /// not. False when no member rejoined (or there are no members).
    pub(crate) fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.as_ref().and_then(|id| self.members.get(id)) else {
            return false;
        };
        if leader.awaiting_join.is_some() {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(joined) => {
                self.leader_id = Some(joined.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// The protocols every member supports.
    fn candidate_protocols(&self) -> BTreeSet<&str> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            for p in &member.protocols {
                *counts.entry(p.name.as_str()).or_default() += 1;
            }
        }
        counts.into_iter().filter(|&(_, n)| n == self.members.len()).map(|(name, _)| name).collect()
    }

    /// Whether a member with this protocol type and these protocols may join: the first
    /// member needs both; later ones the group's type and a protocol all others support.
    pub(crate) fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.is(GroupState::Empty) {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let n = self.members.len();
        protocols
            .iter()
            .any(|p| self.members.values().filter(|m| m.protocols.iter().any(|q| q.name == p.name)).count() == n)
    }

    /// The protocol of the next generation: among those every member supports, each
    /// member votes for its most preferred; the most votes win (Kafka's `selectProtocol`).
    /// Kafka breaks a tie by hash-map order; here the leader's preference breaks it, so
    /// the choice is deterministic.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(vote) = member.vote(&candidates) {
                *votes.entry(vote).or_default() += 1;
            }
        }
        let most = votes.values().copied().max()?;
        let tied: BTreeSet<&str> = votes.iter().filter(|&(_, &n)| n == most).map(|(&p, _)| p).collect();
        let leader_order = self
            .leader_id
            .as_ref()
            .and_then(|id| self.members.get(id))
            .and_then(|leader| leader.protocols.iter().map(|p| p.name.as_str()).find(|p| tied.contains(p)));
        leader_order.or_else(|| tied.iter().next().copied()).map(str::to_string)
    }

    /// Starts the next generation after the join phase: `CompletingRebalance` with the
    /// selected protocol, or `Empty` when nobody is left.
    pub(crate) fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::CompletingRebalance, now_ms);
        }
        self.pending_sync_members.clear();
    }

    /// Every member with its metadata for the selected protocol, as the leader receives it.
    pub(crate) fn current_member_metadata(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// The subscribed topics of a `consumer` group with a protocol; `None` for other
    /// protocol types or unreadable subscriptions.
    pub(crate) fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            topics.extend(subscribed_topics(member.metadata(protocol)?)?);
        }
        Some(topics)
    }

    /// Whether the group consumes `topic`; true when that is not known, to be safe.
    pub(crate) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topics.as_ref().is_none_or(|topics| topics.contains(topic))
    }

    /// The group's metadata record with the given assignment per member.
    pub(crate) fn metadata_record(&self, assignment: &BTreeMap<String, Bytes>) -> GroupRecord {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        let members = self
            .members
            .values()
            .map(|m| MemberMetadataValue {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                subscription: m.metadata(protocol).cloned().unwrap_or_default(),
                assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
            })
            .collect();
        GroupRecord::GroupMetadata {
            key: GroupMetadataKey { group: self.group_id.clone() },
            value: Some(GroupMetadataValue {
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                generation: self.generation_id,
                protocol: self.protocol_name.clone(),
                leader: self.leader_id.clone(),
                current_state_timestamp_ms: self.state_timestamp_ms.unwrap_or(-1),
                members,
            }),
        }
    }

    /// The record of the group as it stands, with each member's current assignment.
    pub(crate) fn current_metadata_record(&self) -> GroupRecord {
        let assignment = self.members.values().map(|m| (m.member_id.clone(), m.assignment.clone())).collect();
        self.metadata_record(&assignment)
    }

    /// The group as DescribeGroups shows it: metadata and assignments only when stable.
    pub(crate) fn describe(&self) -> GroupDescription {
        let stable = self.is(GroupState::Stable);
        let protocol = if stable { self.protocol_name.clone().unwrap_or_default() } else { String::new() };
        let members = self
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable { m.metadata(&protocol).cloned().unwrap_or_default() } else { Bytes::new() },
                assignment: if stable { m.assignment.clone() } else { Bytes::new() },
            })
            .collect();
        GroupDescription {
            group_id: self.group_id.clone(),
            error: None,
            state: self.state.name().to_string(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }
}
