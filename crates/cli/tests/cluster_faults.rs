//! Fault injection on a real three-node cluster, checked with a history checker.
//!
//! Every test starts three `spool server` processes ([`harness::cluster::Cluster`]),
//! creates a topic with 3 partitions, replication factor 3 and `min.insync.replicas=2`,
//! and runs a workload for its whole length:
//! - one producer (librdkafka) sending unique values round-robin over the partitions at
//!   about 250 records/s with `acks=all` and `enable.idempotence=true`. Idempotence is on
//!   because it is what Kafka clients do by default since 3.0 and it makes the test
//!   stricter: a retried batch must not be appended twice, so the checker also flags a
//!   value at two offsets. (The core guarantees checked do not depend on it.) librdkafka
//!   itself may still write a value twice once any message times out: it then bumps its
//!   producer epoch and renumbers what it resends (confluentinc/librdkafka#4953). So every
//!   fault must be over, and its partitions led again, well within
//!   `MESSAGE_TIMEOUT_MS`; a failed write in a failing run's stats points there.
//! - a consumer in a group (subscribe, auto-commit), so group coordination and
//!   `__consumer_offsets` fail over too;
//! - a consumer with a manual assignment of every partition from the beginning.
//!
//! Each test injects one fault under that load: SIGKILL of a partition leader and a
//! restart; SIGKILL of the active controller and a restart; SIGSTOP of a leader for
//! longer than `broker.session.timeout.ms`, then SIGCONT; isolation of a leader from the
//! other nodes while clients still reach it, then heal; a rolling restart (SIGTERM) of
//! every node; a partition reassigned away from its leader's node and back
//! (`kafka-reassign-partitions`). Then the producer stops, every delivery resolves, the replicas must get
//! back to a full ISR, the consumers must catch up to the high watermark, the nodes are
//! stopped cleanly and each replica's partition directories are read from disk. The
//! history (every write with its outcome, every read, every replica's final log) goes to
//! `harness/history.rs`: no acknowledged record lost, no offset with two values, no read
//! of a record that did not commit, identical replicas, no duplicates.
//!
//! Randomness (which partition's leader, how long a fault lasts, the restart order) comes
//! from one seed, printed at the start and with the fault schedule on failure; rerun with
//! `SPOOL_FAULT_SEED=<seed>`. The seed fixes the schedule, not the interleaving of
//! threads and processes, so a rerun replays the faults, not necessarily the failure.
//! Cluster tests run one at a time ([`harness::cluster::exclusive`]); each takes 20 to
//! 45 s.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test cluster_faults`.
//! The isolation test needs root and iptables (see the cluster harness's module doc).

mod harness;
#[path = "harness/history.rs"]
mod history;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use harness::cluster::Cluster;
use history::{History, Outcome, Read, Write};

const PARTITIONS: i32 = 3;
/// Lowered from Kafka's 9 s so a fenced leader moves within a few seconds.
const SESSION_TIMEOUT_MS: u64 = 3000;
const HEARTBEAT_INTERVAL_MS: u64 = 500;
const REPLICA_LAG_TIME_MAX_MS: u64 = 5000;
/// Producer's end-to-end bound per record; deliveries resolve within it.
const MESSAGE_TIMEOUT_MS: u64 = 20_000;
/// Pause between two sends of the producer (about 250 records/s).
const SEND_INTERVAL: Duration = Duration::from_millis(4);
/// Bound on queued, unresolved records before the producer waits.
const IN_FLIGHT_MAX: i32 = 5000;
/// Bound on a new leader being elected after a leader is lost.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on every replica being back in the ISR after a fault ends.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on acknowledgements resuming on every partition after a fault.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(45);
/// Bound on consumers reaching the high watermark at the end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Minimum acknowledged writes for a run to count (the minimum-progress gate).
const ACKED_MIN: usize = 500;

// ---------------------------------------------------------------------------------------
// Seed, randomness and the fault schedule
// ---------------------------------------------------------------------------------------

/// SplitMix64: small, seedable, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `low..high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.range(low, high))
    }
}

/// The seed, the fault schedule and the clock of one test. Prints the seed at once and
/// the schedule whenever the test panics.
struct Scenario {
    name: &'static str,
    seed: u64,
    rng: Rng,
    started: Instant,
    schedule: Vec<String>,
}

impl Scenario {
    fn new(name: &'static str) -> Scenario {
        let seed = match std::env::var("SPOOL_FAULT_SEED") {
            Ok(text) => text
                .parse()
                .unwrap_or_else(|_| panic!("SPOOL_FAULT_SEED={text} is not a u64")),
            Err(_) => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                nanos ^ (u64::from(std::process::id()) << 32)
            }
        };
        eprintln!(
            "[{name}] seed {seed} (rerun: SPOOL_FAULT_SEED={seed} cargo test -p spool-cli --test cluster_faults {name})"
        );
        Scenario {
            name,
            seed,
            rng: Rng(seed),
            started: Instant::now(),
            schedule: Vec::new(),
        }
    }

    /// Adds a line to the schedule, stamped with the time since the test began.
    fn note(&mut self, text: impl AsRef<str>) {
        let line = format!(
            "t={:>6.1}s {}",
            self.started.elapsed().as_secs_f64(),
            text.as_ref()
        );
        eprintln!("[{}] {line}", self.name);
        self.schedule.push(line);
    }

    fn sleep(&mut self, duration: Duration, why: &str) {
        self.note(format!("wait {:.1}s ({why})", duration.as_secs_f64()));
        std::thread::sleep(duration);
    }

    fn describe(&self) -> String {
        format!(
            "test {} seed {} (rerun with SPOOL_FAULT_SEED={})\nfault schedule:\n  {}",
            self.name,
            self.seed,
            self.seed,
            self.schedule.join("\n  ")
        )
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("\n{}\n", self.describe());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The workload: a recording producer and two recording consumers
// ---------------------------------------------------------------------------------------

/// Everything the clients did, shared by their threads.
#[derive(Default)]
struct Recorder {
    /// Value → the write and its outcome so far.
    writes: Mutex<BTreeMap<String, Write>>,
    reads: Mutex<Vec<Read>>,
    acked_by_partition: Mutex<BTreeMap<i32, usize>>,
    /// Client-side errors worth showing in a report (bounded).
    errors: Mutex<Vec<String>>,
}

const ERRORS_KEPT_MAX: usize = 50;

impl Recorder {
    fn invoked(&self, value: &str, partition: i32) {
        let write = Write {
            value: value.to_string(),
            partition,
            outcome: Outcome::Unknown,
        };
        lock(&self.writes).insert(value.to_string(), write);
    }

    fn resolved(&self, value: &str, outcome: Outcome) {
        if let Outcome::Acked { partition, .. } = outcome {
            *lock(&self.acked_by_partition).entry(partition).or_default() += 1;
        }
        match lock(&self.writes).get_mut(value) {
            Some(write) => write.outcome = outcome,
            None => self.error(format!("delivery report for a value never sent: {value:?}")),
        }
    }

    fn read(&self, reader: &str, partition: i32, offset: i64, value: String) {
        lock(&self.reads).push(Read {
            reader: reader.to_string(),
            partition,
            offset,
            value,
        });
    }

    fn error(&self, text: String) {
        let mut errors = lock(&self.errors);
        if errors.len() < ERRORS_KEPT_MAX {
            errors.push(text);
        }
    }

    fn acked_by_partition(&self) -> BTreeMap<i32, usize> {
        lock(&self.acked_by_partition).clone()
    }

    fn acked(&self) -> usize {
        self.acked_by_partition().values().sum()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn text_of(payload: Option<&[u8]>) -> String {
    payload.map_or_else(
        || "<null>".to_string(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

/// Records each delivery report.
struct Deliveries(Arc<Recorder>);

impl ClientContext for Deliveries {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(format!("producer: {error}: {reason}"));
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => self.0.resolved(
                &text_of(message.payload()),
                Outcome::Acked {
                    partition: message.partition(),
                    offset: message.offset(),
                },
            ),
            Err((error, message)) => {
                let value = text_of(message.payload());
                self.0.error(format!(
                    "delivery of {value} to partition {} failed: {error}",
                    message.partition()
                ));
                self.0.resolved(&value, Outcome::Failed(error.to_string()));
            }
        }
    }
}

/// Where readers stop: partition → the offset they must reach; set at the end.
type Targets = Arc<Mutex<Option<BTreeMap<i32, i64>>>>;

const GROUP_READER: &str = "group-consumer";
const ASSIGNED_READER: &str = "assigned-consumer";

struct Workload {
    recorder: Arc<Recorder>,
    stop_producing: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
    targets: Targets,
    producer: Option<JoinHandle<Option<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Workload {
    fn start(bootstrap: &str, topic: &str, tag: &str) -> Workload {
        let recorder = Arc::new(Recorder::default());
        let stop_producing = Arc::new(AtomicBool::new(false));
        let abort = Arc::new(AtomicBool::new(false));
        let targets: Targets = Arc::new(Mutex::new(None));
        let producer = {
            let (recorder, stop, abort) = (recorder.clone(), stop_producing.clone(), abort.clone());
            let (bootstrap, topic, tag) =
                (bootstrap.to_string(), topic.to_string(), tag.to_string());
            std::thread::spawn(move || produce(&bootstrap, &topic, &tag, &recorder, &stop, &abort))
        };
        let readers = [GROUP_READER, ASSIGNED_READER]
            .into_iter()
            .map(|reader| {
                let (recorder, targets, abort) = (recorder.clone(), targets.clone(), abort.clone());
                let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
                std::thread::spawn(move || {
                    consume(&bootstrap, &topic, reader, &recorder, &targets, &abort)
                })
            })
            .collect();
        Workload {
            recorder,
            stop_producing,
            abort,
            targets,
            producer: Some(producer),
            readers,
        }
    }

    /// Stops sending, waits for every delivery report (bounded by the message timeout);
    /// returns the producer's fatal error, if it hit one.
    fn stop_producer(&mut self) -> Option<String> {
        self.stop_producing.store(true, Ordering::SeqCst);
        self.producer.take().and_then(|h| {
            h.join()
                .unwrap_or_else(|_| Some("the producer thread panicked".into()))
        })
    }

    /// Lets the readers run until they reach `targets`, bounded by [`DRAIN_TIMEOUT`].
    fn drain_readers(&mut self, targets: BTreeMap<i32, i64>) {
        *lock(&self.targets) = Some(targets);
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while Instant::now() < deadline && self.readers.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.abort.store(true, Ordering::SeqCst);
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop_producing.store(true, Ordering::SeqCst);
        self.abort.store(true, Ordering::SeqCst);
        if let Some(h) = self.producer.take() {
            let _ = h.join();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// The producer thread: sends until `stop`, then flushes (bounded). Returns the fatal
/// error that ended it early, if any.
fn produce(
    bootstrap: &str,
    topic: &str,
    tag: &str,
    recorder: &Arc<Recorder>,
    stop: &AtomicBool,
    abort: &AtomicBool,
) -> Option<String> {
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "harness-producer")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS.to_string())
        .set("request.timeout.ms", "5000")
        .set("linger.ms", "5")
        .set("compression.codec", "none")
        .create_with_context(Deliveries(recorder.clone()))
        .expect("create producer");
    let mut fatal = None;
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) && !abort.load(Ordering::SeqCst) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            fatal = Some(format!("{code:?}: {reason}"));
            break;
        }
        if producer.in_flight_count() >= IN_FLIGHT_MAX {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let partition = (n % PARTITIONS as u64) as i32;
        let value = format!("{tag}-{n:07}");
        recorder.invoked(&value, partition);
        loop {
            match producer.send(
                BaseRecord::<(), str>::to(topic)
                    .partition(partition)
                    .payload(&value),
            ) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    recorder.resolved(&value, Outcome::Failed(format!("not sent: {e}")));
                    break;
                }
            }
        }
        n += 1;
        std::thread::sleep(SEND_INTERVAL);
    }
    let _ = producer.flush(Duration::from_millis(MESSAGE_TIMEOUT_MS + 10_000));
    if fatal.is_none() {
        fatal = producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code:?}: {reason}"));
    }
    fatal
}

/// A reader thread: records every record it receives until it reaches the targets (once
/// they are set) or is aborted.
fn consume(
    bootstrap: &str,
    topic: &str,
    reader: &str,
    recorder: &Recorder,
    targets: &Targets,
    abort: &AtomicBool,
) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", format!("harness-{reader}"))
        .set("auto.offset.reset", "earliest");
    if reader == GROUP_READER {
        config
            .set("group.id", format!("harness-group-{topic}"))
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000");
    } else {
        config
            .set("group.id", format!("harness-never-joined-{topic}"))
            .set("enable.auto.commit", "false");
    }
    let consumer: BaseConsumer = config.create().expect("create consumer");
    if reader == GROUP_READER {
        consumer.subscribe(&[topic]).expect("subscribe");
    } else {
        let mut list = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .expect("add partition");
        }
        consumer.assign(&list).expect("assign");
    }
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    while !abort.load(Ordering::SeqCst) {
        if let Some(targets) = lock(targets).as_ref() {
            if targets
                .iter()
                .all(|(p, end)| next.get(p).copied().unwrap_or(0) >= *end)
            {
                return;
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                let (partition, offset) = (message.partition(), message.offset());
                recorder.read(reader, partition, offset, text_of(message.payload()));
                let entry = next.entry(partition).or_default();
                *entry = (*entry).max(offset + 1);
            }
            Some(Err(e)) => recorder.error(format!("{reader}: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// One run: cluster, topic, workload, fault, checks
// ---------------------------------------------------------------------------------------

fn start_cluster() -> Cluster {
    Cluster::builder(3)
        .set("broker.session.timeout.ms", &SESSION_TIMEOUT_MS.to_string())
        .set(
            "broker.heartbeat.interval.ms",
            &HEARTBEAT_INTERVAL_MS.to_string(),
        )
        .set(
            "replica.lag.time.max.ms",
            &REPLICA_LAG_TIME_MAX_MS.to_string(),
        )
        .set("group.initial.rebalance.delay.ms", "0")
        .start()
}

fn create_topic(cluster: &mut Cluster, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("client.id", "harness-admin")
        .create()
        .expect("create admin client");
    let new_topic = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = futures::executor::block_on(admin.create_topics([&new_topic], &options))
        .expect("CreateTopics");
    if let Err((name, code)) = &results[0] {
        panic!("creating topic {name} failed: {code:?}");
    }
    cluster.wait_for(
        &format!("{topic}: every partition led and fully replicated"),
        CONVERGE_TIMEOUT,
        |v| v.fully_replicated(topic, PARTITIONS),
    );
}

/// A running test: scenario, cluster, topic and workload.
struct Run {
    topic: String,
    workload: Workload,
    // Dropped after the workload, so the clients stop before the nodes go.
    cluster: Cluster,
    scenario: Scenario,
}

impl Run {
    fn start(name: &'static str) -> Run {
        let mut scenario = Scenario::new(name);
        let mut cluster = start_cluster();
        scenario.note(format!("cluster of 3 formed: {}", cluster.bootstrap()));
        let topic = harness::unique_topic(name);
        create_topic(&mut cluster, &topic);
        scenario.note(format!(
            "topic {topic}: {PARTITIONS} partitions, replication factor 3, min.insync.replicas=2"
        ));
        let tag = format!("{:x}", scenario.seed & 0xffff_ffff);
        let workload = Workload::start(&cluster.bootstrap(), &topic, &tag);
        let mut run = Run {
            topic,
            workload,
            cluster,
            scenario,
        };
        run.wait_for_acks("warm-up", 200);
        let warm_up = run.scenario.rng.millis(1000, 3000);
        run.scenario.sleep(warm_up, "warm-up under load");
        run
    }

    /// A partition chosen by the seed, with its current leader and leader epoch.
    fn pick_leader(&mut self) -> (i32, i32, i32) {
        let partition = self.scenario.rng.range(0, PARTITIONS as u64) as i32;
        let view = self.cluster.view();
        let p = view
            .partition(&self.topic, partition)
            .unwrap_or_else(|| panic!("no metadata for partition {partition}:\n{view}"));
        assert!(
            p.leader >= 0,
            "partition {partition} has no leader:\n{view}"
        );
        (partition, p.leader, p.leader_epoch)
    }

    /// Starts moving `partition` to `replicas` with `spool reassign-partitions --execute`.
    fn reassign(&mut self, partition: i32, replicas: &[i32]) {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = dir.path().join("plan.json");
        let text = format!(
            r#"{{"version":1,"partitions":[{{"topic":"{}","partition":{partition},"replicas":{replicas:?}}}]}}"#,
            self.topic
        );
        std::fs::write(&plan, text).expect("write the plan");
        let output = std::process::Command::new(harness::spool_bin())
            .args(["reassign-partitions", "--bootstrap-server", &self.cluster.bootstrap(), "--execute", "--reassignment-json-file"])
            .arg(&plan)
            .output()
            .expect("run spool reassign-partitions");
        assert!(
            output.status.success(),
            "reassign-partitions --execute failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        self.scenario.note(format!("reassignment of {}/{partition} to {replicas:?} started", self.topic));
    }

    /// The partitions that `node` does not lead now.
    fn partitions_not_led_by(&mut self, node: i32) -> Vec<i32> {
        let view = self.cluster.view();
        (0..PARTITIONS)
            .filter(|&p| view.leader_of(&self.topic, p) != Some(node))
            .collect()
    }

    /// Waits until partition `partition` has a leader other than `old`; notes it.
    fn wait_new_leader(&mut self, partition: i32, old: i32) -> i32 {
        let topic = self.topic.clone();
        let view = self.cluster.wait_for(
            &format!("{topic}/{partition}: a leader other than node {old}"),
            ELECTION_TIMEOUT,
            |v| v.leader_of(&topic, partition).is_some_and(|l| l != old),
        );
        let p = view
            .partition(&topic, partition)
            .expect("partition in view")
            .clone();
        self.scenario.note(format!(
            "{topic}/{partition}: node {} leads at epoch {} (isr {:?})",
            p.leader, p.leader_epoch, p.isr
        ));
        p.leader
    }

    /// Waits until every replica of every partition is back in the ISR; notes it.
    fn wait_converged(&mut self, why: &str) {
        let topic = self.topic.clone();
        self.cluster.wait_for(
            &format!("{topic}: full ISR on every partition ({why})"),
            CONVERGE_TIMEOUT,
            |v| v.fully_replicated(&topic, PARTITIONS),
        );
        self.scenario
            .note(format!("every partition fully replicated again ({why})"));
    }

    /// Waits until at least `count` more writes are acknowledged.
    fn wait_for_acks(&mut self, why: &str, count: usize) {
        let from = self.workload.recorder.acked();
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        while self.workload.recorder.acked() < from + count {
            assert!(
                Instant::now() < deadline,
                "{why}: only {} of {count} acknowledgements within {PROGRESS_TIMEOUT:?}; client errors: {:#?}",
                self.workload.recorder.acked() - from,
                lock(&self.workload.recorder.errors)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every partition gets new acknowledgements (the cluster serves writes
    /// everywhere again after the fault).
    fn wait_progress_everywhere(&mut self, why: &str) {
        self.wait_progress(&(0..PARTITIONS).collect::<Vec<_>>(), why);
    }

    /// Waits until each of `partitions` gets 20 new acknowledgements; notes how long each
    /// took.
    fn wait_progress(&mut self, partitions: &[i32], why: &str) {
        let before = self.workload.recorder.acked_by_partition();
        let started = Instant::now();
        let deadline = started + PROGRESS_TIMEOUT;
        let mut resumed: BTreeMap<i32, Duration> = BTreeMap::new();
        loop {
            let now = self.workload.recorder.acked_by_partition();
            let stalled: Vec<i32> = partitions
                .iter()
                .copied()
                .filter(|p| {
                    now.get(p).copied().unwrap_or(0) < before.get(p).copied().unwrap_or(0) + 20
                })
                .collect();
            for p in partitions.iter().copied().filter(|p| !stalled.contains(p)) {
                resumed.entry(p).or_insert_with(|| started.elapsed());
            }
            if stalled.is_empty() {
                let after: Vec<String> = resumed
                    .iter()
                    .map(|(p, d)| format!("{p}: {:.1}s", d.as_secs_f64()))
                    .collect();
                self.scenario.note(format!(
                    "writes acknowledged on partitions {partitions:?} ({why}); 20 more acks per partition after {}",
                    after.join(", ")
                ));
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{why}: no new acknowledgements on partitions {stalled:?} within {PROGRESS_TIMEOUT:?}; client errors: {:#?}",
                lock(&self.workload.recorder.errors)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the load, brings everything to rest, reads the replicas and checks the
    /// history. Panics with the seed, schedule and violations on any failure.
    fn finish(mut self) {
        let run_more = self.scenario.rng.millis(2000, 4000);
        self.scenario.sleep(run_more, "load after the fault");
        let mut failures: Vec<String> = Vec::new();
        let fatal = self.workload.stop_producer();
        self.scenario
            .note("producer stopped; every delivery resolved");
        if let Some(fatal) = fatal {
            failures.push(format!(
                "the idempotent producer hit a fatal error: {fatal}"
            ));
        }
        let topic = self.topic.clone();
        match self
            .cluster
            .try_wait_for(CONVERGE_TIMEOUT, |v| v.fully_replicated(&topic, PARTITIONS))
        {
            Ok(_) => self.scenario.note("every partition fully replicated"),
            Err(view) => failures.push(format!(
                "replicas did not converge within {CONVERGE_TIMEOUT:?}:\n{view}"
            )),
        }
        let targets = self.high_watermarks();
        self.scenario
            .note(format!("high watermarks {targets:?}; draining consumers"));
        self.workload.drain_readers(targets);
        self.scenario.note("consumers done");
        self.wait_disks_agree();
        let unclean = self.cluster.stop_all();
        self.scenario.note(format!(
            "all nodes stopped (SIGTERM); not clean: {unclean:?}"
        ));
        let history = self.history();
        let report = history::check(&history);
        if report.stats.acked < ACKED_MIN {
            failures.push(format!(
                "only {} acknowledged writes (minimum {ACKED_MIN}): the run proves nothing",
                report.stats.acked
            ));
        }
        if !report.ok() {
            failures.push(format!(
                "history violates the guarantees:\n{}",
                report.summary(40)
            ));
        }
        let summary = report.summary(0);
        if !failures.is_empty() {
            panic!(
                "{}\n\n{}\n{summary}\nclient errors (first {ERRORS_KEPT_MAX}): {:#?}",
                failures.join("\n\n"),
                self.scenario.describe(),
                lock(&self.workload.recorder.errors)
            );
        }
        let errors = lock(&self.workload.recorder.errors);
        eprintln!(
            "[{}] passed: {summary}\n{}\nclient errors (first {ERRORS_KEPT_MAX}): {errors:#?}",
            self.scenario.name,
            self.scenario.describe()
        );
    }

    /// Each partition's high watermark from its leader (bounded retries).
    fn high_watermarks(&mut self) -> BTreeMap<i32, i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.cluster.bootstrap())
            .set("client.id", "harness-watermarks")
            .create()
            .expect("create consumer");
        let deadline = Instant::now() + Duration::from_secs(30);
        (0..PARTITIONS)
            .map(|p| loop {
                match consumer.fetch_watermarks(&self.topic, p, Duration::from_secs(5)) {
                    Ok((_, high)) => break (p, high),
                    Err(e) => {
                        assert!(
                            Instant::now() < deadline,
                            "high watermark of partition {p}: {e}"
                        );
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            })
            .collect()
    }

    /// Waits (bounded) until every node's partition directories hold the same records, so
    /// a clean stop does not cut a follower's last fetch short.
    fn wait_disks_agree(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = self.replica_logs();
            let agree = (0..PARTITIONS).all(|p| {
                let each: Vec<Option<&Vec<(i64, String)>>> =
                    logs.values().map(|parts| parts.get(&p)).collect();
                each.iter().all(Option::is_some) && each.windows(2).all(|pair| pair[0] == pair[1])
            });
            if agree {
                self.scenario.note("replicas' partition directories agree");
                return;
            }
            if Instant::now() >= deadline {
                self.scenario.note("replicas' partition directories still differ after 20 s (the checker will say how)");
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Node → partition → `(offset, value)` from each node's data directory. A partition
    /// that cannot be read is left out (the checker then reports the replica diverged).
    fn replica_logs(&self) -> BTreeMap<i32, BTreeMap<i32, Vec<(i64, String)>>> {
        self.cluster
            .ids()
            .into_iter()
            .map(|id| {
                let parts = (0..PARTITIONS)
                    .filter_map(|p| {
                        let records = self.cluster.read_partition(id, &self.topic, p).ok()?;
                        Some((
                            p,
                            records
                                .into_iter()
                                .map(|(o, v)| (o, text_of(v.as_deref())))
                                .collect(),
                        ))
                    })
                    .collect();
                (id, parts)
            })
            .collect()
    }

    fn history(&self) -> History {
        History {
            writes: lock(&self.workload.recorder.writes)
                .values()
                .cloned()
                .collect(),
            reads: lock(&self.workload.recorder.reads).clone(),
            replicas: self.replica_logs(),
            partitions: (0..PARTITIONS).collect(),
            idempotent: true,
            complete_readers: vec![GROUP_READER.into(), ASSIGNED_READER.into()],
        }
    }
}

// ---------------------------------------------------------------------------------------
// The faults
// ---------------------------------------------------------------------------------------

#[test]
fn sigkill_of_a_partition_leader_then_restart() {
    let _exclusive = harness::cluster::exclusive();
    let mut run = Run::start("sigkill_of_a_partition_leader_then_restart");
    let (partition, leader, epoch) = run.pick_leader();
    run.scenario.note(format!(
        "SIGKILL node {leader}, leader of {}/{partition} at epoch {epoch}",
        run.topic
    ));
    run.cluster.kill9(leader);
    run.wait_new_leader(partition, leader);
    run.wait_progress_everywhere("one node dead");
    let down = run.scenario.rng.millis(1000, 4000);
    run.scenario.sleep(down, "node stays dead");
    run.scenario.note(format!("restart node {leader}"));
    run.cluster.restart(leader);
    run.wait_converged("killed leader back");
    run.wait_progress_everywhere("after the restart");
    run.finish();
}

#[test]
fn sigkill_of_the_active_controller_then_restart() {
    let _exclusive = harness::cluster::exclusive();
    let mut run = Run::start("sigkill_of_the_active_controller_then_restart");
    let controller = run
        .cluster
        .active_controller()
        .expect("an active controller");
    run.scenario
        .note(format!("SIGKILL node {controller}, the active controller"));
    run.cluster.kill9(controller);
    let deadline = Instant::now() + ELECTION_TIMEOUT;
    // The same other node named on two polls a second apart (while the quorum has no
    // leader, Metadata names some live broker).
    let mut candidate = None;
    let successor = loop {
        let now = run.cluster.active_controller().filter(|&c| c != controller);
        if let Some(c) = now.filter(|_| now == candidate) {
            break c;
        }
        candidate = now;
        if candidate.is_some() {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "no new active controller within {ELECTION_TIMEOUT:?} of killing node {controller}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    run.scenario
        .note(format!("node {successor} is the active controller"));
    run.wait_progress_everywhere("controller dead");
    let down = run.scenario.rng.millis(1000, 4000);
    run.scenario.sleep(down, "node stays dead");
    run.scenario.note(format!("restart node {controller}"));
    run.cluster.restart(controller);
    run.wait_converged("killed controller back");
    run.wait_progress_everywhere("after the restart");
    run.finish();
}

#[test]
fn sigstop_of_a_leader_past_the_session_timeout_then_sigcont() {
    let _exclusive = harness::cluster::exclusive();
    let mut run = Run::start("sigstop_of_a_leader_past_the_session_timeout_then_sigcont");
    let (partition, leader, epoch) = run.pick_leader();
    let pause = Duration::from_millis(SESSION_TIMEOUT_MS) + run.scenario.rng.millis(3000, 6000);
    run.scenario.note(format!(
        "SIGSTOP node {leader}, leader of {}/{partition} at epoch {epoch}, for {:.1}s (session timeout {SESSION_TIMEOUT_MS} ms)",
        run.topic,
        pause.as_secs_f64()
    ));
    let others = run.partitions_not_led_by(leader);
    let paused_at = Instant::now();
    run.cluster.pause(leader);
    run.wait_new_leader(partition, leader);
    // Partitions the paused node follows go on once their ISR drops it. (Those it led
    // resume for librdkafka only when the batches in flight to the paused node time out,
    // so they are checked after the fault.)
    run.wait_progress(&others, "leader paused");
    if let Some(left) = pause.checked_sub(paused_at.elapsed()) {
        run.scenario.sleep(left, "rest of the pause");
    }
    run.scenario.note(format!(
        "SIGCONT node {leader} after {:.1}s",
        paused_at.elapsed().as_secs_f64()
    ));
    run.cluster.resume(leader);
    run.wait_converged("paused leader resumed");
    run.wait_progress_everywhere("after the resume");
    run.finish();
}

#[test]
fn isolation_of_a_leader_from_the_other_nodes_then_heal() {
    let _exclusive = harness::cluster::exclusive();
    let mut run = Run::start("isolation_of_a_leader_from_the_other_nodes_then_heal");
    if let Err(why) = run.cluster.isolation_support() {
        panic!("this test needs network isolation, which is unavailable here: {why}");
    }
    let (partition, leader, epoch) = run.pick_leader();
    let hold = run.scenario.rng.millis(8000, 12_000);
    run.scenario.note(format!(
        "isolate node {leader}, leader of {}/{partition} at epoch {epoch}, from nodes {:?} for {:.1}s (clients still reach it)",
        run.topic,
        run.cluster.ids().into_iter().filter(|&i| i != leader).collect::<Vec<_>>(),
        hold.as_secs_f64()
    ));
    let others = run.partitions_not_led_by(leader);
    let isolated_at = Instant::now();
    run.cluster.isolate(leader);
    run.wait_new_leader(partition, leader);
    // As with a paused leader: the partitions it follows go on; the ones it led are
    // checked after the heal.
    run.wait_progress(&others, "leader isolated");
    if let Some(left) = hold.checked_sub(isolated_at.elapsed()) {
        run.scenario.sleep(left, "rest of the isolation");
    }
    run.scenario.note(format!(
        "heal node {leader} after {:.1}s",
        isolated_at.elapsed().as_secs_f64()
    ));
    run.cluster.heal(leader);
    run.wait_converged("isolated leader healed");
    run.wait_progress_everywhere("after the heal");
    run.finish();
}

#[test]
fn rolling_restart_of_every_node() {
    let _exclusive = harness::cluster::exclusive();
    let mut run = Run::start("rolling_restart_of_every_node");
    let mut order = run.cluster.ids();
    for i in (1..order.len()).rev() {
        let j = run.scenario.rng.range(0, i as u64 + 1) as usize;
        order.swap(i, j);
    }
    run.scenario
        .note(format!("rolling restart in order {order:?}"));
    for id in order {
        run.scenario.note(format!("SIGTERM node {id}"));
        let clean = run.cluster.stop(id);
        run.scenario.note(format!(
            "node {id} exited ({})",
            if clean { "cleanly" } else { "NOT cleanly" }
        ));
        run.scenario.note(format!("restart node {id}"));
        run.cluster.restart(id);
        run.wait_converged(&format!("node {id} restarted"));
        run.wait_progress_everywhere(&format!("node {id} restarted"));
    }
    run.finish();
}

#[test]
fn reassignment_of_a_partition_away_from_its_leader_and_back() {
    let _exclusive = harness::cluster::exclusive();
    let mut run = Run::start("reassignment_of_a_partition_away_from_its_leader_and_back");
    let (partition, leader, epoch) = run.pick_leader();
    let others: Vec<i32> = run.cluster.ids().into_iter().filter(|id| *id != leader).collect();
    run.scenario.note(format!("{}/{partition} is led by node {leader} at epoch {epoch}", run.topic));
    // The move completes at once (both remaining replicas are in sync): the leader's node
    // leaves the partition, another replica leads, and the old copy is deleted.
    run.reassign(partition, &others);
    let topic = run.topic.clone();
    run.cluster.wait_for(&format!("{topic}/{partition} on nodes {others:?} only"), CONVERGE_TIMEOUT, |v| {
        v.answers().count() == 3
            && v.answers().all(|(_, md)| {
                md.topics.get(&topic).and_then(|t| t.partitions.get(&partition)).is_some_and(|p| {
                    p.replicas == others && p.isr.len() == 2 && p.leader >= 0 && p.leader != leader
                })
            })
    });
    run.wait_new_leader(partition, leader);
    run.wait_progress_everywhere("partition moved off its leader's node");
    // Back: node `leader` copies the partition from scratch under load, joins the ISR, and
    // the reassignment completes.
    let back: Vec<i32> = std::iter::once(leader).chain(others.iter().copied()).collect();
    run.reassign(partition, &back);
    run.wait_converged("the partition back on every node");
    run.wait_progress_everywhere("after the move back");
    run.finish();
}
