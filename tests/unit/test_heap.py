"""`freeze_startup_heap`: what lives at start-up leaves the collector; later garbage does not."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from confab.core.heap import freeze_startup_heap


class _Node:
    """An object that can sit in a reference cycle (and be weakly referenced)."""

    def __init__(self) -> None:
        self.other: object = None


def _cycle() -> _Node:
    node = _Node()
    node.other = [node]
    return node


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """Each test freezes; the rest of the session gets its collector back as it was."""
    assert gc.get_freeze_count() == 0
    try:
        yield
    finally:
        gc.unfreeze()


def test_live_objects_leave_the_collector_and_new_garbage_is_still_collected(
    frozen_heap: None,
) -> None:
    kept = _cycle()
    frozen = freeze_startup_heap()
    assert frozen == gc.get_freeze_count() > 0
    # No generation holds the start-up objects any more: a full collection skips them.
    assert not any(obj is kept for generation in range(3) for obj in gc.get_objects(generation))
    later = _cycle()
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None


def test_start_up_garbage_is_collected_before_freezing(frozen_heap: None) -> None:
    garbage = _cycle()
    gone = weakref.ref(garbage)
    del garbage
    freeze_startup_heap()
    assert gone() is None
