"""`freeze_startup_heap`: what lives at start-up leaves the collector; later garbage does not.
`HeapFreezer`: survivors of each full collection are frozen, and thawed on schedule."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from confab.core.heap import HeapFreezer, freeze_startup_heap


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


class _Time:
    """A clock the test moves (the freezer's `now`)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def freezer(frozen_heap: None) -> Iterator[tuple[HeapFreezer, _Time]]:
    """A freezer that thaws every 60 s of a test clock, removed after the test."""
    time = _Time()
    freezer = HeapFreezer(thaw_seconds=60.0, now=time)
    freezer.install()
    try:
        yield freezer, time
    finally:
        freezer.uninstall()


def _in_a_generation(target: object) -> bool:
    return any(obj is target for generation in range(3) for obj in gc.get_objects(generation))


def test_a_full_collection_freezes_what_survived_it(freezer: tuple[HeapFreezer, _Time]) -> None:
    kept = _cycle()
    gc.collect()
    assert freezer[0].freezes == 1
    assert gc.get_freeze_count() > 0
    assert not _in_a_generation(kept)  # the next full collection will not walk it


def test_garbage_is_collected_before_it_could_be_frozen(
    freezer: tuple[HeapFreezer, _Time],
) -> None:
    garbage = _cycle()
    gone = weakref.ref(garbage)
    del garbage
    gc.collect()
    assert gone() is None


def test_a_cycle_that_died_while_frozen_is_collected_after_the_thaw(
    freezer: tuple[HeapFreezer, _Time],
) -> None:
    freezer_, time = freezer
    victim = _cycle()
    gc.collect()  # frozen with everything else alive
    gone = weakref.ref(victim)
    del victim
    gc.collect()
    assert gone() is not None  # frozen objects are not collected
    time.seconds = 61.0
    gc.collect()  # this collection's end thaws
    assert freezer_.thaws == 1
    assert gc.get_freeze_count() == 0 and _in_a_generation(gone())
    gc.collect()  # walks the thawed heap, then freezes again
    assert gone() is None
    assert freezer_.freezes == 3 and gc.get_freeze_count() > 0


def test_young_collections_leave_the_frozen_heap_alone(
    freezer: tuple[HeapFreezer, _Time],
) -> None:
    gc.collect(0)
    gc.collect(1)
    assert freezer[0].freezes == 0
    assert gc.get_freeze_count() == 0
