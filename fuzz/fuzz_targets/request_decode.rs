//! Feeds arbitrary bytes through the broker's request-decoding path.
//!
//! The steps mirror `spool_broker::dispatch::handle` up to the handler call: split
//! length-prefixed frames (`socket.request.max.bytes` checked first), read the fixed
//! header prefix, refuse unknown keys and unsupported versions, decode the request
//! header and the body with `kafka-protocol`, and for Produce run the record-batch
//! views over every partition's records. None of it may panic, hang or allocate
//! beyond what the input can justify (libFuzzer's `-rss_limit_mb` catches the last).
//!
//! When the broker grows a pure decode function (frame in, header plus typed request
//! out, no `Broker` needed), call it here instead of repeating the steps.
#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use libfuzzer_sys::fuzz_target;
use spool_protocol::batch::{validate_record_set, Batches};
use spool_protocol::frame::take_frame;
use spool_protocol::header::{decode_request_header, peek_prefix};
use spool_protocol::versions::is_supported;

/// A small frame limit keeps each run fast; the logic is the same as at 100 MiB.
const MAX_FRAME_BYTES: usize = 1 << 20;
/// Kafka's default `message.max.bytes`.
const MAX_BATCH_BYTES: usize = 1_048_588;

fuzz_target!(|data: &[u8]| {
    // The input as a connection's byte stream: frames one after another.
    let mut stream = BytesMut::from(data);
    while let Ok(Some(frame)) = take_frame(&mut stream, MAX_FRAME_BYTES) {
        decode_request(frame.freeze());
    }
    // The input as one frame body (the framing already passed).
    decode_request(Bytes::copy_from_slice(data));
});

fn decode_request(mut frame: Bytes) {
    let Ok(prefix) = peek_prefix(&frame) else { return };
    let Ok(api_key) = ApiKey::try_from(prefix.api_key) else { return };
    let version = prefix.api_version;
    if !is_supported(api_key, version) {
        return;
    }
    let Ok(_header) = decode_request_header(&mut frame, api_key, version) else { return };

    macro_rules! body {
        ($request:ty) => {{
            let _ = <$request>::decode(&mut frame, version);
        }};
    }

    match api_key {
        ApiKey::Produce => {
            if let Ok(request) = ProduceRequest::decode(&mut frame, version) {
                for topic in &request.topic_data {
                    for partition in &topic.partition_data {
                        if let Some(records) = &partition.records {
                            let _ = validate_record_set(records, MAX_BATCH_BYTES);
                            for _batch in Batches::new(records) {}
                        }
                    }
                }
            }
        }
        ApiKey::Fetch => body!(FetchRequest),
        ApiKey::ListOffsets => body!(ListOffsetsRequest),
        ApiKey::Metadata => body!(MetadataRequest),
        ApiKey::ApiVersions => body!(ApiVersionsRequest),
        ApiKey::CreateTopics => body!(CreateTopicsRequest),
        ApiKey::DeleteTopics => body!(DeleteTopicsRequest),
        ApiKey::InitProducerId => body!(InitProducerIdRequest),
        ApiKey::DescribeConfigs => body!(DescribeConfigsRequest),
        ApiKey::AlterConfigs => body!(AlterConfigsRequest),
        ApiKey::IncrementalAlterConfigs => body!(IncrementalAlterConfigsRequest),
        ApiKey::CreatePartitions => body!(CreatePartitionsRequest),
        ApiKey::DescribeCluster => body!(DescribeClusterRequest),
        _ => {}
    }
}
