//! `spool broker-api-versions` / `kafka-broker-api-versions`: the API versions each
//! broker of the cluster answers, and which of them this client would use, as Kafka's
//! `BrokerApiVersionsCommand` prints them.
//!
//! ```text
//! kafka-broker-api-versions --bootstrap-server H:P
//! 127.0.0.1:9092 (id: 1 rack: null) -> (
//!     Produce(0): 0 to 11 [usable: 11],
//!     Fetch(1): 4 to 16 [usable: 16],
//!     …
//! )
//! ```
//!
//! (The API lines start with a tab.) "usable" is the highest version both the broker and this tool's protocol library
//! know; "unusable: node too new/old" when the two ranges do not meet. A broker that
//! cannot be reached gets `-> ERROR: …` and the exit code is 1. Unlike Kafka, APIs
//! the broker does not announce are not listed as UNSUPPORTED.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use kafka_protocol::messages::ApiKey;

use crate::admin::ClusterAdmin;
use crate::connection_args::{read_command_config, BootstrapArgs};
use crate::kafka_error;

/// How long the admin requests may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Print the API versions every broker of the cluster supports.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-broker-api-versions",
    version,
    about = "This tool helps to retrieve broker version information."
)]
pub(crate) struct BrokerApiVersionsArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Client properties: security.protocol=SSL and the ssl.* stores (PEM); others are ignored
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: BrokerApiVersionsArgs) -> i32 {
    kafka_error::exit_code(execute(&args))
}

/// Prints every broker's versions; whether every broker answered.
fn execute(args: &BrokerApiVersionsArgs) -> Result<bool> {
    let mut admin = ClusterAdmin::connect(&args.bootstrap.resolve(false)?, TIMEOUT, &read_command_config(args.command_config.as_deref())?)?;
    let metadata = admin.metadata()?;
    let mut all_answered = true;
    for broker in &metadata.brokers {
        let rack = broker.rack.as_ref().map_or("null", |r| r.as_str());
        let name = format!("{}:{} (id: {} rack: {rack})", broker.host.as_str(), broker.port, broker.node_id.0);
        match admin.api_versions_of(broker.node_id.0) {
            Ok(versions) => println!("{name} -> {}", versions_text(&versions)),
            Err(e) => {
                println!("{name} -> ERROR: {e:#}");
                all_answered = false;
            }
        }
    }
    Ok(all_answered)
}

/// Kafka's `NodeApiVersions.toString(true)`: one line per API key, in key order.
fn versions_text(versions: &[(i16, i16, i16)]) -> String {
    let mut sorted = versions.to_vec();
    sorted.sort_unstable();
    let lines: Vec<String> = sorted.iter().map(|&(key, min, max)| api_line(key, min, max)).collect();
    format!("(\n\t{}\n)", lines.join(",\n\t"))
}

fn api_line(key: i16, min: i16, max: i16) -> String {
    let range = if min == max { min.to_string() } else { format!("{min} to {max}") };
    let Ok(api) = ApiKey::try_from(key) else { return format!("UNKNOWN({key}): {range}") };
    let ours = api.valid_versions();
    let usable = if ours.max < min {
        "unusable: node too new".to_string()
    } else if max < ours.min {
        "unusable: node too old".to_string()
    } else {
        format!("usable: {}", ours.max.min(max))
    };
    format!("{api:?}({key}): {range} [{usable}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_kafkas() {
        assert_eq!(api_line(0, 0, 11), "Produce(0): 0 to 11 [usable: 11]");
        assert_eq!(api_line(18, 3, 3), "ApiVersions(18): 3 [usable: 3]");
        assert_eq!(api_line(1, 0, 2), "Fetch(1): 0 to 2 [unusable: node too old]", "this library starts Fetch at v4");
        assert_eq!(api_line(1, 100, 200), "Fetch(1): 100 to 200 [unusable: node too new]");
        assert_eq!(api_line(9999, 0, 1), "UNKNOWN(9999): 0 to 1");
        assert_eq!(versions_text(&[(3, 0, 12), (0, 3, 11)]), "(\n\tProduce(0): 3 to 11 [usable: 11],\n\tMetadata(3): 0 to 12 [usable: 12]\n)");
    }
}
