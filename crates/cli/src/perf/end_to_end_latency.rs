//! `spool perf e2e`: end-to-end latency from produce to consume (Kafka's
//! `EndToEndLatency`).
//!
//! ```text
//! spool perf e2e --bootstrap-server H:P --topic T --num-records N --record-size B
//!     [--acks all|1] [--throughput R] [--producer-props K=V ...] [--consumer-props K=V ...]
//! ```
//!
//! Each record carries its number and its send time (16 bytes, the rest of
//! `--record-size` is filler); a consumer assigned to every partition at its end
//! offset takes it back, and the time from send to receipt goes into a histogram.
//! Both clients run in this process, so one monotonic clock times both ends.
//!
//! - Without `--throughput` (Kafka's mode) one record is in flight at a time: send,
//!   consume it, wait for its acknowledgement, next. Kafka's tool prints
//!   `i<TAB>latency ms` every 1000 records and then
//!   `Avg latency: X ms` and `Percentiles: 50th = A, 99th = B, 99.9th = C` (whole ms).
//! - With `--throughput R` a sender thread paces records at `R` per second while this
//!   thread consumes, measuring latency under a steady load (an open loop: a slow
//!   broker cannot slow the sender down and hide its latency).
//!
//! One unmeasured record makes the round trip first (it stays in the topic), so
//! connection set-up and the consumer's first fetch are not in the numbers.
//!
//! Unlike Kafka's tool, the latency is send → receipt, not send → acknowledgement →
//! receipt, and the consumer keeps librdkafka's `fetch.wait.max.ms` (500 ms) unless told
//! otherwise: a broker must wake a waiting fetch when the record arrives for the
//! latency to be low. The last line adds exact percentiles in microseconds:
//! `Percentiles (us): 50th = …, 95th = …, 99th = …, 99.9th = …, max = …`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::client_context::ToolContext;
use crate::connection_args::{apply_java_properties, load_properties, parse_key_value, probe_bootstrap, BootstrapArgs};

use super::latency_stats::LatencyHistogram;
use super::payload::{time_seed, Payloads, RECORD_SIZE_MAX};
use super::throughput_throttler::{wait_until, ThroughputThrottler};

/// Bytes of a record that carry its number and send time.
const STAMP_BYTES: usize = 16;
/// How long metadata may take per request at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-address TCP connect limit of the start-up probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait between metadata checks while the topic is being created.
const TOPIC_WAIT_INTERVAL: Duration = Duration::from_millis(200);
/// Longest single wait in a poll loop.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// A progress line every this many records, as in Kafka.
const PROGRESS_EVERY: u64 = 1000;
/// Wait for the local queue to drain when librdkafka says it is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(1);
/// The record number of the unmeasured warm-up record.
const WARM_UP: u64 = u64::MAX;

/// Measure the end-to-end latency of records (Kafka's EndToEndLatency).
#[derive(Parser, Debug)]
#[command(name = "kafka-e2e-latency", version, about = "Measure the end-to-end latency from producer to consumer.")]
pub(crate) struct EndToEndArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// REQUIRED: the topic to produce to and consume from (created if the broker
    /// auto-creates topics)
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// REQUIRED: how many records to time
    #[arg(long = "num-records", value_name = "N")]
    num_records: u64,
    /// REQUIRED: bytes per record (at least 16: number and send time)
    #[arg(long = "record-size", value_name = "BYTES")]
    record_size: usize,
    /// The producer's acks: all (default, as -1) or 1
    #[arg(long, value_name = "ACKS", allow_hyphen_values = true, value_parser = ["all", "-1", "1"])]
    acks: Option<String>,
    /// Send at this many records/sec from a second thread instead of one at a time
    #[arg(long, value_name = "RECORDS/SEC")]
    throughput: Option<f64>,
    /// Producer properties (Java names are mapped to librdkafka's)
    #[arg(long = "producer-props", value_name = "PROP-NAME=PROP-VALUE", num_args = 1.., value_parser = parse_key_value)]
    producer_props: Vec<(String, String)>,
    /// Consumer properties (Java names are mapped to librdkafka's)
    #[arg(long = "consumer-props", value_name = "PROP-NAME=PROP-VALUE", num_args = 1.., value_parser = parse_key_value)]
    consumer_props: Vec<(String, String)>,
    /// A properties file for both clients (the props flags win)
    #[arg(long = "command-config", value_name = "CONFIG-FILE")]
    command_config: Option<PathBuf>,
    /// Give up when a record has not come back after this many ms
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    timeout: u64,
}

/// Runs the tool; returns the process exit code.
pub(crate) fn run(args: EndToEndArgs) -> i32 {
    match measure(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn configs(args: &EndToEndArgs, bootstrap: &str) -> Result<(ClientConfig, ClientConfig)> {
    let common = match &args.command_config {
        Some(path) => load_properties(path)?,
        None => Vec::new(),
    };
    let mut producer = ClientConfig::new();
    producer.set("client.id", "e2e-latency-producer").set("acks", "all").set("linger.ms", "0");
    apply_java_properties(&mut producer, &common);
    apply_java_properties(&mut producer, &args.producer_props);
    if let Some(acks) = &args.acks {
        producer.set("acks", acks);
    }
    producer.set("bootstrap.servers", bootstrap);

    let mut consumer = ClientConfig::new();
    consumer
        .set("client.id", "e2e-latency-consumer")
        // Never joined: the partitions are assigned directly.
        .set("group.id", format!("e2e-latency-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_uncommitted");
    apply_java_properties(&mut consumer, &common);
    apply_java_properties(&mut consumer, &args.consumer_props);
    consumer.set("bootstrap.servers", bootstrap);
    Ok((producer, consumer))
}

fn measure(args: &EndToEndArgs) -> Result<()> {
    if args.record_size < STAMP_BYTES || args.record_size > RECORD_SIZE_MAX {
        bail!("--record-size must be between {STAMP_BYTES} and {RECORD_SIZE_MAX} bytes");
    }
    let bootstrap = args.bootstrap.resolve(false)?;
    let (producer_config, consumer_config) = configs(args, &bootstrap)?;
    let producer: BaseProducer<ToolContext> =
        BaseProducer::from_config_and_context(&producer_config, ToolContext::default()).context("invalid producer configuration")?;
    let consumer: BaseConsumer<ToolContext> =
        BaseConsumer::from_config_and_context(&consumer_config, ToolContext::default()).context("invalid consumer configuration")?;
    probe_bootstrap(&bootstrap, PROBE_TIMEOUT)?;
    // The producer's metadata request may create the topic (librdkafka's consumer does
    // not ask for that).
    producer
        .client()
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .with_context(|| format!("could not fetch metadata from {bootstrap}"))?;
    assign_at_end(&consumer, &args.topic)?;
    producer.context().set_running();
    consumer.context().set_running();

    let timeout = Duration::from_millis(args.timeout);
    let epoch = Instant::now();
    let filler = match Payloads::random_fixed(args.record_size - STAMP_BYTES, time_seed())? {
        Payloads::Fixed(bytes) => bytes,
        _ => Vec::new(),
    };
    let mut template = vec![0u8; STAMP_BYTES];
    template.extend_from_slice(&filler);
    warm_up(&producer, &consumer, &args.topic, epoch, &mut template, timeout)?;
    let histogram = match args.throughput {
        None => one_at_a_time(&producer, &consumer, args, epoch, template, timeout)?,
        Some(rate) => paced(producer, &consumer, args, rate, epoch, template, timeout)?,
    };
    print_summary(&histogram);
    Ok(())
}

/// Assigns every partition of `topic` at its current end offset, read explicitly so no
/// record sent after this returns can be skipped.
fn assign_at_end(consumer: &BaseConsumer<ToolContext>, topic: &str) -> Result<()> {
    let deadline = Instant::now() + METADATA_TIMEOUT;
    let partitions = loop {
        let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT).map_err(|e| anyhow!("could not fetch metadata: {e}"))?;
        let found = metadata.topics().iter().find(|t| t.name() == topic).filter(|t| t.error().is_none() && !t.partitions().is_empty());
        if let Some(t) = found {
            break t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>();
        }
        if Instant::now() >= deadline {
            bail!("topic {topic} does not exist (create it, or let the broker auto-create topics)");
        }
        std::thread::sleep(TOPIC_WAIT_INTERVAL);
    };
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, METADATA_TIMEOUT)
            .map_err(|e| anyhow!("could not read the end offset of {topic}-{p}: {e}"))?;
        assignment.add_partition_offset(topic, p, Offset::Offset(high))?;
    }
    consumer.assign(&assignment).context("assigning partitions")?;
    Ok(())
}

/// Writes the record number and the send time (ns since `epoch`) into `payload`.
fn stamp(payload: &mut [u8], number: u64, epoch: Instant) {
    payload[..8].copy_from_slice(&number.to_be_bytes());
    let sent_ns = epoch.elapsed().as_nanos() as u64;
    payload[8..16].copy_from_slice(&sent_ns.to_be_bytes());
}

/// The record number and send time of a payload written by [`stamp`].
fn read_stamp(payload: &[u8], epoch: Instant) -> Option<(u64, Instant)> {
    let number = u64::from_be_bytes(payload.get(..8)?.try_into().ok()?);
    let sent_ns = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((number, epoch + Duration::from_nanos(sent_ns)))
}

fn send(producer: &BaseProducer<ToolContext>, topic: &str, payload: &[u8]) -> Result<()> {
    let mut record = BaseRecord::<[u8], [u8], ()>::to(topic).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(QUEUE_FULL_WAIT);
            }
            Err((e, _)) => return Err(anyhow::Error::new(e).context(format!("could not send to topic {topic}"))),
        }
    }
}

fn check_deliveries(producer: &BaseProducer<ToolContext>) -> Result<()> {
    let context = producer.context();
    if context.failed() > 0 {
        bail!("a record was not delivered: {}", context.first_failure().unwrap_or_default());
    }
    Ok(())
}

/// Sends one unmeasured record and waits until it is consumed and acknowledged.
fn warm_up(
    producer: &BaseProducer<ToolContext>,
    consumer: &BaseConsumer<ToolContext>,
    topic: &str,
    epoch: Instant,
    payload: &mut [u8],
    timeout: Duration,
) -> Result<()> {
    stamp(payload, WARM_UP, epoch);
    send(producer, topic, payload)?;
    let deadline = Instant::now() + timeout;
    loop {
        producer.poll(Duration::ZERO);
        check_deliveries(producer)?;
        if let Some(Ok(message)) = consumer.poll(POLL_INTERVAL) {
            if message.payload().and_then(|p| read_stamp(p, epoch)).is_some_and(|(n, _)| n == WARM_UP) {
                break;
            }
        }
        if Instant::now() >= deadline {
            bail!("the warm-up record did not come back within {} ms", timeout.as_millis());
        }
    }
    while producer.context().delivered() == 0 {
        check_deliveries(producer)?;
        if Instant::now() >= deadline {
            bail!("the warm-up record was not acknowledged within {} ms", timeout.as_millis());
        }
        producer.poll(Duration::from_millis(1));
    }
    Ok(())
}

/// Kafka's mode: one record in flight at a time.
fn one_at_a_time(
    producer: &BaseProducer<ToolContext>,
    consumer: &BaseConsumer<ToolContext>,
    args: &EndToEndArgs,
    epoch: Instant,
    mut payload: Vec<u8>,
    timeout: Duration,
) -> Result<LatencyHistogram> {
    let mut histogram = LatencyHistogram::new();
    for number in 0..args.num_records {
        stamp(&mut payload, number, epoch);
        send(producer, &args.topic, &payload)?;
        producer.poll(Duration::ZERO);
        let deadline = Instant::now() + timeout;
        let latency = loop {
            let wait = deadline.saturating_duration_since(Instant::now()).min(POLL_INTERVAL);
            match consumer.poll(wait) {
                Some(Ok(message)) => {
                    let received = Instant::now();
                    match message.payload().and_then(|p| read_stamp(p, epoch)) {
                        Some((n, sent)) if n == number => break received.saturating_duration_since(sent),
                        // A record of an earlier, timed-out round: skip it.
                        Some((n, _)) if n < number || n == WARM_UP => {}
                        _ => bail!("consumed a record this run did not send at offset {} of partition {}", message.offset(), message.partition()),
                    }
                }
                Some(Err(e)) => tracing::warn!("{e}"),
                None => {}
            }
            check_deliveries(producer)?;
            if Instant::now() >= deadline {
                bail!("record {number} did not come back within {} ms", args.timeout);
            }
            producer.poll(Duration::ZERO);
        };
        histogram.record(latency);
        // The warm-up record was the first acknowledgement.
        while producer.context().delivered() + producer.context().failed() <= number + 1 {
            if Instant::now() >= deadline {
                bail!("record {number} was not acknowledged within {} ms", args.timeout);
            }
            producer.poll(Duration::from_millis(1));
        }
        check_deliveries(producer)?;
        if number % PROGRESS_EVERY == 0 {
            println!("{number}\t{}", latency.as_secs_f64() * 1000.0);
        }
    }
    Ok(histogram)
}

/// Open loop: a sender thread paces records at `rate`; this thread consumes them.
fn paced(
    producer: BaseProducer<ToolContext>,
    consumer: &BaseConsumer<ToolContext>,
    args: &EndToEndArgs,
    rate: f64,
    epoch: Instant,
    mut payload: Vec<u8>,
    timeout: Duration,
) -> Result<LatencyHistogram> {
    let throttler = ThroughputThrottler::new(rate, Instant::now()).map_err(anyhow::Error::msg)?;
    let count = args.num_records;
    let topic = args.topic.as_str();
    std::thread::scope(|scope| {
        let sender = scope.spawn(move || -> Result<(u64, Duration)> {
            let start = Instant::now();
            for number in 0..count {
                if let Some(due) = throttler.due(number) {
                    wait_until(due, |wait| producer.poll(wait));
                }
                stamp(&mut payload, number, epoch);
                send(&producer, topic, &payload)?;
                producer.poll(Duration::ZERO);
            }
            let sent_in = start.elapsed();
            producer.flush(timeout).context("flushing the producer")?;
            check_deliveries(&producer)?;
            Ok((count, sent_in))
        });
        let mut histogram = LatencyHistogram::new();
        let mut last_record = Instant::now();
        let mut next_progress = PROGRESS_EVERY;
        while histogram.count() < count {
            match consumer.poll(POLL_INTERVAL) {
                Some(Ok(message)) => {
                    let received = Instant::now();
                    let Some((number, sent)) = message.payload().and_then(|p| read_stamp(p, epoch)) else {
                        bail!("consumed a record this run did not send at offset {} of partition {}", message.offset(), message.partition());
                    };
                    if number == WARM_UP {
                        continue;
                    }
                    let latency = received.saturating_duration_since(sent);
                    histogram.record(latency);
                    last_record = received;
                    if histogram.count() >= next_progress {
                        next_progress += PROGRESS_EVERY;
                        println!("{}\t{}", histogram.count(), latency.as_secs_f64() * 1000.0);
                    }
                }
                Some(Err(e)) => tracing::warn!("{e}"),
                None => {
                    if sender.is_finished() || last_record.elapsed() > timeout {
                        break;
                    }
                }
            }
        }
        let (sent, sent_in) = sender.join().map_err(|_| anyhow!("the sender thread panicked"))??;
        if histogram.count() < count {
            bail!("{} of {count} records came back within {} ms of the previous one", histogram.count(), args.timeout);
        }
        println!("{sent} records sent at {:.1} records/sec", sent as f64 / sent_in.as_secs_f64().max(1e-6));
        Ok(histogram)
    })
}

fn print_summary(histogram: &LatencyHistogram) {
    let ms = |q: f64| histogram.quantile_us(q) / 1000;
    println!("Avg latency: {:.4} ms", histogram.mean_us() / 1000.0);
    println!("Percentiles: 50th = {}, 99th = {}, 99.9th = {}", ms(0.5), ms(0.99), ms(0.999));
    println!(
        "Percentiles (us): 50th = {}, 95th = {}, 99th = {}, 99.9th = {}, max = {}",
        histogram.quantile_us(0.5),
        histogram.quantile_us(0.95),
        histogram.quantile_us(0.99),
        histogram.quantile_us(0.999),
        histogram.max_us()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let epoch = Instant::now();
        let mut payload = vec![b'x'; 32];
        stamp(&mut payload, 42, epoch);
        let (n, sent) = read_stamp(&payload, epoch).unwrap();
        assert_eq!(n, 42);
        assert!(sent >= epoch && sent <= Instant::now());
        assert!(read_stamp(&payload[..10], epoch).is_none());
    }

    #[test]
    fn acks_flag_wins_over_properties() {
        let args = EndToEndArgs::try_parse_from([
            "e2e", "--bootstrap-server", "h:1", "--topic", "t", "--num-records", "10", "--record-size", "100",
            "--acks", "1", "--producer-props", "acks=all", "linger.ms=1", "--consumer-props", "fetch.max.wait.ms=0",
        ])
        .unwrap();
        let (producer, consumer) = configs(&args, "h:1").unwrap();
        assert_eq!(producer.get("acks"), Some("1"));
        assert_eq!(producer.get("linger.ms"), Some("1"));
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("0"));
    }
}
