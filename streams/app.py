"""The Faust shell around the pure core: topics, agents, tables, web views, metrics.

Three hops, so that an article meets every earlier copy whatever partition or worker it went to:

  ingest  (raw topic, any partition): admit, prepare, fingerprint, classify. Bad input goes to the
          dead-letter topic here. The article's routing keys are grouped by the partition that owns
          them (topology.partition_for) and one probe per owning partition goes to dedup-probes; the
          analysed article waits in this worker's memory (streams.pending), and its raw record stays
          unacknowledged until it is published, so a restart or rebalance consumes it again.
  index   (dedup-probes, by routing key): each partition holds the dedup index for the keys it owns
          (Faust table `dedup-index`, changelog + RocksDB). It probes with the article's keys, indexes
          the article, and answers to the article's home partition (the raw partition it came from).
  decide  (dedup-answers, by home partition): collects one answer per probed partition, combines
          them and publishes the enriched record. Faust gives one worker the same partition number of
          every topic, so the answers reach the worker that holds the article.

Nothing here decides anything about text: that is streams.pipeline / dedup / classify.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from typing import Any

import faust
import orjson
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .config import Settings
from .consumer import QuietMonitor, deliver_in_batches, settled_batches, wait_for_fetches
from .dedup import DedupIndex, DedupResult, Match, combine, tally
from .fingerprint import Fingerprint
from .logs import logging_config
from .metrics import Metrics
from .pending import PendingArticle, PendingArticles
from .pipeline import Pipeline, root_seen_at_of
from .segments import chunked_json
from .records import Rejection, deadletter_record
from .segments import PartitionState, SegmentTable
from . import PIPELINE_VERSION, topology

log = logging.getLogger("newsflow.worker")

# Entries per expiry or statistics slice: a few milliseconds of work between two yields.
SWEEP_SLICE = 2000
# At most one expiry slice per partition this often: 4,000 entries a second per partition, so a
# sweep of a partition holding a week of a busy feed (millions of entries) still ends well within
# the hour between sweeps, at a few percent of one core.
SWEEP_PACE_S = 0.5


class PacedSweeps:
    """Expiry passes over table partitions, cut into slices and paced in time.

    Run inside the agent that owns the table (so its deletes go to that partition's changelog),
    never as one long pass that would stall the worker. Slices are paced in time, not taken per
    batch: under a backlog batches come many times a second, and a slice per batch cost as much as
    the probes themselves."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last: dict[int, float] = {}   # partition -> when its last complete pass started
        self.running: dict[int, tuple[float, bytes | None, float]] = {}  # -> (start, resume after key, last slice)

    def step(self, partition: int, state: PartitionState, now: float,
             expire: Any) -> None:
        """At most one slice of `partition`; `expire(pass_started, entries)` deletes what is stale."""
        sweep = self.running.get(partition)
        if sweep is None and now - self.last.get(partition, 0.0) >= self.interval_s:
            sweep = (now, None, 0.0)
        if sweep is None or now - sweep[2] < SWEEP_PACE_S:
            return
        started, cursor, _ = sweep
        entries = state.scan(cursor, SWEEP_SLICE)
        expire(started, entries)
        if len(entries) < SWEEP_SLICE:
            self.running.pop(partition, None)
            self.last[partition] = started
        else:
            self.running[partition] = (started, entries[-1][0], now)
        state.flush()


class RawIntake:
    """Backpressure between the first hop and the others: the worker stops fetching raw records
    while `max_pending` articles wait for their dedup answers, and starts again at half that.

    Without it, a backlog is read as fast as `ingest` can analyse it while `index` and `decide`
    share the same CPU, and the waiting articles would grow with the backlog. The agents never wait
    for it: a blocked agent would block the fetch loop that brings the answers."""

    def __init__(self, app: faust.App, max_pending: int) -> None:
        self.app = app
        self.max_pending = max_pending
        self.held = False

    def _partitions(self) -> set:
        return {tp for tp in self.app.consumer.assignment() if tp.topic == self.app.raw_topic}

    def hold(self) -> None:
        # Again at every batch while full: Faust also resumes a partition whose stream buffer drained.
        self._set_paused(self._partitions(), True)
        self.held = True

    def release_below(self, waiting: int) -> None:
        # Never during a rebalance: Faust pauses every partition then, and resumes them itself.
        if self.held and waiting <= self.max_pending // 2 and not self.app.rebalancing:
            self._set_paused(self._partitions(), False)
            self.held = False

    def _set_paused(self, tps: set, paused: bool) -> None:
        """Faust's pause_partitions/resume_partitions, on a new set of active partitions.

        Faust's edit the set in place, and a fetch in flight keeps only the records of partitions
        still in that set when it returns: records of a raw partition paused meanwhile were dropped
        with the client's position past them. The fetch loop sees such a gap at the partition's next
        record (next_step), but at the end of a backlog no record came after them, and they waited
        unconsumed (tests/test_app.py's backlog test after the rebalance test: 3 runs in 25). With
        a new set, the fetch in flight keeps the one it started with and hands on every record it
        got."""
        consumer = self.app.consumer
        active = set(consumer._get_active_partitions())
        if paused:
            active -= tps
            consumer._paused_partitions.update(tps)
        else:
            active |= tps
            consumer._paused_partitions.difference_update(tps)
        consumer._active_partitions = active


class NewsflowApp(faust.App):
    """faust.App with a shutdown watchdog: a worker that cannot stop in time exits non-zero."""

    shutdown_timeout_s: float = 30.0
    #: The first record the broker refused (set by the delivery callbacks); no offset is committed after it.
    refused: BaseException | None = None

    #: NEWSFLOW_FETCH_WAIT_MS (set by create_app).
    fetch_wait_ms: int = 0
    #: The articles waiting for their dedup answers, and the raw topic they came from (set by create_app).
    pending: PendingArticles
    raw_topic: str = ""
    #: Consumer generations whose waiting articles were forgotten at a rebalance.
    forgotten_generations: set[int]

    def hold_back(self, message: Any) -> None:
        """Leave a consumed record unacknowledged for good: its offset is never committed, and the
        partition's next owner (this worker again, after a rebalance or restart) consumes it again.
        Faust's rebalance waits until every consumed record is acknowledged; this one no longer
        counts."""
        self.consumer._unacked_messages.discard(message)

    def forget_waiting(self, homes: set[int] | None = None) -> None:
        """Stop waiting for the articles of these home partitions (all when None), and for the
        raw records of this consumer generation still on their way through `ingest`.

        Called before Faust waits for every consumed record to be acknowledged (at a rebalance,
        and when the worker stops): a waiting article's raw record is acknowledged only once its
        answers come, and none come then."""
        self.forgotten_generations.add(self.consumer_generation_id)
        for entry in self.pending.forget(homes):
            self.hold_back(entry.ref)

    async def _on_partitions_revoked(self, revoked: Any) -> None:
        self.forget_waiting({tp.partition for tp in revoked if tp.topic == self.raw_topic})
        await super()._on_partitions_revoked(revoked)

    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        deliver_in_batches(consumer)
        if self.fetch_wait_ms > 0:
            wait_for_fetches(consumer, self.fetch_wait_ms)
        commit_offsets = consumer._commit_offsets

        async def commit_after_delivery(offsets: Any, start_new_transaction: bool = True) -> bool:
            # Faust commits the offsets of events its agents have finished, but an agent finishes
            # when its output is handed to the producer, not when the broker has it. So every commit
            # (the periodic one and the one at shutdown) first waits for what is in flight, and
            # commits nothing once any record was refused: the events behind it are redone after
            # the restart instead of being lost.
            await self.producer.flush()
            await asyncio.sleep(0)   # let the delivery callbacks of what just completed run
            if self.refused is not None:
                log.warning("not committing offsets: a record was refused (%s)", type(self.refused).__name__)
                return False
            return await commit_offsets(offsets, start_new_transaction=start_new_transaction)

        consumer._commit_offsets = commit_after_delivery
        return consumer

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
        self.forget_waiting()
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
        producer_max_batch_size=1_048_576,
        producer_max_request_size=topology.MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=topology.MAX_MESSAGE_BYTES,
        table_standby_replicas=settings.standby_replicas,
        logging_config=logging_config(settings),
        monitor=QuietMonitor(),
    )
    app.shutdown_timeout_s = settings.shutdown_timeout_s
    app.fetch_wait_ms = settings.fetch_wait_ms
    pending = app.pending = PendingArticles()
    app.raw_topic = settings.topic_raw
    app.forgotten_generations = set()

    raw = app.topic(settings.topic_raw, key_type=bytes, value_type=bytes, key_serializer="raw",
                    value_serializer="raw", partitions=n)
    deadletter = app.topic(settings.topic_deadletter, key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw", partitions=n)
    probes = app.topic(topology.probes_topic(settings), key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw", partitions=n)
    answers = app.topic(topology.answers_topic(settings), key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw", partitions=n)
    def segment_table(name: str) -> SegmentTable:
        # Raw bytes end to end: segment keys and packed values must reach recovery untouched.
        retention_ms = int((settings.dedup_window_s + 86400) * 1000)
        changelog = app.topic(topology.changelog_topic(settings, name), partitions=n, key_type=bytes,
                              value_type=bytes, key_serializer="raw", value_serializer="raw",
                              internal=True, compacting=False, deleting=True, retention=retention_ms / 1000)
        table = app.tables.add(SegmentTable(app, name=name, default=None, beacon=app.tables.beacon,
                                            partitions=n, key_type=bytes, value_type=bytes,
                                            changelog_topic=changelog))
        table.key_serializer = table.value_serializer = "raw"
        return table

    index_table = segment_table(topology.TABLE_INDEX)
    index_table.delivery_callback = lambda fut: on_delivery(fut)
    health = WorkerHealth(app, settings, metrics)
    batch_max, batch_within = settings.batch_max, settings.batch_within_s

    def on_record_delivery(topic_name: str, fut: Any) -> None:
        # A record the broker refused must never vanish quietly: stop the worker, so that the
        # offsets of what produced it are not committed and it is redone after the restart.
        exc = fut.exception() if fut.done() and not fut.cancelled() else None
        if exc is not None:
            if app.refused is None:
                app.refused = exc
            log.critical("a record to %s was refused (%s: %s); stopping so that it is redone",
                         topic_name, type(exc).__name__, exc)
            asyncio.ensure_future(app.crash(exc))

    def on_delivery(fut: Any) -> None:   # a Faust FutureMessage (Table.send_changelog)
        on_record_delivery(fut.message.channel.get_topic_name(), fut)

    enriched_name = settings.topic_enriched

    enriched_partitioner = DefaultPartitioner()

    async def send_enriched(records: list[tuple[bytes, bytes]]) -> list[Any]:
        # One record per article, keyed by article id, in the partition Kafka's default partitioner
        # gives the key (the one Topic.send would pick). The records of a batch go to the producer as
        # one record batch per partition: a send per record cost more than building the record did.
        # A refused batch stops the worker, as in checked_send. Returns the delivery futures.
        producer = app.producer._ensure_producer()   # the aiokafka producer Faust's Producer wraps
        partitions = sorted(await producer.partitions_for(enriched_name))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for key, value in records:
            by_partition[enriched_partitioner(key, partitions, partitions)].append((key, value))
        deliveries = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:   # full: send it, go on
                    deliveries.append(await producer.send_batch(batch, enriched_name, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)   # an empty batch takes any record
            deliveries.append(await producer.send_batch(batch, enriched_name, partition=partition))
        for fut in deliveries:
            fut.add_done_callback(lambda f: on_record_delivery(enriched_name, f))
        return deliveries

    async def send_deadletter(data: bytes, rejection: Rejection, message: Any) -> None:
        record = deadletter_record(data, rejection, topic=message.topic, partition=message.partition,
                                   offset=message.offset, rejected_at=time.time(),
                                   pipeline_version=PIPELINE_VERSION)
        await checked_send(deadletter, message.key, orjson.dumps(record))
        metrics.deadlettered_by_reason[rejection.reason].inc()

    async def send_grouped(topic: Any, kind: str, grouped: dict[int, list]) -> None:
        # One record per target partition per batch (per-article records would cost more than the
        # work they carry), split so that no record nears the broker's message size limit.
        for partition, items in grouped.items():
            for chunk in chunked_json(items, topology.MAX_BATCH_RECORD_BYTES):
                await checked_send(topic, None, b'{"type":"%s","items":%s}' % (kind.encode(), chunk), partition)

    async def checked_send(topic: Any, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        # Topic.send returns the producer's own future (not a FutureMessage): the topic name comes
        # from the topic, not from the future.
        fut = await topic.send(key=key, value=value, partition=partition)
        name = topic.get_topic_name()
        fut.add_done_callback(lambda f: on_record_delivery(name, f))

    @app.agent(raw, name="ingest")
    async def ingest(stream: Any) -> None:
        async for events in settled_batches(stream, batch_max, batch_within):
            probes_out: dict[int, list] = defaultdict(list)
            complete: list[PendingArticle] = []
            for event in events:
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
                    metrics.stage_by_name[stage].observe(seconds)
                if message.generation_id in app.forgotten_generations:
                    # Fetched before a rebalance that forgot this worker's waiting articles: the
                    # partition's next owner consumes it again.
                    message.incref()
                    app.hold_back(message)
                    continue
                article_id = analysed.article.id
                fp = analysed.fingerprint
                by_partition: dict[int, list[bytes]] = defaultdict(list)
                for key in fp.keys:
                    by_partition[topology.partition_for(key, n)].append(key)
                home = message.partition
                ingested_at = message.timestamp or time.time()
                wire = analysed.to_wire()
                # Keyed by the consumed record, not the article id: a crawler may send one article
                # twice, and each consumed record must end as one enriched record.
                token = f"{home}:{message.offset}"
                wire.update(id=article_id, token=token, ingested_at=ingested_at)
                message.incref()   # acknowledged by finish(), once the article is published
                ready = pending.add(PendingArticle(token, home, wire, frozenset(by_partition), message, time.time()))
                if ready is not None:
                    complete.append(ready)
                sketch = fp.sketch.hex()
                for partition, keys in by_partition.items():
                    probes_out[partition].append(
                        {"type": "probe", "id": article_id, "token": token, "home": home, "seen_at": ingested_at,
                         "content_hash": fp.content_hash, "keys": [k.hex() for k in keys], "sketch": sketch})
            await send_grouped(probes, "probes", probes_out)
            if complete:
                await finish(complete)
            if len(pending) >= settings.max_pending:
                intake.hold()

    indexes: dict[int, tuple[PartitionState, DedupIndex]] = {}
    index_sweeps = PacedSweeps(settings.expiry_interval_s)

    def index_for(partition: int) -> tuple[PartitionState, DedupIndex]:
        found = indexes.get(partition)
        if found is None:
            state = PartitionState(index_table, partition)
            found = indexes[partition] = (state, DedupIndex(state, window_s=settings.dedup_window_s,
                                                                  checks=pipeline.sketch_checks))
        return found

    @app.agent(probes, name="index")
    async def index(stream: Any) -> None:
        async for events in settled_batches(stream, batch_max, batch_within):
            answers_out: dict[int, list] = defaultdict(list)
            touched: set[int] = set()
            for event in events:
                partition = event.message.partition
                state, idx = index_for(partition)
                touched.add(partition)
                for item in orjson.loads(event.message.value)["items"]:
                    if item["type"] == "adopt":
                        idx.adopt_root(item["id"], DedupResult(**item["result"]), item["root_seen_at"])
                        continue
                    started = time.perf_counter()
                    try:
                        keys = [bytes.fromhex(k) for k in item["keys"]]
                        fp = Fingerprint(item["content_hash"], tuple(keys), bytes.fromhex(item["sketch"]))
                        match = idx.probe(item["id"], fp, item["seen_at"], keys=keys)
                    except Exception:
                        # The article is still published (as not a duplicate): losing it would be worse.
                        log.exception("dedup probe failed in partition %s; answering 'no match'", partition)
                        match = None
                    metrics.stage_by_name["dedup"].observe(time.perf_counter() - started)
                    answers_out[item["home"]].append({"type": "answer", "token": item["token"], "from": partition,
                                                      "match": match.to_dict() if match else None})
            now = time.time()
            for partition in touched:
                state, idx = index_for(partition)
                state.flush()
                index_sweeps.step(partition, state, now,
                                  lambda started, entries: metrics.expired.inc(idx.sweep(started, entries)))
            await send_grouped(answers, "answers", answers_out)

    intake = RawIntake(app, settings.max_pending)
    metrics.waiting.set_function(lambda: len(pending))

    def publish(entry: PendingArticle, adopts_out: dict[int, list]) -> tuple[bytes, bytes]:
        """The enriched record of an article whose answers are in, as (key, value) for send_enriched."""
        started = time.perf_counter()
        article = entry.wire
        matches = [Match.from_dict(m) for m in entry.answers.values() if m]
        result = combine(article["id"], matches)
        now = time.time()
        record = Pipeline.enriched(article, result, ingested_at=article["ingested_at"], processed_at=now)
        enriched = (article["id"].encode(), orjson.dumps(record))
        if result.duplicate_of is not None:
            # Every partition that indexed this article learns which group it joined, so a later
            # copy found there through this article points at the group's first member.
            adopt = {"type": "adopt", "id": article["id"], "result": asdict(result),
                     "root_seen_at": root_seen_at_of(result, matches)}
            for partition in entry.answers:
                adopts_out[partition].append(adopt)
            metrics.duplicates_by_kind[result.duplicate_kind].inc()
        metrics.enriched.inc()
        for topic in record["topics"]:
            metrics.topics_by_name[topic].inc()
        metrics.stage_by_name["publish"].observe(time.perf_counter() - started)
        metrics.latency.observe(max(0.0, now - article["ingested_at"]))
        return enriched

    async def finish(entries: list[PendingArticle]) -> None:
        """Publish articles whose answers are in, then acknowledge their raw records.

        A raw record is acknowledged only once the broker has the enriched record: had one been
        refused, the worker stops (on_record_delivery) with the raw records unacknowledged, and they
        are processed again after the restart. Waiting costs the agent one produce round trip per
        batch, not CPU."""
        adopts_out: dict[int, list] = defaultdict(list)
        deliveries = await send_enriched([publish(entry, adopts_out) for entry in entries])
        await send_grouped(probes, "probes", adopts_out)
        await asyncio.gather(*deliveries, return_exceptions=True)
        if app.refused is not None:
            return
        consumer = app.consumer
        for entry in entries:
            entry.ref.ack(consumer)
        intake.release_below(len(pending))

    @app.agent(answers, name="decide")
    async def decide(stream: Any) -> None:
        async for events in settled_batches(stream, batch_max, batch_within):
            complete: list[PendingArticle] = []
            for event in events:
                message = orjson.loads(event.message.value)
                if message["type"] != "answers":
                    continue   # the articles a version before streams.pending sent here
                for item in message["items"]:
                    entry = pending.answer(item["token"], item["from"], item["match"])
                    if entry is not None:
                        complete.append(entry)
            if complete:
                await finish(complete)

    @app.timer(interval=max(1.0, min(30.0, settings.pending_timeout_s / 4)))
    async def publish_overdue() -> None:
        # A safety net: every probed partition answers (an index that fails to probe answers "no
        # match"), so an article waits this long only if a partition's owner cannot work (stuck in
        # recovery, say). Better published with the answers it has than holding its partition's
        # offsets, and every record behind it, for good.
        late = pending.overdue(time.time() - settings.pending_timeout_s)
        if late:
            log.warning("%d articles waited more than %.0f s for their dedup answers; publishing them "
                        "with the answers they have", len(late), settings.pending_timeout_s)
            metrics.overdue.inc(len(late))
            await finish(late)

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

    @app.task
    async def announce_core() -> None:
        # At start, once the worker's logging is set up (a line logged while the app is built is lost).
        log.info("core: %s", "native (the compiled twin, streams.native)" if pipeline.native
                 else "python (NEWSFLOW_CORE=python, or the compiled twin is not installed)")

    @app.timer(interval=settings.health_interval_s)
    async def refresh_health() -> None:
        await health.refresh()
        if time.time() - health.last_stats >= settings.stats_interval_s:
            health.last_stats = time.time()
            await refresh_index_stats()

    async def refresh_index_stats() -> None:
        # A pass over every owned index partition, in slices that yield to the event loop: at
        # millions of entries a single pass would stall the agents and the group heartbeat.
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == probes.get_topic_name()}
        articles = entries = size = 0
        for partition, (state, _idx) in list(indexes.items()):
            if partition not in owned:
                continue
            cursor = None
            while True:
                chunk = state.scan(cursor, SWEEP_SLICE)
                counted = tally(chunk)
                articles, entries, size = articles + counted.articles, entries + counted.entries, size + counted.bytes
                if len(chunk) < SWEEP_SLICE:
                    break
                cursor = chunk[-1][0]
                await asyncio.sleep(0)
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
        self._lag_labels: set[tuple[str, str]] = set()

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
        labelled: set[tuple[str, str]] = set()
        for tp in assignment:
            if tp.topic.endswith("-changelog"):
                continue
            highwater = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)
            if highwater is None:
                continue
            lag = max(0, highwater - (committed or 0))
            labels = (tp.topic, str(tp.partition))
            self.metrics.lag.labels(*labels).set(lag)
            labelled.add(labels)
        # A partition that moved to another worker in a rebalance is reported by that worker now:
        # its last value here would otherwise stay exported for good and count twice in sums.
        for labels in self._lag_labels - labelled:
            self.metrics.lag.remove(*labels)
        self._lag_labels = labelled

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


def ensure_topics_waiting(settings: Settings) -> list[str]:
    """ensure_topics, retried while no broker answers (it may be starting next to the worker) for up
    to NEWSFLOW_BROKER_WAIT_S; then, or on any other broker error, exit with one clear line."""
    from .broker import BrokerError, BrokerUnreachable
    from .topology import ensure_topics

    deadline = time.monotonic() + settings.broker_wait_s
    while True:
        try:
            return asyncio.run(ensure_topics(settings))
        except BrokerUnreachable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"newsflow: {exc}; gave up after NEWSFLOW_BROKER_WAIT_S="
                                 f"{settings.broker_wait_s:g} s") from None
            log.warning("%s; retrying for up to %.0f s more", exc, left)
            time.sleep(min(2.0, left))
        except BrokerError as exc:
            raise SystemExit(f"newsflow: {exc}") from None


def use_event_loop(name: str) -> None:
    """uvloop (libuv) runs the worker's Kafka I/O and agent scheduling with less per-event overhead
    than the stdlib loop: measured with `newsflow bench`, see the README's NEWSFLOW_EVENT_LOOP."""
    if name != "uvloop":   # "asyncio": the standard library's loop, nothing to install
        return
    try:
        import uvloop
    except ImportError:
        log.warning("uvloop is not installed; using the asyncio event loop")
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_worker(settings: Settings) -> None:
    from prometheus_client import disable_created_metrics

    disable_created_metrics()
    try:
        os.makedirs(settings.data_dir, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"newsflow: NEWSFLOW_DATA_DIR={settings.data_dir!r} cannot hold table state: {exc}") from None
    # Topics first: a table's changelog must match its source topic, and the broker never auto-creates.
    created = ensure_topics_waiting(settings)
    if created:
        log.info("created topics: %s", ", ".join(created))
    use_event_loop(settings.event_loop)
    app = create_app(settings)
    # The models, vocabularies and caches loaded above live as long as the process: moved out of the
    # collector's view, they are not rescanned by every full collection while the stream runs.
    gc.collect()
    gc.freeze()
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True,
                          logging_config=logging_config(settings), redirect_stdouts=False)
    # Faust's terminal spinner, at WARNING and above, lowers the root logger to DEBUG so that every
    # record can turn it: aiokafka then builds a debug record per send and per fetch (measured: about 4%
    # of worker CPU under load). Our logs are JSON lines or plain text, never a spinner.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    finally:
        # After the event loop has closed: no agent reads or writes the tables any more.
        for table in app.tables.values():
            if isinstance(table, SegmentTable):
                table.close_stores()
