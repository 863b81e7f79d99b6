//! Micro-benchmarks of the produce path's per-request work in `spool-protocol`:
//! validating a record set (header checks plus CRC32C over every byte), parsing one
//! batch header, and decoding a request header and a produce request body.
//!
//! `cargo bench -p spool-protocol --bench batch`; numbers live in the bench report,
//! never in tests.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use spool_protocol::batch::{compute_crc, validate_record_set, BatchHeader, Batches};
use spool_protocol::header::{decode_request_header, peek_prefix};

/// Bytes of the record set a producer with 1 MB batches sends per partition.
const RECORD_SET_BYTES: usize = 1 << 20;
const VALUE_BYTES: usize = 100;
const PRODUCE_VERSION: i16 = 9;

/// One uncompressed batch of 100-byte values of about `bytes` bytes, as librdkafka
/// sends with `batch.size` of that much (non-idempotent: base sequence -1).
fn batch_of(bytes: usize) -> BytesMut {
    let value = Bytes::from(vec![b'A'; VALUE_BYTES]);
    // A 100-byte value with no key or headers takes about 108 bytes in a batch.
    let count = (bytes - 61) / (VALUE_BYTES + 8);
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
        .unwrap();
    buf[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = compute_crc(&buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    buf
}

/// `n` batches of about `RECORD_SET_BYTES / n` bytes each, back to back.
fn record_set(batches: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_SET_BYTES + 4096);
    for _ in 0..batches {
        out.extend_from_slice(&batch_of(RECORD_SET_BYTES / batches));
    }
    out
}

fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate_record_set");
    for batches in [1usize, 64] {
        let set = record_set(batches);
        assert_eq!(Batches::new(&set).count(), batches, "the encoder split a batch");
        group.throughput(Throughput::Bytes(set.len() as u64));
        group.bench_function(format!("1MiB_in_{batches}_batches"), |b| {
            b.iter(|| validate_record_set(black_box(&set), usize::MAX).unwrap())
        });
    }
    let set = record_set(1);
    group.bench_function("crc32c_only_1MiB", |b| b.iter(|| compute_crc(black_box(&set))));
    group.finish();
}

fn headers(c: &mut Criterion) {
    let batch = batch_of(16 * 1024);
    c.bench_function("batch_header_parse", |b| b.iter(|| BatchHeader::parse(black_box(&batch)).unwrap()));

    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(PRODUCE_VERSION)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("perf-producer-client")));
    let mut frame = BytesMut::new();
    header.encode(&mut frame, ApiKey::Produce.request_header_version(PRODUCE_VERSION)).unwrap();
    let header_end = frame.len();
    let body = ProduceRequest::default().with_acks(1).with_timeout_ms(30_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("perf")))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(Bytes::from(record_set(1))))])]);
    body.encode(&mut frame, PRODUCE_VERSION).unwrap();
    let frame = frame.freeze();

    c.bench_function("request_header_decode/produce_v9", |b| {
        b.iter(|| {
            let prefix = peek_prefix(black_box(&frame)).unwrap();
            let mut rest = frame.clone();
            let key = ApiKey::try_from(prefix.api_key).unwrap();
            decode_request_header(&mut rest, key, prefix.api_version).unwrap()
        })
    });
    let body_bytes = frame.slice(header_end..);
    let mut group = c.benchmark_group("produce_request_decode");
    group.throughput(Throughput::Bytes(body_bytes.len() as u64));
    group.bench_function("v9_one_partition_1MiB", |b| {
        b.iter(|| {
            let mut rest = body_bytes.clone();
            ProduceRequest::decode(black_box(&mut rest), PRODUCE_VERSION).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, validate, headers);
criterion_main!(benches);
