//! Consumer groups beyond the basics, against the real `spool` binary:
//!
//! - **cooperative-sticky** (librdkafka `partition.assignment.strategy=cooperative-sticky`):
//!   when a member joins, the others give up only the partitions it needs and never
//!   stop owning the rest (every revocation is recorded in the rebalance callback);
//! - **static membership** (`group.instance.id`): a member that restarts within the
//!   session timeout gets its partitions back, and nobody else rebalances;
//! - **bad input at the wire level** (`kafka-protocol` requests over TCP): OffsetCommit
//!   for unknown partitions, stale generations, unknown members, oversized metadata;
//!   oversized member metadata and assignments in JoinGroup/SyncGroup; a forged offset
//!   record produced straight into `__consumer_offsets`. Each gets Kafka's error code,
//!   and the committed offsets are unchanged afterwards, also after a restart.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test consumer_groups_interop`.

mod harness;
mod wire;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};

use harness::{unique_topic, Broker};
use wire::{code, s, topic_name, Conn};

const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------
// librdkafka members that record their rebalances
// ---------------------------------------------------------------------------------

/// One rebalance callback: partitions assigned or revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Assign(BTreeSet<i32>),
    Revoke(BTreeSet<i32>),
}

/// A consumer context that records every rebalance callback and whether librdkafka
/// last said this member leads the group (from its `JOINGROUP` debug log).
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    leader: AtomicBool,
}

impl ClientContext for Recorder {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, message: &str) {
        // librdkafka: "JoinGroup response: GenerationId 1, Protocol range, LeaderId <id> (me), my MemberId ..."
        if fac == "JOINGROUP" && message.contains("JoinGroup response:") && message.contains("LeaderId") {
            self.leader.store(message.contains(" (me),"), Ordering::SeqCst);
        }
    }
}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |tpl: &rdkafka::TopicPartitionList| tpl.elements().iter().map(|e| e.partition()).collect();
        let event = match rebalance {
            Rebalance::Assign(tpl) => Event::Assign(partitions(tpl)),
            Rebalance::Revoke(tpl) => Event::Revoke(partitions(tpl)),
            Rebalance::Error(_) => return,
        };
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

/// A member polled by its own thread until it is stopped.
struct Member {
    consumer: Arc<BaseConsumer<Recorder>>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl Member {
    fn start(addr: &str, group: &str, topic: &str, extra: &[(&str, &str)]) -> Member {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", addr)
            .set("group.id", group)
            .set("session.timeout.ms", "30000")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("debug", "cgrp")
            .set_log_level(RDKafkaLogLevel::Debug);
        for (key, value) in extra {
            config.set(*key, *value);
        }
        let consumer = Arc::new(BaseConsumer::from_config_and_context(&config, Recorder::default()).expect("create consumer"));
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (consumer, stop) = (consumer.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _ = consumer.poll(Duration::from_millis(50));
                }
            })
        };
        Member { consumer, stop, poller: Some(poller) }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.consumer.assignment().map(|a| a.elements().iter().map(|e| e.partition()).collect()).unwrap_or_default()
    }

    fn events(&self) -> Vec<Event> {
        self.consumer.context().events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn is_leader(&self) -> bool {
        self.consumer.context().leader.load(Ordering::SeqCst)
    }

    /// Stops polling and closes the consumer (librdkafka's close: a dynamic member
    /// leaves the group, a static one does not).
    fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
        drop(self.consumer);
    }
}

/// Waits until the members' assignments are disjoint, cover `0..partitions`, and have
/// the sizes `sizes` (in member order); returns them.
fn wait_for_assignment(members: &[&Member], partitions: i32, sizes: &[usize]) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let current: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let union: BTreeSet<i32> = current.iter().flatten().copied().collect();
        let total: usize = current.iter().map(BTreeSet::len).sum();
        let counts: Vec<usize> = current.iter().map(BTreeSet::len).collect();
        if total == partitions as usize && union == (0..partitions).collect() && counts == sizes {
            return current;
        }
        assert!(Instant::now() < deadline, "no assignment of sizes {sizes:?} within {WAIT:?}: {current:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cooperative_sticky_moves_only_the_partitions_a_new_member_needs() {
    let broker = Broker::start();
    let topic = unique_topic("coop");
    let group = unique_topic("coop-group");
    wire::create_topic(&broker.addr, &topic, 6);
    let strategy = [("partition.assignment.strategy", "cooperative-sticky")];

    let first = Member::start(&broker.addr, &group, &topic, &strategy);
    let second = Member::start(&broker.addr, &group, &topic, &strategy);
    let before = wait_for_assignment(&[&first, &second], 6, &[3, 3]);
    let seen = [first.events().len(), second.events().len()];

    let third = Member::start(&broker.addr, &group, &topic, &strategy);
    let after = wait_for_assignment(&[&first, &second, &third], 6, &[2, 2, 2]);
    println!("before {before:?}, after {after:?}");

    let mut moved = BTreeSet::new();
    for (i, member) in [&first, &second].into_iter().enumerate() {
        assert!(after[i].is_subset(&before[i]), "member {i} kept {:?} of {:?}: only partitions move away", after[i], before[i]);
        let lost: BTreeSet<i32> = before[i].difference(&after[i]).copied().collect();
        // Incremental: what was revoked is exactly what moved; the kept partitions
        // were never revoked, not even for a moment.
        let revoked: BTreeSet<i32> = member.events()[seen[i]..]
            .iter()
            .filter_map(|e| match e {
                Event::Revoke(p) => Some(p.clone()),
                Event::Assign(_) => None,
            })
            .flatten()
            .collect();
        assert_eq!(revoked, lost, "member {i} events {:?}", &member.events()[seen[i]..]);
        moved.extend(lost);
    }
    assert_eq!(after[2], moved, "the new member got exactly the partitions that moved");
    for member in [first, second, third] {
        member.close();
    }
}

#[test]
fn a_static_member_that_restarts_quickly_keeps_its_partitions_and_nobody_rebalances() {
    let broker = Broker::start();
    let topic = unique_topic("static");
    let group = unique_topic("static-group");
    wire::create_topic(&broker.addr, &topic, 6);
    let instance = |n: usize| format!("{group}-instance-{n}");
    let start = |n: usize| Member::start(&broker.addr, &group, &topic, &[("group.instance.id", &instance(n))]);

    let mut members: Vec<Option<Member>> = (0..3).map(|n| Some(start(n))).collect();
    let live = |members: &[Option<Member>]| -> Vec<BTreeSet<i32>> {
        let refs: Vec<&Member> = members.iter().flatten().collect();
        wait_for_assignment(&refs, 6, &[2, 2, 2])
    };
    let before = live(&members);
    // Restart a follower: a static leader's rejoin is answered differently by
    // JoinGroup versions (KIP-814), which is not what this test is about.
    let victim = members.iter().flatten().position(|m| !m.is_leader()).expect("two of three members follow");
    let others: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let seen: Vec<usize> = others.iter().map(|i| members[*i].as_ref().map_or(0, |m| m.events().len())).collect();

    let restarted_at = Instant::now();
    members[victim].take().expect("victim").close();
    members[victim] = Some(start(victim));
    let after = live(&members);
    println!("before {before:?}, after {after:?}, restart took {:?}", restarted_at.elapsed());
    assert_eq!(after, before, "every member owns what it owned before");
    // Give a rebalance, if one had been started, time to reach the others.
    std::thread::sleep(Duration::from_secs(4));
    for (i, seen) in others.iter().zip(seen) {
        let member = members[*i].as_ref().expect("member");
        assert_eq!(member.events()[seen..].to_vec(), Vec::<Event>::new(), "member {i} had no rebalance");
        assert_eq!(member.assignment(), before[*i]);
    }
    let restarted = members[victim].as_ref().expect("restarted").events();
    assert_eq!(restarted, vec![Event::Assign(before[victim].clone())], "the restarted member was handed its partitions once");

    // The tool shows the instance ids of static members.
    let described = std::process::Command::new(harness::spool_bin())
        .args(["consumer-groups", "--bootstrap-server", &broker.addr, "--describe", "--group", &group, "--members"])
        .output()
        .expect("run spool consumer-groups");
    let stdout = String::from_utf8_lossy(&described.stdout);
    assert!(stdout.lines().nth(1).is_some_and(|h| h.split_whitespace().nth(2) == Some("GROUP-INSTANCE-ID")), "{stdout}");
    for n in 0..3 {
        assert!(stdout.contains(&instance(n)), "{stdout}");
    }
    for member in members.into_iter().flatten() {
        member.close();
    }
}

// ---------------------------------------------------------------------------------
// Bad input at the wire level
// ---------------------------------------------------------------------------------

const JOIN_GROUP_V: i16 = 5;
const SYNC_GROUP_V: i16 = 3;
const OFFSET_COMMIT_V: i16 = 8;
const OFFSET_FETCH_V: i16 = 7;
const FIND_COORDINATOR_V: i16 = 3;

const UNKNOWN_SERVER_ERROR: i16 = -1;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const MEMBER_ID_REQUIRED: i16 = 79;

/// Larger than one `__consumer_offsets` batch may be (`max.message.bytes`, 1 MiB).
const OVERSIZED_BYTES: usize = 2 * 1024 * 1024;

/// A value prefixed with its i16 schema version, as the consumer protocol frames it.
fn versioned<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message.encode(&mut buf, version).expect("encode consumer protocol message");
    buf.freeze()
}

fn subscription(topic: &str, user_data: Option<Bytes>) -> Bytes {
    versioned(&ConsumerProtocolSubscription::default().with_topics(vec![s(topic)]).with_user_data(user_data), 0)
}

fn assignment(topic: &str, partitions: Vec<i32>, user_data: Option<Bytes>) -> Bytes {
    let assigned = AssignedPartitions::default().with_topic(topic_name(topic)).with_partitions(partitions);
    versioned(&ConsumerProtocolAssignment::default().with_assigned_partitions(vec![assigned]).with_user_data(user_data), 0)
}

/// Asks for the group's coordinator until it is available (the first request creates
/// `__consumer_offsets`) and has loaded the group's partition (an OffsetFetch no longer
/// answers `COORDINATOR_LOAD_IN_PROGRESS`; FindCoordinator does not wait for that, as
/// in Kafka).
fn wait_for_coordinator(conn: &mut Conn, group: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let request = FindCoordinatorRequest::default().with_key(s(group)).with_key_type(0);
        let found = conn.call(&request, FIND_COORDINATOR_V).expect("FindCoordinator").error_code;
        let loaded = found == code::NONE && {
            let request = OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(None);
            conn.call(&request, OFFSET_FETCH_V).expect("OffsetFetch").error_code != COORDINATOR_LOAD_IN_PROGRESS
        };
        match found {
            code::NONE if loaded => return,
            code::NONE | COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            other => panic!("FindCoordinator for {group}: error {other}, loaded: {loaded}"),
        }
    }
}

fn join(conn: &mut Conn, group: &str, member_id: &str, metadata: Bytes) -> JoinGroupResponse {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(60_000)
        .with_rebalance_timeout_ms(60_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range")).with_metadata(metadata)]);
    conn.call(&request, JOIN_GROUP_V).expect("JoinGroup")
}

/// Joins as the only member: asks for a member id, then joins with it (waiting out the
/// initial rebalance delay). Returns (generation, member id).
fn join_alone(conn: &mut Conn, group: &str, metadata: Bytes) -> (i32, String) {
    let first = join(conn, group, "", metadata.clone());
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "JoinGroup v4+ without a member id");
    let member_id = first.member_id.to_string();
    let joined = join(conn, group, &member_id, metadata);
    assert_eq!(joined.error_code, code::NONE, "second JoinGroup of {group}");
    assert_eq!(joined.leader.as_str(), member_id, "the only member leads");
    (joined.generation_id, member_id)
}

fn sync(conn: &mut Conn, group: &str, generation: i32, member_id: &str, assignment: Bytes) -> SyncGroupResponse {
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(vec![SyncGroupRequestAssignment::default().with_member_id(s(member_id)).with_assignment(assignment)]);
    conn.call(&request, SYNC_GROUP_V).expect("SyncGroup")
}

/// Commits (topic, partition, offset, metadata) entries; returns each partition's code.
fn commit(conn: &mut Conn, group: &str, generation: i32, member_id: &str, entries: &[(&str, i32, i64, &str)]) -> Vec<i16> {
    let topics = entries
        .iter()
        .map(|(topic, partition, offset, metadata)| {
            OffsetCommitRequestTopic::default().with_name(topic_name(topic)).with_partitions(vec![
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(s(metadata))),
            ])
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics);
    let response = conn.call(&request, OFFSET_COMMIT_V).expect("OffsetCommit");
    response.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
}

/// The group's committed offsets of `topic` partitions `0..partitions` (-1: none),
/// retried while the coordinator loads.
fn committed(addr: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut conn = wire::connect(addr);
        wait_for_coordinator(&mut conn, group);
        let request = OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(Some(vec![
            OffsetFetchRequestTopic::default().with_name(topic_name(topic)).with_partition_indexes((0..partitions).collect()),
        ]));
        let response = conn.call(&request, OFFSET_FETCH_V).expect("OffsetFetch");
        if response.error_code == COORDINATOR_LOAD_IN_PROGRESS && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(response.error_code, code::NONE, "OffsetFetch of {group}");
        let partitions = &response.topics.first().expect("OffsetFetch answers the topic").partitions;
        return partitions.iter().map(|p| p.committed_offset).collect();
    }
}

/// The `__consumer_offsets` partition of a group: `abs(javaHashCode(group)) % 50`.
fn offsets_partition(group: &str) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)));
    if hash == i32::MIN { 0 } else { hash.abs() % 50 }
}

/// A record batch holding one OffsetCommit record in Kafka's format (key v1, value v3)
/// that would move `group`'s offset of `topic-partition` to `offset`.
fn forged_offset_commit(group: &str, topic: &str, partition: i32, offset: i64) -> Bytes {
    let string = |buf: &mut BytesMut, text: &str| {
        buf.put_i16(text.len() as i16);
        buf.put_slice(text.as_bytes());
    };
    let mut key = BytesMut::new();
    key.put_i16(1);
    string(&mut key, group);
    string(&mut key, topic);
    key.put_i32(partition);
    let mut value = BytesMut::new();
    value.put_i16(3);
    value.put_i64(offset);
    value.put_i32(-1);
    string(&mut value, "");
    value.put_i64(wire::now_ms());
    wire::batch(&[(Some(key.to_vec()), Some(value.to_vec()))], wire::now_ms())
}

#[test]
fn bad_group_requests_get_kafkas_error_codes_and_never_change_committed_offsets() {
    let mut broker = Broker::start();
    let addr = broker.addr.clone();
    let topic = unique_topic("bad-groups");
    let group = unique_topic("bad-groups-group");
    wire::create_topic(&addr, &topic, 2);
    let mut conn = wire::connect(&addr);
    conn.set_read_timeout(WAIT);
    wait_for_coordinator(&mut conn, &group);

    let (generation, member) = join_alone(&mut conn, &group, subscription(&topic, None));
    let synced = sync(&mut conn, &group, generation, &member, assignment(&topic, vec![0, 1], None));
    assert_eq!(synced.error_code, code::NONE);
    assert_eq!(commit(&mut conn, &group, generation, &member, &[(&topic, 0, 5, "")]), [code::NONE]);
    assert_eq!(committed(&addr, &group, &topic, 2), [5, -1]);

    let (t, m) = (topic.as_str(), member.as_str());
    let long_metadata = "m".repeat(4097);
    // (what, expected error codes, generation, member, commits as (topic, partition, offset, metadata))
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Vec<i16>, i32, &str, Vec<(&str, i32, i64, &str)>)> = vec![
        ("an unknown topic and partition", vec![code::UNKNOWN_TOPIC_OR_PARTITION; 2], generation, m, vec![("no-such-topic", 0, 1, ""), (t, 99, 1, "")]),
        ("an older generation", vec![ILLEGAL_GENERATION], generation - 1, m, vec![(t, 0, 1, "")]),
        ("a future generation", vec![ILLEGAL_GENERATION], generation + 1, m, vec![(t, 1, 1, "")]),
        ("an unknown member", vec![UNKNOWN_MEMBER_ID], generation, "intruder-1", vec![(t, 0, 1, "")]),
        ("metadata over offset.metadata.max.bytes", vec![OFFSET_METADATA_TOO_LARGE], generation, m, vec![(t, 0, 1, &long_metadata)]),
    ];
    for (what, expected, generation, member_id, entries) in cases {
        assert_eq!(commit(&mut conn, &group, generation, member_id, &entries), expected, "OffsetCommit with {what}");
    }
    assert_eq!(committed(&addr, &group, &topic, 2), [5, -1], "no bad commit changed anything");

    // A group record over the log's batch limit cannot be stored: Kafka answers the
    // SyncGroup UNKNOWN_SERVER_ERROR, whether the assignment or the member metadata
    // (the subscription) is what is too big.
    let big = Bytes::from(vec![7u8; OVERSIZED_BYTES]);
    let mut other = wire::connect(&addr);
    other.set_read_timeout(WAIT);
    let assign_group = unique_topic("bad-groups-assignment");
    wait_for_coordinator(&mut other, &assign_group);
    let (g, m) = join_alone(&mut other, &assign_group, subscription(&topic, None));
    let synced = sync(&mut other, &assign_group, g, &m, assignment(&topic, vec![0, 1], Some(big.clone())));
    assert_eq!(synced.error_code, UNKNOWN_SERVER_ERROR, "SyncGroup with a {OVERSIZED_BYTES}-byte assignment");
    let meta_group = unique_topic("bad-groups-metadata");
    wait_for_coordinator(&mut other, &meta_group);
    let (g, m) = join_alone(&mut other, &meta_group, subscription(&topic, Some(big)));
    let synced = sync(&mut other, &meta_group, g, &m, assignment(&topic, vec![0, 1], None));
    assert_eq!(synced.error_code, UNKNOWN_SERVER_ERROR, "SyncGroup of a member with {OVERSIZED_BYTES} bytes of metadata");

    // Clients may not write the coordinator's topic: a forged commit is refused as
    // Kafka refuses it (INVALID_TOPIC_EXCEPTION, no message) and nothing is appended.
    let partition = offsets_partition(&group);
    let end_before = wire::latest_offset(&mut conn, "__consumer_offsets", partition);
    let refused = wire::produce(&mut conn, "__consumer_offsets", partition, forged_offset_commit(&group, &topic, 1, 999));
    assert_eq!(refused.error_code, code::INVALID_TOPIC_EXCEPTION, "{refused:?}");
    assert_eq!(refused.error_message, None);
    assert_eq!(wire::latest_offset(&mut conn, "__consumer_offsets", partition), end_before);

    assert_eq!(committed(&addr, &group, &topic, 2), [5, -1]);
    // The member is still the group's: its next commit is accepted.
    assert_eq!(commit(&mut conn, &group, generation, &member, &[(&topic, 1, 7, "ok")]), [code::NONE]);
    // What was stored survives a crash and reloads the same.
    drop((conn, other));
    broker.kill9();
    broker.restart();
    assert_eq!(committed(&addr, &group, &topic, 2), [5, 7], "after kill -9 and restart");
}
