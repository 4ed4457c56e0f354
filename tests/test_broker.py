"""The local broker (streams.broker): its config, its process handling, and Kafka and Faust against it."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams import broker

REPO_ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------ without Kafka


def test_server_properties_bind_loopback_only_and_suit_one_node(tmp_path):
    config = broker.BrokerConfig(port=29092, controller_port=29093, data_dir=tmp_path)
    props = dict(
        line.split("=", 1)
        for line in broker.render_server_properties(config).splitlines()
        if line and not line.startswith("#")
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
        assert props[key] == "1", key


def test_config_reads_env_and_arguments_win(tmp_path):
    env = {"NEWSFLOW_BROKER_PORT": "19999", "NEWSFLOW_BROKER_DIR": str(tmp_path), "NEWSFLOW_KAFKA_VERSION": "4.0.0"}
    from_env = broker.BrokerConfig.from_env(env)
    assert (from_env.port, from_env.controller_port, from_env.data_dir, from_env.version) == (
        19999, 20000, tmp_path, "4.0.0")
    assert from_env.bootstrap == "127.0.0.1:19999"
    overridden = broker.BrokerConfig.from_env(env, port=18000, data_dir="var/elsewhere")
    assert overridden.port == 18000 and overridden.controller_port == 18001
    assert overridden.data_dir == REPO_ROOT / "var" / "elsewhere"
    with pytest.raises(broker.BrokerError, match="not a port"):
        broker.BrokerConfig.from_env({"NEWSFLOW_BROKER_PORT": "ninety"})
    with pytest.raises(broker.BrokerError, match="must differ"):
        broker.BrokerConfig.from_env({}, port=9092, controller_port=9092)


def test_stop_never_signals_a_process_that_is_not_this_broker(tmp_path):
    # A stale pidfile whose PID now belongs to something else (here: a sleeping child) must not be killed.
    config = broker.BrokerConfig(data_dir=tmp_path)
    other = subprocess.Popen(["sleep", "30"])
    try:
        config.pid_file.write_text(f"{other.pid}\n")
        assert broker.stop(config, timeout=1) is False
        assert other.poll() is None
        assert not config.pid_file.exists()
        assert broker.status(config)["running"] is False
    finally:
        other.kill()
        other.wait()


def test_start_refuses_a_port_in_use_before_launching_anything(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = broker.BrokerConfig(port=port, controller_port=port + 1, data_dir=tmp_path)
        with pytest.raises(broker.BrokerError, match=f"127.0.0.1:{port} is already in use"):
            broker.start(config, timeout=5)
    assert not config.pid_file.exists()



def test_cluster_id_never_starts_with_a_dash(monkeypatch):
    # StorageTool's argument parser reads "--cluster-id -abc..." as a missing value, so one fresh
    # broker in 64 failed to format. The first draw here encodes to "-...", the second does not.
    import uuid

    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x04" + bytes(15))])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(draws))
    cluster_id = broker._random_cluster_id()
    assert cluster_id == "BAAAAAAAAAAAAAAAAAAAAA"
    assert len(cluster_id) == 22

def test_fetch_jars_uses_the_cache_without_maven(monkeypatch, tmp_path):
    libs = tmp_path / "9.9.9" / "libs"
    libs.mkdir(parents=True)
    (libs / broker.JARS_COMPLETE_STAMP).write_text("9.9.9\n")
    monkeypatch.setattr(broker, "JAR_CACHE", tmp_path)
    monkeypatch.setattr(broker.shutil, "which", lambda name: None)  # mvn "missing": any call to it would fail
    assert broker.fetch_jars("9.9.9") == libs
    (libs / broker.JARS_COMPLETE_STAMP).unlink()  # an interrupted download is fetched again
    with pytest.raises(broker.BrokerError, match="mvn"):
        broker.fetch_jars("9.9.9")


# --------------------------------------------------------------------------------------- with Kafka


@pytest.mark.kafka
async def test_produce_consume_round_trip_keeps_keys_on_one_partition(kafka_bootstrap, fresh_topic_prefix):
    topic = f"{fresh_topic_prefix}.roundtrip"
    assert await broker.create_topics(kafka_bootstrap, {topic: (3, None)}) == [topic]
    sent = [(f"key-{i % 4}".encode(), json.dumps({"n": i}).encode()) for i in range(40)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in sent:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=f"{fresh_topic_prefix}-group",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    received = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                received.extend(records)
    finally:
        await consumer.stop()
    assert sorted((r.key, r.value) for r in received) == sorted(sent)
    partitions_per_key = {}
    for record in received:
        partitions_per_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(parts) == 1 for parts in partitions_per_key.values())
    # Within a key, order is kept.
    for key in partitions_per_key:
        numbers = [json.loads(r.value)["n"] for r in received if r.key == key]
        assert numbers == sorted(numbers)


@pytest.mark.kafka
async def test_create_topics_creates_once_and_rejects_a_partition_mismatch(kafka_bootstrap, fresh_topic_prefix):
    wide, compacted = f"{fresh_topic_prefix}.wide", f"{fresh_topic_prefix}.compacted"
    specs = {wide: (4, None), compacted: (2, {"cleanup.policy": "compact"})}
    assert sorted(await broker.create_topics(kafka_bootstrap, specs)) == sorted(specs)
    assert await broker.create_topics(kafka_bootstrap, specs) == []  # existing and matching: nothing to do

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics([wide, compacted])}
        assert described == {wide: 4, compacted: 2}
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, compacted)])
        entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
        assert entries["cleanup.policy"] == "compact"
    finally:
        await admin.close()

    with pytest.raises(broker.BrokerError, match=rf"{wide} has 4 partitions, expected 8"):
        await broker.create_topics(kafka_bootstrap, {wide: (8, None), f"{fresh_topic_prefix}.new": (1, None)})
    # A mismatch creates nothing, not even the topics that were missing.
    assert await broker.create_topics(kafka_bootstrap, {f"{fresh_topic_prefix}.new": (1, None)}) == [
        f"{fresh_topic_prefix}.new"]


@pytest.mark.kafka
def test_broker_lifecycle_start_status_stop_by_pid(broker_config_factory):
    config = broker_config_factory()
    assert broker.status(config)["running"] is False
    started = broker.start(config, timeout=120, die_with_parent=True)
    try:
        assert started["running"] is True
        assert started["version"] == config.version
        assert started["bootstrap"] == config.bootstrap
        pid = started["pid"]
        assert pid == int(config.pid_file.read_text())
        assert broker.start(config)["pid"] == pid  # already running: found, not started twice
        assert "Kafka version: " + config.version in config.log_file.read_text()
    finally:
        assert broker.stop(config) is True
    assert not Path(f"/proc/{pid}").exists()
    assert not config.pid_file.exists()
    assert broker.status(config) == {**started, "running": False, "pid": None}
    assert broker.main(["status", "--dir", str(config.data_dir), "--port", str(config.port)]) == 3


@pytest.mark.kafka
async def test_faust_worker_consumes_keeps_table_state_and_produces(kafka_bootstrap, fresh_topic_prefix, tmp_path):
    """faust-streaming 0.15.3 against this Kafka: join, changelog table, forward; state survives a restart."""
    prefix = fresh_topic_prefix
    await broker.create_topics(kafka_bootstrap, {f"{prefix}.in": (2, None), f"{prefix}.out": (2, None)})

    async def run_worker_and_feed(first: int, count: int) -> list[dict]:
        log_path = tmp_path / f"worker-{first}.log"
        env = {**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap, "SMOKE_PREFIX": prefix,
               "SMOKE_STORE": "rocksdb://", "SMOKE_DATA_DIR": str(tmp_path / "faust")}
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "tests.kafka_smoke_faust", "worker", "-l", "info",
                 "--web-host", "127.0.0.1", "--web-port", str(broker.free_loopback_ports(1)[0])],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=broker.terminate_when_parent_dies,
            )
        try:
            await wait_for_log_line(log_path, "[^Worker]: Ready", worker, timeout=60)
            await produce(kafka_bootstrap, f"{prefix}.in",
                          [(f"k{i % 3}", f"v{i}") for i in range(first, first + count)])
            return await consume(kafka_bootstrap, f"{prefix}.out", first + count)
        finally:
            worker.terminate()
            worker.wait(timeout=60)

    first_run = await run_worker_and_feed(0, 6)
    assert sorted(r["value"] for r in first_run) == [f"v{i}" for i in range(6)]
    assert max(r["count"] for r in first_run) == 2
    both_runs = await run_worker_and_feed(6, 6)
    # The second worker recovered the counts (rocksdb + changelog), so each key continues from 2.
    final_counts = {}
    for record in both_runs:
        final_counts[record["key"]] = max(final_counts.get(record["key"], 0), record["count"])
    assert final_counts == {"k0": 4, "k1": 4, "k2": 4}


async def wait_for_log_line(path: Path, needle: str, proc: subprocess.Popen, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        if needle in text:
            return
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}:\n{text[-3000:]}")
        await asyncio.sleep(0.2)
    pytest.fail(f"no {needle!r} within {timeout} s:\n{path.read_text(errors='replace')[-3000:]}")


async def produce(bootstrap: str, topic: str, items: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in items:
            await producer.send(topic, key=key.encode(), value=json.dumps(value).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[dict]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    values: list[dict] = []
    try:
        deadline = time.monotonic() + timeout
        while len(values) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(json.loads(r.value) for r in records)
    finally:
        await consumer.stop()
    return values


def test_no_broker_at_the_address_is_one_clear_line_not_a_traceback(tmp_path):
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(KAFKA_BOOTSTRAP=f"127.0.0.1:{port}", NEWSFLOW_BROKER_WAIT_S="2", NEWSFLOW_DATA_DIR=str(tmp_path))
    repo = Path(__file__).resolve().parent.parent
    topics = subprocess.run([sys.executable, "-m", "streams.cli", "topics"], env=env, cwd=repo,
                            capture_output=True, text=True, timeout=60)
    assert topics.returncode == 1 and f"cannot reach Kafka at 127.0.0.1:{port}" in topics.stderr
    assert "Traceback" not in topics.stderr
    for command in (["produce", str(repo / "samples" / "articles.jsonl")], ["tail", "articles.raw"]):
        run = subprocess.run([sys.executable, "-m", "streams.cli", *command], env=env, cwd=repo,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and f"cannot reach Kafka at 127.0.0.1:{port}" in run.stderr, command
        assert "Traceback" not in run.stderr and "Unclosed" not in run.stderr, command
    started = time.monotonic()
    worker = subprocess.run([sys.executable, "-m", "streams.cli", "worker"], env=env, cwd=repo,
                            capture_output=True, text=True, timeout=60)
    assert worker.returncode == 1 and "Traceback" not in worker.stderr
    assert "retrying" in worker.stderr, "a starting worker waits for a broker that may be starting too"
    assert "gave up after NEWSFLOW_BROKER_WAIT_S=2 s" in worker.stderr.splitlines()[-1]
    assert time.monotonic() - started < 30
