//! The records of `__consumer_offsets`, in Kafka's own binary format.
//!
//! Every record is a key and a value, each prefixed by an `int16` schema version; the
//! key's version tells what the record is:
//!
//! ```text
//! key version 0|1  OffsetCommitKey    group: string, topic: string, partition: int32
//!   value v3       OffsetCommitValue  offset: int64, leaderEpoch: int32, metadata: string,
//!                                     commitTimestamp: int64
//!   value v1       (written when the commit carries a retention time)
//!                                     offset: int64, metadata: string, commitTimestamp: int64,
//!                                     expireTimestamp: int64
//! key version 2    GroupMetadataKey   group: string
//!   value v3       GroupMetadataValue protocolType: string, generation: int32,
//!                                     protocol: nullable string, leader: nullable string,
//!                                     currentStateTimestamp: int64,
//!                                     members: [memberId: string, groupInstanceId: nullable string,
//!                                               clientId: string, clientHost: string,
//!                                               rebalanceTimeout: int32, sessionTimeout: int32,
//!                                               subscription: bytes, assignment: bytes]
//! ```
//!
//! Strings are `int16` length + UTF-8 (`-1` is null), bytes and arrays `int32` length;
//! all integers big-endian. These are the versions Kafka 3.9 writes, so Kafka's tools
//! (`kafka-console-consumer --formatter ...OffsetsMessageFormatter`) can read what Spool
//! stores. Reading accepts value versions 0–3; the flexible version 4 (Kafka 4) and
//! unknown key versions are reported, not guessed at. Key versions 3–8 are the records
//! of KIP-848 consumer groups ([`crate::consumer_group::records`]).
//!
//! The topic is compacted: the key identifies what a record is about, the latest record
//! per key wins, and a record without a value (a tombstone) deletes the key.

use bytes::Bytes;

use crate::codec::{Reader, Writer};
use crate::consumer_group::records as cg;
pub use crate::consumer_group::records::{
    Assignment, ConsumerGroupCurrentMemberAssignmentValue, ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataValue, ConsumerGroupPartitionMetadataValue, ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataValue, ConsumerMemberKey, TopicMetadata,
};
use crate::error::DecodeError;

const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
const GROUP_METADATA_KEY_VERSION: i16 = 2;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY: i16 = 1;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// Identifies one committed offset: a group's position in one topic partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffsetCommitKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// The leader epoch of the last consumed record, or -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Set only by OffsetCommit v2–v4 requests with an explicit retention time: the
    /// offset then expires at this time regardless of the group's state.
    pub expire_timestamp_ms: Option<i64>,
}

/// Identifies a group's metadata record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupMetadataKey {
    pub group: String,
}

/// A classic group as stored after a rebalance: its generation, protocol and members
/// with their subscriptions and assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state, or -1 when unknown.
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadataValue>,
}

/// One member inside [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// One record of `__consumer_offsets`; `value: None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    OffsetCommit { key: OffsetCommitKey, value: Option<OffsetCommitValue> },
    GroupMetadata { key: GroupMetadataKey, value: Option<GroupMetadataValue> },
    /// A consumer group's epoch (key version 3).
    ConsumerGroupMetadata { key: GroupMetadataKey, value: Option<ConsumerGroupMetadataValue> },
    /// A consumer group's subscribed topics' metadata (key version 4).
    ConsumerGroupPartitionMetadata { key: GroupMetadataKey, value: Option<ConsumerGroupPartitionMetadataValue> },
    /// A consumer group member's subscription (key version 5).
    ConsumerGroupMemberMetadata { key: ConsumerMemberKey, value: Option<ConsumerGroupMemberMetadataValue> },
    /// A consumer group's target assignment epoch (key version 6).
    ConsumerGroupTargetAssignmentMetadata {
        key: GroupMetadataKey,
        value: Option<ConsumerGroupTargetAssignmentMetadataValue>,
    },
    /// A member's target assignment (key version 7).
    ConsumerGroupTargetAssignmentMember { key: ConsumerMemberKey, value: Option<ConsumerGroupTargetAssignmentMemberValue> },
    /// A member's current assignment and epoch (key version 8).
    ConsumerGroupCurrentMemberAssignment {
        key: ConsumerMemberKey,
        value: Option<ConsumerGroupCurrentMemberAssignmentValue>,
    },
}

impl GroupRecord {
    /// The group the record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            GroupRecord::OffsetCommit { key, .. } => &key.group,
            GroupRecord::GroupMetadata { key, .. }
            | GroupRecord::ConsumerGroupMetadata { key, .. }
            | GroupRecord::ConsumerGroupPartitionMetadata { key, .. }
            | GroupRecord::ConsumerGroupTargetAssignmentMetadata { key, .. } => &key.group,
            GroupRecord::ConsumerGroupMemberMetadata { key, .. }
            | GroupRecord::ConsumerGroupTargetAssignmentMember { key, .. }
            | GroupRecord::ConsumerGroupCurrentMemberAssignment { key, .. } => &key.group,
        }
    }

    /// The record key, version-prefixed.
    pub fn encode_key(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            GroupRecord::OffsetCommit { key, .. } => {
                w.i16(OFFSET_COMMIT_KEY_VERSION);
                w.string(&key.group);
                w.string(&key.topic);
                w.i32(key.partition);
            }
            GroupRecord::GroupMetadata { key, .. } => {
                w.i16(GROUP_METADATA_KEY_VERSION);
                w.string(&key.group);
            }
            GroupRecord::ConsumerGroupMetadata { key, .. } => cg::encode_group_key(&mut w, cg::METADATA_KEY_VERSION, &key.group),
            GroupRecord::ConsumerGroupPartitionMetadata { key, .. } => {
                cg::encode_group_key(&mut w, cg::PARTITION_METADATA_KEY_VERSION, &key.group)
            }
            GroupRecord::ConsumerGroupMemberMetadata { key, .. } => {
                cg::encode_member_key(&mut w, cg::MEMBER_METADATA_KEY_VERSION, key)
            }
            GroupRecord::ConsumerGroupTargetAssignmentMetadata { key, .. } => {
                cg::encode_group_key(&mut w, cg::TARGET_ASSIGNMENT_METADATA_KEY_VERSION, &key.group)
            }
            GroupRecord::ConsumerGroupTargetAssignmentMember { key, .. } => {
                cg::encode_member_key(&mut w, cg::TARGET_ASSIGNMENT_MEMBER_KEY_VERSION, key)
            }
            GroupRecord::ConsumerGroupCurrentMemberAssignment { key, .. } => {
                cg::encode_member_key(&mut w, cg::CURRENT_MEMBER_ASSIGNMENT_KEY_VERSION, key)
            }
        }
        w.into_bytes()
    }

    /// The record value, version-prefixed, or `None` for a tombstone.
    pub fn encode_value(&self) -> Option<Vec<u8>> {
        match self {
            GroupRecord::OffsetCommit { value, .. } => value.as_ref().map(encode_offset_commit_value),
            GroupRecord::GroupMetadata { value, .. } => value.as_ref().map(encode_group_metadata_value),
            GroupRecord::ConsumerGroupMetadata { value, .. } => value.as_ref().map(cg::encode_metadata),
            GroupRecord::ConsumerGroupPartitionMetadata { value, .. } => value.as_ref().map(cg::encode_partition_metadata),
            GroupRecord::ConsumerGroupMemberMetadata { value, .. } => value.as_ref().map(cg::encode_member_metadata),
            GroupRecord::ConsumerGroupTargetAssignmentMetadata { value, .. } => {
                value.as_ref().map(cg::encode_target_assignment_metadata)
            }
            GroupRecord::ConsumerGroupTargetAssignmentMember { value, .. } => {
                value.as_ref().map(cg::encode_target_assignment_member)
            }
            GroupRecord::ConsumerGroupCurrentMemberAssignment { value, .. } => {
                value.as_ref().map(cg::encode_current_assignment)
            }
        }
    }

    /// Bytes of key plus value, an upper bound for what the record adds to a batch
    /// before record framing.
    pub fn encoded_len(&self) -> usize {
        self.encode_key().len() + self.encode_value().map_or(0, |v| v.len())
    }

    /// Reads a stored record.
    ///
    /// Returns `Ok(None)` for a key version this coordinator does not know (records of
    /// the KIP-848 consumer protocol, for example), which the loader skips as Kafka does.
    ///
    /// # Errors
    /// When the bytes do not follow the schema their version announces.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<GroupRecord>, DecodeError> {
        let mut r = Reader::new(key);
        let key_version = r.i16()?;
        let record = match key_version {
            0 | 1 => {
                let key = OffsetCommitKey { group: r.string()?, topic: r.string()?, partition: r.i32()? };
                finish(&r)?;
                let value = value.map(decode_offset_commit_value).transpose()?;
                GroupRecord::OffsetCommit { key, value }
            }
            2 => {
                let key = GroupMetadataKey { group: r.string()? };
                finish(&r)?;
                let value = value.map(decode_group_metadata_value).transpose()?;
                GroupRecord::GroupMetadata { key, value }
            }
            3 | 4 | 6 => {
                let key = GroupMetadataKey { group: r.string()? };
                finish(&r)?;
                match key_version {
                    3 => GroupRecord::ConsumerGroupMetadata { key, value: value.map(cg::decode_metadata).transpose()? },
                    4 => GroupRecord::ConsumerGroupPartitionMetadata {
                        key,
                        value: value.map(cg::decode_partition_metadata).transpose()?,
                    },
                    _ => GroupRecord::ConsumerGroupTargetAssignmentMetadata {
                        key,
                        value: value.map(cg::decode_target_assignment_metadata).transpose()?,
                    },
                }
            }
            5 | 7 | 8 => {
                let key = ConsumerMemberKey { group: r.string()?, member_id: r.string()? };
                finish(&r)?;
                match key_version {
                    5 => GroupRecord::ConsumerGroupMemberMetadata {
                        key,
                        value: value.map(cg::decode_member_metadata).transpose()?,
                    },
                    7 => GroupRecord::ConsumerGroupTargetAssignmentMember {
                        key,
                        value: value.map(cg::decode_target_assignment_member).transpose()?,
                    },
                    _ => GroupRecord::ConsumerGroupCurrentMemberAssignment {
                        key,
                        value: value.map(cg::decode_current_assignment).transpose()?,
                    },
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(record))
    }
}

fn finish(r: &Reader<'_>) -> Result<(), DecodeError> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(DecodeError::TrailingBytes(n)),
    }
}

fn encode_offset_commit_value(v: &OffsetCommitValue) -> Vec<u8> {
    let mut w = Writer::new();
    match v.expire_timestamp_ms {
        Some(expire) => {
            w.i16(OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY);
            w.i64(v.offset);
            w.string(&v.metadata);
            w.i64(v.commit_timestamp_ms);
            w.i64(expire);
        }
        None => {
            w.i16(OFFSET_COMMIT_VALUE_VERSION);
            w.i64(v.offset);
            w.i32(v.leader_epoch);
            w.string(&v.metadata);
            w.i64(v.commit_timestamp_ms);
        }
    }
    w.into_bytes()
}

fn decode_offset_commit_value(bytes: &[u8]) -> Result<OffsetCommitValue, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(DecodeError::UnsupportedVersion { schema: "OffsetCommitValue", version });
    }
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp_ms = r.i64()?;
    let expire_timestamp_ms = if version == 1 { Some(r.i64()?).filter(|&t| t != -1) } else { None };
    finish(&r)?;
    Ok(OffsetCommitValue { offset, leader_epoch, metadata, commit_timestamp_ms, expire_timestamp_ms })
}

fn encode_group_metadata_value(v: &GroupMetadataValue) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(GROUP_METADATA_VALUE_VERSION);
    w.string(&v.protocol_type);
    w.i32(v.generation);
    w.nullable_string(v.protocol.as_deref());
    w.nullable_string(v.leader.as_deref());
    w.i64(v.current_state_timestamp_ms);
    w.array_len(v.members.len());
    for m in &v.members {
        w.string(&m.member_id);
        w.nullable_string(m.group_instance_id.as_deref());
        w.string(&m.client_id);
        w.string(&m.client_host);
        w.i32(m.rebalance_timeout_ms);
        w.i32(m.session_timeout_ms);
        w.bytes(&m.subscription);
        w.bytes(&m.assignment);
    }
    w.into_bytes()
}

/// The fewest bytes one member takes in any value version: three empty strings (2 each),
/// a session timeout (4) and two empty byte arrays (4 each).
const MEMBER_MIN_BYTES: usize = 2 + 2 + 2 + 4 + 4 + 4;

fn decode_group_metadata_value(bytes: &[u8]) -> Result<GroupMetadataValue, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(DecodeError::UnsupportedVersion { schema: "GroupMetadataValue", version });
    }
    let protocol_type = r.string()?;
    let generation = r.i32()?;
    let protocol = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let current_state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
    let count = r.array_len(MEMBER_MIN_BYTES)?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = r.string()?;
        let group_instance_id = if version >= 3 { r.nullable_string()? } else { None };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let rebalance_timeout = if version >= 1 { Some(r.i32()?) } else { None };
        let session_timeout_ms = r.i32()?;
        let subscription = Bytes::copy_from_slice(r.bytes()?);
        let assignment = Bytes::copy_from_slice(r.bytes()?);
        members.push(MemberMetadataValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            // Version 0 had no rebalance timeout; Kafka uses the session timeout then.
            rebalance_timeout_ms: rebalance_timeout.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    finish(&r)?;
    Ok(GroupMetadataValue { protocol_type, generation, protocol, leader, current_state_timestamp_ms, members })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset_key() -> OffsetCommitKey {
        OffsetCommitKey { group: "g".into(), topic: "t".into(), partition: 3 }
    }

    #[test]
    fn offset_commit_key_and_value_use_kafkas_layout() {
        let record = GroupRecord::OffsetCommit {
            key: offset_key(),
            value: Some(OffsetCommitValue {
                offset: 42,
                leader_epoch: 7,
                metadata: "m".into(),
                commit_timestamp_ms: 1000,
                expire_timestamp_ms: None,
            }),
        };
        // version 1, "g", "t", partition 3
        assert_eq!(record.encode_key(), vec![0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        let value = record.encode_value().unwrap();
        let mut expected = vec![0, 3];
        expected.extend_from_slice(&42i64.to_be_bytes());
        expected.extend_from_slice(&7i32.to_be_bytes());
        expected.extend_from_slice(&[0, 1, b'm']);
        expected.extend_from_slice(&1000i64.to_be_bytes());
        assert_eq!(value, expected);
        assert_eq!(GroupRecord::decode(&record.encode_key(), Some(&value)).unwrap(), Some(record));
    }

    #[test]
    fn a_retention_time_selects_value_version_1() {
        let value = OffsetCommitValue {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 5,
            expire_timestamp_ms: Some(99),
        };
        let record = GroupRecord::OffsetCommit { key: offset_key(), value: Some(value.clone()) };
        let bytes = record.encode_value().unwrap();
        assert_eq!(&bytes[..2], &[0, 1]);
        let decoded = GroupRecord::decode(&record.encode_key(), Some(&bytes)).unwrap().unwrap();
        assert_eq!(decoded, record);
    }

    #[test]
    fn group_metadata_round_trips_and_tombstones_have_no_value() {
        let record = GroupRecord::GroupMetadata {
            key: GroupMetadataKey { group: "grp".into() },
            value: Some(GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: Some("range".into()),
                leader: Some("m-1".into()),
                current_state_timestamp_ms: 123,
                members: vec![MemberMetadataValue {
                    member_id: "m-1".into(),
                    group_instance_id: Some("i-1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        };
        assert_eq!(record.encode_key(), vec![0, 2, 0, 3, b'g', b'r', b'p']);
        let value = record.encode_value().unwrap();
        assert_eq!(&value[..2], &[0, 3]);
        assert_eq!(GroupRecord::decode(&record.encode_key(), Some(&value)).unwrap(), Some(record.clone()));

        let tombstone = GroupRecord::GroupMetadata { key: GroupMetadataKey { group: "grp".into() }, value: None };
        assert_eq!(tombstone.encode_value(), None);
        assert_eq!(GroupRecord::decode(&tombstone.encode_key(), None).unwrap(), Some(tombstone));
    }

    #[test]
    fn older_value_versions_are_read() {
        // GroupMetadataValue v0: no state timestamp, no instance id, no rebalance timeout.
        let mut w = Writer::new();
        w.i16(0);
        w.string("consumer");
        w.i32(1);
        w.nullable_string(Some("range"));
        w.nullable_string(Some("m"));
        w.array_len(1);
        w.string("m");
        w.string("c");
        w.string("h");
        w.i32(10_000);
        w.bytes(b"s");
        w.bytes(b"a");
        let v = decode_group_metadata_value(&w.into_bytes()).unwrap();
        assert_eq!(v.current_state_timestamp_ms, -1);
        assert_eq!(v.members[0].rebalance_timeout_ms, 10_000, "v0 uses the session timeout");
        assert_eq!(v.members[0].group_instance_id, None);
    }

    #[test]
    fn unknown_key_versions_are_skipped_and_bad_values_refused() {
        assert_eq!(GroupRecord::decode(&[0, 9, 0, 1, b'g'], Some(b"x")).unwrap(), None);
        let key = GroupRecord::GroupMetadata { key: GroupMetadataKey { group: "g".into() }, value: None }.encode_key();
        assert!(matches!(
            GroupRecord::decode(&key, Some(&[0, 4, 0])),
            Err(DecodeError::UnsupportedVersion { version: 4, .. })
        ));
        assert!(GroupRecord::decode(&key, Some(&[0, 3, 0])).is_err());
        let mut trailing = key.clone();
        trailing.push(0);
        assert!(matches!(GroupRecord::decode(&trailing, None), Err(DecodeError::TrailingBytes(1))));
    }
}
