//! The partitions this broker hosts, kept in step with the metadata image.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use spool_metadata::config::{
    resolve_topic_config, BrokerConfig, ThrottledPartitions, TopicConfig, FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_REPLICAS,
};
use spool_metadata::records::ConfigResource;
use spool_metadata::MetadataImage;
use spool_storage::{CleaningCommit, Log};
use tokio::sync::watch;

use crate::append_failures::AppendFailures;
use crate::partition::{log_config, Partition, PartitionState};
use crate::replica_fetcher::{FetcherConfig, ReplicaFetcherManager};
use crate::replication_quota::ReplicationQuota;

/// Key of a partition: topic name and partition index.
pub(crate) type TopicPartition = (String, i32);

/// A [`TopicPartition`] made of a borrowed name, to look partitions up by (every
/// produce and fetch does, per partition) without allocating.
struct TopicPartitionRef<'a>(&'a str, i32);

impl Hash for TopicPartitionRef<'_> {
    /// As the tuple hashes: field by field, and a `str` as a `String`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl hashbrown::Equivalent<TopicPartition> for TopicPartitionRef<'_> {
    fn equivalent(&self, key: &TopicPartition) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// Owns the [`Partition`]s whose replicas live on this broker.
///
/// Invariant: after [`ReplicaManager::apply_image`], the map holds exactly the
/// partitions of the image that list this node among their replicas.
pub struct ReplicaManager {
    node_id: i32,
    data_dir: PathBuf,
    broker_config: BrokerConfig,
    partitions: RwLock<hashbrown::HashMap<TopicPartition, Arc<Partition>>>,
    fetchers: ReplicaFetcherManager,
    /// Why the data directory failed, once a log in it went offline (see
    /// [`ReplicaManager::log_dir_failure`]).
    log_dir_failure: Arc<watch::Sender<Option<String>>>,
    /// Appends that failed on the disk, reported at most every few seconds.
    append_failures: Arc<AppendFailures>,
    /// The replication throttle of what this broker sends as a leader.
    leader_quota: Arc<ReplicationQuota>,
    /// The replication throttle of what this broker fetches as a follower.
    follower_quota: Arc<ReplicationQuota>,
}

impl ReplicaManager {
    pub fn new(node_id: i32, data_dir: PathBuf, broker_config: BrokerConfig) -> Self {
        let append_failures = Arc::new(AppendFailures::default());
        let quota = || {
            let window = std::time::Duration::from_secs(broker_config.replication_quota_window_size_seconds().max(1) as u64);
            Arc::new(ReplicationQuota::new(broker_config.replication_quota_window_num().max(1) as usize, window))
        };
        let (leader_quota, follower_quota) = (quota(), quota());
        let fetchers = ReplicaFetcherManager::new(FetcherConfig {
            node_id,
            max_wait_ms: broker_config.replica_fetch_wait_max_ms(),
            min_bytes: broker_config.replica_fetch_min_bytes(),
            partition_max_bytes: broker_config.replica_fetch_max_bytes(),
            response_max_bytes: broker_config.replica_fetch_response_max_bytes(),
            backoff_ms: broker_config.replica_fetch_backoff_ms().max(0) as u64,
            append_failures: append_failures.clone(),
            quota: follower_quota.clone(),
        });
        ReplicaManager {
            node_id,
            data_dir,
            broker_config,
            partitions: RwLock::new(hashbrown::HashMap::new()),
            fetchers,
            log_dir_failure: Arc::new(watch::Sender::new(None)),
            append_failures,
            leader_quota,
            follower_quota,
        }
    }

    /// Reports an append to `topic`-`partition` that failed on the disk (see
    /// `append_failures`); failures of the records themselves are the client's to see.
    pub(crate) fn report_append_failure(&self, topic: &str, partition: i32, error: &spool_storage::AppendError) {
        self.append_failures.report(topic, partition, false, error);
    }

    /// Becomes `Some(reason)` when a log in the data directory goes offline (an fsync
    /// failed, so the disk under it lost writes). Kafka marks the whole log directory
    /// offline then, and halts a broker whose only log directory failed, so that other
    /// replicas take over its partitions; `spool_broker::run` does the same.
    pub fn log_dir_failure(&self) -> watch::Receiver<Option<String>> {
        self.log_dir_failure.subscribe()
    }

    /// The hook each opened log reports going offline to.
    fn offline_hook(&self) -> spool_storage::OfflineHook {
        let failure = self.log_dir_failure.clone();
        Arc::new(move |dir, reason| {
            let reason = format!("the log in {} went offline: {reason}", dir.display());
            // The first failure is the one reported.
            failure.send_if_modified(|current| {
                let first = current.is_none();
                if first {
                    *current = Some(reason);
                }
                first
            });
        })
    }

    /// The replication throttle of what this broker sends to followers.
    pub(crate) fn leader_quota(&self) -> &ReplicationQuota {
        &self.leader_quota
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions.read().get(&TopicPartitionRef(topic, partition)).cloned()
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
        let mut new: Vec<NewPartition> = Vec::new();
        let mut replaced: Vec<TopicPartition> = Vec::new();
        // Topic configs fall back on the broker's, dynamic ones included: a partition
        // without an override follows a changed cluster default at once.
        let broker_config = self.broker_config.with_dynamic(image, self.node_id);
        let mut leader_throttled = HashMap::new();
        let mut follower_throttled = HashMap::new();
        for topic in image.topics() {
            let overrides = image.configs(&ConfigResource::Topic(topic.name.clone()));
            let config = resolve_topic_config(&broker_config, &overrides);
            for (key, throttled) in
                [(LEADER_THROTTLED_REPLICAS, &mut leader_throttled), (FOLLOWER_THROTTLED_REPLICAS, &mut follower_throttled)]
            {
                if let Some(partitions) = overrides.get(key).and_then(|v| ThrottledPartitions::parse(v, self.node_id)) {
                    throttled.insert(topic.name.clone(), partitions);
                }
            }
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
                        if *partition.state() != state {
                            partition.set_state(state, now_ms);
                        }
                        if *partition.config() != config {
                            partition.set_config(config.clone());
                        }
                    }
                    existing => {
                        // Another topic id: a topic deleted and created again under the
                        // same name, both in this image. The old log must go before the
                        // new one opens in the same directory.
                        if existing.is_some() {
                            replaced.push(key.clone());
                        }
                        new.push(NewPartition {
                            dir: self.partition_dir(&topic.name, record.partition),
                            key,
                            topic_id: topic.topic_id,
                            state,
                            config: config.clone(),
                        });
                    }
                }
            }
        }
        self.leader_quota.set_bound(broker_config.leader_replication_throttled_rate());
        self.leader_quota.set_throttled(leader_throttled);
        self.follower_quota.set_bound(broker_config.follower_replication_throttled_rate());
        self.follower_quota.set_throttled(follower_throttled);
        let replaced: Vec<Arc<Partition>> = {
            let mut partitions = self.partitions.write();
            replaced.iter().filter_map(|k| partitions.remove(k)).collect()
        };
        self.delete_logs(replaced);
        self.open_partitions(new, now_ms)?;
        let removed: Vec<Arc<Partition>> = {
            let mut partitions = self.partitions.write();
            let gone: Vec<TopicPartition> = partitions.keys().filter(|k| !wanted.contains(*k)).cloned().collect();
            gone.into_iter().filter_map(|k| partitions.remove(&k)).collect()
        };
        self.update_fetchers(image);
        self.delete_logs(removed);
        Ok(())
    }

    /// Deletes the logs of partitions no longer hosted here: each directory is renamed
    /// at once and removed on a thread of its own (see `spool_storage::remove_in_background`),
    /// so a large topic does not hold up metadata.
    fn delete_logs(&self, partitions: Vec<Arc<Partition>>) {
        let mut renamed = Vec::new();
        for partition in partitions {
            let Some(log) = partition.take_log() else { continue };
            let dir = log.dir().to_path_buf();
            match log.delete() {
                Ok(deleted) => {
                    tracing::info!(topic = %partition.topic, partition = partition.index, "deleted partition log");
                    renamed.push(deleted);
                }
                Err(e) => tracing::error!(dir = %dir.display(), "could not delete partition log: {e}"),
            }
        }
        spool_storage::remove_in_background(renamed);
    }

    /// Removes the partition directories that were deleted but not yet removed when the
    /// broker last stopped (in the background, as [`ReplicaManager::apply_image`] does).
    pub fn remove_deleted_logs_left_behind(&self) {
        match spool_storage::deleted_logs_in(&self.data_dir) {
            Ok(dirs) => {
                if !dirs.is_empty() {
                    tracing::info!(count = dirs.len(), "removing partition logs deleted before the last stop");
                }
                spool_storage::remove_in_background(dirs);
            }
            Err(e) => tracing::warn!(data_dir = %self.data_dir.display(), "could not look for deleted partition logs: {e}"),
        }
    }

    /// Opens the logs of `new` partitions (recovering them after an unclean shutdown) on
    /// `num.recovery.threads.per.data.dir` threads, as Kafka loads its logs, and adds them.
    ///
    /// # Errors
    /// The first log that could not be opened; every other one is added.
    fn open_partitions(&self, new: Vec<NewPartition>, now_ms: i64) -> anyhow::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let count = new.len();
        let threads = self.recovery_threads();
        let opened = on_threads(new, threads, |p| Log::open(&p.dir, log_config(&p.config), now_ms));
        let mut first_error = None;
        let mut partitions = self.partitions.write();
        for (p, log) in opened {
            match log {
                Ok(mut log) => {
                    log.on_offline(self.offline_hook());
                    let (topic, index) = p.key.clone();
                    let partition = Partition::new(topic, index, p.topic_id, self.node_id, log, p.state, p.config, now_ms);
                    partitions.insert(p.key, Arc::new(partition));
                }
                Err(e) => {
                    tracing::error!(dir = %p.dir.display(), "could not open the partition's log: {e}");
                    first_error.get_or_insert_with(|| anyhow::anyhow!("opening log {}: {e}", p.dir.display()));
                }
            }
        }
        if count > 1 {
            tracing::info!(count, threads, elapsed_ms = started.elapsed().as_millis() as u64, "opened partition logs");
        }
        first_error.map_or(Ok(()), Err)
    }

    /// `num.recovery.threads.per.data.dir` (one data directory here), at least 1.
    fn recovery_threads(&self) -> usize {
        usize::try_from(self.broker_config.num_recovery_threads_per_data_dir()).unwrap_or(1).max(1)
    }

    /// Points the replica fetchers at the current leaders of the partitions this broker follows.
    fn update_fetchers(&self, image: &MetadataImage) {
        let mut wanted: HashMap<i32, (String, Vec<Arc<Partition>>)> = HashMap::new();
        // Replication uses the inter-broker listener, as Kafka's fetchers do.
        let listener = self.broker_config.inter_broker_listener_name();
        for partition in self.all() {
            let leader = partition.state().leader;
            if leader == self.node_id || leader < 0 {
                continue;
            }
            let Some(broker) = image.broker(leader) else { continue };
            let Some(endpoint) = broker.endpoint(&listener) else {
                tracing::warn!(
                    topic = %partition.topic,
                    partition = partition.index,
                    "leader {leader} has no {listener} listener (inter.broker.listener.name); cannot replicate from it"
                );
                continue;
            };
            let address = format!("{}:{}", endpoint.host, endpoint.port);
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
    ///
    /// A partition's log is locked only to plan a cleaning and to swap each cleaned
    /// segment in (see `spool_storage`'s cleaner): produce, fetch and replication of that
    /// partition go on while its segments are read and rewritten.
    pub fn clean_logs(&self, now_ms: i64, max_map_entries: usize) -> usize {
        self.clean_logs_with(now_ms, max_map_entries, |_| {})
    }

    /// [`Self::clean_logs`], calling `while_building` for each partition being cleaned
    /// while its log is not locked, just before its cleaned segments are built.
    fn clean_logs_with(&self, now_ms: i64, max_map_entries: usize, while_building: impl Fn(&Arc<Partition>)) -> usize {
        let mut cleaned = 0;
        for partition in self.all() {
            if !partition.config().compact_enabled() {
                continue;
            }
            let high_watermark = partition.high_watermark();
            let plan = match partition.with_log(|log| log.plan_cleaning_if_due(high_watermark, now_ms, max_map_entries)) {
                Ok(Ok(Some(plan))) => plan,
                Ok(Ok(None)) | Err(_) => continue,
                Ok(Err(e)) => {
                    tracing::error!(topic = %partition.topic, partition = partition.index, "log cleaning failed: {e}");
                    continue;
                }
            };
            while_building(&partition);
            let mut segments = match plan.build() {
                Ok(segments) => segments,
                // A partition deleted meanwhile takes its directory with it: no error.
                Err(_) if partition.with_log(|_| ()).is_err() => continue,
                Err(e) => {
                    tracing::error!(topic = %partition.topic, partition = partition.index, "log cleaning failed: {e}");
                    continue;
                }
            };
            // One lock per cleaned segment. A deleted partition drops `segments`, which
            // deletes the files not swapped in.
            loop {
                match partition.with_log(|log| log.commit_cleaned_group(&mut segments)) {
                    Ok(Ok(CleaningCommit::Pending)) => {}
                    Ok(Ok(CleaningCommit::Done(stats))) => {
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
                        break;
                    }
                    Ok(Ok(CleaningCommit::GaveUp)) => {
                        let (topic, index) = (&partition.topic, partition.index);
                        tracing::info!(%topic, partition = index, "the log changed while it was cleaned; cleaning it again later");
                        break;
                    }
                    Err(_) => break,
                    Ok(Err(e)) => {
                        tracing::error!(topic = %partition.topic, partition = partition.index, "log cleaning failed: {e}");
                        break;
                    }
                }
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

    /// Writes each log's recovery-point checkpoint if the recovery point moved (Kafka's
    /// `log.flush.offset.checkpoint.interval.ms` task).
    pub fn checkpoint_recovery_points(&self) {
        for partition in self.all() {
            if let Ok(Err(e)) = partition.with_log(|log| log.checkpoint_recovery_point()) {
                tracing::error!(topic = %partition.topic, partition = partition.index, "writing the recovery checkpoint failed: {e}");
            }
        }
    }

    /// Closes every log cleanly (flush, checkpoints, clean-shutdown marker).
    pub fn shutdown(&self) {
        self.fetchers.shutdown();
        let partitions: Vec<Arc<Partition>> = self.partitions.write().drain().map(|(_, p)| p).collect();
        on_threads(partitions, self.recovery_threads(), |partition| {
            if let Some(log) = partition.take_log() {
                if let Err(e) = log.close() {
                    tracing::error!(topic = %partition.topic, partition = partition.index, "closing log failed: {e}");
                }
            }
        });
    }
}

/// A partition of the image that this broker hosts but has not opened yet.
struct NewPartition {
    key: TopicPartition,
    dir: PathBuf,
    topic_id: uuid::Uuid,
    state: PartitionState,
    config: TopicConfig,
}

/// `f` applied to every item on up to `threads` threads, each taking the next item when
/// it is done with one (logs differ widely in how much there is to recover); the items
/// with their results, in the order given.
fn on_threads<T: Sync, R: Send>(items: Vec<T>, threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<(T, R)> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.into_iter().map(|item| { let r = f(&item); (item, r) }).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<parking_lot::Mutex<Option<R>>> = items.iter().map(|_| parking_lot::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                *results[i].lock() = Some(f(item));
            });
        }
    });
    items.into_iter().zip(results).map(|(item, r)| (item, r.into_inner().expect("every item was taken by a thread"))).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::RecordBatchDecoder;
    use spool_metadata::config::{resolve_topic_config, BrokerConfig};
    use spool_storage::{Log, LogConfig};
    use uuid::Uuid;

    use super::*;
    use crate::partition::{log_config, PartitionState};

    const NOW_MS: i64 = 1_000_000;

    /// One batch of one keyed record.
    fn keyed(key: &str, value: &str) -> BytesMut {
        let (key, value) = (Bytes::copy_from_slice(key.as_bytes()), Bytes::copy_from_slice(value.as_bytes()));
        crate::group_coordinator::encode_plain_batch([(Some(key), Some(value))], NOW_MS - 1000).unwrap()
    }

    /// (offset, key, value) of every record of the partition's log.
    fn records(partition: &Partition) -> Vec<(i64, String, String)> {
        let mut bytes = partition.with_log(|log| log.read(log.log_start_offset(), usize::MAX, i64::MAX, true).unwrap()).unwrap();
        let text = |b: &Option<Bytes>| String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned();
        RecordBatchDecoder::decode_all(&mut bytes)
            .unwrap()
            .iter()
            .flat_map(|set| set.records.iter().map(|r| (r.offset, text(&r.key), text(&r.value))))
            .collect()
    }

    /// An image with topic `name` of `partitions` partitions, all led by broker 1.
    fn image_with_topic(name: &str, partitions: i32) -> MetadataImage {
        use spool_metadata::records::{MetadataRecord, PartitionRecord, TopicRecord};
        let mut image = MetadataImage::default();
        let topic_id = Uuid::new_v4();
        image.replay(&MetadataRecord::Topic(TopicRecord { name: name.into(), topic_id }));
        for partition in 0..partitions {
            let (replicas, isr) = (vec![1], vec![1]);
            let record = PartitionRecord { topic_id, partition, replicas, isr, leader: 1, leader_epoch: 0, partition_epoch: 0, adding_replicas: vec![], removing_replicas: vec![] };
            image.replay(&MetadataRecord::Partition(record));
        }
        image
    }

    #[test]
    fn logs_open_on_the_recovery_threads_and_each_recovers_its_own_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::new();
        config.set("num.recovery.threads.per.data.dir", "3").unwrap();
        let image = image_with_topic("spread", 10);
        let replicas = ReplicaManager::new(1, dir.path().to_path_buf(), config.clone());
        replicas.apply_image(&image, NOW_MS).unwrap();
        for p in 0..10 {
            let partition = replicas.get("spread", p).unwrap();
            for i in 0..=p {
                partition.append_as_leader(&keyed(&format!("p{p}"), &format!("v{i}")), NOW_MS).unwrap();
            }
        }
        // No clean shutdown (the logs are dropped, not closed): every log is recovered.
        drop(replicas);

        let replicas = ReplicaManager::new(1, dir.path().to_path_buf(), config);
        replicas.apply_image(&image, NOW_MS).unwrap();
        assert_eq!(replicas.all().len(), 10);
        for p in 0..10 {
            let expected: Vec<_> = (0..=p).map(|i| (i64::from(i), format!("p{p}"), format!("v{i}"))).collect();
            assert_eq!(records(&replicas.get("spread", p).unwrap()), expected, "partition {p}");
        }
        replicas.shutdown();
        assert!(replicas.all().is_empty());
    }

    /// The entries of `dir`, sorted.
    fn entries(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// Waits up to 30 s for `dir` to hold exactly `expected`.
    fn wait_for_entries(dir: &std::path::Path, expected: &[&str]) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while entries(dir) != expected && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(entries(dir), expected);
    }

    #[test]
    fn a_topic_deleted_and_created_again_in_one_image_starts_empty_and_the_old_log_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let replicas = ReplicaManager::new(1, dir.path().to_path_buf(), BrokerConfig::new());
        replicas.apply_image(&image_with_topic("again", 1), NOW_MS).unwrap();
        let old = replicas.get("again", 0).unwrap();
        old.append_as_leader(&keyed("k", "old"), NOW_MS).unwrap();

        // Same name, new topic id: the image a deletion plus a creation leave behind.
        replicas.apply_image(&image_with_topic("again", 1), NOW_MS).unwrap();
        let new = replicas.get("again", 0).unwrap();
        assert_ne!(new.topic_id, old.topic_id);
        assert_eq!(records(&new), vec![]);
        new.append_as_leader(&keyed("k", "new"), NOW_MS).unwrap();
        assert_eq!(records(&new), vec![(0, "k".to_string(), "new".to_string())]);
        assert!(old.with_log(|_| ()).is_err(), "the old partition gave up its log");
        wait_for_entries(dir.path(), &["again-0"]);

        // Deleted: the directory is gone from its place at once.
        replicas.apply_image(&MetadataImage::default(), NOW_MS).unwrap();
        assert!(!dir.path().join("again-0").exists());
        wait_for_entries(dir.path(), &[]);
    }

    #[test]
    fn logs_deleted_before_a_stop_are_removed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join("gone-0.17f3a-delete");
        std::fs::create_dir_all(left.join("nested")).unwrap();
        std::fs::write(left.join("00000000000000000000.log"), b"old bytes").unwrap();
        std::fs::create_dir(dir.path().join("kept-0")).unwrap();
        std::fs::write(dir.path().join("not-a-dir-delete"), b"").unwrap();
        ReplicaManager::new(1, dir.path().to_path_buf(), BrokerConfig::new()).remove_deleted_logs_left_behind();
        wait_for_entries(dir.path(), &["kept-0", "not-a-dir-delete"]);
    }

    #[test]
    fn on_threads_applies_to_every_item_once_and_keeps_their_order() {
        let calls = AtomicUsize::new(0);
        for threads in [1, 2, 5, 64] {
            let items: Vec<u64> = (0..50).collect();
            let out = on_threads(items, threads, |i| {
                calls.fetch_add(1, Ordering::SeqCst);
                i * i
            });
            assert_eq!(out, (0..50).map(|i| (i, i * i)).collect::<Vec<_>>(), "{threads} threads");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 200);
        assert!(on_threads(Vec::<u8>::new(), 4, |_| ()).is_empty());
    }

    #[test]
    fn produce_to_a_partition_completes_while_the_cleaner_builds_its_segments() {
        let dir = tempfile::tempdir().unwrap();
        let replicas = ReplicaManager::new(1, dir.path().to_path_buf(), BrokerConfig::new());
        let overrides = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        let config = resolve_topic_config(&replicas.broker_config, &overrides);
        assert!(config.compact_enabled());
        // Many small segments, each key written many times.
        let log_dir = dir.path().join("compacted-0");
        let log = Log::open(&log_dir, LogConfig { segment_bytes: 1024, ..log_config(&config) }, NOW_MS).unwrap();
        let state = PartitionState { leader: 1, leader_epoch: 0, replicas: vec![1], isr: vec![1], partition_epoch: 0 };
        let partition = Arc::new(Partition::new("compacted".into(), 0, Uuid::new_v4(), 1, log, state, config, NOW_MS));
        for i in 0..400 {
            partition.append_as_leader(&keyed(&format!("k{}", i % 10), &format!("v{i}")), NOW_MS).unwrap();
        }
        assert!(partition.with_log(|log| log.segment_count()).unwrap() > 20);
        assert_eq!(partition.high_watermark(), 400);
        replicas.partitions.write().insert(("compacted".into(), 0), partition.clone());
        let active_base = partition.with_log(|log| log.segment_base_offsets()).unwrap().last().copied().unwrap();

        let produced_while_building = AtomicUsize::new(0);
        let cleaned = replicas.clean_logs_with(NOW_MS, 1 << 16, |building| {
            // Another thread produces to the partition being cleaned, as a request handler
            // would; with the log locked for the whole cleaning it would wait for it.
            let (done, result) = mpsc::channel();
            let producer = building.clone();
            std::thread::spawn(move || {
                let _ = done.send(producer.append_as_leader(&keyed("k0", "during cleaning"), NOW_MS));
            });
            let (info, _) = result.recv_timeout(Duration::from_secs(30)).expect("produce completed during the build").unwrap();
            assert_eq!(info.first_offset, 400);
            produced_while_building.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!((cleaned, produced_while_building.load(Ordering::SeqCst)), (1, 1));
        // The cleaning committed: below the active segment of the plan only the latest
        // value of each key is left; the records above it and the one produced meanwhile
        // are all there.
        let after = records(&partition);
        let below: Vec<_> = after.iter().filter(|r| r.0 < active_base).cloned().collect();
        let latest = |offset: i64| (offset, format!("k{}", offset % 10), format!("v{offset}"));
        let mut expected: Vec<_> = (active_base - 10..active_base).map(latest).collect();
        assert_eq!(below, expected);
        expected = (active_base..400).map(latest).collect();
        expected.push((400, "k0".to_string(), "during cleaning".to_string()));
        assert_eq!(after[10..], expected);
        let first_dirty_offset = partition.with_log(|log| log.cleanable_range(401, NOW_MS).unwrap().first_dirty_offset).unwrap();
        assert_eq!(first_dirty_offset, active_base);
    }
}
