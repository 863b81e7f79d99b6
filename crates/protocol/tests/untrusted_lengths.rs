//! Lengths read off the wire never size an allocation beyond the bytes received.
//!
//! Before the patch in `third_party/kafka-protocol`, each of these inputs made the
//! decoder reserve gigabytes up front and aborted the process.

use bytes::Bytes;
use kafka_protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest};
use kafka_protocol::protocol::Decodable;

#[test]
fn huge_array_length_in_a_tiny_body_is_a_decode_error() {
    // Metadata v0: topics array declaring i32::MAX entries, then nothing.
    let mut body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]);
    assert!(MetadataRequest::decode(&mut body, 0).is_err());

    // Produce v3: null transactional id, acks, timeout, then a topic array of i32::MAX.
    let mut body = Bytes::from_static(&[0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe8, 0x7f, 0xff, 0xff, 0xff]);
    assert!(ProduceRequest::decode(&mut body, 3).is_err());
}

#[test]
fn huge_compact_array_length_is_a_decode_error() {
    // Metadata v9 (flexible): a compact topics array whose varint length is u32::MAX.
    let mut body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(MetadataRequest::decode(&mut body, 9).is_err());

    // Fetch v12 (flexible): replica id, wait, min/max bytes, isolation, session id and
    // epoch, then a compact topics array declaring about four billion entries.
    let mut raw = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0xf4, 0, 0, 0, 1, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    raw.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let mut body = Bytes::from(raw);
    assert!(FetchRequest::decode(&mut body, 12).is_err());
}
