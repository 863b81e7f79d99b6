//! ListGroups: the groups this shard coordinates.

use crate::api::{GroupOverview, ListGroupsResult};
use crate::error::GroupError;
use crate::shard::GroupCoordinatorShard;

/// The only group type this coordinator has (KIP-848 `consumer` groups are not built).
pub const CLASSIC_GROUP_TYPE: &str = "classic";

impl GroupCoordinatorShard {
    /// Handles ListGroups for this shard. `states` (v4+) and `types` (v5+) filter
    /// case-insensitively when not empty. While loading, the answer carries
    /// `COORDINATOR_LOAD_IN_PROGRESS` along with whatever is loaded so far, as Kafka's.
    pub fn list_groups(&self, states: &[String], types: &[String]) -> ListGroupsResult {
        let states: Vec<String> = states.iter().map(|s| s.to_lowercase()).collect();
        let classic_wanted = types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(CLASSIC_GROUP_TYPE));
        let groups = self
            .groups
            .values()
            .filter(|_| classic_wanted)
            .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
            .map(|g| GroupOverview {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        let error = self.is_loading().then_some(GroupError::CoordinatorLoadInProgress);
        ListGroupsResult { error, groups }
    }
}
