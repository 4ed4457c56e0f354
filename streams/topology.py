"""Topic names, partition counts and routing: shared by the worker, the CLI and the tests.

The stream has three hops (see README, Architecture):
  raw -> [ingest] -> dedup-probes (by routing key) -> [index] -> dedup-answers (by home partition) -> [decide] -> enriched
All of them, and the table's changelog, have the same partition count: Faust requires a table's
changelog to match the partitions of the topic its agent reads, and an article's answers come back
to its raw partition, which only works because Faust then gives one worker the same partition
number of every topic.
"""
from __future__ import annotations

import xxhash

from .config import Settings

DAY_MS = 86_400_000
# The internal hops' topics (probes, answers): consumed within seconds; a day covers any backlog.
INTERNAL_RETENTION_MS = DAY_MS

# Records we produce can be larger than a raw record: an enriched record repeats the body beside the
# extracted text, a dead-letter record carries the original twice (base64 and text). Our topics take
# up to 8 MiB (Kafka's default is 1 MiB); batched internal records are split well below that.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_BATCH_RECORD_BYTES = 512 * 1024

TABLE_INDEX = "dedup-index"


def probes_topic(s: Settings) -> str:
    return f"{s.app_id}-dedup-probes"


def answers_topic(s: Settings) -> str:
    return f"{s.app_id}-dedup-answers"


def changelog_topic(s: Settings, table: str) -> str:
    return f"{s.app_id}-{table}-changelog"


def partition_for(key: bytes, partitions: int) -> int:
    """Which partition owns a routing key or an article id. Our own stable hash (not the client's
    partitioner) so every worker, and the tests, agree without asking Kafka."""
    return xxhash.xxh3_64_intdigest(key) % partitions


def segment_retention_ms(s: Settings) -> int:
    # Everything a segment wrote has left the dedup window by then (it was written after its
    # articles were ingested), so dropping the segment loses no live state.
    return int((s.dedup_window_s + 86400) * 1000)


def topic_specs(s: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """name -> (partitions, topic configs). Retention per topic is documented in the README."""
    n = s.partitions
    big = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    return {
        s.topic_raw: (n, big | {"retention.ms": str(7 * DAY_MS)}),
        s.topic_enriched: (n, big | {"retention.ms": str(7 * DAY_MS)}),
        s.topic_deadletter: (n, big | {"retention.ms": str(30 * DAY_MS)}),
        probes_topic(s): (n, big | {"retention.ms": str(INTERNAL_RETENTION_MS)}),
        answers_topic(s): (n, big | {"retention.ms": str(INTERNAL_RETENTION_MS)}),
        # The segment changelog (streams.segments): unique keys, so retention rather than compaction.
        changelog_topic(s, TABLE_INDEX): (n, big | {"retention.ms": str(segment_retention_ms(s))}),
    }


async def ensure_topics(s: Settings) -> list[str]:
    """Create missing topics; check existing ones have the configured partition count."""
    from .broker import create_topics

    return await create_topics(s.kafka_bootstrap, topic_specs(s), replication_factor=s.replication_factor)
