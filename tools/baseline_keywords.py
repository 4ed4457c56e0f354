#!/usr/bin/env python3
"""The keyword-list topic baseline (what a team would write first), scored like the shipped classifier.

A topic is assigned when its list has a word in the headline or the first 500 characters.
    .venv/bin/python tools/baseline_keywords.py   # prints score.py's answer on ../shared/data/topics
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

KEYWORDS = {
    "war": "war wars troops military army missile missiles airstrike airstrikes shelling invasion ceasefire "
           "soldiers drone drones offensive frontline bombing rebels militants",
    "crime": "police arrested arrest charged murder killed shooting robbery fraud court trial sentenced "
             "prison jail suspect crime stabbing theft",
    "recalls": "recall recalls recalled recalling",
    "entertainment": "film movie actor actress singer star celebrity album music tv show hollywood oscar "
                     "grammy concert festival netflix",
}
PATTERNS = {t: re.compile(r"\b(?:%s)\b" % "|".join(words.split()), re.I) for t, words in KEYWORDS.items()}


def topics(title: str, body: str) -> list[str]:
    text = f"{title} {body[:500]}"
    return [t for t, pattern in PATTERNS.items() if pattern.search(text)]


def main() -> int:
    data = SHARED / "data"
    out = Path(tempfile.mkdtemp()) / "keywords.jsonl"
    with open(data / "topics.articles.jsonl") as src, open(out, "w") as dst:
        for line in src:
            a = json.loads(line)
            dst.write(json.dumps({"id": a["id"], "duplicate_of": None,
                                  "topics": topics(a["title"], a.get("body") or "")}) + "\n")
    score = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), "topics",
                            str(data / "topics.labels.jsonl"), str(out)], capture_output=True, text=True, check=True)
    print(score.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
