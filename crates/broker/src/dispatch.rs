//! Routes a request frame to its handler by API key and version.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use spool_protocol::header::{decode_request_header, encode_response, peek_prefix};
use spool_protocol::versions;

use crate::broker::Broker;
use crate::handlers;
use crate::response::{self, Part, Response};
use crate::sasl;

/// A response still being worked out, resolving to its encoded frame (or to why the
/// connection must close).
pub(crate) type LaterResponse = BoxFuture<'static, Result<Response, String>>;

/// What the connection does after a request was handled.
pub(crate) enum Outcome {
    /// The response is in the output buffer.
    Respond,
    /// The response is these parts: encoded bytes with record sets sent from segment
    /// files between them (a large fetch).
    RespondParts(Vec<Part>),
    /// The request took effect, and its response waits on something else (an
    /// `acks=all` produce on replication); the connection may handle the requests
    /// behind it meanwhile, and sends the responses in request order.
    Later(LaterResponse),
    /// The request takes no response (`acks=0` produce).
    NoResponse,
    /// The request was unusable; close the connection.
    Close(String),
}

/// Handles one request frame from `peer`, which connected through the listener named
/// `listener` and authenticated as `principal` (Kafka's `ANONYMOUS` without SASL),
/// writing the response frame into `out`. A client over its quota is told
/// how long it is throttled in the response, and in `throttle` the connection is told
/// how long to read nothing more from it (see [`crate::client_quotas`]).
pub(crate) async fn handle(
    broker: &Arc<Broker>,
    peer: SocketAddr,
    listener: &str,
    principal: &str,
    mut frame: Bytes,
    out: &mut BytesMut,
    throttle: &mut Duration,
) -> Outcome {
    let request_bytes = frame.len();
    let prefix = match peek_prefix(&frame) {
        Ok(prefix) => prefix,
        Err(e) => return Outcome::Close(e.to_string()),
    };
    let Ok(api_key) = ApiKey::try_from(prefix.api_key) else {
        return Outcome::Close(format!("unknown API key {}", prefix.api_key));
    };
    let version = prefix.api_version;
    if !versions::is_supported(api_key, version) {
        if api_key == ApiKey::ApiVersions {
            // Kafka answers an ApiVersions it cannot parse with UNSUPPORTED_VERSION in a v0
            // body that lists what it does support, so the client can retry lower.
            handlers::api_versions::unsupported_version(prefix.correlation_id, out);
            return Outcome::Respond;
        }
        return Outcome::Close(format!("{api_key:?} v{version} is not supported"));
    }
    if api_key == ApiKey::Produce && versions::LEGACY_PRODUCE_VERSIONS.contains(&version) {
        return Outcome::Close(format!(
            "Produce v{version} carries message format v0/v1, which Spool does not store; \
             use a client that speaks Produce v3 or later (Kafka 0.11+ clients do)"
        ));
    }
    let header = match decode_request_header(&mut frame, api_key, version) {
        Ok(header) => header,
        Err(e) => return Outcome::Close(e.to_string()),
    };

    macro_rules! route {
        ($request:ty, $handler:path) => {{
            let request = match <$request>::decode(&mut frame, version) {
                Ok(request) => request,
                Err(e) => return Outcome::Close(format!("malformed {api_key:?} v{version} request: {e}")),
            };
            trace_request(peer, api_key, &header, &request);
            let response = $handler(broker, &header, request).await;
            trace_response(peer, &header, &response);
            respond(out, api_key, version, header.correlation_id, &response)
        }};
        // A handler that answers with broker addresses: those of the client's listener.
        ($request:ty, $handler:path, listener) => {{
            let request = match <$request>::decode(&mut frame, version) {
                Ok(request) => request,
                Err(e) => return Outcome::Close(format!("malformed {api_key:?} v{version} request: {e}")),
            };
            trace_request(peer, api_key, &header, &request);
            let response = $handler(broker, &header, request, listener).await;
            trace_response(peer, &header, &response);
            respond(out, api_key, version, header.correlation_id, &response)
        }};
    }

    match api_key {
        ApiKey::Produce => {
            let request = match ProduceRequest::decode(&mut frame, version) {
                Ok(request) => request,
                Err(e) => return Outcome::Close(format!("malformed Produce v{version} request: {e}")),
            };
            let acks = request.acks;
            let mut produced = handlers::produce::append_all(broker, &header, request);
            let client_id = header.client_id.as_deref().unwrap_or_default();
            *throttle = broker.client_quotas.record_produce(principal, client_id, request_bytes, Instant::now());
            produced.set_throttle_time(*throttle);
            if acks == 0 {
                return Outcome::NoResponse;
            }
            if produced.is_complete() {
                return respond(out, api_key, version, header.correlation_id, &produced.complete().await);
            }
            let correlation_id = header.correlation_id;
            Outcome::Later(Box::pin(async move {
                let response = produced.complete().await;
                let mut out = BytesMut::new();
                match respond(&mut out, api_key, version, correlation_id, &response) {
                    Outcome::Close(reason) => Err(reason),
                    _ => Ok(Response::Frame(out)),
                }
            }))
        }
        ApiKey::Fetch => {
            let request = match FetchRequest::decode(&mut frame, version) {
                Ok(request) => request,
                Err(e) => return Outcome::Close(format!("malformed Fetch v{version} request: {e}")),
            };
            let fetched = handlers::fetch::handle(broker, &header, request, principal).await;
            *throttle = fetched.throttle;
            let outcome = respond(out, api_key, version, header.correlation_id, &fetched.response);
            if fetched.spliced.is_empty() || !matches!(outcome, Outcome::Respond) {
                return outcome;
            }
            match response::splice(out.split(), &fetched.spliced, version >= 12) {
                Ok(parts) => Outcome::RespondParts(parts),
                Err(reason) => Outcome::Close(format!("internal error: {reason}")),
            }
        }
        ApiKey::ListOffsets => route!(ListOffsetsRequest, handlers::list_offsets::handle),
        ApiKey::Metadata => route!(MetadataRequest, handlers::metadata::handle, listener),
        ApiKey::ApiVersions => route!(ApiVersionsRequest, handlers::api_versions::handle),
        ApiKey::CreateTopics => route!(CreateTopicsRequest, handlers::create_topics::handle),
        ApiKey::DeleteTopics => route!(DeleteTopicsRequest, handlers::delete_topics::handle),
        ApiKey::DeleteRecords => route!(DeleteRecordsRequest, handlers::delete_records::handle),
        ApiKey::DescribeLogDirs => route!(DescribeLogDirsRequest, handlers::describe_log_dirs::handle),
        ApiKey::ElectLeaders => route!(ElectLeadersRequest, handlers::elect_leaders::handle),
        ApiKey::AlterPartitionReassignments => {
            route!(AlterPartitionReassignmentsRequest, handlers::alter_partition_reassignments::handle)
        }
        ApiKey::ListPartitionReassignments => {
            route!(ListPartitionReassignmentsRequest, handlers::list_partition_reassignments::handle)
        }
        ApiKey::InitProducerId => route!(InitProducerIdRequest, handlers::init_producer_id::handle),
        ApiKey::DescribeConfigs => route!(DescribeConfigsRequest, handlers::describe_configs::handle),
        ApiKey::AlterConfigs => route!(AlterConfigsRequest, handlers::alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => {
            route!(IncrementalAlterConfigsRequest, handlers::alter_configs::handle_incremental)
        }
        ApiKey::DescribeClientQuotas => route!(DescribeClientQuotasRequest, handlers::client_quotas::handle_describe),
        ApiKey::AlterClientQuotas => route!(AlterClientQuotasRequest, handlers::client_quotas::handle_alter),
        ApiKey::CreatePartitions => route!(CreatePartitionsRequest, handlers::create_partitions::handle),
        ApiKey::DescribeCluster => route!(DescribeClusterRequest, handlers::describe_cluster::handle, listener),
        ApiKey::DescribeQuorum => route!(DescribeQuorumRequest, handlers::describe_quorum::handle),
        ApiKey::OffsetForLeaderEpoch => route!(OffsetForLeaderEpochRequest, handlers::offset_for_leader_epoch::handle),
        ApiKey::FindCoordinator => route!(FindCoordinatorRequest, handlers::find_coordinator::handle, listener),
        ApiKey::JoinGroup => {
            let request = match JoinGroupRequest::decode(&mut frame, version) {
                Ok(request) => request,
                Err(e) => return Outcome::Close(format!("malformed JoinGroup v{version} request: {e}")),
            };
            // The member's host is recorded for DescribeGroups, so this one handler sees the peer.
            trace_request(peer, api_key, &header, &request);
            let response = handlers::join_group::handle(broker, &header, request, peer).await;
            trace_response(peer, &header, &response);
            respond(out, api_key, version, header.correlation_id, &response)
        }
        ApiKey::SyncGroup => route!(SyncGroupRequest, handlers::sync_group::handle),
        ApiKey::Heartbeat => route!(HeartbeatRequest, handlers::heartbeat::handle),
        ApiKey::LeaveGroup => route!(LeaveGroupRequest, handlers::leave_group::handle),
        ApiKey::OffsetCommit => route!(OffsetCommitRequest, handlers::offset_commit::handle),
        ApiKey::OffsetFetch => route!(OffsetFetchRequest, handlers::offset_fetch::handle),
        ApiKey::ListGroups => route!(ListGroupsRequest, handlers::list_groups::handle),
        ApiKey::DescribeGroups => route!(DescribeGroupsRequest, handlers::describe_groups::handle),
        ApiKey::DeleteGroups => route!(DeleteGroupsRequest, handlers::delete_groups::handle),
        ApiKey::OffsetDelete => route!(OffsetDeleteRequest, handlers::offset_delete::handle),
        ApiKey::ConsumerGroupHeartbeat => {
            let request = match ConsumerGroupHeartbeatRequest::decode(&mut frame, version) {
                Ok(request) => request,
                Err(e) => return Outcome::Close(format!("malformed ConsumerGroupHeartbeat v{version} request: {e}")),
            };
            // The member's host is recorded for ConsumerGroupDescribe.
            trace_request(peer, api_key, &header, &request);
            let response = handlers::consumer_group_heartbeat::handle(broker, &header, request, peer).await;
            trace_response(peer, &header, &response);
            respond(out, api_key, version, header.correlation_id, &response)
        }
        ApiKey::ConsumerGroupDescribe => route!(ConsumerGroupDescribeRequest, handlers::consumer_group_describe::handle),
        // Reached only when no SASL authentication is under way (see `crate::sasl`).
        ApiKey::SaslHandshake => route!(SaslHandshakeRequest, sasl::handshake_out_of_place),
        ApiKey::SaslAuthenticate => route!(SaslAuthenticateRequest, sasl::authenticate_out_of_place),
        other => Outcome::Close(format!("{other:?} is listed as supported but has no handler")),
    }
}

/// Target of the per-request trace: `RUST_LOG=spool::requests=trace` logs every request
/// but Produce and Fetch (whose records would flood it) and its response, decoded.
const REQUESTS: &str = "spool::requests";

fn trace_request(peer: SocketAddr, api_key: ApiKey, header: &RequestHeader, request: &impl std::fmt::Debug) {
    // The macro formats only when the target is enabled: nothing is spent otherwise.
    let version = header.request_api_version;
    tracing::trace!(target: REQUESTS, %peer, correlation_id = header.correlation_id, "{api_key:?} v{version} {request:?}");
}

fn trace_response(peer: SocketAddr, header: &RequestHeader, response: &impl std::fmt::Debug) {
    tracing::trace!(target: REQUESTS, %peer, correlation_id = header.correlation_id, "answered {response:?}");
}

fn respond<B: kafka_protocol::protocol::Encodable>(
    out: &mut BytesMut,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &B,
) -> Outcome {
    match encode_response(out, api_key, version, correlation_id, body) {
        Ok(()) => Outcome::Respond,
        Err(e) => {
            tracing::error!("could not encode {api_key:?} v{version} response: {e}");
            Outcome::Close(format!("internal error encoding {api_key:?} response"))
        }
    }
}
