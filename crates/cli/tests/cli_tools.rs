//! The command-line tools end to end: the seed walkthrough (create, list, describe,
//! `cat alerts.txt | kafka-console-producer`, `kafka-console-consumer --from-beginning`)
//! and the rest of `spool topics`, `console-producer` and `console-consumer`, all run as
//! real processes of the `spool` binary against a real `spool server`.
//!
//! Every child process runs under a time limit, so a hanging tool fails its test
//! instead of hanging the suite.
//!
//! Run: `cargo test -p spool-cli --test cli_tools`.

mod harness;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::{spool_bin, unique_topic, Broker};

/// Upper bound for any one tool invocation in these tests.
const LIMIT: Duration = Duration::from_secs(60);

/// The outcome of one finished process.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn ok(self) -> Run {
        assert!(self.status.success(), "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr);
        self
    }

    fn failed(self) -> Run {
        assert!(!self.status.success(), "expected failure\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Waits for `child` (killing it after `limit`) and collects its output.
fn finish(mut child: Child, limit: Duration) -> Run {
    let start = Instant::now();
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.map(|h| h.join().unwrap_or_default()).unwrap_or_default();
            panic!("process did not finish within {limit:?}; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: stdout.map(|h| h.join().unwrap_or_default()).unwrap_or_default(),
        stderr: stderr.map(|h| h.join().unwrap_or_default()).unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

fn read_in_background(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Starts `program args…` with `stdin` written to it (then closed).
fn spawn(program: &Path, args: &[&str], stdin: &[u8]) -> Child {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spool");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    child
}

fn run(program: &Path, args: &[&str], stdin: &[u8]) -> Run {
    finish(spawn(program, args, stdin), LIMIT)
}

fn spool(args: &[&str]) -> Run {
    run(&spool_bin(), args, b"")
}

fn topics(addr: &str, args: &[&str]) -> Run {
    let mut argv = vec!["topics", "--bootstrap-server", addr];
    argv.extend_from_slice(args);
    spool(&argv)
}

fn produce(addr: &str, topic: &str, extra: &[&str], input: &str) -> Run {
    let mut argv = vec!["console-producer", "--bootstrap-server", addr, "--topic", topic];
    argv.extend_from_slice(extra);
    run(&spool_bin(), &argv, input.as_bytes())
}

fn consume(addr: &str, topic: &str, extra: &[&str]) -> Run {
    let mut argv = vec!["console-consumer", "--bootstrap-server", addr, "--topic", topic];
    argv.extend_from_slice(extra);
    spool(&argv)
}

fn create(addr: &str, topic: &str, partitions: u32) {
    let out = topics(addr, &["--create", "--topic", topic, "--partitions", &partitions.to_string()]).ok();
    assert!(out.stdout.contains(&format!("Created topic {topic}.")), "{}", out.stdout);
}

fn sorted(lines: Vec<&str>) -> Vec<String> {
    let mut lines: Vec<String> = lines.into_iter().map(str::to_string).collect();
    lines.sort();
    lines
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// Kafka's topic id text: 22 characters of URL-safe base64.
fn is_kafka_uuid(text: &str) -> bool {
    text.len() == 22 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[test]
fn seed_walkthrough_create_list_describe_produce_and_consume() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("device_status");

    // kafka-topics --create: an underscore gets Kafka's metric-name warning.
    let created = topics(addr, &["--create", "--topic", &topic, "--partitions", "3", "--replication-factor", "1"]).ok();
    assert_eq!(
        created.lines(),
        vec![
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. \
             To avoid issues it is best to use either, but not both.",
            &format!("Created topic {topic}."),
        ]
    );

    // kafka-topics --list
    let listed = topics(addr, &["--list"]).ok();
    assert!(listed.lines().contains(&topic.as_str()), "{}", listed.stdout);

    // kafka-topics --describe: Kafka's layout, partitions in order.
    let described = topics(addr, &["--describe", "--topic", &topic]).ok();
    let lines = described.lines();
    assert_eq!(lines.len(), 4, "{}", described.stdout);
    let header: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(header.len(), 5, "{}", lines[0]);
    assert_eq!(header[0], format!("Topic: {topic}"));
    let topic_id = header[1].strip_prefix("TopicId: ").expect("TopicId field");
    assert!(is_kafka_uuid(topic_id), "topic id {topic_id:?}");
    assert_eq!(header[2], "PartitionCount: 3");
    assert_eq!(header[3], "ReplicationFactor: 1");
    assert!(header[4].starts_with("Configs: "), "{}", header[4]);
    for (p, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[0], "", "partition lines start with a tab: {line:?}");
        assert_eq!(fields[1], format!("Topic: {topic}"));
        assert_eq!(fields[2], format!("Partition: {p}"));
        let leader = fields[3].strip_prefix("Leader: ").expect("Leader field");
        assert!(leader.parse::<i32>().is_ok_and(|id| id >= 0), "{line}");
        assert_eq!(fields[4], format!("Replicas: {leader}"));
        assert_eq!(fields[5], format!("Isr: {leader}"));
    }
    // kafka-topics --describe --topic-id: the same topic, found by the id it printed.
    assert_eq!(topics(addr, &["--describe", "--topic-id", topic_id]).ok().stdout, described.stdout);
    let unknown = topics(addr, &["--describe", "--topic-id", "AAAAAAAAAAAAAAAAAAAAAA"]);
    assert_eq!(
        unknown.stdout.trim(),
        "Error while executing topic command : Topic with id 'AAAAAAAAAAAAAAAAAAAAAA' does not exist as expected"
    );
    assert!(topics(addr, &["--list", "--topic-id", topic_id]).stderr.contains("--topic-id can only be used with --describe"));

    // cat alerts.txt | kafka-console-producer --broker-list … --topic …
    let dir = tempfile::tempdir().expect("temp dir");
    let alerts: Vec<String> = (0..50).map(|i| format!("alert {i}: disk {}% full on host{}", 50 + i, i % 7)).collect();
    let alerts_file = dir.path().join("alerts.txt");
    std::fs::write(&alerts_file, alerts.join("\n") + "\n").expect("write alerts.txt");
    let pipeline = format!(
        "cat '{}' | '{}' console-producer --broker-list {addr} --topic {topic}",
        alerts_file.display(),
        spool_bin().display()
    );
    let produced = run(Path::new("/bin/sh"), &["-c", &pipeline], b"").ok();
    assert!(produced.stdout.is_empty(), "a piped producer prints no prompt: {:?}", produced.stdout);

    // kafka-console-consumer --from-beginning reads every line, each once.
    let consumed = consume(addr, &topic, &["--from-beginning", "--max-messages", "50", "--timeout-ms", "20000"]).ok();
    assert_eq!(sorted(consumed.lines()), sorted(alerts.iter().map(String::as_str).collect()));
    assert!(consumed.stderr.contains("Processed a total of 50 messages"), "{}", consumed.stderr);

    // With a timeout and fewer records than asked for, it ends after the timeout.
    let all = consume(addr, &topic, &["--from-beginning", "--timeout-ms", "5000"]).ok();
    assert_eq!(all.lines().len(), 50);
    assert!(all.stderr.contains("Processed a total of 50 messages"), "{}", all.stderr);
}

#[test]
fn without_from_beginning_only_new_records_are_shown() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("only-new");
    create(addr, &topic, 2);
    produce(addr, &topic, &[], "old-1\nold-2\nold-3\n").ok();

    let consumer = spawn(
        &spool_bin(),
        &["console-consumer", "--bootstrap-server", addr, "--topic", &topic, "--max-messages", "1", "--timeout-ms", "30000"],
        b"",
    );
    // Keep producing new records until the consumer has printed one and exited: no
    // guess of when it is ready, and anything it prints must be new.
    let mut child = consumer;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while child.try_wait().expect("try_wait").is_none() && Instant::now() < deadline {
        produce(addr, &topic, &[], &format!("new-{n}\n")).ok();
        n += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = finish(child, Duration::from_secs(5)).ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(lines[0].starts_with("new-"), "an old record was shown: {}", out.stdout);
    assert!(out.stderr.contains("Processed a total of 1 messages"), "{}", out.stderr);
}

/// Starts `console-consumer --include PATTERN --from-beginning --max-messages 3` with
/// `extra` flags, then creates `{prefix}-1` with one record and, a while later,
/// `{prefix}-2` with two: the consumer must print the three records, each once.
fn include_follows_new_topics(addr: &str, prefix: &str, extra: &[&str]) {
    let pattern = format!("{prefix}-.*");
    let mut argv =
        vec!["console-consumer", "--bootstrap-server", addr, "--include", &pattern, "--from-beginning", "--max-messages", "3", "--timeout-ms", "40000"];
    argv.extend_from_slice(extra);
    let consumer = spawn(&spool_bin(), &argv, b"");
    let (first, second) = (format!("{prefix}-1"), format!("{prefix}-2"));
    create(addr, &first, 1);
    produce(addr, &first, &[], "first-1\n").ok();
    // Long enough for the first record to be printed before the second topic appears
    // (a group's first join waits 3 s): a new subscription or assignment must not
    // start the first topic over.
    std::thread::sleep(Duration::from_secs(8));
    create(addr, &second, 2);
    produce(addr, &second, &[], "second-1\nsecond-2\n").ok();
    let out = finish(consumer, LIMIT).ok();
    assert_eq!(sorted(out.lines()), vec!["first-1", "second-1", "second-2"], "{extra:?}: {}", out.stderr);
}

#[test]
fn include_consumes_every_topic_whose_whole_name_matches() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let prefix = unique_topic("include");

    // Topics created after the consumer started are picked up within seconds, with
    // partitions assigned directly or through a group. The group commits, so
    // __consumer_offsets then holds records.
    include_follows_new_topics(addr, &format!("{prefix}-direct"), &[]);
    include_follows_new_topics(addr, &format!("{prefix}-grouped"), &["--group", &format!("{prefix}-group")]);

    let (a, b, abc) = (format!("{prefix}-a"), format!("{prefix}-b"), format!("{prefix}-abc"));
    create(addr, &a, 1);
    create(addr, &b, 2);
    create(addr, &abc, 1);
    produce(addr, &a, &[], "a-1\na-2\n").ok();
    produce(addr, &b, &[], "b-1\nb-2\nb-3\n").ok();
    produce(addr, &abc, &[], "abc-1\n").ok();
    // `--whitelist`, as scripts for Kafka 2.x and 3.x have it. The pattern matches whole
    // names: not `-abc`, of which `-a` is a prefix, nor the internal __consumer_offsets,
    // which a pattern subscription leaves out even when named.
    let pattern = format!("{prefix}-a|{prefix}-b|__consumer_offsets");
    let out = spool(&["console-consumer", "--bootstrap-server", addr, "--whitelist", &pattern, "--from-beginning", "--timeout-ms", "5000"]).ok();
    assert_eq!(sorted(out.lines()), vec!["a-1", "a-2", "b-1", "b-2", "b-3"], "{}", out.stderr);
    assert!(out.stderr.contains("Processed a total of 5 messages"), "{}", out.stderr);

    let bad = spool(&["console-consumer", "--bootstrap-server", addr, "--include", "orders-(eu"]).failed();
    assert!(bad.stderr.contains("orders-(eu is an invalid regex"), "{}", bad.stderr);
}

#[test]
fn keys_are_parsed_and_printed_with_kafkas_fields() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("keys");
    create(addr, &topic, 1);
    let before = now_ms();
    produce(addr, &topic, &["--property", "parse.key=true", "--property", "key.separator=:"], "host1:cpu 91%\nhost2:disk:full\n")
        .ok();

    let out = consume(
        addr,
        &topic,
        &[
            "--from-beginning",
            "--max-messages",
            "2",
            "--timeout-ms",
            "20000",
            "--property",
            "print.key=true",
            "--property",
            "print.offset=true",
            "--property",
            "print.partition=true",
            "--property",
            "print.timestamp=true",
        ],
    )
    .ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for (i, (line, (key, value))) in lines.iter().zip([("host1", "cpu 91%"), ("host2", "disk:full")]).enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line:?}");
        let ts: i64 = fields[0].strip_prefix("CreateTime:").expect("CreateTime").parse().expect("timestamp");
        assert!(ts >= before - 5_000 && ts <= now_ms() + 5_000, "timestamp {ts} not near now");
        assert_eq!(&fields[1..], &["Partition:0", &format!("Offset:{i}"), key, value]);
    }

    // Only the key and value, with a custom separator; a record without key prints null.
    produce(addr, &topic, &[], "no key here\n").ok();
    let out = consume(
        addr,
        &topic,
        &["--from-beginning", "--max-messages", "3", "--timeout-ms", "20000", "--property", "print.key=true", "--property", "key.separator= => "],
    )
    .ok();
    assert_eq!(out.lines(), vec!["host1 => cpu 91%", "host2 => disk:full", "null => no key here"]);

    // The same from a --formatter-config file, whose separator --property overrides.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("formatter.properties");
    std::fs::write(&config, "print.key=true\nkey.separator=|\nnull.literal=-\n").expect("write the formatter config");
    let config = config.to_str().expect("utf-8 path");
    let read = |extra: &[&str]| {
        let mut args = vec!["--from-beginning", "--max-messages", "3", "--timeout-ms", "20000"];
        args.extend_from_slice(extra);
        consume(addr, &topic, &args)
    };
    let from_file = read(&["--formatter", "kafka.tools.DefaultMessageFormatter", "--formatter-config", config]).ok();
    assert_eq!(from_file.lines(), vec!["host1|cpu 91%", "host2|disk:full", "-|no key here"]);
    let overridden = read(&["--formatter-config", config, "--property", "key.separator=="]).ok();
    assert_eq!(overridden.lines(), vec!["host1=cpu 91%", "host2=disk:full", "-=no key here"]);
    // NoOpMessageFormatter consumes and counts, and prints nothing.
    let silent = read(&["--formatter", "org.apache.kafka.tools.consumer.NoOpMessageFormatter"]).ok();
    assert_eq!(silent.stdout, "");
    assert!(silent.stderr.contains("Processed a total of 3 messages"), "{}", silent.stderr);
    let unknown = read(&["--formatter", "com.example.MyFormatter"]).failed();
    assert!(unknown.stderr.contains("com.example.MyFormatter is a Java class Spool cannot load"), "{}", unknown.stderr);

    // A line without the separator stops the producer with Kafka's message.
    let bad = produce(addr, &topic, &["--property", "parse.key=true", "--property", "key.separator=:"], "nokey\n").failed();
    assert!(bad.stderr.contains("No key separator found on line number 1: 'nokey'"), "{}", bad.stderr);
}

#[test]
fn partition_and_offset_select_where_to_read() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("offsets");
    create(addr, &topic, 1);
    let input: String = (0..5).map(|i| format!("line-{i}\n")).collect();
    produce(addr, &topic, &[], &input).ok();

    let from_two = consume(addr, &topic, &["--partition", "0", "--offset", "2", "--max-messages", "3", "--timeout-ms", "20000"]).ok();
    assert_eq!(from_two.lines(), vec!["line-2", "line-3", "line-4"]);

    let earliest = consume(addr, &topic, &["--partition", "0", "--offset", "earliest", "--max-messages", "5", "--timeout-ms", "20000"]).ok();
    assert_eq!(earliest.lines(), vec!["line-0", "line-1", "line-2", "line-3", "line-4"]);

    let latest = consume(addr, &topic, &["--partition", "0", "--offset", "latest", "--timeout-ms", "1500"]).ok();
    assert!(latest.stdout.is_empty(), "{}", latest.stdout);
    assert!(latest.stderr.contains("Processed a total of 0 messages"), "{}", latest.stderr);

    let missing = consume(addr, &topic, &["--partition", "7", "--timeout-ms", "1000"]).failed();
    assert!(missing.stderr.contains("no partition 7"), "{}", missing.stderr);

    // On a topic with several partitions, only the chosen one is read.
    let spread = unique_topic("spread");
    create(addr, &spread, 3);
    let many: String = (0..60).map(|i| format!("k{i}:v{i}\n")).collect();
    produce(addr, &spread, &["--property", "parse.key=true", "--property", "key.separator=:"], &many).ok();
    let mut total = 0;
    for p in 0..3 {
        let out = consume(
            addr,
            &spread,
            &["--partition", &p.to_string(), "--from-beginning", "--timeout-ms", "2000", "--property", "print.partition=true"],
        )
        .ok();
        for line in out.lines() {
            assert!(line.starts_with(&format!("Partition:{p}\t")), "{line}");
        }
        total += out.lines().len();
    }
    assert_eq!(total, 60);
}

#[cfg(unix)]
#[test]
fn kafka_tool_names_through_symlinks() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let dir = tempfile::tempdir().expect("temp dir");
    let link = |name: &str| {
        let path = dir.path().join(name);
        std::os::unix::fs::symlink(spool_bin(), &path).expect("symlink");
        path
    };
    let topics_sh = link("kafka-topics.sh");
    let topics_bare = link("kafka-topics");
    let producer = link("kafka-console-producer.sh");
    let consumer = link("kafka-console-consumer");
    let topic = unique_topic("linked");

    let created = run(&topics_sh, &["--create", "--bootstrap-server", addr, "--topic", &topic, "--partitions", "2"], b"").ok();
    assert!(created.stdout.contains(&format!("Created topic {topic}.")), "{}", created.stdout);
    let listed = run(&topics_bare, &["--list", "--bootstrap-server", addr], b"").ok();
    assert!(listed.lines().contains(&topic.as_str()));

    // The producer's own --broker-list needs no note.
    let produced = run(&producer, &["--broker-list", addr, "--topic", &topic], b"a\nb\nc\n").ok();
    assert!(!produced.stderr.contains("note:"), "{}", produced.stderr);

    // The seed's consumer line: --zookeeper … --topic … --from-beginning.
    let consumed =
        run(&consumer, &["--zookeeper", addr, "--topic", &topic, "--from-beginning", "--max-messages", "3", "--timeout-ms", "20000"], b"")
            .ok();
    assert_eq!(sorted(consumed.lines()), vec!["a", "b", "c"]);
    assert!(consumed.stderr.contains(&format!("note: Spool has no ZooKeeper; using {addr} as the bootstrap server")));

    // Help names the tool it was invoked as.
    let help = run(&topics_sh, &["--help"], b"").ok();
    assert!(help.stdout.contains("kafka-topics"), "{}", help.stdout);
    assert!(help.stdout.contains("--replication-factor"), "{}", help.stdout);
}

#[test]
fn zookeeper_and_broker_list_are_aliases_of_bootstrap_server() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("alias");

    // The seed's create line, with the ZooKeeper connection string.
    let created = spool(&["topics", "--create", "--zookeeper", addr, "--replication-factor", "1", "--topic", &topic]).ok();
    assert!(created.stdout.contains(&format!("Created topic {topic}.")), "{}", created.stdout);
    let notes: Vec<&str> = created.stderr.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(notes, vec![format!("note: Spool has no ZooKeeper; using {addr} as the bootstrap server")]);

    // Spaces after commas, as in the seed, are tolerated.
    let spaced = format!("{addr}, {addr}");
    let listed = spool(&["topics", "--list", "--zookeeper", &spaced]).ok();
    assert!(listed.lines().contains(&topic.as_str()), "{}", listed.stdout);
    assert!(listed.stderr.contains(&format!("using {addr},{addr} as the bootstrap server")), "{}", listed.stderr);

    let listed = spool(&["topics", "--list", "--broker-list", addr]).ok();
    assert!(listed.lines().contains(&topic.as_str()));

    // Two of them at once is a usage error.
    spool(&["topics", "--list", "--zookeeper", addr, "--bootstrap-server", addr]).failed();
}

#[test]
fn alter_adds_partitions_and_refuses_to_remove_them() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("alter");
    create(addr, &topic, 1);

    let altered = topics(addr, &["--alter", "--topic", &topic, "--partitions", "4"]).ok();
    assert!(altered.stdout.is_empty(), "Kafka prints nothing on alter: {}", altered.stdout);
    let described = topics(addr, &["--describe", "--topic", &topic]).ok();
    assert!(described.lines()[0].contains("\tPartitionCount: 4\t"), "{}", described.stdout);
    assert_eq!(described.lines().len(), 5);

    let shrink = topics(addr, &["--alter", "--topic", &topic, "--partitions", "2"]).failed();
    assert_eq!(shrink.status.code(), Some(1));
    let lines = shrink.lines();
    assert_eq!(lines.len(), 1, "{}", shrink.stdout);
    assert!(lines[0].starts_with("Error while executing topic command : "), "{}", lines[0]);
    assert!(lines[0].len() > "Error while executing topic command : ".len() + 5, "no message: {}", lines[0]);

    let unknown = topics(addr, &["--alter", "--topic", "no-such-topic", "--partitions", "2"]).failed();
    assert_eq!(unknown.stdout.trim(), "Error while executing topic command : Topic 'no-such-topic' does not exist as expected");
    topics(addr, &["--alter", "--topic", "no-such-topic", "--partitions", "2", "--if-exists"]).ok();
}

#[test]
fn delete_removes_the_topic() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("delete");
    create(addr, &topic, 2);

    let deleted = topics(addr, &["--delete", "--topic", &topic]).ok();
    assert!(deleted.stdout.is_empty(), "{}", deleted.stdout);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = topics(addr, &["--list"]).ok();
        if !listed.lines().contains(&topic.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "topic still listed after delete");
        std::thread::sleep(Duration::from_millis(200));
    }

    let again = topics(addr, &["--delete", "--topic", &topic]).failed();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(again.stdout.trim(), format!("Error while executing topic command : Topic '{topic}' does not exist as expected"));
    topics(addr, &["--delete", "--topic", &topic, "--if-exists"]).ok();
    let described = topics(addr, &["--describe", "--topic", &topic]).failed();
    assert!(described.stdout.contains("does not exist as expected"));
}

#[test]
fn topic_patterns_select_what_list_describe_alter_and_delete_act_on() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let p = unique_topic("pattern");
    let (eu, us, payments) = (format!("{p}-orders-eu"), format!("{p}-orders-us"), format!("{p}-payments"));
    create(addr, &eu, 1);
    create(addr, &us, 1);
    let created = topics(addr, &["--create", "--topic", &payments, "--config", "retention.ms=3600000"]).ok();
    assert!(created.stdout.contains("Created topic"), "{}", created.stdout);

    let orders = format!("{p}-orders-.*");
    let listed = topics(addr, &["--list", "--topic", &orders]).ok();
    assert_eq!(listed.lines(), vec![eu.as_str(), us.as_str()]);
    // Whole names only: a prefix matches nothing.
    let prefix = topics(addr, &["--describe", "--topic", &format!("{p}-orders")]).failed();
    assert!(prefix.stdout.contains("does not exist as expected"), "{}", prefix.stdout);

    // A comma-separated list, as Kafka reads it.
    let described = topics(addr, &["--describe", "--topic", &format!("{eu}, {payments}")]).ok();
    let headers: Vec<&str> = described.lines().into_iter().filter(|l| l.starts_with("Topic: ")).collect();
    assert_eq!(headers.len(), 2, "{}", described.stdout);
    assert!(headers[0].starts_with(&format!("Topic: {eu}\t")) && headers[1].starts_with(&format!("Topic: {payments}\t")));

    // Only the topic with an override, and only its topic line.
    let overridden = topics(addr, &["--describe", "--topics-with-overrides", "--topic", &format!("{p}-.*")]).ok();
    assert_eq!(overridden.lines().len(), 1, "{}", overridden.stdout);
    assert!(overridden.lines()[0].starts_with(&format!("Topic: {payments}\t")), "{}", overridden.stdout);
    assert!(overridden.lines()[0].ends_with("Configs: retention.ms=3600000"), "{}", overridden.stdout);
    // With every replica in sync on one broker there is nothing to report.
    let under = topics(addr, &["--describe", "--under-replicated-partitions", "--topic", &format!("{p}-.*")]).ok();
    assert_eq!(under.stdout, "", "{}", under.stdout);

    topics(addr, &["--alter", "--topic", &orders, "--partitions", "3"]).ok();
    for topic in [&eu, &us] {
        let described = topics(addr, &["--describe", "--topic", topic]).ok();
        assert!(described.lines()[0].contains("\tPartitionCount: 3\t"), "{}", described.stdout);
    }

    topics(addr, &["--delete", "--topic", &orders]).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = topics(addr, &["--list", "--topic", &format!("{p}-.*")]).ok();
        if listed.lines() == vec![payments.as_str()] {
            break;
        }
        assert!(Instant::now() < deadline, "after deleting the orders topics: {}", listed.stdout);
        std::thread::sleep(Duration::from_millis(200));
    }

    let bad = topics(addr, &["--describe", "--topic", &format!("{p}-(x")]).failed();
    assert_eq!(bad.status.code(), Some(1));
    assert!(bad.stdout.starts_with(&format!("Error while executing topic command : {p}-(x is an invalid regex")), "{}", bad.stdout);
}

/// The configs set on `topic` itself, as librdkafka's admin client reads them.
fn topic_overrides(addr: &str, topic: &str) -> Vec<(String, String)> {
    use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::ClientConfig::new().set("bootstrap.servers", addr).create().expect("admin client");
    let results = futures::executor::block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()))
        .expect("DescribeConfigs");
    let resource = results.into_iter().next().expect("one result").expect("topic configs");
    let mut set: Vec<(String, String)> = resource
        .entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    set.sort();
    set
}

#[test]
fn configs_describes_and_alters_a_topics_configs_as_kafka_configs_does() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("configs");
    topics(addr, &["--create", "--topic", &topic, "--config", "retention.ms=5000"]).ok();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());

    let described = spool(&["configs", "--bootstrap-server", addr, "--entity-type", "topics", "--entity-name", &topic, "--describe"]).ok();
    assert_eq!(
        described.lines(),
        vec![
            format!("Dynamic configs for topic {topic} are:"),
            "  retention.ms=5000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=5000}".to_string()
        ]
    );

    // Old scripts name ZooKeeper; square brackets keep a list value whole.
    let altered = spool(&[
        "configs",
        "--zookeeper",
        addr,
        "--entity-type",
        "topics",
        "--entity-name",
        &topic,
        "--alter",
        "--add-config",
        "retention.ms=86400000,cleanup.policy=[compact,delete]",
    ])
    .ok();
    assert_eq!(altered.stdout, format!("Completed updating config for topic {topic}.\n"));
    assert_eq!(topic_overrides(addr, &topic), vec![pair("cleanup.policy", "compact,delete"), pair("retention.ms", "86400000")]);

    // Deleting a config that is not set changes nothing, as in Kafka.
    let refused = spool(&["configs", "--bootstrap-server", addr, "--topic", &topic, "--alter", "--delete-config", "retention.ms,segment.ms"]).failed();
    assert!(refused.stderr.contains("Invalid config(s): segment.ms"), "{}", refused.stderr);
    spool(&["configs", "--bootstrap-server", addr, "--topic", &topic, "--alter", "--delete-config", "retention.ms"]).ok();
    assert_eq!(topic_overrides(addr, &topic), vec![pair("cleanup.policy", "compact,delete")]);

    // A bad value is the broker's to refuse, with its reason.
    let bad = spool(&["configs", "--bootstrap-server", addr, "--topic", &topic, "--alter", "--add-config", "retention.ms=soon"]).failed();
    assert!(bad.stderr.contains("retention.ms"), "{}", bad.stderr);
    assert_eq!(topic_overrides(addr, &topic), vec![pair("cleanup.policy", "compact,delete")]);

    // --all lists every config with its effective value.
    let all = spool(&["configs", "--bootstrap-server", addr, "--topic", &topic, "--describe", "--all"]).ok();
    assert_eq!(all.lines()[0], format!("All configs for topic {topic} are:"));
    assert!(all.lines().iter().any(|l| l.starts_with("  retention.ms=604800000 sensitive=false")), "{}", all.stdout);

    // The broker defaults of topic configs change at runtime, cluster-wide or per broker,
    // and topics without an override follow them.
    let defaults = spool(&["configs", "--bootstrap-server", addr, "--broker-defaults", "--describe"]).ok();
    assert_eq!(defaults.lines(), vec!["Default configs for brokers in the cluster are:"]);
    let set = spool(&["configs", "--bootstrap-server", addr, "--entity-type", "brokers", "--entity-default", "--alter", "--add-config", "log.retention.ms=3600000"]).ok();
    assert_eq!(set.stdout, "Completed updating default config for brokers in the cluster.\n");
    let defaults = spool(&["configs", "--bootstrap-server", addr, "--broker-defaults", "--describe"]).ok();
    let default = "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168";
    assert_eq!(
        defaults.lines(),
        vec!["Default configs for brokers in the cluster are:".to_string(), format!("  log.retention.ms=3600000 sensitive=false synonyms={{{default}}}")]
    );
    let retention = |addr: &str| {
        let all = spool(&["configs", "--bootstrap-server", addr, "--topic", &topic, "--describe", "--all"]).ok();
        all.lines().into_iter().find(|l| l.starts_with("  retention.ms=")).map(str::to_string).expect("retention.ms listed")
    };
    assert_eq!(retention(addr), format!("  retention.ms=3600000 sensitive=false synonyms={{{default}}}"));
    let set = spool(&["configs", "--bootstrap-server", addr, "--broker", "1", "--alter", "--add-config", "log.retention.ms=7200000"]).ok();
    assert_eq!(set.stdout, "Completed updating config for broker 1.\n");
    let mine = spool(&["configs", "--bootstrap-server", addr, "--broker", "1", "--describe"]).ok();
    let ms = format!("DYNAMIC_BROKER_CONFIG:log.retention.ms=7200000, {default}");
    // Kafka changes at runtime only the primary broker name of a topic config.
    let hours_refused = spool(&["configs", "--bootstrap-server", addr, "--broker-defaults", "--alter", "--add-config", "log.retention.hours=1"]).failed();
    assert!(hours_refused.stderr.contains("'log.retention.hours' cannot be updated dynamically"), "{}", hours_refused.stderr);
    assert_eq!(
        mine.lines(),
        vec!["Dynamic configs for broker 1 are:".to_string(), format!("  log.retention.ms=7200000 sensitive=false synonyms={{{ms}}}")]
    );
    assert_eq!(retention(addr), format!("  retention.ms=7200000 sensitive=false synonyms={{{ms}}}"));
    // Configs Spool reads only at start-up are refused with the reason, and nothing changes.
    let refused = spool(&["configs", "--bootstrap-server", addr, "--broker", "1", "--alter", "--add-config", "log.segment.bytes=1048576,num.io.threads=4"]).failed();
    assert!(refused.stderr.contains("num.io.threads") && refused.stderr.contains("server.properties"), "{}", refused.stderr);
    let unchanged = spool(&["configs", "--bootstrap-server", addr, "--broker", "1", "--describe"]).ok();
    assert_eq!(unchanged.lines(), mine.lines());
    spool(&["configs", "--bootstrap-server", addr, "--broker", "1", "--alter", "--delete-config", "log.retention.ms"]).ok();
    assert_eq!(retention(addr), format!("  retention.ms=3600000 sensitive=false synonyms={{{default}}}"));

    // --command-config files are read, as by Kafka's tools, and their (security)
    // properties ignored; a missing one is an error.
    let dir = tempfile::tempdir().expect("temp dir");
    let properties = dir.path().join("admin.properties");
    std::fs::write(&properties, "security.protocol=PLAINTEXT\n").expect("write properties");
    let properties = properties.to_str().expect("utf-8 path");
    let with_config = spool(&["configs", "--bootstrap-server", addr, "--topic", &topic, "--describe", "--command-config", properties]).ok();
    assert_eq!(with_config.lines()[0], format!("Dynamic configs for topic {topic} are:"));
    let listed = spool(&["topics", "--bootstrap-server", addr, "--list", "--command-config", properties]).ok();
    assert!(listed.lines().contains(&topic.as_str()), "{}", listed.stdout);
    let missing = spool(&["topics", "--bootstrap-server", addr, "--list", "--command-config", "/nonexistent/admin.properties"]).failed();
    assert!(missing.stdout.contains("cannot read /nonexistent/admin.properties"), "{}", missing.stdout);
}

/// Produces one record to each partition listed, in order, with librdkafka.
fn produce_to_partitions(addr: &str, topic: &str, partitions: &[i32]) {
    let producer: rdkafka::producer::BaseProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", addr).create().expect("producer");
    for &partition in partitions {
        producer.send(rdkafka::producer::BaseRecord::<(), str>::to(topic).partition(partition).payload("x")).expect("enqueue");
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10)).expect("flush");
}

#[test]
fn get_offsets_prints_each_partitions_offset_at_a_time() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let p = unique_topic("offsets");
    let (a, b) = (format!("{p}-a"), format!("{p}-b"));
    create(addr, &a, 1);
    create(addr, &b, 3);
    produce(addr, &a, &[], "a1\na2\n").ok();
    // 1 record in partition 0, 3 in 1, none in 2.
    produce_to_partitions(addr, &b, &[0, 1, 1, 1]);
    let offsets = |args: &[&str]| {
        let mut argv = vec!["get-offsets", "--bootstrap-server", addr];
        argv.extend_from_slice(args);
        spool(&argv).ok().stdout
    };
    let all = format!("{p}-.*");
    let latest = [format!("{a}:0:2"), format!("{b}:0:1"), format!("{b}:1:3"), format!("{b}:2:0")].join("\n") + "\n";
    assert_eq!(offsets(&["--topic", &all]), latest);
    assert_eq!(offsets(&["--topic", &all, "--time", "-1"]), latest);
    let earliest = [format!("{a}:0:0"), format!("{b}:0:0"), format!("{b}:1:0"), format!("{b}:2:0")].join("\n") + "\n";
    assert_eq!(offsets(&["--topic", &all, "--time", "earliest"]), earliest);
    assert_eq!(offsets(&["--topic", &b, "--partitions", "0,2"]), format!("{b}:0:1\n{b}:2:0\n"));
    assert_eq!(offsets(&["--topic-partitions", &format!("{b}:1-3,{a}")]), format!("{a}:0:2\n{b}:1:3\n{b}:2:0\n"));
    // A time after every record: no partition has an offset for it, and none is printed.
    let future = (now_ms() + 3_600_000).to_string();
    assert_eq!(offsets(&["--topic", &all, "--time", &future]), "");

    let none = spool(&["get-offsets", "--bootstrap-server", addr, "--topic", &format!("{p}-none")]).failed();
    assert!(none.stderr.contains("Could not match any topic-partitions with the specified filters"), "{}", none.stderr);
    let bad = spool(&["get-offsets", "--bootstrap-server", addr, "--time", "soon"]).failed();
    assert!(bad.stderr.contains("Malformed time argument soon"), "{}", bad.stderr);
}

#[test]
fn delete_records_moves_the_low_watermarks_the_json_file_names() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("delete-records");
    create(addr, &topic, 2);
    produce_to_partitions(addr, &topic, &[0, 0, 0, 0, 1, 1]);
    let dir = tempfile::tempdir().expect("temp dir");
    let json = |body: &str| {
        let path = dir.path().join("offsets.json");
        std::fs::write(&path, body).expect("write the offset file");
        path.to_string_lossy().into_owned()
    };

    let file = json(&format!(r#"{{"partitions": [{{"topic": "{topic}", "partition": 0, "offset": 3}}, {{"topic": "{topic}", "partition": 1, "offset": -1}}], "version": 1}}"#));
    let out = spool(&["delete-records", "--bootstrap-server", addr, "--offset-json-file", &file]).ok();
    assert_eq!(
        out.lines(),
        vec![
            "Executing records delete operation".to_string(),
            "Records delete operation completed:".to_string(),
            format!("partition: {topic}-0\tlow_watermark: 3"),
            format!("partition: {topic}-1\tlow_watermark: 2"),
        ]
    );
    let earliest = spool(&["get-offsets", "--bootstrap-server", addr, "--topic", &topic, "--time", "earliest"]).ok();
    assert_eq!(earliest.stdout, format!("{topic}:0:3\n{topic}:1:2\n"));

    // Above the high watermark: that partition's line says why, and the exit code is 1.
    let file = json(&format!(r#"{{"partitions": [{{"topic": "{topic}", "partition": 0, "offset": 9}}], "version": 1}}"#));
    let refused = spool(&["delete-records", "--bootstrap-server", addr, "--offset-json-file", &file]).failed();
    assert!(refused.stdout.contains(&format!("partition: {topic}-0\terror: ")), "{}", refused.stdout);
    let earliest = spool(&["get-offsets", "--bootstrap-server", addr, "--topic", &topic, "--time", "earliest"]).ok();
    assert_eq!(earliest.stdout, format!("{topic}:0:3\n{topic}:1:2\n"), "nothing changed");
}

#[test]
fn log_dirs_describes_the_size_of_each_replica_as_kafka_log_dirs_does() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("log-dirs");
    create(addr, &topic, 2);
    produce_to_partitions(addr, &topic, &[0, 0, 0, 1]);
    let segment_bytes = |p: i32| -> u64 {
        let dir = broker.data_dir().join(format!("{topic}-{p}"));
        std::fs::read_dir(&dir)
            .expect("partition dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|path| path.extension().is_some_and(|x| x == "log"))
            .map(|path| std::fs::metadata(path).expect("segment").len())
            .sum()
    };

    let out = spool(&["log-dirs", "--bootstrap-server", addr, "--describe", "--topic-list", &topic]).ok();
    let lines = out.lines();
    assert_eq!(lines[..2], ["Querying brokers for log directories information", "Received log directory information from brokers 1"]);
    let json: serde_json::Value = serde_json::from_str(lines[2]).expect("the third line is JSON");
    assert_eq!(json["version"], 1);
    let dir = &json["brokers"][0]["logDirs"][0];
    assert_eq!(json["brokers"][0]["broker"], 1);
    assert_eq!(dir["error"], serde_json::Value::Null);
    let data_dir = std::fs::canonicalize(broker.data_dir()).expect("data dir");
    assert_eq!(dir["logDir"].as_str().map(Path::new), Some(data_dir.as_path()));
    let expected: Vec<serde_json::Value> = (0..2)
        .map(|p| serde_json::json!({"partition": format!("{topic}-{p}"), "size": segment_bytes(p), "offsetLag": 0, "isFuture": false}))
        .collect();
    assert_eq!(dir["partitions"], serde_json::Value::Array(expected));
    assert!(segment_bytes(0) > segment_bytes(1) && segment_bytes(1) > 0);

    // Kafka's --broker-list here names broker ids; one the cluster lacks is refused.
    let refused = spool(&["log-dirs", "--bootstrap-server", addr, "--describe", "--broker-list", "1,7"]).failed();
    assert!(refused.stderr.contains("The given brokers do not exist from --broker-list: 7. Current existent brokers: 1"), "{}", refused.stderr);
    assert!(!refused.stdout.contains("Querying"), "nothing is queried: {}", refused.stdout);
    let no_action = spool(&["log-dirs", "--bootstrap-server", addr]).failed();
    assert!(no_action.stderr.contains("Must provide --describe"), "{}", no_action.stderr);
}

/// Configs that are accepted but change nothing (ZooKeeper's, a listener prefix naming no
/// listener) are warned of at start-up, as Kafka warns of configs supplied but not used;
/// the log, written to a file, is plain text.
#[test]
fn server_warns_of_configs_without_effect_in_a_plain_text_log() {
    let broker = Broker::start_with(&[
        "--set",
        "zookeeper.connect=localhost:2181",
        "--set",
        "listener.name.internal.ssl.keystore.location=/etc/spool/internal.pem",
    ]);
    let log = broker.log();
    assert!(!log.contains('\u{1b}'), "terminal escape codes in a log written to a file:\n{log}");
    for note in [
        "zookeeper.connect is ignored: Spool has no ZooKeeper",
        "listener.name.internal.ssl.keystore.location is ignored: no listener is named INTERNAL",
    ] {
        let line = log.lines().find(|line| line.contains(note)).unwrap_or_else(|| panic!("{note:?} not logged:\n{log}"));
        assert!(line.contains(" WARN "), "not a warning: {line}");
    }
}

#[test]
fn broker_api_versions_lists_what_each_broker_answers_as_kafkas_tool_does() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let out = spool(&["broker-api-versions", "--bootstrap-server", addr]).ok();
    let lines = out.lines();
    assert_eq!(lines[0], format!("{addr} (id: 1 rack: null) -> ("));
    assert_eq!(lines.last().copied(), Some(")"));
    let apis = &lines[1..lines.len() - 1];
    // Kafka's tool also lists its client's APIs that the broker lacks.
    for expected in [
        "\tProduce(0): 0 to 11 [usable: 11],",
        "\tLeaderAndIsr(4): UNSUPPORTED,",
        "\tApiVersions(18): 0 to 3 [usable: 3],",
        "\tElectLeaders(43): 0 to 2 [usable: 2],",
    ] {
        assert!(apis.contains(&expected), "{expected:?} missing from {apis:#?}");
    }
    assert!(apis.len() > 30, "{apis:#?}");
    let keys: Vec<i32> = apis
        .iter()
        .map(|line| line.split('(').nth(1).and_then(|rest| rest.split(')').next()).and_then(|k| k.parse().ok()).expect("an API key"))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "in key order: {keys:?}");
}

#[test]
fn dump_log_prints_batches_records_and_index_entries_as_kafka_dump_log_does() {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let mut broker = Broker::start();
    let addr = broker.addr.clone();
    let topic = unique_topic("dump-log");
    // An index entry for every batch.
    topics(&addr, &["--create", "--topic", &topic, "--config", "index.interval.bytes=1"]).ok();
    let producer: BaseProducer =
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &addr)
            .set("compression.type", "gzip")
            .set("enable.idempotence", "true")
            .create()
            .expect("producer");
    for batch in 0..2 {
        for i in 0..3 {
            // Compressible, so that librdkafka compresses (it sends tiny batches as they are).
            let (key, value) = (format!("k{batch}{i}"), format!("v{batch}{i}{}", "z".repeat(200)));
            let headers = OwnedHeaders::new().insert(Header { key: "h1", value: Some("x") });
            let record = BaseRecord::to(&topic).partition(0).key(&key).payload(&value).headers(headers);
            producer.send(record).expect("enqueue");
        }
        producer.flush(Duration::from_secs(10)).expect("flush");
    }
    // A clean stop writes the indexes out.
    assert!(broker.stop(), "the broker stops cleanly");
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let file = |ext: &str| dir.join(format!("00000000000000000000.{ext}")).to_string_lossy().into_owned();

    let out = spool(&["dump-log", "--files", &file("log"), "--print-data-log"]).ok();
    let lines = out.lines();
    assert_eq!(lines[..2], [format!("Dumping {}", file("log")).as_str(), "Log starting offset: 0"]);
    let batches: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("baseOffset: ")).collect();
    assert_eq!(batches.len(), 2, "{lines:#?}");
    assert!(batches[0].starts_with("baseOffset: 0 lastOffset: 2 count: 3 "), "{}", batches[0]);
    assert!(batches[1].starts_with("baseOffset: 3 lastOffset: 5 count: 3 baseSequence: 3 lastSequence: 5 producerId: "), "{}", batches[1]);
    for batch in &batches {
        assert!(batch.contains(" isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: "), "{batch}");
        assert!(batch.contains(" magic: 2 compresscodec: gzip crc: ") && batch.ends_with(" isvalid: true"), "{batch}");
    }
    let records: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("| offset: ")).collect();
    assert_eq!(records.len(), 6, "{lines:#?}");
    assert!(records[4].starts_with("| offset: 4 CreateTime: "), "{}", records[4]);
    let payload = format!(" keySize: 3 valueSize: 203 sequence: 4 headerKeys: [h1] key: k11 payload: v11{}", "z".repeat(200));
    assert!(records[4].ends_with(&payload), "{}", records[4]);
    let second_position: u64 =
        batches[1].split(" position: ").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|p| p.parse().ok()).expect("a position");

    // An index entry names a batch's last offset and where the batch starts (as in
    // Kafka, the first batch of a segment gets none: no bytes came before it).
    let index = spool(&["dump-log", "--files", &format!("{},{}", file("index"), file("timeindex"))]).ok();
    let lines = index.lines();
    assert_eq!(lines[..2], [format!("Dumping {}", file("index")).as_str(), &format!("offset: 5 position: {second_position}")]);
    assert_eq!(lines[2], format!("Dumping {}", file("timeindex")));
    assert!(lines[3].starts_with("timestamp: ") && lines[3].ends_with(" offset: 5"), "{lines:#?}");

    // A copy with one byte of the second batch flipped and half a batch appended.
    let copy = tempfile::tempdir().expect("temp dir");
    let broken = copy.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(file("log")).expect("read the segment");
    let length = bytes.len();
    bytes[length - 5] ^= 0xff;
    bytes.extend_from_within(..30);
    std::fs::write(&broken, &bytes).expect("write the copy");
    let out = spool(&["dump-log", "--files", broken.to_str().expect("utf-8 path")]).ok();
    let lines = out.lines();
    assert!(lines[2].ends_with(" isvalid: true") && lines[3].ends_with(" isvalid: false"), "{lines:#?}");
    assert_eq!(lines[4], "Found 30 invalid bytes at the end of 00000000000000000000.log");
    // An index entry that points at the wrong batch is reported, and the exit code is 1.
    let wrong = copy.path().join("00000000000000000000.index");
    std::fs::write(&wrong, [0, 0, 0, 5, 0, 0, 0, 0]).expect("write the index");
    let refused = spool(&["dump-log", "--files", wrong.to_str().expect("utf-8 path"), "--verify-index-only"]).failed();
    assert!(refused.stderr.contains("  Index offset: 5, log offset: 2"), "{}", refused.stderr);
}

#[test]
fn create_reports_the_brokers_errors_and_shows_configs() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("configured");

    let created = topics(addr, &["--create", "--topic", &topic, "--config", "retention.ms=3600000", "--config", "cleanup.policy=delete"]).ok();
    assert!(created.stdout.contains(&format!("Created topic {topic}.")));
    let described = topics(addr, &["--describe", "--topic", &topic]).ok();
    let header = described.lines()[0].to_string();
    let configs = header.split("\tConfigs: ").nth(1).expect("Configs field");
    let mut entries: Vec<&str> = configs.split(',').collect();
    entries.sort();
    assert!(entries.contains(&"retention.ms=3600000"), "{header}");
    assert!(!entries.iter().any(|e| e.starts_with("segment.ms=")), "defaults are not listed: {header}");

    let exists = topics(addr, &["--create", "--topic", &topic]).failed();
    assert_eq!(exists.status.code(), Some(1));
    let line = exists.stdout.trim();
    assert!(line.starts_with("Error while executing topic command : "), "{line}");
    assert!(line.contains(&topic) && line.contains("already exists"), "{line}");
    let quiet = topics(addr, &["--create", "--topic", &topic, "--if-not-exists"]).ok();
    assert!(quiet.stdout.is_empty(), "{}", quiet.stdout);

    let rf = topics(addr, &["--create", "--topic", &unique_topic("rf"), "--replication-factor", "3"]).failed();
    assert_eq!(rf.lines().len(), 1, "{}", rf.stdout);
    assert!(rf.stdout.starts_with("Error while executing topic command : "), "{}", rf.stdout);
    assert!(rf.stdout.to_lowercase().contains("replication factor"), "{}", rf.stdout);

    let zero = topics(addr, &["--create", "--topic", &unique_topic("zero"), "--partitions", "0"]).failed();
    assert_eq!(zero.stdout.trim(), "Error while executing topic command : The partitions must be greater than 0");
}

#[test]
fn describe_without_topic_lists_every_topic_in_order() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let (a, b) = (unique_topic("desc-a"), unique_topic("desc-b"));
    create(addr, &b, 1);
    create(addr, &a, 2);
    let out = topics(addr, &["--describe"]).ok();
    let headers: Vec<&str> = out.lines().into_iter().filter(|l| l.starts_with("Topic: ")).collect();
    let pos = |t: &str| headers.iter().position(|h| h.starts_with(&format!("Topic: {t}\t"))).expect("topic described");
    assert!(pos(&a) < pos(&b), "sorted by name: {}", out.stdout);
    assert_eq!(out.lines().iter().filter(|l| l.starts_with(&format!("\tTopic: {a}\t"))).count(), 2);
}

#[test]
fn delivery_failures_exit_non_zero() {
    let broker = Broker::start_with(&["--set", "auto.create.topics.enable=false"]);
    let out = produce(
        &broker.addr,
        &unique_topic("absent"),
        &["--producer-property", "topic.metadata.propagation.max.ms=1000", "--producer-property", "message.timeout.ms=5000"],
        "lost\n",
    )
    .failed();
    assert!(out.stderr.contains("error:"), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(30), "took {:?}", out.elapsed);
}

#[test]
fn bad_flags_are_usage_errors() {
    for argv in [
        &["topics", "--bootstrap-server", "127.0.0.1:1", "--lst"][..],
        &["topics", "--list"],
        &["topics", "--bootstrap-server", "127.0.0.1:1"],
        &["topics", "--bootstrap-server", "127.0.0.1:1", "--create"],
        &["topics", "--bootstrap-server", "127.0.0.1:1", "--alter", "--topic", "t"],
        &["console-producer", "--bootstrap-server", "127.0.0.1:1"],
        &["console-producer", "--bootstrap-server", "127.0.0.1:1", "--topic", "t", "--request-required-acks", "7"],
        &["console-consumer", "--bootstrap-server", "127.0.0.1:1", "--topic", "t", "--offset", "3"],
        &["console-consumer", "--bootstrap-server", "127.0.0.1:1", "--topic", "t", "--partition", "0", "--offset", "soon"],
        &["server", "--nonsense"],
        &["frobnicate"],
    ] {
        let out = spool(argv).failed();
        assert!(out.stderr.contains("error"), "{argv:?}: {}", out.stderr);
        assert!(out.elapsed < Duration::from_secs(5), "{argv:?} took {:?}", out.elapsed);
    }
    let version = spool(&["--version"]).ok();
    assert!(version.stdout.starts_with("spool "), "{}", version.stdout);
    let help = spool(&["topics", "--help"]).ok();
    assert!(help.stdout.contains("--bootstrap-server"), "{}", help.stdout);
}

#[test]
fn server_config_errors_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let out = spool(&["server", "--data-dir", data.to_str().expect("utf-8"), "--set", "num.partitionz=3"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].starts_with("error: ") && lines[0].contains("num.partitionz"), "{}", lines[0]);
}

#[test]
fn an_unreachable_broker_is_one_clear_line_and_a_quick_exit() {
    let port = harness::free_port();
    let addr = format!("127.0.0.1:{port}");

    let listed = topics(&addr, &["--list"]).failed();
    assert_eq!(listed.status.code(), Some(1));
    assert_eq!(listed.lines().len(), 1, "{}", listed.stdout);
    assert!(listed.stdout.starts_with("Error while executing topic command : "), "{}", listed.stdout);
    assert!(listed.stdout.contains(&addr), "{}", listed.stdout);

    let produced = produce(&addr, "t", &[], "x\n").failed();
    let consumed = consume(&addr, "t", &["--from-beginning"]).failed();
    for out in [&listed, &produced, &consumed] {
        assert!(out.elapsed < Duration::from_secs(15), "took {:?}", out.elapsed);
    }
    for out in [&produced, &consumed] {
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", out.stderr);
        assert!(lines[0].starts_with("error: ") && lines[0].contains(&addr), "{}", lines[0]);
    }

    // A server that accepts connections but never answers: bounded too.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr").to_string();
    let hung = topics(&silent_addr, &["--list"]).failed();
    assert!(hung.elapsed < Duration::from_secs(20), "took {:?}", hung.elapsed);
    assert!(hung.stdout.contains("timed out"), "{}", hung.stdout);
    let hung = consume(&silent_addr, "t", &[]).failed();
    assert!(hung.elapsed < Duration::from_secs(15), "took {:?}", hung.elapsed);
    let hung = produce(&silent_addr, "t", &[], "x\n").failed();
    assert!(hung.elapsed < Duration::from_secs(15), "took {:?}", hung.elapsed);
    drop(silent);
}
