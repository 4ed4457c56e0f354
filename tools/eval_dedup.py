#!/usr/bin/env python3
"""Score the dedup core on the labelled development sets.

    .venv/bin/python tools/eval_dedup.py [--data /work/shared/data] [--partitions 4] [--out DIR]
    .venv/bin/python tools/eval_dedup.py --scale [--partitions 4]    # bytes per article as it grows

Feeds each articles file in its order through prepare -> fingerprint -> DedupIndex -> combine,
with --partitions N stores and every key routed by topology.partition_for, exactly as the stream
and `newsflow process` do; writes enriched-like JSONL {id, duplicate_of, duplicate_kind,
similarity, cluster_id, topics: []} and runs score.py on it. Prints one JSON summary: the score per set,
the core's time per article and articles/s, and the index's stored bytes per article.
"""
from __future__ import annotations

import argparse
import importlib.util
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
from streams.topology import partition_for  # noqa: E402

SETS = (("dedup-headlines", "pairs"), ("dedup-copies", "groups"), ("dedup-stories", "events"))


def load_scorer(path: Path):
    """score.py as a module, for tools that score many runs in one process (score_pairs, ...)."""
    spec = importlib.util.spec_from_file_location("score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def partition_of(key: bytes, partitions: int) -> int:
    # Exactly the stream's (and `newsflow process`'s) key router.
    return partition_for(key, partitions)


def run(articles: list[dict], partitions: int, fingerprinter: Fingerprinter,
        adopt: bool = True) -> tuple[list[dict], dict]:
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
            # As the stream's decide step and `newsflow process` do: every probed partition learns
            # the group root combine() chose (DedupIndex.adopt_root).
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


def scale(data: Path, partitions: int, fingerprinter: Fingerprinter) -> dict:
    """Stored bytes per article at checkpoints while one index takes in every article under `data`.
    Records are one per article per partition and postings one 8-byte ref per article per key, so
    the per-article figure stays flat as the index grows (the posting caps only trim it); a flat
    curve is what licenses the linear extrapolation."""
    articles = []
    for path in sorted(data.glob("*.articles.jsonl")):
        articles += [dict(json.loads(line), id=f"{path.stem}:{n}") for n, line in enumerate(open(path)) if line.strip()]
    stores = [DictStore() for _ in range(partitions)]
    indexes = [DedupIndex(s) for s in stores]
    fps = [fingerprinter.fingerprint(prepare(a.get("title") or "", a.get("body"), a.get("html"))) for a in articles]
    checkpoints, curve = {1000, 2000, 4000, len(articles)}, []
    for seen_at, (article, fp) in enumerate(zip(articles, fps), 1):
        routed: dict[int, list[bytes]] = {}
        for key in fp.keys:
            routed.setdefault(partition_of(key, partitions), []).append(key)
        combine(article["id"], [indexes[p].probe(article["id"], fp, float(seen_at), keys=ks) for p, ks in routed.items()])
        if seen_at in checkpoints:
            total = sum(ix.stats().bytes for ix in indexes)
            curve.append({"articles": seen_at, "bytes": total, "bytes_per_article": round(total / seen_at, 1)})
    per_article = curve[-1]["bytes_per_article"]
    return {"partitions": partitions, "curve": curve,
            "extrapolated_1m_articles": {"bytes": round(per_article * 1e6), "gib": round(per_article * 1e6 / 2**30, 2),
                                         "per_partition_mib": round(per_article * 1e6 / partitions / 2**20, 1),
                                         "note": "payload bytes (keys + values) as the store holds them; "
                                                 "RocksDB adds its own per-entry and compaction overhead"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--score", default=None, help="score.py (default: ../eval/score.py beside --data)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--out", default=None, help="keep the enriched files here")
    ap.add_argument("--sets", default=",".join(s for s, _ in SETS))
    ap.add_argument("--scale", action="store_true",
                    help="index every *.articles.jsonl under --data in one stream and report stored bytes "
                         "per article as the index grows, with a linear extrapolation to 1 million")
    args = ap.parse_args()
    if args.scale:
        print(json.dumps(scale(Path(args.data), args.partitions, Fingerprinter()), indent=1))
        return
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
