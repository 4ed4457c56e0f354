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


class _Partition:
    """A PartitionState stand-in: sorted stored entries, scan() in slices, deletes buffered until flush()."""

    def __init__(self, entries: dict[bytes, bytes]) -> None:
        self.stored, self.pending, self.scans = dict(entries), {}, 0

    def scan(self, after, limit):
        self.scans += 1
        keys = sorted(k for k in self.stored if after is None or k > after)
        return [(k, self.stored[k]) for k in keys[:limit]]

    def delete(self, key):
        self.pending[key] = None

    def flush(self):
        for key in self.pending:
            self.stored.pop(key, None)
        self.pending.clear()


def test_sweeps_run_in_paced_slices_and_start_again_only_after_the_interval(monkeypatch):
    from streams import app

    monkeypatch.setattr(app, "SWEEP_SLICE", 2)
    state = _Partition({b"k%d" % i: b"" for i in range(5)})
    seen: list[list[bytes]] = []
    sweeps = app.PacedSweeps(interval_s=3600)
    expire = lambda started, entries: seen.append([k for k, _ in entries])  # noqa: E731
    sweeps.step(0, state, 10_000.0, expire)
    sweeps.step(0, state, 10_000.1, expire)  # within SWEEP_PACE_S: nothing
    assert seen == [[b"k0", b"k1"]]
    sweeps.step(0, state, 10_001.0, expire)
    sweeps.step(0, state, 10_002.0, expire)  # a short slice ends the pass
    assert seen == [[b"k0", b"k1"], [b"k2", b"k3"], [b"k4"]]
    sweeps.step(0, state, 10_003.0, expire)  # the next pass waits for the interval
    assert len(seen) == 3
    sweeps.step(0, state, 10_000.0 + 3600, expire)
    assert seen[-1] == [b"k0", b"k1"]


