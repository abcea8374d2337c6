"""The cyclic garbage collector in a long-running process.

A node starts with a large heap of objects that live as long as it does: modules, the
app, SQLAlchemy's compiled statements, pools. CPython's full collections walk every one
of them, and a request that builds many objects (the room list: a few thousand) promotes
enough survivors to start a full collection every few dozen requests: 30-150 ms with the
event loop stopped, which is what the slowest requests waited for. `freeze_startup_heap`
moves what exists once the node is up to the permanent generation (`gc.freeze`), so full
collections look only at what was made since; nothing else about collection changes.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what startup left as garbage, then exempt every live object from later
    collections (call once, when start-up is done); how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
