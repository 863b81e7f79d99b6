//! The `spool` binary: the server and Kafka-compatible command-line tools.
//!
//! ```text
//! spool server            [--data-dir DIR] [--listen HOST:PORT] [--config FILE] [--set K=V]...
//! spool topics            = kafka-topics(.sh)
//! spool configs           = kafka-configs(.sh)
//! spool get-offsets       = kafka-get-offsets(.sh)
//! spool delete-records    = kafka-delete-records(.sh)
//! spool log-dirs          = kafka-log-dirs(.sh)
//! spool leader-election   = kafka-leader-election(.sh)
//! spool reassign-partitions = kafka-reassign-partitions(.sh)
//! spool broker-api-versions = kafka-broker-api-versions(.sh)
//! spool dump-log          = kafka-dump-log(.sh)
//! spool console-producer  = kafka-console-producer(.sh)
//! spool console-consumer  = kafka-console-consumer(.sh)
//! spool consumer-groups   = kafka-consumer-groups(.sh)
//! spool perf produce|consume|e2e  (= kafka-producer-perf-test(.sh), kafka-consumer-perf-test(.sh))
//! spool cluster           (describe --status|--replication = kafka-metadata-quorum(.sh))
//! ```
//!
//! Invoked through a link named like one of Kafka's tools, the binary behaves as that
//! tool, so existing scripts run unchanged. The tools log to stderr at `warn` unless
//! `RUST_LOG` says otherwise; the server at `info`.
//!
//! The console tools use librdkafka (the `rdkafka` crate) as their Kafka client. The
//! topics tool speaks the admin protocol itself with `kafka-protocol`'s generated
//! messages, because librdkafka's admin API does not give it the topic id or the
//! broker's error messages that `kafka-topics` prints (see `admin.rs`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admin;
mod broker_api_versions;
mod client_context;
mod client_tls;
mod cluster;
mod configs;
mod connection_args;
mod console_consumer;
mod console_producer;
mod consumer_groups;
mod delete_records;
mod dump_log;
mod get_offsets;
mod kafka_error;
mod leader_election;
mod line_reader;
mod log_dirs;
mod log_filter;
mod message_formatter;
mod perf;
mod reassign_partitions;
mod server;
mod signals;
mod topic_filter;
mod topics;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use console_consumer::ConsumerArgs;
use console_producer::ProducerArgs;
use consumer_groups::ConsumerGroupsArgs;
use server::ServerArgs;
use topics::TopicsArgs;

/// Spool: a Kafka-compatible distributed commit log.
#[derive(Parser, Debug)]
#[command(name = "spool", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a broker (controller and broker in one process)
    Server(ServerArgs),
    /// Create, delete, describe, or change a topic (as kafka-topics)
    Topics(TopicsArgs),
    /// Describe or alter the configs of topics and brokers (as kafka-configs)
    Configs(configs::ConfigsArgs),
    /// Print the offsets of topic partitions at a time (as kafka-get-offsets)
    GetOffsets(get_offsets::GetOffsetsArgs),
    /// Delete the records of partitions before an offset (as kafka-delete-records)
    DeleteRecords(delete_records::DeleteRecordsArgs),
    /// Show each broker's log directories and the size of every replica (as kafka-log-dirs)
    LogDirs(log_dirs::LogDirsArgs),
    /// Move partition leadership back to the preferred replicas (as kafka-leader-election)
    LeaderElection(leader_election::LeaderElectionArgs),
    /// Move partition replicas between brokers (as kafka-reassign-partitions)
    ReassignPartitions(reassign_partitions::ReassignPartitionsArgs),
    /// Print the API versions every broker supports (as kafka-broker-api-versions)
    BrokerApiVersions(broker_api_versions::BrokerApiVersionsArgs),
    /// Print the batches and records of segment files and their indexes (as kafka-dump-log)
    DumpLog(dump_log::DumpLogArgs),
    /// Publish stdin lines to a topic (as kafka-console-producer)
    ConsoleProducer(ProducerArgs),
    /// Print a topic's records to stdout (as kafka-console-consumer)
    ConsoleConsumer(ConsumerArgs),
    /// List, describe, delete consumer groups; reset their offsets (as kafka-consumer-groups)
    ConsumerGroups(ConsumerGroupsArgs),
    /// Measure throughput and latency (as kafka-producer-perf-test, kafka-consumer-perf-test)
    Perf(perf::PerfArgs),
    /// Show brokers, the metadata quorum and partition leadership (as kafka-metadata-quorum)
    Cluster(cluster::ClusterArgs),
}

/// Which Kafka tool an executable name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KafkaTool {
    Topics,
    Configs,
    GetOffsets,
    DeleteRecords,
    LogDirs,
    LeaderElection,
    ReassignPartitions,
    BrokerApiVersions,
    DumpLog,
    ConsoleProducer,
    ConsoleConsumer,
    ConsumerGroups,
    ProducerPerfTest,
    ConsumerPerfTest,
    MetadataQuorum,
}

fn kafka_tool(argv0: &OsString) -> Option<KafkaTool> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    match name.strip_suffix(".sh").unwrap_or(name) {
        "kafka-topics" => Some(KafkaTool::Topics),
        "kafka-configs" => Some(KafkaTool::Configs),
        "kafka-get-offsets" => Some(KafkaTool::GetOffsets),
        "kafka-delete-records" => Some(KafkaTool::DeleteRecords),
        "kafka-log-dirs" => Some(KafkaTool::LogDirs),
        "kafka-leader-election" => Some(KafkaTool::LeaderElection),
        "kafka-reassign-partitions" => Some(KafkaTool::ReassignPartitions),
        "kafka-broker-api-versions" => Some(KafkaTool::BrokerApiVersions),
        "kafka-dump-log" => Some(KafkaTool::DumpLog),
        "kafka-console-producer" => Some(KafkaTool::ConsoleProducer),
        "kafka-console-consumer" => Some(KafkaTool::ConsoleConsumer),
        "kafka-consumer-groups" => Some(KafkaTool::ConsumerGroups),
        "kafka-producer-perf-test" => Some(KafkaTool::ProducerPerfTest),
        "kafka-consumer-perf-test" => Some(KafkaTool::ConsumerPerfTest),
        "kafka-metadata-quorum" => Some(KafkaTool::MetadataQuorum),
        _ => None,
    }
}


/// mimalloc serves Rust's allocations and, through its `override` feature, the C code
/// linked into the binary: librdkafka's `malloc` and `free`. librdkafka's consumer
/// allocates one op per fetched record on its broker thread, and the application thread
/// frees it; glibc's malloc makes each of those frees take the broker thread's arena
/// lock, and that thread is what limits a consumer. Measured with `spool perf consume`
/// (10 M stored 100-byte records, runs alternated against one broker): 4.6–5.1 M
/// records/s with glibc's malloc, 6.8–7.7 M/s with mimalloc. The producer tools and the
/// broker measured the same with either. `no_thp` keeps mimalloc from asking for
/// transparent huge pages, which added 10 MiB to an idle broker's RSS and nothing to
/// its speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let tool = argv.first().and_then(kafka_tool);
    let code = match tool {
        Some(tool) => {
            log_filter::init("warn", false);
            match tool {
                KafkaTool::Topics => topics::run(TopicsArgs::parse_from(argv)),
                KafkaTool::Configs => configs::run(configs::ConfigsArgs::parse_from(argv)),
                KafkaTool::GetOffsets => get_offsets::run(get_offsets::GetOffsetsArgs::parse_from(argv)),
                KafkaTool::DeleteRecords => delete_records::run(delete_records::DeleteRecordsArgs::parse_from(argv)),
                KafkaTool::LogDirs => log_dirs::run(log_dirs::LogDirsArgs::parse_from(argv)),
                KafkaTool::LeaderElection => leader_election::run(leader_election::LeaderElectionArgs::parse_from(argv)),
                KafkaTool::ReassignPartitions => {
                    reassign_partitions::run(reassign_partitions::ReassignPartitionsArgs::parse_from(argv))
                }
                KafkaTool::DumpLog => dump_log::run(dump_log::DumpLogArgs::parse_from(argv)),
                KafkaTool::BrokerApiVersions => {
                    broker_api_versions::run(broker_api_versions::BrokerApiVersionsArgs::parse_from(argv))
                }
                KafkaTool::ConsoleProducer => console_producer::run(ProducerArgs::parse_from(argv)),
                KafkaTool::ConsoleConsumer => console_consumer::run(ConsumerArgs::parse_from(argv)),
                KafkaTool::ConsumerGroups => consumer_groups::run(ConsumerGroupsArgs::parse_from(argv)),
                KafkaTool::ProducerPerfTest => perf::run_producer(perf::ProducerPerfArgs::parse_from(argv)),
                KafkaTool::ConsumerPerfTest => perf::run_consumer(perf::ConsumerPerfArgs::parse_from(argv)),
                KafkaTool::MetadataQuorum => cluster::run(cluster::ClusterArgs::parse_from(argv), true),
            }
        }
        None => {
            let command = Cli::parse_from(argv).command;
            // openraft narrates every election and vote at info; its warnings are what an operator needs.
            let server = matches!(command, Command::Server(_));
            log_filter::init(if server { "info,openraft=warn" } else { "warn" }, server);
            match command {
                Command::Server(args) => server::run(args),
                Command::Topics(args) => topics::run(args),
                Command::Configs(args) => configs::run(args),
                Command::GetOffsets(args) => get_offsets::run(args),
                Command::DeleteRecords(args) => delete_records::run(args),
                Command::LogDirs(args) => log_dirs::run(args),
                Command::LeaderElection(args) => leader_election::run(args),
                Command::ReassignPartitions(args) => reassign_partitions::run(args),
                Command::BrokerApiVersions(args) => broker_api_versions::run(args),
                Command::DumpLog(args) => dump_log::run(args),
                Command::ConsoleProducer(args) => console_producer::run(args),
                Command::ConsoleConsumer(args) => console_consumer::run(args),
                Command::ConsumerGroups(args) => consumer_groups::run(args),
                Command::Perf(args) => perf::run(args),
                Command::Cluster(args) => cluster::run(args, false),
            }
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn kafka_names_dispatch_with_or_without_sh_and_paths() {
        assert_eq!(kafka_tool(&"kafka-topics".into()), Some(KafkaTool::Topics));
        assert_eq!(kafka_tool(&"/opt/bin/kafka-topics.sh".into()), Some(KafkaTool::Topics));
        assert_eq!(kafka_tool(&"kafka-console-producer.sh".into()), Some(KafkaTool::ConsoleProducer));
        assert_eq!(kafka_tool(&"./kafka-console-consumer".into()), Some(KafkaTool::ConsoleConsumer));
        assert_eq!(kafka_tool(&"spool".into()), None);
        assert_eq!(kafka_tool(&"kafka-configs.sh".into()), Some(KafkaTool::Configs));
        assert_eq!(kafka_tool(&"kafka-get-offsets.sh".into()), Some(KafkaTool::GetOffsets));
        assert_eq!(kafka_tool(&"kafka-delete-records".into()), Some(KafkaTool::DeleteRecords));
        assert_eq!(kafka_tool(&"kafka-log-dirs.sh".into()), Some(KafkaTool::LogDirs));
        assert_eq!(kafka_tool(&"kafka-leader-election.sh".into()), Some(KafkaTool::LeaderElection));
        assert_eq!(kafka_tool(&"kafka-broker-api-versions".into()), Some(KafkaTool::BrokerApiVersions));
        assert_eq!(kafka_tool(&"kafka-dump-log.sh".into()), Some(KafkaTool::DumpLog));
        assert_eq!(kafka_tool(&"kafka-reassign-partitions.sh".into()), Some(KafkaTool::ReassignPartitions));
        assert_eq!(kafka_tool(&"kafka-acls.sh".into()), None);
        assert_eq!(kafka_tool(&"kafka-producer-perf-test.sh".into()), Some(KafkaTool::ProducerPerfTest));
        assert_eq!(kafka_tool(&"/opt/kafka/bin/kafka-consumer-groups.sh".into()), Some(KafkaTool::ConsumerGroups));
        assert_eq!(kafka_tool(&"/opt/kafka/bin/kafka-consumer-perf-test".into()), Some(KafkaTool::ConsumerPerfTest));
        assert_eq!(kafka_tool(&"kafka-metadata-quorum.sh".into()), Some(KafkaTool::MetadataQuorum));
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::command();
        for name in ["server", "topics", "console-producer", "console-consumer", "perf", "cluster"] {
            assert!(cli.find_subcommand(name).is_some(), "spool {name}");
        }
        TopicsArgs::command().debug_assert();
        ProducerArgs::command().debug_assert();
        ConsumerArgs::command().debug_assert();
        ConsumerGroupsArgs::command().debug_assert();
    }
}
