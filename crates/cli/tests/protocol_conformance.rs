//! Protocol details at the wire level, checked against Kafka's behaviour.
//!
//! Each test starts a real `spool server`, speaks raw Kafka requests to it through
//! `wire` (requests and responses encoded by `kafka-protocol`; a response that leaves
//! bytes undecoded fails), and checks what Kafka would answer.

mod harness;
mod wire;

use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::Broker;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use wire::code;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;
const INVALID_CONFIG: i16 = 40;
const INVALID_REPLICATION_FACTOR: i16 = 38;

/// APIs every Kafka client needs, with the version these tests speak.
fn required_apis() -> Vec<(ApiKey, i16)> {
    vec![
        (ApiKey::Produce, wire::PRODUCE_V),
        (ApiKey::Fetch, wire::FETCH_V),
        (ApiKey::ListOffsets, wire::LIST_OFFSETS_V),
        (ApiKey::Metadata, wire::METADATA_V),
        (ApiKey::ApiVersions, wire::API_VERSIONS_V),
        (ApiKey::CreateTopics, wire::CREATE_TOPICS_V),
        (ApiKey::InitProducerId, wire::INIT_PRODUCER_ID_V),
        (ApiKey::DescribeConfigs, wire::DESCRIBE_CONFIGS_V),
        (ApiKey::IncrementalAlterConfigs, wire::INCREMENTAL_ALTER_CONFIGS_V),
        (ApiKey::CreatePartitions, wire::CREATE_PARTITIONS_V),
        (ApiKey::DescribeCluster, wire::DESCRIBE_CLUSTER_V),
    ]
}

#[test]
fn api_versions_v0_to_v3_decode_and_list_the_core_apis() {
    let broker = Broker::start();
    for version in 0..=3i16 {
        let mut conn = wire::connect(&broker.addr);
        let resp = conn
            .call(&wire::api_versions_request(), version)
            .unwrap_or_else(|e| panic!("ApiVersions v{version}: {e}"));
        assert_eq!(resp.error_code, code::NONE, "ApiVersions v{version} error code");
        let mut keys: Vec<i16> = resp.api_keys.iter().map(|k| k.api_key).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "ApiVersions v{version} lists a key twice");
        for k in &resp.api_keys {
            assert!(k.min_version <= k.max_version, "ApiVersions v{version}: empty range for key {}", k.api_key);
            assert!(k.min_version >= 0, "ApiVersions v{version}: negative min for key {}", k.api_key);
        }
        for (key, used) in required_apis() {
            let entry = resp
                .api_keys
                .iter()
                .find(|k| k.api_key == key as i16)
                .unwrap_or_else(|| panic!("ApiVersions v{version} does not list {key:?}"));
            assert!(
                (entry.min_version..=entry.max_version).contains(&used),
                "ApiVersions v{version}: {key:?} range {}..={} excludes v{used}, which these tests speak",
                entry.min_version,
                entry.max_version
            );
        }
        println!("ApiVersions v{version}: {} api keys", resp.api_keys.len());
    }
}

/// Reads an unsigned varint from the front of `buf`.
fn uvarint(buf: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first().expect("varint runs past the end of the response");
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("varint longer than 10 bytes");
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> &'a [u8] {
    assert!(buf.len() >= n, "response ends {} bytes early", n - buf.len());
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    head
}

/// librdkafka before 2.2 mis-parses ApiVersions v3 responses that carry tagged fields
/// Kafka does not send. Kafka answers with a v0 response header (no tagged-field byte,
/// even though the body is flexible), no tagged fields inside the api-key entries, and
/// at top level only its known tags (0 SupportedFeatures, 1 FinalizedFeaturesEpoch,
/// 2 FinalizedFeatures, 3 ZkMigrationReady).
#[test]
fn api_versions_v3_carries_no_tagged_fields_beyond_kafkas() {
    let broker = Broker::start();
    let mut conn = wire::connect(&broker.addr);
    let id = conn.send(&wire::api_versions_request(), 3).expect("send ApiVersions v3");
    let frame = conn.recv_frame().expect("ApiVersions v3 response frame");

    // Walk the raw bytes: header v0 is only the correlation id.
    let mut buf: &[u8] = &frame;
    assert_eq!(i32::from_be_bytes(take(&mut buf, 4).try_into().expect("4")), id, "correlation id");
    let error_code = i16::from_be_bytes(take(&mut buf, 2).try_into().expect("2"));
    assert_eq!(error_code, 0, "error code right after the correlation id (a v1 header would put a tag byte here)");
    let count = uvarint(&mut buf);
    assert!(count >= 1, "api_keys is a null compact array");
    for i in 0..count - 1 {
        let entry = take(&mut buf, 6);
        let tags = uvarint(&mut buf);
        assert_eq!(tags, 0, "api_keys entry {i} ({:02x?}) carries {tags} tagged fields", entry);
    }
    let _throttle_time_ms = take(&mut buf, 4);
    let tag_count = uvarint(&mut buf);
    let mut tags = Vec::new();
    for _ in 0..tag_count {
        let tag = uvarint(&mut buf);
        let size = uvarint(&mut buf) as usize;
        take(&mut buf, size);
        tags.push(tag);
    }
    println!("ApiVersions v3: {} api keys, top-level tags {tags:?}", count - 1);
    assert!(buf.is_empty(), "{} bytes after the tagged fields: {:02x?}", buf.len(), buf);
    for tag in &tags {
        assert!(*tag <= 3, "top-level tagged field {tag} is not one Kafka sends (known: 0..=3)");
    }
    let mut sorted = tags.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, tags, "tagged fields must be unique and in ascending order");

    // And the generated decoder agrees, consuming every byte with nothing unknown.
    let resp: ApiVersionsResponse =
        wire::decode_response(ApiKey::ApiVersions, 3, id, frame).expect("ApiVersions v3 decodes");
    assert!(resp.unknown_tagged_fields.is_empty());
    assert!(resp.api_keys.iter().all(|k| k.unknown_tagged_fields.is_empty()));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::start();
    let topic = harness::unique_topic("pipeline");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let a = conn.send(&wire::metadata_request(Some(&[&topic]), false), wire::METADATA_V).expect("send");
    let b = conn.send(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("send");
    let c = conn.send(&wire::list_offsets_request(&topic, 0, -1), wire::LIST_OFFSETS_V).expect("send");
    let _: MetadataResponse = conn.recv(ApiKey::Metadata, wire::METADATA_V, a).expect("first answer is Metadata");
    let _: ApiVersionsResponse = conn.recv(ApiKey::ApiVersions, wire::API_VERSIONS_V, b).expect("second is ApiVersions");
    let _: ListOffsetsResponse = conn.recv(ApiKey::ListOffsets, wire::LIST_OFFSETS_V, c).expect("third is ListOffsets");
}

#[test]
fn produce_requests_sent_in_one_write_are_each_answered_in_order() {
    // The broker answers Produce requests that arrive together in one write of its own
    // (see connection.rs): every answer must still come, once, in order, with its offsets.
    let broker = Broker::start();
    let topic = harness::unique_topic("produce-burst");
    wire::create_topic(&broker.addr, &topic, 2);
    let mut conn = wire::connect(&broker.addr);
    let requests = 40;
    let mut burst = Vec::new();
    let mut ids = Vec::new();
    for i in 0..requests {
        let id = conn.next_id();
        let values = wire::sample_values(&format!("burst-{i}"), 3);
        let request = wire::produce_request(&topic, i % 2, wire::batch(&values, wire::now_ms()), 1);
        burst.extend_from_slice(&wire::encode_request(&request, wire::PRODUCE_V, id));
        ids.push(id);
    }
    conn.send_raw(&burst).expect("send the burst");
    for (i, id) in ids.into_iter().enumerate() {
        let resp: ProduceResponse = conn
            .recv(ApiKey::Produce, wire::PRODUCE_V, id)
            .unwrap_or_else(|e| panic!("answer {i} of the burst: {e}; broker log:\n{}", broker.log()));
        let p = wire::produce_partition_response(&resp);
        assert_eq!(p.index, i as i32 % 2, "answer {i} names its request's partition");
        assert_eq!((p.error_code, p.base_offset), (code::NONE, (i as i64 / 2) * 3), "answer {i}");
    }
    assert!(
        matches!(conn.next_event(Duration::from_millis(300)), wire::PeerEvent::Silent),
        "the broker answered more than it was asked"
    );
}

#[test]
fn produce_answers_are_written_before_a_fetch_behind_them_waits() {
    // Two Produce requests and a long-polling Fetch arrive in one write. The Produce
    // answers must not wait for the Fetch: it is answered only once a record arrives,
    // and that record is produced after (and only after) the Produce answers came.
    let broker = Broker::start();
    let topic = harness::unique_topic("produce-then-poll");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let mut burst = Vec::new();
    let mut produce_ids = Vec::new();
    for i in 0..2 {
        let id = conn.next_id();
        let request = wire::produce_request(&topic, 0, wire::batch(&wire::sample_values(&format!("p{i}"), 2), wire::now_ms()), 1);
        burst.extend_from_slice(&wire::encode_request(&request, wire::PRODUCE_V, id));
        produce_ids.push(id);
    }
    let fetch_id = conn.next_id();
    burst.extend_from_slice(&wire::encode_request(&wire::fetch_request(&topic, 0, 4, 60_000, 1), wire::FETCH_V, fetch_id));
    conn.send_raw(&burst).expect("send the burst");
    // Far less than the Fetch's 60 s wait: an answer held behind it would time out here.
    conn.set_read_timeout(Duration::from_secs(10));
    for (i, id) in produce_ids.into_iter().enumerate() {
        let resp: ProduceResponse = conn
            .recv(ApiKey::Produce, wire::PRODUCE_V, id)
            .unwrap_or_else(|e| panic!("Produce answer {i}, before the Fetch's: {e}; broker log:\n{}", broker.log()));
        let p = wire::produce_partition_response(&resp);
        assert_eq!((p.error_code, p.base_offset), (code::NONE, i as i64 * 2), "Produce answer {i}");
    }
    let mut other = wire::connect(&broker.addr);
    let woken = wire::produce(&mut other, &topic, 0, wire::batch(&wire::sample_values("wake", 1), wire::now_ms()));
    assert_eq!((woken.error_code, woken.base_offset), (code::NONE, 4), "the record the Fetch waits for");
    let resp: FetchResponse = conn
        .recv(ApiKey::Fetch, wire::FETCH_V, fetch_id)
        .unwrap_or_else(|e| panic!("Fetch answer: {e}; broker log:\n{}", broker.log()));
    let data = &resp.responses[0].partitions[0];
    let records = data.records.clone().expect("the Fetch returns the new record");
    let fetched = wire::decode_fetched(&records);
    assert_eq!(fetched.first().map(|b| b.base_offset), Some(4), "the Fetch returns the record produced after the answers");
}

#[test]
fn list_offsets_latest_earliest_and_by_timestamp() {
    let broker = Broker::start();
    let topic = harness::unique_topic("list-offsets");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);

    assert_eq!(wire::list_offset(&mut conn, &topic, 0, -1), (code::NONE, 0, -1), "latest of an empty partition");
    assert_eq!(wire::list_offset(&mut conn, &topic, 0, -2).1, 0, "earliest of an empty partition");

    let now = wire::now_ms();
    let (t0, t1) = (now - 20_000, now - 10_000);
    let first = wire::sample_values("first", 3);
    let second = wire::sample_values("second", 4);
    let r = wire::produce(&mut conn, &topic, 0, wire::batch(&first, t0));
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 0), "first batch");
    let r = wire::produce(&mut conn, &topic, 0, wire::batch(&second, t1));
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 3), "second batch");

    let (error, latest, _) = wire::list_offset(&mut conn, &topic, 0, -1);
    assert_eq!(error, code::NONE);
    assert_eq!(latest, 7, "latest (-1) is the next offset to be written, not the last batch's base offset");
    let (error, earliest, _) = wire::list_offset(&mut conn, &topic, 0, -2);
    assert_eq!((error, earliest), (code::NONE, 0), "earliest (-2)");

    // By timestamp: the first offset whose timestamp is >= the target.
    for (target, offset, timestamp) in [(t0 - 1, 0, t0), (t0, 0, t0), (t0 + 1, 3, t1), (t1, 3, t1)] {
        let got = wire::list_offset(&mut conn, &topic, 0, target);
        assert_eq!(got, (code::NONE, offset, timestamp), "ListOffsets at timestamp {target} (t0 = {t0}, t1 = {t1})");
    }
    // Past every record: Kafka answers offset -1, timestamp -1, no error.
    assert_eq!(wire::list_offset(&mut conn, &topic, 0, t1 + 1), (code::NONE, -1, -1), "timestamp after every record");

    // The same at the oldest version the library speaks (v1).
    let resp = conn
        .call(&wire::list_offsets_request(&topic, 0, -1), 1)
        .unwrap_or_else(|e| panic!("ListOffsets v1: {e}; broker log:\n{}", broker.log()));
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.offset), (code::NONE, 7), "ListOffsets v1 latest");

    // Unknown partition.
    let (error, _, _) = wire::list_offset(&mut conn, &topic, 5, -1);
    assert_eq!(error, code::UNKNOWN_TOPIC_OR_PARTITION, "ListOffsets of a missing partition");
}

#[test]
fn list_offsets_max_timestamp_finds_the_newest_record_not_the_last() {
    let broker = Broker::start();
    let topic = harness::unique_topic("max-timestamp");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    assert_eq!(wire::list_offset(&mut conn, &topic, 0, -3), (code::NONE, -1, -1), "max timestamp of an empty partition");

    let now = wire::now_ms();
    let newest = now - 1_000;
    // Batches written out of timestamp order: the newest record sits in the middle.
    for (i, ts) in [now - 30_000, newest, now - 20_000].into_iter().enumerate() {
        let values = wire::sample_values(&format!("b{i}"), 2);
        let r = wire::produce(&mut conn, &topic, 0, wire::batch(&values, ts));
        assert_eq!(r.error_code, code::NONE, "batch {i}");
    }
    // KIP-734: the offset of the first record carrying the largest timestamp.
    assert_eq!(wire::list_offset(&mut conn, &topic, 0, -3), (code::NONE, 2, newest), "max timestamp (-3)");
    // Earliest local (-4) is the log start without tiered storage.
    assert_eq!(wire::list_offset(&mut conn, &topic, 0, -4).1, 0, "earliest local (-4)");
}

#[test]
fn fetch_from_the_middle_of_a_batch_returns_the_whole_batch() {
    let broker = Broker::start();
    let topic = harness::unique_topic("mid-batch");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let first = wire::sample_values("a", 5);
    let second = wire::sample_values("b", 5);
    assert_eq!(wire::produce(&mut conn, &topic, 0, wire::batch(&first, wire::now_ms())).base_offset, 0);
    assert_eq!(wire::produce(&mut conn, &topic, 0, wire::batch(&second, wire::now_ms())).base_offset, 5);

    for (offset, base, values) in [(2i64, 0i64, &first), (4, 0, &first), (7, 5, &second), (5, 5, &second)] {
        let data = wire::fetch(&mut conn, &topic, 0, offset, 0, 1);
        assert_eq!(data.error_code, code::NONE, "fetch at {offset}");
        let batches = wire::decode_fetched(data.records.as_ref().expect("records present"));
        let batch = batches.first().unwrap_or_else(|| panic!("fetch at {offset} returned no batch"));
        assert_eq!(batch.base_offset, base, "fetch at {offset}: first batch must be the one containing it");
        assert!(batch.base_offset <= offset && offset <= batch.last_offset, "batch {}..={} does not contain {offset}", batch.base_offset, batch.last_offset);
        assert_eq!(&wire::key_values(&batch.records), values, "fetch at {offset}: the whole batch, unchanged");
        let offsets: Vec<i64> = batch.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (base..base + 5).collect::<Vec<_>>(), "record offsets of the batch");
    }
}

#[test]
fn fetch_high_watermark_and_offset_out_of_range() {
    let broker = Broker::start();
    let topic = harness::unique_topic("hwm");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    wire::produce(&mut conn, &topic, 0, wire::batch(&wire::sample_values("h", 4), wire::now_ms()));
    wire::produce(&mut conn, &topic, 0, wire::batch(&wire::sample_values("i", 3), wire::now_ms()));

    let data = wire::fetch(&mut conn, &topic, 0, 0, 0, 1);
    assert_eq!(data.error_code, code::NONE);
    assert_eq!(data.high_watermark, 7, "high watermark is the next offset to be written");
    assert_eq!(data.last_stable_offset, 7, "last stable offset without transactions");
    assert_eq!(data.log_start_offset, 0, "log start offset");

    // At the log end: no error, no records.
    let data = wire::fetch(&mut conn, &topic, 0, 7, 0, 1);
    assert_eq!(data.error_code, code::NONE, "fetch at the high watermark is not out of range");
    assert!(data.records.as_ref().is_none_or(|r| r.is_empty()), "fetch at the log end returned records");
    assert_eq!(data.high_watermark, 7);

    for offset in [8i64, 1000, -5] {
        let data = wire::fetch(&mut conn, &topic, 0, offset, 0, 1);
        assert_eq!(data.error_code, code::OFFSET_OUT_OF_RANGE, "fetch at {offset} with high watermark 7");
    }

    // Unknown partition.
    let data = wire::fetch(&mut conn, &topic, 3, 0, 0, 1);
    assert_eq!(data.error_code, code::UNKNOWN_TOPIC_OR_PARTITION, "fetch of a missing partition");
}

#[test]
fn long_poll_fetch_is_woken_by_produce() {
    let broker = Broker::start();
    let topic = harness::unique_topic("long-poll");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut producer = wire::connect(&broker.addr);
    wire::produce(&mut producer, &topic, 0, wire::batch(&wire::sample_values("before", 2), wire::now_ms()));

    // With nothing new, a long poll returns empty once max_wait_ms runs out.
    let mut consumer = wire::connect(&broker.addr);
    let start = Instant::now();
    let data = wire::fetch(&mut consumer, &topic, 0, 2, 300, 1);
    assert_eq!(data.error_code, code::NONE);
    assert!(data.records.as_ref().is_none_or(|r| r.is_empty()), "no data yet, but records came back");
    println!("empty long poll (max_wait_ms=300) returned after {:?}", start.elapsed());

    // Now wait up to 5 s and produce from another connection meanwhile.
    consumer.set_read_timeout(Duration::from_secs(20));
    let id = consumer.send(&wire::fetch_request(&topic, 0, 2, 5000, 1), wire::FETCH_V).expect("send long poll");
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let after = wire::sample_values("after", 3);
    let r = wire::produce(&mut producer, &topic, 0, wire::batch(&after, wire::now_ms()));
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 2));
    let resp: FetchResponse = consumer.recv(ApiKey::Fetch, wire::FETCH_V, id).expect("long-poll fetch answer");
    println!("long poll returned {:?} after it was sent (produce at ~300 ms, max_wait_ms=5000)", start.elapsed());
    let data = &resp.responses[0].partitions[0];
    assert_eq!(data.error_code, code::NONE);
    assert_eq!(data.high_watermark, 5);
    let batches = wire::decode_fetched(data.records.as_ref().expect("long poll returned no records"));
    let got: Vec<_> = batches.iter().flat_map(|b| wire::key_values(&b.records)).collect();
    assert_eq!(got, after, "long poll returns the new records");
}

fn init_producer_id(conn: &mut wire::Conn) -> (i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let resp = conn.call(&req, wire::INIT_PRODUCER_ID_V).expect("InitProducerId");
    assert_eq!(resp.error_code, code::NONE, "InitProducerId error");
    assert!(resp.producer_id.0 >= 0, "producer id {}", resp.producer_id.0);
    assert!(resp.producer_epoch >= 0, "producer epoch {}", resp.producer_epoch);
    (resp.producer_id.0, resp.producer_epoch)
}

#[test]
fn idempotent_produce_deduplicates_and_checks_sequence() {
    let broker = Broker::start();
    let topic = harness::unique_topic("idempotent");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let (pid, epoch) = init_producer_id(&mut conn);
    let (pid2, _) = init_producer_id(&mut conn);
    assert_ne!(pid, pid2, "two InitProducerId calls without a transactional id get distinct ids");

    let first_values = wire::sample_values("idem-0", 3);
    let first = wire::idempotent_batch(&first_values, pid, epoch, 0);
    let r = wire::produce(&mut conn, &topic, 0, first.clone());
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 0), "first idempotent batch: {:?}", r.error_message);

    // The exact same batch again (a retry after a lost response).
    let r = wire::produce(&mut conn, &topic, 0, first.clone());
    assert_eq!(r.error_code, code::NONE, "a duplicate batch is acknowledged, not an error: {:?}", r.error_message);
    assert_eq!(r.base_offset, 0, "a duplicate batch is answered with the original base offset");
    assert_eq!(wire::latest_offset(&mut conn, &topic, 0), 3, "a duplicate batch was appended a second time");

    // The retry may come on another connection.
    let mut other = wire::connect(&broker.addr);
    let r = wire::produce(&mut other, &topic, 0, first);
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 0), "duplicate on another connection");
    assert_eq!(wire::latest_offset(&mut conn, &topic, 0), 3);

    let next_values = wire::sample_values("idem-1", 2);
    let r = wire::produce(&mut conn, &topic, 0, wire::idempotent_batch(&next_values, pid, epoch, 3));
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 3), "next in-sequence batch: {:?}", r.error_message);

    // A gap in the sequence (expected 5).
    let r = wire::produce(&mut conn, &topic, 0, wire::idempotent_batch(&wire::sample_values("gap", 2), pid, epoch, 10));
    assert_eq!(r.error_code, code::OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence gap: {:?}", r.error_message);
    assert_eq!(wire::latest_offset(&mut conn, &topic, 0), 5, "an out-of-order batch was appended");

    // Sequences of the second producer id are independent.
    let second_values = wire::sample_values("pid2", 1);
    let r = wire::produce(&mut conn, &topic, 0, wire::idempotent_batch(&second_values, pid2, 0, 0));
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 5), "second producer's first batch");

    let mut expected = first_values;
    expected.extend(next_values);
    expected.extend(second_values);
    assert_eq!(wire::read_all(&mut conn, &topic, 0), expected, "log content: no duplicates, nothing out of order");
}

#[test]
fn acks_zero_produce_gets_no_response_but_lands() {
    let broker = Broker::start();
    let topic = harness::unique_topic("acks0");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let values = wire::sample_values("acks0", 4);
    conn.send(&wire::produce_request(&topic, 0, wire::batch(&values, wire::now_ms()), 0), wire::PRODUCE_V)
        .expect("send acks=0 produce");
    // The next frame on this connection must answer the next request, not the produce.
    let id = conn.send(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("send ApiVersions");
    let _: ApiVersionsResponse = conn
        .recv(ApiKey::ApiVersions, wire::API_VERSIONS_V, id)
        .expect("the first frame after an acks=0 produce answers the following request");

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let latest = wire::latest_offset(&mut conn, &topic, 0);
        if latest == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "acks=0 records did not land within 5 s (latest offset {latest})");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(wire::read_all(&mut conn, &topic, 0), values);
}

#[test]
fn metadata_every_version_and_topic_ids() {
    let broker = Broker::start();
    let topic = harness::unique_topic("metadata");
    wire::create_topic(&broker.addr, &topic, 3);
    let port: i32 = broker.addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let mut conn = wire::connect(&broker.addr);

    for version in 0..=wire::METADATA_V {
        let resp = conn
            .call(&wire::metadata_request(Some(&[&topic]), version < 4), version)
            .unwrap_or_else(|e| panic!("Metadata v{version}: {e}"));
        assert!(resp.brokers.iter().any(|b| b.port == port), "Metadata v{version}: no broker on port {port}");
        let t = resp.topics.iter().find(|t| wire::name_of(&t.name) == Some(topic.as_str())).expect("topic listed");
        assert_eq!(t.error_code, code::NONE, "Metadata v{version} topic error");
        let mut indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, vec![0, 1, 2], "Metadata v{version} partitions");
        for p in &t.partitions {
            assert!(resp.brokers.iter().any(|b| b.node_id == p.leader_id), "v{version}: leader {:?} is not a listed broker", p.leader_id);
            assert!(p.replica_nodes.contains(&p.leader_id), "v{version}: leader not among replicas");
            assert!(p.isr_nodes.contains(&p.leader_id), "v{version}: leader not in ISR");
            if version >= 7 {
                assert!(p.leader_epoch >= 0, "v{version}: leader epoch {}", p.leader_epoch);
            }
        }
        if version >= 2 {
            assert!(resp.cluster_id.as_deref().is_some_and(|c| !c.is_empty()), "v{version}: cluster id");
            assert!(resp.brokers.iter().any(|b| b.node_id == resp.controller_id), "v{version}: controller is not a listed broker");
        }
    }

    // v12: topic ids, and lookup by id alone.
    let resp = conn.call(&wire::metadata_request(Some(&[&topic]), false), 12).expect("Metadata v12");
    let by_name = resp.topics.iter().find(|t| wire::name_of(&t.name) == Some(topic.as_str())).expect("topic").clone();
    assert!(!by_name.topic_id.is_nil(), "Metadata v12 gives the topic a non-zero id");
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_topic_id(by_name.topic_id).with_name(None)]));
    let resp = conn.call(&req, 12).expect("Metadata v12 by topic id");
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].error_code, code::NONE, "Metadata v12 by id");
    assert_eq!(wire::name_of(&resp.topics[0].name), Some(topic.as_str()), "lookup by id answers the name");
    assert_eq!(resp.topics[0].topic_id, by_name.topic_id);

    // The id is stable and appears in the full listing too.
    let all = conn.call(&wire::metadata_request(None, false), 12).expect("Metadata v12 all topics");
    let listed = all.topics.iter().find(|t| wire::name_of(&t.name) == Some(topic.as_str())).expect("topic in the full listing");
    assert_eq!(listed.topic_id, by_name.topic_id);

    // An unknown topic without auto-creation.
    let missing = harness::unique_topic("missing");
    let resp = conn.call(&wire::metadata_request(Some(&[&missing]), false), 12).expect("Metadata unknown topic");
    assert_eq!(resp.topics[0].error_code, code::UNKNOWN_TOPIC_OR_PARTITION, "unknown topic without auto-create");
    let all = conn.call(&wire::metadata_request(None, false), 12).expect("Metadata all topics");
    assert!(!all.topics.iter().any(|t| wire::name_of(&t.name) == Some(missing.as_str())), "allow_auto_topic_creation=false created it");
}

#[test]
fn describe_cluster_matches_metadata() {
    let broker = Broker::start();
    let port: i32 = broker.addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let mut conn = wire::connect(&broker.addr);
    let md = conn.call(&wire::metadata_request(None, false), wire::METADATA_V).expect("Metadata");
    for version in 0..=wire::DESCRIBE_CLUSTER_V {
        let resp = conn.call(&DescribeClusterRequest::default(), version).unwrap_or_else(|e| panic!("DescribeCluster v{version}: {e}"));
        assert_eq!(resp.error_code, code::NONE, "DescribeCluster v{version}: {:?}", resp.error_message);
        assert!(!resp.cluster_id.is_empty(), "cluster id");
        assert_eq!(Some(resp.cluster_id.as_str()), md.cluster_id.as_deref(), "same cluster id as Metadata");
        assert_eq!(resp.controller_id, md.controller_id, "same controller as Metadata");
        assert!(resp.brokers.iter().any(|b| b.port == port), "DescribeCluster v{version}: no broker on port {port}");
        for b in &resp.brokers {
            assert!(md.brokers.iter().any(|m| m.node_id == b.broker_id && m.port == b.port), "broker {b:?} not in Metadata");
        }
    }
}

#[test]
fn create_partitions_grows_and_refuses_to_shrink() {
    let broker = Broker::start();
    let topic = harness::unique_topic("create-partitions");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let request = |name: &str, count: i32| {
        CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default().with_name(wire::topic_name(name)).with_count(count).with_assignments(None)])
            .with_timeout_ms(10_000)
    };
    let resp = conn.call(&request(&topic, 3), wire::CREATE_PARTITIONS_V).expect("CreatePartitions");
    assert_eq!(resp.results[0].error_code, code::NONE, "grow to 3: {:?}", resp.results[0].error_message);
    wire::wait_for_leaders(&mut conn, &topic, 3);
    let r = wire::produce(&mut conn, &topic, 2, wire::batch(&wire::sample_values("p2", 1), wire::now_ms()));
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 0), "produce to a new partition");

    for count in [2, 3] {
        let resp = conn.call(&request(&topic, count), wire::CREATE_PARTITIONS_V).expect("CreatePartitions");
        assert_eq!(resp.results[0].error_code, code::INVALID_PARTITIONS, "count {count} on a 3-partition topic");
    }
    let missing = harness::unique_topic("missing");
    let resp = conn.call(&request(&missing, 2), wire::CREATE_PARTITIONS_V).expect("CreatePartitions");
    assert_eq!(resp.results[0].error_code, code::UNKNOWN_TOPIC_OR_PARTITION, "unknown topic");
    wire::wait_for_leaders(&mut conn, &topic, 3);
}

fn describe_configs(conn: &mut wire::Conn, resource_type: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResult {
    let req = DescribeConfigsRequest::default()
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(wire::s(name))
            .with_configuration_keys(keys.map(|ks| ks.iter().map(|k| wire::s(k)).collect()))])
        .with_include_synonyms(false)
        .with_include_documentation(false);
    let resp = conn.call(&req, wire::DESCRIBE_CONFIGS_V).expect("DescribeConfigs");
    let result = resp.results.into_iter().next().expect("DescribeConfigs answers the resource");
    assert_eq!(result.error_code, code::NONE, "DescribeConfigs {name}: {:?}", result.error_message);
    result
}

fn config_value(result: &DescribeConfigsResult, name: &str) -> Option<(String, i8)> {
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .map(|c| (c.value.as_deref().unwrap_or("<null>").to_string(), c.config_source))
}

#[test]
fn describe_configs_lists_every_topic_config_with_defaults() {
    let broker = Broker::start();
    let topic = harness::unique_topic("describe-configs");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let result = describe_configs(&mut conn, RESOURCE_TOPIC, &topic, None);
    println!("DescribeConfigs lists {} topic configs", result.configs.len());
    let expected_defaults = [
        ("cleanup.policy", "delete"),
        ("retention.ms", "604800000"),
        ("retention.bytes", "-1"),
        ("segment.bytes", "1073741824"),
        ("segment.ms", "604800000"),
        ("max.message.bytes", "1048588"),
        ("min.insync.replicas", "1"),
        ("compression.type", "producer"),
        ("message.timestamp.type", "CreateTime"),
        ("index.interval.bytes", "4096"),
        ("segment.index.bytes", "10485760"),
        ("delete.retention.ms", "86400000"),
        ("unclean.leader.election.enable", "false"),
    ];
    for (name, default) in expected_defaults {
        let (value, source) = config_value(&result, name).unwrap_or_else(|| panic!("DescribeConfigs does not list {name}"));
        assert_eq!(value, default, "default of {name}");
        assert_ne!(source, SOURCE_DYNAMIC_TOPIC_CONFIG, "{name} was never set on the topic but has source DYNAMIC_TOPIC_CONFIG");
    }
    for c in &result.configs {
        assert!(c.value.is_some() || c.is_sensitive, "config {} has no value", c.name.as_str());
    }

    // Asking for named keys returns exactly those.
    let some = describe_configs(&mut conn, RESOURCE_TOPIC, &topic, Some(&["retention.ms", "cleanup.policy"]));
    let mut names: Vec<&str> = some.configs.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["cleanup.policy", "retention.ms"]);

    // The broker resource, named by its node id.
    let md = conn.call(&wire::metadata_request(None, false), wire::METADATA_V).expect("Metadata");
    let node = md.brokers.first().expect("a broker").node_id.0;
    let broker_configs = describe_configs(&mut conn, RESOURCE_BROKER, &node.to_string(), None);
    println!("DescribeConfigs lists {} broker configs", broker_configs.configs.len());
    for name in ["message.max.bytes", "log.retention.ms", "num.partitions", "auto.create.topics.enable"] {
        assert!(config_value(&broker_configs, name).is_some(), "broker configs do not list {name}");
    }

    // An unknown topic is an error for that resource.
    let req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(wire::s(&harness::unique_topic("missing")))
        .with_configuration_keys(None)]);
    let resp = conn.call(&req, wire::DESCRIBE_CONFIGS_V).expect("DescribeConfigs unknown topic");
    assert_eq!(resp.results[0].error_code, code::UNKNOWN_TOPIC_OR_PARTITION, "DescribeConfigs of an unknown topic");
}

fn alter(conn: &mut wire::Conn, topic: &str, ops: &[(&str, i8, Option<&str>)]) -> (i16, Option<String>) {
    let req = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(wire::s(topic))
            .with_configs(
                ops.iter()
                    .map(|(name, op, value)| {
                        AlterableConfig::default()
                            .with_name(wire::s(name))
                            .with_config_operation(*op)
                            .with_value(value.map(wire::s))
                    })
                    .collect(),
            )])
        .with_validate_only(false);
    let resp = conn.call(&req, wire::INCREMENTAL_ALTER_CONFIGS_V).expect("IncrementalAlterConfigs");
    let r = resp.responses.into_iter().next().expect("IncrementalAlterConfigs answers the resource");
    assert_eq!(r.resource_name.as_str(), topic);
    (r.error_code, r.error_message.map(|m| m.to_string()))
}

#[test]
fn incremental_alter_configs_set_and_delete_round_trip() {
    let broker = Broker::start();
    let topic = harness::unique_topic("alter-configs");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);

    let (error, message) = alter(&mut conn, &topic, &[("retention.ms", OP_SET, Some("3600000")), ("max.message.bytes", OP_SET, Some("2048"))]);
    assert_eq!(error, code::NONE, "SET: {message:?}");
    let result = describe_configs(&mut conn, RESOURCE_TOPIC, &topic, None);
    assert_eq!(config_value(&result, "retention.ms"), Some(("3600000".into(), SOURCE_DYNAMIC_TOPIC_CONFIG)));
    assert_eq!(config_value(&result, "max.message.bytes"), Some(("2048".into(), SOURCE_DYNAMIC_TOPIC_CONFIG)));
    assert_eq!(config_value(&result, "cleanup.policy").map(|v| v.0), Some("delete".into()), "untouched config kept");

    // The new limit applies to produce.
    let r = wire::produce(&mut conn, &topic, 0, wire::batch(&[(None, Some(vec![b'q'; 3000]))], wire::now_ms()));
    assert_eq!(r.error_code, code::MESSAGE_TOO_LARGE, "3 KB batch after max.message.bytes=2048");

    let (error, message) = alter(&mut conn, &topic, &[("retention.ms", OP_DELETE, None), ("max.message.bytes", OP_DELETE, None)]);
    assert_eq!(error, code::NONE, "DELETE: {message:?}");
    let result = describe_configs(&mut conn, RESOURCE_TOPIC, &topic, None);
    let (value, source) = config_value(&result, "retention.ms").expect("retention.ms listed");
    assert_eq!(value, "604800000", "retention.ms back to its default");
    assert_ne!(source, SOURCE_DYNAMIC_TOPIC_CONFIG, "retention.ms source after DELETE");
    let r = wire::produce(&mut conn, &topic, 0, wire::batch(&[(None, Some(vec![b'q'; 3000]))], wire::now_ms()));
    assert_eq!(r.error_code, code::NONE, "3 KB batch after the limit was deleted");

    // Invalid names and values are refused and change nothing.
    let (error, _) = alter(&mut conn, &topic, &[("no.such.config", OP_SET, Some("1"))]);
    assert_eq!(error, INVALID_CONFIG, "unknown config name");
    let (error, _) = alter(&mut conn, &topic, &[("retention.ms", OP_SET, Some("not-a-number"))]);
    assert_eq!(error, INVALID_CONFIG, "non-numeric retention.ms");
    let result = describe_configs(&mut conn, RESOURCE_TOPIC, &topic, Some(&["retention.ms"]));
    assert_eq!(config_value(&result, "retention.ms").map(|v| v.0), Some("604800000".into()), "a refused alter changed the value");
}

#[test]
fn incremental_alter_configs_append_and_subtract_list_values() {
    let broker = Broker::start();
    let topic = harness::unique_topic("alter-list");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let (error, message) = alter(&mut conn, &topic, &[("cleanup.policy", OP_APPEND, Some("compact"))]);
    assert_eq!(error, code::NONE, "APPEND: {message:?}");
    let result = describe_configs(&mut conn, RESOURCE_TOPIC, &topic, Some(&["cleanup.policy"]));
    let (value, _) = config_value(&result, "cleanup.policy").expect("cleanup.policy");
    let mut parts: Vec<&str> = value.split(',').collect();
    parts.sort_unstable();
    assert_eq!(parts, vec!["compact", "delete"], "APPEND compact to the default delete");

    let (error, message) = alter(&mut conn, &topic, &[("cleanup.policy", OP_SUBTRACT, Some("delete"))]);
    assert_eq!(error, code::NONE, "SUBTRACT: {message:?}");
    let result = describe_configs(&mut conn, RESOURCE_TOPIC, &topic, Some(&["cleanup.policy"]));
    assert_eq!(config_value(&result, "cleanup.policy").map(|v| v.0), Some("compact".into()), "SUBTRACT delete");
}

/// Produce answers name the topic and partition asked for, and the record bytes come
/// back from Fetch unchanged apart from the base offset and leader epoch.
#[test]
fn fetched_batch_bytes_match_produced_bytes() {
    let broker = Broker::start();
    let topic = harness::unique_topic("bytes");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    wire::produce(&mut conn, &topic, 0, wire::batch(&wire::sample_values("pad", 2), wire::now_ms()));
    let sent = wire::batch(&wire::sample_values("bytes", 3), wire::now_ms());
    let resp = conn.call(&wire::produce_request(&topic, 0, sent.clone(), 1), wire::PRODUCE_V).expect("Produce");
    assert_eq!(resp.responses[0].name.as_str(), topic.as_str(), "produce response names the topic");
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.index, p.error_code, p.base_offset), (0, code::NONE, 2));

    let data = wire::fetch(&mut conn, &topic, 0, 2, 0, 1);
    let records: Bytes = data.records.clone().expect("records");
    assert!(records.len() >= sent.len(), "fetched {} bytes, sent {}", records.len(), sent.len());
    let got = &records[..sent.len()];
    assert_eq!(i64::from_be_bytes(got[..8].try_into().expect("8")), 2, "base offset rewritten to 2");
    assert_eq!(&got[8..12], &sent[8..12], "batch length unchanged");
    assert_eq!(&got[16..], &sent[16..], "bytes from magic to the end unchanged (CRC, attributes, records)");
}

#[test]
fn create_topics_duplicates_validate_only_and_defaults() {
    let broker = Broker::start();
    let mut conn = wire::connect(&broker.addr);
    let create = |conn: &mut wire::Conn, req: &CreateTopicsRequest| {
        let resp = conn.call(req, wire::CREATE_TOPICS_V).expect("CreateTopics");
        resp.topics.into_iter().next().expect("CreateTopics answers the topic")
    };

    let topic = harness::unique_topic("create");
    let r = create(&mut conn, &wire::create_topics_request(&topic, 2));
    assert_eq!(r.error_code, code::NONE, "{:?}", r.error_message);
    assert_eq!((r.num_partitions, r.replication_factor), (2, 1), "v5 response echoes partitions and replication");
    let r = create(&mut conn, &wire::create_topics_request(&topic, 2));
    assert_eq!(r.error_code, code::TOPIC_ALREADY_EXISTS, "creating {topic} twice");

    // validate_only: the answer of a real creation, but nothing is created.
    let dry = harness::unique_topic("dry-run");
    let r = create(&mut conn, &wire::create_topics_request(&dry, 3).with_validate_only(true));
    assert_eq!(r.error_code, code::NONE, "validate_only: {:?}", r.error_message);
    let all = conn.call(&wire::metadata_request(None, false), wire::METADATA_V).expect("Metadata");
    assert!(!all.topics.iter().any(|t| wire::name_of(&t.name) == Some(dry.as_str())), "validate_only created {dry}");

    // -1 partitions and replication factor: the broker defaults (num.partitions=1, default.replication.factor=1).
    let defaults = harness::unique_topic("defaults");
    let mut req = wire::create_topics_request(&defaults, -1);
    req.topics[0].replication_factor = -1;
    let r = create(&mut conn, &req);
    assert_eq!(r.error_code, code::NONE, "-1/-1: {:?}", r.error_message);
    assert_eq!((r.num_partitions, r.replication_factor), (1, 1), "broker defaults applied");
    wire::wait_for_leaders(&mut conn, &defaults, 1);

    // Impossible partition counts and replication factors.
    let r = create(&mut conn, &wire::create_topics_request(&harness::unique_topic("zero"), 0));
    assert_eq!(r.error_code, code::INVALID_PARTITIONS, "0 partitions");
    let mut req = wire::create_topics_request(&harness::unique_topic("rf3"), 1);
    req.topics[0].replication_factor = 3;
    let r = create(&mut conn, &req);
    assert_eq!(r.error_code, INVALID_REPLICATION_FACTOR, "replication factor 3 on one broker");

    // Topic configs given at creation show up as topic overrides.
    let configured = harness::unique_topic("configured");
    let mut req = wire::create_topics_request(&configured, 1);
    req.topics[0].configs = vec![CreatableTopicConfig::default().with_name(wire::s("retention.ms")).with_value(Some(wire::s("123456")))];
    let r = create(&mut conn, &req);
    assert_eq!(r.error_code, code::NONE, "{:?}", r.error_message);
    wire::wait_for_leaders(&mut conn, &configured, 1);
    let result = describe_configs(&mut conn, RESOURCE_TOPIC, &configured, Some(&["retention.ms"]));
    assert_eq!(config_value(&result, "retention.ms"), Some(("123456".into(), SOURCE_DYNAMIC_TOPIC_CONFIG)));
    let mut req = wire::create_topics_request(&harness::unique_topic("bad-config"), 1);
    req.topics[0].configs = vec![CreatableTopicConfig::default().with_name(wire::s("retention.ms")).with_value(Some(wire::s("soon")))];
    let r = create(&mut conn, &req);
    assert_eq!(r.error_code, INVALID_CONFIG, "retention.ms=soon");
}

/// Kafka auto-creates topics through Metadata (auto.create.topics.enable=true by
/// default), never through Produce.
#[test]
fn auto_create_through_metadata_only() {
    let broker = Broker::start();
    let mut conn = wire::connect(&broker.addr);
    let produced = harness::unique_topic("produce-unknown");
    let r = wire::produce(&mut conn, &produced, 0, wire::batch(&wire::sample_values("u", 1), wire::now_ms()));
    assert_eq!(r.error_code, code::UNKNOWN_TOPIC_OR_PARTITION, "produce to an unknown topic");
    let all = conn.call(&wire::metadata_request(None, false), wire::METADATA_V).expect("Metadata");
    assert!(!all.topics.iter().any(|t| wire::name_of(&t.name) == Some(produced.as_str())), "Produce auto-created a topic");

    let auto = harness::unique_topic("auto");
    let resp = conn.call(&wire::metadata_request(Some(&[&auto]), true), wire::METADATA_V).expect("Metadata auto-create");
    let t = resp.topics.iter().find(|t| wire::name_of(&t.name) == Some(auto.as_str())).expect("topic answered");
    assert!(
        [code::NONE, code::LEADER_NOT_AVAILABLE, code::UNKNOWN_TOPIC_OR_PARTITION].contains(&t.error_code),
        "first Metadata for an auto-created topic: error {}",
        t.error_code
    );
    wire::wait_for_leaders(&mut conn, &auto, 1);
    let r = wire::produce(&mut conn, &auto, 0, wire::batch(&wire::sample_values("auto", 2), wire::now_ms()));
    assert_eq!((r.error_code, r.base_offset), (code::NONE, 0), "produce to the auto-created topic");
}

/// KIP-74: the first batch is returned even when it is larger than the fetch limits,
/// so a consumer always makes progress.
#[test]
fn fetch_returns_a_first_batch_larger_than_max_bytes() {
    let broker = Broker::start();
    let topic = harness::unique_topic("big-batch");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let values = vec![(None, Some(vec![b'b'; 10_000]))];
    wire::produce(&mut conn, &topic, 0, wire::batch(&values, wire::now_ms()));
    wire::produce(&mut conn, &topic, 0, wire::batch(&wire::sample_values("small", 2), wire::now_ms()));
    let mut req = wire::fetch_request(&topic, 0, 0, 0, 1).with_max_bytes(100);
    req.topics[0].partitions[0].partition_max_bytes = 100;
    let resp = conn.call(&req, wire::FETCH_V).expect("Fetch");
    let data = &resp.responses[0].partitions[0];
    assert_eq!(data.error_code, code::NONE);
    let batches = wire::decode_fetched(data.records.as_ref().expect("records"));
    assert_eq!(batches.len(), 1, "exactly the first (oversized) batch, whole");
    assert_eq!(wire::key_values(&batches[0].records), values);
}

/// The broker's `fetch.max.bytes` caps what a fetch gets, however much it asks for
/// (Kafka's `min(request max_bytes, fetch.max.bytes)`): whole batches up to the cap. A
/// fetch waiting for more bytes than that waits for the cap only.
#[test]
fn fetch_gets_no_more_than_the_brokers_fetch_max_bytes() {
    let capped = Broker::start_with(&["--set", "fetch.max.bytes=1024"]);
    let unlimited = Broker::start();
    for broker in [&capped, &unlimited] {
        let topic = harness::unique_topic("fetch-cap");
        wire::create_topic(&broker.addr, &topic, 1);
        let mut conn = wire::connect(&broker.addr);
        // Batches of 256 bytes (61 of header, 9 of record framing, a 186-byte value), so
        // that four of them fill the cap exactly.
        for i in 0..10 {
            let values = vec![(None, Some(vec![b'0' + i; 186]))];
            wire::produce(&mut conn, &topic, 0, wire::batch(&values, wire::now_ms()));
        }
        // Asks for a megabyte; of the capped broker, waits up to a minute for all of it.
        let (max_wait_ms, min_bytes) = if std::ptr::eq(broker, &capped) { (60_000, 1 << 20) } else { (0, 1) };
        let mut req = wire::fetch_request(&topic, 0, 0, max_wait_ms, min_bytes).with_max_bytes(1 << 20);
        req.topics[0].partitions[0].partition_max_bytes = 1 << 20;
        let asked = Instant::now();
        let resp = conn.call(&req, wire::FETCH_V).expect("Fetch");
        let data = &resp.responses[0].partitions[0];
        assert_eq!(data.error_code, code::NONE);
        let records = data.records.as_ref().expect("records");
        let batches = wire::decode_fetched(records);
        if std::ptr::eq(broker, &capped) {
            assert_eq!((records.len(), batches.len()), (1024, 4), "fetch.max.bytes=1024: four 256-byte batches");
            assert!(asked.elapsed() < Duration::from_secs(10), "answered once the cap was filled");
        } else {
            assert_eq!(batches.len(), 10, "all 10 batches under the default fetch.max.bytes (55 MiB)");
        }
    }
}

/// A fetch waiting for `min_bytes` counts what a partition holds up to its byte limit,
/// as Kafka's `DelayedFetch`, not the whole batches that fit: when more is stored than
/// the limit lets through, it is answered at once with the batches that fit, even though
/// they come to less than `min_bytes`. With less stored, it still waits.
#[test]
fn a_fetch_whose_byte_limit_holds_back_stored_batches_is_not_kept_waiting() {
    let broker = Broker::start();
    let topic = harness::unique_topic("fetch-min-bytes");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    // Batches of 300 bytes (61 of header, 9 of record framing, a 230-byte value): three
    // fit in 1,000 bytes, a fourth does not.
    for i in 0..10 {
        wire::produce(&mut conn, &topic, 0, wire::batch(&[(None, Some(vec![b'0' + i; 230]))], wire::now_ms()));
    }
    let fetch = |conn: &mut wire::Conn, offset: i64, max_wait_ms: i32| {
        let mut req = wire::fetch_request(&topic, 0, offset, max_wait_ms, 1000).with_max_bytes(1000);
        req.topics[0].partitions[0].partition_max_bytes = 1000;
        let asked = Instant::now();
        let resp = conn.call(&req, wire::FETCH_V).expect("Fetch");
        let data = &resp.responses[0].partitions[0];
        assert_eq!(data.error_code, code::NONE);
        let records = data.records.as_ref().expect("records");
        (records.len(), wire::decode_fetched(records).len(), asked.elapsed())
    };
    let (bytes, batches, waited) = fetch(&mut conn, 0, 60_000);
    assert_eq!((bytes, batches), (900, 3), "the three batches that fit in 1,000 bytes");
    assert!(waited < Duration::from_secs(10), "answered at once, not after max_wait (took {waited:?})");
    // From offset 8, two batches (600 bytes) are all there is: the fetch waits them out.
    let (bytes, batches, waited) = fetch(&mut conn, 8, 1000);
    assert_eq!((bytes, batches), (600, 2));
    assert!(waited >= Duration::from_millis(900), "waited for min_bytes until max_wait (took {waited:?})");
}

/// `connections.max.idle.ms`: a connection without requests for that long is closed;
/// one that keeps sending them, even slower than that in total, stays open.
#[test]
fn a_connection_idle_for_connections_max_idle_ms_is_closed() {
    let broker = Broker::start_with(&["--set", "connections.max.idle.ms=1000"]);
    let mut busy = wire::connect(&broker.addr);
    let mut idle = wire::connect(&broker.addr);
    idle.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("ApiVersions");
    let last_request = Instant::now();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        busy.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("a connection in use stays open");
    }
    match idle.next_event(Duration::from_secs(10)) {
        wire::PeerEvent::Closed(_) => {}
        other => panic!("the idle connection was not closed: {other:?}"),
    }
    // The broker's clock started when it read the request, a little before ours.
    assert!(last_request.elapsed() >= Duration::from_millis(900), "closed no earlier than the idle limit");
    let default = Broker::start();
    let mut quiet = wire::connect(&default.addr);
    quiet.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("ApiVersions");
    std::thread::sleep(Duration::from_millis(1500));
    quiet.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("open after 1.5 s under the default 10 minutes");
}

#[test]
fn produce_with_acks_all_on_a_single_node() {
    let broker = Broker::start();
    let topic = harness::unique_topic("acks-all");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let values = wire::sample_values("all", 3);
    let resp = conn
        .call(&wire::produce_request(&topic, 0, wire::batch(&values, wire::now_ms()), -1), wire::PRODUCE_V)
        .expect("Produce acks=all");
    let p = wire::produce_partition_response(&resp);
    assert_eq!((p.error_code, p.base_offset), (code::NONE, 0), "{:?}", p.error_message);
    assert_eq!(p.log_append_time_ms, -1, "CreateTime topic: log_append_time is -1");
    assert_eq!(p.log_start_offset, 0, "log start offset");
    assert_eq!(wire::read_all(&mut conn, &topic, 0), values);
}

#[test]
fn offset_for_leader_epoch_gives_the_end_of_the_epoch() {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    use kafka_protocol::messages::OffsetForLeaderEpochRequest;

    let broker = Broker::start();
    let topic = harness::unique_topic("epochs");
    wire::create_topic(&broker.addr, &topic, 1);
    let mut conn = wire::connect(&broker.addr);
    let r = wire::produce(&mut conn, &topic, 0, wire::batch(&wire::sample_values("e", 5), wire::now_ms()));
    assert_eq!(r.error_code, code::NONE);

    let ask = |conn: &mut wire::Conn, epoch: i32| {
        let mut partition = OffsetForLeaderPartition::default();
        partition.partition = 0;
        partition.current_leader_epoch = -1;
        partition.leader_epoch = epoch;
        let mut entry = OffsetForLeaderTopic::default();
        entry.topic = kafka_protocol::messages::TopicName(kafka_protocol::protocol::StrBytes::from_string(topic.clone()));
        entry.partitions = vec![partition];
        let mut request = OffsetForLeaderEpochRequest::default();
        request.replica_id = kafka_protocol::messages::BrokerId(-1);
        request.topics = vec![entry];
        let response = conn.call(&request, 4).expect("OffsetForLeaderEpoch v4");
        let p = &response.topics[0].partitions[0];
        (p.error_code, p.leader_epoch, p.end_offset)
    };
    // The only epoch so far is 0 and it is the latest: it ends at the log end.
    assert_eq!(ask(&mut conn, 0), (code::NONE, 0, 5));
    // An epoch the log never had, above the latest: undefined (-1, -1), as Kafka answers.
    assert_eq!(ask(&mut conn, 7), (code::NONE, -1, -1));
}
