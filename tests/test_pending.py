"""Articles waiting for their dedup answers (streams.pending): when one is complete, what a repeated,
stray or late answer does, and what a rebalance or an overdue check takes out."""
from streams.pending import PendingArticle, PendingArticles


def waiting(token: str, expected: set[int], since: float = 0.0, home: int = 0) -> PendingArticle:
    return PendingArticle(token, home, {"id": token}, frozenset(expected), ref=object(), since=since)


def test_an_article_is_complete_when_every_probed_partition_has_answered_once():
    pending = PendingArticles()
    assert pending.add(waiting("0:1", {1, 3})) is None
    assert pending.answer("0:1", 1, None) is None
    assert pending.answer("0:1", 1, {"again": True}) is None   # a repeated answer is not a second one
    assert pending.answer("0:1", 2, None) is None             # a partition it did not probe
    done = pending.answer("0:1", 3, {"kind": "near"})
    assert done is not None and done.answers == {1: {"again": True}, 3: {"kind": "near"}}
    assert len(pending) == 0
    assert pending.answer("0:1", 3, None) is None             # consumed again after a restart: dropped


def test_an_article_that_probed_no_partition_is_complete_at_once():
    entry = waiting("0:2", set())
    assert PendingArticles().add(entry) is entry


def test_a_rebalance_forgets_only_the_revoked_home_partitions():
    pending = PendingArticles()
    for token, home in (("0:1", 0), ("1:1", 1), ("0:2", 0)):
        pending.add(waiting(token, {2}, home=home))
    assert [e.token for e in pending.forget({0})] == ["0:1", "0:2"]
    assert len(pending) == 1 and pending.answer("0:1", 2, None) is None
    assert pending.answer("1:1", 2, None).token == "1:1"
    pending.add(waiting("2:1", {2}, home=2))
    assert [e.token for e in pending.forget()] == ["2:1"] and len(pending) == 0   # at a stop: all


def test_overdue_takes_out_the_articles_that_waited_too_long_with_the_answers_they_have():
    pending = PendingArticles()
    pending.add(waiting("0:1", {1, 2}, since=10.0))
    pending.add(waiting("0:2", {1}, since=50.0))
    pending.answer("0:1", 1, None)
    late = pending.overdue(before=20.0)
    assert [(e.token, e.answers) for e in late] == [("0:1", {1: None})]
    assert len(pending) == 1
