#!/usr/bin/env python3
"""What the stream costs without the pure core: `newsflow bench` with the core's results looked up.

    .venv/bin/python tools/stream_floor.py [--articles 8000]

Runs `newsflow bench` unchanged, except that in the bench's worker process `Pipeline.analyse`
(prepare, fingerprint, classify) returns results computed before the worker started, looked up by
headline and body, and reports those stages as taking no time. Everything else
is the real stream: the three hops, the dedup probes, table state and changelogs, publishing. So its
`pipeline_articles_per_s` is the most one worker could move if the core cost nothing, and its
`worker_cpu_ms_per_article` is the stream's own cost per article. Compare with a plain
`newsflow bench` run in the same hour (figures on this shared machine vary from day to day).

A development measurement, not part of the product: it works by putting a `sitecustomize` module on
the worker's PYTHONPATH, which Python imports at start-up. Prints the bench's JSON.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Imported by every Python process started with this PYTHONPATH; acts only in the bench's worker.
SITECUSTOMIZE = '''
import os, sys
if os.environ.get("STREAM_FLOOR_ARTICLES") and "worker" in sys.argv:
    sys.path.insert(0, {repo!r})
    from streams import pipeline
    from streams.bench import bench_articles
    from streams.config import Settings
    from streams.records import parse_raw

    computed = {{}}
    core = pipeline.Pipeline(Settings())
    for data in bench_articles(int(os.environ["STREAM_FLOOR_ARTICLES"])):
        article = parse_raw(data, max_bytes=1 << 30)
        key = (article.title, article.body)
        if key not in computed:
            computed[key] = core.analyse(article)
    real_analyse = pipeline.Pipeline.analyse

    def looked_up(self, article):
        found = computed.get((article.title, article.body))
        if found is None:
            return real_analyse(self, article)
        return pipeline.Analysed(article, found.text, found.fingerprint, found.topics, found.topic_scores,
                                 dict.fromkeys(found.timings, 0.0))

    pipeline.Pipeline.analyse = looked_up
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=8000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsflow-floor-") as tmp:
        Path(tmp, "sitecustomize.py").write_text(SITECUSTOMIZE.format(repo=str(REPO)))
        env = dict(os.environ, STREAM_FLOOR_ARTICLES=str(args.articles),
                   PYTHONPATH=os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")])))
        return subprocess.run([sys.executable, "-m", "streams.cli", "bench", "--articles", str(args.articles)],
                              cwd=REPO, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
