//! Errors of the quorum: one enum per operation, since callers handle them differently.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use spool_metadata::controller::ControllerError;

/// Why [`crate::Quorum::start`] failed. Nothing keeps running after such an error.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// The settings are inconsistent (duplicate voter ids, a controller missing from the
    /// voters, bad timeouts…). Fix the configuration.
    #[error("invalid quorum configuration: {0}")]
    Config(String),
    /// The quorum directory belongs to another cluster or node, or holds state this
    /// configuration contradicts. Point the node at its own data directory.
    #[error("refusing to start: {0}")]
    ForeignState(String),
    /// A file of the quorum could not be read or written.
    #[error("{context} ({path}): {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file of the quorum is damaged beyond the torn tail that recovery removes.
    #[error("corrupt quorum state in {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// The controller listener could not be bound.
    #[error("cannot listen for controllers on {address}: {source}")]
    Bind {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The Raft instance could not start.
    #[error("raft failed to start: {0}")]
    Raft(String),
}

/// Why [`crate::Quorum::submit`] returned no reply. Serialisable: a leader sends it back
/// to the node that forwarded the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SubmitError {
    /// The controller refused the request; nothing was written.
    #[error(transparent)]
    Rejected(ControllerError),
    /// The node that handled the request is not the leader (anymore); nothing was written.
    /// `leader` is the leader it knows of, if any; retry there or retry later.
    #[error("not the active controller{}; retry", leader_hint(*.leader))]
    NotLeader { leader: Option<i32> },
    /// No leader was known until the deadline (an election is running, or too few voters
    /// are reachable); nothing was written. Retry later.
    #[error("no active controller: the metadata quorum has no leader (voters unreachable or electing); retry later")]
    NoLeader,
    /// Leadership changed while the records were being committed: they may or may not
    /// have taken effect. Re-read the metadata before retrying.
    #[error("the active controller changed while the request was committed{}; its outcome is unknown", leader_hint(*.leader))]
    LeaderChanged { leader: Option<i32> },
    /// The deadline passed. When the request had reached the leader its outcome is
    /// unknown; re-read the metadata before retrying.
    #[error("the metadata quorum did not answer in time; the outcome is unknown")]
    Timeout,
    /// The records of this request exceed the quorum's entry limit; nothing was written.
    #[error("the request produced {size_bytes} bytes of metadata records, more than the limit of {limit_bytes}")]
    TooLarge { size_bytes: usize, limit_bytes: usize },
    /// The connection to the leader failed after the request was sent: outcome unknown.
    #[error("controller connection failed: {0}")]
    Io(String),
    /// This node is shutting down.
    #[error("the metadata quorum is shutting down")]
    ShuttingDown,
}

fn leader_hint(leader: Option<i32>) -> String {
    match leader {
        Some(id) => format!(" (the leader is node {id})"),
        None => String::new(),
    }
}

impl SubmitError {
    /// Whether the request certainly did not take effect, so a retry cannot apply it twice.
    pub fn nothing_written(&self) -> bool {
        matches!(
            self,
            SubmitError::Rejected(_) | SubmitError::NotLeader { .. } | SubmitError::NoLeader | SubmitError::TooLarge { .. }
        )
    }
}

/// Builds [`QuorumError::Io`] from an `io::Result`.
pub(crate) trait IoContext<T> {
    fn io_context(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T, QuorumError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T, QuorumError> {
        self.map_err(|source| QuorumError::Io { context, path: path.into(), source })
    }
}
