"""Step 2: compact, comparable evidence about one prepared article.

Contract:
    Fingerprinter().fingerprint(prepared: PreparedText) -> Fingerprint
    Fingerprint.content_hash : str   hex digest of the normalised content (exact tier)
    Fingerprint.keys         : tuple[bytes, ...]  routing keys; any earlier copy that the dedup
                               tiers could match shares at least one key with it. Keys are what
                               the stream routes to partitions (streams.app), so they must be
                               deterministic across processes and short (<= 16 bytes each).
    Fingerprint.sketch       : bytes  what the index stores per article to verify a candidate
                               (compact: it is the bulk of the per-article state).

Evidence, one kind per tier:
  exact   - xxh3-128 of the article's normalised words (typography, case, datelines and page
            furniture are gone after prepare()), key b"E" + 15 bytes of it.
  near    - MinHash (rensa) of word 3-shingles. Keys are LSH bands over the whole text (b"N") and
            over its lead, the first LEAD_WORDS words (b"L"), so a lead-only teaser or a copy with
            a trimmed tail still shares keys with its original even when their Jaccard is low.
            The sketch keeps 48 one-byte minhash values of the text and 12 of the lead, plus the
            shingle count, so the index can estimate both resemblance and containment (a bare
            headline, which the near tier never compares, stores none of them).
  rewrite - an embedding of headline + lead (streams.embed, 64 dims at 4 bits; 128 for a bare
            headline, whose sketch has no minhash) and the specific facts that a
            paraphrase keeps: names (capitalised tokens) and numbers, as 16-bit hashes. Keys are
            pairs of salient headline terms (b"T"), which a paraphrased headline usually keeps.
            The headline's weekday (a one-byte mask) is kept too: two "stocks close higher" items
            of different days are different reports however alike their words. So is whether the
            headline is negated ("will not resign"): it reports the opposite of the plain one.
Every key is a kind byte followed by at most 15 bytes, so the stream can route it as it is.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np
import rensa
import xxhash

from .embed import quantise
from .places import places_in
from .prepare import PreparedText

SHINGLE = 3  # words per shingle
NUM_PERM = 48  # one-byte minhash values stored per text
LSH_BANDS, LSH_ROWS = 6, 5  # keys from the first 30 values: P(key shared) ~ 0.8 at Jaccard 0.7, 0.98 at 0.85
LEAD_WORDS = 40
LEAD_FACT_CHARS = 480
LEAD_PERM = 12
LEAD_BANDS, LEAD_ROWS = 3, 4
TERM_LIMIT = 4  # salient headline terms -> at most 6 pair keys
# A bare headline has no text keys (N/L), so it affords more term pairs (at most 10 keys); its top
# TERM_LIMIT terms are the same ones a full article with that headline uses, so the two still meet.
HEADLINE_TERM_LIMIT = 5
FACT_LIMIT = 8  # names kept per article
PLACE_LIMIT = 4  # places kept per headline
NUMBER_LIMIT = 4
HEADLINE_TERMS = 8  # headline word stems kept for lexical overlap
EMBED_LEAD_WORDS = 25
SEED = 1_234_567
VERSION = 3  # 3 added the headline's places; 2 is still read (as naming no places)

_WORD = re.compile(r"\w+")
# Hyphens split tokens ("Manning-WikiLeaks", "pro-Mursi"): each part is a word of its own.
_FACT_TOKEN = re.compile(r"[A-Za-z][A-Za-z.'&]*[A-Za-z]|[A-Za-z]|\d[\d,.]*\d(?:st|nd|rd|th|s)?|\d(?:st|nd|rd|th|s)?|[.!?:;\"]")
# The tokens of _FACT_TOKEN that can be a name or a number: capitalised (not mid-word), numeric, or a
# number word.
_LEAD_FACT = re.compile(r"(?<![A-Za-z.'&])(?:[A-Z][A-Za-z.'&]*[A-Za-z]|[A-Z])|\d[\d,.]*\d(?:st|nd|rd|th|s)?|\d(?:st|nd|rd|th|s)?"
                        r"|(?<![A-Za-z.'&])(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                        r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)(?![A-Za-z])")
_MUL1, _MUL2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)
_HEADER = struct.Struct("<BBH")
_STOP = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers him
his how i if in into is it its itself just me more most my no nor not now of off on once only or other our out over
own same she should so some such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you your yours says said say
new news after amid over top update updated live latest report reports breaking exclusive video watch photos
mr mrs ms dr sir st monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow week year
january february march april may june july august september october november december jan feb mar apr jun jul
aug sep sept oct nov dec
""".split())
# A verdict word negated in the headline means its opposite: "found not guilty" is an acquittal, so
# it must read as "acquitted" (streams.dedup keeps "pleads guilty" and "pleads not guilty" apart as
# opposite reports, and matches "not guilty" with "acquitted").
_NEGATED = {"guilty": "acquitted"}
_NEGATIONS = frozenset(("not", "never"))
# The same phrases as one pattern, for negated(): they are read as their opposite, not as a negation.
_NEGATED_VERDICT = re.compile(rf"\b(?:{'|'.join(sorted(_NEGATIONS))})\s+(?:{'|'.join(_NEGATED)})\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|never|cannot)\b|n't\b|\bno\b(?![-.]|\s*\d)|\b(?:fail(?:s|ed)?|refuse[sd]?) to\b",
                       re.IGNORECASE)
# Substrings every match of _NEGATION contains ("no" also matches "now", "economy": a cheap filter).
_NEGATION_CUES = ("no", "never", "n't", "fail", "refuse")
# The sketch's weekday byte uses bits 0-6 for the weekdays; bit 7 says the headline is negated.
_WEEKDAY_BITS = 0x7F
NEGATED_BIT = 0x80
_WEEKDAYS = {d: 1 << i for i, d in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    content_hash: str
    keys: tuple[bytes, ...]
    sketch: bytes


@dataclass(frozen=True, slots=True)
class Sketch:
    """The decoded sketch (see Fingerprinter._lexical for the layout)."""
    headline_only: bool
    shingles: int
    names: frozenset[int]
    numbers: frozenset[int]
    terms: frozenset[int]  # headline word stems
    weekdays: int  # bit mask of the weekdays the headline names (bits 0-6)
    embedding: bytes  # packed 4-bit vector, b"" when no model
    # The low bytes of the text's NUM_PERM and the lead's LEAD_PERM minhash values, each set as one
    # little-endian integer (0 for a bare headline): streams.dedup counts agreeing values with
    # integer operations, all values at once.
    minhash_bits: int = 0
    lead_bits: int = 0
    negated: bool = False  # the headline negates what it reports ("will not resign"); see negated()
    places: frozenset[int] = frozenset()  # the places the headline names (place_hash, streams.places)

    @property
    def minhash(self) -> np.ndarray:
        """The text's minhash bytes as uint8[NUM_PERM] (empty for a bare headline)."""
        return _EMPTY if self.headline_only else np.frombuffer(self.minhash_bits.to_bytes(NUM_PERM, "little"), np.uint8)

    @property
    def lead(self) -> np.ndarray:
        """The lead's minhash bytes as uint8[LEAD_PERM] (empty for a bare headline)."""
        return _EMPTY if self.headline_only else np.frombuffer(self.lead_bits.to_bytes(LEAD_PERM, "little"), np.uint8)

    @classmethod
    def decode(cls, raw: bytes | memoryview) -> "Sketch":
        return _decode(bytes(raw))

    @classmethod
    def _decode(cls, raw: bytes) -> "Sketch":
        version, flags, shingles = _HEADER.unpack_from(raw, 0)
        if version not in (2, VERSION):
            raise ValueError(f"sketch version {version}")
        off = _HEADER.size
        minhash_bits = lead_bits = 0
        if not flags & 1:
            minhash_bits = int.from_bytes(raw[off:off + NUM_PERM], "little")
            lead_bits = int.from_bytes(raw[off + NUM_PERM:off + NUM_PERM + LEAD_PERM], "little")
            off += NUM_PERM + LEAD_PERM
        n_names, n_numbers, n_terms, n_emb, day_byte = raw[off:off + 5]
        off += 5
        n_places = 0
        if version >= 3:
            n_places = raw[off]
            off += 1
        n_terms_end = n_names + n_numbers + n_terms
        facts = struct.unpack_from(f"<{n_terms_end + n_places}H", raw, off)
        off += 2 * (n_terms_end + n_places)
        return cls(bool(flags & 1), shingles, frozenset(facts[:n_names]),
                   frozenset(facts[n_names:n_names + n_numbers]), frozenset(facts[n_names + n_numbers:n_terms_end]),
                   day_byte & _WEEKDAY_BITS, raw[off:off + n_emb], minhash_bits, lead_bits,
                   bool(day_byte & NEGATED_BIT), frozenset(facts[n_terms_end:]))


_EMPTY = np.zeros(0, dtype=np.uint8)


# An article's own sketch is decoded once per partition it probes, and a group's members are
# decoded by every article that meets them: a small cache of immutable results saves the parsing.
@lru_cache(maxsize=4096)
def _decode(raw: bytes) -> Sketch:
    return Sketch._decode(raw)


@lru_cache(maxsize=1 << 16)  # words repeat across articles: a cache hit is cheaper than the loop
def _stem(word: str) -> str:
    # Crude and deterministic: enough to equate "kills"/"killed", "Syria"/"Syrian" in routing keys.
    word = word.lower().replace(".", "").replace("'s", "").replace("'", "").strip("-")
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:5]


@lru_cache(maxsize=1 << 16)
def _number(token: str) -> str | None:
    low = token.lower()
    if low in _NUMBER_WORDS:
        return _NUMBER_WORDS[low]
    if not token[0].isdigit():
        return None
    digits = re.sub(r"(st|nd|rd|th|s)$", "", low).replace(",", "")
    if digits.endswith(".0"):
        digits = digits[:-2]
    return digits.rstrip(".")


# Punctuation to spaces over UTF-8 bytes: one C-level pass instead of a regex per article.
_PUNCT_TO_SPACE = bytes(b if (chr(b).isalnum() or b >= 0x80) else 0x20 for b in range(256))


def _words(text: str) -> list[bytes]:
    return text.lower().encode().translate(_PUNCT_TO_SPACE).split()


@lru_cache(maxsize=1 << 16)
def _h16(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode()) & 0xFFFF


def place_hash(place: str) -> int:
    """How a canonical place (streams.places) is stored in Sketch.places."""
    return _h16("place:" + place)


def term_hash(word: str) -> int:
    """How a headline word is stored in Sketch.terms."""
    return _h16(_stem(word))


def _title_cased(words: list[str]) -> bool:
    long = [w for w in words if len(w) > 3 and w[0].isalpha()]
    return len(long) >= 3 and sum(w[0].isupper() for w in long) >= 0.8 * len(long)


def extract_facts(title: str, lead: str) -> tuple[list[str], list[str], list[str]]:
    """(names, numbers, headline terms), each de-duplicated in order of appearance.

    Names are capitalised tokens that are not common words; in a Title Case headline
    capitalisation says nothing, so only its acronyms count there.
    """
    names: list[str] = []
    numbers: list[str] = []
    terms: list[str] = []
    title_tokens = _FACT_TOKEN.findall(title)
    title_case = _title_cased(title_tokens)
    previous = ""   # the word before this token ("" after punctuation)
    for tok in title_tokens:
        if tok in '.!?:;"':
            previous = ""
            continue
        low = tok.lower()
        negated = previous in _NEGATIONS and low in _NEGATED
        previous = low
        if negated:
            stem = _stem(_NEGATED[low])
            if stem not in terms:
                terms.append(stem)
            continue
        num = _number(tok)
        if num is not None:
            if num not in numbers:
                numbers.append(num)
            if num not in terms:
                terms.append(num)
            continue
        if low in _STOP or len(low) < 2:
            continue
        stem = _stem(tok)
        if (tok[0].isupper() and not title_case) or _is_acronym(tok):
            if stem not in names:
                names.append(stem)
        if stem not in terms and len(stem) >= 3:
            terms.append(stem)
    # In the lead only names and numbers matter, and a regex that finds just those is much cheaper
    # than tokenising every word.
    for tok in _LEAD_FACT.findall(lead):
        is_number, value = _lead_fact(tok)
        if is_number:
            if len(numbers) < NUMBER_LIMIT and value not in numbers:
                numbers.append(value)
        elif value and len(names) < FACT_LIMIT and value not in names:
            names.append(value)
        elif len(names) >= FACT_LIMIT and len(numbers) >= NUMBER_LIMIT:
            break
    return names, numbers, terms


@lru_cache(maxsize=1 << 16)
def _lead_fact(tok: str) -> tuple[bool, str | None]:
    """(True, number) or (False, name stem) or (False, None) for a token of a lead."""
    num = _number(tok)
    if num is not None:
        return True, num
    if len(tok) < 2 or tok.lower() in _STOP:
        return False, None
    return False, _stem(tok)


def _is_acronym(tok: str) -> bool:
    bare = tok.replace(".", "")
    return len(bare) >= 2 and bare.isupper()


def negated(title: str) -> bool:
    """Whether the headline negates what it reports: "PM says he will not resign", "Kremlin won't
    confirm ...", "North Korea fails to launch missile", "PM refuses to resign". A negated verdict
    ("not guilty") is not counted: it reads as its opposite word (see extract_facts), and "no" in
    "no-confidence vote" or "No 10" negates nothing."""
    low = title.lower()
    if not any(cue in low for cue in _NEGATION_CUES):   # most headlines: no regex pass at all
        return False
    return bool(_NEGATION.search(_NEGATED_VERDICT.sub(" ", title)))


def weekday_mask(title: str) -> int:
    mask = 0
    for word in _words(title):
        mask |= _WEEKDAYS.get(word.decode(), 0) if len(word) >= 6 else 0
    return mask


def _salient(terms: list[str], names: set[str], numbers: set[str], limit: int = TERM_LIMIT) -> list[str]:
    # Names and numbers first (what a paraphrase keeps), then the longest remaining words.
    ranked = sorted(range(len(terms)), key=lambda i: (terms[i] not in names and terms[i] not in numbers,
                                                       -len(terms[i]), i))
    return sorted(terms[i] for i in ranked[:limit])


def _band_keys(kind: bytes, values: list[int], bands: int, rows: int) -> list[bytes]:
    # The values as little-endian uint32, `rows` of them (4 * rows bytes) per band.
    raw, width = struct.pack(f"<{bands * rows}I", *values[:bands * rows]), 4 * rows
    return [kind + bytes([b]) + xxhash.xxh3_64_digest(raw[b * width:(b + 1) * width], seed=b)[:7]
            for b in range(bands)]


def _shingle_hashes(word_hashes: np.ndarray) -> np.ndarray:
    # Not de-duplicated: a minimum does not change when a value repeats, and sorting costs more
    # than the repeats (rare in prose) do.
    if len(word_hashes) < SHINGLE:
        return word_hashes
    a, b, c = word_hashes[:-2], word_hashes[1:-1], word_hashes[2:]
    return (a * _MUL1) ^ (b * _MUL2) ^ c


def _minhashes(text: np.ndarray, lead: np.ndarray) -> tuple[list[int], list[int]]:
    """NUM_PERM minhash values of the text's shingles and LEAD_PERM of the lead's, in one call (as
    the lists rensa returns: turning them into arrays cost as much as computing them)."""
    flat = np.concatenate((text, lead))
    rows = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, [0, len(text), len(flat)], NUM_PERM,
                                                              SEED).to_rows()
    return rows[0], rows[1][:LEAD_PERM]


def _embed_text(prepared: PreparedText) -> str:
    return prepared.title + ". " + " ".join(prepared.text.split(maxsplit=EMBED_LEAD_WORDS)[:EMBED_LEAD_WORDS])


class Fingerprinter:
    def __init__(self, embedder: object | None = "default", embed_dims: int = 64,
                 headline_embed_dims: int = 128, lexicon: object | None = None,
                 embedding_model: object | None = None) -> None:
        """`lexicon`, `embedding_model`: streams.native's compiled twins of _lexical and of the
        embedder's unit vector and quantise (same output), or None."""
        if embedder == "default":
            from .embed import default_embedder

            embedder = default_embedder()
        self.embedder = embedder
        self.lexicon = lexicon
        self.embedding_model = embedding_model
        self.embed_dims = embed_dims
        self.headline_embed_dims = headline_embed_dims

    def embedding(self, prepared: PreparedText) -> np.ndarray | None:
        """The unit vector of headline + lead (all the model's dimensions), or None without a model.
        The pipeline computes it once and hands it to both the fingerprint and the classifier,
        which reads the same text."""
        if self.embedder is None:
            return None
        if self.embedding_model is not None:
            return self.embedding_model.unit(prepared.title, prepared.text)
        unit = getattr(self.embedder, "unit", None)
        if unit is not None:
            return unit(_embed_text(prepared))
        return self.embedder.encode([_embed_text(prepared)])[0]

    def fingerprint(self, prepared: PreparedText, embedding: np.ndarray | None = None) -> Fingerprint:
        """One article (what the stream and `newsflow process` call): no batch to amortise, so the
        embedding takes the embedder's per-text fast path when it has one, unless the caller
        passes the vector it already has (Fingerprinter.embedding)."""
        if embedding is not None:
            part = self._lexical(prepared)
            if self.embedding_model is not None:
                return self._assemble(part, self.embedding_model.quantise(embedding, self._dims(part)))
            return self._assemble(part, quantise(np.asarray(embedding)[: self._dims(part)]))
        direction = getattr(self.embedder, "direction", None)
        if direction is None:
            return self.fingerprint_many([prepared])[0]
        part = self._lexical(prepared)
        return self._assemble(part, quantise(direction(_embed_text(prepared), self._dims(part))))

    def fingerprint_many(self, prepared: list[PreparedText]) -> list[Fingerprint]:
        """Batch form: one embedding call for all articles (what batch mode uses)."""
        parts = [self._lexical(p) for p in prepared]
        embeddings: list[bytes] = [b""] * len(prepared)
        if self.embedder is not None and prepared:
            texts = [_embed_text(p) for p in prepared]
            # quantise() scales each vector to its own peak, so the prefix needs no renormalising.
            vectors = self.embedder.encode(texts)
            embeddings = [quantise(v[: self._dims(part)]) for v, part in zip(vectors, parts)]
        return [self._assemble(part, emb) for part, emb in zip(parts, embeddings)]

    def _dims(self, part: tuple) -> int:
        # A bare headline is all the rewrite tier has to go on, and its sketch is small (no
        # minhash), so it keeps twice the embedding components; comparisons use the shared prefix.
        headline_only = part[2][1] & 1
        return self.headline_embed_dims if headline_only else self.embed_dims

    def _lexical(self, prepared: PreparedText) -> tuple:
        """Everything but the embedding. Sketch layout (little endian):
            version u8, flags u8 (bit 0: bare headline), shingle count u16,
            [text minhash u8 x NUM_PERM, lead minhash u8 x LEAD_PERM]  (not for a bare headline),
            n_names u8, n_numbers u8, n_terms u8, n_embedding u8, weekday mask u8 (bit 7: negated),
            n_places u8, names u16 x n, numbers u16 x n, terms u16 x n, places u16 x n, embedding bytes.
        (Version 2, still read, has no n_places and no places.)
        """
        if self.lexicon is not None:
            return self.lexicon.lexical(prepared.title, prepared.text)
        words = _words(prepared.text)
        headline_only = len(words) < 8
        if headline_only:
            words = _words(prepared.title) + words
        digest = xxhash.xxh3_128_digest(b" ".join(words))
        content_hash = digest.hex()
        keys = [b"E" + digest[:15]]
        n_shingles = max(0, len(words) - SHINGLE + 1) if len(words) >= SHINGLE else len(words)
        head = _HEADER.pack(VERSION, int(headline_only), min(n_shingles, 0xFFFF))
        if headline_only:
            body = head  # the near tier never compares bare headlines: no minhash to store
        else:
            hashes = np.asarray(rensa.RMinHash.hash_token_sets([words])[0], dtype=np.uint64)
            shingles = _shingle_hashes(hashes)
            # The lead's shingles are the first ones of the text's.
            full, lead = _minhashes(shingles, shingles[:max(1, LEAD_WORDS - SHINGLE + 1)])
            keys += _band_keys(b"N", full, LSH_BANDS, LSH_ROWS)
            if len(hashes) > LEAD_WORDS:  # otherwise the lead is the text and its bands add nothing
                keys += _band_keys(b"L", lead, LEAD_BANDS, LEAD_ROWS)
            body = head + bytes([v & 0xFF for v in full]) + bytes([v & 0xFF for v in lead])  # low bytes
        # Names and numbers come from the first LEAD_FACT_CHARS characters (about 80 words), cut at a
        # space so no word is halved.
        lead_text = prepared.text[:LEAD_FACT_CHARS]
        if len(prepared.text) > LEAD_FACT_CHARS:
            lead_text = lead_text[:lead_text.rfind(" ") + 1]
        names, numbers, terms = extract_facts(prepared.title, lead_text)
        salient = _salient(terms, set(names), set(numbers), HEADLINE_TERM_LIMIT if headline_only else TERM_LIMIT)
        for a, b in combinations(salient, 2):
            keys.append(b"T" + xxhash.xxh3_64_digest(f"{a}|{b}".encode()))
        name_hashes = list(dict.fromkeys(_h16(n) for n in names[:FACT_LIMIT]))
        number_hashes = list(dict.fromkeys(_h16(n) for n in numbers[:NUMBER_LIMIT]))
        term_hashes = list(dict.fromkeys(_h16(t) for t in terms[:HEADLINE_TERMS]))
        place_hashes = [place_hash(p) for p in places_in(prepared.title)[:PLACE_LIMIT]]  # distinct (test_places)
        facts = struct.pack(f"<{len(name_hashes) + len(number_hashes) + len(term_hashes) + len(place_hashes)}H",
                            *name_hashes, *number_hashes, *term_hashes, *place_hashes)
        counts = (len(name_hashes), len(number_hashes), len(term_hashes), len(place_hashes))
        day_byte = weekday_mask(prepared.title) | (NEGATED_BIT if negated(prepared.title) else 0)
        return content_hash, tuple(dict.fromkeys(keys)), body, counts, day_byte, facts

    @staticmethod
    def _assemble(part: tuple, embedding: bytes) -> Fingerprint:
        content_hash, keys, body, counts, day_byte, facts = part
        n_names, n_numbers, n_terms, n_places = counts
        sketch = body + bytes([n_names, n_numbers, n_terms, len(embedding), day_byte, n_places]) + facts + embedding
        return Fingerprint(content_hash=content_hash, keys=keys, sketch=sketch)
