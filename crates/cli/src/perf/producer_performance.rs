//! `spool perf produce` / `kafka-producer-perf-test`: producer throughput and latency.
//!
//! ```text
//! kafka-producer-perf-test --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
//!     --throughput R|-1 [--producer-props K=V ...] [--producer.config FILE] [--bootstrap-server H:P]
//! ```
//!
//! Sends `N` records as fast as librdkafka takes them (or paced to `R` records/s) and
//! times each from `send` to its delivery report. Every `--reporting-interval` ms (5 s)
//! it prints Kafka's progress line, and at the end its final line:
//!
//! ```text
//! 1000000 records sent, 212314.225053 records/sec (20.25 MB/sec), 41.08 ms avg latency, 350.00 ms max latency, 36 ms 50th, 89 ms 95th, 111 ms 99th, 350 ms 99.9th.
//! ```
//!
//! As in Kafka, the servers may come from `--bootstrap-server` or from
//! `bootstrap.servers` in the properties; properties use Java names (mapped) or
//! librdkafka's. The librdkafka producer is a `BaseProducer` polled by the sending
//! thread itself, so delivery callbacks cost no thread hand-off. The exit code is 1 if
//! any record was not delivered.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Parser};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

use crate::connection_args::{
    apply_java_properties, load_properties, normalize_server_list, parse_key_value, probe_bootstrap,
};

use super::payload::{time_seed, Payloads};
use super::perf_context::PerfProducerContext;
use super::throughput_throttler::{wait_until, ThroughputThrottler};
use super::topic_sender::TopicSender;

/// How long metadata of the topic may take at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-address TCP connect limit of the start-up probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Records sent between two polls for delivery reports when sending flat out.
const SENDS_PER_POLL: u64 = 256;
/// Wait for the local queue to drain when librdkafka says it is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(1);

/// Verify the producer performance (Kafka's ProducerPerformance).
#[derive(Parser, Debug)]
#[command(
    name = "kafka-producer-perf-test",
    version,
    about = "This tool is used to verify the producer performance.",
    group(ArgGroup::new("payload").required(true).multiple(false)
        .args(["record_size", "payload_file", "payload_monotonic"]))
)]
pub(crate) struct ProducerPerfArgs {
    /// The server(s) to connect to, HOST:PORT[,HOST:PORT...] (or bootstrap.servers in
    /// --producer-props / --producer.config)
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Produce records to this topic
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Number of records to produce
    #[arg(long = "num-records", value_name = "NUM-RECORDS")]
    num_records: u64,
    /// Record size in bytes
    #[arg(long = "record-size", value_name = "RECORD-SIZE")]
    record_size: Option<usize>,
    /// File to read the record payloads from (split at --payload-delimiter); a random
    /// one is sent each time
    #[arg(long = "payload-file", value_name = "PAYLOAD-FILE")]
    payload_file: Option<PathBuf>,
    /// Payload is the record's number in decimal (0, 1, 2, ...)
    #[arg(long = "payload-monotonic")]
    payload_monotonic: bool,
    /// Delimiter of the payloads in --payload-file
    #[arg(long = "payload-delimiter", value_name = "PAYLOAD-DELIMITER", default_value = "\\n")]
    payload_delimiter: String,
    /// Throttle to approximately THROUGHPUT records/sec; -1 disables throttling
    #[arg(long, value_name = "THROUGHPUT", allow_negative_numbers = true)]
    throughput: f64,
    /// Producer properties, e.g. acks=1 linger.ms=5 (Java names are mapped to librdkafka's)
    #[arg(long = "producer-props", value_name = "PROP-NAME=PROP-VALUE", num_args = 1.., value_parser = parse_key_value)]
    producer_props: Vec<(String, String)>,
    /// Producer properties file (--producer-props win)
    #[arg(long = "producer.config", value_name = "CONFIG-FILE")]
    producer_config: Option<PathBuf>,
    /// Accepted for compatibility: librdkafka has no Java metrics to print
    #[arg(long = "print-metrics")]
    print_metrics: bool,
    /// Interval between progress lines, in ms
    #[arg(long = "reporting-interval", value_name = "MS", default_value_t = 5000)]
    reporting_interval_ms: u64,
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: ProducerPerfArgs) -> i32 {
    match produce(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// The librdkafka configuration: Kafka's defaults of the tool, the properties file,
/// then `--producer-props`, then `--bootstrap-server`.
fn client_config(args: &ProducerPerfArgs) -> Result<(ClientConfig, String)> {
    let mut props = match &args.producer_config {
        Some(path) => load_properties(path)?,
        None => Vec::new(),
    };
    props.extend(args.producer_props.iter().cloned());
    let from_props = props.iter().rev().find(|(k, _)| k == "bootstrap.servers").map(|(_, v)| v.clone());
    let bootstrap = match args.bootstrap_server.as_deref().or(from_props.as_deref()) {
        Some(servers) => normalize_server_list(servers),
        None => String::new(),
    };
    if bootstrap.is_empty() {
        bail!("--bootstrap-server (or bootstrap.servers in --producer-props or --producer.config) must be specified");
    }
    let mut config = ClientConfig::new();
    config.set("client.id", "perf-producer-client");
    apply_java_properties(&mut config, &props);
    config.set("bootstrap.servers", &bootstrap);
    Ok((config, bootstrap))
}

fn payloads(args: &ProducerPerfArgs) -> Result<Payloads> {
    let seed = time_seed();
    match (&args.record_size, &args.payload_file) {
        (Some(size), _) => Payloads::random_fixed(*size, seed),
        (None, Some(path)) => Payloads::from_file(path, &args.payload_delimiter, seed),
        (None, None) => Ok(Payloads::monotonic()),
    }
}

fn produce(args: &ProducerPerfArgs) -> Result<i32> {
    let mut payloads = payloads(args)?;
    let (config, bootstrap) = client_config(args)?;
    let reporting_interval = Duration::from_millis(args.reporting_interval_ms.max(1));
    if args.print_metrics {
        eprintln!("note: --print-metrics: librdkafka has no Java client metrics; none are printed");
    }
    let producer: BaseProducer<PerfProducerContext> =
        BaseProducer::from_config_and_context(&config, PerfProducerContext::new(reporting_interval))
            .context("invalid producer configuration")?;
    probe_bootstrap(&bootstrap, PROBE_TIMEOUT)?;
    producer
        .client()
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .with_context(|| format!("could not fetch metadata from {bootstrap}"))?;

    producer.context().start(reporting_interval);
    let topic = TopicSender::new(&producer, &args.topic)?;
    let throttler = ThroughputThrottler::new(args.throughput, Instant::now()).map_err(anyhow::Error::msg)?;
    for index in 0..args.num_records {
        if let Some(due) = throttler.due(index) {
            wait_until(&producer, due);
        }
        send(&producer, &topic, payloads.next(index)).with_context(|| format!("could not send to topic {}", args.topic))?;
        if index % SENDS_PER_POLL == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Timeout::Never).context("flushing the producer")?;
    let end = Instant::now();
    if let Some(line) = producer.context().with_stats(|stats| stats.total_line(end)) {
        println!("{line}");
    }
    let failed = producer.context().failed();
    if failed > 0 {
        eprintln!("error: {failed} of {} records could not be delivered", args.num_records);
        return Ok(1);
    }
    Ok(0)
}

fn send(producer: &BaseProducer<PerfProducerContext>, topic: &TopicSender<'_>, payload: &[u8]) -> Result<()> {
    let stamp = producer.context().send_stamp();
    loop {
        match topic.send(payload, stamp) {
            Ok(()) => return Ok(()),
            Err(RDKafkaErrorCode::QueueFull) => {
                // librdkafka's queue is full: serve deliveries, then retry the same record
                // (its latency counts from the first attempt, as in Kafka's blocking send).
                producer.poll(QUEUE_FULL_WAIT);
            }
            Err(code) => return Err(code.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<ProducerPerfArgs, clap::Error> {
        ProducerPerfArgs::try_parse_from(std::iter::once("kafka-producer-perf-test").chain(argv.iter().copied()))
    }

    #[test]
    fn kafkas_classic_command_line_parses() {
        let args = parse(&[
            "--topic", "t", "--num-records", "100", "--record-size", "100", "--throughput", "-1",
            "--producer-props", "bootstrap.servers=localhost:9092", "acks=1", "linger.ms=5",
        ])
        .unwrap();
        assert_eq!(args.throughput, -1.0);
        assert_eq!(args.producer_props.len(), 3);
        let (config, bootstrap) = client_config(&args).unwrap();
        assert_eq!(bootstrap, "localhost:9092");
        assert_eq!(config.get("acks"), Some("1"));
        assert_eq!(config.get("client.id"), Some("perf-producer-client"));
    }

    #[test]
    fn the_bootstrap_flag_wins_and_one_is_required() {
        let args = parse(&[
            "--bootstrap-server", "a:1", "--topic", "t", "--num-records", "1", "--payload-monotonic",
            "--throughput", "10", "--producer-props", "bootstrap.servers=b:2",
        ])
        .unwrap();
        assert_eq!(client_config(&args).unwrap().1, "a:1");
        let args = parse(&["--topic", "t", "--num-records", "1", "--record-size", "1", "--throughput", "-1"]).unwrap();
        assert!(client_config(&args).is_err());
    }

    #[test]
    fn exactly_one_payload_source() {
        let base = ["--bootstrap-server", "a:1", "--topic", "t", "--num-records", "1", "--throughput", "-1"];
        assert!(parse(&base).is_err(), "a payload source is required");
        let mut two = base.to_vec();
        two.extend(["--record-size", "10", "--payload-monotonic"]);
        assert!(parse(&two).is_err(), "payload sources exclude each other");
    }
}
