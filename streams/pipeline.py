"""The data path as one object: admit -> prepare -> fingerprint -> (dedup) -> classify -> publish.

Pure: no Kafka here. Batch mode (`newsflow process`, streams.batch) and the Faust agents
(streams.app) both call these methods, so the two give the same enriched records. Dedup is the one
step that needs state shared across articles; the caller supplies the DedupResult (batch: one
DedupIndex over a DictStore; stream: per-partition indexes whose answers are combined).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from . import PIPELINE_VERSION, native
from .classify import TopicClassifier
from .config import Settings
from .dedup import DedupResult, SketchChecks
from .fingerprint import Fingerprint, Fingerprinter
from .prepare import prepare
from .records import Article, Rejection, parse_raw, rfc3339


_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w")


def _has_words(text: str) -> bool:
    # Markup and punctuation alone ("<p></p>", "...") are not an article.
    return bool(_WORD.search(_TAG.sub(" ", text)))


@dataclass(slots=True)
class Analysed:
    """An admitted article with everything that does not depend on other articles."""

    article: Article
    text: str
    fingerprint: Fingerprint
    topics: list[str]
    topic_scores: dict[str, float]
    timings: dict[str, float]  # seconds per stage, for the stage histograms

    def to_wire(self) -> dict[str, Any]:
        """What travels from `ingest` to `decide` (streams.app) and what batch mode publishes from:
        the article and everything computed from it alone; the fingerprint goes in the probes.
        Not the html: the published record carries `text`, extracted from it here, and a page's
        markup (often tens of kilobytes) would otherwise cross the broker twice more for nothing."""
        fields = self.article.raw_fields()
        del fields["html"]
        return {
            "article": fields | {"extra": self.article.extra},
            "text": self.text,
            "content_hash": self.fingerprint.content_hash,
            "topics": self.topics,
            "topic_scores": self.topic_scores,
        }


class Pipeline:
    def __init__(self, settings: Settings, classifier: TopicClassifier | None = None,
                 fingerprinter: Fingerprinter | None = None) -> None:
        self.settings = settings
        self.classifier = classifier or TopicClassifier(settings.topic_thresholds)
        # The compiled twin of prepare, fingerprint, classify and the probe's checks (streams.native),
        # or None: the Python reference runs. Same output either way.
        self.native = native.load(settings.core, self.classifier)
        self.fingerprinter = fingerprinter or (
            Fingerprinter(lexicon=self.native.lexicon, embedding_model=self.native.embedding_model) if self.native
            else Fingerprinter())
        self.classify = self.native.classify if self.native else self.classifier.classify
        self._cleaner = self.native.cleaner if self.native else None
        #: What DedupIndex(checks=...) takes: the probe's per-candidate work, compiled or Python.
        self.sketch_checks = self.native.sketch_checks if self.native else SketchChecks()

    def admit(self, data: bytes) -> Article | Rejection:
        return parse_raw(data, max_bytes=self.settings.max_record_bytes,
                         reject_unknown=self.settings.reject_unknown_fields)

    def analyse(self, article: Article) -> Analysed | Rejection:
        clock = time.perf_counter
        t0 = clock()
        prepared = prepare(article.title, article.body, article.html, cleaner=self._cleaner)
        t1 = clock()
        if not _has_words(prepared.title) and not _has_words(prepared.text):
            return Rejection("empty_text", "no words left after removing markup and boilerplate")
        # One embedding of headline + lead serves both the rewrite tier and the classifier.
        embedding = self.fingerprinter.embedding(prepared)
        fp = self.fingerprinter.fingerprint(prepared, embedding=embedding)
        t2 = clock()
        topics, scores = self.classify(prepared.title, prepared.text, embedding=embedding)
        t3 = clock()
        return Analysed(article, prepared.text, fp, topics, scores,
                        {"prepare": t1 - t0, "fingerprint": t2 - t1, "classify": t3 - t2})

    @staticmethod
    def enriched(wire: dict[str, Any], dedup: DedupResult, *, ingested_at: float, processed_at: float) -> dict[str, Any]:
        """The published record (schemas/enriched-article.schema.json) from an Analysed.to_wire() dict."""
        article = wire["article"]
        record = {k: v for k, v in article.items() if k != "html"}  # wires from before html was left out
        record.update(
            text=wire["text"],
            duplicate_of=dedup.duplicate_of,
            duplicate_kind=dedup.duplicate_kind,
            similarity=dedup.similarity,
            cluster_id=dedup.cluster_id,
            topics=wire["topics"],
            topic_scores=wire["topic_scores"],
            content_hash=wire["content_hash"],
            ingested_at=rfc3339(ingested_at),
            processed_at=rfc3339(processed_at),
            pipeline_version=PIPELINE_VERSION,
        )
        return record


def root_seen_at_of(result: DedupResult, matches: list) -> float:
    """When the group root chosen by `combine` was first seen (for DedupIndex.adopt_root)."""
    return min((m.root_seen_at for m in matches if m is not None and m.root_id == result.duplicate_of), default=0.0)
