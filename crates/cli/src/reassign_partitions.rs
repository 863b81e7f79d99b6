//! `spool reassign-partitions` / `kafka-reassign-partitions`: move partition replicas
//! between brokers (AlterPartitionReassignments, ListPartitionReassignments), as Kafka's
//! `ReassignPartitionsCommand`.
//!
//! ```text
//! kafka-reassign-partitions --bootstrap-server H:P --generate --topics-to-move-json-file topics.json --broker-list 2,3
//! kafka-reassign-partitions --bootstrap-server H:P --execute --reassignment-json-file plan.json [--additional]
//! kafka-reassign-partitions --bootstrap-server H:P --verify --reassignment-json-file plan.json
//! kafka-reassign-partitions --bootstrap-server H:P --cancel --reassignment-json-file plan.json
//! kafka-reassign-partitions --bootstrap-server H:P --list
//! ```
//!
//! The files are Kafka's: `{"version":1,"topics":[{"topic":"orders"}]}` for
//! `--generate`, and `{"version":1,"partitions":[{"topic":"orders","partition":0,
//! "replicas":[2,3],"log_dirs":["any","any"]}]}` for the others. `--execute` prints the
//! current assignment of the partitions it moves, to keep for a rollback. A reassignment
//! completes on its own once every target replica is in sync; `--verify` tells which
//! have. Here `--broker-list` is a list of broker ids, as in Kafka's tool.
//!
//! `--execute --throttle B` bounds the copying to B bytes/s per broker, as Kafka does:
//! the partitions' current replicas go into their topics'
//! `leader.replication.throttled.replicas`, the replicas being added into
//! `follower.replication.throttled.replicas`, and every broker involved gets
//! `leader.replication.throttled.rate` and `follower.replication.throttled.rate` B;
//! `--additional --throttle` changes the rate of moves in progress. `--verify` of moves
//! that all completed, and `--cancel`, clear those configs again (unless
//! `--preserve-throttles`).
//!
//! Unlike Kafka: a broker keeps its replicas in one log directory, so `log_dirs` entries
//! must be `"any"` and `--replica-alter-log-dirs-throttle` is refused. `--generate`
//! places replicas as topic creation does (`spool_metadata::placement`: by rack when the
//! brokers name one, unless `--disable-rack-aware`), with the first partition on the
//! lowest broker id (Kafka starts at a random broker).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, Parser};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};

use spool_metadata::config::{FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_REPLICAS, REPLICATION_THROTTLE_CONFIGS};
use spool_metadata::placement::{place_replicas, Candidate};

use crate::admin::{
    duplicates, unique_partitions, AdminClient, AdminTimeouts, ConfigChanges, Reassignment, TopicPartition, REASSIGNMENT_TIMEOUT_MS,
    RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::connection_args::{normalize_server_list, read_command_config};
use crate::kafka_error;

/// Kafka's refusal to start a reassignment while others are in progress.
const EXISTING_REASSIGNMENT: &str = "Cannot execute because there is an existing partition assignment.  Use \
    --additional to override this and create a new partition assignment in addition to the existing one. The \
    --additional flag can also be used to change the throttle by resubmitting the current reassignment.";

/// Move topic partitions between replicas.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-reassign-partitions",
    version,
    about = "This tool helps to move topic partitions between replicas.",
    group(ArgGroup::new("action").required(true).args(["generate", "execute", "verify", "cancel", "list"]))
)]
pub(crate) struct ReassignPartitionsArgs {
    /// REQUIRED: the server(s) to use for bootstrapping, HOST:PORT[,HOST:PORT...]
    #[arg(long = "bootstrap-server", alias = "zookeeper", value_name = "HOST:PORT", required = true)]
    bootstrap_server: String,
    /// Generate a candidate partition reassignment configuration (nothing is changed)
    #[arg(long)]
    generate: bool,
    /// Start the reassignment in --reassignment-json-file
    #[arg(long)]
    execute: bool,
    /// Check whether the reassignment in --reassignment-json-file has completed
    #[arg(long)]
    verify: bool,
    /// Cancel the active reassignments of the partitions in --reassignment-json-file
    #[arg(long)]
    cancel: bool,
    /// List every partition reassignment in progress
    #[arg(long)]
    list: bool,
    /// The JSON file with the partition reassignment (--execute, --verify, --cancel)
    #[arg(long = "reassignment-json-file", value_name = "FILE")]
    reassignment_json_file: Option<PathBuf>,
    /// The JSON file with the topics to move: {"version":1,"topics":[{"topic":"foo"}]} (--generate)
    #[arg(long = "topics-to-move-json-file", value_name = "FILE")]
    topics_to_move_json_file: Option<PathBuf>,
    /// The broker ids to move the topics to, "0,1,2" (--generate)
    #[arg(long = "broker-list", value_name = "BROKER LIST")]
    broker_list: Option<String>,
    /// Start this reassignment while others are in progress (--execute)
    #[arg(long)]
    additional: bool,
    /// Bound the copying of the moves to this many bytes/s per broker (--execute; with
    /// --additional, changes the bound of moves in progress)
    #[arg(long, value_name = "BYTES/SEC", allow_negative_numbers = true)]
    throttle: Option<i64>,
    /// Refused: Spool keeps each broker's replicas in one log directory
    #[arg(long = "replica-alter-log-dirs-throttle", value_name = "BYTES/SEC")]
    replica_alter_log_dirs_throttle: Option<i64>,
    /// Leave the replication throttles set (--verify, --cancel)
    #[arg(long = "preserve-throttles")]
    preserve_throttles: bool,
    /// Place the replicas without regard to the brokers' racks (--generate)
    #[arg(long = "disable-rack-aware")]
    disable_rack_aware: bool,
    /// Accepted for compatibility: the wait for log directory moves, which Spool has none of
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    timeout: i64,
    /// Admin client properties (read, then ignored: they configure security, which Spool does not have)
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

/// Kafka's reassignment file: the target replicas of each partition.
#[derive(Debug, Serialize, Deserialize)]
struct AssignmentFile {
    #[serde(default = "version_one")]
    version: i32,
    #[serde(default)]
    partitions: Vec<PartitionAssignment>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartitionAssignment {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    #[serde(default)]
    log_dirs: Option<Vec<String>>,
}

/// Kafka's topics-to-move file.
#[derive(Debug, Deserialize)]
struct TopicsFile {
    #[serde(default = "version_one")]
    version: i32,
    #[serde(default)]
    topics: Vec<TopicEntry>,
}

#[derive(Debug, Deserialize)]
struct TopicEntry {
    topic: String,
}

fn version_one() -> i32 {
    1
}

/// Partition → replicas.
type Assignment = BTreeMap<TopicPartition, Vec<i32>>;

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: ReassignPartitionsArgs) -> i32 {
    kafka_error::exit_code(execute(&args))
}

fn execute(args: &ReassignPartitionsArgs) -> Result<bool> {
    check_options(args)?;
    let security = read_command_config(args.command_config.as_deref())?;
    let connect = || AdminClient::connect(&normalize_server_list(&args.bootstrap_server), AdminTimeouts::default(), &security);
    if args.list {
        let mut client = connect()?;
        list_ongoing(&mut client)?.iter().for_each(|line| println!("{line}"));
        return Ok(true);
    }
    if args.generate {
        let topics = parse_topics_file(&read(args.topics_to_move_json_file.as_deref())?)?;
        let brokers = parse_broker_list(args.broker_list.as_deref().unwrap_or_default())?;
        let (metadata, _) = connect()?.metadata()?;
        let current = assignment_of_topics(&metadata, &topics)?;
        let brokers: Vec<Candidate<'_>> = metadata
            .brokers
            .iter()
            .filter(|b| brokers.contains(&b.node_id.0))
            .map(|b| (b.node_id.0, if args.disable_rack_aware { None } else { b.rack.as_deref() }))
            .collect();
        let proposed = propose(&current, &brokers)?;
        println!("Current partition replica assignment\n{}\n", to_json(&current));
        println!("Proposed partition reassignment configuration\n{}", to_json(&proposed));
        return Ok(true);
    }
    let targets = parse_assignment_file(&read(args.reassignment_json_file.as_deref())?)?;
    let mut client = connect()?;
    if args.verify {
        let (lines, in_progress) = verify(&mut client, &targets)?;
        lines.iter().for_each(|line| println!("{line}"));
        // Kafka prints the replica moves between log directories next: none in Spool
        // (one log directory per broker), so, as Kafka's for none, an empty line.
        println!();
        if !in_progress && !args.preserve_throttles {
            // Kafka clears every throttle: it cannot tell which brokers earlier moves used.
            clear_throttles(&mut client, &targets)?;
        }
        Ok(true)
    } else if args.cancel {
        cancel(&mut client, &targets)?;
        if !args.preserve_throttles {
            clear_throttles(&mut client, &targets)?;
        }
        Ok(true)
    } else {
        start(&mut client, &targets, args.additional, args.throttle.filter(|rate| *rate >= 0))
    }
}

/// Kafka's per-action option checks, and the options Spool refuses.
fn check_options(args: &ReassignPartitionsArgs) -> Result<()> {
    if args.replica_alter_log_dirs_throttle.is_some() {
        bail!(
            "Spool keeps each broker's replicas in one log directory and never moves them between directories: \
             run without --replica-alter-log-dirs-throttle"
        );
    }
    let needs_file = args.execute || args.verify || args.cancel;
    if needs_file && args.reassignment_json_file.is_none() {
        bail!("Missing required argument \"[reassignment-json-file]\"");
    }
    if args.generate && (args.topics_to_move_json_file.is_none() || args.broker_list.is_none()) {
        bail!("Missing required argument \"[topics-to-move-json-file]\" or \"[broker-list]\" (both needed by --generate)");
    }
    let misplaced = [
        ("reassignment-json-file", args.reassignment_json_file.is_some() && !needs_file),
        ("topics-to-move-json-file", args.topics_to_move_json_file.is_some() && !args.generate),
        ("broker-list", args.broker_list.is_some() && !args.generate),
        ("additional", args.additional && !args.execute),
        ("throttle", args.throttle.is_some() && !args.execute),
        ("preserve-throttles", args.preserve_throttles && !(args.verify || args.cancel)),
        ("disable-rack-aware", args.disable_rack_aware && !args.generate),
    ];
    if let Some((option, _)) = misplaced.iter().find(|(_, wrong)| *wrong) {
        bail!("Option \"[{option}]\" can't be used with action \"[{}]\"", action_name(args));
    }
    Ok(())
}

fn action_name(args: &ReassignPartitionsArgs) -> &'static str {
    match () {
        () if args.generate => "generate",
        () if args.execute => "execute",
        () if args.verify => "verify",
        () if args.cancel => "cancel",
        () => "list",
    }
}

fn read(path: Option<&Path>) -> Result<String> {
    let path = path.ok_or_else(|| anyhow!("no file given"))?;
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The partitions and target replicas of a reassignment file, checked as Kafka checks them.
fn parse_assignment_file(text: &str) -> Result<Assignment> {
    let file: AssignmentFile = serde_json::from_str(text).context("the reassignment JSON file does not parse")?;
    if file.version != 1 {
        bail!("Not supported version field value {}", file.version);
    }
    if file.partitions.is_empty() {
        bail!("Partition reassignment list cannot be empty");
    }
    for p in &file.partitions {
        if p.replicas.is_empty() {
            bail!("Partition replica list cannot be empty");
        }
        if let Some(dirs) = &p.log_dirs {
            if dirs.len() != p.replicas.len() {
                bail!(
                    "Size of replicas list {:?} is different from size of log dirs list {dirs:?} for partition {}-{}",
                    p.replicas,
                    p.topic,
                    p.partition
                );
            }
            if let Some(dir) = dirs.iter().find(|d| *d != "any") {
                bail!(
                    "Partition {}-{} names the log directory {dir}: a Spool broker keeps its replicas in one \
                     log directory, so log_dirs entries must be \"any\"",
                    p.topic,
                    p.partition
                );
            }
        }
    }
    let targets = unique_partitions(file.partitions.into_iter().map(|p| ((p.topic, p.partition), p.replicas)))
        .map_err(|duplicates| anyhow!("Partition reassignment contains duplicate topic partitions: {duplicates}"))?;
    let repeated: Vec<String> = targets
        .iter()
        .filter_map(|((topic, partition), replicas)| {
            let twice = duplicates(replicas);
            (!twice.is_empty()).then(|| format!("{topic}-{partition} contains multiple entries for {twice}"))
        })
        .collect();
    if !repeated.is_empty() {
        bail!("Partition replica lists may not contain duplicate entries: {}", repeated.join(". "));
    }
    Ok(targets)
}

fn parse_topics_file(text: &str) -> Result<Vec<String>> {
    let file: TopicsFile = serde_json::from_str(text).context("the topics-to-move JSON file does not parse")?;
    if file.version != 1 {
        bail!("Not supported version field value {}", file.version);
    }
    let topics: Vec<String> = file.topics.into_iter().map(|t| t.topic).collect();
    let twice = duplicates(&topics);
    if !twice.is_empty() {
        bail!("List of topics to reassign contains duplicate entries: {twice}");
    }
    Ok(topics)
}

fn parse_broker_list(text: &str) -> Result<Vec<i32>> {
    let brokers: Vec<i32> = text
        .split(',')
        .map(|b| b.trim().parse::<i32>().map_err(|_| anyhow!("--broker-list must be broker ids like \"0,1,2\", not {text:?}")))
        .collect::<Result<_>>()?;
    let twice = duplicates(&brokers);
    if !twice.is_empty() {
        bail!("Broker list contains duplicate entries: {twice}");
    }
    Ok(brokers)
}

/// The current replicas of every partition of `topics`.
fn assignment_of_topics(metadata: &MetadataResponse, topics: &[String]) -> Result<Assignment> {
    let mut assignment = Assignment::new();
    for name in topics {
        let topic = metadata
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name) && t.error_code == 0)
            .ok_or_else(|| anyhow!("Topic {name} not found."))?;
        for p in &topic.partitions {
            assignment.insert((name.clone(), p.partition_index), p.replica_nodes.iter().map(|b| b.0).collect());
        }
    }
    Ok(assignment)
}

/// The current replicas of `partitions`, or the error naming those that do not exist.
fn assignment_of_partitions(metadata: &MetadataResponse, partitions: impl Iterator<Item = TopicPartition>) -> Result<Assignment> {
    let mut assignment = Assignment::new();
    let mut missing = Vec::new();
    for (topic, partition) in partitions {
        let replicas = metadata
            .topics
            .iter()
            .filter(|t| t.error_code == 0 && t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .map(|p| p.replica_nodes.iter().map(|b| b.0).collect());
        match replicas {
            Some(replicas) => {
                assignment.insert((topic, partition), replicas);
            }
            None => missing.push(format!("{topic}-{partition}")),
        }
    }
    if !missing.is_empty() {
        bail!("Unable to find partition: {}", missing.join(", "));
    }
    Ok(assignment)
}

/// `--generate`: each topic keeps its replication factor, its partitions placed on
/// `brokers` as Spool places the partitions of a new topic.
fn propose(current: &Assignment, brokers: &[Candidate<'_>]) -> Result<Assignment> {
    let mut proposed = Assignment::new();
    let topics: BTreeSet<&str> = current.keys().map(|(topic, _)| topic.as_str()).collect();
    for topic in topics {
        let partitions: Vec<(i32, usize)> = current
            .range((topic.to_string(), i32::MIN)..=(topic.to_string(), i32::MAX))
            .map(|((_, partition), replicas)| (*partition, replicas.len()))
            .collect();
        // The topic's first partition sets its factor, as in Kafka's `calculateAssignment`.
        let factor = partitions.first().map_or(0, |(_, factor)| *factor);
        if factor > brokers.len() {
            bail!("Replication factor: {factor} larger than available brokers: {}.", brokers.len());
        }
        let count = partitions.last().map_or(0, |(partition, _)| partition + 1);
        let mut placed = place_replicas(brokers, 0, count, factor);
        for (partition, _) in partitions {
            proposed.insert((topic.to_string(), partition), placed.remove(&partition).unwrap_or_default());
        }
    }
    Ok(proposed)
}

/// Kafka's reassignment JSON of `assignment`, partitions in order.
fn to_json(assignment: &Assignment) -> String {
    let file = AssignmentFile {
        version: 1,
        partitions: assignment
            .iter()
            .map(|((topic, partition), replicas)| PartitionAssignment {
                topic: topic.clone(),
                partition: *partition,
                replicas: replicas.clone(),
                log_dirs: Some(vec!["any".to_string(); replicas.len()]),
            })
            .collect(),
    };
    // Serialising these plain data types cannot fail.
    serde_json::to_string(&file).unwrap_or_default()
}

/// `--list`: Kafka's `curReassignmentsToString` lines.
fn list_ongoing(client: &mut AdminClient) -> Result<Vec<String>> {
    let ongoing = client.partition_reassignments(None)?;
    if ongoing.is_empty() {
        return Ok(vec!["No partition reassignments found.".to_string()]);
    }
    let mut lines = vec!["Current partition reassignments:".to_string()];
    for ((topic, partition), r) in &ongoing {
        let mut line = format!("{topic}-{partition}: replicas: {}.", ids(r.replicas.iter()));
        if !r.adding.is_empty() {
            line.push_str(&format!(" adding: {}.", ids(r.adding.iter())));
        }
        if !r.removing.is_empty() {
            line.push_str(&format!(" removing: {}.", ids(r.removing.iter())));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// `--verify`: each partition's state, as Kafka's `partitionReassignmentStatesToString`,
/// and whether any partition of the cluster is still moving.
fn verify(client: &mut AdminClient, targets: &Assignment) -> Result<(Vec<String>, bool)> {
    let ongoing = client.partition_reassignments(None)?;
    let (metadata, _) = client.metadata()?;
    let mut lines = vec!["Status of partition reassignment:".to_string()];
    for ((topic, partition), target) in targets {
        let name = format!("{topic}-{partition}");
        if ongoing.contains_key(&(topic.clone(), *partition)) {
            lines.push(format!("Reassignment of partition {name} is still in progress."));
            continue;
        }
        let current = assignment_of_partitions(&metadata, std::iter::once((topic.clone(), *partition)))
            .ok()
            .and_then(|mut a| a.remove(&(topic.clone(), *partition)))
            .unwrap_or_default();
        if current == *target {
            lines.push(format!("Reassignment of partition {name} is completed."));
        } else {
            lines.push(format!(
                "There is no active reassignment of partition {name}, but replica set is {} rather than {}.",
                ids(current.iter()),
                ids(target.iter())
            ));
        }
    }
    // As Kafka: a move of any partition, not only of these, leaves the throttles set.
    Ok((lines, !ongoing.is_empty()))
}

/// `--execute`: prints the current assignment (for a rollback), sets the throttle if
/// asked, and starts the moves.
fn start(client: &mut AdminClient, targets: &Assignment, additional: bool, throttle: Option<i64>) -> Result<bool> {
    let ongoing = client.partition_reassignments(None)?;
    if !additional && !ongoing.is_empty() {
        bail!("{EXISTING_REASSIGNMENT}");
    }
    let (metadata, _) = client.metadata()?;
    let known: BTreeSet<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    if let Some(unknown) = targets.values().flatten().find(|b| !known.contains(b)) {
        bail!("Unknown broker id {unknown}");
    }
    let current = assignment_of_partitions(&metadata, targets.keys().cloned())?;
    println!("Current partition replica assignment\n\n{}\n", to_json(&current));
    println!("Save this to use as the --reassignment-json-file option during rollback");
    if let Some(rate) = throttle {
        println!("Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.");
        let changes = throttle_changes(&moves(&ongoing, targets, &current), rate);
        let errors = client.alter_configs(&changes)?;
        if !errors.is_empty() {
            let errors: Vec<String> = errors.iter().map(|(resource, reason)| format!("{resource}: {reason}")).collect();
            bail!("Error setting the replication throttle (no partition was moved):\n{}", errors.join("\n"));
        }
        println!("The inter-broker throttle limit was set to {rate} B/s");
    }
    let errors = alter(client, targets.iter().map(|(p, replicas)| (p, Some(replicas.as_slice()))))?;
    if !errors.is_empty() {
        bail!("Error reassigning partition(s):\n{}", errors.join("\n"));
    }
    println!("Successfully started partition reassignment{} for {}", plural(targets.len()), names(targets.keys()));
    Ok(true)
}

/// `--cancel`: cancels the partitions' reassignments that are active.
fn cancel(client: &mut AdminClient, targets: &Assignment) -> Result<()> {
    let asked: Vec<TopicPartition> = targets.keys().cloned().collect();
    let active = client.partition_reassignments(Some(&asked))?;
    if active.is_empty() {
        println!("None of the specified partition reassignments are active.");
        return Ok(());
    }
    let errors = alter(client, active.keys().map(|p| (p, None)))?;
    if !errors.is_empty() {
        bail!("Error cancelling partition reassignment{} for:\n{}", plural(errors.len()), errors.join("\n"));
    }
    println!("Successfully cancelled partition reassignment{} for: {}", plural(active.len()), names(active.keys()));
    Ok(())
}

/// A partition's move: the replicas it copies from, and those it copies to.
#[derive(Debug, PartialEq, Eq)]
struct Move {
    sources: BTreeSet<i32>,
    destinations: BTreeSet<i32>,
}

/// Kafka's `calculateProposedMoveMap`: the moves in progress, with `targets` replacing
/// or joining them. A partition already moving keeps copying from its original replicas.
fn moves(ongoing: &BTreeMap<TopicPartition, Reassignment>, targets: &Assignment, current: &Assignment) -> BTreeMap<TopicPartition, Move> {
    let mut moves: BTreeMap<TopicPartition, Move> = ongoing
        .iter()
        .map(|(partition, r)| {
            let sources = r.replicas.iter().copied().filter(|b| !r.adding.contains(b)).collect();
            (partition.clone(), Move { sources, destinations: r.adding.iter().copied().collect() })
        })
        .collect();
    for (partition, target) in targets {
        let sources = match moves.get(partition) {
            Some(moving) => moving.sources.clone(),
            None => current.get(partition).map(|r| r.iter().copied().collect()).unwrap_or_default(),
        };
        let destinations = target.iter().copied().filter(|b| !sources.contains(b)).collect();
        moves.insert(partition.clone(), Move { sources, destinations });
    }
    moves
}

/// The configs that throttle `moves` at `rate` bytes/s (Kafka's
/// `modifyReassignmentThrottle`): each topic's throttled replicas, the leader side on the
/// sources and the follower side on the destinations, and both rates on every broker
/// involved.
fn throttle_changes(moves: &BTreeMap<TopicPartition, Move>, rate: i64) -> Vec<ConfigChanges> {
    let mut by_topic: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut brokers = BTreeSet::new();
    for ((topic, partition), moving) in moves {
        let (leaders, followers) = by_topic.entry(topic).or_default();
        leaders.extend(moving.sources.iter().map(|b| format!("{partition}:{b}")));
        followers.extend(moving.destinations.iter().map(|b| format!("{partition}:{b}")));
        brokers.extend(moving.sources.iter().chain(&moving.destinations).copied());
    }
    let topics = by_topic.into_iter().map(|(topic, (leaders, followers))| ConfigChanges {
        resource_type: RESOURCE_TOPIC,
        name: topic.to_string(),
        changes: vec![
            (LEADER_THROTTLED_REPLICAS.to_string(), Some(leaders.join(","))),
            (FOLLOWER_THROTTLED_REPLICAS.to_string(), Some(followers.join(","))),
        ],
    });
    let brokers = brokers.into_iter().map(|broker| ConfigChanges {
        resource_type: RESOURCE_BROKER,
        name: broker.to_string(),
        changes: REPLICATION_THROTTLE_CONFIGS[..2].iter().map(|key| (key.to_string(), Some(rate.to_string()))).collect(),
    });
    topics.chain(brokers).collect()
}

/// Removes the replication throttles from every live broker and the brokers and topics
/// of `targets` (Kafka's `clearAllThrottles`).
fn clear_throttles(client: &mut AdminClient, targets: &Assignment) -> Result<()> {
    let (metadata, _) = client.metadata()?;
    let brokers: BTreeSet<i32> = metadata.brokers.iter().map(|b| b.node_id.0).chain(targets.values().flatten().copied()).collect();
    let topics: BTreeSet<&str> = targets.keys().map(|(topic, _)| topic.as_str()).collect();
    println!("Clearing broker-level throttles on broker{} {}", plural(brokers.len()), ids(brokers.iter()));
    let delete = |keys: &[&str]| keys.iter().map(|key| (key.to_string(), None)).collect::<Vec<_>>();
    let mut changes: Vec<ConfigChanges> = brokers
        .iter()
        .map(|broker| ConfigChanges { resource_type: RESOURCE_BROKER, name: broker.to_string(), changes: delete(REPLICATION_THROTTLE_CONFIGS) })
        .collect();
    let errors = client.alter_configs(&changes)?;
    println!("Clearing topic-level throttles on topic{} {}", plural(topics.len()), topics.iter().copied().collect::<Vec<_>>().join(","));
    changes = topics
        .iter()
        .map(|topic| ConfigChanges {
            resource_type: RESOURCE_TOPIC,
            name: topic.to_string(),
            changes: delete(&[LEADER_THROTTLED_REPLICAS, FOLLOWER_THROTTLED_REPLICAS]),
        })
        .collect();
    let errors: Vec<String> =
        errors.into_iter().chain(client.alter_configs(&changes)?).map(|(resource, reason)| format!("{resource}: {reason}")).collect();
    if !errors.is_empty() {
        bail!("Error clearing the replication throttles:\n{}", errors.join("\n"));
    }
    Ok(())
}

/// Sends one AlterPartitionReassignments request; the `topic-partition: message` of
/// each partition that was refused.
fn alter<'a>(
    client: &mut AdminClient,
    partitions: impl Iterator<Item = (&'a TopicPartition, Option<&'a [i32]>)>,
) -> Result<Vec<String>> {
    let mut topics: Vec<ReassignableTopic> = Vec::new();
    for ((topic, partition), replicas) in partitions {
        let entry = ReassignablePartition::default()
            .with_partition_index(*partition)
            .with_replicas(replicas.map(|r| r.iter().copied().map(BrokerId).collect()));
        match topics.last_mut() {
            Some(last) if last.name.0.as_str() == topic => last.partitions.push(entry),
            _ => topics.push(
                ReassignableTopic::default().with_name(TopicName(StrBytes::from_string(topic.clone()))).with_partitions(vec![entry]),
            ),
        }
    }
    let request = AlterPartitionReassignmentsRequest::default().with_timeout_ms(REASSIGNMENT_TIMEOUT_MS).with_topics(topics);
    let (response, _) = client.call(&request, 0)?;
    if response.error_code != 0 {
        bail!("{}", kafka_error::describe(response.error_code, response.error_message.as_deref()));
    }
    let mut errors = Vec::new();
    for topic in &response.responses {
        for p in topic.partitions.iter().filter(|p| p.error_code != 0) {
            let kind = ResponseError::try_from_code(p.error_code).map_or_else(|| format!("error {}", p.error_code), |k| format!("{k:?}"));
            errors.push(format!(
                "{}-{}: {} ({kind})",
                topic.name.0,
                p.partition_index,
                kafka_error::describe(p.error_code, p.error_message.as_deref())
            ));
        }
    }
    errors.sort();
    Ok(errors)
}

fn ids<'a>(ids: impl Iterator<Item = &'a i32>) -> String {
    ids.map(ToString::to_string).collect::<Vec<_>>().join(",")
}

fn names<'a>(partitions: impl Iterator<Item = &'a TopicPartition>) -> String {
    partitions.map(|(t, p)| format!("{t}-{p}")).collect::<Vec<_>>().join(",")
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ReassignPartitionsArgs, clap::Error> {
        ReassignPartitionsArgs::try_parse_from(["kafka-reassign-partitions", "--bootstrap-server", "h:1"].iter().chain(args))
    }

    #[test]
    fn exactly_one_action_with_its_own_options() {
        assert!(parse(&[]).is_err(), "an action is required");
        assert!(parse(&["--list", "--verify"]).is_err(), "one action only");
        let list = parse(&["--list"]).unwrap();
        assert!(check_options(&list).is_ok());
        let no_file = parse(&["--execute"]).unwrap();
        assert!(check_options(&no_file).unwrap_err().to_string().contains("reassignment-json-file"));
        let misplaced = parse(&["--verify", "--reassignment-json-file", "f", "--broker-list", "1"]).unwrap();
        assert_eq!(
            check_options(&misplaced).unwrap_err().to_string(),
            "Option \"[broker-list]\" can't be used with action \"[verify]\""
        );
        let throttled = parse(&["--execute", "--reassignment-json-file", "f", "--throttle", "1000"]).unwrap();
        assert!(check_options(&throttled).is_ok());
        let misplaced = parse(&["--verify", "--reassignment-json-file", "f", "--throttle", "1000"]).unwrap();
        assert_eq!(check_options(&misplaced).unwrap_err().to_string(), "Option \"[throttle]\" can't be used with action \"[verify]\"");
        let log_dirs = parse(&["--execute", "--reassignment-json-file", "f", "--replica-alter-log-dirs-throttle", "1000"]).unwrap();
        assert!(check_options(&log_dirs).unwrap_err().to_string().contains("one log directory"));
        let generate = parse(&["--generate", "--topics-to-move-json-file", "t", "--broker-list", "1,2"]).unwrap();
        assert!(check_options(&generate).is_ok());
        assert!(check_options(&parse(&["--generate", "--broker-list", "1,2"]).unwrap()).is_err());
    }

    #[test]
    fn a_throttle_names_the_sources_as_leaders_and_the_new_replicas_as_followers_on_every_broker_involved() {
        let partition = |p: i32| ("orders".to_string(), p);
        let current = Assignment::from([(partition(0), vec![1, 2]), (partition(1), vec![2, 3])]);
        // Partition 1 is already moving from 2,3 to 3,4; a new target 3,5 keeps copying from 2,3.
        let ongoing =
            BTreeMap::from([(partition(1), Reassignment { replicas: vec![3, 4, 2], adding: vec![4], removing: vec![2] })]);
        let targets = Assignment::from([(partition(0), vec![2, 3]), (partition(1), vec![3, 5])]);
        let moves = moves(&ongoing, &targets, &current);
        let set = |ids: &[i32]| ids.iter().copied().collect::<BTreeSet<i32>>();
        assert_eq!(moves[&partition(0)], Move { sources: set(&[1, 2]), destinations: set(&[3]) });
        assert_eq!(moves[&partition(1)], Move { sources: set(&[2, 3]), destinations: set(&[5]) });
        let described: Vec<String> = throttle_changes(&moves, 1000)
            .iter()
            .flat_map(|c| {
                let resource = format!("{} {}", if c.resource_type == RESOURCE_TOPIC { "topic" } else { "broker" }, c.name);
                c.changes.iter().map(move |(key, value)| format!("{resource}: {key}={}", value.as_deref().unwrap_or("(delete)")))
            })
            .collect();
        let mut expected = vec![
            "topic orders: leader.replication.throttled.replicas=0:1,0:2,1:2,1:3".to_string(),
            "topic orders: follower.replication.throttled.replicas=0:3,1:5".to_string(),
        ];
        for broker in [1, 2, 3, 5] {
            expected.push(format!("broker {broker}: leader.replication.throttled.rate=1000"));
            expected.push(format!("broker {broker}: follower.replication.throttled.rate=1000"));
        }
        assert_eq!(described, expected);
    }

    #[test]
    fn reassignment_files_are_checked_as_kafka_checks_them() {
        let plan = parse_assignment_file(
            r#"{"version":1,"partitions":[{"topic":"b","partition":1,"replicas":[3,1]},
                {"topic":"a","partition":0,"replicas":[2],"log_dirs":["any"]}]}"#,
        )
        .unwrap();
        assert_eq!(plan.into_iter().collect::<Vec<_>>(), vec![(("a".into(), 0), vec![2]), (("b".into(), 1), vec![3, 1])]);
        let refused = [
            (r#"{"version":1,"partitions":[]}"#, "cannot be empty"),
            (r#"{"version":2,"partitions":[]}"#, "Not supported version field value 2"),
            (r#"{"partitions":[{"topic":"a","partition":0,"replicas":[]}]}"#, "Partition replica list cannot be empty"),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}"#,
                "duplicate topic partitions: a-0",
            ),
            (r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1,2,1]}]}"#, "a-0 contains multiple entries for 1"),
            (r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/d"]}]}"#, "must be \"any\""),
            (r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":[]}]}"#, "Size of replicas list"),
            ("not json", "does not parse"),
        ];
        for (text, why) in refused {
            let err = parse_assignment_file(text).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{text}: {err:#}");
        }
    }

    #[test]
    fn generate_keeps_each_topics_replication_factor_over_the_given_brokers() {
        let current: Assignment =
            [(("t".into(), 0), vec![1, 2]), (("t".into(), 1), vec![2, 1]), (("u".into(), 0), vec![1])].into_iter().collect();
        let proposed = propose(&current, &[(2, None), (3, None), (4, None)]).unwrap();
        assert_eq!(proposed[&("t".to_string(), 0)], vec![2, 3]);
        assert_eq!(proposed[&("t".to_string(), 1)], vec![3, 4]);
        assert_eq!(proposed[&("u".to_string(), 0)], vec![2]);
        assert!(propose(&current, &[(2, None)]).unwrap_err().to_string().contains("larger than available brokers: 1"));
        // By rack unless --disable-rack-aware: each partition of t on both racks.
        let racked = propose(&current, &[(2, Some("a")), (3, Some("a")), (4, Some("b"))]).unwrap();
        assert_eq!(racked[&("t".to_string(), 0)], vec![2, 4]);
        assert_eq!(racked[&("t".to_string(), 1)], vec![4, 3]);
        assert_eq!(
            to_json(&proposed),
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3],"log_dirs":["any","any"]},{"topic":"t","partition":1,"replicas":[3,4],"log_dirs":["any","any"]},{"topic":"u","partition":0,"replicas":[2],"log_dirs":["any"]}]}"#
        );
        assert!(parse_broker_list("1,2,1").unwrap_err().to_string().contains("duplicate entries: 1"));
        assert!(parse_topics_file(r#"{"topics":[{"topic":"a"},{"topic":"a"}]}"#).unwrap_err().to_string().contains("duplicate entries: a"));
    }
}
