//! `quorum-state`: the vote and the last known committed entry (KRaft keeps its election
//! state in a file of the same name).
//!
//! JSON `{"vote": Vote, "committed": LogId | null}`, replaced atomically (see
//! [`crate::durable_file`]). The vote must be durable before it is acted on, so every
//! change is fsynced before it returns. The committed id only lets a restarted node
//! re-apply its committed entries at once instead of waiting for a leader; it is never
//! ahead of the truth, because it is written after the commit.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable_file::{read_if_exists, write_atomically};
use crate::raft_types::{LogId, Vote};

pub(crate) const FILE_NAME: &str = "quorum-state";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuorumState {
    pub vote: Option<Vote>,
    pub committed: Option<LogId>,
}

/// The file and the state last written to it.
#[derive(Debug)]
pub(crate) struct QuorumStateFile {
    path: PathBuf,
    state: QuorumState,
}

impl QuorumStateFile {
    /// Reads the state in `dir`, or starts empty.
    ///
    /// # Errors
    /// An I/O error, or `InvalidData` when the file is not valid JSON.
    pub(crate) fn open(dir: &Path) -> std::io::Result<QuorumStateFile> {
        let path = dir.join(FILE_NAME);
        let state = match read_if_exists(&path)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?,
            None => QuorumState::default(),
        };
        Ok(QuorumStateFile { path, state })
    }

    pub(crate) fn state(&self) -> &QuorumState {
        &self.state
    }

    /// Makes `state` durable.
    ///
    /// # Errors
    /// Any I/O error; the previous state then stays in force.
    pub(crate) fn save(&mut self, state: QuorumState) -> std::io::Result<()> {
        if state == self.state {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&state).map_err(std::io::Error::other)?;
        write_atomically(&self.path, &bytes)?;
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = QuorumStateFile::open(dir.path()).unwrap();
        assert_eq!(file.state(), &QuorumState::default());
        let state = QuorumState { vote: Some(Vote::new(3, 2)), committed: Some(LogId::new(CommittedLeaderId::new(3, 2), 7)) };
        file.save(state.clone()).unwrap();
        assert_eq!(QuorumStateFile::open(dir.path()).unwrap().state(), &state);
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        assert!(QuorumStateFile::open(dir.path()).is_err());
    }
}
