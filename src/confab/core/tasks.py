"""Resolve task names to functions (used by every JobQueue implementation)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

from confab.core.errors import NotFound


def resolve_task(table: Mapping[str, str], name: str) -> Callable[..., Any]:
    """Import the function a task name stands for; only names in `table` are allowed."""
    target = table.get(name)
    if target is None:
        raise NotFound(f"no task named {name!r}", code="unknown_task")
    module_name, _, attr = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return function


class _LocalFileMarker:
    """Metadata of `LocalFile`: the job queue ships the file's bytes, not its path."""

    def __repr__(self) -> str:
        return "LOCAL_FILE"


#: The marker inside `LocalFile` (what a job queue's codec looks for in a task's hints).
LOCAL_FILE: Final = _LocalFileMarker()

#: A task parameter that is a path to a file on the caller's machine. A local pool passes
#: the path; a queue with remote workers sends the file's content, and the task receives
#: bytes -- so a task taking `LocalFile` must also accept `bytes`.
LocalFile = Annotated[str, LOCAL_FILE]
