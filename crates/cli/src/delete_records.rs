//! `spool delete-records` / `kafka-delete-records`: delete the records of partitions
//! before an offset (DeleteRecords).
//!
//! ```text
//! kafka-delete-records --bootstrap-server H:P --offset-json-file offsets.json
//! {"partitions": [{"topic": "orders", "partition": 0, "offset": 1200}], "version": 1}
//! Executing records delete operation
//! Records delete operation completed:
//! partition: orders-0\tlow_watermark: 1200
//! ```
//!
//! As Kafka's `DeleteRecordsCommand`; an offset of -1 means the high watermark. A
//! partition the broker refuses is reported on its line, and the exit code is then 1.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

use crate::admin::{unique_partitions, ClusterAdmin, TopicPartition};
use crate::connection_args::{read_command_config, BootstrapArgs};
use crate::kafka_error;

/// How long the admin requests may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Delete records of the given partitions down to the specified offset.
#[derive(Parser, Debug)]
#[command(name = "kafka-delete-records", version, about = "This tool helps to delete records of the given partitions down to the specified offset.")]
pub(crate) struct DeleteRecordsArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// REQUIRED: the JSON file with offset per partition: {"partitions": [{"topic": "foo",
    /// "partition": 1, "offset": 1}], "version": 1}
    #[arg(long = "offset-json-file", value_name = "FILE")]
    offset_json_file: PathBuf,
    /// Client properties: security.protocol=SSL and the ssl.* stores (PEM); others are ignored
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct OffsetFile {
    partitions: Vec<PartitionOffset>,
    #[serde(default = "default_version")]
    version: i32,
}

fn default_version() -> i32 {
    1
}

#[derive(Debug, Deserialize)]
struct PartitionOffset {
    topic: String,
    partition: i32,
    offset: i64,
}

/// The offsets of an offset JSON file, refusing an unknown version and partitions named
/// twice, as Kafka does.
fn parse_offset_json(text: &str) -> Result<BTreeMap<TopicPartition, i64>> {
    let file: OffsetFile = serde_json::from_str(text).context("the offset JSON file does not parse")?;
    if file.version != 1 {
        bail!("Not supported version field value {}", file.version);
    }
    unique_partitions(file.partitions.into_iter().map(|p| ((p.topic, p.partition), p.offset)))
        .map_err(|duplicates| anyhow!("Offset json file contains duplicate topic partitions: {duplicates}"))
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: DeleteRecordsArgs) -> i32 {
    kafka_error::exit_code(execute(&args))
}

/// Deletes and prints each partition's outcome; whether every partition succeeded.
fn execute(args: &DeleteRecordsArgs) -> Result<bool> {
    let text = std::fs::read_to_string(&args.offset_json_file)
        .with_context(|| format!("cannot read {}", args.offset_json_file.display()))?;
    let offsets = parse_offset_json(&text)?;
    let bootstrap = args.bootstrap.resolve(false)?;
    let mut admin = ClusterAdmin::connect(&bootstrap, TIMEOUT, &read_command_config(args.command_config.as_deref())?)?;
    println!("Executing records delete operation");
    let results = admin.delete_records(&offsets)?;
    println!("Records delete operation completed:");
    let mut all_done = true;
    for ((topic, partition), result) in results {
        match result {
            Ok(low_watermark) => println!("partition: {topic}-{partition}\tlow_watermark: {low_watermark}"),
            Err(code) => {
                all_done = false;
                println!("partition: {topic}-{partition}\terror: {}", kafka_error::describe(code, None));
            }
        }
    }
    Ok(all_done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_files_parse_as_kafka_reads_them() {
        let offsets = parse_offset_json(r#"{"partitions": [{"topic": "a", "partition": 1, "offset": 5}, {"topic": "b", "partition": 0, "offset": -1}], "version": 1}"#)
            .unwrap();
        assert_eq!(offsets, BTreeMap::from([(("a".to_string(), 1), 5), (("b".to_string(), 0), -1)]));
        let twice = parse_offset_json(r#"{"partitions": [{"topic": "a", "partition": 1, "offset": 5}, {"topic": "a", "partition": 1, "offset": 6}]}"#);
        assert!(twice.unwrap_err().to_string().contains("duplicate topic partitions: a-1"));
        assert!(parse_offset_json(r#"{"partitions": [], "version": 2}"#).unwrap_err().to_string().contains("Not supported version"));
        assert!(parse_offset_json("{").is_err());
    }
}
