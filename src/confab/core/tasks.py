"""Resolve task names to functions (used by every JobQueue implementation)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from confab.core.errors import NotFound


def resolve_task(table: Mapping[str, str], name: str) -> Callable[..., Any]:
    """Import the function a task name stands for; only names in `table` are allowed."""
    target = table.get(name)
    if target is None:
        raise NotFound(f"no task named {name!r}", code="unknown_task")
    module_name, _, attr = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return function
