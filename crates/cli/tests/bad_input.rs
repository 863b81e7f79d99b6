//! Bad input on the wire: garbage, broken frames, unsupported keys and versions,
//! corrupt or oversized batches, invalid names, truncated bodies, and requests of every
//! API and version, and SASL exchanges, with random edits.
//!
//! Every test first produces known records, then sends its bad input, then checks that
//! the broker survived it: the process still runs, a fresh connection gets a correct
//! ApiVersions and Metadata answer, and the records produced before read back unchanged
//! (same values, same latest offset).

mod harness;
mod wire;

use std::time::Duration;

use bytes::Bytes;
use harness::Broker;
use kafka_protocol::messages::*;
use wire::{code, Conn, PeerEvent};

/// How long a broker gets to answer or close after a complete bad request.
const REACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Records produced before the bad input, to check afterwards.
struct Baseline {
    topic: String,
    values: Vec<wire::KeyValue>,
}

/// Creates a one-partition topic and produces five records to it.
fn baseline(broker: &Broker, prefix: &str) -> Baseline {
    let topic = harness::unique_topic(prefix);
    wire::create_topic(&broker.addr, &topic, 1);
    let values = wire::sample_values(&topic, 5);
    let mut conn = wire::connect(&broker.addr);
    let resp = wire::produce(&mut conn, &topic, 0, wire::batch(&values, wire::now_ms()));
    assert_eq!(resp.error_code, code::NONE, "baseline produce: {:?}", resp.error_message);
    assert_eq!(resp.base_offset, 0, "baseline produce base offset");
    Baseline { topic, values }
}

/// The broker survived: process alive, ApiVersions and Metadata answer on a fresh
/// connection, the baseline records read back unchanged.
fn assert_healthy(broker: &mut Broker, base: &Baseline, after: &str) {
    std::thread::sleep(Duration::from_millis(100));
    assert!(broker.is_running(), "broker process died after {after}; log:\n{}", broker.log());
    let versions = wire::api_versions(&broker.addr)
        .unwrap_or_else(|e| panic!("ApiVersions after {after}: {e}; log:\n{}", broker.log()));
    assert_eq!(versions.error_code, code::NONE, "ApiVersions error after {after}");
    for key in [ApiKey::Produce, ApiKey::Fetch, ApiKey::Metadata, ApiKey::ApiVersions] {
        assert!(
            versions.api_keys.iter().any(|k| k.api_key == key as i16),
            "ApiVersions after {after} does not list {key:?}"
        );
    }
    let mut conn = wire::connect(&broker.addr);
    let md = conn
        .call(&wire::metadata_request(Some(&[&base.topic]), false), wire::METADATA_V)
        .unwrap_or_else(|e| panic!("Metadata after {after}: {e}"));
    let topic = md
        .topics
        .iter()
        .find(|t| wire::name_of(&t.name) == Some(base.topic.as_str()))
        .unwrap_or_else(|| panic!("Metadata after {after} does not answer for {}", base.topic));
    assert_eq!(topic.error_code, code::NONE, "Metadata topic error after {after}");
    assert_eq!(topic.partitions.len(), 1, "partition count after {after}");
    assert!(topic.partitions[0].leader_id.0 >= 0, "partition has no leader after {after}");
    assert!(!md.brokers.is_empty(), "Metadata lists no broker after {after}");
    assert_eq!(
        wire::latest_offset(&mut conn, &base.topic, 0),
        base.values.len() as i64,
        "latest offset changed after {after}"
    );
    assert_eq!(wire::read_all(&mut conn, &base.topic, 0), base.values, "baseline records changed after {after}");
}

/// Expects the broker to close the connection (not answer, not hang).
fn expect_closed(conn: &mut Conn, what: &str) {
    match conn.next_event(REACTION_TIMEOUT) {
        PeerEvent::Closed(_) => {}
        PeerEvent::Frame(frame) => panic!("{what}: expected the connection to be closed, got a {}-byte response", frame.len()),
        PeerEvent::Silent => panic!("{what}: connection neither closed nor answered within {REACTION_TIMEOUT:?}"),
        PeerEvent::Garbled(e) => panic!("{what}: expected the connection to be closed, got garbled bytes: {e}"),
    }
}

/// Expects the broker to close the connection or answer with `correlation_id`, within
/// the reaction timeout. Returns the frame if it answered.
fn expect_closed_or_answer(conn: &mut Conn, correlation_id: i32, what: &str) -> Option<Bytes> {
    match conn.next_event(REACTION_TIMEOUT) {
        PeerEvent::Closed(why) => {
            println!("{what}: connection closed ({why})");
            None
        }
        PeerEvent::Frame(frame) => {
            assert_eq!(
                wire::frame_correlation_id(&frame),
                Some(correlation_id),
                "{what}: response does not carry the request's correlation id"
            );
            println!("{what}: answered with a {}-byte response", frame.len());
            Some(frame)
        }
        PeerEvent::Silent => panic!("{what}: connection neither closed nor answered within {REACTION_TIMEOUT:?}"),
        PeerEvent::Garbled(e) => panic!("{what}: garbled reply: {e}"),
    }
}

/// splitmix64: a tiny deterministic generator so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn seed() -> u64 {
    std::env::var("SPOOL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| wire::now_ms() as u64 ^ u64::from(std::process::id()))
}

#[test]
fn random_garbage_leaves_broker_healthy() {
    let seed = seed();
    println!("random_garbage seed = {seed} (replay with SPOOL_TEST_SEED={seed})");
    let mut rng = Rng(seed);
    let mut broker = Broker::start();
    let base = baseline(&broker, "garbage");

    // Unframed garbage: whatever the first four bytes say, then hang up.
    for round in 0..24 {
        let len = 1 + rng.below(4096) as usize;
        let bytes = rng.bytes(len);
        let mut conn = wire::connect(&broker.addr);
        let _ = conn.send_raw(&bytes);
        if round % 2 == 0 {
            conn.shutdown_write();
        }
        drop(conn);
    }
    assert_healthy(&mut broker, &base, &format!("unframed garbage (seed {seed})"));

    // Framed garbage: a correct length prefix around random bytes. Kafka answers a
    // complete frame or closes the connection; it never leaves the client hanging.
    for round in 0..16_i32 {
        let len = 8 + rng.below(2048) as usize;
        let mut body = rng.bytes(len);
        // Keep the API key out of the valid range so the frame cannot be a real request.
        body[0] = 0x7f;
        body[4..8].copy_from_slice(&(round + 1000).to_be_bytes());
        let mut frame = (len as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        let mut conn = wire::connect(&broker.addr);
        conn.send_raw(&frame).expect("send framed garbage");
        expect_closed_or_answer(&mut conn, round + 1000, &format!("framed garbage round {round} (seed {seed})"));
    }
    assert_healthy(&mut broker, &base, &format!("framed garbage (seed {seed})"));

    // Garbage after a valid ApiVersions request on the same connection: the request is
    // answered, the garbage then ends the connection or is answered, never a hang.
    let mut conn = wire::connect(&broker.addr);
    let versions = conn.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("ApiVersions before garbage");
    assert_eq!(versions.error_code, code::NONE);
    let mut frame = 64i32.to_be_bytes().to_vec();
    let mut body = rng.bytes(64);
    body[0] = 0x7f;
    body[4..8].copy_from_slice(&4242i32.to_be_bytes());
    frame.extend_from_slice(&body);
    conn.send_raw(&frame).expect("send garbage after a request");
    expect_closed_or_answer(&mut conn, 4242, &format!("garbage after ApiVersions (seed {seed})"));
    assert_healthy(&mut broker, &base, &format!("garbage after a valid request (seed {seed})"));
}

#[test]
fn zero_length_frame_closes_connection() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "zero-frame");
    let mut conn = wire::connect(&broker.addr);
    conn.send_raw(&[0, 0, 0, 0]).expect("send zero-length frame");
    expect_closed(&mut conn, "zero-length frame");
    assert_healthy(&mut broker, &base, "a zero-length frame");

    // A frame too short to hold the fixed header prefix (key, version, correlation id).
    let mut conn = wire::connect(&broker.addr);
    conn.send_raw(&[0, 0, 0, 3, 0, 18, 0]).expect("send 3-byte frame");
    expect_closed(&mut conn, "3-byte frame");
    assert_healthy(&mut broker, &base, "a 3-byte frame");
}

#[test]
fn truncated_frame_then_close_leaves_broker_healthy() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "truncated-frame");
    // A real Produce frame cut in half, then EOF; and only a length prefix, then EOF.
    let full = wire::encode_request(
        &wire::produce_request(&base.topic, 0, wire::batch(&wire::sample_values("never", 3), wire::now_ms()), 1),
        wire::PRODUCE_V,
        1,
    );
    for cut in [2, 4, full.len() / 2, full.len() - 1] {
        let mut conn = wire::connect(&broker.addr);
        conn.send_raw(&full[..cut]).expect("send truncated frame");
        conn.shutdown_write();
        // The broker must not answer a request it never fully received; it may close.
        match conn.next_event(Duration::from_secs(2)) {
            PeerEvent::Frame(frame) => panic!("truncated frame ({cut} of {} bytes) got a {}-byte answer", full.len(), frame.len()),
            other => println!("truncated frame ({cut} of {} bytes): {other:?}", full.len()),
        }
        drop(conn);
    }
    assert_healthy(&mut broker, &base, "truncated frames followed by EOF");
}

#[test]
fn length_prefix_over_default_limit_closes_connection() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "huge-prefix");
    // Several at once, held open: a broker that allocated the announced 2 GiB each time
    // would run out of memory here.
    let mut conns = Vec::new();
    for _ in 0..8 {
        let mut conn = wire::connect(&broker.addr);
        let mut bytes = 0x7fff_ffffi32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 1024]);
        // The broker may already have closed, so a write error is fine.
        let _ = conn.send_raw(&bytes);
        conns.push(conn);
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        expect_closed(conn, &format!("length prefix 0x7fffffff (connection {i})"));
    }
    assert_healthy(&mut broker, &base, "length prefixes of 0x7fffffff");

    // A negative length prefix cannot be a frame either.
    let mut conn = wire::connect(&broker.addr);
    let _ = conn.send_raw(&(-1i32).to_be_bytes());
    expect_closed(&mut conn, "length prefix -1");
    let mut conn = wire::connect(&broker.addr);
    let _ = conn.send_raw(&i32::MIN.to_be_bytes());
    expect_closed(&mut conn, "length prefix i32::MIN");
    assert_healthy(&mut broker, &base, "negative length prefixes");

    // Just above 100 MiB (Kafka's default socket.request.max.bytes).
    let mut conn = wire::connect(&broker.addr);
    let _ = conn.send_raw(&(100_i32 * 1024 * 1024 + 1).to_be_bytes());
    expect_closed(&mut conn, "length prefix of 100 MiB + 1");
    assert_healthy(&mut broker, &base, "a length prefix of 100 MiB + 1");
}

#[test]
fn frame_over_configured_socket_request_max_bytes_closes_connection() {
    let mut broker = Broker::start_with(&["--set", "socket.request.max.bytes=1024"]);
    let base = baseline(&broker, "small-limit");
    // A well-formed Produce request of about 2 KiB.
    let values = vec![(None, Some(vec![b'x'; 1900]))];
    let frame = wire::encode_request(
        &wire::produce_request(&base.topic, 0, wire::batch(&values, wire::now_ms()), 1),
        wire::PRODUCE_V,
        1,
    );
    assert!(frame.len() > 1024 + 4 && frame.len() <= 2048 + 4, "test frame is {} bytes", frame.len());
    let mut conn = wire::connect(&broker.addr);
    let _ = conn.send_raw(&frame);
    expect_closed(&mut conn, &format!("{}-byte Produce frame over socket.request.max.bytes=1024", frame.len()));
    // A bare 2 KiB frame of zeros, too.
    let mut conn = wire::connect(&broker.addr);
    let mut bytes = 2048i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 2048]);
    let _ = conn.send_raw(&bytes);
    expect_closed(&mut conn, "2 KiB frame over socket.request.max.bytes=1024");
    assert_healthy(&mut broker, &base, "frames over socket.request.max.bytes=1024");
}

#[test]
fn unknown_api_key_is_refused_and_broker_survives() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "unknown-key");
    for (key, version) in [(999i16, 0i16), (-1, 0), (i16::MAX, 3), (18 + 1000, 0)] {
        let mut frame = Vec::new();
        let mut body = Vec::new();
        body.extend_from_slice(&key.to_be_bytes());
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&77i32.to_be_bytes());
        body.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
        body.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
        frame.extend_from_slice(&body);
        let mut conn = wire::connect(&broker.addr);
        conn.send_raw(&frame).expect("send unknown api key");
        expect_closed_or_answer(&mut conn, 77, &format!("api key {key} v{version}"));
    }
    assert_healthy(&mut broker, &base, "requests with unknown API keys");
}

/// Kafka answers an ApiVersions request at a version it does not know with
/// UNSUPPORTED_VERSION in a v0-shaped body (header v0) that lists at least the
/// ApiVersions range itself, so the client can retry lower on the same connection.
#[test]
fn api_versions_at_unsupported_version_answers_error_35_in_v0_body() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "apiversions-99");
    let advertised = wire::api_versions(&broker.addr).expect("ApiVersions v3");
    let max = advertised
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
        .expect("ApiVersions lists itself")
        .max_version;
    for version in [max + 1, 99, i16::MAX] {
        let mut conn = wire::connect(&broker.addr);
        let id = conn.next_id();
        // The library encodes at most v4; the body is v3-shaped, the header claims `version`.
        let frame = wire::encode_request_with(ApiKey::ApiVersions, &wire::api_versions_request(), version, 3, id);
        conn.send_raw(&frame).expect("send ApiVersions at an unsupported version");
        let resp: ApiVersionsResponse = conn
            .recv(ApiKey::ApiVersions, 0, id)
            .unwrap_or_else(|e| panic!("ApiVersions v{version}: expected a v0-shaped error response: {e}"));
        assert_eq!(resp.error_code, code::UNSUPPORTED_VERSION, "ApiVersions v{version} error code");
        let own = resp
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::ApiVersions as i16)
            .unwrap_or_else(|| panic!("ApiVersions v{version} error response does not list ApiVersions: {resp:?}"));
        assert_eq!(own.min_version, 0, "ApiVersions min version");
        assert!(own.max_version >= 3, "ApiVersions max version {} < 3", own.max_version);
        println!("ApiVersions v{version} error response lists {} api keys", resp.api_keys.len());

        // The client retries lower on the same connection, as librdkafka does.
        let resp = conn
            .call(&ApiVersionsRequest::default(), 0)
            .unwrap_or_else(|e| panic!("ApiVersions v0 after v{version} on the same connection: {e}"));
        assert_eq!(resp.error_code, code::NONE);
        assert!(resp.api_keys.iter().any(|k| k.api_key == ApiKey::Produce as i16));
    }
    assert_healthy(&mut broker, &base, "ApiVersions at unsupported versions");
}

#[test]
fn produce_at_unsupported_version_closes_connection() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "produce-v99");
    let values = wire::sample_values("unsupported-version", 2);
    // (claimed version, version the body is encoded at: same header flexibility)
    for (claimed, body_version) in [(2i16, 3i16), (0, 3), (99, 9)] {
        let request = wire::produce_request(&base.topic, 0, wire::batch(&values, wire::now_ms()), 1);
        let mut conn = wire::connect(&broker.addr);
        let id = conn.next_id();
        let frame = wire::encode_request_with(ApiKey::Produce, &request, claimed, body_version, id);
        conn.send_raw(&frame).expect("send Produce at an unsupported version");
        expect_closed(&mut conn, &format!("Produce v{claimed}"));
    }
    assert_healthy(&mut broker, &base, "Produce at unsupported versions");
}

#[test]
fn corrupt_batch_is_rejected_with_corrupt_message_and_not_appended() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "corrupt");
    let good = wire::batch(&wire::sample_values("corrupt", 3), wire::now_ms());
    // Positions: the last value byte, an attribute byte, a byte of the stored CRC itself.
    for (pos, what) in [(good.len() - 1, "last record byte"), (22, "attributes"), (18, "stored crc")] {
        let mut bad = good.to_vec();
        bad[pos] ^= 0x01;
        let mut conn = wire::connect(&broker.addr);
        let resp = wire::produce(&mut conn, &base.topic, 0, Bytes::from(bad));
        assert_eq!(
            resp.error_code,
            code::CORRUPT_MESSAGE,
            "Produce with a flipped bit in the {what} (byte {pos}): {:?}",
            resp.error_message
        );
        assert_eq!(
            wire::latest_offset(&mut conn, &base.topic, 0),
            base.values.len() as i64,
            "a corrupt batch ({what}) moved the latest offset"
        );
    }
    assert_healthy(&mut broker, &base, "corrupt batches");
}

#[test]
fn batch_over_message_max_bytes_is_rejected_with_message_too_large() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "too-large");
    // Kafka's default message.max.bytes is 1048588; this batch is about 1.1 MB.
    let values = vec![(None, Some(vec![b'y'; 1_100_000]))];
    let mut conn = wire::connect(&broker.addr);
    let resp = wire::produce(&mut conn, &base.topic, 0, wire::batch(&values, wire::now_ms()));
    assert_eq!(resp.error_code, code::MESSAGE_TOO_LARGE, "1.1 MB batch: {:?}", resp.error_message);
    assert_eq!(wire::latest_offset(&mut conn, &base.topic, 0), base.values.len() as i64, "oversized batch was appended");
    assert_healthy(&mut broker, &base, "a batch over message.max.bytes");

    // With a lower configured limit, a 2 KB batch is too large as well.
    let mut broker = Broker::start_with(&["--set", "message.max.bytes=1024"]);
    let base = baseline(&broker, "too-large-set");
    let values = vec![(None, Some(vec![b'z'; 2000]))];
    let mut conn = wire::connect(&broker.addr);
    let resp = wire::produce(&mut conn, &base.topic, 0, wire::batch(&values, wire::now_ms()));
    assert_eq!(resp.error_code, code::MESSAGE_TOO_LARGE, "2 KB batch with message.max.bytes=1024: {:?}", resp.error_message);
    assert_eq!(wire::latest_offset(&mut conn, &base.topic, 0), base.values.len() as i64);
    assert_healthy(&mut broker, &base, "a batch over message.max.bytes=1024");
}

#[test]
fn legacy_magic_batches_are_rejected() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "legacy-magic");
    for magic in [0i8, 1] {
        let mut conn = wire::connect(&broker.addr);
        let resp = wire::produce(&mut conn, &base.topic, 0, wire::legacy_message_set(magic, b"k", b"legacy value"));
        // Kafka rejects non-v2 record sets in Produce v3+; the code is one of these.
        assert!(
            [code::UNSUPPORTED_FOR_MESSAGE_FORMAT, code::CORRUPT_MESSAGE, code::INVALID_RECORD].contains(&resp.error_code),
            "magic {magic} message set: error code {} ({:?}), expected 43, 2 or 87",
            resp.error_code,
            resp.error_message
        );
        assert_eq!(wire::latest_offset(&mut conn, &base.topic, 0), base.values.len() as i64, "magic {magic} set appended");
    }
    assert_healthy(&mut broker, &base, "magic 0/1 message sets");
}

#[test]
fn produce_to_missing_partition_is_unknown_topic_or_partition() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "missing-partition");
    let mut conn = wire::connect(&broker.addr);
    for partition in [99, 1, -1] {
        let resp = wire::produce(&mut conn, &base.topic, partition, wire::batch(&wire::sample_values("p", 1), wire::now_ms()));
        assert_eq!(resp.index, partition, "response names the partition asked for");
        assert_eq!(
            resp.error_code,
            code::UNKNOWN_TOPIC_OR_PARTITION,
            "produce to partition {partition} of a 1-partition topic: {:?}",
            resp.error_message
        );
    }
    assert_healthy(&mut broker, &base, "produce to missing partitions");
}

fn invalid_topic_names() -> Vec<String> {
    vec!["a/b".into(), ".".into(), "..".into(), "x".repeat(250), String::new(), "has space".into(), "star*".into()]
}

#[test]
fn create_topics_rejects_invalid_names() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "invalid-create");
    let mut conn = wire::connect(&broker.addr);
    for name in invalid_topic_names() {
        let resp = conn
            .call(&wire::create_topics_request(&name, 1), wire::CREATE_TOPICS_V)
            .unwrap_or_else(|e| panic!("CreateTopics {name:?}: {e}"));
        let result = resp.topics.first().unwrap_or_else(|| panic!("CreateTopics {name:?}: no topic result"));
        assert_eq!(result.name.as_str(), name.as_str(), "result names the topic");
        assert_eq!(
            result.error_code,
            code::INVALID_TOPIC_EXCEPTION,
            "CreateTopics {:?} ({} chars): {:?}",
            name,
            name.len(),
            result.error_message
        );
    }
    // The boundary: 249 characters of the legal alphabet is a valid name.
    let longest = format!("{}{}", base.topic, "a".repeat(249 - base.topic.len()));
    let resp = conn.call(&wire::create_topics_request(&longest, 1), wire::CREATE_TOPICS_V).expect("CreateTopics 249 chars");
    assert_eq!(resp.topics[0].error_code, code::NONE, "a 249-character name is valid: {:?}", resp.topics[0].error_message);

    let all = conn.call(&wire::metadata_request(None, false), wire::METADATA_V).expect("Metadata all topics");
    for name in invalid_topic_names() {
        assert!(
            !all.topics.iter().any(|t| wire::name_of(&t.name) == Some(name.as_str())),
            "invalid name {name:?} was created"
        );
    }
    assert_healthy(&mut broker, &base, "CreateTopics with invalid names");
}

#[test]
fn metadata_auto_create_does_not_create_invalid_names() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "invalid-metadata");
    let mut conn = wire::connect(&broker.addr);
    for name in invalid_topic_names() {
        let resp = conn
            .call(&wire::metadata_request(Some(&[&name]), true), wire::METADATA_V)
            .unwrap_or_else(|e| panic!("Metadata with auto-create for {name:?}: {e}"));
        let topic = resp
            .topics
            .iter()
            .find(|t| wire::name_of(&t.name) == Some(name.as_str()))
            .unwrap_or_else(|| panic!("Metadata does not answer for {name:?}"));
        assert_eq!(
            topic.error_code,
            code::INVALID_TOPIC_EXCEPTION,
            "Metadata auto-create {name:?}: topic error code"
        );
        assert!(topic.partitions.is_empty(), "invalid topic {name:?} has partitions");
    }
    let all = conn.call(&wire::metadata_request(None, false), wire::METADATA_V).expect("Metadata all topics");
    for name in invalid_topic_names() {
        assert!(
            !all.topics.iter().any(|t| wire::name_of(&t.name) == Some(name.as_str())),
            "invalid name {name:?} was auto-created"
        );
    }
    assert_healthy(&mut broker, &base, "Metadata auto-create with invalid names");
}

#[test]
fn request_body_truncated_mid_field_is_refused() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "truncated-body");
    let long_name = format!("{}-never-created-{}", base.topic, "n".repeat(60));
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("Metadata v12", wire::encode_request(&wire::metadata_request(Some(&[&long_name]), true), wire::METADATA_V, 5)),
        ("Metadata v1", wire::encode_request(&wire::metadata_request(Some(&[&long_name]), true), 1, 5)),
        ("CreateTopics v5", wire::encode_request(&wire::create_topics_request(&long_name, 1), wire::CREATE_TOPICS_V, 5)),
        (
            "Produce v9",
            wire::encode_request(
                &wire::produce_request(&base.topic, 0, wire::batch(&wire::sample_values("cut", 2), wire::now_ms()), 1),
                wire::PRODUCE_V,
                5,
            ),
        ),
    ];
    for (what, full) in requests {
        // Header decodes (key, version, correlation id, client id) and the body stops
        // inside a string or the record bytes: cut 20 bytes before the end, and re-frame.
        let cut = full.len() - 20;
        let mut frame = ((cut - 4) as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&full[4..cut]);
        let mut conn = wire::connect(&broker.addr);
        conn.send_raw(&frame).expect("send truncated body");
        if let Some(reply) = expect_closed_or_answer(&mut conn, 5, &format!("{what} truncated mid-field")) {
            println!("{what} truncated: reply {:02x?}", &reply[..reply.len().min(32)]);
        }
    }
    let mut conn = wire::connect(&broker.addr);
    let all = conn.call(&wire::metadata_request(None, false), wire::METADATA_V).expect("Metadata all topics");
    assert!(
        !all.topics.iter().any(|t| wire::name_of(&t.name) == Some(long_name.as_str())),
        "a truncated request created {long_name}"
    );
    assert_healthy(&mut broker, &base, "request bodies truncated mid-field");
}

/// A request of a few bytes whose array count claims billions of elements. A decoder
/// that reserves `count` elements before reading them asks the allocator for hundreds
/// of gigabytes, and a failed allocation aborts the whole process. Every element takes
/// at least one byte on the wire, so a count above the bytes left is malformed.
#[test]
fn tiny_request_with_huge_array_count_does_not_crash_broker() {
    let mut broker = Broker::start();
    let base = baseline(&broker, "huge-count");
    // (what, api key, version, header v2 (flexible)?, body bytes)
    let mut produce_v3 = Vec::new();
    produce_v3.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
    produce_v3.extend_from_slice(&1i16.to_be_bytes()); // acks
    produce_v3.extend_from_slice(&1000i32.to_be_bytes()); // timeout
    produce_v3.extend_from_slice(&i32::MAX.to_be_bytes()); // topic_data count
    let cases: Vec<(&str, i16, i16, bool, Vec<u8>)> = vec![
        ("Metadata v1, topics count i32::MAX", 3, 1, false, i32::MAX.to_be_bytes().to_vec()),
        ("Metadata v0, topics count 0x033c0c00", 3, 0, false, vec![0x03, 0x3c, 0x0c, 0x00, 0xb6]),
        ("Metadata v12, compact topics count 2^32-2", 3, 12, true, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ("Produce v3, topic_data count i32::MAX", 0, 3, false, produce_v3),
    ];
    for (what, key, version, flexible, body) in cases {
        let mut payload = Vec::new();
        payload.extend_from_slice(&key.to_be_bytes());
        payload.extend_from_slice(&version.to_be_bytes());
        payload.extend_from_slice(&99i32.to_be_bytes());
        payload.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
        if flexible {
            payload.push(0); // no tagged fields in the header
        }
        payload.extend_from_slice(&body);
        let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let mut conn = wire::connect(&broker.addr);
        conn.send_raw(&frame).expect("send request with a huge array count");
        expect_closed_or_answer(&mut conn, 99, what);
        // An aborting process closes its sockets before it is reaped: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        assert!(broker.is_running(), "broker died on a {}-byte request ({what}); log:\n{}", frame.len(), broker.log());
    }
    assert_healthy(&mut broker, &base, "tiny requests with huge array counts");
}

/// The requests mutated by [`mutated_requests_of_every_api_and_version_leave_broker_healthy`]:
/// for the APIs whose handlers go deepest, one request with real content (a topic that
/// exists, a group, a record batch), beside the empty default of every API. Nothing
/// here names the baseline topic, and nothing creates topics or partitions: a mutated
/// count could ask for tens of thousands of them.
fn mutation_templates(topic: &str, group: &str) -> Vec<Template> {
    use kafka_protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
    use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics};
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use wire::{s, topic_name};

    let group_id = GroupId(s(group));
    let records = wire::batch(&wire::sample_values("mutated", 3), wire::now_ms());
    vec![
        template(wire::produce_request(topic, 0, records, 1)),
        template(wire::fetch_request(topic, 0, 0, 0, 1)),
        template(wire::list_offsets_request(topic, 0, -1)),
        template(wire::metadata_request(Some(&[topic]), false)),
        template(
            OffsetCommitRequest::default()
                .with_group_id(group_id.clone())
                .with_generation_id_or_member_epoch(-1)
                .with_retention_time_ms(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default().with_name(topic_name(topic)).with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)
                        .with_committed_metadata(Some(s("meta"))),
                ])]),
        ),
        template(OffsetFetchRequest::default().with_group_id(group_id.clone()).with_topics(Some(vec![
            OffsetFetchRequestTopic::default().with_name(topic_name(topic)).with_partition_indexes(vec![0]),
        ]))),
        template(OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(group_id.clone())
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![0])]))])),
        template(FindCoordinatorRequest::default().with_key(s(group))),
        template(FindCoordinatorRequest::default().with_coordinator_keys(vec![s(group)])),
        template(
            JoinGroupRequest::default()
                .with_group_id(group_id.clone())
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0]))]),
        ),
        template(
            SyncGroupRequest::default()
                .with_group_id(group_id.clone())
                .with_generation_id(1)
                .with_member_id(s("member"))
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s("member"))
                    .with_assignment(Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))]),
        ),
        template(HeartbeatRequest::default().with_group_id(group_id.clone()).with_generation_id(1).with_member_id(s("member"))),
        template(DescribeGroupsRequest::default().with_groups(vec![group_id.clone()])),
        template(DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))
            .with_configuration_keys(Some(vec![s("retention.ms")]))])),
        template(IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default().with_resource_type(2).with_resource_name(s(topic)).with_configs(vec![
                AlterableConfig::default().with_name(s("retention.ms")).with_config_operation(0).with_value(Some(s("3600000"))),
            ]),
        ])),
        template(DeleteRecordsRequest::default().with_timeout_ms(5_000).with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(1)]),
        ])),
        template(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group_id)
                .with_member_id(s("mutated-member-0000000"))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(10_000)
                .with_subscribed_topic_names(Some(vec![topic_name(topic)]))
                .with_topic_partitions(Some(Vec::new())),
        ),
        template(SaslHandshakeRequest::default().with_mechanism(s("PLAIN"))),
        template(SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0user\0secret"))),
    ]
}

/// Frames a request at a version with a correlation id; `None` when the version cannot
/// carry its content.
type EncodeFrame = Box<dyn Fn(i16, i32) -> Option<Vec<u8>>>;

/// A request the test can encode at any version of its API.
struct Template {
    key: ApiKey,
    frame: EncodeFrame,
}

fn template<R: kafka_protocol::protocol::Request + 'static>(request: R) -> Template {
    let key = ApiKey::try_from(R::KEY).expect("a request type has a known API key");
    Template { key, frame: Box::new(move |version, id| wire::try_encode_request(&request, version, id)) }
}

/// The empty request of `key`, for the APIs the broker may announce.
fn default_template(key: ApiKey) -> Option<Template> {
    macro_rules! defaults {
        ($($name:ident => $request:ty),* $(,)?) => {
            match key {
                $(ApiKey::$name => Some(template(<$request>::default())),)*
                _ => None,
            }
        };
    }
    defaults!(
        Produce => ProduceRequest, Fetch => FetchRequest, ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest, OffsetCommit => OffsetCommitRequest, OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest, JoinGroup => JoinGroupRequest, Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest, SyncGroup => SyncGroupRequest, DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest, SaslHandshake => SaslHandshakeRequest, ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest, DeleteTopics => DeleteTopicsRequest, DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest, OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        DescribeConfigs => DescribeConfigsRequest, AlterConfigs => AlterConfigsRequest,
        DescribeLogDirs => DescribeLogDirsRequest, SaslAuthenticate => SaslAuthenticateRequest,
        CreatePartitions => CreatePartitionsRequest, DeleteGroups => DeleteGroupsRequest,
        ElectLeaders => ElectLeadersRequest, IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
        ListPartitionReassignments => ListPartitionReassignmentsRequest, OffsetDelete => OffsetDeleteRequest,
        DescribeClientQuotas => DescribeClientQuotasRequest, AlterClientQuotas => AlterClientQuotasRequest,
        DescribeQuorum => DescribeQuorumRequest, DescribeCluster => DescribeClusterRequest,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest, ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
    )
}

/// One to three random edits of `frame` after its length prefix, API key, version and
/// correlation id (bytes 0..12), with the length prefix fixed up afterwards.
fn mutate(frame: &[u8], rng: &mut Rng) -> Vec<u8> {
    const KEEP: usize = 12;
    let body = edit(&frame[KEEP..], rng);
    let mut out = ((KEEP - 4 + body.len()) as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame[4..KEEP]);
    out.extend_from_slice(&body);
    out
}

/// `bytes` with one to three random edits: bit flips, boundary values, cuts, insertions,
/// deletions.
fn edit(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut body = bytes.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = |rng: &mut Rng, len: usize| if len == 0 { 0 } else { rng.below(len as u64) as usize };
        match rng.below(8) {
            0 if !body.is_empty() => {
                let i = at(rng, body.len());
                body[i] ^= 1 << rng.below(8);
            }
            1 if !body.is_empty() => {
                let i = at(rng, body.len());
                body[i] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5) as usize];
            }
            2 if body.len() >= 2 => {
                let i = at(rng, body.len() - 1);
                let value: u16 = [0x0000, 0xffff, 0x7fff, 0x8000][rng.below(4) as usize];
                body[i..i + 2].copy_from_slice(&value.to_be_bytes());
            }
            3 if body.len() >= 4 => {
                let i = at(rng, body.len() - 3);
                let value: i32 = [0, -1, 1, i32::MAX, i32::MIN, 0x7fff_fffe][rng.below(6) as usize];
                body[i..i + 4].copy_from_slice(&value.to_be_bytes());
            }
            4 => {
                let keep = at(rng, body.len());
                body.truncate(keep);
            }
            5 => {
                let i = at(rng, body.len() + 1);
                let len = 1 + rng.below(16) as usize;
                let extra = rng.bytes(len);
                body.splice(i..i, extra);
            }
            6 if !body.is_empty() => {
                let i = at(rng, body.len());
                let end = (i + 1 + rng.below(16) as usize).min(body.len());
                body.drain(i..end);
            }
            _ => {
                let len = 1 + rng.below(64) as usize;
                let extra = rng.bytes(len);
                body.extend_from_slice(&extra);
            }
        }
    }
    body
}

/// Every API the broker announces, at every version, as a valid request that is then
/// mutated: bit flips, boundary values, cuts, insertions and deletions in the bytes after
/// the correlation id, inside a correct length prefix. The broker answers (with the
/// request's correlation id), closes the connection, or is still working on it; it never
/// panics, and it stays healthy. A failing run prints its seed; `SPOOL_TEST_SEED` replays it.
#[test]
fn mutated_requests_of_every_api_and_version_leave_broker_healthy() {
    // SPOOL_TEST_MUTATIONS runs more per template, for a longer search.
    let mutations_per_template: usize =
        std::env::var("SPOOL_TEST_MUTATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(16);
    let seed = seed();
    println!("mutated requests seed = {seed} (replay with SPOOL_TEST_SEED={seed})");
    let mut rng = Rng(seed);
    let mut broker = Broker::start();
    let base = baseline(&broker, "mutated-base");
    let target = harness::unique_topic("mutated-target");
    wire::create_topic(&broker.addr, &target, 2);
    let group = harness::unique_topic("mutated-group");
    let templates = mutation_templates(&target, &group);

    let versions = wire::api_versions(&broker.addr).expect("ApiVersions");
    let mut conn: Option<Conn> = None;
    let (mut sent, mut answered, mut closed, mut pending) = (0u32, 0u32, 0u32, 0u32);
    for api in &versions.api_keys {
        let Ok(key) = ApiKey::try_from(api.api_key) else { continue };
        let requests: Vec<&Template> = templates.iter().filter(|r| r.key == key).collect();
        let empty = default_template(key);
        assert!(empty.is_some(), "the broker announces {key:?}, which this test does not cover yet");
        let mut versions_mutated = 0;
        for version in api.min_version..=api.max_version {
            let correlation_id = 7_000_000 + i32::from(api.api_key) * 100 + i32::from(version);
            let frames: Vec<Vec<u8>> = requests
                .iter()
                .copied()
                .chain(empty.as_ref())
                .filter_map(|request| (request.frame)(version, correlation_id))
                .collect();
            // Versions older than the protocol library knows (Produce v0-2) cannot be
            // encoded here; the tests of legacy produce cover them.
            if frames.is_empty() {
                continue;
            }
            versions_mutated += 1;
            for frame in &frames {
                for _ in 0..mutations_per_template {
                    let what = format!("a mutated {key:?} v{version} (seed {seed})");
                    let mutated = mutate(frame, &mut rng);
                    let mut live = match conn.take() {
                        Some(live) => live,
                        None => wire::connect(&broker.addr),
                    };
                    sent += 1;
                    if live.send_raw(&mutated).is_err() {
                        closed += 1;
                        continue;
                    }
                    match live.next_event(Duration::from_millis(50)) {
                        PeerEvent::Frame(reply) => {
                            assert_eq!(
                                wire::frame_correlation_id(&reply),
                                Some(correlation_id),
                                "{what}: the reply carries another correlation id"
                            );
                            answered += 1;
                            conn = Some(live);
                        }
                        PeerEvent::Closed(_) => closed += 1,
                        // Still working on it (a long poll, a join), or silent by design
                        // (acks=0): the connection is dropped with the request in flight.
                        PeerEvent::Silent => pending += 1,
                        PeerEvent::Garbled(e) => panic!("{what}: garbled reply: {e}"),
                    }
                }
                assert!(broker.is_running(), "broker died after a mutated {key:?} v{version} (seed {seed}); log:\n{}", broker.log());
            }
        }
        assert!(versions_mutated > 0, "no version of {key:?} could be encoded");
    }
    println!("{sent} mutated requests: {answered} answered, {closed} closed the connection, {pending} still pending");
    assert!(answered > 0 && closed > 0, "mutations that neither answer nor close are not mutating much");
    assert_healthy(&mut broker, &base, &format!("mutated requests (seed {seed})"));
    let log = broker.log();
    assert!(!log.contains("panicked"), "the broker panicked on a mutated request (seed {seed}); log:\n{log}");
}

/// The SASL gate of a SASL_PLAINTEXT listener under mutated exchanges: handshakes of
/// both versions, SaslAuthenticate requests, the raw token that follows a v0 handshake,
/// and requests sent before authenticating, all with random edits. Each is answered
/// (with its correlation id) or ends the connection; none panics the broker. Afterwards
/// the gate still closes an unauthenticated Metadata request, and alice still signs in.
#[test]
fn mutated_sasl_exchanges_leave_the_gate_closed_and_the_broker_healthy() {
    const ROUNDS: usize = 1500;
    const TOKEN: &[u8] = b"\0alice\0alice-secret";
    let seed = seed();
    println!("mutated SASL seed = {seed} (replay with SPOOL_TEST_SEED={seed})");
    let mut rng = Rng(seed);
    let sasl_addr = format!("127.0.0.1:{}", harness::free_port());
    let jaas = "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
                org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";";
    let mut broker = Broker::start_with_extra_listeners(&format!("SASL_PLAINTEXT://{sasl_addr}"), &["--set", jaas]);
    let base = baseline(&broker, "mutated-sasl");

    let handshake = |version: i16, id: i32| {
        wire::encode_request(&SaslHandshakeRequest::default().with_mechanism(wire::s("PLAIN")), version, id)
    };
    let authenticate = |version: i16, id: i32, token: &[u8]| {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token));
        wire::encode_request(&request, version, id)
    };
    // A valid handshake, answered, before the mutated part of a round.
    let shake = |conn: &mut Conn, version: i16| -> bool {
        conn.send_raw(&handshake(version, 1)).is_ok() && matches!(conn.next_event(REACTION_TIMEOUT), PeerEvent::Frame(_))
    };
    let (mut answered, mut closed) = (0u32, 0u32);
    for round in 0..ROUNDS {
        let what = format!("SASL round {round} (seed {seed})");
        let mut conn = Conn::connect(&sasl_addr).unwrap_or_else(|e| panic!("{what}: connect: {e}"));
        let id = 100 + round as i32;
        let (bytes, checks_id) = match rng.below(5) {
            0 => (mutate(&handshake(rng.below(2) as i16, id), &mut rng), true),
            1 => {
                assert!(shake(&mut conn, 1), "{what}: a valid v1 handshake was not answered");
                (mutate(&authenticate(rng.below(3) as i16, id, TOKEN), &mut rng), true)
            }
            2 => {
                assert!(shake(&mut conn, 1), "{what}: a valid v1 handshake was not answered");
                (authenticate(rng.below(3) as i16, id, &edit(TOKEN, &mut rng)), true)
            }
            3 => {
                // After a v0 handshake the token comes as a bare length-prefixed frame.
                assert!(shake(&mut conn, 0), "{what}: a valid v0 handshake was not answered");
                let token = edit(TOKEN, &mut rng);
                let mut frame = (token.len() as i32).to_be_bytes().to_vec();
                frame.extend_from_slice(&token);
                (frame, false)
            }
            _ => {
                let request = wire::metadata_request(Some(&[base.topic.as_str()]), false);
                (mutate(&wire::encode_request(&request, 4 + rng.below(9) as i16, id), &mut rng), true)
            }
        };
        if conn.send_raw(&bytes).is_err() {
            closed += 1;
            continue;
        }
        match conn.next_event(Duration::from_millis(100)) {
            PeerEvent::Frame(reply) => {
                if checks_id {
                    assert_eq!(wire::frame_correlation_id(&reply), Some(id), "{what}: the reply carries another correlation id");
                }
                answered += 1;
            }
            PeerEvent::Closed(_) => closed += 1,
            PeerEvent::Silent => {}
            PeerEvent::Garbled(e) => panic!("{what}: garbled reply: {e}"),
        }
        if round % 100 == 99 {
            assert!(broker.is_running(), "broker died in {what}; log:\n{}", broker.log());
        }
    }
    println!("{ROUNDS} mutated SASL exchanges: {answered} answered, {closed} closed the connection");
    assert!(answered > 0 && closed > 0, "mutations that neither answer nor close are not mutating much");

    // The gate: Metadata before authenticating ends the connection ...
    let mut conn = wire::connect(&sasl_addr);
    conn.send_raw(&wire::encode_request(&wire::metadata_request(None, false), wire::METADATA_V, 1)).expect("send Metadata");
    expect_closed(&mut conn, "Metadata before SASL authentication");
    // ... and alice, with her password, gets in and is answered.
    let mut conn = wire::connect(&sasl_addr);
    assert!(shake(&mut conn, 1), "a valid v1 handshake after the mutations was not answered");
    let reply: SaslAuthenticateResponse = conn
        .call(&SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(TOKEN)), 2)
        .expect("SaslAuthenticate");
    assert_eq!(reply.error_code, code::NONE, "alice's authentication: {:?}", reply.error_message);
    let md = conn.call(&wire::metadata_request(Some(&[base.topic.as_str()]), false), wire::METADATA_V).expect("Metadata");
    assert_eq!(md.topics.len(), 1, "Metadata after authenticating");

    assert_healthy(&mut broker, &base, &format!("mutated SASL exchanges (seed {seed})"));
    let log = broker.log();
    assert!(!log.contains("panicked"), "the broker panicked in a SASL exchange (seed {seed}); log:\n{log}");
}
