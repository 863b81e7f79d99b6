//! DescribeConfigs: every config of a topic or broker with its value, source, default
//! flag, synonyms and (on request) documentation, not only the ones that were set.
//! Broker values include the dynamic ones (the cluster default's, then this broker's),
//! which topic configs fall back on as well.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use spool_metadata::config::{describe_broker_configs, describe_topic_configs, ConfigSource, ConfigType, DescribedConfig};
use spool_metadata::records::ConfigResource;

use super::message;
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::log_levels;

/// Kafka's `ConfigResource.Type` codes.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;
pub(crate) const RESOURCE_BROKER_LOGGER: i8 = 8;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let version = header.request_api_version;
    let image = broker.image();
    let config = broker.config.with_dynamic(&image, broker.node_id);
    let mut results = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let name = resource.resource_name.to_string();
        let described: Result<Vec<DescribedConfig>, KafkaError> = match resource.resource_type {
            RESOURCE_TOPIC => match image.topic(&name) {
                Some(_) => Ok(describe_topic_configs(&config, &image.configs(&ConfigResource::Topic(name.clone())))),
                None => Err(KafkaError::with_message(
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic {name} does not exist"),
                )),
            },
            RESOURCE_BROKER if name.is_empty() || name == broker.node_id.to_string() => {
                Ok(describe_broker_configs(&config))
            }
            RESOURCE_BROKER => Err(KafkaError::with_message(
                ResponseError::InvalidRequest,
                format!("Broker {name} is not this broker ({})", broker.node_id),
            )),
            RESOURCE_BROKER_LOGGER => describe_loggers(broker, &name),
            other => Err(KafkaError::with_message(
                ResponseError::InvalidRequest,
                format!("Unsupported resource type {other}"),
            )),
        };
        let mut result = DescribeConfigsResult::default();
        result.resource_type = resource.resource_type;
        result.resource_name = resource.resource_name.clone();
        match described {
            Ok(configs) => {
                let wanted: Option<Vec<String>> =
                    resource.configuration_keys.as_ref().map(|keys| keys.iter().map(|k| k.to_string()).collect());
                result.configs = configs
                    .into_iter()
                    .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(&c.name)))
                    .map(|c| entry(c, version, request.include_synonyms, request.include_documentation))
                    .collect();
            }
            Err(e) => {
                result.error_code = e.code();
                result.error_message = message(e.message);
            }
        }
        results.push(result);
    }
    let mut response = DescribeConfigsResponse::default();
    response.results = results;
    response
}

/// This broker's log levels (`kafka-configs --entity-type broker-loggers`).
fn describe_loggers(broker: &Broker, name: &str) -> Result<Vec<DescribedConfig>, KafkaError> {
    if name != broker.node_id.to_string() {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!("Unexpected broker id, expected {} but received {name}", broker.node_id),
        ));
    }
    let control = log_levels::control().ok_or_else(|| {
        KafkaError::with_message(ResponseError::InvalidRequest, "this broker's log levels cannot be changed at runtime")
    })?;
    Ok(control
        .levels()
        .into_iter()
        .map(|(logger, level)| DescribedConfig {
            name: logger,
            value: Some(level),
            source: ConfigSource::DynamicBrokerLogger,
            is_default: false,
            read_only: false,
            sensitive: false,
            ty: ConfigType::String,
            doc: "The log level of a tracing target (root: of every target without a level of its own).",
            synonyms: Vec::new(),
        })
        .collect())
}

fn entry(config: DescribedConfig, version: i16, synonyms: bool, documentation: bool) -> DescribeConfigsResourceResult {
    let mut entry = DescribeConfigsResourceResult::default();
    entry.name = StrBytes::from_string(config.name);
    entry.value = if config.sensitive { None } else { config.value.map(StrBytes::from_string) };
    entry.read_only = config.read_only;
    entry.is_sensitive = config.sensitive;
    // v0 has an is_default flag where later versions have the source; the generated
    // codec maps both onto `config_source`.
    entry.config_source = if version == 0 && config.is_default { 5 } else { config.source as i8 };
    entry.config_type = config.ty.id();
    if synonyms {
        entry.synonyms = config
            .synonyms
            .into_iter()
            .map(|s| {
                let mut synonym = DescribeConfigsSynonym::default();
                synonym.name = StrBytes::from_string(s.name);
                synonym.value = s.value.map(StrBytes::from_string);
                synonym.source = s.source as i8;
                synonym
            })
            .collect();
    }
    if documentation {
        entry.documentation = Some(StrBytes::from_static_str(config.doc));
    }
    entry
}
