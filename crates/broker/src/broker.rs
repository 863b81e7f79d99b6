//! The broker's shared state and its start-up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use spool_metadata::config::{BrokerConfig, Listener};
use spool_metadata::controller::{self, ControllerReply, ControllerRequest, Election, TopicDefaults};
use spool_metadata::quota::QuotaTable;
use spool_metadata::records::{BrokerEndpoint, BrokerRecord};
use spool_metadata::MetadataImage;
use spool_storage::drop_behind;

use crate::client_quotas::ClientQuotas;
use crate::error::KafkaError;
use crate::group_coordinator::GroupCoordinator;
use crate::metadata_quorum::{self, MetadataQuorum};
use crate::partition::Partition;
use crate::replica_manager::ReplicaManager;

/// Logged at start-up, with the budget, when the machine turned drop-behind on (the
/// default `spool.log.drop.behind.bytes=-1` on a virtual machine whose host takes back
/// the memory it frees).
pub const HOST_TAKES_BACK_MEMORY_NOTE: &str = "drop-behind on: this machine hands the memory it frees back to its \
    host (virtio-balloon free page reporting), where a page-cache page an append takes anew costs a host fault on its \
    first write, so appends reuse the pages of what the logs wrote more than budget_bytes before, and readers further \
    behind read from the disk (spool.log.drop.behind.bytes=0 keeps everything cached, as Kafka does)";

/// Milliseconds since the Unix epoch: the only clock the broker reads.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Everything a request handler needs, shared by all connections.
pub struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub cluster_id: String,
    pub data_dir: PathBuf,
    /// The broker listeners published to clients (`advertised.listeners`), in order.
    pub advertised: Vec<Listener>,
    pub(crate) metadata: MetadataQuorum,
    pub replicas: ReplicaManager,
    /// The group coordinator for the `__consumer_offsets` partitions this node leads.
    pub groups: Arc<GroupCoordinator>,
    /// Produce and fetch byte-rate quotas of clients.
    pub(crate) client_quotas: ClientQuotas,
    /// The current block of producer ids: next to hand out, end (exclusive).
    producer_ids: Mutex<(i64, i64)>,
    /// Serialises applying metadata to local partitions, so an older image can never be
    /// applied after a newer one (which would delete a partition just created).
    apply_lock: Mutex<()>,
    /// Set by [`Broker::controlled_shutdown`]: no more heartbeats, which would unfence
    /// this broker again.
    shutting_down: AtomicBool,
    /// Held across each heartbeat, so that a controlled shutdown knows none is on its way.
    heartbeat: tokio::sync::Mutex<()>,
    /// Set once this process's registration is committed and this node has applied the
    /// metadata log up to it (Kafka's broker is "caught up" then): see [`Broker::registered`].
    registered_since_start: tokio::sync::watch::Sender<bool>,
}

impl Broker {
    /// Opens the data directory, replays metadata, registers this node and opens its partitions.
    ///
    /// # Errors
    /// When the data directory is unusable or belongs to another node.
    pub async fn open(config: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        let node_id = config.node_id();
        let (data_dir, plan, meta) = metadata_quorum::open_node(&config).await?;
        let advertised = config.advertised_listeners();
        if advertised.is_empty() {
            anyhow::bail!("no listener configured: set listeners=PLAINTEXT://HOST:PORT");
        }
        let now = now_ms();
        // This node is the whole quorum: its controller is at hand.
        let single_voter = plan.voters.len() == 1 && plan.is_voter;
        let metadata = MetadataQuorum::start(&config, plan, &meta.cluster_id, &data_dir).await?;
        let drop_behind_bytes = config.log_drop_behind_bytes().unwrap_or_else(|| {
            let budget_bytes = drop_behind::budget_for_machine(Path::new("/sys"), drop_behind::total_memory());
            if budget_bytes > 0 {
                tracing::info!(budget_bytes, "{HOST_TAKES_BACK_MEMORY_NOTE}");
            }
            budget_bytes
        });
        drop_behind::start(drop_behind_bytes)
            .map_err(|e| anyhow::anyhow!("cannot start the drop-behind thread (spool.log.drop.behind.bytes): {e}"))?;
        let replicas = ReplicaManager::new(node_id, data_dir.clone(), config.clone());
        replicas.remove_deleted_logs_left_behind();
        let groups = Arc::new(GroupCoordinator::new(&config));
        let client_quotas = ClientQuotas::new(
            config.quota_window_num().max(1) as usize,
            Duration::from_secs(config.quota_window_size_seconds().max(1) as u64),
        );
        let broker = Arc::new(Broker {
            config,
            node_id,
            cluster_id: meta.cluster_id,
            data_dir,
            advertised,
            metadata,
            replicas,
            groups,
            client_quotas,
            producer_ids: Mutex::new((0, 0)),
            apply_lock: Mutex::new(()),
            shutting_down: AtomicBool::new(false),
            heartbeat: tokio::sync::Mutex::new(()),
            registered_since_start: tokio::sync::watch::Sender::new(false),
        });
        let registration = broker.registration();
        {
            let _applying = broker.apply_lock.lock();
            let image = broker.metadata.image();
            broker.replicas.apply_image(&image, now)?;
            broker.client_quotas.set_quotas(QuotaTable::from_image(&image));
        }
        if single_voter {
            // A cluster of one has its controller at hand: be registered before serving.
            broker
                .submit(ControllerRequest::RegisterBroker(registration))
                .await
                .map_err(|e| anyhow::anyhow!("registering broker {node_id}: {:?}", e.message))?;
            broker.registered_since_start.send_replace(true);
        } else {
            tracing::info!("waiting for the metadata quorum to register this broker (voters must be reachable)");
        }
        tokio::spawn(follow_metadata(broker.clone()));
        tokio::spawn(heartbeat_loop(broker.clone()));
        tokio::spawn(fence_loop(broker.clone()));
        if broker.config.auto_leader_rebalance_enable() {
            tokio::spawn(leader_rebalance_loop(broker.clone()));
        }
        tokio::spawn(broker.groups.clone().run_timers(broker.clone()));
        Ok(broker)
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Returns once this process has registered with the metadata quorum and applied the
    /// metadata log up to that registration, so that the first Metadata it answers names
    /// at least itself and holds what the cluster decided while it was down. Kafka's
    /// broker likewise enables request processing only after it has caught up to the
    /// offset of its new registration. A registration replayed from this node's own disk
    /// does not count, even when it is unchanged and unfenced: that image may be old.
    /// Says every ten seconds what it is waiting for; returns at once if the metadata
    /// quorum stops (its failure stops the broker).
    pub async fn registered(&self) {
        let mut registered = self.registered_since_start.subscribe();
        let mut images = self.metadata.subscribe();
        let started = std::time::Instant::now();
        let mut next_note = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            tokio::select! {
                _ = registered.wait_for(|done| *done) => return,
                changed = images.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep_until(next_note) => {
                    tracing::info!(
                        "waiting to register with the metadata quorum and catch up with its log ({} s; is a majority of \
                         the controller quorum up?)",
                        started.elapsed().as_secs()
                    );
                    next_note += Duration::from_secs(10);
                }
            }
        }
    }

    /// The id clients are given as "the controller". As in KRaft, that is the active
    /// controller when it is also a live broker, else some live broker (admin requests
    /// sent there are forwarded to the quorum).
    pub(crate) fn controller_id_for_clients(&self, image: &MetadataImage) -> i32 {
        match self.metadata.leader_id() {
            Some(leader) if image.live_brokers().any(|b| b.broker_id == leader) => leader,
            _ => image.live_brokers().map(|b| b.broker_id).next().unwrap_or(self.node_id),
        }
    }

    /// Defaults for topics created without explicit partitions or replication factor.
    pub fn topic_defaults(&self) -> TopicDefaults {
        TopicDefaults {
            num_partitions: self.config.num_partitions(),
            replication_factor: self.config.default_replication_factor(),
        }
    }

    /// Has the controller carry out a request, then brings local partitions in line with
    /// the new metadata.
    ///
    /// # Errors
    /// The controller's refusal, or `KAFKA_STORAGE_ERROR` when the metadata log failed.
    pub async fn submit(&self, request: ControllerRequest) -> Result<ControllerReply, KafkaError> {
        let reply = self.metadata.submit(request).await?;
        self.apply_latest_image();
        Ok(reply)
    }

    /// Brings local partitions in line with the latest applied metadata.
    ///
    /// Creating and opening logs is file I/O with fsyncs, slow on a busy disk: the
    /// worker's other tasks (requests of every connection it serves) move to another
    /// thread meanwhile instead of waiting behind it.
    pub(crate) fn apply_latest_image(&self) {
        tokio::task::block_in_place(|| {
            let _applying = self.apply_lock.lock();
            let image = self.metadata.image();
            if let Err(e) = self.replicas.apply_image(&image, now_ms()) {
                tracing::error!("applying metadata to local partitions failed: {e:#}");
            }
            self.client_quotas.set_quotas(QuotaTable::from_image(&image));
        })
    }

    /// The registration record this broker keeps in the metadata.
    /// One endpoint per advertised listener, as Kafka's `RegisterBrokerRecord.endPoints`.
    fn registration(&self) -> BrokerRecord {
        let endpoints = self
            .advertised
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.clone(),
                host: l.host.clone(),
                port: i32::from(l.port),
                // Validated at start-up: every listener has a protocol, and it is PLAINTEXT.
                security_protocol: self.config.listener_security_protocol(&l.name).map_or(0, |p| p.id()),
            })
            .collect();
        BrokerRecord { broker_id: self.node_id, endpoints, rack: self.config.broker_rack() }
    }

    /// Hands out the next producer id, reserving a new block through the controller when
    /// the current one is used up.
    ///
    /// # Errors
    /// When the reservation could not be made durable.
    pub async fn next_producer_id(&self) -> Result<i64, KafkaError> {
        {
            let mut ids = self.producer_ids.lock();
            if ids.0 < ids.1 {
                ids.0 += 1;
                return Ok(ids.0 - 1);
            }
        }
        let ControllerReply::ProducerIdBlock { first } = self.submit(ControllerRequest::AllocateProducerIds).await? else {
            return Err(KafkaError::with_message(
                kafka_protocol::error::ResponseError::UnknownServerError,
                "the controller answered a producer-id request without a block",
            ));
        };
        let mut ids = self.producer_ids.lock();
        *ids = (first + 1, first + controller::PRODUCER_ID_BLOCK_SIZE);
        Ok(first)
    }

    /// Asks the controller, in the background, to add a caught-up follower back to the ISR.
    pub(crate) fn expand_isr(self: &Arc<Self>, partition: Arc<Partition>, replica: i32) {
        if !partition.begin_isr_change() {
            return;
        }
        let broker = self.clone();
        tokio::spawn(async move {
            let mut isr = partition.state().isr.clone();
            if !isr.contains(&replica) {
                isr.push(replica);
            }
            isr.sort_unstable();
            broker.alter_isr(&partition, isr).await;
        });
    }

    /// Drops followers that fell behind for longer than `replica.lag.time.max.ms`
    /// from the ISR of every partition this broker leads.
    pub(crate) async fn shrink_lagging_isrs(&self, now_ms: i64) {
        let lag_max_ms = self.config.replica_lag_time_max_ms();
        for partition in self.replicas.all() {
            let lagging = partition.lagging_followers(now_ms, lag_max_ms);
            if lagging.is_empty() || !partition.begin_isr_change() {
                continue;
            }
            let isr: Vec<i32> = partition.state().isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
            tracing::info!(
                topic = %partition.topic,
                partition = partition.index,
                "shrinking ISR: replica(s) {lagging:?} lagged more than {lag_max_ms} ms"
            );
            self.alter_isr(&partition, isr).await;
        }
    }

    /// Sends an ISR change for a partition this broker leads to the controller. The new
    /// ISR takes effect when the controller's record comes back through the metadata.
    async fn alter_isr(&self, partition: &Partition, new_isr: Vec<i32>) {
        let state = partition.state();
        let request = ControllerRequest::AlterPartition {
            topic: partition.topic.clone(),
            partition: partition.index,
            leader_id: self.node_id,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            new_isr: new_isr.clone(),
        };
        match self.submit(request).await {
            Ok(_) => tracing::info!(topic = %partition.topic, partition = partition.index, "ISR is now {new_isr:?}"),
            Err(e) => {
                tracing::warn!(topic = %partition.topic, partition = partition.index, "ISR change refused: {:?} {:?}", e.code, e.message);
                partition.end_isr_change();
            }
        }
    }

    /// Flushes and closes every log.
    pub fn shutdown(&self) {
        self.groups.stop();
        self.replicas.shutdown();
    }

    /// Kafka's controlled shutdown, the first step of a clean stop
    /// (`controlled.shutdown.enable`): this broker stops heartbeating and has the
    /// controller fence it, which moves the leadership of its partitions to other in-sync
    /// replicas and takes it out of their ISRs. Clients and followers move on at once,
    /// instead of after the session timeout that fencing a silent broker waits for.
    /// Skipped when no other broker is live, as none could take over. Bounded by the
    /// session timeout: after that the controller fences this broker anyway.
    pub async fn controlled_shutdown(&self) {
        if !self.config.controlled_shutdown_enable() {
            return;
        }
        self.shutting_down.store(true, Ordering::SeqCst);
        if !self.image().live_brokers().any(|b| b.broker_id != self.node_id) {
            return;
        }
        let bound = std::time::Duration::from_millis(self.config.broker_session_timeout_ms().max(100) as u64);
        let fence = async {
            // A heartbeat on its way would unfence this broker after the fence.
            let _no_heartbeat = self.heartbeat.lock().await;
            self.submit(ControllerRequest::ControlledShutdown { broker_id: self.node_id }).await
        };
        match tokio::time::timeout(bound, fence).await {
            Ok(Ok(_)) => tracing::info!("controlled shutdown: the other replicas lead this broker's partitions now"),
            Ok(Err(e)) => tracing::warn!("controlled shutdown failed ({:?}); the controller fences this broker after its session timeout", e.message),
            Err(_) => tracing::warn!(
                "controlled shutdown: no answer from the controller within {} ms; it fences this broker after its session timeout",
                bound.as_millis()
            ),
        }
    }
}

/// Applies every metadata change the quorum commits, whoever made it.
async fn follow_metadata(broker: Arc<Broker>) {
    let mut images = broker.metadata.subscribe();
    let mut topics = topic_ids(&broker.image());
    while images.changed().await.is_ok() {
        broker.apply_latest_image();
        let now = topic_ids(&broker.image());
        let deleted: Vec<String> = topics.iter().filter(|(id, _)| !now.contains_key(id)).map(|(_, name)| name.clone()).collect();
        topics = now;
        if !deleted.is_empty() {
            // Every broker does this for the groups it coordinates, whichever broker
            // handled the DeleteTopics (Kafka: the metadata publisher's onPartitionsDeleted).
            let broker = broker.clone();
            tokio::spawn(async move { broker.groups.on_topics_deleted(&broker, &deleted).await });
        }
    }
}

/// The topics of `image` by id (an id, unlike a name, is never reused).
fn topic_ids(image: &MetadataImage) -> std::collections::HashMap<uuid::Uuid, String> {
    image.topics().map(|t| (t.topic_id, t.name.clone())).collect()
}

/// Registers this broker, once per process start and again whenever its registration
/// is missing or stale, and heartbeats to the active controller in between.
async fn heartbeat_loop(broker: Arc<Broker>) {
    let interval = std::time::Duration::from_millis(broker.config.broker_heartbeat_interval_ms().max(50) as u64);
    loop {
        let heartbeat = broker.heartbeat.lock().await;
        if broker.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let image = broker.image();
        let registration = broker.registration();
        let registering =
            !*broker.registered_since_start.borrow() || image.broker(broker.node_id) != Some(&registration);
        let request = if registering {
            ControllerRequest::RegisterBroker(registration)
        } else {
            ControllerRequest::BrokerHeartbeat { broker_id: broker.node_id }
        };
        match broker.submit(request).await {
            // A submit returns once this node has applied the log up to the request's
            // record, or up to the leader's commit point when nothing needed writing.
            Ok(_) if registering => {
                broker.registered_since_start.send_replace(true);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("heartbeat to the controller failed: {:?} {:?}", e.code, e.message),
        }
        drop(heartbeat);
        tokio::time::sleep(interval).await;
    }
}

/// On the active controller, fences the brokers that went silent, checking every
/// heartbeat interval. A loop of its own: this node's own heartbeat can wait up to the
/// submit timeout on a controller that stopped answering, and fencing must not wait
/// behind it (Kafka's controller also times sessions out on its own timer).
async fn fence_loop(broker: Arc<Broker>) {
    let interval = std::time::Duration::from_millis(broker.config.broker_heartbeat_interval_ms().max(50) as u64);
    let session_timeout = std::time::Duration::from_millis(broker.config.broker_session_timeout_ms().max(100) as u64);
    loop {
        broker.metadata.fence_silent_brokers(session_timeout).await;
        tokio::time::sleep(interval).await;
    }
}

/// On the active controller, every `leader.imbalance.check.interval.seconds`: moves the
/// leadership of each partition back to its preferred replica (the first of its
/// assignment) where that replica is live and in sync again, so that the leaders a
/// failover piled onto the surviving brokers spread out once the others return
/// (`auto.leader.rebalance.enable`, as KRaft's controller does it). The partitions
/// whose preferred replica cannot lead yet are looked at again at the next check.
async fn leader_rebalance_loop(broker: Arc<Broker>) {
    let seconds = broker.config.leader_imbalance_check_interval_seconds().max(1) as u64;
    let interval = std::time::Duration::from_secs(seconds);
    loop {
        tokio::time::sleep(interval).await;
        // Asked of the local image first, so a balanced cluster writes nothing.
        if !broker.metadata.is_active_controller().await || controller::elect_preferred_leaders(&broker.image(), None).0.is_empty() {
            continue;
        }
        match broker.submit(ControllerRequest::ElectPreferredLeaders { partitions: None }).await {
            Ok(ControllerReply::Elections(elections)) => {
                let elected: Vec<String> = elections
                    .iter()
                    .filter(|(_, _, e)| *e == Election::Elected)
                    .map(|(topic, partition, _)| format!("{topic}-{partition}"))
                    .collect();
                if !elected.is_empty() {
                    tracing::info!("leader rebalance: the preferred replicas lead {} again", elected.join(", "));
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("leader rebalance failed: {:?}; trying again in {seconds} s", e.message),
        }
    }
}
