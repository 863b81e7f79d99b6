//! `spool cluster` and `kafka-metadata-quorum` against real `spool server` processes:
//! a cluster of one (the node is the only broker, the active controller and the only
//! voter, leading the quorum) and three nodes (three brokers, one quorum leader, three
//! voters; after SIGKILL of the leader another node leads with a higher epoch). Also
//! DescribeQuorum on the wire: a node that does not lead answers NOT_LEADER_OR_FOLLOWER.
//!
//! Every tool invocation runs under a time limit, so a hanging tool fails its test.
//!
//! Run: `cargo test -p spool-cli --test cluster_command`.

mod harness;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use harness::{spool_bin, unique_topic, Broker};

/// Upper bound for any one tool invocation.
const TOOL_LIMIT: Duration = Duration::from_secs(60);
/// Upper bound for a cluster to form or to elect a new quorum leader.
const CLUSTER_LIMIT: Duration = Duration::from_secs(60);
/// Error code of NOT_LEADER_OR_FOLLOWER.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

/// Runs `program args` under [`TOOL_LIMIT`] and returns its output.
fn run_tool(program: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the spool binary");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > TOOL_LIMIT {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "{program:?} {args:?} ran over {TOOL_LIMIT:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

fn spool(args: &[&str]) -> Output {
    run_tool(&spool_bin(), args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// The value after `Key:` on the line that starts with it.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key}: line in\n{text}"))
}

fn int_field(text: &str, key: &str) -> i64 {
    field(text, key).parse().unwrap_or_else(|e| panic!("{key} is not a number ({e}) in\n{text}"))
}

/// The tab-separated, space-padded cells of the table rows that follow the header whose
/// first column is `first_column`, up to the next blank line.
fn table<'a>(text: &'a str, first_column: &str) -> Vec<Vec<&'a str>> {
    let is_header = |l: &str| l.contains('\t') && l.split('\t').next().map(str::trim_end) == Some(first_column);
    let mut lines = text.lines().skip_while(|l| !is_header(l));
    assert!(lines.next().is_some(), "no table with first column {first_column:?} in\n{text}");
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect()
}

/// The ids in a `CurrentVoters:` / `CurrentObservers:` list.
fn listed_ids(list: &str) -> BTreeSet<i32> {
    list.split("\"id\": ")
        .skip(1)
        .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or_default().parse().expect("an id"))
        .collect()
}

/// What `spool cluster` said about the quorum and the brokers.
#[derive(Debug)]
struct Overview {
    text: String,
    leader: i32,
    epoch: i64,
    brokers: Vec<i32>,
}

fn overview(text: String) -> Overview {
    let brokers = table(&text, "Id").iter().map(|row| row[0].parse().expect("a broker id")).collect();
    Overview { leader: int_field(&text, "LeaderId") as i32, epoch: int_field(&text, "LeaderEpoch"), brokers, text }
}

#[test]
fn a_cluster_of_one_is_its_own_controller_and_quorum_leader() {
    let broker = Broker::start();
    let topic = unique_topic("cluster-one");
    ok(
        spool(&["topics", "--bootstrap-server", &broker.addr, "--create", "--topic", &topic, "--partitions", "2"]),
        "create",
    );

    let text = ok(spool(&["cluster", "--bootstrap-server", &broker.addr]), "spool cluster");
    let view = overview(text);
    let text = &view.text;
    let brokers = table(text, "Id");
    assert_eq!(brokers.len(), 1, "{text}");
    assert_eq!(brokers[0][1], broker.addr, "{text}");
    let id = view.brokers[0];
    assert_eq!(field(text, "ActiveController"), format!("{id} ({})", broker.addr), "{text}");
    assert_eq!(view.leader, id, "{text}");
    assert!(view.epoch >= 1, "{text}");
    assert!(int_field(text, "HighWatermark") >= 1, "{text}");
    assert_eq!(listed_ids(field(text, "CurrentVoters")), BTreeSet::from([id]), "{text}");
    assert_eq!(field(text, "CurrentObservers"), "[]", "{text}");
    let replication = table(text, "NodeId");
    assert_eq!(replication.len(), 1, "{text}");
    assert_eq!((replication[0][0], replication[0][3], replication[0][6]), (id.to_string().as_str(), "0", "Leader"));

    let partitions: Vec<_> = table(text, "Topic").into_iter().filter(|row| row[0] == topic).collect();
    assert_eq!(partitions.len(), 2, "{text}");
    for (index, row) in partitions.iter().enumerate() {
        // Topic, Partition, Leader, LeaderEpoch, Replicas, Isr
        assert_eq!(row[1], index.to_string(), "{text}");
        assert_eq!(row[2], id.to_string(), "{text}");
        assert!(row[3].parse::<i32>().expect("an epoch") >= 0, "{text}");
        assert_eq!((row[4], row[5]), (id.to_string().as_str(), id.to_string().as_str()), "{text}");
    }
    // Internal topics are left out on request.
    let excluded =
        ok(spool(&["cluster", "--bootstrap-server", &broker.addr, "--exclude-internal"]), "--exclude-internal");
    assert!(table(&excluded, "Topic").iter().all(|row| !row[0].starts_with("__")), "{excluded}");
}

#[test]
fn kafka_metadata_quorum_prints_status_and_replication_as_kafka() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let tool = dir.path().join("kafka-metadata-quorum.sh");
    std::os::unix::fs::symlink(spool_bin(), &tool).expect("symlink");

    let status = ok(run_tool(&tool, &["--bootstrap-server", &broker.addr, "describe", "--status"]), "--status");
    let keys: Vec<&str> = status.lines().map(|l| l.split(':').next().unwrap_or_default()).collect();
    assert_eq!(
        keys,
        [
            "ClusterId",
            "LeaderId",
            "LeaderEpoch",
            "HighWatermark",
            "MaxFollowerLag",
            "MaxFollowerLagTimeMs",
            "CurrentVoters",
            "CurrentObservers"
        ],
        "{status}"
    );
    // Kafka pads every key to column 24.
    assert!(status.lines().all(|l| l.len() > 24 && l.as_bytes()[23] == b' ' && l.as_bytes()[24] != b' '), "{status}");
    assert_eq!(field(&status, "MaxFollowerLag"), "0", "{status}");
    assert_eq!(field(&status, "MaxFollowerLagTimeMs"), "0", "{status}");
    let leader = int_field(&status, "LeaderId") as i32;
    assert!(
        field(&status, "CurrentVoters").starts_with(&format!("[{{\"id\": {leader}, \"directoryId\": null")),
        "{status}"
    );

    let replication =
        ok(run_tool(&tool, &["--bootstrap-server", &broker.addr, "describe", "--replication"]), "--replication");
    let lines: Vec<&str> = replication.lines().collect();
    assert_eq!(
        lines[0].split('\t').map(str::trim).collect::<Vec<_>>(),
        ["NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status", ""],
        "{replication}"
    );
    let row: Vec<&str> = lines[1].split('\t').map(str::trim).collect();
    assert_eq!(row[0], leader.to_string());
    assert_eq!(row[1], "AAAAAAAAAAAAAAAAAAAAAA", "no directory id is Kafka's zero uuid");
    assert!(row[2].parse::<i64>().expect("a log end offset") >= 1);
    assert!(row[4].parse::<i64>().expect("a timestamp") > 1_600_000_000_000, "the leader fetched now: {replication}");
    assert_eq!(row[6], "Leader");

    let human = ok(
        run_tool(&tool, &["--bootstrap-server", &broker.addr, "describe", "--replication", "--human-readable"]),
        "--human-readable",
    );
    assert!(human.lines().nth(1).is_some_and(|l| l.contains(" ms ago")), "{human}");

    let both = run_tool(&tool, &["--bootstrap-server", &broker.addr, "describe", "--status", "--replication"]);
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("Only one of --status or --replication"));
}

/// Three `spool server` processes on free loopback ports, every node a broker and a
/// quorum voter. Killed on drop.
struct ThreeNodes {
    nodes: Vec<(i32, String, Option<Child>)>,
    dir: tempfile::TempDir,
}

impl ThreeNodes {
    fn start() -> ThreeNodes {
        let ports = harness::free_ports(6);
        let voters: Vec<String> = (0..3).map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[3 + i])).collect();
        let voters = voters.join(",");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut nodes = Vec::new();
        for i in 0..3 {
            let id = i as i32 + 1;
            let addr = format!("127.0.0.1:{}", ports[i]);
            let log = std::fs::File::create(dir.path().join(format!("node-{id}.log"))).expect("log file");
            let child = Command::new(spool_bin())
                .args(["server", "--node-id", &id.to_string(), "--listen", &addr])
                .args(["--controller-listen", &format!("127.0.0.1:{}", ports[3 + i])])
                .args(["--controller-quorum-voters", &voters])
                .arg("--data-dir")
                .arg(dir.path().join(format!("node-{id}")))
                .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn spool server");
            nodes.push((id, addr, Some(child)));
        }
        ThreeNodes { nodes, dir }
    }

    fn addr(&self, id: i32) -> &str {
        &self.nodes.iter().find(|(n, _, _)| *n == id).expect("a node").1
    }

    /// The Kafka listeners of the nodes still running, comma-separated.
    fn bootstrap(&self) -> String {
        self.nodes.iter().filter(|(_, _, c)| c.is_some()).map(|(_, a, _)| a.as_str()).collect::<Vec<_>>().join(",")
    }

    fn kill9(&mut self, id: i32) {
        if let Some(mut child) = self.nodes.iter_mut().find(|(n, _, _)| *n == id).and_then(|n| n.2.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for (id, _, _) in &self.nodes {
            let path: PathBuf = self.dir.path().join(format!("node-{id}.log"));
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            all.push_str(&format!("--- node {id} (last lines) ---\n"));
            for line in tail.into_iter().rev() {
                all.push_str(line);
                all.push('\n');
            }
        }
        all
    }

    /// Runs `spool cluster` until `done` accepts its overview or [`CLUSTER_LIMIT`] passes.
    fn wait_for(&self, what: &str, mut done: impl FnMut(&Overview) -> bool) -> Overview {
        let deadline = Instant::now() + CLUSTER_LIMIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            let output = spool(&["cluster", "--bootstrap-server", &self.bootstrap()]);
            let text = stdout(&output);
            if output.status.success() {
                let view = overview(text);
                if done(&view) {
                    return view;
                }
                last = view.text;
            } else {
                last = format!("{text}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("{what}: not within {CLUSTER_LIMIT:?}; last `spool cluster`:\n{last}\n{}", self.logs());
    }
}

impl Drop for ThreeNodes {
    fn drop(&mut self) {
        let ids: Vec<i32> = self.nodes.iter().map(|n| n.0).collect();
        for id in ids {
            self.kill9(id);
        }
    }
}

/// Sends DescribeQuorum for `__cluster_metadata-0` at v2 and decodes the answer.
fn describe_quorum(addr: &str) -> DescribeQuorumResponse {
    const VERSION: i16 = 2;
    let mut partition = PartitionData::default();
    partition.partition_index = 0;
    let mut topic = TopicData::default();
    topic.topic_name = TopicName(StrBytes::from_static_str("__cluster_metadata"));
    topic.partitions = vec![partition];
    let mut request = DescribeQuorumRequest::default();
    request.topics = vec![topic];
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::DescribeQuorum as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("cluster-command-test")));
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0; 4]);
    header.encode(&mut frame, DescribeQuorumRequest::header_version(VERSION)).expect("encode header");
    request.encode(&mut frame, VERSION).expect("encode request");
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());

    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(&frame).expect("send");
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("response length");
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).expect("response body");
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, DescribeQuorumResponse::header_version(VERSION)).expect("header");
    assert_eq!(header.correlation_id, 7);
    DescribeQuorumResponse::decode(&mut body, VERSION).expect("decode DescribeQuorum response")
}

#[test]
fn three_nodes_show_three_brokers_one_leader_three_voters_and_fail_over() {
    let mut cluster = ThreeNodes::start();
    let first = cluster.wait_for("three brokers and a quorum leader", |v| v.brokers.len() == 3);
    let text = &first.text;
    assert_eq!(first.brokers, [1, 2, 3], "{text}");
    assert!((1..=3).contains(&first.leader), "{text}");
    assert!(first.epoch >= 1, "{text}");
    assert_eq!(field(text, "ActiveController"), format!("{} ({})", first.leader, cluster.addr(first.leader)), "{text}");
    assert_eq!(listed_ids(field(text, "CurrentVoters")), BTreeSet::from([1, 2, 3]), "{text}");
    // Every voter's controller endpoint is reported (DescribeQuorum v2 nodes).
    assert_eq!(field(text, "CurrentVoters").matches("\"endpoints\": [\"CONTROLLER://127.0.0.1:").count(), 3, "{text}");
    let statuses: Vec<&str> = table(text, "NodeId").iter().map(|row| row[6]).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "Leader").count(), 1, "{text}");
    assert_eq!(statuses.iter().filter(|s| **s == "Follower").count(), 2, "{text}");

    // Only the leader describes the quorum; the others send clients on.
    for id in [1, 2, 3] {
        let response = describe_quorum(cluster.addr(id));
        let partition = &response.topics[0].partitions[0];
        if id == first.leader {
            assert_eq!(partition.error_code, 0);
            assert_eq!(partition.leader_id.0, id);
            assert_eq!(i64::from(partition.leader_epoch), first.epoch);
            assert_eq!(partition.current_voters.len(), 3);
            assert_eq!(response.nodes.len(), 3);
        } else if partition.error_code != 0 {
            assert_eq!(partition.error_code, NOT_LEADER_OR_FOLLOWER, "node {id}");
        } else {
            // An election between the two calls can only have moved the lead here.
            assert_eq!(partition.leader_id.0, id, "node {id} answered without leading");
        }
    }

    // A replicated topic: every partition lists three replicas and leader epochs.
    let topic = unique_topic("cluster-three");
    ok(
        spool(&[
            "topics",
            "--bootstrap-server",
            &cluster.bootstrap(),
            "--create",
            "--topic",
            &topic,
            "--partitions",
            "3",
            "--replication-factor",
            "3",
        ]),
        "create",
    );
    let with_topic = cluster.wait_for("the new topic's partitions", |v| {
        table(&v.text, "Topic").iter().filter(|row| row[0] == topic && row[5].split(',').count() == 3).count() == 3
    });
    for row in table(&with_topic.text, "Topic").iter().filter(|row| row[0] == topic) {
        let mut replicas: Vec<&str> = row[4].split(',').collect();
        replicas.sort_unstable();
        assert_eq!(replicas, ["1", "2", "3"], "{}", with_topic.text);
        assert!(row[3].parse::<i32>().expect("an epoch") >= 0, "{}", with_topic.text);
    }

    cluster.kill9(first.leader);
    let after = cluster
        .wait_for("a new quorum leader with a higher epoch", |v| v.leader != first.leader && v.epoch > first.epoch);
    let text = &after.text;
    assert_ne!(after.leader, first.leader, "{text}");
    assert!(after.epoch > first.epoch, "{text}");
    let rows = table(text, "NodeId");
    assert_eq!(rows[0][0], after.leader.to_string(), "{text}");
    assert_eq!(rows[0][6], "Leader", "{text}");
    assert_eq!(
        listed_ids(field(text, "CurrentVoters")),
        BTreeSet::from([1, 2, 3]),
        "the dead voter stays a voter: {text}"
    );
}
