"""SASL/PLAIN listeners: librdkafka (confluent-kafka, kcat), kafka-python and Spool's own
admin tools authenticate with a user of the listener's JAAS config; a wrong password or
an unknown user is refused; the user is the principal client quotas apply to. The Java
client's SASL check is in test_java_client.py."""

from __future__ import annotations

import socket
import struct
import subprocess

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaProducer
from kafka.errors import KafkaError

from conftest import (PLAIN_LOGIN_MODULE, SASL_USERS, _recv_exact, create_topic, kafka_python_round_trip, kcat_round_trip,
                      librdkafka_read, librdkafka_round_trip, make_tls_certs, sasl_broker, spool_bin, spool_tool,
                      unique_topic)

RECORDS = 200


def value(i: int) -> bytes:
    return f"sasl-record-{i:05d}".encode() * 10


@pytest.fixture(scope="module")
def broker_and_address(tmp_path_factory):
    b, address = sasl_broker(tmp_path_factory.mktemp("sasl") / "data", sets={"quota.window.num": "2"})
    yield b, address
    b.stop()


def librdkafka_sasl(user: str, password: str, protocol: str = "SASL_PLAINTEXT") -> dict:
    return {"security.protocol": protocol, "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": password}


def test_librdkafka_authenticates_with_plain_and_reads_back(broker_and_address):
    b, address = broker_and_address
    topic = unique_topic("sasl-ck")
    create_topic(b.bootstrap, topic)
    sent = [value(i) for i in range(RECORDS)]
    assert librdkafka_round_trip(address, librdkafka_sasl("alice", SASL_USERS["alice"]), topic, sent) == sent
    # Another user, same listener.
    assert librdkafka_read(address, librdkafka_sasl("bob", SASL_USERS["bob"]), topic, RECORDS) == sent


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("mallory", "alice-secret"), ("admin", "unused")])
def test_a_wrong_password_or_unknown_user_is_refused(broker_and_address, user, password):
    """`admin` is the JAAS config's own login (username/password), which is not a user."""
    b, address = broker_and_address
    errors = []
    admin = AdminClient({**librdkafka_sasl(user, password), "bootstrap.servers": address,
                         "error_cb": lambda e: errors.append(e)})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    admin.poll(1)  # serves error_cb
    assert any("Authentication failed: Invalid username or password" in e.str() for e in errors), [
        e.str() for e in errors
    ]
    assert "failed SASL authentication" in b.log_tail(), b.log_tail()


def test_requests_before_authentication_close_the_connection(broker_and_address):
    """A client that skips SASL on a SASL listener is not served."""
    b, address = broker_and_address
    with pytest.raises(KafkaException):
        AdminClient({"bootstrap.servers": address}).list_topics(timeout=5)
    assert "request before SASL authentication completed" in b.log_tail(), b.log_tail()


def test_kafka_python_authenticates_with_plain(broker_and_address):
    b, address = broker_and_address
    topic = unique_topic("sasl-kp")
    create_topic(b.bootstrap, topic)
    sasl = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_plain_username": "bob",
            "sasl_plain_password": SASL_USERS["bob"]}
    sent = [value(i) for i in range(RECORDS)]
    assert kafka_python_round_trip(address, sasl, topic, sent) == sent
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=address, **{**sasl, "sasl_plain_password": "wrong"})


def test_kcat_authenticates_with_plain(broker_and_address):
    b, address = broker_and_address
    topic = unique_topic("sasl-kcat")
    create_topic(b.bootstrap, topic)
    sasl = ["-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms=PLAIN",
            "-X", "sasl.username=alice", "-X", f"sasl.password={SASL_USERS['alice']}"]
    lines = "".join(f"line {i}\n" for i in range(20))
    assert kcat_round_trip(address, sasl, topic, lines) == lines


def test_admin_tools_authenticate_with_a_command_config(broker_and_address, tmp_path):
    b, address = broker_and_address
    props = tmp_path / "sasl.properties"
    jaas = f'{PLAIN_LOGIN_MODULE} required username="alice" password="{SASL_USERS["alice"]}";'
    props.write_text(f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config={jaas}\n")
    topic = unique_topic("sasl-tools")
    created = spool_tool("topics", "--bootstrap-server", address, "--command-config", str(props),
                         "--create", "--topic", topic)
    assert created.returncode == 0, created.stdout + created.stderr
    assert created.stdout.strip() == f"Created topic {topic}."
    groups = spool_tool("consumer-groups", "--bootstrap-server", address, "--command-config", str(props), "--list")
    assert groups.returncode == 0, groups.stdout + groups.stderr

    props.write_text(f"security.protocol=SASL_PLAINTEXT\nsasl.jaas.config={jaas.replace('alice-secret', 'wrong')}\n")
    refused = spool_tool("topics", "--bootstrap-server", address, "--command-config", str(props), "--list")
    assert refused.returncode != 0, refused.stdout
    assert "SASL authentication as alice failed: Authentication failed: Invalid username or password" in (
        refused.stdout + refused.stderr), refused.stdout + refused.stderr


def test_a_user_quota_throttles_that_user_only(broker_and_address):
    """A producer_byte_rate quota on user alice (as kafka-configs --entity-type users sets
    it) throttles alice's producer, whatever its client id, and not bob's."""
    b, address = broker_and_address
    configs = ["configs", "--bootstrap-server", b.bootstrap, "--entity-type", "users", "--entity-name", "alice"]
    set_quota = spool_tool(*configs, "--alter", "--add-config", "producer_byte_rate=100000")
    assert set_quota.returncode == 0, set_quota.stderr
    topic = unique_topic("sasl-quota")
    create_topic(b.bootstrap, topic)
    try:
        def throttled_ms(user: str) -> int:
            throttles = []
            producer = Producer({"bootstrap.servers": address, "linger.ms": 0, "batch.size": 20000,
                                 "throttle_cb": lambda event: throttles.append(event.throttle_time),
                                 **librdkafka_sasl(user, SASL_USERS[user])})
            for _ in range(300):  # 300 kB: three times the byte rate
                producer.produce(topic, value=b"q" * 1000, partition=0)
                producer.poll(0)
            assert producer.flush(60) == 0
            producer.poll(0.5)
            return max(throttles, default=0)

        assert throttled_ms("alice") > 0
        assert throttled_ms("bob") == 0
    finally:
        spool_tool(*configs, "--alter", "--delete-config", "producer_byte_rate")


def test_sasl_over_tls(tmp_path):
    certs = make_tls_certs(tmp_path / "certs")
    b, address = sasl_broker(tmp_path / "data", certs)
    try:
        topic = unique_topic("sasl-ssl")
        create_topic(b.bootstrap, topic)
        conf = {**librdkafka_sasl("alice", SASL_USERS["alice"], "SASL_SSL"), "ssl.ca.location": str(certs["ca"])}
        sent = [value(i) for i in range(50)]
        assert librdkafka_round_trip(address, conf, topic, sent) == sent
    finally:
        b.stop()


def test_a_v0_handshake_takes_the_bare_token_as_clients_before_kafka_1_0_send_it(broker_and_address):
    """SaslHandshake v0, then the PLAIN token as a bare length-prefixed frame, answered with
    an empty one; then requests are served. A wrong password closes the connection."""
    b, address = broker_and_address
    host, port = address.rsplit(":", 1)

    def frame(payload: bytes) -> bytes:
        return struct.pack(">i", len(payload)) + payload

    def handshake(s: socket.socket) -> None:
        client_id, mechanism = b"raw", b"PLAIN"
        request = struct.pack(">hhih", 17, 0, 1, len(client_id)) + client_id + struct.pack(">h", 5) + mechanism
        s.sendall(frame(request))
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        correlation_id, error_code, count = struct.unpack(">ihi", _recv_exact(s, size)[:10])
        assert (correlation_id, error_code, count) == (1, 0, 1)

    with socket.create_connection((host, int(port)), timeout=10) as s:
        handshake(s)
        s.sendall(frame(b"\0alice\0" + SASL_USERS["alice"].encode()))
        assert _recv_exact(s, 4) == b"\0\0\0\0", "an empty token answers a good one"
        # Authenticated: an ApiVersions v0 is answered.
        s.sendall(frame(struct.pack(">hhih", 18, 0, 2, 3) + b"raw"))
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        correlation_id, error_code = struct.unpack(">ih", _recv_exact(s, size)[:6])
        assert (correlation_id, error_code) == (2, 0)

    with socket.create_connection((host, int(port)), timeout=10) as s:
        handshake(s)
        s.sendall(frame(b"\0alice\0wrong"))
        assert s.recv(4) == b"", "the broker closes the connection"


def test_console_tools_take_a_java_client_config_with_sasl(broker_and_address, tmp_path):
    """kafka-console-producer/-consumer with a Java client.properties: the PlainLoginModule
    user of sasl.jaas.config authenticates through librdkafka."""
    b, address = broker_and_address
    topic = unique_topic("sasl-console")
    create_topic(b.bootstrap, topic)
    props = tmp_path / "client.properties"
    props.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        f'sasl.jaas.config={PLAIN_LOGIN_MODULE} required username="bob" password="{SASL_USERS["bob"]}";\n'
    )
    lines = "one\ntwo\nthree\n"
    produced = subprocess.run([str(spool_bin()), "console-producer", "--bootstrap-server", address, "--topic", topic,
                               "--producer.config", str(props)], input=lines, capture_output=True, text=True,
                              timeout=60)
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run([str(spool_bin()), "console-consumer", "--bootstrap-server", address, "--topic", topic,
                               "--from-beginning", "--max-messages", "3", "--consumer.config", str(props)],
                              capture_output=True, text=True, timeout=60)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout == lines
