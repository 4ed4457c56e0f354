#!/usr/bin/env python3
"""A plain datasketch MinHashLSH dedup, scored the same way as ours (the speed/quality baseline).

    .venv/bin/python tools/baseline_datasketch.py [--data /work/shared/data]

Per article: raw title + body, lower-cased word 3-shingles, datasketch MinHash (128 perms),
MinHashLSH query then insert; duplicate_of = the earliest matching earlier article. Each set is
run at several LSH thresholds and scored with score.py; the summary reports every threshold, the
best F1 per set, and the baseline's articles/s on dedup-copies (full articles) at 0.5.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"\w+")
SETS = (("dedup-headlines", "pairs"), ("dedup-copies", "groups"), ("dedup-stories", "events"))
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def run(articles: list[dict], threshold: float) -> tuple[list[dict], float]:
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    out = []
    t0 = time.perf_counter()
    for n, a in enumerate(articles):
        words = WORD.findall(((a.get("title") or "") + " " + (a.get("body") or "")).lower())
        m = MinHash(num_perm=128)
        m.update_batch([" ".join(words[i:i + 3]).encode() for i in range(max(1, len(words) - 2))])
        hits = lsh.query(m)
        out.append({"id": a["id"], "duplicate_of": min(hits, key=lambda h: h[0])[1] if hits else None, "topics": []})
        lsh.insert((n, a["id"]), m)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data")
    args = ap.parse_args()
    data = Path(args.data)
    score = data.parent / "eval" / "score.py"
    tmp = Path(tempfile.mkdtemp(prefix="baseline_"))
    summary: dict = {}
    for name, kind in SETS:
        articles = [json.loads(line) for line in open(data / f"{name}.articles.jsonl") if line.strip()]
        rows = {}
        for threshold in THRESHOLDS:
            out, seconds = run(articles, threshold)
            path = tmp / f"{name}.{threshold}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in out))
            scored = json.loads(subprocess.run([sys.executable, str(score), kind, str(data / f"{name}.labels.jsonl"),
                                                str(path)], capture_output=True, text=True).stdout)
            rows[threshold] = {"score": scored, "articles_per_s": round(len(articles) / seconds, 1)}
        best = max(rows, key=lambda t: rows[t]["score"].get("f1", -rows[t]["score"].get("false_links_across_events", 0)))
        summary[name] = {"by_threshold": rows, "best_threshold": best, "best": rows[best]["score"]}
    summary["articles_per_s_full_articles"] = summary["dedup-copies"]["by_threshold"][0.5]["articles_per_s"]
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
