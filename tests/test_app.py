"""The stream on the real broker: records in, records out, accounted for one by one."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import jsonschema
import orjson
import pytest

from tests.workers import REPO, consume, consume_ids, produce, run, stack_env

pytestmark = pytest.mark.kafka

SCHEMAS = REPO / "schemas"
SAMPLES = (REPO / "samples" / "articles.jsonl").read_bytes().splitlines()
TIME_FIELDS = ("ingested_at", "processed_at")


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


ENRICHED = validator("enriched-article")
DEADLETTER = validator("deadletter")

# Every kind of bad input, with the reason the worker must give.
BAD = [
    (b'{"id": "b1", "body": "no title"}', "missing_title"),
    (b'{"id": "b2", "title": "   ", "body": "blank title"}', "missing_title"),
    (b'{"id": "b3", "title": ["not", "a string"]}', "wrong_type"),
    (b'{"id": "b4", "title": "Body is a number", "body": 7}', "wrong_type"),
    (b'{"id": "b5", "title": "Cut off', "malformed_json"),
    (b'\xff\xfe{"title": "not utf-8"}', "invalid_utf8"),
    (b'"just a string"', "not_an_object"),
    (b'{"id": "b8", "title": "Bad date", "published_at": "yesterday"}', "invalid_field"),
    (b'{"id": "b9", "title": "<p></p>", "html": "<html><body><script>x()</script></body></html>"}', "empty_text"),
    (b'{"id": "b10", "title": "Huge", "body": "' + b"word " * 60_000 + b'"}', "too_large"),
    (b'{"id": "b11", "title": "...", "body": "  "}', "empty_text"),
    (b"", "malformed_json"),
]


def enriched_by_id(records) -> dict[str, dict]:
    out = {}
    for rec in records:
        value = orjson.loads(rec.value)
        assert value["id"] not in out, f"article {value['id']} published twice"
        out[value["id"]] = value
    return out


def test_every_record_is_enriched_or_dead_lettered_with_its_reason(stack):
    worker = stack.worker(NEWSFLOW_MAX_RECORD_BYTES="200000")
    worker.wait_ready()
    good = SAMPLES
    bad = [data for data, _ in BAD]
    # Interleave good and bad so both paths run on every partition.
    values = [v for pair in zip(good, bad + [None] * (len(good) - len(bad))) for v in pair if v is not None]
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", values, keys=[b"k%d" % i for i in range(len(values))]))

    enriched = run(consume(stack.bootstrap, f"{stack.prefix}.enriched", len(good)))
    dead = run(consume(stack.bootstrap, f"{stack.prefix}.deadletter", len(bad)))
    assert len(enriched) == len(good)
    assert len(enriched) + len(dead) == len(values), "enriched + dead-lettered must equal consumed"

    for rec in enriched:
        ENRICHED.validate(orjson.loads(rec.value))
        assert rec.key == orjson.loads(rec.value)["id"].encode(), "enriched records are keyed by article id"
    by_id = enriched_by_id(enriched)
    assert by_id["sample-016"]["duplicate_of"] == "sample-001"
    assert by_id["sample-016"]["duplicate_kind"] == "exact"
    assert by_id["sample-001"]["duplicate_of"] is None
    assert by_id["sample-016"]["cluster_id"] == by_id["sample-001"]["cluster_id"]

    reasons = {}
    for rec in dead:
        value = orjson.loads(rec.value)
        DEADLETTER.validate(value)
        original = __import__("base64").b64decode(value["original_base64"])
        reasons[original] = value["reason"]
        assert value["source_topic"] == f"{stack.prefix}.raw"
        assert value["original_bytes"] == len(original)
    assert reasons == {data: reason for data, reason in BAD}, "each bad record, byte for byte, with its reason"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = worker.metrics()
        if m.get("newsflow_articles_enriched_total") == len(good):
            break
        time.sleep(0.5)
    assert m["newsflow_articles_consumed_total"] == len(values)
    assert m["newsflow_articles_enriched_total"] == len(good)
    dead_total = sum(v for k, v in m.items() if k.startswith("newsflow_articles_deadlettered_total{"))
    assert dead_total == len(bad)
    assert m['newsflow_articles_deadlettered_total{reason="malformed_json"}'] == 2
    assert m['newsflow_duplicates_total{kind="exact"}'] >= 1
    assert m["newsflow_end_to_end_latency_seconds_count"] == len(good)
    assert m['newsflow_stage_duration_seconds_count{stage="dedup"}'] >= len(good)
    assert m["newsflow_dedup_index_articles"] > 0 or m["newsflow_dedup_index_entries"] >= 0

    code, seconds = worker.stop()
    assert code == 0, worker.log_tail()
    assert seconds < 30


def test_batch_process_and_stream_publish_the_same_records(stack):
    worker = stack.worker()
    worker.wait_ready()
    # One raw partition (one key), so the stream sees them in file order, as `process` does.
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", SAMPLES, keys=[b"one-feed"] * len(SAMPLES)))
    streamed = enriched_by_id(run(consume(stack.bootstrap, f"{stack.prefix}.enriched", len(SAMPLES))))
    out = subprocess.run([sys.executable, "-m", "streams.cli", "process"], input=b"\n".join(SAMPLES),
                         capture_output=True, cwd=REPO, env=stack_env(stack.bootstrap, stack.prefix), check=True)
    batch = {r["id"]: r for r in map(orjson.loads, out.stdout.splitlines())}
    assert set(batch) == set(streamed)
    for article_id, record in batch.items():
        a = {k: v for k, v in record.items() if k not in TIME_FIELDS}
        b = {k: v for k, v in streamed[article_id].items() if k not in TIME_FIELDS}
        assert a == b, article_id
    worker.stop()


def linked_groups(by_id: dict[str, dict]) -> dict[str, str]:
    """Each article id -> a representative of the articles joined to it by duplicate_of links."""
    parent = {aid: aid for aid in by_id}

    def find(aid: str) -> str:
        while parent.setdefault(aid, aid) != aid:
            aid = parent[aid]
        return aid

    for aid, rec in by_id.items():
        if rec["duplicate_of"] is not None:
            parent[find(aid)] = find(rec["duplicate_of"])
    return {aid: find(aid) for aid in parent}


def copies_of(lines: list[bytes], suffix: str) -> list[bytes]:
    out = []
    for line in lines:
        obj = orjson.loads(line)
        if "id" in obj:
            obj["id"] = f"{obj['id']}-{suffix}"
            obj["source"] = f"mirror-{suffix}.example"
            out.append(orjson.dumps(obj))
    return out


def test_an_article_sent_twice_is_published_twice_with_one_verdict(stack):
    worker = stack.worker()
    worker.wait_ready()
    original, copy = SAMPLES[0], SAMPLES[15]  # sample-016 is an exact copy of sample-001
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", [original, copy, copy, original], keys=[b"feed"] * 4))
    records = [orjson.loads(r.value) for r in run(consume(stack.bootstrap, f"{stack.prefix}.enriched", 4))]
    assert len(records) == 4, "every consumed record ends as one enriched record"
    verdicts = {(r["id"], r["duplicate_of"], r["cluster_id"]) for r in records}
    assert verdicts == {("sample-001", None, records[0]["cluster_id"]),
                        ("sample-016", "sample-001", records[0]["cluster_id"])}
    worker.stop()


def raw_lag_series(stack, worker) -> set[str]:
    return {name for name in worker.metrics()
            if name.startswith("newsflow_consumer_lag_records{") and f'topic="{stack.prefix}.raw"' in name}


def test_two_workers_find_copies_across_partitions(stack):
    # The second worker joins after the first owns (and reports the lag of) all four partitions,
    # so the group rebalances under a running worker.
    first = stack.worker("w1")
    first.wait_ready()
    deadline = time.monotonic() + 15
    while len(raw_lag_series(stack, first)) < 4 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert len(raw_lag_series(stack, first)) == 4
    second = stack.worker("w2")
    second.wait_ready()
    originals = [l for l in SAMPLES if b'"id"' in l]
    copies = copies_of(originals, "copy")
    # Keys put each copy on a different raw partition from its original, so different workers
    # (and different partitions' dedup state) handle them.
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", originals, keys=[b"a%d" % i for i in range(len(originals))]))
    run(consume(stack.bootstrap, f"{stack.prefix}.enriched", len(originals)))
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", copies, keys=[b"zz%d" % (i * 7) for i in range(len(copies))]))
    by_id = enriched_by_id(run(consume(stack.bootstrap, f"{stack.prefix}.enriched", len(originals) + len(copies))))
    group = linked_groups(by_id)
    for line in originals:
        oid = orjson.loads(line)["id"]
        copy = by_id[f"{oid}-copy"]
        root = by_id[oid]["duplicate_of"] or oid
        assert copy["duplicate_kind"] == "exact"
        if by_id[root]["duplicate_of"] is None:
            assert copy["duplicate_of"] == root, (oid, copy["duplicate_of"])
        else:
            # The samples hold an exact pair (sample-001, sample-016), sent together from two raw
            # partitions. Arriving at the same moment, each can be first in some index partition and
            # name the other (README, "Copies that arrive together"); a copy of either then joins the
            # pair, through one of the two.
            assert group[copy["duplicate_of"]] == group[oid], (oid, copy["duplicate_of"])
    consumed = [w.metrics()["newsflow_articles_consumed_total"] for w in (first, second)]
    assert all(c > 0 for c in consumed), f"both workers took part: {consumed}"
    assert sum(consumed) == len(originals) + len(copies)

    # Lag: each raw partition is reported by the worker that owns it, and only by it (the first
    # worker owned all four before the second joined; stale series would count twice in sums).
    deadline = time.monotonic() + 15
    while True:
        series = [raw_lag_series(stack, w) for w in (first, second)]
        if (not series[0] & series[1] and len(series[0] | series[1]) == 4) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not series[0] & series[1], f"a partition's lag is exported by both workers: {series[0] & series[1]}"
    assert len(series[0] | series[1]) == 4 and series[0] and series[1], series
    for w in (first, second):
        assert w.stop()[0] == 0


def test_a_rebalance_in_the_middle_of_a_backlog_loses_no_article(stack):
    # Two workers share a backlog; one is stopped while records are flowing. Batches it had not
    # finished must not be acknowledged: the other worker, handed its partitions, consumes them
    # again (Faust's take_events acknowledged a cancelled batch whole, and articles were lost).
    first, second = stack.worker("w1"), stack.worker("w2")
    first.wait_ready()
    second.wait_ready()
    originals = [l for l in SAMPLES if b'"id"' in l]
    backlog = [line for n in range(250) for line in copies_of(originals, f"b{n}")]
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", backlog))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        consumed = [w.metrics().get("newsflow_articles_consumed_total", 0) for w in (first, second)]
        if all(c > 0 for c in consumed) and sum(consumed) >= len(backlog) // 10:
            break
        time.sleep(0.1)
    # Checked before the stop: after it, the records the stopped worker had not committed are
    # consumed again, and the counters pass the backlog's size.
    assert sum(consumed) < len(backlog), "the backlog was gone already"
    code, _ = second.stop()
    assert code == 0
    wanted = {orjson.loads(line)["id"] for line in backlog}
    # Read until every article is in, not until len(backlog) records are: what the stopped worker
    # had not committed is redone by the other one and published again (at-least-once), and those
    # second records once made a count pass while articles were still on their way.
    records = run(consume_ids(stack.bootstrap, f"{stack.prefix}.enriched", wanted, timeout=180))
    published = {orjson.loads(rec.value)["id"] for rec in records}
    assert published == wanted, f"{len(wanted - published)} articles never published"
    first.stop()


def test_a_backlog_much_larger_than_the_waiting_limit_drains_whole(stack):
    # The worker stops fetching raw records while NEWSFLOW_MAX_PENDING articles wait for their
    # answers, and must start again as they are published: a pause never lifted, or an agent that
    # waited for it (blocking the fetch loop that brings the answers), would strand the backlog.
    worker = stack.worker(NEWSFLOW_MAX_PENDING="10")
    worker.wait_ready()
    originals = [l for l in SAMPLES if b'"id"' in l]
    backlog = [line for n in range(60) for line in copies_of(originals, f"p{n}")]
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", backlog))
    records = run(consume(stack.bootstrap, f"{stack.prefix}.enriched", len(backlog), timeout=120))
    assert {orjson.loads(rec.value)["id"] for rec in records} == {orjson.loads(line)["id"] for line in backlog}
    metrics = worker.metrics()
    assert metrics["newsflow_dedup_waiting_articles"] == 0
    assert metrics["newsflow_dedup_overdue_total"] == 0
    worker.stop()


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_copy_is_found_after_a_restart_from_the_changelog(stack, tmp_path, how):
    first = stack.worker("before")
    first.wait_ready()
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", [SAMPLES[0]]))
    run(consume(stack.bootstrap, f"{stack.prefix}.enriched", 1))
    if how == "sigterm":
        code, _ = first.stop()
        assert code == 0
        # Every partition's RocksDB was closed (an open one crashed the process as it exited, now
        # and then); RocksDB logs this line when a database closes.
        logs = sorted((first.data_dir / "v1" / "tables").glob("*.db/LOG"))
        assert logs and all("Shutdown complete" in p.read_text() for p in logs), logs
    else:  # killed: no shutdown hook runs, only what the batches already flushed survives
        first.kill()
    # A new data dir: the index must come back from the changelog topic, not from local disk.
    second = stack.worker("after", data_dir=tmp_path / "fresh-disk")
    second.wait_ready()
    copy = copies_of([SAMPLES[0]], "late")[0]
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", [copy]))
    by_id = enriched_by_id(run(consume(stack.bootstrap, f"{stack.prefix}.enriched", 2)))
    assert by_id["sample-001-late"]["duplicate_of"] == "sample-001"
    second.stop()


def test_dedup_window_expires_old_articles(stack):
    worker = stack.worker(NEWSFLOW_DEDUP_WINDOW_S="2", NEWSFLOW_EXPIRY_INTERVAL_S="0.5")
    worker.wait_ready()
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", [SAMPLES[0]]))
    run(consume(stack.bootstrap, f"{stack.prefix}.enriched", 1))
    time.sleep(3)
    late, = copies_of([SAMPLES[0]], "after-window")
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", [late]))
    by_id = enriched_by_id(run(consume(stack.bootstrap, f"{stack.prefix}.enriched", 2)))
    assert by_id["sample-001-after-window"]["duplicate_of"] is None, "outside the window: a new story"
    assert worker.metrics()["newsflow_dedup_expired_total"] >= 1
    worker.stop()


async def _set_max_message_bytes(bootstrap: str, topics: list[str], limit: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, {"max.message.bytes": str(limit)})
                                   for t in topics])
    finally:
        await admin.close()


@pytest.mark.parametrize("refusing", ["enriched", "deadletter"])
def test_a_record_the_broker_refuses_stops_the_worker_and_is_redone_after_restart(stack, refusing):
    # Both output paths: an enriched record (sent straight to the producer) and a dead-letter record
    # (sent through its Faust topic). A topic that refuses them must stop the worker before the raw
    # offsets are committed; once the topic accepts them, a restarted worker publishes both.
    from streams.broker import create_topics

    outputs = [f"{stack.prefix}.{refusing}"]
    run(create_topics(stack.bootstrap, {name: (4, {"max.message.bytes": "600"}) for name in outputs}))
    first = stack.worker("refused")
    first.wait_ready()
    bad = b"{not json " + b"x" * 2000
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", [SAMPLES[0], bad], keys=[b"a", b"b"]))
    code = first.proc.wait(60)
    log = first.log_tail(200)
    assert code != 0, log
    assert f"a record to {stack.prefix}.{refusing} was refused" in log, log
    assert run(consume(stack.bootstrap, f"{stack.prefix}.{refusing}", 0, timeout=1)) == []

    run(_set_max_message_bytes(stack.bootstrap, outputs, 8 * 1024 * 1024))
    second = stack.worker("accepted")
    second.wait_ready()
    enriched = run(consume(stack.bootstrap, f"{stack.prefix}.enriched", 1))
    dead = run(consume(stack.bootstrap, f"{stack.prefix}.deadletter", 1))
    assert enriched and dead, "both records were redone after the restart"
    # At least once: work in flight when the worker stopped may be published again, with the same verdict.
    assert {orjson.loads(r.value)["id"] for r in enriched} == {"sample-001"}
    assert {orjson.loads(r.value)["duplicate_of"] for r in enriched} == {None}
    assert {orjson.loads(r.value)["reason"] for r in dead} == {"malformed_json"}
    assert second.stop()[0] == 0


def test_produce_and_tail_commands_round_trip_through_the_broker(stack, tmp_path):
    # What `make run` and operators use to feed and read topics: bad lines are reported, not sent.
    env = stack_env(stack.bootstrap, stack.prefix, NEWSFLOW_PROGRESS="0")
    cli = [sys.executable, "-m", "streams.cli"]
    assert subprocess.run([*cli, "topics"], env=env, cwd=REPO, capture_output=True).returncode == 0
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(SAMPLES[:5]) + b'\n{"title": 5}\n')
    produced = subprocess.run([*cli, "produce", str(feed)], env=env, cwd=REPO, capture_output=True, text=True)
    summary = json.loads(produced.stderr.strip().splitlines()[-1])
    assert produced.returncode == 0 and summary["sent"] == 5 and summary["rejected_by_reason"] == {"wrong_type": 1}
    tailed = subprocess.run([*cli, "tail", f"{stack.prefix}.raw", "--max", "5", "--timeout", "20"], env=env,
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    values = [json.loads(line)["value"] for line in tailed.stdout.splitlines()]
    assert sorted(v["id"] for v in values) == sorted(json.loads(line)["id"] for line in SAMPLES[:5])
