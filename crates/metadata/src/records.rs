//! The records of the cluster metadata log.
//!
//! Every change to the cluster's metadata is one of these records. The controller
//! decides which records a request produces; nothing changes until they are replayed
//! into a [`crate::MetadataImage`]. The same replay serves the live controller, a
//! restarted node reading its log back, and (later) followers of the metadata quorum.
//!
//! On disk each record is the JSON value of one record in a record batch of the
//! `__cluster_metadata-0` log, so the metadata log uses the same segment format,
//! recovery and tooling as every partition.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A broker known to the cluster and where clients reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRecord {
    pub broker_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// A topic and its immutable id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub topic_id: Uuid,
}

/// The full state of one partition: replica placement, in-sync replicas and leader.
///
/// A later record for the same partition replaces the earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub topic_id: Uuid,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Broker id of the leader, or -1 when the partition has none.
    pub leader: i32,
    /// Bumped on every leader change; fences stale leaders and clients.
    pub leader_epoch: i32,
    /// Bumped on every change of the partition record.
    pub partition_epoch: i32,
}

/// What a configuration value belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigResource {
    Topic(String),
    Broker(i32),
}

/// One dynamic configuration value; `value: None` removes the override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub resource: ConfigResource,
    pub name: String,
    pub value: Option<String>,
}

/// One entry of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    RegisterBroker(BrokerRecord),
    Topic(TopicRecord),
    Partition(PartitionRecord),
    Config(ConfigRecord),
    RemoveTopic { topic_id: Uuid },
    /// A broker stopped (or resumed) heartbeating: fenced brokers lead no partition and
    /// get no new replicas.
    BrokerFenced { broker_id: i32, fenced: bool },
    /// Producer ids below `next_producer_id` have been handed out.
    ProducerIds { next_producer_id: i64 },
}

impl MetadataRecord {
    /// The record as stored in the metadata log.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising these plain data types cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a stored record.
    ///
    /// # Errors
    /// When the bytes are not a record this version understands.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_bytes() {
        let records = vec![
            MetadataRecord::Topic(TopicRecord { name: "t".into(), topic_id: Uuid::new_v4() }),
            MetadataRecord::Config(ConfigRecord {
                resource: ConfigResource::Topic("t".into()),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            }),
            MetadataRecord::ProducerIds { next_producer_id: 1000 },
        ];
        for record in records {
            assert_eq!(MetadataRecord::from_bytes(&record.to_bytes()).unwrap(), record);
        }
        assert!(MetadataRecord::from_bytes(b"{\"type\":\"Nope\"}").is_err());
    }
}
