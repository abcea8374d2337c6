"""Which cores each process of the scaling bench gets, and pinning a running process tree.

The processes are ranked: the ones being scaled (chat nodes, workers) first, then the load
generator and the helpers (nginx, Redis). With at least one core per process each gets its
own. With fewer, the first `cores - 1` processes get one each and the rest share the last
core, so the scaled processes are the last to share. PostgreSQL is the machine's own
service: it is not pinned (its CPU is still read and printed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.media.procstats import tree_pids


@dataclass
class Allocation:
    """Cores per process name, and what had to share."""

    cores: dict[str, list[int]]
    available: list[int]
    shared: list[str] = field(default_factory=list)

    @property
    def enough(self) -> bool:
        """True when every process got a core of its own."""
        return not self.shared

    def of(self, name: str) -> list[int] | None:
        """The cores of `name` (None: not pinned)."""
        return self.cores.get(name)

    def describe(self) -> str:
        """One line: `chat0 -> 0, chat1+loadgen+nginx+redis -> 1 (shared)`."""
        groups: dict[tuple[int, ...], list[str]] = {}
        for name, cores in self.cores.items():
            groups.setdefault(tuple(cores), []).append(name)
        parts = []
        for cores, names in groups.items():
            label = ",".join(str(c) for c in cores)
            parts.append(f"{'+'.join(names)} -> {label}" + (" (shared)" if len(names) > 1 else ""))
        return ", ".join(parts) if parts else "no pinning"


def allocate(names: Sequence[str], available: Sequence[int] | None = None) -> Allocation:
    """One core per name while there are enough; else the tail of `names` shares the last."""
    cores = sorted(os.sched_getaffinity(0)) if available is None else sorted(available)
    if not cores:
        return Allocation({}, [])
    if len(cores) >= len(names):
        return Allocation({name: [cores[i]] for i, name in enumerate(names)}, cores)
    own = len(cores) - 1
    result = {name: [cores[i]] for i, name in enumerate(names[:own])}
    shared = list(names[own:])
    for name in shared:
        result[name] = [cores[-1]]
    return Allocation(result, cores, shared if len(shared) > 1 else [])


def pin_tree(root: int, cores: Sequence[int] | None) -> bool:
    """Pin every thread of every process under `root` to `cores`; False if any refused.

    Threads and processes started later inherit the mask of the one that starts them.
    """
    if not cores:
        return False
    ok = True
    for pid in tree_pids(root):
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(tid, set(cores))
            except ProcessLookupError:
                continue
            except OSError:
                ok = False
    return ok


def affinity(pid: int) -> list[int]:
    """The cores `pid` may run on now ([] if it is gone)."""
    with contextlib.suppress(OSError):
        return sorted(os.sched_getaffinity(pid))
    return []
