"""Raw record validation: every kind of bad input gets its reason; nothing raises."""
from __future__ import annotations

import base64

import orjson
import pytest

from streams.records import Article, Rejection, canonical_url, deadletter_record, derive_id, parse_raw

LIMIT = 10_000


def parse(data: bytes, **kw):
    return parse_raw(data, max_bytes=LIMIT, **kw)


@pytest.mark.parametrize("data, reason", [
    (b"\xff\xfe", "invalid_utf8"),
    (b"{", "malformed_json"),
    (b"", "malformed_json"),
    (b"[1, 2]", "not_an_object"),
    (b"null", "not_an_object"),
    (b'{"body": "x"}', "missing_title"),
    (b'{"title": "  \\n "}', "missing_title"),
    (b'{"title": 3}', "wrong_type"),
    (b'{"title": "t", "body": {"p": 1}}', "wrong_type"),
    (b'{"title": "t", "url": 5}', "wrong_type"),
    (b'{"title": "t", "published_at": "2026-11-30"}', "invalid_field"),
    (b'{"title": "t", "published_at": "2026-11-30T10:00:00"}', "invalid_field"),
    (b'{"title": "t", "language": "english please"}', "invalid_field"),
    (b'{"title": "t", "id": ""}', "invalid_field"),
    (b'{"title": "t", "body": "' + b"x" * LIMIT + b'"}', "too_large"),
])
def test_bad_records_are_rejected_with_their_reason(data, reason):
    result = parse(data)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.detail


def test_a_good_record_keeps_its_fields_and_unknown_ones_under_extra():
    result = parse(orjson.dumps({"id": "a1", "title": "T", "body": "B", "url": "https://x.example/a",
                                 "source": "s", "published_at": "2026-11-30T10:00:00Z", "language": "pt-BR",
                                 "section": "world"}))
    assert isinstance(result, Article)
    assert (result.id, result.title, result.body, result.language) == ("a1", "T", "B", "pt-BR")
    assert result.extra == {"section": "world"}


def test_unknown_fields_can_be_rejected_instead():
    result = parse(b'{"title": "t", "section": "world"}', reject_unknown=True)
    assert isinstance(result, Rejection) and result.reason == "unknown_field" and "section" in result.detail


def test_ids_are_derived_from_the_canonical_url_else_the_content():
    a = parse(b'{"title": "t", "url": "HTTPS://News.Example:443/a/b/?utm_source=x&id=7#top"}')
    b = parse(b'{"title": "other title", "url": "https://news.example/a/b?id=7"}')
    assert a.id == b.id and a.id.startswith("u")
    c, d = parse(b'{"title": "t", "body": "x"}'), parse(b'{"title": "t", "body": "y"}')
    assert c.id.startswith("h") and c.id != d.id
    assert parse(b'{"title": "t", "body": "x"}').id == c.id, "a redelivered record keeps its id"
    assert derive_id(None, "t", "x", None) == c.id


def test_canonical_url_keeps_what_names_the_page():
    assert canonical_url("http://a.example:8080/x?b=2&a=1") == "http://a.example:8080/x?a=1&b=2"
    assert canonical_url("https://a.example/") == "https://a.example/"


def test_deadletter_record_keeps_the_original_bytes():
    data = b'\xff{"title": 1}'
    record = deadletter_record(data, Rejection("invalid_utf8", "x"), topic="raw", partition=2, offset=9,
                               rejected_at=0.0, pipeline_version="v")
    assert base64.b64decode(record["original_base64"]) == data
    assert record["original_text"] is None and record["original_bytes"] == len(data)
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == ("raw", 2, 9)
    assert record["rejected_at"] == "1970-01-01T00:00:00.000Z"


def test_timestamps_are_rfc3339_utc_milliseconds_as_datetime_formats_them():
    # The published stamps are formatted with a per-second cache; they must read exactly as
    # datetime's own isoformat, including the rounding at the edge of a second.
    import random
    from datetime import datetime, timezone

    from streams.records import rfc3339

    rng = random.Random(7)
    stamps = [rng.uniform(0, 2e9) for _ in range(20000)] + [0.0, 1.0005, 1.9999995, 1764470000.9999996]
    for ts in stamps:
        expected = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")
        assert rfc3339(ts) == expected.replace("+00:00", "Z"), ts
