"""End-to-end test harness: runs the real `spool` binary and hands tests its address.

The binary comes from $SPOOL_BIN (scripts/test sets it to target/debug/spool);
without it the default is the repository's target/debug/spool. A missing
binary or a missing client tool is a setup error that fails the run, never a
skip.

Fixtures
  broker        one broker shared by the whole session (tests use unique topics)
  fresh_broker  a broker of the test's own, for tests that kill or restart it
  topic         a unique topic name
  bootstrap     the shared broker's "127.0.0.1:PORT"

Helpers (import from conftest)
  unique_topic(prefix), create_topic(bootstrap, name, ...), Broker.restart(),
  Broker.kill9(), Broker.log_tail(), make_tls_certs(dir), tls_broker(dir, certs, client_auth),
  sasl_broker(dir, certs, sets), librdkafka_round_trip / librdkafka_read /
  kafka_python_round_trip(bootstrap, security, topic, values), spool_tool(*args)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BROKER_START_TIMEOUT_S = 60.0


def spool_bin() -> Path:
    path = Path(os.environ.get("SPOOL_BIN", REPO_ROOT / "target" / "debug" / "spool"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file() or not os.access(path, os.X_OK):
        raise pytest.UsageError(
            f"spool binary not found at {path}: build it with `cargo build --workspace` "
            "or set SPOOL_BIN (scripts/test does both)"
        )
    return path


def require_tool(name: str) -> str:
    """The path of a client tool the tests need; a missing one is a setup error."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/install-test-deps", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_topic(prefix: str = "t") -> str:
    """A topic name no other test uses (valid Kafka name: [a-zA-Z0-9._-])."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def api_versions_v0_answers(host: str, port: int, timeout_s: float = 2.0) -> bool:
    """Sends a raw ApiVersions v0 request and checks a well-formed answer comes back."""
    client_id = b"spool-e2e"
    correlation_id = 7
    # Request header v1: api_key, api_version, correlation_id, client_id; empty body.
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 4)
            (size,) = struct.unpack(">i", head)
            payload = _recv_exact(s, size)
    except OSError:
        return False
    if len(payload) < 6:
        return False
    got_correlation, error_code = struct.unpack(">ih", payload[:6])
    return got_correlation == correlation_id and error_code == 0


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


class Broker:
    """A real `spool server` process on a loopback port with its own data dir."""

    def __init__(self, data_dir: Path, port: int | None = None, sets: dict | None = None,
                 extra_listeners: str = ""):
        self.binary = spool_bin()
        # Broker configs passed as `--set key=value`.
        self.sets = dict(sets or {})
        # Listeners beside the PLAINTEXT one on `port`, as `NAME://host:port,...`.
        self.extra_listeners = extra_listeners
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.log_path = self.data_dir.parent / f"spool-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        cmd = [str(self.binary), "server", "--data-dir", str(self.data_dir)]
        if self.extra_listeners:
            cmd += ["--set", f"listeners=PLAINTEXT://{self.bootstrap},{self.extra_listeners}"]
        else:
            cmd += ["--listen", self.bootstrap]
        for key, value in self.sets.items():
            cmd += ["--set", f"{key}={value}"]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()
        deadline = time.monotonic() + BROKER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"spool server exited with {self.proc.returncode} during start-up: "
                    f"{' '.join(cmd)}\n--- log ---\n{self.log_tail()}"
                )
            if api_versions_v0_answers(self.host, self.port, timeout_s=1.0):
                return
            time.sleep(0.1)
        self.kill9()
        raise RuntimeError(
            f"spool server did not answer ApiVersions on {self.bootstrap} within "
            f"{BROKER_START_TIMEOUT_S}s\n--- log ---\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """Graceful stop (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill9(self) -> None:
        """Crash the broker: SIGKILL, no chance to flush or clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, crash: bool = False) -> None:
        """Stop (or kill -9 when crash=True) and start again on the same port and data dir."""
        if crash:
            self.kill9()
        else:
            self.stop()
        self.start()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def cluster_nodes(directory: Path, sets: dict | None = None, node_sets: list[dict] | None = None) -> list[Broker]:
    """The three nodes of `start_cluster`, not started."""
    controller_ports = [free_port() for _ in range(3)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controller_ports))
    nodes = []
    for i in range(3):
        node = {"node.id": i + 1, "controller.listener.names": "CONTROLLER", "controller.quorum.voters": voters}
        node.update(sets or {})
        node.update((node_sets or [{}, {}, {}])[i])
        nodes.append(Broker(directory / f"node-{i + 1}" / "data", sets=node,
                            extra_listeners=f"CONTROLLER://127.0.0.1:{controller_ports[i]}"))
    return nodes


def start_cluster(directory: Path, sets: dict | None = None, node_sets: list[dict] | None = None) -> list[Broker]:
    """Three `spool server` nodes (broker and voter each) of one cluster, node ids 1-3.

    `sets` go to every node, `node_sets[i]` to node i+1 only. The nodes start together,
    since none serves before a majority of the quorum is up. Stop them with `stop_cluster`.
    """
    from concurrent.futures import ThreadPoolExecutor

    nodes = cluster_nodes(directory, sets, node_sets)
    with ThreadPoolExecutor(max_workers=3) as pool:
        starts = [pool.submit(node.start) for node in nodes]
        try:
            for start in starts:
                start.result()
        except Exception:
            stop_cluster(nodes)
            raise
    # A node answers once its own registration is applied, perhaps before the others':
    # topics can be placed on all three once Metadata lists them. Errors while the
    # cluster forms (a refused connection, a timeout) mean waiting longer.
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": ",".join(node.bootstrap for node in nodes)})
    deadline = time.monotonic() + 30
    while True:
        try:
            if len(admin.list_topics(timeout=10).brokers) == 3:
                return nodes
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            stop_cluster(nodes)
            raise AssertionError("the cluster's Metadata did not list three brokers within 30 s")
        time.sleep(0.2)


def stop_cluster(nodes: list[Broker]) -> None:
    for node in nodes:
        if node.is_running():
            node.proc.send_signal(signal.SIGCONT)
            node.stop()


def make_tls_certs(directory: Path) -> dict[str, Path]:
    """Certificates for SSL listeners, made with the openssl tool: a CA; the broker's key
    and certificate (for localhost and 127.0.0.1) in one PEM file; a client's, signed by
    the CA; and a client's signed by another CA the broker does not trust. Keys are
    unencrypted PKCS#8, which Spool, librdkafka, Python and Java all read."""
    openssl = require_tool("openssl")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        proc = subprocess.run([openssl, *args], cwd=directory, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"openssl {' '.join(args)} failed:\n{proc.stderr}"

    def authority(name: str) -> None:
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem")

    def signed(name: str, ca: str, san: str | None) -> Path:
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr")
        ext = directory / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "30", "-out", f"{name}.crt", "-extfile", ext.name)
        pem = directory / f"{name}.pem"
        pem.write_text((directory / f"{name}.key").read_text() + (directory / f"{name}.crt").read_text())
        return pem

    authority("ca")
    authority("rogue-ca")
    return {
        "ca": directory / "ca.pem",
        "ca_key": directory / "ca.key",
        "broker": signed("broker", "ca", "DNS:localhost,IP:127.0.0.1"),
        "client": signed("client", "ca", None),
        "client_key": directory / "client.key",
        "client_crt": directory / "client.crt",
        "rogue_client": signed("rogue-client", "rogue-ca", None),
        "rogue_client_key": directory / "rogue-client.key",
        "rogue_client_crt": directory / "rogue-client.crt",
    }


def tls_broker(data_dir: Path, certs: dict[str, Path], client_auth: str = "none") -> tuple["Broker", str]:
    """A started broker with a PLAINTEXT listener and an SSL one; returns it and the SSL
    listener's "127.0.0.1:PORT"."""
    ssl_port = free_port()
    sets = {"ssl.keystore.location": str(certs["broker"]), "ssl.client.auth": client_auth}
    if client_auth != "none":
        sets["ssl.truststore.location"] = str(certs["ca"])
    b = Broker(data_dir, sets=sets, extra_listeners=f"SSL://127.0.0.1:{ssl_port}")
    b.start()
    return b, f"127.0.0.1:{ssl_port}"


PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
# The users of sasl_broker's SASL listener and their passwords.
SASL_USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def sasl_broker(data_dir: Path, certs: dict[str, Path] | None = None, sets: dict | None = None) -> tuple["Broker", str]:
    """A started broker with a PLAINTEXT listener and a SASL one with SASL/PLAIN users
    SASL_USERS, given as Kafka gives them (the listener's JAAS config): SASL_SSL when
    `certs` are given, else SASL_PLAINTEXT. Returns it and the SASL listener's address."""
    sasl_port = free_port()
    protocol = "SASL_SSL" if certs else "SASL_PLAINTEXT"
    users = " ".join(f'user_{user}="{password}"' for user, password in SASL_USERS.items())
    all_sets = {
        "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,SECURE:{protocol}",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.secure.plain.sasl.jaas.config":
            f'{PLAIN_LOGIN_MODULE} required username="admin" password="unused" {users};',
        **(sets or {}),
    }
    if certs:
        all_sets["ssl.keystore.location"] = str(certs["broker"])
    b = Broker(data_dir, sets=all_sets, extra_listeners=f"SECURE://127.0.0.1:{sasl_port}")
    b.start()
    return b, f"127.0.0.1:{sasl_port}"


def spool_tool(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `spool ARGS` (a command-line tool), capturing its output."""
    return subprocess.run([str(spool_bin()), *args], capture_output=True, text=True, timeout=timeout)


def kcat_round_trip(bootstrap: str, kcat_args: list[str], topic: str, text: str) -> str:
    """Produces the lines of `text` to partition 0 of `topic` with kcat and `kcat_args`
    (its -X settings), then consumes the partition from the beginning; returns what kcat
    printed."""
    kcat = require_tool("kcat")
    produced = subprocess.run([kcat, "-b", bootstrap, *kcat_args, "-P", "-t", topic, "-p", "0"],
                              input=text, capture_output=True, text=True, timeout=60)
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run([kcat, "-b", bootstrap, *kcat_args, "-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                              capture_output=True, text=True, timeout=60)
    assert consumed.returncode == 0, consumed.stderr
    return consumed.stdout


def librdkafka_read(bootstrap: str, conf: dict, topic: str, expected: int) -> list[bytes]:
    """Reads partition 0 of `topic` from the beginning with confluent-kafka and `conf`, until
    `expected` records (or 30 s); checks the offsets run 0, 1, 2, …"""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("g"), "enable.auto.commit": False,
                         **conf})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            assert msg.offset() == len(values), (msg.offset(), len(values))
            values.append(msg.value())
    finally:
        consumer.close()
    return values


def librdkafka_round_trip(bootstrap: str, conf: dict, topic: str, values: list[bytes]) -> list[bytes]:
    """Produces `values` to partition 0 of `topic` with confluent-kafka and `conf`, then
    reads them back (see librdkafka_read)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, **conf})
    for v in values:
        producer.produce(topic, value=v, partition=0)
    assert producer.flush(30) == 0, "records left undelivered"
    return librdkafka_read(bootstrap, conf, topic, len(values))


def kafka_python_round_trip(bootstrap: str, security: dict, topic: str, values: list[bytes]) -> list[bytes]:
    """As librdkafka_round_trip, with kafka-python and its `security` arguments."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KafkaPythonTopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, **security)
    for v in values:
        producer.send(topic, value=v, partition=0)
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **security)
    tp = KafkaPythonTopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    read = []
    deadline = time.monotonic() + 30
    while len(read) < len(values) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            read.extend(r.value for r in records)
    consumer.close()
    return read


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    """Creates a topic with confluent-kafka's AdminClient and waits until metadata shows it."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=30,
        request_timeout=30,
    )
    futures[name].result(timeout=60)
    wait_for_topic(bootstrap, name, partitions, admin=admin)


def wait_for_topic(bootstrap: str, name: str, partitions: int, admin=None, timeout_s: float = 30.0) -> None:
    """Waits until metadata lists `name` with `partitions` partitions, each with a leader."""
    from confluent_kafka.admin import AdminClient

    admin = admin or AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        last = t
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"topic {name} not ready with {partitions} partitions; last metadata: {last!r}")


CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def stored_codecs(broker: "Broker", topic: str, partition: int = 0) -> list[str]:
    """The compression codec of every record batch the broker stored for a partition.

    Reads the segment files (DATA/<topic>-<partition>/*.log, Kafka's layout) and
    the v2 batch header of each batch: baseOffset i64, batchLength i32,
    partitionLeaderEpoch i32, magic i8, crc u32, attributes i16 (bits 0-2 codec).
    This tells whether a client really compressed or silently fell back to none.
    """
    part_dir = broker.data_dir / f"{topic}-{partition}"
    codecs = []
    for segment in sorted(part_dir.glob("*.log")):
        data = segment.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            _base, length = struct.unpack_from(">qi", data, pos)
            if length <= 0:
                break  # preallocated or torn tail
            magic = data[pos + 16]
            assert magic == 2, f"{segment}: batch at byte {pos} has magic {magic}"
            (attributes,) = struct.unpack_from(">h", data, pos + 21)
            codecs.append(CODEC_NAMES.get(attributes & 7, f"unknown({attributes & 7})"))
            pos += 12 + length
    return codecs


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("spool-shared") / "data")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def fresh_broker(tmp_path):
    b = Broker(tmp_path / "data")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def bootstrap(broker) -> str:
    if not broker.is_running():
        pytest.fail(f"the shared broker is not running (exit {broker.proc.returncode}):\n{broker.log_tail()}")
    return broker.bootstrap


@pytest.fixture
def topic(request) -> str:
    return unique_topic(request.node.name.split("[")[0].replace("test_", "")[:40])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of each involved broker's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name in ("broker", "fresh_broker"):
            b = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(b, Broker):
                state = "running" if b.is_running() else f"exited {b.proc.returncode if b.proc else None}"
                report.sections.append((f"{name} log ({b.bootstrap}, {state}, {b.log_path})", b.log_tail(40)))
