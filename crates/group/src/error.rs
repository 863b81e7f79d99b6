//! Errors of the group coordinator.
//!
//! [`GroupError`] is what a request gets back: each variant is one Kafka error code, and
//! the broker turns it into that code in one place. [`DecodeError`] is what reading a
//! stored record can fail with. [`AppendFailure`] is how the caller tells which way
//! writing the records of an operation failed, so the responses can carry the error
//! Kafka gives for that failure.

/// A Kafka error a group operation answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum GroupError {
    #[error("The coordinator is loading and hence can't process requests.")]
    CoordinatorLoadInProgress,
    #[error("The coordinator is not available.")]
    CoordinatorNotAvailable,
    #[error("This is not the correct coordinator.")]
    NotCoordinator,
    #[error("The configured groupId is invalid.")]
    InvalidGroupId,
    #[error("The coordinator is not aware of this member.")]
    UnknownMemberId,
    #[error("Specified group generation id is not valid.")]
    IllegalGeneration,
    #[error("The group is rebalancing, so a rejoin is needed.")]
    RebalanceInProgress,
    #[error("The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.")]
    FencedInstanceId,
    #[error("The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.")]
    InconsistentGroupProtocol,
    #[error("The group has reached its maximum size.")]
    GroupMaxSizeReached,
    #[error("The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).")]
    InvalidSessionTimeout,
    #[error("The group member needs to have a valid member id before actually entering a consumer group.")]
    MemberIdRequired,
    #[error("The group id does not exist.")]
    GroupIdNotFound,
    #[error("The group is not empty.")]
    NonEmptyGroup,
    #[error("The consumer group is actively subscribed to the topic.")]
    GroupSubscribedToTopic,
    #[error("The metadata field of the offset request was too large.")]
    OffsetMetadataTooLarge,
    #[error("The committing offset data size is not valid.")]
    InvalidCommitOffsetSize,
    #[error("The request timed out.")]
    RequestTimedOut,
    #[error("This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker.")]
    InvalidRequest,
    #[error("The server experienced an unexpected error when processing the request.")]
    UnknownServerError,
    #[error("The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.")]
    FencedMemberEpoch,
    #[error("The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.")]
    StaleMemberEpoch,
    #[error("The assignor or its version range is not supported by the consumer group.")]
    UnsupportedAssignor,
    #[error("The instance ID is still used by another member in the consumer group. That member must leave first.")]
    UnreleasedInstanceId,
    #[error("The version of API is not supported.")]
    UnsupportedVersion,
    #[error("The regular expression is not valid.")]
    InvalidRegularExpression,
}

/// A stored record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record truncated: needed {needed} more bytes, {remaining} remain")]
    Truncated { needed: usize, remaining: usize },
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("null where a value is required")]
    UnexpectedNull,
    #[error("unsupported {schema} version {version}")]
    UnsupportedVersion { schema: &'static str, version: i16 },
    #[error("varint longer than 5 bytes")]
    InvalidVarint,
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
}

/// Why the records of an operation could not be appended to `__consumer_offsets`.
///
/// The caller classifies its storage or replication error into one of these; the
/// coordinator maps it to the error Kafka puts in the responses of that operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFailure {
    /// This broker is not (or no longer) the leader of the partition, or its disk failed
    /// (Kafka: `NOT_LEADER_OR_FOLLOWER`, `KAFKA_STORAGE_ERROR`).
    NotLeader,
    /// The partition is unknown or has too few in-sync replicas
    /// (`UNKNOWN_TOPIC_OR_PARTITION`, `NOT_ENOUGH_REPLICAS*`).
    Unavailable,
    /// Replication did not complete in time (`REQUEST_TIMED_OUT`).
    Timeout,
    /// The batch exceeds the partition's size limit (`MESSAGE_TOO_LARGE`, `RECORD_LIST_TOO_LARGE`).
    TooLarge,
}

impl AppendFailure {
    /// The error Kafka answers JoinGroup and SyncGroup with when the group's metadata
    /// could not be stored (`GroupMetadataManager.storeGroup`).
    pub fn group_write_error(self) -> GroupError {
        match self {
            AppendFailure::NotLeader => GroupError::NotCoordinator,
            AppendFailure::Unavailable => GroupError::CoordinatorNotAvailable,
            AppendFailure::Timeout => GroupError::RebalanceInProgress,
            AppendFailure::TooLarge => GroupError::UnknownServerError,
        }
    }

    /// The error Kafka answers OffsetCommit with when the offsets could not be stored
    /// (`GroupMetadataManager.maybeConvertOffsetCommitError`).
    pub fn offset_write_error(self) -> GroupError {
        match self {
            AppendFailure::NotLeader => GroupError::NotCoordinator,
            AppendFailure::Unavailable => GroupError::CoordinatorNotAvailable,
            AppendFailure::Timeout => GroupError::RequestTimedOut,
            AppendFailure::TooLarge => GroupError::InvalidCommitOffsetSize,
        }
    }
}
