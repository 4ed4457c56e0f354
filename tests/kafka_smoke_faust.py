"""A minimal Faust app that proves faust-streaming works against the local Kafka 4 broker.

Not collected by pytest (no test_ prefix); tests/test_broker.py runs it as a worker subprocess:
    faust -A tests.kafka_smoke_faust worker -l info --web-host 127.0.0.1 --web-port N
It reads `<prefix>.in`, counts each key in a Table (a changelog topic, so Faust's own topic creation,
transactions-free producing and changelog recovery all run) and forwards `{key, count}` to `<prefix>.out`.

The settings below are the ones measured to make a worker active quickly on a single local broker;
streams/app.py uses the same.
Environment: KAFKA_BOOTSTRAP, SMOKE_PREFIX (topic/app prefix), SMOKE_DATA_DIR, SMOKE_STORE (memory:// or rocksdb://),
SMOKE_GUARANTEE (at_least_once or exactly_once).
"""
from __future__ import annotations

import os

import faust

PREFIX = os.environ.get("SMOKE_PREFIX", "smoke")
STORE = os.environ.get("SMOKE_STORE", "memory://")
GUARANTEE = os.environ.get("SMOKE_GUARANTEE", "at_least_once")

app = faust.App(
    f"{PREFIX}-app",
    broker=f"kafka://{os.environ.get('KAFKA_BOOTSTRAP', '127.0.0.1:9092')}",
    store=STORE,
    datadir=os.environ.get("SMOKE_DATA_DIR", "/tmp/newsflow-faust-smoke"),
    topic_partitions=2,
    topic_replication_factor=1,
    consumer_auto_offset_reset="earliest",
    # A single-process worker: its group has one member, so nothing is gained by waiting for others.
    broker_session_timeout=float(os.environ.get("SMOKE_SESSION_TIMEOUT_S", "10")),
    broker_heartbeat_interval=float(os.environ.get("SMOKE_HEARTBEAT_INTERVAL_S", "1")),
    broker_rebalance_timeout=float(os.environ.get("SMOKE_REBALANCE_TIMEOUT_S", "10")),
    consumer_group_instance_id=os.environ.get("SMOKE_INSTANCE_ID") or None,
    topic_disable_leader=True,
    stream_wait_empty=False,
    table_standby_replicas=0,
    processing_guarantee=GUARANTEE,
    web_enabled=True,
)

source = app.topic(f"{PREFIX}.in", key_type=str, value_type=str, partitions=2)
sink = app.topic(f"{PREFIX}.out", key_type=str, value_type=dict, partitions=2)
counts = app.Table(f"{PREFIX}-counts", default=int, partitions=2)


@app.agent(source)
async def count_and_forward(stream):
    async for key, value in stream.items():
        counts[key] += 1
        await sink.send(key=key, value={"key": key, "value": value, "count": counts[key]})
