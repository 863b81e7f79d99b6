//! Controller requests as data, so any node can hand them to the active controller.
//!
//! A broker that is not the active controller cannot run a decision itself: its image
//! may lag. It sends a [`ControllerRequest`] instead; the active controller runs
//! [`decide`] against its own image and proposes the records.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AlterOp, ControllerError, NewTopic, TopicDefaults};
use crate::image::MetadataImage;
use crate::records::{BrokerRecord, MetadataRecord, QuotaEntity};

/// One change a broker asks of the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControllerRequest {
    RegisterBroker(BrokerRecord),
    /// A broker is alive; unfences it if it was fenced.
    BrokerHeartbeat { broker_id: i32 },
    /// The active controller stopped hearing from a broker.
    FenceBroker { broker_id: i32 },
    /// A broker about to stop cleanly asks to be fenced, so that its partitions get other
    /// leaders at once (Kafka's controlled shutdown).
    ControlledShutdown { broker_id: i32 },
    CreateTopic { topic: NewTopic, topic_id: Uuid, defaults: TopicDefaults, validate_only: bool },
    DeleteTopic { name: String },
    CreatePartitions { name: String, total_count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool },
    AlterTopicConfigs { name: String, changes: Vec<(String, AlterOp, Option<String>)>, replace_all: bool, validate_only: bool },
    /// Dynamic configs of one broker, or the cluster-wide defaults of every broker (`None`).
    AlterBrokerConfigs { broker: Option<i32>, changes: Vec<(String, AlterOp, Option<String>)>, replace_all: bool, validate_only: bool },
    AllocateProducerIds,
    /// A partition leader asks to change the in-sync replica set (Kafka's AlterPartition).
    AlterPartition { topic: String, partition: i32, leader_id: i32, leader_epoch: i32, partition_epoch: i32, new_isr: Vec<i32> },
    /// Preferred leader election for these partitions, or every one (`None`): from
    /// ElectLeaders, and from the active controller's leader rebalance.
    ElectPreferredLeaders { partitions: Option<Vec<(String, i32)>> },
    /// Starts reassignments to the given target replicas, or cancels the ones in
    /// progress (`None`), per partition (AlterPartitionReassignments).
    AlterPartitionReassignments { partitions: Vec<(String, i32, Option<Vec<i32>>)> },
    /// The reassignments in progress, of these topics' partitions or of all: answered
    /// from the active controller's image, which is current, and writing nothing.
    ListPartitionReassignments { topics: Option<Vec<(String, Vec<i32>)>> },
    /// Sets (`Some(rate)`) and removes (`None`) client quotas, per entity
    /// (AlterClientQuotas): an entity refused leaves the others to go ahead.
    AlterClientQuotas { entries: Vec<(QuotaEntity, QuotaChanges)>, validate_only: bool },
}

/// Quota keys to set to a rate (`Some`) or remove (`None`).
pub type QuotaChanges = Vec<(String, Option<f64>)>;

/// What the controller answers besides the records it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerReply {
    Done,
    /// The first id of a block of [`super::PRODUCER_ID_BLOCK_SIZE`] producer ids.
    ProducerIdBlock { first: i64 },
    /// Each partition's outcome of a preferred leader election.
    Elections(Vec<(String, i32, super::Election)>),
    /// Each partition's outcome of an AlterPartitionReassignments request: the others
    /// are carried out when one is refused.
    Reassignments(Vec<(String, i32, Result<(), ControllerError>)>),
    /// The reassignments in progress.
    OngoingReassignments(Vec<super::OngoingReassignment>),
    /// Each entity's outcome of an AlterClientQuotas request, in request order.
    QuotaAlterations(Vec<Result<(), ControllerError>>),
}

/// Runs one request against `image`: the records to commit and the reply.
///
/// # Errors
/// [`ControllerError`] when the request is refused; no records are produced then.
pub fn decide(image: &MetadataImage, request: &ControllerRequest) -> Result<(Vec<MetadataRecord>, ControllerReply), ControllerError> {
    use ControllerReply::Done;
    let records = match request {
        ControllerRequest::RegisterBroker(broker) => {
            if image.broker(broker.broker_id) == Some(broker) && !image.is_fenced(broker.broker_id) {
                Vec::new()
            } else {
                // A registration unfences the broker: it leads again what only it can.
                let mut records = super::register_broker(broker.clone());
                records.extend(super::replication::lead_offline_partitions(image, broker.broker_id));
                records
            }
        }
        ControllerRequest::BrokerHeartbeat { broker_id } => {
            if image.broker(*broker_id).is_none() {
                return Err(ControllerError::UnknownBroker(*broker_id));
            }
            super::unfence_broker(image, *broker_id)
        }
        ControllerRequest::FenceBroker { broker_id } | ControllerRequest::ControlledShutdown { broker_id } => {
            super::fence_broker(image, *broker_id)
        }
        ControllerRequest::CreateTopic { topic, topic_id, defaults, validate_only } => {
            let records = super::create_topic(image, topic, *defaults, *topic_id)?;
            if *validate_only { Vec::new() } else { records }
        }
        ControllerRequest::DeleteTopic { name } => super::delete_topic(image, name)?,
        ControllerRequest::CreatePartitions { name, total_count, assignments, validate_only } => {
            let records = super::create_partitions(image, name, *total_count, assignments.as_deref())?;
            if *validate_only { Vec::new() } else { records }
        }
        ControllerRequest::AlterTopicConfigs { name, changes, replace_all, validate_only } => {
            let records = super::alter_topic_configs(image, name, changes, *replace_all)?;
            if *validate_only { Vec::new() } else { records }
        }
        ControllerRequest::AlterBrokerConfigs { broker, changes, replace_all, validate_only } => {
            let records = super::alter_broker_configs(image, *broker, changes, *replace_all)?;
            if *validate_only { Vec::new() } else { records }
        }
        ControllerRequest::AllocateProducerIds => {
            let (records, first) = super::allocate_producer_ids(image);
            return Ok((records, ControllerReply::ProducerIdBlock { first }));
        }
        ControllerRequest::AlterPartition { topic, partition, leader_id, leader_epoch, partition_epoch, new_isr } => {
            super::alter_partition(image, topic, *partition, *leader_id, *leader_epoch, *partition_epoch, new_isr)?
        }
        ControllerRequest::ElectPreferredLeaders { partitions } => {
            let (records, elections) = super::elect_preferred_leaders(image, partitions.as_deref());
            return Ok((records, ControllerReply::Elections(elections)));
        }
        ControllerRequest::AlterPartitionReassignments { partitions } => {
            let mut records = Vec::new();
            let mut outcomes = Vec::new();
            for (topic, partition, target) in partitions {
                let outcome = super::alter_partition_reassignment(image, topic, *partition, target.as_deref())
                    .map(|changes| records.extend(changes));
                outcomes.push((topic.clone(), *partition, outcome));
            }
            return Ok((records, ControllerReply::Reassignments(outcomes)));
        }
        ControllerRequest::ListPartitionReassignments { topics } => {
            let ongoing = super::list_partition_reassignments(image, topics.as_deref());
            return Ok((Vec::new(), ControllerReply::OngoingReassignments(ongoing)));
        }
        ControllerRequest::AlterClientQuotas { entries, validate_only } => {
            let mut records = Vec::new();
            let mut outcomes = Vec::with_capacity(entries.len());
            for (entity, changes) in entries {
                let outcome = super::alter_client_quotas(image, entity, changes).map(|changes| records.extend(changes));
                outcomes.push(outcome);
            }
            if *validate_only {
                records.clear();
            }
            return Ok((records, ControllerReply::QuotaAlterations(outcomes)));
        }
    };
    Ok((records, Done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::BrokerEndpoint;

    #[test]
    fn requests_round_trip_through_json_and_validate_only_writes_nothing() {
        let mut image = MetadataImage::default();
        let register = ControllerRequest::RegisterBroker(BrokerRecord { broker_id: 1, endpoints: vec![BrokerEndpoint::plaintext("PLAINTEXT", "h", 1)], rack: None });
        let (records, _) = decide(&image, &register).unwrap();
        records.iter().for_each(|r| image.replay(r));
        assert!(decide(&image, &register).unwrap().0.is_empty(), "re-registering the same broker is a no-op");

        let create = ControllerRequest::CreateTopic {
            topic: NewTopic { name: "t".into(), num_partitions: 2, replication_factor: 1, ..Default::default() },
            topic_id: Uuid::new_v4(),
            defaults: TopicDefaults { num_partitions: 1, replication_factor: 1 },
            validate_only: true,
        };
        let json = serde_json::to_string(&create).unwrap();
        let decoded: ControllerRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(decoded, create);
        assert!(decide(&image, &decoded).unwrap().0.is_empty());
        assert!(matches!(
            decide(&image, &ControllerRequest::BrokerHeartbeat { broker_id: 9 }),
            Err(ControllerError::UnknownBroker(9))
        ));
        let (_, reply) = decide(&image, &ControllerRequest::AllocateProducerIds).unwrap();
        assert_eq!(reply, ControllerReply::ProducerIdBlock { first: 0 });
    }

    #[test]
    fn client_quotas_are_set_removed_and_refused_per_entity() {
        use crate::quota::{CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE};
        use crate::records::QuotaName;
        let mut image = MetadataImage::default();
        let app = QuotaEntity { user: None, client_id: Some(QuotaName::Named("app".into())) };
        let users = QuotaEntity { user: Some(QuotaName::Default), client_id: None };
        let alter = |image: &MetadataImage, entries: Vec<(QuotaEntity, QuotaChanges)>, validate_only| {
            let (records, reply) = decide(image, &ControllerRequest::AlterClientQuotas { entries, validate_only }).unwrap();
            let ControllerReply::QuotaAlterations(outcomes) = reply else { panic!("unexpected reply {reply:?}") };
            (records, outcomes)
        };
        let quotas = |image: &MetadataImage| image.client_quotas().collect::<Vec<_>>();

        let set = vec![
            (app.clone(), vec![(PRODUCER_BYTE_RATE.to_string(), Some(1024.0)), (CONSUMER_BYTE_RATE.to_string(), Some(2048.0))]),
            (users.clone(), vec![(PRODUCER_BYTE_RATE.to_string(), Some(-1.0))]),
        ];
        let (records, outcomes) = alter(&image, set.clone(), true);
        assert!(records.is_empty(), "validate_only writes nothing");
        assert!(outcomes[0].is_ok() && matches!(&outcomes[1], Err(ControllerError::InvalidRequest(m)) if m.contains("at least 1")));

        let (records, _) = alter(&image, set, false);
        records.iter().for_each(|r| image.replay(r));
        assert_eq!(quotas(&image).len(), 1, "the refused entity changed nothing");
        assert_eq!(quotas(&image)[0].1.get(PRODUCER_BYTE_RATE), Some(&1024.0));
        assert_eq!(quotas(&image)[0].1.get(CONSUMER_BYTE_RATE), Some(&2048.0));

        // Removing one key keeps the other; removing what is not set writes nothing.
        let (records, outcomes) = alter(&image, vec![(app.clone(), vec![(PRODUCER_BYTE_RATE.to_string(), None)])], false);
        assert!(outcomes[0].is_ok());
        records.iter().for_each(|r| image.replay(r));
        assert_eq!(quotas(&image)[0].1.keys().collect::<Vec<_>>(), vec![CONSUMER_BYTE_RATE]);
        let (records, _) = alter(&image, vec![(app.clone(), vec![(PRODUCER_BYTE_RATE.to_string(), None)])], false);
        assert!(records.is_empty());
        let (records, _) = alter(&image, vec![(app.clone(), vec![(CONSUMER_BYTE_RATE.to_string(), None)])], false);
        records.iter().for_each(|r| image.replay(r));
        assert!(quotas(&image).is_empty(), "an entity without quotas is gone");

        let twice = vec![(app, vec![(PRODUCER_BYTE_RATE.to_string(), Some(1.0)), (PRODUCER_BYTE_RATE.to_string(), None)])];
        assert!(matches!(&alter(&image, twice, false).1[0], Err(ControllerError::InvalidRequest(m)) if m.contains("Duplicate")));
    }
}
