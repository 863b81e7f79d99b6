//! Log compaction (`cleanup.policy=compact`) of the real `spool` binary, driven with
//! librdkafka (`rdkafka`): the cleaner shrinks the partition to the latest value per
//! key, tombstones go after `delete.retention.ms`, keyless records are refused, and
//! `__consumer_offsets` compacts while committed offsets stay right across `kill -9`.
//!
//! The broker runs its cleaner every 100 ms, with tiny segments and a tiny dirty ratio.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test compaction`.

mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use harness::rdkafka_client::{assign, create_topic_with};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(60);
const KEYS: usize = 5;
const ROUNDS: usize = 40;

fn start_broker() -> harness::Broker {
    harness::Broker::start_with(&[
        "--set",
        "log.cleaner.backoff.ms=100",
        "--set",
        "log.cleaner.min.cleanable.ratio=0.01",
        "--set",
        "offsets.topic.num.partitions=1",
        "--set",
        "offsets.topic.segment.bytes=2048",
        "--set",
        "log.roll.ms=300",
    ])
}

const COMPACTED: [(&str, &str); 5] = [
    ("cleanup.policy", "compact"),
    ("segment.bytes", "1024"),
    ("segment.ms", "300"),
    ("min.cleanable.dirty.ratio", "0.01"),
    ("delete.retention.ms", "1000"),
];

/// A broker with a fresh compacted topic of one partition, and a producer.
async fn compacted_topic(prefix: &str) -> (harness::Broker, String, FutureProducer) {
    let broker = start_broker();
    let topic = harness::unique_topic(prefix);
    create_topic_with(&broker.addr, &topic, 1, &COMPACTED).await;
    let producer = producer(&broker.addr);
    (broker, topic, producer)
}

fn producer(addr: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("linger.ms", "0")
        .set("retries", "0")
        .create()
        .expect("producer")
}

fn consumer(addr: &str, group: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

/// Sends one record (`None` value: a tombstone) and returns its offset.
async fn send(producer: &FutureProducer, topic: &str, key: &str, value: Option<&str>) -> i64 {
    let mut record = FutureRecord::<str, str>::to(topic).partition(0).key(key);
    if let Some(value) = value {
        record = record.payload(value);
    }
    match producer.send(record, Duration::from_secs(30)).await {
        Ok(delivery) => delivery.offset,
        Err((e, _)) => panic!("produce {key}: {e}"),
    }
}

/// Total bytes of the `.log` files of a partition directory.
fn log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry"))
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .map(|entry| entry.metadata().expect("metadata").len())
        .sum()
}

/// Polls until `done` holds on the partition's `.log` bytes; panics with the broker log at the deadline.
async fn wait_for_bytes(broker: &harness::Broker, dir: &Path, what: &str, done: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let bytes = log_bytes(dir);
        if done(bytes) {
            return bytes;
        }
        assert!(Instant::now() < deadline, "{what}: still {bytes} bytes in {}; log:\n{}", dir.display(), broker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record from the log start to the high watermark: (offset, key, value).
async fn read_all(addr: &str, topic: &str) -> Vec<(i64, String, Option<String>)> {
    let consumer = consumer(addr, "spool-e2e-compaction-reader");
    let (_, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(10)).expect("watermarks");
    assign(&consumer, topic, &[(0, 0)]);
    let mut records = Vec::new();
    let deadline = Instant::now() + WAIT;
    while records.last().is_none_or(|(offset, _, _)| offset + 1 < high) {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(message)) => message,
            other => panic!("reading {topic} up to {high}: {other:?} after {records:?}"),
        };
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        records.push((message.offset(), text(message.key()).unwrap_or_default(), text(message.payload())));
    }
    records
}

#[tokio::test]
async fn the_cleaner_keeps_the_latest_value_per_key_and_drops_tombstones() {
    let (broker, topic, producer) = compacted_topic("compacted").await;
    let dir = broker.data_dir().join(format!("{topic}-0"));
    // The cleaner may already run while the records go in, so the log never holds all of
    // them at once: count what was written instead. Each record is a batch of its own
    // (linger.ms=0): at least the 61-byte batch header plus its value.
    let mut written = 0;
    for round in 0..ROUNDS {
        for key in 0..KEYS {
            let value = format!("k{key}-round{round}-{}", "x".repeat(40));
            send(&producer, &topic, &format!("k{key}"), Some(&value)).await;
            written += 61 + value.len() as u64;
        }
    }
    // Keys 3 and 4 are deleted.
    send(&producer, &topic, "k3", None).await;
    send(&producer, &topic, "k4", None).await;
    wait_for_bytes(&broker, &dir, "compaction", |bytes| bytes < written / 4).await;

    // Tombstones stay for delete.retention.ms after the cleaner first saw them, then go
    // with the next cleaning, which new records (key "filler") bring about.
    let deadline = Instant::now() + WAIT;
    let records = loop {
        send(&producer, &topic, "filler", Some("f")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let records = read_all(&broker.addr, &topic).await;
        if !records.iter().any(|(_, key, _)| key == "k3" || key == "k4") {
            break records;
        }
        assert!(Instant::now() < deadline, "tombstones still there: {records:?}; log:\n{}", broker.log());
    };
    assert!(records.windows(2).all(|pair| pair[0].0 < pair[1].0), "offsets increase: {records:?}");
    let mut latest: BTreeMap<&str, Vec<&Option<String>>> = BTreeMap::new();
    for (_, key, value) in &records {
        latest.entry(key.as_str()).or_default().push(value);
    }
    for key in 0..3 {
        let expected = Some(format!("k{key}-round{}-{}", ROUNDS - 1, "x".repeat(40)));
        assert_eq!(latest.get(format!("k{key}").as_str()), Some(&vec![&expected]), "{records:?}");
    }
    assert_eq!(latest.keys().copied().collect::<Vec<_>>(), vec!["filler", "k0", "k1", "k2"]);
    assert!(broker.log().contains("log cleaner compacted the log"));
}

#[tokio::test]
async fn a_compacted_topic_refuses_records_without_a_key() {
    let (broker, topic, producer) = compacted_topic("compacted-keyless").await;
    let record = FutureRecord::<str, str>::to(&topic).partition(0).payload("no key");
    match producer.send(record, Duration::from_secs(30)).await {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord), _)) => {}
        other => panic!("expected INVALID_RECORD, got {other:?}"),
    }
    let reader = consumer(&broker.addr, "spool-e2e-compaction-reader");
    assert_eq!(reader.fetch_watermarks(&topic, 0, Duration::from_secs(10)).expect("watermarks"), (0, 0));
    // Keyed records are accepted, from the first offset.
    assert_eq!(send(&producer, &topic, "k", Some("v")).await, 0);
}

fn commit(consumer: &StreamConsumer, topic: &str, offset: i64) {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Offset(offset)).expect("add partition");
    consumer.commit(&list, CommitMode::Sync).unwrap_or_else(|e| panic!("commit {offset}: {e}"));
}

#[tokio::test]
async fn consumer_offsets_compact_and_commits_survive_kill_9() {
    let (mut broker, topic, producer) = compacted_topic("compaction-commits").await;
    for i in 0..300 {
        send(&producer, &topic, &format!("key{i}"), Some("v")).await;
    }
    let offsets_dir = broker.data_dir().join("__consumer_offsets-0");
    let group = harness::unique_topic("compaction-group");
    let mut last_commit = 0;
    for phase in 0..2 {
        let committer = consumer(&broker.addr, &group);
        for _ in 0..100 {
            last_commit += 1;
            commit(&committer, &topic, last_commit);
        }
        // Each commit is a batch of its own (61 header bytes and more) in __consumer_offsets,
        // so uncompacted the partition holds at least 61 bytes per offset written; the
        // cleaner (running meanwhile) leaves about one record per key.
        let (_, written) = committer
            .fetch_watermarks("__consumer_offsets", 0, Duration::from_secs(10))
            .expect("watermarks of __consumer_offsets");
        assert!(written >= 100 * (phase + 1), "phase {phase}: {written} offsets in __consumer_offsets");
        drop(committer);
        wait_for_bytes(&broker, &offsets_dir, "__consumer_offsets compaction", |bytes| bytes * 4 < 61 * written as u64)
            .await;
        // kill -9 while the cleaner keeps running, and start again on the same data.
        broker.restart();
    }
    // The group resumes from its last commit.
    let resumed = consumer(&broker.addr, &group);
    resumed.subscribe(&[&topic]).expect("subscribe");
    let message = match tokio::time::timeout(WAIT, resumed.recv()).await {
        Ok(Ok(message)) => message.detach(),
        other => panic!("no record after the restart: {other:?}; log:\n{}", broker.log()),
    };
    assert_eq!(message.offset(), last_commit);
    // The compacted data topic is whole after the restarts: every key once, in order.
    let records = read_all(&broker.addr, &topic).await;
    assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), (0..300).collect::<Vec<_>>());
}
