//! Small helpers around librdkafka (the `rdkafka` crate) shared by the end-to-end tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long the group helpers wait for an assignment or for records.
const GROUP_WAIT: Duration = Duration::from_secs(60);

/// Assigns `consumer` the given (partition, start offset) pairs of `topic`.
pub fn assign(consumer: &StreamConsumer, topic: &str, starts: &[(i32, i64)]) {
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in starts {
        list.add_partition_offset(topic, partition, Offset::Offset(offset)).expect("add partition");
    }
    consumer.assign(&list).expect("assign");
}

/// Receives exactly `n` records (panicking on a consumer error or when `within` runs out).
pub async fn recv_n(consumer: &StreamConsumer, n: usize, within: Duration) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + within;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await {
            Err(_) => panic!("received {} of {n} records within {within:?}", out.len()),
            Ok(Err(e)) => panic!("consumer error after {} of {n} records: {e}", out.len()),
            Ok(Ok(message)) => out.push(message.detach()),
        }
    }
    out
}

/// Creates `topic` with `partitions` partitions and replication factor 1 through the
/// Admin API, panicking with the broker's error if it is refused.
pub async fn create_topic(addr: &str, topic: &str, partitions: i32) {
    create_topic_with(addr, topic, partitions, &[]).await;
}

/// [`create_topic`] with topic config overrides (`("cleanup.policy", "compact")`, ...).
pub async fn create_topic_with(addr: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", addr).create().expect("create admin client");
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new_topic], &options).await.expect("CreateTopics request");
    assert_eq!(results.len(), 1);
    if let Err((name, code)) = &results[0] {
        panic!("creating topic {name} with {configs:?} failed: {code:?}");
    }
}

/// Produces `count` records round-robin over `partitions`, values `prefix-i`.
pub async fn produce(addr: &str, topic: &str, partitions: i32, prefix: &str, count: usize) {
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", addr).set("message.timeout.ms", "30000").create().expect("create producer");
    let values: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    let sends = values.iter().enumerate().map(|(i, value)| {
        let record: FutureRecord<'_, (), str> = FutureRecord::to(topic).partition(i as i32 % partitions).payload(value);
        producer.send(record, Duration::from_secs(30))
    });
    for (i, result) in join_all(sends).await.into_iter().enumerate() {
        if let Err((e, _)) = result {
            panic!("record {i} not delivered: {e}");
        }
    }
}

/// What each consumer received: (partition, offset, value).
pub type Received = Arc<Mutex<Vec<Vec<(i32, i64, String)>>>>;

/// Polls every consumer in the background (group members apply their assignments
/// while they poll), recording what each receives.
pub fn drain(consumers: &[Arc<StreamConsumer>]) -> (Received, Vec<tokio::task::JoinHandle<()>>) {
    let received: Received = Arc::new(Mutex::new(vec![Vec::new(); consumers.len()]));
    let tasks = consumers
        .iter()
        .enumerate()
        .map(|(i, consumer)| {
            let consumer = consumer.clone();
            let received = received.clone();
            tokio::spawn(async move {
                loop {
                    match consumer.recv().await {
                        Ok(m) => {
                            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                            received.lock().expect("received records")[i].push((m.partition(), m.offset(), value));
                        }
                        Err(e) => panic!("consumer {i} failed: {e}"),
                    }
                }
            })
        })
        .collect();
    (received, tasks)
}

/// Each consumer's assigned partitions of `topic`.
pub fn assignments(consumers: &[Arc<StreamConsumer>], topic: &str) -> Vec<BTreeSet<i32>> {
    consumers
        .iter()
        .map(|c| {
            let list = c.assignment().expect("assignment");
            list.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect()
        })
        .collect()
}

/// Waits until the consumers' assignments are disjoint, each at least `min` partitions,
/// and cover `0..partitions`; returns them.
pub async fn wait_for_assignment(consumers: &[Arc<StreamConsumer>], topic: &str, partitions: i32, min: usize) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + GROUP_WAIT;
    loop {
        let current = assignments(consumers, topic);
        let total: usize = current.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = current.iter().flatten().copied().collect();
        if current.iter().all(|a| a.len() >= min) && total == partitions as usize && union == (0..partitions).collect() {
            return current;
        }
        assert!(Instant::now() < deadline, "no balanced assignment within {GROUP_WAIT:?}: {current:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `received` holds `count` records in total.
pub async fn wait_for_total(received: &Received, count: usize) {
    let deadline = Instant::now() + GROUP_WAIT;
    loop {
        let total: usize = received.lock().expect("received records").iter().map(Vec::len).sum();
        if total >= count {
            return;
        }
        assert!(Instant::now() < deadline, "received {total} of {count} records within {GROUP_WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The group's committed offsets of `topic`'s partitions, as `consumer` fetches them.
pub fn committed(consumer: &StreamConsumer, topic: &str, partitions: i32) -> BTreeMap<i32, Offset> {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(20)).expect("OffsetFetch");
    committed.elements().iter().map(|e| (e.partition(), e.offset())).collect()
}

/// Produces `count` records to `topic` and checks that the group (drained into
/// `received`, assigned `assigned`) got each exactly once, each member only from its
/// own partitions, every member something, and no rebalance meanwhile.
pub async fn consume_each_record_once(
    addr: &str,
    topic: &str,
    partitions: i32,
    group: &[Arc<StreamConsumer>],
    received: &Received,
    assigned: &[BTreeSet<i32>],
    count: usize,
) {
    produce(addr, topic, partitions, "v", count).await;
    wait_for_total(received, count).await;
    // Nothing more arrives: every record was delivered once to the group.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = received.lock().expect("received records").clone();
    let total: usize = got.iter().map(Vec::len).sum();
    assert_eq!(total, count, "each record exactly once, no duplicates");
    let distinct: BTreeSet<&str> = got.iter().flatten().map(|(_, _, v)| v.as_str()).collect();
    assert_eq!(distinct.len(), count);
    for (member, records) in got.iter().enumerate() {
        assert!(!records.is_empty(), "member {member} consumed nothing");
        for (partition, _, _) in records {
            assert!(assigned[member].contains(partition), "member {member} read partition {partition} it was not assigned");
        }
    }
    assert_eq!(assignments(group, topic), assigned, "no rebalance while consuming");
}

/// What a group member in another process reports it consumed: (partition, offset, value).
pub type Lines = Arc<Mutex<Vec<(i32, i64, String)>>>;

/// Waits until `survivor` (one consumer, drained into `received`) and another member
/// (reporting into `other`) split `topic`'s four partitions two and two and together
/// consumed `count` records; returns the other member's partitions.
pub async fn wait_for_two_and_two(survivor: &[Arc<StreamConsumer>], received: &Received, other: &Lines, topic: &str, count: usize) -> BTreeSet<i32> {
    let by_partition = |records: &[(i32, i64, String)]| {
        let mut counts = BTreeMap::new();
        for (p, _, _) in records {
            *counts.entry(*p).or_insert(0) += 1;
        }
        counts
    };
    let deadline = Instant::now() + GROUP_WAIT;
    loop {
        let own = assignments(survivor, topic).remove(0);
        let total = received.lock().expect("received records")[0].len() + other.lock().expect("received records").len();
        if own.len() == 2 && total >= count {
            return (0..4).filter(|p| !own.contains(p)).collect();
        }
        assert!(
            Instant::now() < deadline,
            "no 2+2 split within {GROUP_WAIT:?}: survivor has {own:?}, {total} of {count} consumed (survivor {:?}, other {:?})",
            by_partition(&received.lock().expect("received records")[0]),
            by_partition(&other.lock().expect("received records")),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the group's committed offsets (read by `probe`) cover everything the
/// other member consumed of its partitions `theirs`; returns those offsets and what it
/// consumed.
pub async fn wait_for_commits_covering(
    probe: &StreamConsumer,
    topic: &str,
    theirs: &BTreeSet<i32>,
    other: &Lines,
) -> (BTreeMap<i32, Offset>, Vec<(i32, i64, String)>) {
    let deadline = Instant::now() + GROUP_WAIT;
    loop {
        let consumed = other.lock().expect("received records").clone();
        let now = committed(probe, topic, 4);
        let covered = theirs.iter().all(|p| {
            let last = consumed.iter().filter(|(q, _, _)| q == p).map(|(_, o, _)| *o).max();
            now[p] == Offset::Offset(last.map_or(0, |o| o + 1))
        });
        if covered {
            return (now, consumed);
        }
        assert!(Instant::now() < deadline, "the other member never committed what it consumed: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A group member killed without leaving: its partitions, the offsets committed for
/// them, what it had consumed, and when it died.
pub struct KilledMember {
    pub partitions: BTreeSet<i32>,
    pub committed: BTreeMap<i32, Offset>,
    pub consumed: Vec<(i32, i64, String)>,
    pub killed: Instant,
}

/// After `dead` was killed (its 6 s session running), with 40 "first-N" records already
/// consumed by the group: 40 "second-N" records go in; `survivor` takes the dead
/// member's partitions only after about the session timeout, nothing is skipped, and
/// each of those partitions resumes at its committed offset.
pub async fn check_takeover(addr: &str, topic: &str, survivor: &[Arc<StreamConsumer>], received: &Received, dead: &KilledMember) {
    // The survivor may have read the dead member's partitions before it joined.
    let seen_before_kill = received.lock().expect("received records")[0].len();
    produce(addr, topic, 4, "second", 40).await;
    let deadline = Instant::now() + GROUP_WAIT;
    while assignments(survivor, topic)[0].len() < 4 {
        assert!(Instant::now() < deadline, "the dead member's partitions never moved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let moved_after = dead.killed.elapsed();
    assert!(moved_after >= Duration::from_secs(4), "moved after {moved_after:?}, before the 6 s session could end");
    // Nothing skipped: every record of both batches reaches a member. How many of the
    // first batch the survivor reads depends on who joined first: the other member may
    // have consumed and committed all of it before the survivor got any partition.
    let expected: BTreeSet<String> =
        (0..40).map(|i| format!("first-{i}")).chain((0..40).map(|i| format!("second-{i}"))).collect();
    let everything = || -> BTreeSet<String> {
        received.lock().expect("received records")[0].iter().chain(&dead.consumed).map(|(_, _, v)| v.clone()).collect()
    };
    let deadline = Instant::now() + GROUP_WAIT;
    while !everything().is_superset(&expected) {
        let missing: Vec<String> = expected.difference(&everything()).cloned().collect();
        assert!(Instant::now() < deadline, "not consumed by any member within {GROUP_WAIT:?}: {missing:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let got = received.lock().expect("received records")[0].clone();
    assert_eq!(everything(), expected, "nothing skipped");
    for p in &dead.partitions {
        let first_taken = got[seen_before_kill..].iter().filter(|(q, _, _)| q == p).map(|(_, o, _)| *o).min();
        assert_eq!(first_taken.map(Offset::Offset), Some(dead.committed[p]), "partition {p} resumed at the committed offset");
    }
}
