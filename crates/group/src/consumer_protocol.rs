//! The topics a `consumer` group subscribes to, read from its members' metadata.
//!
//! Clients of the `consumer` protocol type put a `ConsumerProtocolSubscription` in each
//! JoinGroup protocol's metadata: an `int16` version, then (in every version) the
//! subscribed topics as an `int32`-counted array of strings and nullable user data.
//! Like Kafka, the coordinator reads only that version-0 prefix, so it does not depend
//! on later versions, and treats metadata it cannot read as "subscriptions unknown".
//!
//! The coordinator needs the topics for two decisions: offsets of topics a stable
//! group still consumes do not expire, and OffsetDelete refuses them
//! (`GROUP_SUBSCRIBED_TO_TOPIC`).
//!
//! The bytes come from clients, so they are read with the bounds-checked reader
//! rather than `kafka-protocol`'s generated decoder, whose arrays allocate from the
//! length the input claims.

use std::collections::BTreeSet;

use crate::codec::Reader;
use crate::error::DecodeError;

/// The protocol type of Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The topics of one subscription, or `None` when the metadata does not follow the
/// consumer protocol.
pub fn subscribed_topics(metadata: &[u8]) -> Option<BTreeSet<String>> {
    read_topics(metadata).ok()
}

fn read_topics(metadata: &[u8]) -> Result<BTreeSet<String>, DecodeError> {
    let mut r = Reader::new(metadata);
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::UnsupportedVersion { schema: "ConsumerProtocolSubscription", version });
    }
    let count = r.array_len(2)?;
    let mut topics = BTreeSet::new();
    for _ in 0..count {
        topics.insert(r.string()?);
    }
    // User data (nullable bytes) completes the version-0 schema.
    let user_data_len = r.i32()?;
    if user_data_len > 0 {
        if user_data_len as usize > r.remaining() {
            return Err(DecodeError::Truncated { needed: user_data_len as usize, remaining: r.remaining() });
        }
    } else if user_data_len < -1 {
        return Err(DecodeError::UnexpectedNull);
    }
    Ok(topics)
}

#[cfg(test)]
pub(crate) fn encode_subscription(topics: &[&str]) -> Vec<u8> {
    let mut w = crate::codec::Writer::new();
    w.i16(0);
    w.array_len(topics.len());
    for t in topics {
        w.string(t);
    }
    w.i32(-1);
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_topics_of_any_version_prefix() {
        let mut bytes = encode_subscription(&["b", "a"]);
        assert_eq!(subscribed_topics(&bytes), Some(BTreeSet::from(["a".to_string(), "b".to_string()])));
        // A v3 subscription (owned partitions, generation, rack) only appends fields.
        bytes[1] = 3;
        bytes.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(subscribed_topics(&bytes).map(|t| t.len()), Some(2));
    }

    #[test]
    fn unreadable_metadata_means_unknown() {
        assert_eq!(subscribed_topics(b""), None);
        assert_eq!(subscribed_topics(&[0xff, 0xff]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
    }
}
