"""kcat (Debian's, bundling librdkafka 2.0.2) against a real spool broker.

librdkafka before 2.2 mis-parses an ApiVersions v3 response that carries extra
tagged fields and then falls back to the old protocol (no MsgVer2: no headers,
no zstd); the feature test below is what catches that.
"""

import json
import re
import subprocess
import time

import pytest

from conftest import create_topic, require_tool, stored_codecs, unique_topic

KCAT_TIMEOUT_S = 60


def kcat(bootstrap: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    cmd = [require_tool("kcat"), "-b", bootstrap, *args]
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, timeout=KCAT_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"kcat timed out after {KCAT_TIMEOUT_S}s: {' '.join(cmd)}\n"
            f"stdout: {e.stdout!r}\nstderr: {(e.stderr or b'').decode(errors='replace')[-3000:]}"
        )
    assert proc.returncode == 0, (
        f"kcat exited {proc.returncode}: {' '.join(cmd)}\n"
        f"stderr: {proc.stderr.decode(errors='replace')[-3000:]}"
    )
    return proc


def consume_json(bootstrap: str, topic: str, *args: str, partition: int = 0) -> list[dict]:
    """Reads one partition to its end with `kcat -C -e -J`; one dict per record."""
    out = kcat(bootstrap, "-C", "-t", topic, "-p", str(partition), "-e", "-J", *args).stdout
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def headers_of(record: dict) -> list[tuple[str, str]]:
    h = record.get("headers") or []
    return list(zip(h[0::2], h[1::2]))


def negotiated_features(bootstrap: str) -> tuple[set[str], str]:
    """The protocol features librdkafka enabled after ApiVersions, and its debug log."""
    proc = kcat(bootstrap, "-L", "-d", "broker,feature,protocol")
    log = proc.stderr.decode(errors="replace")
    assert "ApiVersionRequest failed" not in log, log[-3000:]
    sets = re.findall(r"Updated enabled protocol features to (\S+)", log)
    assert sets, f"no feature negotiation in kcat's debug log:\n{log[-3000:]}"
    return set(sets[-1].split(",")), log


def test_api_versions_negotiated_and_msgver2_enabled(bootstrap):
    """librdkafka 2.0.2 must parse ApiVersions and enable the v2 record format."""
    enabled, log = negotiated_features(bootstrap)
    for feature in ("ApiVersion", "MsgVer2", "ZSTD", "IdempotentProducer", "OffsetTime"):
        assert feature in enabled, f"feature {feature} not enabled: {sorted(enabled)}"


def test_lz4_feature_enabled(bootstrap):
    """librdkafka 2.0.2 enables LZ4 only when the broker advertises FindCoordinator
    (its marker for brokers >= 0.10); without it kcat -z lz4 silently sends uncompressed."""
    enabled, log = negotiated_features(bootstrap)
    detail = "\n".join(line for line in log.splitlines() if "Feature LZ4" in line)
    assert "LZ4" in enabled, f"LZ4 not enabled: {sorted(enabled)}\n{detail}"


def test_metadata_lists_broker_and_topic(bootstrap, broker):
    topic = unique_topic("kcat-md")
    create_topic(bootstrap, topic, partitions=3)
    md = json.loads(kcat(bootstrap, "-L", "-J").stdout)
    assert [b["name"] for b in md["brokers"]] == [bootstrap], md["brokers"]
    broker_id = md["brokers"][0]["id"]
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics, f"{topic} not in {sorted(topics)}"
    parts = sorted(topics[topic]["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == broker_id, p
        assert [r["id"] for r in p["replicas"]] == [broker_id], p
        assert [r["id"] for r in p["isrs"]] == [broker_id], p

    # The human-readable listing, as a person would type it.
    text = kcat(bootstrap, "-L", "-t", topic).stdout.decode()
    assert "1 brokers:" in text, text
    assert f"broker {broker_id} at {bootstrap}" in text, text
    assert f'topic "{topic}" with 3 partitions:' in text, text


def test_produce_with_keys_and_consume_in_order(bootstrap):
    topic = unique_topic("kcat-keys")
    create_topic(bootstrap, topic)
    lines = [f"key-{i}:value {i} with spaces:and colons" for i in range(50)]
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", "-K:", input=("\n".join(lines) + "\n").encode())
    records = consume_json(bootstrap, topic, "-o", "beginning")
    assert [r["offset"] for r in records] == list(range(50))
    assert [r["key"] for r in records] == [f"key-{i}" for i in range(50)]
    assert [r["payload"] for r in records] == [f"value {i} with spaces:and colons" for i in range(50)]
    now_ms = time.time() * 1000
    for r in records:
        assert r["tstype"] == "create", r
        assert now_ms - 120_000 < r["ts"] <= now_ms + 1000, r


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_each_codec_roundtrip(bootstrap, broker, codec):
    topic = unique_topic(f"kcat-{codec}")
    create_topic(bootstrap, topic)
    # Compressible, varied payloads, batched by a generous linger.
    values = [f"{codec} record {i} " + "abc" * (i % 40) for i in range(500)]
    kcat(
        bootstrap, "-P", "-t", topic, "-p", "0", "-z", codec, "-X", "linger.ms=200",
        input=("\n".join(values) + "\n").encode(),
    )
    records = consume_json(bootstrap, topic, "-o", "beginning")
    assert [r["offset"] for r in records] == list(range(500))
    assert [r["payload"] for r in records] == values
    # The batches on disk carry the codec: kcat did compress, the broker kept it.
    # librdkafka 2.0.2 silently sends uncompressed ("Broker does not support
    # compression type") unless ApiVersions lists Produce v0 (gzip, snappy,
    # lz4) and FindCoordinator (lz4), as Kafka 3.x brokers do.
    stored = stored_codecs(broker, topic)
    assert set(stored) == {codec}, f"batches stored with {stored}, kcat asked for {codec}"
    # High watermark = next offset to be written.
    assert query_offset(bootstrap, topic, 0, -1) == 500
    assert query_offset(bootstrap, topic, 0, -2) == 0


def test_headers_roundtrip(bootstrap):
    topic = unique_topic("kcat-hdr")
    create_topic(bootstrap, topic)
    kcat(
        bootstrap, "-P", "-t", topic, "-p", "0", "-K:", "-H", "trace=abc123", "-H", "empty=", "-H", "trace=dup",
        input=b"k1:v1\nk2:v2\n",
    )
    records = consume_json(bootstrap, topic, "-o", "beginning")
    assert [(r["key"], r["payload"]) for r in records] == [("k1", "v1"), ("k2", "v2")]
    for r in records:
        assert headers_of(r) == [("trace", "abc123"), ("empty", ""), ("trace", "dup")], r


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_consume_from_the_middle_of_a_batch(bootstrap, broker, codec):
    """Offset 7 lies inside the single batch 0..19: exactly 7..19 must come back."""
    topic = unique_topic("kcat-mid")
    create_topic(bootstrap, topic)
    values = [f"m{i}" for i in range(20)]
    kcat(
        bootstrap, "-P", "-t", topic, "-p", "0", "-z", codec, "-X", "linger.ms=1000",
        input=("\n".join(values) + "\n").encode(),
    )
    assert stored_codecs(broker, topic) == [codec], "expected one batch of 20"
    records = consume_json(bootstrap, topic, "-o", "7")
    assert [r["offset"] for r in records] == list(range(7, 20))
    assert [r["payload"] for r in records] == values[7:]
    # The last offset of the batch alone.
    records = consume_json(bootstrap, topic, "-o", "19")
    assert [(r["offset"], r["payload"]) for r in records] == [(19, "m19")]


def query_offset(bootstrap: str, topic: str, partition: int, ts: int) -> int:
    """`kcat -Q`: ListOffsets for a timestamp (-1 latest, -2 earliest)."""
    out = kcat(bootstrap, "-Q", "-t", f"{topic}:{partition}:{ts}").stdout.decode()
    m = re.search(rf"{re.escape(topic)} \[{partition}\] offset (-?\d+)", out)
    assert m, f"unexpected kcat -Q output: {out!r}"
    return int(m.group(1))


def test_offsets_by_timestamp(bootstrap):
    topic = unique_topic("kcat-ts")
    create_topic(bootstrap, topic)
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", input=b"a0\na1\na2\n")
    time.sleep(0.05)
    middle_ms = int(time.time() * 1000)
    time.sleep(0.05)
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", input=b"b0\nb1\n")

    assert query_offset(bootstrap, topic, 0, middle_ms) == 3
    assert query_offset(bootstrap, topic, 0, 0) == 0
    assert query_offset(bootstrap, topic, 0, -1) == 5
    assert query_offset(bootstrap, topic, 0, -2) == 0
    # Consume starting from a timestamp.
    records = consume_json(bootstrap, topic, "-o", f"s@{middle_ms}")
    assert [(r["offset"], r["payload"]) for r in records] == [(3, "b0"), (4, "b1")]


def test_produce_to_a_new_topic_creates_it(bootstrap):
    """Kafka's default auto.create.topics.enable=true: publishing creates the topic."""
    topic = unique_topic("kcat-auto")
    kcat(bootstrap, "-P", "-t", topic, input=b"first\nsecond\n")
    md = json.loads(kcat(bootstrap, "-L", "-J", "-t", topic).stdout)
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert t.get("error") is None, t
    records = []
    for p in t["partitions"]:
        records += consume_json(bootstrap, topic, "-o", "beginning", partition=p["partition"])
    assert sorted(r["payload"] for r in records) == ["first", "second"]
