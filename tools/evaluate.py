#!/usr/bin/env python3
"""Score the shipped pipeline on the development sets, exactly as a user would:

    newsflow process < ../shared/data/SET.articles.jsonl > OUT/SET.enriched.jsonl
    python ../shared/eval/score.py KIND ../shared/data/SET.labels.jsonl OUT/SET.enriched.jsonl

Prints one JSON object: the scorer's answer per set. Never point it at ../shared/holdout: that set is
for acceptance only.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SETS = {"dedup-headlines": "pairs", "dedup-copies": "groups", "dedup-stories": "events", "topics": "topics"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED / "data")
    parser.add_argument("--out", type=Path, default=None, help="keep the enriched outputs here")
    parser.add_argument("sets", nargs="*", default=list(SETS))
    args = parser.parse_args()
    if "holdout" in args.data.parts:
        parser.error("the holdout set is for acceptance only")
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="newsflow-eval-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    newsflow = Path(sys.executable).parent / "newsflow"
    results = {}
    for name in args.sets:
        articles = args.data / f"{name}.articles.jsonl"
        enriched = out_dir / f"{name}.enriched.jsonl"
        with open(articles, "rb") as src, open(enriched, "wb") as dst:
            run = subprocess.run([str(newsflow), "process"], stdin=src, stdout=dst, stderr=subprocess.PIPE, check=True)
        report = json.loads(run.stderr.decode().strip().splitlines()[-1])
        score = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), SETS[name],
                                str(args.data / f"{name}.labels.jsonl"), str(enriched)],
                               capture_output=True, text=True)
        results[name] = {"score": json.loads(score.stdout), "articles_per_s": report["articles_per_s"]}
        print(f"{name}: {score.stdout.strip()}", file=sys.stderr)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
