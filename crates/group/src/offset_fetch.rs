//! OffsetFetch: where a group left off.

use std::collections::BTreeMap;

use crate::api::{FetchedOffset, OffsetFetch, OffsetFetchResult};
use crate::error::GroupError;
use crate::records::OffsetCommitValue;
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles an OffsetFetch for one group, whatever the group's state (it may use
    /// Kafka only to store offsets). A partition without a committed offset answers -1.
    ///
    /// `require_stable` needs no waiting here: commits are applied when their records
    /// are written, and transactional commits are not supported.
    pub fn offset_fetch(&self, request: &OffsetFetch) -> OffsetFetchResult {
        if let Err(error) = self.validate_group_status(&request.group_id, Api::Offsets) {
            return OffsetFetchResult { error: Some(error), topics: Vec::new() };
        }
        if let Some(group) = self.consumer_groups.get(&request.group_id) {
            // v9+ from a consumer group member: it must be current (Kafka's
            // `ConsumerGroup.validateOffsetFetch`).
            if let Some(member_id) = &request.member_id {
                let error = match group.members.get(member_id) {
                    None => Some(GroupError::UnknownMemberId),
                    Some(m) if m.member_epoch != request.member_epoch => Some(GroupError::StaleMemberEpoch),
                    Some(_) => None,
                };
                if let Some(error) = error {
                    return OffsetFetchResult { error: Some(error), topics: Vec::new() };
                }
            }
        }
        let offsets = self.offsets.get(&request.group_id);
        let topics = match &request.topics {
            Some(topics) => topics
                .iter()
                .map(|(topic, partitions)| {
                    let fetched = partitions
                        .iter()
                        .map(|&partition| {
                            let committed = offsets.and_then(|o| o.get(&(topic.clone(), partition)));
                            fetched(partition, committed)
                        })
                        .collect();
                    (topic.clone(), fetched)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<&str, Vec<FetchedOffset>> = BTreeMap::new();
                for ((topic, partition), committed) in offsets.into_iter().flatten() {
                    by_topic.entry(topic).or_default().push(fetched(*partition, Some(committed)));
                }
                by_topic.into_iter().map(|(topic, fetched)| (topic.to_string(), fetched)).collect()
            }
        };
        OffsetFetchResult { error: None, topics }
    }
}

fn fetched(partition: i32, committed: Option<&OffsetCommitValue>) -> FetchedOffset {
    match committed {
        Some(c) => FetchedOffset {
            partition,
            offset: c.offset,
            leader_epoch: c.leader_epoch,
            metadata: c.metadata.clone(),
            error: None,
        },
        None => FetchedOffset { partition, offset: -1, leader_epoch: -1, metadata: String::new(), error: None },
    }
}
