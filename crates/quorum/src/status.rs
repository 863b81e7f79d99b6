//! [`QuorumStatus`]: what one node knows about the metadata quorum, for `spool cluster`
//! and DescribeQuorum-style reports.

use openraft::{BasicNode, RaftMetrics, ServerState};

use crate::raft_types::node_id;

/// This node's part in the quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumRole {
    Leader,
    Follower,
    Candidate,
    /// Receives the committed log without voting (a broker-only node).
    Learner,
    Shutdown,
}

/// How far one follower or learner is behind the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLag {
    pub node_id: i32,
    /// The last index known to be stored on that node.
    pub matched_index: Option<u64>,
    /// Entries the leader has that the node is not known to have.
    pub lag_entries: u64,
}

/// A snapshot of this node's view of the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub node_id: i32,
    pub role: QuorumRole,
    pub leader_id: Option<i32>,
    /// The Raft term (KRaft's leader epoch).
    pub term: u64,
    /// Voter ids of the effective membership.
    pub voters: Vec<i32>,
    /// Learner ids of the effective membership.
    pub learners: Vec<i32>,
    pub last_log_index: Option<u64>,
    /// The last index this node knows to be committed.
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// The last index covered by this node's snapshot.
    pub snapshot_index: Option<u64>,
    /// The last index deleted from this node's log (entries up to it live only in the
    /// snapshot; a node further behind catches up by receiving the snapshot).
    pub purged_index: Option<u64>,
    /// On the leader: every other member's lag; empty elsewhere.
    pub replicas: Vec<ReplicaLag>,
    /// On the leader: how long ago a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
}

impl QuorumStatus {
    /// Builds the status from openraft's metrics; `committed_plus_one` is the committed
    /// index + 1 (0 for none) as the log store records it.
    pub(crate) fn from_metrics(metrics: &RaftMetrics<u64, BasicNode>, committed_plus_one: u64) -> QuorumStatus {
        let role = match metrics.state {
            ServerState::Leader => QuorumRole::Leader,
            ServerState::Follower => QuorumRole::Follower,
            ServerState::Candidate => QuorumRole::Candidate,
            ServerState::Learner => QuorumRole::Learner,
            ServerState::Shutdown => QuorumRole::Shutdown,
        };
        let membership = metrics.membership_config.membership();
        let last = metrics.last_log_index.unwrap_or(0);
        let replicas = metrics
            .replication
            .iter()
            .flatten()
            .filter(|(id, _)| **id != metrics.id)
            .map(|(id, matched)| {
                let matched_index = matched.map(|m| m.index);
                let lag_entries = match matched_index {
                    Some(m) => last.saturating_sub(m),
                    None => metrics.last_log_index.map_or(0, |l| l + 1),
                };
                ReplicaLag { node_id: node_id(*id), matched_index, lag_entries }
            })
            .collect();
        QuorumStatus {
            node_id: node_id(metrics.id),
            role,
            leader_id: metrics.current_leader.map(node_id),
            term: metrics.current_term,
            voters: membership.voter_ids().map(node_id).collect(),
            learners: membership.learner_ids().map(node_id).collect(),
            last_log_index: metrics.last_log_index,
            committed_index: committed_plus_one.checked_sub(1),
            applied_index: metrics.last_applied.map(|id| id.index),
            snapshot_index: metrics.snapshot.map(|id| id.index),
            purged_index: metrics.purged.map(|id| id.index),
            replicas,
            millis_since_quorum_ack: metrics.millis_since_quorum_ack,
        }
    }
}
