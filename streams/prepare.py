"""Step 1 of the data path: turn a crawler's title/body/html into the article's own text.

Contract (used by streams.pipeline and tests):
    prepare(title, body=None, html=None) -> PreparedText
Boilerplate that is not the article (share widgets, bylines, photo credits, related-stories
blocks, ads, captions, site footers, datelines) is removed; `html` goes through a main-text
extractor. Never raises on odd text; may return empty `text` (the caller dead-letters it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class PreparedText:
    title: str  # cleaned headline
    text: str  # main text of the article, paragraphs separated by "\n"


def prepare(title: str, body: str | None = None, html: str | None = None) -> PreparedText:
    # Placeholder until the dedup issue lands: whitespace folding only.
    text = body or ""
    return PreparedText(title=_WS.sub(" ", title).strip(), text=text.strip())
