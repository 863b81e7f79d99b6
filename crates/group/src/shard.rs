//! One partition of `__consumer_offsets` and the groups it coordinates.
//!
//! The shard is created when its broker becomes leader of the partition, replays the
//! partition's records ([`GroupCoordinatorShard::replay`]) and then serves requests
//! ([`GroupCoordinatorShard::complete_load`]). The operations live in one file per API
//! (`join.rs`, `sync.rs`, …); this file holds the state, loading, timers and the checks
//! every request starts with.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::api::{JoinGroupResult, Output, Protocol, Response, SyncGroupResult};
use crate::config::{GroupConfig, STRING_BYTES_MAX};
use crate::consumer_group::{ConsumerGroup, MemberState};
use crate::error::GroupError;
use crate::group::{ClassicGroup, GroupState};
use crate::member::Member;
use crate::partition_for::partition_for;
use crate::rebalance;
use crate::records::{GroupMetadataKey, GroupMetadataValue, GroupRecord, OffsetCommitKey, OffsetCommitValue};

/// The group coordinator for the groups of one `__consumer_offsets` partition.
///
/// A pure state machine: every call takes the current time and returns what to write
/// and whom to answer ([`Output`]); it does no I/O and reads no clock.
#[derive(Debug, Clone)]
pub struct GroupCoordinatorShard {
    partition: i32,
    pub(crate) config: GroupConfig,
    loading: bool,
    pub(crate) groups: BTreeMap<String, ClassicGroup>,
    /// KIP-848 consumer groups; a group id names a classic or a consumer group, never both.
    pub(crate) consumer_groups: BTreeMap<String, ConsumerGroup>,
    /// Committed offsets by group, then topic and partition (of either kind of group).
    pub(crate) offsets: BTreeMap<String, BTreeMap<(String, i32), OffsetCommitValue>>,
    next_offset_expiration_ms: Option<i64>,
    member_ids: MemberIdGenerator,
}

/// Which API a request came from, for the checks every request starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// JoinGroup, SyncGroup, Heartbeat, LeaveGroup: the group id must not be empty.
    Membership,
    /// OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups, DeleteGroups: an empty
    /// group id is allowed, as Kafka allows it.
    Offsets,
}

impl GroupCoordinatorShard {
    /// A shard for `partition`, loading until [`Self::complete_load`].
    ///
    /// `member_id_seed` makes the generated member ids unique; pass a random value (two
    /// shards, or one shard before and after a restart, must not share a seed).
    ///
    /// # Panics
    /// If `partition` is not below `config.offsets_topic_num_partitions`.
    pub fn new(partition: i32, config: GroupConfig, member_id_seed: u64) -> Self {
        assert!((0..config.offsets_topic_num_partitions).contains(&partition), "partition {partition} out of range");
        GroupCoordinatorShard {
            partition,
            config,
            loading: true,
            groups: BTreeMap::new(),
            consumer_groups: BTreeMap::new(),
            offsets: BTreeMap::new(),
            next_offset_expiration_ms: None,
            member_ids: MemberIdGenerator::new(member_id_seed),
        }
    }

    /// The `__consumer_offsets` partition this shard coordinates.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Whether the shard is still replaying its partition.
    pub fn is_loading(&self) -> bool {
        self.loading
    }

    /// Applies one stored record: the latest record per key wins and a tombstone
    /// deletes. Used while loading, and by the shard itself for the offset records it
    /// writes, so live state and replayed state are built by the same code.
    pub fn replay(&mut self, record: &GroupRecord) {
        match record {
            GroupRecord::OffsetCommit { key, value: Some(value) } => {
                // Offsets without a group make a "simple" classic group, as in Kafka.
                if !self.consumer_groups.contains_key(&key.group) && !self.groups.contains_key(&key.group) {
                    self.groups.insert(key.group.clone(), ClassicGroup::new(&key.group, None));
                }
                let offsets = self.offsets.entry(key.group.clone()).or_default();
                offsets.insert((key.topic.clone(), key.partition), value.clone());
            }
            GroupRecord::OffsetCommit { key, value: None } => {
                if let Some(offsets) = self.offsets.get_mut(&key.group) {
                    offsets.remove(&(key.topic.clone(), key.partition));
                    if offsets.is_empty() {
                        self.offsets.remove(&key.group);
                    }
                }
                self.drop_if_unused(&key.group);
            }
            GroupRecord::GroupMetadata { key, value: Some(value) } => {
                self.consumer_groups.remove(&key.group);
                self.groups.insert(key.group.clone(), group_from_record(&key.group, value));
            }
            GroupRecord::GroupMetadata { key, value: None } => {
                if let Some(group) = self.groups.get_mut(&key.group) {
                    *group = ClassicGroup::new(&key.group, None);
                }
                self.drop_if_unused(&key.group);
            }
            GroupRecord::ConsumerGroupMetadata { key, value: None } => {
                self.consumer_groups.remove(&key.group);
                if self.offsets.contains_key(&key.group) {
                    self.groups.insert(key.group.clone(), ClassicGroup::new(&key.group, None));
                }
            }
            GroupRecord::ConsumerGroupMetadata { .. } | GroupRecord::ConsumerGroupMemberMetadata { value: Some(_), .. } => {
                // These create the consumer group, which replaces an empty classic group.
                let group_id = record.group_id();
                if !self.consumer_groups.contains_key(group_id) {
                    self.groups.remove(group_id);
                    self.consumer_groups.insert(group_id.to_string(), ConsumerGroup::new(group_id));
                }
                if let Some(group) = self.consumer_groups.get_mut(group_id) {
                    group.replay(record);
                }
            }
            GroupRecord::ConsumerGroupPartitionMetadata { .. }
            | GroupRecord::ConsumerGroupMemberMetadata { .. }
            | GroupRecord::ConsumerGroupTargetAssignmentMetadata { .. }
            | GroupRecord::ConsumerGroupTargetAssignmentMember { .. }
            | GroupRecord::ConsumerGroupCurrentMemberAssignment { .. } => {
                if let Some(group) = self.consumer_groups.get_mut(record.group_id()) {
                    group.replay(record);
                }
            }
        }
    }

    /// Ends loading: members of loaded groups get a fresh session to heartbeat in, and
    /// the offset retention check is scheduled.
    pub fn complete_load(&mut self, now_ms: i64) -> Output {
        self.loading = false;
        let mut out = Output::default();
        let max_size = self.config.group_max_size;
        for group in self.groups.values_mut() {
            for member in group.members.values_mut() {
                member.reschedule_heartbeat(now_ms);
            }
            if group.members.len() > usize::try_from(max_size).unwrap_or(usize::MAX) {
                // Over a lowered group.max.size: rebalance so the extra members drop out.
                rebalance::prepare_rebalance(&self.config, group, now_ms, &mut out);
            }
        }
        let session_ms = i64::from(self.config.consumer_session_timeout_ms);
        for group in self.consumer_groups.values_mut() {
            for member in group.members.values_mut() {
                member.session_deadline_ms = Some(now_ms + session_ms);
                if member.state == MemberState::UnrevokedPartitions {
                    let timeout_ms = i64::from(member.metadata.rebalance_timeout_ms.max(0));
                    member.rebalance_deadline = Some((member.member_epoch, now_ms + timeout_ms));
                }
            }
        }
        self.next_offset_expiration_ms = Some(now_ms + self.config.offsets_retention_check_interval_ms);
        out
    }

    /// Gives up the partition (another broker leads it now): every waiting request is
    /// answered `NOT_COORDINATOR` so its client finds the new coordinator.
    pub fn unload(&mut self) -> Output {
        let mut out = Output::default();
        for group in self.groups.values_mut() {
            for member in group.members.values_mut() {
                if let Some(token) = member.awaiting_join.take() {
                    out.respond(
                        token,
                        Response::Join(JoinGroupResult::error(&member.member_id, GroupError::NotCoordinator)),
                    );
                }
                if let Some(token) = member.awaiting_sync.take() {
                    out.respond(token, Response::Sync(SyncGroupResult::error(GroupError::NotCoordinator)));
                }
            }
        }
        self.groups.clear();
        self.consumer_groups.clear();
        self.offsets.clear();
        self.loading = true;
        out
    }

    /// The earliest time at which [`Self::tick`] has something to do.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let groups = self.groups.values().flat_map(|g| {
            let members = g.members.values().filter_map(|m| m.heartbeat_deadline_ms);
            let pending = g.pending_members.values().copied();
            let timers = g.join_timer.map(|t| t.deadline_ms()).into_iter().chain(g.sync_timer.map(|(_, d)| d));
            members.chain(pending).chain(timers)
        });
        let consumers = self.consumer_groups.values().flat_map(|g| {
            g.members.values().flat_map(|m| m.session_deadline_ms.into_iter().chain(m.rebalance_deadline.map(|(_, d)| d)))
        });
        groups.chain(consumers).chain(self.next_offset_expiration_ms).min()
    }

    /// Fires every deadline at or before `now_ms`, earliest first: sessions that ran
    /// out, join phases and sync phases that ended, pending members that never came
    /// back, and the periodic offset retention check.
    pub fn tick(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        if self.loading {
            return out;
        }
        for (deadline_ms, group_id, timer) in self.due_timers(now_ms) {
            let config = &self.config;
            if let Timer::OffsetRetention = timer {
                if self.next_offset_expiration_ms == Some(deadline_ms) {
                    self.next_offset_expiration_ms = Some(now_ms + config.offsets_retention_check_interval_ms);
                    self.expire_offsets(now_ms, &mut out);
                }
                continue;
            }
            if let Timer::ConsumerSession(member_id) | Timer::ConsumerRebalance(member_id) = &timer {
                self.expire_consumer_member(&group_id, member_id, &timer, deadline_ms, &mut out);
                continue;
            }
            let Some(group) = self.groups.get_mut(&group_id) else { continue };
            match timer {
                Timer::PendingMember(member_id) => {
                    if group.pending_members.get(&member_id) == Some(&deadline_ms) {
                        rebalance::remove_pending_member_and_update_group(group, &member_id, now_ms, &mut out);
                    }
                }
                Timer::Heartbeat(member_id) => {
                    let current = group.members.get(&member_id).and_then(|m| m.heartbeat_deadline_ms);
                    if current == Some(deadline_ms) {
                        rebalance::expire_heartbeat(config, group, &member_id, now_ms, &mut out);
                    }
                }
                Timer::Sync => {
                    if group.sync_timer.map(|(_, d)| d) == Some(deadline_ms) {
                        rebalance::expire_pending_sync(config, group, now_ms, &mut out);
                    }
                }
                Timer::Join => {
                    if group.join_timer.map(|t| t.deadline_ms()) == Some(deadline_ms) {
                        rebalance::expire_join(group, now_ms, &mut out);
                    }
                }
                Timer::OffsetRetention | Timer::ConsumerSession(_) | Timer::ConsumerRebalance(_) => {}
            }
            self.drop_if_unused(&group_id);
        }
        out
    }

    /// The timers due at `now_ms`, in firing order. Timers a fired one schedules wait for
    /// the next tick, so a zero timeout cannot spin inside one call.
    fn due_timers(&self, now_ms: i64) -> Vec<(i64, String, Timer)> {
        let mut due = Vec::new();
        for (group_id, g) in &self.groups {
            for (member_id, &d) in &g.pending_members {
                due.push((d, group_id.clone(), Timer::PendingMember(member_id.clone())));
            }
            for m in g.members.values() {
                if let Some(d) = m.heartbeat_deadline_ms {
                    due.push((d, group_id.clone(), Timer::Heartbeat(m.member_id.clone())));
                }
            }
            if let Some((_, d)) = g.sync_timer {
                due.push((d, group_id.clone(), Timer::Sync));
            }
            if let Some(t) = g.join_timer {
                due.push((t.deadline_ms(), group_id.clone(), Timer::Join));
            }
        }
        for (group_id, g) in &self.consumer_groups {
            for m in g.members.values() {
                if let Some(d) = m.session_deadline_ms {
                    due.push((d, group_id.clone(), Timer::ConsumerSession(m.member_id.clone())));
                }
                if let Some((_, d)) = m.rebalance_deadline {
                    due.push((d, group_id.clone(), Timer::ConsumerRebalance(m.member_id.clone())));
                }
            }
        }
        if let Some(d) = self.next_offset_expiration_ms {
            due.push((d, String::new(), Timer::OffsetRetention));
        }
        due.retain(|(d, _, _)| *d <= now_ms);
        due.sort();
        due
    }

    /// The checks every request starts with (Kafka's `validateGroupStatus`).
    pub(crate) fn validate_group_status(&self, group_id: &str, api: Api) -> Result<(), GroupError> {
        if (api == Api::Membership && group_id.is_empty()) || group_id.len() > STRING_BYTES_MAX {
            return Err(GroupError::InvalidGroupId);
        }
        if self.loading {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        if partition_for(group_id, self.config.offsets_topic_num_partitions) != self.partition {
            return Err(GroupError::NotCoordinator);
        }
        Ok(())
    }

    /// A consumer group member's fresh id: a UUID, as Kafka makes them.
    pub(crate) fn generate_uuid(&mut self) -> String {
        self.member_ids.next_uuid()
    }

    /// Fences a consumer group member whose session or rebalance deadline passed, if
    /// that deadline is still the member's.
    fn expire_consumer_member(&mut self, group_id: &str, member_id: &str, timer: &Timer, deadline_ms: i64, out: &mut Output) {
        let Some(member) = self.consumer_groups.get(group_id).and_then(|g| g.members.get(member_id)) else { return };
        let due = match timer {
            Timer::ConsumerSession(_) => member.session_deadline_ms == Some(deadline_ms),
            _ => member.rebalance_deadline.is_some_and(|(epoch, d)| d == deadline_ms && epoch == member.member_epoch),
        };
        if due {
            self.fence_consumer_member(group_id, member_id, out);
        } else if matches!(timer, Timer::ConsumerRebalance(_)) {
            // The member moved on from that epoch in time.
            if let Some(m) = self.consumer_groups.get_mut(group_id).and_then(|g| g.members.get_mut(member_id)) {
                m.rebalance_deadline = None;
            }
        }
    }

    /// A fresh member id: the instance id (static members) or client id, a dash, and a
    /// UUID-formatted random part, as Kafka forms them.
    pub(crate) fn generate_member_id(&mut self, client_id: &str, group_instance_id: Option<&str>) -> String {
        let prefix = group_instance_id.unwrap_or(client_id);
        // Keep the id within what a record can hold; the random part makes it unique.
        let mut cut = prefix.len().min(STRING_BYTES_MAX - 64);
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}-{}", &prefix[..cut], self.member_ids.next_uuid())
    }

    /// Forgets a group that has nothing left: no members, no pending joins, no offsets
    /// and no stored metadata (generation 0). Kafka keeps such groups until its next
    /// cleanup; they hold nothing that a client or the log could observe.
    pub(crate) fn drop_if_unused(&mut self, group_id: &str) {
        let unused = self.groups.get(group_id).is_some_and(|g| {
            g.is(GroupState::Empty)
                && g.generation_id == 0
                && g.members.is_empty()
                && g.pending_members.is_empty()
        }) && !self.offsets.contains_key(group_id);
        if unused {
            self.groups.remove(group_id);
        }
    }

    /// Deletes the given committed offsets of a group by writing tombstones, and then
    /// the group itself if that left it empty with no offsets (Kafka's
    /// `cleanupGroupMetadata`). Returns how many offsets were removed.
    pub(crate) fn remove_offsets(&mut self, group_id: &str, partitions: &[(String, i32)], out: &mut Output) -> usize {
        let Some(offsets) = self.offsets.get(group_id) else { return 0 };
        let mut records: Vec<GroupRecord> = partitions
            .iter()
            .filter(|tp| offsets.contains_key(*tp))
            .map(|(topic, partition)| GroupRecord::OffsetCommit {
                key: OffsetCommitKey { group: group_id.to_string(), topic: topic.clone(), partition: *partition },
                value: None,
            })
            .collect();
        let removed = records.len();
        let left = offsets.len() - removed;
        match (self.groups.get(group_id), self.consumer_groups.get(group_id)) {
            (Some(group), _) if group.is(GroupState::Empty) && left == 0 && group.generation_id > 0 => {
                // Stored metadata of a group that is now gone: delete it too.
                records.push(GroupRecord::GroupMetadata {
                    key: GroupMetadataKey { group: group_id.to_string() },
                    value: None,
                });
            }
            (_, Some(group)) if group.members.is_empty() && left == 0 => records.extend(group.tombstones()),
            _ => {}
        }
        for record in &records {
            self.replay(record);
        }
        out.records.extend(records);
        self.drop_if_unused(group_id);
        removed
    }

    /// What replaying this shard's records would rebuild: each group's stored metadata
    /// and its committed offsets. Live state and replayed state agree on this.
    pub fn durable_state(&self) -> BTreeMap<String, DurableGroup> {
        self.groups
            .iter()
            .filter(|(id, g)| g.generation_id > 0 || self.offsets.contains_key(*id))
            .map(|(id, g)| (id.clone(), DurableGroup::of(g, self.offsets.get(id).cloned().unwrap_or_default())))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    PendingMember(String),
    Heartbeat(String),
    Sync,
    Join,
    OffsetRetention,
    ConsumerSession(String),
    ConsumerRebalance(String),
}

/// Rebuilds a group from its metadata record: `Stable` with its members and their
/// assignments, or `Empty`.
fn group_from_record(group_id: &str, value: &GroupMetadataValue) -> ClassicGroup {
    let state_timestamp_ms = (value.current_state_timestamp_ms != -1).then_some(value.current_state_timestamp_ms);
    let mut group = ClassicGroup::new(group_id, state_timestamp_ms);
    group.generation_id = value.generation;
    group.protocol_type = (!value.protocol_type.is_empty()).then(|| value.protocol_type.clone());
    group.protocol_name = value.protocol.clone();
    let protocol = value.protocol.clone().unwrap_or_default();
    for m in &value.members {
        group.add(Member {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            session_timeout_ms: m.session_timeout_ms,
            protocol_type: value.protocol_type.clone(),
            protocols: vec![Protocol { name: protocol.clone(), metadata: m.subscription.clone() }],
            assignment: m.assignment.clone(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline_ms: None,
        });
    }
    group.leader_id = value.leader.clone();
    if !group.members.is_empty() {
        group.state = GroupState::Stable;
    }
    group.subscribed_topics = group.compute_subscribed_topics();
    group
}

/// A group as its records describe it (see [`GroupCoordinatorShard::durable_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableGroup {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    /// When an empty group became empty (its offsets' retention starts then).
    pub empty_since_ms: Option<i64>,
    pub members: Vec<DurableMember>,
    pub offsets: BTreeMap<(String, i32), OffsetCommitValue>,
}

/// A member as its group's metadata record describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

impl DurableGroup {
    fn of(g: &ClassicGroup, offsets: BTreeMap<(String, i32), OffsetCommitValue>) -> Self {
        let protocol = g.protocol_name.clone().unwrap_or_default();
        DurableGroup {
            generation_id: g.generation_id,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            leader_id: g.leader_id.clone(),
            // Only a stored group (generation > 0) has a recorded state timestamp.
            empty_since_ms: if g.is(GroupState::Empty) && g.generation_id > 0 { g.state_timestamp_ms } else { None },
            members: g
                .members
                .values()
                .map(|m| DurableMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol).cloned().unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
            offsets,
        }
    }
}

/// Member ids' random part: SplitMix64 from a seed, formatted as a UUID. Deterministic
/// for a seed, so tests can predict ids; the broker seeds it randomly.
#[derive(Debug, Clone)]
struct MemberIdGenerator {
    state: u64,
}

impl MemberIdGenerator {
    fn new(seed: u64) -> Self {
        MemberIdGenerator { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_uuid(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }
}

/// Removes protocols named twice (the first wins), as Kafka's keyed protocol
/// collection does.
pub(crate) fn dedup_protocols(protocols: &[Protocol]) -> Vec<Protocol> {
    let mut seen = BTreeSet::new();
    protocols.iter().filter(|p| seen.insert(p.name.clone())).cloned().collect()
}
