//! The records of KIP-848 consumer groups in `__consumer_offsets`, in Kafka's format.
//!
//! Keys are non-flexible (an `int16` version, then `int16`-length strings); values are
//! flexible version 0 (varint-length compact strings and arrays, UUIDs, and a tagged
//! field section after every struct):
//!
//! ```text
//! key v3  ConsumerGroupMetadataKey           group      value: epoch int32
//! key v4  ConsumerGroupPartitionMetadataKey  group      value: topics [topicId uuid, topicName string,
//!                                                        numPartitions int32, partitionMetadata [partition int32, racks [string]]]
//! key v5  ConsumerGroupMemberMetadataKey     group, member   value: instanceId string?, rackId string?,
//!                                                        clientId string, clientHost string, subscribedTopicNames [string],
//!                                                        subscribedTopicRegex string?, rebalanceTimeoutMs int32, serverAssignor string?
//! key v6  ConsumerGroupTargetAssignmentMetadataKey group  value: assignmentEpoch int32
//! key v7  ConsumerGroupTargetAssignmentMemberKey group, member  value: topicPartitions [topicId uuid, partitions [int32]]
//! key v8  ConsumerGroupCurrentMemberAssignmentKey group, member value: memberEpoch int32, previousMemberEpoch int32,
//!                                                        state int8, assignedPartitions [..], partitionsPendingRevocation [..]
//! ```
//!
//! A tombstone (no value) deletes what its key names; a group's records are deleted
//! member by member (current assignment, target assignment, member), then the group's
//! own keys, as Kafka writes them.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::codec::{Reader, Writer};
use crate::error::DecodeError;

pub(crate) const METADATA_KEY_VERSION: i16 = 3;
pub(crate) const PARTITION_METADATA_KEY_VERSION: i16 = 4;
pub(crate) const MEMBER_METADATA_KEY_VERSION: i16 = 5;
pub(crate) const TARGET_ASSIGNMENT_METADATA_KEY_VERSION: i16 = 6;
pub(crate) const TARGET_ASSIGNMENT_MEMBER_KEY_VERSION: i16 = 7;
pub(crate) const CURRENT_MEMBER_ASSIGNMENT_KEY_VERSION: i16 = 8;
const VALUE_VERSION: i16 = 0;

/// Partitions by topic id: an assignment.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// Identifies a record about one member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerMemberKey {
    pub group: String,
    pub member_id: String,
}

/// The group epoch: bumped whenever the assignment must be recomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadataValue {
    pub epoch: i32,
}

/// One subscribed topic as the group last saw it in the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub topic_id: Uuid,
    pub topic_name: String,
    pub num_partitions: i32,
}

/// The subscribed topics' metadata, by topic name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupPartitionMetadataValue {
    pub topics: BTreeMap<String, TopicMetadata>,
}

/// A member's subscription and identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupMemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

/// The epoch of the group's target assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupTargetAssignmentMetadataValue {
    pub assignment_epoch: i32,
}

/// A member's target assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupTargetAssignmentMemberValue {
    pub partitions: Assignment,
}

/// Where a member is in its reconciliation towards its target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupCurrentMemberAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// Kafka's `MemberState` byte: 0 stable, 1 unrevoked partitions, 2 unreleased partitions.
    pub state: i8,
    pub assigned_partitions: Assignment,
    pub partitions_pending_revocation: Assignment,
}

pub(crate) fn encode_group_key(w: &mut Writer, version: i16, group: &str) {
    w.i16(version);
    w.string(group);
}

pub(crate) fn encode_member_key(w: &mut Writer, version: i16, key: &ConsumerMemberKey) {
    w.i16(version);
    w.string(&key.group);
    w.string(&key.member_id);
}

pub(crate) fn encode_metadata(v: &ConsumerGroupMetadataValue) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(VALUE_VERSION);
    w.i32(v.epoch);
    w.no_tagged_fields();
    w.into_bytes()
}

pub(crate) fn encode_partition_metadata(v: &ConsumerGroupPartitionMetadataValue) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(VALUE_VERSION);
    w.compact_array_len(v.topics.len());
    for t in v.topics.values() {
        w.uuid(t.topic_id);
        w.compact_string(&t.topic_name);
        w.i32(t.num_partitions);
        // Rack-aware assignment is not built: no per-partition racks.
        w.compact_array_len(0);
        w.no_tagged_fields();
    }
    w.no_tagged_fields();
    w.into_bytes()
}

pub(crate) fn encode_member_metadata(v: &ConsumerGroupMemberMetadataValue) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(VALUE_VERSION);
    w.compact_nullable_string(v.instance_id.as_deref());
    w.compact_nullable_string(v.rack_id.as_deref());
    w.compact_string(&v.client_id);
    w.compact_string(&v.client_host);
    w.compact_array_len(v.subscribed_topic_names.len());
    for name in &v.subscribed_topic_names {
        w.compact_string(name);
    }
    w.compact_nullable_string(v.subscribed_topic_regex.as_deref());
    w.i32(v.rebalance_timeout_ms);
    w.compact_nullable_string(v.server_assignor.as_deref());
    w.no_tagged_fields();
    w.into_bytes()
}

pub(crate) fn encode_target_assignment_metadata(v: &ConsumerGroupTargetAssignmentMetadataValue) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(VALUE_VERSION);
    w.i32(v.assignment_epoch);
    w.no_tagged_fields();
    w.into_bytes()
}

pub(crate) fn encode_target_assignment_member(v: &ConsumerGroupTargetAssignmentMemberValue) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(VALUE_VERSION);
    write_assignment(&mut w, &v.partitions);
    w.no_tagged_fields();
    w.into_bytes()
}

pub(crate) fn encode_current_assignment(v: &ConsumerGroupCurrentMemberAssignmentValue) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(VALUE_VERSION);
    w.i32(v.member_epoch);
    w.i32(v.previous_member_epoch);
    w.i8(v.state);
    write_assignment(&mut w, &v.assigned_partitions);
    write_assignment(&mut w, &v.partitions_pending_revocation);
    w.no_tagged_fields();
    w.into_bytes()
}

fn write_assignment(w: &mut Writer, assignment: &Assignment) {
    w.compact_array_len(assignment.len());
    for (topic_id, partitions) in assignment {
        w.uuid(*topic_id);
        w.compact_array_len(partitions.len());
        for &p in partitions {
            w.i32(p);
        }
        w.no_tagged_fields();
    }
}

fn read_assignment(r: &mut Reader<'_>) -> Result<Assignment, DecodeError> {
    // A topic id (16), an empty partition array (1) and its tagged fields (1).
    let topics = r.compact_array_len(18)?;
    let mut assignment = Assignment::new();
    for _ in 0..topics {
        let topic_id = r.uuid()?;
        let count = r.compact_array_len(4)?;
        let mut partitions = BTreeSet::new();
        for _ in 0..count {
            partitions.insert(r.i32()?);
        }
        r.skip_tagged_fields()?;
        if !partitions.is_empty() {
            assignment.entry(topic_id).or_default().extend(partitions);
        }
    }
    Ok(assignment)
}

fn value_reader<'a>(bytes: &'a [u8], schema: &'static str) -> Result<Reader<'a>, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if version != VALUE_VERSION {
        return Err(DecodeError::UnsupportedVersion { schema, version });
    }
    Ok(r)
}

fn finish(mut r: Reader<'_>) -> Result<(), DecodeError> {
    r.skip_tagged_fields()?;
    match r.remaining() {
        0 => Ok(()),
        n => Err(DecodeError::TrailingBytes(n)),
    }
}

pub(crate) fn decode_metadata(bytes: &[u8]) -> Result<ConsumerGroupMetadataValue, DecodeError> {
    let mut r = value_reader(bytes, "ConsumerGroupMetadataValue")?;
    let epoch = r.i32()?;
    finish(r)?;
    Ok(ConsumerGroupMetadataValue { epoch })
}

pub(crate) fn decode_partition_metadata(bytes: &[u8]) -> Result<ConsumerGroupPartitionMetadataValue, DecodeError> {
    let mut r = value_reader(bytes, "ConsumerGroupPartitionMetadataValue")?;
    // A topic id (16), a name (1+), a count (4), racks (1), tagged fields (1).
    let count = r.compact_array_len(23)?;
    let mut topics = BTreeMap::new();
    for _ in 0..count {
        let topic_id = r.uuid()?;
        let topic_name = r.compact_string()?;
        let num_partitions = r.i32()?;
        let partitions = r.compact_array_len(6)?;
        for _ in 0..partitions {
            r.i32()?;
            let racks = r.compact_array_len(1)?;
            for _ in 0..racks {
                r.compact_string()?;
            }
            r.skip_tagged_fields()?;
        }
        r.skip_tagged_fields()?;
        topics.insert(topic_name.clone(), TopicMetadata { topic_id, topic_name, num_partitions });
    }
    finish(r)?;
    Ok(ConsumerGroupPartitionMetadataValue { topics })
}

pub(crate) fn decode_member_metadata(bytes: &[u8]) -> Result<ConsumerGroupMemberMetadataValue, DecodeError> {
    let mut r = value_reader(bytes, "ConsumerGroupMemberMetadataValue")?;
    let instance_id = r.compact_nullable_string()?;
    let rack_id = r.compact_nullable_string()?;
    let client_id = r.compact_string()?;
    let client_host = r.compact_string()?;
    let count = r.compact_array_len(1)?;
    let mut subscribed_topic_names = Vec::with_capacity(count);
    for _ in 0..count {
        subscribed_topic_names.push(r.compact_string()?);
    }
    let subscribed_topic_regex = r.compact_nullable_string()?;
    let rebalance_timeout_ms = r.i32()?;
    let server_assignor = r.compact_nullable_string()?;
    finish(r)?;
    Ok(ConsumerGroupMemberMetadataValue {
        instance_id,
        rack_id,
        client_id,
        client_host,
        subscribed_topic_names,
        subscribed_topic_regex,
        rebalance_timeout_ms,
        server_assignor,
    })
}

pub(crate) fn decode_target_assignment_metadata(
    bytes: &[u8],
) -> Result<ConsumerGroupTargetAssignmentMetadataValue, DecodeError> {
    let mut r = value_reader(bytes, "ConsumerGroupTargetAssignmentMetadataValue")?;
    let assignment_epoch = r.i32()?;
    finish(r)?;
    Ok(ConsumerGroupTargetAssignmentMetadataValue { assignment_epoch })
}

pub(crate) fn decode_target_assignment_member(
    bytes: &[u8],
) -> Result<ConsumerGroupTargetAssignmentMemberValue, DecodeError> {
    let mut r = value_reader(bytes, "ConsumerGroupTargetAssignmentMemberValue")?;
    let partitions = read_assignment(&mut r)?;
    finish(r)?;
    Ok(ConsumerGroupTargetAssignmentMemberValue { partitions })
}

pub(crate) fn decode_current_assignment(
    bytes: &[u8],
) -> Result<ConsumerGroupCurrentMemberAssignmentValue, DecodeError> {
    let mut r = value_reader(bytes, "ConsumerGroupCurrentMemberAssignmentValue")?;
    let member_epoch = r.i32()?;
    let previous_member_epoch = r.i32()?;
    let state = r.i8()?;
    let assigned_partitions = read_assignment(&mut r)?;
    let partitions_pending_revocation = read_assignment(&mut r)?;
    finish(r)?;
    Ok(ConsumerGroupCurrentMemberAssignmentValue {
        member_epoch,
        previous_member_epoch,
        state,
        assigned_partitions,
        partitions_pending_revocation,
    })
}
