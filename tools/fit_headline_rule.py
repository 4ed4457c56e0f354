#!/usr/bin/env python3
"""Refit the headline rule of the rewrite tier and estimate how well it carries over to unseen pairs.

    .venv/bin/pip install -e '.[train]'      # scikit-learn, for this tool only
    .venv/bin/python tools/fit_headline_rule.py [--data ../shared/data] [--folds 5] [--repeats 5]

Two bare headlines match when a linear score of their evidence (streams.dedup.headline_evidence:
embedding cosine, shared words, clashing numbers and names) reaches HEADLINE_BAR. The weights were
fitted on the labelled pairs of dedup-headlines, so the score of the shipped weights on that set is
an in-sample figure. This tool measures what it is worth on pairs the weights never saw:

1. evidence: headline_evidence() of every labelled pair, from the same sketches the stream builds;
2. fit: logistic regression on all pairs, printed beside the shipped (rounded) weights;
3. out of fold, end to end: the pairs are cut into K folds; for each fold the rule is fitted on the
   other folds, the whole dedup core runs over every headline with those weights (tools/eval_dedup.py
   `run`: 4 partitions, the stream's routing, transitive groups), and only the held-out fold's pairs
   are scored with score.py's pair rule. Counts summed over the folds give an F1 in which no pair was
   judged by weights fitted on it; repeated over R shuffles of the folds;
4. sampling spread: the shipped rule's F1 over 1,000 bootstrap resamples of the pairs (5th and 95th
   percentiles): how far a set of this size moves the figure by chance alone.

Each pair's two headlines occur in no other pair, so a held-out pair's headlines were never fitted on.
Prints one JSON object. Development data only: never point it at ../shared/holdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_dedup  # noqa: E402
from streams import dedup  # noqa: E402
from streams.fingerprint import Fingerprinter, Sketch  # noqa: E402
from streams.prepare import prepare  # noqa: E402

SET = "dedup-headlines"
FEATURES = tuple(dedup.HEADLINE_WEIGHTS)


def evidence(articles: list[dict], labels: list[dict], fingerprinter: Fingerprinter) -> np.ndarray:
    sketches = {a["id"]: Sketch.decode(fingerprinter.fingerprint(prepare(a.get("title") or "", a.get("body"),
                                                                         a.get("html"))).sketch)
                for a in articles}
    rows = [dedup.headline_evidence(sketches[p["a"]], sketches[p["b"]]) for p in labels]
    return np.array([[row[f] for f in FEATURES] for row in rows])


def fit(x: np.ndarray, y: np.ndarray) -> tuple[dict[str, float], float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    return dict(zip(FEATURES, (float(w) for w in model.coef_[0]))), float(model.intercept_[0])


def core_output(articles: list[dict], fingerprinter: Fingerprinter, weights: dict[str, float],
                bias: float) -> list[dict]:
    """The dedup core's output for every headline, with the headline rule's weights replaced."""
    shipped = dict(dedup.HEADLINE_WEIGHTS), dedup.HEADLINE_BIAS
    dedup.HEADLINE_WEIGHTS.clear()
    dedup.HEADLINE_WEIGHTS.update(weights)
    dedup.HEADLINE_BIAS = bias
    try:
        return eval_dedup.run(articles, 4, fingerprinter)[0]
    finally:
        dedup.HEADLINE_WEIGHTS.clear()
        dedup.HEADLINE_WEIGHTS.update(shipped[0])
        dedup.HEADLINE_BIAS = shipped[1]


def counts(scorer, labels: list[dict], output: list[dict]) -> tuple[int, int, int]:
    scored = scorer.score_pairs(labels, output)   # score.py's own pair rule, on a subset of the pairs
    return scored["tp"], scored["fp"], scored["fn"]


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(1, 2 * tp + fp + fn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    if "holdout" in args.data.parts:
        sys.exit("fit_headline_rule.py: development data only (the holdout set is never read)")
    scorer = eval_dedup.load_scorer(args.data.parent / "eval" / "score.py")
    articles = [json.loads(line) for line in open(args.data / f"{SET}.articles.jsonl") if line.strip()]
    labels = [json.loads(line) for line in open(args.data / f"{SET}.labels.jsonl") if line.strip()]
    fingerprinter = Fingerprinter()
    x = evidence(articles, labels, fingerprinter)
    y = np.array([bool(p["duplicate"]) for p in labels])

    shipped_output = core_output(articles, fingerprinter, dict(dedup.HEADLINE_WEIGHTS), dedup.HEADLINE_BIAS)
    shipped = counts(scorer, labels, shipped_output)
    weights, bias = fit(x, y)

    out_of_fold = []
    for repeat in range(args.repeats):
        order = np.random.default_rng(repeat).permutation(len(labels))
        total = np.zeros(3, dtype=int)
        for k in range(args.folds):
            held = set(order[k::args.folds].tolist())
            train = np.array([i not in held for i in range(len(labels))])
            fold_weights, fold_bias = fit(x[train], y[train])
            output = core_output(articles, fingerprinter, fold_weights, fold_bias)
            total += counts(scorer, [labels[i] for i in sorted(held)], output)
        out_of_fold.append(round(f1(*total), 4))

    # Bootstrap over pairs of the shipped rule's per-pair outcomes (the groups stay as the core made them).
    root = scorer.roots(shipped_output)
    same = np.array([root[p["a"]] == root[p["b"]] for p in labels])
    rng = np.random.default_rng(0)
    spread = []
    for _ in range(args.bootstrap):
        pick = rng.integers(0, len(labels), len(labels))
        s, t = same[pick], y[pick]
        spread.append(f1(int((s & t).sum()), int((s & ~t).sum()), int((~s & t).sum())))

    print(json.dumps({
        "pairs": len(labels), "duplicates": int(y.sum()),
        "shipped": {"weights": dict(dedup.HEADLINE_WEIGHTS), "bias": dedup.HEADLINE_BIAS,
                    "f1_in_sample": round(f1(*shipped), 4),
                    "bootstrap_f1_p05_p50_p95": [round(float(q), 4) for q in np.percentile(spread, [5, 50, 95])]},
        "refit_on_all_pairs": {"weights": {k: round(v, 2) for k, v in weights.items()}, "bias": round(bias, 2)},
        "out_of_fold": {"folds": args.folds, "f1_per_repeat": out_of_fold,
                        "f1_mean": round(float(np.mean(out_of_fold)), 4)},
    }, indent=1))


if __name__ == "__main__":
    main()
