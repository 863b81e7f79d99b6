//! `snapshot`: the metadata image at one applied entry, so the log below it can go.
//!
//! ```text
//! +----------------+-------------------+----------------------+-------------+-------------------+
//! | magic "SPOOLSN1" | meta_len: u32 BE | crc32c: u32 BE       | meta: JSON  | data: CBOR image  |
//! +----------------+-------------------+----------------------+-------------+-------------------+
//!                                        (CRC-32C of meta+data)
//! ```
//! `meta` is openraft's `SnapshotMeta` (last applied id, membership, snapshot id); `data`
//! is exactly the snapshot data openraft sends to a follower that fell behind the log
//! start: the CBOR encoding of [`MetadataImage`] (CBOR rather than JSON because the image
//! has maps keyed by enums). The file is replaced atomically, so it is never torn; a CRC
//! mismatch is corruption and refuses the start.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use spool_metadata::MetadataImage;

use crate::durable_file::{read_if_exists, write_atomically};
use crate::raft_types::SnapshotMeta;

pub(crate) const FILE_NAME: &str = "snapshot";
const MAGIC: &[u8; 8] = b"SPOOLSN1";
const HEADER_BYTES: usize = 16;

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt snapshot {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("snapshot data is not a metadata image: {0}")]
    Decode(String),
}

/// Encodes an image as snapshot data.
///
/// # Errors
/// [`SnapshotError::Decode`] if the image cannot be encoded (never for plain data).
pub(crate) fn encode_image(image: &MetadataImage) -> Result<Vec<u8>, SnapshotError> {
    let mut data = Vec::new();
    ciborium::into_writer(image, &mut data).map_err(|e| SnapshotError::Decode(e.to_string()))?;
    Ok(data)
}

/// Decodes snapshot data.
///
/// # Errors
/// [`SnapshotError::Decode`] when `data` is not an encoded image.
pub(crate) fn decode_image(data: &[u8]) -> Result<MetadataImage, SnapshotError> {
    ciborium::from_reader(Cursor::new(data)).map_err(|e| SnapshotError::Decode(e.to_string()))
}

/// Writes the snapshot file in `dir` atomically.
///
/// # Errors
/// [`SnapshotError::Io`].
pub(crate) fn write(dir: &Path, meta: &SnapshotMeta, data: &[u8]) -> Result<(), SnapshotError> {
    let path = dir.join(FILE_NAME);
    let meta_json = serde_json::to_vec(meta).map_err(|e| SnapshotError::Io { path: path.clone(), source: e.into() })?;
    let mut crc = crc32c::crc32c(&meta_json);
    crc = crc32c::crc32c_append(crc, data);
    let mut bytes = Vec::with_capacity(HEADER_BYTES + meta_json.len() + data.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(meta_json.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&crc.to_be_bytes());
    bytes.extend_from_slice(&meta_json);
    bytes.extend_from_slice(data);
    write_atomically(&path, &bytes).map_err(|source| SnapshotError::Io { path, source })
}

/// Reads the snapshot file in `dir`: its meta and data, or `None` when there is none.
///
/// # Errors
/// [`SnapshotError::Io`]; [`SnapshotError::Corrupt`] for a bad magic, length or CRC.
pub(crate) fn read(dir: &Path) -> Result<Option<(SnapshotMeta, Vec<u8>)>, SnapshotError> {
    let path = dir.join(FILE_NAME);
    let Some(bytes) = read_if_exists(&path).map_err(|source| SnapshotError::Io { path: path.clone(), source })? else {
        return Ok(None);
    };
    let corrupt = |detail: &str| SnapshotError::Corrupt { path: path.clone(), detail: detail.to_string() };
    if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    let meta_len = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let crc = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let body = &bytes[HEADER_BYTES..];
    if meta_len > body.len() {
        return Err(corrupt("meta length runs past the end of the file"));
    }
    if crc32c::crc32c(body) != crc {
        return Err(corrupt("CRC mismatch"));
    }
    let meta: SnapshotMeta = serde_json::from_slice(&body[..meta_len]).map_err(|e| corrupt(&e.to_string()))?;
    Ok(Some((meta, body[meta_len..].to_vec())))
}

#[cfg(test)]
mod tests {
    use spool_metadata::records::{
        BrokerEndpoint, BrokerRecord, ConfigRecord, ConfigResource, PartitionRecord, QuotaEntity, QuotaName, TopicRecord,
    };
    use spool_metadata::MetadataRecord;
    use uuid::Uuid;

    use super::*;

    fn populated_image() -> MetadataImage {
        let topic_id = Uuid::new_v4();
        let records = [
            MetadataRecord::RegisterBroker(BrokerRecord { broker_id: 1, endpoints: vec![BrokerEndpoint::plaintext("PLAINTEXT", "h", 9092)], rack: None }),
            MetadataRecord::RegisterBroker(BrokerRecord { broker_id: 2, endpoints: vec![BrokerEndpoint::plaintext("PLAINTEXT", "h", 9093)], rack: Some("r".into()) }),
            MetadataRecord::BrokerFenced { broker_id: 2, fenced: true },
            MetadataRecord::Topic(TopicRecord { name: "t".into(), topic_id }),
            MetadataRecord::Partition(PartitionRecord {
                topic_id,
                partition: 0,
                replicas: vec![1, 2],
                isr: vec![1],
                leader: 1,
                leader_epoch: 3,
                partition_epoch: 4,
                // A reassignment in progress: its fields survive the snapshot too.
                adding_replicas: vec![2],
                removing_replicas: vec![],
            }),
            MetadataRecord::Config(ConfigRecord {
                resource: ConfigResource::Topic("t".into()),
                name: "retention.ms".into(),
                value: Some("10".into()),
            }),
            MetadataRecord::Config(ConfigRecord {
                resource: ConfigResource::Broker(7),
                name: "log.retention.ms".into(),
                value: Some("20".into()),
            }),
            MetadataRecord::Config(ConfigRecord {
                resource: ConfigResource::ClientQuota(QuotaEntity {
                    user: Some(QuotaName::Default),
                    client_id: Some(QuotaName::Named("app".into())),
                }),
                name: "producer_byte_rate".into(),
                value: Some("1024".into()),
            }),
            MetadataRecord::ProducerIds { next_producer_id: 3000 },
        ];
        let mut image = MetadataImage::default();
        records.iter().for_each(|r| image.replay(r));
        image
    }

    #[test]
    fn every_part_of_the_image_round_trips() {
        let image = populated_image();
        let decoded = decode_image(&encode_image(&image).unwrap()).unwrap();
        // The image has no PartialEq; its Debug output covers every field (the one
        // HashMap holds a single entry, so its order cannot differ).
        assert_eq!(format!("{decoded:?}"), format!("{image:?}"));
        assert!(decoded.is_fenced(2));
        assert_eq!(decoded.configs(&ConfigResource::Broker(7)).get("log.retention.ms").map(String::as_str), Some("20"));
        assert_eq!(decoded.client_quotas().collect::<Vec<_>>(), image.client_quotas().collect::<Vec<_>>());
        assert_eq!(decoded.client_quotas().count(), 1);
    }

    #[test]
    fn file_round_trips_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let meta = SnapshotMeta { snapshot_id: "1-2-3".into(), ..Default::default() };
        let data = encode_image(&populated_image()).unwrap();
        write(dir.path(), &meta, &data).unwrap();
        let (read_meta, read_data) = read(dir.path()).unwrap().unwrap();
        assert_eq!((read_meta, read_data), (meta, data));

        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(read(dir.path()), Err(SnapshotError::Corrupt { .. })));
    }
}
