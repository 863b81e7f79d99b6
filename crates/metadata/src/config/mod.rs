//! The config catalog: every broker and topic config Spool accepts, with Apache Kafka
//! 3.9's names, types, defaults and validation, and the DescribeConfigs view of them.
//!
//! ```text
//!  server.properties ─┐                         ┌─► typed getters (node_id(), log_retention_ms() …)
//!  --set key=value ───┼─► BrokerConfig ─────────┼─► describe_broker_configs()
//!  (dynamic configs) ─┘   (layers of strings)   │
//!                                               ├─► resolve_topic_config(broker, overrides) ─► TopicConfig
//!  topic overrides (metadata image) ────────────┴─► describe_topic_configs(broker, overrides)
//! ```
//!
//! - [`broker_config_defs`] / [`topic_config_defs`]: the catalogs, as data.
//! - [`BrokerConfig`]: a broker's configuration in layers, highest precedence first:
//!   dynamic per-broker, dynamic cluster default, static (file or `--set`), default.
//! - [`resolve_topic_config`]: per key, the topic override, else the broker's value of the
//!   topic config's broker synonym, else the topic default; [`TopicConfig`] is the result.
//! - [`describe_topic_configs`] / [`describe_broker_configs`]: what DescribeConfigs returns:
//!   every config of the resource, with source, default flag, synonyms and doc.
//!
//! Invariants:
//! - Every value stored in a [`BrokerConfig`] has been parsed and validated against its
//!   [`ConfigDef`]; every catalog default parses and validates (tested), so typed getters
//!   never see a bad value.
//! - Unknown keys are errors ([`ConfigError::UnknownKey`]) with a "did you mean" hint.
//! - Where Spool's default differs from Kafka's (node id, data directory, listener, process
//!   roles), the catalog holds Spool's and the doc says so.
//!
//! No I/O except [`BrokerConfig::from_file`]; no clock.

mod broker;
mod broker_checks;
mod broker_defs;
mod describe;
mod listener;
mod properties;
mod sasl;
mod ssl;
mod topic;
mod value;

use std::path::PathBuf;

pub use broker::{
    validate_dynamic_broker_config, BrokerConfig, DynamicScope, ProcessRole, PROPERTIES_FILE_MAX_BYTES, REPLICATION_THROTTLE_CONFIGS,
};
pub use broker_defs::{broker_config_def, broker_config_defs};
pub use describe::{describe_broker_configs, describe_topic_configs, ConfigSynonym, DescribedConfig};
pub use listener::{Listener, QuorumVoter, SecurityProtocol};
pub use properties::{parse_properties, PropertyLine};
pub use sasl::{parse_jaas, JaasEntry, SaslSettings, PLAIN_LOGIN_MODULE};
pub use ssl::{ClientAuth, PemSource, SslSettings};
pub use topic::{
    resolve_topic_config, topic_config_def, topic_config_defs, validate_topic_config, validate_topic_configs,
    BrokerSynonym, SynonymUnit, ThrottledPartitions, TimestampType, TopicConfig, TopicConfigDef, FOLLOWER_THROTTLED_REPLICAS,
    LEADER_THROTTLED_REPLICAS,
};
pub use value::ConfigValue;

/// The type of a config value, as Kafka's `ConfigDef.Type` (and DescribeConfigs v3+ `config_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    /// `true` or `false`, case-insensitive.
    Boolean,
    /// A 32-bit signed integer.
    Int,
    /// A 16-bit signed integer.
    Short,
    /// A 64-bit signed integer.
    Long,
    /// A 64-bit float.
    Double,
    /// A string (trimmed).
    String,
    /// A comma-separated list; whitespace around commas is dropped; "" is the empty list.
    List,
    /// A Java class name (accepted as a string; Spool loads no classes).
    Class,
    /// A secret string: DescribeConfigs reports it as sensitive and hides its value.
    Password,
}

impl ConfigType {
    /// The DescribeConfigs (v3+) `config_type` code: Kafka's `DescribeConfigsResponse.ConfigType` id.
    pub fn id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }

    /// Kafka's name for the type, as the config reference prints it.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "boolean",
            ConfigType::Int => "int",
            ConfigType::Short => "short",
            ConfigType::Long => "long",
            ConfigType::Double => "double",
            ConfigType::String => "string",
            ConfigType::List => "list",
            ConfigType::Class => "class",
            ConfigType::Password => "password",
        }
    }
}

/// Where a config's value comes from: Kafka's DescribeConfigs `config_source` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum ConfigSource {
    /// A per-topic override (`TOPIC_CONFIG`).
    DynamicTopic = 1,
    /// A dynamic config set for this broker (`DYNAMIC_BROKER_CONFIG`).
    DynamicBroker = 2,
    /// A dynamic config set as the default for all brokers (`DYNAMIC_DEFAULT_BROKER_CONFIG`).
    DynamicDefaultBroker = 3,
    /// Set in server.properties or with `--set` (`STATIC_BROKER_CONFIG`).
    StaticBroker = 4,
    /// The catalog default (`DEFAULT_CONFIG`).
    Default = 5,
    /// A log level of this broker process (`DYNAMIC_BROKER_LOGGER_CONFIG`).
    DynamicBrokerLogger = 6,
}

/// How a config's value is checked after it parses as its type (Kafka's `ConfigDef.Validator`s).
#[derive(Debug, Clone, Copy)]
pub enum Validator {
    /// Any value of the type is accepted.
    None,
    /// An integer at least this large (Kafka's `Range.atLeast`).
    AtLeast(i64),
    /// An integer in this inclusive range (Kafka's `Range.between`).
    Between(i64, i64),
    /// A double in this inclusive range.
    BetweenF64(f64, f64),
    /// A string that is exactly one of these (case-sensitive, Kafka's `ValidString.in`).
    OneOf(&'static [&'static str]),
    /// A list whose every entry is one of these (Kafka's `ValidList.in`).
    ListOf(&'static [&'static str]),
    /// A check of its own; `describe` says what is accepted.
    Custom {
        /// What the check accepts, for messages and docs.
        describe: &'static str,
        /// Returns why the (trimmed) value is not accepted.
        check: fn(&str) -> Result<(), String>,
    },
}

/// One broker config: name, type, default, validation and doc, as Kafka's `ConfigDef` defines it.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    /// The key, e.g. `log.retention.hours`.
    pub name: &'static str,
    /// The value's type.
    pub ty: ConfigType,
    /// The default as a string, `None` for Kafka's `null` default.
    pub default: Option<&'static str>,
    /// What values are accepted beyond parsing as `ty`.
    pub validator: Validator,
    /// Whether Kafka lets it change at runtime (IncrementalAlterConfigs on a broker);
    /// DescribeConfigs reports `read_only = !dynamic`.
    pub dynamic: bool,
    /// One-paragraph description.
    pub doc: &'static str,
}

impl ConfigDef {
    /// A static config with no validation beyond its type.
    pub const fn new(name: &'static str, ty: ConfigType, default: Option<&'static str>, doc: &'static str) -> Self {
        ConfigDef { name, ty, default, validator: Validator::None, dynamic: false, doc }
    }

    /// The same config, checked by `validator`.
    pub const fn check(mut self, validator: Validator) -> Self {
        self.validator = validator;
        self
    }

    /// The same config, marked as changeable at runtime.
    pub const fn dynamic(mut self) -> Self {
        self.dynamic = true;
        self
    }

    /// Parses and validates `raw` as this config's value.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] saying what is accepted.
    pub fn parse(&self, raw: &str) -> Result<ConfigValue, ConfigError> {
        value::parse_value(self.name, self.ty, &self.validator, raw)
    }
}

/// Why a config could not be read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The key is not a config Spool knows.
    #[error(
        "unknown config '{key}'{}; remove it or use a config name from the Kafka 3.9 reference",
        suggestion.map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default()
    )]
    UnknownKey {
        /// The key as given.
        key: String,
        /// A known key close to it, if any.
        suggestion: Option<&'static str>,
    },
    /// The value does not parse as the config's type or is out of its accepted range.
    #[error("invalid value '{value}' for config '{key}': {reason}")]
    InvalidValue {
        /// The config's key.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Each value is fine alone, but together they are inconsistent.
    #[error("inconsistent configs {}: {reason}", keys.join(", "))]
    Inconsistent {
        /// The configs involved.
        keys: Vec<&'static str>,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A line of a .properties text cannot be parsed.
    #[error("line {line} '{text}' cannot be parsed: {reason}")]
    Parse {
        /// 1-based line number where the logical line starts.
        line: usize,
        /// The line's text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An error in a key or value at a known place (a file's line, a `--set` flag).
    #[error("{origin}: {source}")]
    Located {
        /// Where: `server.properties:12`, `line 12`.
        origin: String,
        /// The error itself.
        source: Box<ConfigError>,
    },
    /// The config file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is larger than any sane server.properties.
    #[error("config file {} is {size_bytes} bytes, more than the {max_bytes} bytes accepted; is it the right file?", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// A dynamic change of a config Kafka only reads at startup.
    #[error("config '{key}' cannot be updated dynamically; set it in server.properties and restart the broker")]
    NotDynamic {
        /// The config's key.
        key: String,
    },
    /// A dynamic change of a config Kafka can change at runtime and Spool cannot yet.
    #[error(
        "Spool cannot update config '{key}' dynamically yet: only the broker defaults of topic configs \
         (log.retention.ms, log.segment.bytes, min.insync.replicas, ...) are; set it in server.properties \
         (or with --set) and restart the broker"
    )]
    NotDynamicInSpool {
        /// The config's key.
        key: String,
    },
}

impl ConfigError {
    /// The error without [`ConfigError::Located`] wrappers.
    pub fn root(&self) -> &ConfigError {
        match self {
            ConfigError::Located { source, .. } => source.root(),
            other => other,
        }
    }
}

/// The known name closest to `key`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(key: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // Allow about one edit per six characters, at least two, at most four.
    let max_distance = (key.chars().count() / 6).clamp(2, 4);
    names
        .map(|name| (edit_distance(key, name), name))
        .filter(|(distance, _)| *distance <= max_distance)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "ab"), 1);
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggest_finds_close_names_only() {
        let names = ["log.retention.hours", "log.retention.ms", "num.partitions"];
        assert_eq!(suggest("log.retension.hours", names.iter().copied()), Some("log.retention.hours"));
        assert_eq!(suggest("num.partition", names.iter().copied()), Some("num.partitions"));
        assert_eq!(suggest("completely.different", names.iter().copied()), None);
    }

    #[test]
    fn config_source_codes_are_kafkas() {
        assert_eq!(ConfigSource::DynamicTopic as i8, 1);
        assert_eq!(ConfigSource::DynamicBroker as i8, 2);
        assert_eq!(ConfigSource::DynamicDefaultBroker as i8, 3);
        assert_eq!(ConfigSource::StaticBroker as i8, 4);
        assert_eq!(ConfigSource::Default as i8, 5);
    }

    #[test]
    fn located_errors_unwrap_to_root() {
        let inner = ConfigError::UnknownKey { key: "x".into(), suggestion: None };
        let located = ConfigError::Located { origin: "line 3".into(), source: Box::new(inner) };
        assert!(located.to_string().starts_with("line 3: unknown config 'x'"));
        assert!(matches!(located.root(), ConfigError::UnknownKey { key, .. } if key == "x"));
    }
}
