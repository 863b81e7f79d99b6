//! `spool consumer-groups` (as `kafka-consumer-groups`) and `spool console-consumer
//! --group` end to end: real `spool` processes against a real `spool server`, with
//! librdkafka (`rdkafka`) consumers as the group members and as the independent judge
//! of what is committed.
//!
//! - `--list` / `--describe` (offsets, members, state) of a live group that consumed
//!   part of a topic: per-partition current offset, log end, lag, member, host, client;
//!   the same group after its member left;
//! - `--reset-offsets` (to-earliest, to-offset, shift-by, to-datetime, to-latest
//!   clamping): the dry run plans and changes nothing, `--execute` commits, and a group
//!   member then resumes exactly there; an active group is refused;
//! - `--delete-offsets`, `--delete`, and their refusals for an active group;
//! - `console-consumer --group` commits what it printed, so a second run resumes;
//! - deleting a topic removes the groups' offsets of it.
//!
//! Every child process runs under a time limit. Run:
//! `cargo build -p spool-cli && cargo test -p spool-cli --test consumer_groups_cli`.

mod harness;
mod wire;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use harness::{spool_bin, unique_topic, Broker};

/// Upper bound for any one tool invocation.
const LIMIT: Duration = Duration::from_secs(60);
/// Upper bound for a group to form or a record to arrive.
const WAIT: Duration = Duration::from_secs(30);
/// 2024-01-01T00:00:00.000Z: the create time of record 0 in the reset tests; record
/// `i` is one second later per offset.
const BASE_TIME_MS: i64 = 1_704_067_200_000;

/// The outcome of one finished process.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert!(self.status.success(), "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr);
        self
    }

    fn failed(self) -> Run {
        assert_eq!(self.status.code(), Some(1), "expected exit 1\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// The whitespace-separated cells of each non-empty stdout line after the header
    /// that starts with `first_header_cell`.
    fn table(&self, first_header_cell: &str) -> Vec<Vec<String>> {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let Some(header) = lines.iter().position(|l| l.starts_with(first_header_cell)) else {
            panic!("no table with header {first_header_cell:?} in:\n{}", self.stdout);
        };
        lines[header + 1..]
            .iter()
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    }
}

fn run_program(program: &Path, args: &[&str]) -> Run {
    let mut child: Child = Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spool");
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish within {LIMIT:?}; stderr:\n{}", stderr.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

/// `spool consumer-groups --bootstrap-server ADDR args…`.
fn groups(addr: &str, args: &[&str]) -> Run {
    let mut argv = vec!["consumer-groups", "--bootstrap-server", addr];
    argv.extend_from_slice(args);
    run_program(&spool_bin(), &argv)
}

/// Produces `values[i]` to `partition` with create time `timestamps[i]` (or now).
fn produce(addr: &str, topic: &str, partition: i32, values: &[String], timestamps: Option<&[i64]>) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("create producer");
    let deliveries: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let mut record: FutureRecord<'_, (), str> = FutureRecord::to(topic).partition(partition).payload(value);
            if let Some(ts) = timestamps {
                record = record.timestamp(ts[i]);
            }
            producer.send_result(record).map_err(|(e, _)| e).expect("enqueue record")
        })
        .collect();
    for (i, delivery) in deliveries.into_iter().enumerate() {
        if let Err((e, _)) = block_on(delivery).expect("delivery not cancelled") {
            panic!("record {i} to {topic}-{partition} not delivered: {e}");
        }
    }
}

fn consumer_config(addr: &str, group: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .set("session.timeout.ms", "10000");
    config
}

/// A group member subscribed to `topic`, polled until it owns `partitions` partitions.
fn member(addr: &str, group: &str, client_id: &str, topic: &str, partitions: usize) -> BaseConsumer {
    let consumer: BaseConsumer = consumer_config(addr, group, client_id).create().expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + WAIT;
    while consumer.assignment().map(|a| a.count()).unwrap_or(0) < partitions {
        assert!(Instant::now() < deadline, "member {client_id} of {group} got no assignment within {WAIT:?}");
        let _ = consumer.poll(Duration::from_millis(100));
    }
    consumer
}

/// The next record a consumer gets: (partition, offset, value).
fn next_record(consumer: &BaseConsumer) -> (i32, i64, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no record within {WAIT:?}");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                return (m.partition(), m.offset(), String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
}

/// Commits `offsets` (partition → next offset to read) for the consumer's group.
fn commit(consumer: &BaseConsumer, topic: &str, offsets: &[(i32, i64)]) {
    let mut list = TopicPartitionList::new();
    for (partition, offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset)).expect("add partition");
    }
    consumer.commit(&list, CommitMode::Sync).expect("commit offsets");
}

/// What the group has committed per partition, as librdkafka reads it (OffsetFetch);
/// `None` where nothing is committed.
fn committed(addr: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = consumer_config(addr, group, "judge").create().expect("create consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let found = consumer.committed_offsets(list, Duration::from_secs(15)).expect("OffsetFetch");
    (0..partitions)
        .map(|p| match found.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect()
}

/// A standalone consumer of the group (assign, no subscription) that commits
/// `offsets` as a group without members does.
fn commit_standalone(addr: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let consumer: BaseConsumer = consumer_config(addr, group, "standalone").create().expect("create consumer");
    let mut list = TopicPartitionList::new();
    for (p, _) in offsets {
        list.add_partition(topic, *p);
    }
    consumer.assign(&list).expect("assign");
    commit(&consumer, topic, offsets);
}

/// Where a fresh member of the group starts reading the one-partition `topic`.
fn resume_offset(addr: &str, group: &str, topic: &str) -> i64 {
    let consumer = member(addr, group, "resumer", topic, 1);
    let (_, offset, value) = next_record(&consumer);
    assert_eq!(value, format!("v-{offset}"), "the record at {offset}");
    offset
}

#[test]
fn list_and_describe_show_each_partition_with_lag_and_its_member() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("cg-describe");
    let group = unique_topic("cg-describe-group");
    wire::create_topic(addr, &topic, 3);
    for p in 0..3 {
        produce(addr, &topic, p, &(0..10).map(|i| format!("p{p}-{i}")).collect::<Vec<_>>(), None);
    }
    // One member owns all three partitions and has consumed 2, 5 and 10 of them.
    let consumed = [(0, 2), (1, 5), (2, 10)];
    let live = member(addr, &group, "cg-cli-member", &topic, 3);
    commit(&live, &topic, &consumed);

    let listed = groups(addr, &["--list"]).ok();
    assert!(listed.stdout.lines().any(|l| l == group), "--list:\n{}", listed.stdout);
    // The binary answers as kafka-consumer-groups.sh through a link of that name.
    let links = tempfile::tempdir().expect("temp dir");
    let link = links.path().join("kafka-consumer-groups.sh");
    std::os::unix::fs::symlink(spool_bin(), &link).expect("symlink");
    let listed = run_program(&link, &["--bootstrap-server", addr, "--list"]).ok();
    assert!(listed.stdout.lines().any(|l| l == group), "kafka-consumer-groups.sh --list:\n{}", listed.stdout);

    let described = groups(addr, &["--describe", "--group", &group]).ok();
    let lines: Vec<&str> = described.stdout.lines().collect();
    assert_eq!(lines[0], "", "Kafka starts the table with an empty line:\n{}", described.stdout);
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(header, ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]);
    let rows = described.table("GROUP");
    assert_eq!(rows.len(), 3, "{}", described.stdout);
    for (row, (partition, offset)) in rows.iter().zip(consumed) {
        let expected = [group.clone(), topic.clone(), partition.to_string(), offset.to_string(), "10".into(), (10 - offset).to_string()];
        assert_eq!(row[..6], expected, "{}", described.stdout);
        assert!(row[6].starts_with("cg-cli-member-"), "member id {:?}", row[6]);
        assert_eq!(row[7], "/127.0.0.1", "host as Kafka prints it");
        assert_eq!(row[8], "cg-cli-member");
    }
    // Columns line up under their headings (Kafka's widths: at least 15, else the longest).
    for heading in ["TOPIC", "PARTITION", "CURRENT-OFFSET", "CONSUMER-ID", "HOST", "CLIENT-ID"] {
        let column = lines[1].find(heading).expect("heading");
        for line in &lines[2..5] {
            assert!(line[..column].ends_with(' ') && !line[column..].starts_with(' '), "{heading} misaligned in {line:?}");
        }
    }

    let members = groups(addr, &["--describe", "--group", &group, "--members", "--verbose"]).ok();
    let header: Vec<&str> = members.stdout.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]);
    let rows = members.table("GROUP");
    assert_eq!(rows.len(), 1, "{}", members.stdout);
    assert_eq!(rows[0][2..], ["/127.0.0.1".to_string(), "cg-cli-member".into(), "3".into(), format!("{topic}(0,1,2)")]);

    let state = groups(addr, &["--describe", "--group", &group, "--state"]).ok();
    let header: Vec<&str> = state.stdout.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]);
    let rows = state.table("GROUP");
    assert_eq!(rows[0], [group.clone(), addr.to_string(), "(1)".into(), "range".into(), "Stable".into(), "1".into()]);

    let listed = groups(addr, &["--list", "--state"]).ok();
    assert!(listed.table("GROUP").contains(&vec![group.clone(), "Stable".into()]), "{}", listed.stdout);

    // The member leaves: its partitions show no member, and Kafka's note says why.
    drop(live);
    let described = groups(addr, &["--describe", "--group", &group]).ok();
    assert!(described.stderr.contains(&format!("Consumer group '{group}' has no active members.")), "{}", described.stderr);
    let rows = described.table("GROUP");
    assert_eq!(rows.len(), 3);
    for (row, (partition, offset)) in rows.iter().zip(consumed) {
        let lag = (10 - offset).to_string();
        let expected = [group.as_str(), &topic, &partition.to_string(), &offset.to_string(), "10", &lag, "-", "-", "-"];
        assert_eq!(row, &expected, "{}", described.stdout);
    }
    let listed = groups(addr, &["--list", "--state", "empty"]).ok();
    assert!(listed.table("GROUP").contains(&vec![group.clone(), "Empty".into()]), "{}", listed.stdout);

    let missing = groups(addr, &["--describe", "--group", "no-such-group"]).failed();
    assert!(missing.stdout.contains("Error: Consumer group 'no-such-group' does not exist."), "{}", missing.stdout);
}

#[test]
fn reset_offsets_plans_on_dry_run_and_a_member_resumes_where_execute_put_the_group() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("cg-reset");
    let group = unique_topic("cg-reset-group");
    wire::create_topic(addr, &topic, 1);
    let values: Vec<String> = (0..10).map(|i| format!("v-{i}")).collect();
    let times: Vec<i64> = (0..10).map(|i| BASE_TIME_MS + i * 1000).collect();
    produce(addr, &topic, 0, &values, Some(&times));

    // While a member is active, Kafka refuses to reset and commits nothing.
    let live = member(addr, &group, "cg-reset-member", &topic, 1);
    commit(&live, &topic, &[(0, 10)]);
    let refused = groups(addr, &["--reset-offsets", "--group", &group, "--topic", &topic, "--to-earliest", "--execute"]).failed();
    let expected = format!("Error: Assignments can only be reset if the group '{group}' is inactive, but the current state is Stable.");
    assert!(refused.stdout.contains(&expected), "{}", refused.stdout);
    assert_eq!(committed(addr, &group, &topic, 1), [Some(10)]);
    drop(live);

    let partition_arg = format!("{topic}:0");
    let scenarios: [(&[&str], i64); 6] = [
        (&["--topic", &topic, "--to-earliest"], 0),
        (&["--all-topics", "--to-offset", "4"], 4),
        (&["--topic", &partition_arg, "--shift-by", "-3"], 1),
        (&["--topic", &topic, "--to-datetime", "2024-01-01T00:00:06.000"], 6),
        (&["--all-topics", "--to-datetime", "2024-01-01T01:00:07.500+01:00"], 8),
        (&["--topic", &topic, "--shift-by", "-6"], 2),
    ];
    let mut current = 10;
    for (scope, expected) in scenarios {
        let mut argv = vec!["--reset-offsets", "--group", &group];
        argv.extend_from_slice(scope);
        let planned = groups(addr, &[argv.as_slice(), &["--dry-run"]].concat()).ok();
        assert_eq!(
            planned.table("GROUP"),
            [[group.clone(), topic.clone(), "0".into(), expected.to_string()]],
            "dry run of {scope:?}:\n{}",
            planned.stdout
        );
        assert_eq!(committed(addr, &group, &topic, 1), [Some(current)], "a dry run of {scope:?} commits nothing");

        let executed = groups(addr, &[argv.as_slice(), &["--execute"]].concat()).ok();
        assert_eq!(executed.table("GROUP"), planned.table("GROUP"), "--execute of {scope:?} prints the plan it commits");
        assert_eq!(committed(addr, &group, &topic, 1), [Some(expected)], "after {scope:?}");
        assert_eq!(resume_offset(addr, &group, &topic), expected, "a member resumes where {scope:?} put the group");
        current = expected;
    }

    // Past the log end is clamped to it, with Kafka's warning; --export prints CSV.
    let clamped = groups(addr, &["--reset-offsets", "--group", &group, "--topic", &topic, "--to-offset", "99", "--execute"]).ok();
    assert!(clamped.stderr.contains(&format!("New offset (99) is higher than latest offset for topic partition {topic}-0. Value will be set to 10")), "{}", clamped.stderr);
    assert_eq!(committed(addr, &group, &topic, 1), [Some(10)]);
    let exported = groups(addr, &["--reset-offsets", "--group", &group, "--all-topics", "--to-earliest", "--dry-run", "--export"]).ok();
    assert_eq!(exported.stdout, format!("{topic},0,0\n\n"));
    // A shift needs a committed offset to shift from.
    let unknown = groups(addr, &["--reset-offsets", "--group", "cg-never-committed", "--topic", &topic, "--shift-by", "1"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", unknown.stderr);
    assert!(unknown.stderr.contains(&format!("Cannot shift offset for partition {topic}-0 since there is no current committed offset")));
}

#[test]
fn delete_offsets_and_delete_groups_refuse_an_active_group() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("cg-delete");
    let idle = unique_topic("cg-delete-idle");
    let active = unique_topic("cg-delete-active");
    wire::create_topic(addr, &topic, 2);
    commit_standalone(addr, &idle, &topic, &[(0, 3), (1, 4)]);

    let deleted = groups(addr, &["--delete-offsets", "--group", &idle, "--topic", &format!("{topic}:0")]).ok();
    assert!(deleted.stdout.starts_with(&format!("Request succeed for deleting offsets with topic {topic}:0 group {idle}")), "{}", deleted.stdout);
    assert_eq!(deleted.table("TOPIC"), [[topic.clone(), "0".into(), "Successful".into()]]);
    assert_eq!(committed(addr, &idle, &topic, 2), [None, Some(4)]);

    let live = member(addr, &active, "cg-delete-member", &topic, 2);
    commit(&live, &topic, &[(0, 1)]);
    let refused = groups(addr, &["--delete", "--group", &active]).failed();
    assert!(refused.stdout.contains("Error: Deletion of some consumer groups failed:"), "{}", refused.stdout);
    assert!(refused.stdout.contains(&format!("* Group '{active}' could not be deleted due to: java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.")), "{}", refused.stdout);
    let refused = groups(addr, &["--delete-offsets", "--group", &active, "--topic", &topic]).failed();
    assert!(refused.stdout.contains("Error: Encounter some partition level error, see the follow-up details:"), "{}", refused.stdout);
    assert!(refused.stdout.contains("GroupSubscribedToTopicException"), "{}", refused.stdout);
    assert_eq!(committed(addr, &active, &topic, 2), [Some(1), None], "nothing was deleted");
    drop(live);

    let deleted = groups(addr, &["--delete", "--group", &idle]).ok();
    assert_eq!(deleted.stdout, format!("Deletion of requested consumer groups ('{idle}') was successful.\n"));
    assert!(!groups(addr, &["--list"]).ok().stdout.lines().any(|l| l == idle));
    assert_eq!(committed(addr, &idle, &topic, 2), [None, None]);
    let missing = groups(addr, &["--delete", "--group", &idle]).failed();
    assert!(missing.stdout.contains("GroupIdNotFoundException: The group id does not exist."), "{}", missing.stdout);
}

#[test]
fn console_consumer_with_a_group_commits_what_it_printed_and_a_second_run_resumes() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let topic = unique_topic("cg-console");
    let group = unique_topic("cg-console-group");
    wire::create_topic(addr, &topic, 1);
    produce(addr, &topic, 0, &(0..20).map(|i| format!("v-{i}")).collect::<Vec<_>>(), None);

    let consume = |extra: &[&str]| {
        let argv = [&["console-consumer", "--bootstrap-server", addr, "--topic", &topic, "--group", &group], extra].concat();
        run_program(&spool_bin(), &argv).ok()
    };
    let first = consume(&["--from-beginning", "--max-messages", "8"]);
    assert_eq!(first.stdout.lines().collect::<Vec<_>>(), (0..8).map(|i| format!("v-{i}")).collect::<Vec<_>>());
    assert_eq!(committed(addr, &group, &topic, 1), [Some(8)], "the 8 printed records are committed, no more");
    let described = groups(addr, &["--describe", "--group", &group]).ok();
    assert_eq!(described.table("GROUP")[0][3..6], ["8".to_string(), "20".into(), "12".into()]);

    // No --from-beginning: the committed offset decides where the second run starts.
    let second = consume(&["--max-messages", "12"]);
    assert_eq!(second.stdout.lines().collect::<Vec<_>>(), (8..20).map(|i| format!("v-{i}")).collect::<Vec<_>>());
    assert_eq!(committed(addr, &group, &topic, 1), [Some(20)]);
    let third = consume(&["--from-beginning", "--timeout-ms", "6000"]);
    assert_eq!(third.stdout, "", "--from-beginning does not override a committed offset");
    assert!(third.stderr.contains("Processed a total of 0 messages"), "{}", third.stderr);
}

#[test]
fn deleting_a_topic_removes_the_groups_offsets_of_it() {
    let broker = Broker::start();
    let addr = broker.addr.as_str();
    let doomed = unique_topic("cg-doomed");
    let kept = unique_topic("cg-kept");
    let group = unique_topic("cg-doomed-group");
    wire::create_topic(addr, &doomed, 1);
    wire::create_topic(addr, &kept, 1);
    commit_standalone(addr, &group, &doomed, &[(0, 0)]);
    commit_standalone(addr, &group, &kept, &[(0, 0)]);
    let before: BTreeMap<String, usize> = groups(addr, &["--describe", "--group", &group])
        .ok()
        .table("GROUP")
        .iter()
        .fold(BTreeMap::new(), |mut m, row| {
            *m.entry(row[1].clone()).or_default() += 1;
            m
        });
    assert_eq!(before.len(), 2, "{before:?}");

    let deleted = run_program(&spool_bin(), &["topics", "--bootstrap-server", addr, "--delete", "--topic", &doomed]);
    assert!(deleted.status.success(), "{}", deleted.stdout);
    let rows = groups(addr, &["--describe", "--group", &group]).ok().table("GROUP");
    assert_eq!(rows.iter().map(|r| r[1].clone()).collect::<Vec<_>>(), std::slice::from_ref(&kept), "only the kept topic's offset is left");
    // Recreating the topic does not bring the old offset back.
    wire::create_topic(addr, &doomed, 1);
    assert_eq!(committed(addr, &group, &doomed, 1), [None]);
    assert_eq!(committed(addr, &group, &kept, 1), [Some(0)]);
}
