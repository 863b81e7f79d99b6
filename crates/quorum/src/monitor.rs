//! Logs leadership changes, and, while there is no leader, that the node is waiting for
//! one (every `waiting_log_interval_ms`), naming the voters it needs: a quorum that
//! cannot elect a leader is loud, never silent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;

use crate::quorum::QuorumNode;
use crate::raft_types::node_id;

/// Runs until aborted or until Raft stops.
pub(crate) async fn watch_leader(node: Arc<QuorumNode>) {
    let interval = Duration::from_millis(node.config.timeouts.waiting_log_interval_ms);
    let mut metrics = node.raft.metrics();
    let mut leader: Option<u64> = None;
    let mut leaderless_since = Instant::now();
    let mut last_warning = Instant::now();
    loop {
        let changed = tokio::time::timeout(Duration::from_millis(500), metrics.changed()).await;
        if matches!(changed, Ok(Err(_))) {
            return;
        }
        let (current, term, state) = {
            let m = metrics.borrow();
            (m.current_leader, m.current_term, m.state)
        };
        if state == ServerState::Shutdown {
            return;
        }
        if current != leader {
            match current {
                Some(id) => tracing::info!(leader = node_id(id), term, "the metadata quorum has a leader"),
                None => {
                    tracing::warn!(previous = leader.map(node_id), term, "the metadata quorum lost its leader; electing");
                    leaderless_since = Instant::now();
                }
            }
            leader = current;
        }
        if leader.is_none() && leaderless_since.elapsed() >= interval && last_warning.elapsed() >= interval {
            tracing::warn!(
                node_id = node.me(),
                ?state,
                term,
                waited_s = leaderless_since.elapsed().as_secs(),
                voters = %node.config.voters_display(),
                "no metadata quorum leader: waiting for a majority of the voters to be reachable"
            );
            last_warning = Instant::now();
        }
    }
}
