//! Views over record batches (message format v2, "magic 2").
//!
//! Byte layout of one batch (all integers big-endian):
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset            rewritten by the leader on append
//!      8     4  batchLength           bytes after this field
//!     12     4  partitionLeaderEpoch  rewritten by the leader on append
//!     16     1  magic                 must be 2
//!     17     4  crc                   CRC32C of bytes 21..end
//!     21     2  attributes            bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
//!     23     4  lastOffsetDelta
//!     27     8  baseTimestamp
//!     35     8  maxTimestamp
//!     43     8  producerId
//!     51     2  producerEpoch
//!     53     4  baseSequence
//!     57     4  recordCount
//!     61     …  records (possibly compressed)
//! ```
//!
//! The CRC does not cover the base offset or the leader epoch, so the broker can assign
//! offsets by rewriting those fields in place without touching the records.

/// Bytes before the records of a v2 batch.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes of `baseOffset` plus `batchLength`: the part of a batch not counted by `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
/// The only message format Spool stores.
pub const MAGIC_V2: i8 = 2;

const CRC_START: usize = 21;

/// Why bytes are not a valid record batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("record batch length {0} is invalid")]
    InvalidLength(i32),
    #[error("unsupported message format (magic {0}); only magic 2 is accepted")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CorruptCrc { stored: u32, computed: u32 },
    #[error("record batch of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("record batch has an invalid record count {count} for last offset delta {last_offset_delta}")]
    InvalidRecordCount { count: i32, last_offset_delta: i32 },
    #[error("record set is empty")]
    Empty,
}

/// Compression codec named by the low three bits of the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    Unknown(u8),
}

/// The fixed header of one record batch, parsed from its first 61 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parses the header at the front of `buf`.
    ///
    /// Checks that the header is complete, the length is plausible and the magic is 2;
    /// it does not check the CRC (see [`validate_batch`]).
    ///
    /// # Errors
    /// [`BatchError::Truncated`], [`BatchError::InvalidLength`] or
    /// [`BatchError::UnsupportedMagic`].
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < BATCH_HEADER_LEN {
            // Magic is readable before the full v2 header: report old formats clearly.
            if buf.len() > 16 && buf[16] as i8 != MAGIC_V2 {
                return Err(BatchError::UnsupportedMagic(buf[16] as i8));
            }
            return Err(BatchError::Truncated { needed: BATCH_HEADER_LEN, available: buf.len() });
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, 8),
            partition_leader_epoch: be_i32(buf, 12),
            magic: buf[16] as i8,
            crc: u32::from_be_bytes([buf[17], buf[18], buf[19], buf[20]]),
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            record_count: be_i32(buf, 57),
        };
        if header.magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(header.magic));
        }
        if (header.batch_length as i64) < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(BatchError::InvalidLength(header.batch_length));
        }
        Ok(header)
    }

    /// Total bytes of the batch, header included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// The compression codec of the records.
    pub fn codec(&self) -> Codec {
        match self.attributes & 0x7 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => Codec::Unknown(other as u8),
        }
    }

    /// Whether the timestamps are the broker's append time rather than the producer's.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x8 != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Whether the batch was written by an idempotent or transactional producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence number of the last record, wrapping as Kafka does at `i32::MAX`.
    pub fn last_sequence(&self) -> i32 {
        self.sequence_at(self.last_offset_delta)
    }

    /// Sequence number of the record at `offset_delta`, wrapping to 0 after `i32::MAX`
    /// as Kafka does; -1 for a batch without sequence numbers.
    pub fn sequence_at(&self, offset_delta: i32) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let sequence = self.base_sequence as i64 + offset_delta as i64;
        if sequence > i32::MAX as i64 {
            (sequence - i32::MAX as i64 - 1) as i32
        } else {
            sequence as i32
        }
    }
}

/// CRC32C over the part of a batch that the `crc` field covers.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Fully validates the single batch at the front of `buf`: header, length, CRC32C and
/// size limit. Returns the header; the batch occupies `header.size()` bytes.
///
/// # Errors
/// Any [`BatchError`]; nothing is modified.
pub fn validate_batch(buf: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    let size = header.size();
    if size > buf.len() {
        return Err(BatchError::Truncated { needed: size, available: buf.len() });
    }
    if size > max_batch_bytes {
        return Err(BatchError::TooLarge { size, max: max_batch_bytes });
    }
    let computed = compute_crc(&buf[..size]);
    if computed != header.crc {
        return Err(BatchError::CorruptCrc { stored: header.crc, computed });
    }
    if header.record_count < 0
        || header.last_offset_delta < 0
        || (header.record_count > 0 && header.last_offset_delta > header.record_count - 1 && !header.is_control())
    {
        return Err(BatchError::InvalidRecordCount {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Validates every batch in a produce request's record set.
///
/// # Errors
/// The first [`BatchError`] found; [`BatchError::Empty`] for an empty set. A trailing
/// partial batch is an error here (producers never send one).
pub fn validate_record_set(buf: &[u8], max_batch_bytes: usize) -> Result<Vec<BatchHeader>, BatchError> {
    if buf.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut headers = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let header = validate_batch(&buf[pos..], max_batch_bytes)?;
        pos += header.size();
        headers.push(header);
    }
    Ok(headers)
}

/// Rewrites the base offset of the batch at the front of `batch`.
///
/// # Panics
/// If `batch` is shorter than a batch header (a programming error: validate first).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch of the batch at the front of `batch`.
///
/// # Panics
/// If `batch` is shorter than a batch header (a programming error: validate first).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch at the front of `batch` as carrying the broker's append time:
/// sets the timestamp-type attribute bit and `maxTimestamp`, then recomputes the CRC
/// (both fields are covered by it). Used for topics with
/// `message.timestamp.type=LogAppendTime`; consumers then read `maxTimestamp` as every
/// record's timestamp.
///
/// # Panics
/// If `batch` is not a complete batch (a programming error: validate first).
pub fn set_log_append_time(batch: &mut [u8], timestamp: i64) {
    let attributes = be_i16(batch, 21) | 0x8;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[35..43].copy_from_slice(&timestamp.to_be_bytes());
    let crc = compute_crc(batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates the complete batches in a byte slice, stopping at the first byte range that
/// is not a complete batch (as in a read that ended mid-batch). Does not check CRCs.
pub struct Batches<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Batches<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Batches { buf, pos: 0 }
    }

    /// Bytes consumed by the batches yielded so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = (BatchHeader, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        let header = BatchHeader::parse(rest).ok()?;
        let size = header.size();
        if size > rest.len() {
            return None;
        }
        self.pos += size;
        Some((header, &rest[..size]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn encode(n: usize, compression: Compression) -> BytesMut {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32, // offset - sequence must stay constant within one batch
                timestamp: 1_000 + i as i64,
                key: None,
                value: Some(bytes::Bytes::from(format!("value-{i}"))),
                headers: Default::default(),
                delete_horizon: false,
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression })
            .unwrap();
        buf
    }

    #[test]
    fn parses_header_written_by_reference_encoder() {
        let buf = encode(3, Compression::None);
        let header = validate_batch(&buf, usize::MAX).unwrap();
        assert_eq!(header.size(), buf.len());
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.base_timestamp, 1_000);
        assert_eq!(header.max_timestamp, 1_002);
        assert_eq!(header.codec(), Codec::None);
        assert!(!header.has_producer_id());
    }

    #[test]
    fn offset_rewrite_keeps_crc_valid_and_decodes() {
        let mut buf = encode(2, Compression::Gzip);
        set_base_offset(&mut buf, 4242);
        set_partition_leader_epoch(&mut buf, 7);
        let header = validate_batch(&buf, usize::MAX).unwrap();
        assert_eq!(header.base_offset, 4242);
        assert_eq!(header.partition_leader_epoch, 7);
        assert_eq!(header.codec(), Codec::Gzip);
        let set = RecordBatchDecoder::decode(&mut buf.freeze()).unwrap();
        assert_eq!(set.records[1].offset, 4243);
    }

    #[test]
    fn flipped_record_byte_is_corrupt() {
        let mut buf = encode(1, Compression::None);
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        assert!(matches!(validate_batch(&buf, usize::MAX), Err(BatchError::CorruptCrc { .. })));
    }

    #[test]
    fn limits_and_truncation_are_reported() {
        let buf = encode(5, Compression::None);
        assert!(matches!(validate_batch(&buf, 10), Err(BatchError::TooLarge { .. })));
        assert!(matches!(validate_batch(&buf[..buf.len() - 1], usize::MAX), Err(BatchError::Truncated { .. })));
        assert!(matches!(validate_batch(&buf[..30], usize::MAX), Err(BatchError::Truncated { .. })));
        let mut old = buf.clone();
        old[16] = 1;
        assert_eq!(validate_batch(&old, usize::MAX), Err(BatchError::UnsupportedMagic(1)));
        assert_eq!(validate_record_set(&[], 100), Err(BatchError::Empty));
    }

    #[test]
    fn iterates_batches_and_stops_at_partial_tail() {
        let mut all = encode(2, Compression::None);
        let second = encode(3, Compression::Lz4);
        all.extend_from_slice(&second);
        all.extend_from_slice(&second[..20]);
        let sizes: Vec<i32> = Batches::new(&all).map(|(h, _)| h.record_count).collect();
        assert_eq!(sizes, vec![2, 3]);
    }

    #[test]
    fn log_append_time_rewrite_keeps_batch_valid() {
        let mut buf = encode(3, Compression::Snappy);
        set_log_append_time(&mut buf, 99_000);
        let header = validate_batch(&buf, usize::MAX).unwrap();
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp, 99_000);
        assert_eq!(header.codec(), Codec::Snappy);
        let set = RecordBatchDecoder::decode(&mut buf.freeze()).unwrap();
        assert!(set.records.iter().all(|r| r.timestamp_type == TimestampType::LogAppend));
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut buf = encode(3, Compression::None);
        buf[53..57].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        let header = BatchHeader::parse(&buf).unwrap();
        assert_eq!(header.last_sequence(), 0);
    }
}
