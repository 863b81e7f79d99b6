//! `spool consumer-groups` / `kafka-consumer-groups`: list, describe, delete consumer
//! groups, reset and delete their committed offsets.
//!
//! Flags, checks, messages and tables follow Kafka 3.9's `kafka-consumer-groups.sh`
//! (`ConsumerGroupCommand`):
//!
//! ```text
//! --list [--state [S,..]] [--type [T,..]]
//! --describe (--group G.. | --all-groups) [--offsets | --members [--verbose] | --state]
//!
//! GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
//! g               t               0          5               8               3               rdkafka-…       /127.0.0.1      rdkafka
//!
//! --reset-offsets (--group G | --all-groups) (--topic T[:P,..].. | --all-topics)
//!     (--to-earliest | --to-latest | --to-current | --to-offset N | --shift-by N
//!      | --to-datetime YYYY-MM-DDTHH:mm:SS.sss | --by-duration PnDTnHnMnS | --from-file CSV)
//!     [--dry-run (default) | --execute] [--export]
//! --delete (--group G.. | --all-groups)
//! --delete-offsets --group G --topic T[:P,..]..
//! ```
//!
//! Offsets can only be reset while a group is inactive (`Empty`, or `Dead`: unknown);
//! the planned table is printed either way, and committed only with `--execute`.
//!
//! Where Kafka 3.9's Java port prints something it plainly did not mean, this follows
//! the earlier (Scala) tool and later releases instead: the reset plan and the
//! delete-offsets table have one row per line (3.9 runs the rows together), the
//! `--members --verbose` assignment names its topic (`t(0,1)`), and a partition status
//! reads `Error: <exception>` (3.9: `Error: :`). Every table ends with a newline.
//!
//! Exit status: 0 on success; 1 when an `Error:` line or a failed partition was printed
//! (Kafka's tool exits 0 then, which scripts cannot tell from success); 2 for invalid
//! options.

mod reset_offsets;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{ArgGroup, Parser};

use crate::admin::{ClusterAdmin, GroupDescription, TopicPartition};
use crate::connection_args::{read_command_config, BootstrapArgs};
use crate::kafka_error;

/// Kafka's placeholder for a column without a value.
const MISSING: &str = "-";

/// Kafka's consumer group states (`ConsumerGroupState`), in its order.
const GROUP_STATES: [&str; 7] =
    ["PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty", "Assigning", "Reconciling"];

/// Kafka's group types (`GroupType`) that `--type` accepts.
const GROUP_TYPES: [&str; 2] = ["Consumer", "Classic"];

/// List all consumer groups, describe a consumer group, delete consumer group info, or
/// reset consumer group offsets.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-consumer-groups",
    version,
    about = "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, or reset consumer group offsets."
)]
#[command(group(ArgGroup::new("action").required(true).args(["list", "describe", "delete", "reset_offsets", "delete_offsets"])))]
pub(crate) struct ConsumerGroupsArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// List all consumer groups
    #[arg(long)]
    list: bool,
    /// Describe consumer group and list offset lag (number of messages not yet processed)
    #[arg(long)]
    describe: bool,
    /// Delete the groups' offsets and ownership information (--group g1 --group g2)
    #[arg(long)]
    delete: bool,
    /// Reset offsets of consumer group (inactive groups only); --dry-run is the default
    #[arg(long = "reset-offsets")]
    reset_offsets: bool,
    /// Delete offsets of consumer group, for one group and one or more topics
    #[arg(long = "delete-offsets")]
    delete_offsets: bool,
    /// The consumer group to act on (repeatable)
    #[arg(long, value_name = "GROUP")]
    group: Vec<String>,
    /// Apply to all consumer groups
    #[arg(long = "all-groups")]
    all_groups: bool,
    /// The topic (reset-offsets, delete-offsets); partitions as topic:0,1,2 (repeatable)
    #[arg(long, value_name = "TOPIC")]
    topic: Vec<String>,
    /// Reset offsets of all topics the group has offsets for
    #[arg(long = "all-topics")]
    all_topics: bool,
    /// With --describe: the group's members
    #[arg(long)]
    members: bool,
    /// With --describe: each partition's offsets and lag (the default)
    #[arg(long)]
    offsets: bool,
    /// With --describe --members: each member's partitions
    #[arg(long)]
    verbose: bool,
    /// With --describe: the group's state; with --list: the state of every group, or
    /// only groups in these states (comma-separated)
    #[arg(long, value_name = "STATES", num_args = 0..=1)]
    state: Option<Option<String>>,
    /// With --list: the type of every group, or only groups of these types
    #[arg(long = "type", value_name = "TYPES", num_args = 0..=1)]
    group_type: Option<Option<String>>,
    /// Only show the planned offsets (the default of --reset-offsets)
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Commit the reset offsets
    #[arg(long)]
    execute: bool,
    /// Print the reset plan as CSV
    #[arg(long)]
    export: bool,
    /// Reset offsets to a specific offset
    #[arg(long = "to-offset", value_name = "OFFSET", allow_negative_numbers = true)]
    to_offset: Option<i64>,
    /// Reset offsets to values defined in a CSV file (topic,partition,offset or group,topic,partition,offset)
    #[arg(long = "from-file", value_name = "FILE")]
    from_file: Option<PathBuf>,
    /// Reset offsets to the first offset at or after a time: YYYY-MM-DDTHH:mm:SS.sss[Z|±hh:mm] (UTC without a zone)
    #[arg(long = "to-datetime", value_name = "DATETIME")]
    to_datetime: Option<String>,
    /// Reset offsets to the first offset at or after this long ago: PnDTnHnMnS
    #[arg(long = "by-duration", value_name = "DURATION")]
    by_duration: Option<String>,
    /// Reset offsets to the earliest offset
    #[arg(long = "to-earliest")]
    to_earliest: bool,
    /// Reset offsets to the latest offset
    #[arg(long = "to-latest")]
    to_latest: bool,
    /// Reset offsets to the current offset
    #[arg(long = "to-current")]
    to_current: bool,
    /// Reset offsets by shifting the current offset by N (negative to go back)
    #[arg(long = "shift-by", value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
    /// How long each request may wait for the group coordinator, in ms
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    timeout: u64,
    /// A client properties file (accepted; its properties are not used yet)
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

/// An invalid combination of options found after parsing (exit 2, as a usage error).
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

impl ConsumerGroupsArgs {
    fn scenarios(&self) -> Vec<&'static str> {
        [
            (self.to_offset.is_some(), "--to-offset"),
            (self.shift_by.is_some(), "--shift-by"),
            (self.to_datetime.is_some(), "--to-datetime"),
            (self.by_duration.is_some(), "--by-duration"),
            (self.to_earliest, "--to-earliest"),
            (self.to_latest, "--to-latest"),
            (self.to_current, "--to-current"),
            (self.from_file.is_some(), "--from-file"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// Kafka's `checkArgs`: the option rules clap's groups do not express.
    fn check(&self) -> Result<(), String> {
        let has_group = !self.group.is_empty();
        let only = |present: bool, flag: &str, allowed: &[(bool, &str)]| -> Result<(), String> {
            if present && !allowed.iter().any(|(on, _)| *on) {
                let names: Vec<_> = allowed.iter().map(|(_, n)| *n).collect();
                return Err(format!("Option {flag} can only be used with {}", names.join(" or ")));
            }
            Ok(())
        };
        if has_group && self.all_groups {
            return Err("Option --group can't be used with option --all-groups".into());
        }
        if (self.describe || self.delete || self.reset_offsets) && !has_group && !self.all_groups {
            let action = if self.describe { "--describe" } else if self.delete { "--delete" } else { "--reset-offsets" };
            return Err(format!("Option {action} takes one of these options: --group, --all-groups"));
        }
        if self.describe {
            if [self.members, self.offsets, self.state.is_some()].iter().filter(|x| **x).count() > 1 {
                return Err("Option --describe takes at most one of these options: --members, --offsets, --state".into());
            }
            if matches!(self.state, Some(Some(_))) {
                return Err("Option --describe does not take a value for --state".into());
            }
        }
        if self.delete && !self.topic.is_empty() {
            return Err("The consumer does not support topic-specific offset deletion from a consumer group.".into());
        }
        if self.delete_offsets && (!has_group || self.topic.is_empty() || self.group.len() > 1) {
            return Err("Option --delete-offsets takes the following options: --group (one), --topic".into());
        }
        if self.reset_offsets {
            if self.dry_run && self.execute {
                return Err("Option --reset-offsets only accepts one of --execute and --dry-run".into());
            }
            let scenarios = self.scenarios();
            if scenarios.len() > 1 {
                return Err(format!("Option {} can't be used with option {}", scenarios[0], scenarios[1..].join(", ")));
            }
            if self.all_topics && !self.topic.is_empty() {
                return Err("Option --all-topics can't be used with option --topic".into());
            }
        }
        only(has_group, "--group", &[(self.describe, "--describe"), (self.delete, "--delete"), (self.reset_offsets, "--reset-offsets"), (self.delete_offsets, "--delete-offsets")])?;
        only(!self.topic.is_empty(), "--topic", &[(self.reset_offsets, "--reset-offsets"), (self.delete_offsets, "--delete-offsets")])?;
        for (on, flag) in [(self.members, "--members"), (self.offsets, "--offsets"), (self.verbose, "--verbose")] {
            only(on, flag, &[(self.describe, "--describe")])?;
        }
        only(self.state.is_some(), "--state", &[(self.describe, "--describe"), (self.list, "--list")])?;
        only(self.group_type.is_some(), "--type", &[(self.list, "--list")])?;
        let reset_only = [
            (self.dry_run, "--dry-run"),
            (self.execute, "--execute"),
            (self.export, "--export"),
            (self.all_topics, "--all-topics"),
            (!self.scenarios().is_empty(), "a reset scenario"),
        ];
        for (on, flag) in reset_only {
            only(on, flag, &[(self.reset_offsets, "--reset-offsets")])?;
        }
        Ok(())
    }
}

/// Runs the command; returns the process exit code.
pub(crate) fn run(args: ConsumerGroupsArgs) -> i32 {
    if let Err(message) = args.check() {
        eprintln!("error: {message}");
        eprintln!("\nFor more information, try '--help'.");
        return 2;
    }
    if args.reset_offsets && !args.dry_run && !args.execute {
        eprintln!(
            "WARN: No action will be performed as the --execute option is missing.In a future major release, the default \
             behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. \
             You should add the --dry-run option explicitly if you are scripting this command and want to keep the current \
             default behavior without prompting."
        );
    }
    let stdout = std::io::stdout();
    let mut console = Console { out: stdout.lock(), failed: false };
    let result = execute(&args, &mut console);
    let _ = console.out.flush();
    match result {
        Ok(()) if console.failed => 1,
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(UsageError(message)) => {
                eprintln!("error: {message}");
                eprintln!("\nFor more information, try '--help'.");
                2
            }
            None => {
                println!("\nError: Executing consumer group command failed due to {e:#}");
                1
            }
        },
    }
}

/// Standard output, remembering whether an `Error:` line was printed.
struct Console<W: Write> {
    out: W,
    failed: bool,
}

impl<W: Write> Console<W> {
    /// Kafka's `printError`: a blank line, then `Error: <message>` on stdout.
    fn error(&mut self, message: &str) -> Result<()> {
        self.failed = true;
        writeln!(self.out, "\nError: {message}")?;
        Ok(())
    }

    /// A note on stderr, after what stdout has so far.
    fn note(&mut self, message: &str) -> Result<()> {
        self.out.flush()?;
        eprintln!("{message}");
        Ok(())
    }
}

fn execute<W: Write>(args: &ConsumerGroupsArgs, console: &mut Console<W>) -> Result<()> {
    let bootstrap = args.bootstrap.resolve(false)?;
    // Read first, so that a missing file is an error whatever the command.
    let security = read_command_config(args.command_config.as_deref())?;
    let mut admin = ClusterAdmin::connect(&bootstrap, Duration::from_millis(args.timeout.max(1)), &security)?;
    if args.list {
        list(&mut admin, args, console)
    } else if args.describe {
        describe(&mut admin, args, console)
    } else if args.delete {
        delete(&mut admin, args, console)
    } else if args.reset_offsets {
        reset_offsets::run(&mut admin, args, console)
    } else {
        delete_offsets(&mut admin, args, console)
    }
}

/// The groups named with `--group`, or every consumer group with `--all-groups`;
/// sorted and without repeats, as Kafka's tool prints them.
fn selected_groups(admin: &mut ClusterAdmin, args: &ConsumerGroupsArgs) -> Result<Vec<String>> {
    let groups: BTreeSet<String> = if args.all_groups {
        admin.list_groups(&[], &[])?.into_iter().map(|g| g.group_id).collect()
    } else {
        args.group.iter().cloned().collect()
    };
    Ok(groups.into_iter().collect())
}

/// Parses a comma-separated `--state` or `--type` list against Kafka's names
/// (case-insensitive), returning Kafka's spelling of each.
fn parse_names(input: &str, valid: &[&'static str], what: &str) -> Result<Vec<&'static str>> {
    let mut parsed = Vec::new();
    for item in input.split(',').map(str::trim) {
        match valid.iter().find(|v| v.eq_ignore_ascii_case(item)) {
            Some(name) => parsed.push(*name),
            None => {
                return Err(usage(format!("Invalid {what} list '{input}'. Valid {what}s are: {}", valid.join(", "))));
            }
        }
    }
    Ok(parsed)
}

/// Kafka's spelling of a state or type name the broker sent, or `Unknown`.
fn kafka_name(name: &str, valid: &[&'static str]) -> &'static str {
    valid.iter().copied().find(|v| v.eq_ignore_ascii_case(name)).unwrap_or("Unknown")
}

fn list<W: Write>(admin: &mut ClusterAdmin, args: &ConsumerGroupsArgs, console: &mut Console<W>) -> Result<()> {
    let states = match &args.state {
        Some(Some(s)) if !s.is_empty() => parse_names(s, &GROUP_STATES, "state")?,
        _ => Vec::new(),
    };
    let types = match &args.group_type {
        Some(Some(t)) if !t.is_empty() => parse_names(t, &GROUP_TYPES, "type")?,
        _ => Vec::new(),
    };
    let to_strings = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut groups = admin.list_groups(&to_strings(&states), &to_strings(&types))?;
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    groups.dedup_by(|a, b| a.group_id == b.group_id);
    let out = &mut console.out;
    if args.state.is_none() && args.group_type.is_none() {
        for group in &groups {
            writeln!(out, "{}", group.group_id)?;
        }
        return Ok(());
    }
    // Kafka's printGroupInfo: the group column is 10 wider than the longest id (≥ 15).
    let width = groups.iter().map(|g| g.group_id.chars().count().max(15)).max().unwrap_or(15) + 10;
    let mut header = format!("{:<width$}", "GROUP");
    if args.group_type.is_some() {
        header.push_str(&format!(" {:<20}", "TYPE"));
    }
    if args.state.is_some() {
        header.push_str(&format!(" {:<20}", "STATE"));
    }
    writeln!(out, "{header}")?;
    for group in &groups {
        let mut line = format!("{:<width$}", group.group_id);
        if args.group_type.is_some() {
            line.push_str(&format!(" {:<20}", kafka_name(&group.group_type, &GROUP_TYPES)));
        }
        if args.state.is_some() {
            line.push_str(&format!(" {:<20}", kafka_name(&group.state, &GROUP_STATES)));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn describe<W: Write>(admin: &mut ClusterAdmin, args: &ConsumerGroupsArgs, console: &mut Console<W>) -> Result<()> {
    for group in selected_groups(admin, args)? {
        let description = admin.describe_group(&group)?;
        if args.members {
            print_members(&description, args.verbose, console)?;
        } else if args.state.is_some() {
            print_state(&description, console)?;
        } else {
            let rows = offset_rows(admin, &description)?;
            print_offsets(&description, &rows, console)?;
        }
    }
    Ok(())
}

/// Kafka's `shouldPrintMemberState`: reports a dead, empty or rebalancing group and
/// says whether there is a table to print.
fn should_print<W: Write>(group: &GroupDescription, rows: usize, console: &mut Console<W>) -> Result<bool> {
    let id = &group.group_id;
    match group.state.as_str() {
        "Dead" => console.error(&format!("Consumer group '{id}' does not exist."))?,
        "Empty" => console.note(&format!("\nConsumer group '{id}' has no active members."))?,
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            console.note(&format!("\nWarning: Consumer group '{id}' is rebalancing."))?
        }
        "Stable" => {}
        other => bail!("Expected a valid consumer group state, but found '{other}'."),
    }
    Ok(group.state != "Dead" && rows > 0)
}

/// One line of `--describe --offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionRow {
    topic: String,
    partition: i32,
    offset: Option<i64>,
    log_end_offset: Option<i64>,
    consumer_id: String,
    host: String,
    client_id: String,
}

impl PartitionRow {
    fn lag(&self) -> Option<i64> {
        Some(self.log_end_offset? - self.offset.filter(|o| *o != -1)?)
    }
}

/// The rows of `--describe --offsets`: the assigned partitions of each member with
/// partitions (most partitions first), then the partitions with a committed offset
/// and no member, as Kafka's `collectGroupOffsets`.
fn offset_rows(admin: &mut ClusterAdmin, group: &GroupDescription) -> Result<Vec<PartitionRow>> {
    let committed = admin.committed_offsets(&group.group_id)?;
    let mut members: Vec<_> = group.members.iter().filter(|m| !m.assignment.is_empty()).collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let mut rows = Vec::new();
    let mut assigned = BTreeSet::new();
    for member in members {
        let mut partitions = member.assignment.clone();
        partitions.sort();
        for (topic, partition) in partitions {
            assigned.insert((topic.clone(), partition));
            rows.push(PartitionRow {
                offset: committed.get(&(topic.clone(), partition)).copied(),
                topic,
                partition,
                log_end_offset: None,
                consumer_id: member.member_id.clone(),
                host: member.host.clone(),
                client_id: member.client_id.clone(),
            });
        }
    }
    for ((topic, partition), offset) in committed.iter().filter(|(tp, _)| !assigned.contains(*tp)) {
        rows.push(PartitionRow {
            topic: topic.clone(),
            partition: *partition,
            offset: Some(*offset),
            log_end_offset: None,
            consumer_id: MISSING.into(),
            host: MISSING.into(),
            client_id: MISSING.into(),
        });
    }
    let partitions: Vec<TopicPartition> = rows.iter().map(|r| (r.topic.clone(), r.partition)).collect();
    if !partitions.is_empty() {
        let ends = admin.list_offsets(&partitions, -1)?;
        for row in &mut rows {
            row.log_end_offset = ends.get(&(row.topic.clone(), row.partition)).and_then(|r| r.ok());
        }
    }
    Ok(rows)
}

fn print_offsets<W: Write>(group: &GroupDescription, rows: &[PartitionRow], console: &mut Console<W>) -> Result<()> {
    if !should_print(group, rows.len(), console)? {
        return Ok(());
    }
    let width = |f: &dyn Fn(&PartitionRow) -> usize| rows.iter().map(f).max().unwrap_or(0).max(15);
    let group_width = group.group_id.chars().count().max(15);
    let topic_width = width(&|r| r.topic.chars().count());
    let consumer_width = width(&|r| r.consumer_id.chars().count());
    let host_width = width(&|r| r.host.chars().count());
    let line = |cells: [&str; 9]| {
        format!(
            "\n{:<group_width$} {:<topic_width$} {:<10} {:<15} {:<15} {:<15} {:<consumer_width$} {:<host_width$} {}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]
        )
    };
    let text = |v: Option<i64>| v.map_or_else(|| MISSING.to_string(), |v| v.to_string());
    let out = &mut console.out;
    write!(out, "{}", line(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]))?;
    for row in rows {
        let partition = row.partition.to_string();
        let (offset, end, lag) = (text(row.offset), text(row.log_end_offset), text(row.lag()));
        write!(
            out,
            "{}",
            line([&group.group_id, &row.topic, &partition, &offset, &end, &lag, &row.consumer_id, &row.host, &row.client_id])
        )?;
    }
    writeln!(out)?;
    Ok(())
}

fn print_members<W: Write>(group: &GroupDescription, verbose: bool, console: &mut Console<W>) -> Result<()> {
    if !should_print(group, group.members.len(), console)? {
        return Ok(());
    }
    let width = |f: &dyn Fn(&crate::admin::GroupMember) -> usize, min: usize| {
        group.members.iter().map(f).max().unwrap_or(0).max(min)
    };
    let group_width = group.group_id.chars().count().max(15);
    let consumer_width = width(&|m| m.member_id.chars().count(), 15);
    let instance_width = width(&|m| m.group_instance_id.as_deref().map_or(0, |i| i.chars().count()), 17);
    let host_width = width(&|m| m.host.chars().count(), 15);
    let client_width = width(&|m| m.client_id.chars().count(), 15);
    let with_instance = group.members.iter().any(|m| m.group_instance_id.as_deref().is_some_and(|i| !i.is_empty()));
    let line = |cells: [&str; 6]| {
        let mut line = format!("{:<group_width$} {:<consumer_width$} ", cells[0], cells[1]);
        if with_instance {
            line.push_str(&format!("{:<instance_width$} ", cells[2]));
        }
        line.push_str(&format!("{:<host_width$} {:<client_width$} {:<15} ", cells[3], cells[4], cells[5]));
        line
    };
    let out = &mut console.out;
    write!(out, "\n{}", line(["GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]))?;
    if verbose {
        write!(out, "ASSIGNMENT")?;
    }
    writeln!(out)?;
    for member in &group.members {
        let count = member.assignment.len().to_string();
        let instance = member.group_instance_id.as_deref().unwrap_or("");
        write!(out, "{}", line([&group.group_id, &member.member_id, instance, &member.host, &member.client_id, &count]))?;
        if verbose {
            write!(out, "{}", assignment_text(&member.assignment))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// A member's partitions for `--members --verbose`: `t1(0,1), t2(3)`, or `-`.
fn assignment_text(assignment: &[TopicPartition]) -> String {
    if assignment.is_empty() {
        return MISSING.to_string();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in assignment {
        by_topic.entry(topic).or_default().push(*partition);
    }
    by_topic
        .into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort_unstable();
            let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
            format!("{topic}({})", list.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_state<W: Write>(group: &GroupDescription, console: &mut Console<W>) -> Result<()> {
    if !should_print(group, 1, console)? {
        return Ok(());
    }
    let node = &group.coordinator;
    let coordinator = format!("{}:{}  ({})", node.host, node.port, node.id);
    // As Kafka 3.9: the first column is as wide as the coordinator column would be.
    let width = coordinator.chars().count().max(25);
    let line = |cells: [&str; 5]| format!("\n{:<width$} {:<25} {:<20} {:<15} {}", cells[0], cells[1], cells[2], cells[3], cells[4]);
    let members = group.members.len().to_string();
    let out = &mut console.out;
    write!(out, "{}", line(["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]))?;
    write!(out, "{}", line([&group.group_id, &coordinator, &group.assignor, &group.state, &members]))?;
    writeln!(out)?;
    Ok(())
}

/// The Java exception Kafka's tools print for a group or partition error code, with
/// its message (`org.apache.kafka.common.errors.X: message`).
fn exception_text(code: i16) -> String {
    let (name, message) = match code {
        3 => ("UnknownTopicOrPartitionException", "This server does not host this topic-partition."),
        14 => ("CoordinatorLoadInProgressException", "The coordinator is loading and hence can't process requests."),
        15 => ("CoordinatorNotAvailableException", "The coordinator is not available."),
        16 => ("NotCoordinatorException", "This is not the correct coordinator."),
        24 => ("InvalidGroupIdException", "The configured groupId is invalid."),
        29 => ("TopicAuthorizationFailedException", "Topic authorization failed."),
        30 => ("GroupAuthorizationFailedException", "Group authorization failed."),
        68 => ("GroupNotEmptyException", "The group is not empty."),
        69 => ("GroupIdNotFoundException", "The group id does not exist."),
        86 => ("GroupSubscribedToTopicException", "The consumer group is actively subscribed to the topic."),
        _ => return kafka_error::describe(code, None),
    };
    format!("org.apache.kafka.common.errors.{name}: {message}")
}

fn delete<W: Write>(admin: &mut ClusterAdmin, args: &ConsumerGroupsArgs, console: &mut Console<W>) -> Result<()> {
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for group in selected_groups(admin, args)? {
        match admin.delete_group(&group)? {
            0 => deleted.push(group),
            code => failed.push((group, code)),
        }
    }
    if failed.is_empty() {
        writeln!(console.out, "Deletion of requested consumer groups ('{}') was successful.", deleted.join(", "))?;
        return Ok(());
    }
    console.error("Deletion of some consumer groups failed:")?;
    for (group, code) in &failed {
        writeln!(
            console.out,
            "* Group '{group}' could not be deleted due to: java.util.concurrent.ExecutionException: {}",
            exception_text(*code)
        )?;
    }
    if !deleted.is_empty() {
        let names: Vec<String> = deleted.iter().map(|g| format!("'{g}'")).collect();
        writeln!(console.out, "\nThese consumer groups were deleted successfully: {}", names.join(", "))?;
    }
    Ok(())
}

/// Splits `topic:0,1,2` into its partitions (Kafka's `parseTopicsWithPartitions`).
fn parse_topic_partitions(arg: &str) -> Result<Vec<TopicPartition>> {
    let parts: Vec<&str> = arg.split(':').collect();
    let [topic, partitions] = parts.as_slice() else {
        return Err(usage(format!("Invalid topic arg '{arg}', expected topic name and partitions")));
    };
    partitions
        .split(',')
        .map(|p| match p.trim().parse::<i32>() {
            Ok(p) => Ok((topic.to_string(), p)),
            Err(_) => Err(usage(format!("Invalid partition '{p}' specified in topic arg '{arg}''"))),
        })
        .collect()
}

/// The partitions `--topic` names: `t:0,1` as given, `t` as every partition the topic
/// has. Topics that do not exist are returned separately.
fn topic_partitions(admin: &mut ClusterAdmin, topics: &[String]) -> Result<(Vec<TopicPartition>, Vec<String>)> {
    let mut partitions = Vec::new();
    let mut whole = Vec::new();
    for arg in topics {
        if arg.contains(':') {
            partitions.extend(parse_topic_partitions(arg)?);
        } else {
            whole.push(arg.clone());
        }
    }
    let mut unknown = Vec::new();
    if !whole.is_empty() {
        let metadata = admin.metadata()?;
        for topic in whole {
            let found = metadata.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic));
            match found {
                Some(t) if t.error_code == 0 => partitions.extend(t.partitions.iter().map(|p| (topic.clone(), p.partition_index))),
                _ => unknown.push(topic),
            }
        }
    }
    partitions.sort();
    partitions.dedup();
    Ok((partitions, unknown))
}

fn delete_offsets<W: Write>(admin: &mut ClusterAdmin, args: &ConsumerGroupsArgs, console: &mut Console<W>) -> Result<()> {
    let Some(group) = args.group.first() else { bail!("--group is required") };
    let (partitions, unknown) = topic_partitions(admin, &args.topic)?;
    let (group_code, codes) = if partitions.is_empty() { (0, Vec::new()) } else { admin.delete_offsets(group, &partitions)? };
    // Kafka's admin fails the whole request with the group's error, else with the
    // first partition error.
    let mut results: Vec<(String, Option<i32>, i16)> = Vec::new();
    for (topic, partition) in &partitions {
        let code = match group_code {
            0 => codes.iter().find(|(tp, _)| tp.0 == *topic && tp.1 == *partition).map_or(0, |(_, c)| *c),
            code => code,
        };
        results.push((topic.clone(), Some(*partition), code));
    }
    let top = match group_code {
        0 => results.iter().map(|r| r.2).find(|c| *c != 0).unwrap_or(0),
        code => code,
    };
    // Unknown topics never reach the request, so they do not change the verdict
    // above; their rows say what went wrong (and the exit status is 1).
    results.extend(unknown.iter().map(|t| (t.clone(), None, 3)));
    results.sort();
    console.failed |= results.iter().any(|r| r.2 != 0);
    match top {
        0 => writeln!(console.out, "Request succeed for deleting offsets with topic {} group {group}", args.topic.join(", "))?,
        24 => console.error(&format!("'{group}' is not valid."))?,
        69 => console.error(&format!("'{group}' does not exist."))?,
        30 => console.error(&format!("Access to '{group}' is not authorized."))?,
        68 => console.error(&format!("Deleting offsets of a consumer group '{group}' is forbidden if the group is not empty."))?,
        86 | 29 | 3 => console.error("Encounter some partition level error, see the follow-up details:")?,
        code => console.error(&format!("Encounter some unknown error: {}", kafka_error::describe(code, None)))?,
    }
    let line = |cells: [&str; 3]| format!("\n{:<30} {:<15} {:<15}", cells[0], cells[1], cells[2]);
    write!(console.out, "{}", line(["TOPIC", "PARTITION", "STATUS"]))?;
    for (topic, partition, code) in &results {
        let partition = partition.map_or_else(|| "Not Provided".to_string(), |p| p.to_string());
        let status = match code {
            0 => "Successful".to_string(),
            code => format!("Error: {}", exception_text(*code)),
        };
        write!(console.out, "{}", line([topic, &partition, &status]))?;
    }
    writeln!(console.out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Result<(), String>, clap::Error> {
        let mut full = vec!["kafka-consumer-groups", "--bootstrap-server", "h:1"];
        full.extend_from_slice(argv);
        ConsumerGroupsArgs::try_parse_from(full).map(|a| a.check())
    }

    #[test]
    fn option_rules_follow_kafka() {
        assert!(matches!(parse(&["--list"]), Ok(Ok(()))));
        assert!(matches!(parse(&["--list", "--state"]), Ok(Ok(()))));
        assert!(matches!(parse(&["--list", "--state", "stable,empty", "--type"]), Ok(Ok(()))));
        assert!(parse(&["--list", "--describe"]).is_err(), "exactly one action");
        assert!(parse(&[]).is_err(), "an action is required");
        assert!(matches!(parse(&["--describe"]), Ok(Err(_))), "describe needs a group");
        assert!(matches!(parse(&["--describe", "--group", "g", "--members", "--verbose"]), Ok(Ok(()))));
        assert!(matches!(parse(&["--describe", "--group", "g", "--members", "--state"]), Ok(Err(_))));
        assert!(matches!(parse(&["--describe", "--group", "g", "--state", "stable"]), Ok(Err(_))));
        assert!(matches!(parse(&["--describe", "--group", "g", "--all-groups"]), Ok(Err(_))));
        assert!(matches!(parse(&["--describe", "--group", "g", "--topic", "t"]), Ok(Err(_))));
        assert!(matches!(parse(&["--list", "--group", "g"]), Ok(Err(_))));
        assert!(matches!(parse(&["--delete", "--group", "g", "--topic", "t"]), Ok(Err(_))));
        assert!(matches!(parse(&["--delete-offsets", "--group", "g"]), Ok(Err(_))));
        assert!(matches!(parse(&["--delete-offsets", "--group", "g", "--topic", "t:0"]), Ok(Ok(()))));
        assert!(matches!(parse(&["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--to-latest"]), Ok(Err(_))));
        assert!(matches!(parse(&["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--dry-run", "--execute"]), Ok(Err(_))));
        assert!(matches!(parse(&["--reset-offsets", "--group", "g", "--topic", "t", "--shift-by", "-2", "--execute"]), Ok(Ok(()))));
        assert!(matches!(parse(&["--list", "--to-earliest"]), Ok(Err(_))));
        assert!(matches!(parse(&["--describe", "--group", "g", "--type"]), Ok(Err(_))));
    }

    #[test]
    fn state_and_type_lists_parse_case_insensitively() {
        assert_eq!(parse_names("stable, EMPTY", &GROUP_STATES, "state").unwrap(), vec!["Stable", "Empty"]);
        let err = parse_names("stable,bogus", &GROUP_STATES, "state").unwrap_err();
        assert!(err.to_string().starts_with("Invalid state list 'stable,bogus'. Valid states are: PreparingRebalance"), "{err}");
        assert_eq!(parse_names("classic", &GROUP_TYPES, "type").unwrap(), vec!["Classic"]);
        assert_eq!(kafka_name("classic", &GROUP_TYPES), "Classic");
        assert_eq!(kafka_name("", &GROUP_TYPES), "Unknown");
    }

    #[test]
    fn topic_partition_args_parse_like_kafka() {
        assert_eq!(parse_topic_partitions("t:0,2").unwrap(), vec![("t".to_string(), 0), ("t".to_string(), 2)]);
        assert!(parse_topic_partitions("t:x").unwrap_err().to_string().contains("Invalid partition 'x'"));
        assert!(parse_topic_partitions("a:b:1").is_err());
    }

    #[test]
    fn lag_needs_both_offsets() {
        let row = |offset, end| PartitionRow {
            topic: "t".into(),
            partition: 0,
            offset,
            log_end_offset: end,
            consumer_id: MISSING.into(),
            host: MISSING.into(),
            client_id: MISSING.into(),
        };
        assert_eq!(row(Some(3), Some(10)).lag(), Some(7));
        assert_eq!(row(None, Some(10)).lag(), None);
        assert_eq!(row(Some(-1), Some(10)).lag(), None);
        assert_eq!(row(Some(3), None).lag(), None);
    }

    #[test]
    fn verbose_assignments_name_topics_and_sort_partitions_numerically() {
        let a = vec![("b".to_string(), 10), ("a".to_string(), 1), ("b".to_string(), 2)];
        assert_eq!(assignment_text(&a), "a(1), b(2,10)");
        assert_eq!(assignment_text(&[]), "-");
    }
}
