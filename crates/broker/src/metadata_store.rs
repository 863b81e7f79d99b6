//! The controller's runtime on a quorum of one: a durable metadata log and the image it builds.
//!
//! Records are JSON values inside ordinary record batches of the log
//! `DATA/__cluster_metadata-0`, fsynced before a change is acknowledged. On start the
//! whole log is replayed into a fresh [`MetadataImage`].

use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use parking_lot::RwLock;
use spool_metadata::controller::{self, ControllerError, ControllerReply, ControllerRequest};
use spool_metadata::{MetadataImage, MetadataRecord};
use spool_storage::{Log, LogConfig};

/// Name of the metadata log's directory, as in KRaft.
pub(crate) const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// Why a metadata change was not made.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The controller refused the request; nothing was written.
    #[error(transparent)]
    Rejected(ControllerError),
    /// The records could not be made durable; nothing was applied.
    #[error("metadata log write failed: {0}")]
    Storage(String),
}

/// The metadata log and the image replayed from it.
pub struct MetadataStore {
    log: tokio::sync::Mutex<Log>,
    image: RwLock<Arc<MetadataImage>>,
}

impl MetadataStore {
    /// Opens the metadata log in `data_dir` and replays it.
    ///
    /// # Errors
    /// When the log cannot be opened or holds a record this version cannot read.
    pub fn open(data_dir: &Path, now_ms: i64) -> anyhow::Result<Self> {
        let config = LogConfig { flush_interval_messages: 1, retention_ms: -1, retention_bytes: -1, ..LogConfig::default() };
        let dir = data_dir.join(METADATA_LOG_DIR);
        let log = Log::open(&dir, config, now_ms).map_err(|e| anyhow::anyhow!("opening metadata log {}: {e}", dir.display()))?;
        let mut image = MetadataImage::default();
        let mut count = 0usize;
        let end = log.log_end_offset();
        let mut offset = log.log_start_offset();
        while offset < end {
            let bytes = log
                .read(offset, 16 * 1024 * 1024, end, true)
                .map_err(|e| anyhow::anyhow!("reading metadata log: {e}"))?;
            if bytes.is_empty() {
                break;
            }
            let mut buf = bytes.clone();
            for set in RecordBatchDecoder::decode_all(&mut buf).map_err(|e| anyhow::anyhow!("decoding metadata log: {e}"))? {
                for record in set.records {
                    if record.offset < offset {
                        continue;
                    }
                    offset = record.offset + 1;
                    let value = record.value.unwrap_or_default();
                    let decoded = MetadataRecord::from_bytes(&value)
                        .map_err(|e| anyhow::anyhow!("metadata record at offset {} is unreadable: {e}", record.offset))?;
                    image.replay(&decoded);
                    count += 1;
                }
            }
        }
        tracing::info!("replayed {count} metadata record(s)");
        Ok(MetadataStore { log: tokio::sync::Mutex::new(log), image: RwLock::new(Arc::new(image)) })
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().clone()
    }

    /// Runs a controller request against the current image, makes its records durable,
    /// replays them and publishes the new image. Requests are serialised, so each one
    /// sees every earlier change.
    ///
    /// # Errors
    /// [`CommitError::Rejected`] with the controller's refusal, or [`CommitError::Storage`].
    pub async fn submit(
        &self,
        now_ms: i64,
        request: &ControllerRequest,
    ) -> Result<(ControllerReply, Arc<MetadataImage>), CommitError> {
        let mut log = self.log.lock().await;
        let current = self.image();
        let (records, result) = controller::decide(&current, request).map_err(CommitError::Rejected)?;
        if records.is_empty() {
            return Ok((result, current));
        }
        let mut batch = encode_batch(&records, now_ms).map_err(CommitError::Storage)?;
        log.append_as_leader(&mut batch, 0, now_ms).map_err(|e| CommitError::Storage(e.to_string()))?;
        let mut next = (*current).clone();
        for record in &records {
            next.replay(record);
        }
        let next = Arc::new(next);
        *self.image.write() = next.clone();
        Ok((result, next))
    }

    /// Closes the metadata log cleanly.
    pub async fn close(self) {
        if let Err(e) = self.log.into_inner().close() {
            tracing::error!("closing metadata log failed: {e}");
        }
    }
}

fn encode_batch(records: &[MetadataRecord], now_ms: i64) -> Result<BytesMut, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: now_ms,
            key: None,
            value: Some(Bytes::from(r.to_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
        .map_err(|e| e.to_string())?;
    Ok(buf)
}
