"""Logging: JSON lines in containers (or when asked), readable text on a terminal.

Article bodies never go into logs: the code logs ids, topics, partitions and offsets only.
"""
from __future__ import annotations

import sys

from .config import Settings


def use_json(settings: Settings) -> bool:
    if settings.log_format == "json":
        return True
    if settings.log_format == "text":
        return False
    return not sys.stderr.isatty()


def logging_config(settings: Settings) -> dict:
    formatter = ({"()": "pythonjsonlogger.json.JsonFormatter",
                  "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                  "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}}
                 if use_json(settings) else
                 {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "default"}},
        "root": {"handlers": ["stderr"], "level": settings.log_level.upper()},
    }
