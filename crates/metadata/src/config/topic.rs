//! Topic configs: Kafka 3.9's `LogConfig` catalog, the broker configs that supply their
//! defaults (`ServerTopicConfigSynonyms`), validation for CreateTopics/AlterConfigs, and the
//! resolved [`TopicConfig`] a partition runs with.

use std::collections::{BTreeMap, BTreeSet};

use super::broker::BrokerConfig;
use super::broker_defs::{
    CLEANUP_POLICIES, COMPRESSION_TYPES, GZIP_LEVEL, LONG_MAX, LZ4_LEVEL, METADATA_VERSION, TIMESTAMP_TYPES, ZSTD_LEVEL,
};
use super::value::parse_value;
use super::ConfigType::{self, Boolean, Double, Int, List, Long, String as Str};
use super::{suggest, ConfigError, ConfigValue, Validator};

/// How a broker synonym's value converts to the topic config's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynonymUnit {
    /// Same unit (and meaning).
    Same,
    /// The broker value is in minutes; the topic config in milliseconds.
    MinutesToMs,
    /// The broker value is in hours; the topic config in milliseconds.
    HoursToMs,
}

/// A broker config that supplies a topic config's value when the topic does not override it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerSynonym {
    /// The broker config's key.
    pub name: &'static str,
    /// How its value converts.
    pub unit: SynonymUnit,
}

/// One topic config as Kafka's `LogConfig` defines it.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    /// The key, e.g. `retention.ms`.
    pub name: &'static str,
    /// The broker configs that supply its default, highest precedence first (empty for the
    /// few topic configs without one); the first is Kafka's "server default property".
    pub broker_synonyms: &'static [BrokerSynonym],
    /// The value's type.
    pub ty: ConfigType,
    /// The topic-level default, used only when no broker synonym has a value.
    pub default: Option<&'static str>,
    /// What values are accepted beyond parsing as `ty`.
    pub validator: Validator,
    /// One-paragraph description.
    pub doc: &'static str,
}

impl TopicConfigDef {
    /// The broker config Kafka lists as this config's "server default property".
    pub fn broker_synonym(&self) -> Option<&'static str> {
        self.broker_synonyms.first().map(|s| s.name)
    }

    /// Parses and validates `raw` as this config's value.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] saying what is accepted.
    pub fn parse(&self, raw: &str) -> Result<ConfigValue, ConfigError> {
        parse_value(self.name, self.ty, &self.validator, raw)
    }
}

const fn same(name: &'static str) -> BrokerSynonym {
    BrokerSynonym { name, unit: SynonymUnit::Same }
}

macro_rules! topic {
    ($name:literal, [$($syn:expr),*], $ty:expr, $default:expr, $validator:expr, $doc:literal) => {
        TopicConfigDef {
            name: $name,
            broker_synonyms: &[$($syn),*],
            ty: $ty,
            default: $default,
            validator: $validator,
            doc: $doc,
        }
    };
}

const NONE: Validator = Validator::None;
const THROTTLED_REPLICAS: Validator =
    Validator::Custom { describe: "[partitionId]:[brokerId],... or *", check: check_throttled_replicas };

/// Every topic config of Kafka 3.9, sorted by name.
pub fn topic_config_defs() -> &'static [TopicConfigDef] {
    TOPIC_CONFIG_DEFS
}

/// The topic config named `name`, if there is one.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIG_DEFS.binary_search_by(|d| d.name.cmp(name)).ok().map(|i| &TOPIC_CONFIG_DEFS[i])
}

static TOPIC_CONFIG_DEFS: &[TopicConfigDef] = &[
    topic!("cleanup.policy", [same("log.cleanup.policy")], List, Some("delete"), Validator::ListOf(CLEANUP_POLICIES),
        "Retention policy of old segments: delete (by time and size), compact (keep the latest value per key), or both."),
    topic!("compression.gzip.level", [same("compression.gzip.level")], Int, Some("-1"), GZIP_LEVEL,
        "Compression level used when compression.type is gzip."),
    topic!("compression.lz4.level", [same("compression.lz4.level")], Int, Some("9"), LZ4_LEVEL,
        "Compression level used when compression.type is lz4."),
    topic!("compression.type", [same("compression.type")], Str, Some("producer"), Validator::OneOf(COMPRESSION_TYPES),
        "Final compression of the topic's data: gzip, snappy, lz4, zstd, uncompressed, or producer (keep the producer's codec)."),
    topic!("compression.zstd.level", [same("compression.zstd.level")], Int, Some("3"), ZSTD_LEVEL,
        "Compression level used when compression.type is zstd."),
    topic!("delete.retention.ms", [same("log.cleaner.delete.retention.ms")], Long, Some("86400000"), Validator::AtLeast(0),
        "How long delete tombstones are kept in a compacted topic; also how long a consumer reading from offset 0 has to finish to see a consistent snapshot."),
    topic!("file.delete.delay.ms", [same("log.segment.delete.delay.ms")], Long, Some("60000"), Validator::AtLeast(0),
        "Wait before a deleted segment's files are removed from the file system."),
    topic!("flush.messages", [same("log.flush.interval.messages")], Long, Some(LONG_MAX), Validator::AtLeast(1),
        "Messages written between forced fsyncs of the log; replication is the recommended durability instead."),
    topic!("flush.ms", [same("log.flush.interval.ms"), same("log.flush.scheduler.interval.ms")], Long, Some(LONG_MAX), Validator::AtLeast(0),
        "Milliseconds between forced fsyncs of the log; replication is the recommended durability instead."),
    topic!("follower.replication.throttled.replicas", [], List, Some(""), THROTTLED_REPLICAS,
        "Replicas whose log replication is throttled on the follower side, as partitionId:brokerId,... or * for all."),
    topic!("index.interval.bytes", [same("log.index.interval.bytes")], Int, Some("4096"), Validator::AtLeast(0),
        "Bytes of records between entries of the offset index."),
    topic!("leader.replication.throttled.replicas", [], List, Some(""), THROTTLED_REPLICAS,
        "Replicas whose log replication is throttled on the leader side, as partitionId:brokerId,... or * for all."),
    topic!("local.retention.bytes", [same("log.local.retention.bytes")], Long, Some("-2"), Validator::AtLeast(-2),
        "Tiered storage: largest the local part of a partition's log may grow; -2 means retention.bytes."),
    topic!("local.retention.ms", [same("log.local.retention.ms")], Long, Some("-2"), Validator::AtLeast(-2),
        "Tiered storage: how long local segments are kept; -2 means retention.ms."),
    topic!("max.compaction.lag.ms", [same("log.cleaner.max.compaction.lag.ms")], Long, Some(LONG_MAX), Validator::AtLeast(1),
        "Longest a message may stay ineligible for compaction."),
    topic!("max.message.bytes", [same("message.max.bytes")], Int, Some("1048588"), Validator::AtLeast(0),
        "Largest record batch the topic accepts, after compression."),
    topic!("message.downconversion.enable", [same("log.message.downconversion.enable")], Boolean, Some("true"), NONE,
        "Whether the broker down-converts record batches for consumers that need an older format."),
    topic!("message.format.version", [same("log.message.format.version")], Str, Some("3.0-IV1"), METADATA_VERSION,
        "Deprecated; ignored when the inter-broker protocol is 3.0 or newer (always, in Spool)."),
    topic!("message.timestamp.after.max.ms", [same("log.message.timestamp.after.max.ms")], Long, Some(LONG_MAX), Validator::AtLeast(0),
        "With CreateTime, how far a record's timestamp may be ahead of the broker's clock."),
    topic!("message.timestamp.before.max.ms", [same("log.message.timestamp.before.max.ms")], Long, Some(LONG_MAX), Validator::AtLeast(0),
        "With CreateTime, how far a record's timestamp may be behind the broker's clock."),
    topic!("message.timestamp.difference.max.ms", [same("log.message.timestamp.difference.max.ms")], Long, Some(LONG_MAX), Validator::AtLeast(0),
        "Deprecated: with CreateTime, the largest difference between a record's timestamp and the broker's clock; used where the before/after configs are unset."),
    topic!("message.timestamp.type", [same("log.message.timestamp.type")], Str, Some("CreateTime"), Validator::OneOf(TIMESTAMP_TYPES),
        "Whether a record's timestamp is the producer's (CreateTime) or the broker's append time (LogAppendTime)."),
    topic!("min.cleanable.dirty.ratio", [same("log.cleaner.min.cleanable.ratio")], Double, Some("0.5"), Validator::BetweenF64(0.0, 1.0),
        "Share of the log that must be uncompacted before the cleaner compacts it."),
    topic!("min.compaction.lag.ms", [same("log.cleaner.min.compaction.lag.ms")], Long, Some("0"), Validator::AtLeast(0),
        "Shortest time a message stays uncompacted."),
    topic!("min.insync.replicas", [same("min.insync.replicas")], Int, Some("1"), Validator::AtLeast(1),
        "In-sync replicas that must have a write before an acks=all produce succeeds; fewer fails with NotEnoughReplicas."),
    topic!("preallocate", [same("log.preallocate")], Boolean, Some("false"), NONE,
        "Reserve segment.bytes of disk for the active segment (fallocate, the file's length unchanged); what is left unused is given back when it rolls or the broker stops."),
    topic!("remote.log.copy.disable", [], Boolean, Some("false"), NONE,
        "Tiered storage: stop copying segments to remote storage and make remote data read-only."),
    topic!("remote.log.delete.on.disable", [], Boolean, Some("false"), NONE,
        "Tiered storage: delete remote data when remote storage is disabled for the topic."),
    topic!("remote.storage.enable", [], Boolean, Some("false"), NONE,
        "Enable tiered storage for the topic (not supported by Spool: true is rejected)."),
    topic!("retention.bytes", [same("log.retention.bytes")], Long, Some("-1"), NONE,
        "Largest a partition's log may grow before old segments are deleted (delete policy); -1 is no limit."),
    topic!("retention.ms",
        [same("log.retention.ms"),
         BrokerSynonym { name: "log.retention.minutes", unit: SynonymUnit::MinutesToMs },
         BrokerSynonym { name: "log.retention.hours", unit: SynonymUnit::HoursToMs }],
        Long, Some("604800000"), Validator::AtLeast(-1),
        "Longest a segment is kept before deletion (delete policy); -1 is no limit."),
    topic!("segment.bytes", [same("log.segment.bytes")], Int, Some("1073741824"), Validator::AtLeast(14),
        "Largest a segment file grows before a new one is rolled."),
    topic!("segment.index.bytes", [same("log.index.size.max.bytes")], Int, Some("10485760"), Validator::AtLeast(4),
        "Size of the preallocated offset index of each segment."),
    topic!("segment.jitter.ms",
        [same("log.roll.jitter.ms"), BrokerSynonym { name: "log.roll.jitter.hours", unit: SynonymUnit::HoursToMs }],
        Long, Some("0"), Validator::AtLeast(0),
        "Largest random jitter subtracted from the segment roll time, to avoid all segments rolling at once."),
    topic!("segment.ms",
        [same("log.roll.ms"), BrokerSynonym { name: "log.roll.hours", unit: SynonymUnit::HoursToMs }],
        Long, Some("604800000"), Validator::AtLeast(1),
        "Time after which a segment is rolled even if not full, so retention can delete or compact it."),
    topic!("unclean.leader.election.enable", [same("unclean.leader.election.enable")], Boolean, Some("false"), NONE,
        "Allow a replica outside the ISR to become leader as a last resort, losing data."),
];

/// Checks one topic config for CreateTopics or AlterConfigs: the key must be a topic config
/// and the value must parse and be in range.
///
/// # Errors
/// [`ConfigError::UnknownKey`] (with a suggestion, which for a broker key such as
/// `log.retention.hours` is its topic counterpart) or [`ConfigError::InvalidValue`].
pub fn validate_topic_config(key: &str, value: &str) -> Result<(), ConfigError> {
    let def = topic_config_def(key).ok_or_else(|| ConfigError::UnknownKey {
        key: key.to_string(),
        suggestion: TOPIC_CONFIG_DEFS
            .iter()
            .find(|d| d.broker_synonyms.iter().any(|s| s.name == key))
            .map(|d| d.name)
            .or_else(|| suggest(key, TOPIC_CONFIG_DEFS.iter().map(|d| d.name))),
    })?;
    def.parse(value)?;
    if def.name == "remote.storage.enable" && value.trim().eq_ignore_ascii_case("true") {
        return Err(ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: "tiered storage is not supported by this broker, so a topic cannot use remote storage".into(),
        });
    }
    Ok(())
}

/// Checks a topic's whole set of overrides: each one ([`validate_topic_config`]) and, with
/// the broker's values for the rest, the rules between them (Kafka's `LogConfig.validateValues`).
///
/// # Errors
/// As [`validate_topic_config`], and [`ConfigError::Inconsistent`] when
/// `min.compaction.lag.ms` exceeds `max.compaction.lag.ms`.
pub fn validate_topic_configs(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (key, value) in overrides {
        validate_topic_config(key, value)?;
    }
    let min_lag = resolved(broker, overrides, "min.compaction.lag.ms").and_then(|v| v.as_i64());
    let max_lag = resolved(broker, overrides, "max.compaction.lag.ms").and_then(|v| v.as_i64());
    if let (Some(min_lag), Some(max_lag)) = (min_lag, max_lag) {
        if min_lag > max_lag {
            return Err(ConfigError::Inconsistent {
                keys: vec!["min.compaction.lag.ms", "max.compaction.lag.ms"],
                reason: format!("min.compaction.lag.ms ({min_lag}) must be at most max.compaction.lag.ms ({max_lag})"),
            });
        }
    }
    Ok(())
}

/// A record timestamp's meaning (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's timestamp is kept.
    CreateTime,
    /// The broker stamps each batch with its append time.
    LogAppendTime,
}

/// Resolved, typed topic config the broker uses (per key: topic override, else broker
/// value, else default).
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// `retention.ms`; -1 is unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`; -1 is unlimited.
    pub retention_bytes: i64,
    /// `segment.bytes`.
    pub segment_bytes: i64,
    /// `segment.ms`.
    pub segment_ms: i64,
    /// `segment.jitter.ms`.
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes`.
    pub segment_index_bytes: i64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: i64,
    /// `max.message.bytes`.
    pub max_message_bytes: i32,
    /// `flush.messages`.
    pub flush_messages: i64,
    /// `flush.ms` (from `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`).
    pub flush_ms: i64,
    /// `cleanup.policy`, lower-cased entries.
    pub cleanup_policy: Vec<String>,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// Effective `message.timestamp.before.max.ms` (falls back to the deprecated
    /// `message.timestamp.difference.max.ms` while it is Long.MAX_VALUE, as Kafka does).
    pub message_timestamp_before_max_ms: i64,
    /// Effective `message.timestamp.after.max.ms` (same fallback).
    pub message_timestamp_after_max_ms: i64,
    /// `compression.type`: producer, uncompressed, gzip, snappy, lz4 or zstd.
    pub compression_type: String,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
    /// `delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// `file.delete.delay.ms`.
    pub file_delete_delay_ms: i64,
    /// `preallocate`.
    pub preallocate: bool,
}

impl TopicConfig {
    /// Whether old segments are deleted by time and size.
    pub fn delete_enabled(&self) -> bool {
        self.cleanup_policy.iter().any(|p| p == "delete")
    }

    /// Whether the log is compacted.
    pub fn compact_enabled(&self) -> bool {
        self.cleanup_policy.iter().any(|p| p == "compact")
    }
}

/// The value of topic config `name`: the topic override if it parses, else the broker's
/// value of its first synonym that has one (converted to the topic's unit), else the topic default.
pub(crate) fn resolved(broker: &BrokerConfig, overrides: &BTreeMap<String, String>, name: &str) -> Option<ConfigValue> {
    let def = topic_config_def(name)?;
    if let Some(value) = overrides.get(name).and_then(|raw| def.parse(raw).ok()) {
        return Some(value);
    }
    broker_value(broker, def).or_else(|| def.default.and_then(|d| def.parse(d).ok()))
}

/// The broker's value for topic config `def`, from its synonyms in precedence order.
pub(crate) fn broker_value(broker: &BrokerConfig, def: &TopicConfigDef) -> Option<ConfigValue> {
    def.broker_synonyms.iter().find_map(|synonym| {
        let value = broker.value(synonym.name)?;
        let converted = match (synonym.unit, value.as_i64()) {
            (SynonymUnit::Same, _) => match (def.ty, value) {
                // Widen int broker values for long topic configs (none today, but keep types exact).
                (Long, v) if !matches!(v, ConfigValue::Long(_)) => ConfigValue::Long(v.as_i64()?),
                (_, v) => v,
            },
            (SynonymUnit::MinutesToMs, Some(n)) => ConfigValue::Long(n.saturating_mul(60_000)),
            (SynonymUnit::HoursToMs, Some(n)) => ConfigValue::Long(n.saturating_mul(3_600_000)),
            (_, None) => return None,
        };
        // Kafka reports any negative broker retention time as -1 (unlimited).
        if def.name == "retention.ms" {
            if let ConfigValue::Long(ms) = converted {
                if ms < 0 {
                    return Some(ConfigValue::Long(-1));
                }
            }
        }
        Some(converted)
    })
}

/// Resolves a topic's configuration: per key, the topic override, else the broker's value,
/// else the topic default. Overrides that do not parse (validation keeps them out) are ignored.
pub fn resolve_topic_config(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> TopicConfig {
    let get = |name: &str| resolved(broker, overrides, name);
    let long = |name: &str, fallback: i64| get(name).and_then(|v| v.as_i64()).unwrap_or(fallback);
    let int = |name: &str, fallback: i32| match get(name) {
        Some(ConfigValue::Int(v)) => v,
        _ => fallback,
    };
    let boolean = |name: &str, fallback: bool| match get(name) {
        Some(ConfigValue::Boolean(v)) => v,
        _ => fallback,
    };
    let string = |name: &str, fallback: &str| match get(name) {
        Some(ConfigValue::String(v)) => v,
        _ => fallback.to_string(),
    };
    let difference_ms = long("message.timestamp.difference.max.ms", i64::MAX);
    let timestamp_bound = |name: &str| match long(name, i64::MAX) {
        i64::MAX => difference_ms,
        bound => bound,
    };
    TopicConfig {
        retention_ms: long("retention.ms", 604_800_000),
        retention_bytes: long("retention.bytes", -1),
        segment_bytes: long("segment.bytes", 1_073_741_824),
        segment_ms: long("segment.ms", 604_800_000),
        segment_jitter_ms: long("segment.jitter.ms", 0),
        segment_index_bytes: long("segment.index.bytes", 10_485_760),
        index_interval_bytes: long("index.interval.bytes", 4096),
        max_message_bytes: int("max.message.bytes", 1_048_588),
        flush_messages: long("flush.messages", i64::MAX),
        flush_ms: long("flush.ms", i64::MAX),
        cleanup_policy: match get("cleanup.policy") {
            Some(ConfigValue::List(policies)) => policies.into_iter().map(|p| p.to_lowercase()).collect(),
            _ => vec!["delete".to_string()],
        },
        min_insync_replicas: int("min.insync.replicas", 1),
        message_timestamp_type: match string("message.timestamp.type", "CreateTime").as_str() {
            "LogAppendTime" => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        },
        message_timestamp_before_max_ms: timestamp_bound("message.timestamp.before.max.ms"),
        message_timestamp_after_max_ms: timestamp_bound("message.timestamp.after.max.ms"),
        compression_type: string("compression.type", "producer"),
        unclean_leader_election_enable: boolean("unclean.leader.election.enable", false),
        delete_retention_ms: long("delete.retention.ms", 86_400_000),
        min_compaction_lag_ms: long("min.compaction.lag.ms", 0),
        max_compaction_lag_ms: long("max.compaction.lag.ms", i64::MAX),
        min_cleanable_dirty_ratio: match get("min.cleanable.dirty.ratio") {
            Some(ConfigValue::Double(v)) => v,
            _ => 0.5,
        },
        file_delete_delay_ms: long("file.delete.delay.ms", 60_000),
        preallocate: boolean("preallocate", false),
    }
}

/// Kafka's `ThrottledReplicaListValidator`: `*` alone, or `partitionId:brokerId` entries.
fn check_throttled_replicas(value: &str) -> Result<(), String> {
    let entries = super::value::parse_list(value);
    let pair = |e: &str| {
        e.is_empty()
            || e.split_once(':').is_some_and(|(p, b)| {
                !p.is_empty()
                    && !b.is_empty()
                    && p.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            })
    };
    if entries.iter().all(|e| pair(e)) || entries.concat() == "*" {
        Ok(())
    } else {
        Err("must be the literal '*' or a list of replicas in the form [partitionId]:[brokerId],[partitionId]:[brokerId],...".into())
    }
}

/// The topic configs naming the replicas the leader side and the follower side of the
/// replication throttle apply to (`partition:broker,...` or `*`).
pub const LEADER_THROTTLED_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_THROTTLED_REPLICAS: &str = "follower.replication.throttled.replicas";

/// The partitions of one topic whose replication a broker throttles, read from its
/// `leader.replication.throttled.replicas` or `follower.replication.throttled.replicas`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottledPartitions {
    /// `*`: every partition of the topic, on every broker.
    All,
    /// The partitions listed as `partition:broker` with this broker's id.
    Listed(BTreeSet<i32>),
}

impl ThrottledPartitions {
    /// Reads a throttled-replicas value as broker `broker_id` applies it (Kafka's
    /// `TopicConfigHandler.parseThrottledPartitions`); `None` when it names no partition
    /// on that broker. Entries that do not parse (the controller checked the value with
    /// [`validate_topic_config`]) are skipped.
    pub fn parse(value: &str, broker_id: i32) -> Option<ThrottledPartitions> {
        let entries = super::value::parse_list(value);
        if entries.concat() == "*" {
            return Some(ThrottledPartitions::All);
        }
        let listed: BTreeSet<i32> = entries
            .iter()
            .filter_map(|e| e.split_once(':'))
            .filter(|(_, broker)| broker.trim().parse::<i32>().ok() == Some(broker_id))
            .filter_map(|(partition, _)| partition.trim().parse::<i32>().ok())
            .collect();
        (!listed.is_empty()).then_some(ThrottledPartitions::Listed(listed))
    }

    /// Whether `partition` is throttled.
    pub fn contains(&self, partition: i32) -> bool {
        match self {
            ThrottledPartitions::All => true,
            ThrottledPartitions::Listed(partitions) => partitions.contains(&partition),
        }
    }
}

/// Kafka's `MetadataVersionValidator`: a known version such as `2.8`, `3.0-IV1` or `0.10.2`.
pub(crate) fn check_metadata_version(value: &str) -> Result<(), String> {
    // (version, highest IV); None for versions without IV variants.
    const VERSIONS: &[(&str, Option<u8>)] = &[
        ("0.8.0", None),
        ("0.8.1", None),
        ("0.8.2", None),
        ("0.9.0", None),
        ("0.10.0", Some(1)),
        ("0.10.1", Some(2)),
        ("0.10.2", Some(0)),
        ("0.11.0", Some(2)),
        ("1.0", Some(0)),
        ("1.1", Some(0)),
        ("2.0", Some(1)),
        ("2.1", Some(2)),
        ("2.2", Some(1)),
        ("2.3", Some(1)),
        ("2.4", Some(1)),
        ("2.5", Some(0)),
        ("2.6", Some(0)),
        ("2.7", Some(2)),
        ("2.8", Some(1)),
        ("3.0", Some(1)),
        ("3.1", Some(0)),
        ("3.2", Some(0)),
        ("3.3", Some(3)),
        ("3.4", Some(0)),
        ("3.5", Some(2)),
        ("3.6", Some(2)),
        ("3.7", Some(4)),
        ("3.8", Some(0)),
        ("3.9", Some(0)),
        ("4.0", Some(1)),
    ];
    // As MetadataVersion.fromVersionString: keep 3 dot-segments for 0.x versions, 2 otherwise.
    let segments: Vec<&str> = value.split('.').collect();
    let keep = if value.starts_with("0.") { 3 } else { 2 };
    let key = if segments.len() <= keep { value.to_string() } else { segments[..keep].join(".") };
    let (version, iv) = match key.split_once("-IV") {
        Some((version, iv)) => (version, Some(iv)),
        None => (key.as_str(), None),
    };
    let known = VERSIONS.iter().find(|(v, _)| *v == version).is_some_and(|(_, max_iv)| match (iv, max_iv) {
        (None, _) => true,
        (Some(iv), Some(max)) => iv.parse::<u8>().is_ok_and(|n| n <= *max) && !iv.starts_with('+'),
        (Some(_), None) => false,
    });
    if known {
        Ok(())
    } else {
        Err(format!("version {value} is not a valid version; use a Kafka version such as 3.0 or 3.0-IV1"))
    }
}

/// Every topic config's broker synonyms name broker configs (checked by tests).
#[cfg(test)]
fn synonyms_exist() -> bool {
    use super::broker_defs::broker_config_def;
    TOPIC_CONFIG_DEFS.iter().all(|d| d.broker_synonyms.iter().all(|s| broker_config_def(s.name).is_some()))
}

#[cfg(test)]
mod tests {
    use super::super::broker_defs::broker_config_def;
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn broker(text: &str) -> BrokerConfig {
        BrokerConfig::from_properties(text).expect("valid broker config")
    }

    #[test]
    fn catalog_is_sorted_complete_and_consistent() {
        for pair in TOPIC_CONFIG_DEFS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} must sort before {}", pair[0].name, pair[1].name);
        }
        assert!(synonyms_exist(), "a broker synonym is missing from the broker catalog");
        let names: Vec<&str> = TOPIC_CONFIG_DEFS.iter().map(|d| d.name).collect();
        // Kafka 3.9's LogConfig defines exactly these.
        let kafka_39 = [
            "cleanup.policy",
            "compression.gzip.level",
            "compression.lz4.level",
            "compression.type",
            "compression.zstd.level",
            "delete.retention.ms",
            "file.delete.delay.ms",
            "flush.messages",
            "flush.ms",
            "follower.replication.throttled.replicas",
            "index.interval.bytes",
            "leader.replication.throttled.replicas",
            "local.retention.bytes",
            "local.retention.ms",
            "max.compaction.lag.ms",
            "max.message.bytes",
            "message.downconversion.enable",
            "message.format.version",
            "message.timestamp.after.max.ms",
            "message.timestamp.before.max.ms",
            "message.timestamp.difference.max.ms",
            "message.timestamp.type",
            "min.cleanable.dirty.ratio",
            "min.compaction.lag.ms",
            "min.insync.replicas",
            "preallocate",
            "remote.log.copy.disable",
            "remote.log.delete.on.disable",
            "remote.storage.enable",
            "retention.bytes",
            "retention.ms",
            "segment.bytes",
            "segment.index.bytes",
            "segment.jitter.ms",
            "segment.ms",
            "unclean.leader.election.enable",
        ];
        assert_eq!(names, kafka_39);
        for def in TOPIC_CONFIG_DEFS {
            if let Some(default) = def.default {
                def.parse(default).unwrap_or_else(|e| panic!("default of {} is invalid: {e}", def.name));
            }
            for synonym in def.broker_synonyms {
                let broker_def = broker_config_def(synonym.name).expect("synonym exists");
                // A synonym's values must be acceptable to the topic config once converted.
                if synonym.unit == SynonymUnit::Same {
                    let compatible = broker_def.ty == def.ty
                        || matches!((broker_def.ty, def.ty), (ConfigType::Int, ConfigType::Long));
                    assert!(compatible, "{} ({:?}) vs {} ({:?})", def.name, def.ty, synonym.name, broker_def.ty);
                }
            }
        }
        assert_eq!(topic_config_def("retention.ms").and_then(|d| d.broker_synonym()), Some("log.retention.ms"));
        assert_eq!(topic_config_def("max.message.bytes").and_then(|d| d.broker_synonym()), Some("message.max.bytes"));
        assert_eq!(topic_config_def("remote.storage.enable").and_then(|d| d.broker_synonym()), None);
    }

    #[test]
    fn resolve_uses_kafka_defaults_with_a_default_broker() {
        let c = resolve_topic_config(&BrokerConfig::new(), &BTreeMap::new());
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.flush_messages, i64::MAX);
        assert_eq!(c.flush_ms, i64::MAX);
        assert_eq!(c.cleanup_policy, vec!["delete".to_string()]);
        assert!(c.delete_enabled() && !c.compact_enabled());
        assert_eq!(c.min_insync_replicas, 1);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.compression_type, "producer");
        assert!(!c.unclean_leader_election_enable);
        assert_eq!(c.min_cleanable_dirty_ratio, 0.5);
    }

    #[test]
    fn resolve_layers_override_then_broker_then_default() {
        let b = broker("log.retention.hours=48\nlog.segment.bytes=1048576\nmessage.max.bytes=2000000\nlog.roll.hours=1\nlog.flush.interval.ms=5000\nlog.cleanup.policy=compact\nmin.insync.replicas=2");
        // Broker values reach the topic through their synonyms, converted to the topic's unit.
        let c = resolve_topic_config(&b, &BTreeMap::new());
        assert_eq!(c.retention_ms, 48 * 3_600_000);
        assert_eq!(c.segment_bytes, 1_048_576);
        assert_eq!(c.max_message_bytes, 2_000_000);
        assert_eq!(c.segment_ms, 3_600_000);
        assert_eq!(c.flush_ms, 5000);
        assert_eq!(c.cleanup_policy, vec!["compact".to_string()]);
        assert_eq!(c.min_insync_replicas, 2);
        // Topic overrides win over the broker.
        let c = resolve_topic_config(
            &b,
            &overrides(&[
                ("retention.ms", "1000"),
                ("segment.bytes", "4096"),
                ("cleanup.policy", "delete , compact"),
                ("message.timestamp.type", "LogAppendTime"),
                ("compression.type", "zstd"),
            ]),
        );
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.segment_bytes, 4096);
        assert_eq!(c.max_message_bytes, 2_000_000, "not overridden: broker value");
        assert_eq!(c.cleanup_policy, vec!["delete".to_string(), "compact".to_string()]);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.compression_type, "zstd");
        // Keys without a broker synonym take the topic default.
        assert_eq!(c.delete_retention_ms, 86_400_000);
    }

    #[test]
    fn resolve_retention_follows_broker_precedence_and_unlimited() {
        assert_eq!(resolve_topic_config(&broker("log.retention.minutes=10"), &BTreeMap::new()).retention_ms, 600_000);
        assert_eq!(
            resolve_topic_config(&broker("log.retention.minutes=10\nlog.retention.ms=77"), &BTreeMap::new())
                .retention_ms,
            77
        );
        assert_eq!(resolve_topic_config(&broker("log.retention.hours=-1"), &BTreeMap::new()).retention_ms, -1);
        assert_eq!(resolve_topic_config(&broker(""), &overrides(&[("retention.ms", "-1")])).retention_ms, -1);
    }

    #[test]
    fn throttled_replicas_name_the_partitions_of_one_broker_or_all() {
        let listed = |parts: &[i32]| Some(ThrottledPartitions::Listed(parts.iter().copied().collect()));
        assert_eq!(ThrottledPartitions::parse("0:1,1:2,2:1", 1), listed(&[0, 2]));
        assert_eq!(ThrottledPartitions::parse(" 0:1 , 1:2 ", 2), listed(&[1]));
        assert_eq!(ThrottledPartitions::parse("0:1,1:2", 3), None);
        assert_eq!(ThrottledPartitions::parse("", 1), None);
        assert_eq!(ThrottledPartitions::parse("*", 7), Some(ThrottledPartitions::All));
        let all = ThrottledPartitions::All;
        assert!(all.contains(5));
        let some = ThrottledPartitions::parse("0:1,2:1", 1).unwrap();
        assert!(some.contains(2) && !some.contains(1));
    }

    #[test]
    fn resolve_ignores_overrides_that_do_not_parse() {
        let c = resolve_topic_config(&broker("log.segment.bytes=2048"), &overrides(&[("segment.bytes", "huge")]));
        assert_eq!(c.segment_bytes, 2048);
    }

    #[test]
    fn timestamp_bounds_fall_back_to_the_deprecated_difference() {
        let c = resolve_topic_config(&broker(""), &overrides(&[("message.timestamp.difference.max.ms", "1000")]));
        assert_eq!(c.message_timestamp_before_max_ms, 1000);
        assert_eq!(c.message_timestamp_after_max_ms, 1000);
        let c = resolve_topic_config(
            &broker(""),
            &overrides(&[("message.timestamp.difference.max.ms", "1000"), ("message.timestamp.after.max.ms", "5")]),
        );
        assert_eq!(c.message_timestamp_before_max_ms, 1000);
        assert_eq!(c.message_timestamp_after_max_ms, 5);
    }

    #[test]
    fn validate_topic_config_accepts_good_values() {
        for (k, v) in [
            ("retention.ms", "-1"),
            ("retention.bytes", "-5"),
            ("cleanup.policy", "compact,delete"),
            ("cleanup.policy", ""),
            ("min.cleanable.dirty.ratio", "0.1"),
            ("message.timestamp.type", "LogAppendTime"),
            ("compression.gzip.level", "-1"),
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("follower.replication.throttled.replicas", "*"),
            ("message.format.version", "2.8"),
            ("message.format.version", "3.0-IV1"),
            ("message.format.version", "0.10.2"),
            ("remote.storage.enable", "false"),
            ("unclean.leader.election.enable", "TRUE"),
        ] {
            if let Err(e) = validate_topic_config(k, v) {
                panic!("{k}={v} should be accepted: {e}");
            }
        }
    }

    #[test]
    fn validate_topic_config_rejections() {
        let cases = [
            ("retention.ms", "-2", "at least -1"),
            ("retention.ms", "forever", "64-bit"),
            ("segment.bytes", "13", "at least 14"),
            ("segment.ms", "0", "at least 1"),
            ("max.message.bytes", "-1", "at least 0"),
            ("min.insync.replicas", "0", "at least 1"),
            ("cleanup.policy", "compact,archive", "'archive'"),
            ("cleanup.policy", "Delete", "'Delete'"),
            ("compression.type", "brotli", "one of"),
            ("message.timestamp.type", "createtime", "CreateTime, LogAppendTime"),
            ("min.cleanable.dirty.ratio", "1.5", "between 0 and 1"),
            ("preallocate", "maybe", "true or false"),
            ("compression.lz4.level", "18", "between 1 and 17"),
            ("compression.gzip.level", "0", "between 1 and 9"),
            ("leader.replication.throttled.replicas", "0:1,*", "'*'"),
            ("message.format.version", "9.9", "not a valid version"),
            ("message.format.version", "3.0-IV7", "not a valid version"),
            ("remote.storage.enable", "true", "tiered storage"),
        ];
        for (key, value, expected) in cases {
            match validate_topic_config(key, value) {
                Err(e @ ConfigError::InvalidValue { .. }) => {
                    assert!(e.to_string().contains(expected), "{key}={value}: '{e}' should mention '{expected}'")
                }
                other => panic!("{key}={value} should be InvalidValue, got {other:?}"),
            }
        }
    }

    #[test]
    fn validate_topic_config_unknown_keys_suggest_the_topic_name() {
        match validate_topic_config("log.retention.hours", "1") {
            Err(ConfigError::UnknownKey { suggestion, .. }) => assert_eq!(suggestion, Some("retention.ms")),
            other => panic!("expected UnknownKey, got {other:?}"),
        }
        match validate_topic_config("retention.mss", "1") {
            Err(ConfigError::UnknownKey { suggestion, .. }) => assert_eq!(suggestion, Some("retention.ms")),
            other => panic!("expected UnknownKey, got {other:?}"),
        }
        assert!(matches!(
            validate_topic_config("num.partitions", "1"),
            Err(ConfigError::UnknownKey { suggestion: None, .. })
        ));
    }

    #[test]
    fn validate_topic_configs_checks_compaction_lags_against_broker_values() {
        let b = BrokerConfig::new();
        assert!(validate_topic_configs(
            &b,
            &overrides(&[("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "20")])
        )
        .is_ok());
        let e =
            validate_topic_configs(&b, &overrides(&[("min.compaction.lag.ms", "30"), ("max.compaction.lag.ms", "20")]));
        assert!(matches!(e, Err(ConfigError::Inconsistent { .. })), "{e:?}");
        let b = broker("log.cleaner.max.compaction.lag.ms=100");
        assert!(matches!(
            validate_topic_configs(&b, &overrides(&[("min.compaction.lag.ms", "200")])),
            Err(ConfigError::Inconsistent { .. })
        ));
        assert!(matches!(
            validate_topic_configs(&b, &overrides(&[("segment.bytes", "1")])),
            Err(ConfigError::InvalidValue { .. })
        ));
    }
}
