"""The service's Prometheus metrics: one catalogue, documented in README.md (Metrics).

Names follow Prometheus conventions (newsflow_ prefix, base units, _total counters). Labels are
bounded sets only: reasons, kinds, topics, stages, and topic/partition of our own topics. No ids,
URLs or source names ever become label values.
"""
from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from . import PIPELINE_VERSION, __version__

# Ingest-to-publish latency spans milliseconds (idle) to minutes (catching up after an outage).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
# Per-stage times are per article: microseconds to tens of milliseconds.
STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)

STAGES = ("prepare", "fingerprint", "dedup", "classify", "publish")


class Metrics:
    """All metrics of one worker process, on their own registry (tests build several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.consumed = Counter("newsflow_articles_consumed_total",
                                "Raw article records consumed from the input topic.", registry=r)
        self.enriched = Counter("newsflow_articles_enriched_total",
                                "Enriched article records published.", registry=r)
        self.deadlettered = Counter("newsflow_articles_deadlettered_total",
                                    "Raw records sent to the dead-letter topic, by rejection reason.",
                                    ["reason"], registry=r)
        self.duplicates = Counter("newsflow_duplicates_total",
                                  "Published articles found to be copies of an earlier article, by tier.",
                                  ["kind"], registry=r)
        self.topics = Counter("newsflow_topics_assigned_total",
                              "Topic labels assigned to published articles.", ["topic"], registry=r)
        self.latency = Histogram("newsflow_end_to_end_latency_seconds",
                                 "Time from the raw record's Kafka timestamp (ingest) to publication of its "
                                 "enriched record.", buckets=LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("newsflow_stage_duration_seconds",
                               "Processing time per article in each pipeline stage.", ["stage"],
                               buckets=STAGE_BUCKETS, registry=r)
        self.lag = Gauge("newsflow_consumer_lag_records",
                         "Records not yet consumed by this worker, per assigned partition of its source topics.",
                         ["topic", "partition"], registry=r)
        self.index_articles = Gauge("newsflow_dedup_index_articles",
                                    "Articles held in this worker's dedup index (its assigned partitions).",
                                    registry=r)
        self.index_entries = Gauge("newsflow_dedup_index_entries",
                                   "Entries (postings and sketches) in this worker's dedup index.", registry=r)
        self.index_bytes = Gauge("newsflow_dedup_index_bytes",
                                 "Stored bytes of this worker's dedup index (keys plus values).", registry=r)
        self.expired = Counter("newsflow_dedup_expired_total",
                               "Articles dropped from the dedup index because they left the dedup window.",
                               registry=r)
        self.waiting = Gauge("newsflow_dedup_waiting_articles",
                             "Articles analysed by this worker and waiting for the dedup answers of the "
                             "partitions they probed.", registry=r)
        self.overdue = Counter("newsflow_dedup_overdue_total",
                               "Articles published without every dedup answer, after waiting "
                               "NEWSFLOW_PENDING_TIMEOUT_S (a partition that does not answer).", registry=r)
        self.broker_up = Gauge("newsflow_broker_up",
                               "1 when the worker's last broker metadata request succeeded, else 0.", registry=r)
        self.ready = Gauge("newsflow_worker_ready",
                           "1 when the worker has joined its group, recovered its tables and reaches the broker.",
                           registry=r)
        self.build_info = Gauge("newsflow_build_info", "Build and runtime versions; the value is always 1.",
                                ["version", "pipeline_version", "python"], registry=r)
        self.build_info.labels(__version__, PIPELINE_VERSION, platform.python_version()).set(1)
        from .config import TOPICS

        # Every label value is created up front (so dashboards see zeros, not gaps), and the children
        # are kept: a labels() lookup per article per metric costs more than the observation itself.
        self.deadlettered_by_reason = {reason: self.deadlettered.labels(reason) for reason in REJECT_REASONS}
        self.duplicates_by_kind = {kind: self.duplicates.labels(kind) for kind in ("exact", "near", "rewrite")}
        self.topics_by_name = {topic: self.topics.labels(topic) for topic in TOPICS}
        self.stage_by_name = {stage: self.stage.labels(stage) for stage in STAGES}


# Machine-readable dead-letter reasons (also the `reason` label values); see schemas/deadletter.schema.json.
REJECT_REASONS = (
    "invalid_utf8",
    "malformed_json",
    "not_an_object",
    "missing_title",
    "wrong_type",
    "invalid_field",
    "unknown_field",
    "empty_text",
    "too_large",
    "internal_error",
)
