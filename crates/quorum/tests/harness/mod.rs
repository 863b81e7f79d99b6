//! Shared set-up for the quorum behaviour tests: nodes in this process, each with its own
//! data directory and a controller listener on a 127.0.0.1 port.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spool_metadata::controller::{ControllerReply, ControllerRequest, NewTopic, TopicDefaults};
use spool_metadata::records::{BrokerEndpoint, BrokerRecord};
use spool_metadata::MetadataImage;
use spool_quorum::{Quorum, QuorumConfig, QuorumTimeouts};
use uuid::Uuid;

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,spool_quorum=info")),
        )
        .with_test_writer()
        .try_init();
}

/// `n` distinct ports on 127.0.0.1 that were free a moment ago (held together while
/// they are picked: one at a time, the kernel may hand out a just-released port again).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port")).collect();
    held.iter().map(|l| l.local_addr().expect("local addr").port()).collect()
}

/// Fast timeouts so elections and failovers finish quickly in tests.
pub fn test_timeouts() -> QuorumTimeouts {
    QuorumTimeouts {
        heartbeat_ms: 50,
        election_min_ms: 300,
        election_max_ms: 600,
        rpc_ms: 500,
        snapshot_chunk_ms: 5000,
        submit_ms: 10_000,
        waiting_log_interval_ms: 1000,
    }
}

/// The nodes of one test cluster: ids, ports, and data directories.
pub struct ClusterSpec {
    pub cluster_id: String,
    pub root: tempfile::TempDir,
    pub voters: Vec<(i32, String)>,
    pub ports: BTreeMap<i32, u16>,
}

impl ClusterSpec {
    /// `voter_ids` vote; `learner_ids` get ports and directories too.
    pub fn new(voter_ids: &[i32], learner_ids: &[i32]) -> ClusterSpec {
        let ids: Vec<i32> = voter_ids.iter().chain(learner_ids).copied().collect();
        let ports: BTreeMap<i32, u16> = ids.iter().copied().zip(free_ports(ids.len())).collect();
        let voters = voter_ids.iter().map(|id| (*id, format!("127.0.0.1:{}", ports[id]))).collect();
        ClusterSpec {
            cluster_id: format!("test-{}", Uuid::new_v4().simple()),
            root: tempfile::tempdir().expect("temp dir"),
            voters,
            ports,
        }
    }

    pub fn data_dir(&self, id: i32) -> PathBuf {
        self.root.path().join(format!("node-{id}"))
    }

    pub fn config(&self, id: i32) -> QuorumConfig {
        let is_voter = self.voters.iter().any(|(v, _)| *v == id);
        let listen: SocketAddr = format!("127.0.0.1:{}", self.ports[&id]).parse().expect("address");
        let mut config = QuorumConfig::new(id, self.cluster_id.clone(), self.data_dir(id), listen, self.voters.clone(), is_voter);
        if !is_voter {
            config.advertised = listen.to_string();
        }
        config.timeouts = test_timeouts();
        config
    }

    pub async fn start(&self, id: i32) -> Quorum {
        Quorum::start(self.config(id)).await.unwrap_or_else(|e| panic!("node {id} failed to start: {e}"))
    }
}

/// Polls `check` until it holds or [`WAIT`] passes.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out after {WAIT:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every node of `nodes` knows the same leader, and returns it.
pub async fn agreed_leader(nodes: &[&Quorum]) -> i32 {
    let mut leader = None;
    eventually("all nodes agree on one leader", || {
        let leaders: Vec<Option<i32>> = nodes.iter().map(|n| n.leader_id()).collect();
        leader = leaders[0];
        leader.is_some() && leaders.iter().all(|l| *l == leader)
    })
    .await;
    leader.expect("a leader")
}

/// Waits until `node`'s image satisfies `check`.
pub async fn image_where<F: Fn(&MetadataImage) -> bool>(node: &Quorum, what: &str, check: F) -> Arc<MetadataImage> {
    let mut image = node.image();
    let result = tokio::time::timeout(WAIT, image.wait_for(|i| check(i))).await;
    match result {
        Ok(Ok(image)) => image.clone(),
        _ => panic!("timed out after {WAIT:?} waiting for node image: {what}"),
    }
}

/// Runs `future` with the [`WAIT`] bound.
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future).await.unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

pub fn register(broker_id: i32) -> ControllerRequest {
    ControllerRequest::RegisterBroker(BrokerRecord { broker_id, endpoints: vec![BrokerEndpoint::plaintext("PLAINTEXT", "127.0.0.1", 9000 + broker_id)], rack: None })
}

pub fn create_topic(name: &str, partitions: i32) -> ControllerRequest {
    ControllerRequest::CreateTopic {
        topic: NewTopic { name: name.into(), num_partitions: partitions, replication_factor: 1, ..Default::default() },
        topic_id: Uuid::new_v4(),
        defaults: TopicDefaults { num_partitions: 1, replication_factor: 1 },
        validate_only: false,
    }
}

pub fn block_start(reply: ControllerReply) -> i64 {
    match reply {
        ControllerReply::ProducerIdBlock { first } => first,
        other => panic!("expected a producer id block, got {other:?}"),
    }
}

/// The parts of an image the tests compare across nodes.
pub fn summary(image: &MetadataImage) -> (Vec<i32>, Vec<(String, Uuid, usize)>, i64) {
    (
        image.brokers().map(|b| b.broker_id).collect(),
        image.topics().map(|t| (t.name.clone(), t.topic_id, t.partitions.len())).collect(),
        image.next_producer_id(),
    )
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
