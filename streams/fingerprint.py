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
"""
from __future__ import annotations

from dataclasses import dataclass

import xxhash

from .prepare import PreparedText


@dataclass(frozen=True, slots=True)
class Fingerprint:
    content_hash: str
    keys: tuple[bytes, ...]
    sketch: bytes


class Fingerprinter:
    def fingerprint(self, prepared: PreparedText) -> Fingerprint:
        # Placeholder until the dedup issue lands: exact content only.
        normalised = " ".join((prepared.title + " " + prepared.text).lower().split())
        digest = xxhash.xxh3_128_hexdigest(normalised.encode())
        return Fingerprint(content_hash=digest, keys=(b"x" + bytes.fromhex(digest)[:15],), sketch=b"")
