//! Micro-benchmarks of the partition log: appending 1 MiB of batches as the leader,
//! reading 1 MiB from an offset (a fetch), and finding one small batch by offset (the
//! offset index lookup with the read it leads to).
//!
//! `cargo bench -p spool-storage --bench log`. The log lives in a temporary directory
//! (page cache; nothing is fsynced: `flush.messages` is unlimited, as Kafka's default).
//! Each append sample starts a fresh log and deletes it afterwards, so the disk holds
//! at most one sample's bytes.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use spool_protocol::batch::compute_crc;
use spool_storage::{Log, LogConfig};

const MIB: usize = 1 << 20;
const VALUE_BYTES: usize = 100;
const NOW_MS: i64 = 1_700_000_000_000;

/// One uncompressed batch of `count` 100-byte values (non-idempotent).
fn batch(count: usize) -> BytesMut {
    let value = Bytes::from(vec![b'A'; VALUE_BYTES]);
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
            timestamp: NOW_MS + i as i64,
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

/// Records of 100 bytes that fit a batch of about `bytes` bytes.
fn records_for(bytes: usize) -> usize {
    (bytes - 61) / (VALUE_BYTES + 8)
}

fn open(dir: &std::path::Path) -> Log {
    Log::open(dir, LogConfig::default(), NOW_MS).unwrap()
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_as_leader");
    group.sample_size(10).measurement_time(Duration::from_secs(3));
    for batches in [1usize, 64] {
        let one = batch(records_for(MIB / batches));
        group.throughput(Throughput::Bytes((one.len() * batches) as u64));
        group.bench_function(format!("1MiB_in_{batches}_batches"), |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().unwrap();
                let mut log = open(dir.path());
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..batches {
                        black_box(log.append_as_leader(&one, 0, NOW_MS).unwrap());
                    }
                }
                let elapsed = start.elapsed();
                drop(log);
                elapsed
            })
        });
    }
    group.finish();
}

/// A log of `total` bytes in batches of `batch_records` records; returns its dir.
fn filled_log(total: usize, batch_records: usize) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let one = batch(batch_records);
    let mut written = 0;
    while written < total {
        log.append_as_leader(&one, 0, NOW_MS).unwrap();
        written += one.len();
    }
    (dir, log)
}

/// Offsets spread over the log, the same in every run.
struct Offsets {
    state: u64,
    end: i64,
}

impl Offsets {
    fn next(&mut self) -> i64 {
        self.state = self.state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.state >> 33) % self.end as u64) as i64
    }
}

fn read(c: &mut Criterion) {
    // 256 MiB of 16 KiB batches: a fetch of 1 MiB from a random offset.
    let (_dir, log) = filled_log(256 * MIB, records_for(16 * 1024));
    let end = log.log_end_offset();
    let mut offsets = Offsets { state: 1, end };
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.bench_function("1MiB_at_random_offset", |b| {
        b.iter(|| log.read(black_box(offsets.next()), MIB, end, true).unwrap())
    });
    group.finish();
    drop(log);

    // 64 MiB of single-record batches (about 600 k batches, 16 k index entries per
    // 64 MiB at the default index.interval.bytes of 4096): one batch by offset.
    let (_dir, log) = filled_log(64 * MIB, 1);
    let end = log.log_end_offset();
    let mut offsets = Offsets { state: 7, end };
    c.bench_function("index_lookup/one_batch_at_random_offset", |b| {
        b.iter(|| log.read(black_box(offsets.next()), 1, end, true).unwrap())
    });
}

criterion_group!(benches, append, read);
criterion_main!(benches);
