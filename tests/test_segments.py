"""Changelog segments: what a batch wrote comes back exactly, in order, however it is split."""
from __future__ import annotations

import orjson

from streams.segments import chunked_json, pack_segment, unpack_segment


def test_a_segment_round_trips_puts_and_deletes_in_order():
    changes = {b"k1": b"v1", b"k2": None, b"\x00\xff": b"", b"k3": bytes(range(256)) * 10}
    assert list(unpack_segment(pack_segment(changes))) == list(changes.items())


def test_replaying_segments_in_order_gives_the_written_state():
    state: dict[bytes, bytes] = {}
    for seg in (pack_segment({b"a": b"1", b"b": b"2"}), pack_segment({b"a": None, b"b": b"3"})):
        for key, value in unpack_segment(seg):
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
    assert state == {b"b": b"3"}


def test_batched_records_are_split_below_the_limit_and_keep_every_item():
    items = [{"id": i, "text": "x" * 300} for i in range(100)]
    chunks = list(chunked_json(items, 4096))
    assert len(chunks) > 1 and all(len(c) <= 4096 + 400 for c in chunks)
    assert [item for c in chunks for item in orjson.loads(c)] == items
