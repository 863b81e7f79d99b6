//! The perf tools end to end against a real `spool server`: `spool perf produce`
//! (also as `kafka-producer-perf-test.sh`), `spool perf consume` (also as
//! `kafka-consumer-perf-test.sh`) and `spool perf e2e`, as real processes driving
//! librdkafka.
//!
//! These tests check counts and output shapes only. How fast anything is belongs to
//! `bench/run` and its report, never to a test.
//!
//! Run: `cargo test -p spool-cli --test perf_tools`.

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use harness::{spool_bin, unique_topic, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// Upper bound for any one tool invocation in these tests.
const LIMIT: Duration = Duration::from_secs(120);

/// What a finished tool printed.
struct Output {
    stdout: String,
    stderr: String,
}

/// Runs `program args`, killing it after [`LIMIT`]; panics unless it exits with 0.
fn run_ok(program: &Path, args: &[&str]) -> Output {
    let (status, output) = run(program, args);
    assert!(
        status.success(),
        "{} {args:?} exited with {status}\nstdout:\n{}\nstderr:\n{}",
        program.display(),
        output.stdout,
        output.stderr
    );
    output
}

/// Runs `program args`, killing it after [`LIMIT`].
fn run(program: &Path, args: &[&str]) -> (ExitStatus, Output) {
    let mut child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tool");
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} ran longer than {LIMIT:?}; stderr:\n{}", program.display(), stderr.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, Output { stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}

fn spool(args: &[&str]) -> Output {
    run_ok(&spool_bin(), args)
}

/// A link to the binary named like one of Kafka's scripts.
fn kafka_script(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(spool_bin(), &link).expect("symlink the spool binary");
    link
}

fn create_topic(broker: &Broker, topic: &str, partitions: u32) {
    spool(&["topics", "--bootstrap-server", &broker.addr, "--create", "--topic", topic, "--partitions", &partitions.to_string()]);
}

/// Records in the topic: the sum over its partitions of high minus low watermark.
fn records_in(broker: &Broker, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &broker.addr).create().expect("consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer.fetch_watermarks(topic, p, timeout).expect("watermarks");
            high - low
        })
        .sum()
}

/// Checks Kafka's final producer line and returns its record count:
/// `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency,
/// p ms 50th, p ms 95th, p ms 99th, p ms 99.9th.`
fn final_producer_line(stdout: &str) -> u64 {
    let line = stdout.lines().last().unwrap_or_default();
    let fields: Vec<&str> = line.split(", ").collect();
    assert_eq!(fields.len(), 8, "final line: {line:?}");
    let (count, rest) = fields[0].split_once(" records sent").unwrap_or_else(|| panic!("final line: {line:?}"));
    assert!(rest.is_empty(), "{line:?}");
    let (rate, mb) = fields[1].split_once(" records/sec (").expect("records/sec");
    rate.parse::<f64>().expect("a rate");
    mb.strip_suffix(" MB/sec)").expect("MB/sec").parse::<f64>().expect("MB/s");
    fields[2].strip_suffix(" ms avg latency").expect("avg latency").parse::<f64>().expect("avg");
    fields[3].strip_suffix(" ms max latency").expect("max latency").parse::<f64>().expect("max");
    for (field, name) in fields[4..].iter().zip(["50th", "95th", "99th", "99.9th."]) {
        let ms = field.strip_suffix(&format!(" ms {name}")).unwrap_or_else(|| panic!("{name} in {line:?}"));
        ms.parse::<u64>().expect("whole milliseconds");
    }
    count.parse().expect("a record count")
}

/// Checks Kafka's consumer CSV (header, then the data line last) and returns nMsg.
fn consumer_csv(stdout: &str) -> u64 {
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("start.time")).unwrap_or_else(|| panic!("no header:\n{stdout}"));
    assert_eq!(
        lines[header],
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
         fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    );
    // Kafka prints a shortfall WARNING between the header and the data line.
    assert!(lines.len() > header + 1, "no data line:\n{stdout}");
    let fields: Vec<&str> = lines[lines.len() - 1].split(", ").collect();
    assert_eq!(fields.len(), 10, "{fields:?}");
    for f in [2, 3, 5, 8, 9] {
        fields[f].parse::<f64>().unwrap_or_else(|_| panic!("column {f} of {fields:?}"));
    }
    fields[4].parse().expect("nMsg")
}

#[test]
fn perf_produce_sends_every_record_and_perf_consume_reads_them_all() {
    let broker = Broker::start();
    let topic = unique_topic("perf");
    create_topic(&broker, &topic, 3);
    let produced = spool(&[
        "perf", "produce", "--bootstrap-server", &broker.addr, "--topic", &topic, "--num-records", "20000",
        "--record-size", "100", "--throughput", "-1", "--producer-props", "acks=1", "linger.ms=5", "batch.size=1000000",
    ]);
    assert_eq!(final_producer_line(&produced.stdout), 20_000, "stdout:\n{}\nstderr:\n{}", produced.stdout, produced.stderr);
    assert_eq!(records_in(&broker, &topic), 20_000);

    let consumed = spool(&[
        "perf", "consume", "--bootstrap-server", &broker.addr, "--topic", &topic, "--messages", "20000", "--timeout", "30000",
    ]);
    assert_eq!(consumer_csv(&consumed.stdout), 20_000, "stdout:\n{}", consumed.stdout);
    assert!(!consumed.stdout.contains("WARNING"), "{}", consumed.stdout);
    let mb: f64 = consumed.stdout.lines().last().unwrap_or_default().split(", ").nth(2).unwrap_or("0").parse().unwrap_or(0.0);
    assert!((mb - 20_000.0 * 100.0 / 1_048_576.0).abs() < 1e-3, "MB consumed: {mb}");
}

/// Records the broker refuses come back in delivery reports: the tool prints why,
/// leaves them out of its counts and exits with 1.
#[test]
fn perf_produce_counts_records_the_broker_refuses_and_exits_with_1() {
    let broker = Broker::start();
    let topic = unique_topic("perf-refused");
    create_topic(&broker, &topic, 1);
    // 2 MB records: the client is told to let them out, the topic's max.message.bytes
    // (1 MiB by default) refuses them.
    let (status, refused) = run(
        &spool_bin(),
        &[
            "perf", "produce", "--bootstrap-server", &broker.addr, "--topic", &topic, "--num-records", "3", "--record-size",
            "2000000", "--throughput", "-1", "--producer-props", "message.max.bytes=5000000", "batch.size=5000000",
        ],
    );
    assert_eq!(status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("error: a record was not delivered: "), "{}", refused.stderr);
    assert!(refused.stderr.contains("error: 3 of 3 records could not be delivered"), "{}", refused.stderr);
    assert_eq!(final_producer_line(&refused.stdout), 0, "{}", refused.stdout);
    assert_eq!(records_in(&broker, &topic), 0);
}

/// A paced run prints Kafka's progress line every `--reporting-interval`, each for the
/// records acknowledged since the one before.
#[test]
fn perf_produce_paced_prints_progress_windows_that_add_up() {
    let broker = Broker::start();
    let topic = unique_topic("perf-progress");
    create_topic(&broker, &topic, 1);
    let paced = spool(&[
        "perf", "produce", "--bootstrap-server", &broker.addr, "--topic", &topic, "--num-records", "1500", "--record-size", "100",
        "--throughput", "3000", "--reporting-interval", "100", "--producer-props", "linger.ms=1",
    ]);
    assert_eq!(final_producer_line(&paced.stdout), 1500, "{}", paced.stdout);
    let lines: Vec<&str> = paced.stdout.lines().collect();
    let windows: Vec<u64> = lines[..lines.len() - 1]
        .iter()
        .map(|line| {
            // `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`
            assert!(line.ends_with(" ms max latency."), "progress line: {line:?}");
            line.split_once(" records sent, ").unwrap_or_else(|| panic!("progress line: {line:?}")).0.parse().expect("a count")
        })
        .collect();
    assert!(windows.len() >= 2, "half a second paced, a line every 100 ms:\n{}", paced.stdout);
    assert!(windows.iter().all(|&n| n > 0), "{}", paced.stdout);
    assert!(windows.iter().sum::<u64>() <= 1500, "{}", paced.stdout);
    assert_eq!(records_in(&broker, &topic), 1500);
}

/// With `--group` the records arrive only after a rebalance, which the tool serves on
/// the consumer's queue while it takes records in batches from its own.
#[test]
fn perf_consume_in_a_group_reads_every_partition_after_its_rebalance_and_stops_at_messages() {
    let broker = Broker::start();
    let topic = unique_topic("perf-group");
    create_topic(&broker, &topic, 3);
    spool(&[
        "perf", "produce", "--bootstrap-server", &broker.addr, "--topic", &topic, "--num-records", "12000", "--record-size", "50",
        "--throughput", "-1", "--producer-props", "linger.ms=5",
    ]);
    let group = unique_topic("perf-group-g");
    let consumed = spool(&[
        "perf", "consume", "--bootstrap-server", &broker.addr, "--topic", &topic, "--messages", "12000", "--group", &group,
        "--timeout", "30000",
    ]);
    assert_eq!(consumer_csv(&consumed.stdout), 12_000, "stdout:\n{}\nstderr:\n{}", consumed.stdout, consumed.stderr);
    let fields: Vec<&str> = consumed.stdout.lines().last().unwrap_or_default().split(", ").collect();
    let rebalance_ms: u64 = fields[6].parse().expect("rebalance.time.ms");
    assert!(rebalance_ms > 0, "a group consumer waits for its assignment: {}", consumed.stdout);

    // A batch never takes more than --messages asks for.
    let partial = spool(&[
        "perf", "consume", "--bootstrap-server", &broker.addr, "--topic", &topic, "--messages", "7001", "--timeout", "30000",
    ]);
    assert_eq!(consumer_csv(&partial.stdout), 7001, "{}", partial.stdout);
}

#[test]
fn kafka_script_names_take_kafkas_flags() {
    let broker = Broker::start();
    let topic = unique_topic("perf-kafka-names");
    create_topic(&broker, &topic, 1);
    let bin = tempfile::tempdir().expect("temp dir");
    let producer = kafka_script(bin.path(), "kafka-producer-perf-test.sh");
    let bootstrap = format!("bootstrap.servers={}", broker.addr);
    // Kafka's classic form: the servers come from --producer-props; paced at 2000/s.
    let produced = run_ok(
        &producer,
        &["--topic", &topic, "--num-records", "1000", "--payload-monotonic", "--throughput", "2000", "--producer-props", &bootstrap, "acks=all"],
    );
    assert_eq!(final_producer_line(&produced.stdout), 1000);

    let consumer = kafka_script(bin.path(), "kafka-consumer-perf-test");
    let consumed = run_ok(
        &consumer,
        &["--bootstrap-server", &broker.addr, "--topic", &topic, "--messages", "1000", "--timeout", "30000", "--hide-header"],
    );
    assert!(!consumed.stdout.contains("start.time"), "{}", consumed.stdout);
    let fields: Vec<&str> = consumed.stdout.lines().last().unwrap_or_default().split(", ").collect();
    assert_eq!(fields.len(), 10, "{}", consumed.stdout);
    assert_eq!(fields[4], "1000");
}

#[test]
fn perf_consume_reports_a_shortfall_after_its_timeout() {
    let broker = Broker::start();
    let topic = unique_topic("perf-short");
    create_topic(&broker, &topic, 1);
    spool(&[
        "perf", "produce", "--bootstrap-server", &broker.addr, "--topic", &topic, "--num-records", "10", "--record-size", "10",
        "--throughput", "-1",
    ]);
    let consumed = spool(&["perf", "consume", "--bootstrap-server", &broker.addr, "--topic", &topic, "--messages", "50", "--timeout", "1000"]);
    assert!(consumed.stdout.contains("WARNING: Exiting before consuming the expected number of messages"), "{}", consumed.stdout);
    assert_eq!(consumer_csv(&consumed.stdout), 10);
}

/// Checks the e2e summary lines and returns the microsecond percentiles line.
fn e2e_summary(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    let n = lines.len();
    assert!(n >= 3, "{stdout}");
    assert!(lines[n - 3].starts_with("Avg latency: ") && lines[n - 3].ends_with(" ms"), "{stdout}");
    assert!(lines[n - 2].starts_with("Percentiles: 50th = "), "{stdout}");
    assert!(lines[n - 1].starts_with("Percentiles (us): 50th = "), "{stdout}");
    lines[n - 1].to_string()
}

#[test]
fn perf_e2e_times_records_one_at_a_time_and_paced() {
    let broker = Broker::start();
    let topic = unique_topic("perf-e2e");
    create_topic(&broker, &topic, 1);
    let one_at_a_time = spool(&[
        "perf", "e2e", "--bootstrap-server", &broker.addr, "--topic", &topic, "--num-records", "200", "--record-size", "1024",
    ]);
    e2e_summary(&one_at_a_time.stdout);
    // Kafka's progress line for record 0: `0<TAB>latency-ms`.
    assert!(one_at_a_time.stdout.lines().next().is_some_and(|l| l.starts_with("0\t")), "{}", one_at_a_time.stdout);

    let paced = spool(&[
        "perf", "e2e", "--bootstrap-server", &broker.addr, "--topic", &topic, "--num-records", "500", "--record-size", "1024",
        "--throughput", "1000", "--acks", "1",
    ]);
    e2e_summary(&paced.stdout);
    assert!(paced.stdout.contains("500 records sent at "), "{}", paced.stdout);
    // Both runs' records are in the topic, each run's warm-up record, and nothing else.
    assert_eq!(records_in(&broker, &topic), 702);
}
