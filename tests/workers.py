"""Run real `newsflow worker` processes against the test broker, and read topics back.

Each test gets its own app id and topic names, so tests never see each other's records or
consumer groups. Workers are stopped by their PID, with SIGTERM, as an operator would.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(bootstrap: str, prefix: str, **extra: str) -> dict[str, str]:
    """Environment for one isolated newsflow deployment on the test broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(
        KAFKA_BOOTSTRAP=bootstrap,
        NEWSFLOW_APP_ID=prefix,
        NEWSFLOW_TOPIC_RAW=f"{prefix}.raw",
        NEWSFLOW_TOPIC_ENRICHED=f"{prefix}.enriched",
        NEWSFLOW_TOPIC_DEADLETTER=f"{prefix}.deadletter",
        NEWSFLOW_PARTITIONS="4",
        NEWSFLOW_LOG_FORMAT="text",
        NEWSFLOW_HEALTH_INTERVAL_S="0.5",
        NEWSFLOW_STATS_INTERVAL_S="1",
        # A short session lets the group notice a stopped member quickly in the restart tests.
        NEWSFLOW_SESSION_TIMEOUT_S="10",
        NEWSFLOW_HEARTBEAT_INTERVAL_S="1",
        NEWSFLOW_REBALANCE_TIMEOUT_S="20",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Worker:
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        env = dict(self.env, NEWSFLOW_WEB_PORT=str(self.port), NEWSFLOW_DATA_DIR=str(self.data_dir))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ready(self) -> dict | None:
        try:
            status, body = self.get("/readyz")
        except OSError:
            return None
        return orjson.loads(body) | {"status": status}

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"worker exited early:\n{self.log_tail()}"
            last = self.ready()
            if last and last["ready"]:
                return
            time.sleep(0.3)
        raise AssertionError(f"worker not ready after {timeout}s: {last}\n{self.log_tail()}")

    def metrics(self) -> dict[str, float]:
        _, body = self.get("/metrics")
        values: dict[str, float] = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def stop(self, timeout: float = 40.0) -> tuple[int, float]:
        """SIGTERM by PID; returns (exit code, seconds it took)."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


async def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4_000_000)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=(keys[i] if keys else None)) for i, v in enumerate(values)]
        for fut in futures:
            await fut
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list:
    """Read `count` records from the start of `topic` (fails after `timeout`), then 1 s more to
    catch any extra record that should not be there."""
    return await read_until(bootstrap, topic, lambda records, _new: len(records) >= count, timeout)


async def consume_ids(bootstrap: str, topic: str, wanted: set[str], timeout: float = 60.0) -> list:
    """Read `topic` from the start until a record has come for every article id in `wanted` (or
    `timeout` passes), then 1 s more. Counting records would not do after a rebalance: processing is
    at-least-once, so the records redone there are published twice, and a count can be reached while
    some articles are still on their way."""
    seen: set[str] = set()

    def done(_records: list, new: list) -> bool:
        seen.update(orjson.loads(rec.value)["id"] for rec in new)
        return wanted <= seen

    return await read_until(bootstrap, topic, done, timeout)


async def read_until(bootstrap: str, topic: str, done, timeout: float) -> list:
    """Records of `topic` from the start until `done(records, new_records)` or `timeout`, then 1 s more."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        finished = done(records, [])
        while not finished and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            new = [rec for recs in batch.values() for rec in recs]
            records.extend(new)
            finished = done(records, new)
        extra_deadline = time.monotonic() + 1.0
        while time.monotonic() < extra_deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()
    return records


def run(coro):
    return asyncio.run(coro)
