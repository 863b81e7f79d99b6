//! The DescribeConfigs view of topic and broker configs, as Kafka 3.9's `ConfigHelper` builds it.
//!
//! Every config of the resource is listed, not only the ones set. A config's synonyms are the
//! places its value could come from that hold a value, highest precedence first: the topic
//! override, then for each broker layer (dynamic broker, dynamic default, static, default)
//! each broker synonym in order. As in Kafka, synonyms before the first entry named like the
//! config's primary broker key are dropped (`dropWhile(name != primary)`), so e.g.
//! `retention.ms` on a broker that sets only `log.retention.hours` reports
//! `DEFAULT_CONFIG` with no synonyms, exactly as `kafka-configs --describe --all` shows.
//! The config's source is its first synonym's, or [`ConfigSource::Default`] when there is none.

use std::collections::BTreeMap;

use super::broker::BrokerConfig;
use super::broker_defs::broker_config_defs;
use super::topic::{resolved, topic_config_defs};
use super::{ConfigSource, ConfigType};

/// One place a config's value can come from, as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The config key at that place (`log.retention.hours` for `retention.ms`).
    pub name: String,
    /// Its value there; `None` when sensitive.
    pub value: Option<String>,
    /// Which layer.
    pub source: ConfigSource,
}

/// What DescribeConfigs returns for one config.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedConfig {
    /// The config key.
    pub name: String,
    /// The effective value; `None` for a `null` value or a sensitive config.
    pub value: Option<String>,
    /// Where the effective value comes from.
    pub source: ConfigSource,
    /// Whether the value is the default (DescribeConfigs v0 `is_default`): `source == Default`.
    pub is_default: bool,
    /// Whether it cannot be changed at runtime (always false for topic configs).
    pub read_only: bool,
    /// Whether the value is secret (passwords).
    pub sensitive: bool,
    /// The value's type (DescribeConfigs v3+ `config_type`: [`ConfigType::id`]).
    pub ty: ConfigType,
    /// Documentation (DescribeConfigs v3+ `documentation`).
    pub doc: &'static str,
    /// Where the value could come from, highest precedence first.
    pub synonyms: Vec<ConfigSynonym>,
}

const BROKER_LAYERS: [ConfigSource; 4] = [
    ConfigSource::DynamicBroker,
    ConfigSource::DynamicDefaultBroker,
    ConfigSource::StaticBroker,
    ConfigSource::Default,
];

/// The broker keys that stand for one setting (Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`).
fn broker_synonym_group(name: &str) -> &[&str] {
    const RETENTION: &[&str] = &["log.retention.ms", "log.retention.minutes", "log.retention.hours"];
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    if RETENTION.contains(&name) {
        RETENTION
    } else if ROLL.contains(&name) {
        ROLL
    } else if JITTER.contains(&name) {
        JITTER
    } else if name == FLUSH[0] {
        FLUSH
    } else {
        std::slice::from_ref(broker_config_defs().iter().find(|d| d.name == name).map_or(&"", |d| &d.name))
    }
}

/// The broker-layer synonyms of `primary`, in Kafka's order, after its `dropWhile`.
fn broker_synonyms(broker: &BrokerConfig, primary: &str, sensitive: bool) -> Vec<ConfigSynonym> {
    let group = broker_synonym_group(primary);
    let mut synonyms: Vec<ConfigSynonym> = BROKER_LAYERS
        .iter()
        .flat_map(|source| {
            group.iter().filter_map(move |name| {
                broker.layer_value(name, *source).map(|value| ConfigSynonym {
                    name: name.to_string(),
                    value: (!sensitive).then(|| value.to_string()),
                    source: *source,
                })
            })
        })
        .collect();
    let first = synonyms.iter().position(|s| s.name == primary).unwrap_or(synonyms.len());
    synonyms.drain(..first);
    synonyms
}

/// Every topic config of a topic with these overrides, as DescribeConfigs returns them
/// (sorted by name).
pub fn describe_topic_configs(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Vec<DescribedConfig> {
    topic_config_defs()
        .iter()
        .map(|def| {
            let value = resolved(broker, overrides, def.name).map(|v| v.to_kafka_string());
            let mut synonyms = Vec::new();
            if overrides.contains_key(def.name) {
                synonyms.push(ConfigSynonym {
                    name: def.name.to_string(),
                    value: value.clone(),
                    source: ConfigSource::DynamicTopic,
                });
            }
            if let Some(primary) = def.broker_synonym() {
                synonyms.extend(broker_synonyms(broker, primary, false));
            }
            let source = synonyms.first().map_or(ConfigSource::Default, |s| s.source);
            DescribedConfig {
                name: def.name.to_string(),
                value,
                source,
                is_default: source == ConfigSource::Default,
                read_only: false,
                sensitive: false,
                ty: def.ty,
                doc: def.doc,
                synonyms,
            }
        })
        .collect()
}

/// Every config of this broker, as DescribeConfigs on its broker resource returns them
/// (sorted by name).
pub fn describe_broker_configs(broker: &BrokerConfig) -> Vec<DescribedConfig> {
    broker_config_defs()
        .iter()
        .map(|def| {
            let sensitive = def.ty == ConfigType::Password;
            let synonyms = broker_synonyms(broker, def.name, sensitive);
            let source = synonyms.first().map_or(ConfigSource::Default, |s| s.source);
            DescribedConfig {
                name: def.name.to_string(),
                value: if sensitive { None } else { broker.get(def.name).map(str::to_string) },
                source,
                is_default: source == ConfigSource::Default,
                read_only: !def.dynamic,
                sensitive,
                ty: def.ty,
                doc: def.doc,
                synonyms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::DynamicScope;
    use super::*;

    fn find<'a>(configs: &'a [DescribedConfig], name: &str) -> &'a DescribedConfig {
        configs.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("{name} not described"))
    }

    fn syn(name: &str, value: &str, source: ConfigSource) -> ConfigSynonym {
        ConfigSynonym { name: name.into(), value: Some(value.into()), source }
    }

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn topic_describe_lists_every_topic_config_with_defaults() {
        let configs = describe_topic_configs(&BrokerConfig::new(), &BTreeMap::new());
        assert_eq!(configs.len(), topic_config_defs().len());
        assert!(configs
            .iter()
            .all(|c| c.source == ConfigSource::Default && c.is_default && !c.read_only && !c.sensitive));
        let segment = find(&configs, "segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("1073741824"));
        assert_eq!(segment.ty, ConfigType::Int);
        assert_eq!(segment.synonyms, vec![syn("log.segment.bytes", "1073741824", ConfigSource::Default)]);
        // Kafka's dropWhile: log.retention.ms has no value, so the hours default is dropped.
        let retention = find(&configs, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("604800000"));
        assert!(retention.synonyms.is_empty());
        let flush = find(&configs, "flush.ms");
        assert_eq!(flush.value.as_deref(), Some("9223372036854775807"));
        assert!(flush.synonyms.is_empty());
        assert_eq!(find(&configs, "min.cleanable.dirty.ratio").value.as_deref(), Some("0.5"));
        assert_eq!(find(&configs, "cleanup.policy").value.as_deref(), Some("delete"));
        assert_eq!(find(&configs, "leader.replication.throttled.replicas").value.as_deref(), Some(""));
        assert!(find(&configs, "remote.storage.enable").synonyms.is_empty());
    }

    #[test]
    fn topic_describe_sources_follow_override_static_default() {
        let broker = BrokerConfig::from_properties(
            "log.segment.bytes=2097152\nlog.retention.ms=5000\nlog.retention.hours=1\nmessage.max.bytes=3000000",
        )
        .expect("valid");
        let configs = describe_topic_configs(
            &broker,
            &overrides(&[("max.message.bytes", " 4000 "), ("cleanup.policy", "compact , delete")]),
        );
        // A topic override.
        let max = find(&configs, "max.message.bytes");
        assert_eq!(max.value.as_deref(), Some("4000"));
        assert_eq!(max.source, ConfigSource::DynamicTopic);
        assert!(!max.is_default);
        assert_eq!(
            max.synonyms,
            vec![
                syn("max.message.bytes", "4000", ConfigSource::DynamicTopic),
                syn("message.max.bytes", "3000000", ConfigSource::StaticBroker),
                syn("message.max.bytes", "1048588", ConfigSource::Default),
            ]
        );
        // Lists are printed as Kafka prints them.
        assert_eq!(find(&configs, "cleanup.policy").value.as_deref(), Some("compact,delete"));
        // A static broker value.
        let segment = find(&configs, "segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("2097152"));
        assert_eq!(segment.source, ConfigSource::StaticBroker);
        assert!(!segment.is_default);
        // retention.ms: every synonym that has a value, in precedence order.
        let retention = find(&configs, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("5000"));
        assert_eq!(retention.source, ConfigSource::StaticBroker);
        assert_eq!(
            retention.synonyms,
            vec![
                syn("log.retention.ms", "5000", ConfigSource::StaticBroker),
                syn("log.retention.hours", "1", ConfigSource::StaticBroker),
                syn("log.retention.hours", "168", ConfigSource::Default),
            ]
        );
        // Untouched configs stay defaults.
        let index = find(&configs, "index.interval.bytes");
        assert_eq!(index.source, ConfigSource::Default);
        assert!(index.is_default);
    }

    #[test]
    fn topic_describe_retention_from_hours_only_matches_kafka() {
        // Kafka reports DEFAULT_CONFIG (its dropWhile removes the hours synonyms) but the
        // value is the broker's.
        let broker = BrokerConfig::from_properties("log.retention.hours=48").expect("valid");
        let configs = describe_topic_configs(&broker, &BTreeMap::new());
        let retention = find(&configs, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("172800000"));
        assert_eq!(retention.source, ConfigSource::Default);
        assert!(retention.synonyms.is_empty());
    }

    #[test]
    fn topic_describe_shows_dynamic_broker_layers() {
        let mut broker = BrokerConfig::from_properties("log.retention.bytes=100").expect("valid");
        broker.set_dynamic(DynamicScope::ClusterDefault, "log.retention.bytes", Some("200")).expect("dynamic");
        broker.set_dynamic(DynamicScope::Broker, "log.retention.bytes", Some("300")).expect("dynamic");
        let configs = describe_topic_configs(&broker, &BTreeMap::new());
        let bytes = find(&configs, "retention.bytes");
        assert_eq!(bytes.value.as_deref(), Some("300"));
        assert_eq!(bytes.source, ConfigSource::DynamicBroker);
        assert_eq!(
            bytes.synonyms,
            vec![
                syn("log.retention.bytes", "300", ConfigSource::DynamicBroker),
                syn("log.retention.bytes", "200", ConfigSource::DynamicDefaultBroker),
                syn("log.retention.bytes", "100", ConfigSource::StaticBroker),
                syn("log.retention.bytes", "-1", ConfigSource::Default),
            ]
        );
    }

    #[test]
    fn broker_describe_lists_every_broker_config() {
        let broker =
            BrokerConfig::from_properties("num.partitions=3\nnode.id=2\nlog.retention.ms=1000").expect("valid");
        let configs = describe_broker_configs(&broker);
        assert_eq!(configs.len(), broker_config_defs().len());
        let partitions = find(&configs, "num.partitions");
        assert_eq!(partitions.value.as_deref(), Some("3"));
        assert_eq!(partitions.source, ConfigSource::StaticBroker);
        assert!(partitions.read_only, "num.partitions is not dynamic in Kafka");
        assert_eq!(
            partitions.synonyms,
            vec![
                syn("num.partitions", "3", ConfigSource::StaticBroker),
                syn("num.partitions", "1", ConfigSource::Default)
            ]
        );
        // broker.id follows node.id.
        let broker_id = find(&configs, "broker.id");
        assert_eq!(broker_id.value.as_deref(), Some("2"));
        assert_eq!(broker_id.source, ConfigSource::StaticBroker);
        // A dynamic config is not read-only.
        let retention = find(&configs, "log.retention.ms");
        assert!(!retention.read_only);
        assert_eq!(retention.source, ConfigSource::StaticBroker);
        // log.retention.hours: its own default only (log.retention.ms's entry comes before it and is dropped).
        let hours = find(&configs, "log.retention.hours");
        assert_eq!(hours.value.as_deref(), Some("168"));
        assert_eq!(hours.source, ConfigSource::Default);
        assert!(hours.is_default);
        assert_eq!(hours.synonyms, vec![syn("log.retention.hours", "168", ConfigSource::Default)]);
        // A null config.
        let minutes = find(&configs, "log.retention.minutes");
        assert_eq!(minutes.value, None);
        assert_eq!(minutes.source, ConfigSource::Default);
        assert!(minutes.synonyms.is_empty());
    }
}
