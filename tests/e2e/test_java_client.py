"""The Apache Kafka Java client (kafka-clients 3.9.1) against a real spool broker.

tests/java/SpoolClientCheck.java does the work: Admin (createTopics,
describeTopics, describeConfigs, listOffsets incl. MAX_TIMESTAMP, createPartitions,
describeLogDirs, electLeaders, deleteTopics, alterClientQuotas, describeClientQuotas),
a KafkaProducer with DEFAULT settings (idempotence on, acks=all) for each
compression type, a KafkaConsumer with assign/seekToBeginning that reads
everything back and compares it, and KafkaConsumers with group.protocol=consumer
(KIP-848: the broker assigns partitions through ConsumerGroupHeartbeat) that
split a topic, commit and resume; and Admin, producer and consumer over SSL
listeners with PEM stores and over SASL/PLAIN listeners; and a consumer that names
its rack and reads from the replica on it (KIP-392); and Kafka's NodeApiVersions
prints the broker's API versions for `spool broker-api-versions` to match. It is compiled here, at test time, against the
jars scripts/install-test-deps put in .test-deps/java/.
"""

import re
import signal
import subprocess
import time

import pytest

from conftest import (PLAIN_LOGIN_MODULE, REPO_ROOT, SASL_USERS, make_tls_certs, require_tool, sasl_broker,
                      spool_tool, start_cluster, stop_cluster, stored_codecs, tls_broker, unique_topic)

JAVA_DEPS = REPO_ROOT / ".test-deps" / "java"
SOURCE = REPO_ROOT / "tests" / "java" / "SpoolClientCheck.java"
RUN_TIMEOUT_S = 240


def classpath(*dirs) -> str:
    return ":".join([*map(str, dirs), str(JAVA_DEPS / "*")])


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    javac = require_tool("javac")
    require_tool("java")
    if not (JAVA_DEPS / "kafka-clients.jar").is_file():
        pytest.fail(f"{JAVA_DEPS}/kafka-clients.jar is missing: run scripts/install-test-deps", pytrace=False)
    out = tmp_path_factory.mktemp("java-classes")
    proc = subprocess.run(
        [javac, "-Xlint:all", "-Werror", "-cp", classpath(), "-d", str(out), str(SOURCE)],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"javac failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def run_check(compiled, bootstrap: str, *args: str) -> list[str]:
    cmd = [require_tool("java"), "-cp", classpath(compiled), "SpoolClientCheck", bootstrap, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"SpoolClientCheck {' '.join(args)} timed out after {RUN_TIMEOUT_S}s; output so far:\n{e.stdout}")
    lines = proc.stdout.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert proc.returncode == 0 and not failures, (
        f"SpoolClientCheck {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n"
        f"--- stderr ---\n{proc.stderr[-3000:]}"
    )
    return lines


def test_admin(compiled, bootstrap):
    lines = run_check(compiled, bootstrap, "admin", unique_topic("java-admin"))
    assert lines[-1] == "PASS admin", lines
    for step in ("createTopics", "listTopics", "describeCluster", "describeTopics", "describeConfigs",
                 "listOffsets", "createPartitions", "describeLogDirs", "electLeaders", "alterPartitionReassignments",
                 "incrementalAlterConfigs", "incrementalAlterConfigs of broker loggers", "deleteTopics"):
        assert any(line.startswith(f"OK {step}") for line in lines), f"step {step} missing: {lines}"


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_default_producer_and_assigned_consumer(compiled, bootstrap, broker, codec):
    topic = unique_topic(f"java-{codec}")
    lines = run_check(compiled, bootstrap, "produce-consume", topic, codec)
    m = re.fullmatch(r"PASS produce-consume codec=(\w+) records=(\d+)", lines[-1])
    assert m, lines
    assert m.group(1) == codec
    records = int(m.group(2))
    assert f"OK produced records={records} codec={codec}" in lines
    assert f"OK consumed records={records} from beginning, all equal" in lines
    assert f"OK listOffsets latest={records} earliest=0 forTimestamp=1234" in lines
    assert set(stored_codecs(broker, topic)) == {codec}, stored_codecs(broker, topic)


def test_broker_api_versions_prints_what_kafkas_tool_prints(compiled, bootstrap):
    """`spool broker-api-versions` against Kafka's own NodeApiVersions.toString(true) of
    the same broker's ApiVersions answer: the same lines in the same order, the Kafka
    3.9 client's APIs the broker lacks as UNSUPPORTED. Only "usable" may differ: it is
    the highest version both the broker and the asking tool know."""
    java = run_check(compiled, bootstrap, "api-versions", "-")
    assert java[-1] == "PASS api-versions", java
    java_text = java[java.index("("):java.index(")") + 1]
    ours = spool_tool("broker-api-versions", "--bootstrap-server", bootstrap)
    assert ours.returncode == 0, ours.stderr
    first, *rest = ours.stdout.splitlines()
    assert re.fullmatch(r"\S+:\d+ \(id: \d+ rack: null\) -> \(", first), first
    ours_text = ["(", *rest]

    def without_usable(lines):
        return [re.sub(r" \[(usable: \d+|unusable: node too (new|old))\]", "", line) for line in lines]

    assert without_usable(ours_text) == without_usable(java_text), (
        "spool broker-api-versions:\n" + "\n".join(ours_text) + "\nKafka's NodeApiVersions:\n" + "\n".join(java_text))
    unsupported = [line for line in ours_text if line.endswith("UNSUPPORTED,") or line.endswith("UNSUPPORTED")]
    assert "\tLeaderAndIsr(4): UNSUPPORTED," in unsupported, unsupported
    assert len(unsupported) > 10, unsupported


def test_list_offsets_max_timestamp(compiled, bootstrap):
    lines = run_check(compiled, bootstrap, "max-timestamp", unique_topic("java-maxts"))
    assert lines[-1] == "PASS max-timestamp", lines
    assert "OK listOffsets maxTimestamp offset=4" in lines


def test_consumer_group_protocol(compiled, bootstrap):
    """Java's KIP-848 consumer: two members split 4 partitions, read each record once,
    commit; the survivor of a leave and a consumer started later resume from the commits."""
    lines = run_check(compiled, bootstrap, "consumer-group", unique_topic("java-kip848"))
    assert lines[-1] == "PASS consumer-group", lines
    for want in (
        "OK assignments disjoint and cover all partitions: a=2 b=2",
        "OK describeConsumerGroups type=consumer members=2",
        "OK commitSync committed=50 on every partition",
        "OK after a left, b owns all partitions from a's committed offsets",
        "OK restarted consumer resumed from committed offsets, records=200",
    ):
        assert want in lines, f"{want!r} missing: {lines}"
    consumed = [line for line in lines if line.startswith("OK group consumed records=200 exactly once")]
    assert consumed, lines


def test_client_quotas(compiled, bootstrap):
    """Admin.alterClientQuotas / describeClientQuotas, and a KafkaProducer over its
    producer_byte_rate that the broker's responses tell it is throttled."""
    lines = run_check(compiled, bootstrap, "quotas", unique_topic("java-quotas"))
    assert lines[-1] == "PASS quotas", lines
    for want in ("OK alterClientQuotas and describeClientQuotas", "OK alterClientQuotas refusals",
                 "OK producer throttled throttleMs>0", "OK quotas removed"):
        assert want in lines, lines


def test_tls_and_sasl(compiled, tmp_path):
    """The Java client over SSL listeners with PEM stores (KIP-651): Admin, producer and
    consumer, first trusting the broker's CA only, then also presenting a client
    certificate to a broker that requires one; then over SASL_PLAINTEXT and SASL_SSL
    listeners with SASL/PLAIN."""
    certs = make_tls_certs(tmp_path / "certs")
    trust = f"ssl.truststore.type=PEM\nssl.truststore.location={certs['ca']}\n"
    plain = (f"sasl.mechanism=PLAIN\nsasl.jaas.config={PLAIN_LOGIN_MODULE} required "
             f'username="alice" password="{SASL_USERS["alice"]}";\n')
    runs = [
        ("tls", lambda d: tls_broker(d, certs), "security.protocol=SSL\n" + trust),
        ("mtls", lambda d: tls_broker(d, certs, client_auth="required"),
         "security.protocol=SSL\n" + trust + f"ssl.keystore.type=PEM\nssl.keystore.location={certs['client']}\n"),
        ("sasl", lambda d: sasl_broker(d), "security.protocol=SASL_PLAINTEXT\n" + plain),
        ("sasl-ssl", lambda d: sasl_broker(d, certs), "security.protocol=SASL_SSL\n" + trust + plain),
    ]
    for name, start, client_properties in runs:
        b, secure_bootstrap = start(tmp_path / f"data-{name}")
        properties = tmp_path / f"{name}.properties"
        properties.write_text(client_properties)
        try:
            lines = run_check(compiled, secure_bootstrap, "secure", unique_topic(f"java-{name}"), str(properties))
        finally:
            b.stop()
        assert lines[-1] == "PASS secure", (name, lines)
        protocol = client_properties.splitlines()[0].split("=")[1]
        assert f"OK consumed records=300 over {protocol}, all equal" in lines, (name, lines)


def test_a_consumer_naming_its_rack_reads_from_the_replica_on_it(compiled, tmp_path):
    """KIP-392 with the Java consumer: on a three-node cluster with racks and Kafka's
    RackAwareReplicaSelector, a consumer with client.rack=rack-c is sent by the leader
    (node 1) to the replica on rack-c (node 3); with the leader paused midway (SIGSTOP),
    it still reads every record in order, which it could not from the leader."""
    from confluent_kafka import Producer

    nodes = start_cluster(
        tmp_path,
        sets={
            "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
            # Long enough that the paused leader keeps leading while the consumer reads.
            "broker.session.timeout.ms": 60000,
            "broker.heartbeat.interval.ms": 500,
        },
        node_sets=[{"broker.rack": f"rack-{rack}"} for rack in "abc"],
    )
    reader = None
    try:
        topic = unique_topic("java-rack-read")
        created = spool_tool("topics", "--bootstrap-server", nodes[0].bootstrap, "--create", "--topic", topic,
                             "--replica-assignment", "1:2:3")
        assert created.returncode == 0, created.stderr
        deadline = time.monotonic() + 30
        while "Isr: 1,2,3" not in (described := spool_tool(
                "topics", "--bootstrap-server", nodes[0].bootstrap, "--describe", "--topic", topic).stdout):
            assert time.monotonic() < deadline, f"the partition did not reach all three nodes:\n{described}"
            time.sleep(0.2)
        assert "Leader: 1" in described, described
        count = 600
        # One record per batch: a fetch returns at least one whole batch, so larger
        # batches could hand the consumer everything before the leader is paused.
        producer = Producer({"bootstrap.servers": nodes[0].bootstrap, "acks": "all", "batch.num.messages": 1})
        for i in range(count):
            producer.produce(topic, value=f"value-{i}".encode(), partition=0)
        assert producer.flush(30) == 0, "records left unacknowledged"
        # The followers learn the high watermark with their next fetch.
        time.sleep(2)

        reader = subprocess.Popen(
            [require_tool("java"), "-cp", classpath(compiled), "SpoolClientCheck", nodes[2].bootstrap,
             "rack-read", topic, "rack-c", str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        lines = []
        for line in reader.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(("PAUSE LEADER", "FAIL")):
                break
        assert lines and lines[-1] == "PAUSE LEADER", lines
        nodes[0].proc.send_signal(signal.SIGSTOP)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        rest, _ = reader.communicate(timeout=RUN_TIMEOUT_S)
        lines += rest.splitlines()
        assert reader.returncode == 0 and lines[-1] == f"PASS rack-read records={count}", "\n".join(lines)
        assert "OK read the rest with the leader paused" in lines, lines
    finally:
        if reader is not None and reader.poll() is None:
            reader.kill()
        stop_cluster(nodes)
