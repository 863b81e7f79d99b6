//! Broker liveness and partition leadership: fencing, leader election from the ISR,
//! preferred leader election, and ISR changes asked for by partition leaders (Kafka's
//! ReplicationControlManager).
//!
//! Unclean leader election is off: a leader is only ever chosen from the in-sync
//! replicas. When the last in-sync replica is fenced the partition goes offline
//! (leader -1) and keeps that replica in its ISR, so it leads again when it returns.

use serde::{Deserialize, Serialize};

use super::ControllerError;
use crate::image::MetadataImage;
use crate::records::{MetadataRecord, PartitionRecord};

fn changed(partition: PartitionRecord, leader: i32, isr: Vec<i32>) -> MetadataRecord {
    MetadataRecord::Partition(with_leader_and_isr(partition, leader, isr))
}

fn with_leader_and_isr(mut partition: PartitionRecord, leader: i32, isr: Vec<i32>) -> PartitionRecord {
    if leader != partition.leader {
        partition.leader_epoch += 1;
    }
    partition.leader = leader;
    partition.isr = isr;
    partition.partition_epoch += 1;
    partition
}

/// Fences a broker that stopped heartbeating: moves the leadership of its partitions to
/// another live in-sync replica and drops it from every ISR it was in.
pub fn fence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    if image.broker(broker_id).is_none() || image.is_fenced(broker_id) {
        return Vec::new();
    }
    let mut records = vec![MetadataRecord::BrokerFenced { broker_id, fenced: true }];
    for topic in image.topics() {
        for partition in topic.partitions.values() {
            if !partition.isr.contains(&broker_id) {
                continue;
            }
            let remaining: Vec<i32> = partition.isr.iter().copied().filter(|b| *b != broker_id).collect();
            if remaining.is_empty() {
                if partition.leader == broker_id {
                    records.push(changed(partition.clone(), -1, partition.isr.clone()));
                }
                continue;
            }
            let leader = if partition.leader == broker_id {
                // The first replica, in assignment order, that is in sync and alive.
                partition
                    .replicas
                    .iter()
                    .copied()
                    .find(|b| remaining.contains(b) && !image.is_fenced(*b))
                    .unwrap_or(-1)
            } else {
                partition.leader
            };
            records.push(changed(partition.clone(), leader, remaining));
        }
    }
    records
}

/// Unfences a broker that heartbeats again, and makes it leader of the offline
/// partitions whose ISR it is in.
pub fn unfence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    if !image.is_fenced(broker_id) {
        return Vec::new();
    }
    let mut records = vec![MetadataRecord::BrokerFenced { broker_id, fenced: false }];
    records.extend(lead_offline_partitions(image, broker_id));
    records
}

/// Makes a broker that is live again leader of the offline partitions whose ISR it is
/// in (it was their last in-sync replica): after its unfencing, or its registration,
/// which unfences too.
pub(super) fn lead_offline_partitions(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    image
        .topics()
        .flat_map(|topic| topic.partitions.values())
        .filter(|partition| partition.leader == -1 && partition.isr.contains(&broker_id))
        .map(|partition| changed(partition.clone(), broker_id, partition.isr.clone()))
        .collect()
}

/// Changes a partition's ISR at the request of its leader.
///
/// # Errors
/// When the request comes from a stale leader or epoch, or names a replica that is
/// not assigned to the partition, or adds a fenced one.
pub fn alter_partition(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    leader_id: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    new_isr: &[i32],
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let current = image
        .partition(topic, partition)
        .ok_or_else(|| ControllerError::UnknownTopic(format!("{topic}-{partition}")))?;
    if current.leader != leader_id {
        return Err(ControllerError::NotLeader(format!(
            "broker {leader_id} is not the leader of {topic}-{partition} (leader is {})",
            current.leader
        )));
    }
    if current.leader_epoch != leader_epoch {
        return Err(ControllerError::FencedLeaderEpoch(format!(
            "leader epoch {leader_epoch} of {topic}-{partition} is stale (current {})",
            current.leader_epoch
        )));
    }
    if current.partition_epoch != partition_epoch {
        return Err(ControllerError::InvalidUpdateVersion(format!(
            "partition epoch {partition_epoch} of {topic}-{partition} is stale (current {})",
            current.partition_epoch
        )));
    }
    if !new_isr.contains(&leader_id) {
        return Err(ControllerError::InvalidRequest("the ISR must contain the leader".into()));
    }
    for replica in new_isr {
        if !current.replicas.contains(replica) {
            return Err(ControllerError::IneligibleReplica(format!(
                "broker {replica} is not a replica of {topic}-{partition}"
            )));
        }
        if !current.isr.contains(replica) && image.is_fenced(*replica) {
            return Err(ControllerError::IneligibleReplica(format!("broker {replica} is fenced")));
        }
    }
    let mut isr = new_isr.to_vec();
    isr.dedup();
    if isr == current.isr {
        return Ok(Vec::new());
    }
    // A reassignment whose target replicas are now all in sync completes with this change.
    let next = with_leader_and_isr(current.clone(), current.leader, isr);
    Ok(vec![MetadataRecord::Partition(super::reassignment::complete_if_in_sync(image, next))])
}

/// What a preferred leader election did for one partition (Kafka's per-partition
/// ElectLeaders results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Election {
    /// The preferred replica is the leader now.
    Elected,
    /// It already was (`ELECTION_NOT_NEEDED`).
    NotNeeded,
    /// It is fenced or out of the ISR (`PREFERRED_LEADER_NOT_AVAILABLE`).
    PreferredNotAvailable,
    /// No such topic or partition (`UNKNOWN_TOPIC_OR_PARTITION`).
    UnknownPartition,
}

/// Preferred leader election: makes the preferred replica (the first of the
/// assignment) leader of each partition it does not lead, where it is live and in
/// sync, as Kafka's `ElectionType.PREFERRED`. `partitions` of `None` means every
/// partition; then, as in Kafka, partitions whose preferred replica already leads are
/// left out of the results. Both the ElectLeaders API and the controller's periodic
/// leader rebalance (`auto.leader.rebalance.enable`) run it.
pub fn elect_preferred_leaders(
    image: &MetadataImage,
    partitions: Option<&[(String, i32)]>,
) -> (Vec<MetadataRecord>, Vec<(String, i32, Election)>) {
    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut elect = |topic: &str, index: i32| {
        let Some(partition) = image.partition(topic, index) else { return Election::UnknownPartition };
        let Some(&preferred) = partition.replicas.first() else { return Election::PreferredNotAvailable };
        if partition.leader == preferred {
            Election::NotNeeded
        } else if partition.isr.contains(&preferred) && image.broker(preferred).is_some() && !image.is_fenced(preferred) {
            records.push(changed(partition.clone(), preferred, partition.isr.clone()));
            Election::Elected
        } else {
            Election::PreferredNotAvailable
        }
    };
    match partitions {
        Some(partitions) => {
            for (topic, index) in partitions {
                results.push((topic.clone(), *index, elect(topic, *index)));
            }
        }
        None => {
            for topic in image.topics() {
                for index in topic.partitions.keys() {
                    match elect(&topic.name, *index) {
                        Election::NotNeeded => {}
                        election => results.push((topic.name.clone(), *index, election)),
                    }
                }
            }
        }
    }
    (records, results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{create_topic, register_broker, NewTopic, TopicDefaults};
    use crate::records::{BrokerEndpoint, BrokerRecord};
    use uuid::Uuid;

    fn cluster(brokers: i32, rf: i16) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=brokers {
            register_broker(BrokerRecord { broker_id: id, endpoints: vec![BrokerEndpoint::plaintext("PLAINTEXT", "h", 1)], rack: None })
                .iter()
                .for_each(|r| image.replay(r));
        }
        let topic = NewTopic { name: "t".into(), num_partitions: 3, replication_factor: rf, ..Default::default() };
        let defaults = TopicDefaults { num_partitions: 1, replication_factor: 1 };
        create_topic(&image, &topic, defaults, Uuid::new_v4()).unwrap().iter().for_each(|r| image.replay(r));
        image
    }

    fn apply(image: &mut MetadataImage, records: Vec<MetadataRecord>) {
        records.iter().for_each(|r| image.replay(r));
    }

    #[test]
    fn fencing_moves_leadership_to_an_in_sync_replica_and_bumps_the_epoch() {
        let mut image = cluster(3, 3);
        let before = image.partition("t", 0).unwrap().clone();
        assert_eq!(before.leader, 1);
        let records = fence_broker(&image, 1);
        apply(&mut image, records);
        let after = image.partition("t", 0).unwrap();
        assert_eq!(after.leader, 2, "next replica in assignment order");
        assert_eq!(after.leader_epoch, before.leader_epoch + 1);
        assert!(!after.isr.contains(&1));
        assert!(image.is_fenced(1));
        assert_eq!(image.live_brokers().count(), 2);
        // A partition led by another broker only loses the fenced follower from its ISR.
        let p1 = image.partition("t", 1).unwrap();
        assert_eq!((p1.leader, p1.leader_epoch), (2, 0));
        assert!(fence_broker(&image, 1).is_empty(), "fencing twice changes nothing");
    }

    #[test]
    fn a_fenced_broker_that_registers_again_leads_what_only_it_can() {
        let mut image = cluster(1, 1);
        let records = fence_broker(&image, 1);
        apply(&mut image, records);
        assert_eq!(image.partition("t", 0).unwrap().leader, -1);
        // As after a controlled shutdown: the broker starts again and registers.
        let registration = image.broker(1).unwrap().clone();
        let (records, _) = crate::controller::decide(&image, &crate::controller::ControllerRequest::RegisterBroker(registration)).unwrap();
        apply(&mut image, records);
        assert!(!image.is_fenced(1));
        assert!((0..3).all(|p| image.partition("t", p).unwrap().leader == 1), "every partition led again");
    }

    #[test]
    fn preferred_election_returns_leadership_to_the_first_replica_once_it_is_in_sync() {
        let mut image = cluster(3, 3);
        let records = fence_broker(&image, 1);
        apply(&mut image, records);
        let moved = image.partition("t", 0).unwrap().clone();
        assert_eq!((moved.replicas[0], moved.leader), (1, 2));
        let asked = [("t".to_string(), 0), ("t".to_string(), 1), ("t".to_string(), 7), ("nope".to_string(), 0)];
        let (records, results) = elect_preferred_leaders(&image, Some(&asked));
        assert!(records.is_empty());
        let outcomes: Vec<Election> = results.iter().map(|r| r.2).collect();
        assert_eq!(outcomes, [Election::PreferredNotAvailable, Election::NotNeeded, Election::UnknownPartition, Election::UnknownPartition]);

        // Broker 1 returns and its leader takes it back into the ISR: now it can lead.
        let records = unfence_broker(&image, 1);
        apply(&mut image, records);
        assert_eq!(elect_preferred_leaders(&image, Some(&asked[..1])).1[0].2, Election::PreferredNotAvailable, "not in sync yet");
        let records = alter_partition(&image, "t", 0, 2, moved.leader_epoch, moved.partition_epoch, &[2, 3, 1]).unwrap();
        apply(&mut image, records);
        let (records, results) = elect_preferred_leaders(&image, None);
        assert!(results.iter().all(|r| r.2 == Election::Elected), "every partition, only those elected: {results:?}");
        assert!(results.iter().any(|r| (r.0.as_str(), r.1) == ("t", 0)), "{results:?}");
        apply(&mut image, records);
        let back = image.partition("t", 0).unwrap();
        assert_eq!((back.leader, back.leader_epoch), (1, moved.leader_epoch + 1));
        assert_eq!(back.isr, vec![2, 3, 1], "the ISR stays as it was");
        let (records, results) = elect_preferred_leaders(&image, None);
        assert!(records.is_empty() && results.is_empty(), "nothing left to elect: {results:?}");
    }

    #[test]
    fn last_in_sync_replica_fenced_takes_the_partition_offline_until_it_returns() {
        let mut image = cluster(1, 1);
        let records = fence_broker(&image, 1);
        apply(&mut image, records);
        let p = image.partition("t", 0).unwrap().clone();
        assert_eq!((p.leader, p.isr.clone()), (-1, vec![1]));
        let records = unfence_broker(&image, 1);
        apply(&mut image, records);
        let back = image.partition("t", 0).unwrap();
        assert_eq!(back.leader, 1);
        assert_eq!(back.leader_epoch, p.leader_epoch + 1);
    }

    #[test]
    fn alter_partition_checks_leader_and_epochs() {
        let mut image = cluster(3, 3);
        let p = image.partition("t", 0).unwrap().clone();
        assert!(matches!(
            alter_partition(&image, "t", 0, 2, p.leader_epoch, p.partition_epoch, &[2]),
            Err(ControllerError::NotLeader(_))
        ));
        assert!(matches!(
            alter_partition(&image, "t", 0, 1, p.leader_epoch + 1, p.partition_epoch, &[1]),
            Err(ControllerError::FencedLeaderEpoch(_))
        ));
        assert!(matches!(
            alter_partition(&image, "t", 0, 1, p.leader_epoch, p.partition_epoch + 1, &[1]),
            Err(ControllerError::InvalidUpdateVersion(_))
        ));
        let records = alter_partition(&image, "t", 0, 1, p.leader_epoch, p.partition_epoch, &[1, 3]).unwrap();
        apply(&mut image, records);
        let shrunk = image.partition("t", 0).unwrap().clone();
        assert_eq!(shrunk.isr, vec![1, 3]);
        assert_eq!(shrunk.partition_epoch, p.partition_epoch + 1);
        assert_eq!(shrunk.leader_epoch, p.leader_epoch, "an ISR change keeps the leader epoch");
        assert!(matches!(
            alter_partition(&image, "t", 0, 1, shrunk.leader_epoch, shrunk.partition_epoch, &[1, 9]),
            Err(ControllerError::IneligibleReplica(_))
        ));
    }
}
