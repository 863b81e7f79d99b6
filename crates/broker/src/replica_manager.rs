//! The partitions this broker hosts, kept in step with the metadata image.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use spool_metadata::config::{resolve_topic_config, BrokerConfig};
use spool_metadata::records::ConfigResource;
use spool_metadata::MetadataImage;
use spool_storage::Log;

use crate::partition::{log_config, Partition, PartitionState};
use crate::replica_fetcher::{FetcherConfig, ReplicaFetcherManager};

/// Key of a partition: topic name and partition index.
pub(crate) type TopicPartition = (String, i32);

/// Owns the [`Partition`]s whose replicas live on this broker.
///
/// Invariant: after [`ReplicaManager::apply_image`], the map holds exactly the
/// partitions of the image that list this node among their replicas.
pub struct ReplicaManager {
    node_id: i32,
    data_dir: PathBuf,
    broker_config: BrokerConfig,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    fetchers: ReplicaFetcherManager,
}

impl ReplicaManager {
    pub fn new(node_id: i32, data_dir: PathBuf, broker_config: BrokerConfig) -> Self {
        let fetchers = ReplicaFetcherManager::new(FetcherConfig {
            node_id,
            max_wait_ms: broker_config.replica_fetch_wait_max_ms(),
            min_bytes: broker_config.replica_fetch_min_bytes(),
            partition_max_bytes: broker_config.replica_fetch_max_bytes(),
            response_max_bytes: broker_config.replica_fetch_response_max_bytes(),
            backoff_ms: broker_config.replica_fetch_backoff_ms().max(0) as u64,
        });
        ReplicaManager { node_id, data_dir, broker_config, partitions: RwLock::new(HashMap::new()), fetchers }
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions.read().get(&(topic.to_string(), partition)).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    /// Opens, updates and removes partitions so they match `image`.
    ///
    /// # Errors
    /// When a log cannot be opened; partitions handled before the failure stay applied.
    pub fn apply_image(&self, image: &MetadataImage, now_ms: i64) -> anyhow::Result<()> {
        let mut wanted: HashSet<TopicPartition> = HashSet::new();
        for topic in image.topics() {
            let overrides = image.configs(&ConfigResource::Topic(topic.name.clone()));
            let config = resolve_topic_config(&self.broker_config, &overrides);
            for record in topic.partitions.values() {
                if !record.replicas.contains(&self.node_id) {
                    continue;
                }
                let key = (topic.name.clone(), record.partition);
                wanted.insert(key.clone());
                let state = PartitionState {
                    leader: record.leader,
                    leader_epoch: record.leader_epoch,
                    replicas: record.replicas.clone(),
                    isr: record.isr.clone(),
                    partition_epoch: record.partition_epoch,
                };
                let existing = self.partitions.read().get(&key).cloned();
                match existing {
                    Some(partition) if partition.topic_id == topic.topic_id => {
                        if partition.state() != state {
                            partition.set_state(state, now_ms);
                        }
                        if partition.config() != config {
                            partition.set_config(config.clone());
                        }
                    }
                    _ => {
                        let dir = self.partition_dir(&topic.name, record.partition);
                        let log = Log::open(&dir, log_config(&config), now_ms)
                            .map_err(|e| anyhow::anyhow!("opening log {}: {e}", dir.display()))?;
                        let partition = Arc::new(Partition::new(
                            topic.name.clone(),
                            record.partition,
                            topic.topic_id,
                            self.node_id,
                            log,
                            state,
                            config.clone(),
                            now_ms,
                        ));
                        self.partitions.write().insert(key, partition);
                    }
                }
            }
        }
        let removed: Vec<Arc<Partition>> = {
            let mut partitions = self.partitions.write();
            let gone: Vec<TopicPartition> = partitions.keys().filter(|k| !wanted.contains(*k)).cloned().collect();
            gone.into_iter().filter_map(|k| partitions.remove(&k)).collect()
        };
        self.update_fetchers(image);
        for partition in removed {
            if let Some(log) = partition.take_log() {
                let dir = log.dir().to_path_buf();
                match log.delete() {
                    Ok(()) => tracing::info!(topic = %partition.topic, partition = partition.index, "deleted partition log"),
                    Err(e) => tracing::error!(dir = %dir.display(), "could not delete partition log: {e}"),
                }
            }
        }
        Ok(())
    }

    /// Points the replica fetchers at the current leaders of the partitions this broker follows.
    fn update_fetchers(&self, image: &MetadataImage) {
        let mut wanted: HashMap<i32, (String, Vec<Arc<Partition>>)> = HashMap::new();
        for partition in self.all() {
            let leader = partition.state().leader;
            if leader == self.node_id || leader < 0 {
                continue;
            }
            let Some(broker) = image.broker(leader) else { continue };
            let address = format!("{}:{}", broker.host, broker.port);
            wanted.entry(leader).or_insert_with(|| (address, Vec::new())).1.push(partition);
        }
        self.fetchers.update(wanted);
    }

    /// Deletes segments beyond retention in every partition.
    pub fn enforce_retention(&self, now_ms: i64) {
        for partition in self.all() {
            // Retention never moves the log start past what consumers may read.
            let high_watermark = partition.high_watermark();
            match partition.with_log(|log| log.enforce_retention_below(now_ms, high_watermark)) {
                Ok(Ok(0)) | Err(_) => {}
                Ok(Ok(deleted)) => tracing::info!(
                    topic = %partition.topic,
                    partition = partition.index,
                    "retention deleted {deleted} segment(s)"
                ),
                Ok(Err(e)) => tracing::error!(topic = %partition.topic, partition = partition.index, "retention failed: {e}"),
            }
        }
    }

    /// One pass of the log cleaner (Kafka's `LogCleaner`): compacts each log whose topic's
    /// `cleanup.policy` contains `compact` and that is due (dirty ratio above
    /// `min.cleanable.dirty.ratio`, or `max.compaction.lag.ms` passed), never at or above
    /// its high watermark, with a key map of at most `max_map_entries` keys. Leaders and
    /// followers clean their own replicas. Returns how many logs were cleaned.
    pub fn clean_logs(&self, now_ms: i64, max_map_entries: usize) -> usize {
        let mut cleaned = 0;
        for partition in self.all() {
            if !partition.config().compact_enabled() {
                continue;
            }
            let high_watermark = partition.high_watermark();
            match partition.with_log(|log| log.clean_if_due(high_watermark, now_ms, max_map_entries)) {
                Ok(Ok(None)) | Err(_) => {}
                Ok(Ok(Some(stats))) => {
                    cleaned += 1;
                    tracing::info!(
                        topic = %partition.topic,
                        partition = partition.index,
                        first_dirty_offset = stats.first_dirty_offset,
                        end_offset = stats.end_offset,
                        bytes_before = stats.bytes_before,
                        bytes_after = stats.bytes_after,
                        segments_before = stats.segments_before,
                        segments_after = stats.segments_after,
                        "log cleaner compacted the log"
                    );
                }
                Ok(Err(e)) => tracing::error!(topic = %partition.topic, partition = partition.index, "log cleaning failed: {e}"),
            }
        }
        cleaned
    }

    /// Rolls segments past `segment.ms` and flushes logs whose `flush.ms` is due.
    pub fn tick(&self, now_ms: i64) {
        for partition in self.all() {
            let result = partition.with_log(|log| log.maybe_roll(now_ms).and_then(|()| log.flush_if_due(now_ms)));
            if let Ok(Err(e)) = result {
                tracing::error!(topic = %partition.topic, partition = partition.index, "periodic roll/flush failed: {e}");
            }
        }
    }

    /// Closes every log cleanly (flush, checkpoints, clean-shutdown marker).
    pub fn shutdown(&self) {
        self.fetchers.shutdown();
        let partitions: Vec<Arc<Partition>> = self.partitions.write().drain().map(|(_, p)| p).collect();
        for partition in partitions {
            if let Some(log) = partition.take_log() {
                if let Err(e) = log.close() {
                    tracing::error!(topic = %partition.topic, partition = partition.index, "closing log failed: {e}");
                }
            }
        }
    }
}
