//! The in-memory picture of the cluster that metadata records build up.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use crate::records::{BrokerRecord, ConfigResource, MetadataRecord, PartitionRecord};

/// One topic as the image knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: BTreeMap<i32, PartitionRecord>,
}

/// The cluster's metadata after replaying a prefix of the metadata log.
///
/// Invariant: `topic_names` holds exactly the ids of `topics`, and every partition
/// record belongs to a topic in `topics`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MetadataImage {
    brokers: BTreeMap<i32, BrokerRecord>,
    fenced: BTreeSet<i32>,
    topics: BTreeMap<String, TopicImage>,
    topic_names: HashMap<Uuid, String>,
    configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    next_producer_id: i64,
}

impl MetadataImage {
    /// Applies one record. Records that refer to unknown topics are ignored: the log
    /// may hold a partition change for a topic a later record deleted.
    pub fn replay(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::RegisterBroker(broker) => {
                self.brokers.insert(broker.broker_id, broker.clone());
                self.fenced.remove(&broker.broker_id);
            }
            MetadataRecord::BrokerFenced { broker_id, fenced } => {
                if *fenced {
                    self.fenced.insert(*broker_id);
                } else {
                    self.fenced.remove(broker_id);
                }
            }
            MetadataRecord::Topic(topic) => {
                self.topic_names.insert(topic.topic_id, topic.name.clone());
                self.topics.insert(
                    topic.name.clone(),
                    TopicImage { name: topic.name.clone(), topic_id: topic.topic_id, partitions: BTreeMap::new() },
                );
            }
            MetadataRecord::Partition(partition) => {
                if let Some(name) = self.topic_names.get(&partition.topic_id) {
                    if let Some(topic) = self.topics.get_mut(name) {
                        topic.partitions.insert(partition.partition, partition.clone());
                    }
                }
            }
            MetadataRecord::Config(config) => {
                let entries = self.configs.entry(config.resource.clone()).or_default();
                match &config.value {
                    Some(value) => {
                        entries.insert(config.name.clone(), value.clone());
                    }
                    None => {
                        entries.remove(&config.name);
                    }
                }
                if entries.is_empty() {
                    self.configs.remove(&config.resource);
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.topic_names.remove(topic_id) {
                    self.topics.remove(&name);
                    self.configs.remove(&ConfigResource::Topic(name));
                }
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
        }
    }

    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRecord> {
        self.brokers.values()
    }

    /// Registered brokers that are not fenced.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRecord> {
        self.brokers.values().filter(|b| !self.fenced.contains(&b.broker_id))
    }

    pub fn is_fenced(&self, broker_id: i32) -> bool {
        self.fenced.contains(&broker_id)
    }

    pub fn broker(&self, broker_id: i32) -> Option<&BrokerRecord> {
        self.brokers.get(&broker_id)
    }

    pub fn broker_count(&self) -> usize {
        self.brokers.len()
    }

    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, topic_id: &Uuid) -> Option<&TopicImage> {
        self.topic_names.get(topic_id).and_then(|name| self.topics.get(name))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRecord> {
        self.topics.get(topic)?.partitions.get(&partition)
    }

    /// The dynamic config overrides of a resource (empty when none are set).
    pub fn configs(&self, resource: &ConfigResource) -> BTreeMap<String, String> {
        self.configs.get(resource).cloned().unwrap_or_default()
    }

    /// Every resource with dynamic configs, and its overrides.
    pub fn all_configs(&self) -> impl Iterator<Item = (&ConfigResource, &BTreeMap<String, String>)> {
        self.configs.iter()
    }

    /// The first producer id not yet handed out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ConfigRecord, TopicRecord};

    fn topic(name: &str) -> (Uuid, MetadataRecord) {
        let id = Uuid::new_v4();
        (id, MetadataRecord::Topic(TopicRecord { name: name.into(), topic_id: id }))
    }

    fn partition(topic_id: Uuid, partition: i32) -> MetadataRecord {
        MetadataRecord::Partition(PartitionRecord {
            topic_id,
            partition,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        })
    }

    #[test]
    fn topic_partitions_and_configs_replay_and_remove() {
        let mut image = MetadataImage::default();
        let (id, record) = topic("orders");
        image.replay(&record);
        image.replay(&partition(id, 0));
        image.replay(&partition(id, 1));
        image.replay(&MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Topic("orders".into()),
            name: "retention.ms".into(),
            value: Some("5".into()),
        }));
        assert_eq!(image.topic("orders").map(|t| t.partitions.len()), Some(2));
        assert_eq!(image.topic_by_id(&id).map(|t| t.name.as_str()), Some("orders"));
        assert_eq!(image.configs(&ConfigResource::Topic("orders".into())).get("retention.ms").map(String::as_str), Some("5"));

        image.replay(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(image.topic("orders").is_none());
        assert!(image.topic_by_id(&id).is_none());
        assert!(image.configs(&ConfigResource::Topic("orders".into())).is_empty());
        // A stale partition record for the removed topic changes nothing.
        image.replay(&partition(id, 2));
        assert_eq!(image.topics().count(), 0);
    }

    #[test]
    fn producer_ids_never_go_backwards() {
        let mut image = MetadataImage::default();
        image.replay(&MetadataRecord::ProducerIds { next_producer_id: 2000 });
        image.replay(&MetadataRecord::ProducerIds { next_producer_id: 1000 });
        assert_eq!(image.next_producer_id(), 2000);
    }
}
