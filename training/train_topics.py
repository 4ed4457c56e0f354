#!/usr/bin/env python3
"""Train the topic classifier shipped at streams/data/classifier/topics.npz.

    .venv/bin/pip install scikit-learn      # training only; run time needs numpy alone
    .venv/bin/python training/train_topics.py [--data /work/shared/data] [--out streams/data/classifier/topics.npz]

What it fits on (training/SOURCES.md has the licences and attribution):
  * training/corpus/*.tsv: headlines and leads written for this project, including the word-sense
    hard negatives (recall election, price war, shooting a film, ...);
  * from the development set, only the items of shippable sources: HuffPost News Category v3
    (CC BY 4.0), ECB+ (CC BY 3.0) and the FDA/USDA recall notices (public domain).
  RUWA (non-commercial) and BBC (research only) items are never fitted on: they are scored only.

Honest figures: source-disjoint cross-validation. Each shippable source group (huffpost, ecb, fda+usda)
is held out in turn and predicted by a model fitted on the written corpus and the other groups; RUWA
and BBC are predicted by the full model (never fitted on). Those out-of-fold predictions are scored with
the shared score.py and written to training/cv_report.json. Platt calibration (one slope and offset per
topic) is fitted on the out-of-fold logits of the shippable groups only (never on BBC or RUWA labels;
war keeps the raw logit, as only 20 shippable items are war), so shipped scores read as probabilities.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from streams.classify import (CUE_FEATURES, RECALL_GATE_PENALTY, TOPICS, analyse,  # noqa: E402
                              default_fast_embedder, embed_text)

SHIPPABLE = {"huffpost.com": "huffpost", "ecb-archive": "ecb", "FDA": "recall-notices", "USDA": "recall-notices"}
C = 16.0         # inverse L2 strength, chosen by the source-disjoint CV below
MIN_DF = 2       # a feature must occur in two training texts
EMBED_DIMS = 128  # the shipped model2vec model's dimensions (streams/models/minilm-m2v)
PRUNE = 1e-3
MIN_CALIBRATION_POSITIVES = 50   # fewer held-out positives than this: keep the LR logit as it is     # features whose weights are all below this are not shipped


def load_corpus(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.tsv")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise SystemExit(f"{path}:{n}: want labels<TAB>title<TAB>lead, got {len(parts)} fields")
            labels = set() if parts[0] == "-" else set(parts[0].split(","))
            if labels - set(TOPICS):
                raise SystemExit(f"{path}:{n}: unknown topic in {parts[0]!r}")
            rows.append({"id": f"{path.stem}:{n}", "title": parts[1], "body": parts[2], "topics": labels,
                         "group": "written"})
    return rows


def load_dev(data: Path) -> list[dict]:
    labels = {}
    with open(data / "topics.labels.jsonl") as f:
        for line in f:
            r = json.loads(line)
            labels[r["id"]] = set(r["topics"])
    rows = []
    with open(data / "topics.articles.jsonl") as f:
        for line in f:
            a = json.loads(line)
            group = SHIPPABLE.get(a["source"], "bbc" if a["source"] == "bbc.co.uk" else "ruwa")
            rows.append({"id": a["id"], "title": a.get("title") or "", "body": a.get("body") or "",
                         "topics": labels[a["id"]], "group": group})
    return rows


def featurise(rows: list[dict]) -> list[tuple]:
    """(features, cues, gate, embedding) per row: exactly what TopicClassifier computes at run time."""
    embedder = default_fast_embedder()
    return [analyse(r["title"], r["body"]) + (embedder.encode(embed_text(r["title"], r["body"])),) for r in rows]


def matrix(feats: list[tuple], index: dict[str, int]) -> sparse.csr_matrix:
    # Same values as run time: each known feature is worth 1/sqrt(all features of the text);
    # the dense cue features and then the embedding follow the bag columns.
    indptr, cols, vals = [0], [], []
    for fs, _, _, _ in feats:
        v = 1.0 / math.sqrt(len(fs)) if fs else 0.0
        known = sorted({index[f] for f in fs if f in index})
        cols.extend(known)
        vals.extend([v] * len(known))
        indptr.append(len(cols))
    bag = sparse.csr_matrix((vals, cols, indptr), shape=(len(feats), len(index)))
    cues = sparse.csr_matrix(np.array([c for _, c, _, _ in feats]).reshape(len(feats), len(CUE_FEATURES)))
    emb = sparse.csr_matrix(np.array([e for _, _, _, e in feats]).reshape(len(feats), EMBED_DIMS))
    return sparse.hstack([bag, cues, emb], format="csr")


def fit(feats: list[tuple], rows: list[dict]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    df = Counter(f for fs, _, _, _ in feats for f in fs)
    vocab = sorted(f for f, n in df.items() if n >= MIN_DF)
    index = {f: i for i, f in enumerate(vocab)}
    X = matrix(feats, index)
    W = np.zeros((len(vocab) + len(CUE_FEATURES) + EMBED_DIMS, len(TOPICS)))
    b = np.zeros(len(TOPICS))
    for k, t in enumerate(TOPICS):
        y = np.array([t in r["topics"] for r in rows], dtype=int)
        model = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
        model.fit(X, y)
        W[:, k] = model.coef_[0]
        b[k] = model.intercept_[0]
    We, Wc, W = W[len(vocab) + len(CUE_FEATURES):], W[len(vocab):len(vocab) + len(CUE_FEATURES)], W[:len(vocab)]
    keep = np.abs(W).max(axis=1) >= PRUNE
    return [f for f, k in zip(vocab, keep) if k], W[keep], Wc, We, b


def logits(model, feats: list[tuple]) -> np.ndarray:
    vocab, W, Wc, We, b = model
    return matrix(feats, {f: i for i, f in enumerate(vocab)}) @ np.vstack([W, Wc, We]) + b


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def out_of_fold(folds: list, written: list[dict], ship: list[dict], f_written: list[tuple],
                f_ship: list[tuple]) -> np.ndarray:
    """Logits of each shippable item from a model fitted on the written corpus and the shippable items
    of the other folds (`folds`: one fold label per shippable item, e.g. its source group)."""
    oof = np.zeros((len(ship), len(TOPICS)))
    for held in sorted(set(folds)):
        tr = [i for i, f in enumerate(folds) if f != held]
        te = [i for i, f in enumerate(folds) if f == held]
        model = fit(f_written + [f_ship[i] for i in tr], written + [ship[i] for i in tr])
        oof[te] = logits(model, [f_ship[i] for i in te])
        print(f"  fold without {held}: {len(te)} held out", file=sys.stderr)
    return oof


def calibration(oof: np.ndarray, ship: list[dict]) -> np.ndarray:
    """Platt (slope, offset) per topic, fitted on the shippable items' out-of-fold logits."""
    cal = np.zeros((len(TOPICS), 2))
    for k, t in enumerate(TOPICS):
        y = np.array([t in r["topics"] for r in ship], dtype=int)
        if y.sum() >= MIN_CALIBRATION_POSITIVES:
            cal[k] = platt(oof[:, k], y)
        else:   # war: only ECB+'s 20 bombing stories are shippable; too few to calibrate on
            cal[k] = (1.0, 0.0)
    return cal


def calibrated(z: np.ndarray, cal: np.ndarray, gates: np.ndarray) -> np.ndarray:
    s = cal[:, 0] * z + cal[:, 1]
    s[:, TOPICS.index("recalls")] -= np.where(gates, 0.0, RECALL_GATE_PENALTY)
    return 1.0 / (1.0 + np.exp(-np.clip(s, -30, 30)))


def score(rows: list[dict], probs: np.ndarray, scorer: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lab, out = Path(tmp) / "labels.jsonl", Path(tmp) / "out.jsonl"
        lab.write_text("".join(json.dumps({"id": r["id"], "topics": sorted(r["topics"])}) + "\n" for r in rows))
        out.write_text("".join(json.dumps({"id": r["id"], "duplicate_of": None,
                                           "topics": [t for k, t in enumerate(TOPICS) if p[k] >= 0.5]}) + "\n"
                               for r, p in zip(rows, probs)))
        res = subprocess.run([sys.executable, str(scorer), "topics", str(lab), str(out)],
                             capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--scorer", type=Path, default=Path("/work/shared/eval/score.py"))
    ap.add_argument("--out", type=Path, default=ROOT / "streams" / "data" / "classifier" / "topics.npz")
    ap.add_argument("--report", type=Path, default=ROOT / "training" / "cv_report.json")
    ap.add_argument("--dump", type=Path, help="write the out-of-fold scores per article here (for reading errors)")
    args = ap.parse_args()

    written = load_corpus(ROOT / "training" / "corpus")
    dev = load_dev(args.data)
    ship = [r for r in dev if r["group"] in set(SHIPPABLE.values())]
    never = [r for r in dev if r["group"] in ("bbc", "ruwa")]
    f_written, f_ship, f_never = featurise(written), featurise(ship), featurise(never)
    print(f"written {len(written)}  shippable dev {len(ship)}  never-fitted dev {len(never)}", file=sys.stderr)

    # Source-disjoint CV over the shippable groups.
    oof = out_of_fold([r["group"] for r in ship], written, ship, f_written, f_ship)

    full = fit(f_written + f_ship, written + ship)
    z_never = logits(full, f_never)

    # Platt on the out-of-fold logits of the shippable sources only: calibration is fitting too, so the
    # BBC and RUWA labels never reach it (they are scored, nothing else).
    z_all = np.vstack([oof, z_never])
    rows_all = ship + never
    gates = np.array([g["open"] for _, _, g, _ in f_ship + f_never])
    cal = calibration(oof, ship)
    probs = calibrated(z_all, cal, gates)

    if args.dump:
        with open(args.dump, "w") as f:
            for r, p in zip(rows_all, probs):
                f.write(json.dumps({"id": r["id"], "group": r["group"], "gold": sorted(r["topics"]),
                                    "scores": dict(zip(TOPICS, np.round(p, 3).tolist())),
                                    "title": r["title"], "body": r["body"][:200]}) + "\n")
    report = {"method": "source-disjoint CV: huffpost / ecb / fda+usda each predicted by a model not fitted on it; "
                        "bbc and ruwa by the full model, which never sees them. Platt calibration fitted on the shippable "
                        "out-of-fold scores only (war: none, too few positives). Threshold 0.5 on calibrated scores.",
              "all_dev": score(rows_all, probs, args.scorer)}
    for g in ("huffpost", "ecb", "recall-notices", "bbc", "ruwa"):
        sel = [i for i, r in enumerate(rows_all) if r["group"] == g]
        report[g] = score([rows_all[i] for i in sel], probs[sel], args.scorer)
    report["platt"] = {t: {"a": round(cal[k, 0], 4), "b": round(cal[k, 1], 4)} for k, t in enumerate(TOPICS)}
    vocab, W, Wc, We, b = full
    report["cue_weights"] = {c: dict(zip(TOPICS, np.round(Wc[j], 3).tolist())) for j, c in enumerate(CUE_FEATURES)}
    report["model"] = {"features": len(vocab), "embedding_dims": EMBED_DIMS, "C": C, "min_df": MIN_DF, "written_rows": len(written),
                       "dev_rows_fitted": len(ship)}
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("all_dev",)}, indent=1))
    for g in ("huffpost", "ecb", "recall-notices", "bbc", "ruwa"):
        print(g, {t: report[g][t]["f1"] for t in TOPICS}, file=sys.stderr)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, vocab=np.array(vocab), weights=W.astype(np.float32), bias=b,
                        cue_weights=Wc, embed_weights=We.astype(np.float32), cue_features=np.array(CUE_FEATURES), platt=cal, topics=np.array(TOPICS))
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB, {len(vocab)} features)", file=sys.stderr)


if __name__ == "__main__":
    main()
