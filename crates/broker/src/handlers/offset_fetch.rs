//! OffsetFetch: where groups left off. v1–v7 ask about one group, v8+ about several.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_group::{FetchedOffset, OffsetFetch, OffsetFetchResult};

use super::topic_name;
use crate::broker::Broker;
use crate::group_coordinator::code;

pub(crate) async fn handle(broker: &Arc<Broker>, header: &RequestHeader, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let version = header.request_api_version;
    let require_stable = version >= 7 && request.require_stable;
    let mut response = OffsetFetchResponse::default();
    if version >= 8 {
        for group in request.groups {
            let topics = group.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
            let fetch = OffsetFetch {
                group_id: group.group_id.0.to_string(),
                topics,
                require_stable,
                // v9+: a consumer group member names itself and its epoch.
                member_id: group.member_id.filter(|_| version >= 9).map(|s| s.to_string()),
                member_epoch: if version >= 9 { group.member_epoch } else { -1 },
            };
            let result = fetch_one(broker, &fetch).await;
            let mut entry = OffsetFetchResponseGroup::default();
            entry.group_id = GroupId(StrBytes::from_string(fetch.group_id));
            entry.error_code = code(result.error);
            entry.topics = result
                .topics
                .into_iter()
                .map(|(name, partitions)| {
                    let mut topic = OffsetFetchResponseTopics::default();
                    topic.name = topic_name(&name);
                    topic.partitions = partitions.into_iter().map(partition_v8).collect();
                    topic
                })
                .collect();
            response.groups.push(entry);
        }
        return response;
    }

    let topics = request.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    let fetch =
        OffsetFetch { group_id: request.group_id.0.to_string(), topics, require_stable, member_id: None, member_epoch: -1 };
    let mut result = fetch_one(broker, &fetch).await;
    if version < 2 {
        // No group-level error before v2: each requested partition carries it.
        if let (Some(error), Some(requested)) = (result.error.take(), &fetch.topics) {
            result.topics = requested
                .iter()
                .map(|(t, ps)| {
                    let failed = |&p| FetchedOffset { partition: p, offset: -1, leader_epoch: -1, metadata: String::new(), error: Some(error) };
                    (t.clone(), ps.iter().map(failed).collect())
                })
                .collect();
        }
    }
    response.error_code = code(result.error);
    response.topics = result
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let mut topic = OffsetFetchResponseTopic::default();
            topic.name = topic_name(&name);
            topic.partitions = partitions.into_iter().map(|p| partition_v0(p, version)).collect();
            topic
        })
        .collect();
    response
}

async fn fetch_one(broker: &Arc<Broker>, fetch: &OffsetFetch) -> OffsetFetchResult {
    broker
        .groups
        .run(broker, &fetch.group_id, |shard, _| (shard.offset_fetch(fetch), Default::default()))
        .await
        .unwrap_or_else(|e| OffsetFetchResult { error: Some(e.group_error()), topics: Vec::new() })
}

fn partition_v0(p: FetchedOffset, version: i16) -> OffsetFetchResponsePartition {
    let mut out = OffsetFetchResponsePartition::default();
    out.partition_index = p.partition;
    out.committed_offset = p.offset;
    out.committed_leader_epoch = if version >= 5 { p.leader_epoch } else { -1 };
    out.metadata = Some(StrBytes::from_string(p.metadata));
    out.error_code = code(p.error);
    out
}

fn partition_v8(p: FetchedOffset) -> OffsetFetchResponsePartitions {
    let mut out = OffsetFetchResponsePartitions::default();
    out.partition_index = p.partition;
    out.committed_offset = p.offset;
    out.committed_leader_epoch = p.leader_epoch;
    out.metadata = Some(StrBytes::from_string(p.metadata));
    out.error_code = code(p.error);
    out
}

