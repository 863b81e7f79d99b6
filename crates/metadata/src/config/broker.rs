//! [`BrokerConfig`]: a broker's configuration (server.properties, `--set`, dynamic configs)
//! over the catalog's defaults, with Kafka's typed getters and precedence rules.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::broker_defs::{broker_config_def, broker_config_defs};
use super::listener::{parse_host_port, parse_listeners, parse_protocol_map, parse_voter};
use super::properties::parse_properties;
use super::topic::topic_config_defs;
use super::value::parse_list;
use super::{suggest, ConfigDef, ConfigError, ConfigSource, ConfigValue, Listener, QuorumVoter, SecurityProtocol};
use crate::image::MetadataImage;
use crate::records::ConfigResource;

/// The prefix of a config set for one listener: `listener.name.<listener>.<key>`.
const LISTENER_PREFIX: &str = "listener.name.";

/// The configs that may be set per listener, as Kafka's listener-prefixed TLS and SASL
/// configs.
const PER_LISTENER_CONFIGS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "sasl.jaas.config",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.type",
    "ssl.protocol",
    "ssl.truststore.certificates",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.type",
];

/// Largest server.properties [`BrokerConfig::from_file`] reads: real ones are a few KiB.
pub const PROPERTIES_FILE_MAX_BYTES: u64 = 1024 * 1024;

const MS_PER_MINUTE: i64 = 60 * 1000;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;

/// A role a node plays (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcessRole {
    /// Serves clients and hosts partitions.
    Broker,
    /// Votes in the metadata quorum.
    Controller,
}

/// Which dynamic layer a runtime config change goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicScope {
    /// This broker only (`DYNAMIC_BROKER_CONFIG`).
    Broker,
    /// The cluster-wide default for every broker (`DYNAMIC_DEFAULT_BROKER_CONFIG`).
    ClusterDefault,
}

/// Broker configuration (server.properties): defaults + values set in a file or with `--set`,
/// and dynamic values set at runtime.
///
/// A key's value is, highest precedence first: dynamic per-broker, dynamic cluster default,
/// static (file / `--set`), catalog default. `node.id` and `broker.id` are one config under two
/// names: setting either sets both, setting both to different values fails [`Self::validate`].
///
/// Every stored value was validated when set, so the typed getters cannot meet a bad value.
///
/// # Panics
/// A typed getter panics only if the built-in catalog contradicts the getter (a key missing
/// or of another type), which this module's tests rule out; never because of input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerConfig {
    pub(super) static_values: BTreeMap<&'static str, String>,
    /// Static values for one listener (`listener.name.<listener>.<key>`), by listener
    /// name (upper-cased, as listener names are compared) and key; see
    /// [`Self::listener_value`].
    listener_values: BTreeMap<(String, &'static str), String>,
    dynamic_broker: BTreeMap<&'static str, String>,
    dynamic_default: BTreeMap<&'static str, String>,
}

impl BrokerConfig {
    /// All Kafka defaults, plus Spool's embedded defaults (node id 1, data in `./spool-data`,
    /// listener `PLAINTEXT://127.0.0.1:9092`, roles broker and controller).
    pub fn new() -> Self {
        BrokerConfig::default()
    }

    /// Reads Kafka's .properties format (see [`super::parse_properties`]), sets every entry
    /// and checks the result with [`Self::validate`].
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for a malformed line; [`ConfigError::Located`] around
    /// [`ConfigError::UnknownKey`] or [`ConfigError::InvalidValue`] with the line number;
    /// [`ConfigError::Inconsistent`] when values contradict each other.
    pub fn from_properties(text: &str) -> Result<Self, ConfigError> {
        let mut config = BrokerConfig::new();
        config.apply_properties(text, "line")?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a server.properties file (at most [`PROPERTIES_FILE_MAX_BYTES`]) like
    /// [`Self::from_properties`].
    ///
    /// # Errors
    /// [`ConfigError::Io`] or [`ConfigError::FileTooLarge`] when the file cannot be read,
    /// then the errors of [`Self::from_properties`], located as `path:line`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let mut config = BrokerConfig::new();
        config.apply_file(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Sets every entry of a server.properties file, without [`Self::validate`]; for a caller
    /// that applies `--set` flags afterwards and validates once at the end.
    ///
    /// # Errors
    /// As [`Self::from_file`], except [`ConfigError::Inconsistent`].
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let io_error = |source| ConfigError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io_error)?;
        let mut bytes = Vec::new();
        file.take(PROPERTIES_FILE_MAX_BYTES + 1).read_to_end(&mut bytes).map_err(io_error)?;
        if bytes.len() as u64 > PROPERTIES_FILE_MAX_BYTES {
            let size_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64);
            return Err(ConfigError::FileTooLarge {
                path: path.to_path_buf(),
                size_bytes,
                max_bytes: PROPERTIES_FILE_MAX_BYTES,
            });
        }
        let text =
            String::from_utf8(bytes).map_err(|e| io_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let origin = path.display().to_string();
        self.apply_properties(&text, &origin).map_err(|e| match e {
            // Parse errors already carry their line; say which file.
            e @ ConfigError::Parse { .. } => ConfigError::Located { origin, source: Box::new(e) },
            other => other,
        })
    }

    /// Sets every entry of properties text; errors are located as `{origin}:{line}`
    /// (or `line {line}` when `origin` is "line").
    fn apply_properties(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        for entry in parse_properties(text)? {
            self.set(&entry.key, &entry.value).map_err(|e| ConfigError::Located {
                origin: if origin == "line" {
                    format!("line {}", entry.line)
                } else {
                    format!("{origin}:{}", entry.line)
                },
                source: Box::new(e),
            })?;
        }
        Ok(())
    }

    /// Sets a static value (as server.properties or `--set` would), replacing an earlier one.
    ///
    /// # Errors
    /// [`ConfigError::UnknownKey`] (with a suggestion when a known key is close) or
    /// [`ConfigError::InvalidValue`] saying what is accepted.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if let Some(rest) = key.strip_prefix(LISTENER_PREFIX) {
            return self.set_for_listener(key, rest, value);
        }
        let def = lookup(key)?;
        def.parse(value)?;
        self.static_values.insert(def.name, value.trim().to_string());
        Ok(())
    }

    /// `listener.name.<listener>.<key>`: `key` for that listener only, as Kafka's
    /// listener-prefixed configs (the TLS and SASL configs; a JAAS config is
    /// `<mechanism>.sasl.jaas.config`).
    fn set_for_listener(&mut self, key: &str, rest: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidValue { key: key.to_string(), value: value.to_string(), reason };
        let Some((listener, inner)) = rest.split_once('.').filter(|(l, i)| !l.is_empty() && !i.is_empty()) else {
            return Err(invalid("expected listener.name.<listener>.<config>".into()));
        };
        let inner = match inner.strip_suffix(".sasl.jaas.config") {
            Some("plain") => "sasl.jaas.config",
            Some(mechanism) => {
                return Err(invalid(format!(
                    "Spool has the SASL mechanism PLAIN only, not {}; name it listener.name.{listener}.plain.sasl.jaas.config",
                    mechanism.to_uppercase()
                )))
            }
            None if inner == "sasl.jaas.config" => {
                return Err(invalid(format!(
                    "a listener's JAAS config names its mechanism: listener.name.{listener}.plain.sasl.jaas.config"
                )))
            }
            None => inner,
        };
        let def = lookup(inner)?;
        if !PER_LISTENER_CONFIGS.contains(&def.name) {
            return Err(invalid(format!("{inner} cannot be set per listener; set it without the listener.name prefix")));
        }
        def.parse(value)?;
        self.listener_values.insert((listener.to_uppercase(), def.name), value.trim().to_string());
        Ok(())
    }

    /// The value of `key` for the listener `listener`: its `listener.name.<listener>.`
    /// value, else the broker's.
    pub fn listener_value(&self, listener: &str, key: &'static str) -> Option<ConfigValue> {
        let def = broker_config_def(key)?;
        match self.listener_values.get(&(listener.to_uppercase(), def.name)) {
            // Validated when set.
            Some(value) => def.parse(value).ok(),
            None => self.value(key),
        }
    }

    /// Whether `key` is set for `listener` or for the broker.
    pub(super) fn listener_is_set(&self, listener: &str, key: &'static str) -> bool {
        self.listener_values.contains_key(&(listener.to_uppercase(), key)) || self.is_set(key)
    }

    pub(super) fn listener_string(&self, listener: &str, key: &'static str) -> Option<String> {
        match self.listener_value(listener, key) {
            Some(ConfigValue::String(v)) => Some(v),
            None => None,
            other => panic!("catalog bug: {key} is not a string: {other:?}"),
        }
    }

    pub(super) fn listener_password(&self, listener: &str, key: &'static str) -> Option<String> {
        match self.listener_value(listener, key) {
            Some(ConfigValue::Password(v)) => Some(v),
            None => None,
            other => panic!("catalog bug: {key} is not a password: {other:?}"),
        }
    }

    pub(super) fn listener_list(&self, listener: &str, key: &'static str) -> Vec<String> {
        match self.listener_value(listener, key) {
            Some(ConfigValue::List(v)) => v,
            None => Vec::new(),
            other => panic!("catalog bug: {key} is not a list: {other:?}"),
        }
    }

    /// Sets (`Some`) or removes (`None`) a dynamic value, as IncrementalAlterConfigs on a
    /// broker resource does.
    ///
    /// # Errors
    /// As [`Self::set`], and [`ConfigError::NotDynamic`] for a config Kafka reads only at startup.
    pub fn set_dynamic(&mut self, scope: DynamicScope, key: &str, value: Option<&str>) -> Result<(), ConfigError> {
        let def = lookup(key)?;
        if !def.dynamic {
            return Err(ConfigError::NotDynamic { key: key.to_string() });
        }
        let layer = match scope {
            DynamicScope::Broker => &mut self.dynamic_broker,
            DynamicScope::ClusterDefault => &mut self.dynamic_default,
        };
        match value {
            Some(value) => {
                def.parse(value)?;
                layer.insert(def.name, value.trim().to_string());
            }
            None => {
                layer.remove(def.name);
            }
        }
        Ok(())
    }

    /// This configuration with the dynamic broker configs of `image` over it: the
    /// cluster-wide defaults, then those of broker `node_id`, as Kafka's
    /// `DynamicBrokerConfig` layers them. The controller checked every value with
    /// [`validate_dynamic_broker_config`] before committing it; one a later Spool no longer
    /// accepts is left out.
    pub fn with_dynamic(&self, image: &MetadataImage, node_id: i32) -> BrokerConfig {
        let mut config = self.clone();
        let layers = [(DynamicScope::ClusterDefault, ConfigResource::BrokerDefault), (DynamicScope::Broker, ConfigResource::Broker(node_id))];
        for (scope, resource) in layers {
            for (key, value) in image.configs(&resource) {
                let _ = config.set_dynamic(scope, &key, Some(&value));
            }
        }
        config
    }

    /// The value of `key`: the highest-precedence value set, else the default; `None` for an
    /// unknown key or a config whose default is Kafka's `null`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let def = broker_config_def(key)?;
        self.layer_value(def.name, ConfigSource::DynamicBroker)
            .or_else(|| self.layer_value(def.name, ConfigSource::DynamicDefaultBroker))
            .or_else(|| self.layer_value(def.name, ConfigSource::StaticBroker))
            .or(def.default)
    }

    /// The static values set (file and `--set`), by key.
    pub fn explicitly_set(&self) -> impl Iterator<Item = (&str, &str)> {
        self.static_values.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// The value `name` has in one layer (the [`ConfigSource::Default`] layer is the catalog
    /// default); `node.id` and `broker.id` stand for each other, as Kafka's `populateSynonyms`.
    pub(crate) fn layer_value(&self, name: &str, source: ConfigSource) -> Option<&str> {
        let layer = match source {
            ConfigSource::DynamicBroker => &self.dynamic_broker,
            ConfigSource::DynamicDefaultBroker => &self.dynamic_default,
            ConfigSource::StaticBroker => &self.static_values,
            ConfigSource::Default => return broker_config_def(name).and_then(|d| d.default),
            ConfigSource::DynamicTopic | ConfigSource::DynamicBrokerLogger => return None,
        };
        let alias = match name {
            "node.id" => Some("broker.id"),
            "broker.id" => Some("node.id"),
            _ => None,
        };
        layer.get(name).or_else(|| alias.and_then(|a| layer.get(a))).map(String::as_str)
    }

    /// The parsed value of `key` (`None` for an unknown key or a `null` value).
    pub fn value(&self, key: &str) -> Option<ConfigValue> {
        let def = broker_config_def(key)?;
        // Stored values and defaults were validated, so this parse succeeds.
        def.parse(self.get(key)?).ok()
    }

    /// Human-readable notes on configs that are accepted but have no effect in Spool, for the
    /// caller to log (as warnings) at start-up.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .static_values
            .keys()
            .filter_map(|key| {
                if key.starts_with("zookeeper.") {
                    Some(format!("{key} is ignored: Spool has no ZooKeeper; metadata lives in its own Raft quorum"))
                } else if matches!(*key, "inter.broker.protocol.version" | "log.message.format.version") {
                    Some(format!("{key} is ignored: Spool always speaks the current protocol and record format"))
                } else {
                    None
                }
            })
            .collect();
        // A listener-prefixed config whose listener does not exist (a typo, most likely)
        // would otherwise be accepted and never used, as in Kafka.
        let names: Vec<String> = self.listeners().into_iter().map(|l| l.name).collect();
        for (listener, key) in self.listener_values.keys() {
            if !names.contains(listener) {
                notes.push(format!(
                    "listener.name.{}.{key} is ignored: no listener is named {listener} (listeners: {})",
                    listener.to_lowercase(),
                    names.join(", ")
                ));
            }
        }
        notes
    }

    // ---- typed access (catalog bugs panic; input never does) ----

    pub(super) fn typed(&self, key: &'static str) -> Option<ConfigValue> {
        assert!(broker_config_def(key).is_some(), "catalog bug: {key} is not a broker config");
        self.value(key)
    }

    pub(super) fn int(&self, key: &'static str) -> i32 {
        match self.typed(key) {
            Some(ConfigValue::Int(v)) => v,
            other => panic!("catalog bug: {key} is not a non-null int: {other:?}"),
        }
    }

    pub(super) fn opt_int(&self, key: &'static str) -> Option<i32> {
        match self.typed(key) {
            Some(ConfigValue::Int(v)) => Some(v),
            None => None,
            other => panic!("catalog bug: {key} is not an int: {other:?}"),
        }
    }

    pub(super) fn short(&self, key: &'static str) -> i16 {
        match self.typed(key) {
            Some(ConfigValue::Short(v)) => v,
            other => panic!("catalog bug: {key} is not a non-null short: {other:?}"),
        }
    }

    pub(super) fn long(&self, key: &'static str) -> i64 {
        match self.typed(key) {
            Some(ConfigValue::Long(v)) => v,
            other => panic!("catalog bug: {key} is not a non-null long: {other:?}"),
        }
    }

    pub(super) fn opt_long(&self, key: &'static str) -> Option<i64> {
        match self.typed(key) {
            Some(ConfigValue::Long(v)) => Some(v),
            None => None,
            other => panic!("catalog bug: {key} is not a long: {other:?}"),
        }
    }

    pub(super) fn boolean(&self, key: &'static str) -> bool {
        match self.typed(key) {
            Some(ConfigValue::Boolean(v)) => v,
            other => panic!("catalog bug: {key} is not a non-null boolean: {other:?}"),
        }
    }

    pub(super) fn string(&self, key: &'static str) -> Option<String> {
        match self.typed(key) {
            Some(ConfigValue::String(v)) => Some(v),
            None => None,
            other => panic!("catalog bug: {key} is not a string: {other:?}"),
        }
    }

    pub(super) fn list(&self, key: &'static str) -> Vec<String> {
        match self.typed(key) {
            Some(ConfigValue::List(v)) => v,
            None => Vec::new(),
            other => panic!("catalog bug: {key} is not a list: {other:?}"),
        }
    }

    // ---- typed getters ----

    /// `node.id` (or its alias `broker.id`); Spool default 1.
    pub fn node_id(&self) -> i32 {
        self.int("node.id")
    }

    /// The roles of this node (`process.roles`); Spool default broker and controller.
    pub fn process_roles(&self) -> Vec<ProcessRole> {
        let mut roles: Vec<ProcessRole> = self
            .list("process.roles")
            .iter()
            .filter_map(|r| match r.as_str() {
                "broker" => Some(ProcessRole::Broker),
                "controller" => Some(ProcessRole::Controller),
                _ => None,
            })
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// The metadata quorum's voters (`controller.quorum.voters`). Empty (the default) means
    /// a quorum of this node alone.
    pub fn controller_quorum_voters(&self) -> Vec<QuorumVoter> {
        self.list("controller.quorum.voters").iter().filter_map(|entry| parse_voter(entry).ok()).collect()
    }

    /// Controllers to discover the quorum from (`controller.quorum.bootstrap.servers`), as (host, port).
    pub fn controller_quorum_bootstrap_servers(&self) -> Vec<(String, u16)> {
        self.list("controller.quorum.bootstrap.servers")
            .iter()
            .filter_map(|entry| parse_host_port(entry).ok())
            .collect()
    }

    /// Names of the controller listeners (`controller.listener.names`), upper-cased.
    pub fn controller_listener_names(&self) -> Vec<String> {
        self.string("controller.listener.names")
            .map(|s| parse_list(&s).into_iter().filter(|n| !n.is_empty()).map(|n| n.to_uppercase()).collect())
            .unwrap_or_default()
    }

    /// The data directories: `log.dirs`, else `log.dir` (Spool default `./spool-data`).
    pub fn log_dirs(&self) -> Vec<PathBuf> {
        let raw = self.string("log.dirs").or_else(|| self.string("log.dir")).unwrap_or_default();
        parse_list(&raw).into_iter().filter(|d| !d.is_empty()).map(PathBuf::from).collect()
    }

    /// The metadata log's directory: `metadata.log.dir`, else the first data directory.
    pub fn metadata_log_dir(&self) -> Option<PathBuf> {
        self.string("metadata.log.dir").map(PathBuf::from).or_else(|| self.log_dirs().into_iter().next())
    }

    /// The listeners to bind (`listeners`); Spool default `PLAINTEXT://127.0.0.1:9092`.
    pub fn listeners(&self) -> Vec<Listener> {
        // Validated when set; a parse failure cannot happen here.
        self.string("listeners").and_then(|s| parse_listeners(&s).ok()).unwrap_or_default()
    }

    /// The broker listeners published to clients: `advertised.listeners`, else `listeners`;
    /// controller listeners are never advertised to clients.
    pub fn advertised_listeners(&self) -> Vec<Listener> {
        let listeners = match self.string("advertised.listeners") {
            Some(s) => parse_listeners(&s).unwrap_or_default(),
            None => self.listeners(),
        };
        let controller = self.controller_listener_names();
        listeners.into_iter().filter(|l| !controller.contains(&l.name)).collect()
    }

    /// Security protocol by listener name (`listener.security.protocol.map`).
    pub fn listener_security_protocol_map(&self) -> BTreeMap<String, SecurityProtocol> {
        self.string("listener.security.protocol.map").and_then(|s| parse_protocol_map(&s).ok()).unwrap_or_default()
    }

    /// The listener brokers use among themselves, as Kafka: `inter.broker.listener.name`,
    /// else the listener named after `security.inter.broker.protocol` (`PLAINTEXT`).
    pub fn inter_broker_listener_name(&self) -> String {
        self.string("inter.broker.listener.name")
            .or_else(|| self.string("security.inter.broker.protocol"))
            .map_or_else(|| "PLAINTEXT".to_string(), |s| s.trim().to_uppercase())
    }

    /// The security protocol of the listener `name`: its `listener.security.protocol.map`
    /// entry, or PLAINTEXT for a controller listener when the map is not set (KRaft's rule).
    pub fn listener_security_protocol(&self, name: &str) -> Option<SecurityProtocol> {
        self.listener_security_protocol_map().get(name).copied().or_else(|| {
            let implicit = !self.is_set("listener.security.protocol.map")
                && self.controller_listener_names().iter().any(|n| n == name);
            implicit.then_some(SecurityProtocol::Plaintext)
        })
    }

    /// `num.partitions`: partitions of a new topic when the request leaves it to the broker (1).
    pub fn num_partitions(&self) -> i32 {
        self.int("num.partitions")
    }

    /// `default.replication.factor` (1).
    pub fn default_replication_factor(&self) -> i16 {
        // Validated to 1..=32767.
        i16::try_from(self.int("default.replication.factor")).unwrap_or(i16::MAX)
    }

    /// `auto.create.topics.enable` (true).
    pub fn auto_create_topics_enable(&self) -> bool {
        self.boolean("auto.create.topics.enable")
    }

    /// `delete.topic.enable` (true).
    pub fn delete_topic_enable(&self) -> bool {
        self.boolean("delete.topic.enable")
    }

    /// `message.max.bytes`: largest record batch accepted (1048588).
    pub fn message_max_bytes(&self) -> i32 {
        self.int("message.max.bytes")
    }

    /// `socket.request.max.bytes`: largest request accepted (104857600).
    pub fn socket_request_max_bytes(&self) -> i32 {
        self.int("socket.request.max.bytes")
    }

    /// `socket.send.buffer.bytes` (Spool: -1, the kernel's own; Kafka: 102400).
    pub fn socket_send_buffer_bytes(&self) -> i32 {
        self.int("socket.send.buffer.bytes")
    }

    /// `socket.receive.buffer.bytes` (Spool: -1, the kernel's own; Kafka: 102400).
    pub fn socket_receive_buffer_bytes(&self) -> i32 {
        self.int("socket.receive.buffer.bytes")
    }

    /// `num.network.threads` (3).
    pub fn num_network_threads(&self) -> i32 {
        self.int("num.network.threads")
    }

    /// `num.io.threads` (8).
    pub fn num_io_threads(&self) -> i32 {
        self.int("num.io.threads")
    }

    /// `queued.max.requests` (500).
    pub fn queued_max_requests(&self) -> i32 {
        self.int("queued.max.requests")
    }

    /// `connections.max.idle.ms` (600000).
    pub fn connections_max_idle_ms(&self) -> i64 {
        self.long("connections.max.idle.ms")
    }

    /// `max.connections` (Integer.MAX_VALUE).
    pub fn max_connections(&self) -> i32 {
        self.int("max.connections")
    }

    /// `max.connections.per.ip` (Integer.MAX_VALUE).
    pub fn max_connections_per_ip(&self) -> i32 {
        self.int("max.connections.per.ip")
    }

    /// `max.connections.per.ip.overrides`: (host, limit) pairs, the host an address or
    /// a name (empty by default).
    pub fn max_connections_per_ip_overrides(&self) -> Vec<(String, i32)> {
        let raw = self.string("max.connections.per.ip.overrides").unwrap_or_default();
        super::listener::parse_connection_overrides(&raw).unwrap_or_default()
    }

    /// `fetch.max.bytes`: most bytes of one fetch response (57671680).
    pub fn fetch_max_bytes(&self) -> i32 {
        self.int("fetch.max.bytes")
    }

    /// Retention time in ms: `log.retention.ms` > `log.retention.minutes` > `log.retention.hours`
    /// (168); any negative value means unlimited and is returned as -1.
    pub fn log_retention_ms(&self) -> i64 {
        let ms = self
            .opt_long("log.retention.ms")
            .or_else(|| self.opt_int("log.retention.minutes").map(|m| i64::from(m) * MS_PER_MINUTE))
            .unwrap_or_else(|| i64::from(self.int("log.retention.hours")) * MS_PER_HOUR);
        if ms < 0 {
            -1
        } else {
            ms
        }
    }

    /// `log.retention.bytes` (-1, unlimited).
    pub fn log_retention_bytes(&self) -> i64 {
        self.long("log.retention.bytes")
    }

    /// `log.segment.bytes` (1073741824).
    pub fn log_segment_bytes(&self) -> i32 {
        self.int("log.segment.bytes")
    }

    /// Segment roll time in ms: `log.roll.ms` > `log.roll.hours` (168).
    pub fn log_roll_ms(&self) -> i64 {
        self.opt_long("log.roll.ms").unwrap_or_else(|| i64::from(self.int("log.roll.hours")) * MS_PER_HOUR)
    }

    /// Roll jitter in ms: `log.roll.jitter.ms` > `log.roll.jitter.hours` (0).
    pub fn log_roll_jitter_ms(&self) -> i64 {
        self.opt_long("log.roll.jitter.ms")
            .unwrap_or_else(|| i64::from(self.int("log.roll.jitter.hours")) * MS_PER_HOUR)
    }

    /// `log.index.interval.bytes` (4096).
    pub fn log_index_interval_bytes(&self) -> i32 {
        self.int("log.index.interval.bytes")
    }

    /// `log.index.size.max.bytes` (10485760).
    pub fn log_index_size_max_bytes(&self) -> i32 {
        self.int("log.index.size.max.bytes")
    }

    /// `spool.log.drop.behind.bytes` (0: off; see `spool_storage::drop_behind`), or
    /// `None` for the default, -1: the machine decides.
    pub fn log_drop_behind_bytes(&self) -> Option<u64> {
        u64::try_from(self.long("spool.log.drop.behind.bytes")).ok()
    }

    /// `leader.replication.throttled.rate` in bytes/s (Long.MAX_VALUE: no throttle).
    pub fn leader_replication_throttled_rate(&self) -> i64 {
        self.long("leader.replication.throttled.rate")
    }

    /// `follower.replication.throttled.rate` in bytes/s (Long.MAX_VALUE: no throttle).
    pub fn follower_replication_throttled_rate(&self) -> i64 {
        self.long("follower.replication.throttled.rate")
    }

    /// `replication.quota.window.num` (11): samples of the replication throttles' rates.
    pub fn replication_quota_window_num(&self) -> i32 {
        self.int("replication.quota.window.num")
    }

    /// `replication.quota.window.size.seconds` (1): the span of each sample.
    pub fn replication_quota_window_size_seconds(&self) -> i32 {
        self.int("replication.quota.window.size.seconds")
    }

    /// `quota.window.num` (11): samples of clients' byte rates (client quotas).
    pub fn quota_window_num(&self) -> i32 {
        self.int("quota.window.num")
    }

    /// `quota.window.size.seconds` (1): the span of each sample.
    pub fn quota_window_size_seconds(&self) -> i32 {
        self.int("quota.window.size.seconds")
    }

    /// `log.flush.interval.messages` (Long.MAX_VALUE).
    pub fn log_flush_interval_messages(&self) -> i64 {
        self.long("log.flush.interval.messages")
    }

    /// `log.flush.interval.ms` as set; `None` by default, in which case Kafka flushes on
    /// [`Self::log_flush_scheduler_interval_ms`] (Long.MAX_VALUE, i.e. never by time).
    pub fn log_flush_interval_ms(&self) -> Option<i64> {
        self.opt_long("log.flush.interval.ms")
    }

    /// `log.flush.scheduler.interval.ms` (Long.MAX_VALUE).
    pub fn log_flush_scheduler_interval_ms(&self) -> i64 {
        self.long("log.flush.scheduler.interval.ms")
    }

    /// `log.flush.offset.checkpoint.interval.ms` (60000).
    pub fn log_flush_offset_checkpoint_interval_ms(&self) -> i64 {
        self.int("log.flush.offset.checkpoint.interval.ms") as i64
    }

    /// `log.retention.check.interval.ms` (300000).
    pub fn log_retention_check_interval_ms(&self) -> i64 {
        self.long("log.retention.check.interval.ms")
    }

    /// `log.cleanup.policy` (delete).
    pub fn log_cleanup_policy(&self) -> Vec<String> {
        self.list("log.cleanup.policy")
    }

    /// `log.cleaner.enable` (true).
    pub fn log_cleaner_enable(&self) -> bool {
        self.boolean("log.cleaner.enable")
    }

    /// `log.cleaner.backoff.ms` (15000): the cleaner's sleep when nothing is due.
    pub fn log_cleaner_backoff_ms(&self) -> i64 {
        self.long("log.cleaner.backoff.ms")
    }

    /// `log.cleaner.dedupe.buffer.size` (128 MiB): memory of the cleaner's key maps.
    pub fn log_cleaner_dedupe_buffer_size(&self) -> i64 {
        self.long("log.cleaner.dedupe.buffer.size")
    }

    /// `log.cleaner.io.buffer.load.factor` (0.9): how full a key map may become.
    pub fn log_cleaner_io_buffer_load_factor(&self) -> f64 {
        match self.typed("log.cleaner.io.buffer.load.factor") {
            Some(ConfigValue::Double(factor)) => factor,
            _ => 0.9,
        }
    }

    /// `num.recovery.threads.per.data.dir` (1).
    pub fn num_recovery_threads_per_data_dir(&self) -> i32 {
        self.int("num.recovery.threads.per.data.dir")
    }

    /// `min.insync.replicas` (1).
    pub fn min_insync_replicas(&self) -> i32 {
        self.int("min.insync.replicas")
    }

    /// `unclean.leader.election.enable` (false).
    pub fn unclean_leader_election_enable(&self) -> bool {
        self.boolean("unclean.leader.election.enable")
    }

    /// `compression.type` (producer).
    pub fn compression_type(&self) -> String {
        self.string("compression.type").unwrap_or_default()
    }

    /// `controlled.shutdown.enable` (true).
    pub fn controlled_shutdown_enable(&self) -> bool {
        self.boolean("controlled.shutdown.enable")
    }

    /// `auto.leader.rebalance.enable` (true).
    pub fn auto_leader_rebalance_enable(&self) -> bool {
        self.boolean("auto.leader.rebalance.enable")
    }

    /// `leader.imbalance.check.interval.seconds` (300).
    pub fn leader_imbalance_check_interval_seconds(&self) -> i64 {
        self.long("leader.imbalance.check.interval.seconds")
    }

    /// `leader.imbalance.per.broker.percentage` (10).
    pub fn leader_imbalance_per_broker_percentage(&self) -> i32 {
        self.int("leader.imbalance.per.broker.percentage")
    }

    /// `offsets.topic.num.partitions` (50).
    pub fn offsets_topic_num_partitions(&self) -> i32 {
        self.int("offsets.topic.num.partitions")
    }

    /// `offsets.topic.replication.factor` (3; the broker caps it at the live broker count).
    pub fn offsets_topic_replication_factor(&self) -> i16 {
        self.short("offsets.topic.replication.factor")
    }

    /// `offsets.topic.segment.bytes` (104857600).
    pub fn offsets_topic_segment_bytes(&self) -> i32 {
        self.int("offsets.topic.segment.bytes")
    }

    /// `offsets.retention.minutes` (10080).
    pub fn offsets_retention_minutes(&self) -> i32 {
        self.int("offsets.retention.minutes")
    }

    /// `offsets.retention.check.interval.ms` (600000).
    pub fn offsets_retention_check_interval_ms(&self) -> i64 {
        self.long("offsets.retention.check.interval.ms")
    }

    /// `offsets.commit.timeout.ms` (5000).
    pub fn offsets_commit_timeout_ms(&self) -> i32 {
        self.int("offsets.commit.timeout.ms")
    }

    /// `offset.metadata.max.bytes` (4096).
    pub fn offset_metadata_max_bytes(&self) -> i32 {
        self.int("offset.metadata.max.bytes")
    }

    /// `transaction.state.log.replication.factor` (3).
    pub fn transaction_state_log_replication_factor(&self) -> i16 {
        self.short("transaction.state.log.replication.factor")
    }

    /// `transaction.state.log.min.isr` (2).
    pub fn transaction_state_log_min_isr(&self) -> i32 {
        self.int("transaction.state.log.min.isr")
    }

    /// `transaction.state.log.num.partitions` (50).
    pub fn transaction_state_log_num_partitions(&self) -> i32 {
        self.int("transaction.state.log.num.partitions")
    }

    /// `group.initial.rebalance.delay.ms` (3000).
    pub fn group_initial_rebalance_delay_ms(&self) -> i32 {
        self.int("group.initial.rebalance.delay.ms")
    }

    /// `group.min.session.timeout.ms` (6000).
    pub fn group_min_session_timeout_ms(&self) -> i32 {
        self.int("group.min.session.timeout.ms")
    }

    /// `group.max.session.timeout.ms` (1800000).
    pub fn group_max_session_timeout_ms(&self) -> i32 {
        self.int("group.max.session.timeout.ms")
    }

    /// `group.max.size` (Integer.MAX_VALUE).
    pub fn group_max_size(&self) -> i32 {
        self.int("group.max.size")
    }

    /// `group.consumer.session.timeout.ms` (45000).
    pub fn group_consumer_session_timeout_ms(&self) -> i32 {
        self.int("group.consumer.session.timeout.ms")
    }

    /// `group.consumer.heartbeat.interval.ms` (5000).
    pub fn group_consumer_heartbeat_interval_ms(&self) -> i32 {
        self.int("group.consumer.heartbeat.interval.ms")
    }

    /// `group.consumer.max.size` (Integer.MAX_VALUE).
    pub fn group_consumer_max_size(&self) -> i32 {
        self.int("group.consumer.max.size")
    }

    /// `group.consumer.assignors` (uniform,range).
    pub fn group_consumer_assignors(&self) -> Vec<String> {
        self.list("group.consumer.assignors")
    }

    /// `group.coordinator.rebalance.protocols` (classic,consumer).
    pub fn group_coordinator_rebalance_protocols(&self) -> Vec<String> {
        self.list("group.coordinator.rebalance.protocols")
    }

    /// `replica.lag.time.max.ms` (30000).
    pub fn replica_lag_time_max_ms(&self) -> i64 {
        self.long("replica.lag.time.max.ms")
    }

    /// `replica.fetch.max.bytes` (1048576).
    pub fn replica_fetch_max_bytes(&self) -> i32 {
        self.int("replica.fetch.max.bytes")
    }

    /// `replica.fetch.min.bytes` (1).
    pub fn replica_fetch_min_bytes(&self) -> i32 {
        self.int("replica.fetch.min.bytes")
    }

    /// `replica.fetch.wait.max.ms` (500).
    pub fn replica_fetch_wait_max_ms(&self) -> i32 {
        self.int("replica.fetch.wait.max.ms")
    }

    /// `replica.fetch.response.max.bytes` (10485760).
    pub fn replica_fetch_response_max_bytes(&self) -> i32 {
        self.int("replica.fetch.response.max.bytes")
    }

    /// `replica.fetch.backoff.ms` (1000).
    pub fn replica_fetch_backoff_ms(&self) -> i32 {
        self.int("replica.fetch.backoff.ms")
    }

    /// `num.replica.fetchers` (1).
    pub fn num_replica_fetchers(&self) -> i32 {
        self.int("num.replica.fetchers")
    }

    /// `replica.high.watermark.checkpoint.interval.ms` (5000).
    pub fn replica_high_watermark_checkpoint_interval_ms(&self) -> i64 {
        self.long("replica.high.watermark.checkpoint.interval.ms")
    }

    /// `broker.session.timeout.ms` (9000).
    pub fn broker_session_timeout_ms(&self) -> i32 {
        self.int("broker.session.timeout.ms")
    }

    /// `broker.heartbeat.interval.ms` (2000).
    pub fn broker_heartbeat_interval_ms(&self) -> i32 {
        self.int("broker.heartbeat.interval.ms")
    }

    /// Whether `replica.selector.class` is Kafka's `RackAwareReplicaSelector`: consumers
    /// naming their rack are sent to an in-sync replica on it (KIP-392).
    pub fn rack_aware_replica_selector(&self) -> bool {
        self.get("replica.selector.class") == Some(super::broker_defs::RACK_AWARE_REPLICA_SELECTOR)
    }

    /// `broker.rack`, if set.
    pub fn broker_rack(&self) -> Option<String> {
        self.string("broker.rack")
    }

    /// `metadata.max.idle.interval.ms` (500).
    pub fn metadata_max_idle_interval_ms(&self) -> i32 {
        self.int("metadata.max.idle.interval.ms")
    }

    /// `transaction.max.timeout.ms` (900000).
    pub fn transaction_max_timeout_ms(&self) -> i32 {
        self.int("transaction.max.timeout.ms")
    }

    /// `producer.id.expiration.ms` (86400000).
    pub fn producer_id_expiration_ms(&self) -> i32 {
        self.int("producer.id.expiration.ms")
    }
}

/// The broker configs of replication throttling, which only a broker's dynamic config
/// sets (Kafka's `QuotaConfigs.brokerQuotaConfigs`); kafka-reassign-partitions sets the
/// first two with `--throttle` and deletes all three once the moves completed.
pub const REPLICATION_THROTTLE_CONFIGS: &[&str] = &[
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
];

/// Checks a change of a dynamic broker config (IncrementalAlterConfigs or AlterConfigs on
/// a broker resource, or the cluster default): `value` `None` removes it. Spool applies at
/// runtime the broker defaults of topic configs (Kafka's `DynamicLogConfig`), which every
/// partition without a topic override follows at once, and the replication throttles
/// ([`REPLICATION_THROTTLE_CONFIGS`]).
///
/// # Errors
/// [`ConfigError::UnknownKey`], [`ConfigError::NotDynamic`] for a config Kafka reads only
/// at start-up, [`ConfigError::NotDynamicInSpool`] for one Spool cannot change at runtime
/// yet, [`ConfigError::InvalidValue`].
pub fn validate_dynamic_broker_config(key: &str, value: Option<&str>) -> Result<(), ConfigError> {
    let def = lookup(key)?;
    if !def.dynamic {
        return Err(ConfigError::NotDynamic { key: key.to_string() });
    }
    let topic_default = topic_config_defs().iter().any(|t| t.broker_synonyms.iter().any(|s| s.name == def.name));
    if !topic_default && !REPLICATION_THROTTLE_CONFIGS.contains(&def.name) {
        return Err(ConfigError::NotDynamicInSpool { key: key.to_string() });
    }
    if let Some(value) = value {
        def.parse(value)?;
    }
    Ok(())
}

/// Finds `key` in the catalog, or says it is unknown with a suggestion.
fn lookup(key: &str) -> Result<&'static ConfigDef, ConfigError> {
    broker_config_def(key).ok_or_else(|| ConfigError::UnknownKey {
        key: key.to_string(),
        suggestion: suggest(key, broker_config_defs().iter().map(|d| d.name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> BrokerConfig {
        match BrokerConfig::from_properties(text) {
            Ok(c) => c,
            Err(e) => panic!("config should be accepted: {e}"),
        }
    }

    fn error(text: &str) -> ConfigError {
        match BrokerConfig::from_properties(text) {
            Ok(_) => panic!("config should be rejected: {text}"),
            Err(e) => e,
        }
    }
    #[test]
    fn defaults_are_kafkas_plus_spools_embedded_ones() {
        let c = BrokerConfig::new();
        c.validate().expect("the default config is valid");
        assert_eq!(c.node_id(), 1);
        assert_eq!(c.log_dirs(), vec![PathBuf::from("./spool-data")]);
        assert_eq!(c.listeners(), vec![Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 }]);
        assert_eq!(c.advertised_listeners(), c.listeners());
        assert_eq!(c.process_roles(), vec![ProcessRole::Broker, ProcessRole::Controller]);
        assert!(c.controller_quorum_voters().is_empty());
        assert_eq!(c.num_partitions(), 1);
        assert_eq!(c.default_replication_factor(), 1);
        assert!(c.auto_create_topics_enable());
        assert!(c.delete_topic_enable());
        assert_eq!(c.message_max_bytes(), 1_048_588);
        assert_eq!(c.socket_request_max_bytes(), 104_857_600);
        assert_eq!(c.log_retention_ms(), 168 * 3_600_000);
        assert_eq!(c.log_retention_bytes(), -1);
        assert_eq!(c.log_segment_bytes(), 1_073_741_824);
        assert_eq!(c.log_roll_ms(), 168 * 3_600_000);
        assert_eq!(c.log_index_interval_bytes(), 4096);
        assert_eq!(c.log_index_size_max_bytes(), 10_485_760);
        assert_eq!(c.log_flush_interval_messages(), i64::MAX);
        assert_eq!(c.log_flush_interval_ms(), None);
        assert_eq!(c.log_flush_scheduler_interval_ms(), i64::MAX);
        assert_eq!(c.log_retention_check_interval_ms(), 300_000);
        assert_eq!(c.min_insync_replicas(), 1);
        assert_eq!(c.offsets_topic_num_partitions(), 50);
        assert_eq!(c.offsets_topic_replication_factor(), 3);
        assert_eq!(c.group_initial_rebalance_delay_ms(), 3000);
        assert_eq!(c.transaction_state_log_min_isr(), 2);
        assert_eq!(c.compression_type(), "producer");
        assert_eq!(c.metadata_log_dir(), Some(PathBuf::from("./spool-data")));
        assert!(c.explicitly_set().next().is_none());
    }

    #[test]
    fn every_typed_getter_works_on_defaults() {
        // Calls each private typed accessor path at least once; a catalog/getter mismatch panics.
        let c = BrokerConfig::new();
        let _ = (
            c.socket_send_buffer_bytes(),
            c.socket_receive_buffer_bytes(),
            c.num_network_threads(),
            c.num_io_threads(),
            c.queued_max_requests(),
            c.connections_max_idle_ms(),
            c.max_connections(),
            c.max_connections_per_ip(),
            c.fetch_max_bytes(),
            c.log_roll_jitter_ms(),
            c.log_cleanup_policy(),
            c.log_cleaner_enable(),
            c.log_cleaner_backoff_ms(),
            c.log_cleaner_dedupe_buffer_size(),
            c.log_cleaner_io_buffer_load_factor(),
            c.num_recovery_threads_per_data_dir(),
            c.unclean_leader_election_enable(),
            c.auto_leader_rebalance_enable(),
            c.leader_imbalance_check_interval_seconds(),
            c.leader_imbalance_per_broker_percentage(),
            c.offsets_topic_segment_bytes(),
            c.offsets_retention_minutes(),
        );
        let _ = (
            c.offsets_retention_check_interval_ms(),
            c.offsets_commit_timeout_ms(),
            c.offset_metadata_max_bytes(),
            c.transaction_state_log_replication_factor(),
            c.transaction_state_log_num_partitions(),
            c.group_min_session_timeout_ms(),
            c.group_max_session_timeout_ms(),
            c.group_max_size(),
            c.replica_lag_time_max_ms(),
            c.replica_fetch_max_bytes(),
            c.replica_fetch_min_bytes(),
            c.replica_fetch_wait_max_ms(),
            c.replica_fetch_response_max_bytes(),
            c.replica_fetch_backoff_ms(),
            c.num_replica_fetchers(),
            c.replica_high_watermark_checkpoint_interval_ms(),
            c.broker_session_timeout_ms(),
            c.broker_heartbeat_interval_ms(),
        );
        let _ = (
            c.broker_rack(),
            c.metadata_max_idle_interval_ms(),
            c.transaction_max_timeout_ms(),
            c.producer_id_expiration_ms(),
            c.inter_broker_listener_name(),
            c.controller_listener_names(),
            c.controller_quorum_bootstrap_servers(),
            c.listener_security_protocol_map(),
        );
        assert_eq!(c.group_max_size(), i32::MAX);
        assert_eq!(c.replica_fetch_wait_max_ms(), 500);
    }

    #[test]
    fn retention_precedence_is_ms_then_minutes_then_hours() {
        assert_eq!(config("log.retention.hours=48").log_retention_ms(), 48 * 3_600_000);
        assert_eq!(config("log.retention.hours=48\nlog.retention.minutes=30").log_retention_ms(), 30 * 60_000);
        assert_eq!(
            config("log.retention.hours=48\nlog.retention.minutes=30\nlog.retention.ms=1234").log_retention_ms(),
            1234
        );
        assert_eq!(config("log.retention.ms=1234\nlog.retention.hours=48").log_retention_ms(), 1234);
        // Any negative value is unlimited.
        assert_eq!(config("log.retention.ms=-1").log_retention_ms(), -1);
        assert_eq!(config("log.retention.hours=-5").log_retention_ms(), -1);
        assert_eq!(config("log.retention.minutes=-1\nlog.retention.hours=1").log_retention_ms(), -1);
    }

    #[test]
    fn roll_precedence_is_ms_then_hours() {
        assert_eq!(config("log.roll.hours=2").log_roll_ms(), 2 * 3_600_000);
        assert_eq!(config("log.roll.hours=2\nlog.roll.ms=60000").log_roll_ms(), 60_000);
        assert_eq!(config("log.roll.jitter.hours=1").log_roll_jitter_ms(), 3_600_000);
        assert!(matches!(error("log.roll.ms=0").root(), ConfigError::Inconsistent { .. }));
        assert!(matches!(error("log.roll.hours=0").root(), ConfigError::InvalidValue { .. }));
    }

    #[test]
    fn log_dirs_prefers_log_dirs_over_log_dir() {
        assert_eq!(config("log.dir=/a").log_dirs(), vec![PathBuf::from("/a")]);
        assert_eq!(config("log.dir=/a\nlog.dirs=/b, /c").log_dirs(), vec![PathBuf::from("/b"), PathBuf::from("/c")]);
        assert_eq!(config("log.dirs=/b\nmetadata.log.dir=/m").metadata_log_dir(), Some(PathBuf::from("/m")));
        assert!(matches!(error("log.dirs=").root(), ConfigError::Inconsistent { .. }));
    }

    #[test]
    fn unknown_keys_are_errors_with_suggestions() {
        let e = error("num.partitions=3\nlog.retension.hours=1");
        assert!(
            e.to_string()
                .starts_with("line 2: unknown config 'log.retension.hours' (did you mean 'log.retention.hours'?)"),
            "{e}"
        );
        match e.root() {
            ConfigError::UnknownKey { key, suggestion } => {
                assert_eq!(key, "log.retension.hours");
                assert_eq!(*suggestion, Some("log.retention.hours"));
            }
            other => panic!("expected UnknownKey, got {other:?}"),
        }
        let mut c = BrokerConfig::new();
        match c.set("sasl.kerberos.service.name", "kafka") {
            Err(ConfigError::UnknownKey { suggestion: None, .. }) => {}
            other => panic!("expected UnknownKey without suggestion, got {other:?}"),
        }
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let mut c = BrokerConfig::new();
        let e = c.set("num.partitions", "0").expect_err("must be rejected");
        assert_eq!(e.to_string(), "invalid value '0' for config 'num.partitions': value must be at least 1");
        let e = c.set("num.partitions", "three").expect_err("must be rejected");
        assert!(e.to_string().contains("not a 32-bit integer"), "{e}");
        let e = c.set("auto.create.topics.enable", "yes").expect_err("must be rejected");
        assert!(e.to_string().contains("true or false"), "{e}");
        let e = c.set("compression.type", "brotli").expect_err("must be rejected");
        assert!(e.to_string().contains("one of: uncompressed, zstd, lz4, snappy, gzip, producer"), "{e}");
        let e = c.set("log.cleanup.policy", "delete,archive").expect_err("must be rejected");
        assert!(e.to_string().contains("'archive'"), "{e}");
        let e = c.set("process.roles", "broker,zookeeper").expect_err("must be rejected");
        assert!(matches!(e, ConfigError::InvalidValue { .. }));
        let e = c.set("offsets.topic.replication.factor", "70000").expect_err("must be rejected");
        assert!(e.to_string().contains("16-bit"), "{e}");
        let e = c.set("default.replication.factor", "0").expect_err("must be rejected");
        assert!(e.to_string().contains("between 1 and 32767"), "{e}");
        // Rejected values leave the config unchanged.
        assert_eq!(c.num_partitions(), 1);
        assert!(c.explicitly_set().next().is_none());
        let e = error("# header\nnum.partitions=abc");
        assert!(e.to_string().starts_with("line 2: invalid value 'abc' for config 'num.partitions'"), "{e}");
    }

    #[test]
    fn set_get_and_explicitly_set() {
        let mut c = BrokerConfig::new();
        c.set("num.partitions", " 6 ").expect("valid");
        c.set("log.retention.hours", "24").expect("valid");
        c.set("num.partitions", "8").expect("valid");
        assert_eq!(c.get("num.partitions"), Some("8"));
        assert_eq!(c.num_partitions(), 8);
        assert_eq!(c.get("log.retention.ms"), None);
        assert_eq!(c.get("log.roll.hours"), Some("168"));
        assert_eq!(c.get("nope"), None);
        let set: Vec<_> = c.explicitly_set().collect();
        assert_eq!(set, vec![("log.retention.hours", "24"), ("num.partitions", "8")]);
        assert_eq!(c.value("num.partitions"), Some(ConfigValue::Int(8)));
    }

    #[test]
    fn broker_id_is_an_alias_of_node_id() {
        assert_eq!(config("broker.id=5").node_id(), 5);
        assert_eq!(config("broker.id=5").get("node.id"), Some("5"));
        assert_eq!(config("node.id=6").get("broker.id"), Some("6"));
        assert_eq!(config("node.id=7\nbroker.id=7").node_id(), 7);
        let e = error("node.id=1\nbroker.id=2");
        assert!(matches!(e, ConfigError::Inconsistent { .. }), "{e}");
        assert!(e.to_string().contains("must be equal"));
        assert!(matches!(error("node.id=-1"), ConfigError::Inconsistent { .. }));
    }

    #[test]
    fn listeners_parse_and_advertise() {
        let c = config("listeners=PLAINTEXT://:9092,internal://[::1]:9094\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT\nadvertised.listeners=PLAINTEXT://broker1.example:19092,INTERNAL://[::1]:9094");
        assert_eq!(
            c.listeners(),
            vec![
                Listener { name: "PLAINTEXT".into(), host: "".into(), port: 9092 },
                Listener { name: "INTERNAL".into(), host: "::1".into(), port: 9094 },
            ]
        );
        assert_eq!(
            c.advertised_listeners()[0],
            Listener { name: "PLAINTEXT".into(), host: "broker1.example".into(), port: 19092 }
        );
        assert_eq!(c.listener_security_protocol_map().get("INTERNAL"), Some(&SecurityProtocol::Plaintext));
    }

    #[test]
    fn zookeeper_connect_is_accepted_with_a_note() {
        let c = config("broker.id=0\nzookeeper.connect=localhost:2181\nzookeeper.connection.timeout.ms=18000");
        assert_eq!(c.node_id(), 0);
        let notes = c.notes();
        assert_eq!(notes.len(), 2);
        assert!(notes[0].contains("zookeeper.connect is ignored"), "{notes:?}");
    }

    #[test]
    fn a_config_for_a_listener_that_does_not_exist_is_noted() {
        let c = config(
            "listeners=PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT\n\
             listener.name.internal.ssl.client.auth=required\n\
             listener.name.sasl_ssl.ssl.client.auth=required",
        );
        assert_eq!(
            c.notes(),
            vec!["listener.name.sasl_ssl.ssl.client.auth is ignored: no listener is named SASL_SSL (listeners: PLAINTEXT, INTERNAL)"]
        );
    }

    #[test]
    fn dynamic_layers_take_precedence_over_static() {
        let mut c = config("log.retention.bytes=100");
        c.set_dynamic(DynamicScope::ClusterDefault, "log.retention.bytes", Some("200")).expect("dynamic");
        assert_eq!(c.log_retention_bytes(), 200);
        c.set_dynamic(DynamicScope::Broker, "log.retention.bytes", Some("300")).expect("dynamic");
        assert_eq!(c.log_retention_bytes(), 300);
        c.set_dynamic(DynamicScope::Broker, "log.retention.bytes", None).expect("dynamic");
        assert_eq!(c.log_retention_bytes(), 200);
        assert!(matches!(
            c.set_dynamic(DynamicScope::Broker, "num.partitions", Some("3")),
            Err(ConfigError::NotDynamic { .. })
        ));
        assert!(matches!(
            c.set_dynamic(DynamicScope::Broker, "log.retention.bytes", Some("x")),
            Err(ConfigError::InvalidValue { .. })
        ));
    }

    #[test]
    fn from_file_reads_and_locates_errors() {
        let dir = std::env::temp_dir().join(format!("spool-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("good.properties");
        std::fs::write(&good, "num.partitions=4\n").expect("write");
        assert_eq!(BrokerConfig::from_file(&good).expect("reads").num_partitions(), 4);
        let bad = dir.join("bad.properties");
        std::fs::write(&bad, "\nnum.partitons=4\n").expect("write");
        let e = BrokerConfig::from_file(&bad).expect_err("must be rejected");
        assert!(e.to_string().contains("bad.properties:2: unknown config 'num.partitons'"), "{e}");
        let missing = dir.join("missing.properties");
        assert!(matches!(BrokerConfig::from_file(&missing), Err(ConfigError::Io { .. })));
        let big = dir.join("big.properties");
        std::fs::write(&big, "#".repeat(PROPERTIES_FILE_MAX_BYTES as usize + 10)).expect("write");
        assert!(matches!(BrokerConfig::from_file(&big), Err(ConfigError::FileTooLarge { .. })));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
