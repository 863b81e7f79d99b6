//! `spool console-consumer` / `kafka-console-consumer`: print a topic's records.
//!
//! ```text
//! kafka-console-consumer --bootstrap-server HOST:PORT --topic T [--from-beginning]
//! kafka-console-consumer --bootstrap-server HOST:PORT --include 'orders-.*' [--from-beginning]
//! ```
//!
//! How partitions are chosen:
//! - `--partition P [--offset O|earliest|latest]`: that partition only;
//! - `--include REGEX` (`--whitelist` in old scripts): every topic whose whole name
//!   matches, internal topics excluded, as Kafka's pattern subscription. The topic list
//!   is read again every few seconds, so topics created later are picked up (Kafka's
//!   consumer waits for its next metadata refresh, 5 minutes by default). With
//!   `--group` the matching topics are subscribed to as below, else their partitions
//!   are assigned directly;
//! - `--group G` (or `group.id` in the consumer properties): subscribe as a member of
//!   the group, resume from its committed offsets (`--from-beginning` only says where a
//!   partition without one starts: `auto.offset.reset=earliest`), and commit the
//!   position after each printed record (auto-commit every 5 s and on exit), as
//!   Kafka's console consumer does;
//! - otherwise every partition the topic has at start-up is assigned directly (no
//!   group coordinator involved), from the beginning with `--from-beginning`, else from
//!   the end offsets read at start-up, so only records produced after that are shown.
//!
//! Each record is printed by Kafka's [`DefaultMessageFormatter`]. The tool ends after
//! `--max-messages`, after `--timeout-ms` without a record, or on SIGINT/SIGTERM, and
//! then prints `Processed a total of N messages` on stderr as Kafka does.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::client_context::ToolContext;
use crate::connection_args::{apply_java_properties, load_properties, parse_key_value, probe_bootstrap, BootstrapArgs};
use crate::message_formatter::{parse_formatter_class, DefaultMessageFormatter, RecordTimestamp, RecordView};
use crate::signals;
use crate::topic_filter::{is_internal, TopicFilter};

/// How long metadata and end offsets may take at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-address TCP connect limit of the start-up probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest single wait in the poll loop, so signals and timeouts are noticed.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Wait between metadata checks while the topic does not exist yet.
const TOPIC_WAIT_INTERVAL: Duration = Duration::from_millis(500);

/// Where to start reading a partition given with `--partition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartOffset {
    Earliest,
    Latest,
    At(i64),
}

fn parse_offset(arg: &str) -> Result<StartOffset, String> {
    match arg {
        "earliest" => Ok(StartOffset::Earliest),
        "latest" => Ok(StartOffset::Latest),
        n => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(StartOffset::At(o)),
            _ => Err(format!(
                "The provided offset value '{arg}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."
            )),
        },
    }
}

/// How often an `--include` subscription looks for new (or deleted) matching topics.
const INCLUDE_REFRESH_INTERVAL: Duration = Duration::from_secs(3);

/// What an `--include` consumer currently reads: the matching topics and their
/// partition counts.
///
/// With a group the consumer subscribes to the matching topics by name, and the group
/// hands out their partitions; offsets stored after each printed record are committed
/// when a new subscription revokes them, so nothing is printed twice. Without one the
/// partitions are assigned directly, like a `--topic` consumer's, and new ones are added
/// to the assignment (no rebalance, so no partition starts over).
///
/// The matching is done here, not by librdkafka: its subscription regexes are POSIX
/// extended ones (no `\d`, no `(?:…)`), found anywhere in a name, and a bad one is only
/// refused as an "invalid argument".
struct IncludedTopics {
    pattern: TopicFilter,
    grouped: bool,
    /// Where a partition assigned directly starts.
    start_at: Offset,
    /// Topic name and partition count, sorted by name.
    current: Vec<(String, i32)>,
    next_check: Instant,
}

impl IncludedTopics {
    fn new(pattern: TopicFilter, grouped: bool, from_beginning: bool) -> Self {
        let start_at = if from_beginning { Offset::Beginning } else { Offset::End };
        IncludedTopics { pattern, grouped, start_at, current: Vec::new(), next_check: Instant::now() }
    }

    /// Follows the matching topics when they changed since the last call, at most once
    /// per [`INCLUDE_REFRESH_INTERVAL`]. A failed metadata request is retried then.
    fn refresh(&mut self, consumer: &BaseConsumer<ToolContext>) -> Result<()> {
        if Instant::now() < self.next_check {
            return Ok(());
        }
        self.next_check = Instant::now() + INCLUDE_REFRESH_INTERVAL;
        let metadata = match consumer.fetch_metadata(None, METADATA_TIMEOUT) {
            Ok(metadata) => metadata,
            Err(e) => {
                tracing::warn!("could not list the topics --include matches against: {e}");
                return Ok(());
            }
        };
        let mut matching: Vec<(String, i32)> = metadata
            .topics()
            .iter()
            // Internal topics are left out, as by Kafka's exclude.internal.topics (true by
            // default).
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .filter(|t| !is_internal(t.name()) && self.pattern.matches(t.name()))
            .map(|t| (t.name().to_string(), i32::try_from(t.partitions().len()).unwrap_or(i32::MAX)))
            .collect();
        matching.sort_unstable();
        if matching == self.current {
            return Ok(());
        }
        if self.grouped {
            self.subscribe(consumer, &matching)?;
        } else {
            self.assign_changes(consumer, &matching)?;
        }
        self.current = matching;
        Ok(())
    }

    fn subscribe(&self, consumer: &BaseConsumer<ToolContext>, matching: &[(String, i32)]) -> Result<()> {
        if matching.is_empty() {
            consumer.unsubscribe();
            return Ok(());
        }
        let names: Vec<&str> = matching.iter().map(|(name, _)| name.as_str()).collect();
        consumer.subscribe(&names).context("subscribing")
    }

    /// Adds the partitions that are new to the assignment and removes those of topics
    /// that are gone; the others keep their positions.
    fn assign_changes(&self, consumer: &BaseConsumer<ToolContext>, matching: &[(String, i32)]) -> Result<()> {
        let count_in = |list: &[(String, i32)], topic: &str| list.iter().find(|(t, _)| t == topic).map_or(0, |(_, n)| *n);
        let mut added = TopicPartitionList::new();
        for (topic, partitions) in matching {
            for p in count_in(&self.current, topic)..*partitions {
                added.add_partition_offset(topic, p, self.start_at)?;
            }
        }
        let mut removed = TopicPartitionList::new();
        for (topic, partitions) in &self.current {
            for p in count_in(matching, topic)..*partitions {
                removed.add_partition(topic, p);
            }
        }
        if removed.count() > 0 {
            consumer.incremental_unassign(&removed).context("unassigning the partitions of deleted topics")?;
        }
        if added.count() > 0 {
            consumer.incremental_assign(&added).context("assigning partitions")?;
        }
        Ok(())
    }
}

/// Consume messages from a topic and print them to standard output.
#[derive(Parser, Debug)]
#[command(name = "kafka-console-consumer", version, about = "This tool helps to read data from Kafka topics and outputs it to standard output.")]
pub(crate) struct ConsumerArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// The topic to consume from (this or --include is required)
    #[arg(long, value_name = "TOPIC", required_unless_present = "include")]
    topic: Option<String>,
    /// A regular expression: consume every topic whose whole name matches, internal
    /// topics excluded (this or --topic is required)
    #[arg(long, visible_alias = "whitelist", value_name = "REGEX", conflicts_with = "topic", value_parser = TopicFilter::pattern)]
    include: Option<TopicFilter>,
    /// Start with the earliest message present rather than the latest
    #[arg(long = "from-beginning", conflicts_with = "offset")]
    from_beginning: bool,
    /// Exit after consuming this many messages
    #[arg(long = "max-messages", value_name = "N")]
    max_messages: Option<u64>,
    /// Exit if no message is available for this many milliseconds
    #[arg(long = "timeout-ms", value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Consume only this partition
    #[arg(long, value_name = "P", conflicts_with = "include")]
    partition: Option<i32>,
    /// With --partition: a non-negative offset, 'earliest' or 'latest' (default: latest)
    #[arg(long, value_name = "OFFSET", requires = "partition", value_parser = parse_offset)]
    offset: Option<StartOffset>,
    /// Consumer group id (without it, partitions are assigned directly)
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// A formatter property: print.key, print.offset, print.partition, print.timestamp,
    /// print.headers, print.value, key.separator, line.separator, headers.separator,
    /// null.literal (repeatable)
    #[arg(long = "property", visible_alias = "formatter-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    property: Vec<(String, String)>,
    /// The formatter's Java class name: org.apache.kafka.tools.consumer.DefaultMessageFormatter
    /// (the default; also as kafka.tools.DefaultMessageFormatter) or NoOpMessageFormatter
    #[arg(long, value_name = "CLASS", value_parser = parse_formatter_class)]
    formatter: Option<bool>,
    /// A properties file of formatter properties (--property overrides it)
    #[arg(long = "formatter-config", value_name = "FILE")]
    formatter_config: Option<PathBuf>,
    /// A consumer property (repeatable; librdkafka names, Java names mapped)
    #[arg(long = "consumer-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    consumer_property: Vec<(String, String)>,
    /// A consumer properties file
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
    /// read_committed or read_uncommitted (default)
    #[arg(long = "isolation-level", value_name = "LEVEL", value_parser = ["read_committed", "read_uncommitted"])]
    isolation_level: Option<String>,
    /// Accepted for compatibility (records are never decoded, so never skipped)
    #[arg(long = "skip-message-on-error")]
    skip_message_on_error: bool,
}

/// Runs the consumer; returns the process exit code.
pub(crate) fn run(args: ConsumerArgs) -> i32 {
    match consume(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// The consumer properties from the file, then `--consumer-property`.
fn user_properties(args: &ConsumerArgs) -> Result<Vec<(String, String)>> {
    let mut props = match &args.consumer_config {
        Some(path) => load_properties(path)?,
        None => Vec::new(),
    };
    props.extend(args.consumer_property.iter().cloned());
    Ok(props)
}

/// The group id from `--group` or the properties; Kafka refuses different ones.
fn group_id(args: &ConsumerArgs, props: &[(String, String)]) -> Result<Option<String>> {
    let mut ids: Vec<&str> = props.iter().filter(|(k, _)| k == "group.id").map(|(_, v)| v.as_str()).collect();
    ids.extend(args.group.as_deref());
    ids.sort_unstable();
    ids.dedup();
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.to_string())),
        many => bail!(
            "The group ids provided in different places (directly using '--group', via '--consumer-property', or via \
             '--consumer.config') do not match. Detected group ids: {}",
            many.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn client_config(args: &ConsumerArgs, bootstrap: &str, props: &[(String, String)], group: Option<&str>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "console-consumer")
        .set("auto.offset.reset", if args.from_beginning { "earliest" } else { "latest" })
        // Kafka's consumers read uncommitted data unless told otherwise; librdkafka's
        // default is read_committed.
        .set("isolation.level", "read_uncommitted")
        .set("enable.partition.eof", "false");
    match group {
        Some(group) => {
            // Auto-commit (librdkafka's default, as Kafka's consumer) commits the offsets
            // stored after each printed record. They are stored by hand: closing the
            // consumer polls away what it had fetched, and auto-store would count those
            // records as consumed although they were never printed.
            config.set("group.id", group).set("enable.auto.offset.store", "false");
        }
        None => {
            // librdkafka needs a group id even to assign partitions by hand; this one
            // is never joined and nothing is committed under it (Kafka's console
            // consumer likewise makes up `console-consumer-<n>`).
            config
                .set("group.id", format!("console-consumer-{}", std::process::id()))
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false");
        }
    }
    apply_java_properties(&mut config, props);
    if let Some(level) = &args.isolation_level {
        config.set("isolation.level", level);
    }
    config
}

fn consume(args: &ConsumerArgs) -> Result<i32> {
    let mut formatter_properties = match &args.formatter_config {
        Some(path) => load_properties(path)?,
        None => Vec::new(),
    };
    formatter_properties.extend(args.property.iter().cloned());
    let formatter = DefaultMessageFormatter::with_properties(args.formatter.unwrap_or(false), &formatter_properties);
    let bootstrap = args.bootstrap.resolve(false)?;
    let props = user_properties(args)?;
    let group = group_id(args, &props)?;
    let config = client_config(args, &bootstrap, &props, group.as_deref());
    let consumer: BaseConsumer<ToolContext> =
        BaseConsumer::from_config_and_context(&config, ToolContext::default()).context("invalid consumer configuration")?;

    // 0 while running, else the exit code of the signal that stops the loop.
    let stop = Arc::new(AtomicI32::new(0));
    let on_signal = Arc::clone(&stop);
    signals::on_termination(move |signal| on_signal.store(signals::exit_code_for(signal), Ordering::SeqCst));

    probe_bootstrap(&bootstrap, PROBE_TIMEOUT)?;
    let mut included = match (&args.topic, &args.include) {
        (_, Some(pattern)) => {
            // No topic to wait for: the subscription takes whatever matches, now or later.
            let mut topics = IncludedTopics::new(pattern.clone(), group.is_some(), args.from_beginning);
            topics.refresh(&consumer)?;
            Some(topics)
        }
        (Some(topic), None) => {
            let deadline = args.timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
            let Some(partitions) = wait_for_topic(&consumer, topic, deadline, &stop)? else {
                eprintln!("Processed a total of 0 messages");
                return Ok(exit_code(&stop));
            };
            start(&consumer, topic, args, group.is_some(), partitions)?;
            None
        }
        (None, None) => bail!("Exactly one of --include/--topic is required."),
    };
    consumer.context().set_running();

    let count = print_records(&consumer, args, group.is_some(), included.as_mut(), &formatter, &stop)?;
    eprintln!("Processed a total of {count} messages");
    Ok(exit_code(&stop))
}

fn exit_code(stop: &AtomicI32) -> i32 {
    stop.load(Ordering::SeqCst)
}

/// Waits until the topic exists (Kafka's consumer waits too) and returns its
/// partition count, or `None` when the deadline passes or a signal arrives first.
fn wait_for_topic(
    consumer: &BaseConsumer<ToolContext>,
    topic: &str,
    deadline: Option<Instant>,
    stop: &AtomicI32,
) -> Result<Option<i32>> {
    let mut warned = false;
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(|e| anyhow!("could not fetch metadata: {e}"))?;
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        match found {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                return Ok(Some(i32::try_from(t.partitions().len()).unwrap_or(i32::MAX)));
            }
            Some(t) if t.error().is_some_and(|e| e != RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                && e != RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) =>
            {
                bail!("topic {topic}: {:?}", t.error());
            }
            _ => {}
        }
        if !warned {
            eprintln!("note: topic {topic} does not exist (yet); waiting for it");
            warned = true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) || stop.load(Ordering::SeqCst) != 0 {
            return Ok(None);
        }
        std::thread::sleep(TOPIC_WAIT_INTERVAL);
    }
}

/// Assigns or subscribes, as the module documentation describes.
fn start(consumer: &BaseConsumer<ToolContext>, topic: &str, args: &ConsumerArgs, grouped: bool, partitions: i32) -> Result<()> {
    let latest = |p: i32| -> Result<Offset> {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, METADATA_TIMEOUT)
            .map_err(|e| anyhow!("could not read the end offset of {topic}-{p}: {e}"))?;
        Ok(Offset::Offset(high))
    };
    let mut assignment = TopicPartitionList::new();
    if let Some(p) = args.partition {
        if !(0..partitions).contains(&p) {
            bail!("topic {topic} has {partitions} partitions; there is no partition {p}");
        }
        let offset = match args.offset {
            Some(StartOffset::At(o)) => Offset::Offset(o),
            Some(StartOffset::Earliest) => Offset::Beginning,
            Some(StartOffset::Latest) => latest(p)?,
            None if args.from_beginning => Offset::Beginning,
            None => latest(p)?,
        };
        assignment.add_partition_offset(topic, p, offset)?;
    } else if grouped {
        consumer.subscribe(&[topic]).context("subscribing")?;
        return Ok(());
    } else {
        for p in 0..partitions {
            let offset = if args.from_beginning { Offset::Beginning } else { latest(p)? };
            assignment.add_partition_offset(topic, p, offset)?;
        }
    }
    consumer.assign(&assignment).context("assigning partitions")?;
    Ok(())
}

/// The poll loop; returns how many records were printed.
fn print_records(
    consumer: &BaseConsumer<ToolContext>,
    args: &ConsumerArgs,
    grouped: bool,
    mut included: Option<&mut IncludedTopics>,
    formatter: &DefaultMessageFormatter,
    stop: &AtomicI32,
) -> Result<u64> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut count = 0u64;
    let mut last_record = Instant::now();
    while args.max_messages.is_none_or(|max| count < max) && stop.load(Ordering::SeqCst) == 0 {
        let wait = match timeout {
            Some(t) => match t.checked_sub(last_record.elapsed()) {
                Some(left) if !left.is_zero() => left.min(POLL_INTERVAL),
                _ => break,
            },
            None => POLL_INTERVAL,
        };
        if let Some(included) = included.as_deref_mut() {
            included.refresh(consumer)?;
        }
        let message = match consumer.poll(wait) {
            None => continue,
            Some(Err(e)) => {
                tracing::warn!("{e}");
                continue;
            }
            Some(Ok(message)) => message,
        };
        let headers: Vec<(&str, Option<&[u8]>)> = message
            .headers()
            .map(|h| h.iter().map(|h| (h.key, h.value)).collect())
            .unwrap_or_default();
        let record = RecordView {
            timestamp: match message.timestamp() {
                Timestamp::CreateTime(ts) => RecordTimestamp::CreateTime(ts),
                Timestamp::LogAppendTime(ts) => RecordTimestamp::LogAppendTime(ts),
                Timestamp::NotAvailable => RecordTimestamp::None,
            },
            partition: message.partition(),
            offset: message.offset(),
            headers,
            key: message.key(),
            value: message.payload(),
        };
        let written = formatter.write_to(&record, &mut out).and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            // The reader went away (`| head`): stop quietly, as Kafka does.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(e) => return Err(anyhow!(e).context("writing to stdout")),
        }
        if grouped {
            // Only fails for a partition no longer assigned (a rebalance took it); its
            // new owner resumes from the last stored offset that was committed.
            if let Err(e) = consumer.store_offset_from_message(&message) {
                tracing::debug!("not storing the offset of {}-{}: {e}", message.partition(), message.offset());
            }
        }
        count += 1;
        last_record = Instant::now();
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_like_kafka() {
        assert_eq!(parse_offset("earliest"), Ok(StartOffset::Earliest));
        assert_eq!(parse_offset("latest"), Ok(StartOffset::Latest));
        assert_eq!(parse_offset("42"), Ok(StartOffset::At(42)));
        assert!(parse_offset("-1").unwrap_err().contains("non-negative"));
        assert!(parse_offset("soon").is_err());
    }

    #[test]
    fn flag_rules() {
        let parse = |argv: &[&str]| ConsumerArgs::try_parse_from(argv);
        assert!(parse(&["c", "--bootstrap-server", "h:1", "--topic", "t", "--offset", "3"]).is_err(), "offset needs partition");
        assert!(parse(&["c", "--bootstrap-server", "h:1", "--topic", "t", "--partition", "0", "--offset", "3", "--from-beginning"]).is_err());
        assert!(parse(&["c", "--zookeeper", "h:2181", "--topic", "t", "--from-beginning"]).is_ok());
        assert!(parse(&["c", "--topic", "t"]).is_err(), "a bootstrap server is required");
        assert!(parse(&["c", "--bootstrap-server", "h:1"]).is_err(), "--topic or --include is required");
        assert!(parse(&["c", "--bootstrap-server", "h:1", "--topic", "t", "--include", "t.*"]).is_err(), "not both");
        assert!(parse(&["c", "--bootstrap-server", "h:1", "--include", "t.*", "--partition", "0"]).is_err(), "partition needs topic");
        assert!(parse(&["c", "--bootstrap-server", "h:1", "--include", "t("]).is_err(), "a bad pattern is refused");
        let old = parse(&["c", "--bootstrap-server", "h:1", "--whitelist", "a|b"]).unwrap();
        assert_eq!(old.include.map(|f| f.to_string()).as_deref(), Some("a|b"));
    }

    #[test]
    fn group_ids_must_agree() {
        let args = ConsumerArgs::try_parse_from(["c", "--bootstrap-server", "h:1", "--topic", "t", "--group", "g"]).unwrap();
        assert_eq!(group_id(&args, &[]).unwrap().as_deref(), Some("g"));
        assert_eq!(group_id(&args, &[("group.id".into(), "g".into())]).unwrap().as_deref(), Some("g"));
        assert!(group_id(&args, &[("group.id".into(), "other".into())]).is_err());
    }
}
