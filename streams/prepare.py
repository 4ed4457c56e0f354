"""Step 1 of the data path: turn a crawler's title/body/html into the article's own text.

Contract (used by streams.pipeline and tests):
    prepare(title, body=None, html=None) -> PreparedText
Boilerplate that is not the article (share widgets, bylines, photo credits, related-stories
blocks, ads, captions, site footers, datelines) is removed; `html` goes through a main-text
extractor. Never raises on odd text; may return empty `text` (the caller dead-letters it).

The rules are line based: republishers add whole lines (widgets, footers, link lists) or a prefix
to the first paragraph (datelines), and rarely touch the sentences of the story itself. A line is
dropped only when it is short and looks like page furniture, so a real paragraph that happens to
contain "share" or "copyright" survives.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WS = re.compile(r"[ \t\r\f\v]+")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# UTF-8 read as Latin-1 leaves a stray "Â" before symbols such as £ or °.
_MOJIBAKE_A = re.compile("\u00c2(?=[\u00a0-\u00bf])")
_TYPOGRAPHY = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "*", "\u00b7": "*",
}
# A regex finds the few characters to fold in C; str.translate with a dict looks up every character
# in Python and cost more than the rest of preparation on non-ASCII articles.
_TYPOGRAPHY_CHARS = re.compile("[" + re.escape("".join(_TYPOGRAPHY)) + "]")

_SOCIAL = (r"facebook|twitter|x|email|e-mail|whatsapp|linkedin|pinterest|reddit|print|telegram|messenger|"
           r"copy link|flipboard|tumblr|instagram|youtube|tiktok|sms|mail|share|tweet|pin it")
_FURNITURE = re.compile(
    r"^(?:"
    rf"(?:{_SOCIAL})(?:\s*[|/,*:-]?\s*(?:{_SOCIAL}))*"  # a row of share buttons
    r"|share (?:this|on|via|the|article|story|page)\b.*"
    r"|follow us\b.*|like us on\b.*|join us on\b.*|find us on\b.*"
    r"|sign up\b.*|subscribe\b.*|newsletter\b.*|get our\b.*newsletter.*"
    r"|read (?:the )?(?:full|original|more|whole)\b.*|continue reading\b.*|click here\b.*|more here\b.*"
    r"|(?:advertisement|advert|sponsored(?: content)?|promoted|ad|ads by \w+|story continues below.*)"
    r"|(?:copyright|\(c\)|©).*|.*\ball rights reserved\b.*"
    r"|(?:image|photo|picture|video|graphic) ?(?:caption|credit|source|copyright)?\s*[:].*"
    r"|(?:image|photo|picture)s? (?:caption|credit|copyright)\b.*"
    r"|(?:getty images|ap photo|reuters|afp|epa|pa images|shutterstock)(?:\s*/.*)?"
    r"|\((?:ap |afp |reuters )?(?:photo|image|picture)s?\b.*\)"
    r"|(?:posted|published|updated|last updated|modified)\b(?=.*\d).{0,60}"
    r"|(?:comments?|\d+ comments?|leave a comment|view comments|show comments)"
    r"|(?:tags?|topics|filed under|categories)\s*:.*"
    r")\s*$",
    re.IGNORECASE,
)
# "By Jane Doe, Health reporter": case-sensitive, so "by the time ..." is never a byline.
_BYLINE = re.compile(r"^By [A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3}(?:,? (?:and|&) [A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3})?"
                     r"(?:\s*[,|-]\s*.{0,60})?$")
_RELATED_HEAD = re.compile(
    r"^(?:related(?: stories| articles| coverage| news| content| links| reading| topics)?|you (?:may|might) also like"
    r"|(?:more|other|top|latest|popular|recommended|trending) (?:stories|news|articles|headlines|from .{1,40}|on .{1,40})"
    r"|recommended(?: for you)?|most (?:read|popular|viewed|shared|watched)|trending(?: now)?|see also|also read"
    r"|read (?:more|next|also)|what to read next|around the web|from the web|elsewhere on .{1,40}|don't miss"
    r"|editor'?s picks|in other news)\s*:?\s*$",
    re.IGNORECASE,
)
# A date or time stamp on a line of its own ("7: 15 a. m. Dec. 7, 2009", "Wed, Sep 19 2012 at 11: 47 AM").
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DAY = r"(?i:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?"
_STAMP_TOKEN = re.compile(rf"^(?:{_MONTH}|{_DAY}|\d{{1,4}}(?:st|nd|rd|th)?[,:.]?|[ap]\.?|m\.?|[ap]\.?m\.?|at|on|et|gmt|utc|bst|est|edt|pst|pdt|cet|[-|:,/]|updated|posted|published)$", re.IGNORECASE)
# "LONDON (Reuters) - ", "LONDON, Jan. 12 (AP) — ", "WASHINGTON - ", "Paris, France (CNN) -- ".
_PLACE = r"[A-Z][A-Za-z.'-]*(?:[ ,]+[A-Z][A-Za-z.'-]*){0,3}"
_AGENCY = r"\([A-Za-z][\w .&/-]{0,30}\)"
_DATELINE = re.compile(
    r"^(?:[A-Z]{2}[A-Z.'-]*(?:[ ,]+[A-Z][A-Za-z.'-]*){0,3}"  # "LONDON", "NEW YORK", "SAN JOSE, Calif."
    rf"(?:,? {_MONTH} \d{{1,2}}(?:,? \d{{4}})?)?\s*(?:{_AGENCY})?"
    rf"|{_PLACE}(?:,? {_MONTH} \d{{1,2}}(?:,? \d{{4}})?)?\s*{_AGENCY}"  # "Paris, France (CNN)"
    rf"|{_AGENCY})"
    r"\s*(?:-{1,3}|:)\s+(?=\S)"
)
# Wire-service labels, possibly stacked ("EXCLUSIVE-UPDATE 2-", "BREAKING: UPDATE 1-").
_TITLE_PREFIX = re.compile(r"^(?:(?:update\s*\d*|updated|breaking(?: news)?|exclusive|watch|video|live|analysis|factbox|"
                           r"corrected)\s*[-:]\s*)+", re.IGNORECASE)
_TITLE_SITE = re.compile(r"\s+[|\u00bb]\s+[^|]{1,40}$")  # "Headline | World News", "Headline » Site"
_SENTENCE_END_CHARS = frozenset(".!?\"')]:;")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class PreparedText:
    title: str  # cleaned headline
    text: str  # main text of the article, paragraphs separated by "\n"


def normalise(text: str) -> str:
    """Unicode NFKC, straight quotes, ASCII dashes, no zero-width characters."""
    if text.isascii():  # the common case: nothing to fold, and these passes are the slow ones
        return text
    text = unicodedata.normalize("NFKC", _MOJIBAKE_A.sub("", text))
    return _TYPOGRAPHY_CHARS.sub(lambda m: _TYPOGRAPHY[m.group()], _ZERO_WIDTH.sub("", text))


def _is_stamp(line: str) -> bool:
    # Lines reach here squashed (single spaces), so 14 spaces already mean more than 14 tokens; both
    # cheap checks come before the per-token matching.
    if line.count(" ") >= 14 or not _DIGIT.search(line):
        return False
    tokens = line.replace(",", " , ").split()
    return 0 < len(tokens) <= 14 and all(_STAMP_TOKEN.match(t) for t in tokens)


def _is_furniture(line: str) -> bool:
    if len(line) > 160:  # furniture is short; a paragraph that mentions "share" is not furniture
        return False
    return bool(_FURNITURE.match(line) and not _looks_like_sentence_about(line)) or bool(_BYLINE.match(line)) \
        or _is_stamp(line)


def _looks_like_sentence_about(line: str) -> bool:
    # "Reuters said on Monday that ..." starts like a credit but is a sentence of the story.
    words = line.split()
    return len(words) >= 10 and line.rstrip().endswith(".") and not line.lower().startswith(("copyright", "©"))


def _is_teaser_line(line: str) -> bool:
    # A headline in a link list: short (at most 14 words; lines are squashed to single spaces), no
    # sentence punctuation at the end.
    return line.count(" ") <= 13 and line[-1:] not in _SENTENCE_END_CHARS


def clean_title(title: str) -> str:
    title = _WS.sub(" ", normalise(title or "")).strip()
    title = _TITLE_PREFIX.sub("", title)
    stripped = _TITLE_SITE.sub("", title)
    return (stripped or title).strip()


def clean_body(body: str) -> str:
    lines = [" ".join(line.split()) for line in normalise(body).split("\n")]
    lines = [line for line in lines if line]
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _RELATED_HEAD.match(line):
            # Drop the header and the list of other headlines (and their one-line teasers) after it.
            i += 1
            while i < len(lines) and (_is_teaser_line(lines[i]) or lines[i].count(" ") <= 24):
                i += 1
            continue
        if _is_furniture(line):
            i += 1
            continue
        # Runs of three or more short unpunctuated lines are link lists (sidebars, menus), not prose.
        j = i
        while j < len(lines) and _is_teaser_line(lines[j]):
            j += 1
        if j - i >= 3:
            i = j
            continue
        kept.append(line)
        i += 1
    if kept:
        kept[0] = _DATELINE.sub("", kept[0], count=1)
    return "\n".join(kept)


def _html_main_text(html: str) -> str:
    # trafilatura: maintained main-content extractor (boilerplate removal is what it is built and
    # benchmarked for); imported lazily so text-only callers do not pay for lxml at import time.
    try:
        import trafilatura

        return trafilatura.extract(html, include_comments=False, include_tables=False,
                                   include_links=False, include_images=False, favor_precision=True) or ""
    except Exception:  # a broken page must never stop the stream
        return ""


def prepare(title: str, body: str | None = None, html: str | None = None, cleaner: object | None = None) -> PreparedText:
    """`cleaner`: an object with clean_title and clean_body methods that stands in for this module's
    functions (streams.native's compiled twin, which gives the same output)."""
    try:
        text = body or ""
        if not text.strip() and html:
            text = _html_main_text(html)
        if cleaner is not None:
            return PreparedText(title=cleaner.clean_title(title or ""), text=cleaner.clean_body(text))
        return PreparedText(title=clean_title(title or ""), text=clean_body(text))
    except Exception:  # never raise on odd input: an empty text is dead-lettered by the caller
        return PreparedText(title=_WS.sub(" ", str(title or "")).strip(), text="")
