"""SSL listeners: librdkafka (confluent-kafka, kcat), kafka-python and Spool's own admin
tools over TLS.

A broker listens in PLAINTEXT and in SSL at once, on the certificates conftest's
make_tls_certs makes with the openssl tool. Records are 4 KiB, so fetch responses
carry record sets larger than the broker's sendfile threshold: over TLS those are
read and encrypted instead. Mutated handshakes and records of a real client check that
garbage on the listener harms nothing. The Java client's TLS check is in
test_java_client.py.
"""

from __future__ import annotations

import os
import random
import socket
import ssl
import struct
import subprocess
import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from conftest import (create_topic, kafka_python_round_trip, kcat_round_trip, librdkafka_read, librdkafka_round_trip, make_tls_certs,
                      require_tool, spool_tool, tls_broker, unique_topic)

RECORDS = 300
# How long the broker gets to close a connection whose client closed its end.
REACTION_TIMEOUT_S = 10


def value(i: int) -> bytes:
    """Record i's 4 KiB value, different for every record."""
    return bytes((i * 31 + j) % 256 for j in range(4096))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_tls_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def ssl_broker(tmp_path_factory, certs):
    """A broker whose SSL listener asks for client certificates but does not require them."""
    b, ssl_bootstrap = tls_broker(tmp_path_factory.mktemp("tls-broker") / "data", certs, client_auth="requested")
    yield b, ssl_bootstrap
    b.stop()


def librdkafka_tls(certs, **extra) -> dict:
    return {"security.protocol": "SSL", "ssl.ca.location": str(certs["ca"]), **extra}


def produce_and_read_back(bootstrap: str, conf: dict, topic: str) -> list[bytes]:
    return librdkafka_round_trip(bootstrap, conf, topic, [value(i) for i in range(RECORDS)])


def read_all(bootstrap: str, conf: dict, topic: str) -> list[bytes]:
    return librdkafka_read(bootstrap, conf, topic, RECORDS)


def test_librdkafka_produces_and_consumes_over_tls(ssl_broker, certs):
    """confluent-kafka over the SSL listener: every record reads back as sent, over TLS and
    over the PLAINTEXT listener of the same broker; metadata names the SSL listener's
    address to a client of that listener."""
    b, ssl_bootstrap = ssl_broker
    topic = unique_topic("tls-ck")
    create_topic(b.bootstrap, topic)
    assert produce_and_read_back(ssl_bootstrap, librdkafka_tls(certs), topic) == [value(i) for i in range(RECORDS)]
    assert read_all(b.bootstrap, {}, topic) == [value(i) for i in range(RECORDS)]
    metadata = AdminClient({"bootstrap.servers": ssl_bootstrap, **librdkafka_tls(certs)}).list_topics(timeout=10)
    assert [f"{m.host}:{m.port}" for m in metadata.brokers.values()] == [ssl_bootstrap]


def test_a_requested_client_certificate_is_accepted_and_not_needed(ssl_broker, certs):
    """With ssl.client.auth=requested, a client presenting a certificate the trusted CA
    signed gets through, and so does one with none (the other tests' clients)."""
    b, ssl_bootstrap = ssl_broker
    topic = unique_topic("tls-mtls")
    create_topic(b.bootstrap, topic)
    with_cert = librdkafka_tls(certs, **{"ssl.certificate.location": str(certs["client_crt"]),
                                         "ssl.key.location": str(certs["client_key"])})
    assert produce_and_read_back(ssl_bootstrap, with_cert, topic) == [value(i) for i in range(RECORDS)]


def test_a_required_client_certificate(tmp_path, certs):
    """With ssl.client.auth=required, only a client with a certificate of the trusted CA
    gets through; the broker logs why it refused the others and goes on serving."""
    b, ssl_bootstrap = tls_broker(tmp_path / "data", certs, client_auth="required")
    try:
        with pytest.raises(KafkaException):
            AdminClient({"bootstrap.servers": ssl_bootstrap, **librdkafka_tls(certs)}).list_topics(timeout=5)
        rogue = librdkafka_tls(certs, **{"ssl.certificate.location": str(certs["rogue_client_crt"]),
                                         "ssl.key.location": str(certs["rogue_client_key"])})
        with pytest.raises(KafkaException):
            AdminClient({"bootstrap.servers": ssl_bootstrap, **rogue}).list_topics(timeout=5)
        assert "TLS handshake failed" in b.log_tail(), b.log_tail()
        with_cert = librdkafka_tls(certs, **{"ssl.certificate.location": str(certs["client_crt"]),
                                             "ssl.key.location": str(certs["client_key"])})
        topic = unique_topic("tls-required")
        create_topic(b.bootstrap, topic)
        assert produce_and_read_back(ssl_bootstrap, with_cert, topic) == [value(i) for i in range(RECORDS)]
    finally:
        b.stop()


def test_kafka_python_over_tls(ssl_broker, certs):
    b, ssl_bootstrap = ssl_broker
    topic = unique_topic("tls-kp")
    create_topic(b.bootstrap, topic)
    tls = {"security_protocol": "SSL", "ssl_cafile": str(certs["ca"])}
    sent = [value(i) for i in range(RECORDS)]
    assert kafka_python_round_trip(ssl_bootstrap, tls, topic, sent) == sent


def test_kcat_over_tls_and_a_plaintext_client_refused(ssl_broker, certs):
    kcat = require_tool("kcat")
    b, ssl_bootstrap = ssl_broker
    topic = unique_topic("tls-kcat")
    create_topic(b.bootstrap, topic)
    tls = ["-X", "security.protocol=ssl", "-X", f"ssl.ca.location={certs['ca']}"]
    lines = "".join(f"line {i}\n" for i in range(50))
    assert kcat_round_trip(ssl_bootstrap, tls, topic, lines) == lines
    # A client speaking PLAINTEXT to the SSL listener gets no answer.
    plain = subprocess.run([kcat, "-b", ssl_bootstrap, "-L", "-m", "3"], capture_output=True, text=True, timeout=60)
    assert plain.returncode != 0, plain.stdout
    assert "security.protocol=SSL" in b.log_tail(), b.log_tail()


def test_admin_tools_connect_over_tls_with_a_command_config(ssl_broker, certs, tmp_path):
    """Spool's own admin tools take Kafka's client properties for SSL from --command-config:
    a PEM trust store (and key store), as the Java tools would."""
    b, ssl_bootstrap = ssl_broker
    props = tmp_path / "client-ssl.properties"
    props.write_text(
        "security.protocol=SSL\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={certs['ca']}\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={certs['client']}\n"
        "client.id=admin-over-tls\n"
    )
    topic = unique_topic("tls-tools")
    created = spool_tool("topics", "--bootstrap-server", ssl_bootstrap, "--command-config", str(props),
                         "--create", "--topic", topic, "--partitions", "2")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"Created topic {topic}."
    # The property the tools do not use is named, not silently dropped.
    assert "ignoring the client property client.id" in created.stderr, created.stderr
    listed = spool_tool("topics", "--bootstrap-server", ssl_bootstrap, "--command-config", str(props), "--list")
    assert listed.returncode == 0, listed.stderr
    assert topic in listed.stdout.split()
    offsets = spool_tool("get-offsets", "--bootstrap-server", ssl_bootstrap, "--command-config", str(props),
                         "--topic", topic)
    assert offsets.returncode == 0, offsets.stderr
    assert offsets.stdout.split() == [f"{topic}:0:0", f"{topic}:1:0"]
    described = spool_tool("configs", "--bootstrap-server", ssl_bootstrap, "--command-config", str(props),
                           "--entity-type", "topics", "--entity-name", topic, "--alter", "--add-config",
                           "retention.ms=1000")
    assert described.returncode == 0, described.stderr


def test_admin_tools_refuse_what_they_cannot_use_and_say_why(ssl_broker, certs, tmp_path):
    b, ssl_bootstrap = ssl_broker

    def topics_list(props: str) -> subprocess.CompletedProcess:
        path = tmp_path / "props"
        path.write_text(props)
        return spool_tool("topics", "--bootstrap-server", ssl_bootstrap, "--command-config", str(path), "--list")

    cases = [
        # No trust store: the system's authorities do not include the test CA.
        ("security.protocol=SSL\n", "TLS handshake failed"),
        (f"security.protocol=SSL\nssl.truststore.location={certs['ca']}\nssl.truststore.type=JKS\n",
         "read PEM stores only"),
        (f"security.protocol=SSL\nssl.truststore.location={tmp_path / 'missing.pem'}\n",
         "cannot read ssl.truststore.location"),
        ("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n", "SASL/PLAIN only"),
        # PLAINTEXT to the SSL listener.
        ("security.protocol=PLAINTEXT\n", "could not connect to any bootstrap server"),
    ]
    for props, expected in cases:
        proc = topics_list(props)
        assert proc.returncode != 0, (props, proc.stdout)
        assert expected in proc.stdout + proc.stderr, (props, proc.stdout, proc.stderr)


def test_the_host_name_check_can_be_turned_off(tmp_path, certs):
    """A broker certificate that names no host (here the client's, same CA) fails the host
    name check, as in Kafka, unless ssl.endpoint.identification.algorithm is empty."""
    b, ssl_bootstrap = tls_broker(tmp_path / "data", {**certs, "broker": certs["client"]})
    try:
        props = tmp_path / "props"
        base = f"security.protocol=SSL\nssl.truststore.location={certs['ca']}\n"
        props.write_text(base)
        checked = spool_tool("topics", "--bootstrap-server", ssl_bootstrap, "--command-config", str(props), "--list")
        assert checked.returncode != 0, checked.stdout
        assert "TLS handshake failed" in checked.stdout, checked.stdout
        assert "not valid for name" in checked.stdout, checked.stdout
        assert "ssl.endpoint.identification.algorithm=" in checked.stdout, checked.stdout
        props.write_text(base + "ssl.endpoint.identification.algorithm=\n")
        unchecked = spool_tool("topics", "--bootstrap-server", ssl_bootstrap, "--command-config", str(props), "--list")
        assert unchecked.returncode == 0, unchecked.stderr
    finally:
        b.stop()


def client_hello(certs) -> bytes:
    """The first flight of a real TLS client (Python's ssl) to the broker: its ClientHello."""
    context = ssl.create_default_context(cafile=str(certs["ca"]))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def mutated(data: bytes, rng: random.Random) -> bytes:
    """`data` with a few random edits: flipped bits, a boundary byte, a cut, an insertion."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        edit = rng.randrange(4)
        at = rng.randrange(len(out)) if out else 0
        if edit == 0 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif edit == 1 and out:
            out[at] = rng.choice([0x00, 0x7F, 0x80, 0xFF])
        elif edit == 2:
            del out[at:at + rng.randint(1, 64)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 64))
    return bytes(out)


def handshake_over(raw: socket.socket, context: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.MemoryBIO]:
    """A TLS handshake over `raw` through memory buffers, so that what goes on the
    socket afterwards is up to the caller: returns the TLS object and the buffer its
    records to send go to."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            data = raw.recv(65536)
            assert data, "the broker closed the connection during a valid handshake"
            incoming.write(data)
    raw.sendall(outgoing.read())
    return tls, outgoing


def test_mutated_handshakes_and_records_leave_the_ssl_listener_serving(ssl_broker, certs):
    """Garbage on the SSL listener: mutated ClientHellos of a real client, and, after a
    completed handshake, mutated records of a real ApiVersions request, each followed by
    the client closing its end. The broker ends every such connection, crashes on none,
    and serves TLS clients afterwards."""
    b, ssl_bootstrap = ssl_broker
    seed = int(os.environ.get("SPOOL_TEST_SEED", time.time_ns() % 2**32))
    print(f"mutated TLS seed = {seed} (replay with SPOOL_TEST_SEED={seed})")
    rng = random.Random(seed)
    host, port = ssl_bootstrap.rsplit(":", 1)
    hello = client_hello(certs)
    context = ssl.create_default_context(cafile=str(certs["ca"]))
    # ApiVersions v0, correlation id 1, client id "c", framed.
    api_versions = struct.pack(">ihhih", 11, 18, 0, 1, 1) + b"c"
    for round_ in range(400):
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            if round_ % 4 == 3:
                tls, outgoing = handshake_over(raw, context)
                tls.write(api_versions)
                raw.sendall(mutated(outgoing.read(), rng))
            else:
                raw.sendall(mutated(hello, rng))
            # The broker answers with an alert and closes, or waits for the rest of a
            # record whose length grew: until this end of the connection closes.
            raw.shutdown(socket.SHUT_WR)
            raw.settimeout(REACTION_TIMEOUT_S)
            try:
                while raw.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            except socket.timeout:
                pytest.fail(f"round {round_} (seed {seed}): the broker kept a connection open "
                            f"{REACTION_TIMEOUT_S} s after its client closed its end")
        if round_ % 100 == 99:
            assert b.is_running(), f"broker died in round {round_} (seed {seed}):\n{b.log_tail()}"
    assert b.is_running(), b.log_tail()
    topic = unique_topic("tls-after-garbage")
    create_topic(b.bootstrap, topic)
    assert produce_and_read_back(ssl_bootstrap, librdkafka_tls(certs), topic) == [value(i) for i in range(RECORDS)]
    assert "panicked" not in b.log_tail(100000), b.log_tail()
