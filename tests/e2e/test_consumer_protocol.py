"""KIP-848 consumer groups (`group.protocol=consumer`) from Python confluent-kafka.

Two confluent-kafka consumers join one group over ConsumerGroupHeartbeat; the
broker assigns the topic's partitions server-side. The assignment must be
disjoint and complete, and together the consumers read every message exactly
once, each only from the partitions it owns. Their commits are then what the
group's committed offsets report.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import create_topic, unique_topic

PARTITIONS = 4
MESSAGES = 400
WAIT_S = 60.0


class Member(threading.Thread):
    """Polls one consumer in its own thread, recording its assignment and every
    message; commits synchronously when asked."""

    def __init__(self, bootstrap: str, group: str, topic: str, client_id: str):
        super().__init__(name=client_id, daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "group.protocol": "consumer",
                "client.id": client_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
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
                m = self.consumer.poll(0.1)
                got = []
                if m is not None:
                    if m.error():
                        raise RuntimeError(f"consumer error: {m.error()}")
                    got.append((m.partition(), m.offset(), m.value().decode()))
                current = {tp.partition for tp in self.consumer.assignment()}
                with self.lock:
                    self.received.extend(got)
                    self.partitions = current
                if self.commit_requested.is_set() and not self.committed.is_set():
                    self.consumer.commit(asynchronous=False)
                    self.committed.set()
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.consumer.close()

    def snapshot(self) -> tuple[set[int], list[tuple[int, int, str]]]:
        with self.lock:
            return set(self.partitions), list(self.received)


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


def test_two_consumer_protocol_members_share_partitions_and_consume_each_message_once(bootstrap):
    topic = unique_topic("kip848-py")
    group = unique_topic("kip848-py-group")
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    members = [Member(bootstrap, group, topic, f"ck-{i}") for i in range(2)]
    for m in members:
        m.start()
    try:
        def balanced() -> bool:
            owned = [m.snapshot()[0] for m in members]
            return all(len(o) == PARTITIONS // 2 for o in owned) and set.union(*owned) == set(range(PARTITIONS))

        wait_until(balanced, "two partitions each, together all of them", members)
        owned = [m.snapshot()[0] for m in members]
        assert owned[0].isdisjoint(owned[1]), owned

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

        for m in members:
            m.commit_requested.set()
        wait_until(lambda: all(m.committed.is_set() for m in members), "both commits", members)
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.join(timeout=30)

    # The group's committed offsets, read by a fresh client outside the group.
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer"})
    try:
        offsets = reader.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=30)
    finally:
        reader.close()
    assert {tp.partition: tp.offset for tp in offsets} == {p: MESSAGES // PARTITIONS for p in range(PARTITIONS)}
