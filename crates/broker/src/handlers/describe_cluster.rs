//! DescribeCluster: the cluster id, the controller and the brokers, with the addresses
//! of the listener the client connected through (brokers without it are left out).

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    _request: DescribeClusterRequest,
    listener: &str,
) -> DescribeClusterResponse {
    let image = broker.image();
    let mut response = DescribeClusterResponse::default();
    response.cluster_id = StrBytes::from_string(broker.cluster_id.clone());
    response.controller_id = BrokerId(broker.controller_id_for_clients(&image));
    response.cluster_authorized_operations = i32::MIN;
    response.endpoint_type = 1;
    response.brokers = image
        .live_brokers()
        .filter_map(|b| Some((b, b.endpoint(listener)?)))
        .map(|(b, endpoint)| {
            let mut entry = DescribeClusterBroker::default();
            entry.broker_id = BrokerId(b.broker_id);
            entry.host = StrBytes::from_string(endpoint.host.clone());
            entry.port = endpoint.port;
            entry.rack = b.rack.clone().map(StrBytes::from_string);
            entry
        })
        .collect();
    response
}
