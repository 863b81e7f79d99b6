"""The seed's command-line walkthrough, typed as a person would.

`kafka-topics`, `kafka-console-producer` and `kafka-console-consumer` are
symlinks to the spool binary (which answers to those names); the ZooKeeper and
broker lists point at the test's broker. Commands run through bash, pipes and
all, from a directory holding alerts.txt.
"""

import os
import subprocess
import time

import pytest

from conftest import free_port, spool_bin, unique_topic, wait_for_topic

TOOL_NAMES = ("kafka-topics", "kafka-console-producer", "kafka-console-consumer")
COMMAND_TIMEOUT_S = 60

ALERTS = [
    "2024-05-01T10:00:00Z device-17 temperature high: 81C",
    "2024-05-01T10:00:05Z device-03 battery low: 9%",
    "2024-05-01T10:01:12Z device-17 temperature high: 83C",
    "2024-05-01T10:02:40Z device-44 offline",
    "2024-05-01T10:03:00Z device-44 online",
    "2024-05-01T10:04:59Z device-08 door open, key=front",
    "2024-05-01T10:05:01Z device-08 door closed",
    "2024-05-01T10:06:30Z device-91 firmware 1.2.3 -> 1.2.4",
    "2024-05-01T10:07:00Z device-12 humidity 71% \u00e9t\u00e9 \u2603",
    "2024-05-01T10:08:15Z device-03 battery ok: 100%",
]


class Shell:
    """Runs typed commands with the Kafka tool names on PATH, in a working directory."""

    def __init__(self, workdir, bindir):
        self.workdir = workdir
        self.env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}")

    def run(self, command: str, check: bool = True, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(
                ["bash", "-c", f"set -o pipefail; {command}"], cwd=self.workdir, env=self.env,
                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"timed out after {timeout}s: $ {command}\nstdout: {e.stdout!r}\nstderr: {e.stderr!r}")
        if check:
            assert proc.returncode == 0, (
                f"exit {proc.returncode}: $ {command}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
            )
        return proc

    def popen(self, command: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(
            ["bash", "-c", command], cwd=self.workdir, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
        )


@pytest.fixture
def sh(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in TOOL_NAMES:
        (bindir / name).symlink_to(spool_bin())
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "alerts.txt").write_text("\n".join(ALERTS) + "\n", encoding="utf-8")
    return Shell(workdir, bindir)


def create(sh: Shell, bootstrap: str, topic: str) -> None:
    sh.run(f"kafka-topics --create --zookeeper {bootstrap} --replication-factor 1 --topic {topic}")
    wait_for_topic(bootstrap, topic, 1)


def test_create_and_list_topics(sh, bootstrap):
    topic = unique_topic("device_status")
    sh.run(
        f"kafka-topics --create \\\n"
        f"               --zookeeper {bootstrap} \\\n"
        f"               --replication-factor 1 \\\n"
        f"               --topic {topic}"
    )
    # Without --partitions the broker's num.partitions (1) applies.
    wait_for_topic(bootstrap, topic, 1)
    listed = sh.run(f"kafka-topics --list --zookeeper {bootstrap}").stdout.splitlines()
    assert topic in listed, listed


def test_replication_factor_larger_than_the_cluster_is_refused(sh, bootstrap):
    """The seed's `--replication-factor 3` on a one-broker cluster: Kafka refuses it."""
    topic = unique_topic("device_status")
    proc = sh.run(
        f"kafka-topics --create --zookeeper {bootstrap} --replication-factor 3 --topic {topic}", check=False
    )
    assert proc.returncode != 0, proc
    assert "replication factor" in (proc.stdout + proc.stderr).lower(), proc
    assert topic not in sh.run(f"kafka-topics --list --zookeeper {bootstrap}").stdout.splitlines()


def test_help(sh):
    proc = sh.run("kafka-topics --help")
    text = proc.stdout + proc.stderr
    for option in ("--create", "--list", "--topic", "--replication-factor", "--partitions"):
        assert option in text, f"{option} not in help:\n{text}"


def test_file_to_topic_and_back(sh, bootstrap):
    topic = unique_topic("device_status")
    create(sh, bootstrap, topic)
    sh.run(f"cat alerts.txt | kafka-console-producer \\\n--broker-list {bootstrap} \\\n--topic {topic}")
    out = sh.run(
        f"kafka-console-consumer \\\n--zookeeper {bootstrap} \\\n--topic {topic} \\\n--from-beginning "
        f"--max-messages {len(ALERTS)}"
    ).stdout
    assert out.splitlines() == ALERTS
    # The same with today's flag name.
    out = sh.run(
        f"kafka-console-consumer --bootstrap-server {bootstrap} --topic {topic} --from-beginning --max-messages 3"
    ).stdout
    assert out.splitlines() == ALERTS[:3]


def test_several_brokers_in_the_list(sh, bootstrap):
    """Comma-separated broker lists: a dead address in the list must not matter."""
    topic = unique_topic("device_status")
    create(sh, bootstrap, topic)
    dead = f"127.0.0.1:{free_port()}"
    sh.run(f"cat alerts.txt | kafka-console-producer --broker-list {dead},{bootstrap} --topic {topic}")
    out = sh.run(
        f"kafka-console-consumer --zookeeper {bootstrap},{dead} --topic {topic} --from-beginning "
        f"--max-messages {len(ALERTS)}"
    ).stdout
    assert out.splitlines() == ALERTS


def test_each_typed_line_is_a_message(sh, bootstrap):
    topic = unique_topic("device_status")
    create(sh, bootstrap, topic)
    producer = sh.popen(f"kafka-console-producer --broker-list {bootstrap} --topic {topic}", stdin=subprocess.PIPE)
    typed = ["hello", "a line with   spaces", "last one"]
    for line in typed:
        producer.stdin.write(line + "\n")
        producer.stdin.flush()
        time.sleep(0.2)
    producer.stdin.close()
    try:
        assert producer.wait(COMMAND_TIMEOUT_S) == 0, producer.stderr.read()
    finally:
        if producer.poll() is None:
            producer.kill()
    out = sh.run(
        f"kafka-console-consumer --zookeeper {bootstrap} --topic {topic} --from-beginning --max-messages 3"
    ).stdout
    assert out.splitlines() == typed


def test_consumer_without_from_beginning_reads_only_new_messages(sh, bootstrap):
    topic = unique_topic("device_status")
    create(sh, bootstrap, topic)
    sh.run(f"cat alerts.txt | kafka-console-producer --broker-list {bootstrap} --topic {topic}")

    consumer = sh.popen(f"kafka-console-consumer --zookeeper {bootstrap} --topic {topic} --max-messages 2")
    try:
        # The consumer starts at the end at some moment we cannot see, so keep
        # publishing fresh messages until it has printed two of them.
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        n = 0
        while consumer.poll() is None and time.monotonic() < deadline:
            sh.run(f"echo new-{n} | kafka-console-producer --broker-list {bootstrap} --topic {topic}")
            n += 1
            time.sleep(0.5)
        assert consumer.poll() is not None, "console consumer never printed two new messages"
        out, err = consumer.communicate(timeout=10)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    assert consumer.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2, lines
    assert all(line.startswith("new-") for line in lines), f"read old messages: {lines}"
    first = int(lines[0].split("-")[1])
    assert lines == [f"new-{first}", f"new-{first + 1}"], lines
