//! The group coordinator: Kafka's classic consumer groups and committed offsets, as a
//! record-driven state machine without I/O or clock.
//!
//! ```text
//!   request + now_ms ──► GroupCoordinatorShard ──► answer + Output { records, responses }
//!   tick(now_ms)     ──►   (one per partition  ──► Output (sessions, rebalance and
//!                           of __consumer_offsets)     sync deadlines, offset retention)
//!                                 ▲
//!   __consumer_offsets records ───┘ replay (on load; offset records also live)
//! ```
//!
//! A group lives on partition `partition_for(group_id)` of `__consumer_offsets`
//! ([`partition_for`]); the broker leading that partition runs its
//! [`GroupCoordinatorShard`], as Kafka's `GroupCoordinatorShard` runs on the leader of
//! its partition. Everything durable is a [`GroupRecord`] in Kafka's own format
//! ([`records`]): committed offsets, and each group's generation, members and
//! assignments as of its last rebalance. Loading replays the partition; offsets also
//! change in memory only by replaying the records the shard returns, so live and loaded
//! state are built by the same code ([`GroupCoordinatorShard::durable_state`] is what
//! they agree on). The rest of a group's state (who is waiting to join or sync, session
//! deadlines) lives only in memory, as in Kafka: after a restart, members rejoin.
//!
//! JoinGroup and SyncGroup often cannot be answered at once: a join waits for the other
//! members, a follower's sync waits for the leader. The caller passes a
//! [`RequestToken`] with each; the answer shows up under that token in the [`Output`]
//! of whichever call settled it: another member's join or sync, a leave, or
//! [`GroupCoordinatorShard::tick`] when a deadline passed. The broker keeps a oneshot
//! channel per token.
//!
//! Invariants:
//! - records reach the log before any answer that depends on them (the [`Output`]
//!   contract; the caller enforces it);
//! - only members of the current generation sync, heartbeat and commit; a static
//!   member's older incarnation is fenced (`FENCED_INSTANCE_ID`);
//! - every waiting request is answered exactly once: when its rebalance settles, when a
//!   later request from the same member replaces it, or when the shard unloads.
//!
//! KIP-848 consumer groups (`ConsumerGroupHeartbeat`, server-side assignment) live in
//! [`consumer_group`], beside the classic groups in the same shard; a group id names one
//! kind or the other. Committed offsets belong to the shard, keyed by group id, whatever
//! the group's kind.
//!
//! Not built yet: transactional offset commits (TxnOffsetCommit) and share groups.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
mod codec;
pub mod config;
pub mod consumer_group;
pub mod consumer_protocol;
mod delete_groups;
mod describe_groups;
pub mod error;
mod group;
mod heartbeat;
mod join;
mod leave;
mod list_groups;
mod member;
mod offset_commit;
mod offset_delete;
mod offset_expiration;
mod offset_fetch;
pub mod partition_for;
mod rebalance;
pub mod records;
mod shard;
mod sync;

#[cfg(test)]
mod tests;

pub use api::*;
pub use config::GroupConfig;
pub use consumer_group::{
    ConsumerGroupDescription, ConsumerGroupHeartbeat, ConsumerGroupHeartbeatResult, ConsumerGroupState,
    ConsumerMemberDescription, DescribedTopicPartitions, TopicsImage, CONSUMER_GROUP_TYPE,
};
pub use error::{AppendFailure, DecodeError, GroupError};
pub use group::GroupState;
pub use list_groups::CLASSIC_GROUP_TYPE;
pub use partition_for::partition_for;
pub use records::GroupRecord;
pub use shard::{DurableGroup, DurableMember, GroupCoordinatorShard};
