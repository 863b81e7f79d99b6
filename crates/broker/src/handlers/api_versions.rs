//! ApiVersions: which APIs and versions this broker answers.

use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use spool_protocol::header::encode_response;
use spool_protocol::versions::supported_apis;

use crate::broker::Broker;

fn api_keys() -> Vec<ApiVersion> {
    supported_apis()
        .iter()
        .map(|api| {
            let mut entry = ApiVersion::default();
            entry.api_key = api.key as i16;
            entry.min_version = api.min;
            entry.max_version = api.max;
            entry
        })
        .collect()
}

/// Lists the supported APIs. Feature tags (`supported_features` and friends) are left
/// out: Spool has no feature flags yet, and librdkafka before 2.2 mis-parses a v3
/// response that carries tagged fields it does not expect.
pub(crate) async fn handle(_broker: &Arc<Broker>, _header: &RequestHeader, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.api_keys = api_keys();
    response
}

/// The answer to an ApiVersions request at a version this broker does not know: error
/// 35 in a v0 body (the only shape every client can read) with the supported ranges.
pub(crate) fn unsupported_version(correlation_id: i32, out: &mut BytesMut) {
    let mut response = ApiVersionsResponse::default();
    response.error_code = ResponseError::UnsupportedVersion.code();
    response.api_keys = api_keys();
    if let Err(e) = encode_response(out, ApiKey::ApiVersions, 0, correlation_id, &response) {
        tracing::error!("could not encode ApiVersions v0 error response: {e}");
    }
}
