//! Client quotas (Kafka's KIP-13 and KIP-55 byte-rate quotas): which quota applies to a
//! client's requests, and which quota settings the controller accepts.
//!
//! A quota is set on a [`QuotaEntity`]: a user, a client id, or both, each named or the
//! default of all. A request is counted against the most specific entity that sets the
//! quota, in Kafka's order (`ClientQuotaManager`):
//!
//! 1. this user and this client id
//! 2. this user and the default client id
//! 3. this user
//! 4. the default user and this client id
//! 5. the default user and the default client id
//! 6. the default user
//! 7. this client id
//! 8. the default client id
//!
//! A default part is a quota for each user (client id) on its own, not for all of them
//! together: the rate is measured per [`QuotaKey`]. Spool has no authentication, so
//! every client is Kafka's unauthenticated principal, user `ANONYMOUS`.
//!
//! Spool enforces `producer_byte_rate` and `consumer_byte_rate`; Kafka's
//! `request_percentage` and `controller_mutation_rate` (and `ip` connection quotas) are
//! refused with a reason rather than accepted without effect.

use std::collections::{BTreeMap, HashMap};

use crate::image::MetadataImage;
use crate::records::{ConfigResource, QuotaEntity, QuotaName};

/// Bytes per second a user or client id may produce (Kafka's quota key).
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
/// Bytes per second a user or client id may fetch, followers' fetches excepted.
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";

/// The user every client is, without authentication (Kafka's `KafkaPrincipal.ANONYMOUS`).
pub const ANONYMOUS_USER: &str = "ANONYMOUS";

/// Entity type names of Kafka's client quota protocol (`ClientQuotaEntity`).
pub const ENTITY_USER: &str = "user";
pub const ENTITY_CLIENT_ID: &str = "client-id";
pub const ENTITY_IP: &str = "ip";

/// Checks one quota setting before the controller records it; the error says why not.
pub fn validate_quota(entity: &QuotaEntity, key: &str, value: Option<f64>) -> Result<(), String> {
    if entity.user.is_none() && entity.client_id.is_none() {
        return Err("Invalid empty client quota entity".into());
    }
    match key {
        PRODUCER_BYTE_RATE | CONSUMER_BYTE_RATE => {}
        "request_percentage" | "controller_mutation_rate" => {
            return Err(format!(
                "Spool does not enforce {key} quotas; it enforces {PRODUCER_BYTE_RATE} and {CONSUMER_BYTE_RATE}"
            ))
        }
        other => return Err(format!("Invalid configuration key {other}")),
    }
    if let Some(value) = value {
        // Kafka's byte rates are LONG configs: whole numbers. Spool also refuses zero and
        // negative rates, which would stop a client for good.
        if !value.is_finite() || value.fract() != 0.0 || value > i64::MAX as f64 {
            return Err(format!("Invalid value {value} for configuration key {key}: a whole number of bytes per second is expected"));
        }
        if value < 1.0 {
            return Err(format!("Invalid value {value} for configuration key {key}: the rate must be at least 1 byte per second"));
        }
    }
    Ok(())
}

/// The quota one client's requests are counted against, and whose rate counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedQuota {
    /// Bytes per second.
    pub bound: f64,
    pub key: QuotaKey,
}

/// Whose rate a quota is measured over (Kafka's quota metric tags): the user and client
/// id the quota's entity names, empty for a part it does not have. Clients sharing a
/// key share a rate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaKey {
    pub user: String,
    pub client_id: String,
}

/// Every client quota of a metadata image, by entity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaTable {
    quotas: HashMap<QuotaEntity, BTreeMap<String, f64>>,
}

impl QuotaTable {
    /// The client quotas recorded in `image`.
    pub fn from_image(image: &MetadataImage) -> Self {
        QuotaTable { quotas: image.client_quotas().collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.quotas.is_empty()
    }

    /// The `quota_key` (`producer_byte_rate`, `consumer_byte_rate`) that applies to
    /// `user` connecting as `client_id`, if any entity sets it.
    pub fn lookup(&self, quota_key: &str, user: &str, client_id: &str) -> Option<AppliedQuota> {
        use QuotaName::{Default, Named};
        let (u, c) = (|| Named(user.to_string()), || Named(client_id.to_string()));
        let order = [
            (Some(u()), Some(c())),
            (Some(u()), Some(Default)),
            (Some(u()), None),
            (Some(Default), Some(c())),
            (Some(Default), Some(Default)),
            (Some(Default), None),
            (None, Some(c())),
            (None, Some(Default)),
        ];
        order.into_iter().find_map(|(user_part, client_part)| {
            let key = QuotaKey {
                user: if user_part.is_some() { user.to_string() } else { String::new() },
                client_id: if client_part.is_some() { client_id.to_string() } else { String::new() },
            };
            let entity = QuotaEntity { user: user_part, client_id: client_part };
            let bound = *self.quotas.get(&entity)?.get(quota_key)?;
            Some(AppliedQuota { bound, key })
        })
    }
}

impl MetadataImage {
    /// Every entity with client quotas, and its quotas (bytes per second by key).
    pub fn client_quotas(&self) -> impl Iterator<Item = (QuotaEntity, BTreeMap<String, f64>)> + '_ {
        self.all_configs().filter_map(|(resource, entries)| {
            let ConfigResource::ClientQuota(entity) = resource else { return None };
            let values = entries.iter().filter_map(|(k, v)| Some((k.clone(), v.parse::<f64>().ok()?))).collect();
            Some((entity.clone(), values))
        })
    }
}

/// How a DescribeClientQuotas filter component matches an entity part (the protocol's
/// `match_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// This name (0).
    Exact(String),
    /// The default (1).
    Default,
    /// Any name, the default included (2).
    Any,
}

/// The entities of `quotas` a DescribeClientQuotas filter selects: every component's
/// part present and matching, and with `strict` no other part (Kafka's
/// `ClientQuotasImage.describe`). Components name `user` or `client-id`.
pub fn matches_filter(entity: &QuotaEntity, components: &[(&str, QuotaMatch)], strict: bool) -> bool {
    let parts = usize::from(entity.user.is_some()) + usize::from(entity.client_id.is_some());
    if strict && parts != components.len() {
        return false;
    }
    components.iter().all(|(entity_type, matcher)| {
        let part = match *entity_type {
            ENTITY_USER => &entity.user,
            ENTITY_CLIENT_ID => &entity.client_id,
            _ => return false,
        };
        match (part, matcher) {
            (None, _) => false,
            (Some(_), QuotaMatch::Any) => true,
            (Some(QuotaName::Default), QuotaMatch::Default) => true,
            (Some(QuotaName::Named(name)), QuotaMatch::Exact(wanted)) => name == wanted,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client_id: Option<Option<&str>>) -> QuotaEntity {
        QuotaEntity { user: user.map(QuotaName::from_option), client_id: client_id.map(QuotaName::from_option) }
    }

    fn table(entries: &[(QuotaEntity, f64)]) -> QuotaTable {
        QuotaTable {
            quotas: entries
                .iter()
                .map(|(e, rate)| (e.clone(), BTreeMap::from([(PRODUCER_BYTE_RATE.to_string(), *rate)])))
                .collect(),
        }
    }

    #[test]
    fn the_most_specific_entity_setting_the_key_applies_in_kafkas_order() {
        let ordered = [
            entity(Some(Some("alice")), Some(Some("app"))),
            entity(Some(Some("alice")), Some(None)),
            entity(Some(Some("alice")), None),
            entity(Some(None), Some(Some("app"))),
            entity(Some(None), Some(None)),
            entity(Some(None), None),
            entity(None, Some(Some("app"))),
            entity(None, Some(None)),
        ];
        let keys = [("alice", "app"), ("alice", "app"), ("alice", ""), ("alice", "app"), ("alice", "app"), ("alice", ""), ("", "app"), ("", "app")];
        // With entities i.. set (rate = index), entity i is the one that applies.
        for i in 0..ordered.len() {
            let t = table(&ordered[i..].iter().enumerate().map(|(j, e)| (e.clone(), (i + j) as f64)).collect::<Vec<_>>());
            let applied = t.lookup(PRODUCER_BYTE_RATE, "alice", "app").expect("a quota applies");
            assert_eq!(applied.bound, i as f64, "entity {i} ({:?}) applies", ordered[i]);
            assert_eq!((applied.key.user.as_str(), applied.key.client_id.as_str()), keys[i]);
        }
        let t = table(&[(entity(Some(Some("bob")), None), 5.0), (entity(None, Some(Some("other"))), 6.0)]);
        assert_eq!(t.lookup(PRODUCER_BYTE_RATE, "alice", "app"), None, "quotas of others do not apply");
        assert_eq!(t.lookup(CONSUMER_BYTE_RATE, "bob", "app"), None, "nor quotas of another key");
    }

    #[test]
    fn only_byte_rates_of_a_whole_positive_number_are_accepted() {
        let client = entity(None, Some(Some("app")));
        assert!(validate_quota(&client, PRODUCER_BYTE_RATE, Some(1024.0)).is_ok());
        assert!(validate_quota(&client, CONSUMER_BYTE_RATE, None).is_ok());
        assert!(validate_quota(&client, PRODUCER_BYTE_RATE, Some(10.5)).unwrap_err().contains("whole number"));
        assert!(validate_quota(&client, PRODUCER_BYTE_RATE, Some(0.0)).unwrap_err().contains("at least 1"));
        assert!(validate_quota(&client, PRODUCER_BYTE_RATE, Some(f64::NAN)).is_err());
        assert!(validate_quota(&client, "request_percentage", Some(50.0)).unwrap_err().contains("does not enforce"));
        assert!(validate_quota(&client, "producer_bytes_rate", Some(5.0)).unwrap_err().contains("Invalid configuration key"));
        assert!(validate_quota(&entity(None, None), PRODUCER_BYTE_RATE, Some(5.0)).unwrap_err().contains("empty"));
    }

    #[test]
    fn filters_match_as_kafkas_describe() {
        let user_client = entity(Some(Some("alice")), Some(None));
        let any_client = [(ENTITY_CLIENT_ID, QuotaMatch::Any)];
        assert!(matches_filter(&user_client, &any_client, false));
        assert!(!matches_filter(&user_client, &any_client, true), "strict: no other part");
        assert!(matches_filter(&user_client, &[(ENTITY_USER, QuotaMatch::Exact("alice".into())), (ENTITY_CLIENT_ID, QuotaMatch::Default)], true));
        assert!(!matches_filter(&user_client, &[(ENTITY_USER, QuotaMatch::Exact("bob".into()))], false));
        assert!(!matches_filter(&user_client, &[(ENTITY_CLIENT_ID, QuotaMatch::Exact("app".into()))], false));
        assert!(matches_filter(&entity(None, Some(Some("app"))), &[], false), "no component: every entity");
    }
}
