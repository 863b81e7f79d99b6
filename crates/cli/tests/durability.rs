//! Durability of the real `spool` binary across restarts, `kill -9` and a damaged log tail,
//! checked with librdkafka (`rdkafka`).
//!
//! The crash tests record the history of every acknowledged record (partition, offset,
//! value) and check it against everything read back after the restart: no acknowledged
//! record lost or moved, offsets contiguous from 0, no record written twice. One test
//! runs the broker on a disk that fails under it (`harness::failing_disk`, needs root).
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test durability`.

mod harness;

use harness::rdkafka_client::{assign, create_topic, recv_n};

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Timestamp;

const WAIT: Duration = Duration::from_secs(60);

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

fn new_consumer(addr: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "spool-e2e-never-joined")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .create()
        .expect("create consumer")
}

async fn assert_nothing_more(consumer: &StreamConsumer, quiet: Duration) {
    match tokio::time::timeout(quiet, consumer.recv()).await {
        Err(_) => {}
        Ok(Ok(extra)) => panic!(
            "unexpected extra record at partition {} offset {}",
            extra.partition(),
            extra.offset()
        ),
        Ok(Err(e)) => panic!("consumer error at the end of the log: {e}"),
    }
}

async fn produce_one(producer: &FutureProducer, topic: &str, partition: i32, value: &str) -> i64 {
    let record = FutureRecord::<str, str>::to(topic)
        .partition(partition)
        .key(value)
        .payload(value);
    match producer.send(record, Duration::from_secs(30)).await {
        Ok(delivery) => delivery.offset,
        Err((e, _)) => panic!("produce {value} to partition {partition}: {e}"),
    }
}

fn value_of(message: &OwnedMessage) -> String {
    String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf8 value")
}

/// Record `i`'s 64 KiB value, which names it.
fn value_64k(i: usize) -> String {
    format!("{i:08}").repeat(8 * 1024)
}

/// Produces the values of records `0..n` (see [`value_64k`]) to partition 0; their
/// offsets and values.
async fn produce_values_64k(producer: &FutureProducer, topic: &str, n: usize) -> Vec<(i64, String)> {
    let mut produced = Vec::with_capacity(n);
    for i in 0..n {
        produced.push((produce_one(producer, topic, 0, &value_64k(i)).await, value_64k(i)));
    }
    produced
}

/// The active (first) segment file of partition 0.
fn first_segment(broker: &harness::Broker, topic: &str) -> PathBuf {
    broker
        .data_dir()
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log")
}

#[tokio::test]
async fn clean_restart_keeps_every_record_and_offsets_continue() {
    let mut broker = harness::Broker::start();
    let topic = harness::unique_topic("restart");
    create_topic(&broker.addr, &topic, 3).await;
    {
        let producer = new_producer(&broker.addr, &[("linger.ms", "5")]);
        for i in 0..90 {
            let offset = produce_one(&producer, &topic, i % 3, &format!("before-{i}")).await;
            assert_eq!(offset, i64::from(i / 3));
        }
    }
    assert!(
        broker.stop(),
        "SIGTERM must end the broker cleanly; log:\n{}",
        broker.log()
    );
    broker.restart();

    // The topic keeps its three partitions and each partition continues where it ended.
    let producer = new_producer(&broker.addr, &[("linger.ms", "5")]);
    for i in 90..120 {
        let offset = produce_one(&producer, &topic, i % 3, &format!("after-{i}")).await;
        assert_eq!(
            offset,
            i64::from(i / 3),
            "offset of after-{i} continues the partition"
        );
    }

    let consumer = new_consumer(&broker.addr);
    for partition in 0..3 {
        let marks = consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .expect("watermarks");
        assert_eq!(
            marks,
            (0, 40),
            "partition {partition} watermarks after the restart"
        );
    }
    assign(&consumer, &topic, &[(0, 0), (1, 0), (2, 0)]);
    let messages = recv_n(&consumer, 120, WAIT).await;
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;
    let mut got: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for message in &messages {
        assert!(matches!(message.timestamp(), Timestamp::CreateTime(ts) if ts > 0));
        got.insert((message.partition(), message.offset()), value_of(message));
    }
    for i in 0..120i32 {
        let name = if i < 90 {
            format!("before-{i}")
        } else {
            format!("after-{i}")
        };
        assert_eq!(
            got.get(&(i % 3, i64::from(i / 3))),
            Some(&name),
            "record {i}"
        );
    }
}

/// One acknowledged record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    partition: i32,
    offset: i64,
    value: String,
}

/// Produces continuously with `acks=1`, `kill -9`s the broker after `kill_after` acks,
/// restarts it, and checks the history.
async fn kill9_during_produce(extra_args: &[&str], kill_after: usize) {
    let mut broker = harness::Broker::start_with(extra_args);
    let topic = harness::unique_topic("kill9");
    let partitions = 2;
    create_topic(&broker.addr, &topic, partitions).await;

    // Retries are off, so the client never sends a record twice: any duplicate in the log
    // would be the broker's doing.
    let producer = new_producer(
        &broker.addr,
        &[
            ("acks", "1"),
            ("enable.idempotence", "false"),
            ("retries", "0"),
            ("linger.ms", "2"),
            ("message.timeout.ms", "5000"),
        ],
    );
    let acked: Arc<Mutex<Vec<Ack>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let task = {
        let (acked, stop, topic) = (acked.clone(), stop.clone(), topic.clone());
        tokio::spawn(async move {
            let mut inflight = FuturesUnordered::new();
            let (mut sent, mut failed) = (0u64, 0u64);
            loop {
                while !stop.load(Ordering::SeqCst) && inflight.len() < 1000 {
                    let value = format!("kill9-{sent:09}");
                    let partition = (sent % partitions as u64) as i32;
                    let record = FutureRecord::<str, str>::to(&topic)
                        .partition(partition)
                        .payload(&value);
                    match producer.send_result(record) {
                        Ok(delivery) => inflight.push(async move { (value, delivery.await) }),
                        Err(_) => break, // local queue full: wait for some deliveries
                    }
                    sent += 1;
                }
                if stop.load(Ordering::SeqCst) && inflight.is_empty() {
                    break;
                }
                match inflight.next().await {
                    Some((value, Ok(Ok(delivery)))) => acked.lock().expect("acks lock").push(Ack {
                        partition: delivery.partition,
                        offset: delivery.offset,
                        value,
                    }),
                    Some(_) => failed += 1,
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
            (sent, failed)
        })
    };

    let deadline = Instant::now() + WAIT;
    while acked.lock().expect("acks lock").len() < kill_after {
        assert!(
            Instant::now() < deadline,
            "only {} acks within {WAIT:?}; broker log:\n{}",
            acked.lock().expect("acks lock").len(),
            broker.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.kill9();
    stop.store(true, Ordering::SeqCst);
    // Every record still in flight now fails (message.timeout.ms); the producer is dropped
    // before the broker comes back, so nothing is written after the restart.
    let (sent, failed) = tokio::time::timeout(WAIT, task)
        .await
        .expect("producer task did not drain after the kill")
        .expect("producer task panicked");
    let acked = std::mem::take(&mut *acked.lock().expect("acks lock"));
    eprintln!("sent {sent}, acknowledged {}, failed {failed}", acked.len());

    broker.restart();
    let consumer = new_consumer(&broker.addr);
    let mut highs = Vec::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .expect("watermarks");
        assert_eq!(low, 0, "partition {partition}: log start after the restart");
        highs.push(high);
    }
    let total: i64 = highs.iter().sum();
    assert!(
        total as usize >= acked.len(),
        "{total} records after restart but {} were acknowledged",
        acked.len()
    );
    let starts: Vec<(i32, i64)> = (0..partitions).map(|p| (p, 0)).collect();
    assign(&consumer, &topic, &starts);
    let messages = recv_n(&consumer, total as usize, WAIT).await;
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;

    let mut log: BTreeMap<(i32, i64), String> = BTreeMap::new();
    let mut offsets_of_value: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
    for message in &messages {
        let value = value_of(message);
        offsets_of_value
            .entry(value.clone())
            .or_default()
            .push((message.partition(), message.offset()));
        let previous = log.insert((message.partition(), message.offset()), value);
        assert!(
            previous.is_none(),
            "offset {}/{} delivered twice",
            message.partition(),
            message.offset()
        );
    }
    for partition in 0..partitions {
        let offsets: Vec<i64> = log
            .keys()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        let expected: Vec<i64> = (0..highs[partition as usize]).collect();
        assert!(
            offsets == expected,
            "partition {partition}: offsets are not contiguous from 0"
        );
    }
    let acked_values: std::collections::HashSet<&str> =
        acked.iter().map(|a| a.value.as_str()).collect();
    let unacked_present = offsets_of_value
        .keys()
        .filter(|v| !acked_values.contains(v.as_str()))
        .count();
    eprintln!(
        "after restart: {total} records, {unacked_present} of them not acknowledged (in flight at the kill)"
    );
    let duplicates: Vec<_> = offsets_of_value
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .take(5)
        .collect();
    assert!(
        duplicates.is_empty(),
        "values written at several offsets without client retries: {duplicates:?}"
    );
    let mut lost = Vec::new();
    for ack in &acked {
        match log.get(&(ack.partition, ack.offset)) {
            Some(value) if *value == ack.value => {}
            other => lost.push((ack.clone(), other.cloned())),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records missing or moved, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );

    // Producing continues at the next offset of each partition.
    let producer = new_producer(&broker.addr, &[]);
    for partition in 0..partitions {
        let offset = produce_one(&producer, &topic, partition, "after-restart").await;
        assert_eq!(
            offset, highs[partition as usize],
            "partition {partition}: next offset after the restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_acks1_produce_loses_no_acknowledged_record() {
    kill9_during_produce(&[], 5000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_acks1_produce_with_flush_every_message() {
    kill9_during_produce(&["--set", "log.flush.interval.messages=1"], 3000).await;
}

/// Writes 20 one-record batches, kills the broker, damages the first segment's tail with
/// `damage`, restarts, and checks that exactly the first `survivors` records are served and
/// that producing continues at offset `survivors`.
///
/// The broker is stopped with `kill -9`: a torn tail comes from a crash, and Kafka runs
/// recovery of the segment tail only after an unclean shutdown.
async fn damaged_tail(damage: impl FnOnce(&Path), survivors: i64) {
    let mut broker = harness::Broker::start();
    let topic = harness::unique_topic("torn");
    create_topic(&broker.addr, &topic, 1).await;
    {
        let producer = new_producer(&broker.addr, &[("linger.ms", "0")]);
        for i in 0..20 {
            assert_eq!(
                produce_one(&producer, &topic, 0, &format!("rec-{i:02}")).await,
                i
            );
        }
    }
    broker.kill9();
    let segment = first_segment(&broker, &topic);
    assert!(
        segment.is_file(),
        "expected the segment file {}",
        segment.display()
    );
    damage(&segment);
    broker.restart();

    let consumer = new_consumer(&broker.addr);
    let marks = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!(
        marks,
        (0, survivors),
        "watermarks after recovery; broker log:\n{}",
        broker.log()
    );
    let producer = new_producer(&broker.addr, &[]);
    let next = produce_one(&producer, &topic, 0, "after-recovery").await;
    assert_eq!(
        next, survivors,
        "the first record after recovery takes the next contiguous offset"
    );

    assign(&consumer, &topic, &[(0, 0)]);
    let messages = recv_n(&consumer, survivors as usize + 1, WAIT).await;
    for (i, message) in messages.iter().enumerate() {
        assert_eq!(message.offset(), i as i64);
        let expected = if (i as i64) < survivors {
            format!("rec-{i:02}")
        } else {
            "after-recovery".to_string()
        };
        assert_eq!(value_of(message), expected, "record at offset {i}");
    }
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn garbage_after_the_last_batch_is_dropped_on_restart() {
    damaged_tail(
        |segment| {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(segment)
                .expect("open segment");
            // Not a batch: a plausible base offset, then a length that runs past the end.
            let mut garbage = 20i64.to_be_bytes().to_vec();
            garbage.extend_from_slice(&5000i32.to_be_bytes());
            garbage.extend((0..61u8).map(|b| b.wrapping_mul(37) ^ 0xA5));
            file.write_all(&garbage).expect("append garbage");
        },
        20,
    )
    .await;
}

#[tokio::test]
async fn a_batch_cut_in_the_middle_is_dropped_on_restart() {
    damaged_tail(
        |segment| {
            let len = std::fs::metadata(segment).expect("segment metadata").len();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(segment)
                .expect("open segment");
            file.set_len(len - 7)
                .expect("truncate the segment mid-batch");
        },
        19,
    )
    .await;
}

#[tokio::test]
async fn a_last_batch_with_a_bad_crc_is_dropped_on_restart() {
    damaged_tail(
        |segment| {
            let mut bytes = std::fs::read(segment).expect("read segment");
            // The last byte belongs to the last record of the last batch (its header count),
            // which the batch CRC covers.
            let last = bytes.len() - 1;
            bytes[last] ^= 0xFF;
            std::fs::write(segment, &bytes).expect("write segment");
        },
        19,
    )
    .await;
}

/// The offset in the partition's `recovery-point-offset-checkpoint`, if it has one.
fn recovery_checkpoint(partition_dir: &Path) -> Option<i64> {
    std::fs::read_to_string(partition_dir.join("recovery-point-offset-checkpoint"))
        .ok()
        .and_then(|text| text.lines().nth(1).and_then(|line| line.parse().ok()))
}

/// [`recovery_checkpoint`] once it is `expected` (polled for up to 30 s), else what it
/// was last.
async fn wait_for_recovery_checkpoint(partition_dir: &Path, expected: i64) -> Option<i64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let offset = recovery_checkpoint(partition_dir);
        if offset == Some(expected) || Instant::now() > deadline {
            return offset;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_recovery_point_is_checkpointed_every_checkpoint_interval() {
    // Every record is fsynced (flush.messages=1), which moves the recovery point in
    // memory; the checkpoint file follows within log.flush.offset.checkpoint.interval.ms.
    let broker = harness::Broker::start_with(&[
        "--set",
        "log.flush.interval.messages=1",
        "--set",
        "log.flush.offset.checkpoint.interval.ms=200",
    ]);
    let topic = harness::unique_topic("checkpoint");
    create_topic(&broker.addr, &topic, 1).await;
    let producer = new_producer(&broker.addr, &[("linger.ms", "0")]);
    for i in 0..5 {
        assert_eq!(produce_one(&producer, &topic, 0, &format!("rec-{i}")).await, i);
    }
    let dir = broker.data_dir().join(format!("{topic}-0"));
    assert_eq!(wait_for_recovery_checkpoint(&dir, 5).await, Some(5), "broker log:\n{}", broker.log());
}

#[tokio::test]
async fn after_kill9_the_recovered_log_is_fsynced_and_checkpointed_so_the_next_crash_skips_it() {
    let mut broker = harness::Broker::start();
    let topic = harness::unique_topic("recheck");
    create_topic(&broker.addr, &topic, 1).await;
    {
        let producer = new_producer(&broker.addr, &[("linger.ms", "0")]);
        for i in 0..20 {
            assert_eq!(produce_one(&producer, &topic, 0, &format!("rec-{i:02}")).await, i);
        }
    }
    broker.kill9();
    let dir = broker.data_dir().join(format!("{topic}-0"));
    assert_ne!(recovery_checkpoint(&dir), Some(20), "nothing fsynced the records before the kill");
    broker.restart();
    // Recovery validated the 20 records; the broker fsyncs them and, on its next
    // one-second tick, checkpoints them, without a flush policy or a roll asking.
    assert_eq!(wait_for_recovery_checkpoint(&dir, 20).await, Some(20), "broker log:\n{}", broker.log());
    broker.kill9();
    broker.restart();
    let consumer = new_consumer(&broker.addr);
    let marks = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10)).expect("watermarks");
    assert_eq!(marks, (0, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_halts_the_broker_and_the_repaired_disk_keeps_every_acknowledged_record() {
    let disk = harness::failing_disk::FailingDisk::required();
    // The metadata log and the broker's stderr stay on a healthy disk: this test is about
    // the partition logs.
    let healthy = tempfile::tempdir().expect("temp dir");
    let metadata_dir = format!("metadata.log.dir={}", healthy.path().join("metadata").display());
    // Every record is fsynced before it is acknowledged, so an acknowledged record is
    // one whose fsync succeeded.
    let mut broker = harness::Broker::start_in(
        disk.path().join("data"),
        healthy.path().join("broker.log"),
        &["--set", "log.flush.interval.messages=1", "--set", &metadata_dir],
    );
    let topic = harness::unique_topic("failed-disk");
    create_topic(&broker.addr, &topic, 1).await;
    let producer = new_producer(&broker.addr, &[("linger.ms", "0"), ("message.timeout.ms", "10000")]);
    let mut acknowledged = produce_values_64k(&producer, &topic, 10).await;

    // About 4 MiB (some 60 records) more reach the disk; then writeback fails, and so
    // does the fsync of the record being produced.
    disk.fail_after(4);
    let mut refused = None;
    for i in 10..1000 {
        let payload = value_64k(i);
        let record = FutureRecord::<str, str>::to(&topic).partition(0).payload(&payload);
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(delivery) => acknowledged.push((delivery.offset, payload)),
            Err((e, _)) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("1000 records of 64 KiB were acknowledged on a disk with room for 4 MiB"));
    assert!(acknowledged.len() > 10, "the disk had room for more records before it failed");
    let status = broker.wait_exit(Duration::from_secs(30)).unwrap_or_else(|| {
        panic!("the broker still runs 30 s after a failed fsync (the produce got: {refused}); log:\n{}", broker.log())
    });
    assert_eq!(status.code(), Some(1), "log:\n{}", broker.log());
    let log = broker.log();
    assert!(log.contains("the data directory") && log.contains("the broker stopped"), "{log}");

    // The operator gives the disk its room back and checks it; the broker starts again,
    // recovers the log and serves every acknowledged record at its offset.
    disk.repair();
    broker.restart();
    let consumer = new_consumer(&broker.addr);
    let (low, high) = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10)).expect("watermarks");
    assert_eq!(low, 0);
    let last = acknowledged.last().expect("records were acknowledged").0;
    assert!(high > last, "acknowledged up to offset {last}, but the log ends at {high}");
    assign(&consumer, &topic, &[(0, 0)]);
    let read = recv_n(&consumer, usize::try_from(high).expect("offsets are positive"), WAIT).await;
    let read: HashMap<i64, String> = read.iter().map(|m| (m.offset(), value_of(m))).collect();
    for (offset, value) in &acknowledged {
        assert!(read.get(offset) == Some(value), "acknowledged record at offset {offset} lost or changed");
    }
    assert_eq!(produce_one(&producer, &topic, 0, "after the repair").await, high);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_produce_keeps_every_acknowledged_record_and_takes_records_again_once_space_is_freed() {
    let disk = harness::failing_disk::FailingDisk::required();
    let healthy = tempfile::tempdir().expect("temp dir");
    let metadata_dir = format!("metadata.log.dir={}", healthy.path().join("metadata").display());
    let mut broker =
        harness::Broker::start_in(disk.path().join("data"), healthy.path().join("broker.log"), &["--set", &metadata_dir]);
    let topic = harness::unique_topic("full-disk");
    // Small segments: the disk may fill during a roll as well as during an append.
    harness::rdkafka_client::create_topic_with(&broker.addr, &topic, 1, &[("segment.bytes", "1048576")]).await;
    // No retries: the broker's answer reaches the test as it is.
    let producer = new_producer(&broker.addr, &[("linger.ms", "0"), ("message.send.max.retries", "0")]);
    let mut acknowledged = produce_values_64k(&producer, &topic, 10).await;

    disk.fill_leaving(2);
    let mut refusals = Vec::new();
    for i in 10..1000 {
        let payload = value_64k(i);
        let record = FutureRecord::<str, str>::to(&topic).partition(0).payload(&payload);
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(delivery) if refusals.is_empty() => acknowledged.push((delivery.offset, payload)),
            Ok(delivery) => panic!("record {i} was acknowledged at offset {} after an earlier one was refused", delivery.offset),
            Err((e, _)) => refusals.push(e),
        }
        if refusals.len() == 5 {
            break;
        }
    }
    assert_eq!(refusals.len(), 5, "1000 records of 64 KiB were acknowledged with 2 MiB free");
    for e in &refusals {
        assert!(
            matches!(e, KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError)),
            "a full disk must refuse with KAFKA_STORAGE_ERROR (retriable), got: {e}"
        );
    }
    assert!(broker.wait_exit(Duration::from_millis(500)).is_none(), "the broker exited on a full disk:\n{}", broker.log());
    let log = broker.log();
    assert_eq!(log.matches("the disk is full").count(), 1, "one report, not one per refused append:\n{log}");
    assert!(log.contains("No space left on device") && log.contains("until space is freed"), "{log}");

    // Every acknowledged record is served, and nothing of the refused ones.
    let consumer = new_consumer(&broker.addr);
    let (_, high) = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10)).expect("watermarks");
    assert_eq!(high, acknowledged.len() as i64, "the log ends after the acknowledged records");
    assign(&consumer, &topic, &[(0, 0)]);
    let read = recv_n(&consumer, acknowledged.len(), WAIT).await;
    let read: Vec<(i64, String)> = read.iter().map(|m| (m.offset(), value_of(m))).collect();
    assert!(read == acknowledged, "the acknowledged records, at their offsets");

    // Space is freed: the next record is appended right after them, not after the bytes
    // of a refused one.
    disk.free_space();
    assert_eq!(produce_one(&producer, &topic, 0, "after freeing space").await, high);
    assert_eq!(value_of(&recv_n(&consumer, 1, WAIT).await[0]), "after freeing space");
    assert_nothing_more(&consumer, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preallocation_leaves_a_tenth_of_the_disk_free_for_the_partitions_it_could_not_reserve_for() {
    let disk = harness::failing_disk::FailingDisk::required();
    let healthy = tempfile::tempdir().expect("temp dir");
    let metadata_dir = format!("metadata.log.dir={}", healthy.path().join("metadata").display());
    let broker =
        harness::Broker::start_in(disk.path().join("data"), healthy.path().join("broker.log"), &["--set", &metadata_dir]);
    let topic = harness::unique_topic("prealloc-room");
    // Six partitions of 96 MiB segments on a 512 MiB disk: reserving for all of them
    // would take more than the whole disk.
    let segment_bytes: u64 = 96 << 20;
    let configs = [("preallocate", "true"), ("segment.bytes", "100663296")];
    harness::rdkafka_client::create_topic_with(&broker.addr, &topic, 6, &configs).await;
    let (available, total) = disk.available_and_total();
    assert!(available >= total / 10, "{available} of {total} bytes left free after the reservations");

    // Every partition takes records, reserved or not.
    let producer = new_producer(&broker.addr, &[("linger.ms", "0"), ("message.send.max.retries", "0")]);
    for partition in 0..6 {
        for i in 0..5 {
            produce_one(&producer, &topic, partition, &value_64k(i)).await;
        }
    }
    let reserved = (0..6)
        .filter(|p| {
            let meta = std::fs::metadata(broker.data_dir().join(format!("{topic}-{p}")).join("00000000000000000000.log"))
                .expect("segment file");
            std::os::unix::fs::MetadataExt::blocks(&meta) * 512 >= segment_bytes
        })
        .count();
    assert!((1..6).contains(&reserved), "{reserved} of 6 partitions reserved");
    assert!(broker.log().contains("not preallocating the segment"), "{}", broker.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_metadata_log_write_halts_the_broker_and_the_repaired_disk_keeps_every_created_topic() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let disk = harness::failing_disk::FailingDisk::required();
    // Only the metadata log is on the failing disk.
    let healthy = tempfile::tempdir().expect("temp dir");
    let metadata_dir = format!("metadata.log.dir={}", disk.path().join("metadata").display());
    let mut broker =
        harness::Broker::start_in(healthy.path().join("data"), healthy.path().join("broker.log"), &["--set", &metadata_dir]);
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &broker.addr).create().expect("create admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let prefix = harness::unique_topic("metadata-disk");
    let mut created = Vec::new();
    let mut refused = None;
    for i in 0..100 {
        if i == 3 {
            // From here on, the next metadata record that needs a new page of the disk fails.
            disk.fail_after(0);
        }
        let topic = format!("{prefix}-{i}");
        let new_topic = NewTopic::new(&topic, 20, TopicReplication::Fixed(1));
        let request = admin.create_topics([&new_topic], &options);
        match tokio::time::timeout(Duration::from_secs(30), request).await {
            Ok(Ok(results)) if results.iter().all(Result::is_ok) => created.push(topic),
            other => {
                refused = Some(format!("{other:?}"));
                break;
            }
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("100 topics were created on a full disk"));
    assert!(created.len() >= 3, "the first topics were created before the disk failed: {refused}");
    let status = broker.wait_exit(Duration::from_secs(30)).unwrap_or_else(|| {
        panic!("the broker still runs 30 s after its metadata log failed (CreateTopics got: {refused}); log:\n{}", broker.log())
    });
    assert_eq!(status.code(), Some(1), "log:\n{}", broker.log());
    let log = broker.log();
    assert!(log.contains("the metadata log failed"), "{log}");

    disk.repair();
    broker.restart();
    let consumer = new_consumer(&broker.addr);
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10)).expect("metadata");
    for topic in &created {
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        assert_eq!(found.map(|t| t.partitions().len()), Some(20), "topic {topic} was created before the disk failed");
    }
}

/// Bytes of `path` in the page cache, by util-linux's `fincore`.
fn resident_bytes(path: &Path) -> u64 {
    let output = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .expect("run fincore (util-linux)");
    assert!(output.status.success(), "fincore {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("fincore prints a byte count")
}

/// Produces 320 records of 64 KiB (20 MiB) to partition 0 of a new topic on `broker`,
/// then reads every one back; returns how much of the segment was in the page cache
/// before the read, waiting up to 10 s for it to fall to `at_most`.
async fn write_read_back_and_measure_cache(broker: &harness::Broker, at_most: u64) -> (u64, u64) {
    let topic = harness::unique_topic("drop-behind");
    create_topic(&broker.addr, &topic, 1).await;
    let producer = new_producer(&broker.addr, &[("linger.ms", "5")]);
    let produced = produce_values_64k(&producer, &topic, 320).await;
    let segment = first_segment(broker, &topic);
    let size = std::fs::metadata(&segment).expect("segment").len();
    // Chunks still being written back when evicted are evicted again 1 s and 4 s later.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut resident = resident_bytes(&segment);
    while resident > at_most && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        resident = resident_bytes(&segment);
    }
    let consumer = new_consumer(&broker.addr);
    assign(&consumer, &topic, &[(0, 0)]);
    let read = recv_n(&consumer, produced.len(), WAIT).await;
    for (message, (offset, value)) in read.iter().zip(&produced) {
        assert_eq!((message.offset(), value_of(message)), (*offset, value.clone()));
    }
    (resident, size)
}

/// With `spool.log.drop.behind.bytes`, what the log appended leaves the page cache soon
/// after (all but about the budget), and every record still reads back, from the disk.
#[tokio::test]
async fn drop_behind_evicts_appended_data_from_the_page_cache_and_every_record_reads_back() {
    const BUDGET: u64 = 4 * 1024 * 1024;
    let broker = harness::Broker::start_with(&["--set", &format!("spool.log.drop.behind.bytes={BUDGET}")]);
    // The budget, the part not handed over yet (less than a hand-over), and the folios
    // that straddle the ends of the kept ranges, with one to spare.
    let bound =
        BUDGET + spool_storage::drop_behind::HAND_OVER_BYTES + 2 * spool_storage::drop_behind::FOLIO_MAX_BYTES;
    let (resident, size) = write_read_back_and_measure_cache(&broker, bound).await;
    assert!(size >= 20 * 1024 * 1024, "segment of {size} bytes");
    assert!(resident <= bound, "{resident} of {size} bytes in the page cache; at most {bound} expected");
    let note = spool_broker::HOST_TAKES_BACK_MEMORY_NOTE;
    assert!(!broker.log().contains(note), "the machine's choice logged where the config made it");

    // Off, as in Kafka, the page cache keeps what was written.
    let broker = harness::Broker::start_with(&["--set", "spool.log.drop.behind.bytes=0"]);
    let (resident, size) = write_read_back_and_measure_cache(&broker, u64::MAX).await;
    assert!(resident >= size / 10 * 9, "{resident} of {size} bytes in the page cache without drop-behind");
    assert!(!broker.log().contains(note), "the machine's choice logged where the config made it");
}

/// By default the machine decides: drop-behind is on, with a sixteenth of the memory up
/// to 1 GiB, on a virtual machine whose host takes back freed memory, and the broker says
/// so at start-up with the budget; elsewhere it stays off, as in Kafka, and says nothing.
#[test]
fn by_default_drop_behind_is_on_where_the_host_takes_back_free_memory() {
    use spool_storage::drop_behind;
    // The broker decides before it listens, and the harness waits for it to listen.
    let broker = harness::Broker::start();
    let budget = drop_behind::budget_for_machine(std::path::Path::new("/sys"), drop_behind::total_memory());
    let host_takes_back = drop_behind::host_takes_back_free_memory(std::path::Path::new("/sys"));
    assert_eq!(budget > 0, host_takes_back);
    let log = broker.log();
    let note = spool_broker::HOST_TAKES_BACK_MEMORY_NOTE;
    assert_eq!(log.contains(note), host_takes_back, "free page reporting: {host_takes_back}; log:\n{log}");
    if host_takes_back {
        assert!(log.contains(&format!("budget_bytes={budget}")), "the budget {budget} in the log:\n{log}");
    }
}
