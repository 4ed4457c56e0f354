"""Raw article validation, ids, and the enriched / dead-letter record shapes.

Pure functions: bytes in, an `Article` or a `Rejection` out. Schemas in schemas/ describe the same
shapes for crawler teams; tests check every produced record against them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
import xxhash

KNOWN_FIELDS = ("id", "url", "source", "title", "body", "html", "published_at", "language")
_STRING_FIELDS = ("id", "url", "source", "body", "html", "published_at", "language")
MAX_ID_CHARS = 256
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Tracking parameters never change which article a URL names; dropping them lets two crawls of
# the same page agree on its id.
_TRACKING_PARAM = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid|ito|smid)$", re.I)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str  # one of streams.metrics.REJECT_REASONS
    detail: str  # human-readable: which field, what was wrong


@dataclass(slots=True)
class Article:
    id: str
    title: str
    body: str | None = None
    html: str | None = None
    url: str | None = None
    source: str | None = None
    published_at: str | None = None
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields, kept verbatim

    def raw_fields(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "source": self.source, "title": self.title, "body": self.body,
                "html": self.html, "published_at": self.published_at, "language": self.language}


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, fragment and tracking parameters dropped, default ports and a
    trailing slash removed: two crawls of one page give one id."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    if parts.port and not ((parts.scheme == "http" and parts.port == 80) or (parts.scheme == "https" and parts.port == 443)):
        host = f"{host}:{parts.port}"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING_PARAM.match(k)))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), host, path, query, ""))


def derive_id(url: str | None, title: str, body: str | None, html: str | None) -> str:
    """An id for a record that came without one: from the canonical URL when there is one, else
    from the content, so a redelivered record keeps its id."""
    if url:
        return "u" + xxhash.xxh3_128_hexdigest(canonical_url(url).encode())[:24]
    content = "\x1f".join((title, body or "", html or ""))
    return "h" + xxhash.xxh3_128_hexdigest(content.encode())[:24]


def _valid_timestamp(value: str) -> bool:
    # RFC 3339 needs a date, a time and an offset (or Z).
    if "T" not in value.upper() or len(value) < 20:
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def parse_raw(data: bytes, *, max_bytes: int, reject_unknown: bool = False) -> Article | Rejection:
    """Validate one raw record. Never raises for any input bytes."""
    if len(data) > max_bytes:
        return Rejection("too_large", f"record is {len(data)} bytes; the limit is {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection("invalid_utf8", f"not UTF-8 at byte {exc.start}")
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Rejection("malformed_json", f"not JSON: {exc}")
    if not isinstance(obj, dict):
        return Rejection("not_an_object", f"a record must be a JSON object, got {type(obj).__name__}")
    title = obj.get("title")
    if title is None:
        return Rejection("missing_title", "field 'title' is required")
    if not isinstance(title, str):
        return Rejection("wrong_type", f"field 'title' must be a string, got {type(title).__name__}")
    if not title.strip():
        return Rejection("missing_title", "field 'title' is empty")
    for name in _STRING_FIELDS:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            return Rejection("wrong_type", f"field '{name}' must be a string or null, got {type(value).__name__}")
    unknown = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    if unknown and reject_unknown:
        return Rejection("unknown_field", f"unknown fields: {', '.join(sorted(unknown))}")
    if obj.get("published_at") and not _valid_timestamp(obj["published_at"]):
        return Rejection("invalid_field", "field 'published_at' is not an RFC 3339 timestamp")
    if obj.get("language") and not _LANGUAGE.match(obj["language"]):
        return Rejection("invalid_field", "field 'language' is not a language tag such as 'en' or 'pt-BR'")
    article_id = obj.get("id")
    if article_id is not None:
        article_id = article_id.strip()
        if not article_id or len(article_id) > MAX_ID_CHARS:
            return Rejection("invalid_field", f"field 'id' must be 1 to {MAX_ID_CHARS} characters")
    else:
        article_id = derive_id(obj.get("url"), title, obj.get("body"), obj.get("html"))
    return Article(id=article_id, title=title, body=obj.get("body"), html=obj.get("html"), url=obj.get("url"),
                   source=obj.get("source"), published_at=obj.get("published_at"), language=obj.get("language"),
                   extra=unknown)


def deadletter_record(data: bytes, rejection: Rejection, *, topic: str | None, partition: int | None,
                      offset: int | None, rejected_at: float, pipeline_version: str) -> dict[str, Any]:
    """The dead-letter record: the reason and the original bytes, so nothing is lost. The bytes are
    kept as UTF-8 text when they are valid UTF-8 (readable in a tail) and always as base64."""
    import base64

    try:
        original_text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        original_text = None
    return {
        "reason": rejection.reason,
        "detail": rejection.detail,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "original_base64": base64.b64encode(data).decode("ascii"),
        "original_text": original_text,
        "original_bytes": len(data),
        "rejected_at": _rfc3339(rejected_at),
        "pipeline_version": pipeline_version,
    }


# Whole second -> "YYYY-MM-DDTHH:MM:SS". A published article carries two stamps (ingested, processed)
# of nearby seconds, so a few hundred entries serve every lookup but the first of each second.
_SECONDS: dict[int, str] = {}


def _rfc3339(ts: float) -> str:
    """UTC, millisecond precision, "Z": what datetime.isoformat(timespec="milliseconds") gives, with
    the date and time of the current second formatted once (this runs twice per published article)."""
    frac, whole = math.modf(ts)
    micros = round(frac * 1e6)   # as datetime.fromtimestamp rounds
    second = int(whole)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    prefix = _SECONDS.get(second)
    if prefix is None:
        if len(_SECONDS) >= 256:
            _SECONDS.clear()
        prefix = _SECONDS[second] = datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{prefix}.{micros // 1000:03d}Z"


rfc3339 = _rfc3339
