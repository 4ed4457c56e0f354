"""Step 3: the dedup decision, over any KeyValueStore.

Contract (streams.pipeline for batch, streams.app for the stream):

    index = DedupIndex(store, window_s=7 * 86400)
    match = index.probe(article_id, fingerprint, seen_at, keys=None)
        Look up every candidate that shares one of `keys` (default: all fingerprint.keys), verify
        it with the tiers (exact, near, rewrite), then index the article under those keys.
        Returns the best Match or None. Redelivering the same article id is harmless: it never
        matches itself and is not indexed twice. In the stream each partition that owns some of
        the article's keys runs probe() with just those keys; `combine` merges the answers.
    result = combine(article_id, [match_or_None, ...]) -> DedupResult
    index.expire(now) -> number of articles dropped (older than the window)
    index.stats() -> IndexStats(articles, entries, bytes)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import orjson
import xxhash

from .fingerprint import Fingerprint
from .state import KeyValueStore

KINDS = ("exact", "near", "rewrite")


@dataclass(frozen=True, slots=True)
class Match:
    candidate_id: str  # the earlier article the evidence is about
    root_id: str  # earliest-seen member of that article's group
    root_seen_at: float
    kind: str  # one of KINDS
    similarity: float  # in [0, 1]

    def to_dict(self) -> dict:
        return {"candidate_id": self.candidate_id, "root_id": self.root_id, "root_seen_at": self.root_seen_at,
                "kind": self.kind, "similarity": self.similarity}

    @classmethod
    def from_dict(cls, d: dict) -> "Match":
        return cls(d["candidate_id"], d["root_id"], d["root_seen_at"], d["kind"], d["similarity"])


@dataclass(frozen=True, slots=True)
class DedupResult:
    duplicate_of: str | None
    duplicate_kind: str | None
    similarity: float | None
    cluster_id: str


@dataclass(frozen=True, slots=True)
class IndexStats:
    articles: int
    entries: int
    bytes: int


def cluster_id_for(root_id: str) -> str:
    # Stable across workers and restarts: derived from the group's first member only.
    return "c" + xxhash.xxh3_64_hexdigest(root_id.encode())


def combine(article_id: str, matches: Iterable[Match | None]) -> DedupResult:
    found = [m for m in matches if m is not None and m.candidate_id != article_id]
    if not found:
        return DedupResult(None, None, None, cluster_id_for(article_id))
    rank = {k: i for i, k in enumerate(KINDS)}
    root = min(found, key=lambda m: (m.root_seen_at, m.root_id))
    best = min(found, key=lambda m: (rank[m.kind], -m.similarity))
    return DedupResult(root.root_id, best.kind, round(best.similarity, 4), cluster_id_for(root.root_id))


class DedupIndex:
    # Placeholder until the dedup issue lands: exact-content matches only.
    _POST = b"k:"
    _ART = b"a:"

    def __init__(self, store: KeyValueStore, window_s: float = 7 * 86400.0) -> None:
        self.store = store
        self.window_s = window_s

    def probe(self, article_id: str, fp: Fingerprint, seen_at: float,
              keys: Sequence[bytes] | None = None) -> Match | None:
        keys = fp.keys if keys is None else keys
        best: Match | None = None
        for key in keys:
            posted = self.store.get(self._POST + key)
            if posted is None:
                continue
            other = orjson.loads(posted)
            if other["id"] != article_id and other["seen_at"] >= seen_at - self.window_s:
                m = Match(other["id"], other["root"], other["root_seen_at"], "exact", 1.0)
                if best is None or m.root_seen_at < best.root_seen_at:
                    best = m
        if best is None:
            entry = {"id": article_id, "seen_at": seen_at, "root": article_id, "root_seen_at": seen_at}
            for key in keys:
                if self.store.get(self._POST + key) is None:
                    self.store.put(self._POST + key, orjson.dumps(entry))
        return best

    def expire(self, now: float) -> int:
        dropped = 0
        for key, value in self.store.items():
            if key.startswith(self._POST) and orjson.loads(value)["seen_at"] < now - self.window_s:
                self.store.delete(key)
                dropped += 1
        return dropped

    def stats(self) -> IndexStats:
        n = size = 0
        for key, value in self.store.items():
            n += 1
            size += len(key) + len(value)
        return IndexStats(n, n, size)


