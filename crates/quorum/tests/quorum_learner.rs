//! Nodes that are not voters follow the committed metadata as Raft learners.
#![allow(clippy::unwrap_used)]

mod harness;

use harness::*;
use spool_metadata::controller::ControllerRequest;
use spool_quorum::QuorumRole;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_receives_the_committed_image_and_forwards_requests() {
    init_tracing();
    let spec = ClusterSpec::new(&[1, 2, 3], &[4]);
    // The learner starts first: it waits (and says so) until a leader exists to add it.
    let learner = spec.start(4).await;
    let (a, b, c) = tokio::join!(spec.start(1), spec.start(2), spec.start(3));
    let voters = [a, b, c];
    let leader = agreed_leader(&voters.iter().collect::<Vec<_>>()).await;

    bounded("register", voters[0].submit(register(1))).await.expect("register");
    bounded("create", voters[1].submit(create_topic("followed", 4))).await.expect("create");
    let image = image_where(&learner, "the learner sees the topic", |i| i.topic("followed").is_some()).await;
    assert_eq!(image.topic("followed").map(|t| t.partitions.len()), Some(4));

    let status = learner.status();
    assert_eq!(status.role, QuorumRole::Learner);
    assert_eq!(status.voters, vec![1, 2, 3]);
    assert_eq!(status.learners, vec![4]);
    assert_eq!(status.leader_id, Some(leader));
    let leader_node = voters.iter().find(|v| v.status().node_id == leader).expect("leader");
    eventually("the leader tracks the learner's lag", || {
        leader_node.status().replicas.iter().any(|r| r.node_id == 4 && r.lag_entries == 0)
    })
    .await;

    // A learner's request goes to the leader; the learner has applied it when submit returns.
    let first = block_start(bounded("pids", learner.submit(ControllerRequest::AllocateProducerIds)).await.expect("pids"));
    assert_eq!(first, 0);
    assert_eq!(learner.image().borrow().next_producer_id(), 1000);

    // A restarted learner keeps its membership and catches up on what it missed.
    learner.shutdown().await;
    bounded("create", voters[2].submit(create_topic("missed", 1))).await.expect("create");
    let learner = spec.start(4).await;
    image_where(&learner, "the restarted learner catches up", |i| i.topic("missed").is_some()).await;
    assert_eq!(learner.status().role, QuorumRole::Learner);

    learner.shutdown().await;
    for voter in voters {
        voter.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_follows_a_quorum_of_one() {
    init_tracing();
    let spec = ClusterSpec::new(&[1], &[7]);
    let voter = spec.start(1).await;
    bounded("register", voter.submit(register(1))).await.expect("register");
    let learner = spec.start(7).await;
    image_where(&learner, "the learner has the broker", |i| i.broker(1).is_some()).await;
    // A learner never counts towards the majority: the single voter still commits alone.
    assert_eq!(voter.status().voters, vec![1]);
    bounded("create", learner.submit(create_topic("t", 1))).await.expect("create through the learner");
    image_where(&voter, "the voter has the topic", |i| i.topic("t").is_some()).await;
    learner.shutdown().await;
    voter.shutdown().await;
}
