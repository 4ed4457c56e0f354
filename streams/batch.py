"""Batch mode: raw JSONL in, enriched JSONL out, the stream's core with no broker.

Bad lines are reported (line number, reason) and never stop the run. Each line is one record,
exactly as a crawler would publish it to the raw topic.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import IO, Callable, Iterable

import orjson

from collections import defaultdict

from .dedup import DedupIndex, combine
from .pipeline import Pipeline, root_seen_at_of
from .records import Rejection
from .state import DictStore
from .topology import partition_for


@dataclass
class BatchReport:
    lines: int = 0
    enriched: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"lines": self.lines, "enriched": self.enriched, "rejected": sum(self.rejected.values()),
                "rejected_by_reason": self.rejected, "seconds": round(self.seconds, 3),
                "articles_per_s": round(self.enriched / self.seconds, 1) if self.seconds else None}


class BatchProcessor:
    """Articles are 'seen' in input order. The dedup index is split exactly as the stream splits it
    (one store per partition, keys routed by topology.partition_for, answers merged by combine), so
    batch output and stream output are the same records, and figures measured here hold there."""

    def __init__(self, pipeline: Pipeline, clock: Callable[[], float] = time.time):
        self.pipeline = pipeline
        window = pipeline.settings.dedup_window_s
        self.partitions = pipeline.settings.partitions
        self.indexes = [DedupIndex(DictStore(), window_s=window, checks=pipeline.sketch_checks)
                        for _ in range(self.partitions)]
        self.clock = clock
        self._sequence = 0

    def process_record(self, data: bytes) -> dict | Rejection:
        admitted = self.pipeline.admit(data)
        if isinstance(admitted, Rejection):
            return admitted
        analysed = self.pipeline.analyse(admitted)
        if isinstance(analysed, Rejection):
            return analysed
        now = self.clock()
        # Input order is arrival order: a strictly increasing seen_at keeps "earliest seen" exact
        # even when many lines share one clock tick.
        self._sequence += 1
        seen_at = now + self._sequence * 1e-6
        fp = analysed.fingerprint
        routed: dict[int, list[bytes]] = defaultdict(list)
        for key in fp.keys:
            routed[partition_for(key, self.partitions)].append(key)
        matches = [self.indexes[p].probe(admitted.id, fp, seen_at, keys=keys) for p, keys in routed.items()]
        result = combine(admitted.id, matches)
        if result.duplicate_of is not None:
            # As the stream does: every partition that indexed the article learns its group's root.
            root_seen_at = root_seen_at_of(result, matches)
            for p in routed:
                self.indexes[p].adopt_root(admitted.id, result, root_seen_at)
        return self.pipeline.enriched(analysed.to_wire(), result, ingested_at=now, processed_at=self.clock())

    def run(self, lines: Iterable[bytes], out: IO[bytes], err: IO[str] | None = None) -> BatchReport:
        report = BatchReport()
        started = time.perf_counter()
        for number, line in enumerate(lines, 1):
            report.lines += 1
            line = line.rstrip(b"\r\n")
            if not line.strip():
                report.lines -= 1  # blank lines are not records
                continue
            try:
                result = self.process_record(line)
            except Exception as exc:  # a bug must not stop a long run; it is reported like bad input
                result = Rejection("internal_error", f"{type(exc).__name__}: {exc}")
            if isinstance(result, Rejection):
                report.rejected[result.reason] = report.rejected.get(result.reason, 0) + 1
                if err is not None:
                    err.write(f"line {number}: {result.reason}: {result.detail}\n")
                continue
            out.write(orjson.dumps(result) + b"\n")
            report.enriched += 1
        report.seconds = time.perf_counter() - started
        return report
