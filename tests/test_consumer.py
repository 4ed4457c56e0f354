"""What the worker's consumer delivers and commits (streams.consumer): each stream partition's records
in offset order with none left out (next_step), and a commit never past a record not yet
acknowledged, whatever order records are acknowledged in (settled_offset)."""
from collections import defaultdict
from types import SimpleNamespace

import pytest
from intervaltree import IntervalTree

from streams.consumer import DELIVER, JUMP, REWIND, SKIP, next_step, settled_offset

TP = ("articles.raw", 0)


def consumer(acked: list[int], committed: int | None, first_delivered: int | None = None,
             generation: int = 7, gaps: tuple[tuple[int, int], ...] = ()) -> SimpleNamespace:
    tree = IntervalTree()
    for begin, end in gaps:
        tree[begin:end] = True
    return SimpleNamespace(
        _acked=defaultdict(list, {TP: list(acked)}), _acked_index=defaultdict(set, {TP: set(acked)}),
        _gap=defaultdict(IntervalTree, {TP: tree}), _committed_offset=defaultdict(lambda: None, {TP: committed}),
        first_delivered={} if first_delivered is None else {TP: (generation, first_delivered)},
        app=SimpleNamespace(consumer_generation_id=generation))


@pytest.mark.parametrize("acked, committed, first, expected", [
    ([1, 2], 0, 0, None),            # record 0 still waits (Faust's rule skips the check at offset 0)
    ([51, 52], 50, 50, None),        # record 50 still waits (Faust's rule let a run one past it through)
    ([50, 51, 53], 50, 50, 52),      # up to the first record still waiting
    ([10, 11, 13], None, 10, 12),    # nothing committed yet: from the first record delivered
    ([11, 12], None, 10, None),      # ... which still waits
    ([60, 61], 50, 60, 62),          # records 50-59 gone (retention): the first one delivered starts
    ([40, 50, 51], 50, 50, 52),      # acknowledged before an earlier commit: ignored
    ([], 50, 50, None),
])
def test_a_commit_never_passes_a_record_not_yet_acknowledged(acked, committed, first, expected):
    assert settled_offset(consumer(acked, committed, first), TP) == expected


def test_the_first_record_delivered_counts_only_in_its_own_generation():
    # Delivered before a rebalance: after it, the committed offset (from the broker) is where to start.
    stale = consumer([51], 50, first_delivered=51, generation=7)
    stale.app.consumer_generation_id = 8
    assert settled_offset(stale, TP) is None


def test_offsets_known_to_hold_no_record_count_as_acknowledged():
    assert settled_offset(consumer([50, 53], 50, 50, gaps=((51, 53),)), TP) == 54


def test_a_committed_run_is_removed_and_the_rest_waits_for_the_next_commit():
    c = consumer([50, 51, 53], 50, 50)
    assert settled_offset(c, TP) == 52
    assert c._acked[TP] == [53] and c._acked_index[TP] == {53}


@pytest.mark.parametrize("expected, offset, rewound_to, step", [
    (None, 120, None, DELIVER),     # nothing known (assigned with nothing committed): any record starts it
    (50, 50, None, DELIVER),        # the next record
    (50, 42, None, SKIP),           # delivered already: a fetch from before a seek back
    (50, 624, None, REWIND),        # records 50-623 were fetched and never delivered: fetch them again
    (50, 624, 12, REWIND),          # an earlier seek back to another offset does not count
    (50, 624, 50, JUMP),            # sought back to 50 once and still not there: deleted by retention
])
def test_each_record_is_delivered_in_order_and_none_is_left_out(expected, offset, rewound_to, step):
    assert next_step(expected, offset, rewound_to) == step
