//! What each node of a [`super::Cluster`] says about the cluster: Metadata (and
//! DescribeQuorum) over the harness's own small client, built on `kafka-protocol`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_quorum_request::{
    PartitionData as QuorumPartition, TopicData as QuorumTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeQuorumRequest, MetadataRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

/// Bound on one request of the harness's own client (connect, write, read).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response the harness's client reads.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
const METADATA_VERSION: i16 = 12;
const DESCRIBE_QUORUM_VERSION: i16 = 0;
const CLIENT_ID: &str = "harness-cluster";

/// One partition in one node's Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub error_code: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

/// One topic in one node's Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub error_code: i16,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// One node's Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    /// Broker id to `host:port`.
    pub brokers: BTreeMap<i32, String>,
    pub topics: BTreeMap<String, TopicMetadata>,
}

/// Every answering node's Metadata, by node id (an `Err` is why that node did not answer).
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub nodes: BTreeMap<i32, Result<ClusterMetadata, String>>,
}

impl ClusterView {
    /// The nodes that answered, with their answers.
    pub fn answers(&self) -> impl Iterator<Item = (i32, &ClusterMetadata)> {
        self.nodes
            .iter()
            .filter_map(|(id, md)| md.as_ref().ok().map(|md| (*id, md)))
    }

    /// The partition as the answer with the highest leader epoch has it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.answers()
            .filter_map(|(_, md)| md.topics.get(topic)?.partitions.get(&partition))
            .filter(|p| p.error_code == 0 || p.leader >= 0)
            .max_by_key(|p| p.leader_epoch)
    }

    /// The partition's leader (see [`ClusterView::partition`]), if it has one.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition)
            .map(|p| p.leader)
            .filter(|&l| l >= 0)
    }

    /// The Metadata `controller_id` every answering node names, if there is at least one
    /// answer and they agree (in KRaft they need not: see the module doc).
    pub fn controller(&self) -> Option<i32> {
        let ids: BTreeSet<i32> = self.answers().map(|(_, md)| md.controller_id).collect();
        (ids.len() == 1)
            .then(|| *ids.iter().next().expect("one id"))
            .filter(|&c| c >= 0)
    }

    /// Whether every answering node reports, for each of `partitions` partitions of
    /// `topic`, the same leader and an ISR equal to the full replica set.
    pub fn fully_replicated(&self, topic: &str, partitions: i32) -> bool {
        self.answers().count() > 0
            && (0..partitions).all(|p| {
                let seen: Vec<Option<&PartitionMetadata>> = self
                    .answers()
                    .map(|(_, md)| md.topics.get(topic).and_then(|t| t.partitions.get(&p)))
                    .collect();
                let leaders: BTreeSet<i32> =
                    seen.iter().map(|p| p.map_or(-1, |p| p.leader)).collect();
                leaders.len() == 1
                    && !leaders.contains(&-1)
                    && seen.iter().all(|p| {
                        p.is_some_and(|p| {
                            let mut isr = p.isr.clone();
                            let mut replicas = p.replicas.clone();
                            isr.sort_unstable();
                            replicas.sort_unstable();
                            p.error_code == 0 && !replicas.is_empty() && isr == replicas
                        })
                    })
            })
    }
}

impl std::fmt::Display for ClusterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (id, answer) in &self.nodes {
            match answer {
                Err(e) => writeln!(f, "  node {id}: no answer: {e}")?,
                Ok(md) => {
                    writeln!(
                        f,
                        "  node {id}: cluster {:?}, controller {}, brokers {:?}",
                        md.cluster_id, md.controller_id, md.brokers
                    )?;
                    for (name, topic) in &md.topics {
                        write!(f, "    {name} (error {}):", topic.error_code)?;
                        for (index, p) in &topic.partitions {
                            write!(
                                f,
                                " [{index}: leader {} epoch {} replicas {:?} isr {:?}{}]",
                                p.leader,
                                p.leader_epoch,
                                p.replicas,
                                p.isr,
                                if p.error_code != 0 {
                                    format!(" error {}", p.error_code)
                                } else {
                                    String::new()
                                }
                            )?;
                        }
                        writeln!(f)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Metadata (v12, all topics when `topics` is `None`) from the node at `addr`.
///
/// # Errors
/// Why the call did not give an answer, as text.
pub fn metadata(addr: &str, topics: Option<&[&str]>) -> Result<ClusterMetadata, String> {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| {
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    let response = call(addr, &request, METADATA_VERSION)?;
    if response.error_code != 0 {
        return Err(format!("Metadata error code {}", response.error_code));
    }
    let brokers = response
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
        .collect();
    let topics = response
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    (
                        p.partition_index,
                        PartitionMetadata {
                            error_code: p.error_code,
                            leader: p.leader_id.0,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                            offline: p.offline_replicas.iter().map(|b| b.0).collect(),
                        },
                    )
                })
                .collect();
            Some((
                name,
                TopicMetadata {
                    error_code: t.error_code,
                    partitions,
                },
            ))
        })
        .collect();
    Ok(ClusterMetadata {
        cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
        controller_id: response.controller_id.0,
        brokers,
        topics,
    })
}

/// The metadata quorum's leader according to DescribeQuorum at `addr`.
///
/// # Errors
/// When the node does not serve DescribeQuorum or names no leader.
pub(super) fn quorum_leader(addr: &str) -> Result<i32, String> {
    let request = DescribeQuorumRequest::default().with_topics(vec![QuorumTopic::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![QuorumPartition::default().with_partition_index(0)])]);
    let response = call(addr, &request, DESCRIBE_QUORUM_VERSION)?;
    if response.error_code != 0 {
        return Err(format!("DescribeQuorum error code {}", response.error_code));
    }
    let partition = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("DescribeQuorum answered no partition")?;
    if partition.error_code != 0 || partition.leader_id.0 < 0 {
        return Err(format!(
            "DescribeQuorum: error {} leader {}",
            partition.error_code, partition.leader_id.0
        ));
    }
    Ok(partition.leader_id.0)
}

/// One request on a fresh connection, every step bounded by [`CALL_TIMEOUT`].
fn call<R: Request>(addr: &str, request: &R, version: i16) -> Result<R::Response, String> {
    let key = ApiKey::try_from(R::KEY).map_err(|_| format!("unknown API key {}", R::KEY))?;
    let socket: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, CALL_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(CALL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0; 4]);
    header
        .encode(&mut frame, key.request_header_version(version))
        .map_err(|e| format!("encode header: {e}"))?;
    request
        .encode(&mut frame, version)
        .map_err(|e| format!("encode {key:?}: {e}"))?;
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    stream
        .write_all(&frame)
        .map_err(|e| format!("{key:?} to {addr}: write: {e}"))?;
    let mut prefix = [0u8; 4];
    stream
        .read_exact(&mut prefix)
        .map_err(|e| format!("{key:?} to {addr}: read: {e}"))?;
    let size = i32::from_be_bytes(prefix);
    if size < 0 || size as usize > RESPONSE_BYTES_MAX {
        return Err(format!("{key:?} to {addr}: response length {size}"));
    }
    let mut body = vec![0u8; size as usize];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("{key:?} to {addr}: read: {e}"))?;
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
        .map_err(|e| format!("{key:?} response header: {e}"))?;
    if header.correlation_id != 1 {
        return Err(format!(
            "{key:?} response correlation id {}",
            header.correlation_id
        ));
    }
    R::Response::decode(&mut body, version).map_err(|e| format!("{key:?} v{version} response: {e}"))
}
