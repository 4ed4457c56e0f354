"""The compiled twin of the pure core's hot steps (native/, the Rust extension newsflow_native).

The Python modules (prepare, fingerprint, classify, dedup) are the reference: readable, and what
runs when the extension is not built. The twin gives the same output, byte for byte and float for
float (tests/test_native.py checks every sample article and odd inputs against the reference), at a
fraction of the cost: a worker spends its CPU on these steps, so they decide its throughput.

Every table the twin needs (stop words, place names, sense phrases, model weights, the Unicode
classes of this interpreter's `re` and str.lower) is handed over from the Python modules here, at
start-up: the lists live in one place, and only the control flow is written twice.

NEWSFLOW_CORE picks the implementation: "auto" (the default: the twin when it is installed),
"native" (required: a worker without it stops at start with a clear error) or "python".
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from . import classify as _classify
from . import dedup as _dedup
from . import embed as _embed
from . import fingerprint as _fingerprint
from . import places as _places
from . import prepare as _prepare
from .config import TOPICS

def installed() -> bool:
    try:
        import newsflow_native  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _every_character() -> str:
    """Every code point, at its own index (lone surrogates included: a str can hold them)."""
    return "".join(map(chr, range(sys.maxunicode + 1)))


@lru_cache(maxsize=1)
def python_unicode_tables() -> tuple[list[tuple[int, int]], list[tuple[int, int]], dict[str, str]]:
    """This interpreter's `\\w` and `\\d` (python_char_classes) as code point ranges, and its
    str.lower() mapping of non-ASCII characters, so the classifier's twin tokenises exactly as the
    Python does (Rust's own tables follow a newer Unicode). Once per process."""
    classes = python_char_classes()

    def ranges(chars: str) -> list[tuple[int, int]]:   # runs of consecutive code points
        runs: list[list[int]] = []
        for c in map(ord, chars):
            if runs and runs[-1][1] == c - 1:
                runs[-1][1] = c
            else:
                runs.append([c, c])
        return [(a, b) for a, b in runs]

    lower = {c: c.lower() for c in _every_character() if not c.isascii() and c.lower() != c}
    return ranges(classes["word_chars"]), ranges(classes["decimal_chars"]), lower


@lru_cache(maxsize=1)
def python_char_classes() -> dict[str, Any]:
    """The characters `re` counts as \\w, \\s and \\d, and the non-ASCII characters that match an
    ASCII letter under IGNORECASE ("ſ" matches "s", the Kelvin sign "k"), so the fingerprint's
    scanners read characters exactly as the Python's regular expressions do."""
    every = _every_character()
    word, space, decimal = ("".join(re.findall(p, every)) for p in (r"\w", r"\s", r"\d"))
    ignorecase = {}
    for ch in re.findall(r"[a-z]", every[0x80:], re.IGNORECASE):
        (letter,) = [x for x in "abcdefghijklmnopqrstuvwxyz" if re.fullmatch(x, ch, re.IGNORECASE)]
        ignorecase[ch] = letter
    return {"word_chars": word, "space_chars": space, "decimal_chars": decimal, "ignorecase_letters": ignorecase}


class NativeCore:
    """The twin's objects, built from the Python modules' tables; same call shapes as the reference."""

    def __init__(self, classifier: _classify.TopicClassifier) -> None:
        import newsflow_native as nn

        self.cleaner = nn.Preparer(_prepare._TYPOGRAPHY, _prepare._SENTENCE_END_CHARS,
                                   _prepare.clean_title, _prepare.clean_body)
        self._topics = _topic_model(nn, classifier)
        self._thresholds = [classifier.thresholds[t] for t in TOPICS]
        if not _same_logits(self._topics, classifier):
            self.classify = classifier.classify   # type: ignore[method-assign]
        self.lexicon = _lexicon(nn)
        self.embedding_model = _embedding_model(nn, _embed.default_embedder())
        self.sketch_checks = NativeSketchChecks(nn)

    def classify(self, title: str, text: str, embedding: Any = None) -> tuple[list[str], dict[str, float]]:
        """TopicClassifier.classify, with the classifier's thresholds."""
        return self._topics.classify(title, text, embedding, self._thresholds)


def _same_logits(model: Any, classifier: _classify.TopicClassifier) -> bool:
    """Whether the twin computes the classifier's logits on this machine. It reproduces the
    summation order of OpenBLAS's Haswell/SkylakeX gemv kernels (what numpy runs here for the
    model's float32 and float64 products); another BLAS or CPU family rounds differently (about
    1e-8 apart), and then the Python classifier runs. The bag-of-words sum differs by ~1e-15 between
    any two Python processes (it follows set order), hence the tolerance. About 10 ms, at start-up."""
    rng = np.random.default_rng(0)
    recalls = TOPICS.index("recalls")
    for i in range(50):
        v = rng.standard_normal(classifier._m.embed_z.shape[0]).astype(np.float32)
        title, text = ("Army shells city", "Troops fired on the town at dawn.") if i % 2 else ("Film star", "")
        evaluation = classifier._evaluate(title, text, v)
        expected = evaluation.z.tolist()
        if not evaluation.gate["open"]:
            expected[recalls] -= _classify.RECALL_GATE_PENALTY
        if any(abs(a - b) > 1e-12 for a, b in zip(model.logits(title, text, v), expected)):
            return False
    return True


def _embedding_model(nn: Any, embedder: _embed.Embedder | None) -> Any:
    """Embedder.unit of the fingerprint's text and embed.quantise, compiled: model.unit(title, text)
    and model.quantise(vector, dims). None when the embedder is not the plain mean-pooled model the
    twin is exact for, or when this machine's BLAS sums `v @ v` in another order than the twin does
    (it reproduces OpenBLAS's SkylakeX sdot kernel): checked at start-up, about 2 ms."""
    if embedder is None or not embedder._plain:
        return None
    encode, unk = embedder._tokenizer.encode, embedder._unk

    def pieces(chunk: str) -> list[int]:   # Embedder._ids on a cache miss, for one whitespace chunk
        return [i for i in encode(chunk, add_special_tokens=False).ids if i != unk]

    model = nn.EmbeddingModel(embedder._table, unk, embedder._max_tokens, pieces,
                              lead_words=_fingerprint.EMBED_LEAD_WORDS, cache_chunks=_embed.CACHE_CHUNKS)
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = (rng.standard_normal(embedder.dims) * rng.random() ** 4).astype(np.float32)
        if nn.EmbeddingModel.sdot_self(v) != v @ v:
            return None
    return model


def _lexicon(nn: Any) -> Any:
    """fingerprint.Fingerprinter._lexical, compiled: lexicon.lexical(title, text) -> the same tuple."""
    f, pl = _fingerprint, _places
    constants = {name: getattr(f, name) for name in (
        "SHINGLE", "NUM_PERM", "LSH_BANDS", "LSH_ROWS", "LEAD_WORDS", "LEAD_FACT_CHARS", "LEAD_PERM", "LEAD_BANDS",
        "LEAD_ROWS", "TERM_LIMIT", "HEADLINE_TERM_LIMIT", "FACT_LIMIT", "PLACE_LIMIT", "NUMBER_LIMIT",
        "HEADLINE_TERMS", "SEED", "VERSION", "NEGATED_BIT")}
    constants["MUL1"], constants["MUL2"] = int(f._MUL1), int(f._MUL2)
    # The lead-fact scanner reads _NUMBER_WORDS as the number words of _LEAD_FACT's pattern.
    assert "|".join(f._NUMBER_WORDS) in f._LEAD_FACT.pattern
    return nn.Lexicon(
        stop_words=sorted(f._STOP), number_words=list(f._NUMBER_WORDS.items()), negated=list(f._NEGATED.items()),
        negations=sorted(f._NEGATIONS), negation_cues=list(f._NEGATION_CUES), weekdays=f._WEEKDAYS,
        aliases=pl.ALIASES, first_words=sorted(pl._FIRST_WORDS), longest_alias=pl._LONGEST,
        constants=constants, **python_char_classes())


class NativeSketchChecks:
    """dedup.SketchChecks, compiled: the same methods, results and exceptions."""

    def __init__(self, nn: Any) -> None:
        J = nn.SketchJudge
        constants = {k: getattr(_dedup, k) for k in J.DEDUP_CONSTANTS}
        constants |= {k: getattr(_fingerprint, k) for k in J.SKETCH_CONSTANTS}
        blank = _fingerprint.Sketch(True, 0, frozenset(), frozenset(), frozenset(), 0, b"")
        order = list(_dedup.headline_evidence(blank, blank))   # the order headline_score sums in
        self.judge = J(constants, _dedup._OPPOSITES, _dedup._PLACE_WITHIN,
                       [(k, _dedup.HEADLINE_WEIGHTS[k]) for k in order])
        self.rank_candidates = nn.rank_candidates
        self.index_entries = nn.index_entries
        self.verify = self.judge.verify

    def screen(self, mine: bytes, article_id: str, horizon: float,
               candidates: list[tuple[bytes | None, bool]]) -> list[tuple[int, float, Any]]:
        # The records come back as their fields, all that probe() reads of them (not the sketch).
        return [(kind, sim, _RecordFields(*fields))
                for kind, sim, fields in self.judge.screen(mine, article_id, horizon, candidates)]


class _RecordFields(NamedTuple):
    """dedup._Record without its sketch."""
    article_id: str
    seen_at: float
    root_id: str
    root_seen_at: float
    kind: int
    similarity: float


def _topic_model(nn: Any, classifier: _classify.TopicClassifier) -> Any:
    C = _classify
    m = classifier._m
    embedder = classifier.embedder

    def embed(title: str, text: str) -> Any:   # what classify() does when given no embedding
        return embedder.encode(C.embed_text(title, text)) if embedder is not None else None

    words, digits, lower = python_unicode_tables()
    return nn.TopicModel(
        topics=list(TOPICS),
        vocab=list(m.vocab),
        weights_z=np.asarray(m.weights_z, dtype=np.float64).tolist(),
        cue_z=np.asarray(m.cue_z, dtype=np.float64).tolist(),
        embed_z=np.asarray(m.embed_z, dtype=np.float32).tolist(),
        bias_z=np.asarray(m.bias_z, dtype=np.float64).tolist(),
        phrases_by_first={k: [(list(p), mk) for p, mk in v] for k, v in C._PHRASES_BY_FIRST.items()},
        the_phrases_by_second={k: [(list(p), mk) for p, mk in v] for k, v in C._THE_PHRASES_BY_SECOND.items()},
        triggers=sorted(C._TRIGGERS),
        word_sets={name: sorted(getattr(C, "_" + name)) for name in (
            "WAR", "WAR_IDIOM_PREV", "WAR_ON_FIGURATIVE", "RECALL", "RECALL_ELECTION_NEXT", "RECALL_ELECTION_PREV",
            "RECALL_DIPLOMAT_NEXT", "RECALL_MEMORY_NEXT", "RECALL_MEMORY_TWO", "RECALL_SUBJECT", "ADVERB", "SHOOT",
            "FILM_OBJ", "DETERMINER", "KILLER", "KILLER_PRAISE", "CRIME", "CRIME_GENRE_NEXT")},
        cue_uni=dict(C._CUE_UNI),
        cue_pairs=dict(C._CUE_PAIRS),
        n_cue_lexicons=len(C.CUE_LEXICONS),
        recall_word_uni=sorted(C._RECALL_WORD_UNI),
        recall_word_pairs=sorted(C._RECALL_WORD_PAIRS),
        product_cue_uni=sorted(C._PRODUCT_CUE_UNI),
        product_cue_pairs=sorted(C._PRODUCT_CUE_PAIRS),
        body_chars=C.BODY_CHARS,
        recall_gate_penalty=C.RECALL_GATE_PENALTY,
        word_ranges=words,
        digit_ranges=digits,
        lower_map=lower,
        embed=embed,
    )


def load(choice: str, classifier: _classify.TopicClassifier) -> NativeCore | None:
    """The twin for NEWSFLOW_CORE=`choice`, or None when the Python reference is to run."""
    if choice == "python" or (choice == "auto" and not installed()):
        return None
    if not installed():
        raise SystemExit("newsflow: NEWSFLOW_CORE=native, but the compiled core is not installed "
                         "(build it with `make venv`, which needs cargo, or `pip install ./native`)")
    return NativeCore(classifier)
