//! A small raw-TCP Kafka client for wire-level tests.
//!
//! Requests are built with the `kafka-protocol` crate (a [`RequestHeader`] at the header
//! version [`ApiKey::request_header_version`] names, then the body), framed with a 4-byte
//! big-endian length prefix and written to a plain [`TcpStream`]. One length-prefixed
//! response is read back and decoded with [`ResponseHeader`] plus the body's
//! [`Decodable`]; a response that leaves bytes undecoded is an error, so a broker that
//! sends a body of the wrong shape (or a header of the wrong version) is caught.
//!
//! Every read and write is bounded by a socket timeout, so a broker that never answers
//! fails the test instead of hanging it. Nothing here knows about the harness: it takes
//! an address.
#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// How long any single read or write may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest response frame this client accepts (a bound, not a Kafka limit).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Versions the tests speak unless a test is about a specific version. Each is inside
/// the range `spool-protocol` declares and is one that current clients negotiate.
pub const PRODUCE_V: i16 = 9;
pub const FETCH_V: i16 = 12;
pub const LIST_OFFSETS_V: i16 = 8;
pub const METADATA_V: i16 = 12;
pub const API_VERSIONS_V: i16 = 3;
pub const CREATE_TOPICS_V: i16 = 5;
pub const INIT_PRODUCER_ID_V: i16 = 4;
pub const DESCRIBE_CONFIGS_V: i16 = 4;
pub const INCREMENTAL_ALTER_CONFIGS_V: i16 = 1;
pub const CREATE_PARTITIONS_V: i16 = 3;
pub const DESCRIBE_CLUSTER_V: i16 = 1;

/// Kafka error codes the tests check.
pub mod code {
    pub const NONE: i16 = 0;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_RECORD: i16 = 87;
}

/// Why a call did not produce a decoded response.
#[derive(Debug)]
pub enum WireError {
    /// The broker closed the connection (EOF or reset) before a whole response arrived.
    Closed(String),
    /// A read or write timed out.
    Timeout(String),
    /// Any other socket error.
    Io(io::Error),
    /// The response frame did not decode as the expected header and body.
    Decode(String),
    /// The response carried another correlation id than the request.
    Correlation { expected: i32, got: i32 },
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Closed(why) => write!(f, "connection closed by the broker ({why})"),
            WireError::Timeout(what) => write!(f, "timed out {what}"),
            WireError::Io(e) => write!(f, "socket error: {e}"),
            WireError::Decode(e) => write!(f, "response does not decode: {e}"),
            WireError::Correlation { expected, got } => {
                write!(f, "response correlation id {got}, expected {expected}")
            }
        }
    }
}

impl std::error::Error for WireError {}

fn classify(e: io::Error, what: &str) -> WireError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WireError::Timeout(what.to_string()),
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => WireError::Closed(format!("{what}: {e}")),
        _ => WireError::Io(e),
    }
}

/// Encodes a complete request frame: length prefix, header, body.
///
/// # Panics
/// When `kafka-protocol` cannot encode the body at `version` (a test bug).
pub fn encode_request<R: Request>(req: &R, version: i16, correlation_id: i32) -> Vec<u8> {
    let key = ApiKey::try_from(R::KEY).expect("request type has a known API key");
    encode_request_with(key, req, version, version, correlation_id)
}

/// Like [`encode_request`], but the body is encoded at `body_version` while the header
/// claims `header_api_version`: how the tests send versions the library cannot encode
/// (an unsupported version is only a number in the header to the broker).
pub fn encode_request_with<B: Encodable>(
    key: ApiKey,
    body: &B,
    header_api_version: i16,
    body_version: i16,
    correlation_id: i32,
) -> Vec<u8> {
    try_encode_request_with(key, body, header_api_version, body_version, correlation_id)
        .unwrap_or_else(|e| panic!("encode {key:?} body at v{body_version}: {e}"))
}

/// Like [`encode_request`], but `None` when `req` has content `version` cannot carry.
pub fn try_encode_request<R: Request>(req: &R, version: i16, correlation_id: i32) -> Option<Vec<u8>> {
    let key = ApiKey::try_from(R::KEY).expect("request type has a known API key");
    try_encode_request_with(key, req, version, version, correlation_id).ok()
}

fn try_encode_request_with<B: Encodable>(
    key: ApiKey,
    body: &B,
    header_api_version: i16,
    body_version: i16,
    correlation_id: i32,
) -> anyhow::Result<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(header_api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("spool-wire-test")));
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    header.encode(&mut buf, key.request_header_version(header_api_version))?;
    body.encode(&mut buf, body_version)?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.to_vec())
}

/// Decodes a response frame body (without length prefix) as `key` at `version`,
/// requiring that the correlation id matches and every byte is consumed.
///
/// # Errors
/// [`WireError::Decode`] or [`WireError::Correlation`].
pub fn decode_response<T: Decodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<T, WireError> {
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, key.response_header_version(version))
        .map_err(|e| WireError::Decode(format!("{key:?} v{version} response header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(WireError::Correlation { expected: correlation_id, got: header.correlation_id });
    }
    let body = T::decode(&mut buf, version)
        .map_err(|e| WireError::Decode(format!("{key:?} v{version} response body: {e}")))?;
    if buf.has_remaining() {
        return Err(WireError::Decode(format!(
            "{key:?} v{version} response has {} bytes left after the body: {:02x?}",
            buf.remaining(),
            &buf[..buf.remaining().min(32)]
        )));
    }
    Ok(body)
}

/// One connection to a broker.
pub struct Conn {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Conn {
    /// Connects with bounded read and write timeouts.
    ///
    /// # Errors
    /// The socket error when the broker does not accept.
    pub fn connect(addr: &str) -> io::Result<Conn> {
        Conn::over(TcpStream::connect(addr)?)
    }

    /// Connects to an IPv4 `addr` from the local address `source` (any of 127.0.0.0/8
    /// reaches a broker on loopback), so a test can be more than one client address.
    ///
    /// # Errors
    /// The socket error when the source cannot be bound or the broker does not accept.
    pub fn connect_from(addr: &str, source: std::net::Ipv4Addr) -> io::Result<Conn> {
        use rustix::net::{bind, connect, socket, AddressFamily, SocketType};
        let std::net::SocketAddr::V4(target) = addr.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))? else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} is not an IPv4 address")));
        };
        let socket = socket(AddressFamily::INET, SocketType::STREAM, None)?;
        bind(&socket, &std::net::SocketAddrV4::new(source, 0))?;
        connect(&socket, &target)?;
        Conn::over(TcpStream::from(socket))
    }

    fn over(stream: TcpStream) -> io::Result<Conn> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, next_correlation_id: 1 })
    }

    /// Changes the read timeout (e.g. longer for a long-poll fetch).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).expect("set read timeout");
    }

    /// A fresh correlation id.
    pub fn next_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id += 1;
        id
    }

    /// Sends `req` at `version` and returns its correlation id, without reading.
    ///
    /// # Errors
    /// The socket error, classified.
    pub fn send<R: Request>(&mut self, req: &R, version: i16) -> Result<i32, WireError> {
        let id = self.next_id();
        let frame = encode_request(req, version, id);
        self.send_raw(&frame)?;
        Ok(id)
    }

    /// Writes bytes as they are.
    ///
    /// # Errors
    /// The socket error, classified.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.stream.write_all(bytes).map_err(|e| classify(e, "writing"))?;
        self.stream.flush().map_err(|e| classify(e, "flushing"))
    }

    /// Closes the write half (the broker sees EOF after what was sent).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads one length-prefixed frame and returns its body (without the prefix).
    ///
    /// # Errors
    /// [`WireError::Closed`] on EOF, [`WireError::Timeout`] when nothing arrives in time,
    /// [`WireError::Decode`] when the prefix is negative or above [`MAX_RESPONSE_BYTES`].
    pub fn recv_frame(&mut self) -> Result<Bytes, WireError> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).map_err(|e| classify(e, "reading a length prefix"))?;
        let size = i32::from_be_bytes(len);
        if size < 0 || size as usize > MAX_RESPONSE_BYTES {
            return Err(WireError::Decode(format!("response length prefix {size}")));
        }
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body).map_err(|e| classify(e, "reading a response body"))?;
        Ok(Bytes::from(body))
    }

    /// Reads the response to the request with `correlation_id` (`key` at `version`).
    ///
    /// # Errors
    /// See [`Conn::recv_frame`] and [`decode_response`].
    pub fn recv<T: Decodable>(&mut self, key: ApiKey, version: i16, correlation_id: i32) -> Result<T, WireError> {
        let frame = self.recv_frame()?;
        decode_response(key, version, correlation_id, frame)
    }

    /// Sends `req` at `version` and reads its response.
    ///
    /// # Errors
    /// See [`Conn::send`] and [`Conn::recv`].
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, WireError> {
        let key = ApiKey::try_from(R::KEY).expect("request type has a known API key");
        let id = self.send(req, version)?;
        self.recv(key, version, id)
    }

    /// What the broker does next on this connection, waiting at most `within`.
    pub fn next_event(&mut self, within: Duration) -> PeerEvent {
        let _ = self.stream.set_read_timeout(Some(within));
        let event = match self.recv_frame() {
            Ok(frame) => PeerEvent::Frame(frame),
            Err(WireError::Closed(why)) => PeerEvent::Closed(why),
            Err(WireError::Timeout(_)) => PeerEvent::Silent,
            Err(WireError::Io(e)) => PeerEvent::Closed(format!("socket error: {e}")),
            Err(e) => PeerEvent::Garbled(e.to_string()),
        };
        let _ = self.stream.set_read_timeout(Some(IO_TIMEOUT));
        event
    }
}

/// What a broker did after a request, as seen from the client.
#[derive(Debug)]
pub enum PeerEvent {
    /// A whole response frame arrived.
    Frame(Bytes),
    /// The broker closed (or reset) the connection.
    Closed(String),
    /// Nothing happened within the wait.
    Silent,
    /// Bytes arrived that are not a sane frame.
    Garbled(String),
}

/// The correlation id at the front of a response frame, if it has four bytes.
pub fn frame_correlation_id(frame: &[u8]) -> Option<i32> {
    (frame.len() >= 4).then(|| i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

// ---------------------------------------------------------------------------------
// Record batches
// ---------------------------------------------------------------------------------

/// A record as the tests compare it: key and value.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Builds records for one batch. `sequence` is `base_sequence + i`, so that
/// `offset - sequence` is constant and the encoder keeps them in one batch.
pub fn records(
    values: &[KeyValue],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    timestamp_ms: i64,
) -> Vec<Record> {
    values
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp: timestamp_ms,
            key: key.clone().map(Bytes::from),
            value: value.clone().map(Bytes::from),
            headers: Default::default(),
        })
        .collect()
}

/// Encodes one uncompressed v2 batch of `values` (no producer id), all stamped `timestamp_ms`.
pub fn batch(values: &[KeyValue], timestamp_ms: i64) -> Bytes {
    encode_records(&records(values, -1, -1, 0, timestamp_ms))
}

/// Encodes one uncompressed v2 batch from an idempotent producer.
pub fn idempotent_batch(values: &[KeyValue], producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Bytes {
    encode_records(&records(values, producer_id, producer_epoch, base_sequence, now_ms()))
}

/// Encodes records (v2, no compression) and checks they formed exactly one batch.
pub fn encode_records(records: &[Record]) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
        .expect("encode record batch");
    let bytes = buf.freeze();
    let batches = RecordBatchDecoder::decode_batch_info(&mut bytes.clone()).expect("re-read batch headers");
    assert_eq!(batches.len(), 1, "test records were split into {} batches", batches.len());
    bytes
}

/// `count` distinct small records, tagged with `tag` so data from different tests
/// never look alike.
pub fn sample_values(tag: &str, count: usize) -> Vec<KeyValue> {
    (0..count)
        .map(|i| (Some(format!("key-{i}").into_bytes()), Some(format!("{tag}-value-{i}").into_bytes())))
        .collect()
}

/// A legacy (magic 1) message set holding one message, as pre-0.11 producers sent.
/// Layout: offset i64, size i32, crc u32 (CRC-32/IEEE of what follows), magic i8,
/// attributes i8, timestamp i64, key bytes (i32 length), value bytes (i32 length).
pub fn legacy_message_set(magic: i8, key: &[u8], value: &[u8]) -> Bytes {
    let mut message = Vec::new();
    message.push(magic as u8);
    message.push(0);
    if magic >= 1 {
        message.extend_from_slice(&now_ms().to_be_bytes());
    }
    message.extend_from_slice(&(key.len() as i32).to_be_bytes());
    message.extend_from_slice(key);
    message.extend_from_slice(&(value.len() as i32).to_be_bytes());
    message.extend_from_slice(value);
    let crc = crc32_ieee(&message);
    let mut out = Vec::new();
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((message.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&message);
    Bytes::from(out)
}

fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A batch as read back from a Fetch: header facts plus its records.
#[derive(Debug, Clone)]
pub struct FetchedBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub records: Vec<Record>,
}

/// Splits fetched record bytes into batches and decodes each. A trailing partial batch
/// (allowed by Kafka when a fetch hits its byte limit) is ignored.
///
/// # Panics
/// When a complete batch does not decode.
pub fn decode_fetched(records: &Bytes) -> Vec<FetchedBatch> {
    let mut out = Vec::new();
    let mut rest = records.clone();
    while rest.len() >= 12 {
        let base_offset = i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
        let batch_len = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        assert!(batch_len > 0, "fetched batch with length {batch_len}");
        let total = 12 + batch_len as usize;
        if rest.len() < total {
            break;
        }
        let mut one = rest.split_to(total);
        let last_offset_delta = if total >= 27 { i32::from_be_bytes(one[23..27].try_into().expect("4 bytes")) } else { 0 };
        let set = RecordBatchDecoder::decode(&mut one)
            .unwrap_or_else(|e| panic!("fetched batch at base offset {base_offset} does not decode: {e}"));
        out.push(FetchedBatch { base_offset, last_offset: base_offset + last_offset_delta as i64, records: set.records });
    }
    out
}

/// Keys and values of records, for comparison.
pub fn key_values(records: &[Record]) -> Vec<KeyValue> {
    records
        .iter()
        .map(|r| (r.key.as_ref().map(|b| b.to_vec()), r.value.as_ref().map(|b| b.to_vec())))
        .collect()
}

// ---------------------------------------------------------------------------------
// Request builders and one-call helpers
// ---------------------------------------------------------------------------------

/// A topic name from a response, as text.
pub fn name_of(name: &Option<TopicName>) -> Option<&str> {
    name.as_ref().map(|n| n.0.as_str())
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// An ApiVersions request with client software name and version (used from v3).
pub fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s("spool-wire-test"))
        .with_client_software_version(s("0.1.0"))
}

/// A Metadata request for `topics` (`None`: every topic).
pub fn metadata_request(topics: Option<&[&str]>, allow_auto_topic_creation: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect()
        }))
        .with_allow_auto_topic_creation(allow_auto_topic_creation)
}

/// A CreateTopics request for one topic.
pub fn create_topics_request(name: &str, partitions: i32) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
        .with_timeout_ms(10_000)
}

/// A Produce request carrying `records` for one partition.
pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

/// A ListOffsets request for one partition at `timestamp` (-1 latest, -2 earliest).
pub fn list_offsets_request(topic: &str, partition: i32, timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp)])])
}

/// A Fetch request (topic names, no session) for one partition.
pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 * 1024 * 1024)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
            FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(10 * 1024 * 1024),
        ])])
}

/// Opens a connection or panics with the address.
pub fn connect(addr: &str) -> Conn {
    Conn::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// ApiVersions at [`API_VERSIONS_V`] on a fresh connection.
///
/// # Errors
/// Whatever the call returned.
pub fn api_versions(addr: &str) -> Result<ApiVersionsResponse, WireError> {
    let mut conn = Conn::connect(addr).map_err(WireError::Io)?;
    conn.call(&api_versions_request(), API_VERSIONS_V)
}

/// Creates a topic and waits (bounded) until Metadata shows a leader for every partition.
///
/// # Panics
/// When creation fails or the partitions get no leader within 15 s.
pub fn create_topic(addr: &str, name: &str, partitions: i32) {
    let mut conn = connect(addr);
    let resp = conn.call(&create_topics_request(name, partitions), CREATE_TOPICS_V).expect("CreateTopics call");
    let result = resp.topics.first().expect("CreateTopics answers the topic");
    assert_eq!(result.error_code, code::NONE, "CreateTopics {name}: {:?}", result.error_message);
    wait_for_leaders(&mut conn, name, partitions);
}

/// Waits (bounded by 15 s) until Metadata shows `partitions` partitions of `name`, each with a leader.
pub fn wait_for_leaders(conn: &mut Conn, name: &str, partitions: i32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        let md = conn.call(&metadata_request(Some(&[name]), false), METADATA_V).expect("Metadata call");
        if let Some(t) = md.topics.iter().find(|t| name_of(&t.name) == Some(name)) {
            let ready = t.error_code == 0
                && t.partitions.len() == partitions as usize
                && t.partitions.iter().all(|p| p.error_code == 0 && p.leader_id.0 >= 0);
            if ready {
                return;
            }
            last = format!("{t:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("topic {name} has no leader for all {partitions} partitions after 15 s; last metadata: {last}");
}

/// The single partition response of a one-partition Produce.
pub fn produce_partition_response(resp: &ProduceResponse) -> &PartitionProduceResponse {
    let topic = resp.responses.first().expect("Produce response names the topic");
    topic.partition_responses.first().expect("Produce response names the partition")
}

/// Produces `records` with acks=1 on `conn` and returns the partition's response.
///
/// # Panics
/// When the call itself fails (not when the partition has an error).
pub fn produce(conn: &mut Conn, topic: &str, partition: i32, records: Bytes) -> PartitionProduceResponse {
    let resp = conn
        .call(&produce_request(topic, partition, records, 1), PRODUCE_V)
        .unwrap_or_else(|e| panic!("Produce to {topic}-{partition}: {e}"));
    produce_partition_response(&resp).clone()
}

/// ListOffsets for one partition; returns (error code, offset, timestamp).
pub fn list_offset(conn: &mut Conn, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
    let resp = conn
        .call(&list_offsets_request(topic, partition, timestamp), LIST_OFFSETS_V)
        .unwrap_or_else(|e| panic!("ListOffsets {topic}-{partition} at {timestamp}: {e}"));
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .expect("ListOffsets answers the partition");
    (p.error_code, p.offset, p.timestamp)
}

/// The latest offset (next offset to be written) of a partition, asserting no error.
pub fn latest_offset(conn: &mut Conn, topic: &str, partition: i32) -> i64 {
    let (error, offset, _) = list_offset(conn, topic, partition, -1);
    assert_eq!(error, code::NONE, "ListOffsets latest of {topic}-{partition}");
    offset
}

/// One Fetch for one partition; returns the partition's data.
pub fn fetch(conn: &mut Conn, topic: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> PartitionData {
    let resp = conn
        .call(&fetch_request(topic, partition, offset, max_wait_ms, min_bytes), FETCH_V)
        .unwrap_or_else(|e| panic!("Fetch {topic}-{partition} at {offset}: {e}"));
    assert_eq!(resp.error_code, code::NONE, "Fetch top-level error");
    resp.responses
        .into_iter()
        .next()
        .and_then(|t| t.partitions.into_iter().next())
        .expect("Fetch answers the partition")
}

/// Reads every record of a partition from offset 0 up to the high watermark.
///
/// # Panics
/// When a fetch errs or makes no progress.
pub fn read_all(conn: &mut Conn, topic: &str, partition: i32) -> Vec<KeyValue> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    for _ in 0..1000 {
        let data = fetch(conn, topic, partition, offset, 0, 1);
        assert_eq!(data.error_code, code::NONE, "Fetch {topic}-{partition} at {offset}");
        if offset >= data.high_watermark {
            return out;
        }
        let batches = decode_fetched(data.records.as_ref().unwrap_or(&Bytes::new()));
        assert!(!batches.is_empty(), "Fetch at {offset} below high watermark {} returned no batch", data.high_watermark);
        for b in batches {
            for r in &b.records {
                if r.offset >= offset {
                    out.extend(key_values(std::slice::from_ref(r)));
                }
            }
            offset = offset.max(b.last_offset + 1);
        }
    }
    panic!("read_all of {topic}-{partition} did not reach the high watermark");
}
