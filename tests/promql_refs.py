"""Which metrics the operations artefacts query: the Grafana dashboard and the Prometheus alert rules.

Used by tests/test_deploy.py (every referenced metric must be one the service exports) and by the live
end-to-end test, which runs the dashboard's queries' metric names against a real worker's /metrics.

Queries are parsed with promql-parser (a real PromQL grammar), not regexes, so a name inside a label
matcher, a `by (...)` clause or a string is never mistaken for a metric.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import promql_parser
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = REPO / "deploy" / "grafana" / "dashboards"
ALERTS_FILE = REPO / "deploy" / "prometheus" / "alerts.yml"

# Metrics Prometheus itself attaches to every scrape; not the service's to export.
SCRAPE_METRICS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# Series names each family type exposes, after its family name (prometheus_client strips _total from a
# counter's family name; _created series are timestamps nobody should query).
_SERIES_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}

# Grafana substitutes these before Prometheus sees the query; give them values the parser accepts.
_GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}
# promql_parser.MatchOp is not hashable; key by member name.
_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,")


def substitute_grafana_variables(expr: str) -> str:
    for name, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    # Dashboard variables only ever appear inside label matchers here, as regex values.
    return _VARIABLE.sub(".*", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names selected anywhere in one PromQL expression (raises ValueError if it does not parse)."""
    names: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            matcher_sets = [node.matchers.matchers, *node.matchers.or_matchers]
            names.update(m.value for matchers in matcher_sets for m in matchers if m.name == "__name__")

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def label_matchers(expr: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) of every label matcher in one PromQL expression, __name__ excepted."""
    found: list[tuple[str, str, str]] = []

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            for matchers in [node.matchers.matchers, *node.matchers.or_matchers]:
                found.extend((m.name, _MATCH_OPS[str(m.op).rpartition(".")[2]], m.value) for m in matchers if m.name != "__name__")

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def label_names(expr: str) -> set[str]:
    """Label names one PromQL expression relies on: in matchers, by/without and on/ignoring clauses."""
    labels: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matcher_sets = [node.matchers.matchers, *node.matchers.or_matchers]
            labels.update(m.name for matchers in matcher_sets for m in matchers if m.name != "__name__")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            labels.update(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                labels.update(node.modifier.matching.labels)
            labels.update(node.modifier.group_labels or ())

    promql_parser.walk(promql_parser.parse(expr), visit)
    return labels


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows nest their panels


def dashboards() -> dict[Path, dict]:
    return {path: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL as Prometheus would receive it) for every panel target and query variable."""
    queries = []
    for path, dashboard in dashboards().items():
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{path.name}: panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}"
                    queries.append((where, substitute_grafana_variables(target["expr"])))
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            text = query.get("query", "") if isinstance(query, dict) else query or ""
            if variable.get("type") == "query":
                for metric in _LABEL_VALUES.findall(text):
                    queries.append((f"{path.name}: variable {variable['name']}", metric))
    return queries


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert_queries() -> list[tuple[str, str]]:
    return [(f"alerts.yml: {rule.get('alert') or rule.get('record')}", rule["expr"]) for rule in alert_rules()]


def metric_names_in_dashboard() -> set[str]:
    return {name for _, expr in dashboard_queries() for name in metric_names(expr)}


def metric_names_in_alerts() -> set[str]:
    return {name for _, expr in alert_queries() for name in metric_names(expr)}


def exported_label_names(metrics: object) -> dict[str, set[str]]:
    """Series name -> label names, for every prometheus_client metric held as an attribute of `metrics`.

    Histogram buckets add `le`. Reads the metric objects' label names (prometheus_client keeps them in
    `_labelnames`; it offers no public accessor for a family that has no child yet).
    """
    names: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        for family in metric.describe():
            for suffix in _SERIES_SUFFIXES.get(family.type, ("",)):
                names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def exported_series_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry's families can expose, whether or not a child exists yet.

    A labelled family has no samples until its first child (newsflow_consumer_lag_records before any
    partition is assigned), so names come from the family's type, not from the current samples.
    """
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SERIES_SUFFIXES.get(family.type, ("",)))
    return names
