#!/usr/bin/env python3
"""A plain datasketch MinHashLSH dedup, scored the same way as ours (the quality and speed baseline).

    .venv/bin/python tools/baseline_datasketch.py [--data /work/shared/data] [--shingles 1,2,3]
                                                 [--thresholds 0.3,...,0.8]

Per article: prepare() (the same cleaning ours gets, so the comparison is of the dedup methods),
lower-cased word n-shingles of title + text, datasketch MinHash (128 perms), MinHashLSH query then
insert; duplicate_of = the earliest matching earlier article (streams.benchmarks.run_baseline).
Every set is run at every shingle size x LSH threshold and scored with score.py; the summary gives
each setting's score and the best setting per set (F1; for dedup-stories, the most within-event
links among settings with no cross-event link). Speed is measured by streams.benchmarks.dedup_speed
(`newsflow bench`), not here: this tool runs 18 settings per set.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.benchmarks import baseline_text, prepare_all, run_baseline  # noqa: E402

SETS = (("dedup-headlines", "pairs"), ("dedup-copies", "groups"), ("dedup-stories", "events"))


def quality(score: dict) -> tuple:
    if "f1" in score:
        return (score["f1"],)
    return (-score.get("false_links_across_events", 0), score.get("links_within_event", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--shingles", default="1,2,3")
    ap.add_argument("--thresholds", default="0.3,0.4,0.5,0.6,0.7,0.8")
    ap.add_argument("--sets", default=",".join(s for s, _ in SETS))
    args = ap.parse_args()
    data = Path(args.data)
    score = data.parent / "eval" / "score.py"
    tmp = Path(tempfile.mkdtemp(prefix="baseline_"))
    summary: dict = {}
    for name, kind in SETS:
        if name not in args.sets.split(","):
            continue
        articles = [json.loads(line) for line in open(data / f"{name}.articles.jsonl") if line.strip()]
        ids = [a["id"] for a in articles]
        texts = [baseline_text(p) for p in prepare_all(articles)]
        rows = {}
        for shingle in map(int, args.shingles.split(",")):
            for threshold in map(float, args.thresholds.split(",")):
                _, found = run_baseline(ids, texts, shingle, threshold)
                path = tmp / f"{name}.{shingle}.{threshold}.jsonl"
                path.write_text("".join(json.dumps({"id": i, "duplicate_of": d, "topics": []}) + "\n"
                                        for i, d in zip(ids, found)))
                scored = json.loads(subprocess.run([sys.executable, str(score), kind,
                                                    str(data / f"{name}.labels.jsonl"), str(path)],
                                                   capture_output=True, text=True).stdout)
                rows[f"shingle={shingle} threshold={threshold}"] = scored
        best = max(rows, key=lambda k: quality(rows[k]))
        summary[name] = {"best_setting": best, "best": rows[best], "by_setting": rows}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
