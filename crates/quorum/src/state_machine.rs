//! openraft's [`RaftStateMachine`]: committed entries replayed into the [`MetadataImage`].
//!
//! Each committed entry's [`MetadataBatch`] is replayed record by record, exactly as a
//! restarted node replays its log; after every applied batch the new image is published
//! on a watch channel. The image itself is kept in memory only: it is made durable by
//! snapshots (see [`crate::snapshot_file`]) plus the log, and on restart it is rebuilt
//! from the last snapshot and the committed entries after it.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, RaftSnapshotBuilder, Snapshot, StorageIOError};
use spool_metadata::MetadataImage;
use tokio::sync::watch;

use crate::raft_types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::snapshot_file;

/// The applied state and where snapshots go.
pub(crate) struct StateMachine {
    dir: PathBuf,
    image: MetadataImage,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    published: watch::Sender<Arc<MetadataImage>>,
    /// The last applied id of the snapshot on disk; serialises snapshot file writes so an
    /// older snapshot never replaces a newer one.
    on_disk: Arc<Mutex<Option<LogId>>>,
    snapshots_built: u64,
}

fn read_error(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_snapshot(None, AnyError::new(&e)).into()
}

fn write_error(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

impl StateMachine {
    /// Loads the snapshot in `dir`, if any, and publishes its image.
    ///
    /// # Errors
    /// A damaged or undecodable snapshot.
    pub(crate) fn open(
        dir: PathBuf,
        published: watch::Sender<Arc<MetadataImage>>,
    ) -> Result<StateMachine, snapshot_file::SnapshotError> {
        let (image, last_applied, last_membership) = match snapshot_file::read(&dir)? {
            Some((meta, data)) => (snapshot_file::decode_image(&data)?, meta.last_log_id, meta.last_membership),
            None => (MetadataImage::default(), None, StoredMembership::default()),
        };
        if let Some(id) = last_applied {
            tracing::info!(index = id.index, term = id.leader_id.term, "loaded the metadata snapshot");
        }
        published.send_replace(Arc::new(image.clone()));
        Ok(StateMachine {
            dir,
            image,
            last_applied,
            last_membership,
            published,
            on_disk: Arc::new(Mutex::new(last_applied)),
            snapshots_built: 0,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut replies = Vec::new();
        let mut changed = false;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => {
                    batch.records.iter().for_each(|record| self.image.replay(record));
                    changed = true;
                }
                EntryPayload::Membership(membership) => {
                    self.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            replies.push(());
        }
        if changed {
            self.published.send_replace(Arc::new(self.image.clone()));
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        self.snapshots_built += 1;
        SnapshotBuilder {
            dir: self.dir.clone(),
            image: self.image.clone(),
            last_applied: self.last_applied,
            last_membership: self.last_membership.clone(),
            on_disk: self.on_disk.clone(),
            sequence: self.snapshots_built,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let image = snapshot_file::decode_image(&data).map_err(read_error)?;
        {
            let mut on_disk = self.on_disk.lock().map_err(|_| write_error(std::io::Error::other("poisoned")))?;
            snapshot_file::write(&self.dir, meta, &data).map_err(write_error)?;
            *on_disk = meta.last_log_id;
        }
        tracing::info!(
            index = meta.last_log_id.map(|id| id.index),
            bytes = data.len(),
            "installed a metadata snapshot from the leader"
        );
        self.image = image;
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        self.published.send_replace(Arc::new(self.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let _writing = self.on_disk.lock().map_err(|_| read_error(std::io::Error::other("poisoned")))?;
        Ok(snapshot_file::read(&self.dir)
            .map_err(read_error)?
            .map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

/// A copy of the applied state, written out as a snapshot.
pub(crate) struct SnapshotBuilder {
    dir: PathBuf,
    image: MetadataImage,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    on_disk: Arc<Mutex<Option<LogId>>>,
    sequence: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = snapshot_file::encode_image(&self.image).map_err(write_error)?;
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, self.sequence),
            None => format!("none-{}", self.sequence),
        };
        let meta = SnapshotMeta { last_log_id: self.last_applied, last_membership: self.last_membership.clone(), snapshot_id };
        {
            let mut on_disk = self.on_disk.lock().map_err(|_| write_error(std::io::Error::other("poisoned")))?;
            if *on_disk < self.last_applied {
                snapshot_file::write(&self.dir, &meta, &data).map_err(write_error)?;
                *on_disk = self.last_applied;
            }
        }
        tracing::debug!(index = self.last_applied.map(|id| id.index), bytes = data.len(), "built a metadata snapshot");
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}
