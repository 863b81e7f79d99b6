//! ConsumerGroupHeartbeat: join, heartbeat, reconcile and leave in one API (KIP-848).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignor::{self, AssignmentMember};
use super::reconcile::{reconcile, Step};
use super::records::{
    Assignment, ConsumerGroupCurrentMemberAssignmentValue, ConsumerGroupMemberMetadataValue, ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataValue, ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataValue, ConsumerMemberKey, TopicMetadata,
};
use super::{ConsumerGroup, ConsumerMember, MemberState, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH};
use crate::api::Output;
use crate::error::GroupError;
use crate::group::GroupState;
use crate::records::{GroupMetadataKey, GroupRecord};
use crate::shard::{Api, GroupCoordinatorShard};

/// The cluster's topics as the coordinator needs them: id and partition count by name.
pub trait TopicsImage {
    /// The topic's id and partition count, if the cluster has the topic.
    fn topic(&self, name: &str) -> Option<(Uuid, i32)>;
    /// Every topic's name (regular-expression subscriptions match against them).
    fn topic_names(&self) -> Vec<String>;
}

impl TopicsImage for BTreeMap<String, (Uuid, i32)> {
    fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
        self.get(name).copied()
    }

    fn topic_names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// A ConsumerGroupHeartbeat request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupHeartbeat {
    pub group_id: String,
    /// Empty for a member joining without an id (the coordinator makes one).
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member leaving for now; else the
    /// member's current epoch.
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1 when unchanged.
    pub rebalance_timeout_ms: i32,
    /// `None` when unchanged.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns; `None` when unchanged.
    pub owned_partitions: Option<Vec<(Uuid, Vec<i32>)>>,
    pub client_id: String,
    pub client_host: String,
}

/// The answer to a ConsumerGroupHeartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupHeartbeatResult {
    pub error: Option<GroupError>,
    pub error_message: Option<String>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when it changed or the request was a full one.
    pub assignment: Option<Assignment>,
}

impl ConsumerGroupHeartbeatResult {
    fn failed(error: GroupError, message: Option<&str>) -> Self {
        ConsumerGroupHeartbeatResult {
            error: Some(error),
            error_message: message.map(str::to_string),
            member_id: None,
            member_epoch: -1,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

type Failure = (GroupError, Option<&'static str>);

/// A join or heartbeat that passed every check: who the member is and what it
/// replaces.
struct Admission {
    member_id: String,
    /// The generation of the empty classic group this join turns into a consumer group.
    replaces_classic: Option<i32>,
    /// The member id of a static member's previous incarnation, which left with epoch
    /// -2 and whose assignment this join takes over.
    replaces_static: Option<String>,
}

fn invalid(message: &'static str) -> Failure {
    (GroupError::InvalidRequest, Some(message))
}

impl GroupCoordinatorShard {
    /// Handles a ConsumerGroupHeartbeat: a member joins (epoch 0), heartbeats, reports
    /// the partitions it owns, or leaves (-1, or -2 for a static member). `topics` is
    /// the cluster's metadata now; a change in a subscribed topic's partitions bumps the
    /// group epoch, which recomputes the assignment.
    ///
    /// The records in the [`Output`] must be written before the answer is sent; memory
    /// already reflects them.
    pub fn consumer_group_heartbeat(
        &mut self,
        request: &ConsumerGroupHeartbeat,
        topics: &dyn TopicsImage,
        now_ms: i64,
    ) -> (ConsumerGroupHeartbeatResult, Output) {
        let mut out = Output::default();
        let result = if request.member_epoch == LEAVE_GROUP_MEMBER_EPOCH
            || request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
        {
            self.consumer_group_leave(request, &mut out)
        } else {
            self.consumer_group_join(request, topics, now_ms, &mut out)
        };
        let result = result.unwrap_or_else(|(error, message)| ConsumerGroupHeartbeatResult::failed(error, message));
        (result, out)
    }

    /// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
    fn validate_consumer_heartbeat(&self, r: &ConsumerGroupHeartbeat) -> Result<(), Failure> {
        if r.group_id.is_empty() {
            return Err(invalid("GroupId can't be empty."));
        }
        if !self.config.consumer_protocol_enabled {
            return Err((GroupError::UnsupportedVersion, Some("The consumer rebalance protocol is disabled.")));
        }
        self.validate_group_status(&r.group_id, Api::Membership).map_err(|e| (e, None))?;
        if r.instance_id.as_deref() == Some("") {
            return Err(invalid("InstanceId can't be empty."));
        }
        if r.rack_id.as_deref() == Some("") {
            return Err(invalid("RackId can't be empty."));
        }
        // librdkafka sends an empty regex when it subscribes by names only.
        if let Some(regex) = r.subscribed_topic_regex.as_deref().filter(|regex| !regex.is_empty()) {
            compile_topic_regex(regex)
                .map_err(|_| (GroupError::InvalidRegularExpression, Some("SubscribedTopicRegex is not valid.")))?;
        }
        match r.member_epoch {
            e if e > 0 || e == LEAVE_GROUP_MEMBER_EPOCH => {
                if r.member_id.is_empty() {
                    return Err(invalid("MemberId can't be empty."));
                }
            }
            0 => {
                if r.rebalance_timeout_ms == -1 {
                    return Err(invalid("RebalanceTimeoutMs must be provided in first request."));
                }
                if r.owned_partitions.as_ref().is_none_or(|o| !o.is_empty()) {
                    return Err(invalid("TopicPartitions must be empty when (re-)joining."));
                }
                let no_names = r.subscribed_topic_names.as_ref().is_none_or(Vec::is_empty);
                if no_names && r.subscribed_topic_regex.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(
                        "Either SubscribedTopicNames or SubscribedTopicRegex must be non-empty when (re-)joining.",
                    ));
                }
            }
            LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
                if r.member_id.is_empty() {
                    return Err(invalid("MemberId can't be empty."));
                }
                if r.instance_id.is_none() {
                    return Err(invalid("InstanceId can't be null."));
                }
            }
            _ => return Err(invalid("MemberEpoch is invalid.")),
        }
        if let Some(assignor) = &r.server_assignor {
            if !self.config.consumer_assignors.iter().any(|a| a == assignor) {
                return Err((GroupError::UnsupportedAssignor, None));
            }
        }
        Ok(())
    }

    /// A join (epoch 0) or heartbeat, in Kafka's order: refuse or admit the member,
    /// take over what it replaces, update its subscription (1), recompute the target if
    /// the group epoch moved (2), and take the member's next reconciliation step (3).
    fn consumer_group_join(
        &mut self,
        request: &ConsumerGroupHeartbeat,
        topics: &dyn TopicsImage,
        now_ms: i64,
        out: &mut Output,
    ) -> Result<ConsumerGroupHeartbeatResult, Failure> {
        self.validate_consumer_heartbeat(request)?;
        // Everything that can refuse the request comes before the first record.
        let admission = self.admit_consumer_member(request)?;
        let group_id = request.group_id.as_str();
        let member_id = admission.member_id.clone();
        self.take_over(group_id, &admission, out);
        let old_member = self.consumer_groups.get(group_id).and_then(|g| g.members.get(&member_id)).cloned();
        let member_key = ConsumerMemberKey { group: group_id.to_string(), member_id: member_id.clone() };

        // 1. The member's subscription; a change bumps the group epoch.
        self.update_consumer_member(request, topics, &member_key, old_member.as_ref(), out)?;
        let rejoins = request.member_epoch == 0 && admission.replaces_static.is_none();
        if rejoins && old_member.as_ref().is_some_and(|m| m.member_epoch != 0 || !m.assigned.is_empty()) {
            // A known member rejoins: it has given up its partitions.
            let value = ConsumerGroupCurrentMemberAssignmentValue::default();
            self.emit(GroupRecord::ConsumerGroupCurrentMemberAssignment { key: member_key.clone(), value: Some(value) }, out);
        }

        // 2. A new target assignment when the group epoch moved past it.
        let group = self.consumer_group(group_id)?;
        if group.group_epoch > group.assignment_epoch {
            let records = self.target_assignment_records(group_id);
            for record in records {
                self.emit(record, out);
            }
        }

        // 3. The member's next step towards its target.
        let before = self.consumer_group(group_id)?.members.get(&member_id).map(|m| m.assigned.clone());
        self.reconcile_consumer_member(request, &member_key, now_ms, out)?;
        let session_ms = i64::from(self.config.consumer_session_timeout_ms);
        let heartbeat_interval_ms = self.config.consumer_heartbeat_interval_ms;
        let member = self.consumer_member_mut(group_id, &member_id).ok_or((GroupError::UnknownServerError, None))?;
        member.session_deadline_ms = Some(now_ms + session_ms);

        let full_request = request.member_epoch == 0
            || (request.rebalance_timeout_ms != -1
                && request.subscribed_topic_names.is_some()
                && request.owned_partitions.is_some());
        let assignment = (full_request || Some(&member.assigned) != before.as_ref()).then(|| member.assigned.clone());
        Ok(ConsumerGroupHeartbeatResult {
            error: None,
            error_message: None,
            member_id: Some(member_id),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms,
            assignment,
        })
    }

    /// Kafka's checks before a member is created or updated: the group's kind and
    /// size, the member's id and epoch, and its static instance id.
    fn admit_consumer_member(&mut self, request: &ConsumerGroupHeartbeat) -> Result<Admission, Failure> {
        let group_id = request.group_id.as_str();
        let joining = request.member_epoch == 0;
        let replaces_classic = match (self.consumer_groups.contains_key(group_id), self.groups.get(group_id)) {
            (true, _) => None,
            // An empty classic group (perhaps only offsets) becomes a consumer group; a
            // classic group with members stays classic (no online upgrade).
            (false, Some(classic)) if joining && classic.is(GroupState::Empty) && classic.members.is_empty() => {
                Some(classic.generation_id)
            }
            (false, Some(_)) => return Err((GroupError::GroupIdNotFound, Some("The group is not a consumer group."))),
            (false, None) if !joining => return Err((GroupError::GroupIdNotFound, None)),
            (false, None) => None,
        };
        let member_id = if request.member_id.is_empty() {
            self.generate_uuid()
        } else {
            request.member_id.clone()
        };
        let group = self.consumer_groups.get(group_id);
        let old_member = group.and_then(|g| g.members.get(&member_id));
        let max_size = usize::try_from(self.config.consumer_max_size).unwrap_or(usize::MAX);
        if old_member.is_none() && group.is_some_and(|g| g.members.len() >= max_size) {
            return Err((GroupError::GroupMaxSizeReached, None));
        }
        let static_member = request.instance_id.as_deref().and_then(|id| group.and_then(|g| g.static_member(id)));
        let mut replaces_static = None;
        match (request.instance_id.is_some(), static_member) {
            // Kafka's `getOrMaybeSubscribeStaticConsumerGroupMember`: a new incarnation
            // replaces one that left with epoch -2; a live one keeps its instance id.
            (true, Some(existing)) if joining && existing.member_id != member_id => {
                if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                    return Err((GroupError::UnreleasedInstanceId, None));
                }
                replaces_static = Some(existing.member_id.clone());
            }
            (true, None) if !joining => return Err((GroupError::UnknownMemberId, None)),
            (true, Some(existing)) if !joining && existing.member_id != member_id => {
                return Err((GroupError::FencedInstanceId, None));
            }
            _ => {}
        }
        match old_member {
            None if !joining => return Err((GroupError::UnknownMemberId, None)),
            Some(m) if !joining => check_member_epoch(m, request)?,
            _ => {}
        }
        Ok(Admission { member_id, replaces_classic, replaces_static })
    }

    /// Turns an empty classic group into this consumer group, and hands a static
    /// member's previous incarnation (its subscription, target, assignment) to the new
    /// member id (Kafka's `replaceMember`): the group epoch stays, nobody rebalances.
    fn take_over(&mut self, group_id: &str, admission: &Admission, out: &mut Output) {
        if let Some(generation) = admission.replaces_classic {
            if generation > 0 {
                self.emit(GroupRecord::GroupMetadata { key: GroupMetadataKey { group: group_id.into() }, value: None }, out);
            }
            self.groups.remove(group_id);
        }
        let Some(old_id) = &admission.replaces_static else { return };
        let Some(group) = self.consumer_groups.get(group_id) else { return };
        let Some(old) = group.members.get(old_id) else { return };
        let target = group.target.get(old_id).cloned().unwrap_or_default();
        let old_key = ConsumerMemberKey { group: group_id.to_string(), member_id: old_id.clone() };
        let key = ConsumerMemberKey { group: group_id.to_string(), member_id: admission.member_id.clone() };
        let step = Step {
            member_epoch: 0,
            previous_member_epoch: 0,
            state: old.state,
            assigned: old.assigned.clone(),
            pending_revocation: old.pending_revocation.clone(),
        };
        let records = [
            GroupRecord::ConsumerGroupCurrentMemberAssignment { key: old_key.clone(), value: None },
            GroupRecord::ConsumerGroupTargetAssignmentMember { key: old_key.clone(), value: None },
            GroupRecord::ConsumerGroupMemberMetadata { key: old_key, value: None },
            GroupRecord::ConsumerGroupMemberMetadata { key: key.clone(), value: Some(old.metadata.clone()) },
            GroupRecord::ConsumerGroupTargetAssignmentMember {
                key: key.clone(),
                value: Some(ConsumerGroupTargetAssignmentMemberValue { partitions: target }),
            },
            current_assignment_record(&key, step),
        ];
        for record in records {
            self.emit(record, out);
        }
    }

    /// Step 1: writes the member's metadata if the request changed it, and the
    /// subscription metadata if the group's subscribed topics changed; either change
    /// of subscription bumps the group epoch.
    fn update_consumer_member(
        &mut self,
        request: &ConsumerGroupHeartbeat,
        topics: &dyn TopicsImage,
        member_key: &ConsumerMemberKey,
        old_member: Option<&ConsumerMember>,
        out: &mut Output,
    ) -> Result<(), Failure> {
        let group_id = request.group_id.as_str();
        let old_metadata = old_member.map(|m| &m.metadata);
        let metadata = updated_metadata(old_metadata.cloned().unwrap_or_default(), request);
        let mut bump = false;
        if old_metadata != Some(&metadata) {
            bump = old_metadata.is_none_or(|m| {
                m.subscribed_topic_names != metadata.subscribed_topic_names
                    || m.subscribed_topic_regex != metadata.subscribed_topic_regex
            });
            self.emit(GroupRecord::ConsumerGroupMemberMetadata { key: member_key.clone(), value: Some(metadata) }, out);
        }
        self.resolve_regexes(group_id, topics);
        let group = self.consumer_group(group_id)?;
        let subscription = subscription_metadata(&group.subscribed_topic_names(), topics);
        if subscription != group.subscription_metadata {
            bump = true;
            let value = ConsumerGroupPartitionMetadataValue { topics: subscription };
            self.emit(group_record_partition_metadata(group_id, value), out);
        }
        if bump {
            let epoch = self.consumer_group(group_id)?.group_epoch + 1;
            let key = GroupMetadataKey { group: group_id.to_string() };
            self.emit(GroupRecord::ConsumerGroupMetadata { key, value: Some(ConsumerGroupMetadataValue { epoch }) }, out);
        }
        Ok(())
    }

    /// Matches each regular expression the group's members subscribe with against the
    /// cluster's topics now (Kafka resolves them on the coordinator too), so topics
    /// created or deleted since join or leave the subscription on the next heartbeat.
    fn resolve_regexes(&mut self, group_id: &str, topics: &dyn TopicsImage) {
        let Some(group) = self.consumer_groups.get_mut(group_id) else { return };
        let regexes: BTreeSet<String> =
            group.members.values().filter_map(|m| m.metadata.subscribed_topic_regex.clone()).filter(|r| !r.is_empty()).collect();
        if regexes.is_empty() {
            group.resolved_regexes.clear();
            return;
        }
        let names = topics.topic_names();
        group.resolved_regexes = regexes
            .into_iter()
            .map(|regex| {
                let matched = match compile_topic_regex(&regex) {
                    Ok(re) => names.iter().filter(|n| re.is_match(n)).cloned().collect(),
                    // Validated on the way in; a stored one that no longer compiles matches nothing.
                    Err(_) => BTreeSet::new(),
                };
                (regex, matched)
            })
            .collect();
    }

    /// Step 3: moves the member one reconciliation step towards its target; a member
    /// that must revoke gets its rebalance deadline.
    fn reconcile_consumer_member(
        &mut self,
        request: &ConsumerGroupHeartbeat,
        member_key: &ConsumerMemberKey,
        now_ms: i64,
        out: &mut Output,
    ) -> Result<(), Failure> {
        let (group_id, member_id) = (member_key.group.as_str(), member_key.member_id.as_str());
        let group = self.consumer_group(group_id)?;
        let member = group.members.get(member_id).ok_or((GroupError::UnknownServerError, None))?;
        if member.is_reconciled_to(group.assignment_epoch) {
            return Ok(());
        }
        let rebalance_timeout_ms = i64::from(member.metadata.rebalance_timeout_ms.max(0));
        let empty = Assignment::new();
        let target = group.target.get(member_id).unwrap_or(&empty);
        let owners = group.partition_owner_epochs();
        let step = reconcile(member, group.assignment_epoch, target, &owners, request.owned_partitions.as_deref())
            .map_err(|e| (e, None))?;
        if step != Step::of(member) {
            let unrevoked = (step.state == MemberState::UnrevokedPartitions).then_some(step.member_epoch);
            self.emit(current_assignment_record(member_key, step), out);
            if let Some(member) = self.consumer_member_mut(group_id, member_id) {
                member.rebalance_deadline = unrevoked.map(|epoch| (epoch, now_ms + rebalance_timeout_ms));
            }
        }
        Ok(())
    }

    fn consumer_group_leave(
        &mut self,
        request: &ConsumerGroupHeartbeat,
        out: &mut Output,
    ) -> Result<ConsumerGroupHeartbeatResult, Failure> {
        self.validate_consumer_heartbeat(request)?;
        let group_id = request.group_id.as_str();
        let group = self.consumer_group(group_id)?;
        let member_id = match &request.instance_id {
            None => group.members.get(&request.member_id).map(|m| m.member_id.clone()),
            Some(instance_id) => match group.static_member(instance_id) {
                Some(m) if m.member_id != request.member_id => return Err((GroupError::FencedInstanceId, None)),
                other => other.map(|m| m.member_id.clone()),
            },
        };
        let Some(member_id) = member_id else { return Err((GroupError::UnknownMemberId, None)) };
        let epoch = if request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH && request.instance_id.is_some() {
            // A static member leaving for now keeps its partitions for its session.
            let member = group.members.get(&member_id).ok_or((GroupError::UnknownMemberId, None))?;
            let step = Step {
                member_epoch: LEAVE_GROUP_STATIC_MEMBER_EPOCH,
                previous_member_epoch: member.previous_member_epoch,
                state: member.state,
                assigned: member.assigned.clone(),
                pending_revocation: Assignment::new(),
            };
            let key = ConsumerMemberKey { group: group_id.to_string(), member_id: member_id.clone() };
            self.emit(current_assignment_record(&key, step), out);
            LEAVE_GROUP_STATIC_MEMBER_EPOCH
        } else {
            self.fence_consumer_member(group_id, &member_id, out);
            LEAVE_GROUP_MEMBER_EPOCH
        };
        Ok(ConsumerGroupHeartbeatResult {
            error: None,
            error_message: None,
            member_id: Some(member_id),
            member_epoch: epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// Removes a member (it left, its session ended, or it did not revoke in time):
    /// its records are deleted and the group epoch rises so the others rebalance.
    pub(crate) fn fence_consumer_member(&mut self, group_id: &str, member_id: &str, out: &mut Output) {
        let Some(group) = self.consumer_groups.get(group_id) else { return };
        if !group.members.contains_key(member_id) {
            return;
        }
        let key = ConsumerMemberKey { group: group_id.to_string(), member_id: member_id.to_string() };
        let mut records = vec![
            GroupRecord::ConsumerGroupCurrentMemberAssignment { key: key.clone(), value: None },
            GroupRecord::ConsumerGroupTargetAssignmentMember { key: key.clone(), value: None },
            GroupRecord::ConsumerGroupMemberMetadata { key, value: None },
        ];
        // The subscription metadata without the member's topics.
        let remaining: BTreeSet<String> = group
            .members
            .values()
            .filter(|m| m.member_id != member_id)
            .flat_map(|m| group.member_topics(m))
            .map(str::to_string)
            .collect();
        let topics: BTreeMap<String, TopicMetadata> = group
            .subscription_metadata
            .iter()
            .filter(|(name, _)| remaining.contains(*name))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        if topics != group.subscription_metadata {
            records.push(group_record_partition_metadata(group_id, ConsumerGroupPartitionMetadataValue { topics }));
        }
        let epoch = group.group_epoch + 1;
        let group_key = GroupMetadataKey { group: group_id.to_string() };
        records.push(GroupRecord::ConsumerGroupMetadata { key: group_key, value: Some(ConsumerGroupMetadataValue { epoch }) });
        for record in records {
            self.emit(record, out);
        }
    }

    /// The records of a new target assignment at the group epoch: one per member whose
    /// target changed, then the assignment epoch.
    fn target_assignment_records(&self, group_id: &str) -> Vec<GroupRecord> {
        let Some(group) = self.consumer_groups.get(group_id) else { return Vec::new() };
        let assignor = preferred_assignor(group, &self.config.consumer_assignors);
        let members: BTreeMap<String, AssignmentMember<'_>> = group
            .members
            .iter()
            .map(|(id, m)| {
                (id.clone(), AssignmentMember { subscribed: group.member_topics(m), previous: group.target.get(id) })
            })
            .collect();
        let target = assignor::assign(&assignor, &members, &group.subscription_metadata);
        let mut records = Vec::new();
        for (member_id, partitions) in target {
            if group.target.get(&member_id) != Some(&partitions) {
                let key = ConsumerMemberKey { group: group_id.to_string(), member_id };
                let value = ConsumerGroupTargetAssignmentMemberValue { partitions };
                records.push(GroupRecord::ConsumerGroupTargetAssignmentMember { key, value: Some(value) });
            }
        }
        let key = GroupMetadataKey { group: group_id.to_string() };
        let value = ConsumerGroupTargetAssignmentMetadataValue { assignment_epoch: group.group_epoch };
        records.push(GroupRecord::ConsumerGroupTargetAssignmentMetadata { key, value: Some(value) });
        records
    }

    pub(crate) fn consumer_group(&self, group_id: &str) -> Result<&ConsumerGroup, Failure> {
        self.consumer_groups.get(group_id).ok_or((GroupError::GroupIdNotFound, None))
    }

    fn consumer_member_mut(&mut self, group_id: &str, member_id: &str) -> Option<&mut ConsumerMember> {
        self.consumer_groups.get_mut(group_id)?.members.get_mut(member_id)
    }

    /// Applies a record to memory and queues it for the log.
    pub(crate) fn emit(&mut self, record: GroupRecord, out: &mut Output) {
        self.replay(&record);
        out.records.push(record);
    }
}

/// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`: a member may be one epoch behind
/// (the answer that moved it on was lost) if it owns no more than its assignment.
fn check_member_epoch(member: &ConsumerMember, request: &ConsumerGroupHeartbeat) -> Result<(), Failure> {
    let received = request.member_epoch;
    if received > member.member_epoch {
        return Err((GroupError::FencedMemberEpoch, None));
    }
    if received < member.member_epoch {
        let subset = request.owned_partitions.as_ref().is_some_and(|owned| {
            owned.iter().all(|(topic, ps)| member.assigned.get(topic).is_some_and(|set| ps.iter().all(|p| set.contains(p))))
        });
        if received != member.previous_member_epoch || !subset {
            return Err((GroupError::FencedMemberEpoch, None));
        }
    }
    Ok(())
}

fn updated_metadata(
    mut m: ConsumerGroupMemberMetadataValue,
    r: &ConsumerGroupHeartbeat,
) -> ConsumerGroupMemberMetadataValue {
    if let Some(instance_id) = &r.instance_id {
        m.instance_id = Some(instance_id.clone());
    }
    if let Some(rack_id) = &r.rack_id {
        m.rack_id = Some(rack_id.clone());
    }
    if r.rebalance_timeout_ms != -1 {
        m.rebalance_timeout_ms = r.rebalance_timeout_ms;
    }
    if let Some(assignor) = &r.server_assignor {
        m.server_assignor = Some(assignor.clone());
    }
    if let Some(regex) = &r.subscribed_topic_regex {
        // Empty means none (librdkafka's subscription by names only).
        m.subscribed_topic_regex = Some(regex.clone()).filter(|regex| !regex.is_empty());
    }
    if let Some(names) = &r.subscribed_topic_names {
        // Order carries no meaning; sorted, a resent subscription compares equal.
        let names: BTreeSet<&String> = names.iter().collect();
        m.subscribed_topic_names = names.into_iter().cloned().collect();
    }
    m.client_id = r.client_id.clone();
    m.client_host = r.client_host.clone();
    m
}

/// The longest subscription regex accepted, in bytes (compilation and matching are
/// linear in it).
const MAX_TOPIC_REGEX_LEN: usize = 1024;

/// A subscription regex as Kafka applies it: the whole topic name must match
/// (`Matcher.matches`), in RE2 syntax.
fn compile_topic_regex(regex: &str) -> Result<regex::Regex, ()> {
    if regex.len() > MAX_TOPIC_REGEX_LEN {
        return Err(());
    }
    regex::RegexBuilder::new(&format!("^(?:{regex})$")).size_limit(1 << 20).build().map_err(|_| ())
}

/// The subscribed topics that exist, with their ids and partition counts.
fn subscription_metadata(names: &BTreeSet<String>, topics: &dyn TopicsImage) -> BTreeMap<String, TopicMetadata> {
    names
        .iter()
        .filter_map(|name| {
            let (topic_id, num_partitions) = topics.topic(name)?;
            Some((name.clone(), TopicMetadata { topic_id, topic_name: name.clone(), num_partitions }))
        })
        .collect()
}

/// The assignor most members ask for, else the first configured one.
pub(crate) fn preferred_assignor(group: &ConsumerGroup, configured: &[String]) -> String {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for m in group.members.values() {
        if let Some(a) = m.metadata.server_assignor.as_deref() {
            *votes.entry(a).or_default() += 1;
        }
    }
    let most = votes.iter().max_by_key(|(name, n)| (**n, std::cmp::Reverse(*name))).map(|(name, _)| name.to_string());
    most.or_else(|| configured.first().cloned()).unwrap_or_else(|| assignor::UNIFORM.to_string())
}

fn group_record_partition_metadata(group_id: &str, value: ConsumerGroupPartitionMetadataValue) -> GroupRecord {
    GroupRecord::ConsumerGroupPartitionMetadata { key: GroupMetadataKey { group: group_id.to_string() }, value: Some(value) }
}

fn current_assignment_record(key: &ConsumerMemberKey, step: Step) -> GroupRecord {
    GroupRecord::ConsumerGroupCurrentMemberAssignment {
        key: key.clone(),
        value: Some(ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: step.member_epoch,
            previous_member_epoch: step.previous_member_epoch,
            state: step.state.byte(),
            assigned_partitions: step.assigned,
            partitions_pending_revocation: step.pending_revocation,
        }),
    }
}
