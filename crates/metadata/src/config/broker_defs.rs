//! The broker config catalog: the keys of Kafka 3.9's server.properties that Spool accepts.
//!
//! Names, types, defaults, validators and the dynamic (runtime-changeable) flag follow Kafka
//! 3.9 (`KafkaConfig`, `ServerLogConfigs`, `ReplicationConfigs`, `KRaftConfigs`,
//! `SocketServerConfigs`, `GroupCoordinatorConfig`, `TransactionLogConfigs`, `CleanerConfig`,
//! `QuorumConfig`, `DynamicBrokerConfig`, and the replication throttles and client quota
//! windows of `QuotaConfigs`), and the `ssl.*` configs of SSL listeners (PEM stores only;
//! see `super::ssl`), and the SASL configs of the PLAIN mechanism (see `super::sasl`).
//! Other SASL mechanisms, metrics and plugin class configs are left out: Spool does not
//! implement them, and accepting them silently would promise what it does not do. (Client quotas themselves are set per user or client id, not in
//! the broker's config; see `spool_metadata::quota`.)

use super::listener::{
    check_connection_overrides, check_listener_protocol_map, check_listeners, check_quorum_bootstrap_servers, check_quorum_voters,
};
use super::topic::check_metadata_version;
use super::ConfigType::{Boolean, Double, Int, List, Long, Password, Short, String};
use super::{ConfigDef, Validator};

const fn def(name: &'static str, ty: super::ConfigType, default: Option<&'static str>, doc: &'static str) -> ConfigDef {
    ConfigDef::new(name, ty, default, doc)
}

const fn at_least(min: i64) -> Validator {
    Validator::AtLeast(min)
}

/// Long.MAX_VALUE as Kafka prints it.
pub(crate) const LONG_MAX: &str = "9223372036854775807";
/// Integer.MAX_VALUE as Kafka prints it.
const INT_MAX: &str = "2147483647";

pub(crate) const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(crate) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
pub(crate) const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// `ssl.client.auth`'s values, as Kafka's `SslClientAuth`.
pub(crate) const SSL_CLIENT_AUTH: &[&str] = &["required", "requested", "none"];
/// The TLS versions Spool's SSL listeners can speak (`ssl.enabled.protocols`).
const TLS_VERSIONS: &[&str] = &["TLSv1.2", "TLSv1.3"];
/// The replica selectors Spool has (`replica.selector.class`).
pub(crate) const RACK_AWARE_REPLICA_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";
const REPLICA_SELECTORS: &[&str] = &[RACK_AWARE_REPLICA_SELECTOR, "org.apache.kafka.common.replica.LeaderSelector"];

/// gzip levels: 1..=9, or -1 for the codec's default (Kafka's `CompressionType.GZIP.levelValidator`).
pub(crate) fn check_gzip_level(raw: &str) -> Result<(), std::string::String> {
    match raw.parse::<i32>() {
        Ok(level) if level == -1 || (1..=9).contains(&level) => Ok(()),
        _ => Err("value must be between 1 and 9 or equal to -1".into()),
    }
}

/// Key and trust stores are PEM: Java's JKS and PKCS12 stores are refused with the way out.
fn check_pem_store_type(raw: &str) -> Result<(), std::string::String> {
    if raw == "PEM" {
        Ok(())
    } else {
        Err(format!(
            "Spool reads PEM stores only, not {raw}; export the keys and certificates to PEM (for a JKS or PKCS12 \
             store: keytool -importkeystore -deststoretype PKCS12, then openssl pkcs12 -nodes) and set the type to PEM"
        ))
    }
}

/// SASL mechanisms: PLAIN, the one Spool has.
fn check_sasl_mechanisms(raw: &str) -> Result<(), std::string::String> {
    let mechanisms: Vec<&str> = raw.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
    match mechanisms.iter().find(|m| **m != "PLAIN") {
        _ if mechanisms.is_empty() => Err("list at least one mechanism: PLAIN".into()),
        Some(other) => Err(format!(
            "Spool has the SASL mechanism PLAIN only, not {other} (no SCRAM, GSSAPI or OAUTHBEARER); set PLAIN"
        )),
        None => Ok(()),
    }
}

pub(crate) const GZIP_LEVEL: Validator = Validator::Custom { describe: "[1,...,9] or -1", check: check_gzip_level };
pub(crate) const LZ4_LEVEL: Validator = Validator::Between(1, 17);
pub(crate) const ZSTD_LEVEL: Validator = Validator::Between(-131072, 22);
pub(crate) const METADATA_VERSION: Validator =
    Validator::Custom { describe: "a Kafka version such as 3.0 or 3.0-IV1", check: check_metadata_version };

/// Every broker config Spool accepts, sorted by name.
pub fn broker_config_defs() -> &'static [ConfigDef] {
    BROKER_CONFIG_DEFS
}

/// The broker config named `name`, if it is in the catalog.
pub fn broker_config_def(name: &str) -> Option<&'static ConfigDef> {
    BROKER_CONFIG_DEFS.binary_search_by(|d| d.name.cmp(name)).ok().map(|i| &BROKER_CONFIG_DEFS[i])
}

static BROKER_CONFIG_DEFS: &[ConfigDef] = &[
    def("advertised.listeners", String, None,
        "Listeners to publish to clients (host and port they should connect to), if different from listeners. Not valid with the 0.0.0.0 meta-address. Defaults to listeners.")
        .check(Validator::Custom { describe: "NAME://host:port,...", check: check_listeners }).dynamic(),
    def("auto.create.topics.enable", Boolean, Some("true"),
        "Create a topic automatically when a client asks for metadata of a topic that does not exist."),
    def("auto.leader.rebalance.enable", Boolean, Some("true"),
        "Move partition leadership back to the preferred replica periodically when leadership is imbalanced."),
    def("background.threads", Int, Some("10"), "Threads for background processing tasks.").check(at_least(1)).dynamic(),
    def("broker.heartbeat.interval.ms", Int, Some("2000"), "Milliseconds between a broker's heartbeats to the controller."),
    def("broker.id", Int, Some("1"),
        "Alias of node.id kept for old configs; if both are set they must be equal. Spool default 1 (Kafka: -1)."),
    def("broker.id.generation.enable", Boolean, Some("true"),
        "ZooKeeper-era automatic broker id generation; accepted for compatibility, unused by Spool."),
    def("broker.rack", String, None, "Rack of the broker, used for rack-aware replica placement."),
    def("broker.session.timeout.ms", Int, Some("9000"),
        "How long a broker may go without heartbeating before the controller fences it."),
    def("compression.gzip.level", Int, Some("-1"), "Compression level used when compression.type is gzip.")
        .check(GZIP_LEVEL).dynamic(),
    def("compression.lz4.level", Int, Some("9"), "Compression level used when compression.type is lz4.")
        .check(LZ4_LEVEL).dynamic(),
    def("compression.type", String, Some("producer"),
        "Final compression of a topic's data: gzip, snappy, lz4, zstd, uncompressed, or producer (keep the producer's codec).")
        .check(Validator::OneOf(COMPRESSION_TYPES)).dynamic(),
    def("compression.zstd.level", Int, Some("3"), "Compression level used when compression.type is zstd.")
        .check(ZSTD_LEVEL).dynamic(),
    def("connections.max.idle.ms", Long, Some("600000"), "Close connections idle for longer than this."),
    def("controlled.shutdown.enable", Boolean, Some("true"), "Move leadership away before a broker shuts down."),
    def("controlled.shutdown.max.retries", Int, Some("3"), "Attempts at a controlled shutdown before an unclean one."),
    def("controlled.shutdown.retry.backoff.ms", Long, Some("5000"), "Wait between controlled shutdown attempts."),
    def("controller.listener.names", String, None,
        "Comma-separated names of the listeners used by the controller (KRaft)."),
    def("controller.quorum.append.linger.ms", Int, Some("25"),
        "How long the quorum leader waits to batch metadata records before writing them."),
    def("controller.quorum.bootstrap.servers", List, Some(""),
        "host:port list of controllers to discover the metadata quorum from.")
        .check(Validator::Custom { describe: "host:port,...", check: check_quorum_bootstrap_servers }),
    def("controller.quorum.election.backoff.max.ms", Int, Some("1000"), "Maximum backoff before starting a new election."),
    def("controller.quorum.election.timeout.ms", Int, Some("1000"),
        "Time without a leader's fetch before a voter starts an election."),
    def("controller.quorum.fetch.timeout.ms", Int, Some("2000"),
        "Time without a successful fetch from the leader before a follower becomes a candidate."),
    def("controller.quorum.request.timeout.ms", Int, Some("2000"), "Timeout of requests between quorum members."),
    def("controller.quorum.retry.backoff.ms", Int, Some("20"), "Backoff before retrying a failed quorum request."),
    def("controller.quorum.voters", List, Some(""),
        "The metadata quorum's voters as id@host:port,... Empty in Spool means a quorum of this node alone.")
        .check(Validator::Custom { describe: "id@host:port,...", check: check_quorum_voters }),
    def("controller.socket.timeout.ms", Int, Some("30000"), "Socket timeout of controller-to-broker channels."),
    def("default.replication.factor", Int, Some("1"),
        "Replication factor of automatically created topics and of CreateTopics requests that leave it to the broker. Spool accepts 1 to 32767 (it is a 16-bit field on the wire).")
        .check(Validator::Between(1, 32767)),
    def("delete.records.purgatory.purge.interval.requests", Int, Some("1"), "Purge interval (in requests) of the delete-records purgatory."),
    def("delete.topic.enable", Boolean, Some("true"), "Allow topics to be deleted; when false DeleteTopics fails."),
    def("fetch.max.bytes", Int, Some("57671680"), "Maximum bytes returned for one fetch request.").check(at_least(1024)),
    def("fetch.purgatory.purge.interval.requests", Int, Some("1000"), "Purge interval (in requests) of the fetch purgatory."),
    def("follower.replication.throttled.rate", Long, Some(LONG_MAX),
        "Bytes per second this broker fetches, as a follower, for the replicas listed in topics' \
         follower.replication.throttled.replicas that are not in sync; dynamic (kafka-reassign-partitions --throttle sets it).")
        .check(at_least(0)).dynamic(),
    def("group.consumer.assignors", List, Some("uniform,range"),
        "Server-side assignors of consumer groups (KIP-848), uniform and/or range; the first is the default."),
    def("group.consumer.heartbeat.interval.ms", Int, Some("5000"), "How often consumer group members heartbeat.")
        .check(at_least(1)),
    def("group.consumer.max.size", Int, Some(INT_MAX), "Most members a consumer group (KIP-848) may have.")
        .check(at_least(1)),
    def("group.consumer.session.timeout.ms", Int, Some("45000"),
        "How long a consumer group member may go without a heartbeat before it is fenced.")
        .check(at_least(1)),
    def("group.coordinator.rebalance.protocols", List, Some("classic,consumer"),
        "Rebalance protocols the group coordinator serves: classic and/or consumer (KIP-848)."),
    def("group.initial.rebalance.delay.ms", Int, Some("3000"),
        "How long the coordinator waits for more members to join a new group before the first rebalance."),
    def("group.max.session.timeout.ms", Int, Some("1800000"), "Largest session timeout a group member may ask for."),
    def("group.max.size", Int, Some(INT_MAX), "Most members a consumer group may have.").check(at_least(1)),
    def("group.min.session.timeout.ms", Int, Some("6000"), "Smallest session timeout a group member may ask for."),
    def("initial.broker.registration.timeout.ms", Int, Some("60000"),
        "How long a broker waits for its first registration with the controller to succeed."),
    def("inter.broker.listener.name", String, None,
        "Listener brokers use to talk to each other; must be among the advertised listeners. Not to be set with security.inter.broker.protocol."),
    def("inter.broker.protocol.version", String, Some("3.9-IV0"),
        "Inter-broker protocol version; ignored in KRaft mode (the metadata version rules), accepted for compatibility.")
        .check(METADATA_VERSION),
    def("leader.imbalance.check.interval.seconds", Long, Some("300"), "How often the controller checks for leader imbalance.")
        .check(at_least(1)),
    def("leader.imbalance.per.broker.percentage", Int, Some("10"),
        "Leader imbalance per broker (percent) above which a ZooKeeper-mode controller rebalances; accepted for \
         compatibility: as KRaft's, Spool's controller moves every partition whose preferred replica can lead back to it."),
    def("leader.replication.throttled.rate", Long, Some(LONG_MAX),
        "Bytes per second this broker sends, as a leader, to out-of-sync followers of the replicas listed in topics' \
         leader.replication.throttled.replicas; dynamic (kafka-reassign-partitions --throttle sets it).")
        .check(at_least(0)).dynamic(),
    def("listener.security.protocol.map", String, Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"),
        "Map from listener name to security protocol, as NAME:PROTOCOL,... Each listener needs an entry.")
        .check(Validator::Custom { describe: "NAME:PROTOCOL,...", check: check_listener_protocol_map }).dynamic(),
    def("listeners", String, Some("PLAINTEXT://127.0.0.1:9092"),
        "Addresses to listen on as NAME://host:port,...; an empty host binds all interfaces. Spool default PLAINTEXT://127.0.0.1:9092 (Kafka: PLAINTEXT://:9092).")
        .check(Validator::Custom { describe: "NAME://host:port,...", check: check_listeners }).dynamic(),
    def("log.cleaner.backoff.ms", Long, Some("15000"), "Sleep of the log cleaner when there is nothing to clean.")
        .check(at_least(0)).dynamic(),
    def("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), "Memory for log deduplication across all cleaner threads.")
        .dynamic(),
    def("log.cleaner.delete.retention.ms", Long, Some("86400000"),
        "Default of the topic config delete.retention.ms: how long tombstones are kept in compacted topics.")
        .check(at_least(0)).dynamic(),
    def("log.cleaner.enable", Boolean, Some("true"),
        "Run the log cleaner; needed for compacted topics such as __consumer_offsets."),
    def("log.cleaner.io.buffer.load.factor", Double, Some("0.9"), "How full the dedupe buffer may become.").dynamic(),
    def("log.cleaner.io.buffer.size", Int, Some("524288"), "Memory for log cleaner I/O buffers across all cleaner threads.")
        .check(at_least(0)).dynamic(),
    def("log.cleaner.io.max.bytes.per.second", Double, Some("1.7976931348623157E308"),
        "Throttle of the log cleaner's combined read and write rate.").dynamic(),
    def("log.cleaner.max.compaction.lag.ms", Long, Some(LONG_MAX),
        "Default of the topic config max.compaction.lag.ms.").check(at_least(1)).dynamic(),
    def("log.cleaner.min.cleanable.ratio", Double, Some("0.5"),
        "Default of the topic config min.cleanable.dirty.ratio.").check(Validator::BetweenF64(0.0, 1.0)).dynamic(),
    def("log.cleaner.min.compaction.lag.ms", Long, Some("0"),
        "Default of the topic config min.compaction.lag.ms.").check(at_least(0)).dynamic(),
    def("log.cleaner.threads", Int, Some("1"), "Threads of the log cleaner.").check(at_least(0)).dynamic(),
    def("log.cleanup.policy", List, Some("delete"),
        "Default of the topic config cleanup.policy: delete, compact, or both.")
        .check(Validator::ListOf(CLEANUP_POLICIES)).dynamic(),
    def("log.dir", String, Some("./spool-data"),
        "Directory of the log data, used when log.dirs is not set. Spool default ./spool-data (Kafka: /tmp/kafka-logs)."),
    def("log.dir.failure.timeout.ms", Long, Some("30000"),
        "How long a broker with a failed log directory waits before shutting down.").check(at_least(1)),
    def("log.dirs", String, None, "Comma-separated directories of the log data; if unset, log.dir is used."),
    def("log.flush.interval.messages", Long, Some(LONG_MAX),
        "Default of the topic config flush.messages: messages accumulated before the log is fsynced.")
        .check(at_least(1)).dynamic(),
    def("log.flush.interval.ms", Long, None,
        "Default of the topic config flush.ms: longest a message stays unflushed; if unset, log.flush.scheduler.interval.ms is used.")
        .dynamic(),
    def("log.flush.offset.checkpoint.interval.ms", Int, Some("60000"),
        "How often the recovery-point checkpoint is written.").check(at_least(0)),
    def("log.flush.scheduler.interval.ms", Long, Some(LONG_MAX), "How often the flusher checks whether a log needs a flush."),
    def("log.flush.start.offset.checkpoint.interval.ms", Int, Some("60000"),
        "How often the log-start-offset checkpoint is written.").check(at_least(0)),
    def("log.index.interval.bytes", Int, Some("4096"),
        "Default of the topic config index.interval.bytes: bytes between offset index entries.")
        .check(at_least(0)).dynamic(),
    def("log.index.size.max.bytes", Int, Some("10485760"),
        "Default of the topic config segment.index.bytes: the largest an offset index may grow.")
        .check(at_least(4)).dynamic(),
    def("log.local.retention.bytes", Long, Some("-2"),
        "Default of the topic config local.retention.bytes (tiered storage); -2 means retention.bytes.")
        .check(at_least(-2)).dynamic(),
    def("log.local.retention.ms", Long, Some("-2"),
        "Default of the topic config local.retention.ms (tiered storage); -2 means retention.ms.")
        .check(at_least(-2)).dynamic(),
    def("log.message.downconversion.enable", Boolean, Some("true"),
        "Default of the topic config message.downconversion.enable.").dynamic(),
    def("log.message.format.version", String, Some("3.0-IV1"),
        "Deprecated; ignored when the inter-broker protocol is 3.0 or newer (always, in Spool).").check(METADATA_VERSION),
    def("log.message.timestamp.after.max.ms", Long, Some(LONG_MAX),
        "Default of the topic config message.timestamp.after.max.ms.").check(at_least(0)).dynamic(),
    def("log.message.timestamp.before.max.ms", Long, Some(LONG_MAX),
        "Default of the topic config message.timestamp.before.max.ms.").check(at_least(0)).dynamic(),
    def("log.message.timestamp.difference.max.ms", Long, Some(LONG_MAX),
        "Deprecated default of the topic config message.timestamp.difference.max.ms.").check(at_least(0)).dynamic(),
    def("log.message.timestamp.type", String, Some("CreateTime"),
        "Default of the topic config message.timestamp.type: CreateTime or LogAppendTime.")
        .check(Validator::OneOf(TIMESTAMP_TYPES)).dynamic(),
    def("log.preallocate", Boolean, Some("false"), "Default of the topic config preallocate.").dynamic(),
    def("log.retention.bytes", Long, Some("-1"),
        "Default of the topic config retention.bytes: largest a partition's log may grow before old segments are deleted; -1 is no limit.")
        .dynamic(),
    def("log.retention.check.interval.ms", Long, Some("300000"),
        "How often the broker looks for segments to delete under the retention policy.").check(at_least(1)),
    def("log.retention.hours", Int, Some("168"),
        "Hours to keep a log segment before deleting it; used when log.retention.ms and log.retention.minutes are unset."),
    def("log.retention.minutes", Int, None,
        "Minutes to keep a log segment; used when log.retention.ms is unset, overrides log.retention.hours."),
    def("log.retention.ms", Long, None,
        "Default of the topic config retention.ms; overrides log.retention.minutes and log.retention.hours. -1 is no limit.")
        .dynamic(),
    def("log.roll.hours", Int, Some("168"), "Hours after which a new segment is rolled; used when log.roll.ms is unset.")
        .check(at_least(1)),
    def("log.roll.jitter.hours", Int, Some("0"), "Maximum jitter subtracted from the roll time, in hours; used when log.roll.jitter.ms is unset.")
        .check(at_least(0)),
    def("log.roll.jitter.ms", Long, None, "Default of the topic config segment.jitter.ms; overrides log.roll.jitter.hours.")
        .dynamic(),
    def("log.roll.ms", Long, None, "Default of the topic config segment.ms; overrides log.roll.hours.").dynamic(),
    def("log.segment.bytes", Int, Some("1073741824"), "Default of the topic config segment.bytes: the largest a segment file grows.")
        .check(at_least(14)).dynamic(),
    def("log.segment.delete.delay.ms", Long, Some("60000"),
        "Default of the topic config file.delete.delay.ms: wait before a deleted segment's files are removed.")
        .check(at_least(0)).dynamic(),
    def("max.connection.creation.rate", Int, Some(INT_MAX), "Most new connections per second the broker accepts.")
        .check(at_least(0)).dynamic(),
    def("max.connections", Int, Some(INT_MAX), "Most connections the broker holds at once.").check(at_least(0)).dynamic(),
    def("max.connections.per.ip", Int, Some(INT_MAX), "Most connections from one IP address.").check(at_least(0)).dynamic(),
    def("max.connections.per.ip.overrides", String, Some(""), "Per-IP or per-host overrides of max.connections.per.ip, as host:count,...")
        .check(Validator::Custom { describe: "host:count,...", check: check_connection_overrides }).dynamic(),
    def("max.incremental.fetch.session.cache.slots", Int, Some("1000"), "Most incremental fetch sessions kept.")
        .check(at_least(0)),
    def("max.request.partition.size.limit", Int, Some("2000"), "Most partitions one request may address.").check(at_least(1)),
    def("message.max.bytes", Int, Some("1048588"),
        "Default of the topic config max.message.bytes: the largest record batch the broker accepts.")
        .check(at_least(0)).dynamic(),
    def("metadata.log.dir", String, None,
        "Directory of the metadata log; if unset, the first of log.dirs."),
    def("metadata.log.max.record.bytes.between.snapshots", Long, Some("20971520"),
        "Metadata log bytes written before a new snapshot is taken.").check(at_least(1)),
    def("metadata.log.max.snapshot.interval.ms", Long, Some("3600000"),
        "Longest time between metadata snapshots when there are new records; 0 disables the time trigger.")
        .check(at_least(0)),
    def("metadata.log.segment.bytes", Int, Some("1073741824"), "Segment size of the metadata log.").check(at_least(12)),
    def("metadata.log.segment.ms", Long, Some("604800000"), "Time after which a metadata log segment rolls."),
    def("metadata.max.idle.interval.ms", Int, Some("500"),
        "How often the controller writes a no-op record when there is nothing else to write; 0 disables it.")
        .check(at_least(0)),
    def("metadata.max.retention.bytes", Long, Some("104857600"), "Metadata log bytes kept before old snapshots and segments are deleted."),
    def("metadata.max.retention.ms", Long, Some("604800000"), "How long metadata snapshots and segments are kept."),
    def("min.insync.replicas", Int, Some("1"),
        "Default of the topic config min.insync.replicas: in-sync replicas needed for an acks=all write.")
        .check(at_least(1)).dynamic(),
    def("node.id", Int, Some("1"),
        "Id of this node in the cluster (as broker and controller). Spool default 1 (Kafka: required, no default)."),
    def("num.io.threads", Int, Some("8"), "Threads the broker uses to process requests.").check(at_least(1)).dynamic(),
    def("num.network.threads", Int, Some("3"), "Threads the broker uses to read requests and write responses.")
        .check(at_least(1)).dynamic(),
    def("num.partitions", Int, Some("1"), "Default partition count of new topics.").check(at_least(1)),
    def("num.recovery.threads.per.data.dir", Int, Some("1"),
        "Threads per data directory for log recovery at startup and flushing at shutdown.").check(at_least(1)).dynamic(),
    def("num.replica.fetchers", Int, Some("1"), "Fetcher threads per source broker for replication.").dynamic(),
    def("offset.metadata.max.bytes", Int, Some("4096"), "Largest metadata string stored with a committed offset."),
    def("offsets.commit.required.acks", Short, Some("-1"), "Deprecated: acks required before an offset commit is accepted."),
    def("offsets.commit.timeout.ms", Int, Some("5000"),
        "How long an offset commit waits for the offsets topic replicas before failing.").check(at_least(1)),
    def("offsets.load.buffer.size", Int, Some("5242880"), "Batch size for reading the offsets topic when loading a group.")
        .check(at_least(1)),
    def("offsets.retention.check.interval.ms", Long, Some("600000"), "How often expired offsets are looked for.")
        .check(at_least(1)),
    def("offsets.retention.minutes", Int, Some("10080"),
        "How long committed offsets of an empty group (or of a standalone consumer) are kept.").check(at_least(1)),
    def("offsets.topic.compression.codec", Int, Some("0"), "Compression codec id for the offsets topic."),
    def("offsets.topic.num.partitions", Int, Some("50"), "Partitions of the offsets topic; do not change after deployment.")
        .check(at_least(1)),
    def("offsets.topic.replication.factor", Short, Some("3"),
        "Replication factor of the offsets topic; capped at the number of live brokers when the topic is created.")
        .check(at_least(1)),
    def("offsets.topic.segment.bytes", Int, Some("104857600"), "Segment size of the offsets topic.").check(at_least(1)),
    def("process.roles", List, Some("broker,controller"),
        "Roles of this node: broker, controller, or both. Spool default broker,controller (a one-node cluster).")
        .check(Validator::ListOf(&["broker", "controller"])),
    def("producer.id.expiration.ms", Int, Some("86400000"),
        "How long a producer id's state is kept after its last write.").check(at_least(1)).dynamic(),
    def("producer.purgatory.purge.interval.requests", Int, Some("1000"), "Purge interval (in requests) of the produce purgatory."),
    def("queued.max.request.bytes", Long, Some("-1"),
        "Most bytes of requests queued before no more are read; -1 is no limit, else at least socket.request.max.bytes."),
    def("queued.max.requests", Int, Some("500"), "Most requests queued before the network threads stop reading.")
        .check(at_least(1)),
    def("quota.window.num", Int, Some("11"),
        "Samples kept to measure clients' byte rates against their quotas (producer_byte_rate, consumer_byte_rate).")
        .check(at_least(1)),
    def("quota.window.size.seconds", Int, Some("1"), "Time span of each sample of clients' byte rates.").check(at_least(1)),
    def("replica.alter.log.dirs.io.max.bytes.per.second", Long, Some(LONG_MAX),
        "Bytes per second of replica moves between log directories of one broker; accepted for compatibility \
         (kafka-reassign-partitions clears it): a Spool broker keeps its replicas in one directory and never moves them.")
        .check(at_least(0)).dynamic(),
    def("replica.fetch.backoff.ms", Int, Some("1000"), "Sleep after a replica fetch error.").check(at_least(0)),
    def("replica.fetch.max.bytes", Int, Some("1048576"), "Bytes a replica fetch asks for per partition.").check(at_least(0)),
    def("replica.fetch.min.bytes", Int, Some("1"), "Least bytes a replica fetch waits for."),
    def("replica.fetch.response.max.bytes", Int, Some("10485760"), "Most bytes of a whole replica fetch response.")
        .check(at_least(0)),
    def("replica.fetch.wait.max.ms", Int, Some("500"),
        "Longest a replica fetch waits; at most replica.lag.time.max.ms and replica.socket.timeout.ms."),
    def("replica.high.watermark.checkpoint.interval.ms", Long, Some("5000"), "How often high watermarks are checkpointed."),
    def("replica.lag.time.max.ms", Long, Some("30000"),
        "A follower that has not caught up within this time leaves the ISR."),
    def("replica.selector.class", String, None,
        "Where consumers that name their rack (client.rack) fetch from (KIP-392): \
         org.apache.kafka.common.replica.RackAwareReplicaSelector sends them to an in-sync replica on their rack; \
         unset (or org.apache.kafka.common.replica.LeaderSelector), to the leader. Other classes cannot be loaded by Spool.")
        .check(Validator::OneOf(REPLICA_SELECTORS)),
    def("replica.socket.receive.buffer.bytes", Int, Some("65536"), "Socket receive buffer of replica fetches."),
    def("replica.socket.timeout.ms", Int, Some("30000"), "Socket timeout of replica fetches."),
    def("replication.quota.window.num", Int, Some("11"),
        "Samples kept to measure the replication throttles' rates (see leader.replication.throttled.rate).")
        .check(at_least(1)),
    def("replication.quota.window.size.seconds", Int, Some("1"), "Time span of each sample of the replication throttles' rates.")
        .check(at_least(1)),
    def("request.timeout.ms", Int, Some("30000"), "Longest the broker waits for a response to its own requests."),
    def("reserved.broker.max.id", Int, Some("1000"), "ZooKeeper-era highest manually assigned broker id; unused by Spool.")
        .check(at_least(0)),
    def("sasl.enabled.mechanisms", List, Some("PLAIN"),
        "SASL mechanisms SASL_PLAINTEXT and SASL_SSL listeners offer; Spool has PLAIN only. Spool default PLAIN \
         (Kafka: GSSAPI).")
        .check(Validator::Custom { describe: "PLAIN", check: check_sasl_mechanisms }),
    def("sasl.jaas.config", Password, None,
        "The users of SASL listeners, as a JAAS config of PlainLoginModule with one user_NAME=\"PASSWORD\" option \
         per user; Kafka takes it per listener only (listener.name.<listener>.plain.sasl.jaas.config), Spool also \
         reads it unprefixed for every SASL listener."),
    def("security.inter.broker.protocol", String, Some("PLAINTEXT"),
        "Security protocol between brokers; not to be set with inter.broker.listener.name.")
        .check(Validator::OneOf(SECURITY_PROTOCOLS)),
    def("socket.connection.setup.timeout.max.ms", Long, Some("30000"), "Largest connection setup timeout after backoff."),
    def("socket.connection.setup.timeout.ms", Long, Some("10000"), "Time allowed to establish a connection."),
    def("socket.listen.backlog.size", Int, Some("50"), "Pending connection backlog of the listening sockets.")
        .check(at_least(1)),
    def("socket.receive.buffer.bytes", Int, Some("-1"),
        "SO_RCVBUF of accepted connections; -1 (or less than 1) leaves the kernel's own, which it grows with the traffic. \
         Spool default -1 (Kafka: 102400): a fixed 100 KiB cost the broker 15% more CPU per record on 1 MB produce requests."),
    def("socket.request.max.bytes", Int, Some("104857600"), "Largest request the broker accepts, in bytes.")
        .check(at_least(1)),
    def("socket.send.buffer.bytes", Int, Some("-1"),
        "SO_SNDBUF of accepted connections; -1 (or less than 1) leaves the kernel's own, which it grows with the traffic. \
         Spool default -1 (Kafka: 102400): a fixed 100 KiB cost the broker 15% more CPU per record on 1 MB produce requests."),
    def("spool.log.drop.behind.bytes", Long, Some("-1"),
        "Spool only: bytes of appended log data, across all partitions, kept in the page cache before the broker \
         writes them back and evicts them, so that appends reuse the same pages; consumers further behind read from \
         the disk. 0 keeps everything cached, as Kafka does. -1 (default) leaves it to the machine: on a virtual \
         machine that hands free memory back to its host, a sixteenth of its memory, at most 1 GiB; elsewhere 0.")
        .check(at_least(-1)),
    def("ssl.client.auth", String, Some("none"),
        "Whether SSL listeners ask clients for a certificate: required (the handshake fails without one that \
         ssl.truststore's certificates signed), requested (checked if the client sends one) or none.")
        .check(Validator::OneOf(SSL_CLIENT_AUTH)),
    def("ssl.enabled.protocols", List, Some("TLSv1.2,TLSv1.3"), "TLS versions SSL listeners accept.")
        .check(Validator::ListOf(TLS_VERSIONS)),
    def("ssl.endpoint.identification.algorithm", String, Some("https"),
        "How a broker checks the host name of brokers it connects to over TLS; accepted for compatibility: Spool's \
         brokers talk to each other over PLAINTEXT listeners only."),
    def("ssl.key.password", Password, None,
        "Password of an encrypted private key; Spool reads unencrypted PEM keys only, so this must stay unset."),
    def("ssl.keystore.certificate.chain", Password, None,
        "The SSL listeners' certificate chain in PEM, inline (instead of ssl.keystore.location); needs ssl.keystore.key."),
    def("ssl.keystore.key", Password, None,
        "The SSL listeners' private key in PEM (PKCS#8, PKCS#1 or SEC1), inline; needs ssl.keystore.certificate.chain."),
    def("ssl.keystore.location", String, None,
        "A PEM file with the SSL listeners' private key and certificate chain (the broker's certificate first)."),
    def("ssl.keystore.password", Password, None,
        "Password of a JKS or PKCS12 key store; PEM key stores have none, so this must stay unset."),
    def("ssl.keystore.type", String, Some("PEM"),
        "Format of the key store; Spool reads PEM only. Spool default PEM (Kafka: JKS).")
        .check(Validator::Custom { describe: "PEM", check: check_pem_store_type }),
    def("ssl.protocol", String, Some("TLSv1.3"),
        "TLS protocol of the SSL listeners' context; the versions they accept are ssl.enabled.protocols.")
        .check(Validator::OneOf(&["TLSv1.2", "TLSv1.3", "TLS"])),
    def("ssl.truststore.certificates", Password, None,
        "Certificates (PEM, inline) of the authorities whose client certificates SSL listeners trust (instead of \
         ssl.truststore.location); used when ssl.client.auth is required or requested."),
    def("ssl.truststore.location", String, None,
        "A PEM file with the certificates of the authorities whose client certificates SSL listeners trust; used \
         when ssl.client.auth is required or requested."),
    def("ssl.truststore.password", Password, None,
        "Password of a JKS or PKCS12 trust store; PEM trust stores have none (accepted and unused, as Kafka does)."),
    def("ssl.truststore.type", String, Some("PEM"),
        "Format of the trust store; Spool reads PEM only. Spool default PEM (Kafka: JKS).")
        .check(Validator::Custom { describe: "PEM", check: check_pem_store_type }),
    def("transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, Some("10000"),
        "How often timed-out transactions are rolled back.").check(at_least(1)),
    def("transaction.max.timeout.ms", Int, Some("900000"), "Largest transaction timeout a producer may ask for.")
        .check(at_least(1)),
    def("transaction.partition.verification.enable", Boolean, Some("true"),
        "Verify that a transactional partition was added before writing to it.").dynamic(),
    def("transaction.remove.expired.transaction.cleanup.interval.ms", Int, Some("3600000"),
        "How often expired transactional ids are removed.").check(at_least(1)),
    def("transaction.state.log.load.buffer.size", Int, Some("5242880"), "Batch size for reading the transaction log.")
        .check(at_least(1)),
    def("transaction.state.log.min.isr", Int, Some("2"), "min.insync.replicas of the transaction state topic.")
        .check(at_least(1)),
    def("transaction.state.log.num.partitions", Int, Some("50"), "Partitions of the transaction state topic.")
        .check(at_least(1)),
    def("transaction.state.log.replication.factor", Short, Some("3"),
        "Replication factor of the transaction state topic; capped at the number of live brokers when created.")
        .check(at_least(1)),
    def("transaction.state.log.segment.bytes", Int, Some("104857600"), "Segment size of the transaction state topic.")
        .check(at_least(1)),
    def("transactional.id.expiration.ms", Int, Some("604800000"),
        "How long an idle transactional id is kept.").check(at_least(1)),
    def("unclean.leader.election.enable", Boolean, Some("false"),
        "Default of the topic config unclean.leader.election.enable: allow an out-of-sync replica to become leader, losing data.")
        .dynamic(),
    def("zookeeper.connect", String, None,
        "Accepted for compatibility and ignored: Spool keeps metadata in its own Raft quorum, there is no ZooKeeper."),
    def("zookeeper.connection.timeout.ms", Int, None, "Accepted for compatibility and ignored (no ZooKeeper)."),
    def("zookeeper.metadata.migration.enable", Boolean, Some("false"), "Accepted for compatibility and ignored (no ZooKeeper)."),
    def("zookeeper.session.timeout.ms", Int, Some("18000"), "Accepted for compatibility and ignored (no ZooKeeper)."),
    def("zookeeper.set.acl", Boolean, Some("false"), "Accepted for compatibility and ignored (no ZooKeeper)."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_sorted_and_unique_so_lookup_works() {
        for pair in BROKER_CONFIG_DEFS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} must sort before {}", pair[0].name, pair[1].name);
        }
        for def in BROKER_CONFIG_DEFS {
            assert_eq!(broker_config_def(def.name).map(|d| d.name), Some(def.name));
        }
        assert!(broker_config_def("no.such.key").is_none());
    }

    #[test]
    fn every_default_parses_and_validates() {
        for def in BROKER_CONFIG_DEFS {
            if let Some(default) = def.default {
                if let Err(e) = def.parse(default) {
                    panic!("default of {} is invalid: {e}", def.name);
                }
            }
        }
    }

    #[test]
    fn validators_fit_their_types() {
        use super::super::ConfigType;
        for def in BROKER_CONFIG_DEFS {
            let fits = match def.validator {
                Validator::None | Validator::Custom { .. } => true,
                Validator::AtLeast(_) | Validator::Between(..) => {
                    matches!(def.ty, ConfigType::Int | ConfigType::Short | ConfigType::Long)
                }
                Validator::BetweenF64(..) => def.ty == ConfigType::Double,
                Validator::OneOf(_) => def.ty == ConfigType::String,
                Validator::ListOf(_) => def.ty == ConfigType::List,
            };
            assert!(fits, "{}: validator {:?} does not fit type {:?}", def.name, def.validator, def.ty);
        }
    }

    #[test]
    fn covers_the_keys_of_kafkas_sample_server_properties() {
        // Every key set in Kafka 3.9's config/server.properties and config/kraft/*.properties.
        for key in [
            "advertised.listeners",
            "broker.id",
            "controller.listener.names",
            "controller.quorum.bootstrap.servers",
            "controller.quorum.voters",
            "group.initial.rebalance.delay.ms",
            "inter.broker.listener.name",
            "listener.security.protocol.map",
            "listeners",
            "log.dirs",
            "log.retention.check.interval.ms",
            "log.retention.hours",
            "log.segment.bytes",
            "node.id",
            "num.io.threads",
            "num.network.threads",
            "num.partitions",
            "num.recovery.threads.per.data.dir",
            "offsets.topic.replication.factor",
            "process.roles",
            "socket.receive.buffer.bytes",
            "socket.request.max.bytes",
            "socket.send.buffer.bytes",
            "transaction.state.log.min.isr",
            "transaction.state.log.replication.factor",
            "zookeeper.connect",
            "zookeeper.connection.timeout.ms",
            "log.flush.interval.messages",
            "log.flush.interval.ms",
            "log.retention.bytes",
        ] {
            assert!(broker_config_def(key).is_some(), "{key} missing from the catalog");
        }
    }

    #[test]
    fn gzip_level_accepts_minus_one_and_one_to_nine() {
        assert!(check_gzip_level("-1").is_ok());
        assert!(check_gzip_level("1").is_ok());
        assert!(check_gzip_level("9").is_ok());
        assert!(check_gzip_level("0").is_err());
        assert!(check_gzip_level("10").is_err());
    }
}
