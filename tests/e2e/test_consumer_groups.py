"""Consumer groups across client libraries: a kafka-python consumer and a
confluent-kafka (librdkafka) consumer join ONE group on a real spool broker.

They must agree on the classic protocol (JoinGroup/SyncGroup with client-side
"range" assignment): the group splits the topic's partitions between them,
disjoint and complete, and together they consume every message exactly once.
What they commit is then what `spool consumer-groups --describe` reports:
each partition with its member, the member's client id, and no lag.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter

from confluent_kafka import Consumer, Producer
from kafka import KafkaConsumer

from conftest import create_topic, spool_bin, unique_topic

PARTITIONS = 4
MESSAGES = 400
WAIT_S = 60.0


class Member(threading.Thread):
    """Polls one consumer in its own thread (neither client is thread-safe), recording
    its assignment and every message it receives; commits synchronously on request."""

    def __init__(self, name: str, poll_once, assignment, commit, close):
        super().__init__(name=name, daemon=True)
        self._poll_once, self._assignment, self._commit, self._close = poll_once, assignment, commit, close
        self.lock = threading.Lock()
        self.partitions: set[int] = set()
        self.received: list[tuple[int, int, str]] = []
        self.stop = threading.Event()
        self.commit_requested = threading.Event()
        self.committed = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                got = self._poll_once()
                current = self._assignment()
                with self.lock:
                    self.received.extend(got)
                    self.partitions = current
                if self.commit_requested.is_set() and not self.committed.is_set():
                    self._commit()
                    self.committed.set()
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self._close()

    def snapshot(self) -> tuple[set[int], list[tuple[int, int, str]]]:
        with self.lock:
            return set(self.partitions), list(self.received)


def kafka_python_member(bootstrap: str, group: str, topic: str) -> Member:
    holder = {}

    def consumer() -> KafkaConsumer:
        if "c" not in holder:
            holder["c"] = KafkaConsumer(
                topic,
                bootstrap_servers=bootstrap,
                group_id=group,
                client_id="py-member",
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                session_timeout_ms=10000,
                request_timeout_ms=30000,
            )
        return holder["c"]

    def poll_once():
        batches = consumer().poll(timeout_ms=100)
        return [(r.partition, r.offset, r.value.decode()) for records in batches.values() for r in records]

    return Member(
        "kafka-python",
        poll_once,
        lambda: {tp.partition for tp in consumer().assignment()},
        lambda: consumer().commit(),
        lambda: consumer().close(),
    )


def confluent_member(bootstrap: str, group: str, topic: str) -> Member:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": "ck-member",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
        }
    )
    c.subscribe([topic])

    def poll_once():
        m = c.poll(0.1)
        if m is None:
            return []
        if m.error():
            raise RuntimeError(f"confluent-kafka consumer error: {m.error()}")
        return [(m.partition(), m.offset(), m.value().decode())]

    return Member(
        "confluent-kafka",
        poll_once,
        lambda: {tp.partition for tp in c.assignment()},
        lambda: c.commit(asynchronous=False),
        c.close,
    )


def wait_until(condition, what: str, members: list[Member]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        for m in members:
            assert m.error is None, f"{m.name} failed: {m.error!r}"
            assert m.is_alive(), f"{m.name} stopped"
        assert time.monotonic() < deadline, f"{what} not reached within {WAIT_S}s: " + ", ".join(
            f"{m.name}: partitions {m.snapshot()[0]}, {len(m.snapshot()[1])} messages" for m in members
        )
        time.sleep(0.1)


def split_and_consume_each_message_once(bootstrap: str, topic: str, members: list[Member]) -> list[set[int]]:
    """Waits until the members split the topic's partitions disjointly and completely,
    produces MESSAGES across them, and checks every message arrived exactly once at the
    member owning its partition with no assignment change meanwhile; returns the split."""
    def balanced() -> bool:
        owned = [m.snapshot()[0] for m in members]
        return all(owned) and set.union(*owned) == set(range(PARTITIONS)) and sum(map(len, owned)) == PARTITIONS

    wait_until(balanced, "a disjoint, complete assignment over the members", members)
    owned = [m.snapshot()[0] for m in members]

    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(MESSAGES):
        producer.produce(topic, value=f"m-{i}".encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0, "messages left undelivered"

    wait_until(lambda: sum(len(m.snapshot()[1]) for m in members) >= MESSAGES, f"{MESSAGES} messages", members)
    time.sleep(1.0)  # a duplicate, if any, would arrive now
    received = [m.snapshot()[1] for m in members]
    values = Counter(v for got in received for (_, _, v) in got)
    assert sorted(values) == sorted(f"m-{i}" for i in range(MESSAGES)), "every message arrived"
    assert max(values.values()) == 1, f"duplicates: {[v for v, n in values.items() if n > 1][:10]}"
    for m, got, mine in zip(members, received, owned):
        assert got, f"{m.name} consumed nothing"
        assert {p for (p, _, _) in got} <= mine, f"{m.name} read partitions it does not own"
    assert owned == [m.snapshot()[0] for m in members], "the assignment did not change meanwhile"
    return owned


def test_kafka_python_and_librdkafka_share_one_group_and_consume_each_message_once(bootstrap):
    topic = unique_topic("groups-mixed")
    group = unique_topic("groups-mixed-group")
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    members = [kafka_python_member(bootstrap, group, topic), confluent_member(bootstrap, group, topic)]
    for m in members:
        m.start()
    try:
        owned = split_and_consume_each_message_once(bootstrap, topic, members)

        for m in members:
            m.commit_requested.set()
        wait_until(lambda: all(m.committed.is_set() for m in members), "both commits", members)

        # The group as the tool reports it: each partition, its member's client id, no lag.
        out = subprocess.run(
            [str(spool_bin()), "consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
        assert len(rows) == PARTITIONS, out
        per_partition = MESSAGES // PARTITIONS
        client_of = {}
        for row in rows:
            _, t, partition, current, end, lag, member_id, host, client = row
            assert (t, current, end, lag, host) == (topic, str(per_partition), str(per_partition), "0", "/127.0.0.1"), row
            client_of[int(partition)] = client
        for m, mine, client in zip(members, owned, ["py-member", "ck-member"]):
            assert {p for p, c in client_of.items() if c == client} == mine, (m.name, out)
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.join(timeout=30)
