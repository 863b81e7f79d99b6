//! The broker's link to the metadata quorum (`spool-quorum`, Raft over openraft).
//!
//! Every node runs a quorum member: a voter when `process.roles` contains `controller`,
//! a learner otherwise. A node started without `controller.quorum.voters` is a cluster
//! of one: the only voter, with a private controller listener, through exactly the same
//! code as a three-node cluster.
//!
//! Liveness (Kafka's broker heartbeats): every broker submits a heartbeat every
//! `broker.heartbeat.interval.ms`. The active controller notes when it last heard from
//! each broker; one silent for `broker.session.timeout.ms` is fenced, which moves the
//! leadership of its partitions to other in-sync replicas.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use spool_metadata::config::{BrokerConfig, ProcessRole};
use spool_metadata::controller::{ControllerError, ControllerReply, ControllerRequest};
use spool_metadata::MetadataImage;
use spool_quorum::{Quorum, QuorumConfig, QuorumRole, QuorumStatus, RequestObserver, SubmitError};
use tokio::sync::{watch, RwLock};

use crate::broker_liveness::BrokerLiveness;
use crate::error::KafkaError;
use crate::meta_properties::{self, MetaProperties};

/// Opens this node's data directory and identity: the directory, the quorum plan and
/// `meta.properties` (whose cluster id the quorum then checks).
///
/// # Errors
/// When the directory is unusable, the cluster flags contradict each other, or the
/// directory belongs to another node or cluster.
pub(crate) async fn open_node(config: &BrokerConfig) -> anyhow::Result<(PathBuf, QuorumPlan, MetaProperties)> {
    let data_dir = config.log_dirs().into_iter().next().unwrap_or_else(|| PathBuf::from("./spool-data"));
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let plan = plan(config).await?;
    // A node started without voters is a cluster of one and names itself at random; the
    // nodes of a configured cluster derive the same id from their shared voter list.
    let derived_cluster_id =
        if config.controller_quorum_voters().is_empty() { None } else { Some(cluster_id_for_voters(&plan.voters)) };
    let meta = meta_properties::load_or_create(&data_dir, config.node_id(), derived_cluster_id.as_deref())?;
    Ok((data_dir, plan, meta))
}

/// Runs a node whose `process.roles` is `controller` alone: a voter of the metadata
/// quorum that serves no clients and hosts no partitions, but fences silent brokers
/// while it is the active controller. Returns when `stop` completes.
///
/// # Errors
/// When the node cannot start.
pub(crate) async fn run_controller_only(config: BrokerConfig, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let (data_dir, plan, meta) = open_node(&config).await?;
    let quorum = MetadataQuorum::start(&config, plan, &meta.cluster_id, &data_dir).await?;
    tracing::info!(node_id = config.node_id(), cluster_id = %meta.cluster_id, "Spool controller started (process.roles=controller)");
    let interval = Duration::from_millis(config.broker_heartbeat_interval_ms().max(50) as u64);
    let session_timeout = Duration::from_millis(config.broker_session_timeout_ms().max(100) as u64);
    let liveness = async {
        loop {
            quorum.fence_silent_brokers(session_timeout).await;
            tokio::time::sleep(interval).await;
        }
    };
    tokio::select! {
        _ = stop => {}
        _ = liveness => {}
        reason = quorum.failure() => {
            tracing::error!("the metadata log failed ({reason}); the controller stops");
            bail!("{}", metadata_log_failed(&reason));
        }
    }
    quorum.shutdown().await;
    tracing::info!("Spool controller stopped cleanly");
    Ok(())
}

/// Where the quorum of this node listens and who votes.
pub(crate) struct QuorumPlan {
    pub(crate) listen: SocketAddr,
    pub(crate) advertised: String,
    pub(crate) voters: Vec<(i32, String)>,
    pub(crate) is_voter: bool,
}

/// Works out this node's part in the quorum from the broker config.
///
/// # Errors
/// When the cluster flags contradict each other; the message says which flag to fix.
pub(crate) async fn plan(config: &BrokerConfig) -> anyhow::Result<QuorumPlan> {
    let node_id = config.node_id();
    let is_voter = config.process_roles().contains(&ProcessRole::Controller);
    let controller_names = config.controller_listener_names();
    let controller_listener = config.listeners().into_iter().find(|l| controller_names.contains(&l.name));
    let voters = config.controller_quorum_voters();
    let address_of = |host: &str, port: u16| {
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        format!("{host}:{port}")
    };
    if voters.is_empty() {
        if !is_voter {
            bail!("process.roles=broker needs controller.quorum.voters (--controller-quorum-voters) to find the controllers");
        }
        // A cluster of one: the controller listener only ever talks to itself.
        let listen = match &controller_listener {
            Some(l) => address_of(&l.host, l.port),
            None => "127.0.0.1:0".to_string(),
        };
        let listen: SocketAddr = listen.parse().with_context(|| format!("controller listener {listen} is not an IP:port"))?;
        return Ok(QuorumPlan { listen, advertised: String::new(), voters: vec![(node_id, listen.to_string())], is_voter });
    }
    let Some(listener) = controller_listener else {
        bail!(
            "controller.quorum.voters is set, so this node needs a controller listener: \
             pass --controller-listen HOST:PORT (or listeners=...,CONTROLLER://HOST:PORT with controller.listener.names=CONTROLLER)"
        );
    };
    let listen_text = address_of(&listener.host, listener.port);
    let listen: SocketAddr = tokio::net::lookup_host(&listen_text)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .with_context(|| format!("controller listener {listen_text} does not resolve"))?;
    let voters: Vec<(i32, String)> = voters.iter().map(|v| (v.id, format!("{}:{}", v.host, v.port))).collect();
    let advertised = if is_voter {
        String::new()
    } else {
        format!("{}:{}", if listener.host.is_empty() { "127.0.0.1" } else { listener.host.as_str() }, listener.port)
    };
    Ok(QuorumPlan { listen, advertised, voters, is_voter })
}

/// A cluster id every voter derives alike from the voter set, so a multi-node cluster
/// needs no separate formatting step: 22 URL-safe base64 characters of a hash of the
/// sorted `id@host:port` list.
pub(crate) fn cluster_id_for_voters(voters: &[(i32, String)]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut sorted: Vec<String> = voters.iter().map(|(id, addr)| format!("{id}@{addr}")).collect();
    sorted.sort();
    let text = sorted.join(",");
    // Two FNV-1a passes with different offset bases make 128 bits.
    let fnv = |basis: u64| text.bytes().fold(basis, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3));
    let mut bits = ((fnv(0xcbf2_9ce4_8422_2325) as u128) << 64) | fnv(0x6c62_272e_07bb_0142) as u128;
    let mut out = String::with_capacity(22);
    for _ in 0..22 {
        out.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
    }
    out
}

/// The quorum member of this node plus what the broker needs around it.
pub(crate) struct MetadataQuorum {
    quorum: RwLock<Option<Quorum>>,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// On the active controller: when each broker was last heard from.
    liveness: Arc<Mutex<BrokerLiveness>>,
}

impl MetadataQuorum {
    /// Starts this node's quorum member.
    ///
    /// # Errors
    /// When the quorum refuses the configuration or its directory.
    pub(crate) async fn start(config: &BrokerConfig, plan: QuorumPlan, cluster_id: &str, data_dir: &Path) -> anyhow::Result<Self> {
        // `metadata.log.dir`, else the data directory (Kafka: the first of `log.dirs`).
        let metadata_dir = config.metadata_log_dir().unwrap_or_else(|| data_dir.to_path_buf());
        let mut quorum_config =
            QuorumConfig::new(config.node_id(), cluster_id, &metadata_dir, plan.listen, plan.voters, plan.is_voter);
        quorum_config.advertised = plan.advertised;
        let liveness: Arc<Mutex<BrokerLiveness>> = Arc::default();
        let notes = liveness.clone();
        let session_timeout = Duration::from_millis(config.broker_session_timeout_ms().max(100) as u64);
        quorum_config.on_leader_request = RequestObserver(Some(Arc::new(move |request: &ControllerRequest| {
            match request {
                ControllerRequest::BrokerHeartbeat { broker_id } => notes.lock().heard(*broker_id, Instant::now()),
                ControllerRequest::RegisterBroker(broker) => notes.lock().heard(broker.broker_id, Instant::now()),
                // Only the active controller's own view of liveness may fence a broker: a
                // node that lost leadership (a paused or partitioned ex-controller) may
                // still ask, from stale notes, and is refused.
                ControllerRequest::FenceBroker { broker_id }
                    if !notes.lock().is_silent(*broker_id, Instant::now(), session_timeout) =>
                {
                    return Err(ControllerError::InvalidRequest(format!(
                        "broker {broker_id} is not silent for {} ms as this controller sees it",
                        session_timeout.as_millis()
                    )));
                }
                _ => {}
            }
            Ok(())
        })));
        let quorum = Quorum::start(quorum_config).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let image = quorum.image();
        Ok(MetadataQuorum {
            quorum: RwLock::new(Some(quorum)),
            image,
            liveness,
        })
    }

    /// The committed metadata image as this node has applied it.
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    /// A receiver woken whenever the applied image changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// Has the active controller carry out a request; returns once it is applied here.
    ///
    /// # Errors
    /// The controller's refusal or the quorum's failure, as a Kafka error.
    pub(crate) async fn submit(&self, request: ControllerRequest) -> Result<ControllerReply, KafkaError> {
        let guard = self.quorum.read().await;
        let Some(quorum) = guard.as_ref() else {
            return Err(KafkaError::with_message(ResponseError::NotController, "shutting down"));
        };
        quorum.submit(request).await.map_err(submit_error)
    }

    /// The active controller this node knows of.
    pub(crate) fn leader_id(&self) -> Option<i32> {
        self.quorum.try_read().ok().and_then(|q| q.as_ref().and_then(Quorum::leader_id))
    }

    /// Whether this node is the active controller (the quorum's leader) now.
    pub(crate) async fn is_active_controller(&self) -> bool {
        matches!(self.status().await.map(|s| s.role), Some(QuorumRole::Leader))
    }

    pub(crate) async fn status(&self) -> Option<QuorumStatus> {
        self.quorum.read().await.as_ref().map(Quorum::status)
    }

    /// On the active controller: the registered, unfenced brokers not heard from for
    /// `session_timeout`. A node that just became the active controller, or whose
    /// checks stopped for a session (paused), first gives every broker a full session
    /// to be heard from (see [`BrokerLiveness`]).
    pub(crate) async fn expired_brokers(&self, session_timeout: Duration) -> Vec<i32> {
        let is_leader = self.is_active_controller().await;
        let image = self.image();
        self.liveness.lock().expired(
            is_leader,
            image.brokers().map(|b| b.broker_id),
            image.live_brokers().map(|b| b.broker_id),
            Instant::now(),
            session_timeout,
        )
    }

    /// On the active controller: fences the brokers that went silent.
    pub(crate) async fn fence_silent_brokers(&self, session_timeout: Duration) {
        for expired in self.expired_brokers(session_timeout).await {
            tracing::warn!(broker = expired, "no heartbeat for {} ms: fencing the broker", session_timeout.as_millis());
            if let Err(e) = self.submit(ControllerRequest::FenceBroker { broker_id: expired }).await {
                tracing::warn!(broker = expired, "fencing failed: {:?}", e.message);
            }
        }
    }

    /// Resolves when the quorum member stopped by itself, with why (see
    /// [`Quorum::failure`]).
    pub(crate) async fn failure(&self) -> String {
        let failure = match self.quorum.read().await.as_ref() {
            Some(quorum) => quorum.failure(),
            None => return std::future::pending().await,
        };
        failure.await
    }

    /// Stops the quorum member.
    pub(crate) async fn shutdown(&self) {
        if let Some(quorum) = self.quorum.write().await.take() {
            quorum.shutdown().await;
        }
    }
}

/// What a node whose metadata log failed says as it stops.
pub(crate) fn metadata_log_failed(reason: &str) -> String {
    format!(
        "the metadata log failed ({reason}); the node stopped, as its quorum member cannot go on. Check the disk \
         (kernel log, free space), then start it again: the metadata log is recovered and caught up from the quorum"
    )
}

fn submit_error(e: SubmitError) -> KafkaError {
    match e {
        SubmitError::Rejected(e) => e.into(),
        SubmitError::Timeout | SubmitError::LeaderChanged { .. } => {
            KafkaError::with_message(ResponseError::RequestTimedOut, e.to_string())
        }
        SubmitError::TooLarge { .. } => KafkaError::with_message(ResponseError::InvalidRequest, e.to_string()),
        SubmitError::NotLeader { .. } | SubmitError::NoLeader | SubmitError::Io(_) | SubmitError::ShuttingDown => {
            KafkaError::with_message(ResponseError::NotController, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_in_any_order_give_one_cluster_id() {
        let a = cluster_id_for_voters(&[(1, "h1:9093".into()), (2, "h2:9093".into()), (3, "h3:9093".into())]);
        let b = cluster_id_for_voters(&[(3, "h3:9093".into()), (1, "h1:9093".into()), (2, "h2:9093".into())]);
        let c = cluster_id_for_voters(&[(1, "h1:9093".into()), (2, "h2:9093".into()), (4, "h4:9093".into())]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 22);
    }
}
