"""The one JSON codec used across ports, the bus and HTTP bodies."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Serialize to compact UTF-8 JSON bytes (dataclasses supported)."""
    return orjson.dumps(value)


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ValueError on malformed input."""
    return orjson.loads(data)
