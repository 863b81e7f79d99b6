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
//! librdkafka's. The sending thread also takes the delivery reports from librdkafka's
//! queue ([`super::delivery_queue`]), so they cost no thread hand-off. The exit code is 1 if
//! any record was not delivered.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Parser};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::ClientConfig;

use crate::connection_args::{
    apply_java_properties, load_properties, normalize_server_list, parse_key_value, probe_bootstrap,
};

use super::delivery_queue::{Delivered, DeliveryQueue};
use super::latency_stats::ProducerStats;
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
/// Wait for the last delivery reports, between two checks that any is left.
const FLUSH_WAIT: Duration = Duration::from_millis(100);
/// Records sent back to back with one reading of the clock (see [`Measurement`]).
const SENDS_PER_STAMP: u32 = 16;
/// How many delivery failures are printed one by one before only counting.
const DELIVERY_FAILURES_PRINTED_MAX: u64 = 10;

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
        BaseProducer::from_config_and_context(&config, PerfProducerContext::default())
            .context("invalid producer configuration")?;
    probe_bootstrap(&bootstrap, PROBE_TIMEOUT)?;
    producer
        .client()
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .with_context(|| format!("could not fetch metadata from {bootstrap}"))?;

    producer.context().set_running();
    let topic = TopicSender::new(&producer, &args.topic)?;
    let mut deliveries = DeliveryQueue::new(&producer)?;
    let mut run = Measurement::new(reporting_interval);
    let throttler = ThroughputThrottler::new(args.throughput, Instant::now()).map_err(anyhow::Error::msg)?;
    for index in 0..args.num_records {
        if let Some(due) = throttler.due(index) {
            wait_until(due, |wait| run.serve(&mut deliveries, wait));
        }
        send(&topic, &mut deliveries, &mut run, payloads.next(index))
            .with_context(|| format!("could not send to topic {}", args.topic))?;
        if index % SENDS_PER_POLL == 0 {
            run.serve(&mut deliveries, Duration::ZERO);
        }
    }
    // librdkafka's flush does not serve the queue of a client that takes its delivery
    // reports as events: it only says whether any is left.
    loop {
        match producer.flush(Duration::ZERO) {
            Ok(()) => break,
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => run.serve(&mut deliveries, FLUSH_WAIT),
            Err(e) => return Err(e).context("flushing the producer"),
        }
    }
    println!("{}", run.stats.total_line(Instant::now()));
    if run.failed > 0 {
        eprintln!("error: {} of {} records could not be delivered", run.failed, args.num_records);
        return Ok(1);
    }
    Ok(0)
}

fn send(
    topic: &TopicSender<'_>,
    deliveries: &mut DeliveryQueue<'_, PerfProducerContext>,
    run: &mut Measurement,
    payload: &[u8],
) -> Result<()> {
    let stamp = run.send_stamp();
    loop {
        match topic.send(payload, stamp) {
            Ok(()) => return Ok(()),
            Err(RDKafkaErrorCode::QueueFull) => {
                // librdkafka's queue is full: serve deliveries, then retry the same record
                // (its latency counts from the first attempt, as in Kafka's blocking send).
                run.serve(deliveries, QUEUE_FULL_WAIT);
            }
            Err(code) => return Err(code.into()),
        }
    }
}

/// The sending thread's account of the run: statistics of the acknowledged records,
/// failures, and the send time stamped on records.
///
/// Each record's delivery opaque is its send time in nanoseconds since `epoch`, so
/// timing a record allocates nothing. The clock is read once per
/// [`SENDS_PER_STAMP`] records sent back to back, and again after anything that can
/// wait (serving the delivery queue): a record's latency then counts from at most a few
/// microseconds before its own send, never from after it. Acknowledgements are timed
/// once per delivery report, as all its records were acknowledged by one response.
struct Measurement {
    epoch: Instant,
    stats: ProducerStats,
    failed: u64,
    /// Nanoseconds since `epoch` when the clock was last read for a send.
    stamp: usize,
    /// Records sent with `stamp` so far.
    stamped: u32,
}

impl Measurement {
    fn new(reporting_interval: Duration) -> Self {
        let epoch = Instant::now();
        Measurement { epoch, stats: ProducerStats::new(epoch, reporting_interval), failed: 0, stamp: 0, stamped: SENDS_PER_STAMP }
    }

    /// The delivery opaque of a record sent now.
    fn send_stamp(&mut self) -> usize {
        if self.stamped >= SENDS_PER_STAMP {
            self.stamp = self.epoch.elapsed().as_nanos() as usize;
            self.stamped = 0;
        }
        self.stamped += 1;
        self.stamp
    }

    /// Serves one event of `deliveries`, waiting up to `timeout` for it.
    fn serve(&mut self, deliveries: &mut DeliveryQueue<'_, PerfProducerContext>, timeout: Duration) {
        deliveries.serve(timeout, |now, delivered| self.delivered(now, delivered));
        self.waited();
    }

    /// Time may have passed since the last send: the next one reads the clock again.
    fn waited(&mut self) {
        self.stamped = SENDS_PER_STAMP;
    }

    fn delivered(&mut self, now: Instant, delivered: Delivered) {
        if let Some(error) = delivered.error {
            // Kafka prints the exception and does not count the record as sent.
            self.failed += 1;
            if self.failed <= DELIVERY_FAILURES_PRINTED_MAX {
                eprintln!("error: a record was not delivered: {error}");
            } else if self.failed == DELIVERY_FAILURES_PRINTED_MAX + 1 {
                eprintln!("error: more delivery failures; counting them without printing each");
            }
            return;
        }
        let sent = self.epoch + Duration::from_nanos(delivered.opaque as u64);
        if let Some(line) = self.stats.record(now.saturating_duration_since(sent), delivered.payload_len, now) {
            println!("{line}");
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
    fn a_send_stamp_is_shared_by_back_to_back_sends_only() {
        let mut run = Measurement::new(Duration::from_secs(5));
        let first = run.send_stamp();
        std::thread::sleep(Duration::from_millis(2));
        for _ in 1..SENDS_PER_STAMP {
            assert_eq!(run.send_stamp(), first, "sent back to back with the first");
        }
        let next = run.send_stamp();
        assert!(next >= first + 2_000_000, "the clock is read again after {SENDS_PER_STAMP} sends");
        std::thread::sleep(Duration::from_millis(2));
        run.waited();
        assert!(run.send_stamp() >= next + 2_000_000, "and after a wait");
    }

    #[test]
    fn a_delivery_is_timed_from_its_stamp_and_a_failure_is_not_counted() {
        let mut run = Measurement::new(Duration::from_secs(5));
        let stamp = run.send_stamp();
        let sent = run.epoch + Duration::from_nanos(stamp as u64);
        run.delivered(sent + Duration::from_millis(7), Delivered { error: None, opaque: stamp, payload_len: 100 });
        run.delivered(
            sent + Duration::from_millis(9),
            Delivered { error: Some(RDKafkaErrorCode::MessageSizeTooLarge), opaque: stamp, payload_len: 100 },
        );
        assert_eq!((run.stats.count(), run.failed), (1, 1));
        let line = run.stats.total_line(sent + Duration::from_secs(1));
        assert!(line.starts_with("1 records sent, "), "{line}");
        assert!(line.contains(", 7.00 ms avg latency, 7.00 ms max latency, 7 ms 50th"), "{line}");
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
