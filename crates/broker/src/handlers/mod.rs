//! One module per Kafka API. Each `handle` takes the broker, the request header and the
//! decoded request, and returns the response body; errors are per-topic or
//! per-partition error codes inside the response, as Kafka's protocol puts them.

pub(crate) mod alter_configs;
pub(crate) mod alter_partition_reassignments;
pub(crate) mod api_versions;
pub(crate) mod client_quotas;
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_log_dirs;
pub(crate) mod describe_quorum;
pub(crate) mod elect_leaders;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_partition_reassignments;
pub(crate) mod metadata;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod produce;
pub(crate) mod sync_group;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use spool_metadata::controller::{ControllerReply, ControllerRequest};

use crate::broker::Broker;
use crate::error::KafkaError;

/// A topic name for a response.
pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// An optional message for a response.
pub(crate) fn message(text: Option<String>) -> Option<StrBytes> {
    text.map(StrBytes::from_string)
}

/// Has the active controller carry out `request` and takes the kind of reply `expect`
/// picks out; any other kind is an internal error (the controller and this broker
/// disagree on what the request answers).
pub(crate) async fn submit_expecting<T>(
    broker: &Broker,
    request: ControllerRequest,
    expect: impl FnOnce(ControllerReply) -> Result<T, ControllerReply>,
) -> Result<T, KafkaError> {
    expect(broker.submit(request).await?).map_err(|other| {
        KafkaError::with_message(ResponseError::UnknownServerError, format!("unexpected controller reply {other:?}"))
    })
}
