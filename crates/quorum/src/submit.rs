//! Running controller requests: decide and propose on the leader, forward elsewhere.
//!
//! On the leader, under one lock:
//! 1. wait for a proposal left behind by a timed-out submit (its outcome may change the image);
//! 2. `ensure_linearizable`: confirm leadership with a quorum and wait until every entry
//!    committed before this point is applied, so the image is the newest committed one;
//! 3. `decide` against that image; 4. propose the records and wait until they are applied.
//!
//! A follower or learner forwards the request to the leader, then waits until its own
//! state machine has applied the leader's answer index, so a caller reading its local
//! image afterwards sees the change (read-your-writes on every node).

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use openraft::BasicNode;
use spool_metadata::controller::{decide, ControllerReply, ControllerRequest};
use tokio::time::{timeout_at, Instant};

use crate::error::SubmitError;
use crate::network::{CallError, PeerConnection};
use crate::quorum::QuorumNode;
use crate::raft_types::{node_id, MetadataBatch, TypeConfig};
use crate::wire::{Forwarded, Request, Response};

/// The answer channel of a proposal in flight.
pub(crate) type PendingWrite =
    tokio::sync::oneshot::Receiver<Result<ClientWriteResponse<TypeConfig>, ClientWriteError<u64, BasicNode>>>;

/// Pause between attempts while no leader is usable.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// One attempt's outcome.
enum Attempt {
    Done(Result<Forwarded, SubmitError>),
    /// Nothing was written; try again (at the hinted leader, if any).
    Retry { leader: Option<i32> },
}

impl QuorumNode {
    pub(crate) async fn submit(self: &Arc<Self>, request: ControllerRequest) -> Result<ControllerReply, SubmitError> {
        let deadline = Instant::now() + Duration::from_millis(self.config.timeouts.submit_ms);
        let mut hint: Option<i32> = None;
        let mut attempt = 0usize;
        loop {
            if self.stopping.load(std::sync::atomic::Ordering::Acquire) {
                return Err(SubmitError::ShuttingDown);
            }
            let target = self.leader().or(hint.take()).or_else(|| {
                // A learner that has not joined yet learns the leader from any voter.
                (!self.config.is_voter).then(|| self.config.voters[attempt % self.config.voters.len()].0)
            });
            attempt += 1;
            let outcome = match target {
                Some(id) if id == self.me() => self.submit_as_leader(&request, deadline).await,
                Some(id) => self.forward(id, &request, deadline).await,
                None => Attempt::Retry { leader: None },
            };
            match outcome {
                Attempt::Done(Ok(forwarded)) => return Ok(forwarded.reply),
                Attempt::Done(Err(e)) => return Err(e),
                Attempt::Retry { leader } => {
                    hint = leader.filter(|l| Some(*l) != target);
                    if Instant::now() + RETRY_PAUSE >= deadline {
                        return Err(match self.leader() {
                            None => SubmitError::NoLeader,
                            Some(leader) if leader == self.me() => SubmitError::Timeout,
                            Some(leader) => SubmitError::NotLeader { leader: Some(leader) },
                        });
                    }
                    if hint.is_none() {
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
        }
    }

    /// A request forwarded to this node: run it only if this node is the leader.
    pub(crate) async fn handle_forward(self: &Arc<Self>, request: ControllerRequest, timeout_ms: u64) -> Result<Forwarded, SubmitError> {
        let budget_ms = timeout_ms.min(self.config.timeouts.submit_ms);
        // Answer a little before the sender gives up, so the answer can still arrive.
        let deadline = Instant::now() + Duration::from_millis(budget_ms - budget_ms / 10);
        if self.leader() != Some(self.me()) {
            return Err(SubmitError::NotLeader { leader: self.leader() });
        }
        match self.submit_as_leader(&request, deadline).await {
            Attempt::Done(result) => result,
            Attempt::Retry { leader } => Err(match leader {
                Some(leader) => SubmitError::NotLeader { leader: Some(leader) },
                None => SubmitError::NoLeader,
            }),
        }
    }

    async fn submit_as_leader(&self, request: &ControllerRequest, deadline: Instant) -> Attempt {
        let Ok(mut pending) = timeout_at(deadline, self.proposer.lock()).await else {
            return Attempt::Done(Err(SubmitError::Timeout));
        };
        if let Some(previous) = pending.as_mut() {
            if timeout_at(deadline, previous).await.is_err() {
                return Attempt::Done(Err(SubmitError::Timeout));
            }
            *pending = None;
        }
        let read_index = match timeout_at(deadline, self.raft.ensure_linearizable()).await {
            Err(_) => return Attempt::Done(Err(SubmitError::Timeout)),
            Ok(Ok(read_log_id)) => read_log_id.map(|id| id.index),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)))) => {
                return Attempt::Retry { leader: forward.leader_id.map(node_id) };
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                tracing::debug!("leader cannot reach a quorum yet: {e}");
                return Attempt::Retry { leader: None };
            }
            Ok(Err(RaftError::Fatal(_))) => return Attempt::Done(Err(SubmitError::ShuttingDown)),
        };
        if let Some(observe) = &self.config.on_leader_request.0 {
            if let Err(refusal) = observe(request) {
                return Attempt::Done(Err(SubmitError::Rejected(refusal)));
            }
        }
        let image = self.image.borrow().clone();
        let (records, reply) = match decide(&image, request) {
            Ok(decision) => decision,
            Err(e) => return Attempt::Done(Err(SubmitError::Rejected(e))),
        };
        if records.is_empty() {
            return Attempt::Done(Ok(Forwarded { reply, applied_index: read_index }));
        }
        let batch = MetadataBatch { records };
        let size_bytes = serde_json::to_vec(&batch).map_or(usize::MAX, |bytes| bytes.len());
        let limit_bytes = self.config.limits.entry_bytes_max;
        if size_bytes > limit_bytes {
            return Attempt::Done(Err(SubmitError::TooLarge { size_bytes, limit_bytes }));
        }
        let receiver = match self.raft.client_write_ff(batch).await {
            Ok(receiver) => receiver,
            Err(_) => return Attempt::Done(Err(SubmitError::ShuttingDown)),
        };
        let receiver = pending.insert(receiver);
        let Ok(answer) = timeout_at(deadline, receiver).await else {
            // Left in `pending`: the next submit waits for it before deciding.
            return Attempt::Done(Err(SubmitError::Timeout));
        };
        *pending = None;
        Attempt::Done(match answer {
            Ok(Ok(response)) => Ok(Forwarded { reply, applied_index: Some(response.log_id.index) }),
            Ok(Err(ClientWriteError::ForwardToLeader(forward))) => {
                Err(SubmitError::LeaderChanged { leader: forward.leader_id.map(node_id) })
            }
            Ok(Err(ClientWriteError::ChangeMembershipError(e))) => Err(SubmitError::Io(e.to_string())),
            Err(_) if self.stopping.load(std::sync::atomic::Ordering::Acquire) => Err(SubmitError::ShuttingDown),
            Err(_) => Err(SubmitError::LeaderChanged { leader: self.leader() }),
        })
    }

    /// Resolves with the leader once this node knows of one other than `target`.
    async fn another_leader_than(&self, target: i32) -> i32 {
        let mut metrics = self.raft.metrics();
        loop {
            if let Some(leader) = metrics.borrow_and_update().current_leader.map(node_id) {
                if leader != target {
                    return leader;
                }
            }
            if metrics.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    async fn forward(&self, target: i32, request: &ControllerRequest, deadline: Instant) -> Attempt {
        let Some(address) = self.address_of(target) else {
            return Attempt::Retry { leader: None };
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Attempt::Done(Err(SubmitError::Timeout));
        }
        let mut connection = PeerConnection::new(self.local.clone(), address);
        let body = Request::Forward { request: request.clone(), timeout_ms: remaining.as_millis() as u64 };
        // A leader that stopped answering (paused, cut off) would hold the request until
        // the deadline, long after the quorum elected another. Go there as soon as this
        // node learns of it: the old leader cannot commit the request any more, as it
        // would need a quorum in its old term.
        let answer = tokio::select! {
            answer = connection.call(body, remaining) => answer,
            leader = self.another_leader_than(target) => return Attempt::Retry { leader: Some(leader) },
        };
        let forwarded = match answer {
            Ok(Response::Forward(Ok(forwarded))) => forwarded,
            Ok(Response::Forward(Err(SubmitError::NotLeader { leader }))) => return Attempt::Retry { leader },
            Ok(Response::Forward(Err(SubmitError::NoLeader))) => return Attempt::Retry { leader: None },
            Ok(Response::Forward(Err(e))) => return Attempt::Done(Err(e)),
            Ok(_) => return Attempt::Done(Err(SubmitError::Io(format!("node {target} gave an unexpected answer")))),
            Err(CallError::Connect { .. }) => return Attempt::Retry { leader: None },
            Err(CallError::TooLarge(e)) => return Attempt::Done(Err(SubmitError::Io(e.to_string()))),
            Err(CallError::Timeout { .. }) => return Attempt::Done(Err(SubmitError::Timeout)),
            Err(e @ (CallError::Broken { .. } | CallError::Refused { .. })) => {
                return Attempt::Done(Err(SubmitError::Io(e.to_string())))
            }
        };
        let Some(index) = forwarded.applied_index else { return Attempt::Done(Ok(forwarded)) };
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let applied = self.raft.wait(Some(remaining)).applied_index_at_least(Some(index), "forwarded request applied").await;
        Attempt::Done(match applied {
            Ok(_) => Ok(forwarded),
            Err(openraft::metrics::WaitError::Timeout(..)) => Err(SubmitError::Timeout),
            Err(openraft::metrics::WaitError::ShuttingDown) => Err(SubmitError::ShuttingDown),
        })
    }
}
