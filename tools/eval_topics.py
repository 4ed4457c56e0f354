#!/usr/bin/env python3
"""Score the shipped topic classifier on the development set and measure its speed.

    .venv/bin/python tools/eval_topics.py [--data /work/shared/data] [--out var/eval/topics.out.jsonl]

Runs streams.classify.TopicClassifier over topics.articles.jsonl, writes {id, duplicate_of: null, topics}
records, scores them with the shared score.py, and prints:
  * per-topic precision/recall/F1 and macro F1 on the whole set (note: the shipped model is fitted on
    the HuffPost, ECB+ and FDA/USDA items of this set, so this figure is optimistic for those sources);
  * the same on the sources the model never saw (BBC and RUWA: evaluation-only licences);
  * the source-disjoint cross-validation figure from training/cv_report.json (the honest estimate);
  * a confusion summary: for each gold label, what was predicted, per source;
  * classification articles/s (classifier alone, single core, CPU time): whole set, full articles, and
    full articles with the embedding passed in by the caller.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from streams.classify import TOPICS, TopicClassifier, embed_text  # noqa: E402
from streams.config import load as load_settings  # noqa: E402

FITTED_SOURCES = {"huffpost.com", "ecb-archive", "FDA", "USDA"}


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_score(scorer: Path, labels: list[dict], outputs: list[dict], tmp: Path, name: str) -> dict:
    lab, out = tmp / f"{name}.labels.jsonl", tmp / f"{name}.out.jsonl"
    lab.write_text("".join(json.dumps(x) + "\n" for x in labels))
    out.write_text("".join(json.dumps(x) + "\n" for x in outputs))
    res = subprocess.run([sys.executable, str(scorer), "topics", str(lab), str(out)], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"score.py failed: {res.stdout}{res.stderr}")
    return json.loads(res.stdout)


def table(title: str, result: dict) -> None:
    print(f"\n{title}")
    print(f"  {'topic':<14}{'P':>7}{'R':>7}{'F1':>7}{'tp':>6}{'fp':>6}{'fn':>6}")
    for t in TOPICS:
        r = result[t]
        print(f"  {t:<14}{r['precision']:>7.3f}{r['recall']:>7.3f}{r['f1']:>7.3f}{r['tp']:>6}{r['fp']:>6}{r['fn']:>6}")
    print(f"  macro F1 {result['macro_f1']:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--scorer", type=Path, default=Path("/work/shared/eval/score.py"))
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "eval" / "topics.out.jsonl")
    ap.add_argument("--speed-rounds", type=int, default=5, help="passes over the set for the speed figure (best kept)")
    args = ap.parse_args()

    articles = read_jsonl(args.data / "topics.articles.jsonl")
    labels = {x["id"]: x for x in read_jsonl(args.data / "topics.labels.jsonl")}
    clf = TopicClassifier(thresholds=load_settings().topic_thresholds)
    print(f"thresholds (from configuration): {clf.thresholds}")

    outputs = []
    for a in articles:
        topics, _ = clf.classify(a.get("title") or "", a.get("body") or "")
        outputs.append({"id": a["id"], "duplicate_of": None, "topics": topics})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(o) + "\n" for o in outputs))

    tmp = args.out.parent
    gold = [labels[a["id"]] for a in articles]
    table("whole dev set (shipped model; fitted on the HuffPost/ECB+/FDA/USDA items of it)",
          run_score(args.scorer, gold, outputs, tmp, "all"))
    unseen = [i for i, a in enumerate(articles) if a["source"] not in FITTED_SOURCES]
    table(f"never-fitted sources only (BBC, RUWA: {len(unseen)} items)",
          run_score(args.scorer, [gold[i] for i in unseen], [outputs[i] for i in unseen], tmp, "unseen"))
    cv = ROOT / "training" / "cv_report.json"
    if cv.exists():
        table("source-disjoint cross-validation (training/cv_report.json: no item scored by a model fitted on its source)",
              json.loads(cv.read_text())["all_dev"])

    print("\nconfusion summary (gold label -> predicted label sets, by source; errors only)")
    conf: dict[tuple, Counter] = defaultdict(Counter)
    for a, g, o in zip(articles, gold, outputs):
        if set(g["topics"]) != set(o["topics"]):
            source = a["source"] if a["source"] in FITTED_SOURCES | {"bbc.co.uk"} else "ruwa"
            conf[(",".join(g["topics"]) or "none", source)][",".join(o["topics"]) or "none"] += 1
    for (g, source), c in sorted(conf.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  gold {g:<14} {source:<13} -> " + ", ".join(f"{p}: {n}" for p, n in c.most_common()))

    texts = [(a.get("title") or "", a.get("body") or "") for a in articles]
    full = [tb for tb in texts if len(tb[1]) > 1500]
    chars = sum(len(t) + len(b) for t, b in texts) / len(texts)
    for t, b in texts:   # warm the embedder's word cache, as a running worker has
        clf.classify(t, b)

    def rate(items, embeddings=None) -> float:
        # CPU time of this process: other jobs on a shared machine inflate wall-clock figures.
        best = float("inf")
        for _ in range(args.speed_rounds):
            start = time.process_time()
            if embeddings is None:
                for t, b in items:
                    clf.classify(t, b)
            else:
                for (t, b), e in zip(items, embeddings):
                    clf.classify(t, b, embedding=e)
            best = min(best, time.process_time() - start)
        return len(items) / best

    print(f"\nclassification speed (best of {args.speed_rounds} passes, CPU time, one core):")
    print(f"  {rate(texts):,.0f} articles/s over the dev set (mean {chars:,.0f} chars)")
    print(f"  {rate(full):,.0f} articles/s on the {len(full)} full articles (> 1,500 chars)")
    if clf.embedder is not None:
        vectors = [clf.embedder.encode(embed_text(t, b)) for t, b in full]
        print(f"  {rate(full, vectors):,.0f} articles/s on the full articles when the caller passes the "
              "embedding (classify(..., embedding=v), e.g. the fingerprinter's vector)")


if __name__ == "__main__":
    main()
