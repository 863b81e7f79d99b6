//! Produce and consume through the real `spool` binary with librdkafka (`rdkafka`).
//!
//! Every test starts its own broker and uses its own topics. Consumer groups do not exist
//! yet, so consumers `assign()` explicit offsets and never subscribe or commit.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test clients_produce_consume`.

mod harness;

use harness::rdkafka_client::{assign, create_topic, recv_n};

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, Timestamp, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn new_producer(addr: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("message.timeout.ms", "30000");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("create producer")
}

fn new_consumer(addr: &str, offset_reset: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "spool-e2e-never-joined")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", offset_reset)
        .create()
        .expect("create consumer")
}

/// Asserts that nothing more arrives within `quiet`.
async fn assert_nothing_more(consumer: &StreamConsumer, quiet: Duration) {
    if let Ok(Ok(extra)) = tokio::time::timeout(quiet, consumer.recv()).await {
        panic!(
            "unexpected extra record at partition {} offset {}",
            extra.partition(),
            extra.offset()
        );
    }
}

/// One record as sent, to compare with what comes back.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp_ms: i64,
}

fn sample_records(count: usize, base_timestamp_ms: i64) -> Vec<Sent> {
    (0..count)
        .map(|i| Sent {
            // Every fifth record has no key; one has an empty value and one a null value.
            key: (i % 5 != 0).then(|| format!("key-{i}").into_bytes()),
            value: match i {
                3 => Some(Vec::new()),
                7 => None,
                _ => Some(format!("value-{i}-{}", "x".repeat(i * 7)).into_bytes()),
            },
            headers: vec![
                ("h-index".to_string(), Some(i.to_string().into_bytes())),
                ("h-empty".to_string(), Some(Vec::new())),
                ("h-null".to_string(), None),
                ("h-index".to_string(), Some(b"duplicate key".to_vec())),
            ],
            timestamp_ms: base_timestamp_ms + i as i64,
        })
        .collect()
}

fn owned_headers(sent: &Sent) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    for (key, value) in &sent.headers {
        headers = headers.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    headers
}

fn received(message: &OwnedMessage) -> Sent {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    let timestamp_ms = match message.timestamp() {
        Timestamp::CreateTime(ms) => ms,
        other => panic!(
            "offset {}: expected a CreateTime timestamp, got {other:?}",
            message.offset()
        ),
    };
    Sent {
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        timestamp_ms,
    }
}

/// Sends all records at once (so they batch under `linger.ms`) to `partition`; returns
/// the delivery result of each, in order.
async fn send_all(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    records: &[Sent],
) -> Vec<(i32, i64)> {
    let mut futures = Vec::with_capacity(records.len());
    for sent in records {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(partition)
            .timestamp(sent.timestamp_ms)
            .headers(owned_headers(sent));
        if let Some(key) = &sent.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &sent.value {
            record = record.payload(value.as_slice());
        }
        match producer.send_result(record) {
            Ok(delivery) => futures.push(delivery),
            Err((e, _)) => panic!("client refused to enqueue a record: {e}"),
        }
    }
    let mut out = Vec::with_capacity(records.len());
    for (i, result) in join_all(futures).await.into_iter().enumerate() {
        match result.expect("delivery future dropped") {
            Ok(delivery) => out.push((delivery.partition, delivery.offset)),
            Err((e, _)) => panic!("record {i} not delivered: {e}"),
        }
    }
    out
}

/// `(base offset, last offset delta)` of every batch in the first segment of partition 0,
/// read from the Kafka on-disk layout (`DATA/<topic>-0/00000000000000000000.log`).
fn batches_on_disk(broker: &harness::Broker, topic: &str) -> Vec<(i64, i32)> {
    let path = broker
        .data_dir()
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let be_i32 = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let mut batches = Vec::new();
    let mut at = 0;
    // baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
    // attributes i16, lastOffsetDelta i32 (at byte 23).
    while at + 27 <= bytes.len() {
        let base = i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        batches.push((base, be_i32(at + 23)));
        at += 12 + be_i32(at + 8) as usize;
    }
    batches
}

async fn round_trip_with_compression(codec: &str) {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic(&format!("compression-{codec}"));
    create_topic(&broker.addr, &topic, 1).await;

    let producer = new_producer(
        &broker.addr,
        &[("compression.type", codec), ("linger.ms", "100")],
    );
    let records = sample_records(60, now_ms() - 60_000);
    let deliveries = send_all(&producer, &topic, 0, &records).await;
    let expected_offsets: Vec<(i32, i64)> = (0..records.len() as i64).map(|o| (0, o)).collect();
    assert_eq!(
        deliveries, expected_offsets,
        "{codec}: acknowledged offsets must be 0..n in order"
    );

    let consumer = new_consumer(&broker.addr, "error");
    assign(&consumer, &topic, &[(0, 0)]);
    let messages = recv_n(&consumer, records.len(), WAIT).await;
    for (i, (message, sent)) in messages.iter().zip(&records).enumerate() {
        assert_eq!(message.offset(), i as i64, "{codec}: offsets in order");
        assert_eq!(&received(message), sent, "{codec}: record at offset {i}");
    }
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn round_trip_uncompressed() {
    round_trip_with_compression("none").await;
}

#[tokio::test]
async fn round_trip_gzip() {
    round_trip_with_compression("gzip").await;
}

#[tokio::test]
async fn round_trip_snappy() {
    round_trip_with_compression("snappy").await;
}

#[tokio::test]
async fn round_trip_lz4() {
    round_trip_with_compression("lz4").await;
}

#[tokio::test]
async fn round_trip_zstd() {
    round_trip_with_compression("zstd").await;
}

async fn round_trip_with_acks(acks: &str) {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic(&format!("acks-{acks}"));
    create_topic(&broker.addr, &topic, 1).await;

    let producer = new_producer(&broker.addr, &[("acks", acks), ("linger.ms", "5")]);
    let records = sample_records(40, now_ms());
    let deliveries = send_all(&producer, &topic, 0, &records).await;
    if acks != "0" {
        let expected: Vec<(i32, i64)> = (0..records.len() as i64).map(|o| (0, o)).collect();
        assert_eq!(deliveries, expected, "acks={acks}: acknowledged offsets");
    }
    // A second round after the first was acknowledged (acks=0: after the client sent it)
    // shows the connection still works after responses (or their absence).
    let more = sample_records(5, now_ms());
    send_all(&producer, &topic, 0, &more).await;

    let consumer = new_consumer(&broker.addr, "error");
    assign(&consumer, &topic, &[(0, 0)]);
    let all: Vec<Sent> = records.iter().chain(&more).cloned().collect();
    let messages = recv_n(&consumer, all.len(), WAIT).await;
    for (i, (message, sent)) in messages.iter().zip(&all).enumerate() {
        assert_eq!(message.offset(), i as i64, "acks={acks}: offsets in order");
        assert_eq!(
            &received(message),
            sent,
            "acks={acks}: record at offset {i}"
        );
    }
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn acks_zero() {
    round_trip_with_acks("0").await;
}

#[tokio::test]
async fn acks_one() {
    round_trip_with_acks("1").await;
}

#[tokio::test]
async fn acks_all() {
    round_trip_with_acks("all").await;
}

#[tokio::test]
async fn a_record_set_larger_than_the_segment_is_refused_for_good_not_retried() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("small-segments");
    harness::rdkafka_client::create_topic_with(&broker.addr, &topic, 1, &[("segment.bytes", "4096")]).await;
    // Below max.message.bytes, above segment.bytes: Kafka's RecordBatchTooLargeException,
    // RECORD_LIST_TOO_LARGE. A retriable code would have the client retry until its
    // timeout for a batch that can never fit.
    let producer = new_producer(&broker.addr, &[("message.timeout.ms", "60000")]);
    let started = std::time::Instant::now();
    let value = vec![b'x'; 8192];
    match producer.send(FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(&value), Duration::from_secs(60)).await {
        Ok(delivery) => panic!("an 8 KiB record was appended to 4 KiB segments at offset {}", delivery.offset),
        Err((e, _)) => assert_eq!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::MessageBatchTooLarge), "{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(30), "refused at once, not after retries until the timeout");
    let small = producer.send(FutureRecord::<[u8], [u8]>::to(&topic).partition(0).payload(b"fits".as_slice()), Duration::from_secs(30));
    assert_eq!(small.await.unwrap_or_else(|(e, _)| panic!("a small record: {e}")).offset, 0);
}

#[tokio::test]
async fn one_megabyte_value_is_accepted_and_two_mebibytes_rejected_by_the_broker() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("large");
    create_topic(&broker.addr, &topic, 1).await;
    // The client would reject large records itself at its default message.max.bytes (1 MB);
    // raise its limit so the broker's limit is the one tested.
    let producer = new_producer(&broker.addr, &[("message.max.bytes", "10000000")]);

    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let delivery = producer
        .send(
            FutureRecord::<[u8], [u8]>::to(&topic)
                .partition(0)
                .payload(&big),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("a 1,000,000-byte value must be accepted: {e}"));
    assert_eq!((delivery.partition, delivery.offset), (0, 0));

    let too_big = vec![b'z'; 2 * 1024 * 1024];
    let pending = producer
        .send_result(
            FutureRecord::<[u8], [u8]>::to(&topic)
                .partition(0)
                .payload(&too_big),
        )
        .unwrap_or_else(|(e, _)| panic!("the client refused the 2 MiB record itself: {e}"));
    match pending.await.expect("delivery future dropped") {
        Ok(delivery) => panic!("a 2 MiB value was accepted at offset {}", delivery.offset),
        Err((e, _)) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::MessageSizeTooLarge),
            "expected MessageSizeTooLarge from the broker, got {e}"
        ),
    }

    // The rejection consumed no offset and the broker keeps serving.
    let after = producer
        .send(
            FutureRecord::<[u8], [u8]>::to(&topic)
                .partition(0)
                .payload(b"small".as_slice()),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("small record after the rejection: {e}"));
    assert_eq!(after.offset, 1);

    let consumer = new_consumer(&broker.addr, "error");
    assign(&consumer, &topic, &[(0, 0)]);
    let messages = recv_n(&consumer, 2, WAIT).await;
    assert_eq!(messages[0].offset(), 0);
    assert!(
        messages[0].payload() == Some(big.as_slice()),
        "the 1 MB value came back changed"
    );
    assert_eq!(messages[1].offset(), 1);
    assert_eq!(messages[1].payload(), Some(b"small".as_slice()));
}

async fn fetch_from_the_middle_of_a_batch(codec: &str) {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic(&format!("mid-batch-{codec}"));
    create_topic(&broker.addr, &topic, 1).await;
    // A long linger and all sends at once: the ten records travel in one batch.
    let producer = new_producer(
        &broker.addr,
        &[("linger.ms", "500"), ("compression.type", codec)],
    );
    let records = sample_records(10, now_ms());
    let deliveries = send_all(&producer, &topic, 0, &records).await;
    assert_eq!(deliveries.last(), Some(&(0, 9)));
    assert_eq!(
        batches_on_disk(&broker, &topic),
        vec![(0, 9)],
        "premise: the ten records are one batch (base offset 0, last offset delta 9)"
    );

    let consumer = new_consumer(&broker.addr, "error");
    assign(&consumer, &topic, &[(0, 5)]);
    let messages = recv_n(&consumer, 5, WAIT).await;
    let offsets: Vec<i64> = messages.iter().map(|m| m.offset()).collect();
    assert_eq!(
        offsets,
        vec![5, 6, 7, 8, 9],
        "{codec}: the first record delivered must be offset 5"
    );
    for (message, sent) in messages.iter().zip(&records[5..]) {
        assert_eq!(&received(message), sent);
    }
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn consume_from_the_middle_of_a_batch() {
    fetch_from_the_middle_of_a_batch("none").await;
}

#[tokio::test]
async fn consume_from_the_middle_of_a_compressed_batch() {
    fetch_from_the_middle_of_a_batch("lz4").await;
}

#[tokio::test]
async fn watermarks_high_is_the_next_offset() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("watermarks");
    create_topic(&broker.addr, &topic, 1).await;
    let consumer = new_consumer(&broker.addr, "error");
    let empty = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!(empty, (0, 0), "an empty partition");

    let producer = new_producer(&broker.addr, &[("linger.ms", "20")]);
    // Several batches of several records: the high watermark is the next offset, not
    // the base offset of the last batch.
    for round in 0..3 {
        send_all(&producer, &topic, 0, &sample_records(12 + round, now_ms())).await;
    }
    let (low, high) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!((low, high), (0, 12 + 13 + 14));
}

#[tokio::test]
async fn offsets_for_times_finds_the_first_offset_at_or_after_a_timestamp() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("times");
    create_topic(&broker.addr, &topic, 1).await;
    let base = now_ms() - 3_600_000;
    let producer = new_producer(&broker.addr, &[("linger.ms", "0")]);
    // Offsets 0..10, one batch each, timestamps base + 1000 * i.
    for i in 0..10i64 {
        producer
            .send(
                FutureRecord::<[u8], [u8]>::to(&topic)
                    .partition(0)
                    .payload(b"t".as_slice())
                    .timestamp(base + 1000 * i),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {i}: {e}"));
    }
    let consumer = new_consumer(&broker.addr, "error");
    let lookup = |timestamp: i64| -> Offset {
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset(&topic, 0, Offset::Offset(timestamp))
            .expect("add partition");
        let answer = consumer
            .offsets_for_times(query, Duration::from_secs(10))
            .expect("offsets_for_times");
        let elem = answer
            .find_partition(&topic, 0)
            .expect("partition in answer");
        assert!(
            elem.error().is_ok(),
            "lookup of {timestamp}: {:?}",
            elem.error()
        );
        elem.offset()
    };
    assert_eq!(
        lookup(base - 5_000),
        Offset::Offset(0),
        "before every record"
    );
    assert_eq!(
        lookup(base),
        Offset::Offset(0),
        "exactly the first timestamp"
    );
    assert_eq!(
        lookup(base + 4_000),
        Offset::Offset(4),
        "exactly a timestamp"
    );
    assert_eq!(
        lookup(base + 4_500),
        Offset::Offset(5),
        "between two timestamps"
    );
    assert_eq!(lookup(base + 9_000), Offset::Offset(9), "the last record");
    // After the last record Kafka answers offset -1 (librdkafka: End).
    assert_eq!(lookup(base + 9_001), Offset::End, "after every record");
}

#[tokio::test]
async fn offsets_for_times_inside_one_batch() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("times-batch");
    create_topic(&broker.addr, &topic, 1).await;
    let base = now_ms() - 3_600_000;
    let producer = new_producer(&broker.addr, &[("linger.ms", "500")]);
    let mut records = sample_records(10, 0);
    for (i, record) in records.iter_mut().enumerate() {
        record.timestamp_ms = base + 1000 * i as i64;
    }
    send_all(&producer, &topic, 0, &records).await;
    assert_eq!(
        batches_on_disk(&broker, &topic),
        vec![(0, 9)],
        "premise: the ten records are one batch"
    );

    let consumer = new_consumer(&broker.addr, "error");
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset(&topic, 0, Offset::Offset(base + 6_500))
        .expect("add partition");
    let answer = consumer
        .offsets_for_times(query, Duration::from_secs(10))
        .expect("offsets_for_times");
    let elem = answer
        .find_partition(&topic, 0)
        .expect("partition in answer");
    assert_eq!(
        elem.offset(),
        Offset::Offset(7),
        "the record inside the batch, not the batch start"
    );
}

#[tokio::test]
async fn long_poll_delivers_a_record_produced_later() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("long-poll");
    create_topic(&broker.addr, &topic, 1).await;
    let consumer = new_consumer(&broker.addr, "error");
    assign(&consumer, &topic, &[(0, 0)]);
    // Let the consumer reach the (empty) end and start waiting.
    assert_nothing_more(&consumer, Duration::from_secs(2)).await;

    let producer = new_producer(&broker.addr, &[]);
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(&topic)
                .partition(0)
                .key(b"k".as_slice())
                .payload(b"late".as_slice()),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
    let messages = recv_n(&consumer, 1, WAIT).await;
    assert_eq!(messages[0].offset(), 0);
    assert_eq!(messages[0].payload(), Some(b"late".as_slice()));
}

#[tokio::test]
async fn keyed_records_spread_over_partitions_and_keep_per_key_order() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("keyed");
    let partitions = 4;
    create_topic(&broker.addr, &topic, partitions).await;
    let producer = new_producer(&broker.addr, &[("linger.ms", "10")]);

    let count = 400;
    let mut futures = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("key-{}", i % 16);
        let value = format!("{key}:{i}");
        let record = FutureRecord::to(&topic).key(&key).payload(&value);
        futures.push(
            producer
                .send_result(record)
                .unwrap_or_else(|(e, _)| panic!("enqueue: {e}")),
        );
    }
    // Where each record was acknowledged: value -> (partition, offset).
    let mut acked: HashMap<String, (i32, i64)> = HashMap::new();
    for (i, result) in join_all(futures).await.into_iter().enumerate() {
        let delivery = result
            .expect("delivery future dropped")
            .unwrap_or_else(|(e, _)| panic!("record {i}: {e}"));
        acked.insert(
            format!("key-{}:{i}", i % 16),
            (delivery.partition, delivery.offset),
        );
    }

    let consumer = new_consumer(&broker.addr, "error");
    let starts: Vec<(i32, i64)> = (0..partitions).map(|p| (p, 0)).collect();
    assign(&consumer, &topic, &starts);
    let messages = recv_n(&consumer, count, WAIT).await;
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;

    let mut partition_of_key: HashMap<Vec<u8>, i32> = HashMap::new();
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut last_index_of_key: HashMap<Vec<u8>, usize> = HashMap::new();
    for message in &messages {
        let key = message.key().expect("every record has a key").to_vec();
        let value = String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf8");
        assert_eq!(
            acked.get(&value),
            Some(&(message.partition(), message.offset())),
            "{value} must be where its acknowledgement said"
        );
        let partition = *partition_of_key
            .entry(key.clone())
            .or_insert(message.partition());
        assert_eq!(
            partition,
            message.partition(),
            "all records of a key land in one partition"
        );
        let index: usize = value
            .rsplit(':')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("index");
        if let Some(previous) = last_index_of_key.insert(key, index) {
            assert!(
                previous < index,
                "per-key order: {previous} came after {index}"
            );
        }
        by_partition
            .entry(message.partition())
            .or_default()
            .push(message.offset());
    }
    assert!(
        by_partition.len() > 1,
        "16 keys all landed in one partition: {by_partition:?}"
    );
    for (partition, offsets) in &by_partition {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets, &expected,
            "partition {partition}: offsets contiguous from 0"
        );
    }
}

#[tokio::test]
async fn idempotent_producer_writes_each_record_once_at_contiguous_offsets() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("idempotent");
    create_topic(&broker.addr, &topic, 2).await;
    let producer = new_producer(
        &broker.addr,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
            ("max.in.flight.requests.per.connection", "5"),
        ],
    );

    let count = 3000;
    let mut futures = Vec::with_capacity(count);
    for i in 0..count {
        let value = format!("idem-{i:06}");
        let record = FutureRecord::<[u8], [u8]>::to(&topic)
            .partition((i % 2) as i32)
            .payload(value.as_bytes());
        futures.push(
            producer
                .send_result(record)
                .unwrap_or_else(|(e, _)| panic!("enqueue: {e}")),
        );
    }
    for (i, result) in join_all(futures).await.into_iter().enumerate() {
        let delivery = result
            .expect("delivery future dropped")
            .unwrap_or_else(|(e, _)| panic!("record {i}: {e}"));
        assert_eq!(delivery.partition, (i % 2) as i32);
        assert_eq!(
            delivery.offset,
            (i / 2) as i64,
            "record {i}: offsets in send order"
        );
    }

    let consumer = new_consumer(&broker.addr, "error");
    assign(&consumer, &topic, &[(0, 0), (1, 0)]);
    let messages = recv_n(&consumer, count, WAIT).await;
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;
    let mut per_partition: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for message in &messages {
        let value = String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf8");
        per_partition
            .entry(message.partition())
            .or_default()
            .push((message.offset(), value));
    }
    for partition in 0..2 {
        let got = per_partition.remove(&partition).unwrap_or_default();
        let expected: Vec<(i64, String)> = (0..count)
            .filter(|i| (i % 2) as i32 == partition)
            .enumerate()
            .map(|(offset, i)| (offset as i64, format!("idem-{i:06}")))
            .collect();
        assert_eq!(
            got.len(),
            expected.len(),
            "partition {partition}: record count (duplicates or losses)"
        );
        assert!(
            got == expected,
            "partition {partition}: records differ from the sequence sent"
        );
    }
}
