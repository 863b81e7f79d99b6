"""confluent-kafka (Python over a current librdkafka) against a real spool broker.

Consumer groups do not exist yet, so consumers use `assign` with
`enable.auto.commit=false` (confluent-kafka insists on a group.id even then).
"""

import os
import subprocess
import time
import uuid

import pytest
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from conftest import (Broker, cluster_nodes, create_topic, spool_bin, start_cluster, stop_cluster, stored_codecs,
                      unique_topic, wait_for_topic)

CONSUME_TIMEOUT_S = 30.0

# Topic configs every Kafka broker reports for a topic (DescribeConfigs lists
# them all, set or not), with Kafka's defaults where a fresh broker has them.
TOPIC_CONFIG_DEFAULTS = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "file.delete.delay.ms": "60000",
    "flush.messages": "9223372036854775807",
    "flush.ms": "9223372036854775807",
    "index.interval.bytes": "4096",
    "max.compaction.lag.ms": "9223372036854775807",
    "max.message.bytes": "1048588",
    "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "min.insync.replicas": "1",
    "preallocate": "false",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.index.bytes": "10485760",
    "segment.jitter.ms": "0",
    "segment.ms": "604800000",
    "unclean.leader.election.enable": "false",
}


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def produce(bootstrap: str, topic: str, messages: list[dict], **conf) -> list[tuple]:
    """Produces `messages` (kwargs for Producer.produce) and returns (error, partition, offset) per message."""
    reports: list = [None] * len(messages)
    p = Producer({"bootstrap.servers": bootstrap, **conf})
    # Know the partitions before the first produce(), so messages queue on
    # their partition at once (and linger.ms batches them as the tests expect).
    p.list_topics(topic, timeout=10)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = (err, msg.partition(), msg.offset())

        return cb

    for i, m in enumerate(messages):
        p.produce(topic, on_delivery=on_delivery(i), **m)
        p.poll(0)
    remaining = p.flush(60)
    assert remaining == 0, f"{remaining} messages still undelivered after 60 s"
    assert all(r is not None for r in reports), "a delivery report is missing"
    return reports


def assert_delivered(reports: list[tuple]) -> None:
    errors = [r[0] for r in reports if r[0] is not None]
    assert not errors, f"{len(errors)} of {len(reports)} deliveries failed, first: {errors[0]}"


def consumer(bootstrap: str, **conf) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"e2e-unused-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            **conf,
        }
    )


def consume_to_end(bootstrap: str, topic: str, partition: int = 0, offset: int = 0, **conf) -> list:
    """Assigns topic/partition at `offset` and reads until the partition's end (EOF event)."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        out = []
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is None:
                out.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                return out
            elif err.fatal() or msg.topic() is not None:
                pytest.fail(f"consumer error on {topic}[{partition}] after {len(out)} records: {err}")
        pytest.fail(f"no end of partition {topic}[{partition}] within {CONSUME_TIMEOUT_S}s; got {len(out)} records")
    finally:
        c.close()


# --- admin ----------------------------------------------------------------------


def test_create_list_delete_topics(bootstrap):
    a = admin(bootstrap)
    names = [unique_topic("ck-admin") for _ in range(3)]
    futures = a.create_topics([NewTopic(n, num_partitions=i + 1, replication_factor=1) for i, n in enumerate(names)])
    for n, f in futures.items():
        f.result(timeout=30)
    for i, n in enumerate(names):
        wait_for_topic(bootstrap, n, i + 1, admin=a)
    listed = a.list_topics(timeout=10).topics
    for n in names:
        assert n in listed

    for n, f in a.delete_topics([names[0], names[1]], operation_timeout=30).items():
        f.result(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = a.list_topics(timeout=10).topics
        if names[0] not in listed and names[1] not in listed:
            break
        time.sleep(0.2)
    assert names[0] not in listed and names[1] not in listed, sorted(listed)
    assert names[2] in listed


def test_create_existing_or_invalid_topic_fails(bootstrap):
    a = admin(bootstrap)
    name = unique_topic("ck-dup")
    create_topic(bootstrap, name)
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, e.value

    for bad in ["bad/name", "sp ace", "a" * 250, ".", ".."]:
        with pytest.raises(KafkaException) as e:
            a.create_topics([NewTopic(bad, num_partitions=1, replication_factor=1)])[bad].result(timeout=30)
        assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, (bad, e.value)

    # One broker cannot hold three replicas.
    name = unique_topic("ck-rf3")
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(name, num_partitions=1, replication_factor=3)])[name].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR, e.value


def test_create_partitions(bootstrap):
    a = admin(bootstrap)
    name = unique_topic("ck-parts")
    create_topic(bootstrap, name, partitions=2)
    a.create_partitions([NewPartitions(name, 5)])[name].result(timeout=30)
    wait_for_topic(bootstrap, name, 5, admin=a)
    # The new partitions take writes and serve reads.
    assert_delivered(produce(bootstrap, name, [{"value": b"in-p4", "partition": 4}]))
    assert [m.value() for m in consume_to_end(bootstrap, name, partition=4)] == [b"in-p4"]
    # Shrinking is refused.
    with pytest.raises(KafkaException) as e:
        a.create_partitions([NewPartitions(name, 3)])[name].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.INVALID_PARTITIONS, e.value


def source_of(entry) -> ConfigSource:
    """ConfigEntry.source arrives as a plain int; make it the enum."""
    return ConfigSource(entry.source)


def test_describe_configs_lists_every_topic_config_with_source(bootstrap):
    a = admin(bootstrap)
    name = unique_topic("ck-cfg")
    create_topic(bootstrap, name, config={"retention.ms": "3600000", "cleanup.policy": "delete"})
    res = ConfigResource(ResourceType.TOPIC, name)
    entries = a.describe_configs([res])[res].result(timeout=30)

    missing = sorted(set(TOPIC_CONFIG_DEFAULTS) - set(entries))
    assert not missing, f"DescribeConfigs left out {missing}; returned {sorted(entries)}"

    retention = entries["retention.ms"]
    assert retention.value == "3600000"
    assert source_of(retention) == ConfigSource.DYNAMIC_TOPIC_CONFIG, retention
    assert not retention.is_default

    for key, default in TOPIC_CONFIG_DEFAULTS.items():
        if key in ("retention.ms", "cleanup.policy"):
            continue
        e = entries[key]
        assert e.value == default, f"{key}: {e.value!r} != Kafka's default {default!r}"
        assert source_of(e) == ConfigSource.DEFAULT_CONFIG, f"{key}: source {source_of(e)}"
        assert e.is_default, key
    for e in entries.values():
        assert source_of(e) != ConfigSource.UNKNOWN_CONFIG, e
        assert e.is_default == (source_of(e) == ConfigSource.DEFAULT_CONFIG), (e, source_of(e))


def test_describe_broker_configs(bootstrap):
    a = admin(bootstrap)
    (broker_id,) = a.list_topics(timeout=10).brokers.keys()
    res = ConfigResource(ResourceType.BROKER, str(broker_id))
    entries = a.describe_configs([res])[res].result(timeout=30)
    expected = {
        "message.max.bytes": "1048588",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "168",
    }
    for key, value in expected.items():
        assert key in entries, f"broker config {key} missing; got {sorted(entries)}"
        assert entries[key].value == value, f"{key}: {entries[key].value!r} != {value!r}"


# --- produce and consume --------------------------------------------------------


def sample_messages(n: int, base_ts_ms: int) -> list[dict]:
    msgs = []
    for i in range(n):
        msgs.append(
            {
                "key": None if i % 7 == 3 else f"key-{i}".encode(),
                "value": None if i % 11 == 5 else f"value-{i}-".encode() + bytes(range(i % 256)),
                "headers": [("h", f"{i}".encode()), ("h", b"again"), ("null-value", None)] if i % 2 else [],
                "timestamp": base_ts_ms + i,
                "partition": 0,
            }
        )
    return msgs


def assert_same_records(got: list, sent: list[dict], first_offset: int = 0) -> None:
    assert len(got) == len(sent), f"read {len(got)} records, wrote {len(sent)}"
    for i, (m, s) in enumerate(zip(got, sent)):
        where = f"record {i} (offset {m.offset()})"
        assert m.offset() == first_offset + i, where
        assert m.key() == s["key"], where
        assert m.value() == s["value"], where
        assert (m.headers() or []) == s["headers"], where
        assert m.timestamp() == (TIMESTAMP_CREATE_TIME, s["timestamp"]), where


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_produce_with_acks_and_read_back_exactly(bootstrap, acks):
    topic = unique_topic(f"ck-acks{acks}")
    create_topic(bootstrap, topic)
    sent = sample_messages(300, int(time.time() * 1000) - 10_000)
    reports = produce(bootstrap, topic, sent, acks=acks, **{"enable.idempotence": False})
    assert_delivered(reports)
    if acks != "0":
        assert [r[2] for r in reports] == list(range(300))
    assert_same_records(consume_to_end(bootstrap, topic), sent)


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_each_compression_codec(bootstrap, broker, codec):
    topic = unique_topic(f"ck-{codec}")
    create_topic(bootstrap, topic)
    sent = sample_messages(1000, int(time.time() * 1000) - 10_000)
    # librdkafka sends a batch uncompressed when compressing does not make it
    # smaller; compressible values keep even a one-record batch compressed.
    for m in sent:
        m["value"] = (m["value"] or b"") + b"compressible " * 30
    reports = produce(bootstrap, topic, sent, **{"compression.type": codec, "linger.ms": 50})
    assert_delivered(reports)
    assert [r[2] for r in reports] == list(range(1000))
    assert_same_records(consume_to_end(bootstrap, topic), sent)
    # librdkafka falls back to uncompressed when it thinks the broker lacks the
    # codec (lz4: gated on FindCoordinator being advertised).
    stored = stored_codecs(broker, topic)
    assert set(stored) == {codec}, f"batches stored with {stored}, producer asked for {codec}"
    # And from an offset inside a (compressed) batch.
    assert_same_records(consume_to_end(bootstrap, topic, offset=517), sent[517:], first_offset=517)


def test_large_values_up_to_the_message_size_limit(bootstrap):
    topic = unique_topic("ck-large")
    create_topic(bootstrap, topic)
    # Let the broker's max.message.bytes (1048588) decide, not the client's own limit.
    conf = {"message.max.bytes": 10_000_000, "batch.size": 10_000_000, "compression.type": "none"}
    fits = os.urandom(1_000_000)
    (report,) = produce(bootstrap, topic, [{"key": b"big", "value": fits, "partition": 0}], **conf)
    assert report[0] is None, report
    assert report[2] == 0

    too_big = os.urandom(2 * 1024 * 1024)
    (report,) = produce(bootstrap, topic, [{"key": b"too-big", "value": too_big, "partition": 0}], **conf)
    assert report[0] is not None and report[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, report

    got = consume_to_end(bootstrap, topic)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [(0, b"big", fits)]


def test_idempotent_producer(bootstrap):
    topic = unique_topic("ck-idem")
    create_topic(bootstrap, topic, partitions=2)
    sent = [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": i % 2} for i in range(400)]
    reports = produce(
        bootstrap, topic, sent,
        **{"enable.idempotence": True, "linger.ms": 5, "max.in.flight.requests.per.connection": 5},
    )
    assert_delivered(reports)
    for p in (0, 1):
        mine = [s for s in sent if s["partition"] == p]
        assert sorted(r[2] for r in reports if r[1] == p) == list(range(len(mine)))
        got = consume_to_end(bootstrap, topic, partition=p)
        assert [(m.key(), m.value()) for m in got] == [(s["key"], s["value"]) for s in mine]


def test_consume_from_the_middle_of_a_batch(bootstrap, broker):
    topic = unique_topic("ck-mid")
    create_topic(bootstrap, topic)
    sent = [{"value": f"m{i}".encode(), "partition": 0} for i in range(10)]
    # One batch: everything is queued before the first send.
    assert_delivered(produce(bootstrap, topic, sent, **{"linger.ms": 1000}))
    assert stored_codecs(broker, topic) == ["none"], "expected one batch of 10"
    got = consume_to_end(bootstrap, topic, offset=4)
    assert [(m.offset(), m.value()) for m in got] == [(i, f"m{i}".encode()) for i in range(4, 10)]


def test_a_fetch_min_bytes_as_large_as_the_fetch_limit_does_not_hold_back_stored_records(bootstrap):
    """librdkafka with fetch.min.bytes equal to its byte limits, and 2 MB stored: the
    whole batches that fit in a fetch come to less than fetch.min.bytes, but more is
    stored than the limits let through, so the broker answers at once (as Kafka counts
    what a partition holds), not after fetch.wait.max.ms."""
    topic = unique_topic("ck-min-bytes")
    create_topic(bootstrap, topic)
    sent = [{"value": bytes([65 + i % 26]) * 50_000, "partition": 0} for i in range(40)]
    assert_delivered(produce(bootstrap, topic, sent))
    limit = 1 << 20
    c = consumer(
        bootstrap,
        **{
            "fetch.min.bytes": limit,
            "max.partition.fetch.bytes": limit,
            "fetch.max.bytes": limit,
            "fetch.wait.max.ms": 60_000,
            "socket.timeout.ms": 90_000,
        },
    )
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        started = time.monotonic()
        # The first ten records (500 KB) come in the first fetch.
        while len(got) < 10 and time.monotonic() - started < 20:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(msg)
        waited = time.monotonic() - started
        assert len(got) >= 10, f"got {len(got)} records in {waited:.1f} s; the fetch waited for fetch.min.bytes"
        assert [m.value() for m in got[:10]] == [s["value"] for s in sent[:10]]
    finally:
        c.close()


@pytest.mark.parametrize("codec", ["none", "lz4"])
def test_offsets_for_times(bootstrap, codec):
    topic = unique_topic(f"ck-oft-{codec}")
    create_topic(bootstrap, topic)
    base = int(time.time() * 1000) - 60_000
    sent = [{"value": f"t{i}".encode(), "timestamp": base + 1000 * i, "partition": 0} for i in range(10)]
    assert_delivered(produce(bootstrap, topic, sent, **{"linger.ms": 1000, "compression.type": codec}))
    c = consumer(bootstrap)
    try:
        queries = {base - 5000: 0, base: 0, base + 4500: 5, base + 5000: 5, base + 9000: 9, base + 9001: -1}
        for ts, want in queries.items():
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None, tp
            assert tp.offset == want, f"offsets_for_times({ts - base:+d} ms from first) = {tp.offset}, want {want}"
    finally:
        c.close()


def test_watermarks_are_next_offset(bootstrap):
    topic = unique_topic("ck-wm")
    create_topic(bootstrap, topic)
    c = consumer(bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 0)
        for batch in range(2):
            sent = [{"value": f"b{batch}-{i}".encode(), "partition": 0} for i in range(5)]
            assert_delivered(produce(bootstrap, topic, sent, **{"linger.ms": 500}))
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 10)
    finally:
        c.close()


def test_keys_map_to_stable_partitions(bootstrap):
    topic = unique_topic("ck-keyed")
    create_topic(bootstrap, topic, partitions=3)
    sent = [{"key": f"user-{i % 10}".encode(), "value": f"{i}".encode()} for i in range(300)]
    reports = produce(bootstrap, topic, sent)
    assert_delivered(reports)
    partition_of_key: dict = {}
    for s, (_, p, _) in zip(sent, reports):
        assert partition_of_key.setdefault(s["key"], p) == p, f"key {s['key']} went to two partitions"
    total = 0
    for p in range(3):
        got = consume_to_end(bootstrap, topic, partition=p)
        want = [(s["key"], s["value"]) for s, r in zip(sent, reports) if r[1] == p]
        assert [(m.key(), m.value()) for m in got] == want, f"partition {p}"
        total += len(got)
    assert total == 300


# --- crash and restart ----------------------------------------------------------


def test_acknowledged_records_survive_kill_9(fresh_broker):
    bootstrap = fresh_broker.bootstrap
    topic = unique_topic("ck-crash")
    create_topic(bootstrap, topic)
    sent = [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": 0} for i in range(200)]
    assert_delivered(produce(bootstrap, topic, sent, acks="all"))

    fresh_broker.restart(crash=True)
    wait_for_topic(bootstrap, topic, 1)
    got = consume_to_end(bootstrap, topic)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, s["key"], s["value"]) for i, s in enumerate(sent)
    ]
    # Appends continue after the recovered tail, with no offset handed out twice.
    reports = produce(bootstrap, topic, [{"value": b"after-crash", "partition": 0}])
    assert_delivered(reports)
    assert reports[0][2] == 200


def test_preallocate_reserves_the_active_segment_and_survives_kill_9(fresh_broker):
    """Topic config `preallocate=true`: the active segment's disk is reserved up front,
    a rolled segment keeps only what it holds, and the reservation is invisible to
    recovery and reads (the file's length is what was appended)."""
    bootstrap = fresh_broker.bootstrap
    topic = unique_topic("ck-prealloc")
    segment_bytes = 4 * 1024 * 1024
    slack = 64 * 1024  # the filesystem's own blocks past the length
    fs = os.statvfs(fresh_broker.data_dir)
    if fs.f_bavail * fs.f_frsize - 2 * segment_bytes < fs.f_blocks * fs.f_frsize // 10:
        # preallocate is advisory: the broker reserves only while a tenth of the disk stays free.
        pytest.skip(f"{fresh_broker.data_dir}'s filesystem has less than 10% free: no reservation to observe")
    create_topic(bootstrap, topic, config={"preallocate": "true", "segment.bytes": str(segment_bytes)})
    sent = [{"value": os.urandom(100_000), "partition": 0} for _ in range(50)]  # ~5 MB: one roll
    assert_delivered(produce(bootstrap, topic, sent, acks="all"))

    def segments() -> list[tuple[int, int]]:
        """(length, bytes allocated) of each `.log` file of partition 0, oldest first."""
        files = sorted((fresh_broker.data_dir / f"{topic}-0").glob("*.log"))
        return [(f.stat().st_size, f.stat().st_blocks * 512) for f in files]

    (rolled_len, rolled_alloc), (active_len, active_alloc) = segments()
    assert rolled_alloc < rolled_len + slack, segments()
    assert active_len < segment_bytes <= active_alloc, segments()

    fresh_broker.restart(crash=True)
    wait_for_topic(bootstrap, topic, 1)
    got = consume_to_end(bootstrap, topic)
    assert [(m.offset(), m.value()) for m in got] == [(i, s["value"]) for i, s in enumerate(sent)]
    reports = produce(bootstrap, topic, [{"value": b"after-crash", "partition": 0}])
    assert_delivered(reports)
    assert reports[0][2] == len(sent)

    # A clean stop gives the active segment's reservation back.
    assert fresh_broker.stop() == 0
    active_len, active_alloc = segments()[-1]
    assert active_alloc < active_len + slack, segments()


def test_topics_and_records_survive_a_clean_restart(fresh_broker):
    bootstrap = fresh_broker.bootstrap
    topic = unique_topic("ck-restart")
    create_topic(bootstrap, topic, partitions=2, config={"retention.ms": "7200000"})
    sent = [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(50)]
    assert_delivered(produce(bootstrap, topic, sent))

    fresh_broker.restart()
    wait_for_topic(bootstrap, topic, 2)
    for p in (0, 1):
        got = consume_to_end(bootstrap, topic, partition=p)
        assert [m.value() for m in got] == [s["value"] for s in sent if s["partition"] == p]
    a = admin(bootstrap)
    res = ConfigResource(ResourceType.TOPIC, topic)
    assert a.describe_configs([res])[res].result(timeout=30)["retention.ms"].value == "7200000"


def test_client_quotas_throttle_a_producer_and_a_consumer_over_them(tmp_path):
    """Quotas set with `spool configs` (as kafka-configs) throttle librdkafka's producer
    and consumer of that client id: responses carry a throttle time (librdkafka's
    throttle_cb reports it) and the client gets no faster than its byte rate; another
    client id is not throttled, and removed quotas no longer throttle."""
    # Two one-second windows: the rate is measured over at least one second, so a
    # client may send about one second's worth before it is throttled.
    b = Broker(tmp_path / "data", sets={"quota.window.num": "2"})
    b.start()
    try:
        def configs(*args: str) -> str:
            proc = subprocess.run(
                [str(spool_bin()), "configs", "--bootstrap-server", b.bootstrap, *args],
                capture_output=True, text=True, timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
            return proc.stdout.strip()

        topic = unique_topic("quota")
        create_topic(b.bootstrap, topic)
        rate = 100_000
        assert configs("--entity-type", "clients", "--entity-name", "slow", "--alter", "--add-config",
                       f"producer_byte_rate={rate},consumer_byte_rate={rate}") == "Completed updating config for client slow."
        assert configs("--entity-type", "clients", "--describe") == (
            f"Quota configs for client-id 'slow' are consumer_byte_rate={rate}.0, producer_byte_rate={rate}.0"
        )

        value = b"q" * 1000
        count = 300  # 300 kB: three times the byte rate

        def produce(client_id: str) -> tuple[float, list[int]]:
            """Sends `count` records in one burst, then one more; returns how long that
            one took and the throttle times reported."""
            throttles: list[int] = []
            p = Producer({"bootstrap.servers": b.bootstrap, "client.id": client_id, "linger.ms": 5,
                          "throttle_cb": lambda event: throttles.append(event.throttle_time)})
            for _ in range(count):
                p.produce(topic, value)
                p.poll(0)
            assert p.flush(60) == 0
            p.poll(0.2)  # throttle events are served by poll
            start = time.monotonic()
            p.produce(topic, value)
            assert p.flush(60) == 0
            elapsed = time.monotonic() - start
            p.poll(0.2)
            return elapsed, throttles

        elapsed, throttles = produce("slow")
        # Kafka's throttle time: 300 kB measured over the one-second span is twice over
        # the bound of 100 kB/s, so two seconds.
        assert throttles and 1.5 <= max(throttles) <= 2.5, f"throttle times (s) {throttles}"
        # The connection stays muted meanwhile: the next record waits.
        assert elapsed >= 1.0, f"the record after the burst went out in {elapsed:.2f} s"
        elapsed, others = produce("fast")
        assert not any(others) and elapsed < 5.0, f"a client id without a quota was throttled: {others}, {elapsed:.2f} s"

        throttled_fetches: list[int] = []
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "quota-check", "client.id": "slow",
                      "enable.auto.commit": False,
                      "throttle_cb": lambda event: throttled_fetches.append(event.throttle_time)})
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            read, start = 0, time.monotonic()
            while read < 2 * count and time.monotonic() - start < CONSUME_TIMEOUT_S:
                msg = c.poll(1.0)
                if msg is not None and msg.error() is None:
                    assert msg.value() == value
                    read += 1
            elapsed = time.monotonic() - start
        finally:
            c.close()
        assert read == 2 * count, f"read {read} of {2 * count}"
        assert throttled_fetches and max(throttled_fetches) > 0, "the consumer over its quota was throttled"
        # The first fetch takes one 300 kB batch, three times the byte rate over the
        # one-second span: the consumer gets the next one two seconds later.
        assert max(throttled_fetches) >= 1.5 and elapsed >= 1.5, f"{2 * count} kB read in {elapsed:.2f} s, throttled {throttled_fetches}"

        assert configs("--client", "slow", "--alter", "--delete-config", "producer_byte_rate,consumer_byte_rate") == (
            "Completed updating config for client slow."
        )
        assert configs("--entity-type", "clients", "--describe") == ""
        _, after = produce("slow")
        assert not any(after), f"throttled after the quota was removed: {after}"
    finally:
        b.stop()


def test_broker_log_levels_change_at_runtime(fresh_broker):
    """kafka-configs --entity-type broker-loggers: a tracing target set to TRACE logs
    at once (here the request trace, spool::requests), and logs no more once its
    level is deleted; levels Kafka does not know, and deleting root, are refused."""
    b = fresh_broker

    def configs(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(spool_bin()), "configs", "--bootstrap-server", b.bootstrap, "--entity-type", "broker-loggers", *args],
            capture_output=True, text=True, timeout=60,
        )
        assert (proc.returncode == 0) == ok, proc.stderr
        return proc

    def traced_requests() -> int:
        return b.log_path.read_text(errors="replace").count("spool::requests")

    def list_topics() -> None:
        AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=30)

    assert configs("--entity-name", "1", "--describe").stdout == (
        "Dynamic configs for broker-logger 1 are:\n  root=INFO sensitive=false synonyms={}\n"
    )
    list_topics()
    assert traced_requests() == 0, "the request trace is off by default"

    assert configs("--entity-name", "1", "--alter", "--add-config", "spool::requests=TRACE").stdout.strip() == (
        "Completed updating config for broker-logger 1."
    )
    list_topics()
    assert traced_requests() > 0, "TRACE takes effect at once"
    assert "  spool::requests=TRACE sensitive=false synonyms={}" in configs("--describe").stdout.splitlines()

    configs("--entity-name", "1", "--alter", "--delete-config", "spool::requests")
    before = traced_requests()
    list_topics()
    assert traced_requests() == before, "a deleted level follows root (INFO) again"

    assert "not a supported log level" in configs("--entity-name", "1", "--alter", "--add-config", "root=LOUD", ok=False).stderr
    assert "root logger is not allowed" in configs("--entity-name", "1", "--alter", "--delete-config", "root", ok=False).stderr
    assert "Invalid config(s): nothing.set" in configs(
        "--entity-name", "1", "--alter", "--delete-config", "nothing.set", ok=False).stderr


def test_a_starting_cluster_never_answers_metadata_without_brokers(tmp_path):
    """A node accepts clients once its own registration is applied on it (as a
    Kafka broker enables request processing after its initial metadata catch-up): a
    client that connects while the three nodes start is answered with a Metadata that
    lists at least that node, never with an empty one (librdkafka's _PARTIAL)."""
    from concurrent.futures import ThreadPoolExecutor

    nodes = cluster_nodes(tmp_path)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            starts = [pool.submit(node.start) for node in nodes]
            # Asked while the nodes start: librdkafka retries refused connections until
            # the listener is bound, then waits for the answer.
            answers = [AdminClient({"bootstrap.servers": node.bootstrap}).list_topics(timeout=60) for node in nodes]
            for start in starts:
                start.result()
        for node, metadata in zip(nodes, answers):
            assert metadata.brokers, f"node {node.bootstrap} answered Metadata with no broker"
            assert any(b.port == node.port for b in metadata.brokers.values()), (node.bootstrap, metadata.brokers)
    finally:
        stop_cluster(nodes)


def test_a_restarted_broker_answers_with_what_the_cluster_decided_while_it_was_down(tmp_path):
    """A node that crashed and comes back before the controller fenced it still finds
    its own registration, unchanged, in the metadata it replays from its disk; it must
    not serve that old view. As a Kafka broker waits until it has caught up with the
    metadata log to the offset of its new registration, the first Metadata it answers
    already holds a topic created while it was down."""
    nodes = start_cluster(tmp_path)
    try:
        everyone = ",".join(node.bootstrap for node in nodes)
        for attempt in range(3):
            # Not the active controller: the topic is to be created at once, without
            # waiting for an election.
            controller = AdminClient({"bootstrap.servers": everyone}).list_topics(timeout=30).controller_id
            down = next(node for i, node in enumerate(nodes) if i + 1 != controller)
            down.kill9()
            name = unique_topic(f"while-down-{attempt}")
            # Replication factor 1: the node that is down may still count as live and be
            # given the partition; where it lives does not matter, only that it exists.
            create_topic(",".join(node.bootstrap for node in nodes if node is not down), name, partitions=2)
            down.start()
            metadata = AdminClient({"bootstrap.servers": down.bootstrap}).list_topics(topic=name, timeout=30)
            topic = metadata.topics.get(name)
            assert topic is not None and topic.error is None and len(topic.partitions) == 2, (
                f"round {attempt}: the restarted node did not know the topic created while it was down: "
                f"{topic and topic.error}"
            )
    finally:
        stop_cluster(nodes)
