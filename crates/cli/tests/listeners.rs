//! Several Kafka listeners per broker (INTERNAL/EXTERNAL), configured as in Kafka:
//! every listener is bound, each client is answered with the addresses of the listener
//! it connected through (Metadata, FindCoordinator, DescribeCluster), replication uses
//! `inter.broker.listener.name`, bad listener configs stop start-up with a message, and
//! accepted connections get the socket buffer sizes of `socket.send.buffer.bytes` and
//! `socket.receive.buffer.bytes`, within `max.connections` and `max.connections.per.ip`.
//!
//! Nodes are real `spool server` processes started from a server.properties; clients
//! are librdkafka (`rdkafka`) and the raw wire client in `tests/wire`.
//!
//! Run: `cargo build -p spool-cli && cargo test -p spool-cli --test listeners`.

mod harness;
mod wire;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{DescribeClusterRequest, FindCoordinatorRequest};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use harness::rdkafka_client::recv_n;
use harness::{free_ports, server_refusal, server_refusal_in, spool_bin, unique_topic};

const WAIT: Duration = Duration::from_secs(60);

/// A `spool server --config FILE` process, killed on drop.
struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    /// Starts a node from `properties` (written to `dir/server.properties`) and waits
    /// until every address in `listening` accepts connections.
    fn start(dir: &Path, properties: &str, listening: &[String]) -> Node {
        std::fs::create_dir_all(dir).expect("node dir");
        let config = dir.join("server.properties");
        std::fs::write(&config, properties).expect("write server.properties");
        let log = dir.join("server.log");
        let child = Command::new(spool_bin())
            .arg("server")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn spool server");
        let mut node = Node { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        for addr in listening {
            while TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = node.child.try_wait() {
                    panic!("spool server exited with {status}; log:\n{}", node.log());
                }
                assert!(Instant::now() < deadline, "{addr} does not listen; log:\n{}", node.log());
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        node
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The properties of one node with listeners `INTERNAL`, `EXTERNAL` and `CONTROLLER`.
fn properties(id: i32, voters: &str, listeners: &str, advertised: &str, dir: &Path, extra: &str) -> String {
    format!(
        "process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners={listeners}
advertised.listeners={advertised}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
log.dirs={}
group.initial.rebalance.delay.ms=0
{extra}
",
        dir.join("data").display()
    )
}

/// The brokers a Metadata request through `bootstrap` lists: (id, host, port), sorted.
fn try_metadata_brokers(bootstrap: &str) -> Result<Vec<(i32, String, i32)>, String> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("metadata client");
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let mut brokers: Vec<_> =
        metadata.brokers().iter().map(|b| (b.id(), b.host().to_string(), b.port())).collect();
    brokers.sort();
    Ok(brokers)
}

fn metadata_brokers(bootstrap: &str) -> Vec<(i32, String, i32)> {
    try_metadata_brokers(bootstrap).unwrap_or_else(|e| panic!("metadata through {bootstrap}: {e}"))
}

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32, replication: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client");
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new_topic], &options).await.expect("CreateTopics");
    assert!(results[0].is_ok(), "creating {topic}: {:?}", results[0]);
}

/// Produces `values` with `acks=all`, each to `partition`.
async fn produce_all(bootstrap: &str, topic: &str, partition: i32, values: &[String]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for value in values {
        let record: FutureRecord<'_, (), str> = FutureRecord::to(topic).partition(partition).payload(value);
        if let Err((e, _)) = producer.send(record, Duration::from_secs(30)).await {
            panic!("{value} not delivered through {bootstrap}: {e}");
        }
    }
}

/// Consumes `n` records of `topic` as a member of `group` (FindCoordinator, JoinGroup,
/// Fetch all go through `bootstrap`'s listener).
async fn consume_in_group(bootstrap: &str, topic: &str, group: &str, n: usize) -> Vec<String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    recv_n(&consumer, n, WAIT)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_the_addresses_of_the_listener_it_came_through() {
    let temp = tempfile::tempdir().expect("temp dir");
    let [internal, external, controller] = free_ports(3)[..] else { unreachable!() };
    // INTERNAL is advertised by name and EXTERNAL by address, so the answers differ in
    // host as well as port.
    let props = properties(
        1,
        &format!("1@127.0.0.1:{controller}"),
        &format!("INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external},CONTROLLER://127.0.0.1:{controller}"),
        &format!("INTERNAL://localhost:{internal},EXTERNAL://127.0.0.1:{external}"),
        temp.path(),
        "offsets.topic.replication.factor=1",
    );
    let internal_addr = format!("127.0.0.1:{internal}");
    let external_addr = format!("127.0.0.1:{external}");
    let node = Node::start(temp.path(), &props, &[internal_addr.clone(), external_addr.clone()]);

    assert_eq!(metadata_brokers(&external_addr), vec![(1, "127.0.0.1".to_string(), i32::from(external))]);
    assert_eq!(metadata_brokers(&internal_addr), vec![(1, "localhost".to_string(), i32::from(internal))]);

    // DescribeCluster and FindCoordinator answer per listener too.
    for (addr, host, port) in [(&external_addr, "127.0.0.1", external), (&internal_addr, "localhost", internal)] {
        let mut conn = wire::Conn::connect(addr).expect("connect");
        let cluster = conn.call(&DescribeClusterRequest::default(), 0).expect("DescribeCluster");
        let brokers: Vec<_> = cluster.brokers.iter().map(|b| (b.host.to_string(), b.port)).collect();
        assert_eq!(brokers, vec![(host.to_string(), i32::from(port))], "DescribeCluster via {addr}");
        let mut find = FindCoordinatorRequest::default();
        find.key = StrBytes::from_static_str("listeners-group");
        let deadline = Instant::now() + WAIT;
        loop {
            // The first request creates __consumer_offsets; its leader takes a moment.
            let found = conn.call(&find, 3).expect("FindCoordinator");
            if found.error_code == 0 {
                assert_eq!((found.host.to_string(), found.port), (host.to_string(), i32::from(port)));
                break;
            }
            assert!(Instant::now() < deadline, "no coordinator via {addr}: {}", found.error_code);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Clients of either listener produce and consume (a group: its coordinator too).
    let topic = unique_topic("two-listeners");
    create_topic(&external_addr, &topic, 1, 1, &[]).await;
    let outside: Vec<String> = (0..5).map(|i| format!("external-{i}")).collect();
    let inside: Vec<String> = (0..5).map(|i| format!("internal-{i}")).collect();
    produce_all(&external_addr, &topic, 0, &outside).await;
    produce_all(&internal_addr, &topic, 0, &inside).await;
    let all: Vec<String> = outside.iter().chain(&inside).cloned().collect();
    assert_eq!(consume_in_group(&internal_addr, &topic, "inside", 10).await, all);
    assert_eq!(consume_in_group(&external_addr, &topic, "outside", 10).await, all);
    drop(node);
}

/// The sockets `spool` processes opened to `ports`, from `ss` (`None` when `ss` cannot
/// list processes here).
fn spool_connections_to(ports: &[u16]) -> Option<usize> {
    let filter = ports.iter().map(|p| format!("dport = :{p}")).collect::<Vec<_>>().join(" or ");
    let output = Command::new("ss").args(["-Htnp", "state", "established", &format!("( {filter} )")]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).lines().filter(|l| l.contains("\"spool\"")).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_replicates_over_the_inter_broker_listener() {
    let _exclusive = harness::cluster::exclusive();
    let temp = tempfile::tempdir().expect("temp dir");
    let ports = free_ports(9);
    let (external, internal, controller) = (&ports[0..3], &ports[3..6], &ports[6..9]);
    let voters = (0..3).map(|i| format!("{}@127.0.0.1:{}", i + 1, controller[i])).collect::<Vec<_>>().join(",");
    let mut nodes = Vec::new();
    for i in 0..3 {
        let dir = temp.path().join(format!("node-{}", i + 1));
        // EXTERNAL comes first, so "the first listener" is not what replication uses.
        let props = properties(
            i as i32 + 1,
            &voters,
            &format!(
                "EXTERNAL://127.0.0.1:{},INTERNAL://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                external[i], internal[i], controller[i]
            ),
            &format!("EXTERNAL://127.0.0.1:{},INTERNAL://127.0.0.1:{}", external[i], internal[i]),
            &dir,
            "broker.heartbeat.interval.ms=500",
        );
        let listening = vec![format!("127.0.0.1:{}", external[i]), format!("127.0.0.1:{}", internal[i])];
        nodes.push(Node::start(&dir, &props, &listening));
    }
    let bootstrap = format!("127.0.0.1:{}", external[0]);
    let want: Vec<(i32, String, i32)> =
        (0..3).map(|i| (i as i32 + 1, "127.0.0.1".to_string(), i32::from(external[i]))).collect();
    let deadline = Instant::now() + WAIT;
    // Until the quorum forms and the brokers register, the answer may be short or fail.
    while try_metadata_brokers(&bootstrap).as_ref() != Ok(&want) {
        assert!(
            Instant::now() < deadline,
            "the cluster did not list its 3 EXTERNAL endpoints: {:?}; log of node 1:\n{}",
            try_metadata_brokers(&bootstrap),
            nodes[0].log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let internal_bootstrap = format!("127.0.0.1:{}", internal[1]);
    let want_internal: Vec<(i32, String, i32)> =
        (0..3).map(|i| (i as i32 + 1, "127.0.0.1".to_string(), i32::from(internal[i]))).collect();
    assert_eq!(metadata_brokers(&internal_bootstrap), want_internal);

    // acks=all with min.insync.replicas=3 commits only once both followers have fetched.
    let topic = unique_topic("inter-broker");
    create_topic(&bootstrap, &topic, 1, 3, &[("min.insync.replicas", "3")]).await;
    let values: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    produce_all(&bootstrap, &topic, 0, &values).await;
    assert_eq!(consume_in_group(&bootstrap, &topic, "replicated", 20).await, values);

    // The followers fetch from the leader's INTERNAL listener, never its EXTERNAL one.
    match (spool_connections_to(internal), spool_connections_to(external)) {
        (Some(to_internal), Some(to_external)) => {
            assert!(to_internal > 0, "no broker-to-broker connection on INTERNAL");
            assert_eq!(to_external, 0, "a broker connected to an EXTERNAL listener");
        }
        _ => eprintln!("note: `ss -p` is not available; the listener of the replica fetchers was not checked"),
    }
    drop(nodes);
}

/// Runs `spool server --config FILE ARGS`, with `properties` in FILE, which must refuse
/// to start; its exit code and stderr.
fn refused(properties: &str, args: &[&str]) -> (Option<i32>, String) {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = temp.path().join("server.properties");
    std::fs::write(&config, properties).expect("write");
    let config = config.to_str().expect("utf-8 path");
    server_refusal(&[&["--config", config], args].concat())
}

#[test]
fn bad_listener_configs_stop_start_up_with_what_to_do() {
    let [a, b, c] = free_ports(3)[..] else { unreachable!() };
    let base = format!(
        "listeners=INTERNAL://127.0.0.1:{a},EXTERNAL://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}
controller.listener.names=CONTROLLER
controller.quorum.voters=1@127.0.0.1:{c}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"
    );
    let same_port = format!("listeners=INTERNAL://127.0.0.1:{a},EXTERNAL://127.0.0.1:{a},CONTROLLER://127.0.0.1:{c}");
    let cases = [
        // No inter.broker.listener.name: Kafka's default, PLAINTEXT, is not a listener.
        (base.clone(), vec![], "the inter-broker listener PLAINTEXT"),
        (format!("{base}\ninter.broker.listener.name=OUTSIDE"), vec![], "set inter.broker.listener.name to one of them"),
        (
            format!("{base}\ninter.broker.listener.name=INTERNAL"),
            vec!["--set", "listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"],
            "SASL listener EXTERNAL has no users",
        ),
        (
            format!("{base}\ninter.broker.listener.name=INTERNAL"),
            vec!["--set", "listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:SSL"],
            "set ssl.keystore.location",
        ),
        (
            format!("{base}\ninter.broker.listener.name=INTERNAL"),
            vec!["--set", same_port.as_str()],
            "each listener needs its own port",
        ),
        (
            format!("{base}\ninter.broker.listener.name=INTERNAL\nadvertised.listeners=INTERNAL://h:{a},PUBLIC://h:{b}"),
            vec![],
            "advertised listener PUBLIC is not one of the listeners",
        ),
        (
            format!("{base}\ninter.broker.listener.name=INTERNAL\nlistener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT"),
            vec![],
            "add EXTERNAL:PLAINTEXT to listener.security.protocol.map",
        ),
    ];
    for (properties, args, expected) in cases {
        let (code, stderr) = refused(&properties, &args);
        assert_eq!(code, Some(2), "expected a config error for {properties} {args:?}; stderr:\n{stderr}");
        assert!(stderr.contains(expected), "expected '{expected}' in:\n{stderr}");
    }
    // The same listeners with the inter-broker listener named are accepted (the server
    // starts; it is stopped at once).
    let temp = tempfile::tempdir().expect("temp dir");
    let good = format!("{base}\ninter.broker.listener.name=INTERNAL\nlog.dirs={}", temp.path().join("data").display());
    let node = Node::start(temp.path(), &good, &[format!("127.0.0.1:{a}"), format!("127.0.0.1:{b}")]);
    drop(node);
}

#[test]
fn a_taken_port_stops_start_up_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let (code, stderr) = server_refusal_in(&data, &["--listen", &addr]);
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains(&format!("cannot bind listener PLAINTEXT on {addr}")), "{stderr}");
    assert!(stderr.contains("is another broker running there?"), "says what to do: {stderr}");
    // The listeners are bound first: no data directory, no metadata quorum on another port.
    assert!(!data.exists(), "the data directory was created before the bind failed");
}

#[test]
fn an_ssl_listener_whose_key_store_cannot_be_used_stops_start_up_before_anything_is_written() {
    let [plain, ssl] = free_ports(2)[..] else { unreachable!() };
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let no_key = temp.path().join("certificate-only.pem");
    std::fs::write(&no_key, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").expect("write");
    let empty = temp.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let missing = temp.path().join("missing.pem");
    let cases = [
        (&missing, format!("cannot read ssl.keystore.location {}", missing.display())),
        (&no_key, format!("ssl.keystore.location {} holds no usable private key", no_key.display())),
        (&empty, format!("ssl.keystore.location {} holds no certificate", empty.display())),
    ];
    for (keystore, expected) in cases {
        let listeners = format!("listeners=PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{ssl}");
        let keystore = format!("ssl.keystore.location={}", keystore.display());
        let (code, stderr) = server_refusal_in(&data, &["--set", &listeners, "--set", &keystore]);
        assert_eq!(code, Some(1), "stderr:\n{stderr}");
        assert!(stderr.contains("cannot set up TLS for listener SSL"), "{stderr}");
        assert!(stderr.contains(&expected), "expected '{expected}' in:\n{stderr}");
        assert!(!data.exists(), "the data directory was created before TLS was set up");
    }
}

/// The kernel's receive and send buffer sizes (`rb` and `tb` of `ss -m`) of the broker's
/// end of the one connection a client of `addr` holds.
fn broker_side_buffer_sizes(addr: &str) -> (u64, u64) {
    let port = addr.rsplit(':').next().expect("HOST:PORT");
    let output = Command::new("ss")
        .args(["-Htnm", "state", "established", &format!("( sport = :{port} )")])
        .output()
        .expect("run ss (iproute2)");
    assert!(output.status.success(), "ss: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let size = |field: &str| -> u64 {
        let at = text.find(field).unwrap_or_else(|| panic!("no {field} in ss output:\n{text}")) + field.len();
        text[at..].split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).expect("a size")
    };
    assert_eq!(text.matches("skmem:").count(), 1, "one connection to {addr}:\n{text}");
    (size(",rb"), size(",tb"))
}

/// The buffer sizes of the broker's end of a connection to a broker started with `args`,
/// once it has answered a request on it (so it has accepted it).
fn buffer_sizes_with(args: &[&str]) -> (u64, u64) {
    let broker = harness::Broker::start_with(args);
    let mut conn = wire::connect(&broker.addr);
    conn.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("ApiVersions");
    broker_side_buffer_sizes(&broker.addr)
}

#[test]
fn accepted_connections_get_the_socket_buffer_sizes_of_the_config() {
    // Linux reserves twice the size asked for: Kafka's defaults of 100 KiB each.
    let kafka = ["--set", "socket.receive.buffer.bytes=102400", "--set", "socket.send.buffer.bytes=102400"];
    assert_eq!(buffer_sizes_with(&kafka), (204_800, 204_800), "(receive, send) at Kafka's defaults");
    let set = ["--set", "socket.receive.buffer.bytes=50000", "--set", "socket.send.buffer.bytes=40000"];
    assert_eq!(buffer_sizes_with(&set), (100_000, 80_000), "(receive, send) as set");
    // By default (-1): the kernel's own sizes, which a new connection starts from its
    // defaults (and grows with its traffic).
    let tcp_rmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_rmem").expect("tcp_rmem");
    let kernel_default: u64 = tcp_rmem.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("tcp_rmem default");
    for kernel in [&[][..], &["--set", "socket.receive.buffer.bytes=-1", "--set", "socket.send.buffer.bytes=-1"][..]] {
        let (receive, send) = buffer_sizes_with(kernel);
        assert_eq!(receive, kernel_default, "the receive buffer starts at tcp_rmem's default ({kernel:?})");
        assert_ne!(send, 204_800, "the send buffer is the kernel's, not Kafka's default ({kernel:?})");
    }
}

/// A connection to `addr` that the broker has accepted and answered (retried for a
/// while: the harness's own readiness probes may still hold a slot).
fn served_connection(addr: &str) -> wire::Conn {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut conn = wire::connect(addr);
        conn.set_read_timeout(Duration::from_secs(2));
        if conn.call(&wire::api_versions_request(), wire::API_VERSIONS_V).is_ok() {
            conn.set_read_timeout(wire::IO_TIMEOUT);
            return conn;
        }
        assert!(Instant::now() < deadline, "{addr} answered no connection within 10 s");
    }
}

/// Asserts that the broker closes `conn` without serving it.
fn assert_closed_at_once(mut conn: wire::Conn, what: &str) {
    // The broker may have closed it before the request is written.
    let _ = conn.send(&wire::api_versions_request(), wire::API_VERSIONS_V);
    match conn.next_event(Duration::from_secs(10)) {
        wire::PeerEvent::Closed(_) => {}
        other => panic!("{what} was not closed: {other:?}"),
    }
}

#[test]
fn max_connections_holds_new_clients_back_until_a_connection_closes() {
    let broker = harness::Broker::start_with(&["--set", "max.connections=2"]);
    let first = served_connection(&broker.addr);
    let mut second = served_connection(&broker.addr);
    // The third is taken into the kernel's backlog, but not accepted.
    let mut third = wire::connect(&broker.addr);
    third.send(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("send ApiVersions");
    match third.next_event(Duration::from_millis(1500)) {
        wire::PeerEvent::Silent => {}
        other => panic!("a third connection was served at max.connections=2: {other:?}"),
    }
    drop(first);
    match third.next_event(Duration::from_secs(10)) {
        wire::PeerEvent::Frame(_) => {}
        other => panic!("the waiting connection was not served once another closed: {other:?}"),
    }
    second.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("the second is still served");
}

/// `max.connections.per.ip.overrides` gives its addresses their own limit: 127.0.0.1 may
/// hold one connection, while 127.0.0.2 (not named) holds two under the default.
#[test]
fn max_connections_per_ip_overrides_limit_the_addresses_they_name() {
    let broker = harness::Broker::start_with(&["--set", "max.connections.per.ip.overrides=127.0.0.1:1"]);
    let other: std::net::Ipv4Addr = "127.0.0.2".parse().unwrap();
    let mut only = served_connection(&broker.addr);
    assert_closed_at_once(wire::connect(&broker.addr), "a second connection from 127.0.0.1, at its override of 1");
    let mut others: Vec<wire::Conn> =
        (0..2).map(|_| wire::Conn::connect_from(&broker.addr, other).expect("connect from 127.0.0.2")).collect();
    for conn in &mut others {
        conn.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("127.0.0.2 has no override");
    }
    only.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("the first is still served");
    assert!(broker.log().contains("closing a new connection: 127.0.0.1 holds 1"), "the broker says why:\n{}", broker.log());
}

#[test]
fn max_connections_per_ip_closes_a_connection_over_the_limit() {
    let broker = harness::Broker::start_with(&["--set", "max.connections.per.ip=1"]);
    let mut only = served_connection(&broker.addr);
    assert_closed_at_once(wire::connect(&broker.addr), "a second connection from 127.0.0.1 at max.connections.per.ip=1");
    only.call(&wire::api_versions_request(), wire::API_VERSIONS_V).expect("the first is still served");
    assert!(broker.log().contains("max.connections.per.ip"), "the broker says why:\n{}", broker.log());
}
