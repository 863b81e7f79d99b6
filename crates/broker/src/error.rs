//! The one place where domain errors become Kafka error codes.

use kafka_protocol::error::ResponseError;
use spool_metadata::controller::ControllerError;
use spool_protocol::batch::BatchError;
use spool_storage::{AppendError, ReadError};

/// A Kafka error code with an optional message for the response's `error_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    pub code: ResponseError,
    pub message: Option<String>,
}

impl KafkaError {
    pub fn new(code: ResponseError) -> Self {
        KafkaError { code, message: None }
    }

    pub fn with_message(code: ResponseError, message: impl Into<String>) -> Self {
        KafkaError { code, message: Some(message.into()) }
    }

    /// The numeric code for the wire.
    pub fn code(&self) -> i16 {
        self.code.code()
    }
}

impl From<ControllerError> for KafkaError {
    fn from(e: ControllerError) -> Self {
        let code = match &e {
            ControllerError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            ControllerError::InvalidTopic(_) => ResponseError::InvalidTopicException,
            ControllerError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
            ControllerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            ControllerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            ControllerError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            ControllerError::InvalidConfig(_) => ResponseError::InvalidConfig,
            ControllerError::InvalidRequest(_) => ResponseError::InvalidRequest,
            ControllerError::UnknownBroker(_) => ResponseError::BrokerIdNotRegistered,
            ControllerError::FencedLeaderEpoch(_) => ResponseError::FencedLeaderEpoch,
            ControllerError::InvalidUpdateVersion(_) => ResponseError::InvalidUpdateVersion,
            ControllerError::NotLeader(_) => ResponseError::NotLeaderOrFollower,
            ControllerError::IneligibleReplica(_) => ResponseError::IneligibleReplica,
            ControllerError::NoReassignmentInProgress(_) => ResponseError::NoReassignmentInProgress,
        };
        KafkaError::with_message(code, e.to_string())
    }
}

impl From<&BatchError> for KafkaError {
    fn from(e: &BatchError) -> Self {
        let code = match e {
            BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
            // Produce v3+ may only carry magic 2 batches (Kafka: InvalidRecordException).
            BatchError::UnsupportedMagic(_) => ResponseError::InvalidRecord,
            BatchError::Truncated { .. }
            | BatchError::InvalidLength(_)
            | BatchError::CorruptCrc { .. }
            | BatchError::InvalidRecordCount { .. }
            | BatchError::Empty => ResponseError::CorruptMessage,
        };
        KafkaError::with_message(code, e.to_string())
    }
}

impl From<&AppendError> for KafkaError {
    fn from(e: &AppendError) -> Self {
        let code = match e {
            AppendError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            AppendError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            // Kafka's RecordBatchTooLargeException: not retriable, the set never fits.
            AppendError::RecordSetTooLarge { .. } => ResponseError::RecordListTooLarge,
            AppendError::InvalidRecords(_) => ResponseError::CorruptMessage,
            AppendError::InvalidSequence { .. } => ResponseError::InvalidRecord,
            // The disk, or (for a follower's append) what the leader sent: retriable.
            AppendError::Log(_) | AppendError::OffsetsOutOfOrder { .. } | AppendError::OffsetRangeTooLarge { .. } => {
                ResponseError::KafkaStorageError
            }
        };
        KafkaError::with_message(code, e.to_string())
    }
}

impl From<&ReadError> for KafkaError {
    fn from(e: &ReadError) -> Self {
        let code = match e {
            ReadError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            _ => ResponseError::KafkaStorageError,
        };
        KafkaError::with_message(code, e.to_string())
    }
}
