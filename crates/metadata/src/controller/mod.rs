//! The controller's decisions, as a pure function of the image and a request.
//!
//! Each operation reads the current [`MetadataImage`] and returns the records that
//! carry out the request, or an error; it changes nothing itself. The caller appends
//! the records to the metadata log and replays them, so a decision takes effect only
//! once it is durable. With a quorum of one this is a local fsync; with several
//! controllers it becomes a Raft commit, and this module does not change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config;
use crate::image::MetadataImage;
use crate::placement;
use crate::records::{BrokerRecord, ConfigRecord, ConfigResource, MetadataRecord, PartitionRecord, QuotaEntity, TopicRecord};
use crate::topic_name::{collision_key, validate_topic_name};

/// Most partitions a single topic may have; bounds what one request can allocate.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;

/// Producer ids handed to a broker at a time.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// Why the controller refused a request. Each maps to one Kafka error code in the broker.
mod reassignment;
mod replication;
mod request;

pub use reassignment::{alter_partition_reassignment, list_partition_reassignments, OngoingReassignment};
pub use replication::{alter_partition, elect_preferred_leaders, fence_broker, unfence_broker, Election};
pub use request::{decide, ControllerReply, ControllerRequest, QuotaChanges};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ControllerError {
    #[error("Topic '{0}' already exists.")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidTopic(String),
    #[error("This server does not host this topic-partition: {0}")]
    UnknownTopic(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    #[error("{0}")]
    FencedLeaderEpoch(String),
    #[error("{0}")]
    InvalidUpdateVersion(String),
    #[error("{0}")]
    NotLeader(String),
    #[error("{0}")]
    IneligibleReplica(String),
    #[error("{0}")]
    NoReassignmentInProgress(String),
}

/// Defaults that apply when a CreateTopics request leaves a field unset (-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDefaults {
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// One topic of a CreateTopics request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTopic {
    pub name: String,
    /// -1 for the broker default.
    pub num_partitions: i32,
    /// -1 for the broker default.
    pub replication_factor: i16,
    /// Explicit replica lists per partition; when non-empty, the two fields above must be -1.
    pub assignments: BTreeMap<i32, Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

/// How an IncrementalAlterConfigs entry changes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlterOp {
    Set,
    Delete,
    Append,
    Subtract,
}

/// Registers (or re-registers) a broker.
pub fn register_broker(broker: BrokerRecord) -> Vec<MetadataRecord> {
    vec![MetadataRecord::RegisterBroker(broker)]
}

/// Creates one topic. A topic that exists with `topic_id` already was created by this
/// same request: nothing is written and the request succeeds.
///
/// # Errors
/// [`ControllerError`] for an existing (with another id) or colliding topic, an invalid
/// name, partition count, replication factor, assignment or config.
pub fn create_topic(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: TopicDefaults,
    topic_id: Uuid,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    validate_topic_name(&topic.name).map_err(ControllerError::InvalidTopic)?;
    if let Some(existing) = image.topic(&topic.name) {
        // The topic id is drawn once per client request, so the same id means this very
        // request was applied already: a submit retried at a new leader after the old one
        // had committed it. It succeeded; a client's own retry has a new id and is refused.
        if existing.topic_id == topic_id {
            return Ok(Vec::new());
        }
        return Err(ControllerError::TopicAlreadyExists(topic.name.clone()));
    }
    let key = collision_key(&topic.name);
    if let Some(other) = image.topics().find(|t| collision_key(&t.name) == key) {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic '{}' collides with existing topic: {}",
            topic.name, other.name
        )));
    }
    for (name, value) in &topic.configs {
        config::validate_topic_config(name, value).map_err(|e| ControllerError::InvalidConfig(e.to_string()))?;
    }
    let assignments = if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions == -1 { defaults.num_partitions } else { topic.num_partitions };
        let replication_factor =
            if topic.replication_factor == -1 { defaults.replication_factor } else { topic.replication_factor };
        check_partition_count(partitions)?;
        place_replicas(image, 0, partitions, replication_factor)?
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(ControllerError::InvalidRequest(
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."
                    .into(),
            ));
        }
        check_assignments(image, &topic.assignments, 0)?;
        topic.assignments.clone()
    };

    let mut records = vec![MetadataRecord::Topic(TopicRecord { name: topic.name.clone(), topic_id })];
    records.extend(assignments.into_iter().map(|(partition, replicas)| new_partition(topic_id, partition, replicas)));
    records.extend(topic.configs.iter().map(|(name, value)| {
        MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Topic(topic.name.clone()),
            name: name.clone(),
            value: Some(value.clone()),
        })
    }));
    Ok(records)
}

/// Deletes a topic.
///
/// # Errors
/// [`ControllerError::UnknownTopic`] when it does not exist.
pub fn delete_topic(image: &MetadataImage, name: &str) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(name).ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))?;
    Ok(vec![MetadataRecord::RemoveTopic { topic_id: topic.topic_id }])
}

/// Grows a topic to `total_count` partitions.
///
/// # Errors
/// [`ControllerError::InvalidPartitions`] unless the count grows; assignment errors as
/// for [`create_topic`].
pub fn create_partitions(
    image: &MetadataImage,
    name: &str,
    total_count: i32,
    assignments: Option<&[Vec<i32>]>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let topic = image.topic(name).ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))?;
    let current = topic.partitions.len() as i32;
    if total_count < current {
        return Err(ControllerError::InvalidPartitions(format!(
            "Topic currently has {current} partitions, which is higher than the requested {total_count}."
        )));
    }
    if total_count == current {
        return Err(ControllerError::InvalidPartitions(format!("Topic already has {current} partitions.")));
    }
    check_partition_count(total_count)?;
    let replication_factor = topic.partitions.values().next().map_or(1, |p| p.target_replicas().len() as i16);
    let new_assignments = match assignments {
        Some(lists) => {
            if lists.len() as i32 != total_count - current {
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "Increasing the number of partitions by {} but {} assignments provided.",
                    total_count - current,
                    lists.len()
                )));
            }
            let map: BTreeMap<i32, Vec<i32>> =
                lists.iter().enumerate().map(|(i, replicas)| (current + i as i32, replicas.clone())).collect();
            check_assignments(image, &map, current)?;
            map
        }
        None => place_replicas(image, current, total_count - current, replication_factor)?,
    };
    Ok(new_assignments
        .into_iter()
        .map(|(partition, replicas)| new_partition(topic.topic_id, partition, replicas))
        .collect())
}

/// Changes topic config overrides. With `replace_all` (the legacy AlterConfigs API),
/// every override not named in `changes` is removed.
///
/// # Errors
/// [`ControllerError::UnknownTopic`] or [`ControllerError::InvalidConfig`].
pub fn alter_topic_configs(
    image: &MetadataImage,
    name: &str,
    changes: &[(String, AlterOp, Option<String>)],
    replace_all: bool,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    if image.topic(name).is_none() {
        return Err(ControllerError::UnknownTopic(name.to_string()));
    }
    let resource = ConfigResource::Topic(name.to_string());
    let current = image.configs(&resource);
    let list_default = |key: &str| match config::topic_config_def(key) {
        Some(def) => Ok(def.default),
        None => Err(ControllerError::InvalidConfig(format!("Unknown topic config name: {key}"))),
    };
    let next = changed_configs(&current, changes, replace_all, list_default)?;
    for (key, value) in &next {
        config::validate_topic_config(key, value).map_err(|e| ControllerError::InvalidConfig(e.to_string()))?;
    }
    Ok(config_records(&resource, &current, next))
}

/// Changes dynamic broker configs: of broker `broker`, or the cluster-wide defaults of
/// every broker (`None`). With `replace_all` (AlterConfigs), every dynamic config of the
/// resource not named in `changes` is removed. Only the configs
/// [`config::validate_dynamic_broker_config`] accepts can change.
///
/// # Errors
/// [`ControllerError::InvalidConfig`] for a config that cannot change at runtime or a bad
/// value; nothing is changed then.
pub fn alter_broker_configs(
    image: &MetadataImage,
    broker: Option<i32>,
    changes: &[(String, AlterOp, Option<String>)],
    replace_all: bool,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let resource = broker.map_or(ConfigResource::BrokerDefault, ConfigResource::Broker);
    let current = image.configs(&resource);
    let invalid = |e: config::ConfigError| ControllerError::InvalidConfig(e.to_string());
    // Every key named, also one being deleted, must be a config that can change at runtime.
    let list_default = |key: &str| {
        config::validate_dynamic_broker_config(key, None).map_err(invalid)?;
        Ok(config::broker_config_def(key).and_then(|def| def.default))
    };
    let next = changed_configs(&current, changes, replace_all, list_default)?;
    for (key, value) in &next {
        config::validate_dynamic_broker_config(key, Some(value)).map_err(invalid)?;
    }
    Ok(config_records(&resource, &current, next))
}

/// The records that set (`Some(rate)`) and remove (`None`) client quotas of `entity`
/// (Kafka's `ClientQuotaControlManager`): all of them or, when one is refused, none.
/// Removing a quota that is not set changes nothing.
pub fn alter_client_quotas(
    image: &MetadataImage,
    entity: &QuotaEntity,
    changes: &[(String, Option<f64>)],
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let resource = ConfigResource::ClientQuota(entity.clone());
    let current = image.configs(&resource);
    let mut records = Vec::with_capacity(changes.len());
    for (key, value) in changes {
        if changes.iter().filter(|(k, _)| k == key).count() > 1 {
            return Err(ControllerError::InvalidRequest(format!("Duplicate quota key {key} not updated")));
        }
        crate::quota::validate_quota(entity, key, *value).map_err(ControllerError::InvalidRequest)?;
        if value.is_none() && !current.contains_key(key) {
            continue;
        }
        records.push(MetadataRecord::Config(ConfigRecord {
            resource: resource.clone(),
            name: key.clone(),
            value: value.map(|rate| rate.to_string()),
        }));
    }
    Ok(records)
}

/// The configs of a resource after `changes`: SET and DELETE as given; APPEND and
/// SUBTRACT on comma-separated lists, which, as in Kafka, start from the config's default
/// (`list_default`, which also refuses unknown keys) when the resource does not set it.
fn changed_configs(
    current: &BTreeMap<String, String>,
    changes: &[(String, AlterOp, Option<String>)],
    replace_all: bool,
    list_default: impl Fn(&str) -> Result<Option<&'static str>, ControllerError>,
) -> Result<BTreeMap<String, String>, ControllerError> {
    let mut next = if replace_all { BTreeMap::new() } else { current.clone() };
    for (key, op, value) in changes {
        let default = list_default(key)?;
        match op {
            AlterOp::Set => {
                let value = value
                    .clone()
                    .ok_or_else(|| ControllerError::InvalidConfig(format!("Null value not supported for config {key}")))?;
                next.insert(key.clone(), value);
            }
            AlterOp::Delete => {
                next.remove(key);
            }
            AlterOp::Append | AlterOp::Subtract => {
                let value = value.clone().unwrap_or_default();
                let mut items: Vec<String> = next
                    .get(key)
                    .map(String::as_str)
                    .or(default)
                    .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
                    .unwrap_or_default();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if *op == AlterOp::Append {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                next.insert(key.clone(), items.join(","));
            }
        }
    }
    Ok(next)
}

/// The records that take a resource's configs from `current` to `next`.
fn config_records(
    resource: &ConfigResource,
    current: &BTreeMap<String, String>,
    next: BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for key in current.keys() {
        if !next.contains_key(key) {
            records.push(MetadataRecord::Config(ConfigRecord { resource: resource.clone(), name: key.clone(), value: None }));
        }
    }
    for (key, value) in next {
        if current.get(&key) != Some(&value) {
            records.push(MetadataRecord::Config(ConfigRecord { resource: resource.clone(), name: key, value: Some(value) }));
        }
    }
    records
}

/// Reserves the next block of producer ids; returns the records and the block's first id.
pub fn allocate_producer_ids(image: &MetadataImage) -> (Vec<MetadataRecord>, i64) {
    let first = image.next_producer_id();
    (vec![MetadataRecord::ProducerIds { next_producer_id: first + PRODUCER_ID_BLOCK_SIZE }], first)
}

fn new_partition(topic_id: Uuid, partition: i32, replicas: Vec<i32>) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id,
        partition,
        leader: replicas.first().copied().unwrap_or(-1),
        isr: replicas.clone(),
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    })
}

fn check_partition_count(partitions: i32) -> Result<(), ControllerError> {
    if partitions < 1 {
        return Err(ControllerError::InvalidPartitions("Number of partitions must be larger than 0.".into()));
    }
    if partitions > MAX_PARTITIONS_PER_TOPIC {
        return Err(ControllerError::InvalidPartitions(format!(
            "Number of partitions {partitions} exceeds the limit of {MAX_PARTITIONS_PER_TOPIC} per topic."
        )));
    }
    Ok(())
}

/// Spreads `count` new partitions (numbered from `first`) over the live brokers, by their
/// racks when they name them (see [`crate::placement`]).
fn place_replicas(
    image: &MetadataImage,
    first: i32,
    count: i32,
    replication_factor: i16,
) -> Result<BTreeMap<i32, Vec<i32>>, ControllerError> {
    let brokers: Vec<placement::Candidate<'_>> = image.live_brokers().map(|b| (b.broker_id, b.rack.as_deref())).collect();
    if replication_factor < 1 {
        return Err(ControllerError::InvalidReplicationFactor("Replication factor must be larger than 0.".into()));
    }
    if replication_factor as usize > brokers.len() {
        return Err(ControllerError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {replication_factor} time(s): The target replication factor of \
             {replication_factor} cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        )));
    }
    Ok(placement::place_replicas(&brokers, first, count, replication_factor as usize))
}

fn check_assignments(
    image: &MetadataImage,
    assignments: &BTreeMap<i32, Vec<i32>>,
    first: i32,
) -> Result<(), ControllerError> {
    for (i, (partition, replicas)) in assignments.iter().enumerate() {
        if *partition != first + i as i32 {
            return Err(ControllerError::InvalidReplicaAssignment(
                "Partitions should be consecutive and start from the current count.".into(),
            ));
        }
        if replicas.is_empty() {
            return Err(ControllerError::InvalidReplicaAssignment(format!("Partition {partition} has no replicas.")));
        }
        let mut seen = replicas.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != replicas.len() {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Partition {partition} lists a replica twice: {replicas:?}"
            )));
        }
        if let Some(missing) = replicas.iter().find(|b| image.broker(**b).is_none()) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Partition {partition} is assigned to broker {missing}, which is not registered."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::BrokerEndpoint;

    fn image_with_brokers(n: i32) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=n {
            for r in register_broker(BrokerRecord { broker_id: id, endpoints: vec![BrokerEndpoint::plaintext("PLAINTEXT", "h", 9092)], rack: None }) {
                image.replay(&r);
            }
        }
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        records.iter().for_each(|r| image.replay(r));
    }

    const DEFAULTS: TopicDefaults = TopicDefaults { num_partitions: 1, replication_factor: 1 };

    fn new_topic(name: &str, partitions: i32, rf: i16) -> NewTopic {
        NewTopic { name: name.into(), num_partitions: partitions, replication_factor: rf, ..Default::default() }
    }

    #[test]
    fn create_spreads_replicas_and_leaders() {
        let mut image = image_with_brokers(3);
        let records = create_topic(&image, &new_topic("t", 3, 2), DEFAULTS, Uuid::new_v4()).unwrap();
        apply(&mut image, &records);
        let topic = image.topic("t").unwrap();
        let leaders: Vec<i32> = topic.partitions.values().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![1, 2, 3]);
        assert!(topic.partitions.values().all(|p| p.replicas.len() == 2 && p.isr == p.replicas));
    }

    #[test]
    fn defaults_fill_unset_fields() {
        let image = image_with_brokers(1);
        let defaults = TopicDefaults { num_partitions: 4, replication_factor: 1 };
        let records = create_topic(&image, &new_topic("t", -1, -1), defaults, Uuid::new_v4()).unwrap();
        assert_eq!(records.iter().filter(|r| matches!(r, MetadataRecord::Partition(_))).count(), 4);
    }

    #[test]
    fn replication_factor_beyond_brokers_names_the_broker_count() {
        let image = image_with_brokers(1);
        let err = create_topic(&image, &new_topic("t", 1, 3), DEFAULTS, Uuid::new_v4()).unwrap_err();
        assert!(matches!(&err, ControllerError::InvalidReplicationFactor(m) if m.contains("only 1 broker(s)")), "{err}");
    }

    #[test]
    fn a_create_retried_after_it_was_applied_succeeds_without_writing_again() {
        let mut image = image_with_brokers(1);
        let topic_id = Uuid::new_v4();
        let records = create_topic(&image, &new_topic("t", 2, 1), DEFAULTS, topic_id).unwrap();
        apply(&mut image, &records);
        assert_eq!(create_topic(&image, &new_topic("t", 2, 1), DEFAULTS, topic_id).unwrap(), Vec::new());
        assert_eq!(image.topic("t").unwrap().topic_id, topic_id);
        assert!(matches!(
            create_topic(&image, &new_topic("t", 2, 1), DEFAULTS, Uuid::new_v4()),
            Err(ControllerError::TopicAlreadyExists(_))
        ));
    }

    #[test]
    fn duplicate_colliding_and_invalid_topics_are_refused() {
        let mut image = image_with_brokers(1);
        let records = create_topic(&image, &new_topic("a.b", 1, 1), DEFAULTS, Uuid::new_v4()).unwrap();
        apply(&mut image, &records);
        assert!(matches!(
            create_topic(&image, &new_topic("a.b", 1, 1), DEFAULTS, Uuid::new_v4()),
            Err(ControllerError::TopicAlreadyExists(_))
        ));
        assert!(matches!(
            create_topic(&image, &new_topic("a_b", 1, 1), DEFAULTS, Uuid::new_v4()),
            Err(ControllerError::InvalidTopic(_))
        ));
        assert!(matches!(
            create_topic(&image, &new_topic("a/b", 1, 1), DEFAULTS, Uuid::new_v4()),
            Err(ControllerError::InvalidTopic(_))
        ));
        assert!(matches!(
            create_topic(&image, &new_topic("z", 0, 1), DEFAULTS, Uuid::new_v4()),
            Err(ControllerError::InvalidPartitions(_))
        ));
    }

    #[test]
    fn partitions_only_grow() {
        let mut image = image_with_brokers(1);
        let records = create_topic(&image, &new_topic("t", 2, 1), DEFAULTS, Uuid::new_v4()).unwrap();
        apply(&mut image, &records);
        assert!(matches!(create_partitions(&image, "t", 1, None), Err(ControllerError::InvalidPartitions(_))));
        let records = create_partitions(&image, "t", 5, None).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("t").unwrap().partitions.len(), 5);
        assert!(matches!(create_partitions(&image, "nope", 5, None), Err(ControllerError::UnknownTopic(_))));
    }

    #[test]
    fn delete_removes_topic() {
        let mut image = image_with_brokers(1);
        let records = create_topic(&image, &new_topic("t", 1, 1), DEFAULTS, Uuid::new_v4()).unwrap();
        apply(&mut image, &records);
        let records = delete_topic(&image, "t").unwrap();
        apply(&mut image, &records);
        assert!(image.topic("t").is_none());
        assert!(matches!(delete_topic(&image, "t"), Err(ControllerError::UnknownTopic(_))));
    }

    #[test]
    fn append_to_an_unset_list_starts_from_its_default() {
        let mut image = image_with_brokers(1);
        let records = create_topic(&image, &new_topic("t", 1, 1), DEFAULTS, Uuid::new_v4()).unwrap();
        apply(&mut image, &records);
        let change = [("cleanup.policy".to_string(), AlterOp::Append, Some("compact".to_string()))];
        let records = alter_topic_configs(&image, "t", &change, false).unwrap();
        apply(&mut image, &records);
        let configs = image.configs(&ConfigResource::Topic("t".into()));
        assert_eq!(configs.get("cleanup.policy").map(String::as_str), Some("delete,compact"));
        let change = [("cleanup.policy".to_string(), AlterOp::Subtract, Some("delete".to_string()))];
        let records = alter_topic_configs(&image, "t", &change, false).unwrap();
        apply(&mut image, &records);
        let configs = image.configs(&ConfigResource::Topic("t".into()));
        assert_eq!(configs.get("cleanup.policy").map(String::as_str), Some("compact"));
    }

    #[test]
    fn dynamic_broker_configs_change_only_what_can_change_at_runtime() {
        let mut image = image_with_brokers(2);
        let set = |key: &str, value: &str| (key.to_string(), AlterOp::Set, Some(value.to_string()));
        let records = alter_broker_configs(&image, None, &[set("log.retention.ms", "1000")], false).unwrap();
        apply(&mut image, &records);
        let records = alter_broker_configs(&image, Some(2), &[set("min.insync.replicas", "2")], false).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.configs(&ConfigResource::BrokerDefault).get("log.retention.ms").map(String::as_str), Some("1000"));
        assert_eq!(image.configs(&ConfigResource::Broker(2)).get("min.insync.replicas").map(String::as_str), Some("2"));
        assert!(image.configs(&ConfigResource::Broker(1)).is_empty());

        // The layers reach a broker's effective configuration, per broker.
        let static_config = config::BrokerConfig::new();
        assert_eq!(static_config.with_dynamic(&image, 2).log_retention_ms(), 1000);
        assert_eq!(static_config.with_dynamic(&image, 2).min_insync_replicas(), 2);
        assert_eq!(static_config.with_dynamic(&image, 1).min_insync_replicas(), 1);

        // The replication throttles, which only dynamic configs set.
        let throttle = [set("leader.replication.throttled.rate", "1000"), set("follower.replication.throttled.rate", "2000")];
        let records = alter_broker_configs(&image, Some(1), &throttle, false).unwrap();
        apply(&mut image, &records);
        assert_eq!(static_config.with_dynamic(&image, 1).leader_replication_throttled_rate(), 1000);
        assert_eq!(static_config.with_dynamic(&image, 1).follower_replication_throttled_rate(), 2000);
        assert_eq!(static_config.with_dynamic(&image, 2).leader_replication_throttled_rate(), i64::MAX);
        let clear: Vec<_> =
            config::REPLICATION_THROTTLE_CONFIGS.iter().map(|key| (key.to_string(), AlterOp::Delete, None)).collect();
        let records = alter_broker_configs(&image, Some(1), &clear, false).unwrap();
        apply(&mut image, &records);
        assert!(image.configs(&ConfigResource::Broker(1)).is_empty());

        for (key, value, why) in [
            ("leader.replication.throttled.rate", "-1", "invalid value"),
            ("num.io.threads", "4", "cannot update config 'num.io.threads' dynamically yet"),
            ("broker.id", "4", "cannot be updated dynamically"),
            ("log.retention.ms", "soon", "invalid value"),
            ("log.retention.nope", "1", "unknown config"),
        ] {
            let err = alter_broker_configs(&image, None, &[set("log.segment.bytes", "1048576"), set(key, value)], false).unwrap_err();
            assert!(matches!(&err, ControllerError::InvalidConfig(m) if m.contains(why)), "{key}: {err}");
        }
        let delete = ("num.io.threads".to_string(), AlterOp::Delete, None);
        assert!(alter_broker_configs(&image, None, &[delete], false).is_err(), "a delete names a config too");

        // AlterConfigs replaces them all: the retention default goes.
        let records = alter_broker_configs(&image, None, &[set("log.segment.bytes", "1048576")], true).unwrap();
        apply(&mut image, &records);
        let defaults = image.configs(&ConfigResource::BrokerDefault);
        assert_eq!(defaults.into_iter().collect::<Vec<_>>(), vec![("log.segment.bytes".to_string(), "1048576".to_string())]);
    }

    #[test]
    fn producer_id_blocks_do_not_overlap() {
        let mut image = MetadataImage::default();
        let (records, first) = allocate_producer_ids(&image);
        apply(&mut image, &records);
        let (_, second) = allocate_producer_ids(&image);
        assert_eq!(second - first, PRODUCER_ID_BLOCK_SIZE);
    }
}
