//! `spool log-dirs` / `kafka-log-dirs`: each broker's log directories and the size of
//! every partition replica in them (DescribeLogDirs), as Kafka's `LogDirsCommand`.
//!
//! ```text
//! kafka-log-dirs --bootstrap-server H:P --describe [--topic-list orders,logs] [--broker-list 1,2]
//! Querying brokers for log directories information
//! Received log directory information from brokers 1,2
//! {"brokers":[{"broker":1,"logDirs":[{"error":null,"logDir":"/var/spool","partitions":[{"isFuture":false,"offsetLag":0,"partition":"orders-0","size":1200}]}]}, …],"version":1}
//! ```
//!
//! Here `--broker-list` is a list of broker ids, as in Kafka's tool (not the bootstrap
//! alias the other tools accept). Brokers named there that the cluster does not have
//! are an error, and nothing is queried.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use kafka_protocol::messages::DescribeLogDirsResponse;
use serde_json::{json, Value};

use crate::admin::ClusterAdmin;
use crate::connection_args::{normalize_server_list, read_command_config};
use crate::kafka_error;

/// How long the admin requests may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Query the brokers for their log directories and the partition replicas in them.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-log-dirs",
    version,
    about = "This tool helps to query log directory usage on the specified brokers."
)]
pub(crate) struct LogDirsArgs {
    /// REQUIRED: the server(s) to use for bootstrapping, HOST:PORT[,HOST:PORT...]
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT", required = true)]
    bootstrap_server: String,
    /// Describe the specified log directories on the specified brokers
    #[arg(long)]
    describe: bool,
    /// The list of topics to be queried in the form "topic1,topic2,topic3"; all topics
    /// are queried if none is given
    #[arg(long = "topic-list", value_name = "TOPIC LIST", default_value = "")]
    topic_list: String,
    /// The list of broker ids to be queried in the form "0,1,2"; every broker in the
    /// cluster is queried if none is given
    #[arg(long = "broker-list", value_name = "BROKER LIST")]
    broker_list: Option<String>,
    /// Client properties: security.protocol=SSL and the ssl.* stores (PEM); others are ignored
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: LogDirsArgs) -> i32 {
    kafka_error::exit_code(execute(&args).map(|()| true))
}

fn execute(args: &LogDirsArgs) -> Result<()> {
    if !args.describe {
        bail!("Must provide --describe (the only action of kafka-log-dirs)");
    }
    let topics: BTreeSet<&str> = args.topic_list.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    let asked = args.broker_list.as_deref().map(parse_broker_list).transpose()?;
    let mut admin = ClusterAdmin::connect(&normalize_server_list(&args.bootstrap_server), TIMEOUT, &read_command_config(args.command_config.as_deref())?)?;
    let cluster: BTreeSet<i32> = admin.broker_ids().into_iter().collect();
    let brokers = asked.unwrap_or_else(|| cluster.clone());
    let missing: Vec<i32> = brokers.difference(&cluster).copied().collect();
    if !missing.is_empty() {
        bail!(
            "The given brokers do not exist from --broker-list: {}. Current existent brokers: {}",
            comma_list(missing.iter()),
            comma_list(cluster.iter())
        );
    }
    println!("Querying brokers for log directories information");
    let mut described = Vec::with_capacity(brokers.len());
    for &broker in &brokers {
        let response = admin.describe_log_dirs(broker).with_context(|| format!("describing the log directories of broker {broker}"))?;
        if response.error_code != 0 {
            bail!("broker {broker}: {}", kafka_error::describe(response.error_code, None));
        }
        described.push((broker, response));
    }
    println!("Received log directory information from brokers {}", comma_list(brokers.iter()));
    println!("{}", as_json(&described, &topics));
    Ok(())
}

/// Broker ids from "0,1,2".
fn parse_broker_list(list: &str) -> Result<BTreeSet<i32>> {
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| id.parse().with_context(|| format!("--broker-list takes broker ids like 0,1,2, not {id:?}")))
        .collect()
}

fn comma_list<'a>(ids: impl Iterator<Item = &'a i32>) -> String {
    ids.map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Kafka's JSON: every broker's log directories, with the replicas of `topics` (all
/// when empty) in each.
fn as_json(described: &[(i32, DescribeLogDirsResponse)], topics: &BTreeSet<&str>) -> Value {
    let brokers: Vec<Value> = described
        .iter()
        .map(|(broker, response)| {
            let dirs: Vec<Value> = response
                .results
                .iter()
                .map(|dir| {
                    let partitions: Vec<Value> = dir
                        .topics
                        .iter()
                        .filter(|t| topics.is_empty() || topics.contains(t.name.0.as_str()))
                        .flat_map(|t| {
                            t.partitions.iter().map(move |p| {
                                json!({
                                    "partition": format!("{}-{}", t.name.0, p.partition_index),
                                    "size": p.partition_size,
                                    "offsetLag": p.offset_lag,
                                    "isFuture": p.is_future_key,
                                })
                            })
                        })
                        .collect();
                    let error = (dir.error_code != 0).then(|| kafka_error::describe(dir.error_code, None));
                    json!({ "logDir": dir.log_dir.as_str(), "error": error, "partitions": partitions })
                })
                .collect();
            json!({ "broker": broker, "logDirs": dirs })
        })
        .collect();
    json!({ "version": 1, "brokers": brokers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_lists_are_ids() {
        assert_eq!(parse_broker_list("3, 1,,2").unwrap(), BTreeSet::from([1, 2, 3]));
        let refused = parse_broker_list("localhost:9092").unwrap_err().to_string();
        assert!(refused.contains("broker ids"), "{refused}");
    }

    #[test]
    fn json_lists_the_replicas_of_the_topics_asked_for() {
        use kafka_protocol::messages::describe_log_dirs_response::{DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic};
        use kafka_protocol::messages::TopicName;
        use kafka_protocol::protocol::StrBytes;

        let topic = |name: &str, sizes: &[i64]| {
            DescribeLogDirsTopic::default().with_name(TopicName(StrBytes::from_string(name.into()))).with_partitions(
                sizes
                    .iter()
                    .enumerate()
                    .map(|(i, size)| DescribeLogDirsPartition::default().with_partition_index(i as i32).with_partition_size(*size))
                    .collect(),
            )
        };
        let dir = DescribeLogDirsResult::default()
            .with_log_dir(StrBytes::from_static_str("/data"))
            .with_topics(vec![topic("a", &[10, 20]), topic("b", &[30])]);
        let described = vec![(1, DescribeLogDirsResponse::default().with_results(vec![dir]))];
        let only_a = as_json(&described, &BTreeSet::from(["a"]));
        assert_eq!(
            only_a.to_string(),
            r#"{"brokers":[{"broker":1,"logDirs":[{"error":null,"logDir":"/data","partitions":[{"isFuture":false,"offsetLag":0,"partition":"a-0","size":10},{"isFuture":false,"offsetLag":0,"partition":"a-1","size":20}]}]}],"version":1}"#
        );
        assert_eq!(as_json(&described, &BTreeSet::new())["brokers"][0]["logDirs"][0]["partitions"].as_array().unwrap().len(), 3);
    }
}
