//! What the log cleaner keeps of one batch (Kafka's `MemoryRecords.filterTo` with the
//! cleaner's `RecordFilter`).
//!
//! A record is kept when it has a key and is the latest record of that key (its offset
//! is at least the one the [`OffsetMap`] holds, or the key is not in the map), unless it
//! is a tombstone (null value) whose delete horizon has passed. Keyless records are
//! dropped, as Kafka's cleaner does.
//!
//! Delete horizon (KIP-534): the first time the cleaner keeps a tombstone, it rewrites
//! the batch with attribute bit 6 set and `baseTimestamp` = now + `delete.retention.ms`
//! (record timestamp deltas are rebased so every record keeps its timestamp); a later
//! cleaning after that time drops the tombstone. Consumers thus have at least
//! `delete.retention.ms` to see a tombstone once it has been compacted.
//!
//! A rewritten batch keeps its base offset, last offset delta (so the producer's last
//! sequence stays), partition leader epoch, producer fields and codec; it holds fewer
//! records, its CRC is new and its max timestamp is that of the kept records. A batch
//! left without records is dropped, except the last batch of a still-known idempotent
//! producer, which stays as an empty header so that producer's state survives. Control
//! batches, batches with an unknown codec and batches not wholly below the cleaned range
//! are kept as they are.

use spool_protocol::batch::{BatchHeader, Codec};
use spool_protocol::record::{compress_records, decompress_records, encode_batch, encode_record, RecordError, Records};

use crate::offset_map::OffsetMap;

/// Attribute bit: `baseTimestamp` holds the batch's delete horizon.
const DELETE_HORIZON_FLAG: i16 = 0x40;
/// Attribute bits an empty batch keeps (timestamp type, transactional, control); its
/// codec is none.
const EMPTY_BATCH_ATTRIBUTES: i16 = 0x8 | 0x10 | 0x20;

/// The fixed inputs of one cleaning.
pub(crate) struct FilterContext<'a> {
    pub(crate) map: &'a OffsetMap,
    /// The end of the offsets the map covers: batches reaching it are not filtered.
    pub(crate) map_end: i64,
    pub(crate) now_ms: i64,
    pub(crate) delete_retention_ms: i64,
}

/// What becomes of one batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Keep the bytes as they are.
    Unchanged,
    /// Replace the batch by these bytes.
    Rewritten(Vec<u8>),
    /// Drop the batch.
    Removed,
}

/// Filters the whole batch `batch` (header `header`); `retain_empty` says it is the last
/// batch of an idempotent producer whose state must survive (see the module docs).
///
/// # Errors
/// [`RecordError`] when the records cannot be decompressed, parsed or compressed again;
/// the caller keeps such a batch as it is.
pub(crate) fn filter_batch(
    batch: &[u8],
    header: &BatchHeader,
    context: &FilterContext<'_>,
    retain_empty: bool,
) -> Result<Filtered, RecordError> {
    if header.is_control() || header.last_offset() >= context.map_end || matches!(header.codec(), Codec::Unknown(_)) {
        return Ok(Filtered::Unchanged);
    }
    let horizon = (header.attributes & DELETE_HORIZON_FLAG != 0).then_some(header.base_timestamp);
    let tombstones_expire = horizon.is_some_and(|horizon| context.now_ms >= horizon);
    let section = decompress_records(batch, header)?;
    let mut kept = Vec::new();
    let mut dropped_any = false;
    let mut kept_tombstone = false;
    for record in Records::new(&section, header.record_count) {
        let record = record?;
        let offset = header.base_offset + i64::from(record.offset_delta);
        let latest = record.key.is_some_and(|key| context.map.get(key).is_none_or(|latest| offset >= latest));
        let tombstone = record.value.is_none();
        if latest && !(tombstone && tombstones_expire) {
            kept_tombstone |= tombstone;
            kept.push(record);
        } else {
            dropped_any = true;
        }
    }
    if kept.is_empty() {
        if !retain_empty {
            return Ok(Filtered::Removed);
        }
        let empty = BatchHeader {
            attributes: header.attributes & EMPTY_BATCH_ATTRIBUTES,
            base_timestamp: -1,
            record_count: 0,
            ..*header
        };
        return Ok(Filtered::Rewritten(encode_batch(&empty, &[])));
    }
    let set_horizon = kept_tombstone && horizon.is_none();
    if !dropped_any && !set_horizon {
        return Ok(Filtered::Unchanged);
    }
    let horizon = if set_horizon { Some(context.now_ms.saturating_add(context.delete_retention_ms)) } else { horizon };
    let base_timestamp = horizon.unwrap_or(header.base_timestamp);
    let mut records = Vec::with_capacity(section.len());
    let mut max_timestamp = -1;
    for record in &kept {
        let timestamp = header.base_timestamp.saturating_add(record.timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        encode_record(&mut records, timestamp.saturating_sub(base_timestamp), record.offset_delta, record.body);
    }
    if header.is_log_append_time() {
        max_timestamp = header.max_timestamp;
    }
    let rewritten = BatchHeader {
        attributes: header.attributes | if horizon.is_some() { DELETE_HORIZON_FLAG } else { 0 },
        base_timestamp,
        max_timestamp,
        record_count: kept.len() as i32,
        ..*header
    };
    Ok(Filtered::Rewritten(encode_batch(&rewritten, &compress_records(header.codec(), &records)?)))
}
