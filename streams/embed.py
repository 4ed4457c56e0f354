"""Sentence embeddings for the rewrite tier, loaded offline from the repository.

The shipped model (streams/models/minilm-m2v, see its NOTICE) is a model2vec static model
distilled from all-MiniLM-L6-v2 by tools/distill_model.py: an embedding is the mean of per-token
vectors, so encoding costs a tokenizer call and a numpy gather (no torch at run time).
Vectors are L2-normalised and quantised to int8 for storage (`quantise`).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parent / "models" / "minilm-m2v"


class Embedder:
    def __init__(self, path: str | os.PathLike = MODEL_DIR) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local path; never let a typo reach a hub
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(path))
        self.dims = int(self.model.dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, float32, one row per text (an empty text gives a zero row)."""
        vectors = np.asarray(self.model.encode(texts, show_progress_bar=False), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def quantise(unit: np.ndarray) -> bytes:
    # Unit vector components are small; scale so the largest fits int8 (cosine is scale free).
    peak = float(np.abs(unit).max()) if unit.size else 0.0
    if peak == 0.0:
        return bytes(len(unit))
    return np.clip(np.rint(unit * (127.0 / peak)), -127, 127).astype(np.int8).tobytes()


def cosine(a: bytes, b: bytes) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    x = np.frombuffer(a, dtype=np.int8).astype(np.float32)
    y = np.frombuffer(b, dtype=np.int8).astype(np.float32)
    denom = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / denom if denom else 0.0


@lru_cache(maxsize=1)
def default_embedder() -> Embedder | None:
    """The shipped model, or None when it is absent (the rewrite tier then stays off)."""
    if not (MODEL_DIR / "config.json").exists():
        return None
    return Embedder(MODEL_DIR)
