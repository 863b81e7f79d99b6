//! Partition reassignment (KIP-455): moving a partition's replicas to other brokers
//! while it stays online, as `kafka-reassign-partitions` and
//! `AdminClient.alterPartitionReassignments` ask.
//!
//! A reassignment from replicas `R` to target `T` first widens the assignment to
//! `T` followed by the replicas of `R` not in `T`, records which replicas are being
//! added (`T - R`) and removed (`R - T`), and leaves the ISR as it is: the brokers
//! being added open the partition and fetch from its leader like any follower, and the
//! leader takes them into the ISR once they have caught up. The reassignment completes
//! when every target replica is in sync: the assignment becomes `T`, the removed
//! replicas leave the ISR, and if the leader was one of them an in-sync target replica
//! takes over. The brokers no longer assigned delete their copies. Kafka's
//! `PartitionReassignmentReplicas` and `PartitionChangeBuilder` do the same.
//!
//! A cancelled reassignment returns to the replicas it started from, minus none: the
//! replicas being added leave the assignment and the ISR.

use serde::{Deserialize, Serialize};

use super::ControllerError;
use crate::image::MetadataImage;
use crate::records::{MetadataRecord, PartitionRecord};

/// Starts (or replaces) the reassignment of `topic`-`partition` to `target`, or cancels
/// the one in progress when `target` is `None`.
///
/// # Errors
/// [`ControllerError::UnknownTopic`] for a partition that does not exist;
/// [`ControllerError::InvalidReplicaAssignment`] for an empty target, one that names a
/// broker twice or a broker that is not registered, and for a cancel that would leave
/// no in-sync replica; [`ControllerError::NoReassignmentInProgress`] for a cancel with
/// nothing to cancel.
pub fn alter_partition_reassignment(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let current = image
        .partition(topic, partition)
        .ok_or_else(|| ControllerError::UnknownTopic(format!("{topic}-{partition}")))?;
    let next = match target {
        Some(target) => reassign(image, current, target, &format!("{topic}-{partition}"))?,
        None => cancel(image, current, &format!("{topic}-{partition}"))?,
    };
    if next == *current {
        return Ok(Vec::new());
    }
    Ok(vec![MetadataRecord::Partition(next)])
}

fn reassign(
    image: &MetadataImage,
    current: &PartitionRecord,
    target: &[i32],
    name: &str,
) -> Result<PartitionRecord, ControllerError> {
    if target.is_empty() {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "The target replica list of {name} is empty."
        )));
    }
    if let Some(twice) = target.iter().enumerate().find(|(i, b)| target[..*i].contains(b)) {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "The target replica list of {name} names broker {} twice: {target:?}",
            twice.1
        )));
    }
    if let Some(missing) = target.iter().find(|b| image.broker(**b).is_none()) {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "The target replica list of {name} names broker {missing}, which is not registered."
        )));
    }
    if !current.is_reassigning() && current.replicas == target {
        return Ok(current.clone());
    }
    let mut next = current.clone();
    next.replicas = target.to_vec();
    next.replicas.extend(current.replicas.iter().copied().filter(|r| !target.contains(r)));
    next.adding_replicas = target.iter().copied().filter(|r| !current.replicas.contains(r)).collect();
    next.removing_replicas = current.replicas.iter().copied().filter(|r| !target.contains(r)).collect();
    next.partition_epoch += 1;
    Ok(complete_if_in_sync(image, next))
}

fn cancel(image: &MetadataImage, current: &PartitionRecord, name: &str) -> Result<PartitionRecord, ControllerError> {
    if !current.is_reassigning() {
        return Err(ControllerError::NoReassignmentInProgress(format!(
            "No reassignment of {name} is in progress."
        )));
    }
    let adding = &current.adding_replicas;
    let mut next = current.clone();
    next.replicas.retain(|r| !adding.contains(r));
    next.isr.retain(|r| !adding.contains(r));
    if next.isr.is_empty() {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "Cancelling the reassignment of {name} would leave it no in-sync replica: only the replicas being \
             added ({}) are in sync. Let it complete, or reassign it again.",
            join(adding)
        )));
    }
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    next.partition_epoch += 1;
    if !next.isr.contains(&next.leader) {
        elect_leader(image, &mut next);
    }
    Ok(next)
}

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// The reassignments in progress: of the given topics' partitions, or of every partition
/// (`None`). As in Kafka, topics that do not exist and partitions not being reassigned
/// are left out.
pub fn list_partition_reassignments(image: &MetadataImage, topics: Option<&[(String, Vec<i32>)]>) -> Vec<OngoingReassignment> {
    let ongoing = |topic: &str, p: &PartitionRecord| {
        p.is_reassigning().then(|| OngoingReassignment {
            topic: topic.to_string(),
            partition: p.partition,
            replicas: p.replicas.clone(),
            adding: p.adding_replicas.clone(),
            removing: p.removing_replicas.clone(),
        })
    };
    match topics {
        Some(topics) => topics
            .iter()
            .filter_map(|(name, indexes)| Some((name, indexes, image.topic(name)?)))
            .flat_map(|(name, indexes, topic)| indexes.iter().filter_map(|i| ongoing(name, topic.partitions.get(i)?)))
            .collect(),
        None => image.topics().flat_map(|t| t.partitions.values().filter_map(|p| ongoing(&t.name, p))).collect(),
    }
}

/// Completes a reassignment whose target replicas are all in sync: the assignment
/// becomes the target, the removed replicas leave the ISR, and an in-sync target
/// replica leads if the leader was removed. Anything else is returned as it is. Called
/// wherever the ISR or the assignment changes.
pub(super) fn complete_if_in_sync(image: &MetadataImage, mut partition: PartitionRecord) -> PartitionRecord {
    if !partition.is_reassigning() {
        return partition;
    }
    let target = partition.target_replicas();
    if !target.iter().all(|r| partition.isr.contains(r)) {
        return partition;
    }
    partition.isr.retain(|r| target.contains(r));
    partition.replicas = target;
    partition.adding_replicas.clear();
    partition.removing_replicas.clear();
    if !partition.isr.contains(&partition.leader) {
        elect_leader(image, &mut partition);
    }
    partition
}

/// Makes the first replica (in assignment order) that is in sync and live the leader,
/// or none (-1), with a new leader epoch.
fn elect_leader(image: &MetadataImage, partition: &mut PartitionRecord) {
    let leader = partition
        .replicas
        .iter()
        .copied()
        .find(|b| partition.isr.contains(b) && image.broker(*b).is_some() && !image.is_fenced(*b))
        .unwrap_or(-1);
    if leader != partition.leader {
        partition.leader = leader;
        partition.leader_epoch += 1;
    }
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{alter_partition, create_topic, fence_broker, register_broker, NewTopic, TopicDefaults};
    use crate::records::{BrokerEndpoint, BrokerRecord};
    use uuid::Uuid;

    /// Brokers 1..=4; topic `t` with one partition on `replicas`.
    fn cluster(replicas: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=4 {
            let broker = BrokerRecord { broker_id: id, endpoints: vec![BrokerEndpoint::plaintext("PLAINTEXT", "h", 1)], rack: None };
            register_broker(broker).iter().for_each(|r| image.replay(r));
        }
        let topic = NewTopic {
            name: "t".into(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: [(0, replicas.to_vec())].into(),
            ..Default::default()
        };
        let defaults = TopicDefaults { num_partitions: 1, replication_factor: 1 };
        create_topic(&image, &topic, defaults, Uuid::new_v4()).unwrap().iter().for_each(|r| image.replay(r));
        image
    }

    fn apply(image: &mut MetadataImage, records: Vec<MetadataRecord>) -> PartitionRecord {
        records.iter().for_each(|r| image.replay(r));
        image.partition("t", 0).unwrap().clone()
    }

    /// The leader of `t`-0 takes `isr` as its ISR, as its AlterPartition would.
    fn set_isr(image: &mut MetadataImage, isr: &[i32]) -> PartitionRecord {
        let p = image.partition("t", 0).unwrap().clone();
        let records = alter_partition(image, "t", 0, p.leader, p.leader_epoch, p.partition_epoch, isr).unwrap();
        apply(image, records)
    }

    #[test]
    fn a_move_widens_the_assignment_until_the_new_replicas_are_in_sync() {
        let mut image = cluster(&[1, 2]);
        let records = alter_partition_reassignment(&image, "t", 0, Some(&[3, 2])).unwrap();
        let moving = apply(&mut image, records);
        let listed = vec![OngoingReassignment { topic: "t".into(), partition: 0, replicas: vec![3, 2, 1], adding: vec![3], removing: vec![1] }];
        assert_eq!(list_partition_reassignments(&image, None), listed);
        assert_eq!(list_partition_reassignments(&image, Some(&[("t".into(), vec![0, 7]), ("nope".into(), vec![0])])), listed);
        assert!(list_partition_reassignments(&image, Some(&[("t".into(), vec![1])])).is_empty());
        assert_eq!(moving.replicas, vec![3, 2, 1], "the target first, then the replicas being removed");
        assert_eq!((moving.adding_replicas.clone(), moving.removing_replicas.clone()), (vec![3], vec![1]));
        assert_eq!((moving.leader, moving.isr.clone()), (1, vec![1, 2]), "leader and ISR unchanged until 3 is in sync");
        assert_eq!(moving.partition_epoch, 1);

        // The leader takes broker 3 into the ISR: the reassignment completes at once.
        let done = set_isr(&mut image, &[1, 2, 3]);
        assert_eq!(done.replicas, vec![3, 2]);
        assert_eq!(done.isr, vec![2, 3], "the removed replica left the ISR");
        assert!(!done.is_reassigning());
        assert_eq!(done.leader, 3, "the removed leader handed over to the first in-sync target replica");
        assert_eq!(done.leader_epoch, moving.leader_epoch + 1);
        assert!(list_partition_reassignments(&image, None).is_empty());
    }

    #[test]
    fn dropping_replicas_or_reordering_completes_at_once_and_keeps_a_leader_that_stays() {
        let mut image = cluster(&[1, 2, 3]);
        let records = alter_partition_reassignment(&image, "t", 0, Some(&[2, 1])).unwrap();
        let done = apply(&mut image, records);
        assert_eq!((done.replicas.clone(), done.isr.clone(), done.leader), (vec![2, 1], vec![1, 2], 1));
        assert_eq!(done.leader_epoch, 0, "the leader stays");
        assert!(!done.is_reassigning());
        // The same target again changes nothing.
        assert!(alter_partition_reassignment(&image, "t", 0, Some(&[2, 1])).unwrap().is_empty());
    }

    #[test]
    fn a_cancel_returns_to_the_original_replicas() {
        let mut image = cluster(&[1, 2]);
        let records = alter_partition_reassignment(&image, "t", 0, Some(&[3, 4])).unwrap();
        apply(&mut image, records);
        // Broker 3 caught up, broker 4 not yet: still in progress.
        let partial = set_isr(&mut image, &[1, 2, 3]);
        assert!(partial.is_reassigning());
        assert_eq!(partial.replicas, vec![3, 4, 1, 2]);

        let records = alter_partition_reassignment(&image, "t", 0, None).unwrap();
        let back = apply(&mut image, records);
        assert_eq!((back.replicas.clone(), back.isr.clone(), back.leader), (vec![1, 2], vec![1, 2], 1));
        assert!(!back.is_reassigning());
        assert!(matches!(
            alter_partition_reassignment(&image, "t", 0, None),
            Err(ControllerError::NoReassignmentInProgress(_))
        ));
    }

    #[test]
    fn a_cancel_that_would_leave_no_in_sync_replica_is_refused() {
        let mut image = cluster(&[1]);
        let records = alter_partition_reassignment(&image, "t", 0, Some(&[2, 3])).unwrap();
        apply(&mut image, records);
        set_isr(&mut image, &[1, 2]);
        // Broker 1 fails before broker 3 is in sync: broker 2, being added, leads.
        let records = fence_broker(&image, 1);
        let failed_over = apply(&mut image, records);
        assert_eq!((failed_over.leader, failed_over.isr.clone()), (2, vec![2]));
        let err = alter_partition_reassignment(&image, "t", 0, None).unwrap_err();
        assert!(matches!(&err, ControllerError::InvalidReplicaAssignment(m) if m.contains("no in-sync replica")), "{err}");
        assert_eq!(image.partition("t", 0).unwrap(), &failed_over);
        // Completing it still works.
        let done = set_isr(&mut image, &[2, 3]);
        assert_eq!((done.replicas.clone(), done.leader, done.is_reassigning()), (vec![2, 3], 2, false));
    }

    #[test]
    fn bad_targets_are_refused_and_change_nothing() {
        let image = cluster(&[1, 2]);
        for (target, why) in [(&[][..], "empty"), (&[3, 3][..], "twice"), (&[3, 9][..], "not registered")] {
            let err = alter_partition_reassignment(&image, "t", 0, Some(target)).unwrap_err();
            assert!(matches!(&err, ControllerError::InvalidReplicaAssignment(m) if m.contains(why)), "{err}");
        }
        assert!(matches!(
            alter_partition_reassignment(&image, "t", 5, Some(&[1])),
            Err(ControllerError::UnknownTopic(_))
        ));
        assert!(matches!(
            alter_partition_reassignment(&image, "nope", 0, Some(&[1])),
            Err(ControllerError::UnknownTopic(_))
        ));
    }

    #[test]
    fn a_new_target_replaces_the_reassignment_in_progress() {
        let mut image = cluster(&[1]);
        let records = alter_partition_reassignment(&image, "t", 0, Some(&[2])).unwrap();
        apply(&mut image, records);
        let records = alter_partition_reassignment(&image, "t", 0, Some(&[3])).unwrap();
        let moving = apply(&mut image, records);
        assert_eq!(moving.replicas, vec![3, 2, 1]);
        assert_eq!((moving.adding_replicas.clone(), moving.removing_replicas.clone()), (vec![3], vec![2, 1]));
        let done = set_isr(&mut image, &[1, 3]);
        assert_eq!((done.replicas.clone(), done.isr.clone(), done.leader), (vec![3], vec![3], 3));
    }
}
