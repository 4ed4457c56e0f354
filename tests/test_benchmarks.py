import json
import tempfile
import time
from pathlib import Path

import pytest

from streams.benchmarks import baseline_text, dedup_speed, prepare_all, run_baseline, run_ours
from streams.fingerprint import Fingerprinter

ARTICLES = [json.loads(line) for line in (Path(__file__).parent / "data" / "dedup_articles.jsonl").open()]


def test_both_sides_run_on_the_same_articles_and_find_the_exact_copy():
    ids = [a["id"] for a in ARTICLES]
    prepared = prepare_all(ARTICLES)
    _, ours = run_ours(ids, prepared, Fingerprinter())
    _, theirs = run_baseline(ids, [baseline_text(p) for p in prepared], shingle=3, threshold=0.5)
    copy = ids.index("flood-copy")
    assert ours[copy].duplicate_of == "flood-orig"
    assert theirs[copy] == "flood-orig"
    assert theirs[ids.index("chess")] is None


def test_report_has_rates_for_ours_and_both_baseline_settings():
    report = dedup_speed(ARTICLES, repeat=1)
    assert report["articles"] == len(ARTICLES) and report["partitions"] == 4
    for field in ("prepare_articles_per_s", "ours_articles_per_s", "baseline_articles_per_s",
                  "baseline_cheapest_articles_per_s", "speedup", "speedup_vs_cheapest"):
        assert report[field] > 0, field
    assert report["baseline"]["best"] == {"shingle_words": 3, "threshold": 0.3}


@pytest.mark.kafka
def test_broker_bench_reports_its_figures_and_leaves_the_broker_and_disk_as_it_found_them(
        kafka_bootstrap, monkeypatch, tmp_path):
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    from streams.bench import bench_articles, bench_broker
    from streams.config import Settings

    async def topics() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = asyncio.run(topics())
    report = bench_broker(Settings(), bench_articles(200), latency_records=20, latency_rate=50.0)
    assert report["pipeline_articles_per_s"] > 0 and report["worker_cpu_ms_per_article"] > 0
    stages = report["worker_stage_ms_per_article"]
    assert set(stages) == {"prepare", "fingerprint", "dedup", "classify", "publish"} and all(stages.values())
    assert report["worker_other_ms_per_article"] == pytest.approx(
        report["worker_cpu_ms_per_article"] - sum(stages.values()), abs=0.01)
    assert report["latency_samples"] == 20 and report["latency_p50_s"] <= report["latency_p99_s"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("newsflow-bench-")], "its scratch dir is removed"
    deadline = time.monotonic() + 15  # deletion reaches the metadata shortly after the request
    while (left := {t for t in asyncio.run(topics()) - before if not t.startswith("__")}) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"the bench's topics are deleted from a broker it did not start: {left}"


def test_without_the_development_sets_the_bench_says_it_measured_the_samples(monkeypatch, tmp_path, capsys):
    import signal

    from streams import bench
    from streams.config import Settings

    monkeypatch.setattr(signal, "signal", lambda *args: None)   # run_bench's SIGTERM handler is for its process
    monkeypatch.setattr(bench, "DEV_DATA", tmp_path / "no-such-dir")
    report = bench.run_bench(Settings(), articles=40, skip_broker=True)
    assert report["article_files"] == ["articles.jsonl"]
    assert "benchmarking the bundled samples instead" in capsys.readouterr().err
