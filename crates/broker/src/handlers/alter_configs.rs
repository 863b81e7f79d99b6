//! AlterConfigs (replace all overrides) and IncrementalAlterConfigs (set, delete,
//! append, subtract) for topics and brokers. A broker resource names one broker by id,
//! or, with the empty name, the cluster-wide default of every broker. Spool changes at
//! runtime the broker defaults of topic configs (`log.retention.ms`, `log.segment.bytes`,
//! `min.insync.replicas`, ...) and the replication throttle rates
//! (`leader.replication.throttled.rate`, ...); the other broker configs are refused with
//! their reason:
//! they are set in `server.properties` or with `--set`.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest, AlterConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};
use spool_metadata::controller::{AlterOp, ControllerRequest};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC};
use super::message;
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::log_levels;

pub(crate) async fn handle(broker: &Arc<Broker>, _header: &RequestHeader, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let changes: Vec<(String, AlterOp, Option<String>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.to_string(), AlterOp::Set, c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let outcome = alter(broker, resource.resource_type, &resource.resource_name, changes, true, request.validate_only).await;
        let mut entry = alter_configs_response::AlterConfigsResourceResponse::default();
        entry.resource_type = resource.resource_type;
        entry.resource_name = resource.resource_name.clone();
        if let Err(e) = outcome {
            entry.error_code = e.code();
            entry.error_message = message(e.message);
        }
        responses.push(entry);
    }
    let mut response = AlterConfigsResponse::default();
    response.responses = responses;
    response
}

pub(crate) async fn handle_incremental(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let mut changes = Vec::with_capacity(resource.configs.len());
        let mut bad_op = None;
        for c in &resource.configs {
            let op = match c.config_operation {
                0 => AlterOp::Set,
                1 => AlterOp::Delete,
                2 => AlterOp::Append,
                3 => AlterOp::Subtract,
                other => {
                    bad_op = Some(other);
                    break;
                }
            };
            changes.push((c.name.to_string(), op, c.value.as_ref().map(|v| v.to_string())));
        }
        let outcome = match bad_op {
            Some(op) => Err(KafkaError::with_message(ResponseError::InvalidRequest, format!("Unknown config operation {op}"))),
            None if resource.resource_type == RESOURCE_BROKER_LOGGER => {
                alter_loggers(broker, &resource.resource_name, &changes, request.validate_only)
            }
            None => alter(broker, resource.resource_type, &resource.resource_name, changes, false, request.validate_only).await,
        };
        let mut entry = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        entry.resource_type = resource.resource_type;
        entry.resource_name = resource.resource_name.clone();
        if let Err(e) = outcome {
            entry.error_code = e.code();
            entry.error_message = message(e.message);
        }
        responses.push(entry);
    }
    let mut response = IncrementalAlterConfigsResponse::default();
    response.responses = responses;
    response
}

/// Sets (SET) and takes back (DELETE) this broker's log levels, all or none, as Kafka's
/// `ConfigAdminManager` does for a `BROKER_LOGGER` resource; they are the process's
/// own, not metadata.
fn alter_loggers(
    broker: &Broker,
    name: &str,
    changes: &[(String, AlterOp, Option<String>)],
    validate_only: bool,
) -> Result<(), KafkaError> {
    let invalid_request = |text: String| KafkaError::with_message(ResponseError::InvalidRequest, text);
    let invalid_config = |text: String| KafkaError::with_message(ResponseError::InvalidConfig, text);
    if name != broker.node_id.to_string() {
        return Err(invalid_request(format!("Unexpected broker id, expected {} but received {name}", broker.node_id)));
    }
    let control =
        log_levels::control().ok_or_else(|| invalid_request("this broker's log levels cannot be changed at runtime".into()))?;
    for (logger, op, level) in changes {
        match op {
            AlterOp::Set => log_levels::check_level(logger, level.as_deref().unwrap_or("null")).map_err(invalid_config)?,
            AlterOp::Delete if logger == log_levels::ROOT_LOGGER => {
                return Err(invalid_request("Removing the log level of the root logger is not allowed".into()))
            }
            AlterOp::Delete => log_levels::check_logger(logger).map_err(invalid_config)?,
            AlterOp::Append | AlterOp::Subtract => {
                return Err(invalid_request(format!("{op:?} is not a valid operation for broker loggers")))
            }
        }
    }
    if validate_only {
        return Ok(());
    }
    for (logger, op, level) in changes {
        let changed = match op {
            AlterOp::Set => control.set(logger, level.as_deref().unwrap_or_default()),
            _ => control.reset(logger),
        };
        changed.map_err(|e| KafkaError::with_message(ResponseError::UnknownServerError, e))?;
        tracing::info!(%logger, level = level.as_deref().unwrap_or("(root's)"), "log level changed");
    }
    Ok(())
}

async fn alter(
    broker: &Arc<Broker>,
    resource_type: i8,
    name: &str,
    changes: Vec<(String, AlterOp, Option<String>)>,
    replace_all: bool,
    validate_only: bool,
) -> Result<(), KafkaError> {
    match resource_type {
        RESOURCE_TOPIC => {
            broker
                .submit(ControllerRequest::AlterTopicConfigs { name: name.to_string(), changes, replace_all, validate_only })
                .await?;
            if !validate_only {
                tracing::info!(topic = %name, "altered topic configs");
            }
            Ok(())
        }
        RESOURCE_BROKER => {
            let target = if name.is_empty() {
                None
            } else {
                Some(name.parse::<i32>().map_err(|_| {
                    KafkaError::with_message(
                        ResponseError::InvalidRequest,
                        format!("The broker resource name must be a broker id or empty (the cluster default), not {name:?}"),
                    )
                })?)
            };
            broker.submit(ControllerRequest::AlterBrokerConfigs { broker: target, changes, replace_all, validate_only }).await?;
            if !validate_only {
                tracing::info!(broker = %if name.is_empty() { "default" } else { name }, "altered dynamic broker configs");
            }
            Ok(())
        }
        other => Err(KafkaError::with_message(ResponseError::InvalidRequest, format!("Unsupported resource type {other}"))),
    }
}
