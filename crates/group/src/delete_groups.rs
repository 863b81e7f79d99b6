//! DeleteGroups: an administrator removes empty groups and their offsets.

use crate::api::Output;
use crate::error::GroupError;
use crate::group::GroupState;
use crate::shard::{Api, GroupCoordinatorShard};

impl GroupCoordinatorShard {
    /// Handles DeleteGroups for the groups of this shard: each must exist and be empty.
    /// Its offsets and metadata are deleted with tombstones.
    pub fn delete_groups(&mut self, group_ids: &[String]) -> (Vec<(String, Option<GroupError>)>, Output) {
        let mut out = Output::default();
        let mut results = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let error = match self.validate_group_status(group_id, Api::Offsets) {
                Err(error) => Some(error),
                Ok(()) if self.consumer_groups.contains_key(group_id) => self.delete_consumer_group(group_id, &mut out),
                Ok(()) => match self.groups.get(group_id).map(|g| g.state) {
                    None | Some(GroupState::Dead) => Some(GroupError::GroupIdNotFound),
                    Some(GroupState::Empty) => {
                        let partitions: Vec<(String, i32)> =
                            self.offsets.get(group_id).map(|o| o.keys().cloned().collect()).unwrap_or_default();
                        self.remove_offsets(group_id, &partitions, &mut out);
                        // Gone even with members still pending their first join.
                        self.groups.remove(group_id);
                        None
                    }
                    Some(_) => Some(GroupError::NonEmptyGroup),
                },
            };
            results.push((group_id.clone(), error));
        }
        (results, out)
    }

    /// Deletes an empty consumer group: its offsets, then its records.
    fn delete_consumer_group(&mut self, group_id: &str, out: &mut Output) -> Option<GroupError> {
        let group = self.consumer_groups.get(group_id)?;
        if !group.members.is_empty() {
            return Some(GroupError::NonEmptyGroup);
        }
        let tombstones = group.tombstones();
        let partitions: Vec<(String, i32)> =
            self.offsets.get(group_id).map(|o| o.keys().cloned().collect()).unwrap_or_default();
        self.remove_offsets(group_id, &partitions, out);
        if self.consumer_groups.contains_key(group_id) {
            for record in tombstones {
                self.emit(record, out);
            }
        }
        None
    }
}
