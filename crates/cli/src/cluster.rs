//! `spool cluster` / `kafka-metadata-quorum`: the brokers, the metadata quorum and
//! every partition's leadership.
//!
//! `spool cluster --bootstrap-server H:P` prints an overview:
//!
//! ```text
//! ClusterId:              <id>
//! ActiveController:       <id> (<host:port>)
//!
//! Brokers:
//! Id  Host:Port  Rack                     (Metadata: the live brokers)
//!
//! Quorum:
//! LeaderId: … CurrentObservers: …         (as `kafka-metadata-quorum describe --status`)
//!
//! NodeId  DirectoryId  LogEndOffset  Lag  … Status   (as `describe --replication`)
//!
//! Partitions:
//! Topic  Partition  Leader  LeaderEpoch  Replicas  Isr   (Metadata v7+ leader epochs)
//! ```
//!
//! `spool cluster … describe --status|--replication [--human-readable]`, or the binary
//! invoked as `kafka-metadata-quorum`, prints exactly what Kafka 3.9's
//! `kafka-metadata-quorum.sh` prints for those commands.
//!
//! The quorum comes from DescribeQuorum (API key 55), which only the quorum leader
//! answers (others say NOT_LEADER_OR_FOLLOWER). Every Spool node is a quorum member
//! reachable on its Kafka listener, so the tool asks the nodes Metadata lists, the
//! active controller first, and keeps trying for [`QUORUM_WAIT`] while an election
//! runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::admin::{AdminClient, AdminTimeouts};
use crate::connection_args::read_command_config;
use crate::kafka_error;
use crate::topics::kafka_uuid;

/// The metadata log, as KRaft names it.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// Error code of NOT_LEADER_OR_FOLLOWER.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// How long to look for the quorum leader (an election takes a few seconds at most).
const QUORUM_WAIT: Duration = Duration::from_secs(10);
/// Pause between rounds over the nodes while no node says it leads.
const QUORUM_RETRY: Duration = Duration::from_millis(250);

/// Show the brokers, the metadata quorum and every partition's leader, replicas, ISR
/// and leader epoch.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-metadata-quorum",
    version,
    about = "This tool describes kraft metadata quorum status (and, without a sub-command, the whole cluster)."
)]
pub(crate) struct ClusterArgs {
    /// A comma-separated list of host:port pairs to use for establishing the connection
    /// to the Kafka cluster.
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT", required_unless_present = "bootstrap_controller")]
    bootstrap_server: Option<String>,
    /// Kafka's way to reach the controllers directly; Spool's controller listeners speak
    /// the quorum's own protocol, so use --bootstrap-server.
    #[arg(long = "bootstrap-controller", value_name = "HOST:PORT", conflicts_with = "bootstrap_server")]
    bootstrap_controller: Option<String>,
    /// Property file containing configs to be passed to Admin Client (checked to exist;
    /// Spool's admin client needs none of them).
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
    /// With no sub-command: leave out internal topics (`__consumer_offsets`).
    #[arg(long = "exclude-internal")]
    exclude_internal: bool,
    #[command(subcommand)]
    command: Option<QuorumCommand>,
}

#[derive(Subcommand, Debug)]
enum QuorumCommand {
    /// Describe the metadata quorum info
    Describe(DescribeArgs),
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// A short summary of the quorum status and the other provides detailed information
    /// about the status of replication.
    #[arg(long)]
    status: bool,
    /// Detailed information about the status of replication
    #[arg(long)]
    replication: bool,
    /// Human-readable output
    #[arg(long = "human-readable")]
    human_readable: bool,
}

/// Runs the command; `as_kafka_tool` says the binary was invoked as
/// `kafka-metadata-quorum`, which needs a sub-command. Returns the exit code.
pub(crate) fn run(args: ClusterArgs, as_kafka_tool: bool) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = execute(&args, as_kafka_tool, &mut out).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = out.flush();
            eprintln!("{e:#}");
            1
        }
    }
}

fn execute(args: &ClusterArgs, as_kafka_tool: bool, out: &mut impl Write) -> Result<()> {
    if args.bootstrap_controller.is_some() {
        bail!(
            "--bootstrap-controller is not supported: Spool's controller listeners speak the metadata quorum's \
             own protocol; every node answers DescribeQuorum on its Kafka listener, so use --bootstrap-server"
        );
    }
    if let Some(path) = &args.command_config {
        if !path.exists() {
            bail!("Properties file {} does not exist.", path.display());
        }
    }
    let security = read_command_config(args.command_config.as_deref())?;
    let describe = match &args.command {
        Some(QuorumCommand::Describe(describe)) => Some(describe),
        None if as_kafka_tool => bail!("kafka-metadata-quorum: error: too few arguments (expected: describe)"),
        None => None,
    };
    if let Some(d) = describe {
        if d.status && d.replication {
            bail!("Only one of --status or --replication should be specified with describe sub-command");
        }
        if !d.status && !d.replication {
            bail!("One of --status or --replication must be specified with describe sub-command");
        }
        if d.status && d.human_readable {
            bail!("The option --human-readable is only supported along with --replication");
        }
    }
    let bootstrap = args.bootstrap_server.as_deref().unwrap_or_default();
    let mut client = AdminClient::connect(bootstrap, AdminTimeouts::default(), &security)?;
    let (metadata, metadata_version) = client.metadata()?;
    match describe {
        Some(d) => {
            let quorum = find_quorum(&mut client, metadata)?;
            if d.status {
                write_status(out, &quorum, true)
            } else {
                write_replication(out, &quorum, d.human_readable.then(now_ms))
            }
        }
        None => write_overview(out, &mut client, metadata, metadata_version, args.exclude_internal),
    }
}

/// One voter or observer as the quorum leader reports it (Kafka's `QuorumInfo.ReplicaState`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Replica {
    id: i32,
    directory_id: [u8; 16],
    log_end_offset: i64,
    last_fetch_timestamp: Option<i64>,
    last_caught_up_timestamp: Option<i64>,
}

/// The quorum as the leader described it (Kafka's `QuorumInfo`), with the cluster id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QuorumInfo {
    cluster_id: String,
    leader_id: i32,
    leader_epoch: i32,
    high_watermark: i64,
    voters: Vec<Replica>,
    observers: Vec<Replica>,
    /// Controller endpoints by node id, as `NAME://host:port` (v2 responses).
    endpoints: BTreeMap<i32, Vec<String>>,
}

impl QuorumInfo {
    fn leader(&self) -> Result<&Replica> {
        self.voters
            .iter()
            .find(|v| v.id == self.leader_id)
            .with_context(|| format!("the quorum leader {} is not among the voters", self.leader_id))
    }
}

fn replica(state: &ReplicaState) -> Replica {
    let known = |t: i64| (t >= 0).then_some(t);
    Replica {
        id: state.replica_id.0,
        directory_id: *state.replica_directory_id.as_bytes(),
        log_end_offset: state.log_end_offset,
        last_fetch_timestamp: known(state.last_fetch_timestamp),
        last_caught_up_timestamp: known(state.last_caught_up_timestamp),
    }
}

/// What one DescribeQuorum answer says.
enum Answer {
    Quorum(QuorumInfo),
    NotLeader,
}

fn interpret(response: &DescribeQuorumResponse, cluster_id: &str) -> Result<Answer> {
    if response.error_code != 0 {
        bail!("{}", kafka_error::describe(response.error_code, response.error_message.as_deref()));
    }
    let partition = response
        .topics
        .iter()
        .filter(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == 0)
        .context("the DescribeQuorum response has no __cluster_metadata-0")?;
    if partition.error_code == NOT_LEADER_OR_FOLLOWER {
        return Ok(Answer::NotLeader);
    }
    if partition.error_code != 0 {
        bail!("{}", kafka_error::describe(partition.error_code, partition.error_message.as_deref()));
    }
    let endpoints = response
        .nodes
        .iter()
        .map(|node| {
            let listeners = node
                .listeners
                .iter()
                .map(|l| {
                    let host = l.host.as_str();
                    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
                    format!("{}://{host}:{}", l.name.as_str(), l.port)
                })
                .collect();
            (node.node_id.0, listeners)
        })
        .collect();
    Ok(Answer::Quorum(QuorumInfo {
        cluster_id: cluster_id.to_string(),
        leader_id: partition.leader_id.0,
        leader_epoch: partition.leader_epoch,
        high_watermark: partition.high_watermark,
        voters: partition.current_voters.iter().map(replica).collect(),
        observers: partition.observers.iter().map(replica).collect(),
        endpoints,
    }))
}

fn describe_quorum_request() -> DescribeQuorumRequest {
    let mut partition = PartitionData::default();
    partition.partition_index = 0;
    let mut topic = TopicData::default();
    topic.topic_name = TopicName(StrBytes::from_static_str(METADATA_TOPIC));
    topic.partitions = vec![partition];
    let mut request = DescribeQuorumRequest::default();
    request.topics = vec![topic];
    request
}

/// The nodes to ask, as `host:port`: the one Metadata names as controller first, then
/// the other brokers by id.
fn candidates(metadata: &MetadataResponse) -> Vec<String> {
    let mut brokers: Vec<_> = metadata.brokers.iter().collect();
    brokers.sort_by_key(|b| (b.node_id.0 != metadata.controller_id.0, b.node_id.0));
    brokers.iter().map(|b| format!("{}:{}", b.host.as_str(), b.port)).collect()
}

/// Asks the nodes Metadata lists for the quorum until one answers as leader or
/// [`QUORUM_WAIT`] runs out, refreshing Metadata between rounds.
///
/// # Errors
/// When no node answers as leader in time; the message lists what each said.
fn find_quorum(client: &mut AdminClient, mut metadata: MetadataResponse) -> Result<QuorumInfo> {
    let deadline = Instant::now() + QUORUM_WAIT;
    let request = describe_quorum_request();
    loop {
        let cluster_id = cluster_id_of(&metadata);
        let mut answers = Vec::new();
        for target in candidates(&metadata) {
            let result = if target == client.peer() {
                client.call(&request, 2).map(|(r, _)| r)
            } else {
                client.connect_to_server(&target)
                    .and_then(|mut other| other.call(&request, 2).map(|(r, _)| r))
            };
            match result.and_then(|response| interpret(&response, &cluster_id)) {
                Ok(Answer::Quorum(quorum)) => return Ok(quorum),
                Ok(Answer::NotLeader) => answers.push(format!("{target}: not the quorum leader")),
                Err(e) => answers.push(format!("{target}: {e:#}")),
            }
        }
        if Instant::now() + QUORUM_RETRY >= deadline {
            bail!(
                "no node answered as the metadata quorum leader within {} s ({})",
                QUORUM_WAIT.as_secs(),
                answers.join("; ")
            );
        }
        std::thread::sleep(QUORUM_RETRY);
        if let Ok((fresh, _)) = client.metadata() {
            metadata = fresh;
        }
    }
}

/// `kafka-metadata-quorum describe --status`, line for line (the overview has printed
/// the cluster id already, so it leaves that line out).
fn write_status(out: &mut impl Write, quorum: &QuorumInfo, with_cluster_id: bool) -> Result<()> {
    let leader = quorum.leader()?;
    // As Kafka: the first voter (in response order) with the smallest log end offset.
    let first_min = quorum.voters.iter().min_by_key(|v| v.log_end_offset).unwrap_or(leader);
    let max_follower_lag = leader.log_end_offset - first_min.log_end_offset;
    let max_follower_lag_time_ms = if first_min.id == leader.id {
        0
    } else {
        match (leader.last_caught_up_timestamp, first_min.last_caught_up_timestamp) {
            (Some(l), Some(f)) => l - f,
            _ => -1,
        }
    };
    if with_cluster_id {
        writeln!(out, "ClusterId:              {}", quorum.cluster_id)?;
    }
    writeln!(out, "LeaderId:               {}", quorum.leader_id)?;
    writeln!(out, "LeaderEpoch:            {}", quorum.leader_epoch)?;
    writeln!(out, "HighWatermark:          {}", quorum.high_watermark)?;
    writeln!(out, "MaxFollowerLag:         {max_follower_lag}")?;
    writeln!(out, "MaxFollowerLagTimeMs:   {max_follower_lag_time_ms}")?;
    writeln!(out, "CurrentVoters:          {}", replica_list(quorum, &quorum.voters))?;
    writeln!(out, "CurrentObservers:       {}", replica_list(quorum, &quorum.observers))?;
    Ok(())
}

/// `[{"id": 1, "directoryId": null, "endpoints": ["CONTROLLER://h:p"]}, …]` as Kafka 3.9
/// prints voters and observers.
fn replica_list(quorum: &QuorumInfo, replicas: &[Replica]) -> String {
    let items: Vec<String> = replicas
        .iter()
        .map(|r| {
            let mut item = format!("{{\"id\": {}, \"directoryId\": ", r.id);
            if r.directory_id == [0; 16] {
                item.push_str("null");
            } else {
                item.push_str(&format!("\"{}\"", kafka_uuid(&r.directory_id)));
            }
            if let Some(endpoints) = quorum.endpoints.get(&r.id).filter(|e| !e.is_empty()) {
                let quoted: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
                item.push_str(&format!(", \"endpoints\": [{}]", quoted.join(", ")));
            }
            item.push('}');
            item
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// `kafka-metadata-quorum describe --replication`: the leader, the other voters, then
/// the observers; `human_now_ms` turns timestamps into "N ms ago".
fn write_replication(out: &mut impl Write, quorum: &QuorumInfo, human_now_ms: Option<i64>) -> Result<()> {
    let leader = quorum.leader()?;
    let followers = quorum.voters.iter().filter(|v| v.id != quorum.leader_id);
    let rows: Vec<(&Replica, &str)> = std::iter::once((leader, "Leader"))
        .chain(followers.map(|v| (v, "Follower")))
        .chain(quorum.observers.iter().map(|o| (o, "Observer")))
        .collect();
    let mut table = Vec::with_capacity(rows.len());
    for (r, status) in rows {
        table.push(vec![
            r.id.to_string(),
            kafka_uuid(&r.directory_id),
            r.log_end_offset.to_string(),
            (leader.log_end_offset - r.log_end_offset).to_string(),
            timestamp(r.last_fetch_timestamp, human_now_ms, "last fetch")?,
            timestamp(r.last_caught_up_timestamp, human_now_ms, "last caught up")?,
            status.to_string(),
        ]);
    }
    let headers =
        ["NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"];
    write_table(out, &headers, &table)
}

fn timestamp(value: Option<i64>, human_now_ms: Option<i64>, what: &str) -> Result<String> {
    let Some(at) = value else { return Ok("-1".to_string()) };
    let Some(now) = human_now_ms else { return Ok(at.to_string()) };
    if at <= 0 || at > now {
        bail!(
            "Error while computing relative time, possible drift in system clock.\n\
             Current timestamp is {now}, {what} timestamp is {at}"
        );
    }
    Ok(format!("{} ms ago", now - at))
}

/// A table as Kafka's `ToolsUtils.prettyPrintTable` prints it: every cell padded to its
/// column's width and followed by a tab.
fn write_table(out: &mut impl Write, headers: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| -> Result<()> {
        let mut text = String::new();
        for (cell, width) in cells.zip(&widths) {
            text.push_str(&format!("{cell:<width$}\t"));
        }
        writeln!(out, "{text}")?;
        Ok(())
    };
    line(&mut headers.iter().copied())?;
    for row in rows {
        line(&mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// The whole picture: cluster id, active controller, brokers, quorum, partitions. The
/// quorum part is left out with a note (and exit code 1) when no leader answers.
fn write_overview(
    out: &mut impl Write,
    client: &mut AdminClient,
    metadata: MetadataResponse,
    metadata_version: i16,
    exclude_internal: bool,
) -> Result<()> {
    let quorum = find_quorum(client, metadata.clone());
    let cluster_id = cluster_id_of(&metadata);
    let mut brokers: Vec<_> = metadata.brokers.iter().collect();
    brokers.sort_by_key(|b| b.node_id.0);
    let controller = match &quorum {
        Ok(q) => q.leader_id,
        Err(_) => metadata.controller_id.0,
    };
    let controller_text = match brokers.iter().find(|b| b.node_id.0 == controller) {
        _ if controller < 0 => "none".to_string(),
        Some(b) => format!("{controller} ({}:{})", b.host.as_str(), b.port),
        None => controller.to_string(),
    };
    writeln!(out, "ClusterId:              {cluster_id}")?;
    writeln!(out, "ActiveController:       {controller_text}")?;
    writeln!(out, "\nBrokers:")?;
    let rows: Vec<Vec<String>> = brokers
        .iter()
        .map(|b| {
            vec![
                b.node_id.0.to_string(),
                format!("{}:{}", b.host.as_str(), b.port),
                b.rack.as_ref().map_or_else(|| "null".to_string(), |r| r.to_string()),
            ]
        })
        .collect();
    write_table(out, &["Id", "Host:Port", "Rack"], &rows)?;
    writeln!(out, "\nQuorum:")?;
    let quorum_error = match &quorum {
        Ok(q) => {
            write_status(out, q, false)?;
            writeln!(out)?;
            write_replication(out, q, None)?;
            None
        }
        Err(e) => {
            writeln!(out, "unavailable: {e:#}")?;
            Some(format!("{e:#}"))
        }
    };
    writeln!(out, "\nPartitions:")?;
    write_partitions(out, &metadata, metadata_version, exclude_internal)?;
    match quorum_error {
        Some(e) => bail!("could not describe the metadata quorum: {e}"),
        None => Ok(()),
    }
}

fn write_partitions(
    out: &mut impl Write,
    metadata: &MetadataResponse,
    metadata_version: i16,
    exclude_internal: bool,
) -> Result<()> {
    let join = |ids: &[kafka_protocol::messages::BrokerId]| {
        ids.iter().map(|id| id.0.to_string()).collect::<Vec<_>>().join(",")
    };
    let mut topics: Vec<_> = metadata.topics.iter().filter(|t| !(exclude_internal && t.is_internal)).collect();
    topics.sort_by(|a, b| a.name.as_deref().map(|n| n.as_str()).cmp(&b.name.as_deref().map(|n| n.as_str())));
    let mut rows = Vec::new();
    for topic in topics {
        let name = topic.name.as_deref().map(|n| n.as_str()).unwrap_or_default();
        let mut partitions: Vec<_> = topic.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition_index);
        for p in partitions {
            let leader = if p.leader_id.0 < 0 { "none".to_string() } else { p.leader_id.0.to_string() };
            // Metadata before v7 carries no leader epoch.
            let epoch = if metadata_version >= 7 { p.leader_epoch } else { -1 };
            rows.push(vec![
                name.to_string(),
                p.partition_index.to_string(),
                leader,
                epoch.to_string(),
                join(&p.replica_nodes),
                join(&p.isr_nodes),
            ]);
        }
    }
    write_table(out, &["Topic", "Partition", "Leader", "LeaderEpoch", "Replicas", "Isr"], &rows)
}

/// The cluster id Metadata (v2+) carries; Kafka prints a missing one as `null`.
fn cluster_id_of(metadata: &MetadataResponse) -> String {
    metadata.cluster_id.as_ref().map_or_else(|| "null".to_string(), |id| id.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn voter(id: i32, leo: i64, caught_up: Option<i64>) -> Replica {
        Replica {
            id,
            directory_id: [0; 16],
            log_end_offset: leo,
            last_fetch_timestamp: caught_up,
            last_caught_up_timestamp: caught_up,
        }
    }

    fn quorum() -> QuorumInfo {
        QuorumInfo {
            cluster_id: "abc".into(),
            leader_id: 2,
            leader_epoch: 5,
            high_watermark: 42,
            voters: vec![voter(1, 42, None), voter(2, 42, Some(1_000)), voter(3, 40, None)],
            observers: vec![voter(4, 30, None)],
            endpoints: BTreeMap::from([
                (1, vec!["CONTROLLER://127.0.0.1:9093".to_string()]),
                (2, vec!["CONTROLLER://127.0.0.1:9094".to_string()]),
                (3, vec![]),
            ]),
        }
    }

    fn text(write: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn status_prints_as_kafka_3_9() {
        let printed = text(|out| write_status(out, &quorum(), true));
        assert_eq!(
            printed,
            "ClusterId:              abc\n\
             LeaderId:               2\n\
             LeaderEpoch:            5\n\
             HighWatermark:          42\n\
             MaxFollowerLag:         2\n\
             MaxFollowerLagTimeMs:   -1\n\
             CurrentVoters:          [{\"id\": 1, \"directoryId\": null, \"endpoints\": [\"CONTROLLER://127.0.0.1:9093\"]}, \
             {\"id\": 2, \"directoryId\": null, \"endpoints\": [\"CONTROLLER://127.0.0.1:9094\"]}, \
             {\"id\": 3, \"directoryId\": null}]\n\
             CurrentObservers:       [{\"id\": 4, \"directoryId\": null}]\n"
        );
    }

    #[test]
    fn a_lone_leader_has_no_lag() {
        let mut q = quorum();
        q.voters = vec![voter(2, 7, Some(1_000))];
        q.observers.clear();
        let printed = text(|out| write_status(out, &q, true));
        assert!(printed.contains("MaxFollowerLag:         0\n"), "{printed}");
        assert!(printed.contains("MaxFollowerLagTimeMs:   0\n"), "{printed}");
        assert!(printed.contains("CurrentObservers:       []\n"), "{printed}");
    }

    #[test]
    fn replication_lists_leader_followers_observers_in_a_padded_table() {
        let printed = text(|out| write_replication(out, &quorum(), None));
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(
            lines[0],
            "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t"
        );
        assert_eq!(
            lines[1],
            "2     \tAAAAAAAAAAAAAAAAAAAAAA\t42          \t0  \t1000              \t1000                 \tLeader  \t"
        );
        assert!(lines[2].starts_with("1     \t") && lines[2].ends_with("Follower\t"), "{}", lines[2]);
        assert!(lines[3].starts_with("3     \t") && lines[3].contains("\t2  \t"), "{}", lines[3]);
        assert!(lines[4].starts_with("4     \t") && lines[4].contains("\t12 \t") && lines[4].ends_with("Observer\t"));
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn human_readable_times_are_relative_and_unknown_stays_minus_one() {
        assert_eq!(timestamp(Some(1_000), Some(1_250), "last fetch").unwrap(), "250 ms ago");
        assert_eq!(timestamp(None, Some(1_250), "last fetch").unwrap(), "-1");
        assert!(timestamp(Some(2_000), Some(1_250), "last fetch").is_err(), "a future time is clock drift");
    }

    #[test]
    fn not_leader_and_errors_are_told_apart() {
        let mut response = DescribeQuorumResponse::default();
        let mut topic = kafka_protocol::messages::describe_quorum_response::TopicData::default();
        topic.topic_name = TopicName(StrBytes::from_static_str(METADATA_TOPIC));
        let mut partition = kafka_protocol::messages::describe_quorum_response::PartitionData::default();
        partition.error_code = NOT_LEADER_OR_FOLLOWER;
        topic.partitions = vec![partition];
        response.topics = vec![topic];
        assert!(matches!(interpret(&response, "c"), Ok(Answer::NotLeader)));
        response.topics[0].partitions[0].error_code = 3;
        response.topics[0].partitions[0].error_message = None;
        assert!(interpret(&response, "c").is_err());
    }

    #[test]
    fn describe_options_are_checked_as_kafka_does() {
        ClusterArgs::command().debug_assert();
        let run = |argv: &[&str]| {
            let args = ClusterArgs::try_parse_from(argv).unwrap();
            execute(&args, true, &mut Vec::new()).unwrap_err().to_string()
        };
        let base = ["kafka-metadata-quorum", "--bootstrap-server", "127.0.0.1:1", "describe"];
        let with = |flags: &[&'static str]| [&base[..], flags].concat();
        assert!(run(&with(&["--status", "--replication"])).starts_with("Only one of --status or --replication"));
        assert!(run(&with(&[])).starts_with("One of --status or --replication must be specified"));
        assert!(run(&with(&["--status", "--human-readable"])).contains("only supported along with --replication"));
        assert!(run(&base[..3]).contains("too few arguments"));
        assert!(run(&["kafka-metadata-quorum", "--bootstrap-controller", "h:1", "describe", "--status"])
            .contains("--bootstrap-server"));
    }
}
