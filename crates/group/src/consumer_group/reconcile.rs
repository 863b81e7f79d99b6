//! Reconciliation: the next step of a member from its current assignment towards its
//! target (Kafka's `CurrentAssignmentBuilder`).
//!
//! - `Stable` at an older epoch, or `UnreleasedPartitions`: compute the next step.
//! - `UnrevokedPartitions`: wait until the member no longer reports any partition
//!   pending revocation; then it moves to epoch + 1 and takes the next step.
//!
//! One step keeps `assigned ∩ target`; what is assigned but not in the target must be
//! revoked first (the member stays at its epoch, `UnrevokedPartitions`); otherwise the
//! member moves to the target epoch and gets the target partitions nobody else owns
//! (`UnreleasedPartitions` while some are still owned elsewhere, else `Stable`).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::records::Assignment;
use super::{ConsumerMember, MemberState};
use crate::error::GroupError;

/// Partitions a member reports owning, by topic id.
pub(crate) type Owned = [(Uuid, Vec<i32>)];

/// A member's epochs, state and partitions after one reconciliation step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) member_epoch: i32,
    pub(crate) previous_member_epoch: i32,
    pub(crate) state: MemberState,
    pub(crate) assigned: Assignment,
    pub(crate) pending_revocation: Assignment,
}

impl Step {
    pub(crate) fn of(member: &ConsumerMember) -> Self {
        Step {
            member_epoch: member.member_epoch,
            previous_member_epoch: member.previous_member_epoch,
            state: member.state,
            assigned: member.assigned.clone(),
            pending_revocation: member.pending_revocation.clone(),
        }
    }

    fn with_epoch(member: &ConsumerMember, epoch: i32) -> (i32, i32) {
        // The previous epoch moves only when the epoch does (Kafka's `updateMemberEpoch`).
        if epoch == member.member_epoch {
            (member.member_epoch, member.previous_member_epoch)
        } else {
            (epoch, member.member_epoch)
        }
    }
}

/// The member's next step towards `target` at `target_epoch`.
///
/// `owner_epochs` names the partitions some member owns or is revoking; `owned` is what
/// the member reported in this heartbeat (`None` when it did not say).
///
/// # Errors
/// `FENCED_MEMBER_EPOCH` for a member in a state this version does not know that still
/// claims partitions.
pub(crate) fn reconcile(
    member: &ConsumerMember,
    target_epoch: i32,
    target: &Assignment,
    owner_epochs: &BTreeMap<(Uuid, i32), i32>,
    owned: Option<&Owned>,
) -> Result<Step, GroupError> {
    match member.state {
        MemberState::Stable if member.member_epoch == target_epoch => Ok(Step::of(member)),
        MemberState::Stable | MemberState::UnreleasedPartitions => {
            Ok(next_step(member, member.member_epoch, target_epoch, target, owner_epochs, owned))
        }
        MemberState::UnrevokedPartitions => {
            if owns_any(owned, &member.pending_revocation) {
                return Ok(Step::of(member));
            }
            Ok(next_step(member, member.member_epoch + 1, target_epoch, target, owner_epochs, owned))
        }
        MemberState::Unknown => {
            if owned.is_none_or(|o| !o.is_empty()) {
                return Err(GroupError::FencedMemberEpoch);
            }
            Ok(next_step(member, target_epoch, target_epoch, target, owner_epochs, owned))
        }
    }
}

/// Whether the member still reports any of `partitions` (true when it did not report).
fn owns_any(owned: Option<&Owned>, partitions: &Assignment) -> bool {
    let Some(owned) = owned else { return true };
    owned.iter().any(|(topic, ps)| partitions.get(topic).is_some_and(|set| ps.iter().any(|p| set.contains(p))))
}

fn next_step(
    member: &ConsumerMember,
    epoch_if_revoking: i32,
    target_epoch: i32,
    target: &Assignment,
    owner_epochs: &BTreeMap<(Uuid, i32), i32>,
    owned: Option<&Owned>,
) -> Step {
    let mut assigned = Assignment::new();
    let mut revoking = Assignment::new();
    let mut to_assign = Assignment::new();
    let mut unreleased = false;
    let topics: BTreeSet<Uuid> = target.keys().chain(member.assigned.keys()).copied().collect();
    let empty = BTreeSet::new();
    for topic in topics {
        let want = target.get(&topic).unwrap_or(&empty);
        let have = member.assigned.get(&topic).unwrap_or(&empty);
        let keep: BTreeSet<i32> = have.intersection(want).copied().collect();
        let revoke: BTreeSet<i32> = have.difference(&keep).copied().collect();
        let mut add = BTreeSet::new();
        for &p in want.difference(&keep) {
            if owner_epochs.contains_key(&(topic, p)) {
                unreleased = true;
            } else {
                add.insert(p);
            }
        }
        for (map, set) in [(&mut assigned, keep), (&mut revoking, revoke), (&mut to_assign, add)] {
            if !set.is_empty() {
                map.insert(topic, set);
            }
        }
    }

    if !revoking.is_empty() && owns_any(owned, &revoking) {
        let (member_epoch, previous_member_epoch) = Step::with_epoch(member, epoch_if_revoking);
        return Step {
            member_epoch,
            previous_member_epoch,
            state: MemberState::UnrevokedPartitions,
            assigned,
            pending_revocation: revoking,
        };
    }
    for (topic, partitions) in to_assign {
        assigned.entry(topic).or_default().extend(partitions);
    }
    let (member_epoch, previous_member_epoch) = Step::with_epoch(member, target_epoch);
    Step {
        member_epoch,
        previous_member_epoch,
        state: if unreleased { MemberState::UnreleasedPartitions } else { MemberState::Stable },
        assigned,
        pending_revocation: Assignment::new(),
    }
}
