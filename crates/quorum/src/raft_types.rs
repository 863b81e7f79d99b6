//! The openraft type configuration of the metadata quorum.
//!
//! Node ids are Kafka node ids (`i32`, never negative) widened to openraft's `u64`;
//! a node's [`BasicNode::addr`] is its advertised controller address. An entry's
//! application payload is one [`MetadataBatch`]: the records of one controller decision,
//! committed atomically.

use std::io::Cursor;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use spool_metadata::MetadataRecord;

/// The records of one controller decision: one Raft entry, applied all or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    pub records: Vec<MetadataRecord>,
}

openraft::declare_raft_types!(
    /// The metadata quorum's Raft types.
    pub TypeConfig:
        D = MetadataBatch,
        R = (),
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub(crate) type Raft = openraft::Raft<TypeConfig>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type LogId = openraft::LogId<u64>;
pub(crate) type Vote = openraft::Vote<u64>;
pub(crate) type StorageError = openraft::StorageError<u64>;
pub(crate) type StoredMembership = openraft::StoredMembership<u64, BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<u64, BasicNode>;

/// Kafka node id to Raft node id. Ids are checked non-negative at start-up.
pub(crate) fn raft_id(node_id: i32) -> u64 {
    u64::try_from(node_id).unwrap_or(u64::MAX)
}

/// Raft node id back to the Kafka node id; ids that never came from [`raft_id`] map to -1.
pub(crate) fn node_id(raft_id: u64) -> i32 {
    i32::try_from(raft_id).unwrap_or(-1)
}
