"""What operators rely on, checked against a live worker on the real broker: the metrics the
dashboard and alerts query, health endpoints, and shutdown."""
from __future__ import annotations

import time

import orjson
import pytest

from streams import broker
from tests import promql_refs
from tests.test_app import SAMPLES
from tests.workers import Worker, consume, produce, run, stack_env

pytestmark = pytest.mark.kafka


def live_series(worker: Worker) -> set[str]:
    names = set()
    for sample in worker.metrics():
        names.add(sample.split("{", 1)[0])
    return names


def test_dashboard_and_alert_queries_use_only_metrics_the_live_worker_exports(stack):
    worker = stack.worker()
    worker.wait_ready()
    run(produce(stack.bootstrap, f"{stack.prefix}.raw", SAMPLES + [b"not json"]))
    run(consume(stack.bootstrap, f"{stack.prefix}.enriched", len(SAMPLES)))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        metrics = worker.metrics()
        if metrics.get("newsflow_articles_enriched_total") == len(SAMPLES) and any(
                k.startswith("newsflow_consumer_lag_records{") for k in metrics):
            break
        time.sleep(0.5)
    exported = live_series(worker)
    wanted = (promql_refs.metric_names_in_dashboard() | promql_refs.metric_names_in_alerts()) - {"up"}
    missing = sorted(wanted - exported)
    assert not missing, f"queried but not exported by a live worker: {missing}"
    # The counters behind the throughput panels moved with the traffic.
    assert metrics["newsflow_articles_consumed_total"] == len(SAMPLES) + 1
    assert metrics['newsflow_articles_deadlettered_total{reason="malformed_json"}'] == 1
    assert metrics["newsflow_broker_up"] == 1
    assert metrics["newsflow_worker_ready"] == 1
    assert metrics["newsflow_dedup_index_bytes"] > 0
    assert any(k.startswith("newsflow_build_info{") for k in metrics)
    # Bounded label values only: no article ids or URLs ever become labels.
    for series in metrics:
        assert "sample-0" not in series and "http" not in series, series
    worker.stop()


def test_readiness_follows_the_broker_and_a_stuck_shutdown_exits_nonzero(broker_config_factory, tmp_path,
                                                                         fresh_topic_prefix):
    config = broker_config_factory()
    broker.start(config, timeout=120, die_with_parent=True)
    try:
        env = stack_env(config.bootstrap, fresh_topic_prefix, NEWSFLOW_SHUTDOWN_TIMEOUT_S="5")
        worker = Worker(env, tmp_path / "w", tmp_path / "w.log").start()
        worker.wait_ready()
        status, body = worker.get("/healthz")
        assert status == 200 and orjson.loads(body)["alive"] is True
        assert worker.ready()["status"] == 200

        broker.stop(config)
        deadline = time.monotonic() + 30
        state = worker.ready()
        while time.monotonic() < deadline and state and state["ready"]:
            time.sleep(0.5)
            state = worker.ready()
        assert state is not None and state["status"] == 503 and not state["ready"], state
        assert any("broker unreachable" in reason for reason in state["reasons"]), state
        assert worker.get("/healthz")[0] == 200, "alive even when not ready"
        assert worker.metrics()["newsflow_broker_up"] == 0

        # With its broker gone the worker cannot commit; it must still stop within its
        # shutdown timeout (5 s here) and say why, rather than hang.
        code, seconds = worker.stop(timeout=60)
        assert seconds < 20, worker.log_tail()
        if code != 0:
            assert "shutdown did not finish" in worker.log_path.read_text(), worker.log_tail()
    finally:
        broker.stop(config)
