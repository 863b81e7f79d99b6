//! Retention of the real `spool` binary: whole segments are deleted by `retention.ms` and
//! `retention.bytes`; a topic without either keeps everything. Checked with librdkafka
//! (`rdkafka`) and by looking at the partition directory.
//!
//! The broker runs with small segments and a fast retention check so a test sees several
//! segments roll and the old ones go within seconds.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test retention`.

mod harness;

use harness::rdkafka_client::{assign, create_topic_with, recv_n};

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

const WAIT: Duration = Duration::from_secs(30);
const SEGMENT_BYTES: u64 = 4096;
/// Each record is its own batch of roughly 570 bytes: about seven per segment.
const VALUE_BYTES: usize = 500;
const RECORDS: i64 = 100;

fn start_broker() -> harness::Broker {
    harness::Broker::start_with(&[
        "--set",
        &format!("log.segment.bytes={SEGMENT_BYTES}"),
        "--set",
        "log.retention.check.interval.ms=200",
    ])
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
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

fn value(offset: i64) -> String {
    format!("{offset:06}-{}", "r".repeat(VALUE_BYTES - 7))
}

/// Produces offsets `from..to`, one batch each, with the given timestamp.
async fn produce(producer: &FutureProducer, topic: &str, from: i64, to: i64, timestamp_ms: i64) {
    for offset in from..to {
        let value = value(offset);
        let record = FutureRecord::<str, str>::to(topic)
            .partition(0)
            .payload(&value)
            .timestamp(timestamp_ms);
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(delivery) => assert_eq!(delivery.offset, offset),
            Err((e, _)) => panic!("produce offset {offset}: {e}"),
        }
    }
}

/// Base offsets of the `.log` files in a partition directory, ascending, and their total size.
/// Files renamed for deferred deletion (`.log.deleted`) do not count.
fn segments(dir: &Path) -> (Vec<i64>, u64) {
    let mut bases = Vec::new();
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let entry = entry.expect("dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(base) = name.strip_suffix(".log") {
            bases.push(
                base.parse()
                    .unwrap_or_else(|_| panic!("segment file name {name}")),
            );
            bytes += entry.metadata().expect("segment metadata").len();
        }
    }
    bases.sort_unstable();
    (bases, bytes)
}

fn watermarks(consumer: &StreamConsumer, topic: &str) -> (i64, i64) {
    consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks")
}

/// Polls until the log start offset of `topic` moves past 0 and `done` holds.
async fn wait_for_retention(
    broker: &harness::Broker,
    consumer: &StreamConsumer,
    topic: &str,
    done: impl Fn(i64, &[i64], u64) -> bool,
) -> i64 {
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let deadline = Instant::now() + WAIT;
    loop {
        let (low, _) = watermarks(consumer, topic);
        let (bases, bytes) = segments(&dir);
        if low > 0 && done(low, &bases, bytes) {
            eprintln!("{topic}: log start {low}, segments {bases:?} ({bytes} bytes)");
            return low;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not act on {topic} within {WAIT:?}: log start {low}, segments {bases:?} ({bytes} bytes)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads from offset 0 with `auto.offset.reset=earliest` (lands on `low`, then every record
/// to the end) and with `auto.offset.reset=error` (an offset-out-of-range error).
async fn check_reads_below_the_start(addr: &str, topic: &str, low: i64) {
    let earliest = new_consumer(addr, "earliest");
    assign(&earliest, topic, &[(0, 0)]);
    let messages = recv_n(&earliest, (RECORDS - low) as usize, WAIT).await;
    assert_eq!(
        messages[0].offset(),
        low,
        "reading below the log start resets to the log start"
    );
    for (i, message) in messages.iter().enumerate() {
        let offset = low + i as i64;
        assert_eq!(message.offset(), offset);
        assert_eq!(
            message.payload(),
            Some(value(offset).as_bytes()),
            "record at offset {offset}"
        );
    }

    let strict = new_consumer(addr, "error");
    assign(&strict, topic, &[(0, 0)]);
    match tokio::time::timeout(WAIT, strict.recv()).await {
        Err(_) => panic!("no error within {WAIT:?} when reading below the log start with auto.offset.reset=error"),
        Ok(Ok(message)) => panic!("read offset {} below the log start {low}", message.offset()),
        Ok(Err(e)) => {
            let code = e.rdkafka_error_code();
            assert!(
                matches!(code, Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange)),
                "expected an offset-out-of-range error, got {e}"
            );
        }
    }
}

#[tokio::test]
async fn retention_ms_deletes_segments_whose_records_are_all_older() {
    let broker = start_broker();
    let topic = harness::unique_topic("retention-ms");
    // Ten minutes: records stamped an hour ago are past it, records stamped now are not.
    create_topic_with(&broker.addr, &topic, 1, &[("retention.ms", "600000")]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    let old = 60;
    produce(&producer, &topic, 0, old, now_ms() - 3_600_000).await;
    produce(&producer, &topic, old, RECORDS, now_ms()).await;

    let consumer = new_consumer(&broker.addr, "error");
    let low = wait_for_retention(&broker, &consumer, &topic, |low, bases, _| {
        bases.first() == Some(&low)
    })
    .await;
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let (bases, _) = segments(&dir);
    assert!(
        !dir.join("00000000000000000000.log").exists(),
        "the first segment file is still there"
    );
    assert_eq!(
        bases.first(),
        Some(&low),
        "the log starts at the base offset of its first segment"
    );
    // Every segment holding only old records goes; the one holding offset `old` stays.
    let next_base = bases.get(1).copied().unwrap_or(i64::MAX);
    assert!(
        low <= old && old < next_base,
        "log start {low} (segments {bases:?}): the segment holding offset {old}, the first recent record, must be the first kept"
    );
    assert_eq!(
        watermarks(&consumer, &topic),
        (low, RECORDS),
        "the high watermark does not move"
    );
    check_reads_below_the_start(&broker.addr, &topic, low).await;
}

#[tokio::test]
async fn retention_bytes_keeps_the_newest_segments_within_the_limit() {
    let broker = start_broker();
    let topic = harness::unique_topic("retention-bytes");
    let limit: u64 = 3 * SEGMENT_BYTES;
    create_topic_with(&broker.addr, &topic, 1, &[("retention.bytes", &limit.to_string())]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    produce(&producer, &topic, 0, RECORDS, now_ms()).await;

    let consumer = new_consumer(&broker.addr, "error");
    // Kafka deletes the oldest segment while the log stays at least `retention.bytes`
    // without it: what remains is under the limit plus one segment (which may exceed
    // segment.bytes by up to one batch).
    let over = limit + SEGMENT_BYTES + 600;
    let low = wait_for_retention(&broker, &consumer, &topic, |low, bases, bytes| {
        bytes < over && bases.first() == Some(&low)
    })
    .await;
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let (bases, bytes) = segments(&dir);
    assert!(
        !dir.join("00000000000000000000.log").exists(),
        "the first segment file is still there"
    );
    assert!(
        bytes >= limit,
        "deleted too much: {bytes} bytes left in {bases:?}, limit {limit}"
    );
    assert!(
        bytes < over,
        "{bytes} bytes left in {bases:?}, limit {limit}"
    );
    assert_eq!(watermarks(&consumer, &topic), (low, RECORDS));
    check_reads_below_the_start(&broker.addr, &topic, low).await;
}

#[tokio::test]
async fn a_topic_without_retention_overrides_keeps_everything() {
    let broker = start_broker();
    let kept = harness::unique_topic("retention-default");
    let witness = harness::unique_topic("retention-witness");
    create_topic_with(&broker.addr, &kept, 1, &[]).await;
    create_topic_with(&broker.addr, &witness, 1, &[("retention.ms", "600000")]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    // The same hour-old records in both topics: past the witness's ten minutes, well within
    // the default seven days.
    let hour_ago = now_ms() - 3_600_000;
    produce(&producer, &kept, 0, RECORDS, hour_ago).await;
    produce(&producer, &witness, 0, RECORDS, hour_ago).await;
    let kept_dir = broker.data_dir().join(format!("{kept}-0"));
    let (bases_before, _) = segments(&kept_dir);
    assert!(
        bases_before.len() >= 5,
        "{RECORDS} records of {VALUE_BYTES} bytes rolled only {bases_before:?}"
    );

    // The witness shows the retention check has run. All its records are past retention,
    // so, as in Kafka, even the active segment goes: the log rolls a new empty segment at
    // the log end and deletes every older one.
    let consumer = new_consumer(&broker.addr, "error");
    wait_for_retention(&broker, &consumer, &witness, |low, bases, _| {
        low == RECORDS && bases == [RECORDS]
    })
    .await;
    assert_eq!(watermarks(&consumer, &witness), (RECORDS, RECORDS));
    // And again a little later, to be past at least one more check of every log.
    tokio::time::sleep(Duration::from_millis(1000)).await;

    assert_eq!(
        watermarks(&consumer, &kept),
        (0, RECORDS),
        "the default topic lost records"
    );
    let (bases_after, _) = segments(&kept_dir);
    assert_eq!(
        bases_after, bases_before,
        "segments of the default topic changed"
    );
    assign(&consumer, &kept, &[(0, 0)]);
    let messages = recv_n(&consumer, RECORDS as usize, WAIT).await;
    for (i, message) in messages.iter().enumerate() {
        assert_eq!(message.offset(), i as i64);
        assert_eq!(message.payload(), Some(value(i as i64).as_bytes()));
    }
}

#[tokio::test]
async fn a_dynamic_cluster_default_retention_applies_at_once_to_topics_without_an_override_and_survives_a_restart() {
    let mut broker = start_broker();
    let follows = harness::unique_topic("retention-dynamic");
    let pinned = harness::unique_topic("retention-pinned");
    create_topic_with(&broker.addr, &follows, 1, &[]).await;
    create_topic_with(&broker.addr, &pinned, 1, &[("retention.ms", "604800000")]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    let hour_ago = now_ms() - 3_600_000;
    produce(&producer, &follows, 0, RECORDS, hour_ago).await;
    produce(&producer, &pinned, 0, RECORDS, hour_ago).await;
    let consumer = new_consumer(&broker.addr, "error");
    assert_eq!(watermarks(&consumer, &follows), (0, RECORDS), "nothing deleted under the seven-day default");

    // Ten minutes for every broker, as `kafka-configs --entity-default` sets it.
    let configs = |addr: &str, args: &[&str]| {
        let output = std::process::Command::new(harness::spool_bin())
            .args(["configs", "--bootstrap-server", addr, "--entity-type", "brokers", "--entity-default"])
            .args(args)
            .output()
            .expect("run spool configs");
        assert!(output.status.success(), "spool configs {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    configs(&broker.addr, &["--alter", "--add-config", "log.retention.ms=600000"]);
    wait_for_retention(&broker, &consumer, &follows, |low, bases, _| low == RECORDS && bases == [RECORDS]).await;
    // The topic override still wins.
    assert_eq!(watermarks(&consumer, &pinned), (0, RECORDS), "the topic's own retention.ms was overridden");

    // The default is in the metadata log: a restarted broker still has it.
    broker.restart();
    let described = configs(&broker.addr, &["--describe"]);
    assert!(described.contains("  log.retention.ms=600000 sensitive=false"), "{described}");
}
