"""Articles waiting at their home partition for the answers of every partition they probed.

The `ingest` hop (streams.app) analyses an article, sends one probe to each partition that owns
some of its routing keys, and keeps the article here; each probed partition's `index` answers with
its best match; when the last answer is in, `decide` combines them and publishes. Home is the raw
partition the article was consumed from: Faust assigns the same partition number of every topic
of equal size to one worker, so the worker that holds the article also receives its answers.

Nothing here is written to Kafka. What makes a waiting article durable is its raw record: the shell
acknowledges that record only once the article's enriched record is published, so after a crash, a
stop or a rebalance the raw record is consumed again and the article probes again (the index answers
a repeated probe of an article it holds with the same result). Before this, every waiting article
crossed the broker twice more (to its home partition, and into a table's changelog) and was encoded
and decoded four times; that was about a fifth of the worker's CPU per article.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class PendingArticle:
    token: str                      # the raw record: "partition:offset"
    home: int                       # its partition, where the answers come back to
    wire: dict                      # Analysed.to_wire() plus id, token, ingested_at
    expected: frozenset[int]        # partitions probed, one answer due from each
    ref: Any                        # what the shell acknowledges once the article is published
    since: float                    # when it began to wait (for overdue())
    answers: dict[int, dict | None] = field(default_factory=dict)   # partition -> match or None


class PendingArticles:
    """Waiting articles by token, oldest first."""

    def __init__(self) -> None:
        self._by_token: dict[str, PendingArticle] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def add(self, entry: PendingArticle) -> PendingArticle | None:
        """Start waiting for `entry`'s answers; returns it at once (complete) if none is due."""
        if not entry.expected:
            return entry
        self._by_token[entry.token] = entry
        return None

    def answer(self, token: str, partition: int, match: dict | None) -> PendingArticle | None:
        """Record `partition`'s answer; returns the article, no longer waiting, once all are in.

        An answer for a token not waiting is dropped: its article was published already (the
        answer was consumed again after a restart), or was forgotten at a rebalance, and then its
        raw record is consumed again and probes again. An answer counts once per partition, so a
        repeated one changes nothing."""
        entry = self._by_token.get(token)
        if entry is None or partition not in entry.expected:
            return None
        entry.answers[partition] = match
        if len(entry.answers) < len(entry.expected):
            return None
        del self._by_token[token]
        return entry

    def forget(self, homes: set[int] | None = None) -> list[PendingArticle]:
        """Stop waiting for the articles of these home partitions (revoked from this worker), or
        for all of them."""
        gone = [e for e in self._by_token.values() if homes is None or e.home in homes]
        for entry in gone:
            del self._by_token[entry.token]
        return gone

    def overdue(self, before: float) -> list[PendingArticle]:
        """Take out the articles that began to wait before `before`, however many answers they have."""
        late: list[PendingArticle] = []
        for entry in self._by_token.values():   # insertion order: the oldest first
            if entry.since >= before:
                break
            late.append(entry)
        for entry in late:
            del self._by_token[entry.token]
        return late
