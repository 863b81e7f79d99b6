//! openraft's [`RaftLogStorage`] over the [`RaftLog`] files and the `quorum-state` file.
//!
//! The quorum directory (`DATA/__cluster_metadata-0/`) holds:
//! ```text
//! quorum.properties        identity: cluster id, node id, voter ids (crate::quorum_identity)
//! quorum-state             vote and last committed entry id (crate::quorum_state)
//! NNNNNNNNNNNNNNNNNNNN.raftlog, log-start   the Raft log (crate::raft_log)
//! snapshot                 the last snapshot of the metadata image (crate::snapshot_file)
//! ```
//! Every write completes (fsynced) before openraft is told it did, and writes are
//! serialised by one lock, as openraft requires.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, LogState, RaftLogReader, StorageIOError};

use crate::quorum_state::{QuorumState, QuorumStateFile};
use crate::raft_log::RaftLog;
use crate::raft_types::{Entry, LogId, StorageError, TypeConfig, Vote};

struct Files {
    log: RaftLog,
    state: QuorumStateFile,
}

/// The log store handed to openraft; clones share the same files (one is the reader).
#[derive(Clone)]
pub(crate) struct LogStore {
    files: Arc<Mutex<Files>>,
    /// Index + 1 of the last committed entry this node learnt of; 0 for none.
    committed: Arc<AtomicU64>,
}

fn poisoned() -> StorageError {
    StorageIOError::write_logs(AnyError::error("the raft log lock was poisoned by a panic")).into()
}

impl LogStore {
    pub(crate) fn new(log: RaftLog, state: QuorumStateFile) -> LogStore {
        let committed = state.state().committed.map_or(0, |id| id.index + 1);
        LogStore { files: Arc::new(Mutex::new(Files { log, state })), committed: Arc::new(AtomicU64::new(committed)) }
    }

    /// The last committed index this node knows of, shared for status reports.
    pub(crate) fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    // openraft's StorageError is large; it is the error type the trait requires.
    #[allow(clippy::result_large_err)]
    fn lock(&self) -> Result<MutexGuard<'_, Files>, StorageError> {
        self.files.lock().map_err(|_| poisoned())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(self.lock()?.log.entries(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let files = self.lock()?;
        Ok(LogState { last_purged_log_id: files.log.last_purged(), last_log_id: files.log.last_log_id() })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut files = self.lock()?;
        let state = QuorumState { vote: Some(*vote), ..files.state.state().clone() };
        files.state.save(state).map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock()?.state.state().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut files = self.lock()?;
        let state = QuorumState { committed, ..files.state.state().clone() };
        files.state.save(state).map_err(|e| StorageError::from(StorageIOError::write(AnyError::new(&e))))?;
        self.committed.store(committed.map_or(0, |id| id.index + 1), Ordering::Release);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock()?.state.state().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let result = self.lock()?.log.append(entries);
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(AnyError::new(&e)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::info!(index = log_id.index, "truncating the metadata log (divergent entries from an old leader)");
        self.lock()?.log.truncate(log_id.index).map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(index = log_id.index, "purging the metadata log below a snapshot");
        self.lock()?.log.purge(log_id).map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }
}
