//! `spool get-offsets` / `kafka-get-offsets`: the offsets of topic partitions at a time
//! (Kafka's `GetOffsetShell`).
//!
//! ```text
//! kafka-get-offsets --bootstrap-server H:P [--topic REGEX [--partitions 0,2]] [--time latest|earliest|max-timestamp|MS]
//! kafka-get-offsets --bootstrap-server H:P --topic-partitions 'orders:0,logs.*:1-3'
//! orders:0:1200
//! ```
//!
//! One `topic:partition:offset` line per partition, sorted; a partition without an
//! offset for the time asked (a timestamp after its last record) is left out, as in
//! Kafka. Topic patterns match whole names ([`TopicFilter`]); internal topics count
//! unless `--exclude-internal-topics`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

use crate::admin::{ClusterAdmin, TopicPartition};
use crate::connection_args::{read_command_config, BootstrapArgs};
use crate::kafka_error;
use crate::topic_filter::TopicFilter;

/// How long the admin requests may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An interactive shell for getting topic-partition offsets.
#[derive(Parser, Debug)]
#[command(name = "kafka-get-offsets", version, about = "An interactive shell for getting topic-partition offsets.")]
pub(crate) struct GetOffsetsArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// The topic(s) to get the offsets for: a regular expression matching whole names
    /// (default: every topic)
    #[arg(long, value_name = "TOPIC", conflicts_with = "topic_partitions")]
    topic: Option<String>,
    /// Comma-separated partition ids (default: every partition)
    #[arg(long, value_name = "IDS", conflicts_with = "topic_partitions", value_parser = parse_partition_ids)]
    partitions: Option<PartitionIds>,
    /// Comma-separated TOPIC-REGEX:PARTITIONS patterns; PARTITIONS is an id, LOWER-UPPER
    /// (upper exclusive), -UPPER, LOWER-, or absent for all
    #[arg(long = "topic-partitions", value_name = "PATTERNS", value_parser = parse_topic_partitions)]
    topic_partitions: Option<PartitionPatterns>,
    /// -1 or latest, -2 or earliest, -3 or max-timestamp, -4 or earliest-local, -5 or
    /// latest-tiered, or a timestamp in ms
    #[arg(long, value_name = "TIME", default_value = "latest", allow_negative_numbers = true, value_parser = parse_time)]
    time: i64,
    /// Leave out internal topics
    #[arg(long = "exclude-internal-topics")]
    exclude_internal_topics: bool,
    /// Client properties: security.protocol=SSL and the ssl.* stores (PEM); others are ignored
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

/// `--partitions`: the ids asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionIds(Vec<i32>);

/// `--topic-partitions`: a partition is taken when any pattern takes it.
#[derive(Debug, Clone)]
struct PartitionPatterns(Vec<PartitionPattern>);

impl PartitionPatterns {
    fn take(&self, topic: &str, partition: i32) -> bool {
        self.0.iter().any(|p| p.takes(topic, partition))
    }
}

/// One `--topic-partitions` pattern: topics matching `topics`, partitions in
/// `lower..upper`.
#[derive(Debug, Clone)]
struct PartitionPattern {
    topics: TopicFilter,
    lower: i32,
    upper: i32,
}

impl PartitionPattern {
    fn takes(&self, topic: &str, partition: i32) -> bool {
        (self.lower..self.upper).contains(&partition) && self.topics.matches(topic)
    }
}

fn parse_time(text: &str) -> Result<i64, String> {
    match text {
        "latest" => Ok(-1),
        "earliest" => Ok(-2),
        "max-timestamp" => Ok(-3),
        "earliest-local" => Ok(-4),
        "latest-tiered" => Ok(-5),
        _ => text.parse().map_err(|_| {
            format!(
                "Malformed time argument {text}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp / \
                 -4 or earliest-local / -5 or latest-tiered, or a specified long format timestamp"
            )
        }),
    }
}

fn parse_partition_ids(text: &str) -> Result<PartitionIds, String> {
    text.split(',').map(|id| id.trim().parse::<i32>().map_err(|_| format!("not a partition id: {id:?}"))).collect::<Result<_, _>>().map(PartitionIds)
}

fn parse_topic_partitions(text: &str) -> Result<PartitionPatterns, String> {
    text.split(',').map(parse_partition_pattern).collect::<Result<_, _>>().map(PartitionPatterns)
}

/// `TOPIC-REGEX[:PARTITIONS]`; an empty topic part means every topic.
fn parse_partition_pattern(text: &str) -> Result<PartitionPattern, String> {
    let (topics, partitions) = text.split_once(':').unwrap_or((text, ""));
    let topics = TopicFilter::pattern(if topics.is_empty() { ".*" } else { topics })?;
    let bound = |s: &str, default: i32| -> Result<i32, String> {
        if s.is_empty() {
            Ok(default)
        } else {
            s.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| format!("Invalid topic-partition pattern: {text}"))
        }
    };
    let (lower, upper) = match partitions.split_once('-') {
        Some((lower, upper)) => (bound(lower, 0)?, bound(upper, i32::MAX)?),
        None if partitions.is_empty() => (0, i32::MAX),
        None => {
            let id = bound(partitions, 0)?;
            (id, id.saturating_add(1))
        }
    };
    Ok(PartitionPattern { topics, lower, upper })
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: GetOffsetsArgs) -> i32 {
    kafka_error::exit_code(execute(&args).map(|()| true))
}

fn execute(args: &GetOffsetsArgs) -> Result<()> {
    let bootstrap = args.bootstrap.resolve(false)?;
    let mut admin = ClusterAdmin::connect(&bootstrap, TIMEOUT, &read_command_config(args.command_config.as_deref())?)?;
    let metadata = admin.metadata()?;
    let topic = args.topic.as_deref().map(TopicFilter::include_list).transpose().map_err(anyhow::Error::msg)?;
    let wanted = |name: &str, partition: i32| match &args.topic_partitions {
        Some(patterns) => patterns.take(name, partition),
        None => {
            topic.as_ref().is_none_or(|t| t.matches(name)) && args.partitions.as_ref().is_none_or(|ids| ids.0.contains(&partition))
        }
    };
    let mut partitions: Vec<TopicPartition> = Vec::new();
    for t in &metadata.topics {
        let Some(name) = t.name.as_deref() else { continue };
        if args.exclude_internal_topics && t.is_internal {
            continue;
        }
        for p in &t.partitions {
            if wanted(name, p.partition_index) {
                partitions.push((name.to_string(), p.partition_index));
            }
        }
    }
    if partitions.is_empty() {
        bail!("Could not match any topic-partitions with the specified filters");
    }
    let offsets: BTreeMap<TopicPartition, Result<i64, i16>> = admin.list_offsets(&partitions, args.time)?;
    let mut out = String::new();
    let mut failed = Vec::new();
    for ((topic, partition), offset) in offsets {
        match offset {
            Ok(offset) if offset >= 0 => out.push_str(&format!("{topic}:{partition}:{offset}\n")),
            Ok(_) => {}
            Err(code) => failed.push(format!("{topic}-{partition}: {}", kafka_error::describe(code, None))),
        }
    }
    print!("{out}");
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_in_kafka() {
        assert_eq!(parse_time("latest"), Ok(-1));
        assert_eq!(parse_time("-2"), Ok(-2));
        assert_eq!(parse_time("max-timestamp"), Ok(-3));
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert!(parse_time("soon").unwrap_err().starts_with("Malformed time argument soon."));
        let args = GetOffsetsArgs::try_parse_from(["g", "--bootstrap-server", "h:1", "--time", "-1"]).unwrap();
        assert_eq!(args.time, -1);
    }

    #[test]
    fn topic_partition_patterns_select_as_in_kafka() {
        let patterns = parse_topic_partitions("orders:0,logs.*:1-3,ev:-2,big:5-,all").unwrap();
        let takes = |topic: &str, partition: i32| patterns.take(topic, partition);
        assert!(takes("orders", 0) && !takes("orders", 1) && !takes("orders-eu", 0));
        assert!(takes("logs-a", 1) && takes("logs-a", 2) && !takes("logs-a", 3), "the upper bound is exclusive");
        assert!(takes("ev", 0) && takes("ev", 1) && !takes("ev", 2));
        assert!(!takes("big", 4) && takes("big", 5) && takes("big", 900));
        assert!(takes("all", 0) && takes("all", 77));
        assert!(parse_topic_partitions(":0").unwrap().take("anything", 0), "no topic part: every topic");
        assert!(parse_topic_partitions("t:x").is_err());
        assert!(parse_topic_partitions("t(:0").is_err());
    }

    #[test]
    fn topic_partitions_exclude_topic_and_partitions() {
        let parse = |argv: &[&str]| GetOffsetsArgs::try_parse_from(argv);
        assert!(parse(&["g", "--bootstrap-server", "h:1", "--topic-partitions", "a:0", "--topic", "a"]).is_err());
        assert!(parse(&["g", "--bootstrap-server", "h:1", "--topic-partitions", "a:0", "--partitions", "0"]).is_err());
        assert_eq!(parse(&["g", "--bootstrap-server", "h:1", "--partitions", "0, 2"]).unwrap().partitions, Some(PartitionIds(vec![0, 2])));
    }
}
