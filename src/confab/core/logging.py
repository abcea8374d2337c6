"""Structured logging: one JSON object per line on stderr."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from confab.core import jsoncodec

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Formats a record and its `extra` fields as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            # A node may serve from several processes (CONFAB_HTTP_PROCESSES).
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return jsoncodec.dumps(entry).decode()


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Send confab's logs to stderr, one line per event."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_event(logger: logging.Logger, event: str, started: float, **fields: Any) -> None:
    """Log `event` with its duration since `started` (a `time.perf_counter()` value)."""
    fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    logger.info(event, extra=fields)
