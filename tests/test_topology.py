from __future__ import annotations

import pytest

from streams import topology
from streams.config import Settings, load


def test_routing_is_stable_and_spreads_keys():
    assert topology.partition_for(b"key", 4) == topology.partition_for(b"key", 4)
    counts = [0] * 4
    for i in range(4000):
        counts[topology.partition_for(b"k%d" % i, 4)] += 1
    assert min(counts) > 800


def test_every_topic_has_the_configured_partitions_and_changelogs_outlive_the_window():
    s = Settings(partitions=6, dedup_window_s=3600)
    specs = topology.topic_specs(s)
    assert {p for p, _ in specs.values()} == {6}
    changelog = specs[topology.changelog_topic(s, topology.TABLE_INDEX)][1]
    assert int(changelog["retention.ms"]) > 3600 * 1000


def test_bad_settings_stop_with_a_message_naming_the_variable(monkeypatch):
    monkeypatch.setenv("NEWSFLOW_PARTITIONS", "four")
    with pytest.raises(SystemExit, match="NEWSFLOW_PARTITIONS"):
        load()
    monkeypatch.setenv("NEWSFLOW_PARTITIONS", "4")
    monkeypatch.setenv("NEWSFLOW_REJECT_UNKNOWN_FIELDS", "maybe")
    with pytest.raises(SystemExit, match="NEWSFLOW_REJECT_UNKNOWN_FIELDS"):
        load()
    monkeypatch.setenv("NEWSFLOW_REJECT_UNKNOWN_FIELDS", "0")
    monkeypatch.setenv("NEWSFLOW_EVENT_LOOP", "trio")
    with pytest.raises(SystemExit, match="NEWSFLOW_EVENT_LOOP"):
        load()
    monkeypatch.setenv("NEWSFLOW_EVENT_LOOP", "asyncio")
    # A typo must not quietly switch to the memory store or break logging at start-up.
    for name, typo in (("NEWSFLOW_STORE", "rocksd"), ("NEWSFLOW_LOG_FORMAT", "jsonl"), ("NEWSFLOW_LOG_LEVEL", "verbose")):
        monkeypatch.setenv(name, typo)
        with pytest.raises(SystemExit, match=name):
            load()
        monkeypatch.delenv(name)
    monkeypatch.setenv("NEWSFLOW_LOG_LEVEL", "warning")
    assert load().log_level == "WARNING"


def test_the_worker_runs_on_uvloop_unless_told_otherwise(monkeypatch):
    import asyncio

    import uvloop

    from streams.app import use_event_loop

    monkeypatch.delenv("NEWSFLOW_EVENT_LOOP", raising=False)
    assert load().event_loop == "uvloop"
    default_policy = asyncio.get_event_loop_policy()
    try:
        use_event_loop("asyncio")
        assert asyncio.get_event_loop_policy() is default_policy
        use_event_loop("uvloop")
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(default_policy)


@pytest.mark.parametrize("wait_ms, expected", [("0", (1, 1500)), ("50", (64 * 1024, 50))])
def test_fetch_wait_setting_reaches_the_workers_kafka_client(monkeypatch, wait_ms, expected):
    # Faust hard-codes fetch_min_bytes=1 and a 1.5 s wait; NEWSFLOW_FETCH_WAIT_MS replaces both
    # (0 keeps Faust's client as it is).
    import asyncio

    from streams.app import create_app

    monkeypatch.setenv("NEWSFLOW_FETCH_WAIT_MS", wait_ms)
    app = create_app(load())

    async def build():
        client = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return client._fetch_min_bytes, client._fetch_max_wait_ms
        finally:
            await client.stop()

    assert asyncio.run(build()) == expected
    monkeypatch.setenv("NEWSFLOW_FETCH_WAIT_MS", "-5")
    with pytest.raises(SystemExit, match="NEWSFLOW_FETCH_WAIT_MS"):
        load()
