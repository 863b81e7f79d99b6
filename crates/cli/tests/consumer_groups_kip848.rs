//! KIP-848 consumer groups (`group.protocol=consumer`) through the real `spool` binary
//! with librdkafka 2.12: the coordinator assigns partitions server-side. Three members
//! share a topic's partitions disjointly and consume every record once; a killed
//! member's partitions move after the session timeout and consumption resumes at the
//! committed offsets; a new member takes only what it needs; committed offsets survive
//! a kill -9 of the broker.
//!
//! The killed member is this test binary run again as a child process
//! (`KIP848_MEMBER=...`, see [`member_process`]), so it can be killed with SIGKILL.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test consumer_groups_kip848`.

mod harness;

use harness::rdkafka_client::{
    assignments, check_takeover, committed, consume_each_record_once, create_topic, drain, produce, wait_for_assignment,
    wait_for_commits_covering, wait_for_total, wait_for_two_and_two, KilledMember,
};

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::Offset;

const WAIT: Duration = Duration::from_secs(60);

/// Broker settings that make membership changes quick to observe.
const FAST_GROUPS: &[&str] =
    &["--set", "group.consumer.session.timeout.ms=6000", "--set", "group.consumer.heartbeat.interval.ms=500"];

/// A consumer of the KIP-848 protocol (no client-side session timeout or assignor).
fn consumer(addr: &str, group: &str, extra: &[(&str, &str)]) -> StreamConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("create consumer")
}

fn members(addr: &str, group: &str, topic: &str, n: usize) -> Vec<Arc<StreamConsumer>> {
    (0..n)
        .map(|_| {
            let c = consumer(addr, group, &[]);
            c.subscribe(&[topic]).expect("subscribe");
            Arc::new(c)
        })
        .collect()
}

#[tokio::test]
async fn three_consumers_share_six_partitions_and_consume_every_record_once() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("kip848-share");
    create_topic(&broker.addr, &topic, 6).await;

    let group = members(&broker.addr, "kip848-share", &topic, 3);
    let (received, tasks) = drain(&group);
    let assigned = wait_for_assignment(&group, &topic, 6, 2).await;

    consume_each_record_once(&broker.addr, &topic, 6, &group, &received, &assigned, 600).await;
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn a_new_member_takes_only_what_it_needs() {
    let broker = harness::Broker::start_with(FAST_GROUPS);
    let topic = harness::unique_topic("kip848-add");
    create_topic(&broker.addr, &topic, 6).await;

    // Members apply their assignment while they poll.
    let mut group = members(&broker.addr, "kip848-add", &topic, 2);
    let (_, tasks) = drain(&group);
    let before = wait_for_assignment(&group, &topic, 6, 3).await;
    group.extend(members(&broker.addr, "kip848-add", &topic, 1));
    let (_, more) = drain(&group[2..]);
    let after = wait_for_assignment(&group, &topic, 6, 2).await;
    for task in tasks.into_iter().chain(more) {
        task.abort();
    }
    for member in 0..2 {
        assert!(after[member].is_subset(&before[member]), "member {member} got partitions it did not need: {before:?} -> {after:?}");
        assert_eq!(after[member].len(), 2, "{before:?} -> {after:?}");
    }
}

/// What a member printed, one `(partition, offset, value)` per record.
type Printed = Arc<Mutex<Vec<(i32, i64, String)>>>;

/// Runs this test binary again as a group member that prints `partition offset value`
/// per record and commits every 100 ms; killing it leaves no trace in the group but its
/// session.
fn spawn_member(addr: &str, group: &str, topic: &str) -> (MemberProcess, Printed) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["member_process", "--exact", "--nocapture", "--test-threads=1"])
        .env("KIP848_MEMBER", format!("{addr} {group} {topic}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn member process");
    let stdout = child.stdout.take().expect("member stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest may print "test member_process ... " before the first record.
            let Some(rest) = line.find("REC ").map(|i| &line[i + 4..]) else { continue };
            let mut parts = rest.splitn(3, ' ');
            let (Some(p), Some(o), Some(v)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if let (Ok(p), Ok(o)) = (p.parse(), o.parse()) {
                sink.lock().expect("printed records").push((p, o, v.to_string()));
            }
        }
    });
    (MemberProcess(child), lines)
}

/// The member process, killed when dropped (also when the test fails).
struct MemberProcess(std::process::Child);

impl MemberProcess {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for MemberProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The member process of [`spawn_member`]; does nothing when run as an ordinary test.
#[tokio::test]
async fn member_process() {
    let Ok(spec) = std::env::var("KIP848_MEMBER") else { return };
    let mut parts = spec.split(' ');
    let (Some(addr), Some(group), Some(topic)) = (parts.next(), parts.next(), parts.next()) else { return };
    let c = consumer(addr, group, &[("enable.auto.commit", "true"), ("auto.commit.interval.ms", "100")]);
    c.subscribe(&[topic]).expect("subscribe");
    loop {
        let m = c.recv().await;
        if let Err(e) = &m {
            eprintln!("member process: {e}");
        }
        if let Ok(m) = m {
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "REC {} {} {value}", m.partition(), m.offset());
            let _ = out.flush();
        }
    }
}

#[tokio::test]
async fn a_killed_member_s_partitions_move_after_its_session_and_resume_at_the_committed_offsets() {
    let broker = harness::Broker::start_with(FAST_GROUPS);
    let topic = harness::unique_topic("kip848-kill");
    create_topic(&broker.addr, &topic, 4).await;
    produce(&broker.addr, &topic, 4, "first", 40).await;

    let group = "kip848-kill";
    let survivor = members(&broker.addr, group, &topic, 1);
    let (received, tasks) = drain(&survivor);
    let (mut child, child_lines) = spawn_member(&broker.addr, group, &topic);

    let theirs = wait_for_two_and_two(&survivor, &received, &child_lines, &topic, 40).await;
    // Wait until the child's auto-commit covers what it consumed, then SIGKILL it.
    let probe = consumer(&broker.addr, group, &[]);
    let (committed_before, consumed_by_child) = wait_for_commits_covering(&probe, &topic, &theirs, &child_lines).await;
    child.kill();
    let dead = KilledMember { partitions: theirs, committed: committed_before, consumed: consumed_by_child, killed: Instant::now() };
    check_takeover(&broker.addr, &topic, &survivor, &received, &dead).await;
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn committed_offsets_and_the_group_survive_a_broker_kill() {
    // The first member may not get to leave before the kill: its session (6 s here)
    // holds its partitions after the restart until it ends.
    let mut broker = harness::Broker::start_with(FAST_GROUPS);
    let topic = harness::unique_topic("kip848-restart");
    create_topic(&broker.addr, &topic, 3).await;
    produce(&broker.addr, &topic, 3, "before", 30).await;
    {
        let group = members(&broker.addr, "kip848-restart", &topic, 1);
        let (received, tasks) = drain(&group);
        wait_for_total(&received, 30).await;
        group[0].commit_consumer_state(CommitMode::Sync).expect("commit");
        assert_eq!(committed(&group[0], &topic, 3), (0..3).map(|p| (p, Offset::Offset(10))).collect());
        for task in tasks {
            task.abort();
        }
    }

    // kill -9, then start again on the same data.
    broker.restart();
    produce(&broker.addr, &topic, 3, "after", 9).await;
    let group = members(&broker.addr, "kip848-restart", &topic, 1);
    let (received, tasks) = drain(&group);
    wait_for_total(&received, 9).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = received.lock().unwrap()[0].clone();
    assert_eq!(got.len(), 9, "only the records after the committed offsets: {got:?}");
    assert!(got.iter().all(|(_, offset, value)| value.starts_with("after-") && *offset >= 10));
    for task in tasks {
        task.abort();
    }
}

/// `spool consumer-groups` with `args`; its stdout.
fn consumer_groups_cli(addr: &str, args: &[&str]) -> String {
    harness::tool_output("consumer-groups", addr, args)
}

#[tokio::test]
async fn the_cli_lists_and_describes_a_consumer_group() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("kip848-cli");
    let group_id = harness::unique_topic("kip848-cli-group");
    create_topic(&broker.addr, &topic, 4).await;
    let group = members(&broker.addr, &group_id, &topic, 2);
    let (_, tasks) = drain(&group);
    let assigned = wait_for_assignment(&group, &topic, 4, 2).await;

    let listed = consumer_groups_cli(&broker.addr, &["--list", "--type", "--state"]);
    let line = listed.lines().find(|l| l.starts_with(&group_id)).unwrap_or_else(|| panic!("not listed:\n{listed}"));
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[1..], ["Consumer", "Stable"], "{listed}");
    let classic_only = consumer_groups_cli(&broker.addr, &["--list", "--type", "classic"]);
    assert!(!classic_only.contains(&group_id), "{classic_only}");

    let described = consumer_groups_cli(&broker.addr, &["--describe", "--group", &group_id, "--members", "--verbose"]);
    let rows: Vec<&str> = described.lines().filter(|l| l.starts_with(&group_id)).collect();
    assert_eq!(rows.len(), 2, "{described}");
    for partitions in &assigned {
        let text = format!("{topic}({})", partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(","));
        assert!(described.contains(&text), "{text} not in\n{described}");
    }
    let state = consumer_groups_cli(&broker.addr, &["--describe", "--group", &group_id, "--state"]);
    assert!(state.contains("uniform") && state.contains("Stable"), "{state}");
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn a_static_member_that_comes_back_quickly_gets_its_partitions_without_a_rebalance() {
    let broker = harness::Broker::start_with(FAST_GROUPS);
    let topic = harness::unique_topic("kip848-static");
    create_topic(&broker.addr, &topic, 4).await;
    let group_id = "kip848-static";
    let static_member = || {
        let c = consumer(&broker.addr, group_id, &[("group.instance.id", "static-a")]);
        c.subscribe(&[topic.as_str()]).expect("subscribe");
        Arc::new(c)
    };

    let dynamic = members(&broker.addr, group_id, &topic, 1);
    let first = vec![static_member()];
    let (_, dynamic_tasks) = drain(&dynamic);
    let (_, first_tasks) = drain(&first);
    let both = [first[0].clone(), dynamic[0].clone()];
    let before = wait_for_assignment(&both, &topic, 4, 2).await;

    // Close the static member (it leaves with epoch -2) and start its next incarnation.
    drop(both);
    for task in first_tasks {
        task.abort();
        let _ = task.await;
    }
    let closed = tokio::task::spawn_blocking(move || drop(first));
    closed.await.expect("close the static member");
    let second = vec![static_member()];
    let (_, second_tasks) = drain(&second);

    // The new incarnation gets the old one's partitions; the other member keeps its own
    // all along (a rebalance would have moved partitions to it in between).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert_eq!(assignments(&dynamic, &topic)[0], before[1], "the other member's assignment changed");
        let now = assignments(&second, &topic)[0].clone();
        if !now.is_empty() {
            assert_eq!(now, before[0], "the static member came back with other partitions");
            break;
        }
        assert!(Instant::now() < deadline, "the static member got nothing back within 5 s (its session is 6 s)");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And it stays that way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(assignments(&dynamic, &topic)[0], before[1]);
    assert_eq!(assignments(&second, &topic)[0], before[0]);
    for task in dynamic_tasks.into_iter().chain(second_tasks) {
        task.abort();
    }
}

#[tokio::test]
async fn a_regex_subscription_gets_topics_created_later() {
    let broker = harness::Broker::start_with(FAST_GROUPS);
    let prefix = harness::unique_topic("kip848re");
    let first = format!("{prefix}-a");
    create_topic(&broker.addr, &first, 2).await;
    create_topic(&broker.addr, &harness::unique_topic("kip848-other"), 1).await;
    let c = consumer(&broker.addr, "kip848-regex", &[("topic.metadata.refresh.interval.ms", "1000")]);
    c.subscribe(&[format!("^{prefix}-.*").as_str()]).expect("subscribe");
    let group = vec![Arc::new(c)];
    let (received, tasks) = drain(&group);

    let assigned = |topic: &str| assignments(&group, topic)[0].clone();
    let deadline = Instant::now() + WAIT;
    while assigned(&first).len() < 2 {
        assert!(Instant::now() < deadline, "the matching topic was never assigned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = group[0].assignment().expect("assignment");
    assert!(all.elements().iter().all(|e| e.topic() == first), "only matching topics: {all:?}");

    // A matching topic created later is assigned within a few heartbeats, and consumed.
    let second = format!("{prefix}-b");
    create_topic(&broker.addr, &second, 3).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while assigned(&second).len() < 3 {
        assert!(Instant::now() < deadline, "the topic created later was never assigned: {:?}", group[0].assignment());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    produce(&broker.addr, &second, 3, "late", 9).await;
    wait_for_total(&received, 9).await;
    assert!(received.lock().unwrap()[0].iter().all(|(_, _, v)| v.starts_with("late-")));
    for task in tasks {
        task.abort();
    }
}
