//! OffsetCommit: a group records how far it has consumed each partition.

use crate::api::{OffsetCommit, OffsetCommitResult, Output};
use crate::consumer_group::ConsumerGroup;
use crate::error::GroupError;
use crate::group::{ClassicGroup, GroupState};
use crate::join::validate_current_member;
use crate::records::{GroupRecord, OffsetCommitKey, OffsetCommitValue};
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles an OffsetCommit. Members commit with their generation; a consumer
    /// outside group management (or an admin resetting offsets) commits with generation
    /// -1 while the group is empty, which creates the group if needed.
    ///
    /// The offsets are in memory when this returns; the records in the [`Output`] must
    /// be written before the answer is sent.
    pub fn offset_commit(&mut self, request: &OffsetCommit, now_ms: i64) -> (OffsetCommitResult, Output) {
        let mut out = Output::default();
        if let Err(error) = self.check_commit(request, now_ms) {
            self.drop_if_unused(&request.group_id);
            return (every_partition(request, Some(error)), out);
        }

        let max_metadata = self.config.offset_metadata_max_bytes;
        let mut records = Vec::new();
        let mut result = OffsetCommitResult { topics: Vec::with_capacity(request.topics.len()) };
        for (topic, partitions) in &request.topics {
            let mut errors = Vec::with_capacity(partitions.len());
            for p in partitions {
                let metadata = p.metadata.clone().unwrap_or_default();
                if metadata.len() > max_metadata {
                    errors.push((p.partition, Some(GroupError::OffsetMetadataTooLarge)));
                    continue;
                }
                errors.push((p.partition, None));
                records.push(GroupRecord::OffsetCommit {
                    key: OffsetCommitKey {
                        group: request.group_id.clone(),
                        topic: topic.clone(),
                        partition: p.partition,
                    },
                    value: Some(OffsetCommitValue {
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata,
                        commit_timestamp_ms: now_ms,
                        expire_timestamp_ms: (request.retention_time_ms != -1)
                            .then(|| now_ms.saturating_add(request.retention_time_ms)),
                    }),
                });
            }
            result.topics.push((topic.clone(), errors));
        }

        let bytes: usize = records.iter().map(GroupRecord::encoded_len).sum();
        if bytes > self.config.write_bytes_max {
            // What Kafka answers when the log refuses the batch as too large.
            for (_, errors) in &mut result.topics {
                for (_, error) in errors.iter_mut().filter(|(_, e)| e.is_none()) {
                    *error = Some(GroupError::InvalidCommitOffsetSize);
                }
            }
            records.clear();
        }
        for record in &records {
            self.replay(record);
        }
        out.records = records;
        self.drop_if_unused(&request.group_id);
        (result, out)
    }

    /// Everything a commit must pass before any offset is stored; creates the group of a
    /// first commit outside group management.
    fn check_commit(&mut self, request: &OffsetCommit, now_ms: i64) -> Result<(), GroupError> {
        self.validate_group_status(&request.group_id, Api::Offsets)?;
        if let Some(group) = self.consumer_groups.get(&request.group_id) {
            return validate_consumer_group_commit(group, request);
        }
        if !self.groups.contains_key(&request.group_id) {
            if request.generation_id >= 0 {
                // A member of a generation this coordinator does not know.
                return Err(GroupError::IllegalGeneration);
            }
            self.groups.insert(request.group_id.clone(), ClassicGroup::new(&request.group_id, Some(now_ms)));
        }
        let group = self.groups.get_mut(&request.group_id).ok_or(GroupError::UnknownServerError)?;
        validate_offset_commit(group, request)?;
        match group.state {
            GroupState::Empty => Ok(()),
            // During PreparingRebalance commits are still accepted: the member learns of
            // the rebalance from its next heartbeat.
            GroupState::Stable | GroupState::PreparingRebalance => {
                if let Some(member) = group.members.get_mut(&request.member_id) {
                    member.reschedule_heartbeat(now_ms);
                }
                Ok(())
            }
            // The member has its new generation but not its assignment yet.
            GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
        }
    }
}

/// Kafka's `validateOffsetCommit` for commits outside transactions.
fn validate_offset_commit(group: &ClassicGroup, request: &OffsetCommit) -> Result<(), GroupError> {
    if request.generation_id < 0 && group.is(GroupState::Empty) {
        // An admin or a consumer without group management, while nobody else is a member.
        return Ok(());
    }
    if request.generation_id >= 0 || !request.member_id.is_empty() || request.group_instance_id.is_some() {
        validate_current_member(group, &request.member_id, request.group_instance_id.as_deref())?;
        if request.generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        return Ok(());
    }
    // Generation -1 without a member while the group has members: only members commit.
    Err(GroupError::UnknownMemberId)
}

/// Kafka's `ConsumerGroup.validateOffsetCommit`: an admin (epoch -1) commits while the
/// group has no members; a member commits with OffsetCommit v9 or later
/// (`UNSUPPORTED_VERSION` otherwise: older versions carry no member epoch) and with its
/// current epoch (`STALE_MEMBER_EPOCH` otherwise, so it retries once its heartbeat
/// brought the new epoch).
fn validate_consumer_group_commit(group: &ConsumerGroup, request: &OffsetCommit) -> Result<(), GroupError> {
    if request.generation_id < 0 && group.members.is_empty() {
        return Ok(());
    }
    let member = group.members.get(&request.member_id).ok_or(GroupError::UnknownMemberId)?;
    if request.api_version < 9 {
        return Err(GroupError::UnsupportedVersion);
    }
    if request.generation_id != member.member_epoch {
        return Err(GroupError::StaleMemberEpoch);
    }
    Ok(())
}

fn every_partition(request: &OffsetCommit, error: Option<GroupError>) -> OffsetCommitResult {
    OffsetCommitResult {
        topics: request
            .topics
            .iter()
            .map(|(topic, partitions)| (topic.clone(), partitions.iter().map(|p| (p.partition, error)).collect()))
            .collect(),
    }
}
