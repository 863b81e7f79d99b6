//! The records inside a v2 batch, for the few places that must look at them: the log
//! cleaner (keys, values, offsets) and produce validation of compacted topics (keys).
//! The hot path never comes here; see [`crate::batch`] for the header-only views.
//!
//! The records section (after the 61-byte header) is compressed as a whole with the
//! batch's codec. Decompressed, it is `recordCount` records of this layout (varints are
//! zigzag-encoded, as in protobuf):
//!
//! ```text
//! length           varint   bytes of the record after this field
//! attributes       int8     unused, 0
//! timestampDelta   varlong  record timestamp - batch baseTimestamp
//! offsetDelta      varint   record offset - batch baseOffset
//! keyLength        varint   -1 for a null key
//! key              bytes
//! valueLength      varint   -1 for a null value (a tombstone)
//! value            bytes
//! headerCount      varint
//! headers          [headerKeyLength varint, headerKey, headerValueLength varint, headerValue]
//! ```
//!
//! [`RecordView`] exposes the fields without copying and keeps the bytes from
//! `keyLength` to the end as they are, so a record can be written again with another
//! timestamp delta ([`encode_record`]) without touching its key, value or headers.

use std::io::Read;

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{self as codecs, Compressor};

use crate::batch::{compute_crc, BatchHeader, Codec, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};

/// Why the records of a batch cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The attributes name a codec Kafka does not define.
    #[error("unknown compression codec {0}")]
    UnknownCodec(u8),
    #[error("cannot decompress the records: {0}")]
    Decompression(String),
    /// The records would decompress to more than [`MAX_DECOMPRESSED_BYTES`].
    #[error("the records decompress to more than {} MiB", MAX_DECOMPRESSED_BYTES >> 20)]
    DecompressedTooLarge,
    #[error("cannot compress the records: {0}")]
    Compression(String),
    /// The (decompressed) bytes are not `recordCount` well-formed records.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

/// The most bytes one batch's records may decompress to. A compressed batch is small
/// (`message.max.bytes`), but its records are not bounded by it: without a bound, a few
/// kilobytes crafted to expand a thousandfold would make the broker allocate gigabytes.
/// Real batches are far below this (producers cap a batch's uncompressed size with
/// `batch.size`).
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// The records section of `batch` (a whole batch whose header is `header`), decompressed
/// (at most [`MAX_DECOMPRESSED_BYTES`]).
///
/// # Errors
/// [`RecordError::UnknownCodec`], [`RecordError::Decompression`],
/// [`RecordError::DecompressedTooLarge`]; [`RecordError::Malformed`] if `batch` is
/// shorter than `header` says.
pub fn decompress_records(batch: &[u8], header: &BatchHeader) -> Result<Bytes, RecordError> {
    let section = batch.get(BATCH_HEADER_LEN..header.size()).ok_or(RecordError::Malformed("batch shorter than its length"))?;
    let failed = |e: std::io::Error| RecordError::Decompression(e.to_string());
    let decompressed = match header.codec() {
        Codec::None => return Ok(Bytes::copy_from_slice(section)),
        Codec::Gzip => read_bounded(flate2::read::GzDecoder::new(section))?,
        Codec::Snappy => snappy_decompress(section)?,
        Codec::Lz4 => read_bounded(lz4::Decoder::new(section).map_err(failed)?)?,
        Codec::Zstd => read_bounded(zstd::stream::read::Decoder::with_buffer(section).map_err(failed)?)?,
        Codec::Unknown(codec) => return Err(RecordError::UnknownCodec(codec)),
    };
    Ok(Bytes::from(decompressed))
}

/// Everything `reader` yields, up to [`MAX_DECOMPRESSED_BYTES`].
fn read_bounded(reader: impl Read) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| RecordError::Decompression(e.to_string()))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(RecordError::DecompressedTooLarge);
    }
    Ok(out)
}

/// The header of the snappy-java framing Kafka's clients write (`SnappyOutputStream`).
const XERIAL_SNAPPY_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// Snappy as Kafka writes it: snappy-java's framing (a header, then blocks of a 4-byte
/// big-endian length and raw snappy), or raw snappy without the header, as snappy-java
/// reads it. Each block states its decompressed length first, so the bound is checked
/// before anything is allocated.
fn snappy_decompress(section: &[u8]) -> Result<Vec<u8>, RecordError> {
    let failed = |e: snap::Error| RecordError::Decompression(e.to_string());
    let blocks: Vec<&[u8]> = match section.strip_prefix(XERIAL_SNAPPY_HEADER.as_slice()) {
        None => vec![section],
        Some(mut rest) => {
            let mut blocks = Vec::new();
            while !rest.is_empty() {
                let (len, tail) = rest.split_first_chunk::<4>().ok_or(RecordError::Malformed("snappy block length cut short"))?;
                let len = u32::from_be_bytes(*len) as usize;
                let block = tail.get(..len).ok_or(RecordError::Malformed("snappy block longer than the batch"))?;
                blocks.push(block);
                rest = &tail[len..];
            }
            blocks
        }
    };
    let mut total = 0usize;
    for block in &blocks {
        total = total.saturating_add(snap::raw::decompress_len(block).map_err(failed)?);
    }
    if total > MAX_DECOMPRESSED_BYTES {
        return Err(RecordError::DecompressedTooLarge);
    }
    let mut out = vec![0; total];
    let mut position = 0;
    let mut decoder = snap::raw::Decoder::new();
    for block in blocks {
        position += decoder.decompress(block, &mut out[position..]).map_err(failed)?;
    }
    out.truncate(position);
    Ok(out)
}

/// `records` (a decompressed records section) compressed with `codec`.
///
/// # Errors
/// [`RecordError::UnknownCodec`], [`RecordError::Compression`].
pub fn compress_records(codec: Codec, records: &[u8]) -> Result<BytesMut, RecordError> {
    let mut out = BytesMut::new();
    let put = |buf: &mut BytesMut| {
        buf.extend_from_slice(records);
        Ok(())
    };
    let compressed = match codec {
        Codec::None => {
            out.extend_from_slice(records);
            return Ok(out);
        }
        Codec::Gzip => codecs::Gzip::compress(&mut out, put),
        Codec::Snappy => codecs::Snappy::compress(&mut out, put),
        Codec::Lz4 => codecs::Lz4::compress(&mut out, put),
        Codec::Zstd => codecs::Zstd::compress(&mut out, put),
        Codec::Unknown(codec) => return Err(RecordError::UnknownCodec(codec)),
    };
    compressed.map_err(|e| RecordError::Compression(e.to_string()))?;
    Ok(out)
}

/// One record of a decompressed records section, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// `None` for a null value: the record is a tombstone.
    pub value: Option<&'a [u8]>,
    /// The record's bytes from `keyLength` to its end (key, value and headers).
    pub body: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// The keys of the record's headers, in order (`None` for a null key).
    ///
    /// # Errors
    /// [`RecordError::Malformed`] when the headers run past the record.
    pub fn header_keys(&self) -> Result<Vec<Option<&'a [u8]>>, RecordError> {
        let mut cursor = Cursor { buf: self.body, pos: 0 };
        cursor.nullable_bytes()?; // key
        cursor.nullable_bytes()?; // value
        let count = cursor.varint()?;
        let mut keys = Vec::with_capacity(count.clamp(0, 64) as usize);
        for _ in 0..count.max(0) {
            keys.push(cursor.nullable_bytes()?);
            cursor.nullable_bytes()?;
        }
        Ok(keys)
    }
}

/// Walks the records of a decompressed records section.
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: i32,
}

impl<'a> Records<'a> {
    /// The `record_count` records at the front of `section`.
    pub fn new(section: &'a [u8], record_count: i32) -> Self {
        Records { buf: section, pos: 0, remaining: record_count.max(0) }
    }

    fn parse_next(&mut self) -> Result<RecordView<'a>, RecordError> {
        let mut cursor = Cursor { buf: self.buf, pos: self.pos };
        let length = cursor.varint()?;
        let length = usize::try_from(length).map_err(|_| RecordError::Malformed("negative record length"))?;
        let end = cursor.pos.checked_add(length).filter(|&end| end <= self.buf.len());
        let end = end.ok_or(RecordError::Malformed("record longer than its batch"))?;
        let mut record = Cursor { buf: &self.buf[..end], pos: cursor.pos };
        record.bytes(1)?; // attributes
        let timestamp_delta = record.varlong()?;
        let offset_delta = record.varint()?;
        let body_start = record.pos;
        let key = record.nullable_bytes()?;
        let value = record.nullable_bytes()?;
        let header_count = record.varint()?;
        for _ in 0..header_count.max(0) {
            record.nullable_bytes()?;
            record.nullable_bytes()?;
        }
        if record.pos != end {
            return Err(RecordError::Malformed("record length does not match its fields"));
        }
        self.pos = end;
        Ok(RecordView { timestamp_delta, offset_delta, key, value, body: &self.buf[body_start..end] })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    /// The next record; after an error, `None`.
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining <= 0 {
            return None;
        }
        self.remaining -= 1;
        let parsed = self.parse_next();
        if parsed.is_err() {
            self.remaining = 0;
        }
        Some(parsed)
    }
}

/// A bounds-checked reader of record fields.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, len: usize) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(len).filter(|&end| end <= self.buf.len());
        let end = end.ok_or(RecordError::Malformed("field runs past the record"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn varlong(&mut self) -> Result<i64, RecordError> {
        let mut raw: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(RecordError::Malformed("varint runs past the record"))?;
            self.pos += 1;
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(RecordError::Malformed("varint longer than 10 bytes"))
    }

    fn varint(&mut self) -> Result<i32, RecordError> {
        i32::try_from(self.varlong()?).map_err(|_| RecordError::Malformed("varint out of the 32-bit range"))
    }

    fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        self.bytes(len as usize).map(Some)
    }
}

fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Appends a record to a records section: `body` is a [`RecordView::body`] (key, value
/// and headers as they were), with new deltas.
pub fn encode_record(out: &mut Vec<u8>, timestamp_delta: i64, offset_delta: i32, body: &[u8]) {
    let mut fields = Vec::with_capacity(16);
    fields.push(0); // attributes
    put_varlong(&mut fields, timestamp_delta);
    put_varlong(&mut fields, i64::from(offset_delta));
    put_varlong(out, (fields.len() + body.len()) as i64);
    out.extend_from_slice(&fields);
    out.extend_from_slice(body);
}

/// A whole batch with the fields of `header` (base offset, leader epoch, attributes,
/// last offset delta, timestamps, producer fields, record count) and `records` as its
/// (already compressed) records section; the length and CRC32C are computed. Magic is 2.
pub fn encode_batch(header: &BatchHeader, records: &[u8]) -> Vec<u8> {
    let size = BATCH_HEADER_LEN + records.len();
    let mut batch = Vec::with_capacity(size);
    batch.extend_from_slice(&header.base_offset.to_be_bytes());
    batch.extend_from_slice(&((size - LOG_OVERHEAD) as i32).to_be_bytes());
    batch.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    batch.push(MAGIC_V2 as u8);
    batch.extend_from_slice(&[0; 4]); // CRC, below
    batch.extend_from_slice(&header.attributes.to_be_bytes());
    batch.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    batch.extend_from_slice(&header.base_timestamp.to_be_bytes());
    batch.extend_from_slice(&header.max_timestamp.to_be_bytes());
    batch.extend_from_slice(&header.producer_id.to_be_bytes());
    batch.extend_from_slice(&header.producer_epoch.to_be_bytes());
    batch.extend_from_slice(&header.base_sequence.to_be_bytes());
    batch.extend_from_slice(&header.record_count.to_be_bytes());
    batch.extend_from_slice(records);
    let crc = compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The index of the first record without a key in the batch at the front of `batch`
/// (control batches have none to check), or `None` if every record has a key. Kafka
/// refuses such records in compacted topics (`INVALID_RECORD`).
///
/// # Errors
/// Any [`RecordError`]: the records cannot be decompressed or parsed.
pub fn first_record_without_key(batch: &[u8], header: &BatchHeader) -> Result<Option<usize>, RecordError> {
    if header.is_control() {
        return Ok(None);
    }
    let section = decompress_records(batch, header)?;
    for (index, record) in Records::new(&section, header.record_count).enumerate() {
        if record?.key.is_none() {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// The index (counted over the whole set) of the first record without a key in a
/// validated record set whose batch headers are `headers`, or `None` if every record has
/// a key. Kafka refuses such records in compacted topics (`INVALID_RECORD`); this is the
/// only produce check that decompresses records, so callers run it for those topics only.
///
/// # Errors
/// Any [`RecordError`]: some records cannot be decompressed or parsed.
pub fn find_record_without_key(records: &[u8], headers: &[BatchHeader]) -> Result<Option<usize>, RecordError> {
    let (mut position, mut skipped) = (0, 0);
    for header in headers {
        let batch = records.get(position..).ok_or(RecordError::Malformed("record set shorter than its batches"))?;
        if let Some(index) = first_record_without_key(batch, header)? {
            return Ok(Some(skipped + index));
        }
        position += header.size();
        skipped += header.record_count.max(0) as usize;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

    fn record(offset: i64, key: Option<&'static [u8]>, value: Option<&'static [u8]>) -> Record {
        let mut headers = kafka_protocol::indexmap::IndexMap::new();
        headers.insert("h".into(), Some(Bytes::from_static(b"hv")));
        Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 1_000 + offset,
            key: key.map(Bytes::from_static),
            value: value.map(Bytes::from_static),
            headers,
            delete_horizon: false,
        }
    }

    fn encode(records: &[Record], compression: Compression) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
        buf.to_vec()
    }

    #[test]
    fn walks_records_of_every_codec() {
        let records = [record(0, Some(b"k1"), Some(b"v1")), record(1, None, Some(b"v2")), record(2, Some(b"k3"), None)];
        for compression in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let batch = encode(&records, compression);
            let header = BatchHeader::parse(&batch).unwrap();
            let section = decompress_records(&batch, &header).unwrap();
            let views: Vec<RecordView> = Records::new(&section, header.record_count).map(Result::unwrap).collect();
            assert_eq!(views.len(), 3, "{compression:?}");
            assert_eq!(views[0].key, Some(&b"k1"[..]));
            assert_eq!(views[1].key, None);
            assert_eq!(views[2].value, None);
            assert_eq!(views[2].offset_delta, 2);
            assert_eq!(views[2].timestamp_delta, 2);
            assert_eq!(first_record_without_key(&batch, &header).unwrap(), Some(1));
        }
    }

    /// `batch` (uncompressed) with its records section replaced by `section` under `codec`.
    fn with_section(batch: &[u8], codec: Codec, section: &[u8]) -> (Vec<u8>, BatchHeader) {
        let header = BatchHeader::parse(batch).unwrap();
        let attributes = (header.attributes & !0x07) | match codec {
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
            _ => 0,
        };
        let rebuilt = encode_batch(&BatchHeader { attributes, ..header }, section);
        let header = BatchHeader::parse(&rebuilt).unwrap();
        (rebuilt, header)
    }

    #[test]
    fn reads_snappy_in_the_snappy_java_framing_of_the_java_client() {
        let records = [record(0, Some(b"k1"), Some(b"v1")), record(1, Some(b"k2"), Some(b"v2"))];
        let plain = encode(&records, Compression::None);
        let section = &plain[BATCH_HEADER_LEN..];
        // Two blocks, as SnappyOutputStream writes a long section.
        let (first, second) = section.split_at(section.len() / 2);
        let mut framed = XERIAL_SNAPPY_HEADER.to_vec();
        for block in [first, second] {
            let compressed = snap::raw::Encoder::new().compress_vec(block).unwrap();
            framed.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
            framed.extend_from_slice(&compressed);
        }
        let (batch, header) = with_section(&plain, Codec::Snappy, &framed);
        assert_eq!(&decompress_records(&batch, &header).unwrap()[..], section);
        // Raw snappy without the framing is read too.
        let raw = snap::raw::Encoder::new().compress_vec(section).unwrap();
        let (batch, header) = with_section(&plain, Codec::Snappy, &raw);
        assert_eq!(&decompress_records(&batch, &header).unwrap()[..], section);
        // A block cut short is malformed, not a panic.
        let (batch, header) = with_section(&plain, Codec::Snappy, &framed[..framed.len() - 3]);
        assert!(decompress_records(&batch, &header).is_err());
    }

    #[test]
    fn a_batch_that_decompresses_beyond_the_bound_is_refused_before_it_is_expanded() {
        let plain = encode(&[record(0, Some(b"k"), Some(b"v"))], Compression::None);
        let zeros = vec![0u8; MAX_DECOMPRESSED_BYTES + 1];
        let mut zstd_bomb = Vec::new();
        zstd::stream::copy_encode(&zeros[..], &mut zstd_bomb, 1).unwrap();
        assert!(zstd_bomb.len() < 1 << 20, "a small batch: {} bytes", zstd_bomb.len());
        let (batch, header) = with_section(&plain, Codec::Zstd, &zstd_bomb);
        assert_eq!(decompress_records(&batch, &header), Err(RecordError::DecompressedTooLarge));
        // Snappy states the decompressed length up front: refused without decompressing.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f]; // varint: 4 GiB - 1
        let (batch, header) = with_section(&plain, Codec::Snappy, &claim);
        assert_eq!(decompress_records(&batch, &header), Err(RecordError::DecompressedTooLarge));
    }

    #[test]
    fn finds_the_keyless_record_of_a_set() {
        let keyed = encode(&[record(0, Some(b"a"), Some(b"1")), record(1, Some(b"b"), None)], Compression::Gzip);
        let keyless = encode(&[record(0, Some(b"c"), Some(b"1")), record(1, None, Some(b"2"))], Compression::Lz4);
        let set = [keyed.clone(), keyless].concat();
        let headers = crate::batch::validate_record_set(&set, usize::MAX).unwrap();
        assert_eq!(find_record_without_key(&set, &headers).unwrap(), Some(3));
        let headers = crate::batch::validate_record_set(&keyed, usize::MAX).unwrap();
        assert_eq!(find_record_without_key(&keyed, &headers).unwrap(), None);
    }

    #[test]
    fn re_encoded_records_decode_with_kafka_protocol() {
        let records = [record(0, Some(b"a"), Some(b"1")), record(1, Some(b"b"), Some(b"2")), record(2, Some(b"c"), None)];
        let batch = encode(&records, Compression::Zstd);
        let header = BatchHeader::parse(&batch).unwrap();
        let section = decompress_records(&batch, &header).unwrap();
        let mut kept = Vec::new();
        for view in Records::new(&section, header.record_count).map(Result::unwrap).filter(|r| r.key != Some(b"b")) {
            // Rebase the timestamps on 900 instead of 1000.
            encode_record(&mut kept, view.timestamp_delta + 100, view.offset_delta, view.body);
        }
        let rebuilt_header = BatchHeader { base_offset: 40, base_timestamp: 900, record_count: 2, ..header };
        let rebuilt = encode_batch(&rebuilt_header, &compress_records(header.codec(), &kept).unwrap());
        crate::batch::validate_batch(&rebuilt, usize::MAX).unwrap_err(); // 2 records, last offset delta 2
        let decoded = kafka_protocol::records::RecordBatchDecoder::decode(&mut Bytes::from(rebuilt)).unwrap();
        assert_eq!(decoded.compression, Compression::Zstd);
        let summary: Vec<_> = decoded.records.iter().map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone())).collect();
        assert_eq!(
            summary,
            vec![
                (40, 1_000, Some(Bytes::from_static(b"a")), Some(Bytes::from_static(b"1"))),
                (42, 1_002, Some(Bytes::from_static(b"c")), None),
            ]
        );
        assert_eq!(decoded.records[1].headers.get(&b"h"[..]), Some(&Some(Bytes::from_static(b"hv"))));
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        let batch = encode(&[record(0, Some(b"key"), Some(b"value"))], Compression::None);
        let header = BatchHeader::parse(&batch).unwrap();
        let section = decompress_records(&batch, &header).unwrap();
        for cut in 0..section.len() {
            assert!(Records::new(&section[..cut], 1).next().unwrap().is_err(), "cut at {cut}");
        }
        assert!(Records::new(&section, 2).nth(1).unwrap().is_err(), "a missing record");
        assert!(Records::new(&[0xff; 12], 1).next().unwrap().is_err(), "an endless varint");
    }
}
