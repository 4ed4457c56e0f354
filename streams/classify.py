"""Step 4: topic labels (war, crime, recalls, entertainment), several or none, with scores.

Contract:
    clf = TopicClassifier(thresholds={"war": 0.5, ...})   # from Settings.topic_thresholds
    topics, scores = clf.classify(title, text)   # topics: list in TOPICS order; scores: all four, in [0, 1]
    clf.explain(title, text) -> dict             # why each topic scored as it did (JSON-able)
"""
from __future__ import annotations

from .config import TOPICS


class TopicClassifier:
    # Placeholder until the classifier issue lands: no topics.
    def __init__(self, thresholds: dict[str, float] | None = None) -> None:
        self.thresholds = {t: 0.5 for t in TOPICS} | (thresholds or {})

    def scores(self, title: str, text: str) -> dict[str, float]:
        return {t: 0.0 for t in TOPICS}

    def classify(self, title: str, text: str) -> tuple[list[str], dict[str, float]]:
        scores = self.scores(title, text)
        return [t for t in TOPICS if scores[t] >= self.thresholds[t]], scores

    def explain(self, title: str, text: str) -> dict:
        return {"scores": self.scores(title, text), "thresholds": self.thresholds, "evidence": {}}
