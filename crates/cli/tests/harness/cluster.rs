//! A cluster of real `spool server` processes on loopback, with faults to inject.
//!
//! [`Cluster::start`]`(n)` starts `n` processes on 127.0.0.1, node ids `1..=n`, every node
//! both broker and controller (`--process-roles broker,controller`) and a voter of the
//! metadata quorum, each with its own Kafka port, controller port, data directory and log
//! file (`<temp>/node-<id>.log`, appended across restarts with a marker line per start).
//! It returns once every node answers Metadata listing all `n` brokers under one cluster
//! id.
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
//!   cgroups behind; later clusters remove the cgroups (at start) and chains (at their
//!   first isolation) whose owning pid is gone. Code: [`isolation`].
//!
//! # Which node answers
//! Metadata is a node's own view. [`ClusterView`] keeps every node's answer apart, and
//! reads a partition from the answer with the highest leader epoch (an isolated or stale
//! node can only be behind; code: [`view`]). The active controller is the quorum leader from
//! DescribeQuorum when a node serves it, otherwise the Metadata `controller_id` all live
//! nodes agree on (Spool, like KRaft, names the active controller there when it is a live
//! broker, else any live broker).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::spool_bin;

mod isolation;
pub mod view;

use isolation::{drop_rule, iptables_cgroup_match_available, Cgroups, NetCut};
use view::{metadata, ClusterView};

/// Bound on a node opening its Kafka listener after it is spawned.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a cluster forming in [`Cluster::start`].
const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a clean exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of each node's log printed when a test fails.
const LOG_TAIL_LINES: usize = 80;
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
    /// Data directories other than `<temp>/node-<id>`, by node id.
    data_dirs: Vec<(i32, PathBuf)>,
    /// `metadata.log.dir` of the nodes whose metadata log is not in their data directory.
    metadata_dirs: Vec<(i32, PathBuf)>,
    /// `--set key=value` of one node: (node, key, value).
    node_sets: Vec<(i32, String, String)>,
}

impl ClusterBuilder {
    /// Adds `--set key=value` to every node (e.g. a shorter `broker.session.timeout.ms`).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.sets.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds `--set key=value` to node `id` only (e.g. its `broker.rack`).
    pub fn set_on(mut self, id: i32, key: &str, value: &str) -> Self {
        self.node_sets.push((id, key.to_string(), value.to_string()));
        self
    }

    /// Puts node `id`'s data directory at `dir` (on a failing disk, say) instead of the
    /// cluster's temporary directory; the caller removes it.
    pub fn data_dir(mut self, id: i32, dir: PathBuf) -> Self {
        self.data_dirs.push((id, dir));
        self
    }

    /// Puts node `id`'s metadata log at `dir` (`metadata.log.dir`) instead of in its
    /// data directory: off a disk the test fills, say.
    pub fn metadata_dir(mut self, id: i32, dir: PathBuf) -> Self {
        self.metadata_dirs.push((id, dir));
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
                    data_dir: self
                        .data_dirs
                        .iter()
                        .find(|(node, _)| *node == id)
                        .map_or_else(|| temp.path().join(format!("node-{id}")), |(_, dir)| dir.clone()),
                    metadata_dir: self.metadata_dirs.iter().find(|(node, _)| *node == id).map(|(_, dir)| dir.clone()),
                    sets: self
                        .node_sets
                        .iter()
                        .filter(|(node, _, _)| *node == id)
                        .map(|(_, key, value)| (key.clone(), value.clone()))
                        .collect(),
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
    metadata_dir: Option<PathBuf>,
    /// This node's own `--set`s, after the cluster's.
    sets: Vec<(String, String)>,
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
            data_dirs: Vec::new(),
            metadata_dirs: Vec::new(),
            node_sets: Vec::new(),
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
        super::wait_child_exit(&mut self.node_mut(id).child, within)
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
            if let Ok(leader) = view::quorum_leader(&self.addr(id)) {
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
        for (key, value) in self.sets.iter().chain(&node.sets) {
            args.push("--set".into());
            args.push(format!("{key}={value}"));
        }
        if let Some(dir) = &node.metadata_dir {
            args.push("--set".into());
            args.push(format!("metadata.log.dir={}", dir.display()));
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
