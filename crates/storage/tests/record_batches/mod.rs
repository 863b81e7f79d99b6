//! Record batches for the behaviour tests, built with kafka-protocol's reference encoder,
//! and helpers to look at what a read returned.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use spool_protocol::batch::Batches;
use spool_storage::{Log, LogConfig};

/// What to put in one batch.
#[derive(Clone, Debug)]
pub struct Spec {
    pub count: usize,
    /// Record `i` gets timestamp `first_timestamp + i * timestamp_step`.
    pub first_timestamp: i64,
    pub timestamp_step: i64,
    pub value_bytes: usize,
    /// (producer id, epoch, base sequence) of an idempotent producer.
    pub producer: Option<(i64, i16, i32)>,
    pub compression: Compression,
    /// Prefix of each record's value, to tell batches apart.
    pub tag: String,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            count: 1,
            first_timestamp: 1_000,
            timestamp_step: 1,
            value_bytes: 16,
            producer: None,
            compression: Compression::None,
            tag: "v".into(),
        }
    }
}

pub fn encode(spec: &Spec) -> BytesMut {
    let (producer_id, producer_epoch, base_sequence) = spec.producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = (0..spec.count)
        .map(|i| {
            let mut value = format!("{}-{i}-", spec.tag).into_bytes();
            value.resize(value.len().max(spec.value_bytes), b'x');
            Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // offset - sequence must stay constant within one batch.
                sequence: if base_sequence < 0 { i as i32 } else { base_sequence.wrapping_add(i as i32) },
                timestamp: spec.first_timestamp + i as i64 * spec.timestamp_step,
                key: None,
                value: Some(Bytes::from(value)),
                headers: Default::default(),
                delete_horizon: false,
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: spec.compression };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
    if base_sequence < 0 {
        // Non-idempotent batches carry base sequence -1 (the encoder wrote the first
        // record's sequence); the CRC covers it, so recompute it.
        buf[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        let crc = crc32c::crc32c(&buf[21..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    assert_eq!(Batches::new(&buf).count(), 1, "encoder split the batch");
    buf
}

/// One batch whose records carry exactly `timestamps`, in order.
pub fn with_timestamps(timestamps: &[i64], compression: Compression) -> BytesMut {
    let records: Vec<Record> = timestamps
        .iter()
        .enumerate()
        .map(|(i, &timestamp)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // offset - sequence must stay constant within one batch.
            sequence: i as i32,
            timestamp,
            key: None,
            value: Some(Bytes::from(format!("t{timestamp}-{i}"))),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
    // Not idempotent: base sequence -1, and the CRC over it recomputed.
    buf[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(Batches::new(&buf).count(), 1, "encoder split the batch");
    buf
}

/// A batch of `count` records with timestamps `first_timestamp..`.
pub fn batch(count: usize, first_timestamp: i64) -> BytesMut {
    encode(&Spec { count, first_timestamp, ..Spec::default() })
}

/// A batch of an idempotent producer.
pub fn idempotent(producer_id: i64, epoch: i16, base_sequence: i32, count: usize) -> BytesMut {
    encode(&Spec { count, producer: Some((producer_id, epoch, base_sequence)), ..Spec::default() })
}

/// A configuration with small segments and a dense index.
pub fn small_segments(segment_bytes: u64) -> LogConfig {
    LogConfig { segment_bytes, index_interval_bytes: 256, ..LogConfig::default() }
}

/// (base offset, last offset) of every batch in `bytes`, which must be whole batches.
pub fn batch_ranges(bytes: &[u8]) -> Vec<(i64, i64)> {
    let mut batches = Batches::new(bytes);
    let ranges = batches.by_ref().map(|(h, _)| (h.base_offset, h.last_offset())).collect();
    assert_eq!(batches.position(), bytes.len(), "read returned a partial batch");
    ranges
}

/// Offsets of every record in `bytes`, decoded.
pub fn record_offsets(bytes: &Bytes) -> Vec<i64> {
    let mut buf = bytes.clone();
    RecordBatchDecoder::decode_all(&mut buf).unwrap().iter().flat_map(|set| set.records.iter().map(|r| r.offset)).collect()
}

/// Asserts that the log holds every offset from 0 to its end, each once, in order.
pub fn assert_contiguous_from_zero(log: &Log) {
    let bytes = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    assert_eq!(record_offsets(&bytes), (0..log.log_end_offset()).collect::<Vec<_>>());
}

/// Values of every record in `bytes`, decoded.
pub fn record_values(bytes: &Bytes) -> Vec<String> {
    let mut buf = bytes.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .iter()
        .flat_map(|set| set.records.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(&[])).into_owned()))
        .collect()
}

/// Files of `dir` with the given suffix, sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// The recovery point in the checkpoint file.
pub fn checkpointed_recovery_point(dir: &Path) -> i64 {
    let text = std::fs::read_to_string(dir.join("recovery-point-offset-checkpoint")).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}
