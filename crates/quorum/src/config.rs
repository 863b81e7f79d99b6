//! The settings of one node of the metadata quorum and their start-up checks.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::QuorumError;

/// Name of the metadata log's directory under the data directory, as in KRaft.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// How one node takes part in the metadata quorum.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node's id (Kafka's `node.id`); at least 0.
    pub node_id: i32,
    /// Names the cluster. Written to the quorum's directory on first start and checked on
    /// every later start and on every frame between nodes, so a node cannot join (or start
    /// on the data of) another cluster. All nodes of a cluster must be given the same id.
    pub cluster_id: String,
    /// The node's data directory; the quorum keeps its files in
    /// `data_dir/__cluster_metadata-0/` (see [`crate::log_store`] for the layout).
    pub data_dir: PathBuf,
    /// The controller listener. Every node listens, voters and learners alike: Raft
    /// replication pushes entries from the leader to each node.
    pub listen: SocketAddr,
    /// `host:port` at which the other nodes reach this node's controller listener. For a
    /// voter it defaults (when empty) to its entry in `voters`; a learner must set it.
    pub advertised: String,
    /// `controller.quorum.voters`: id and `host:port` of each voter. One entry is a
    /// quorum of one. Every node, learners included, must be given the same voter ids.
    pub voters: Vec<(i32, String)>,
    /// Whether this node is one of the voters (`process.roles` contains `controller`).
    /// A node that is not joins as a Raft learner: it receives the committed log but
    /// never votes.
    pub is_voter: bool,
    pub timeouts: QuorumTimeouts,
    pub limits: QuorumLimits,
    /// Called on the leader with every request it is about to decide, its own and
    /// forwarded ones alike. The broker notes heartbeats here to judge liveness, and
    /// refuses (with an error) a request only the leader's own view may justify, such as
    /// fencing a broker it still hears from.
    pub on_leader_request: RequestObserver,
}

/// A callback that sees, and may refuse, the requests the leader decides.
#[derive(Clone, Default)]
#[allow(clippy::type_complexity)]
pub struct RequestObserver(
    pub  Option<
        std::sync::Arc<
            dyn Fn(&spool_metadata::controller::ControllerRequest) -> Result<(), spool_metadata::controller::ControllerError>
                + Send
                + Sync,
        >,
    >,
);

impl std::fmt::Debug for RequestObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "RequestObserver(set)" } else { "RequestObserver(none)" })
    }
}

/// Raft timing and the bounds on waiting.
#[derive(Debug, Clone, Copy)]
pub struct QuorumTimeouts {
    /// Leader heartbeat period.
    pub heartbeat_ms: u64,
    /// A follower that hears no leader for a random time in
    /// `[election_min_ms, election_max_ms)` starts an election.
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Bound on one RPC to a peer (connect, send, answer), except snapshot chunks.
    pub rpc_ms: u64,
    /// Bound on sending one snapshot chunk.
    pub snapshot_chunk_ms: u64,
    /// Bound on [`crate::Quorum::submit`] from call to locally applied result.
    pub submit_ms: u64,
    /// How often a node without a leader logs that it is waiting for one.
    pub waiting_log_interval_ms: u64,
}

impl Default for QuorumTimeouts {
    fn default() -> Self {
        QuorumTimeouts {
            heartbeat_ms: 100,
            election_min_ms: 500,
            election_max_ms: 1000,
            rpc_ms: 1000,
            snapshot_chunk_ms: 5000,
            submit_ms: 10_000,
            waiting_log_interval_ms: 5000,
        }
    }
}

/// Sizes the quorum never exceeds.
#[derive(Debug, Clone, Copy)]
pub struct QuorumLimits {
    /// Largest frame the controller listener reads or a node sends, in bytes. Checked
    /// before anything is allocated for a frame.
    pub frame_bytes_max: usize,
    /// Largest encoded metadata batch one submit may propose; larger ones are refused
    /// with [`crate::SubmitError::TooLarge`], so every entry fits a frame.
    pub entry_bytes_max: usize,
    /// Most entries in one AppendEntries RPC.
    pub append_entries_max: u64,
    /// A snapshot is taken after this many applied entries since the last one.
    pub snapshot_every_entries: u64,
    /// Entries kept in the log below the snapshot, for followers slightly behind.
    pub entries_kept_below_snapshot: u64,
    /// Bytes of snapshot per InstallSnapshot chunk.
    pub snapshot_chunk_bytes: u64,
    /// Most simultaneous connections the controller listener serves.
    pub connections_max: usize,
}

impl Default for QuorumLimits {
    fn default() -> Self {
        QuorumLimits {
            frame_bytes_max: 64 * 1024 * 1024,
            entry_bytes_max: 16 * 1024 * 1024,
            append_entries_max: 64,
            snapshot_every_entries: 1000,
            entries_kept_below_snapshot: 1000,
            snapshot_chunk_bytes: 1024 * 1024,
            connections_max: 256,
        }
    }
}

impl QuorumConfig {
    /// A config with default timeouts and limits.
    pub fn new(
        node_id: i32,
        cluster_id: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        listen: SocketAddr,
        voters: Vec<(i32, String)>,
        is_voter: bool,
    ) -> QuorumConfig {
        QuorumConfig {
            node_id,
            cluster_id: cluster_id.into(),
            data_dir: data_dir.into(),
            listen,
            advertised: String::new(),
            voters,
            is_voter,
            timeouts: QuorumTimeouts::default(),
            limits: QuorumLimits::default(),
            on_leader_request: RequestObserver::default(),
        }
    }

    /// The quorum's own directory.
    pub fn quorum_dir(&self) -> PathBuf {
        self.data_dir.join(METADATA_LOG_DIR)
    }

    /// The sorted voter ids.
    pub fn voter_ids(&self) -> BTreeSet<i32> {
        self.voters.iter().map(|(id, _)| *id).collect()
    }

    /// The address of voter `id`, as configured.
    pub fn voter_address(&self, id: i32) -> Option<&str> {
        self.voters.iter().find(|(voter, _)| *voter == id).map(|(_, address)| address.as_str())
    }

    /// Where other nodes reach this node (see [`QuorumConfig::advertised`]).
    pub fn advertised_address(&self) -> String {
        if !self.advertised.is_empty() {
            return self.advertised.clone();
        }
        self.voter_address(self.node_id).map(str::to_string).unwrap_or_default()
    }

    /// Checks the settings before anything is touched on disk.
    ///
    /// # Errors
    /// [`QuorumError::Config`] naming the first inconsistency.
    pub fn validate(&self) -> Result<(), QuorumError> {
        let bad = |message: String| Err(QuorumError::Config(message));
        if self.node_id < 0 {
            return bad(format!("node.id must be 0 or more, got {}", self.node_id));
        }
        if self.cluster_id.trim().is_empty() {
            return bad("the cluster id is empty".into());
        }
        if self.voters.is_empty() {
            return bad("controller.quorum.voters is empty: name at least one voter as id@host:port".into());
        }
        let mut seen = BTreeSet::new();
        for (id, address) in &self.voters {
            if *id < 0 {
                return bad(format!("controller.quorum.voters: voter id {id} is negative"));
            }
            if !seen.insert(*id) {
                return bad(format!("controller.quorum.voters names voter id {id} more than once"));
            }
            if !is_host_port(address) {
                return bad(format!("controller.quorum.voters: voter {id} has address '{address}', expected host:port"));
            }
        }
        let listed = seen.contains(&self.node_id);
        if self.is_voter && !listed {
            return bad(format!(
                "node.id={} is a controller (process.roles contains controller) but is not in controller.quorum.voters ({})",
                self.node_id,
                self.voters_display()
            ));
        }
        if !self.is_voter && listed {
            return bad(format!(
                "node.id={} is listed in controller.quorum.voters ({}) but process.roles does not contain controller",
                self.node_id,
                self.voters_display()
            ));
        }
        if !self.is_voter && !is_host_port(&self.advertised) {
            return bad(format!(
                "node.id={} is not a voter, so it needs an advertised controller address (host:port) the leader can reach; got '{}'",
                self.node_id, self.advertised
            ));
        }
        let t = &self.timeouts;
        if t.heartbeat_ms == 0 || t.heartbeat_ms >= t.election_min_ms || t.election_min_ms >= t.election_max_ms {
            return bad(format!(
                "quorum timeouts must satisfy 0 < heartbeat ({} ms) < election min ({} ms) < election max ({} ms)",
                t.heartbeat_ms, t.election_min_ms, t.election_max_ms
            ));
        }
        if t.rpc_ms == 0 || t.submit_ms == 0 || t.snapshot_chunk_ms == 0 || t.waiting_log_interval_ms == 0 {
            return bad("quorum RPC, snapshot, submit and log-interval timeouts must be positive".into());
        }
        let l = &self.limits;
        if l.entry_bytes_max == 0 || l.frame_bytes_max < 2 * l.entry_bytes_max {
            return bad(format!(
                "the frame limit ({} bytes) must be at least twice the entry limit ({} bytes)",
                l.frame_bytes_max, l.entry_bytes_max
            ));
        }
        if (l.snapshot_chunk_bytes as usize).saturating_mul(5) > l.frame_bytes_max || l.snapshot_chunk_bytes == 0 {
            return bad("snapshot chunks must be positive and fit a frame (JSON costs up to 4 bytes per byte)".into());
        }
        if l.append_entries_max == 0 || l.snapshot_every_entries == 0 || l.connections_max == 0 {
            return bad("entry, snapshot and connection limits must be positive".into());
        }
        Ok(())
    }

    pub(crate) fn voters_display(&self) -> String {
        self.voters.iter().map(|(id, address)| format!("{id}@{address}")).collect::<Vec<_>>().join(",")
    }

    pub(crate) fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.timeouts.rpc_ms)
    }
}

/// `host:port` with a non-empty host and a numeric port.
fn is_host_port(address: &str) -> bool {
    match address.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(node_id: i32, voters: &[(i32, &str)], is_voter: bool) -> QuorumConfig {
        let voters = voters.iter().map(|(id, a)| (*id, a.to_string())).collect();
        QuorumConfig::new(node_id, "c", "/tmp/x", "127.0.0.1:0".parse().unwrap(), voters, is_voter)
    }

    fn message(config: &QuorumConfig) -> String {
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn voter_sets_are_checked() {
        assert!(config(1, &[(1, "h:1"), (2, "h:2")], true).validate().is_ok());
        assert!(message(&config(1, &[(1, "h:1"), (1, "h:2")], true)).contains("voter id 1 more than once"));
        assert!(message(&config(3, &[(1, "h:1"), (2, "h:2")], true)).contains("not in controller.quorum.voters"));
        assert!(message(&config(1, &[(1, "h:1")], false)).contains("does not contain controller"));
        assert!(message(&config(1, &[], true)).contains("is empty"));
        assert!(message(&config(1, &[(1, "nohost")], true)).contains("expected host:port"));
        let mut learner = config(5, &[(1, "h:1")], false);
        assert!(message(&learner).contains("advertised"));
        learner.advertised = "h:5".into();
        assert!(learner.validate().is_ok());
    }

    #[test]
    fn timeouts_must_be_ordered() {
        let mut c = config(1, &[(1, "h:1")], true);
        c.timeouts.election_min_ms = c.timeouts.heartbeat_ms;
        assert!(message(&c).contains("heartbeat"));
    }

    #[test]
    fn a_voter_advertises_its_voter_address_by_default() {
        let mut c = config(2, &[(1, "a:1"), (2, "b:2")], true);
        assert_eq!(c.advertised_address(), "b:2");
        c.advertised = "c:3".into();
        assert_eq!(c.advertised_address(), "c:3");
    }
}
