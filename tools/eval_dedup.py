#!/usr/bin/env python3
"""Score the dedup core on the labelled development sets.

    .venv/bin/python tools/eval_dedup.py [--data /work/shared/data] [--partitions 1] [--out DIR]

Feeds each articles file in its order through prepare -> fingerprint -> DedupIndex -> combine
(one DictStore, or --partitions N stores with every key routed to store hash(key) % N, as the
stream does), writes enriched-like JSONL {id, duplicate_of, duplicate_kind, similarity,
cluster_id, topics: []} and runs score.py on it. Prints one JSON summary: the score per set,
the core's time per article and articles/s, and the index's stored bytes per article.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.dedup import DedupIndex, combine  # noqa: E402
from streams.fingerprint import Fingerprinter  # noqa: E402
from streams.prepare import prepare  # noqa: E402
from streams.state import DictStore  # noqa: E402

SETS = (("dedup-headlines", "pairs"), ("dedup-copies", "groups"), ("dedup-stories", "events"))


def partition_of(key: bytes, partitions: int) -> int:
    # Stable across processes (unlike hash()): what the stream's key router does.
    import xxhash

    return xxhash.xxh3_64_intdigest(key) % partitions


def run(articles: list[dict], partitions: int, fingerprinter: Fingerprinter,
        adopt: bool = False) -> tuple[list[dict], dict]:
    stores = [DictStore() for _ in range(partitions)]
    indexes = [DedupIndex(s) for s in stores]
    out = []
    t0 = time.perf_counter()
    prepared = [prepare(a.get("title") or "", a.get("body"), a.get("html")) for a in articles]
    t1 = time.perf_counter()
    fps = fingerprinter.fingerprint_many(prepared)
    t2 = time.perf_counter()
    for seen_at, (article, fp) in enumerate(zip(articles, fps)):
        routed: dict[int, list[bytes]] = {}
        for key in fp.keys:
            routed.setdefault(partition_of(key, partitions), []).append(key)
        matches = [indexes[p].probe(article["id"], fp, float(seen_at), keys=ks) for p, ks in routed.items()]
        result = combine(article["id"], matches)
        if adopt and result.duplicate_of is not None:
            # What the stream would do if its decide step told every probed partition the group
            # root combine() chose (DedupIndex.adopt_root); off by default: it does not, yet.
            root_seen_at = min(m.root_seen_at for m in matches if m is not None and m.root_id == result.duplicate_of)
            for p in routed:
                indexes[p].adopt_root(article["id"], result, root_seen_at)
        out.append({"id": article["id"], "duplicate_of": result.duplicate_of, "duplicate_kind": result.duplicate_kind,
                    "similarity": result.similarity, "cluster_id": result.cluster_id, "topics": []})
    t3 = time.perf_counter()
    stats = [ix.stats() for ix in indexes]
    n = max(1, len(articles))
    timing = {"prepare_ms": round((t1 - t0) / n * 1e3, 4), "fingerprint_ms": round((t2 - t1) / n * 1e3, 4),
              "probe_ms": round((t3 - t2) / n * 1e3, 4), "articles_per_s": round(n / (t3 - t0), 1),
              "bytes_per_article": round(sum(s.bytes for s in stats) / n, 1),
              "keys_per_article": round(sum(len(f.keys) for f in fps) / n, 2),
              "sketch_bytes": round(sum(len(f.sketch) for f in fps) / n, 1)}
    return out, timing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--score", default=None, help="score.py (default: ../eval/score.py beside --data)")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--out", default=None, help="keep the enriched files here")
    ap.add_argument("--sets", default=",".join(s for s, _ in SETS))
    args = ap.parse_args()
    data = Path(args.data)
    score = Path(args.score) if args.score else data.parent / "eval" / "score.py"
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="eval_dedup_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprinter = Fingerprinter()
    summary = {"partitions": args.partitions, "embedder": fingerprinter.embedder is not None}
    for name, kind in SETS:
        if name not in args.sets.split(","):
            continue
        articles = [json.loads(line) for line in open(data / f"{name}.articles.jsonl") if line.strip()]
        enriched, timing = run(articles, args.partitions, fingerprinter)
        path = out_dir / f"{name}.enriched.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in enriched))
        scored = subprocess.run([sys.executable, str(score), kind, str(data / f"{name}.labels.jsonl"), str(path)],
                                capture_output=True, text=True)
        summary[name] = {"score": json.loads(scored.stdout) if scored.stdout.strip() else scored.stderr,
                         **timing}
    summary["out"] = str(out_dir)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
