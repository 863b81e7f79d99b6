//! A three-node cluster of real `spool server` processes: forming, topic placement,
//! replication with `acks=all`, leader failover and catch-up (also when the leader's disk
//! fails under it), and start-up refusals.
//!
//! Clients are librdkafka (`rdkafka`) and, where rdkafka hides the broker's answer (the
//! error message of CreateTopics), the raw wire client in `tests/wire`. Every wait is
//! bounded. Clusters lower `broker.session.timeout.ms` to 3 s so that failover is quick.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test cluster_basics`.

mod harness;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use harness::cluster::Cluster;

const SESSION_TIMEOUT_MS: u64 = 3000;
/// Bound on electing a new leader after the old one dies: the session timeout plus
/// generous time for the controller to notice, decide and publish.
const FAILOVER_MAX: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(60);

fn start_cluster() -> Cluster {
    Cluster::builder(3)
        .set("broker.session.timeout.ms", &SESSION_TIMEOUT_MS.to_string())
        .set("broker.heartbeat.interval.ms", "500")
        .set("replica.lag.time.max.ms", "5000")
        .start()
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "harness-admin")
        .create()
        .expect("create admin client")
}

/// Creates `topic` through librdkafka; the per-topic result.
fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
) -> Result<(), RDKafkaErrorCode> {
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results =
        futures::executor::block_on(admin(bootstrap).create_topics([&new_topic], &options))
            .expect("CreateTopics call");
    match &results[0] {
        Ok(_) => Ok(()),
        Err((_, code)) => Err(*code),
    }
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "harness-producer")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .set("request.timeout.ms", "5000")
        .create()
        .expect("create producer")
}

/// Produces `values` to `topic`/`partition` one at a time with `acks=all`; their offsets.
fn produce_all(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    values: &[String],
) -> Vec<i64> {
    values
        .iter()
        .map(|value| {
            let record = FutureRecord::<(), str>::to(topic)
                .partition(partition)
                .payload(value);
            let delivery = producer
                .send_result(record)
                .unwrap_or_else(|(e, _)| panic!("enqueue {value}: {e}"));
            match futures::executor::block_on(delivery) {
                Ok(Ok(d)) => d.offset,
                Ok(Err((e, _))) => panic!("produce {value} with acks=all: {e}"),
                Err(_) => panic!("produce {value}: the delivery report was dropped"),
            }
        })
        .collect()
}

fn values(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// Creates `topic` through librdkafka with the given replicas for each partition.
fn create_placed_topic(bootstrap: &str, topic: &str, replicas: &[&[i32]], configs: &[(&str, &str)]) {
    let mut new_topic = NewTopic::new(topic, replicas.len() as i32, TopicReplication::Variable(replicas));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = futures::executor::block_on(admin(bootstrap).create_topics([&new_topic], &options)).expect("CreateTopics call");
    assert!(created[0].is_ok(), "{created:?}");
}

/// Creates `topic` with one partition on nodes 1, 2 and 3, node 1 first so that it
/// leads, and `min.insync.replicas=2`; returns once all three replicas are in sync.
fn create_topic_led_by_node_1(cluster: &mut Cluster, topic: &str) {
    create_placed_topic(&cluster.bootstrap(), topic, &[&[1, 2, 3]], &[("min.insync.replicas", "2")]);
    let view = cluster.wait_for("the partition fully replicated", WAIT, |v| v.fully_replicated(topic, 1));
    assert_eq!(view.leader_of(topic, 0), Some(1));
}

/// Values of about 16 KiB: a few hundred fill a few MiB of a small disk.
fn big_values(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    values(prefix, range).into_iter().map(|v| format!("{v}:{}", "x".repeat(16 * 1024))).collect()
}

fn consumer(bootstrap: &str, topic: &str, partition: i32) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "harness-consumer")
        .set("group.id", "harness-never-joined")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Beginning)
        .expect("add partition");
    consumer.assign(&list).expect("assign");
    consumer
}

/// Reads from `consumer` until `count` more records arrived (bounded); `(offset, value)`.
fn read_n(consumer: &BaseConsumer, count: usize, within: Duration) -> Vec<(i64, String)> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "read {} of {count} records within {within:?}: {out:?}",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => out.push((
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
            Some(Err(e)) => eprintln!("consumer error (retrying): {e}"),
        }
    }
    out
}

/// What a replica holds on disk as `(offset, value)` text.
fn on_disk(cluster: &Cluster, node: i32, topic: &str, partition: i32) -> Vec<(i64, String)> {
    cluster
        .read_partition(node, topic, partition)
        .unwrap_or_default()
        .into_iter()
        .map(|(o, v)| {
            (
                o,
                String::from_utf8_lossy(v.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}

#[test]
fn three_nodes_form_a_cluster_with_one_controller() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let view = cluster.view();
    assert_eq!(
        view.answers().count(),
        3,
        "every node answers Metadata:\n{view}"
    );
    let expected: BTreeMap<i32, String> = cluster
        .ids()
        .into_iter()
        .map(|id| (id, cluster.addr(id)))
        .collect();
    for (id, md) in view.answers() {
        assert_eq!(
            md.brokers, expected,
            "node {id} lists every broker at its advertised address:\n{view}"
        );
    }
    // Every node names the active controller (a live broker here, since all are).
    let controller = view
        .controller()
        .unwrap_or_else(|| panic!("the nodes agree on one controller:\n{view}"));
    assert!(
        (1..=3).contains(&controller),
        "controller {controller} is one of the nodes"
    );
    let cluster_ids: BTreeSet<Option<String>> = view
        .answers()
        .map(|(_, md)| md.cluster_id.clone())
        .collect();
    assert_eq!(
        cluster_ids.len(),
        1,
        "all nodes report one cluster id: {cluster_ids:?}"
    );
    assert!(
        cluster_ids.iter().all(Option::is_some),
        "the cluster id is set: {cluster_ids:?}"
    );
    assert_eq!(
        cluster.active_controller(),
        Some(controller),
        "the controller Metadata names is the active controller"
    );

    // librdkafka sees the same three brokers from any bootstrap address.
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.addr(2))
        .create()
        .expect("create client");
    let md = client
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("Metadata through librdkafka");
    let brokers: BTreeSet<i32> = md.brokers().iter().map(|b| b.id()).collect();
    assert_eq!(brokers, BTreeSet::from([1, 2, 3]));
}

#[test]
fn replication_factor_three_spreads_replicas_and_balances_leaders() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let topic = harness::unique_topic("spread");
    create_topic(&cluster.bootstrap(), &topic, 6, 3, &[])
        .expect("create a topic with replication factor 3");
    let view = cluster.wait_for("every partition fully replicated", WAIT, |v| {
        v.fully_replicated(&topic, 6)
    });
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for p in 0..6 {
        let partition = view.partition(&topic, p).expect("partition in metadata");
        let replicas: BTreeSet<i32> = partition.replicas.iter().copied().collect();
        assert_eq!(
            partition.replicas.len(),
            3,
            "partition {p} has 3 replicas:\n{view}"
        );
        assert_eq!(
            replicas,
            BTreeSet::from([1, 2, 3]),
            "partition {p} has a replica on every broker:\n{view}"
        );
        assert_eq!(
            partition.leader, partition.replicas[0],
            "partition {p} is led by its preferred replica:\n{view}"
        );
        *leaders.entry(partition.leader).or_default() += 1;
    }
    assert_eq!(
        leaders,
        BTreeMap::from([(1, 2), (2, 2), (3, 2)]),
        "6 partitions: 2 leaderships per broker:\n{view}"
    );
}

#[test]
fn brokers_report_their_racks_and_new_partitions_are_spread_over_them() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", &SESSION_TIMEOUT_MS.to_string())
        .set("broker.heartbeat.interval.ms", "500")
        .set_on(1, "broker.rack", "rack-a")
        .set_on(2, "broker.rack", "rack-a")
        .set_on(3, "broker.rack", "rack-b")
        .start();
    // Metadata tells clients each broker's rack.
    let versions = harness::tool_output("broker-api-versions", &cluster.addr(2), &[]);
    for (id, rack) in [(1, "rack-a"), (2, "rack-a"), (3, "rack-b")] {
        assert!(versions.contains(&format!(" (id: {id} rack: {rack}) -> (")), "{versions}");
    }

    // Every partition of a factor-2 topic has a replica on each rack, so node 3, alone on
    // rack-b, holds them all (in id order alone, partition 0 would be on nodes 1 and 2);
    // leaders still rotate over the three nodes. Partitions added later too.
    let topic = harness::unique_topic("racks");
    create_topic(&cluster.bootstrap(), &topic, 6, 2, &[]).expect("create the topic");
    topics_tool(&cluster.addr(1), &["--alter", "--topic", &topic, "--partitions", "9"]);
    let view = cluster.wait_for("9 partitions in sync", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 9));
    let mut leaders = BTreeMap::<i32, usize>::new();
    for p in 0..9 {
        let replicas = view.partition(&topic, p).map(|m| m.replicas.clone()).unwrap_or_default();
        assert!(replicas.len() == 2 && replicas.contains(&3), "partition {p} is not on both racks: {replicas:?}");
        *leaders.entry(replicas[0]).or_default() += 1;
    }
    assert_eq!(leaders, BTreeMap::from([(1, 3), (2, 3), (3, 3)]));

    // reassign-partitions --generate places by rack too, unless told not to.
    let dir = tempfile::tempdir().expect("temp dir");
    let topics = dir.path().join("topics.json");
    std::fs::write(&topics, format!(r#"{{"version":1,"topics":[{{"topic":"{topic}"}}]}}"#)).expect("write topics file");
    let generate = |extra: &[&str]| {
        let args = [&["--generate", "--topics-to-move-json-file", topics.to_str().expect("utf-8"), "--broker-list", "1,2,3"][..], extra].concat();
        let (code, out, err) = reassign(&cluster.addr(1), &args);
        assert_eq!(code, Some(0), "{err}");
        out.lines().last().unwrap_or_default().to_string()
    };
    let by_rack = generate(&[]);
    assert!(by_rack.contains(&format!(r#"{{"topic":"{topic}","partition":0,"replicas":[1,3],"#)), "{by_rack}");
    let by_id = generate(&["--disable-rack-aware"]);
    assert!(by_id.contains(&format!(r#"{{"topic":"{topic}","partition":0,"replicas":[1,2],"#)), "{by_id}");
}

#[test]
fn a_consumer_naming_its_rack_reads_from_the_replica_on_it() {
    let _exclusive = harness::cluster::exclusive();
    // A session long enough that the paused leader keeps leading while the consumer reads.
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", "60000")
        .set("broker.heartbeat.interval.ms", "500")
        .set("replica.selector.class", "org.apache.kafka.common.replica.RackAwareReplicaSelector")
        .set_on(1, "broker.rack", "rack-a")
        .set_on(2, "broker.rack", "rack-b")
        .set_on(3, "broker.rack", "rack-c")
        .start();
    let topic = harness::unique_topic("rack-reads");
    create_placed_topic(&cluster.bootstrap(), &topic, &[&[1, 2, 3]], &[]);
    cluster.wait_for("the partition on all three nodes", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 1));
    let written = values("r", 0..600);
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &written);
    // The followers learn the high watermark with their next fetch.
    std::thread::sleep(Duration::from_secs(2));

    // librdkafka on rack-c, reading a few hundred bytes per fetch: the leader (node 1)
    // sends it to node 3, which serves it up to its high watermark. With node 1 paused,
    // the records still arrive; read from the leader, they could not.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.addr(3))
        .set("client.id", "rack-c-consumer")
        .set("group.id", "harness-never-joined")
        .set("enable.auto.commit", "false")
        .set("client.rack", "rack-c")
        .set("message.max.bytes", "1000")
        .set("fetch.max.bytes", "1024")
        .set("max.partition.fetch.bytes", "512")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("create consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&topic, 0, Offset::Offset(0)).expect("add partition");
    consumer.assign(&list).expect("assign");
    let mut read = read_n(&consumer, 100, WAIT);
    cluster.pause(1);
    read.extend(read_n(&consumer, written.len() - read.len(), Duration::from_secs(20)));
    cluster.resume(1);
    assert_eq!(read.into_iter().map(|(_, v)| v).collect::<Vec<_>>(), written);
}

#[test]
fn replication_factor_above_the_broker_count_is_refused() {
    let _exclusive = harness::cluster::exclusive();
    let cluster = start_cluster();
    let topic = harness::unique_topic("rf4");
    assert_eq!(
        create_topic(&cluster.bootstrap(), &topic, 1, 4, &[]),
        Err(RDKafkaErrorCode::InvalidReplicationFactor),
        "librdkafka gets INVALID_REPLICATION_FACTOR"
    );
    // The broker's message names the broker count (rdkafka drops it; ask on the wire).
    let mut request = wire::create_topics_request(&topic, 1);
    request.topics[0].replication_factor = 4;
    let mut conn = wire::connect(&cluster.addr(1));
    let response = conn
        .call(&request, wire::CREATE_TOPICS_V)
        .expect("CreateTopics");
    let result = &response.topics[0];
    assert_eq!(
        result.error_code, 38,
        "INVALID_REPLICATION_FACTOR: {result:?}"
    );
    let message = result
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        message.contains('3') && message.to_lowercase().contains("broker"),
        "the message names the 3 available brokers: {message:?}"
    );
}

#[test]
fn acks_all_produce_is_on_every_in_sync_replica_and_consumable_from_the_leader() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let topic = harness::unique_topic("acks-all");
    create_topic(
        &cluster.bootstrap(),
        &topic,
        1,
        3,
        &[("min.insync.replicas", "2")],
    )
    .expect("create topic");
    cluster.wait_for("the partition fully replicated", WAIT, |v| {
        v.fully_replicated(&topic, 1)
    });
    let producer = producer(&cluster.bootstrap());
    let sent = values("acked", 0..100);
    let offsets = produce_all(&producer, &topic, 0, &sent);
    assert_eq!(
        offsets,
        (0..100).collect::<Vec<i64>>(),
        "offsets are consecutive from 0"
    );

    // acks=all: every replica still in the ISR already holds every acknowledged record.
    let view = cluster.view();
    let isr = view.partition(&topic, 0).expect("partition").isr.clone();
    assert!(
        isr.len() >= 2,
        "ISR of at least min.insync.replicas: {isr:?}"
    );
    let expected: Vec<(i64, String)> = offsets.iter().copied().zip(sent.iter().cloned()).collect();
    for node in &isr {
        let held = on_disk(&cluster, *node, &topic, 0);
        assert!(
            held.len() >= 100 && held[..100] == expected[..],
            "in-sync replica {node} holds every acknowledged record on disk: {} records, first differences {:?}",
            held.len(),
            held.iter().zip(&expected).find(|(a, b)| a != b)
        );
    }

    let leader = view.leader_of(&topic, 0).expect("leader");
    let read = read_n(
        &consumer(&cluster.addr(leader), &topic, 0),
        100,
        Duration::from_secs(30),
    );
    assert_eq!(
        read, expected,
        "the consumer reads what was acknowledged, in order"
    );
}

/// An `acks=all` produce waiting on a stalled follower does not hold up the requests
/// behind it on the same connection: they take effect meanwhile, and every response
/// still comes back in request order.
#[test]
fn requests_behind_an_acks_all_produce_waiting_on_replication_are_handled_meanwhile() {
    use kafka_protocol::messages::{ApiKey, MetadataResponse, ProduceResponse};
    let _exclusive = harness::cluster::exclusive();
    // Nothing may shrink the ISR while the follower is stopped: the first produce can
    // only complete once the follower runs again.
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", "120000")
        .set("replica.lag.time.max.ms", "120000")
        .start();
    let topic = harness::unique_topic("pipelined");
    create_topic(&cluster.bootstrap(), &topic, 1, 3, &[]).expect("create topic");
    cluster.wait_for("the partition fully replicated", WAIT, |v| v.fully_replicated(&topic, 1));
    let view = cluster.view();
    let leader = view.leader_of(&topic, 0).expect("leader");
    let follower = *view.partition(&topic, 0).expect("partition").isr.iter().find(|&&n| n != leader).expect("a follower");
    cluster.pause(follower);

    let mut conn = wire::Conn::connect(&cluster.addr(leader)).expect("connect to the leader");
    let mut ids = Vec::new();
    for tag in ["first", "second"] {
        let mut request = wire::produce_request(&topic, 0, wire::batch(&wire::sample_values(tag, 1), wire::now_ms()), -1);
        request.timeout_ms = 120_000;
        ids.push(conn.send(&request, wire::PRODUCE_V).expect("send produce"));
    }
    let metadata_id = conn.send(&wire::metadata_request(Some(&[topic.as_str()]), false), wire::METADATA_V).expect("send metadata");

    // The second batch reaches the leader's log while the first still waits for the
    // stopped follower: a connection handling one request at a time would not read it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let held = on_disk(&cluster, leader, &topic, 0);
        if held.len() >= 2 || Instant::now() > deadline {
            break held;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let values: Vec<&str> = held.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["first-value-0", "second-value-0"], "both batches are in the leader's log, in request order");
    match conn.next_event(Duration::from_secs(1)) {
        wire::PeerEvent::Silent => {}
        other => panic!("nothing is answered while the first produce waits on replication: {other:?}"),
    }

    cluster.resume(follower);
    for (i, id) in ids.iter().enumerate() {
        let response: ProduceResponse = conn.recv(ApiKey::Produce, wire::PRODUCE_V, *id).expect("produce response, in order");
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0, "produce {i} succeeds once the follower caught up: {partition:?}");
        assert_eq!(partition.base_offset, i as i64, "produce {i} got the offset of its place in the log");
    }
    let metadata: MetadataResponse =
        conn.recv(ApiKey::Metadata, wire::METADATA_V, metadata_id).expect("metadata response, after both produces");
    assert_eq!(metadata.topics.len(), 1, "the metadata answers for the topic: {metadata:?}");
}

/// The committed offsets of `group` by topic, asked of its coordinator at `addr` (every
/// topic: OffsetFetch with no topic list).
fn committed_topics(addr: &str, group: &str) -> Option<BTreeSet<String>> {
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest};
    let mut conn = wire::Conn::connect(addr).ok()?;
    let request = OffsetFetchRequest::default().with_group_id(GroupId(wire::s(group))).with_topics(None);
    let response = conn.call(&request, 7).ok()?;
    (response.error_code == 0)
        .then(|| response.topics.iter().map(|t| t.name.0.to_string()).collect())
}

#[test]
fn deleting_a_topic_through_any_broker_removes_its_offsets_from_every_coordinator() {
    use kafka_protocol::messages::{DeleteTopicsRequest, FindCoordinatorRequest};
    use rdkafka::consumer::CommitMode;
    let _exclusive = harness::cluster::exclusive();
    let cluster = start_cluster();
    let doomed = harness::unique_topic("doomed");
    let kept = harness::unique_topic("kept");
    for topic in [&doomed, &kept] {
        create_topic(&cluster.bootstrap(), topic, 2, 1, &[]).expect("create topic");
    }
    let group = harness::unique_topic("group");
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", &group)
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    for topic in [&doomed, &kept] {
        for partition in 0..2 {
            offsets.add_partition_offset(topic, partition, Offset::Offset(5)).expect("offset");
        }
    }
    // Right after start-up the group's coordinator may still be loading or moving: the
    // client is told NOT_COORDINATOR and the commit is tried again.
    let deadline = Instant::now() + WAIT;
    while let Err(e) = committer.commit(&offsets, CommitMode::Sync) {
        assert!(Instant::now() < deadline, "commit offsets: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut conn = wire::Conn::connect(&cluster.addr(cluster.ids()[0])).expect("connect");
    let found = conn
        .call(&FindCoordinatorRequest::default().with_key(wire::s(&group)).with_key_type(0), 3)
        .expect("FindCoordinator");
    assert_eq!(found.error_code, 0, "FindCoordinator: {:?}", found.error_message);
    let coordinator = found.node_id.0;
    let both = BTreeSet::from([doomed.clone(), kept.clone()]);
    assert_eq!(committed_topics(&cluster.addr(coordinator), &group), Some(both));

    // DeleteTopics goes to a broker that does not coordinate the group.
    let other = *cluster.ids().iter().find(|id| **id != coordinator).expect("a second broker");
    let request = DeleteTopicsRequest::default()
        .with_topic_names(vec![wire::topic_name(&doomed)])
        .with_timeout_ms(10_000);
    let deleted = wire::Conn::connect(&cluster.addr(other)).expect("connect").call(&request, 4).expect("DeleteTopics");
    assert_eq!(deleted.responses[0].error_code, 0, "DeleteTopics: {:?}", deleted.responses[0].error_message);

    let deadline = Instant::now() + WAIT;
    loop {
        let now = committed_topics(&cluster.addr(coordinator), &group);
        if now == Some(BTreeSet::from([kept.clone()])) {
            break;
        }
        assert!(Instant::now() < deadline, "the coordinator still holds offsets of the deleted topic: {now:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn killing_the_leader_elects_another_and_the_old_one_catches_up() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let topic = harness::unique_topic("failover");
    create_topic(
        &cluster.bootstrap(),
        &topic,
        1,
        3,
        &[("min.insync.replicas", "2")],
    )
    .expect("create topic");
    cluster.wait_for("the partition fully replicated", WAIT, |v| {
        v.fully_replicated(&topic, 1)
    });
    let producer = producer(&cluster.bootstrap());
    let consumer = consumer(&cluster.bootstrap(), &topic, 0);
    let before = values("before", 0..50);
    produce_all(&producer, &topic, 0, &before);
    let mut read = read_n(&consumer, 50, Duration::from_secs(30));

    let old = cluster
        .view()
        .partition(&topic, 0)
        .expect("partition")
        .clone();
    cluster.kill9(old.leader);
    let killed_at = Instant::now();
    let view = cluster.wait_for(
        &format!("a leader other than node {}", old.leader),
        FAILOVER_MAX,
        |v| v.leader_of(&topic, 0).is_some_and(|l| l != old.leader),
    );
    let new = view.partition(&topic, 0).expect("partition").clone();
    eprintln!(
        "node {} killed; node {} leads after {:?}",
        old.leader,
        new.leader,
        killed_at.elapsed()
    );
    assert!(
        new.leader_epoch > old.leader_epoch,
        "the leader epoch grows: {old:?} -> {new:?}"
    );
    assert!(
        old.isr.contains(&new.leader),
        "the new leader came from the ISR {:?}",
        old.isr
    );

    // The same clients carry on.
    let after = values("after", 0..50);
    let offsets = produce_all(&producer, &topic, 0, &after);
    assert_eq!(
        offsets,
        (50..100).collect::<Vec<i64>>(),
        "offsets continue after the failover"
    );
    read.extend(read_n(&consumer, 50, Duration::from_secs(30)));
    let expected: Vec<(i64, String)> = (0..).zip(before.iter().chain(&after).cloned()).collect();
    assert_eq!(
        read, expected,
        "the consumer read every record once, in order, across the failover"
    );

    // The old leader comes back, catches up and rejoins the ISR.
    cluster.restart(old.leader);
    cluster.wait_for(&format!("node {} back in the ISR", old.leader), WAIT, |v| {
        v.partition(&topic, 0)
            .is_some_and(|p| p.isr.contains(&old.leader))
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = on_disk(&cluster, old.leader, &topic, 0);
        if held == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {} in the ISR must hold the leader's records: {} records, first difference {:?}",
            old.leader,
            held.len(),
            held.iter().zip(&expected).find(|(a, b)| a != b)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

#[test]
fn a_leader_whose_disk_fails_halts_and_another_replica_takes_over_with_every_acknowledged_record() {
    let _exclusive = harness::cluster::exclusive();
    let disk = harness::failing_disk::FailingDisk::required();
    // Every record is fsynced as it is appended, so node 1 meets its failed disk at once.
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", &SESSION_TIMEOUT_MS.to_string())
        .set("broker.heartbeat.interval.ms", "500")
        .set("replica.lag.time.max.ms", "5000")
        .set("log.flush.interval.messages", "1")
        .data_dir(1, disk.path().join("node-1"))
        .start();
    let topic = harness::unique_topic("failed-disk");
    create_topic_led_by_node_1(&mut cluster, &topic);

    let producer = producer(&cluster.bootstrap());
    let before = big_values("before", 0..10);
    produce_all(&producer, &topic, 0, &before);
    // About 1 MiB more reaches node 1's disk; the records below need more than three.
    disk.fail_after(1);
    let after = big_values("after", 0..200);
    let offsets = produce_all(&producer, &topic, 0, &after);
    assert_eq!(offsets, (10..210).collect::<Vec<i64>>(), "every record acknowledged once, in order, across the failover");

    let status = cluster.wait_exit(1, Duration::from_secs(30)).unwrap_or_else(|| {
        panic!("node 1 still runs 30 s after its disk failed; log:\n{}", cluster.log(1))
    });
    assert_eq!(status.code(), Some(1), "log:\n{}", cluster.log(1));
    let log = cluster.log(1);
    assert!(log.contains("the data directory") || log.contains("the metadata log failed"), "{log}");
    let view = cluster.wait_for("a leader other than node 1", FAILOVER_MAX, |v| v.leader_of(&topic, 0).is_some_and(|l| l != 1));
    let leader = view.leader_of(&topic, 0).expect("leader");
    let expected: Vec<(i64, String)> = (0..).zip(before.iter().chain(&after).cloned()).collect();
    let read = read_n(&consumer(&cluster.bootstrap(), &topic, 0), expected.len(), Duration::from_secs(30));
    assert!(read == expected, "node {leader} serves every acknowledged record once, in order");
}

#[test]
fn a_follower_whose_disk_is_full_leaves_the_isr_and_catches_up_with_every_record_once_space_is_freed() {
    let _exclusive = harness::cluster::exclusive();
    let disk = harness::failing_disk::FailingDisk::required();
    let healthy = tempfile::tempdir().expect("temp dir");
    // Node 3's partitions are on the small disk, its metadata log is not: the full disk
    // refuses only what is replicated to it.
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", &SESSION_TIMEOUT_MS.to_string())
        .set("broker.heartbeat.interval.ms", "500")
        .set("replica.lag.time.max.ms", "3000")
        .data_dir(3, disk.path().join("node-3"))
        .metadata_dir(3, healthy.path().join("metadata-3"))
        .start();
    let topic = harness::unique_topic("full-follower");
    create_topic_led_by_node_1(&mut cluster, &topic);

    let producer = producer(&cluster.bootstrap());
    let before = big_values("before", 0..10);
    assert_eq!(produce_all(&producer, &topic, 0, &before), (0..10).collect::<Vec<i64>>());
    disk.fill_leaving(2);
    // About 5 MiB, more than node 3 has room for. With acks=all and min.insync.replicas=2
    // every record is acknowledged: node 3 leaves the ISR rather than hold them up.
    let during = big_values("during", 0..300);
    assert_eq!(produce_all(&producer, &topic, 0, &during), (10..310).collect::<Vec<i64>>());
    let view = cluster.wait_for("node 3 out of the ISR", WAIT, |v| v.partition(&topic, 0).is_some_and(|p| !p.isr.contains(&3)));
    assert_eq!(view.leader_of(&topic, 0), Some(1), "a full follower moves no leadership");
    assert!(cluster.is_running(3), "a full disk does not stop the follower; log:\n{}", cluster.log(3));
    let log = cluster.log(3);
    assert!(log.contains("the disk is full") && log.contains("replication to this broker is refused"), "{log}");

    disk.free_space();
    cluster.wait_for("node 3 back in the ISR", WAIT, |v| v.fully_replicated(&topic, 1));
    // Node 3's own segments hold every record once, at the leader's offsets.
    let expected: Vec<(i64, String)> = (0..).zip(before.iter().chain(&during).cloned()).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let copy: Vec<(i64, String)> = cluster
            .read_partition(3, &topic, 0)
            .expect("read node 3's segments")
            .into_iter()
            .map(|(offset, value)| (offset, String::from_utf8_lossy(&value.unwrap_or_default()).into_owned()))
            .collect();
        if copy.len() >= expected.len() || Instant::now() > deadline {
            let first_difference = copy.iter().zip(&expected).position(|(a, b)| a != b);
            assert!(
                copy == expected,
                "node 3 holds {} records of {}; first difference at index {first_difference:?}",
                copy.len(),
                expected.len()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The stderr of `spool server ARGS`, which must stop with a config error: exit code 2
/// and one clear error line.
#[test]
fn delete_records_is_answered_once_every_live_replica_deleted_and_outlives_a_failover() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let topic = harness::unique_topic("delete-records");
    create_topic_led_by_node_1(&mut cluster, &topic);
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("r", 0..20));
    let log_start_checkpoint = |cluster: &Cluster, node: i32| {
        let path = cluster.data_dir(node).join(format!("{topic}-0")).join("log-start-offset-checkpoint");
        std::fs::read_to_string(path).unwrap_or_default()
    };
    let delete_before = |cluster: &Cluster, offset: i64, timeout: Duration| {
        let mut up_to = TopicPartitionList::new();
        up_to.add_partition_offset(&topic, 0, Offset::Offset(offset)).expect("offset");
        let options = AdminOptions::new().operation_timeout(Some(timeout));
        let deleted =
            futures::executor::block_on(admin(&cluster.addr(1)).delete_records(&up_to, &options)).expect("DeleteRecords");
        let result = deleted.find_partition(&topic, 0).expect("a result");
        result.error().map(|()| result.offset())
    };

    // The answer waits until the followers, told the leader's log start by their
    // fetches, have moved theirs (and checkpointed it) too.
    assert_eq!(delete_before(&cluster, 12, WAIT), Ok(Offset::Offset(12)));
    for node in [2, 3] {
        assert_eq!(log_start_checkpoint(&cluster, node), "0\n12\n", "node {node} when the answer came");
    }

    // A live follower that does not fetch holds the answer back until the timeout.
    cluster.pause(3);
    let held = delete_before(&cluster, 15, Duration::from_millis(1000));
    assert_eq!(held.map_err(|e| e.rdkafka_error_code()), Err(Some(RDKafkaErrorCode::RequestTimedOut)));
    // Once fenced, it no longer does.
    cluster.wait_for("node 3 fenced", WAIT, |v| v.answers().count() == 2 && v.answers().all(|(_, md)| !md.brokers.contains_key(&3)));
    assert_eq!(delete_before(&cluster, 16, WAIT), Ok(Offset::Offset(16)));
    cluster.resume(3);
    // Every node must see it: the leader counts only the brokers its own metadata has live.
    cluster.wait_for("node 3 back in the ISR", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 1));
    assert_eq!(delete_before(&cluster, 17, WAIT), Ok(Offset::Offset(17)));
    assert_eq!(log_start_checkpoint(&cluster, 3), "0\n17\n");

    cluster.kill9(1);
    cluster.wait_for("a new leader", FAILOVER_MAX, |v| v.leader_of(&topic, 0).is_some_and(|l| l != 1));
    let reader = consumer(&cluster.bootstrap(), &topic, 0);
    assert_eq!(reader.fetch_watermarks(&topic, 0, WAIT).expect("watermarks").0, 17, "the new leader starts at 17");
}

/// Kills node 1, the leader of `topic`'s one partition, brings it back and waits until
/// it is in sync again, led by another node.
fn fail_over_and_return_node_1(cluster: &mut Cluster, topic: &str) {
    cluster.kill9(1);
    cluster.wait_for("a new leader", FAILOVER_MAX, |v| v.leader_of(topic, 0).is_some_and(|l| l != 1));
    cluster.restart(1);
    cluster.wait_for("node 1 back in the ISR", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(topic, 1));
}

#[test]
fn leader_election_moves_leadership_back_to_the_preferred_replica() {
    let _exclusive = harness::cluster::exclusive();
    // The controller's own rebalance (every 300 s by default) stays out of the way.
    let mut cluster = start_cluster();
    let topic = harness::unique_topic("preferred");
    create_topic_led_by_node_1(&mut cluster, &topic);
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("before", 0..10));
    fail_over_and_return_node_1(&mut cluster, &topic);
    let follower_leads = cluster.wait_for("metadata", WAIT, |v| v.leader_of(&topic, 0).is_some());
    assert_ne!(follower_leads.leader_of(&topic, 0), Some(1), "nothing moved leadership back yet");

    let partition = ["--election-type", "PREFERRED", "--topic", topic.as_str(), "--partition", "0"];
    let elected = harness::tool_output("leader-election", &cluster.addr(2), &partition);
    assert_eq!(elected, format!("Successfully completed leader election (PREFERRED) for partitions {topic}-0\n"));
    cluster.wait_for("node 1 leading again", WAIT, |v| v.leader_of(&topic, 0) == Some(1));
    let again = harness::tool_output("leader-election", &cluster.addr(2), &partition);
    assert_eq!(again, format!("Valid replica already elected for partitions {topic}-0\n"));

    // The new leader has every record, and takes more.
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("after", 0..5));
    let read: Vec<String> = read_n(&consumer(&cluster.bootstrap(), &topic, 0), 15, WAIT).into_iter().map(|(_, v)| v).collect();
    assert_eq!(read, [values("before", 0..10), values("after", 0..5)].concat());

    // A partition that does not exist fails, with the exit code saying so.
    let missing = std::process::Command::new(harness::spool_bin())
        .args(["leader-election", "--bootstrap-server", &cluster.addr(1), "--election-type", "preferred", "--topic", &topic, "--partition", "9"])
        .output()
        .expect("run spool leader-election");
    assert_eq!(missing.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&missing.stdout);
    assert!(
        stdout.starts_with(&format!("Error completing leader election (PREFERRED) for partition: {topic}-9: org.apache.kafka.common.errors.UnknownTopicOrPartitionException")),
        "{stdout}"
    );
}

#[test]
fn the_controller_moves_leadership_back_to_returning_preferred_replicas() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", &SESSION_TIMEOUT_MS.to_string())
        .set("broker.heartbeat.interval.ms", "500")
        .set("replica.lag.time.max.ms", "5000")
        .set("leader.imbalance.check.interval.seconds", "1")
        .start();
    let topic = harness::unique_topic("rebalance");
    create_topic_led_by_node_1(&mut cluster, &topic);
    fail_over_and_return_node_1(&mut cluster, &topic);
    cluster.wait_for("node 1 leading again, by itself", WAIT, |v| v.leader_of(&topic, 0) == Some(1));
}

#[test]
fn a_cleanly_stopped_leader_hands_its_partitions_over_before_it_exits() {
    let _exclusive = harness::cluster::exclusive();
    // A session timeout long enough that fencing a silent broker cannot be what moves
    // leadership within the bound below.
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", "30000")
        .set("broker.heartbeat.interval.ms", "500")
        .set("replica.lag.time.max.ms", "30000")
        .start();
    let topic = harness::unique_topic("controlled");
    create_topic_led_by_node_1(&mut cluster, &topic);
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("before", 0..5));

    assert!(cluster.stop(1), "node 1 stops cleanly");
    let view = cluster.wait_for("a new leader, well within the session timeout", Duration::from_secs(10), |v| {
        v.partition(&topic, 0).is_some_and(|p| p.leader > 1 && !p.isr.contains(&1))
    });
    let partition = view.partition(&topic, 0).expect("the partition");
    assert_eq!(partition.isr.len(), 2, "{partition:?}");
    // acks=all with min.insync.replicas=2 goes on at once, and nothing was lost.
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("after", 0..5));
    let read: Vec<String> = read_n(&consumer(&cluster.bootstrap(), &topic, 0), 10, WAIT).into_iter().map(|(_, v)| v).collect();
    assert_eq!(read, [values("before", 0..5), values("after", 0..5)].concat());

    // Started again, node 1 registers, catches up and rejoins the ISR.
    cluster.restart(1);
    cluster.wait_for("node 1 back in the ISR", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 1));
}

/// `spool topics --bootstrap-server ADDR ARGS…`, which must succeed; its stdout lines.
/// Runs `spool reassign-partitions` against `addr`: exit code and stdout, stderr.
fn reassign(addr: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = std::process::Command::new(harness::spool_bin())
        .args(["reassign-partitions", "--bootstrap-server", addr])
        .args(args)
        .output()
        .expect("run spool reassign-partitions");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// Runs `reassign-partitions` until it prints `expected`: a broker's answer trails the
/// controller's decision by the time the change takes to reach it.
fn reassign_until(addr: &str, args: &[&str], expected: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, stdout, stderr) = reassign(addr, args);
        if code == Some(0) && stdout == expected {
            return;
        }
        assert!(Instant::now() < deadline, "reassign-partitions {args:?} printed {stdout:?} ({code:?}, {stderr}), not {expected:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What `--verify` of completed moves and `--cancel` print last in a cluster of nodes
/// 1 to 3: the throttles they clear.
fn cleared(topic: &str) -> String {
    format!("Clearing broker-level throttles on brokers 1,2,3\nClearing topic-level throttles on topic {topic}\n")
}

fn plan_file(dir: &Path, name: &str, topic: &str, replicas: &[i32]) -> String {
    let path = dir.join(name);
    let plan = format!(r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":0,"replicas":{replicas:?}}}]}}"#);
    std::fs::write(&path, plan).expect("write the plan");
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn reassign_partitions_moves_a_partition_to_other_brokers_and_cancels_a_move_in_progress() {
    let _exclusive = harness::cluster::exclusive();
    // A session timeout long enough that a paused broker stays registered and unfenced
    // while the move to it is started, listed and cancelled.
    let mut cluster = Cluster::builder(3)
        .set("broker.session.timeout.ms", "30000")
        .set("broker.heartbeat.interval.ms", "500")
        .set("replica.lag.time.max.ms", "5000")
        .start();
    let topic = harness::unique_topic("reassign");
    create_placed_topic(&cluster.bootstrap(), &topic, &[&[1]], &[]);
    cluster.wait_for("the partition on node 1", WAIT, |v| v.leader_of(&topic, 0) == Some(1));
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("before", 0..20));
    let node_1_copy = cluster.data_dir(1).join(format!("{topic}-0"));
    assert!(node_1_copy.is_dir());

    // Move it from node 1 to nodes 2 and 3, asking node 3.
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = plan_file(dir.path(), "move.json", &topic, &[2, 3]);
    let (code, started, stderr) = reassign(&cluster.addr(3), &["--execute", "--reassignment-json-file", &plan]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        started,
        format!(
            "Current partition replica assignment\n\n\
             {{\"version\":1,\"partitions\":[{{\"topic\":\"{topic}\",\"partition\":0,\"replicas\":[1],\"log_dirs\":[\"any\"]}}]}}\n\n\
             Save this to use as the --reassignment-json-file option during rollback\n\
             Successfully started partition reassignment for {topic}-0\n"
        )
    );
    // It completes by itself once nodes 2 and 3 are in sync: node 1 leaves, node 2 leads.
    cluster.wait_for("the partition on nodes 2 and 3 only", WAIT, |v| {
        v.answers().count() == 3
            && v.answers().all(|(_, md)| {
                md.topics.get(&topic).and_then(|t| t.partitions.get(&0)).is_some_and(|p| p.replicas == [2, 3] && p.leader == 2)
            })
            && v.fully_replicated(&topic, 1)
    });
    let verify = ["--verify", "--reassignment-json-file", plan.as_str()];
    reassign_until(&cluster.addr(1), &verify, &format!("Status of partition reassignment:\nReassignment of partition {topic}-0 is completed.\n\n{}", cleared(&topic)));
    reassign_until(&cluster.addr(2), &["--list"], "No partition reassignments found.\n");
    let deadline = Instant::now() + WAIT;
    while node_1_copy.exists() {
        assert!(Instant::now() < deadline, "node 1 still has its copy of the partition: {}", node_1_copy.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every record is served by the new leader, which takes more.
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("after", 0..5));
    let read: Vec<String> = read_n(&consumer(&cluster.bootstrap(), &topic, 0), 25, WAIT).into_iter().map(|(_, v)| v).collect();
    assert_eq!(read, [values("before", 0..20), values("after", 0..5)].concat());

    // A move to a broker that cannot catch up stays in progress, and can be cancelled.
    cluster.pause(1);
    let back = plan_file(dir.path(), "back.json", &topic, &[1, 2, 3]);
    let (code, _, stderr) = reassign(&cluster.addr(2), &["--execute", "--reassignment-json-file", &back]);
    assert_eq!(code, Some(0), "{stderr}");
    reassign_until(&cluster.addr(3), &["--list"], &format!("Current partition reassignments:\n{topic}-0: replicas: 1,2,3. adding: 1.\n"));
    // Node 3's metadata shows the widened replica set once the change reaches it.
    cluster.wait_for("node 3 seeing replicas 1,2,3", WAIT, |v| {
        v.nodes.get(&3).and_then(|n| n.as_ref().ok()).and_then(|md| md.topics.get(&topic)?.partitions.get(&0).map(|p| p.replicas == [1, 2, 3])) == Some(true)
    });
    let described = topics_tool(&cluster.addr(3), &["--describe", "--topic", &topic]);
    assert!(described[0].contains("\tReplicationFactor: 3\t"), "{described:?}");
    assert!(described[1].contains("\tReplicas: 1,2,3\tIsr: "), "{described:?}");
    assert!(described[1].ends_with("\tAdding Replicas: 1"), "{described:?}");
    reassign_until(
        &cluster.addr(3),
        &["--verify", "--reassignment-json-file", &back],
        &format!("Status of partition reassignment:\nReassignment of partition {topic}-0 is still in progress.\n\n"),
    );
    let (code, _, refused) = reassign(&cluster.addr(2), &["--execute", "--reassignment-json-file", &back]);
    assert_eq!(code, Some(1));
    assert!(refused.contains("Cannot execute because there is an existing partition assignment"), "{refused}");
    let (code, cancelled, stderr) = reassign(&cluster.addr(2), &["--cancel", "--reassignment-json-file", &back]);
    assert_eq!((code, cancelled), (Some(0), format!("Successfully cancelled partition reassignment for: {topic}-0\n{}", cleared(&topic))), "{stderr}");
    reassign_until(&cluster.addr(3), &["--list"], "No partition reassignments found.\n");
    reassign_until(
        &cluster.addr(3),
        &["--verify", "--reassignment-json-file", &back],
        &format!(
            "Status of partition reassignment:\nThere is no active reassignment of partition {topic}-0, but replica set is 2,3 rather than 1,2,3.\n\n{}",
            cleared(&topic)
        ),
    );
    reassign_until(
        &cluster.addr(2),
        &["--cancel", "--reassignment-json-file", &back],
        &format!("None of the specified partition reassignments are active.\n{}", cleared(&topic)),
    );
    cluster.resume(1);

    // A broker the cluster does not have is refused before anything starts.
    let nowhere = plan_file(dir.path(), "nowhere.json", &topic, &[2, 9]);
    let (code, stdout, refused) = reassign(&cluster.addr(1), &["--execute", "--reassignment-json-file", &nowhere]);
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{refused}");
    assert!(refused.contains("Unknown broker id 9"), "{refused}");
    let view = cluster.wait_for("every node answering", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 1));
    assert_eq!(view.partition(&topic, 0).map(|p| p.replicas.clone()), Some(vec![2, 3]));
}

/// Bytes of `topic`-0's log segments on `node`.
fn copied_bytes(cluster: &Cluster, node: i32, topic: &str) -> u64 {
    let dir = cluster.data_dir(node).join(format!("{topic}-0"));
    let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Checks that `node`'s new copy of `topic`-0 (about 8 MB on the leader) grows no faster
/// than a throttle of 100 kB/s lets it: after it started, 3 s later it holds less than
/// 3 MB (the throttle's first burst is one fetch of `replica.fetch.max.bytes`, 1 MiB;
/// unthrottled, the whole log arrives within a second).
fn assert_copy_throttled(cluster: &Cluster, node: i32, topic: &str) {
    let deadline = Instant::now() + WAIT;
    while copied_bytes(cluster, node, topic) == 0 {
        assert!(Instant::now() < deadline, "node {node} never started copying {topic}-0");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let copied = copied_bytes(cluster, node, topic);
    assert!(copied < 3_000_000, "node {node} copied {copied} bytes of {topic}-0 within 3 s under a 100 kB/s throttle");
}

fn configs_tool(addr: &str, args: &[&str]) -> String {
    harness::tool_output("configs", addr, args)
}

/// Runs `configs --describe` of `entity` (`topics` or `brokers`) until `holds` accepts
/// its output: the broker asked applies a change a moment after the controller made it.
fn describe_configs_until(addr: &str, entity: &[&str], what: &str, holds: impl Fn(&str) -> bool) {
    let args = [&["--describe", "--entity-type"][..], entity].concat();
    let deadline = Instant::now() + WAIT;
    loop {
        let described = configs_tool(addr, &args);
        if holds(&described) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: configs {args:?} printed {described}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_throttled_reassignment_copies_at_the_throttles_rate_until_it_is_raised_and_verify_clears_it() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let dir = tempfile::tempdir().expect("temp dir");
    let big = big_values("big", 0..480);

    // kafka-reassign-partitions --throttle: both sides throttled.
    let topic = harness::unique_topic("throttled");
    create_placed_topic(&cluster.bootstrap(), &topic, &[&[1]], &[]);
    cluster.wait_for("the partition on node 1", WAIT, |v| v.leader_of(&topic, 0) == Some(1));
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &big);
    let plan = plan_file(dir.path(), "move.json", &topic, &[1, 2]);
    let (code, started, stderr) = reassign(&cluster.addr(1), &["--execute", "--reassignment-json-file", &plan, "--throttle", "100000"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        started.ends_with(&format!(
            "Save this to use as the --reassignment-json-file option during rollback\n\
             Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.\n\
             The inter-broker throttle limit was set to 100000 B/s\n\
             Successfully started partition reassignment for {topic}-0\n"
        )),
        "{started}"
    );
    describe_configs_until(&cluster.addr(2), &["topics", "--entity-name", &topic], "the topic's throttled replicas", |d| {
        d.contains("leader.replication.throttled.replicas=0:1 ") && d.contains("follower.replication.throttled.replicas=0:2 ")
    });
    for broker in [1, 2] {
        describe_configs_until(&cluster.addr(broker), &["brokers", "--entity-name", &broker.to_string()], "the broker's rates", |d| {
            d.contains("leader.replication.throttled.rate=100000 ") && d.contains("follower.replication.throttled.rate=100000 ")
        });
    }
    assert_copy_throttled(&cluster, 2, &topic);
    let verify = ["--verify", "--reassignment-json-file", plan.as_str()];
    let (_, in_progress, _) = reassign(&cluster.addr(3), &verify);
    assert_eq!(in_progress, format!("Status of partition reassignment:\nReassignment of partition {topic}-0 is still in progress.\n\n"));
    // --additional --throttle raises the rate of the move in progress, which then completes.
    let (code, raised, stderr) =
        reassign(&cluster.addr(1), &["--execute", "--additional", "--reassignment-json-file", &plan, "--throttle", "1000000000"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(raised.contains("The inter-broker throttle limit was set to 1000000000 B/s\n"), "{raised}");
    reassign_until(
        &cluster.addr(3),
        &verify,
        &format!("Status of partition reassignment:\nReassignment of partition {topic}-0 is completed.\n\n{}", cleared(&topic)),
    );
    describe_configs_until(&cluster.addr(2), &["topics", "--entity-name", &topic], "no throttled replicas", |d| !d.contains("replication.throttled"));
    describe_configs_until(&cluster.addr(1), &["brokers", "--entity-name", "1"], "no throttle rates", |d| !d.contains("replication.throttled"));
    // (Resubmitting the target ended the reassignment at once, as in Kafka: node 2 may
    // still be catching up as an ordinary follower.)
    cluster.wait_for("node 2 in sync", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 1));
    assert_eq!(on_disk(&cluster, 2, &topic, 0).len(), big.len());

    // The follower side alone (kafka-configs): node 3 fetching what node 1 sends freely.
    let follower_side = harness::unique_topic("follower-throttled");
    create_placed_topic(&cluster.bootstrap(), &follower_side, &[&[1]], &[("follower.replication.throttled.replicas", "0:3")]);
    cluster.wait_for("the partition on node 1", WAIT, |v| v.leader_of(&follower_side, 0) == Some(1));
    produce_all(&producer(&cluster.bootstrap()), &follower_side, 0, &big);
    configs_tool(&cluster.addr(1), &["--alter", "--entity-type", "brokers", "--entity-name", "3", "--add-config", "follower.replication.throttled.rate=100000"]);
    let plan = plan_file(dir.path(), "follower.json", &follower_side, &[1, 3]);
    let (code, _, stderr) = reassign(&cluster.addr(1), &["--execute", "--reassignment-json-file", &plan]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_copy_throttled(&cluster, 3, &follower_side);
    configs_tool(&cluster.addr(1), &["--alter", "--entity-type", "brokers", "--entity-name", "3", "--delete-config", "follower.replication.throttled.rate"]);
    cluster.wait_for("node 3 in sync", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&follower_side, 1));

    // The leader side alone: it holds back node 3, the new replica, and never node 2,
    // which is in sync: acks=all produces go on while the throttle is exceeded.
    let leader_side = harness::unique_topic("leader-throttled");
    create_placed_topic(&cluster.bootstrap(), &leader_side, &[&[1, 2]], &[("leader.replication.throttled.replicas", "*")]);
    cluster.wait_for("the partition on nodes 1 and 2", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&leader_side, 1));
    configs_tool(&cluster.addr(2), &["--alter", "--entity-type", "brokers", "--entity-name", "1", "--add-config", "leader.replication.throttled.rate=100000"]);
    describe_configs_until(&cluster.addr(1), &["brokers", "--entity-name", "1"], "node 1's throttle", |d| {
        d.contains("leader.replication.throttled.rate=100000 ")
    });
    produce_all(&producer(&cluster.bootstrap()), &leader_side, 0, &big);
    let view = cluster.view();
    assert_eq!(view.partition(&leader_side, 0).map(|p| p.isr.clone()), Some(vec![1, 2]), "node 2 fell out of sync: {view:?}");
    let plan = plan_file(dir.path(), "leader.json", &leader_side, &[1, 2, 3]);
    let (code, _, stderr) = reassign(&cluster.addr(1), &["--execute", "--reassignment-json-file", &plan]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_copy_throttled(&cluster, 3, &leader_side);
    configs_tool(&cluster.addr(2), &["--alter", "--entity-type", "brokers", "--entity-name", "1", "--delete-config", "leader.replication.throttled.rate"]);
    cluster.wait_for("node 3 in sync", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&leader_side, 1));
    assert_eq!(on_disk(&cluster, 3, &leader_side, 0).len(), big.len());
}

#[test]
fn a_client_quota_set_through_one_broker_throttles_the_client_on_another() {
    use kafka_protocol::messages::{ApiKey, MetadataResponse};
    let _exclusive = harness::cluster::exclusive();
    let cluster = start_cluster();
    let topic = harness::unique_topic("quota");
    create_placed_topic(&cluster.bootstrap(), &topic, &[&[3]], &[]);
    // The wire client's client id, limited through node 1 (which forwards it to the
    // controller); node 3, which leads the partition, learns it from the metadata.
    let set = configs_tool(
        &cluster.addr(1),
        &["--alter", "--entity-type", "clients", "--entity-name", "spool-wire-test", "--add-config", "producer_byte_rate=1000"],
    );
    assert_eq!(set.trim(), "Completed updating config for client spool-wire-test.");
    describe_configs_until(&cluster.addr(3), &["clients"], "the quota reaches node 3", |out| {
        out.trim() == "Quota configs for client-id 'spool-wire-test' are producer_byte_rate=1000.0"
    });

    let mut conn = wire::Conn::connect(&cluster.addr(3)).expect("connect to node 3");
    let values: Vec<wire::KeyValue> = (0..20).map(|_| (None, Some(vec![b'q'; 1000]))).collect();
    let request = wire::produce_request(&topic, 0, wire::batch(&values, wire::now_ms()), 1);
    let response = conn.call(&request, wire::PRODUCE_V).expect("produce");
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0, "{response:?}");
    // Kafka's throttle time: 20 kB over the 10 s span is twice the bound of 1,000 B/s,
    // so as long again as the span.
    assert!((9_000..=12_000).contains(&response.throttle_time_ms), "throttle time {} ms", response.throttle_time_ms);
    // The connection is muted meanwhile: a request sent now is not answered yet.
    let id = conn.send(&wire::metadata_request(Some(&[topic.as_str()]), false), wire::METADATA_V).expect("send metadata");
    match conn.next_event(Duration::from_secs(2)) {
        wire::PeerEvent::Silent => {}
        other => panic!("a throttled client is not answered before its throttle time has passed: {other:?}"),
    }
    conn.set_read_timeout(Duration::from_secs(30));
    let metadata: MetadataResponse = conn.recv(ApiKey::Metadata, wire::METADATA_V, id).expect("answered after the throttle time");
    assert_eq!(metadata.topics.len(), 1);
}

#[test]
fn a_reassignment_in_progress_survives_a_controller_failover_and_completes_when_its_broker_returns() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let topic = harness::unique_topic("reassign-failover");
    create_placed_topic(&cluster.bootstrap(), &topic, &[&[1, 2]], &[]);
    cluster.wait_for("the partition on nodes 1 and 2", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 1));
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("before", 0..10));

    // Node 3, the broker being added, cannot catch up while it is paused.
    cluster.pause(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = plan_file(dir.path(), "move.json", &topic, &[3, 1]);
    let (code, _, stderr) = reassign(&cluster.addr(1), &["--execute", "--reassignment-json-file", &plan]);
    assert_eq!(code, Some(0), "{stderr}");
    let in_progress = format!("Current partition reassignments:\n{topic}-0: replicas: 3,1,2. adding: 3. removing: 2.\n");
    reassign_until(&cluster.addr(1), &["--list"], &in_progress);

    // The active controller dies and comes back; the reassignment is in the metadata log.
    // (It is node 1 or 2: the execute above needed a controller, and node 3 is paused.)
    let deadline = Instant::now() + WAIT;
    let controller = loop {
        match cluster.active_controller() {
            Some(id) if id != 3 => break id,
            _ => assert!(Instant::now() < deadline, "no active controller among nodes 1 and 2"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    cluster.kill9(controller);
    cluster.restart(controller);
    let other = if controller == 1 { 2 } else { 1 };
    reassign_until(&cluster.addr(other), &["--list"], &in_progress);

    // Node 3 returns, catches up, and the reassignment completes: node 2 leaves.
    cluster.resume(3);
    cluster.wait_for("the partition on nodes 3 and 1 only", WAIT, |v| {
        v.answers().count() == 3
            && v.answers().all(|(_, md)| md.topics.get(&topic).and_then(|t| t.partitions.get(&0)).is_some_and(|p| p.replicas == [3, 1]))
            && v.fully_replicated(&topic, 1)
    });
    reassign_until(&cluster.addr(2), &["--list"], "No partition reassignments found.\n");
    let node_2_copy = cluster.data_dir(2).join(format!("{topic}-0"));
    let deadline = Instant::now() + WAIT;
    while node_2_copy.exists() {
        assert!(Instant::now() < deadline, "node 2 still has its copy of the partition");
        std::thread::sleep(Duration::from_millis(100));
    }
    produce_all(&producer(&cluster.bootstrap()), &topic, 0, &values("after", 0..5));
    let read: Vec<String> = read_n(&consumer(&cluster.bootstrap(), &topic, 0), 15, WAIT).into_iter().map(|(_, v)| v).collect();
    assert_eq!(read, [values("before", 0..10), values("after", 0..5)].concat());
}

#[test]
fn topics_describe_still_describes_when_the_metadata_quorum_is_lost() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let topic = harness::unique_topic("no-quorum");
    create_placed_topic(&cluster.bootstrap(), &topic, &[&[1, 2, 3]], &[]);
    cluster.wait_for("the partition fully replicated", WAIT, |v| v.answers().count() == 3 && v.fully_replicated(&topic, 1));
    // Two of three controllers gone: no active controller can list reassignments.
    cluster.kill9(2);
    cluster.kill9(3);
    let output = std::process::Command::new(harness::spool_bin())
        .args(["topics", "--bootstrap-server", &cluster.addr(1), "--describe", "--topic", &topic])
        .output()
        .expect("run spool topics");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with(&format!("Topic: {topic}\t")), "{stdout}");
    assert!(stdout.contains(&format!("\tTopic: {topic}\tPartition: 0\t")), "{stdout}");
    assert!(stderr.contains("the reassignments in progress could not be listed"), "{stderr}");
}

fn topics_tool(addr: &str, args: &[&str]) -> Vec<String> {
    harness::tool_output("topics", addr, args).lines().map(str::to_string).collect()
}

#[test]
fn topics_describe_reports_the_partitions_an_operator_looks_for() {
    let _exclusive = harness::cluster::exclusive();
    let mut cluster = start_cluster();
    let prefix = harness::unique_topic("report");
    let (replicated, single) = (format!("{prefix}-replicated"), format!("{prefix}-single"));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topics = [
        NewTopic::new(&replicated, 2, TopicReplication::Variable(&[&[1, 2, 3], &[2, 3, 1]])).set("min.insync.replicas", "2"),
        NewTopic::new(&single, 2, TopicReplication::Variable(&[&[1], &[3]])),
    ];
    let created =
        futures::executor::block_on(admin(&cluster.bootstrap()).create_topics(&topics, &options)).expect("CreateTopics call");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    cluster.wait_for("both topics fully replicated", WAIT, |v| v.fully_replicated(&replicated, 2) && v.fully_replicated(&single, 2));
    let addr = cluster.addr(1);
    let all = format!("{prefix}-.*");
    for report in ["--under-replicated-partitions", "--under-min-isr-partitions", "--unavailable-partitions"] {
        assert_eq!(topics_tool(&addr, &["--describe", report, "--topic", &all]), Vec::<String>::new(), "{report} while all is well");
    }

    // --replica-assignment places each partition, at creation and when partitions are
    // added (then it lists every partition, the existing ones first, as in Kafka).
    let placed = format!("{prefix}placed");
    topics_tool(&addr, &["--create", "--topic", &placed, "--replica-assignment", "2:3,3:1"]);
    topics_tool(&addr, &["--alter", "--topic", &placed, "--partitions", "3", "--replica-assignment", "2:3,3:1,1:2"]);
    cluster.wait_for("the placed topic fully replicated", WAIT, |v| v.fully_replicated(&placed, 3));
    let described = topics_tool(&addr, &["--describe", "--topic", &placed]);
    assert!(described[0].contains("\tPartitionCount: 3\tReplicationFactor: 2\t"), "{described:?}");
    let replicas: Vec<&str> = described[1..].iter().filter_map(|line| line.split('\t').find(|f| f.starts_with("Replicas: "))).collect();
    assert_eq!(replicas, ["Replicas: 2,3", "Replicas: 3,1", "Replicas: 1,2"], "{described:?}");

    cluster.kill9(3);
    cluster.wait_for("node 3 out of every ISR and without leadership", WAIT, |v| {
        (0..2).all(|p| v.partition(&replicated, p).is_some_and(|p| p.leader != 3 && !p.isr.contains(&3)))
            && v.answers().all(|(_, md)| md.topics.get(&single).and_then(|t| t.partitions.get(&1)).is_some_and(|p| p.leader < 0))
    });
    // Partition lines only, as in Kafka: "\tTopic: T\tPartition: P\tLeader: …".
    let partitions_of = |lines: &[String], topic: &str| -> Vec<i32> {
        lines
            .iter()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!((fields[0], fields[1]), ("", format!("Topic: {topic}").as_str()), "{lines:?}");
                fields[2].strip_prefix("Partition: ").and_then(|p| p.parse().ok()).expect("a partition field")
            })
            .collect()
    };
    let under = topics_tool(&addr, &["--describe", "--under-replicated-partitions", "--topic", &replicated]);
    assert_eq!(partitions_of(&under, &replicated), vec![0, 1]);
    // Two of three in sync is exactly min.insync.replicas: at it, not under it.
    let at_min = topics_tool(&addr, &["--describe", "--at-min-isr-partitions", "--topic", &replicated]);
    assert_eq!(partitions_of(&at_min, &replicated), vec![0, 1]);
    assert_eq!(topics_tool(&addr, &["--describe", "--under-min-isr-partitions", "--topic", &replicated]), Vec::<String>::new());
    // The single-replica partition on node 3 has no leader: unavailable, and under its
    // minimum ISR; its sibling on node 1 is neither.
    let unavailable = topics_tool(&addr, &["--describe", "--unavailable-partitions", "--topic", &all]);
    assert_eq!(partitions_of(&unavailable, &single), vec![1]);
    assert!(unavailable[0].contains("\tLeader: none\t"), "{unavailable:?}");
    let under_min = topics_tool(&addr, &["--describe", "--under-min-isr-partitions", "--topic", &single]);
    assert_eq!(partitions_of(&under_min, &single), vec![1]);
}

fn config_error(args: &[&str]) -> String {
    let (code, stderr) = harness::server_refusal(args);
    assert_eq!(code, Some(2), "a config error exits with 2; stderr: {stderr}");
    assert!(stderr.starts_with("error:"), "one clear error line: {stderr}");
    stderr
}

fn ports() -> [String; 4] {
    let ports = harness::free_ports(4);
    std::array::from_fn(|i| format!("127.0.0.1:{}", ports[i]))
}

#[test]
fn duplicate_voter_ids_fail_at_start_up() {
    let [listen, controller, other, _] = ports();
    let voters = format!("1@{controller},1@{other}");
    let stderr = config_error(&[
        "--node-id",
        "1",
        "--listen",
        &listen,
        "--controller-listen",
        &controller,
        "--controller-quorum-voters",
        &voters,
        "--process-roles",
        "broker,controller",
    ]);
    assert!(
        stderr.contains("voter id 1"),
        "the message names the duplicated voter: {stderr}"
    );
}

#[test]
fn a_controller_missing_from_the_voters_fails_at_start_up() {
    let [listen, controller, a, b] = ports();
    let voters = format!("1@{a},2@{b},3@{controller}");
    let stderr = config_error(&[
        "--node-id",
        "4",
        "--listen",
        &listen,
        "--controller-listen",
        &controller,
        "--controller-quorum-voters",
        &voters,
        "--process-roles",
        "broker,controller",
    ]);
    assert!(
        stderr.contains("node.id 4") && stderr.contains("controller.quorum.voters"),
        "the message names the node id and the voters: {stderr}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

#[test]
fn a_data_dir_from_another_cluster_refuses_to_start() {
    let _exclusive = harness::cluster::exclusive();
    let mut other = start_cluster();
    assert!(
        other.stop_all().is_empty(),
        "the first cluster stops cleanly"
    );
    let mut cluster = start_cluster();
    assert!(cluster.stop(1), "node 1 stops cleanly");
    let data = cluster.data_dir(1);
    std::fs::remove_dir_all(&data).expect("remove node 1's data");
    copy_dir(&other.data_dir(1), &data);
    cluster.spawn_node(1);
    let status = cluster.wait_exit(1, Duration::from_secs(30));
    let log = cluster.log(1);
    let last_start = log
        .rsplit("----- harness:")
        .next()
        .unwrap_or_default()
        .to_string();
    match status {
        None => panic!("node 1 runs on another cluster's data directory 30 s after starting; its log:\n{last_start}"),
        Some(status) => {
            assert!(!status.success(), "it must fail, not exit cleanly: {status}; log:\n{last_start}");
            assert!(
                last_start.to_lowercase().contains("cluster"),
                "the refusal names the cluster (id) mismatch; log:\n{last_start}"
            );
        }
    }
}
