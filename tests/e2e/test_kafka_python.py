"""kafka-python (pure Python client, 3.x) against a real spool broker.

kafka-python works out the broker's version from ApiVersions and picks its
request versions from that; its producer is idempotent by default. No consumer
group: consumers use `assign` with group_id=None.
"""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import TopicAlreadyExistsError

from conftest import Broker, stored_codecs, unique_topic

READ_TIMEOUT_S = 30.0


@pytest.fixture
def admin(bootstrap):
    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    yield a
    a.close()


def new_consumer(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        request_timeout_ms=30000,
    )


def read_to_end(consumer: KafkaConsumer, tp: TopicPartition) -> list:
    """Polls the assigned partition until its position reaches the end offset."""
    end = consumer.end_offsets([tp])[tp]
    records = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while consumer.position(tp) < end:
        assert time.monotonic() < deadline, (
            f"read {len(records)} records, position {consumer.position(tp)} < end {end} after {READ_TIMEOUT_S}s"
        )
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def produce(bootstrap: str, topic: str, messages: list[dict], **conf) -> list:
    producer = KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=30000, **conf)
    try:
        futures = [producer.send(topic, **m) for m in messages]
        producer.flush(timeout=60)
        return [f.get(timeout=30) for f in futures]
    finally:
        producer.close(timeout=10)


def test_admin_create_list_delete_topics(admin, bootstrap):
    names = [unique_topic("kp-admin") for _ in range(2)]
    admin.create_topics(
        {n: {"num_partitions": 2, "replication_factor": 1} for n in names}, wait_for_metadata=True
    )
    assert set(names) <= set(admin.list_topics())
    described = {t["name"]: t for t in admin.describe_topics(names)}
    for n in names:
        assert described[n]["error_code"] == 0, described[n]
        assert sorted(p["partition_index"] for p in described[n]["partitions"]) == [0, 1]

    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics({names[0]: {"num_partitions": 1, "replication_factor": 1}})

    admin.delete_topics([names[0]])
    deadline = time.monotonic() + 30
    while names[0] in admin.list_topics() and time.monotonic() < deadline:
        time.sleep(0.2)
    topics = admin.list_topics()
    assert names[0] not in topics
    assert names[1] in topics


def test_create_topic_with_broker_defaults(admin):
    """CreateTopics with num_partitions/replication_factor -1 takes the broker's defaults (num.partitions=1)."""
    name = unique_topic("kp-defaults")
    admin.create_topics([name], wait_for_metadata=True)
    (t,) = admin.describe_topics([name])
    assert len(t["partitions"]) == 1, t
    assert len(t["partitions"][0]["replica_nodes"]) == 1, t


def test_describe_configs(admin):
    name = unique_topic("kp-cfg")
    admin.create_topics(
        {name: {"num_partitions": 1, "replication_factor": 1, "configs": {"retention.ms": "123456789"}}},
        wait_for_metadata=True,
    )
    res = ConfigResource(ConfigResourceType.TOPIC, name)
    modified = admin.describe_configs([res])["topic"][name]
    assert set(modified) == {"retention.ms"}, modified
    assert modified["retention.ms"]["value"] == "123456789"
    assert modified["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"

    everything = admin.describe_configs([res], config_filter="all")["topic"][name]
    assert everything["segment.bytes"]["value"] == "1073741824"
    assert everything["segment.bytes"]["config_source"] == "DEFAULT_CONFIG"
    assert everything["max.message.bytes"]["value"] == "1048588"
    assert len(everything) >= 20, sorted(everything)


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_each_codec_roundtrip(admin, bootstrap, broker, codec):
    topic = unique_topic(f"kp-{codec or 'none'}")
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    base = int(time.time() * 1000) - 10_000
    sent = [
        {
            "key": f"k{i}".encode() if i % 5 else None,
            "value": (f"{codec}-{i}-" + "xyz" * (i % 50)).encode(),
            "headers": [("n", str(i).encode()), ("codec", str(codec).encode())] if i % 3 == 0 else [],
            "timestamp_ms": base + i,
            "partition": 0,
        }
        for i in range(600)
    ]
    metas = produce(bootstrap, topic, sent, compression_type=codec, linger_ms=50)
    assert [m.offset for m in metas] == list(range(600))
    assert set(stored_codecs(broker, topic)) == {codec or "none"}, stored_codecs(broker, topic)

    tp = TopicPartition(topic, 0)
    c = new_consumer(bootstrap)
    try:
        c.assign([tp])
        assert c.end_offsets([tp]) == {tp: 600}
        assert c.beginning_offsets([tp]) == {tp: 0}
        c.seek_to_beginning(tp)
        got = read_to_end(c, tp)
        assert [r.offset for r in got] == list(range(600))
        for r, s in zip(got, sent):
            assert (r.key, r.value) == (s["key"], s["value"]), r.offset
            assert list(r.headers) == s["headers"], r.offset
            assert r.timestamp == s["timestamp_ms"] and r.timestamp_type == 0, r.offset
        # From inside a batch.
        c.seek(tp, 333)
        got = read_to_end(c, tp)
        assert [r.offset for r in got] == list(range(333, 600))
        assert [r.value for r in got] == [s["value"] for s in sent[333:]]
    finally:
        c.close()


def test_non_idempotent_acks_1(admin, bootstrap):
    topic = unique_topic("kp-acks1")
    admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True)
    sent = [{"key": f"user-{i % 7}".encode(), "value": f"{i}".encode()} for i in range(210)]
    metas = produce(bootstrap, topic, sent, acks=1, enable_idempotence=False)
    c = new_consumer(bootstrap)
    try:
        total = 0
        for p in range(3):
            tp = TopicPartition(topic, p)
            c.assign([tp])
            c.seek_to_beginning(tp)
            got = read_to_end(c, tp)
            want = [(s["key"], s["value"]) for s, m in zip(sent, metas) if m.partition == p]
            assert [(r.key, r.value) for r in got] == want, f"partition {p}"
            total += len(got)
        assert total == 210
    finally:
        c.close()


def test_offsets_for_times(admin, bootstrap):
    topic = unique_topic("kp-oft")
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    base = int(time.time() * 1000) - 60_000
    produce(
        bootstrap, topic,
        [{"value": f"t{i}".encode(), "timestamp_ms": base + 1000 * i, "partition": 0} for i in range(10)],
        linger_ms=500,
    )
    tp = TopicPartition(topic, 0)
    c = new_consumer(bootstrap)
    try:
        found = c.offsets_for_times({tp: base + 2500})[tp]
        assert (found.offset, found.timestamp) == (3, base + 3000), found
        found = c.offsets_for_times({tp: base})[tp]
        assert (found.offset, found.timestamp) == (0, base), found
        assert c.offsets_for_times({tp: base + 10_000}) == {tp: None}
    finally:
        c.close()


def test_delete_records(admin, bootstrap):
    """DeleteRecords moves the log start: the earliest offset and a reader from the
    beginning start there; an offset past the end is refused and changes nothing."""
    topic = unique_topic("kp-delete-records")
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    produce(bootstrap, topic, [{"value": f"r{i}".encode()} for i in range(8)])
    tp = TopicPartition(topic, 0)

    result = admin.delete_records({tp: 5})
    assert result[tp]["low_watermark"] == 5, result

    consumer = new_consumer(bootstrap)
    try:
        assert consumer.beginning_offsets([tp])[tp] == 5
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        assert [r.value for r in read_to_end(consumer, tp)] == [b"r5", b"r6", b"r7"]
    finally:
        consumer.close()

    with pytest.raises(Exception, match="OffsetOutOfRange"):
        admin.delete_records({tp: 9})
    check = new_consumer(bootstrap)
    try:
        assert check.beginning_offsets([tp])[tp] == 5
    finally:
        check.close()


def test_describe_log_dirs(admin, bootstrap, broker):
    """DescribeLogDirs gives the broker's data directory and each replica's size: the
    bytes of its segment files, for the partitions asked for."""
    topic = unique_topic("kp-log-dirs")
    admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True)
    produce(bootstrap, topic, [{"value": f"r{i}".encode(), "partition": 0} for i in range(5)])

    [answer] = admin.describe_log_dirs(topic_partitions={topic: [0, 1]})
    assert answer["broker"] == 1, answer
    [log_dir] = answer["log_dirs"]
    assert log_dir["error_code"] == 0, log_dir
    assert log_dir["log_dir"] == str(broker.data_dir.resolve()), log_dir
    assert 0 < log_dir["usable_bytes"] <= log_dir["total_bytes"], log_dir
    [described] = [t for t in log_dir["topics"] if t["name"] == topic]
    sizes = {p["partition_index"]: p["partition_size"] for p in described["partitions"]}
    on_disk = {p: sum(f.stat().st_size for f in (broker.data_dir / f"{topic}-{p}").glob("*.log")) for p in (0, 1)}
    assert sizes == on_disk, (sizes, on_disk)
    assert sizes[0] > 0 and sizes[1] == 0, sizes
    assert all(p["offset_lag"] == 0 and not p["is_future_key"] for p in described["partitions"]), described

    [only_one] = admin.describe_log_dirs(topic_partitions={topic: [1]})[0]["log_dirs"]
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in only_one["topics"]] == [(topic, [1])]


def test_a_broker_reports_its_rack(tmp_path):
    """`broker.rack` reaches clients in the broker list (Metadata and DescribeCluster),
    which rack-aware clients and tools read."""
    racked = Broker(tmp_path / "data", sets={"broker.rack": "eu-west-1a"})
    racked.start()
    try:
        client = KafkaAdminClient(bootstrap_servers=racked.bootstrap, client_id="spool-rack-check")
        try:
            described = client.describe_cluster()
            assert [(b["broker_id"], b["rack"]) for b in described["brokers"]] == [(1, "eu-west-1a")], described
            assert [(b.node_id, b.rack) for b in client._client.cluster.brokers()] == [(1, "eu-west-1a")]
        finally:
            client.close()
    finally:
        racked.stop()


def test_replication_throttle_rates_are_dynamic_broker_configs(admin):
    """kafka-reassign-partitions' throttle through another client: the rates are set on a
    broker with IncrementalAlterConfigs, described as dynamic, and deleted together with
    the log-dirs throttle that was never set, as the Java tool's --verify does."""
    broker = ConfigResource(ConfigResourceType.BROKER, "1")
    keys = ("leader.replication.throttled.rate", "follower.replication.throttled.rate", "replica.alter.log.dirs.io.max.bytes.per.second")

    def described():
        return admin.describe_configs([broker])["broker"]["1"]

    try:
        changed = admin.alter_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1", configs={keys[0]: "1048576", keys[1]: "2097152"})], incremental=True
        )
        assert changed == {"broker": {"1": "OK"}}, changed
        deadline = time.monotonic() + READ_TIMEOUT_S
        while (entry := described().get(keys[1])) is None or entry["value"] != "2097152":
            assert time.monotonic() < deadline, entry
            time.sleep(0.1)
        assert entry["config_source"] == "DYNAMIC_BROKER_CONFIG", entry
        assert described()[keys[0]]["value"] == "1048576"
        refused = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1", configs={keys[0]: "-5"})], incremental=True)
        assert "InvalidConfigurationError" in refused["broker"]["1"], refused
    finally:
        cleared = admin.alter_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1", configs={key: ("DELETE", None) for key in keys})], incremental=True
        )
    assert cleared == {"broker": {"1": "OK"}}, cleared
    deadline = time.monotonic() + READ_TIMEOUT_S
    while (entry := described().get(keys[0])) is not None and entry["config_source"] == "DYNAMIC_BROKER_CONFIG":
        assert time.monotonic() < deadline, "the throttle was not deleted"
        time.sleep(0.1)


def test_dynamic_broker_configs(admin):
    """A broker default of a topic config changes at runtime through IncrementalAlterConfigs
    and the legacy AlterConfigs (kafka-python names brokers by id only); a config the
    broker reads at start-up is refused with the reason, and a delete restores the default."""
    key = "log.cleaner.delete.retention.ms"
    broker = ConfigResource(ConfigResourceType.BROKER, "1")

    def dynamic_value():
        deadline = time.monotonic() + READ_TIMEOUT_S
        while True:
            described = admin.describe_configs([broker])["broker"]["1"]
            if key in described or time.monotonic() > deadline:
                return described.get(key)
            time.sleep(0.1)

    def wait_for(value):
        deadline = time.monotonic() + READ_TIMEOUT_S
        while (entry := dynamic_value()) is None or entry["value"] != value:
            assert time.monotonic() < deadline, (value, entry)
            time.sleep(0.1)
        return entry

    try:
        changed = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1", configs={key: "86400002"})], incremental=True)
        assert changed == {"broker": {"1": "OK"}}, changed
        assert wait_for("86400002")["config_source"] == "DYNAMIC_BROKER_CONFIG"
        legacy = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1", configs={key: "86400003"})], incremental=False)
        assert legacy == {"broker": {"1": "OK"}}, legacy
        wait_for("86400003")

        refused = admin.alter_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1", configs={"num.io.threads": "4"})], incremental=True
        )
        assert "InvalidConfigurationError" in refused["broker"]["1"] and "server.properties" in refused["broker"]["1"], refused
        assert dynamic_value()["value"] == "86400003", "a refused change changed nothing"
    finally:
        admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1", configs={key: ("DELETE", None)})], incremental=True)
    deadline = time.monotonic() + READ_TIMEOUT_S
    while key in admin.describe_configs([broker])["broker"]["1"]:
        assert time.monotonic() < deadline, "the dynamic value was not deleted"
        time.sleep(0.1)
