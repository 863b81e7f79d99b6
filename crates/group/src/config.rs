//! The coordinator's settings, with Kafka's names and defaults.

/// Settings of the group coordinator. Field names follow Kafka's broker configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `offsets.topic.num.partitions` (50): how many partitions `__consumer_offsets` has.
    pub offsets_topic_num_partitions: i32,
    /// `group.min.session.timeout.ms` (6000).
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3000): how long the first rebalance of an
    /// empty group waits for more members, extended by this much (up to the rebalance
    /// timeout) whenever another member joins meanwhile.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size` (`Integer.MAX_VALUE`): most members of one group.
    pub group_max_size: i32,
    /// `offsets.retention.minutes` (10080, 7 days) in milliseconds: how long offsets of a
    /// group outlive its last member.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms` (600000).
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes` (4096): longest metadata string of a committed offset.
    pub offset_metadata_max_bytes: usize,
    /// Most bytes of keys and values one operation may write. A write must fit in one
    /// record batch under the partition's `max.message.bytes` (Kafka's default 1048588);
    /// this leaves room for batch and record framing. An operation over the limit is
    /// answered as Kafka answers a batch the log refused as too large.
    pub write_bytes_max: usize,
    /// `group.consumer.session.timeout.ms` (45000): a consumer group member that does not
    /// heartbeat for this long is fenced.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms` (5000): how often members heartbeat.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size` (`Integer.MAX_VALUE`): most members of one consumer group.
    pub consumer_max_size: i32,
    /// `group.consumer.assignors` (uniform, range): the server-side assignors; the first
    /// is the default.
    pub consumer_assignors: Vec<String>,
    /// `group.coordinator.rebalance.protocols` (classic, consumer): whether consumer
    /// groups (ConsumerGroupHeartbeat) are enabled.
    pub consumer_protocol_enabled: bool,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            offsets_topic_num_partitions: 50,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX,
            offsets_retention_ms: 10_080 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            write_bytes_max: 1_000_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: i32::MAX,
            consumer_assignors: vec!["uniform".to_string(), "range".to_string()],
            consumer_protocol_enabled: true,
        }
    }
}

/// How long a new member's JoinGroup may wait before the member is dropped
/// (Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`, 5 minutes): a client that
/// disconnected during a long rebalance would otherwise stay a member forever.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// Longest string the records can hold (an `int16` length).
pub const STRING_BYTES_MAX: usize = i16::MAX as usize;
