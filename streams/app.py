"""The Faust shell around the pure core: topics, agents, tables, web views, metrics.

Three hops, so that an article meets every earlier copy whatever partition or worker it went to:

  ingest  (raw topic, any partition): admit, prepare, fingerprint, classify. Bad input goes to the
          dead-letter topic here. The article's routing keys are grouped by the partition that owns
          them (topology.partition_for) and one probe per owning partition goes to dedup-probes; the
          analysed article itself goes to dedup-answers on its home partition (by article id).
  index   (dedup-probes, by routing key): each partition holds the dedup index for the keys it owns
          (Faust table `dedup-index`, changelog + RocksDB). It probes with the article's keys, indexes
          the article, and answers to the article's home partition.
  decide  (dedup-answers, by article id): collects the article and one answer per probed partition
          (table `dedup-pending`, so a restart loses nothing), combines them and publishes the
          enriched record.

Nothing here decides anything about text: that is streams.pipeline / dedup / classify.
"""
from __future__ import annotations

import asyncio
import logging
import os
import struct
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from typing import Any, Iterator

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .config import Settings
from .dedup import DedupIndex, DedupResult, Match, combine
from .fingerprint import Fingerprint
from .logs import logging_config
from .metrics import Metrics
from .pipeline import Pipeline, root_seen_at_of
from .records import Rejection, deadletter_record
from . import PIPELINE_VERSION, topology

log = logging.getLogger("newsflow.worker")


class TablePartitionStore:
    """streams.state.KeyValueStore over one partition's share of a Faust table.

    Keys carry the partition number as a prefix: the in-memory store is one dict for all
    partitions, and expiry must only touch (and write tombstones for) the partition whose event is
    being processed, since Faust writes changelog records to the current event's partition.
    """

    def __init__(self, table: Any, partition: int) -> None:
        self.table = table
        self.prefix = struct.pack(">H", partition)

    def get(self, key: bytes) -> bytes | None:
        return self.table.get(self.prefix + key)

    def put(self, key: bytes, value: bytes) -> None:
        self.table[self.prefix + key] = value

    def delete(self, key: bytes) -> None:
        full = self.prefix + key
        if self.table.get(full) is not None:
            del self.table[full]

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        n = len(self.prefix)
        snapshot = [(k[n:], v) for k, v in self.table.items() if k[:n] == self.prefix]
        return iter(snapshot)


class NewsflowApp(faust.App):
    """faust.App with a shutdown watchdog: a worker that cannot stop in time exits non-zero."""

    shutdown_timeout_s: float = 30.0

    async def on_stop(self) -> None:
        timeout = self.shutdown_timeout_s

        def give_up() -> None:
            log.error("shutdown did not finish within %.0f s (a stuck agent or an unreachable broker); "
                      "exiting with status 1, uncommitted work will be redelivered", timeout)
            logging.shutdown()
            os._exit(1)

        watchdog = threading.Timer(timeout, give_up)
        watchdog.daemon = True
        watchdog.start()
        await super().on_stop()


def create_app(settings: Settings, metrics: Metrics | None = None, pipeline: Pipeline | None = None) -> faust.App:
    metrics = metrics or Metrics()
    pipeline = pipeline or Pipeline(settings)
    n = settings.partitions
    store = "rocksdb://" if settings.store == "rocksdb" else "memory://"
    app = NewsflowApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=store,
        datadir=os.path.abspath(settings.data_dir),
        topic_partitions=n,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=settings.static_member_id or None,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_commit_interval=1.0,
        producer_linger=0.005,
        producer_max_request_size=max(settings.max_record_bytes * 2 + 65536, 1_048_576),
        table_standby_replicas=settings.standby_replicas,
        logging_config=logging_config(settings),
    )
    app.shutdown_timeout_s = settings.shutdown_timeout_s
    app.newsflow_metrics = metrics  # type: ignore[attr-defined]
    app.newsflow_settings = settings  # type: ignore[attr-defined]

    raw = app.topic(settings.topic_raw, key_type=bytes, value_type=bytes, key_serializer="raw",
                    value_serializer="raw", partitions=n)
    enriched = app.topic(settings.topic_enriched, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=n)
    deadletter = app.topic(settings.topic_deadletter, key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw", partitions=n)
    probes = app.topic(topology.probes_topic(settings), key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw", partitions=n)
    answers = app.topic(topology.answers_topic(settings), key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw", partitions=n)
    def bytes_table(name: str) -> Any:
        # Keys are binary hashes and values already-encoded bytes: the table, its store and its
        # changelog (which recovery decodes) must all pass them through untouched. Faust would
        # otherwise derive json serializers from the types.
        changelog = app.topic(topology.changelog_topic(settings, name), partitions=n, key_type=bytes,
                              value_type=bytes, key_serializer="raw", value_serializer="raw",
                              internal=True, compacting=True, deleting=False)
        table = app.Table(name, default=None, partitions=n, key_type=bytes, value_type=bytes,
                          changelog_topic=changelog)
        table.key_serializer = table.value_serializer = "raw"
        return table

    index_table = bytes_table(topology.TABLE_INDEX)
    pending_table = bytes_table(topology.TABLE_PENDING)
    health = WorkerHealth(app, settings, metrics)
    app.newsflow_health = health  # type: ignore[attr-defined]

    async def send_deadletter(data: bytes, rejection: Rejection, message: Any) -> None:
        record = deadletter_record(data, rejection, topic=message.topic, partition=message.partition,
                                   offset=message.offset, rejected_at=time.time(),
                                   pipeline_version=PIPELINE_VERSION)
        await deadletter.send(key=message.key, value=orjson.dumps(record))
        metrics.deadlettered.labels(rejection.reason).inc()

    @app.agent(raw, name="ingest")
    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            data = message.value if message.value is not None else b""
            metrics.consumed.inc()
            try:
                admitted = pipeline.admit(data)
                analysed = admitted if isinstance(admitted, Rejection) else pipeline.analyse(admitted)
            except Exception as exc:  # a bug in the core must not kill the worker or lose the record
                log.exception("internal error analysing a record at %s[%s]@%s", message.topic,
                              message.partition, message.offset)
                analysed = Rejection("internal_error", f"{type(exc).__name__}: {exc}")
            if isinstance(analysed, Rejection):
                await send_deadletter(data, analysed, message)
                continue
            for stage, seconds in analysed.timings.items():
                metrics.stage.labels(stage).observe(seconds)
            article_id = analysed.article.id
            id_key = article_id.encode()
            fp = analysed.fingerprint
            by_partition: dict[int, list[bytes]] = defaultdict(list)
            for key in fp.keys:
                by_partition[topology.partition_for(key, n)].append(key)
            home = topology.partition_for(id_key, n)
            ingested_at = message.timestamp or time.time()
            wire = analysed.to_wire()
            wire.update(type="article", id=article_id, ingested_at=ingested_at, expected=len(by_partition))
            await answers.send(key=id_key, value=orjson.dumps(wire), partition=home)
            for partition, keys in by_partition.items():
                probe = {"type": "probe", "id": article_id, "home": home, "seen_at": ingested_at,
                         "content_hash": fp.content_hash, "keys": [k.hex() for k in keys], "sketch": fp.sketch.hex()}
                await probes.send(key=id_key, value=orjson.dumps(probe), partition=partition)

    indexes: dict[int, DedupIndex] = {}
    last_expiry: dict[int, float] = {}

    @app.agent(probes, name="index")
    async def index(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            probe = orjson.loads(event.message.value)
            idx = indexes.get(partition)
            if idx is None:
                idx = indexes[partition] = DedupIndex(TablePartitionStore(index_table, partition),
                                                      window_s=settings.dedup_window_s)
            if probe["type"] == "adopt":
                result = DedupResult(**probe["result"])
                idx.adopt_root(probe["id"], result, probe["root_seen_at"])
                continue
            started = time.perf_counter()
            try:
                keys = [bytes.fromhex(k) for k in probe["keys"]]
                fp = Fingerprint(probe["content_hash"], tuple(keys), bytes.fromhex(probe["sketch"]))
                match = idx.probe(probe["id"], fp, probe["seen_at"], keys=keys)
            except Exception:
                # The article is still published (as not a duplicate): losing it would be worse.
                log.exception("dedup probe failed in partition %s; answering 'no match'", partition)
                match = None
            metrics.stage.labels("dedup").observe(time.perf_counter() - started)
            answer = {"type": "answer", "id": probe["id"], "from": partition,
                      "match": match.to_dict() if match else None}
            await answers.send(key=probe["id"].encode(), value=orjson.dumps(answer), partition=probe["home"])
            # Expiry runs inside the stream so its tombstones go to this partition's changelog.
            now = time.time()
            if now - last_expiry.get(partition, 0.0) >= settings.expiry_interval_s:
                last_expiry[partition] = now
                metrics.expired.inc(idx.expire(now))

    @app.agent(answers, name="decide")
    async def decide(stream: Any) -> None:
        async for event in stream.events():
            message = orjson.loads(event.message.value)
            key = message["id"].encode()
            stored = pending_table.get(key)
            state = orjson.loads(stored) if stored is not None else {"article": None, "answers": {}}
            if message["type"] == "article":
                state["article"] = message
            else:  # keyed by answering partition: a redelivered answer is not counted twice
                state["answers"][str(message["from"])] = message["match"]
            article = state["article"]
            if article is None or len(state["answers"]) < article["expected"]:
                pending_table[key] = orjson.dumps(state)
                continue
            started = time.perf_counter()
            matches = [Match.from_dict(m) for m in state["answers"].values() if m]
            result = combine(article["id"], matches)
            now = time.time()
            record = Pipeline.enriched(article, result, ingested_at=article["ingested_at"], processed_at=now)
            await enriched.send(key=key, value=orjson.dumps(record))
            if result.duplicate_of is not None:
                # Tell every partition that indexed this article which group it joined, so a later
                # copy found there through this article points at the group's first member.
                adopt = orjson.dumps({"type": "adopt", "id": article["id"], "result": asdict(result),
                                      "root_seen_at": root_seen_at_of(result, matches)})
                for partition in state["answers"]:
                    await probes.send(key=key, value=adopt, partition=int(partition))
            if stored is not None:
                del pending_table[key]
            metrics.enriched.inc()
            if result.duplicate_kind:
                metrics.duplicates.labels(result.duplicate_kind).inc()
            for topic in record["topics"]:
                metrics.topics.labels(topic).inc()
            metrics.stage.labels("publish").observe(time.perf_counter() - started)
            metrics.latency.observe(max(0.0, now - article["ingested_at"]))

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"alive": True, "pipeline_version": PIPELINE_VERSION})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        reasons = health.not_ready_reasons()
        return web.json({"ready": not reasons, "reasons": reasons}, status=200 if not reasons else 503)

    @app.timer(interval=settings.health_interval_s)
    async def refresh_health() -> None:
        await health.refresh()
        stats_due = time.time() - health.last_stats >= settings.stats_interval_s
        if stats_due:
            health.last_stats = time.time()
            articles = entries = size = 0
            for idx in indexes.values():
                s = idx.stats()
                articles += s.articles
                entries += s.entries
                size += s.bytes
            metrics.index_articles.set(articles)
            metrics.index_entries.set(entries)
            metrics.index_bytes.set(size)

    return app


class WorkerHealth:
    """Readiness: joined the group, tables recovered, broker reachable. Also feeds the lag gauge."""

    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.broker_ok = False
        self.broker_error = "not checked yet"
        self.last_stats = 0.0
        self._client: Any = None

    async def refresh(self) -> None:
        from aiokafka.client import AIOKafkaClient

        try:
            if self._client is None:
                self._client = AIOKafkaClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                              request_timeout_ms=5000)
                await asyncio.wait_for(self._client.bootstrap(), 5)
            await asyncio.wait_for(self._client.fetch_all_metadata(), 5)
            self.broker_ok, self.broker_error = True, ""
        except Exception as exc:
            self.broker_ok, self.broker_error = False, f"{type(exc).__name__}: {exc}"
            if self._client is not None:
                client, self._client = self._client, None
                try:
                    await client.close()
                except Exception:
                    pass
        self.metrics.broker_up.set(1 if self.broker_ok else 0)
        self._update_lag()
        self.metrics.ready.set(0 if self.not_ready_reasons() else 1)

    def _update_lag(self) -> None:
        consumer = getattr(self.app, "_consumer", None)
        if consumer is None:
            return
        try:
            assignment = consumer.assignment()
        except Exception:
            return
        for tp in assignment:
            if tp.topic.endswith("-changelog"):
                continue
            highwater = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)
            if highwater is None:
                continue
            lag = max(0, highwater - (committed or 0))
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def not_ready_reasons(self) -> list[str]:
        reasons = []
        if not self.broker_ok:
            reasons.append(f"broker unreachable: {self.broker_error}")
        app = self.app
        consumer = getattr(app, "_consumer", None)
        if app.rebalancing or consumer is None or not consumer.assignment():
            reasons.append("not a member of the consumer group yet (joining or rebalancing)")
        recovery = getattr(app.tables, "recovery", None) if app.tables else None
        if recovery is None or not recovery.completed.is_set():
            reasons.append("tables are still recovering from their changelogs")
        return reasons


def run_worker(settings: Settings) -> None:
    from prometheus_client import disable_created_metrics

    from .topology import ensure_topics

    disable_created_metrics()
    os.makedirs(settings.data_dir, exist_ok=True)
    # Topics first: a table's changelog must match its source topic, and the broker never auto-creates.
    created = asyncio.run(ensure_topics(settings))
    if created:
        log.info("created topics: %s", ", ".join(created))
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True,
                          logging_config=logging_config(settings), redirect_stdouts=False)
    worker.execute_from_commandline()
