//! `spool console-producer` / `kafka-console-producer`: each stdin line is one record.
//!
//! ```text
//! cat alerts.txt | kafka-console-producer --bootstrap-server HOST:PORT --topic T
//! ```
//!
//! Lines are parsed by Kafka's [`LineMessageReader`] rules (`--property parse.key=true`
//! …) and sent with librdkafka. At end of input everything is flushed; the exit code is
//! 0 only if every record was acknowledged. An unreachable cluster is reported at
//! once; a record is given up after `message.timeout.ms` (30 s here unless set), so
//! the tool never hangs on a dead broker. SIGINT/SIGTERM flush what was read, then exit.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

use crate::client_context::ToolContext;
use crate::connection_args::{apply_java_properties, load_properties, parse_key_value, probe_bootstrap, BootstrapArgs};
use crate::line_reader::LineMessageReader;
use crate::signals;

/// How long metadata of the topic may take at start-up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-address TCP connect limit of the start-up probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Delivery limit per record unless `message.timeout.ms`/`delivery.timeout.ms` is set.
const MESSAGE_TIMEOUT_MS_DEFAULT: &str = "30000";
/// Longest line accepted (librdkafka's default `message.max.bytes` is 1 MB; this only
/// keeps a runaway input without newlines from eating memory).
const LINE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Read data from standard input and publish it to Kafka.
#[derive(Parser, Debug)]
#[command(name = "kafka-console-producer", version, about = "Read data from standard input and publish it to Kafka.")]
pub(crate) struct ProducerArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// REQUIRED: the topic to produce messages to
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// A line-reader property: parse.key, key.separator, parse.headers,
    /// headers.delimiter, headers.separator, headers.key.separator, ignore.error,
    /// null.marker (repeatable)
    #[arg(long = "property", visible_alias = "reader-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    property: Vec<(String, String)>,
    /// A producer property, e.g. acks=all (repeatable; librdkafka names, Java names mapped)
    #[arg(long = "producer-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    producer_property: Vec<(String, String)>,
    /// A producer properties file
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// The acks of produce requests: all, -1, 0 or 1
    #[arg(long = "request-required-acks", value_name = "ACKS", allow_hyphen_values = true,
          value_parser = ["all", "-1", "0", "1"])]
    request_required_acks: Option<String>,
    /// Compression codec: none, gzip, snappy, lz4 or zstd (gzip if given without a value)
    #[arg(long = "compression-codec", value_name = "CODEC", num_args = 0..=1, default_missing_value = "gzip",
          value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    compression_codec: Option<String>,
    /// Send each record synchronously (wait for its acknowledgement before reading on)
    #[arg(long)]
    sync: bool,
    /// How long a record may wait to be batched, in ms (linger.ms)
    #[arg(long = "timeout", value_name = "MS")]
    linger_ms: Option<u64>,
    /// Batch size in bytes (batch.size)
    #[arg(long = "batch-size", value_name = "BYTES")]
    batch_size: Option<u64>,
    /// How long the broker may take to answer a produce request (request.timeout.ms)
    #[arg(long = "request-timeout-ms", value_name = "MS")]
    request_timeout_ms: Option<u64>,
    /// How often a failed send is retried (retries)
    #[arg(long = "message-send-max-retries", value_name = "N")]
    message_send_max_retries: Option<u64>,
    /// Wait between retries in ms (retry.backoff.ms)
    #[arg(long = "retry-backoff-ms", value_name = "MS")]
    retry_backoff_ms: Option<u64>,
}

/// Runs the producer; returns the process exit code.
pub(crate) fn run(args: ProducerArgs) -> i32 {
    match produce(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn client_config(args: &ProducerArgs, bootstrap: &str) -> Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "console-producer")
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS_DEFAULT);
    if let Some(path) = &args.producer_config {
        apply_java_properties(&mut config, &load_properties(path)?);
    }
    apply_java_properties(&mut config, &args.producer_property);
    // Explicit flags win over properties, as in Kafka's ConsoleProducer.
    let flags = [
        ("acks", args.request_required_acks.clone()),
        ("compression.type", args.compression_codec.clone()),
        ("linger.ms", args.linger_ms.map(|v| v.to_string())),
        ("batch.size", args.batch_size.map(|v| v.to_string())),
        ("request.timeout.ms", args.request_timeout_ms.map(|v| v.to_string())),
        ("retries", args.message_send_max_retries.map(|v| v.to_string())),
        ("retry.backoff.ms", args.retry_backoff_ms.map(|v| v.to_string())),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            config.set(key, value);
        }
    }
    Ok(config)
}

fn produce(args: &ProducerArgs) -> Result<i32> {
    let reader = LineMessageReader::from_properties(&args.property).map_err(|e| anyhow!(e))?;
    let bootstrap = args.bootstrap.resolve(true)?;
    let config = client_config(args, &bootstrap)?;
    let producer: ThreadedProducer<ToolContext> =
        ThreadedProducer::from_config_and_context(&config, ToolContext::default())
            .context("invalid producer configuration")?;

    probe_bootstrap(&bootstrap, PROBE_TIMEOUT)?;
    producer
        .client()
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .with_context(|| format!("could not fetch metadata from {bootstrap}"))?;
    producer.context().set_running();

    let on_signal = producer.clone();
    signals::on_termination(move |signal| {
        let _ = on_signal.flush(Duration::from_secs(10));
        std::process::exit(signals::exit_code_for(signal));
    });

    let outcome = send_lines(&producer, &reader, args);
    producer.flush(Timeout::Never).context("flushing the producer")?;
    let failed = producer.context().failed();
    outcome?;
    if failed > 0 {
        let first = producer.context().first_failure().unwrap_or_default();
        eprintln!(
            "error: {failed} of {} messages could not be delivered (first error: {first})",
            failed + producer.context().delivered()
        );
        return Ok(1);
    }
    Ok(0)
}

/// Reads stdin to the end, sending one record per line.
fn send_lines(producer: &ThreadedProducer<ToolContext>, reader: &LineMessageReader, args: &ProducerArgs) -> Result<()> {
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        if prompt {
            print!(">");
            let _ = std::io::stdout().flush();
        }
        line.clear();
        let read = (&mut input).take(LINE_BYTES_MAX as u64 + 1).read_until(b'\n', &mut line).context("reading stdin")?;
        if read == 0 {
            return Ok(());
        }
        if line.len() > LINE_BYTES_MAX {
            anyhow::bail!("line {} is longer than {LINE_BYTES_MAX} bytes", number + 1);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        number += 1;
        let record = reader.parse(&line, number).map_err(|e| anyhow!(e))?;
        send(producer, &args.topic, record)?;
        if args.sync {
            producer.flush(Timeout::Never).context("flushing the producer")?;
        }
    }
}

fn send(producer: &ThreadedProducer<ToolContext>, topic: &str, record: crate::line_reader::LineRecord) -> Result<()> {
    let mut base = BaseRecord::<[u8], [u8], ()>::with_opaque_to(topic, ());
    if let Some(key) = record.key.as_deref() {
        base = base.key(key);
    }
    if let Some(value) = record.value.as_deref() {
        base = base.payload(value);
    }
    if !record.headers.is_empty() {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header { key: key.as_str(), value: value.as_deref() });
        }
        base = base.headers(headers);
    }
    loop {
        match producer.send(base) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                // The local queue is full: let deliveries drain, then retry.
                base = returned;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(anyhow!(e).context(format!("could not send to topic {topic}"))),
        }
    }
}
