"""KIP-848 consumer groups (`group.protocol=consumer`) from Python confluent-kafka.

Two confluent-kafka consumers join one group over ConsumerGroupHeartbeat; the
broker assigns the topic's partitions server-side. The assignment must be
disjoint and complete, and together the consumers read every message exactly
once, each only from the partitions it owns. Their commits are then what the
group's committed offsets report.
"""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from conftest import create_topic, unique_topic
from test_consumer_groups import MESSAGES, PARTITIONS, Member, split_and_consume_each_message_once, wait_until


def consumer_protocol_member(bootstrap: str, group: str, topic: str, client_id: str) -> Member:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "client.id": client_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])

    def poll_once():
        m = c.poll(0.1)
        if m is None:
            return []
        if m.error():
            raise RuntimeError(f"{client_id} consumer error: {m.error()}")
        return [(m.partition(), m.offset(), m.value().decode())]

    return Member(
        client_id,
        poll_once,
        lambda: {tp.partition for tp in c.assignment()},
        lambda: c.commit(asynchronous=False),
        c.close,
    )


def test_two_consumer_protocol_members_share_partitions_and_consume_each_message_once(bootstrap):
    topic = unique_topic("kip848-py")
    group = unique_topic("kip848-py-group")
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    members = [consumer_protocol_member(bootstrap, group, topic, f"ck-{i}") for i in range(2)]
    for m in members:
        m.start()
    try:
        owned = split_and_consume_each_message_once(bootstrap, topic, members)
        assert [len(o) for o in owned] == [PARTITIONS // 2] * 2, owned
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
