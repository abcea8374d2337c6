"""Tasks used by the JobQueue contract tests (imported by worker processes)."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from confab.core.errors import Unprocessable, UpstreamFailed

TEST_TASKS = {
    "add": "tests.contract.tasks:add",
    "fail": "tests.contract.tasks:fail",
    "sleep": "tests.contract.tasks:sleep",
    "crash": "tests.contract.tasks:crash",
    "pid": "tests.contract.tasks:pid",
    "describe": "tests.contract.tasks:describe",
    "flaky": "tests.contract.tasks:flaky",
    "stubborn": "tests.contract.tasks:stubborn",
    "mark_then_sleep": "tests.contract.tasks:mark_then_sleep",
    "boom": "tests.contract.tasks:boom",
}


def add(a: int, b: int) -> int:
    return a + b


def fail(reason: str) -> None:
    raise Unprocessable("asked to fail", code=reason)


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def crash() -> None:
    os._exit(13)


def pid() -> int:
    return os.getpid()


@dataclass(frozen=True)
class Label:
    name: str
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class Described:
    label: Label
    data: bytes
    length: int


def describe(data: bytes, label: Label) -> Described:
    """Bytes and dataclasses both ways (JSON + blob store on Celery, pickle in a pool)."""
    return Described(label=label, data=data[::-1], length=len(data))


def flaky(marker: str) -> int:
    """Fails transiently on its first run (counted in the file `marker`), then succeeds."""
    path = Path(marker)
    runs = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(runs))
    if runs == 1:
        raise UpstreamFailed("first try fails", code="flaky")
    return runs


def stubborn(seconds: float) -> str:
    """Ignores the soft time limit: only killing its process stops it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):
            time.sleep(0.05)
    return "finished"


def mark_then_sleep(marker: str, seconds: float) -> str:
    """Writes `marker` when it starts, so a test knows the job is running."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return "slept"


def boom() -> None:
    """A bug: an unexpected exception."""
    raise ValueError("internal detail")
