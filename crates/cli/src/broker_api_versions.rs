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
//! know; "unusable: node too new/old" when the two ranges do not meet. The APIs of
//! Kafka 3.9's clients that the broker does not announce read `Name(key): UNSUPPORTED`.
//! A broker that cannot be reached gets `-> ERROR: …` and the exit code is 1.

use std::collections::BTreeMap;
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

/// The APIs a Kafka 3.9 client knows (`ApiKeys.clientApis()` of kafka-clients 3.9.1:
/// those of the broker listeners), by key and name: Kafka's tool lists each one, as
/// UNSUPPORTED when the broker does not announce it.
const KAFKA_CLIENT_APIS: &[(i16, &str)] = &[
    (0, "Produce"), (1, "Fetch"), (2, "ListOffsets"), (3, "Metadata"), (4, "LeaderAndIsr"),
    (5, "StopReplica"), (6, "UpdateMetadata"), (7, "ControlledShutdown"), (8, "OffsetCommit"), (9, "OffsetFetch"),
    (10, "FindCoordinator"), (11, "JoinGroup"), (12, "Heartbeat"), (13, "LeaveGroup"), (14, "SyncGroup"),
    (15, "DescribeGroups"), (16, "ListGroups"), (17, "SaslHandshake"), (18, "ApiVersions"), (19, "CreateTopics"),
    (20, "DeleteTopics"), (21, "DeleteRecords"), (22, "InitProducerId"), (23, "OffsetForLeaderEpoch"),
    (24, "AddPartitionsToTxn"), (25, "AddOffsetsToTxn"), (26, "EndTxn"), (27, "WriteTxnMarkers"),
    (28, "TxnOffsetCommit"), (29, "DescribeAcls"), (30, "CreateAcls"), (31, "DeleteAcls"), (32, "DescribeConfigs"),
    (33, "AlterConfigs"), (34, "AlterReplicaLogDirs"), (35, "DescribeLogDirs"), (36, "SaslAuthenticate"),
    (37, "CreatePartitions"), (38, "CreateDelegationToken"), (39, "RenewDelegationToken"),
    (40, "ExpireDelegationToken"), (41, "DescribeDelegationToken"), (42, "DeleteGroups"), (43, "ElectLeaders"),
    (44, "IncrementalAlterConfigs"), (45, "AlterPartitionReassignments"), (46, "ListPartitionReassignments"),
    (47, "OffsetDelete"), (48, "DescribeClientQuotas"), (49, "AlterClientQuotas"),
    (50, "DescribeUserScramCredentials"), (51, "AlterUserScramCredentials"), (55, "DescribeQuorum"),
    (56, "AlterPartition"), (57, "UpdateFeatures"), (58, "Envelope"), (60, "DescribeCluster"),
    (61, "DescribeProducers"), (64, "UnregisterBroker"), (65, "DescribeTransactions"), (66, "ListTransactions"),
    (67, "AllocateProducerIds"), (68, "ConsumerGroupHeartbeat"), (69, "ConsumerGroupDescribe"),
    (71, "GetTelemetrySubscriptions"), (72, "PushTelemetry"), (74, "ListClientMetricsResources"),
    (75, "DescribeTopicPartitions"), (76, "ShareGroupHeartbeat"), (77, "ShareGroupDescribe"), (78, "ShareFetch"),
    (79, "ShareAcknowledge"), (80, "AddRaftVoter"), (81, "RemoveRaftVoter"), (83, "InitializeShareGroupState"),
    (84, "ReadShareGroupState"), (85, "WriteShareGroupState"), (86, "DeleteShareGroupState"),
    (87, "ReadShareGroupStateSummary"),
];

/// Kafka's `NodeApiVersions.toString(true)`: one line per API key, in key order, for
/// every API announced and every API of [`KAFKA_CLIENT_APIS`].
fn versions_text(versions: &[(i16, i16, i16)]) -> String {
    let mut lines: BTreeMap<i16, String> = versions.iter().map(|&(key, min, max)| (key, api_line(key, min, max))).collect();
    for &(key, name) in KAFKA_CLIENT_APIS {
        lines.entry(key).or_insert_with(|| format!("{name}({key}): UNSUPPORTED"));
    }
    let lines: Vec<String> = lines.into_values().collect();
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
        let text = versions_text(&[(3, 0, 12), (0, 3, 11), (9999, 0, 1)]);
        assert!(
            text.starts_with("(\n\tProduce(0): 3 to 11 [usable: 11],\n\tFetch(1): UNSUPPORTED,\n\tListOffsets(2): UNSUPPORTED,\n\tMetadata(3): 0 to 12 [usable: 12],\n"),
            "{text}"
        );
        assert!(text.ends_with(",\n\tReadShareGroupStateSummary(87): UNSUPPORTED,\n\tUNKNOWN(9999): 0 to 1\n)"), "{text}");
        assert_eq!(text.lines().count(), KAFKA_CLIENT_APIS.len() + 3, "one line per client API, the unknown one, and the brackets");
    }
}
