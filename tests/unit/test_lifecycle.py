"""close_all: reverse order, every closer awaited even after a failure, nothing twice."""

from __future__ import annotations

import pytest

from confab.core.lifecycle import Closer, close_all


def _recording(log: list[str], name: str, fail: bool = False) -> Closer:
    async def close() -> None:
        log.append(name)
        if fail:
            raise RuntimeError(f"{name} failed")

    return close


async def test_closes_last_opened_first_and_empties_the_list() -> None:
    log: list[str] = []
    closers = [_recording(log, "pool"), _recording(log, "fetcher"), _recording(log, "service")]
    await close_all(closers)
    assert log == ["service", "fetcher", "pool"]
    assert closers == []
    await close_all(closers)
    assert log == ["service", "fetcher", "pool"]


async def test_a_failing_closer_does_not_keep_the_others_open() -> None:
    log: list[str] = []
    closers = [
        _recording(log, "a", fail=True),
        _recording(log, "b", fail=True),
        _recording(log, "c"),
    ]
    with pytest.raises(RuntimeError, match="b failed"):
        await close_all(closers)
    assert log == ["c", "b", "a"]
