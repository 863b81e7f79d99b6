//! DescribeClientQuotas and AlterClientQuotas: the byte-rate quotas of users and client
//! ids (`kafka-configs --entity-type clients|users`, `Admin.alterClientQuotas`).
//!
//! Quotas are metadata: AlterClientQuotas goes to the active controller, which validates
//! each entity's changes (see [`spool_metadata::quota`]) and records them; each entity
//! gets its own error code. DescribeClientQuotas is answered from this broker's image,
//! as Kafka answers it from its metadata cache. What the quotas do is
//! [`crate::client_quotas`].

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    alter_client_quotas_response, describe_client_quotas_response, AlterClientQuotasRequest, AlterClientQuotasResponse,
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use spool_metadata::controller::{ControllerReply, ControllerRequest, QuotaChanges};
use spool_metadata::quota::{matches_filter, validate_quota, QuotaMatch, ENTITY_CLIENT_ID, ENTITY_IP, ENTITY_USER};
use spool_metadata::records::{QuotaEntity, QuotaName};

use super::{message, submit_expecting};
use crate::broker::Broker;
use crate::error::KafkaError;

pub(crate) async fn handle_describe(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut response = DescribeClientQuotasResponse::default();
    let components = match filter_components(&request) {
        Ok(components) => components,
        Err(e) => {
            response.error_code = e.code();
            response.error_message = message(e.message);
            return response;
        }
    };
    let filter: Vec<(&str, QuotaMatch)> = components.iter().map(|(t, m)| (t.as_str(), m.clone())).collect();
    let image = broker.image();
    let mut entries: Vec<(QuotaEntity, _)> =
        image.client_quotas().filter(|(entity, _)| matches_filter(entity, &filter, request.strict)).collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    response.entries = Some(
        entries
            .into_iter()
            .map(|(entity, values)| {
                let mut entry = describe_client_quotas_response::EntryData::default();
                entry.entity = entity_parts(&entity)
                    .map(|(entity_type, name)| {
                        let mut part = describe_client_quotas_response::EntityData::default();
                        part.entity_type = StrBytes::from_static_str(entity_type);
                        part.entity_name = name.as_option().map(|n| StrBytes::from_string(n.to_string()));
                        part
                    })
                    .collect();
                entry.values = values
                    .into_iter()
                    .map(|(key, value)| {
                        let mut v = describe_client_quotas_response::ValueData::default();
                        v.key = StrBytes::from_string(key);
                        v.value = value;
                        v
                    })
                    .collect();
                entry
            })
            .collect(),
    );
    response
}

/// The filter's components, checked as Kafka's `ClientQuotasImage.describe` does.
fn filter_components(request: &DescribeClientQuotasRequest) -> Result<Vec<(String, QuotaMatch)>, KafkaError> {
    let invalid = |text: String| KafkaError::with_message(ResponseError::InvalidRequest, text);
    let mut components = Vec::with_capacity(request.components.len());
    for component in &request.components {
        let entity_type = component.entity_type.to_string();
        if components.iter().any(|(t, _)| *t == entity_type) {
            return Err(invalid(format!("Entity type {entity_type} cannot appear more than once in the filter.")));
        }
        match entity_type.as_str() {
            ENTITY_USER | ENTITY_CLIENT_ID => {}
            // Spool has no IP quotas: a filter on them matches nothing.
            ENTITY_IP => {}
            other => return Err(invalid(format!("Unknown entity type: {other}"))),
        }
        let name = component._match.as_ref().map(|m| m.to_string());
        let matcher = match (component.match_type, name) {
            (0, Some(name)) => QuotaMatch::Exact(name),
            (0, None) => return Err(invalid("Request specified MATCH_TYPE_EXACT, but set match string to null".into())),
            (1, None) => QuotaMatch::Default,
            (2, None) => QuotaMatch::Any,
            (1 | 2, Some(_)) => return Err(invalid("Request specified MATCH_TYPE_DEFAULT or MATCH_TYPE_SPECIFIED, but also a match string".into())),
            (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
        };
        components.push((entity_type, matcher));
    }
    Ok(components)
}

/// The parts of an entity as the protocol names them.
fn entity_parts(entity: &QuotaEntity) -> impl Iterator<Item = (&'static str, &QuotaName)> {
    [(ENTITY_USER, entity.user.as_ref()), (ENTITY_CLIENT_ID, entity.client_id.as_ref())]
        .into_iter()
        .filter_map(|(entity_type, name)| Some((entity_type, name?)))
}

pub(crate) async fn handle_alter(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    // Entities this broker refuses before the controller sees them, by index.
    let mut refused: Vec<Option<KafkaError>> = Vec::with_capacity(request.entries.len());
    let mut entries = Vec::new();
    for entry in &request.entries {
        let ops: QuotaChanges = entry.ops.iter().map(|op| (op.key.to_string(), (!op.remove).then_some(op.value))).collect();
        // Checked here too, before the request travels to the controller: a rate that is
        // not a number cannot travel as one.
        let checked = quota_entity(entry).and_then(|entity| {
            for (key, value) in &ops {
                validate_quota(&entity, key, *value).map_err(|e| KafkaError::with_message(ResponseError::InvalidRequest, e))?;
            }
            Ok(entity)
        });
        match checked {
            Ok(entity) => {
                entries.push((entity, ops));
                refused.push(None);
            }
            Err(e) => refused.push(Some(e)),
        }
    }
    let submitted = if entries.is_empty() {
        Ok(Vec::new())
    } else {
        let request = ControllerRequest::AlterClientQuotas { entries, validate_only: request.validate_only };
        submit_expecting(broker, request, |reply| match reply {
            ControllerReply::QuotaAlterations(outcomes) => Ok(outcomes),
            other => Err(other),
        })
        .await
    };
    let mut outcomes = match submitted {
        Ok(outcomes) => outcomes.into_iter().map(|o| o.map_err(KafkaError::from)).collect::<Vec<_>>().into_iter(),
        // The whole request failed (no controller): every entity says so.
        Err(e) => vec![Err(e); refused.iter().filter(|r| r.is_none()).count()].into_iter(),
    };
    let mut response = AlterClientQuotasResponse::default();
    for (entry, refusal) in request.entries.iter().zip(refused) {
        let outcome = match refusal {
            Some(e) => Err(e),
            None => outcomes.next().unwrap_or(Ok(())),
        };
        let mut result = alter_client_quotas_response::EntryData::default();
        result.entity = entry
            .entity
            .iter()
            .map(|part| {
                let mut data = alter_client_quotas_response::EntityData::default();
                data.entity_type = part.entity_type.clone();
                data.entity_name = part.entity_name.clone();
                data
            })
            .collect();
        if let Err(e) = outcome {
            result.error_code = e.code();
            result.error_message = message(e.message);
        }
        response.entries.push(result);
    }
    if !request.validate_only {
        tracing::info!(entities = response.entries.len(), "altered client quotas");
    }
    response
}

/// The entity an AlterClientQuotas entry names, checked as Kafka's controller does.
fn quota_entity(entry: &kafka_protocol::messages::alter_client_quotas_request::EntryData) -> Result<QuotaEntity, KafkaError> {
    let invalid = |text: String| KafkaError::with_message(ResponseError::InvalidRequest, text);
    let mut entity = QuotaEntity { user: None, client_id: None };
    for part in &entry.entity {
        let name = QuotaName::from_option(part.entity_name.as_deref());
        let slot = match part.entity_type.as_str() {
            ENTITY_USER => &mut entity.user,
            ENTITY_CLIENT_ID => &mut entity.client_id,
            ENTITY_IP => return Err(invalid("Spool has no IP connection quotas (connection_creation_rate)".into())),
            other => return Err(invalid(format!("Unknown entity type {other}"))),
        };
        if slot.replace(name).is_some() {
            return Err(invalid(format!("Duplicate entity type {}", part.entity_type.as_str())));
        }
    }
    if entity.user.is_none() && entity.client_id.is_none() {
        return Err(invalid("Invalid empty client quota entity".into()));
    }
    Ok(entity)
}
