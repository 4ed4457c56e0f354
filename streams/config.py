"""Settings, all from environment variables with defaults that work on a developer machine.

Every setting is documented in README.md (Operations -> Configuration); keep the two in step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

TOPICS = ("war", "crime", "recalls", "entertainment")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"newsflow: {name}={raw!r} is not a whole number") from None


def _env_nonnegative_int(name: str, default: int) -> int:
    value = _env_int(name, default)
    if value < 0:
        raise SystemExit(f"newsflow: {name}={value} must not be negative")
    return value


def _env_positive_int(name: str, default: int) -> int:
    value = _env_int(name, default)
    if value < 1:
        raise SystemExit(f"newsflow: {name}={value} must be at least 1")
    return value


def _env_float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"newsflow: {name}={raw!r} is not a number") from None


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name, "1" if default else "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"newsflow: {name}={raw!r} is not a boolean (use 1/0, true/false)")


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _env(name, default).strip().lower()
    if raw not in choices:
        raise SystemExit(f"newsflow: {name}={raw!r}: want one of {', '.join(choices)}")
    return raw


def _topic_thresholds() -> dict[str, float]:
    return {t: _env_float(f"NEWSFLOW_THRESHOLD_{t.upper()}", 0.5) for t in TOPICS}


@dataclass(frozen=True)
class Settings:
    # Kafka
    kafka_bootstrap: str = field(default_factory=lambda: _env("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    topic_raw: str = field(default_factory=lambda: _env("NEWSFLOW_TOPIC_RAW", "articles.raw"))
    topic_enriched: str = field(default_factory=lambda: _env("NEWSFLOW_TOPIC_ENRICHED", "articles.enriched"))
    topic_deadletter: str = field(default_factory=lambda: _env("NEWSFLOW_TOPIC_DEADLETTER", "articles.deadletter"))
    partitions: int = field(default_factory=lambda: _env_int("NEWSFLOW_PARTITIONS", 4))
    replication_factor: int = field(default_factory=lambda: _env_int("NEWSFLOW_REPLICATION_FACTOR", 1))
    app_id: str = field(default_factory=lambda: _env("NEWSFLOW_APP_ID", "newsflow"))
    # Worker
    web_host: str = field(default_factory=lambda: _env("NEWSFLOW_WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: _env_int("NEWSFLOW_WEB_PORT", 6066))
    data_dir: str = field(default_factory=lambda: _env("NEWSFLOW_DATA_DIR", "var/worker"))
    store: str = field(default_factory=lambda: _env_choice("NEWSFLOW_STORE", "rocksdb", ("rocksdb", "memory")))
    shutdown_timeout_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_SHUTDOWN_TIMEOUT_S", 30.0))
    log_format: str = field(default_factory=lambda: _env_choice("NEWSFLOW_LOG_FORMAT", "auto", ("auto", "json", "text")))
    log_level: str = field(default_factory=lambda: _env_choice(
        "NEWSFLOW_LOG_LEVEL", "INFO", ("debug", "info", "warning", "error", "critical")).upper())
    static_member_id: str = field(default_factory=lambda: _env("NEWSFLOW_INSTANCE_ID", ""))
    session_timeout_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_SESSION_TIMEOUT_S", 30.0))
    heartbeat_interval_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_HEARTBEAT_INTERVAL_S", 3.0))
    rebalance_timeout_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_REBALANCE_TIMEOUT_S", 60.0))
    batch_max: int = field(default_factory=lambda: _env_int("NEWSFLOW_BATCH_MAX", 256))
    batch_within_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_BATCH_WITHIN_S", 0.02))
    fetch_wait_ms: int = field(default_factory=lambda: _env_nonnegative_int("NEWSFLOW_FETCH_WAIT_MS", 0))
    broker_wait_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_BROKER_WAIT_S", 60.0))
    standby_replicas: int = field(default_factory=lambda: _env_int("NEWSFLOW_STANDBY_REPLICAS", 0))
    event_loop: str = field(default_factory=lambda: _env_choice("NEWSFLOW_EVENT_LOOP", "uvloop",
                                                                                ("uvloop", "asyncio")))
    health_interval_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_HEALTH_INTERVAL_S", 5.0))
    stats_interval_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_STATS_INTERVAL_S", 300.0))
    # Input limits
    max_record_bytes: int = field(default_factory=lambda: _env_int("NEWSFLOW_MAX_RECORD_BYTES", 1_000_000))
    reject_unknown_fields: bool = field(default_factory=lambda: _env_bool("NEWSFLOW_REJECT_UNKNOWN_FIELDS", False))
    # Dedup
    dedup_window_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_DEDUP_WINDOW_S", 7 * 86400.0))
    # Articles a worker holds while their dedup answers are due; above it, it stops fetching raw records.
    max_pending: int = field(default_factory=lambda: _env_positive_int("NEWSFLOW_MAX_PENDING", 5000))
    pending_timeout_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_PENDING_TIMEOUT_S", 600.0))
    expiry_interval_s: float = field(default_factory=lambda: _env_float("NEWSFLOW_EXPIRY_INTERVAL_S", 3600.0))
    # The compiled twin of the core's hot steps (streams.native): auto (when installed), native, python
    core: str = field(default_factory=lambda: _env_choice("NEWSFLOW_CORE", "auto", ("auto", "native", "python")))
    # Classifier
    topic_thresholds: dict = field(default_factory=_topic_thresholds)

    def describe(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def load() -> Settings:
    return Settings()
