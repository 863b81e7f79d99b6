//! DescribeLogDirs: the log directory of this broker, with the size of each partition
//! replica in it (`kafka-log-dirs --describe`, `AdminClient.describeLogDirs`, the
//! partition sizes admin UIs show).
//!
//! As Kafka's `ReplicaManager.describeLogDirs`: a null topic list means every replica;
//! topics without a replica here are left out. A replica's offset lag is how far its log
//! end is below the high watermark (0 on a leader); v4 adds the directory's file system
//! total and usable bytes. Spool keeps every log in one directory, which never goes
//! offline as a whole: a full disk is reported by the writes that meet it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::topic_name;
use crate::broker::Broker;

pub(crate) async fn handle(broker: &Arc<Broker>, _header: &RequestHeader, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let wanted: Option<HashSet<(String, i32)>> = request.topics.map(|topics| {
        topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.to_string(), *p))).collect()
    });
    let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for partition in broker.replicas.all() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&(partition.topic.clone(), partition.index))) {
            continue;
        }
        // A replica deleted meanwhile has no log left to describe.
        let Ok((size, log_end)) = partition.with_log(|log| (log.size_bytes(), log.log_end_offset())) else { continue };
        let mut entry = DescribeLogDirsPartition::default();
        entry.partition_index = partition.index;
        entry.partition_size = size as i64;
        entry.offset_lag = (partition.high_watermark() - log_end).max(0);
        entry.is_future_key = false;
        topics.entry(partition.topic.clone()).or_default().push(entry);
    }
    let mut result = DescribeLogDirsResult::default();
    let dir = std::path::absolute(&broker.data_dir).unwrap_or_else(|_| broker.data_dir.clone());
    result.log_dir = StrBytes::from_string(dir.display().to_string());
    (result.total_bytes, result.usable_bytes) = file_system_bytes(&dir);
    result.topics = topics
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            let mut topic = DescribeLogDirsTopic::default();
            topic.name = topic_name(&name);
            topic.partitions = partitions;
            topic
        })
        .collect();
    let mut response = DescribeLogDirsResponse::default();
    response.results = vec![result];
    response
}

/// The total and usable (available to this unprivileged process) bytes of the file
/// system holding `dir`, as Java's `FileStore.getTotalSpace`/`getUsableSpace`; -1 each
/// when they cannot be read (Kafka's `UNKNOWN_VOLUME_BYTES`).
fn file_system_bytes(dir: &Path) -> (i64, i64) {
    match rustix::fs::statvfs(dir) {
        Ok(stat) => {
            let total = stat.f_blocks.saturating_mul(stat.f_frsize);
            let usable = stat.f_bavail.saturating_mul(stat.f_frsize);
            (i64::try_from(total).unwrap_or(i64::MAX), i64::try_from(usable).unwrap_or(i64::MAX))
        }
        Err(_) => (-1, -1),
    }
}
