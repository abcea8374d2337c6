"""The cyclic garbage collector in a long-running process.

A node starts with a large heap of objects that live as long as it does: modules, the
app, SQLAlchemy's compiled statements, pools. CPython's full collections walk every one
of them, and a request that builds many objects (the room list: a few thousand) promotes
enough survivors to start a full collection every few dozen requests: 30-150 ms with the
event loop stopped, which is what the slowest requests waited for. `freeze_startup_heap`
moves what exists once the node is up to the permanent generation (`gc.freeze`), so full
collections look only at what was made since.

The same happens again once the node holds its connections: each one leaves a few hundred
long-lived objects (its protocol, parser, session, subscriptions), and with 10,000 of
them a full collection took 100-300 ms, every few seconds under a write load (measured in
bench/chat/manyrooms.py: ack p99 over 250 ms at a rate whose p50 was 2 ms).
`HeapFreezer` therefore freezes the survivors again right after each full collection,
when nothing unreachable is left to freeze, so the next one walks only what was promoted
since. What is frozen is never collected, so a cycle that dies after its freeze (a
closed connection's objects) waits for the next thaw: every `thaw_seconds` the frozen
heap goes back into the old generation and one full collection walks everything. Written
here because CPython offers the parts (`gc.freeze`, `gc.callbacks`) but no policy.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

# How long a cycle that died while frozen may wait for collection; each thaw costs one
# full-heap collection (the pause this module otherwise avoids).
DEFAULT_THAW_SECONDS = 600.0


def freeze_startup_heap() -> int:
    """Collect what startup left as garbage, then exempt every live object from later
    collections (call once, when start-up is done); how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class HeapFreezer:
    """After every full collection, freezes its survivors; thaws them every
    `thaw_seconds` so that cycles which died meanwhile are collected after all."""

    def __init__(
        self,
        thaw_seconds: float = DEFAULT_THAW_SECONDS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._thaw_seconds = thaw_seconds
        self._now = now
        self._frozen_since = now()
        self.freezes = 0
        self.thaws = 0

    def install(self) -> None:
        """Start following full collections."""
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def uninstall(self) -> None:
        """Stop following them (what is frozen stays frozen)."""
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        if self._now() - self._frozen_since >= self._thaw_seconds:
            # The next full collection walks the whole heap again, then freezes anew.
            gc.unfreeze()
            self._frozen_since = self._now()
            self.thaws += 1
            return
        gc.freeze()
        self.freezes += 1
