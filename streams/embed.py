"""Sentence embeddings for the rewrite tier, loaded offline from the repository.

The shipped model (streams/models/minilm-m2v, see its NOTICE) is a model2vec static model
distilled from all-MiniLM-L6-v2 by tools/distill_model.py: an embedding is the mean of per-token
vectors, so encoding costs a tokenizer call and a numpy gather (no torch at run time).
Vectors are L2-normalised and quantised to 4 bits a component for storage (`quantise`).

`Embedder.encode` computes exactly what model2vec's StaticModel.encode does (mean of the token rows,
no special tokens, unknown tokens dropped, then L2 norm) but tokenises each whitespace-separated
chunk once and caches its token ids: WordPiece never looks across whitespace, so the ids of a text
are the concatenation of its chunks' ids, and news vocabulary repeats enough that almost every
chunk is a cache hit. That turns a ~0.3 ms per-call overhead into a dict lookup per word.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parent / "models" / "minilm-m2v"
CACHE_CHUNKS = 200_000  # distinct chunks remembered; cleared wholesale when full (~20 MB at most)


class Embedder:
    def __init__(self, path: str | os.PathLike = MODEL_DIR) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local path; never let a typo reach a hub
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(path))
        self.dims = int(self.model.dim)
        # The fast path below is only exact for a plain mean-pooled model: no per-token weights or
        # remapping. Anything else goes through model2vec itself.
        self._plain = self.model.weights is None and self.model.token_mapping is None
        self._table = np.asarray(self.model.embedding, dtype=np.float32)
        self._tokenizer = self.model.tokenizer
        self._unk = self.model.unk_token_id
        self._max_tokens = self.model.max_length or 1 << 30
        self._chunk_ids: dict[str, list[int]] = {}
        self._prefixes: dict[int, np.ndarray] = {self.dims: self._table}

    def _ids(self, text: str) -> list[int]:
        cache = self._chunk_ids
        ids: list[int] = []
        for chunk in text.split():
            found = cache.get(chunk)
            if found is None:
                if len(cache) >= CACHE_CHUNKS:
                    cache.clear()
                found = [i for i in self._tokenizer.encode(chunk, add_special_tokens=False).ids if i != self._unk]
                cache[chunk] = found
            ids += found
            if len(ids) >= self._max_tokens:
                return ids[: self._max_tokens]
        return ids

    def direction(self, text: str, dims: int) -> np.ndarray:
        """The first `dims` components of the sum of the text's token vectors: the same direction as
        the prefix of encode([text])[0], without the normalising (quantise() rescales anyway).
        The per-article fast path of the fingerprinter."""
        if not self._plain:
            return self.encode([text])[0, :dims]
        table = self._prefixes.get(dims)
        if table is None:  # one contiguous copy per width asked for (two: articles and headlines)
            table = self._prefixes[dims] = np.ascontiguousarray(self._table[:, :dims])
        ids = self._ids(text)
        if not ids:
            return np.zeros(table.shape[1], dtype=np.float32)
        return np.add.reduce(table[ids], axis=0)

    def unit(self, text: str) -> np.ndarray:
        """encode([text])[0] for one text (the per-article path): the normalised sum of its token
        vectors, which is the normalised mean, without the batch's row copies."""
        v = self.direction(text, self.dims)
        norm = float(np.sqrt(v @ v))
        return v / norm if norm else v

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, float32, one row per text (an empty text gives a zero row)."""
        if self._plain:
            vectors = np.zeros((len(texts), self.dims), dtype=np.float32)
            for row, text in enumerate(texts):
                ids = self._ids(text)
                if ids:
                    vectors[row] = self._table[ids].mean(axis=0)
        else:
            vectors = np.asarray(self.model.encode(texts, show_progress_bar=False), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def quantise(vector: np.ndarray) -> bytes:
    """Signed 4-bit components, two per byte (64 dims -> 32 bytes). Cosine is scale free, so each
    vector is scaled to use the full [-7, 7] range (any length of input will do); the rounding error
    moves a cosine by ~0.01."""
    if vector.size % 2:
        vector = np.append(vector, 0.0)
    peak = float(np.abs(vector).max()) if vector.size else 0.0
    if peak == 0.0:
        return bytes(vector.size // 2)
    nibbles = np.rint(vector * (7.0 / peak)).astype(np.int8).view(np.uint8) & 0x0F
    return (nibbles[0::2] | (nibbles[1::2] << 4)).tobytes()


def dequantise(packed: bytes) -> np.ndarray:
    raw = np.frombuffer(packed, dtype=np.uint8)
    nibbles = np.empty(raw.size * 2, dtype=np.int8)
    nibbles[0::2] = (raw & 0x0F).astype(np.int8)
    nibbles[1::2] = (raw >> 4).astype(np.int8)
    return np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.float32)


@lru_cache(maxsize=16384)
def _dequantised(packed: bytes) -> tuple[np.ndarray, np.float32]:
    # A stored article is compared with many later ones: its vector and norm are worth keeping.
    x = dequantise(packed)
    return x, np.linalg.norm(x)


def cosine(a: bytes, b: bytes) -> float:
    """Cosine of two quantised vectors over the components both have (a bare headline keeps more
    components than a full article: the two compare on the shared prefix)."""
    n = min(len(a), len(b))
    if not n:
        return 0.0
    (x, nx), (y, ny) = _dequantised(a[:n]), _dequantised(b[:n])
    denom = float(nx * ny)
    return float(x @ y) / denom if denom else 0.0


@lru_cache(maxsize=1)
def default_embedder() -> Embedder | None:
    """The shipped model, or None when it is absent (the rewrite tier then stays off)."""
    if not (MODEL_DIR / "config.json").exists():
        return None
    return Embedder(MODEL_DIR)
