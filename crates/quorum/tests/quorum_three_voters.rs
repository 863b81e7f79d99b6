//! Three voters in this process: election, forwarding, failover, minority loss, catch-up.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::Duration;

use harness::*;
use spool_metadata::controller::ControllerRequest;
use spool_quorum::{Quorum, QuorumRole, SubmitError};

async fn start_three(spec: &ClusterSpec) -> Vec<Quorum> {
    let (a, b, c) = tokio::join!(spec.start(1), spec.start(2), spec.start(3));
    vec![a, b, c]
}

fn index_of(nodes: &[Quorum], id: i32) -> usize {
    nodes.iter().position(|n| n.status().node_id == id).expect("node present")
}

async fn allocate(node: &Quorum) -> i64 {
    block_start(bounded("allocate producer ids", node.submit(ControllerRequest::AllocateProducerIds)).await.expect("allocate"))
}

/// Waits until every node's image matches the leader's.
async fn converged(nodes: &[&Quorum]) {
    eventually("all images converge", || {
        let summaries: Vec<_> = nodes.iter().map(|n| summary(&n.image().borrow())).collect();
        summaries.iter().all(|s| *s == summaries[0])
    })
    .await;
}

/// Waits until every node agrees on a leader other than `old`.
async fn new_leader(nodes: &[&Quorum], old: i32) -> i32 {
    eventually("a new leader is elected", || nodes.iter().all(|n| n.leader_id().is_some_and(|l| l != old))).await;
    agreed_leader(nodes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_one_leader_and_every_submit_commits_once() {
    init_tracing();
    let spec = ClusterSpec::new(&[1, 2, 3], &[]);
    let nodes = start_three(&spec).await;
    let leader = agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let leaders = nodes.iter().filter(|n| n.status().role == QuorumRole::Leader).count();
    assert_eq!(leaders, 1, "exactly one leader");
    let follower = nodes.iter().find(|n| n.status().node_id != leader).expect("a follower");

    // Through a follower: forwarded, committed once, applied on the follower before it returns.
    for broker in 1..=3 {
        bounded("register", follower.submit(register(broker))).await.expect("register through a follower");
    }
    bounded("create", follower.submit(create_topic("events", 6))).await.expect("create through a follower");
    assert!(follower.image().borrow().topic("events").is_some(), "the follower applied the change before returning");

    // Producer id blocks through every node in turn: each allocation commits exactly once.
    let mut firsts = Vec::new();
    for round in 0..3 {
        for node in &nodes {
            firsts.push(allocate(node).await);
            let _ = round;
        }
    }
    assert_eq!(firsts, (0..9).map(|i| i * 1000).collect::<Vec<_>>());

    converged(&nodes.iter().collect::<Vec<_>>()).await;
    let image = nodes[0].image().borrow().clone();
    assert_eq!(image.next_producer_id(), 9000);
    assert_eq!(image.broker_count(), 3);

    let status = nodes[index_of(&nodes, leader)].status();
    assert_eq!(status.voters, vec![1, 2, 3]);
    assert!(status.term >= 1);
    eventually("followers report no lag", || {
        let s = nodes[index_of(&nodes, leader)].status();
        s.replicas.len() == 2 && s.replicas.iter().all(|r| r.lag_entries == 0)
    })
    .await;
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_elects_another_and_the_old_one_catches_up() {
    init_tracing();
    let spec = ClusterSpec::new(&[1, 2, 3], &[]);
    let mut nodes = start_three(&spec).await;
    let old_leader = agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    assert_eq!(allocate(&nodes[0]).await, 0);
    bounded("register", nodes[1].submit(register(1))).await.expect("register");
    let old_term = nodes[0].status().term;

    let stopped = nodes.remove(index_of(&nodes, old_leader));
    stopped.shutdown().await;
    let new_leader = new_leader(&nodes.iter().collect::<Vec<_>>(), old_leader).await;
    assert!(nodes[0].status().term > old_term, "a new term");

    // Submits keep working through both survivors.
    assert_eq!(allocate(&nodes[0]).await, 1000);
    assert_eq!(allocate(&nodes[1]).await, 2000);
    bounded("create", nodes[1].submit(create_topic("after-failover", 2))).await.expect("create");

    // The old leader restarts from its directory and catches up as a follower.
    let restarted = spec.start(old_leader).await;
    image_where(&restarted, "the old leader catches up", |i| i.next_producer_id() == 3000 && i.topic("after-failover").is_some()).await;
    nodes.push(restarted);
    converged(&nodes.iter().collect::<Vec<_>>()).await;
    assert_eq!(agreed_leader(&nodes.iter().collect::<Vec<_>>()).await, new_leader, "a returning node does not disturb the leader");
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_down_changes_nothing_visible_and_a_majority_down_stops_commits() {
    init_tracing();
    let spec = ClusterSpec::new(&[1, 2, 3], &[]);
    let mut nodes = start_three(&spec).await;
    let leader = agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let term = nodes[index_of(&nodes, leader)].status().term;

    let follower_id = [1, 2, 3].into_iter().find(|id| *id != leader).expect("a follower id");
    nodes.remove(index_of(&nodes, follower_id)).shutdown().await;
    for expected in 0..5 {
        assert_eq!(allocate(&nodes[expected as usize % 2]).await, expected * 1000);
    }
    let status = nodes[index_of(&nodes, leader)].status();
    assert_eq!((status.leader_id, status.term), (Some(leader), term), "same leader, same term");

    // With a majority gone the last node can commit nothing; it says so instead of guessing.
    let other = [1, 2, 3].into_iter().find(|id| *id != leader && *id != follower_id).expect("the other follower");
    nodes.remove(index_of(&nodes, other)).shutdown().await;
    let alone = &nodes[0];
    let started = std::time::Instant::now();
    let result = bounded("submit without a majority", alone.submit(ControllerRequest::AllocateProducerIds)).await;
    assert!(
        matches!(result, Err(SubmitError::Timeout) | Err(SubmitError::NoLeader) | Err(SubmitError::NotLeader { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(5), "it waited for the submit deadline");
    assert_eq!(alone.image().borrow().next_producer_id(), 5000, "nothing was applied");

    // A majority again: the uncommitted state resolves and submits work.
    let back = spec.start(other).await;
    nodes.push(back);
    agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let next = allocate(&nodes[1]).await;
    assert!(next == 5000 || next == 6000, "the timed-out allocation committed at most once: {next}");
    converged(&nodes.iter().collect::<Vec<_>>()).await;
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_the_purged_log_catches_up_through_a_snapshot() {
    init_tracing();
    let spec = ClusterSpec::new(&[1, 2, 3], &[]);
    let start = |id: i32| {
        let mut config = spec.config(id);
        config.limits.snapshot_every_entries = 4;
        config.limits.entries_kept_below_snapshot = 0;
        Quorum::start(config)
    };
    let (a, b, c) = tokio::join!(start(1), start(2), start(3));
    let mut nodes = vec![a.expect("1"), b.expect("2"), c.expect("3")];
    let leader = agreed_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let follower_id = [1, 2, 3].into_iter().find(|id| *id != leader).expect("a follower id");
    let stopped = nodes.remove(index_of(&nodes, follower_id));
    let stopped_last_index = stopped.status().last_log_index;
    stopped.shutdown().await;

    bounded("register", nodes[0].submit(register(1))).await.expect("register");
    bounded("create", nodes[0].submit(create_topic("snap", 3))).await.expect("create");
    for expected in 0..20 {
        assert_eq!(allocate(&nodes[0]).await, expected * 1000);
    }
    let leader_node = &nodes[index_of(&nodes, leader)];
    eventually("the leader snapshots and purges past the stopped follower's log", || {
        let status = leader_node.status();
        status.snapshot_index >= Some(16) && status.purged_index > stopped_last_index
    })
    .await;

    let restarted = start(follower_id).await.expect("restart");
    let image = image_where(&restarted, "caught up through a snapshot", |i| i.next_producer_id() == 20_000).await;
    assert!(image.topic("snap").is_some());
    eventually("the restarted node holds a snapshot", || restarted.status().snapshot_index.is_some()).await;
    nodes.push(restarted);
    converged(&nodes.iter().collect::<Vec<_>>()).await;
    for node in nodes {
        node.shutdown().await;
    }
}
