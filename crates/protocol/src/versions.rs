//! The API keys and version ranges the broker answers.
//!
//! Each range is the intersection of what Spool implements and what the generated
//! message types of `kafka-protocol` can encode. The maxima follow Kafka 3.9, the
//! versions current clients (librdkafka 2.x, kafka-python, the Java client 3.9)
//! negotiate; older minima are kept where the message types still support them.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Message, VersionRange};

/// One API the broker answers, with its version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedApi {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn clamp(lib: VersionRange, max: i16) -> (i16, i16) {
    let hi = if lib.max < max { lib.max } else { max };
    (lib.min, hi)
}

macro_rules! api {
    ($key:ident, $req:ty, $max:expr) => {{
        let (min, max) = clamp(<$req as Message>::VERSIONS, $max);
        SupportedApi { key: ApiKey::$key, min, max }
    }};
}

/// Every API the broker answers, in API key order.
pub fn supported_apis() -> &'static [SupportedApi] {
    static APIS: std::sync::OnceLock<Vec<SupportedApi>> = std::sync::OnceLock::new();
    APIS.get_or_init(|| {
        vec![
            // Advertised from v0, as Kafka 3.9 does: librdkafka before 2.11 (Debian's kcat
            // bundles 2.0.2) only compresses with gzip, snappy or lz4 when the broker lists
            // Produce v0. Requests below v3 carry message format v0/v1, which Spool does not
            // store; the broker refuses them (see `LEGACY_PRODUCE_VERSIONS`).
            SupportedApi { key: ApiKey::Produce, min: 0, ..api!(Produce, ProduceRequest, 11) },
            api!(Fetch, FetchRequest, 16),
            api!(ListOffsets, ListOffsetsRequest, 8),
            api!(Metadata, MetadataRequest, 12),
            // v9 carries a consumer group member's epoch (KIP-848); same shape as v8.
            api!(OffsetCommit, OffsetCommitRequest, 9),
            api!(OffsetFetch, OffsetFetchRequest, 9),
            api!(FindCoordinator, FindCoordinatorRequest, 4),
            api!(JoinGroup, JoinGroupRequest, 9),
            api!(Heartbeat, HeartbeatRequest, 4),
            api!(LeaveGroup, LeaveGroupRequest, 5),
            api!(SyncGroup, SyncGroupRequest, 5),
            api!(DescribeGroups, DescribeGroupsRequest, 5),
            api!(ListGroups, ListGroupsRequest, 5),
            // SASL (PLAIN) on SASL listeners. v0 is listed as Kafka lists it (librdkafka
            // before 2.x requires it to see SASL at all); after a v0 handshake the token
            // comes raw, not in SaslAuthenticate.
            api!(SaslHandshake, SaslHandshakeRequest, 1),
            api!(ApiVersions, ApiVersionsRequest, 3),
            api!(CreateTopics, CreateTopicsRequest, 7),
            api!(DeleteTopics, DeleteTopicsRequest, 6),
            api!(DeleteRecords, DeleteRecordsRequest, 2),
            api!(DeleteGroups, DeleteGroupsRequest, 2),
            api!(InitProducerId, InitProducerIdRequest, 5),
            api!(DescribeConfigs, DescribeConfigsRequest, 4),
            api!(AlterConfigs, AlterConfigsRequest, 2),
            api!(DescribeLogDirs, DescribeLogDirsRequest, 4),
            api!(SaslAuthenticate, SaslAuthenticateRequest, 2),
            api!(CreatePartitions, CreatePartitionsRequest, 3),
            api!(ElectLeaders, ElectLeadersRequest, 2),
            api!(IncrementalAlterConfigs, IncrementalAlterConfigsRequest, 1),
            api!(AlterPartitionReassignments, AlterPartitionReassignmentsRequest, 0),
            api!(ListPartitionReassignments, ListPartitionReassignmentsRequest, 0),
            api!(OffsetDelete, OffsetDeleteRequest, 0),
            api!(DescribeClientQuotas, DescribeClientQuotasRequest, 1),
            api!(AlterClientQuotas, AlterClientQuotasRequest, 1),
            api!(DescribeQuorum, DescribeQuorumRequest, 2),
            api!(DescribeCluster, DescribeClusterRequest, 1),
            api!(OffsetForLeaderEpoch, OffsetForLeaderEpochRequest, 4),
            // KIP-848 consumer groups: librdkafka 2.12 asks for heartbeat v1 only.
            api!(ConsumerGroupHeartbeat, ConsumerGroupHeartbeatRequest, 1),
            api!(ConsumerGroupDescribe, ConsumerGroupDescribeRequest, 0),
        ]
    })
}

/// Produce versions that are advertised for client feature detection but refused when
/// used: they carry the pre-0.11 message formats (magic 0 and 1).
pub const LEGACY_PRODUCE_VERSIONS: std::ops::Range<i16> = 0..3;

/// The supported range of `key`, if the broker answers it at all.
pub fn supported_range(key: ApiKey) -> Option<SupportedApi> {
    supported_apis().iter().copied().find(|api| api.key == key)
}

/// Whether the broker answers `key` at `version`.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported_range(key).is_some_and(|api| (api.min..=api.max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_non_empty_and_within_the_message_types() {
        for api in supported_apis() {
            assert!(api.min <= api.max, "{:?} has an empty range", api.key);
        }
        assert!(is_supported(ApiKey::ApiVersions, 0));
        assert!(is_supported(ApiKey::ApiVersions, 3));
        assert!(!is_supported(ApiKey::ApiVersions, 4));
        assert!(is_supported(ApiKey::Produce, 0), "advertised for old librdkafka's codec detection");
        assert!(LEGACY_PRODUCE_VERSIONS.contains(&2) && !LEGACY_PRODUCE_VERSIONS.contains(&3));
        assert!(supported_range(ApiKey::Vote).is_none());
    }
}
