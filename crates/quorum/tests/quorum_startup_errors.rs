//! Inconsistent settings and foreign data directories fail at start with a clear error.
#![allow(clippy::unwrap_used)]

mod harness;

use harness::*;
use spool_quorum::{Quorum, QuorumError};

async fn start_error(config: spool_quorum::QuorumConfig) -> QuorumError {
    match Quorum::start(config).await {
        Ok(quorum) => {
            quorum.shutdown().await;
            panic!("start should have failed")
        }
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_voter_ids_and_a_controller_missing_from_the_voters_are_refused() {
    init_tracing();
    let spec = ClusterSpec::new(&[1, 2], &[3]);
    let mut duplicate = spec.config(1);
    duplicate.voters.push((2, "127.0.0.1:1".into()));
    let e = start_error(duplicate).await;
    assert!(matches!(e, QuorumError::Config(_)) && e.to_string().contains("voter id 2 more than once"), "{e}");

    let mut missing = spec.config(3);
    missing.is_voter = true;
    let e = start_error(missing).await;
    assert!(matches!(e, QuorumError::Config(_)) && e.to_string().contains("not in controller.quorum.voters"), "{e}");

    let mut no_address = spec.config(3);
    no_address.advertised = String::new();
    let e = start_error(no_address).await;
    assert!(e.to_string().contains("advertised"), "{e}");
    // Nothing was written for refused configurations.
    assert!(!spec.data_dir(1).exists() && !spec.data_dir(3).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clusters_or_nodes_directory_is_refused() {
    init_tracing();
    let spec = ClusterSpec::new(&[1], &[]);
    let node = spec.start(1).await;
    bounded("register", node.submit(register(1))).await.expect("register");
    node.shutdown().await;

    let mut other_cluster = spec.config(1);
    other_cluster.cluster_id = "someone-else".into();
    let e = start_error(other_cluster).await;
    assert!(matches!(e, QuorumError::ForeignState(_)) && e.to_string().contains("cluster"), "{e}");

    let mut other_voters = spec.config(1);
    other_voters.voters.push((2, "127.0.0.1:1".into()));
    let e = start_error(other_voters).await;
    assert!(matches!(e, QuorumError::ForeignState(_)) && e.to_string().contains("voters"), "{e}");

    // Node 2's configuration pointed at node 1's directory.
    let spec2 = ClusterSpec::new(&[2], &[]);
    let mut wrong_node = spec2.config(2);
    wrong_node.cluster_id = spec.cluster_id.clone();
    wrong_node.data_dir = spec.data_dir(1);
    let e = start_error(wrong_node).await;
    assert!(matches!(e, QuorumError::ForeignState(_)) && e.to_string().contains("node.id=1"), "{e}");

    // The rightful owner still starts and keeps its state.
    let node = spec.start(1).await;
    image_where(&node, "broker 1 registered", |i| i.broker(1).is_some()).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_listener_port_is_a_start_error() {
    init_tracing();
    let spec = ClusterSpec::new(&[1], &[]);
    let _squatter = std::net::TcpListener::bind(format!("127.0.0.1:{}", spec.ports[&1])).expect("bind");
    let e = start_error(spec.config(1)).await;
    assert!(matches!(e, QuorumError::Bind { .. }), "{e}");
}
