//! A cluster of real `spool server` processes on loopback, with faults to inject.
//!
//! [`Cluster::start`]`(n)` starts `n` processes on 127.0.0.1, node ids `1..=n`, every node
//! both broker and controller (`--process-roles broker,controller`) and a voter of the
//! metadata quorum, each with its own Kafka port, controller port, data directory and log
//! file (`<temp>/node-<id>.log`, appended across restarts with a marker line per start).
//! It returns once every node answers Metadata with all `n` brokers and one controller.
//!
//! Faults: [`Cluster::kill9`] (SIGKILL), [`Cluster::stop`] (SIGTERM, waits for the exit),
//! [`Cluster::restart`], [`Cluster::pause`]/[`Cluster::resume`] (SIGSTOP/SIGCONT) and
//! [`Cluster::isolate`]/[`Cluster::heal`] (a network partition, below). Observation:
//! [`Cluster::view`] asks every running node for Metadata, [`Cluster::wait_for`] polls
//! that view against a predicate until a deadline, [`Cluster::leader_of`] and
//! [`Cluster::active_controller`] read it, [`Cluster::read_partition`] decodes a
//! replica's partition directory from disk. Dropping the cluster resumes paused nodes,
//! kills every process, removes the firewall rules and cgroups it made and, when the
//! thread is panicking, prints the tail of every node's log (set `SPOOL_KEEP_CLUSTER=1`
//! to keep the whole directory).
//!
//! # Network partitions: per-node cgroups and iptables
//! Each node is started inside its own cgroup v2 group,
//! `<cgroup2 mount>/spool-test-<test pid>-<n>/node-<id>` (a `sh` wrapper writes its pid to
//! `cgroup.procs` and then `exec`s the server, so every socket the server ever opens
//! belongs to that group; sockets record their cgroup when they are created).
//! [`Cluster::isolate`]`(id)` adds, to an iptables chain of this cluster's own
//! (`SPOOL-<test pid>-<n>`, jumped to from `OUTPUT`), for every other node `j`:
//! ```text
//! -p tcp -m cgroup --path /spool-test-…/node-<id> -m multiport --dports <kafka j>,<controller j> -j DROP
//! -p tcp -m cgroup --path /spool-test-…/node-<j>  -m multiport --dports <kafka id>,<controller id> -j DROP
//! ```
//! On loopback every packet passes `OUTPUT` with its sending socket attached, so this
//! drops whatever the isolated node sends to another node's listeners and whatever the
//! other nodes send to its listeners: new connections between them hang in SYN, open ones
//! stall (Raft, broker heartbeats, replica fetches, forwarded requests alike), and since
//! packets are dropped rather than rejected the peers see timeouts, as with a pulled
//! cable. Clients live in the test process's own cgroup, which no rule names, so they
//! still reach every node, including the isolated one; that is the point of the fault.
//! [`Cluster::heal`] deletes exactly the rules its `isolate` added.
//!
//! Limits:
//! - Needs root, a cgroup2 mount (`/sys/fs/cgroup` or the hybrid `/sys/fs/cgroup/unified`)
//!   and iptables with the `cgroup` match (Debian's `iptables` package; installed by
//!   `scripts/install-test-deps`). Without them nodes run un-grouped and `isolate` panics
//!   with the reason; every other fault still works.
//! - The rules match ports, not connections: a response already on its way on a
//!   connection another node opened (addressed to that node's ephemeral port) may still
//!   be delivered once; the next request on it stalls.
//! - The rules are in the network namespace of the test (the machine's), in a chain named
//!   after this process and matched only by this cluster's cgroups and ports, so they touch
//!   no other traffic. A test process killed before its drop leaves the chain and empty
//!   cgroups behind; the next cluster that isolates a node removes chains and cgroups whose
//!   owning pid is gone.
//!
//! # Which node answers
//! Metadata is a node's own view. [`ClusterView`] keeps every node's answer apart, and
//! reads a partition from the answer with the highest leader epoch (an isolated or stale
//! node can only be behind). The active controller is the quorum leader from
//! DescribeQuorum when a node serves it, otherwise the Metadata `controller_id` all live
//! nodes agree on (Spool, like KRaft, names the active controller there when it is a live
//! broker, else any live broker).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_quorum_request::{
    PartitionData as QuorumPartition, TopicData as QuorumTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeQuorumRequest, MetadataRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;

use super::spool_bin;

/// Bound on a node opening its Kafka listener after it is spawned.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a cluster forming in [`Cluster::start`].
const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a clean exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one request of the harness's own client (connect, write, read).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response the harness's client reads.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Lines of each node's log printed when a test fails.
const LOG_TAIL_LINES: usize = 80;
const METADATA_VERSION: i16 = 12;
const DESCRIBE_QUORUM_VERSION: i16 = 0;
const CLIENT_ID: &str = "harness-cluster";
/// `RUST_LOG` of the nodes unless the test run sets one: openraft's own info lines
/// (every vote and membership step) drown the broker's.
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn";

/// Bound on waiting for [`exclusive`].
const EXCLUSIVE_WAIT: Duration = Duration::from_secs(20 * 60);

/// A machine-wide lock held by one cluster test at a time; released on drop.
pub struct Exclusive {
    _file: std::fs::File,
}

/// Waits (bounded) until no other cluster test runs, in this process or another: a lock
/// file in Cargo's target temp dir, so it serialises `cargo test` threads and nextest's
/// one-process-per-test alike. Three nodes plus clients fill a 2-core machine, and the
/// tests' time bounds should measure Spool, not contention. Take it before
/// [`Cluster::start`] in every test that starts a cluster.
///
/// # Panics
/// When the lock file cannot be opened, or the lock is not free within 20 minutes.
pub fn exclusive() -> Exclusive {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spool-cluster-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let deadline = Instant::now() + EXCLUSIVE_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Exclusive { _file: file },
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cluster test lock {}: {e}", path.display()),
        }
    }
}

/// Settings of a cluster before it starts.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    sets: Vec<(String, String)>,
}

impl ClusterBuilder {
    /// Adds `--set key=value` to every node (e.g. a shorter `broker.session.timeout.ms`).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.sets.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts the nodes and waits (bounded) until the cluster has formed.
    ///
    /// # Panics
    /// When a node exits, does not listen, or the cluster does not form in time; the
    /// message carries the node logs.
    pub fn start(self) -> Cluster {
        let mut cluster = self.spawn();
        cluster.wait_formed();
        cluster
    }

    /// Starts the nodes and waits only until each listens (not until the cluster forms).
    pub fn spawn(self) -> Cluster {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let temp = tempfile::Builder::new()
            .prefix(&format!("spool-cluster-{name}-"))
            .tempdir()
            .expect("temp dir");
        let ports = free_ports(self.nodes * 2);
        let voters = (0..self.nodes)
            .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[2 * i + 1]))
            .collect::<Vec<_>>()
            .join(",");
        let (cgroup_root, cgroup_error) = match Cgroups::create(&name, self.nodes) {
            Ok(groups) => (Some(groups), None),
            Err(e) => (None, Some(e)),
        };
        let nodes = (0..self.nodes)
            .map(|i| {
                let id = i as i32 + 1;
                Node {
                    id,
                    kafka_port: ports[2 * i],
                    controller_port: ports[2 * i + 1],
                    data_dir: temp.path().join(format!("node-{id}")),
                    log_path: temp.path().join(format!("node-{id}.log")),
                    child: None,
                    paused: false,
                    starts: 0,
                }
            })
            .collect();
        let mut cluster = Cluster {
            name,
            nodes,
            voters,
            sets: self.sets,
            temp: Some(temp),
            cgroups: cgroup_root,
            cgroup_error,
            netcut: None,
        };
        for id in cluster.ids() {
            cluster.spawn_node(id);
        }
        for id in cluster.ids() {
            cluster.wait_listening(id);
        }
        cluster
    }
}

struct Node {
    id: i32,
    kafka_port: u16,
    controller_port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    paused: bool,
    starts: u32,
}

/// Real `spool server` processes forming one cluster. See the module doc.
pub struct Cluster {
    name: String,
    nodes: Vec<Node>,
    voters: String,
    sets: Vec<(String, String)>,
    temp: Option<tempfile::TempDir>,
    cgroups: Option<Cgroups>,
    cgroup_error: Option<String>,
    netcut: Option<NetCut>,
}

impl Cluster {
    /// Starts `n` nodes with default settings and waits until they form a cluster.
    pub fn start(n: usize) -> Cluster {
        Cluster::builder(n).start()
    }

    /// Settings for a cluster of `n` nodes.
    pub fn builder(n: usize) -> ClusterBuilder {
        assert!(n >= 1, "a cluster has at least one node");
        ClusterBuilder {
            nodes: n,
            sets: Vec::new(),
        }
    }

    /// Node ids, `1..=n`.
    pub fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The Kafka address of every node, comma-separated (`bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.kafka_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The Kafka address of node `id`.
    pub fn addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.node(id).kafka_port)
    }

    /// The controller (quorum) address of node `id`.
    pub fn controller_addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.node(id).controller_port)
    }

    /// `controller.quorum.voters` as every node was given it.
    pub fn voters(&self) -> &str {
        &self.voters
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: i32) -> PathBuf {
        self.node(id).data_dir.clone()
    }

    /// Everything node `id` wrote to stderr, over all its starts.
    pub fn log(&self, id: i32) -> String {
        std::fs::read_to_string(&self.node(id).log_path).unwrap_or_default()
    }

    /// The last `lines` lines of every node's log, headed by node id.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log_path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(lines);
            let _ = writeln!(
                out,
                "===== node {} log ({}), last {} of {} lines =====",
                node.id,
                node.log_path.display(),
                all.len() - from,
                all.len()
            );
            for line in &all[from..] {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// Whether node `id`'s process is running (paused counts as running).
    pub fn is_running(&mut self, id: i32) -> bool {
        self.node_mut(id)
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Whether node `id` is paused by [`Cluster::pause`].
    pub fn is_paused(&self, id: i32) -> bool {
        self.node(id).paused
    }

    /// Nodes that are running and not paused: the ones that can answer.
    pub fn live(&mut self) -> Vec<i32> {
        let ids = self.ids();
        ids.into_iter()
            .filter(|&id| self.is_running(id) && !self.is_paused(id))
            .collect()
    }

    /// Sends SIGKILL to node `id` and reaps it: nothing is flushed or closed.
    pub fn kill9(&mut self, id: i32) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// Sends SIGTERM to node `id` and waits (bounded) for it to exit; returns whether it
    /// exited successfully. A node that does not exit in time is killed (returns false).
    pub fn stop(&mut self, id: i32) -> bool {
        if self.is_paused(id) {
            self.resume(id);
        }
        let Some(mut child) = self.node_mut(id).child.take() else {
            return true;
        };
        signal(child.id(), "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "[cluster {}] node {id} ignored SIGTERM for {STOP_TIMEOUT:?}; killing it",
            self.name
        );
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Sends SIGTERM to every node at once, then waits for each as [`Cluster::stop`] does;
    /// returns the ids that did not exit cleanly.
    pub fn stop_all(&mut self) -> Vec<i32> {
        for id in self.ids() {
            if self.is_paused(id) {
                self.resume(id);
            }
            if let Some(pid) = self.pid(id) {
                signal(pid, "TERM");
            }
        }
        self.ids()
            .into_iter()
            .filter(|&id| !self.stop(id))
            .collect()
    }

    /// Starts node `id` again (killing it first if it runs) on the same ports and data
    /// directory, and waits until it listens.
    pub fn restart(&mut self, id: i32) {
        self.kill9(id);
        self.spawn_node(id);
        self.wait_listening(id);
    }

    /// Starts node `id` (which must not be running) without waiting for anything; pair
    /// with [`Cluster::wait_exit`] to see a refusal to start.
    pub fn spawn_node(&mut self, id: i32) {
        let args = self.server_args(id);
        let cgroup = self.cgroups.as_ref().map(|g| g.node_dir(id));
        let name = self.name.clone();
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} is already running");
        node.starts += 1;
        std::fs::create_dir_all(&node.data_dir).expect("create node data dir");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .expect("node log file");
        let _ = writeln!(
            log,
            "----- harness: cluster {name} node {id} start #{} -----",
            node.starts
        );
        let mut command = match &cgroup {
            Some(dir) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg("echo $$ > \"$SPOOL_HARNESS_CGROUP/cgroup.procs\" && exec \"$@\"")
                    .arg("spool-node")
                    .arg(spool_bin())
                    .env("SPOOL_HARNESS_CGROUP", dir);
                c
            }
            None => Command::new(spool_bin()),
        };
        command
            .args(&args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        node.child = Some(command.spawn().expect("spawn spool server"));
        node.paused = false;
    }

    /// Waits at most `within` for node `id` to exit; its exit status, or `None` when it
    /// still runs (it is left running).
    pub fn wait_exit(&mut self, id: i32, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let node = self.node_mut(id);
            let child = node.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                node.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGSTOP: the process stays, its sockets stay open, nothing answers.
    pub fn pause(&mut self, id: i32) {
        let pid = self
            .pid(id)
            .unwrap_or_else(|| panic!("node {id} is not running; cannot pause it"));
        signal(pid, "STOP");
        self.node_mut(id).paused = true;
    }

    /// SIGCONT after [`Cluster::pause`].
    pub fn resume(&mut self, id: i32) {
        if let Some(pid) = self.pid(id) {
            signal(pid, "CONT");
        }
        self.node_mut(id).paused = false;
    }

    /// Whether [`Cluster::isolate`] can work here; the reason when not.
    pub fn isolation_support(&self) -> Result<(), String> {
        match (&self.cgroups, &self.cgroup_error) {
            (Some(_), _) => iptables_cgroup_match_available(),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err("no cgroups".into()),
        }
    }

    /// Cuts node `id` off from every other node (both directions, Kafka and controller
    /// ports) while clients still reach it. See the module doc for the mechanism.
    ///
    /// # Panics
    /// When isolation is not supported here (not root, no cgroup2, no iptables cgroup
    /// match) or iptables refuses a rule.
    pub fn isolate(&mut self, id: i32) {
        if let Err(why) = self.isolation_support() {
            panic!("cannot isolate node {id}: {why}");
        }
        let groups = self.cgroups.as_ref().expect("checked above");
        let mut rules = Vec::new();
        for other in self.nodes.iter().filter(|n| n.id != id) {
            let me = self.node(id);
            rules.push(drop_rule(
                &groups.rel_path(id),
                other.kafka_port,
                other.controller_port,
            ));
            rules.push(drop_rule(
                &groups.rel_path(other.id),
                me.kafka_port,
                me.controller_port,
            ));
        }
        if self.netcut.is_none() {
            self.netcut = Some(
                NetCut::create(&self.name)
                    .unwrap_or_else(|e| panic!("cannot isolate node {id}: {e}")),
            );
        }
        let netcut = self.netcut.as_mut().expect("created above");
        for rule in rules {
            netcut
                .add(id, rule)
                .unwrap_or_else(|e| panic!("cannot isolate node {id}: {e}"));
        }
    }

    /// Removes the rules [`Cluster::isolate`]`(id)` added.
    pub fn heal(&mut self, id: i32) {
        if let Some(netcut) = self.netcut.as_mut() {
            netcut
                .remove_all(id)
                .unwrap_or_else(|e| panic!("cannot heal node {id}: {e}"));
        }
    }

    /// Every running, unpaused node's Metadata (all topics), each as that node sees it.
    pub fn view(&mut self) -> ClusterView {
        let live = self.live();
        let nodes = live
            .into_iter()
            .map(|id| (id, metadata(&self.addr(id), None)))
            .collect();
        ClusterView { nodes }
    }

    /// Polls [`Cluster::view`] every 200 ms until `done` holds; returns that view.
    ///
    /// # Panics
    /// After `within`, naming `what` with the last view and the node logs.
    pub fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        mut done: impl FnMut(&ClusterView) -> bool,
    ) -> ClusterView {
        let started = Instant::now();
        let deadline = started + within;
        loop {
            let view = self.view();
            if done(&view) {
                return view;
            }
            if Instant::now() >= deadline {
                panic!(
                    "[cluster {}] timed out after {within:?} waiting for: {what}\nlast view:\n{view}\n(node logs follow)",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Like [`Cluster::wait_for`] but returns `Err(last view)` instead of panicking.
    pub fn try_wait_for(
        &mut self,
        within: Duration,
        mut done: impl FnMut(&ClusterView) -> bool,
    ) -> Result<ClusterView, ClusterView> {
        let deadline = Instant::now() + within;
        loop {
            let view = self.view();
            if done(&view) {
                return Ok(view);
            }
            if Instant::now() >= deadline {
                return Err(view);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The leader of `topic`/`partition` as the freshest answering node reports it.
    pub fn leader_of(&mut self, topic: &str, partition: i32) -> Option<i32> {
        self.view().leader_of(topic, partition)
    }

    /// The active controller (the metadata quorum's leader): from DescribeQuorum when a
    /// live node serves it, else the Metadata `controller_id` that every live node names
    /// (Spool names the active controller there when it is a live broker).
    pub fn active_controller(&mut self) -> Option<i32> {
        for id in self.live() {
            if let Ok(leader) = quorum_leader(&self.addr(id)) {
                return Some(leader);
            }
        }
        let view = self.view();
        (view.answers().count() == view.nodes.len())
            .then(|| view.controller())
            .flatten()
    }

    /// The records of `topic`/`partition` in node `id`'s data directory, read from its
    /// segment files in offset order: `(offset, value)` for every record of every complete
    /// batch (a batch being written at the end of the active segment is left out). Safe
    /// while the node runs; exact after a clean stop.
    ///
    /// # Errors
    /// A missing directory or a batch that does not decode.
    pub fn read_partition(
        &self,
        id: i32,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<(i64, Option<Bytes>)>, String> {
        read_partition_dir(&self.node(id).data_dir.join(format!("{topic}-{partition}")))
    }

    fn server_args(&self, id: i32) -> Vec<String> {
        let node = self.node(id);
        let mut args = vec![
            "server".to_string(),
            "--node-id".into(),
            id.to_string(),
            "--listen".into(),
            format!("127.0.0.1:{}", node.kafka_port),
            "--controller-listen".into(),
            format!("127.0.0.1:{}", node.controller_port),
            "--controller-quorum-voters".into(),
            self.voters.clone(),
            "--process-roles".into(),
            "broker,controller".into(),
            "--data-dir".into(),
            node.data_dir.to_string_lossy().into_owned(),
        ];
        for (key, value) in &self.sets {
            args.push("--set".into());
            args.push(format!("{key}={value}"));
        }
        args
    }

    fn wait_listening(&mut self, id: i32) {
        let addr: SocketAddr = self.addr(id).parse().expect("loopback address");
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if let Some(child) = self.node_mut(id).child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.node_mut(id).child = None;
                    panic!(
                        "[cluster {}] node {id} exited early with {status} (node logs follow)",
                        self.name
                    );
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "[cluster {}] node {id} did not listen on {addr} within {LISTEN_TIMEOUT:?} (node logs follow)",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn wait_formed(&mut self) {
        let n = self.nodes.len();
        let ids: BTreeSet<i32> = self.ids().into_iter().collect();
        self.wait_for(
            &format!("every node to list all {n} brokers under one cluster id"),
            FORM_TIMEOUT,
            |view| {
                let cluster_ids: BTreeSet<&Option<String>> =
                    view.answers().map(|(_, md)| &md.cluster_id).collect();
                view.answers().count() == n
                    && cluster_ids.len() == 1
                    && view.answers().all(|(_, md)| {
                        md.cluster_id.is_some()
                            && md.brokers.keys().copied().collect::<BTreeSet<_>>() == ids
                            && ids.contains(&md.controller_id)
                    })
            },
        );
    }

    fn pid(&mut self, id: i32) -> Option<u32> {
        self.node_mut(id).child.as_ref().map(Child::id)
    }

    fn node(&self, id: i32) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id} in this cluster"))
    }

    fn node_mut(&mut self, id: i32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id} in this cluster"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                if node.paused {
                    signal(child.id(), "CONT");
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(netcut) = self.netcut.take() {
            netcut.destroy();
        }
        if let Some(groups) = self.cgroups.take() {
            groups.destroy();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tails(LOG_TAIL_LINES));
        }
        if std::env::var_os("SPOOL_KEEP_CLUSTER").is_some() {
            if let Some(temp) = self.temp.take() {
                eprintln!("[cluster {}] kept {}", self.name, temp.keep().display());
            }
        }
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// `count` distinct loopback ports that were free a moment ago (all held open together
/// while choosing, so none repeats).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Metadata as each node sees it
// ---------------------------------------------------------------------------------------

/// One partition in one node's Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub error_code: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

/// One topic in one node's Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub error_code: i16,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// One node's Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    /// Broker id to `host:port`.
    pub brokers: BTreeMap<i32, String>,
    pub topics: BTreeMap<String, TopicMetadata>,
}

/// Every answering node's Metadata, by node id (an `Err` is why that node did not answer).
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub nodes: BTreeMap<i32, Result<ClusterMetadata, String>>,
}

impl ClusterView {
    /// The nodes that answered, with their answers.
    pub fn answers(&self) -> impl Iterator<Item = (i32, &ClusterMetadata)> {
        self.nodes
            .iter()
            .filter_map(|(id, md)| md.as_ref().ok().map(|md| (*id, md)))
    }

    /// The partition as the answer with the highest leader epoch has it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.answers()
            .filter_map(|(_, md)| md.topics.get(topic)?.partitions.get(&partition))
            .filter(|p| p.error_code == 0 || p.leader >= 0)
            .max_by_key(|p| p.leader_epoch)
    }

    /// The partition's leader (see [`ClusterView::partition`]), if it has one.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition)
            .map(|p| p.leader)
            .filter(|&l| l >= 0)
    }

    /// The Metadata `controller_id` every answering node names, if there is at least one
    /// answer and they agree (in KRaft they need not: see the module doc).
    pub fn controller(&self) -> Option<i32> {
        let ids: BTreeSet<i32> = self.answers().map(|(_, md)| md.controller_id).collect();
        (ids.len() == 1)
            .then(|| *ids.iter().next().expect("one id"))
            .filter(|&c| c >= 0)
    }

    /// Whether every answering node reports, for each of `partitions` partitions of
    /// `topic`, the same leader and an ISR equal to the full replica set.
    pub fn fully_replicated(&self, topic: &str, partitions: i32) -> bool {
        self.answers().count() > 0
            && (0..partitions).all(|p| {
                let seen: Vec<Option<&PartitionMetadata>> = self
                    .answers()
                    .map(|(_, md)| md.topics.get(topic).and_then(|t| t.partitions.get(&p)))
                    .collect();
                let leaders: BTreeSet<i32> =
                    seen.iter().map(|p| p.map_or(-1, |p| p.leader)).collect();
                leaders.len() == 1
                    && !leaders.contains(&-1)
                    && seen.iter().all(|p| {
                        p.is_some_and(|p| {
                            let mut isr = p.isr.clone();
                            let mut replicas = p.replicas.clone();
                            isr.sort_unstable();
                            replicas.sort_unstable();
                            p.error_code == 0 && !replicas.is_empty() && isr == replicas
                        })
                    })
            })
    }
}

impl std::fmt::Display for ClusterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (id, answer) in &self.nodes {
            match answer {
                Err(e) => writeln!(f, "  node {id}: no answer: {e}")?,
                Ok(md) => {
                    writeln!(
                        f,
                        "  node {id}: cluster {:?}, controller {}, brokers {:?}",
                        md.cluster_id, md.controller_id, md.brokers
                    )?;
                    for (name, topic) in &md.topics {
                        write!(f, "    {name} (error {}):", topic.error_code)?;
                        for (index, p) in &topic.partitions {
                            write!(
                                f,
                                " [{index}: leader {} epoch {} replicas {:?} isr {:?}{}]",
                                p.leader,
                                p.leader_epoch,
                                p.replicas,
                                p.isr,
                                if p.error_code != 0 {
                                    format!(" error {}", p.error_code)
                                } else {
                                    String::new()
                                }
                            )?;
                        }
                        writeln!(f)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Metadata (v12, all topics when `topics` is `None`) from the node at `addr`.
///
/// # Errors
/// Why the call did not give an answer, as text.
pub fn metadata(addr: &str, topics: Option<&[&str]>) -> Result<ClusterMetadata, String> {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| {
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    let response = call(addr, &request, METADATA_VERSION)?;
    if response.error_code != 0 {
        return Err(format!("Metadata error code {}", response.error_code));
    }
    let brokers = response
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
        .collect();
    let topics = response
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    (
                        p.partition_index,
                        PartitionMetadata {
                            error_code: p.error_code,
                            leader: p.leader_id.0,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                            offline: p.offline_replicas.iter().map(|b| b.0).collect(),
                        },
                    )
                })
                .collect();
            Some((
                name,
                TopicMetadata {
                    error_code: t.error_code,
                    partitions,
                },
            ))
        })
        .collect();
    Ok(ClusterMetadata {
        cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
        controller_id: response.controller_id.0,
        brokers,
        topics,
    })
}

/// The metadata quorum's leader according to DescribeQuorum at `addr`.
///
/// # Errors
/// When the node does not serve DescribeQuorum or names no leader.
fn quorum_leader(addr: &str) -> Result<i32, String> {
    let request = DescribeQuorumRequest::default().with_topics(vec![QuorumTopic::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![QuorumPartition::default().with_partition_index(0)])]);
    let response = call(addr, &request, DESCRIBE_QUORUM_VERSION)?;
    if response.error_code != 0 {
        return Err(format!("DescribeQuorum error code {}", response.error_code));
    }
    let partition = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("DescribeQuorum answered no partition")?;
    if partition.error_code != 0 || partition.leader_id.0 < 0 {
        return Err(format!(
            "DescribeQuorum: error {} leader {}",
            partition.error_code, partition.leader_id.0
        ));
    }
    Ok(partition.leader_id.0)
}

/// One request on a fresh connection, every step bounded by [`CALL_TIMEOUT`].
fn call<R: Request>(addr: &str, request: &R, version: i16) -> Result<R::Response, String> {
    let key = ApiKey::try_from(R::KEY).map_err(|_| format!("unknown API key {}", R::KEY))?;
    let socket: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, CALL_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(CALL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0; 4]);
    header
        .encode(&mut frame, key.request_header_version(version))
        .map_err(|e| format!("encode header: {e}"))?;
    request
        .encode(&mut frame, version)
        .map_err(|e| format!("encode {key:?}: {e}"))?;
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    stream
        .write_all(&frame)
        .map_err(|e| format!("{key:?} to {addr}: write: {e}"))?;
    let mut prefix = [0u8; 4];
    stream
        .read_exact(&mut prefix)
        .map_err(|e| format!("{key:?} to {addr}: read: {e}"))?;
    let size = i32::from_be_bytes(prefix);
    if size < 0 || size as usize > RESPONSE_BYTES_MAX {
        return Err(format!("{key:?} to {addr}: response length {size}"));
    }
    let mut body = vec![0u8; size as usize];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("{key:?} to {addr}: read: {e}"))?;
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
        .map_err(|e| format!("{key:?} response header: {e}"))?;
    if header.correlation_id != 1 {
        return Err(format!(
            "{key:?} response correlation id {}",
            header.correlation_id
        ));
    }
    R::Response::decode(&mut body, version).map_err(|e| format!("{key:?} v{version} response: {e}"))
}

// ---------------------------------------------------------------------------------------
// Partition directories on disk
// ---------------------------------------------------------------------------------------

/// `(offset, value)` of every record in the complete batches of the `<20 digits>.log`
/// segments of `dir`, in offset order.
fn read_partition_dir(dir: &Path) -> Result<Vec<(i64, Option<Bytes>)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut segments: Vec<(i64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix(".log")?;
            if base.len() != 20 || !base.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((base.parse::<i64>().ok()?, e.path()))
        })
        .collect();
    segments.sort();
    let mut out = Vec::new();
    for (_, path) in segments {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut rest = Bytes::from(bytes);
        while rest.len() >= 12 {
            let base_offset = i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            let batch_len = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
            if batch_len <= 0 {
                return Err(format!(
                    "{}: batch at offset {base_offset} has length {batch_len}",
                    path.display()
                ));
            }
            let total = 12 + batch_len as usize;
            if rest.len() < total {
                break;
            }
            let mut batch = rest.split_to(total);
            let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| {
                format!(
                    "{}: batch at offset {base_offset} does not decode: {e}",
                    path.display()
                )
            })?;
            out.extend(
                set.records
                    .into_iter()
                    .filter(|r| !r.control)
                    .map(|r| (r.offset, r.value)),
            );
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// cgroups and iptables
// ---------------------------------------------------------------------------------------

/// The cgroup v2 groups of one cluster: `<mount>/spool-test-<name>/node-<id>`.
struct Cgroups {
    mount: PathBuf,
    dir_name: String,
}

const CGROUP_PREFIX: &str = "spool-test-";

impl Cgroups {
    /// Finds the cgroup2 mount and makes a group per node.
    ///
    /// # Errors
    /// Why not (no cgroup2 mount, not allowed to create groups).
    fn create(name: &str, nodes: usize) -> Result<Cgroups, String> {
        let mounts = std::fs::read_to_string("/proc/self/mounts")
            .map_err(|e| format!("/proc/self/mounts: {e}"))?;
        let mount = mounts
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == "cgroup2")
            .map(|f| PathBuf::from(f[1]))
            .ok_or("no cgroup2 file system is mounted")?;
        remove_stale_cgroups(&mount);
        let groups = Cgroups {
            mount,
            dir_name: format!("{CGROUP_PREFIX}{name}"),
        };
        for id in 1..=nodes as i32 {
            let dir = groups.node_dir(id);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create cgroup {} (needs root): {e}", dir.display()))?;
        }
        Ok(groups)
    }

    fn node_dir(&self, id: i32) -> PathBuf {
        self.mount.join(&self.dir_name).join(format!("node-{id}"))
    }

    /// The group's path relative to the cgroup2 root, as `-m cgroup --path` wants it.
    fn rel_path(&self, id: i32) -> String {
        format!("/{}/node-{id}", self.dir_name)
    }

    /// Removes the groups (the nodes must have exited; retried briefly while the kernel
    /// finishes reaping).
    fn destroy(self) {
        let top = self.mount.join(&self.dir_name);
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let mut left = false;
            if let Ok(entries) = std::fs::read_dir(&top) {
                for entry in entries.filter_map(Result::ok) {
                    if entry.file_type().is_ok_and(|t| t.is_dir())
                        && std::fs::remove_dir(entry.path()).is_err()
                    {
                        left = true;
                    }
                }
            }
            if (!left && std::fs::remove_dir(&top).is_ok()) || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether the process with `pid` exists.
fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The owning test pid in a name made by this harness (`<prefix><pid>-<n>`).
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

fn remove_stale_cgroups(mount: &Path) {
    let Ok(entries) = std::fs::read_dir(mount) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if owner_pid(&name, CGROUP_PREFIX).is_some_and(|pid| !pid_alive(pid)) {
            if let Ok(children) = std::fs::read_dir(entry.path()) {
                for child in children.filter_map(Result::ok) {
                    let _ = std::fs::remove_dir(child.path());
                }
            }
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

const CHAIN_PREFIX: &str = "SPOOL-";

/// This cluster's iptables chain and the rules each isolation added to it.
struct NetCut {
    chain: String,
    rules: Vec<(i32, Vec<String>)>,
}

fn drop_rule(cgroup: &str, kafka_port: u16, controller_port: u16) -> Vec<String> {
    [
        "-p",
        "tcp",
        "-m",
        "cgroup",
        "--path",
        cgroup,
        "-m",
        "multiport",
        "--dports",
        &format!("{kafka_port},{controller_port}"),
        "-j",
        "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn iptables(args: &[&str]) -> Result<String, String> {
    // /usr/sbin is not on every PATH a test runs with.
    let program = if Path::new("/usr/sbin/iptables").exists() {
        "/usr/sbin/iptables"
    } else {
        "iptables"
    };
    let output = Command::new(program)
        .arg("-w")
        .arg("10")
        .args(args)
        .output()
        .map_err(|e| {
            format!("cannot run iptables (install it with scripts/install-test-deps): {e}")
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn iptables_cgroup_match_available() -> Result<(), String> {
    let help = iptables(&["-m", "cgroup", "-h"])?;
    if help.contains("--path") {
        Ok(())
    } else {
        Err("this iptables has no cgroup --path match".into())
    }
}

impl NetCut {
    fn create(name: &str) -> Result<NetCut, String> {
        remove_stale_chains();
        let chain = format!("{CHAIN_PREFIX}{name}");
        iptables(&["-N", &chain])?;
        if let Err(e) = iptables(&["-I", "OUTPUT", "-j", &chain]) {
            let _ = iptables(&["-X", &chain]);
            return Err(e);
        }
        Ok(NetCut {
            chain,
            rules: Vec::new(),
        })
    }

    fn add(&mut self, owner: i32, rule: Vec<String>) -> Result<(), String> {
        let mut args = vec!["-A", self.chain.as_str()];
        args.extend(rule.iter().map(String::as_str));
        iptables(&args)?;
        self.rules.push((owner, rule));
        Ok(())
    }

    fn remove_all(&mut self, owner: i32) -> Result<(), String> {
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rules)
            .into_iter()
            .partition(|(o, _)| *o == owner);
        self.rules = others;
        for (_, rule) in mine {
            let mut args = vec!["-D", self.chain.as_str()];
            args.extend(rule.iter().map(String::as_str));
            iptables(&args)?;
        }
        Ok(())
    }

    fn destroy(self) {
        remove_chain(&self.chain);
    }
}

fn remove_chain(chain: &str) {
    while iptables(&["-D", "OUTPUT", "-j", chain]).is_ok() {}
    let _ = iptables(&["-F", chain]);
    let _ = iptables(&["-X", chain]);
}

/// Removes chains left by harness processes that no longer exist.
fn remove_stale_chains() {
    let Ok(listing) = iptables(&["-S"]) else {
        return;
    };
    for line in listing.lines() {
        if let Some(chain) = line.strip_prefix("-N ") {
            if owner_pid(chain, CHAIN_PREFIX).is_some_and(|pid| !pid_alive(pid)) {
                remove_chain(chain);
            }
        }
    }
}
