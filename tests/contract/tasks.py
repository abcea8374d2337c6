"""Tasks used by the JobQueue contract tests (imported by worker processes)."""

from __future__ import annotations

import os
import time

from confab.core.errors import Unprocessable

TEST_TASKS = {
    "add": "tests.contract.tasks:add",
    "fail": "tests.contract.tasks:fail",
    "sleep": "tests.contract.tasks:sleep",
    "crash": "tests.contract.tasks:crash",
    "pid": "tests.contract.tasks:pid",
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
