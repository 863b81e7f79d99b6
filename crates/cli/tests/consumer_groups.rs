//! Consumer groups through the real `spool` binary with librdkafka (`rdkafka`, and
//! `kcat` as a member that can be killed): members of one group share a topic's
//! partitions, every group gets every message, a killed member's partitions move to
//! the others, and committed offsets survive a restart.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test consumer_groups`.

mod harness;

use harness::rdkafka_client::{
    check_takeover, committed, consume_each_record_once, create_topic, drain, produce, wait_for_assignment,
    wait_for_commits_covering, wait_for_total, wait_for_two_and_two, KilledMember,
};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(60);

fn consumer(addr: &str, group: &str, extra: &[(&str, &str)]) -> StreamConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("enable.auto.commit", "false");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("create consumer")
}

#[tokio::test]
async fn three_consumers_share_the_partitions_and_a_second_group_gets_everything() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("groups-share");
    create_topic(&broker.addr, &topic, 6).await;

    let group = consumer_group_members(&broker.addr, "share-a", &topic, 3);
    let (received, tasks) = drain(&group);
    let assigned = wait_for_assignment(&group, &topic, 6, 1).await;

    const COUNT: usize = 600;
    consume_each_record_once(&broker.addr, &topic, 6, &group, &received, &assigned, COUNT).await;

    // Another group reads the whole topic too, independently of the first.
    let other = consumer_group_members(&broker.addr, "share-b", &topic, 1);
    let (received_b, tasks_b) = drain(&other);
    wait_for_total(&received_b, COUNT).await;
    let values: BTreeSet<String> = received_b.lock().unwrap()[0].iter().map(|(_, _, v)| v.clone()).collect();
    assert_eq!(values.len(), COUNT);

    for task in tasks.into_iter().chain(tasks_b) {
        task.abort();
    }
}

fn consumer_group_members(addr: &str, group: &str, topic: &str, n: usize) -> Vec<Arc<StreamConsumer>> {
    (0..n)
        .map(|_| {
            let c = consumer(addr, group, &[]);
            c.subscribe(&[topic]).expect("subscribe");
            Arc::new(c)
        })
        .collect()
}

#[tokio::test]
async fn committed_offsets_survive_a_broker_restart() {
    let mut broker = harness::Broker::start();
    let topic = harness::unique_topic("groups-restart");
    create_topic(&broker.addr, &topic, 3).await;
    produce(&broker.addr, &topic, 3, "before", 30).await;

    {
        let members = consumer_group_members(&broker.addr, "restart", &topic, 1);
        let (received, tasks) = drain(&members);
        wait_for_total(&received, 30).await;
        members[0].commit_consumer_state(CommitMode::Sync).expect("commit");
        let offsets = committed(&members[0], &topic, 3);
        assert_eq!(offsets, (0..3).map(|p| (p, Offset::Offset(10))).collect());
        for task in tasks {
            task.abort();
        }
    }

    // kill -9: nothing is closed cleanly; the offsets were written before the commit
    // was acknowledged.
    broker.restart();
    let probe = consumer(&broker.addr, "restart", &[]);
    let deadline = Instant::now() + WAIT;
    let offsets = loop {
        // The coordinator may still be loading right after the restart.
        let mut list = TopicPartitionList::new();
        for p in 0..3 {
            list.add_partition(&topic, p);
        }
        match probe.committed_offsets(list, Duration::from_secs(10)) {
            Ok(list) => break list.elements().iter().map(|e| (e.partition(), e.offset())).collect::<BTreeMap<_, _>>(),
            Err(e) if Instant::now() < deadline => {
                eprintln!("OffsetFetch after restart: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("OffsetFetch after restart kept failing: {e}"),
        }
    };
    assert_eq!(offsets, (0..3).map(|p| (p, Offset::Offset(10))).collect());
    drop(probe);

    // A member of the same group resumes where the group left off.
    produce(&broker.addr, &topic, 3, "after", 9).await;
    let members = consumer_group_members(&broker.addr, "restart", &topic, 1);
    let (received, tasks) = drain(&members);
    wait_for_total(&received, 9).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = received.lock().unwrap()[0].clone();
    assert_eq!(got.len(), 9, "only the records after the committed offsets: {got:?}");
    assert!(got.iter().all(|(_, offset, value)| value.starts_with("after-") && *offset >= 10));
    for task in tasks {
        task.abort();
    }
}

/// What a member printed, one `(partition, offset, value)` per record.
type Printed = Arc<Mutex<Vec<(i32, i64, String)>>>;

/// Starts `kcat` as a member of `group` consuming `topic`; returns the process and what
/// it prints.
fn kcat_member(addr: &str, group: &str, topic: &str) -> (std::process::Child, Printed) {
    let mut child = Command::new("kcat")
        .args(["-b", addr, "-G", group, topic, "-u", "-q", "-f", "%p %o %s\\n"])
        .args(["-X", "session.timeout.ms=6000", "-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=100"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kcat (scripts/install-test-deps installs it)");
    let stdout = child.stdout.take().expect("kcat stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut parts = line.splitn(3, ' ');
            let (Some(p), Some(o), Some(v)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if let (Ok(p), Ok(o)) = (p.parse(), o.parse()) {
                sink.lock().expect("printed records").push((p, o, v.to_string()));
            }
        }
    });
    (child, lines)
}

#[tokio::test]
async fn a_killed_member_s_partitions_move_to_the_others_after_its_session_timeout() {
    let broker = harness::Broker::start();
    let topic = harness::unique_topic("groups-kill");
    create_topic(&broker.addr, &topic, 4).await;
    produce(&broker.addr, &topic, 4, "first", 40).await;

    let survivor = Arc::new(consumer(&broker.addr, "kill", &[("session.timeout.ms", "6000")]));
    survivor.subscribe(&[&topic]).expect("subscribe");
    let members = [survivor.clone()];
    let (received, tasks) = drain(&members);
    let (mut kcat, kcat_lines) = kcat_member(&broker.addr, "kill", &topic);

    // Both members own two partitions and together consumed the first batch.
    let theirs = wait_for_two_and_two(&members, &received, &kcat_lines, &topic, 40).await;
    // Wait for kcat's auto-commit to cover what it consumed; then it dies without
    // leaving the group.
    let probe = consumer(&broker.addr, "kill", &[]);
    let (committed_before, consumed_by_kcat) = wait_for_commits_covering(&probe, &topic, &theirs, &kcat_lines).await;
    kcat.kill().expect("kill kcat");
    let _ = kcat.wait();
    let killed = Instant::now();
    assert_eq!(kcat_lines.lock().unwrap().len(), consumed_by_kcat.len(), "kcat consumed nothing new meanwhile");
    let dead = KilledMember { partitions: theirs, committed: committed_before, consumed: consumed_by_kcat, killed };
    check_takeover(&broker.addr, &topic, &members, &received, &dead).await;
    for task in tasks {
        task.abort();
    }
}
