//! A quorum of one voter: the same code path as a cluster, committing alone.
#![allow(clippy::unwrap_used)]

mod harness;

use harness::*;
use spool_metadata::controller::{ControllerError, ControllerRequest};
use spool_quorum::{QuorumRole, SubmitError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_voter_commits_and_restarts_with_its_image() {
    init_tracing();
    let spec = ClusterSpec::new(&[1], &[]);
    let node = spec.start(1).await;
    assert_eq!(bounded("leader", node.wait_for_leader(WAIT)).await, Ok(1));

    bounded("register", node.submit(register(1))).await.expect("register");
    bounded("create", node.submit(create_topic("orders", 3))).await.expect("create topic");
    let first = block_start(bounded("pids", node.submit(ControllerRequest::AllocateProducerIds)).await.expect("pids"));
    let second = block_start(bounded("pids", node.submit(ControllerRequest::AllocateProducerIds)).await.expect("pids"));
    assert_eq!((first, second), (0, 1000));
    let refused = bounded("duplicate create", node.submit(create_topic("orders", 1))).await;
    assert_eq!(refused, Err(SubmitError::Rejected(ControllerError::TopicAlreadyExists("orders".into()))));

    // submit returns after the records are applied: the image already shows them.
    let before = summary(&node.image().borrow());
    assert_eq!(before.0, vec![1]);
    assert_eq!(before.1.len(), 1);
    assert_eq!(before.1[0].2, 3, "three partitions");
    assert_eq!(before.2, 2000);
    let status = node.status();
    assert_eq!((status.role, status.leader_id, status.voters.clone()), (QuorumRole::Leader, Some(1), vec![1]));
    assert!(status.committed_index >= Some(4), "membership, blank and three writes committed: {status:?}");
    // Metrics trail the state machine a little: wait for them to catch up.
    eventually("applied index reaches the committed index", || {
        let s = node.status();
        s.applied_index == s.committed_index
    })
    .await;
    node.shutdown().await;

    let node = spec.start(1).await;
    // The committed entries are re-applied at start, before any leader exists.
    let image = image_where(&node, "the image is restored", |i| i.topic("orders").is_some()).await;
    assert_eq!(summary(&image), before);
    let third = block_start(bounded("pids after restart", node.submit(ControllerRequest::AllocateProducerIds)).await.expect("pids"));
    assert_eq!(third, 2000, "no producer id block is handed out twice across a restart");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_from_a_snapshot_plus_the_log_after_it() {
    init_tracing();
    let spec = ClusterSpec::new(&[1], &[]);
    let mut config = spec.config(1);
    config.limits.snapshot_every_entries = 5;
    config.limits.entries_kept_below_snapshot = 0;
    let node = spool_quorum::Quorum::start(config.clone()).await.expect("start");
    for i in 0..13 {
        let first = block_start(bounded("pids", node.submit(ControllerRequest::AllocateProducerIds)).await.expect("pids"));
        assert_eq!(first, i * 1000);
    }
    eventually("a snapshot is taken and the log below it purged", || node.status().snapshot_index >= Some(10)).await;
    let snapshot_index = node.status().snapshot_index;
    node.shutdown().await;
    let dir = config.quorum_dir();
    assert!(dir.join("snapshot").exists());

    let node = spool_quorum::Quorum::start(config).await.expect("restart");
    let image = image_where(&node, "snapshot + log replayed", |i| i.next_producer_id() == 13_000).await;
    assert_eq!(image.next_producer_id(), 13_000);
    assert_eq!(node.status().snapshot_index, snapshot_index);
    let next = block_start(bounded("pids", node.submit(ControllerRequest::AllocateProducerIds)).await.expect("pids"));
    assert_eq!(next, 13_000);
    node.shutdown().await;
}
