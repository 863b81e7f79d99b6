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

/// A broker known to the cluster and where it is reached: one endpoint per advertised
/// listener, as Kafka's `RegisterBrokerRecord.endPoints`.
///
/// Stored as `{"broker_id", "host", "port", "endpoints", "rack"}`: `host` and `port`
/// repeat the first endpoint, which is all a record written before endpoints existed
/// holds (and all an older Spool reads). Such a record becomes one endpoint with an
/// empty name, which [`BrokerRecord::endpoint`] serves for every listener: that broker
/// had a single listener whose name was not recorded, and it registers again, with
/// its named endpoints, when it next starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredBrokerRecord", into = "StoredBrokerRecord")]
pub struct BrokerRecord {
    pub broker_id: i32,
    /// The advertised listeners, in the broker's configured order; never empty.
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
}

/// One advertised listener of a broker (Kafka's `BrokerEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    /// The listener name, upper-cased (`PLAINTEXT`, `INTERNAL`); empty in a record written
    /// before endpoints were named.
    pub name: String,
    pub host: String,
    pub port: i32,
    /// Kafka's security protocol id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL).
    #[serde(default)]
    pub security_protocol: i16,
}

impl BrokerEndpoint {
    /// A PLAINTEXT endpoint.
    pub fn plaintext(name: &str, host: &str, port: i32) -> Self {
        BrokerEndpoint { name: name.to_string(), host: host.to_string(), port, security_protocol: 0 }
    }
}

impl BrokerRecord {
    /// The endpoint of the listener `name` (upper-case), as Kafka's `BrokerRegistration.node`;
    /// `None` when the broker has no such listener.
    pub fn endpoint(&self, name: &str) -> Option<&BrokerEndpoint> {
        self.endpoints
            .iter()
            .find(|e| e.name == name)
            .or_else(|| self.endpoints.first().filter(|e| e.name.is_empty() && self.endpoints.len() == 1))
    }
}

/// [`BrokerRecord`] as stored; see there.
#[derive(Serialize, Deserialize)]
struct StoredBrokerRecord {
    broker_id: i32,
    host: String,
    port: i32,
    #[serde(default)]
    endpoints: Vec<BrokerEndpoint>,
    rack: Option<String>,
}

impl From<StoredBrokerRecord> for BrokerRecord {
    fn from(stored: StoredBrokerRecord) -> Self {
        let endpoints = if stored.endpoints.is_empty() {
            vec![BrokerEndpoint::plaintext("", &stored.host, stored.port)]
        } else {
            stored.endpoints
        };
        BrokerRecord { broker_id: stored.broker_id, endpoints, rack: stored.rack }
    }
}

impl From<BrokerRecord> for StoredBrokerRecord {
    fn from(record: BrokerRecord) -> Self {
        let (host, port) = record.endpoints.first().map_or((String::new(), -1), |e| (e.host.clone(), e.port));
        StoredBrokerRecord { broker_id: record.broker_id, host, port, endpoints: record.endpoints, rack: record.rack }
    }
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
    /// Replicas a reassignment in progress adds: listed in `replicas`, and made part of
    /// the assignment for good once every target replica is in sync (Kafka's
    /// `addingReplicas`). Empty when no reassignment is in progress; not written then, so
    /// records stay as they were before reassignments existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment in progress removes once it completes (Kafka's
    /// `removingReplicas`); listed in `replicas` until then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing_replicas: Vec<i32>,
}

impl PartitionRecord {
    /// Whether a reassignment of this partition is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas the partition keeps once its reassignment completes: `replicas`
    /// without the ones being removed (all of them when none is in progress).
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.removing_replicas.contains(r)).collect()
    }
}

/// What a configuration value belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigResource {
    Topic(String),
    /// One broker's dynamic configs (`DYNAMIC_BROKER_CONFIG`).
    Broker(i32),
    /// The dynamic defaults of every broker (`DYNAMIC_DEFAULT_BROKER_CONFIG`; Kafka's broker
    /// resource with the empty name).
    BrokerDefault,
    /// The client quotas of a user, a client id or both (Kafka's `ClientQuotaRecord`):
    /// `producer_byte_rate` and `consumer_byte_rate`, see [`crate::quota`].
    ClientQuota(QuotaEntity),
}

/// Whom a client quota applies to (Kafka's `ClientQuotaEntity`): a user, a client id, or
/// a user's connections with one client id. Each part names one or is the default of all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<QuotaName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<QuotaName>,
}

/// One part of a [`QuotaEntity`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum QuotaName {
    /// Every user (client id) without a quota of its own (Kafka's `<default>`).
    Default,
    Named(String),
}

impl QuotaName {
    /// The name as Kafka's protocol carries it: `None` for the default.
    pub fn as_option(&self) -> Option<&str> {
        match self {
            QuotaName::Default => None,
            QuotaName::Named(name) => Some(name),
        }
    }

    pub fn from_option(name: Option<&str>) -> Self {
        name.map_or(QuotaName::Default, |n| QuotaName::Named(n.to_string()))
    }
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
            MetadataRecord::Config(ConfigRecord {
                resource: ConfigResource::ClientQuota(QuotaEntity {
                    user: Some(QuotaName::Default),
                    client_id: Some(QuotaName::Named("app".into())),
                }),
                name: "producer_byte_rate".into(),
                value: Some("1024".into()),
            }),
        ];
        for record in records {
            assert_eq!(MetadataRecord::from_bytes(&record.to_bytes()).unwrap(), record);
        }
        assert!(MetadataRecord::from_bytes(b"{\"type\":\"Nope\"}").is_err());
    }

    #[test]
    fn broker_records_keep_every_endpoint() {
        let record = MetadataRecord::RegisterBroker(BrokerRecord {
            broker_id: 2,
            endpoints: vec![
                BrokerEndpoint::plaintext("INTERNAL", "spool2", 9092),
                BrokerEndpoint::plaintext("EXTERNAL", "127.0.0.1", 29092),
            ],
            rack: Some("r1".into()),
        });
        let bytes = record.to_bytes();
        assert_eq!(MetadataRecord::from_bytes(&bytes).unwrap(), record);
        // host and port repeat the first endpoint, for readers that know only those.
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["host"], "spool2");
        assert_eq!(json["port"], 9092);
        let MetadataRecord::RegisterBroker(broker) = record else { unreachable!() };
        assert_eq!(broker.endpoint("EXTERNAL").map(|e| e.port), Some(29092));
        assert_eq!(broker.endpoint("INTERNAL").map(|e| e.host.as_str()), Some("spool2"));
        assert_eq!(broker.endpoint("PLAINTEXT"), None);
    }

    #[test]
    fn broker_records_written_before_endpoints_still_replay() {
        // A RegisterBroker record as Spool wrote it before endpoints were recorded.
        let old = br#"{"type":"RegisterBroker","broker_id":1,"host":"127.0.0.1","port":9092,"rack":null}"#;
        let MetadataRecord::RegisterBroker(broker) = MetadataRecord::from_bytes(old).unwrap() else {
            panic!("not a broker record")
        };
        assert_eq!(broker.broker_id, 1);
        assert_eq!(broker.endpoints, vec![BrokerEndpoint::plaintext("", "127.0.0.1", 9092)]);
        // Its one unnamed endpoint serves every listener until the broker registers again.
        assert_eq!(broker.endpoint("PLAINTEXT").map(|e| e.port), Some(9092));
        assert_eq!(broker.endpoint("EXTERNAL").map(|e| e.port), Some(9092));
        // Written again, it keeps the old fields too.
        let json: serde_json::Value = serde_json::to_value(&broker).unwrap();
        assert_eq!((json["host"].as_str(), json["port"].as_i64()), (Some("127.0.0.1"), Some(9092)));
    }
}
