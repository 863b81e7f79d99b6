//! `spool topics` / `kafka-topics`: create, list, describe, alter and delete topics.
//!
//! Flags, messages and output follow Kafka 3.9's `kafka-topics.sh`:
//!
//! ```text
//! Created topic T.
//! Topic: T\tTopicId: <base64>\tPartitionCount: N\tReplicationFactor: R\tConfigs: k=v,...
//! \tTopic: T\tPartition: P\tLeader: L\tReplicas: a,b\tIsr: a,b[\tAdding Replicas: c][\tRemoving Replicas: a]
//! Error while executing topic command : <message>          (exit 1)
//! ```
//!
//! `--alter` and `--delete` print nothing on success, as in Kafka. Errors carry the
//! broker's own message when it sends one.
//!
//! Except with `--create`, `--topic` is a regular expression matching whole names, as
//! in Kafka (`--topic 'orders-.*'`, `--topic a,b`; escape a dot to mean only a dot).
//! `--describe` can keep to the partitions an operator looks for
//! (`--under-replicated-partitions`, `--under-min-isr-partitions`,
//! `--at-min-isr-partitions`, `--unavailable-partitions`) or the topics with
//! overridden configs (`--topics-with-overrides`).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{bail, Result};
use clap::{ArgGroup, Parser};
use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_response::{MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    ListPartitionReassignmentsRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::admin::{duplicates, AdminClient, AdminTimeouts, CONFIG_SOURCE_DEFAULT, RESOURCE_TOPIC};
use crate::connection_args::{parse_key_value, read_command_config, BootstrapArgs};
use crate::kafka_error;
use crate::topic_filter::TopicFilter;

/// Error code of NOT_CONTROLLER.
const NOT_CONTROLLER: i16 = 41;
/// Error code of TOPIC_ALREADY_EXISTS.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// How long the broker may take to create, delete or grow topics.
const OPERATION_TIMEOUT_MS: i32 = 10_000;

/// Create, delete, describe, or change a topic.
#[derive(Parser, Debug)]
#[command(name = "kafka-topics", version, about = "This tool helps to create, delete, describe, or change a topic.")]
#[command(group(ArgGroup::new("action").required(true).args(["create", "list", "describe", "delete", "alter"])))]
pub(crate) struct TopicsArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Create a new topic
    #[arg(long)]
    create: bool,
    /// List all available topics
    #[arg(long)]
    list: bool,
    /// List details for the given topics
    #[arg(long)]
    describe: bool,
    /// Delete a topic
    #[arg(long)]
    delete: bool,
    /// Alter the number of partitions of a topic
    #[arg(long)]
    alter: bool,
    /// The topic to create, alter, describe or delete. It also accepts a regular
    /// expression, except for --create
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// With --describe: the topic with this id (as --describe prints it, "TopicId: ...")
    // One id in 64 starts with '-' (URL-safe base64), and is still the value, not a flag.
    #[arg(long = "topic-id", value_name = "TOPIC-ID", conflicts_with = "topic", allow_hyphen_values = true)]
    topic_id: Option<String>,
    /// The number of partitions for the topic being created or altered (default: the
    /// broker's num.partitions)
    #[arg(long, value_name = "N")]
    partitions: Option<i32>,
    /// The replication factor for each partition in the topic being created (default:
    /// the broker's default.replication.factor)
    #[arg(long = "replication-factor", value_name = "R")]
    replication_factor: Option<i32>,
    /// The replicas of each partition, for --create, or for --alter (then the list
    /// names every partition, the existing ones first): partitions separated by commas,
    /// their replicas by colons, the preferred leader first ("1:2,2:3,3:1")
    #[arg(long = "replica-assignment", value_name = "BROKER:BROKER,...")]
    replica_assignment: Option<String>,
    /// A topic configuration override for the topic being created (repeatable)
    #[arg(long = "config", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    config: Vec<(String, String)>,
    /// With --create: do not fail if the topic already exists
    #[arg(long = "if-not-exists")]
    if_not_exists: bool,
    /// With --alter, --delete or --describe: only act if the topic exists
    #[arg(long = "if-exists")]
    if_exists: bool,
    /// With --list or --describe: leave out internal topics
    #[arg(long = "exclude-internal")]
    exclude_internal: bool,
    /// With --describe: only show under-replicated partitions
    #[arg(long = "under-replicated-partitions")]
    under_replicated_partitions: bool,
    /// With --describe: only show partitions whose ISR is smaller than min.insync.replicas
    #[arg(long = "under-min-isr-partitions")]
    under_min_isr_partitions: bool,
    /// With --describe: only show partitions whose ISR is exactly min.insync.replicas
    #[arg(long = "at-min-isr-partitions")]
    at_min_isr_partitions: bool,
    /// With --describe: only show partitions whose leader is not available
    #[arg(long = "unavailable-partitions")]
    unavailable_partitions: bool,
    /// With --describe: only show topics that have overridden configs
    #[arg(long = "topics-with-overrides")]
    topics_with_overrides: bool,
    /// Admin client properties (read, then ignored: they configure security, which Spool does not have)
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<std::path::PathBuf>,
}

impl TopicsArgs {
    /// Kafka's option checks that clap's groups do not express.
    fn check(&self) -> Result<(), String> {
        let only = |present: bool, flag: &str, allowed: &[(bool, &str)]| -> Result<(), String> {
            if present && !allowed.iter().any(|(on, _)| *on) {
                let names: Vec<_> = allowed.iter().map(|(_, n)| *n).collect();
                return Err(format!("{flag} can only be used with {}", names.join(" or ")));
            }
            Ok(())
        };
        if self.topic.is_none() && !(self.list || self.describe) {
            return Err("Missing required argument \"[topic]\"".into());
        }
        only(self.topic_id.is_some(), "--topic-id", &[(self.describe, "--describe")])?;
        if self.alter && self.partitions.is_none() {
            return Err("Missing required argument \"[partitions]\"".into());
        }
        only(self.partitions.is_some(), "--partitions", &[(self.create, "--create"), (self.alter, "--alter")])?;
        only(self.replication_factor.is_some(), "--replication-factor", &[(self.create, "--create")])?;
        only(self.replica_assignment.is_some(), "--replica-assignment", &[(self.create, "--create"), (self.alter, "--alter")])?;
        if self.create && self.replica_assignment.is_some() && (self.partitions.is_some() || self.replication_factor.is_some()) {
            return Err("--replica-assignment cannot be used with --partitions or --replication-factor: it sets both".into());
        }
        only(!self.config.is_empty(), "--config", &[(self.create, "--create")])?;
        only(self.if_not_exists, "--if-not-exists", &[(self.create, "--create")])?;
        only(
            self.if_exists,
            "--if-exists",
            &[(self.alter, "--alter"), (self.delete, "--delete"), (self.describe, "--describe")],
        )?;
        only(self.exclude_internal, "--exclude-internal", &[(self.list, "--list"), (self.describe, "--describe")])?;
        let reports = [
            (self.under_replicated_partitions, "--under-replicated-partitions"),
            (self.under_min_isr_partitions, "--under-min-isr-partitions"),
            (self.at_min_isr_partitions, "--at-min-isr-partitions"),
            (self.unavailable_partitions, "--unavailable-partitions"),
        ];
        for (present, flag) in reports.into_iter().chain([(self.topics_with_overrides, "--topics-with-overrides")]) {
            only(present, flag, &[(self.describe, "--describe")])?;
        }
        if let Some((_, flag)) = reports.iter().find(|(present, _)| *present).filter(|_| self.topics_with_overrides) {
            return Err(format!("{flag} cannot be used with --topics-with-overrides"));
        }
        Ok(())
    }

    /// Whether `--describe` prints only some partitions (Kafka's replication reports).
    fn reports_partitions(&self) -> bool {
        self.under_replicated_partitions || self.under_min_isr_partitions || self.at_min_isr_partitions || self.unavailable_partitions
    }

    /// Whether `--describe` prints `partition` of a topic whose `min.insync.replicas` is
    /// `min_isr`, with `live` the brokers in the cluster (Kafka's `DescribeOptions`).
    fn shows_partition(&self, partition: &MetadataResponsePartition, min_isr: usize, live: &[i32]) -> bool {
        if !self.reports_partitions() {
            return true;
        }
        let has_leader = partition.leader_id.0 >= 0;
        let isr = partition.isr_nodes.len();
        (self.under_replicated_partitions && partition.replica_nodes.len() > isr)
            || (self.under_min_isr_partitions && (!has_leader || isr < min_isr))
            || (self.at_min_isr_partitions && isr == min_isr)
            || (self.unavailable_partitions && (!has_leader || !live.contains(&partition.leader_id.0)))
    }
}

/// Runs the command; returns the process exit code.
pub(crate) fn run(args: TopicsArgs) -> i32 {
    if let Err(message) = args.check() {
        eprintln!("error: {message}");
        eprintln!("\nFor more information, try '--help'.");
        return 2;
    }
    match execute(&args) {
        Ok(()) => 0,
        Err(e) => {
            println!("Error while executing topic command : {e:#}");
            1
        }
    }
}

fn execute(args: &TopicsArgs) -> Result<()> {
    let security = read_command_config(args.command_config.as_deref())?;
    let bootstrap = args.bootstrap.resolve(false)?;
    let mut service = TopicService { client: AdminClient::connect(&bootstrap, AdminTimeouts::default(), &security)? };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.create {
        service.create(args, &mut out)?;
    } else if args.list {
        service.list(args, &mut out)?;
    } else if args.describe {
        service.describe(args, &mut out)?;
    } else if args.delete {
        service.delete(args)?;
    } else if args.alter {
        service.alter(args)?;
    }
    out.flush()?;
    Ok(())
}

/// Whether Kafka warns that the name may collide in metric names.
fn has_collision_chars(topic: &str) -> bool {
    topic.contains('.') || topic.contains('_')
}

struct TopicService {
    client: AdminClient,
}

impl TopicService {
    /// Points the client at the controller named in metadata, when that is another
    /// broker; stays on the current one if it cannot be reached.
    fn use_controller(&mut self) -> Result<()> {
        let (metadata, _) = self.client.metadata()?;
        let controller = metadata.controller_id.0;
        if let Some(broker) = metadata.brokers.iter().find(|b| b.node_id.0 == controller) {
            let target = format!("{}:{}", broker.host.as_str(), broker.port);
            if target != self.client.peer() {
                match self.client.connect_to(broker.host.as_str(), broker.port) {
                    Ok(client) => self.client = client,
                    Err(e) => tracing::debug!("controller {target} unreachable, staying on {}: {e:#}", self.client.peer()),
                }
            }
        }
        Ok(())
    }

    /// Sends an admin request (built for the negotiated version) to the controller,
    /// following NOT_CONTROLLER a few times.
    fn call_controller<R, F>(&mut self, cap: i16, build: impl Fn(i16) -> R, not_controller: F) -> Result<R::Response>
    where
        R: kafka_protocol::protocol::Request,
        F: Fn(&R::Response) -> bool,
    {
        let mut attempt = 0;
        loop {
            self.use_controller()?;
            let (response, _) = self.client.call_built(cap, &build)?;
            attempt += 1;
            if !not_controller(&response) || attempt >= 3 {
                return Ok(response);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    fn create(&mut self, args: &TopicsArgs, out: &mut impl Write) -> Result<()> {
        let Some(topic) = args.topic.as_deref() else { bail!("--topic is required") };
        if let Some(rf) = args.replication_factor {
            if !(1..=i32::from(i16::MAX)).contains(&rf) {
                bail!("The replication factor must be between 1 and {} inclusive", i16::MAX);
            }
        }
        if args.partitions.is_some_and(|p| p < 1) {
            bail!("The partitions must be greater than 0");
        }
        if has_collision_chars(topic) {
            writeln!(
                out,
                "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could \
                 collide. To avoid issues it is best to use either, but not both."
            )?;
        }
        let configs: Vec<CreatableTopicConfig> = args
            .config
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(k.trim().to_string()))
                    .with_value(Some(StrBytes::from_string(v.trim().to_string())))
            })
            .collect();
        let assignments: Vec<CreatableReplicaAssignment> = args
            .replica_assignment
            .as_deref()
            .map(parse_replica_assignment)
            .transpose()?
            .unwrap_or_default()
            .into_iter()
            .zip(0..)
            .map(|(replicas, partition)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(partition)
                    .with_broker_ids(replicas.into_iter().map(BrokerId).collect())
            })
            .collect();
        // From v4 the broker chooses (-1) the partition count and replication factor;
        // before that the client must, and Kafka's old default was 1. An explicit
        // assignment sets both (-1 at every version).
        let build = |version: i16| {
            let default: i16 = if version >= 4 && assignments.is_empty() { -1 } else { 1 };
            let (partitions, replication_factor) = if assignments.is_empty() {
                (args.partitions.unwrap_or(i32::from(default)), args.replication_factor.map_or(default, |r| r as i16))
            } else {
                (-1, -1)
            };
            CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor)
                    .with_assignments(assignments.clone())
                    .with_configs(configs.clone())])
                .with_timeout_ms(OPERATION_TIMEOUT_MS)
        };
        let response =
            self.call_controller(7, build, |r| r.topics.iter().any(|t| t.error_code == NOT_CONTROLLER))?;
        for result in &response.topics {
            match result.error_code {
                0 => writeln!(out, "Created topic {topic}.")?,
                TOPIC_ALREADY_EXISTS if args.if_not_exists => {}
                code => bail!("{}", kafka_error::describe(code, result.error_message.as_deref())),
            }
        }
        if response.topics.is_empty() {
            bail!("the broker answered CreateTopics without a result for {topic}");
        }
        Ok(())
    }

    /// Topic names in metadata, sorted, optionally without internal topics and
    /// restricted to those `--topic` matches.
    fn matching_topics<'m>(metadata: &'m MetadataResponse, args: &TopicsArgs) -> Result<Vec<&'m MetadataResponseTopic>> {
        let filter = args.topic.as_deref().map(TopicFilter::include_list).transpose().map_err(anyhow::Error::msg)?;
        let mut topics: Vec<&MetadataResponseTopic> = metadata
            .topics
            .iter()
            .filter(|t| !(args.exclude_internal && t.is_internal))
            .filter(|t| {
                t.name.as_deref().is_some_and(|name| filter.as_ref().is_none_or(|filter| filter.matches(name.as_str())))
            })
            .filter(|t| args.topic_id.as_deref().is_none_or(|id| kafka_uuid(t.topic_id.as_bytes()) == id.trim()))
            .collect();
        topics.sort_by(|a, b| a.name.as_deref().map(|n| n.as_str()).cmp(&b.name.as_deref().map(|n| n.as_str())));
        Ok(topics)
    }

    /// Kafka's `ensureTopicExists`: an explicit `--topic` must match, unless `--if-exists`.
    fn ensure_exists(found: usize, args: &TopicsArgs) -> Result<()> {
        if let Some(topic) = args.topic.as_deref() {
            if found == 0 && !args.if_exists {
                bail!("Topic '{topic}' does not exist as expected");
            }
        }
        if let Some(id) = args.topic_id.as_deref() {
            if found == 0 && !args.if_exists {
                bail!("Topic with id '{id}' does not exist as expected");
            }
        }
        Ok(())
    }

    fn list(&mut self, args: &TopicsArgs, out: &mut impl Write) -> Result<()> {
        let (metadata, _) = self.client.metadata()?;
        let names: Vec<&str> =
            Self::matching_topics(&metadata, args)?.iter().filter_map(|t| t.name.as_deref().map(|n| n.as_str())).collect();
        // Kafka prints the names joined by newlines with println, so an empty list is
        // one empty line.
        writeln!(out, "{}", names.join("\n"))?;
        Ok(())
    }

    fn describe(&mut self, args: &TopicsArgs, out: &mut impl Write) -> Result<()> {
        let (metadata, metadata_version) = self.client.metadata()?;
        let topics = Self::matching_topics(&metadata, args)?;
        let live: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
        Self::ensure_exists(topics.len(), args)?;
        if topics.is_empty() {
            return Ok(());
        }
        let resources = topics
            .iter()
            .filter_map(|t| t.name.as_ref())
            .map(|name| {
                DescribeConfigsResource::default()
                    .with_resource_type(RESOURCE_TOPIC)
                    .with_resource_name(name.0.clone())
                    .with_configuration_keys(None)
            })
            .collect();
        let (configs, _) = self.client.call(&DescribeConfigsRequest::default().with_resources(resources), 4)?;
        // As Kafka's: partitions being reassigned show the replicas being added and
        // removed. The active controller answers that; without it (a quorum lost), the
        // topics are described all the same, from metadata.
        let described: Vec<(String, i32)> = topics
            .iter()
            .filter_map(|t| Some((t.name.as_ref()?.to_string(), t)))
            .flat_map(|(name, t)| t.partitions.iter().map(move |p| (name.clone(), p.partition_index)))
            .collect();
        let reassignments = if self.client.supports::<ListPartitionReassignmentsRequest>() {
            self.client.partition_reassignments(Some(&described)).unwrap_or_else(|e| {
                eprintln!("WARNING: the reassignments in progress could not be listed, so none is shown: {e:#}");
                BTreeMap::new()
            })
        } else {
            BTreeMap::new()
        };
        for topic in topics {
            let name = topic.name.as_deref().map(|n| n.as_str()).unwrap_or_default();
            // A topic whose leaders are still being elected has partitions and an
            // error; Kafka prints it (with `Leader: none`), so only an empty one fails.
            if topic.error_code != 0 && topic.partitions.is_empty() {
                bail!("{}: {}", name, kafka_error::describe(topic.error_code, None));
            }
            let Some(result) = configs.results.iter().find(|r| r.resource_name.as_str() == name) else {
                bail!("the broker sent no configs for topic {name}");
            };
            if result.error_code != 0 {
                bail!("{}", kafka_error::describe(result.error_code, result.error_message.as_deref()));
            }
            let overrides: Vec<String> = result
                .configs
                .iter()
                .filter(|c| c.config_source != CONFIG_SOURCE_DEFAULT)
                .map(|c| format!("{}={}", c.name.as_str(), c.value.as_deref().unwrap_or("null")))
                .collect();
            let min_isr = result
                .configs
                .iter()
                .find(|c| c.name.as_str() == "min.insync.replicas")
                .and_then(|c| c.value.as_deref()?.parse().ok())
                .unwrap_or(1);
            let mut partitions: Vec<_> = topic.partitions.iter().collect();
            partitions.sort_by_key(|p| p.partition_index);
            // As Kafka: the partition reports print no topic line, and with
            // --topics-with-overrides only topics with overrides print theirs, alone.
            let without_topic_line = args.reports_partitions() || (args.topics_with_overrides && overrides.is_empty());
            if !without_topic_line {
                write!(out, "Topic: {name}")?;
                if metadata_version >= 10 && !topic.topic_id.is_nil() {
                    write!(out, "\tTopicId: {}", kafka_uuid(topic.topic_id.as_bytes()))?;
                }
                // As Kafka: a partition being reassigned counts the replicas it keeps.
                let replication_factor = partitions.first().map_or(0, |p| {
                    let removing = reassignments.get(&(name.to_string(), p.partition_index)).map_or(0, |r| r.removing.len());
                    p.replica_nodes.len() - removing
                });
                writeln!(
                    out,
                    "\tPartitionCount: {}\tReplicationFactor: {replication_factor}\tConfigs: {}",
                    partitions.len(),
                    overrides.join(",")
                )?;
            }
            if args.topics_with_overrides {
                continue;
            }
            for p in partitions.into_iter().filter(|p| args.shows_partition(p, min_isr, &live)) {
                let leader = if p.leader_id.0 < 0 { "none".to_string() } else { p.leader_id.0.to_string() };
                write!(
                    out,
                    "\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
                    p.partition_index,
                    join_ids(&p.replica_nodes),
                    join_ids(&p.isr_nodes)
                )?;
                if let Some(reassignment) = reassignments.get(&(name.to_string(), p.partition_index)) {
                    let ids = |ids: &[i32]| ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
                    if !reassignment.adding.is_empty() {
                        write!(out, "\tAdding Replicas: {}", ids(&reassignment.adding))?;
                    }
                    if !reassignment.removing.is_empty() {
                        write!(out, "\tRemoving Replicas: {}", ids(&reassignment.removing))?;
                    }
                }
                writeln!(out)?;
            }
        }
        Ok(())
    }

    fn delete(&mut self, args: &TopicsArgs) -> Result<()> {
        let (metadata, _) = self.client.metadata()?;
        let names: Vec<TopicName> =
            Self::matching_topics(&metadata, args)?.iter().filter_map(|t| t.name.clone()).collect();
        Self::ensure_exists(names.len(), args)?;
        if names.is_empty() {
            return Ok(());
        }
        // v6 names topics in `topics`, earlier versions in `topic_names`.
        let build = |version: i16| {
            let request = DeleteTopicsRequest::default().with_timeout_ms(OPERATION_TIMEOUT_MS);
            if version >= 6 {
                request.with_topics(names.iter().map(|n| DeleteTopicState::default().with_name(Some(n.clone()))).collect())
            } else {
                request.with_topic_names(names.clone())
            }
        };
        let response =
            self.call_controller(6, build, |r| r.responses.iter().any(|t| t.error_code == NOT_CONTROLLER))?;
        for result in &response.responses {
            if result.error_code != 0 {
                bail!("{}", kafka_error::describe(result.error_code, result.error_message.as_deref()));
            }
        }
        Ok(())
    }

    fn alter(&mut self, args: &TopicsArgs) -> Result<()> {
        let Some(count) = args.partitions else { bail!("--partitions is required with --alter") };
        let assignment = args.replica_assignment.as_deref().map(parse_replica_assignment).transpose()?;
        let (metadata, _) = self.client.metadata()?;
        let topics: Vec<(TopicName, usize)> = Self::matching_topics(&metadata, args)?
            .iter()
            .filter_map(|t| Some((t.name.clone()?, t.partitions.len())))
            .collect();
        Self::ensure_exists(topics.len(), args)?;
        if topics.is_empty() {
            return Ok(());
        }
        // As Kafka: the assignment lists every partition; the existing ones are skipped.
        let build = |_: i16| {
            CreatePartitionsRequest::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|(name, existing)| {
                            let new = assignment.as_ref().map(|all| {
                                all.iter()
                                    .skip(*existing)
                                    .map(|replicas| CreatePartitionsAssignment::default().with_broker_ids(replicas.iter().copied().map(BrokerId).collect()))
                                    .collect()
                            });
                            CreatePartitionsTopic::default().with_name(name.clone()).with_count(count).with_assignments(new)
                        })
                        .collect(),
                )
                .with_timeout_ms(OPERATION_TIMEOUT_MS)
        };
        let response =
            self.call_controller(3, build, |r| r.results.iter().any(|t| t.error_code == NOT_CONTROLLER))?;
        for result in &response.results {
            if result.error_code != 0 {
                bail!("{}", kafka_error::describe(result.error_code, result.error_message.as_deref()));
            }
        }
        Ok(())
    }
}

/// Kafka's `--replica-assignment` syntax: partitions separated by commas, each a
/// colon-separated list of broker ids; every partition with the same number of replicas.
fn parse_replica_assignment(text: &str) -> Result<Vec<Vec<i32>>> {
    let mut partitions: Vec<Vec<i32>> = Vec::new();
    for (index, partition) in text.split(',').enumerate() {
        let replicas: Vec<i32> = partition
            .split(':')
            .map(|b| b.trim().parse::<i32>().map_err(|_| anyhow::anyhow!("--replica-assignment: {b:?} is not a broker id (in {text:?})")))
            .collect::<Result<_>>()?;
        let twice = duplicates(&replicas);
        if !twice.is_empty() {
            bail!("Partition replica lists may not contain duplicate entries: {twice}");
        }
        if partitions.first().is_some_and(|first| first.len() != replicas.len()) {
            bail!("Partition {index} has different replication factor: {replicas:?}");
        }
        partitions.push(replicas);
    }
    Ok(partitions)
}

fn join_ids(ids: &[kafka_protocol::messages::BrokerId]) -> String {
    ids.iter().map(|id| id.0.to_string()).collect::<Vec<_>>().join(",")
}

/// A topic id as Kafka prints it: URL-safe base64 of the 16 bytes, no padding.
pub(crate) fn kafka_uuid(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_does() {
        // Kafka: Uuid(0x0123456789abcdef, 0xfedcba9876543210).toString()
        let bytes = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];
        assert_eq!(kafka_uuid(&bytes), "ASNFZ4mrze_-3LqYdlQyEA");
        assert_eq!(kafka_uuid(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn replica_assignments_parse_as_kafka_reads_them() {
        assert_eq!(parse_replica_assignment("1:2, 2:3 ,3:1").unwrap(), vec![vec![1, 2], vec![2, 3], vec![3, 1]]);
        assert_eq!(parse_replica_assignment("4").unwrap(), vec![vec![4]]);
        let twice = parse_replica_assignment("1:2,3:3").unwrap_err().to_string();
        assert_eq!(twice, "Partition replica lists may not contain duplicate entries: 3");
        let uneven = parse_replica_assignment("1:2,3").unwrap_err().to_string();
        assert_eq!(uneven, "Partition 1 has different replication factor: [3]");
        assert!(parse_replica_assignment("1:x").unwrap_err().to_string().contains("\"x\" is not a broker id"));
        assert!(parse_replica_assignment("").is_err());
    }

    #[test]
    fn a_topic_id_may_start_with_a_hyphen() {
        let args = TopicsArgs::try_parse_from(["t", "--bootstrap-server", "h:1", "--describe", "--topic-id", "-_ASNFZ4mrze_-3LqYdlQ"])
            .expect("parse");
        assert_eq!(args.topic_id.as_deref(), Some("-_ASNFZ4mrze_-3LqYdlQ"));
        assert!(args.check().is_ok());
    }

    #[test]
    fn option_checks_follow_kafka() {
        let parse = |argv: &[&str]| TopicsArgs::try_parse_from(argv).map(|a| a.check());
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--list"]), Ok(Ok(()))));
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--create"]), Ok(Err(_))));
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--alter", "--topic", "x"]), Ok(Err(_))));
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--list", "--partitions", "3"]), Ok(Err(_))));
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--delete", "--topic", "x", "--if-not-exists"]), Ok(Err(_))));
        assert!(parse(&["t", "--bootstrap-server", "h:1"]).is_err(), "an action is required");
        let placed = ["t", "--bootstrap-server", "h:1", "--create", "--topic", "x", "--replica-assignment", "1:2"];
        assert!(matches!(parse(&placed), Ok(Ok(()))));
        assert!(matches!(parse(&[&placed[..], &["--partitions", "2"]].concat()), Ok(Err(_))), "the assignment sets the count");
        assert!(matches!(parse(&[&placed[..], &["--replication-factor", "2"]].concat()), Ok(Err(_))));
        let grown = ["t", "--bootstrap-server", "h:1", "--alter", "--topic", "x", "--partitions", "3", "--replica-assignment", "1,2,3"];
        assert!(matches!(parse(&grown), Ok(Ok(()))));
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--describe", "--replica-assignment", "1"]), Ok(Err(_))));
        assert!(parse(&["t", "--list"]).is_err(), "a bootstrap server is required");
        assert!(parse(&["t", "--bootstrap-server", "h:1", "--zookeeper", "z:2181", "--list"]).is_err());
        assert!(parse(&["t", "--bootstrap-server", "h:1", "--list", "--create", "--topic", "x"]).is_err());
        // The describe reports: with --describe only, combinable, but not with
        // --topics-with-overrides.
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--list", "--under-replicated-partitions"]), Ok(Err(_))));
        assert!(matches!(parse(&["t", "--bootstrap-server", "h:1", "--list", "--topics-with-overrides"]), Ok(Err(_))));
        assert!(matches!(
            parse(&["t", "--bootstrap-server", "h:1", "--describe", "--under-replicated-partitions", "--unavailable-partitions"]),
            Ok(Ok(()))
        ));
        let both = parse(&["t", "--bootstrap-server", "h:1", "--describe", "--at-min-isr-partitions", "--topics-with-overrides"]);
        assert!(matches!(both, Ok(Err(ref e)) if e.contains("--at-min-isr-partitions cannot be used with --topics-with-overrides")), "{both:?}");
    }

    #[test]
    fn describe_reports_pick_partitions_as_kafka_does() {
        let args = |flag: &str| TopicsArgs::try_parse_from(["t", "--bootstrap-server", "h:1", "--describe", flag]).unwrap();
        let partition = |leader: i32, replicas: &[i32], isr: &[i32]| {
            MetadataResponsePartition::default()
                .with_leader_id(leader.into())
                .with_replica_nodes(replicas.iter().map(|&r| r.into()).collect())
                .with_isr_nodes(isr.iter().map(|&r| r.into()).collect())
        };
        let live = [1, 2];
        let healthy = partition(1, &[1, 2], &[1, 2]);
        let lagging = partition(1, &[1, 2, 3], &[1, 2]);
        let leaderless = partition(-1, &[3], &[3]);
        let led_by_dead = partition(3, &[3], &[3]);

        let under_replicated = args("--under-replicated-partitions");
        assert!(!under_replicated.shows_partition(&healthy, 2, &live));
        assert!(under_replicated.shows_partition(&lagging, 2, &live));
        let under_min = args("--under-min-isr-partitions");
        assert!(!under_min.shows_partition(&lagging, 2, &live));
        assert!(under_min.shows_partition(&lagging, 3, &live));
        assert!(under_min.shows_partition(&leaderless, 1, &live), "no leader counts as under");
        let at_min = args("--at-min-isr-partitions");
        assert!(at_min.shows_partition(&lagging, 2, &live));
        assert!(!at_min.shows_partition(&lagging, 1, &live));
        let unavailable = args("--unavailable-partitions");
        assert!(!unavailable.shows_partition(&healthy, 1, &live));
        assert!(unavailable.shows_partition(&leaderless, 1, &live));
        assert!(unavailable.shows_partition(&led_by_dead, 1, &live), "a leader that is not a live broker");
        assert!(args("--topics-with-overrides").shows_partition(&leaderless, 1, &live), "not a partition report");
    }

    #[test]
    fn collision_warning_names() {
        assert!(has_collision_chars("device_status"));
        assert!(has_collision_chars("a.b"));
        assert!(!has_collision_chars("device-status"));
    }
}
