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

Store layout (all packed bytes, so a RocksDB-backed table holds exactly what is counted):
    posting  key = the fingerprint key itself (kind byte E/N/L/T + hash, <= 16 bytes)
             value = 8-byte article refs, oldest first, capped per key
    record   key = b"\\x00" + 8-byte ref (xxh3-64 of the article id)
             value = seen_at, the group root found when the article was indexed (if any) with the
                     tier and similarity of that match, the id strings, then the article's sketch.
A record is written once per store (partition), however many of the article's keys land there.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable, Sequence

import xxhash

from .embed import cosine
from .fingerprint import LEAD_PERM, NUM_PERM, Fingerprint, Sketch, place_hash, term_hash as _term_hash
from .places import ALIASES, PARENT, within
from .state import KeyValueStore

KINDS = ("exact", "near", "rewrite")

# Near tier. Resemblance alone for ordinary copies; a trimmed copy or a lead-only teaser has a
# low resemblance but is almost wholly contained in its original AND starts the same way, so
# containment is accepted only together with an agreeing lead. A sidebar or footer shared by two
# different articles never changes their leads, so it cannot make them near duplicates. Nor does a
# template filled in again (the daily market close, Monday's and Tuesday's; "stocks end higher" and
# "stocks end lower"): the headline facts of different_reports() keep those apart.
NEAR_RESEMBLANCE = 0.6
NEAR_CONTAINMENT = 0.7
NEAR_LEAD = 0.5
NEAR_MIN_SHINGLES = 12  # below this a text is a headline or a stub: left to exact/rewrite
NUMBER_SHARE = 0.5  # copies and full-text rewrites share this much of the figures (numbers_agree)
SHORT_TEXT_SHINGLES = 60  # about 60 words: below this, a copy must also share something of the headline
# Rewrite tier, two bare headlines: a linear score of the evidence a paraphrase keeps and a
# different report breaks, fitted (logistic regression, weights rounded) on labelled headline pairs;
# tools/fit_headline_rule.py refits it and measures it out of fold. A pair matches when the score
# is >= HEADLINE_BAR. Words are the headline stems and numbers (Dice); numbers, names and weekdays
# count against a pair when both name some and share none, and numbers and names again when each
# side has one the other lacks; a pair of opposite words ("open"/"close", "acquitted"/"convicted",
# and "not guilty", which the fingerprint reads as "acquitted") split between the two headlines
# vetoes the pair.
HEADLINE_WEIGHTS = {"cosine": 3.5, "words": 4.4, "words_of_shorter": 3.4, "numbers": -1.3,
                    "numbers_unshared": -2.4, "names": -0.4, "names_unshared": -0.75}
HEADLINE_BIAS = -6.9
HEADLINE_BAR = 0.0
REWRITE_MIN_COSINE = 0.6
# Headline against a full article (headline + lead embedded): less alike even for the same story,
# and a looser bar would let a headline bridge two events.
REWRITE_WORD_WEIGHT = 0.8
MIXED_REWRITE_SCORE = 1.4
# Two full articles: a static embedding of headline + lead scores every same-topic story high (two
# prison escapes look alike), so a full-text rewrite also needs most of its names shared, half of its
# figures (numbers_agree: a spun copy keeps them; the same minister opening a hospital and, days
# later, a school shares the names but not the figures) and some shared phrasing (the quotes a spun
# copy keeps). Never when the specific facts disagree: both name numbers and share none, or both name
# people/places and share none.
ARTICLE_REWRITE_COSINE = 0.85
ARTICLE_REWRITE_NAMES = 3  # shared names, and at least this share of the shorter list:
ARTICLE_REWRITE_NAME_SHARE = 0.6
ARTICLE_REWRITE_JACCARD = 0.1

GROUP_DISSENT_VETOES = True
ROOT_UNSEEN_AGREES = False  # chain guard when the root's record is not in this store (see _root_agrees)

MAX_POSTING = 256  # refs kept per key; the oldest fall off first
MAX_POSTING_TERMS = 64  # headline-term pair keys are broad: keep only the most recent articles
MAX_CANDIDATES = 256

_REC = b"\x00"
_REC_HEAD = struct.Struct("<dB")  # seen_at, flags (bit 0: matched a group at index time)
_REC_ROOT = struct.Struct("<dBB")  # root_seen_at, kind index, similarity * 255
_LEN = struct.Struct("<H")


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
    found = [m for m in matches if m is not None and m.candidate_id != article_id and m.root_id != article_id]
    if not found:
        return DedupResult(None, None, None, cluster_id_for(article_id))
    # The strongest evidence decides which group the article joins (and so its root): merging
    # every group that some weaker tier touched would chain unrelated stories together.
    best = min(found, key=_strength)
    return DedupResult(best.root_id, best.kind, round(best.similarity, 4), cluster_id_for(best.root_id))


def _quantised(similarity: float) -> float:
    # What a record can hold (one byte): a redelivered article gets back exactly its first answer.
    return round(similarity * 255) / 255


def _strength(m: Match) -> tuple:
    return _ranking(KINDS.index(m.kind), m.similarity, m.root_seen_at, m.root_id)


def _ranking(kind: int, similarity: float, root_seen_at: float, root_id: str) -> tuple:
    """Strongest evidence first: the tier, then the similarity (to 4 places), then the earliest root."""
    return (kind, -round(similarity, 4), root_seen_at, root_id)


def article_ref(article_id: str) -> bytes:
    return xxhash.xxh3_64_digest(article_id.encode())


@dataclass(slots=True, frozen=True)
class _Record:
    article_id: str
    seen_at: float
    root_id: str  # the article itself when it matched nothing
    root_seen_at: float
    kind: int  # index into KINDS, -1 when it matched nothing
    similarity: float
    sketch: bytes

    def encode(self) -> bytes:
        ident = self.article_id.encode()
        out = [_REC_HEAD.pack(self.seen_at, 1 if self.kind >= 0 else 0)]
        if self.kind >= 0:
            root = self.root_id.encode()
            out += [_REC_ROOT.pack(self.root_seen_at, self.kind, round(self.similarity * 255)),
                    _LEN.pack(len(root)), root]
        out += [_LEN.pack(len(ident)), ident, self.sketch]
        return b"".join(out)

    @staticmethod
    def decode(raw: bytes) -> "_Record":
        return _decode_record(bytes(raw))

    @classmethod
    def _decode(cls, raw: bytes) -> "_Record":
        seen_at, flags = _REC_HEAD.unpack_from(raw, 0)
        off = _REC_HEAD.size
        kind, sim, root = -1, 0.0, None
        root_seen_at = seen_at
        if flags & 1:
            root_seen_at, kind, sim255 = _REC_ROOT.unpack_from(raw, off)
            sim = sim255 / 255
            off += _REC_ROOT.size
            (n,) = _LEN.unpack_from(raw, off)
            root = raw[off + 2:off + 2 + n].decode()
            off += 2 + n
        (n,) = _LEN.unpack_from(raw, off)
        ident = raw[off + 2:off + 2 + n].decode()
        off += 2 + n
        return cls(ident, seen_at, root or ident, root_seen_at, kind, sim, raw[off:])

    @staticmethod
    def seen_at_of(raw: bytes) -> float:
        return _REC_HEAD.unpack_from(raw, 0)[0]


# A stored article is read back as a candidate by each later article that shares a key with it:
# records are immutable values (frozen), so their decoding is cached like the sketches'.
@lru_cache(maxsize=8192)
def _decode_record(raw: bytes) -> _Record:
    return _Record._decode(raw)


def _holds(posted: bytes, ref: bytes) -> bool:
    """Whether a posting list (8-byte refs back to back) holds ref, at an 8-byte boundary."""
    at = posted.find(ref)
    while at >= 0:
        if at % 8 == 0:
            return True
        at = posted.find(ref, at + 1)
    return False


def _corrected(agree: float, bits: int = 8) -> float:
    # One-byte minhash values agree by chance 1/256 of the time: correct for it (b-bit minhash).
    chance = 1.0 / (1 << bits)
    return max(0.0, (agree - chance) / (1.0 - chance))


_LOW_BIT_OF_EACH_BYTE = {n: int.from_bytes(b"\x01" * n, "little") for n in (NUM_PERM, LEAD_PERM)}


def _jaccard_bits(x: int, y: int, n: int) -> float:
    """_jaccard of two n-byte minhashes held as integers (Sketch.minhash_bits / lead_bits): the
    bytes that differ are those with a set bit in x ^ y; folding each byte onto its lowest bit and
    counting those bits counts them, with a handful of integer operations instead of numpy calls."""
    d = x ^ y
    d |= d >> 4
    d |= d >> 2
    d |= d >> 1
    return _corrected(float(n - (d & _LOW_BIT_OF_EACH_BYTE[n]).bit_count()) / n)


def near_similarity(a: Sketch, b: Sketch) -> float | None:
    """The near-tier score of two texts, or None when they are not near duplicates."""
    if a.headline_only or b.headline_only or min(a.shingles, b.shingles) < NEAR_MIN_SHINGLES:
        return None
    resemblance = _jaccard_bits(a.minhash_bits, b.minhash_bits, NUM_PERM)
    if resemblance >= NEAR_RESEMBLANCE:
        score = resemblance
    else:
        small, large = sorted((a.shingles, b.shingles))
        # |A n B| = J (|A| + |B|) / (1 + J); containment of the smaller text in the larger one.
        score = min(1.0, resemblance * (small + large) / ((1.0 + resemblance) * small))
        if score < NEAR_CONTAINMENT or _jaccard_bits(a.lead_bits, b.lead_bits, LEAD_PERM) < NEAR_LEAD:
            return None
    # Alike text, checked last (most candidates fail the cheap tests above): a template filled in
    # again, or one stub under two stories, is not a copy.
    return score if same_report(a, b) else None


def _disjoint(a: frozenset | int, b: frozenset | int) -> bool:
    return bool(a and b and not (a & b))


def _both_unshared(a: frozenset, b: frozenset) -> bool:
    # Each side names something the other does not ("visit UK" / "visit Australia").
    return bool(a - b) and bool(b - a)


def facts_disagree(a: Sketch, b: Sketch) -> bool:
    return _disjoint(a.numbers, b.numbers) or _disjoint(a.names, b.names)


# Words that turn one report into its opposite ("stocks open higher" / "stocks close lower"), each
# side with the inflections the crude stemmer does not fold. Stemmed and hashed the way
# Sketch.terms are, so the check needs nothing more in the sketch.
_OPPOSITE_WORDS = (
    ("open opens opened opening", "close closes closed closing shut shuts"),
    ("higher rise rises rose gain gains gained rally rallies strengthen strengthens surge surges climbs",
     "lower fall falls fell drop drops dropped decline declines weaken weakens slump slumps slips"),
    ("acquit acquits acquitted acquittal", "convict convicts convicted guilty"),
    ("win wins won", "lose loses lost"),
    ("approve approves approved pass passes passed sign signs signed",
     "reject rejects rejected veto vetoes vetoed block blocks blocked"),
    ("resume resumes resumed", "adjourn adjourns adjourned suspend suspends suspended halt halts halted"),
    ("accept accepts accepted agree agrees agreed", "reject rejects rejected refuse refuses refused"),
    ("lift lifts lifted", "continue continues extends extended impose imposes imposed"),
    ("raise raises raised hike hikes hiked increase increases increased boost boosts boosted",
     "cut cuts lower lowers lowered reduce reduces reduced decrease decreases decreased slash slashes slashed"),
    ("hire hires hired", "cut cuts lay laid layoff layoffs"),
    ("confirm confirms confirmed", "deny denies denied"),
    ("beat beats", "miss misses missed"),
    ("buy buys bought acquire acquires acquired", "sell sells sold"),
    ("join joins joined", "leave leaves quit quits"),
    ("arrest arrests arrested detain detains detained", "release releases released free frees freed"),
    ("uphold upholds upheld", "overturn overturns overturned strike strikes struck"),
    ("die dies died dead killed", "survive survives survived"),
)
_OPPOSITES = [(frozenset(_term_hash(w) for w in x.split()), frozenset(_term_hash(w) for w in y.split()))
              for x, y in _OPPOSITE_WORDS]


@lru_cache(maxsize=1 << 14)
def _opposite_mask(terms: frozenset) -> int:
    """Bits 2k and 2k+1: whether the headline has a word of side x / side y of _OPPOSITES[k]."""
    mask = 0
    for k, (x, y) in enumerate(_OPPOSITES):
        mask |= (bool(terms & x) << (2 * k)) | (bool(terms & y) << (2 * k + 1))
    return mask


def opposed(a: Sketch, b: Sketch) -> bool:
    ma, mb = _opposite_mask(a.terms), _opposite_mask(b.terms)
    if not (ma and mb):   # most headlines have no such word at all
        return False
    for k in range(len(_OPPOSITES)):
        ax, ay = ma >> (2 * k) & 1, ma >> (2 * k + 1) & 1
        bx, by = mb >> (2 * k) & 1, mb >> (2 * k + 1) & 1
        if (ax and by and not ay and not bx) or (ay and bx and not ax and not by):
            return True
    return False


# A place's hash -> the hashes of the places it lies within, itself included ("houston" -> houston, us).
_PLACE_WITHIN = {place_hash(p): frozenset(place_hash(q) for q in within(p)) for p in {*ALIASES.values(), *PARENT}}


def places_clash(a: Sketch, b: Sketch) -> bool:
    """Each headline names a place that the other neither names nor lies within: "... in Texas" /
    "... in Ohio" clash, "... in Mumbai" / "... in India" do not, nor does a headline that names
    no place. Same-template reports of two places are two stories (two earthquakes, two escapes)."""
    if not a.places or not b.places:
        return False
    around_a = frozenset().union(*(_PLACE_WITHIN.get(p, (p,)) for p in a.places))
    around_b = frozenset().union(*(_PLACE_WITHIN.get(p, (p,)) for p in b.places))
    return not a.places <= around_b and not b.places <= around_a


def different_reports(a: Sketch, b: Sketch) -> bool:
    """Headline facts that make two texts two reports however alike their words: different weekdays,
    one side negated, opposite words, places that clash."""
    return _disjoint(a.weekdays, b.weekdays) or a.negated != b.negated or opposed(a, b) or places_clash(a, b)


def numbers_agree(a: Sketch, b: Sketch) -> bool:
    """At least half the figures of the headline and lead (of the side naming fewer) are shared, when
    both name some: a copy or a spun rewrite keeps the figures; the same template, sentence skeleton
    or cast of people at another event does not."""
    if not a.numbers or not b.numbers:
        return True
    return len(a.numbers & b.numbers) >= NUMBER_SHARE * min(len(a.numbers), len(b.numbers))


def same_report(a: Sketch, b: Sketch) -> bool:
    """Whether two texts alike enough to be copies (exact, near) can be copies of one report. Not
    when their headlines report different things (different_reports). And a short text (a paywall
    or "developing story" stub, a brief) says too little to identify a story on its own: its copy
    must also share a headline word, name or place, or one stub would join every story it ran under."""
    if different_reports(a, b) or not numbers_agree(a, b):
        return False
    if min(a.shingles, b.shingles) >= SHORT_TEXT_SHINGLES:
        return True
    return bool(a.terms & b.terms or a.names & b.names or a.places & b.places)


def headline_evidence(a: Sketch, b: Sketch) -> dict[str, float]:
    return {"cosine": cosine(a.embedding, b.embedding),
            "words": 2 * len(a.terms & b.terms) / max(1, len(a.terms) + len(b.terms)),
            "words_of_shorter": len(a.terms & b.terms) / max(1, min(len(a.terms), len(b.terms))),
            "numbers": float(_disjoint(a.numbers, b.numbers)),
            "numbers_unshared": float(_both_unshared(a.numbers, b.numbers)),
            "names": float(_disjoint(a.names, b.names)),
            "names_unshared": float(_both_unshared(a.names, b.names)),
            }


def headline_score(a: Sketch, b: Sketch) -> float:
    evidence = headline_evidence(a, b)
    return HEADLINE_BIAS + sum(HEADLINE_WEIGHTS[k] * v for k, v in evidence.items())


def rewrite_similarity(a: Sketch, b: Sketch) -> float | None:
    """The rewrite-tier score (embedding cosine), or None when the evidence is not enough."""
    if not a.embedding or not b.embedding:
        return None
    if different_reports(a, b):
        return None
    if a.headline_only and b.headline_only:
        evidence = headline_evidence(a, b)
        if evidence["cosine"] < REWRITE_MIN_COSINE:
            return None
        score = HEADLINE_BIAS + sum(HEADLINE_WEIGHTS[k] * v for k, v in evidence.items())
        return max(0.0, min(1.0, evidence["cosine"])) if score >= HEADLINE_BAR else None
    if facts_disagree(a, b):
        return None
    cos = cosine(a.embedding, b.embedding)
    if cos < REWRITE_MIN_COSINE:
        return None
    if a.headline_only or b.headline_only:
        words = 2 * len(a.terms & b.terms) / max(1, len(a.terms) + len(b.terms))
        return max(0.0, min(1.0, cos)) if cos + REWRITE_WORD_WEIGHT * words >= MIXED_REWRITE_SCORE else None
    shared = len(a.names & b.names)
    if (cos < ARTICLE_REWRITE_COSINE or shared < ARTICLE_REWRITE_NAMES
            or shared < ARTICLE_REWRITE_NAME_SHARE * min(len(a.names), len(b.names))
            or not numbers_agree(a, b)
            or _jaccard_bits(a.minhash_bits, b.minhash_bits, NUM_PERM) < ARTICLE_REWRITE_JACCARD):
        return None
    return max(0.0, min(1.0, cos))


class SketchChecks:
    """The probe's inner work, in Python: ranking candidates, screening and verifying them, and what
    indexing writes. streams.native has a compiled twin with the same methods and results
    (tests/test_native.py); DedupIndex takes either."""

    @staticmethod
    def rank_candidates(postings: list[tuple[bool, bytes | None]], own: bytes, limit: int) -> list[tuple[bytes, bool]]:
        """The earlier articles named by `postings` (per key, in key order: whether it is the exact
        key, and its posting list or None), except `own`, as (ref, named by the exact key): those named
        by the exact key first, then by how many keys name them, ties in order of first appearance;
        at most `limit`."""
        hits: dict[bytes, int] = {}
        exact: set[bytes] = set()
        for is_exact, posted in postings:
            if not posted:
                continue
            for i in range(0, len(posted) - 7, 8):   # whole 8-byte refs only
                ref = posted[i:i + 8]
                if ref != own:
                    hits[ref] = hits.get(ref, 0) + 1
                    if is_exact:
                        exact.add(ref)
        ranked = sorted(hits, key=lambda r: (r not in exact, -hits[r]))[:limit]
        return [(ref, ref in exact) for ref in ranked]

    @classmethod
    def screen(cls, mine: bytes, article_id: str, horizon: float,
               candidates: list[tuple[bytes | None, bool]]) -> list[tuple[int, float, "_Record"]]:
        """The candidates (stored record or None, named by the exact key) that `mine` copies or
        rewrites, as (tier, similarity, record), and those it does not match at all, as (-1, 0.0,
        record); missing or expired records and the article's own are passed over."""
        screened: list[tuple[int, float, _Record]] = []
        for raw, via_exact in candidates:
            if raw is None or _Record.seen_at_of(raw) < horizon:
                continue  # expired, or its record was dropped
            rec = _Record.decode(raw)
            if rec.article_id == article_id:
                continue
            try:
                tier = cls.verify(mine, rec.sketch, via_exact)
            except (ValueError, struct.error):  # written by an older sketch format: cannot compare
                if via_exact:
                    screened.append((0, 1.0, rec))
                continue
            if tier is not None:
                screened.append((*tier, rec))
            elif not via_exact:   # the same words under headlines that report different things: no dissent
                screened.append((-1, 0.0, rec))
        return screened

    @staticmethod
    def index_entries(own: bytes, article_id: str, seen_at: float, root_id: str, root_seen_at: float, kind: int,
                      similarity: float, sketch: bytes, keys: Sequence[bytes], postings: Sequence[bytes | None],
                      cap: int, term_cap: int) -> list[tuple[bytes, bytes]]:
        """What indexing an article writes: its record (the _Record of these fields), then each key's
        posting list (`postings`, in key order) with `own` appended, each key once, keeping the newest
        `term_cap` refs for term-pair keys and `cap` for the others."""
        entries = [(_REC + own, _Record(article_id, seen_at, root_id, root_seen_at, kind, similarity, sketch).encode())]
        seen: set[bytes] = set()
        for key, posted in zip(keys, postings):
            if key in seen:   # a repeated key would see its own append
                continue
            seen.add(key)
            posted = posted or b""
            if _holds(posted, own):
                continue
            entries.append((key, (posted + own)[-8 * (term_cap if key[:1] == b"T" else cap):]))
        return entries

    @staticmethod
    def verify(mine: bytes, theirs: bytes, via_exact: bool) -> tuple[int, float] | None:
        """(tier, similarity) when `theirs` is a copy or rewrite of `mine` (raw sketches), else None.
        A candidate named by the exact key is a copy unless the headlines report different things.
        Raises ValueError on a sketch of an unknown format."""
        a, b = Sketch.decode(mine), Sketch.decode(theirs)
        if via_exact:
            return (0, 1.0) if same_report(a, b) else None
        sim = near_similarity(a, b)
        if sim is not None:
            return 1, sim
        sim = rewrite_similarity(a, b)
        return None if sim is None else (2, sim)


class DedupIndex:
    def __init__(self, store: KeyValueStore, window_s: float = 7 * 86400.0, checks: object | None = None) -> None:
        self.store = store
        self.window_s = window_s
        self.checks = checks or SketchChecks()

    # -- reading -----------------------------------------------------------------------------
    def _record(self, ref: bytes) -> bytes | None:
        return self.store.get(_REC + ref)

    def _postings(self, keys: Sequence[bytes]) -> dict[bytes, bytes | None]:
        """The posting list of each key (None: no list); _index appends to the same lists after."""
        return {key: self.store.get(key) for key in keys}

    def probe(self, article_id: str, fp: Fingerprint, seen_at: float,
              keys: Sequence[bytes] | None = None) -> Match | None:
        keys = fp.keys if keys is None else keys
        own = article_ref(article_id)
        existing = self._record(own)
        if existing is not None:  # redelivery: answer what was decided the first time, index nothing
            rec = _Record.decode(existing)
            if rec.kind < 0 or rec.root_id == article_id:
                return None
            return Match(rec.root_id, rec.root_id, rec.root_seen_at, KINDS[rec.kind], rec.similarity)

        postings = self._postings(keys)
        ranked = self.checks.rank_candidates([(key[:1] == b"E", postings[key]) for key in keys], own, MAX_CANDIDATES)
        horizon = seen_at - self.window_s
        verified: list[tuple[int, float, _Record]] = []
        dissent: set[str] = set()  # groups with a visible member this article does not match at all
        candidates = [(self._record(ref), via_exact) for ref, via_exact in ranked]
        for kind, sim, rec in self.checks.screen(fp.sketch, article_id, horizon, candidates):
            if kind < 0:
                dissent.add(rec.root_id)
            elif kind < 2 or self._root_agrees(fp.sketch, rec, horizon):
                verified.append((kind, _quantised(sim), rec))

        if dissent and GROUP_DISSENT_VETOES:
            # Paraphrase is not transitive: joining a group by rewrite needs every member this
            # article met to agree, or one loose hub ("Nato soldier killed in Afghanistan") pulls
            # in every item that resembles it but not each other. Copies (exact/near) still join.
            verified = [v for v in verified if v[0] < 2 or v[2].root_id not in dissent]
        match: Match | None = None
        if verified:
            # Same order as combine(), so one store and N partitions pick the same group.
            kind, sim, rec = min(verified, key=lambda v: _ranking(v[0], v[1], v[2].root_seen_at, v[2].root_id))
            match = Match(rec.article_id, rec.root_id, rec.root_seen_at, KINDS[kind], sim)
        self._index(article_id, own, fp, seen_at, keys, match, postings)
        return match

    def _root_agrees(self, mine: bytes, rec: _Record, horizon: float) -> bool:
        """Chain guard for the rewrite tier. Paraphrase evidence is not transitive: A ~ B and B ~ C
        does not make A ~ C, and a group root chained through loose links gathers a whole family of
        look-alike items ("stocks close higher", "stocks open lower", ...). So joining a group via a
        member that itself joined by rewrite also needs the group's root to pass the same checks.
        A member that joined by exact or near copy carries its root's text, so it vouches for it."""
        if rec.kind != KINDS.index("rewrite") or rec.root_id == rec.article_id:
            return True
        raw = self._record(article_ref(rec.root_id))
        if raw is None or _Record.seen_at_of(raw) < horizon:
            return ROOT_UNSEEN_AGREES
        try:
            return self.checks.verify(mine, _Record.decode(raw).sketch, False) is not None
        except (ValueError, struct.error):
            return ROOT_UNSEEN_AGREES

    # -- writing -----------------------------------------------------------------------------
    def _index(self, article_id: str, own: bytes, fp: Fingerprint, seen_at: float,
               keys: Sequence[bytes], match: Match | None, postings: dict[bytes, bytes | None]) -> None:
        """Store the article's record and append it to its keys' posting lists (`postings`: those
        lists as _postings read them for the same keys)."""
        if match is None:
            root = (article_id, seen_at, -1, 0.0)
        else:
            root = (match.root_id, match.root_seen_at, KINDS.index(match.kind), match.similarity)
        for key, value in self.checks.index_entries(own, article_id, seen_at, *root, fp.sketch, keys,
                                                    [postings[key] for key in keys], MAX_POSTING, MAX_POSTING_TERMS):
            self.store.put(key, value)

    def adopt_root(self, article_id: str, result: DedupResult, root_seen_at: float) -> None:
        """Record the group root that `combine` chose across partitions, so a later copy of this
        article found only through this store still points at the group's first member."""
        raw = self._record(article_ref(article_id))
        if raw is None or result.duplicate_of is None:
            return
        rec = _Record.decode(raw)
        if rec.kind >= 0 and rec.root_id == result.duplicate_of:
            return
        rec = replace(rec, root_id=result.duplicate_of, root_seen_at=root_seen_at,
                      kind=KINDS.index(result.duplicate_kind or "rewrite"), similarity=result.similarity or 0.0)
        self.store.put(_REC + article_ref(article_id), rec.encode())

    def expire(self, now: float) -> int:
        """Drop every article older than the window, and its postings; returns articles dropped."""
        return self.sweep(now, self.store.items())

    def sweep(self, now: float, entries: Iterable[tuple[bytes, bytes]]) -> int:
        """Expire within a slice of the store's entries (the stream sweeps a partition a slice at a
        time, so no pass blocks it for long). A record older than the window is deleted; a posting
        keeps only references whose record is still there and young, judged per reference, so a
        slice needs no view of the rest of the store and an article indexed meanwhile stays."""
        horizon = now - self.window_s
        dropped = 0
        for key, value in entries:
            if key[:1] == _REC:
                if _Record.seen_at_of(value) < horizon:
                    self.store.delete(key)
                    dropped += 1
                continue
            kept = b"".join(ref for ref in (value[i:i + 8] for i in range(0, len(value), 8))
                            if self._alive(ref, horizon))
            if not kept:
                self.store.delete(key)
            elif len(kept) != len(value):
                self.store.put(key, kept)
        return dropped

    def _alive(self, ref: bytes, horizon: float) -> bool:
        raw = self._record(ref)
        return raw is not None and _Record.seen_at_of(raw) >= horizon

    def stats(self) -> IndexStats:
        return tally(self.store.items())


def tally(entries: Iterable[tuple[bytes, bytes]]) -> IndexStats:
    """Articles, entries and stored bytes among some of an index's entries."""
    articles = count = size = 0
    for key, value in entries:
        count += 1
        size += len(key) + len(value)
        articles += key[:1] == _REC
    return IndexStats(articles, count, size)


__all__ = ["KINDS", "Match", "DedupResult", "IndexStats", "DedupIndex", "SketchChecks", "combine", "cluster_id_for",
           "article_ref", "near_similarity", "rewrite_similarity", "facts_disagree"]
