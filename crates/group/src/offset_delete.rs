//! OffsetDelete: an administrator removes committed offsets of a group.

use crate::api::{OffsetDeleteResult, Output};
use crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::error::GroupError;
use crate::group::GroupState;
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles an OffsetDelete. An empty group may lose any offset; an active consumer
    /// group only those of topics it does not consume (`GROUP_SUBSCRIBED_TO_TOPIC`
    /// for the others); any other active group none (`NON_EMPTY_GROUP`).
    pub fn offset_delete(&mut self, group_id: &str, topics: &[(String, Vec<i32>)]) -> (OffsetDeleteResult, Output) {
        let mut out = Output::default();
        let fail = |error| OffsetDeleteResult { error: Some(error), topics: Vec::new() };
        if let Err(error) = self.validate_group_status(group_id, Api::Offsets) {
            return (fail(error), out);
        }
        if let Some(group) = self.consumer_groups.get(group_id) {
            // Offsets of topics no member subscribes to may go, whatever the state.
            let subscribed = group.subscribed_topic_names();
            let mut eligible = Vec::new();
            let mut result = OffsetDeleteResult { error: None, topics: Vec::with_capacity(topics.len()) };
            for (topic, partitions) in topics {
                let error = subscribed.contains(topic).then_some(GroupError::GroupSubscribedToTopic);
                if error.is_none() {
                    eligible.extend(partitions.iter().map(|&p| (topic.clone(), p)));
                }
                result.topics.push((topic.clone(), partitions.iter().map(|&p| (p, error)).collect()));
            }
            self.remove_offsets(group_id, &eligible, &mut out);
            return (result, out);
        }
        let Some(group) = self.groups.get(group_id) else {
            return (fail(GroupError::GroupIdNotFound), out);
        };
        let consumer_group = group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE);
        let mut eligible = Vec::new();
        let mut result = OffsetDeleteResult { error: None, topics: Vec::with_capacity(topics.len()) };
        for (topic, partitions) in topics {
            let error = match group.state {
                GroupState::Empty => None,
                GroupState::Dead => return (fail(GroupError::GroupIdNotFound), out),
                _ if !consumer_group => return (fail(GroupError::NonEmptyGroup), out),
                _ if group.is_subscribed_to_topic(topic) => Some(GroupError::GroupSubscribedToTopic),
                _ => None,
            };
            if error.is_none() {
                eligible.extend(partitions.iter().map(|&p| (topic.clone(), p)));
            }
            result.topics.push((topic.clone(), partitions.iter().map(|&p| (p, error)).collect()));
        }
        self.remove_offsets(group_id, &eligible, &mut out);
        (result, out)
    }
}
