//! `spool perf consume` / `kafka-consumer-perf-test`: consumer throughput.
//!
//! ```text
//! kafka-consumer-perf-test --bootstrap-server H:P --topic T --messages N [--group G] [--timeout MS]
//!     [--from-latest] [--fetch-size B] [--show-detailed-stats] [--hide-header] [--consumer.config FILE]
//! ```
//!
//! Reads until `N` records have arrived or `--timeout` ms (10 s) pass without one,
//! then prints Kafka's CSV header and line:
//!
//! ```text
//! start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
//! 2024-02-29 13:05:09:042, 2024-02-29 13:05:11:107, 95.3674, 46.1827, 1000000, 484261.5012, 0, 2065, 46.1827, 484261.5012
//! ```
//!
//! Bytes are key plus value, as in Kafka. Without a group (`--group`, or `group.id` in
//! `--consumer.config`) every partition is assigned directly, from the beginning (or
//! the end with `--from-latest`), with no group coordinator involved; with a group the
//! consumer subscribes and `rebalance.time.ms` is the time until its first assignment.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::connection_args::{apply_java_properties, load_properties, probe_bootstrap, BootstrapArgs};

use super::date_format;
use super::fetch_queue::FetchQueue;
use super::perf_context::PerfConsumerContext;

/// How long metadata may take per request at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait between metadata checks while the topic does not exist yet.
const TOPIC_WAIT_INTERVAL: Duration = Duration::from_millis(500);
/// Per-address TCP connect limit of the start-up probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest single wait for a record (Kafka polls with 100 ms).
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

/// Verify the consumer performance (Kafka's ConsumerPerformance).
#[derive(Parser, Debug)]
#[command(name = "kafka-consumer-perf-test", version, about = "This tool is used to verify the consumer performance.")]
pub(crate) struct ConsumerPerfArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// REQUIRED: the topic to consume from
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// REQUIRED: the number of messages to consume
    #[arg(long, value_name = "COUNT")]
    messages: u64,
    /// Consumer group id; without one, all partitions are assigned directly
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Bytes to fetch per partition and request (max.partition.fetch.bytes)
    #[arg(long = "fetch-size", value_name = "SIZE", default_value_t = 1_048_576)]
    fetch_size: u64,
    /// Start from the end of the topic instead of the beginning
    #[arg(long = "from-latest")]
    from_latest: bool,
    /// TCP receive buffer size (socket.receive.buffer.bytes)
    #[arg(long = "socket-buffer-size", value_name = "SIZE", default_value_t = 2_097_152)]
    socket_buffer_size: u64,
    /// Consumer properties file
    #[arg(long = "consumer.config", value_name = "CONFIG-FILE")]
    consumer_config: Option<PathBuf>,
    /// Accepted for compatibility: librdkafka has no Java metrics to print
    #[arg(long = "print-metrics")]
    print_metrics: bool,
    /// Print a line every reporting interval instead of one summary
    #[arg(long = "show-detailed-stats")]
    show_detailed_stats: bool,
    /// Do not print the CSV header
    #[arg(long = "hide-header")]
    hide_header: bool,
    /// Interval between detailed stats lines, in ms
    #[arg(long = "reporting-interval", value_name = "MS", default_value_t = 5000)]
    reporting_interval_ms: u64,
    /// Give up after this many ms without a record
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    timeout: u64,
    /// Java SimpleDateFormat pattern of the printed times
    #[arg(long = "date-format", value_name = "PATTERN", default_value = "yyyy-MM-dd HH:mm:ss:SSS")]
    date_format: String,
    /// Accepted for compatibility and ignored (one consumer thread)
    #[arg(long, value_name = "N", hide = true)]
    threads: Option<u32>,
    /// Accepted for compatibility and ignored
    #[arg(long = "num-fetch-threads", value_name = "N", hide = true)]
    num_fetch_threads: Option<u32>,
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: ConsumerPerfArgs) -> i32 {
    match consume(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// The group to join, from `--group` or the properties file, if any.
fn client_config(args: &ConsumerPerfArgs, bootstrap: &str) -> Result<(ClientConfig, Option<String>)> {
    let props = match &args.consumer_config {
        Some(path) => load_properties(path)?,
        None => Vec::new(),
    };
    let group = args.group.clone().or_else(|| props.iter().rev().find(|(k, _)| k == "group.id").map(|(_, v)| v.clone()));
    let mut config = ClientConfig::new();
    config
        .set("client.id", "perf-consumer-client")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_uncommitted");
    apply_java_properties(&mut config, &props);
    // The tool's flags win over the file, as in Kafka.
    config
        .set("bootstrap.servers", bootstrap)
        .set("max.partition.fetch.bytes", args.fetch_size.to_string())
        .set("socket.receive.buffer.bytes", args.socket_buffer_size.to_string())
        .set("auto.offset.reset", if args.from_latest { "latest" } else { "earliest" })
        .set("check.crcs", "false");
    match &group {
        Some(group) => {
            config.set("group.id", group);
        }
        None => {
            // librdkafka wants a group id even for direct assignment; it is never joined.
            config
                .set("group.id", format!("perf-consumer-{}", std::process::id()))
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false");
        }
    }
    Ok((config, group))
}

/// What one run read.
struct Progress {
    messages: u64,
    bytes: u64,
}

fn consume(args: &ConsumerPerfArgs) -> Result<i32> {
    let bootstrap = args.bootstrap.resolve(false)?;
    let (config, group) = client_config(args, &bootstrap)?;
    if args.print_metrics {
        eprintln!("note: --print-metrics: librdkafka has no Java client metrics; none are printed");
    }
    let consumer: BaseConsumer<PerfConsumerContext> =
        BaseConsumer::from_config_and_context(&config, PerfConsumerContext::new()).context("invalid consumer configuration")?;
    probe_bootstrap(&bootstrap, PROBE_TIMEOUT)?;
    let timeout = Duration::from_millis(args.timeout);
    let partitions = wait_for_topic(&consumer, &args.topic, timeout)?;
    consumer.context().set_running();
    if !args.hide_header {
        print_header(args.show_detailed_stats);
    }

    let fetched = FetchQueue::new(&consumer, &args.topic, partitions)?;
    let start_wall = SystemTime::now();
    let start = Instant::now();
    match &group {
        Some(_) => consumer.subscribe(&[args.topic.as_str()]).context("subscribing")?,
        None => {
            let offset = if args.from_latest { Offset::End } else { Offset::Beginning };
            let mut assignment = TopicPartitionList::new();
            for p in 0..partitions {
                assignment.add_partition_offset(&args.topic, p, offset)?;
            }
            consumer.assign(&assignment).context("assigning partitions")?;
        }
    }
    let progress = read(&consumer, fetched, args, start, start_wall, timeout)?;
    let end = Instant::now();
    let end_wall = SystemTime::now();

    if progress.messages < args.messages {
        println!(
            "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. \
             You can use the --timeout option to increase the timeout.",
            args.timeout
        );
    }
    if !args.show_detailed_stats {
        let rebalance = rebalance_time(&consumer, start, end);
        let elapsed = end.saturating_duration_since(start);
        let line = summary_line(&args.date_format, start_wall, end_wall, elapsed, rebalance, &progress);
        println!("{line}");
    }
    Ok(0)
}

/// Time from the start to the group's first assignment; zero without a group.
fn rebalance_time(consumer: &BaseConsumer<PerfConsumerContext>, start: Instant, end: Instant) -> Duration {
    consumer.context().first_assignment().map_or(Duration::ZERO, |at| at.min(end).saturating_duration_since(start))
}

/// Waits until the topic exists and returns its partition count.
fn wait_for_topic(consumer: &BaseConsumer<PerfConsumerContext>, topic: &str, timeout: Duration) -> Result<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(|e| anyhow!("could not fetch metadata: {e}"))?;
        if let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) {
            if t.error().is_none() && !t.partitions().is_empty() {
                return Ok(i32::try_from(t.partitions().len()).unwrap_or(i32::MAX));
            }
        }
        if Instant::now() >= deadline {
            bail!("topic {topic} does not exist or has no partitions");
        }
        std::thread::sleep(TOPIC_WAIT_INTERVAL);
    }
}

/// The poll loop of Kafka's tool: until `--messages` records or `--timeout` without one.
/// Records are taken from `fetched` many at a time; the consumer's own queue is served
/// between batches, for rebalances and errors.
fn read(
    consumer: &BaseConsumer<PerfConsumerContext>,
    mut fetched: FetchQueue<'_>,
    args: &ConsumerPerfArgs,
    start: Instant,
    start_wall: SystemTime,
    timeout: Duration,
) -> Result<Progress> {
    let reporting_interval = Duration::from_millis(args.reporting_interval_ms.max(1));
    let mut progress = Progress { messages: 0, bytes: 0 };
    let mut last_record = Instant::now();
    let mut last_report = (start, 0u64, 0u64);
    while progress.messages < args.messages {
        match consumer.poll(Duration::ZERO) {
            // Not expected: every partition's records go to `fetched`. Counted all the same.
            Some(Ok(message)) => {
                progress.messages += 1;
                progress.bytes += (message.key_len() + message.payload_len()) as u64;
            }
            Some(Err(e)) => tracing::warn!("{e}"),
            None => {}
        }
        let wanted = usize::try_from(args.messages - progress.messages).unwrap_or(usize::MAX);
        let taken = fetched.read(POLL_INTERVAL, wanted, |record| match record {
            Ok(bytes) => {
                progress.messages += 1;
                progress.bytes += bytes as u64;
            }
            Err(code) => tracing::warn!("consume error: {code}"),
        });
        let now = Instant::now();
        if taken > 0 {
            last_record = now;
        } else if now.saturating_duration_since(last_record) > timeout {
            break;
        }
        if args.show_detailed_stats && now.saturating_duration_since(last_report.0) >= reporting_interval {
            let wall = start_wall + now.saturating_duration_since(start);
            let rebalance = rebalance_time(consumer, start, now);
            println!("{}", detailed_line(&args.date_format, wall, now - last_report.0, rebalance, &progress, last_report.1, last_report.2));
            last_report = (now, progress.messages, progress.bytes);
        }
    }
    Ok(progress)
}

fn print_header(detailed: bool) {
    let first = if detailed {
        "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec"
    } else {
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec"
    };
    println!("{first}, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec");
}

/// Kafka's summary line.
fn summary_line(
    pattern: &str,
    start_wall: SystemTime,
    end_wall: SystemTime,
    elapsed: Duration,
    rebalance: Duration,
    progress: &Progress,
) -> String {
    let mb = progress.bytes as f64 / BYTES_PER_MB;
    let secs = elapsed.as_secs_f64().max(1e-6);
    let fetch = elapsed.saturating_sub(rebalance);
    let fetch_secs = fetch.as_secs_f64().max(1e-6);
    format!(
        "{}, {}, {mb:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        date_format::format(pattern, start_wall),
        date_format::format(pattern, end_wall),
        mb / secs,
        progress.messages,
        progress.messages as f64 / secs,
        rebalance.as_millis(),
        fetch.as_millis(),
        mb / fetch_secs,
        progress.messages as f64 / fetch_secs,
    )
}

/// Kafka's `--show-detailed-stats` line for the interval that ends at `wall`.
fn detailed_line(
    pattern: &str,
    wall: SystemTime,
    interval: Duration,
    rebalance: Duration,
    progress: &Progress,
    messages_before: u64,
    bytes_before: u64,
) -> String {
    let mb = progress.bytes as f64 / BYTES_PER_MB;
    let interval_mb = (progress.bytes - bytes_before) as f64 / BYTES_PER_MB;
    let interval_messages = (progress.messages - messages_before) as f64;
    let secs = interval.as_secs_f64().max(1e-6);
    let fetch = interval.saturating_sub(rebalance);
    let fetch_secs = fetch.as_secs_f64().max(1e-6);
    format!(
        "{}, 0, {mb:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        date_format::format(pattern, wall),
        interval_mb / secs,
        progress.messages,
        interval_messages / secs,
        rebalance.as_millis(),
        fetch.as_millis(),
        interval_mb / fetch_secs,
        interval_messages / fetch_secs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn the_summary_has_kafkas_columns() {
        let start = UNIX_EPOCH + Duration::from_millis(1_709_211_909_042);
        let progress = Progress { messages: 1_000_000, bytes: 100_000_000 };
        let line = summary_line(
            "yyyy-MM-dd HH:mm:ss:SSS",
            start,
            start + Duration::from_millis(2000),
            Duration::from_millis(2000),
            Duration::ZERO,
            &progress,
        );
        assert_eq!(
            line,
            "2024-02-29 13:05:09:042, 2024-02-29 13:05:11:042, 95.3674, 47.6837, 1000000, 500000.0000, 0, 2000, 47.6837, 500000.0000"
        );
        assert_eq!(line.split(", ").count(), 10);
    }

    #[test]
    fn flags_parse_like_kafka() {
        let args = ConsumerPerfArgs::try_parse_from([
            "kafka-consumer-perf-test", "--bootstrap-server", "h:1", "--topic", "t", "--messages", "10",
            "--threads", "1", "--show-detailed-stats", "--timeout", "500",
        ])
        .unwrap();
        assert_eq!(args.timeout, 500);
        let (config, group) = client_config(&args, "h:1").unwrap();
        assert_eq!(group, None);
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("max.partition.fetch.bytes"), Some("1048576"));
        assert!(ConsumerPerfArgs::try_parse_from(["c", "--bootstrap-server", "h:1", "--topic", "t"]).is_err());
    }

    #[test]
    fn a_properties_file_passes_librdkafka_properties_through() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("consumer.properties");
        std::fs::write(&file, "queued.min.messages=5000\n").unwrap();
        let args = ConsumerPerfArgs::try_parse_from([
            "c", "--bootstrap-server", "h:1", "--topic", "t", "--messages", "1", "--consumer.config", file.to_str().unwrap(),
        ])
        .unwrap();
        let (config, _) = client_config(&args, "h:1").unwrap();
        assert_eq!(config.get("queued.min.messages"), Some("5000"));
    }
}
