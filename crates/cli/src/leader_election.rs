//! `spool leader-election` / `kafka-leader-election`: move partition leadership back to
//! the preferred replicas (ElectLeaders), as Kafka's `LeaderElectionCommand`.
//!
//! ```text
//! kafka-leader-election --bootstrap-server H:P --election-type PREFERRED --all-topic-partitions
//! kafka-leader-election --bootstrap-server H:P --election-type PREFERRED --topic orders --partition 0
//! kafka-leader-election --bootstrap-server H:P --election-type PREFERRED --path-to-json-file partitions.json
//! Successfully completed leader election (PREFERRED) for partitions orders-0, orders-2
//! Valid replica already elected for partitions orders-1
//! ```
//!
//! The JSON file is Kafka's: `{"partitions": [{"topic": "orders", "partition": 0}]}`.
//! With `--all-topic-partitions` the broker leaves out partitions whose preferred
//! replica already leads. A partition that could not be elected gets an
//! `Error completing leader election …` line, and the exit code is then 1. Spool
//! refuses UNCLEAN elections: it never makes an out-of-sync replica leader.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, ValueEnum};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::Deserialize;

use crate::admin::{unique_partitions, AdminClient, AdminTimeouts, TopicPartition};
use crate::connection_args::{read_command_config, BootstrapArgs};
use crate::kafka_error;

/// The election's timeout on the broker side, in milliseconds (Kafka's default).
const ELECTION_TIMEOUT_MS: i32 = 30_000;

/// Run a leader election on a set of topic partitions.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-leader-election",
    version,
    about = "This tool attempts to elect a new leader for a set of topic partitions."
)]
pub(crate) struct LeaderElectionArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// REQUIRED: the type of election to attempt: PREFERRED (UNCLEAN is refused)
    #[arg(long = "election-type", value_name = "PREFERRED|UNCLEAN", ignore_case = true)]
    election_type: ElectionType,
    /// Name of the topic to elect the leader of; needs --partition
    #[arg(long, value_name = "TOPIC", requires = "partition", group = "which")]
    topic: Option<String>,
    /// The partition of --topic
    #[arg(long, value_name = "PARTITION", requires = "topic")]
    partition: Option<i32>,
    /// Elect leaders of every partition whose preferred replica does not lead
    #[arg(long = "all-topic-partitions", group = "which")]
    all_topic_partitions: bool,
    /// Kafka's JSON file of the partitions to elect: {"partitions": [{"topic": "foo", "partition": 1}]}
    #[arg(long = "path-to-json-file", value_name = "FILE", group = "which")]
    path_to_json_file: Option<PathBuf>,
    /// Client properties: security.protocol=SSL and the ssl.* stores (PEM); others are ignored
    #[arg(long = "admin.config", value_name = "FILE")]
    admin_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
enum ElectionType {
    Preferred,
    Unclean,
}

#[derive(Debug, Deserialize)]
struct PartitionsFile {
    partitions: Vec<FilePartition>,
}

#[derive(Debug, Deserialize)]
struct FilePartition {
    topic: String,
    partition: i32,
}

/// The partitions a JSON file names, refusing duplicates as Kafka does.
fn parse_partitions_json(text: &str) -> Result<BTreeSet<TopicPartition>> {
    let file: PartitionsFile = serde_json::from_str(text).context("the partitions JSON file does not parse")?;
    let partitions = unique_partitions(file.partitions.into_iter().map(|p| ((p.topic, p.partition), ())))
        .map_err(|duplicates| anyhow!("Replica election data contains duplicate partitions: {duplicates}"))?;
    Ok(partitions.into_keys().collect())
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: LeaderElectionArgs) -> i32 {
    kafka_error::exit_code(execute(&args))
}

/// Elects and prints the outcome; whether every partition asked for has its leader.
fn execute(args: &LeaderElectionArgs) -> Result<bool> {
    let partitions: Option<BTreeSet<TopicPartition>> = match (&args.topic, args.partition, &args.path_to_json_file) {
        (Some(topic), Some(partition), _) => Some(BTreeSet::from([(topic.clone(), partition)])),
        (_, _, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(parse_partitions_json(&text)?)
        }
        _ if args.all_topic_partitions => None,
        _ => bail!("One and only one of the following options is required: --all-topic-partitions, --topic, --path-to-json-file"),
    };
    let election = match args.election_type {
        ElectionType::Preferred => "PREFERRED",
        ElectionType::Unclean => {
            bail!("UNCLEAN leader election is not supported: Spool only makes in-sync replicas leader, so no acknowledged record is lost")
        }
    };
    let mut client = AdminClient::connect(&args.bootstrap.resolve(false)?, AdminTimeouts::default(), &read_command_config(args.admin_config.as_deref())?)?;
    let request = ElectLeadersRequest::default().with_election_type(0).with_timeout_ms(ELECTION_TIMEOUT_MS).with_topic_partitions(
        partitions.as_ref().map(|partitions| {
            let mut topics: Vec<TopicPartitions> = Vec::new();
            for (topic, partition) in partitions {
                match topics.last_mut() {
                    Some(last) if last.topic.0.as_str() == topic => last.partitions.push(*partition),
                    _ => topics.push(
                        TopicPartitions::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                            .with_partitions(vec![*partition]),
                    ),
                }
            }
            topics
        }),
    );
    let (response, _) = client.call(&request, 2)?;
    if response.error_code != 0 {
        bail!("{}", kafka_error::describe(response.error_code, None));
    }
    let mut succeeded = Vec::new();
    let mut not_needed = Vec::new();
    let mut failed = Vec::new();
    for topic in &response.replica_election_results {
        for p in &topic.partition_result {
            let name = format!("{}-{}", topic.topic.0, p.partition_id);
            if p.error_code == 0 {
                succeeded.push(name);
            } else if p.error_code == ResponseError::ElectionNotNeeded.code() {
                not_needed.push(name);
            } else {
                failed.push((name, p.error_code, p.error_message.as_deref().map(str::to_string)));
            }
        }
    }
    if !succeeded.is_empty() {
        println!("Successfully completed leader election ({election}) for partitions {}", succeeded.join(", "));
    }
    if !not_needed.is_empty() {
        println!("Valid replica already elected for partitions {}", not_needed.join(", "));
    }
    if succeeded.is_empty() && not_needed.is_empty() && failed.is_empty() {
        println!("No partition needed a leader election ({election}): every preferred replica that can lead does");
    }
    for (name, code, message) in &failed {
        let kind = ResponseError::try_from_code(*code).map(|k| format!("{k:?}")).unwrap_or_else(|| format!("Error{code}"));
        let text = kafka_error::describe(*code, message.as_deref());
        println!("Error completing leader election ({election}) for partition: {name}: org.apache.kafka.common.errors.{kind}Exception: {text}");
    }
    if !failed.is_empty() {
        eprintln!("Error occurred: {} replica(s) could not be elected", failed.len());
    }
    Ok(failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<LeaderElectionArgs, clap::Error> {
        LeaderElectionArgs::try_parse_from(["kafka-leader-election", "--bootstrap-server", "h:1"].iter().chain(args))
    }

    #[test]
    fn options_are_checked_as_kafka_checks_them() {
        let all = parse(&["--election-type", "preferred", "--all-topic-partitions"]).unwrap();
        assert_eq!(all.election_type, ElectionType::Preferred);
        assert!(parse(&["--election-type", "PREFERRED", "--topic", "t"]).is_err(), "--topic needs --partition");
        assert!(parse(&["--election-type", "PREFERRED", "--partition", "0"]).is_err(), "--partition needs --topic");
        assert!(parse(&["--election-type", "PREFERRED", "--topic", "t", "--partition", "0", "--all-topic-partitions"]).is_err());
        assert!(parse(&["--election-type", "sideways", "--all-topic-partitions"]).is_err());
        assert!(parse(&["--all-topic-partitions"]).is_err(), "--election-type is required");
    }

    #[test]
    fn partition_files_parse_as_kafka_reads_them() {
        let parsed = parse_partitions_json(r#"{"partitions": [{"topic": "b", "partition": 1}, {"topic": "a", "partition": 0}]}"#).unwrap();
        assert_eq!(parsed.into_iter().collect::<Vec<_>>(), vec![("a".to_string(), 0), ("b".to_string(), 1)]);
        let duplicate = parse_partitions_json(r#"{"partitions": [{"topic": "a", "partition": 0}, {"topic": "a", "partition": 0}]}"#);
        assert!(duplicate.unwrap_err().to_string().contains("duplicate partitions: a-0"));
        assert!(parse_partitions_json("{}").is_err());
    }
}
