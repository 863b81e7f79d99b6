//! `process.roles`: a controller-only node (a quorum voter that serves no clients) and a
//! broker-only node (a quorum learner) form a working cluster, and the controller fences
//! the broker when it goes silent.

mod harness;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

use harness::rdkafka_client::{assign, recv_n};

/// Kills the child processes when the test ends, however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(args: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(harness::spool_bin())
        .arg("server")
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn spool server")
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not happen within {within:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controller_only_node_and_a_broker_only_node_form_a_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = harness::free_ports(3);
    let (controller_port, broker_controller_port, kafka_port) = (ports[0], ports[1], ports[2]);
    let voters = format!("1@127.0.0.1:{controller_port}");
    let timing = ["--set", "broker.session.timeout.ms=2000", "--set", "broker.heartbeat.interval.ms=300"];
    let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut controller_args = owned(&["--node-id", "1", "--process-roles", "controller", "--controller-quorum-voters"]);
    controller_args.push(voters.clone());
    controller_args.extend(owned(&["--controller-listen", &format!("127.0.0.1:{controller_port}")]));
    controller_args.extend(owned(&["--data-dir", &dir.path().join("n1").display().to_string()]));
    controller_args.extend(owned(&timing));
    let mut broker_args = owned(&["--node-id", "2", "--process-roles", "broker", "--controller-quorum-voters"]);
    broker_args.push(voters);
    broker_args.extend(owned(&["--controller-listen", &format!("127.0.0.1:{broker_controller_port}")]));
    broker_args.extend(owned(&["--listen", &format!("127.0.0.1:{kafka_port}")]));
    broker_args.extend(owned(&["--data-dir", &dir.path().join("n2").display().to_string()]));
    broker_args.extend(owned(&timing));

    let controller_log = dir.path().join("n1.log");
    let mut nodes = Processes(vec![spawn(&controller_args, &controller_log), spawn(&broker_args, &dir.path().join("n2.log"))]);
    let bootstrap = format!("127.0.0.1:{kafka_port}");
    wait_until("the broker-only node listening", Duration::from_secs(30), || TcpStream::connect(&bootstrap).is_ok());

    // Topics are created through the broker, which forwards to the controller node.
    let topic = harness::unique_topic("roles");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    for i in 0..10 {
        producer
            .send(FutureRecord::<(), _>::to(&topic).payload(&format!("v{i}")).partition(0), Duration::from_secs(20))
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {i}: {e}"));
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "roles-never-joined")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    assign(&consumer, &topic, &[(0, 0)]);
    assert_eq!(recv_n(&consumer, 10, Duration::from_secs(20)).await.len(), 10);

    // Only the broker-only node is a broker; the controller node serves no clients.
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10)).expect("metadata");
    let brokers: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    assert_eq!(brokers, vec![2]);

    // The controller-only node is the active controller and fences the silent broker.
    let broker = nodes.0.pop().expect("broker process");
    Processes(vec![broker]);
    wait_until("the controller fencing broker 2", Duration::from_secs(20), || {
        std::fs::read_to_string(&controller_log).unwrap_or_default().contains("fencing the broker")
    });
}
