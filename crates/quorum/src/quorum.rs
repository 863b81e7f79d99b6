//! [`Quorum`]: one node's Raft instance, its controller listener and background tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};
use spool_metadata::controller::{ControllerReply, ControllerRequest};
use spool_metadata::MetadataImage;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::QuorumConfig;
use crate::error::{IoContext, QuorumError, SubmitError};
use crate::log_store::LogStore;
use crate::network::{Local, Network};
use crate::quorum_state::QuorumStateFile;
use crate::raft_log::{RaftLog, RaftLogError};
use crate::raft_types::{node_id, raft_id, Raft};
use crate::status::QuorumStatus;
use crate::submit::PendingWrite;
use crate::wire::Sender;
use crate::{learner, listener, monitor, quorum_identity, snapshot_file, state_machine};

/// Segment files of the Raft log roll at this size.
const LOG_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// The state shared by the public handle, the listener and the background tasks.
pub(crate) struct QuorumNode {
    pub config: QuorumConfig,
    pub raft: Raft,
    pub image: watch::Receiver<Arc<MetadataImage>>,
    /// One decide + propose at a time; holds a proposal whose submit timed out until it
    /// resolves, so the next decision cannot miss it.
    pub proposer: tokio::sync::Mutex<Option<PendingWrite>>,
    /// Index + 1 of the last committed entry known here; 0 for none.
    pub committed: Arc<AtomicU64>,
    pub local: Arc<Local>,
    pub stopping: AtomicBool,
    last_refusal_logged: Mutex<Option<Instant>>,
}

impl QuorumNode {
    pub(crate) fn me(&self) -> i32 {
        self.config.node_id
    }

    /// The leader this node knows of.
    pub(crate) fn leader(&self) -> Option<i32> {
        self.raft.metrics().borrow().current_leader.map(node_id)
    }

    /// Where node `id` listens: the configured address of a voter, else the advertised
    /// address it joined with.
    pub(crate) fn address_of(&self, id: i32) -> Option<String> {
        if let Some(address) = self.local.voters.get(&id) {
            return Some(address.clone());
        }
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.membership_config.membership().get_node(&raft_id(id)).map(|node| node.addr.clone())
    }

    /// Refuses requests from another cluster or a node configured with other voters.
    pub(crate) fn check_sender(&self, sender: &Sender) -> Result<(), String> {
        let ours = &self.local.sender;
        if sender.cluster_id != ours.cluster_id {
            return Err(format!(
                "node {} belongs to cluster '{}', but node {} belongs to cluster '{}'",
                sender.node_id, sender.cluster_id, ours.node_id, ours.cluster_id
            ));
        }
        if sender.voters != ours.voters {
            return Err(format!(
                "node {} is configured with voters {:?}, but node {} with voters {:?}; controller.quorum.voters must name the same ids on every node",
                sender.node_id, sender.voters, ours.node_id, ours.voters
            ));
        }
        Ok(())
    }

    /// Logs a refused peer at most every few seconds (it retries much more often).
    pub(crate) fn log_refusal(&self, peer: SocketAddr, reason: &str) {
        let Ok(mut last) = self.last_refusal_logged.lock() else { return };
        let interval = Duration::from_millis(self.config.timeouts.waiting_log_interval_ms);
        if last.is_none_or(|at| at.elapsed() >= interval) {
            tracing::error!(%peer, "refused a controller connection: {reason}");
            *last = Some(Instant::now());
        }
    }
}

/// One node of the metadata quorum (see the crate docs).
pub struct Quorum {
    node: Arc<QuorumNode>,
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Quorum {
    /// Starts (or restarts from disk) this node's Raft instance and controller listener.
    ///
    /// A voter of a fresh cluster initialises the membership to the configured voters;
    /// all voters may do so, they propose the same membership and openraft keeps one.
    /// A node that is not a voter asks the leader to add it as a learner, and keeps
    /// asking (logging that it waits) until it is a member.
    ///
    /// # Errors
    /// [`QuorumError::Config`] for inconsistent settings; [`QuorumError::ForeignState`]
    /// when the quorum directory belongs to another cluster, node or voter set;
    /// [`QuorumError::Corrupt`] / [`QuorumError::Io`] for unusable files;
    /// [`QuorumError::Bind`] when the listener cannot be bound; [`QuorumError::Raft`].
    pub async fn start(config: QuorumConfig) -> Result<Quorum, QuorumError> {
        config.validate()?;
        let dir = config.quorum_dir();
        std::fs::create_dir_all(&dir).io_context("creating the quorum directory", &dir)?;
        quorum_identity::check_or_create(&dir, &config)?;

        let log = RaftLog::open(&dir, LOG_SEGMENT_BYTES, config.limits.frame_bytes_max).map_err(|e| match e {
            RaftLogError::Io { context, path, source } => QuorumError::Io { context, path, source },
            RaftLogError::Corrupt { path, detail } => QuorumError::Corrupt { path, detail },
            other => QuorumError::Corrupt { path: dir.clone(), detail: other.to_string() },
        })?;
        let state = QuorumStateFile::open(&dir).io_context("reading the quorum state", dir.join("quorum-state"))?;
        let log_store = LogStore::new(log, state);
        let committed = log_store.committed_index();
        let (image_tx, image_rx) = watch::channel(Arc::new(MetadataImage::default()));
        let state_machine = state_machine::StateMachine::open(dir.clone(), image_tx).map_err(|e| match e {
            snapshot_file::SnapshotError::Io { path, source } => {
                QuorumError::Io { context: "reading the metadata snapshot", path, source }
            }
            other => QuorumError::Corrupt { path: dir.join(snapshot_file::FILE_NAME), detail: other.to_string() },
        })?;

        let listener =
            TcpListener::bind(config.listen).await.map_err(|source| QuorumError::Bind { address: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| QuorumError::Bind { address: config.listen, source })?;

        let local = Arc::new(Local {
            sender: Sender {
                cluster_id: config.cluster_id.clone(),
                node_id: config.node_id,
                voters: config.voter_ids().into_iter().collect(),
            },
            voters: config.voters.iter().cloned().collect(),
            frame_bytes_max: config.limits.frame_bytes_max,
            rpc_timeout: config.rpc_timeout(),
        });
        let raft_config = raft_config(&config)?;
        let raft = Raft::new(raft_id(config.node_id), raft_config, Network { local: local.clone() }, log_store, state_machine)
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;

        let node = Arc::new(QuorumNode {
            config,
            raft,
            image: image_rx,
            proposer: tokio::sync::Mutex::new(None),
            committed,
            local,
            stopping: AtomicBool::new(false),
            last_refusal_logged: Mutex::new(None),
        });
        let mut tasks = vec![tokio::spawn(listener::serve(listener, node.clone()))];
        tasks.push(tokio::spawn(monitor::watch_leader(node.clone())));
        if node.config.is_voter {
            if let Err(e) = initialize(&node).await {
                tasks.iter().for_each(JoinHandle::abort);
                let _ = node.raft.shutdown().await;
                return Err(e);
            }
        } else {
            tasks.push(tokio::spawn(learner::join(node.clone())));
        }
        tracing::info!(
            node_id = node.config.node_id,
            voter = node.config.is_voter,
            listen = %local_addr,
            voters = %node.config.voters_display(),
            "metadata quorum node started"
        );
        Ok(Quorum { node, local_addr, tasks })
    }

    /// The committed metadata image, advanced as entries are applied.
    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.node.image.clone()
    }

    /// Runs a controller request and returns its reply once its records are committed
    /// and applied on this node.
    ///
    /// On the leader, [`spool_metadata::controller::decide`] runs against the leader's
    /// applied image and its records are proposed, one request at a time, so every
    /// decision sees all earlier ones. Elsewhere the request is forwarded to the leader
    /// over the controller listener. Retries happen only while nothing can have been
    /// written (no leader yet, a node that is not the leader, a refused connection).
    ///
    /// # Errors
    /// [`SubmitError`]; [`SubmitError::nothing_written`] tells whether a retry is safe.
    ///
    /// # Cancel safety
    /// Cancelling does not withdraw a proposal already made; the next submit waits for it.
    pub async fn submit(&self, request: ControllerRequest) -> Result<ControllerReply, SubmitError> {
        self.node.submit(request).await
    }

    /// The leader this node knows of.
    pub fn leader_id(&self) -> Option<i32> {
        self.node.leader()
    }

    /// Role, term, membership, log positions and (on the leader) each follower's lag.
    pub fn status(&self) -> QuorumStatus {
        QuorumStatus::from_metrics(&self.node.raft.metrics().borrow(), self.node.committed.load(Ordering::Acquire))
    }

    /// The address the controller listener is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until this node knows a leader, or `timeout` passes.
    ///
    /// # Errors
    /// [`SubmitError::NoLeader`] at the timeout; [`SubmitError::ShuttingDown`].
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<i32, SubmitError> {
        let result = self.node.raft.wait(Some(timeout)).metrics(|m| m.current_leader.is_some(), "a leader is known").await;
        match result {
            Ok(metrics) => metrics.current_leader.map(node_id).ok_or(SubmitError::NoLeader),
            Err(openraft::metrics::WaitError::Timeout(..)) => Err(SubmitError::NoLeader),
            Err(openraft::metrics::WaitError::ShuttingDown) => Err(SubmitError::ShuttingDown),
        }
    }

    /// Resolves when Raft stopped by itself, with why: the metadata log could not be
    /// written or fsynced (openraft's storage error), or its core panicked. Pending while
    /// Raft runs, and for good once [`Quorum::shutdown`] stopped it.
    pub fn failure(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut metrics = self.node.raft.metrics();
        async move {
            loop {
                let failed = match &metrics.borrow_and_update().running_state {
                    Ok(()) | Err(openraft::error::Fatal::Stopped) => None,
                    Err(fatal) => Some(fatal.to_string()),
                };
                if let Some(reason) = failed {
                    return reason;
                }
                if metrics.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Stops the listener, the background tasks and the Raft instance. Everything
    /// acknowledged is already durable; nothing more is written.
    pub async fn shutdown(mut self) {
        self.stop_tasks();
        if let Err(e) = self.node.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
        tracing::info!(node_id = self.node.config.node_id, "metadata quorum node stopped");
    }

    fn stop_tasks(&mut self) {
        self.node.stopping.store(true, Ordering::Release);
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Quorum {
    /// Without [`Quorum::shutdown`], stops the tasks and asks Raft to stop in the background.
    fn drop(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        self.stop_tasks();
        let raft = self.node.raft.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = raft.shutdown().await;
            });
        }
    }
}

fn raft_config(config: &QuorumConfig) -> Result<Arc<Config>, QuorumError> {
    let t = &config.timeouts;
    let l = &config.limits;
    let raft_config = Config {
        cluster_name: config.cluster_id.clone(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_min_ms,
        election_timeout_max: t.election_max_ms,
        install_snapshot_timeout: t.snapshot_chunk_ms,
        max_payload_entries: l.append_entries_max,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(l.snapshot_every_entries),
        max_in_snapshot_log_to_keep: l.entries_kept_below_snapshot,
        snapshot_max_chunk_size: l.snapshot_chunk_bytes,
        ..Config::default()
    };
    raft_config.validate().map(Arc::new).map_err(|e| QuorumError::Config(format!("raft: {e}")))
}

/// Proposes the configured voters as the first membership, unless this node already
/// has Raft state (its own, or entries a leader sent it).
async fn initialize(node: &QuorumNode) -> Result<(), QuorumError> {
    let initialized = node.raft.is_initialized().await.map_err(|e| QuorumError::Raft(e.to_string()))?;
    if initialized {
        return Ok(());
    }
    let members: BTreeMap<u64, BasicNode> =
        node.config.voters.iter().map(|(id, address)| (raft_id(*id), BasicNode { addr: address.clone() })).collect();
    let ids: BTreeSet<u64> = members.keys().copied().collect();
    match node.raft.initialize(members).await {
        Ok(()) => {
            tracing::info!(voters = ?ids, "initialised the metadata quorum membership");
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(QuorumError::Raft(format!("initialising membership: {e}"))),
    }
}
