#!/usr/bin/env python3
"""How far each dedup threshold is from changing the development scores: a robustness check.

    .venv/bin/python tools/dedup_sensitivity.py [--data ../shared/data] [--step 0.1]

A rule tuned to the last digit of one data set fails on the next one. This tool checks that the
dedup core's thresholds (streams.dedup) are not so tuned, running the whole core end to end over the
development sets (tools/eval_dedup.py `run`: 4 partitions, the stream's routing, transitive groups)
and scoring each run with score.py:

1. one step: each threshold moved one step looser and one step tighter, one at a time, then all
   looser at once; headlines and copies F1 and the story set's false links across events (the
   figure that must stay 0) for each. A step is 0.1 for similarity thresholds (or half the value,
   when that is smaller), 0.25 for the headline bar (logit units), one for the shared-name count;
2. margin: for each threshold alone, the loosest value that still makes no false link across the
   story set's events, found by bisection (to 0.01; the bound when even that makes none). The
   distance from the shipped value to it is how much room the guard has.

Prints one JSON object.
Development data only: never point it at ../shared/holdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_dedup  # noqa: E402
from streams import dedup  # noqa: E402
from streams.fingerprint import Fingerprinter  # noqa: E402

# (constant, loosening direction): +1 when a higher value lets more pairs match.
THRESHOLDS = {
    "NEAR_RESEMBLANCE": -1, "NEAR_CONTAINMENT": -1, "NEAR_LEAD": -1,
    "HEADLINE_BAR": -1, "REWRITE_MIN_COSINE": -1, "MIXED_REWRITE_SCORE": -1,
    "ARTICLE_REWRITE_COSINE": -1, "ARTICLE_REWRITE_NAMES": -1, "ARTICLE_REWRITE_NAME_SHARE": -1,
    "ARTICLE_REWRITE_JACCARD": -1, "NUMBER_SHARE": -1,
}


# How far loosening may go when searching for the first false link.
BOUNDS = {"HEADLINE_BAR": -5.0, "ARTICLE_REWRITE_NAMES": 0}


def step_of(name: str, value: float, step: float) -> float:
    if name == "ARTICLE_REWRITE_NAMES":
        return 1
    if name == "HEADLINE_BAR":
        return 2.5 * step
    return min(step, abs(value) / 2) if value else step


def scores(sets: dict, fingerprinter: Fingerprinter, scorer, only: str | None = None) -> dict:
    out = {}
    for name, (kind, articles, labels) in sets.items():
        if only is not None and name != only:
            continue
        enriched = eval_dedup.run(articles, 4, fingerprinter)[0]
        if kind == "pairs":
            out[name] = scorer.score_pairs(labels, enriched)["f1"]
        elif kind == "groups":
            out[name] = scorer.score_groups(labels, enriched)["f1"]
        else:
            scored = scorer.score_events(labels, enriched)
            out[name] = {"false_links": scored["false_links_across_events"], "within": scored["links_within_event"]}
    return out


def with_values(values: dict[str, float], run):
    saved = {name: getattr(dedup, name) for name in values}
    try:
        for name, value in values.items():
            setattr(dedup, name, value)
        return run()
    finally:
        for name, value in saved.items():
            setattr(dedup, name, value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--step", type=float, default=0.1)
    args = ap.parse_args()
    if "holdout" in args.data.parts:
        sys.exit("dedup_sensitivity.py: development data only (the holdout set is never read)")
    scorer = eval_dedup.load_scorer(args.data.parent / "eval" / "score.py")
    sets = {}
    for name, kind in eval_dedup.SETS:
        articles = [json.loads(line) for line in open(args.data / f"{name}.articles.jsonl") if line.strip()]
        labels = [json.loads(line) for line in open(args.data / f"{name}.labels.jsonl") if line.strip()]
        sets[name] = (kind, articles, labels)
    fingerprinter = Fingerprinter()

    def run() -> dict:
        return scores(sets, fingerprinter, scorer)

    def false_links() -> int:
        return scores(sets, fingerprinter, scorer, only="dedup-stories")["dedup-stories"]["false_links"]

    report = {"shipped": run(), "one_step": {}, "margin": {}}
    loosest = {}
    for name, loosen in THRESHOLDS.items():
        value = getattr(dedup, name)
        step = step_of(name, value, args.step)
        looser, tighter = value + loosen * step, value - loosen * step
        loosest[name] = looser
        report["one_step"][name] = {
            "shipped": value,
            "looser": {"value": round(looser, 4), **with_values({name: looser}, run)},
            "tighter": {"value": round(tighter, 4), **with_values({name: tighter}, run)},
        }
        report["margin"][name] = margin(name, value, loosen, false_links)
    report["one_step"]["all_looser_at_once"] = with_values(loosest, run)
    print(json.dumps(report, indent=1))


def margin(name: str, value: float, loosen: int, false_links) -> dict:
    """The loosest value of one threshold that still makes no false link across events."""
    bound = BOUNDS.get(name, 0.0 if loosen < 0 else 1.0)
    if with_values({name: bound}, false_links) == 0:
        return {"shipped": value, "first_false_link_at": None, "none_even_at": bound}
    integer = isinstance(value, int)
    safe, unsafe = value, bound   # safe makes no false link (the shipped value), unsafe makes some
    while abs(unsafe - safe) > (1 if integer else 0.01):
        middle = (safe + unsafe) // 2 if integer else (safe + unsafe) / 2
        if with_values({name: middle}, false_links) == 0:
            safe = middle
        else:
            unsafe = middle
    return {"shipped": value, "loosest_without_false_links": round(safe, 3), "first_false_link_at": round(unsafe, 3)}


if __name__ == "__main__":
    main()
