import json
from pathlib import Path

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
