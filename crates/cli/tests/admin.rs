//! Topic administration of the real `spool` binary through librdkafka's `AdminClient`:
//! CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs, and topic
//! auto-creation by Metadata.
//!
//! librdkafka's admin results carry only error codes, and rdkafka 0.39 reports every
//! DescribeConfigs/AlterConfigs resource as `Ok`; where an error message or a per-resource
//! error code matters, the request is sent raw with the `kafka-protocol` types.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test admin`.

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    AlterConfigsRequest, CreateTopicsRequest, DescribeConfigsRequest, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigResource, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::MetadataTopic;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(15);

fn admin(addr: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("create admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))
}

/// A consumer-type client only for Metadata: its requests never auto-create topics.
fn metadata_client(addr: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "spool-e2e-never-joined")
        .create()
        .expect("create metadata client")
}

/// Partition count of `topic` as listed in a Metadata response for all topics, if listed.
fn listed_partitions(addr: &str, topic: &str) -> Option<usize> {
    let metadata = metadata_client(addr)
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t: &MetadataTopic| t.partitions().len())
}

/// Creates topics and returns each result code (`None` when created).
async fn create(addr: &str, topics: &[NewTopic<'_>]) -> Vec<Option<RDKafkaErrorCode>> {
    let results = admin(addr)
        .create_topics(topics, &options())
        .await
        .expect("CreateTopics request");
    assert_eq!(results.len(), topics.len());
    results
        .into_iter()
        .map(|r| r.err().map(|(_, code)| code))
        .collect()
}

async fn create_ok(addr: &str, topic: &NewTopic<'_>) {
    let result = create(addr, std::slice::from_ref(topic)).await;
    assert_eq!(result, vec![None], "creating {}", topic.name);
}

async fn describe_topic(addr: &str, topic: &str) -> ConfigResource {
    let results = admin(addr)
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options())
        .await
        .expect("DescribeConfigs request");
    assert_eq!(results.len(), 1);
    match results.into_iter().next() {
        Some(Ok(resource)) => resource,
        Some(Err(code)) => panic!("describing {topic}: {code:?}"),
        None => unreachable!(),
    }
}

fn assert_entry(
    resource: &ConfigResource,
    name: &str,
    value: &str,
    is_default: bool,
    source: ConfigSource,
) {
    let entry = resource.get(name).unwrap_or_else(|| {
        let names: Vec<&str> = resource.entries.iter().map(|e| e.name.as_str()).collect();
        panic!("{name} missing from DescribeConfigs; listed: {names:?}")
    });
    assert_eq!(entry.value.as_deref(), Some(value), "value of {name}");
    assert_eq!(entry.is_default, is_default, "is_default of {name}");
    assert_eq!(entry.source, source, "source of {name}");
}

/// Sends one request without librdkafka and returns the decoded response. Used where
/// rdkafka 0.39 drops what the test checks: the error message of CreateTopics, and every
/// per-resource error code of DescribeConfigs and AlterConfigs (it reports those as `Ok`).
fn raw_request<R: Request>(addr: &str, version: i16, request: &R) -> R::Response {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(4242)
        .with_client_id(Some(StrBytes::from_static_str("spool-e2e-admin")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .expect("encode request header");
    request.encode(&mut body, version).expect("encode request");

    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream
        .write_all(&(body.len() as i32).to_be_bytes())
        .expect("write length");
    stream.write_all(&body).expect("write request");
    let mut length = [0u8; 4];
    stream
        .read_exact(&mut length)
        .expect("read response length");
    let mut frame = vec![0u8; i32::from_be_bytes(length) as usize];
    stream.read_exact(&mut frame).expect("read response");
    let mut frame = Bytes::from(frame);
    let response_header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
        .expect("decode response header");
    assert_eq!(response_header.correlation_id, 4242);
    R::Response::decode(&mut frame, version).expect("decode response")
}

/// CreateTopics v5 for one topic; returns its result with the error message.
fn raw_create_topic(
    addr: &str,
    name: &str,
    partitions: i32,
    replication_factor: i16,
) -> CreatableTopicResult {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)])
        .with_timeout_ms(10_000);
    let response = raw_request(addr, 5, &request);
    assert_eq!(response.topics.len(), 1);
    response
        .topics
        .into_iter()
        .next()
        .expect("one topic result")
}

const RESOURCE_TOPIC: i8 = 2;

/// DescribeConfigs v4 of one topic: (error code, number of configs listed).
fn raw_describe_topic(addr: &str, topic: &str) -> (i16, usize) {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(None)]);
    let response = raw_request(addr, 4, &request);
    assert_eq!(response.results.len(), 1);
    let result = &response.results[0];
    (result.error_code, result.configs.len())
}

/// AlterConfigs v2 (replacing every override) of one topic: its error code.
fn raw_alter_topic(addr: &str, topic: &str, configs: &[(&str, &str)]) -> i16 {
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(
                configs
                    .iter()
                    .map(|(name, value)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string(name.to_string()))
                            .with_value(Some(StrBytes::from_string(value.to_string())))
                    })
                    .collect(),
            )]);
    let response = raw_request(addr, 2, &request);
    assert_eq!(response.responses.len(), 1);
    response.responses[0].error_code
}

#[tokio::test]
async fn create_topic_with_partitions_and_configs() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("admin-create");
    create_ok(
        &broker.addr,
        &NewTopic::new(&topic, 3, TopicReplication::Fixed(1))
            .set("retention.ms", "3600000")
            .set("max.message.bytes", "2000000"),
    )
    .await;

    let metadata = metadata_client(&broker.addr)
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(metadata.brokers().len(), 1, "a single-node cluster");
    let node = metadata.brokers()[0].id();
    let listed = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic listed in metadata");
    assert!(listed.error().is_none(), "topic error {:?}", listed.error());
    let mut partitions: Vec<i32> = listed.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();
    assert_eq!(partitions, vec![0, 1, 2]);
    for partition in listed.partitions() {
        assert_eq!(
            partition.leader(),
            node,
            "leader of partition {}",
            partition.id()
        );
        assert_eq!(
            partition.replicas(),
            &[node],
            "replicas of partition {}",
            partition.id()
        );
        assert_eq!(
            partition.isr(),
            &[node],
            "ISR of partition {}",
            partition.id()
        );
    }
    for partition in 0..3 {
        let dir = broker.data_dir().join(format!("{topic}-{partition}"));
        assert!(
            dir.is_dir(),
            "partition directory {} missing",
            dir.display()
        );
    }

    let configs = describe_topic(&broker.addr, &topic).await;
    assert_entry(
        &configs,
        "retention.ms",
        "3600000",
        false,
        ConfigSource::DynamicTopic,
    );
    assert_entry(
        &configs,
        "max.message.bytes",
        "2000000",
        false,
        ConfigSource::DynamicTopic,
    );
    assert_entry(
        &configs,
        "segment.bytes",
        "1073741824",
        true,
        ConfigSource::Default,
    );
}

#[tokio::test]
async fn replication_factor_above_the_broker_count_is_rejected() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("admin-rf");
    let result = create(
        &broker.addr,
        &[NewTopic::new(&topic, 1, TopicReplication::Fixed(2))],
    )
    .await;
    assert_eq!(
        result,
        vec![Some(RDKafkaErrorCode::InvalidReplicationFactor)]
    );
    assert_eq!(
        listed_partitions(&broker.addr, &topic),
        None,
        "the rejected topic must not exist"
    );

    let raw = raw_create_topic(&broker.addr, &topic, 1, 2);
    assert_eq!(raw.error_code, 38, "INVALID_REPLICATION_FACTOR");
    let message = raw
        .error_message
        .as_ref()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    assert!(
        message.contains("1 broker"),
        "the error message must name the broker count (Kafka: \"... only 1 broker(s) are registered.\"), got {message:?}"
    );
    assert_eq!(
        listed_partitions(&broker.addr, &topic),
        None,
        "the rejected topic must not exist"
    );
}

#[tokio::test]
async fn creating_an_existing_topic_fails() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("admin-dup");
    create_ok(
        &broker.addr,
        &NewTopic::new(&topic, 2, TopicReplication::Fixed(1)),
    )
    .await;
    let again = create(
        &broker.addr,
        &[NewTopic::new(&topic, 5, TopicReplication::Fixed(1))],
    )
    .await;
    assert_eq!(again, vec![Some(RDKafkaErrorCode::TopicAlreadyExists)]);
    assert_eq!(
        listed_partitions(&broker.addr, &topic),
        Some(2),
        "the existing topic is unchanged"
    );
}

#[tokio::test]
async fn invalid_topic_names_are_rejected() {
    let broker = harness::Broker::start();
    let too_long = "a".repeat(250);
    for name in ["bad/name", ".", "..", "white space", too_long.as_str()] {
        let result = create(
            &broker.addr,
            &[NewTopic::new(name, 1, TopicReplication::Fixed(1))],
        )
        .await;
        assert_eq!(
            result,
            vec![Some(RDKafkaErrorCode::InvalidTopic)],
            "topic name {name:?}"
        );
    }
    // The longest legal name, with every legal kind of character.
    let longest = format!("Ok.-_9{}", "b".repeat(243));
    assert_eq!(longest.len(), 249);
    create_ok(
        &broker.addr,
        &NewTopic::new(&longest, 1, TopicReplication::Fixed(1)),
    )
    .await;
    assert_eq!(listed_partitions(&broker.addr, &longest), Some(1));
}

#[tokio::test]
async fn deleted_topic_disappears_from_metadata_and_disk_and_can_be_recreated() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("admin-delete");
    create_ok(
        &broker.addr,
        &NewTopic::new(&topic, 2, TopicReplication::Fixed(1)),
    )
    .await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    for _ in 0..3 {
        producer
            .send(
                FutureRecord::<str, str>::to(&topic)
                    .partition(1)
                    .payload("doomed"),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
    }

    let results = admin(&broker.addr)
        .delete_topics(&[&topic], &options())
        .await
        .expect("DeleteTopics request");
    assert_eq!(results.len(), 1);
    assert!(results[0].is_ok(), "deleting {topic}: {:?}", results[0]);

    let deadline = Instant::now() + WAIT;
    // Partition directories, and what they were renamed to for their removal.
    let prefix = format!("{topic}-");
    loop {
        let listed = listed_partitions(&broker.addr, &topic);
        let remaining: Vec<_> = std::fs::read_dir(broker.data_dir())
            .expect("list the data directory")
            .map(|entry| entry.expect("directory entry").file_name())
            .filter(|name| name.to_string_lossy().starts_with(&prefix))
            .collect();
        if listed.is_none() && remaining.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{WAIT:?} after deletion: listed {listed:?}, directories still present {remaining:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let unknown = admin(&broker.addr)
        .delete_topics(&[&topic], &options())
        .await
        .expect("DeleteTopics request");
    assert_eq!(
        unknown[0].as_ref().err().map(|(_, code)| *code),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition),
        "deleting it again"
    );

    // A topic created again under the same name starts empty.
    create_ok(
        &broker.addr,
        &NewTopic::new(&topic, 2, TopicReplication::Fixed(1)),
    )
    .await;
    let delivery = producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .partition(1)
                .payload("reborn"),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to the recreated topic: {e}"));
    assert_eq!(
        delivery.offset, 0,
        "the recreated topic must not keep the old records"
    );
}

#[tokio::test]
async fn partitions_can_be_added_but_not_removed() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("admin-partitions");
    create_ok(
        &broker.addr,
        &NewTopic::new(&topic, 1, TopicReplication::Fixed(1)),
    )
    .await;
    let admin = admin(&broker.addr);

    let grown = admin
        .create_partitions([&NewPartitions::new(&topic, 3)], &options())
        .await
        .expect("CreatePartitions");
    assert!(grown[0].is_ok(), "growing to 3: {:?}", grown[0]);
    assert_eq!(listed_partitions(&broker.addr, &topic), Some(3));
    assert!(
        broker.data_dir().join(format!("{topic}-2")).is_dir(),
        "directory of the new partition 2"
    );

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    let delivery = producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .partition(2)
                .payload("new partition"),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to the new partition: {e}"));
    assert_eq!((delivery.partition, delivery.offset), (2, 0));

    for count in [2, 3] {
        let result = admin
            .create_partitions([&NewPartitions::new(&topic, count)], &options())
            .await
            .expect("CreatePartitions");
        assert_eq!(
            result[0].as_ref().err().map(|(_, code)| *code),
            Some(RDKafkaErrorCode::InvalidPartitions),
            "changing 3 partitions to {count}"
        );
    }
    assert_eq!(listed_partitions(&broker.addr, &topic), Some(3));
}

/// Every topic-level config of Kafka 3.9 (its documentation's "Topic-Level Configs").
const KAFKA_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// Kafka's topic configs and their defaults on a broker started without overrides.
const TOPIC_DEFAULTS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.type", "producer"),
    ("max.message.bytes", "1048588"),
    ("message.timestamp.type", "CreateTime"),
    ("min.insync.replicas", "1"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
    ("segment.ms", "604800000"),
    ("index.interval.bytes", "4096"),
    ("flush.messages", "9223372036854775807"),
    ("flush.ms", "9223372036854775807"),
];

#[tokio::test]
async fn describe_configs_lists_every_config_with_defaults_and_overrides() {
    let broker = harness::Broker::start();
    let plain = harness::unique_topic("admin-describe-plain");
    let custom = harness::unique_topic("admin-describe-custom");
    create_ok(
        &broker.addr,
        &NewTopic::new(&plain, 1, TopicReplication::Fixed(1)),
    )
    .await;
    create_ok(
        &broker.addr,
        &NewTopic::new(&custom, 1, TopicReplication::Fixed(1)).set("retention.ms", "3600000"),
    )
    .await;

    let configs = describe_topic(&broker.addr, &plain).await;
    let listed: Vec<&str> = configs.entries.iter().map(|e| e.name.as_str()).collect();
    let missing: Vec<&&str> = KAFKA_TOPIC_CONFIGS
        .iter()
        .filter(|name| !listed.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "DescribeConfigs must list every topic config; missing {missing:?}"
    );
    for (name, value) in TOPIC_DEFAULTS {
        assert_entry(&configs, name, value, true, ConfigSource::Default);
    }

    let configs = describe_topic(&broker.addr, &custom).await;
    assert_entry(
        &configs,
        "retention.ms",
        "3600000",
        false,
        ConfigSource::DynamicTopic,
    );
    for (name, value) in TOPIC_DEFAULTS
        .iter()
        .filter(|(name, _)| *name != "retention.ms")
    {
        assert_entry(&configs, name, value, true, ConfigSource::Default);
    }

    assert_eq!(
        raw_describe_topic(&broker.addr, "no-such-topic-anywhere"),
        (3, 0),
        "describing an unknown topic: UNKNOWN_TOPIC_OR_PARTITION and no configs"
    );
}

#[tokio::test]
async fn describe_configs_shows_static_broker_settings_as_their_source() {
    let broker = harness::Broker::start_with(&["--set", "log.retention.ms=86400000"]);
    let topic = harness::unique_topic("admin-describe-static");
    create_ok(
        &broker.addr,
        &NewTopic::new(&topic, 1, TopicReplication::Fixed(1)),
    )
    .await;
    let configs = describe_topic(&broker.addr, &topic).await;
    assert_entry(
        &configs,
        "retention.ms",
        "86400000",
        false,
        ConfigSource::StaticBroker,
    );
    assert_entry(
        &configs,
        "segment.bytes",
        "1073741824",
        true,
        ConfigSource::Default,
    );
}

#[tokio::test]
async fn alter_configs_changes_retention_and_describe_shows_it() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("admin-alter");
    create_ok(
        &broker.addr,
        &NewTopic::new(&topic, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "2000000"),
    )
    .await;
    let admin = admin(&broker.addr);
    // rdkafka 0.39 has no IncrementalAlterConfigs; this is the legacy AlterConfigs, which
    // replaces the whole set of overrides of the resource.
    let results = admin
        .alter_configs(
            [&AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("retention.ms", "7200000")],
            &options(),
        )
        .await
        .expect("AlterConfigs request");
    // rdkafka reports every resource as Ok; the describe below shows the effect.
    assert_eq!(results.len(), 1);

    let configs = describe_topic(&broker.addr, &topic).await;
    assert_entry(
        &configs,
        "retention.ms",
        "7200000",
        false,
        ConfigSource::DynamicTopic,
    );
    assert_entry(
        &configs,
        "max.message.bytes",
        "1048588",
        true,
        ConfigSource::Default,
    );

    assert_eq!(
        raw_alter_topic(&broker.addr, &topic, &[("retention.ms", "not-a-number")]),
        40,
        "a non-numeric retention.ms: INVALID_CONFIG"
    );
    assert_eq!(
        raw_alter_topic(
            &broker.addr,
            "no-such-topic-anywhere",
            &[("retention.ms", "1000")]
        ),
        3,
        "altering an unknown topic: UNKNOWN_TOPIC_OR_PARTITION"
    );
    let configs = describe_topic(&broker.addr, &topic).await;
    assert_entry(
        &configs,
        "retention.ms",
        "7200000",
        false,
        ConfigSource::DynamicTopic,
    );
}

#[tokio::test]
async fn producing_to_an_unknown_topic_creates_it_by_default() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("admin-auto");
    // A consumer's Metadata request does not ask for auto-creation.
    let metadata = metadata_client(&broker.addr)
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .expect("metadata");
    let listed = metadata.topics().iter().find(|t| t.name() == topic);
    assert!(
        listed.is_none_or(|t| t.error().is_some()),
        "a Metadata request without allow_auto_topic_creation must not create the topic"
    );
    assert_eq!(listed_partitions(&broker.addr, &topic), None);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    let delivery = producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .key("k")
                .payload("auto"),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to an auto-created topic: {e}"));
    assert_eq!((delivery.partition, delivery.offset), (0, 0));
    assert_eq!(
        listed_partitions(&broker.addr, &topic),
        Some(1),
        "num.partitions defaults to 1"
    );
}

#[tokio::test]
async fn producing_to_an_unknown_topic_fails_when_auto_creation_is_off() {
    let broker = harness::Broker::start_with(&["--set", "auto.create.topics.enable=false"]);
    let topic = harness::unique_topic("admin-no-auto");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("topic.metadata.propagation.max.ms", "1000")
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer");
    let result = producer
        .send(
            FutureRecord::<str, str>::to(&topic)
                .key("k")
                .payload("nowhere"),
            Duration::from_secs(30),
        )
        .await;
    match result {
        Ok(delivery) => panic!(
            "produced to a topic that should not exist, offset {}",
            delivery.offset
        ),
        Err((e, _)) => assert!(
            matches!(
                e.rdkafka_error_code(),
                Some(RDKafkaErrorCode::UnknownTopic | RDKafkaErrorCode::UnknownTopicOrPartition)
            ),
            "expected an unknown-topic error, got {e}"
        ),
    }
    assert_eq!(
        listed_partitions(&broker.addr, &topic),
        None,
        "the topic must not have been created"
    );
}

/// `topic`-0 up to `offset`, as DeleteRecords takes it.
fn delete_up_to(topic: &str, offset: Offset) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, offset).expect("offset");
    list
}

/// The values of `topic`-0 from its first offset, read until `count` arrived.
fn read_from_beginning(addr: &str, topic: &str, count: usize) -> Vec<(i64, String)> {
    let consumer = metadata_client(addr);
    consumer.assign(&delete_up_to(topic, Offset::Beginning)).expect("assign");
    let deadline = std::time::Instant::now() + WAIT;
    let mut read = Vec::new();
    while read.len() < count && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            read.push((m.offset(), String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()));
        }
    }
    read
}

#[tokio::test]
async fn delete_records_moves_the_log_start_up_to_the_high_watermark_and_it_survives_a_restart() {
    let mut broker = harness::Broker::start();
    let addr = broker.addr.clone();
    let topic = harness::unique_topic("delete-records");
    create_ok(&addr, &NewTopic::new(&topic, 1, TopicReplication::Fixed(1))).await;
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", &addr).create().expect("producer");
    for i in 0..10 {
        let value = format!("r{i}");
        producer.send(FutureRecord::<(), str>::to(&topic).partition(0).payload(&value), WAIT).await.expect("produce");
    }

    let deleted = admin(&addr).delete_records(&delete_up_to(&topic, Offset::Offset(4)), &options()).await.expect("DeleteRecords");
    let result = deleted.find_partition(&topic, 0).expect("a result for the partition");
    assert_eq!((result.error(), result.offset()), (Ok(()), Offset::Offset(4)), "the low watermark is the new log start");
    assert_eq!(metadata_client(&addr).fetch_watermarks(&topic, 0, WAIT).expect("watermarks"), (4, 10));
    let expected: Vec<(i64, String)> = (4..10).map(|i| (i, format!("r{i}"))).collect();
    assert_eq!(read_from_beginning(&addr, &topic, 6), expected, "a consumer from the beginning starts at the new log start");

    // Records above the high watermark cannot be deleted; nothing changes.
    let beyond = admin(&addr).delete_records(&delete_up_to(&topic, Offset::Offset(11)), &options()).await;
    let refused = match beyond {
        Ok(list) => list.find_partition(&topic, 0).expect("a result").error().map_err(|e| format!("{e:?}")),
        Err(e) => Err(format!("{e:?}")),
    };
    assert!(refused.as_ref().is_err_and(|e| e.contains("OffsetOutOfRange")), "{refused:?}");
    assert_eq!(metadata_client(&addr).fetch_watermarks(&topic, 0, WAIT).expect("watermarks"), (4, 10));

    // -1 (librdkafka's end offset) means the high watermark: everything goes.
    let all = admin(&addr).delete_records(&delete_up_to(&topic, Offset::End), &options()).await.expect("DeleteRecords");
    assert_eq!(all.find_partition(&topic, 0).expect("a result").offset(), Offset::Offset(10));
    broker.restart();
    assert_eq!(metadata_client(&addr).fetch_watermarks(&topic, 0, WAIT).expect("watermarks after a restart"), (10, 10));
}
