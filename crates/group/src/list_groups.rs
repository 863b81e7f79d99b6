//! ListGroups: the groups this shard coordinates, classic and consumer (KIP-848).

use crate::api::{GroupOverview, ListGroupsResult};
use crate::consumer_group::CONSUMER_GROUP_TYPE;
use crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::error::GroupError;
use crate::shard::GroupCoordinatorShard;

/// The group type ListGroups (v5) names classic groups by.
pub const CLASSIC_GROUP_TYPE: &str = "classic";

impl GroupCoordinatorShard {
    /// Handles ListGroups for this shard. `states` (v4+) and `types` (v5+) filter
    /// case-insensitively when not empty. While loading, the answer carries
    /// `COORDINATOR_LOAD_IN_PROGRESS` along with whatever is loaded so far, as Kafka's.
    pub fn list_groups(&self, states: &[String], types: &[String]) -> ListGroupsResult {
        let states: Vec<String> = states.iter().map(|s| s.to_lowercase()).collect();
        let wanted = |group_type: &str| types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(group_type));
        let classic = self.groups.values().filter(|_| wanted(CLASSIC_GROUP_TYPE)).map(|g| GroupOverview {
            group_id: g.group_id.clone(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            state: g.state.name(),
            group_type: CLASSIC_GROUP_TYPE,
        });
        let consumer = self.consumer_groups.values().filter(|_| wanted(CONSUMER_GROUP_TYPE)).map(|g| GroupOverview {
            group_id: g.group_id.clone(),
            protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
            state: g.state().name(),
            group_type: CONSUMER_GROUP_TYPE,
        });
        let groups = classic
            .chain(consumer)
            .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
            .collect();
        let error = self.is_loading().then_some(GroupError::CoordinatorLoadInProgress);
        ListGroupsResult { error, groups }
    }
}
