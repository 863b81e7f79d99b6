//! Offset retention: offsets of groups nobody uses any more expire.
//!
//! Kafka's rules (`GroupMetadata.removeExpiredOffsets`), checked every
//! `offsets.retention.check.interval.ms`:
//! - an empty group's offsets expire `offsets.retention.minutes` after the group became
//!   empty (after their commit, when that time is unknown);
//! - a stable `consumer` group's offsets of topics it no longer subscribes to expire that
//!   long after their commit;
//! - a group that only stores offsets (no protocol type) loses each offset that long
//!   after its commit;
//! - an offset committed with an explicit retention time (OffsetCommit v2–v4) expires
//!   at that time instead;
//! - a consumer group's (KIP-848) offsets of topics none of its members subscribes to
//!   (all of them once it is empty) expire that long after their commit
//!   (`ConsumerGroup.offsetExpirationCondition`, `isSubscribedToTopic`).
//!
//! A group left empty without offsets is deleted with its metadata.

use std::collections::BTreeMap;

use crate::api::Output;
use crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::group::{ClassicGroup, GroupState};
use crate::records::OffsetCommitValue;
use crate::shard::GroupCoordinatorShard;

impl GroupCoordinatorShard {
    /// Deletes expired offsets, and groups that are left empty without any.
    pub(crate) fn expire_offsets(&mut self, now_ms: i64, out: &mut Output) {
        let retention_ms = self.config.offsets_retention_ms;
        let expired: Vec<(String, Vec<(String, i32)>)> = self
            .offsets
            .iter()
            .map(|(group_id, offsets)| {
                let expired = match (self.groups.get(group_id), self.consumer_groups.get(group_id)) {
                    (Some(group), _) => expired_offsets(group, offsets, now_ms, retention_ms),
                    (None, Some(group)) => {
                        let subscribed = group.subscribed_topic_names();
                        offsets
                            .iter()
                            .filter(|((topic, _), o)| {
                                !subscribed.contains(topic) && is_expired(o.commit_timestamp_ms, o, now_ms, retention_ms)
                            })
                            .map(|(tp, _)| tp.clone())
                            .collect()
                    }
                    _ => Vec::new(),
                };
                (group_id.clone(), expired)
            })
            .collect();
        for (group_id, partitions) in expired {
            self.remove_offsets(&group_id, &partitions, out);
        }
    }

    /// Deletes every group's offsets of topics that were deleted.
    pub fn on_topics_deleted(&mut self, topics: &[String]) -> Output {
        let mut out = Output::default();
        let doomed: Vec<(String, Vec<(String, i32)>)> = self
            .offsets
            .iter()
            .map(|(group_id, o)| (group_id.clone(), o.keys().filter(|(t, _)| topics.contains(t)).cloned().collect()))
            .collect();
        for (group_id, partitions) in doomed {
            if !partitions.is_empty() {
                self.remove_offsets(&group_id, &partitions, &mut out);
            }
        }
        out
    }
}

fn is_expired(base_ms: i64, offset: &OffsetCommitValue, now_ms: i64, retention_ms: i64) -> bool {
    match offset.expire_timestamp_ms {
        Some(expire_ms) => now_ms >= expire_ms,
        None => now_ms - base_ms >= retention_ms,
    }
}

fn expired_offsets(
    group: &ClassicGroup,
    offsets: &BTreeMap<(String, i32), OffsetCommitValue>,
    now_ms: i64,
    retention_ms: i64,
) -> Vec<(String, i32)> {
    let is_expired = |base_ms: i64, offset: &OffsetCommitValue| is_expired(base_ms, offset, now_ms, retention_ms);
    let consumer = group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE);
    offsets
        .iter()
        .filter(|((topic, _), offset)| match (&group.protocol_type, group.state) {
            (Some(_), GroupState::Empty) => {
                is_expired(group.state_timestamp_ms.unwrap_or(offset.commit_timestamp_ms), offset)
            }
            (Some(_), GroupState::Stable) if consumer => match &group.subscribed_topics {
                Some(subscribed) => !subscribed.contains(topic) && is_expired(offset.commit_timestamp_ms, offset),
                None => false,
            },
            (None, _) => is_expired(offset.commit_timestamp_ms, offset),
            _ => false,
        })
        .map(|(tp, _)| tp.clone())
        .collect()
}
