"""`newsflow bench`: throughput and latency, one JSON object on stdout, progress on stderr.

Figures (see README, Benchmarks):
  article_files               the files the bench articles are cycled from: the development sets'
                              (../shared/data), or the bundled samples when those are missing (a
                              warning on stderr: figures over the samples are not comparable)
  core                        which implementation of the core's hot steps ran: "native" (the
                              compiled twin, streams.native) or "python" (NEWSFLOW_CORE, or not built)
  process_articles_per_s      batch mode (`newsflow process` core) over the bench articles
  classify_articles_per_s     the classifier alone on the prepared articles, with the embedding it reads
  dedup_*                     the dedup step vs a plain datasketch MinHashLSH baseline (streams.benchmarks);
                              with the twin, also the Python core's time and speedup in the same rounds
  pipeline_articles_per_s     one worker process through the real broker: a backlog of raw articles
                              drained to enriched records (end to end: raw -> 3 hops -> enriched),
                              from the worker's first consumed record to the last enriched one
  worker_cpu_ms_per_article   the worker process's CPU time over that drain, per article (Linux)
  worker_stage_ms_per_article where that time went: the worker's own per-stage timers (its
                              newsflow_stage_duration_seconds sums) per article: the pure core's
                              prepare, fingerprint, classify and dedup, and publish (building the
                              enriched records; sending them is Kafka client time, counted in other)
  worker_other_ms_per_article the rest of the worker's CPU per article: Kafka clients, Faust, the
                              internal hops' encoding, table state and changelogs
  passthrough_articles_per_s  plain aiokafka consume + produce of the same records on the same broker
  ratio                       pipeline / passthrough
  latency_p50_s, latency_p99_s  ingest-to-publish time at a steady offered load below capacity
The broker is KAFKA_BOOTSTRAP when set, else a temporary local one started (and stopped) here.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from .config import Settings

if TYPE_CHECKING:   # imported where it runs: the CLI need not import the whole core to start
    from .pipeline import Pipeline

REPO = Path(__file__).resolve().parent.parent
DEV_DATA = REPO.parent / "shared" / "data"
DEV_FILES = ("dedup-copies.articles.jsonl", "dedup-stories.articles.jsonl", "topics.articles.jsonl")
SAMPLES = REPO / "samples" / "articles.jsonl"


def progress(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


def bench_sources() -> list[Path]:
    """The development sets' article files when they are there (../shared/data), else the samples."""
    return [DEV_DATA / f for f in DEV_FILES if (DEV_DATA / f).exists()] or [SAMPLES]


def bench_articles(count: int, path: Path | None = None) -> list[bytes]:
    """`count` raw records of realistic full-article size. The development sets' full articles
    (about 2,000 distinct ones, a third of them syndicated copies) are used when present
    (measurement only: nothing of them is shipped); else the bundled samples. Cycling past the
    end gives each record a new id, so later rounds are copies of earlier ones."""
    sources = [path] if path else bench_sources()
    base = [orjson.loads(line) for src in sources for line in src.read_bytes().splitlines() if line.strip()]
    # Full articles only (a headline with a one-line lead is not what the throughput target is about).
    base = [a for a in base if len((a.get("body") or "")) > 1000] or base
    out = []
    for i in range(count):
        article = dict(base[i % len(base)])
        article["id"] = f"{article.get('id', 'a')}-r{i // len(base)}"
        out.append(orjson.dumps(article))
    return out


def bench_batch(pipeline: Pipeline, records: list[bytes]) -> dict:
    from .batch import BatchProcessor
    from .prepare import prepare

    processor = BatchProcessor(pipeline)
    processor.process_record(records[0])  # load models outside the timing
    started = time.perf_counter()
    for data in records:
        processor.process_record(data)
    process_s = time.perf_counter() - started

    prepared = [prepare(a["title"], a.get("body"), a.get("html")) for a in map(orjson.loads, records)]
    # As the pipeline classifies, with the embedding of headline and lead it reads computed here too
    # (in the pipeline the fingerprint step computes it once for both): the classifier's whole cost.
    embed = pipeline.fingerprinter.embedding
    started = time.perf_counter()
    for p in prepared:
        pipeline.classify(p.title, p.text, embedding=embed(p))
    classify_s = time.perf_counter() - started
    return {
        "process_articles_per_s": round(len(records) / process_s, 1),
        "process_ms_per_article": round(1000 * process_s / len(records), 3),
        "classify_articles_per_s": round(len(records) / classify_s, 1),
        "classify_share_of_process": round(classify_s / process_s, 3),
        "mean_article_chars": round(sum(len(p.text) for p in prepared) / len(prepared)),
    }


def bench_dedup(pipeline: Pipeline, records: list[bytes]) -> dict:
    try:
        from .benchmarks import dedup_speed
    except ImportError:
        return {}
    from .fingerprint import Fingerprinter

    python_core = Fingerprinter() if pipeline.native else None   # the reference, timed alongside
    return dedup_speed([orjson.loads(r) for r in records], fingerprinter=pipeline.fingerprinter,
                       checks=pipeline.sketch_checks, python_fingerprinter=python_core)


async def _drain(bootstrap: str, topic: str, count: int, timeout: float, worker=None) -> list:
    """Read `count` records; stops early (raising) if the worker process has died."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None, fetch_max_bytes=52_428_800)
    await consumer.start()
    got = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            if worker is not None and worker.poll() is not None:
                raise RuntimeError(f"the worker exited with code {worker.returncode}")
            for recs in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                got.extend((time.time(), r) for r in recs)
    finally:
        await consumer.stop()
    return got


async def _produce(bootstrap: str, topic: str, records: list[bytes], rate: float | None = None) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1_048_576)
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for i, data in enumerate(records):
            if rate:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(topic, data, key=str(i).encode()))
        for fut in futures:
            await fut
    finally:
        await producer.stop()


async def _passthrough(bootstrap: str, source: str, sink: str, count: int) -> float:
    """Plain aiokafka: consume every record of `source` and produce it to `sink`; seconds taken."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"passthrough-{uuid.uuid4().hex[:8]}", enable_auto_commit=True,
                                fetch_max_bytes=52_428_800)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1_048_576)
    await consumer.start()
    await producer.start()
    try:
        done = 0
        started = time.perf_counter()
        while done < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for recs in batch.values():
                for r in recs:
                    await producer.send(sink, r.value, key=r.key)
                    done += 1
        await producer.flush()
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()


def bench_broker(settings: Settings, records: list[bytes], latency_records: int, latency_rate: float) -> dict:
    from . import broker as broker_mod
    from .topology import ensure_topics, topic_specs
    import dataclasses
    import subprocess

    own_broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    tmp = Path(tempfile.mkdtemp(prefix="newsflow-bench-"))
    if not bootstrap:
        ports = [_free_port(), _free_port()]
        while ports[1] == ports[0]:
            ports[1] = _free_port()
        own_broker = broker_mod.BrokerConfig.from_env(port=ports[0], controller_port=ports[1], data_dir=tmp / "kafka")
        progress(f"starting a local broker on 127.0.0.1:{ports[0]}")
        broker_mod.start(own_broker, timeout=120, die_with_parent=True)
        bootstrap = own_broker.bootstrap
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(KAFKA_BOOTSTRAP=bootstrap, NEWSFLOW_APP_ID=prefix, NEWSFLOW_TOPIC_RAW=f"{prefix}.raw",
               NEWSFLOW_TOPIC_ENRICHED=f"{prefix}.enriched", NEWSFLOW_TOPIC_DEADLETTER=f"{prefix}.deadletter",
               NEWSFLOW_DATA_DIR=str(tmp / "worker"), NEWSFLOW_WEB_PORT=str(_free_port()),
               NEWSFLOW_LOG_FORMAT="text", NEWSFLOW_LOG_LEVEL="WARNING",
               # The settings that tune a worker's speed are the caller's (the rest are the bench's own).
               NEWSFLOW_CORE=settings.core, NEWSFLOW_BATCH_MAX=str(settings.batch_max),
               NEWSFLOW_BATCH_WITHIN_S=str(settings.batch_within_s), NEWSFLOW_EVENT_LOOP=settings.event_loop,
               NEWSFLOW_FETCH_WAIT_MS=str(settings.fetch_wait_ms), NEWSFLOW_STORE=settings.store)
    bench_settings = dataclasses.replace(settings, kafka_bootstrap=bootstrap, app_id=prefix,
                                         topic_raw=f"{prefix}.raw", topic_enriched=f"{prefix}.enriched",
                                         topic_deadletter=f"{prefix}.deadletter")
    worker = None
    try:
        asyncio.run(ensure_topics(bench_settings))
        asyncio.run(broker_mod.create_topics(bootstrap, {f"{prefix}.passthrough": (settings.partitions, None)}))
        progress(f"producing a backlog of {len(records)} raw articles")
        asyncio.run(_produce(bootstrap, bench_settings.topic_raw, records))

        progress("passthrough: plain aiokafka consume + produce of the same records")
        passthrough_s = asyncio.run(_passthrough(bootstrap, bench_settings.topic_raw, f"{prefix}.passthrough",
                                                 len(records)))

        progress("pipeline: one worker drains the backlog")
        log = open(tmp / "worker.log", "ab")
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, cwd=REPO,
                                  stdout=log, stderr=subprocess.STDOUT)
        watch = _ConsumptionWatch(int(env["NEWSFLOW_WEB_PORT"]), worker.pid)
        watch.start()
        got = asyncio.run(_drain(bootstrap, bench_settings.topic_enriched, len(records), timeout=900, worker=worker))
        watch.stop()
        if len(got) < len(records):
            raise RuntimeError(f"only {len(got)} of {len(records)} enriched; worker log: {tmp / 'worker.log'}")
        if watch.started_at is None:
            raise RuntimeError("never saw the worker's consumed counter move (its /metrics did not answer)")
        # End to end: from the worker's first consumed raw record to the last enriched record. (The
        # first enriched record is no start mark: with a backlog, each hop drains most of it before
        # the next one publishes much, so the last hop's drain alone looks three times faster.)
        last = got[-1][0]
        pipeline_s = max(last - watch.started_at, 1e-9)
        pipeline_rate = len(got) / pipeline_s
        cpu_s = _cpu_seconds(worker.pid)
        cpu_ms = ((cpu_s - watch.cpu_at_start) / len(got) * 1e3
                  if cpu_s is not None and watch.cpu_at_start is not None else None)
        stage_ms = {stage: round(seconds / len(got) * 1e3, 3)
                    for stage, seconds in _stage_seconds(watch.url).items()}

        progress(f"latency: {latency_records} articles at {latency_rate:.0f}/s")
        fresh = [orjson.dumps(orjson.loads(r) | {"id": f"lat-{i}"}) for i, r in enumerate(records[:latency_records])]
        asyncio.run(_produce(bootstrap, bench_settings.topic_raw, fresh, rate=latency_rate))
        tail = asyncio.run(_drain(bootstrap, bench_settings.topic_enriched, len(records) + len(fresh), timeout=300,
                                  worker=worker))
        latencies = []
        for _, rec in tail:
            value = orjson.loads(rec.value)
            if value["id"].startswith("lat-"):  # the enriched topic interleaves partitions: pick by id
                latencies.append(rec.timestamp / 1000 - _epoch(value["ingested_at"]))
        latencies.sort()
        return {
            "pipeline_articles_per_s": round(pipeline_rate, 1),
            "pipeline_seconds": round(pipeline_s, 2),
            "worker_cpu_ms_per_article": round(cpu_ms, 3) if cpu_ms is not None else None,
            "worker_stage_ms_per_article": stage_ms,
            "worker_other_ms_per_article": (round(cpu_ms - sum(stage_ms.values()), 3)
                                            if cpu_ms is not None and stage_ms else None),
            "passthrough_articles_per_s": round(len(records) / passthrough_s, 1),
            "ratio": round(pipeline_rate / (len(records) / passthrough_s), 3),
            "latency_p50_s": round(latencies[len(latencies) // 2], 4) if latencies else None,
            "latency_p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 4) if latencies else None,
            "latency_offered_rate_per_s": latency_rate,
            "latency_samples": len(latencies),
            "broker": bootstrap,
        }
    except BaseException:
        progress(f"bench failed; its broker data and worker log are kept in {tmp}")
        tmp = None
        raise
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
        if own_broker is not None:
            broker_mod.stop(own_broker)
        elif tmp is not None:
            # Someone else's broker: leave it as found (the run's topics hold ~100 MB of copies).
            scratch = [*topic_specs(bench_settings), f"{prefix}.passthrough"]
            try:
                asyncio.run(broker_mod.delete_topics(bootstrap, scratch))
            except Exception as exc:  # the figures are measured; a failed clean-up is only reported
                progress(f"could not delete the bench topics ({prefix}.*): {exc}")
        if tmp is not None:
            # A run leaves a few hundred MB of broker log and worker state: repeated runs would
            # fill the disk.
            shutil.rmtree(tmp, ignore_errors=True)


def _scrape(metrics_url: str, timeout: float) -> str:
    """The worker's /metrics text, or "" when it does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def _stage_seconds(metrics_url: str) -> dict[str, float]:
    """Seconds the worker spent in each pipeline stage so far (its newsflow_stage_duration_seconds
    sums); {} when /metrics does not answer."""
    prefix = 'newsflow_stage_duration_seconds_sum{stage="'
    return {line[len(prefix):].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in _scrape(metrics_url, timeout=5).splitlines() if line.startswith(prefix)}


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _ConsumptionWatch:
    """Polls the worker's /metrics until its consumed-records counter first moves: the moment the
    pipeline starts on the backlog (within one poll interval), and the worker's CPU time then."""

    INTERVAL_S = 0.05

    def __init__(self, port: int, pid: int) -> None:
        import threading

        self.url = f"http://127.0.0.1:{port}/metrics"
        self.pid = pid
        self.started_at: float | None = None
        self.cpu_at_start: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-consumption-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for line in _scrape(self.url, timeout=1).splitlines():
                if line.startswith("newsflow_articles_consumed_total ") and float(line.split()[1]) > 0:
                    self.cpu_at_start = _cpu_seconds(self.pid)
                    self.started_at = time.time() - self.INTERVAL_S / 2
                    return
            self._stop.wait(self.INTERVAL_S)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _epoch(rfc3339: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def run_bench(settings: Settings, articles: int, skip_broker: bool) -> dict:
    import signal

    # SIGTERM unwinds like Ctrl-C, so the worker and the broker this bench started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sources = bench_sources()
    if sources == [SAMPLES]:
        # The samples are 20-odd articles, most of them short: the figures are not comparable with
        # those over the development sets' 2,000 full articles (README, Benchmarks).
        progress(f"warning: {DEV_DATA} not found; benchmarking the bundled samples instead")
    records = bench_articles(articles)
    from .pipeline import Pipeline

    pipeline = Pipeline(settings)   # the batch figures and the dedup step's share it
    result: dict = {"articles": len(records), "article_files": [p.name for p in sources],
                    "partitions": settings.partitions,
                    "core": "native" if pipeline.native else "python"}
    progress(f"batch mode over {len(records)} articles")
    result.update(bench_batch(pipeline, records))
    progress("dedup step vs datasketch baseline")
    result["dedup"] = bench_dedup(pipeline, records[: min(len(records), 2000)])
    if not skip_broker:
        result.update(bench_broker(settings, records, latency_records=min(600, len(records)), latency_rate=100.0))
    return result
