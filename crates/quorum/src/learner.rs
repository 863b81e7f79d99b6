//! Nodes that are not voters (`process.roles=broker`) follow the metadata log as Raft
//! learners: they receive every committed entry but never vote or count for a majority.
//!
//! Replication is pushed by the leader, so a learner needs a controller listener the
//! leader can reach: it sends `AddLearner { node_id, address }` to the leader (found by
//! asking any voter), which adds it to the membership with that advertised address. The
//! learner keeps checking and asking again (logging that it waits) while it is not a
//! member, so a learner that starts before the voters, or while there is no leader, joins
//! as soon as it can.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};

use crate::network::{CallError, PeerConnection};
use crate::quorum::QuorumNode;
use crate::raft_types::{node_id, raft_id};
use crate::wire::{JoinRefusal, Request, Response};

/// Pause between join attempts.
const JOIN_RETRY: Duration = Duration::from_millis(300);

/// Runs until aborted: joins the membership as a learner and re-joins if removed.
pub(crate) async fn join(node: Arc<QuorumNode>) {
    let me = node.me();
    let address = node.config.advertised_address();
    let interval = Duration::from_millis(node.config.timeouts.waiting_log_interval_ms);
    let started = Instant::now();
    let mut last_logged = Instant::now();
    let mut metrics = node.raft.metrics();
    let mut next = 0usize;
    let mut hint: Option<i32> = None;
    let mut last_failure;
    loop {
        let is_member = metrics.borrow().membership_config.membership().get_node(&raft_id(me)).is_some();
        if is_member {
            // Joined: sleep until the membership changes (or Raft stops).
            if metrics.changed().await.is_err() {
                return;
            }
            continue;
        }
        let target = hint.take().or_else(|| node.leader()).unwrap_or_else(|| {
            next += 1;
            node.config.voters[next % node.config.voters.len()].0
        });
        match ask_to_join(&node, target, me, &address).await {
            Ok(()) => {
                tracing::info!(leader = target, %address, "joined the metadata quorum as a learner");
                // Wait for the membership entry to reach this node before checking again.
                let _ = tokio::time::timeout(interval, metrics.changed()).await;
                continue;
            }
            Err(JoinRefusal::NotLeader { leader }) => {
                hint = leader.filter(|l| *l != target);
                last_failure = format!("node {target} is not the leader");
            }
            Err(refusal) => last_failure = format!("node {target}: {refusal}"),
        }
        if last_logged.elapsed() >= interval {
            tracing::warn!(
                node_id = me,
                waited_s = started.elapsed().as_secs(),
                voters = %node.config.voters_display(),
                "waiting to join the metadata quorum as a learner (last attempt: {last_failure})"
            );
            last_logged = Instant::now();
        }
        if hint.is_none() {
            tokio::time::sleep(JOIN_RETRY).await;
        }
    }
}

async fn ask_to_join(node: &QuorumNode, target: i32, me: i32, address: &str) -> Result<(), JoinRefusal> {
    let Some(target_address) = node.address_of(target) else {
        return Err(JoinRefusal::Failed(format!("no address for node {target}")));
    };
    let mut connection = PeerConnection::new(node.local.clone(), target_address);
    let body = Request::AddLearner { node_id: me, address: address.to_string() };
    // Adding a learner commits a membership entry: give it the submit budget.
    let timeout = Duration::from_millis(node.config.timeouts.submit_ms);
    match connection.call(body, timeout).await {
        Ok(Response::AddLearner(result)) => result,
        Ok(_) => Err(JoinRefusal::Failed(format!("node {target} gave an unexpected answer"))),
        Err(e @ CallError::Refused { .. }) => Err(JoinRefusal::Refused(e.to_string())),
        Err(e) => Err(JoinRefusal::Failed(e.to_string())),
    }
}

impl QuorumNode {
    /// On the leader: makes `learner` a learner reachable at `address` (a no-op when it
    /// already is one with that address).
    pub(crate) async fn add_learner(&self, learner: i32, address: String) -> Result<(), JoinRefusal> {
        if self.leader() != Some(self.me()) {
            return Err(JoinRefusal::NotLeader { leader: self.leader() });
        }
        if learner < 0 {
            return Err(JoinRefusal::Refused(format!("node id {learner} is negative")));
        }
        if self.local.voters.contains_key(&learner) {
            return Err(JoinRefusal::Refused(format!(
                "node id {learner} belongs to a voter; a learner needs an id not in controller.quorum.voters"
            )));
        }
        let existing = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow();
            metrics.membership_config.membership().get_node(&raft_id(learner)).cloned()
        };
        let node = BasicNode { addr: address.clone() };
        let change = match existing {
            Some(current) if current == node => return Ok(()),
            Some(_) => ChangeMembers::SetNodes([(raft_id(learner), node)].into_iter().collect()),
            None => ChangeMembers::AddNodes([(raft_id(learner), node)].into_iter().collect()),
        };
        let timeout = Duration::from_millis(self.config.timeouts.submit_ms);
        match tokio::time::timeout(timeout, self.raft.change_membership(change, true)).await {
            Err(_) => Err(JoinRefusal::Failed("adding the learner timed out".into())),
            Ok(Ok(_)) => {
                tracing::info!(learner, %address, "added a learner to the metadata quorum");
                Ok(())
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                Err(JoinRefusal::NotLeader { leader: forward.leader_id.map(node_id) })
            }
            Ok(Err(e)) => Err(JoinRefusal::Failed(e.to_string())),
        }
    }
}
