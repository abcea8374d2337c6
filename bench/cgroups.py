"""CPU quotas for benchmark processes: one machine behaving like several small ones.

Each chat node, media node or worker of a bench can run in a cgroup of its own with a CPU
quota of F cores (`--node-cpu F`): the kernel's CFS bandwidth control lets the group run
F x period microseconds per period, whatever core it lands on. cgroup v2 (`cpu.max`) is
used when the unified hierarchy has the cpu controller, else cgroup v1
(`cpu.cfs_quota_us` / `cpu.cfs_period_us`). Needs root (or a delegated subtree).

Weights: a quota caps a group, it reserves nothing. When the machine is busy, the kernel
shares CPU between the entities of each level by weight (v1 `cpu.shares`, 1024 for a
process at nice 0; v2 `cpu.weight`, 100 for the same), and a cgroup is ONE entity there,
whatever it holds. Every bench group lives under one parent (`confab-bench`), so with the
parent at its default weight N quota'd nodes together weighed as much as a single other
process: on a busy machine four nodes got the CPU of one and could not scale. The parent's
weight is therefore kept at the sum of its children's; each child weighs `weight`
processes (1 by default: a node competes like the process it would be without a cgroup; a
larger weight makes its quota close to a reservation, as on a dedicated small machine).

Hand-written: the few file writes below are the whole interface, and the libraries that
wrap it (cgroupspy, systemd's transient scopes) each cover one version or need systemd.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.media.procstats import tree_pids

PERIOD_US = 100_000
_MOUNTS = Path("/proc/mounts")
# One process's weight, and the limits of the weight files, per cgroup version.
_WEIGHT = {1: ("cpu.shares", 1024, 2, 262_144), 2: ("cpu.weight", 100, 1, 10_000)}


class QuotaUnavailable(RuntimeError):
    """No writable cgroup hierarchy with the cpu controller here."""


@dataclass(frozen=True)
class Hierarchy:
    """Where CPU cgroups are made: the mount point and the cgroup version."""

    root: Path
    version: int


def find_hierarchy(mounts: str | None = None) -> Hierarchy:
    """The cgroup v2 mount with the cpu controller, or else the v1 `cpu` mount."""
    text = _MOUNTS.read_text() if mounts is None else mounts
    v1: Path | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        _, point, kind, options = fields[:4]
        if kind == "cgroup2":
            controllers = Path(point) / "cgroup.controllers"
            with contextlib.suppress(OSError):
                if "cpu" in controllers.read_text().split():
                    return Hierarchy(Path(point), 2)
        elif kind == "cgroup" and "cpu" in options.split(","):
            v1 = v1 or Path(point)
    if v1 is not None:
        return Hierarchy(v1, 1)
    raise QuotaUnavailable("no cgroup hierarchy with the cpu controller is mounted")


def quota_lines(cores: float, version: int) -> dict[str, str]:
    """The files to write (name -> content) for a quota of `cores` CPUs."""
    if cores <= 0:
        raise ValueError("a CPU quota must be positive")
    quota = max(1000, round(cores * PERIOD_US))
    if version == 2:
        return {"cpu.max": f"{quota} {PERIOD_US}"}
    return {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(quota)}


def weight_value(processes: float, version: int) -> int:
    """The weight file's value for a group that weighs as much as `processes` processes."""
    _, one, low, high = _WEIGHT[version]
    return max(low, min(high, round(processes * one)))


def parent_weight(children: list[int], version: int) -> int:
    """The parent's weight: the sum of its children's (one process's when it has none)."""
    _, one, low, high = _WEIGHT[version]
    return max(low, min(high, sum(children) if children else one))


class CpuQuota:
    """One cgroup limited to `cores` CPUs; processes (and their children) moved into it.

    `weight`: how many processes' worth of CPU the group claims when the machine is busy
    (see the module docstring); its parent's weight follows the sum of its children's.
    """

    def __init__(
        self,
        name: str,
        cores: float,
        hierarchy: Hierarchy | None = None,
        *,
        weight: float = 1.0,
    ) -> None:
        self.hierarchy = hierarchy or find_hierarchy()
        self.cores = cores
        self.path = self.hierarchy.root / "confab-bench" / f"{name}-{os.getpid()}"
        version = self.hierarchy.version
        try:
            if version == 2:
                parent = self.path.parent
                parent.mkdir(exist_ok=True)
                # The parent must hand the cpu controller down to its children.
                (parent / "cgroup.subtree_control").write_text("+cpu")
            self.path.mkdir(parents=True, exist_ok=True)
            for file, content in quota_lines(cores, version).items():
                (self.path / file).write_text(content)
            (self.path / _WEIGHT[version][0]).write_text(str(weight_value(weight, version)))
            self._rebalance_parent()
        except OSError as exc:
            raise QuotaUnavailable(f"cannot make a CPU cgroup at {self.path}: {exc}") from exc

    def _rebalance_parent(self) -> None:
        """Set the parent's weight to the sum of its children's (other benches' too)."""
        file = _WEIGHT[self.hierarchy.version][0]
        parent = self.path.parent
        children = []
        for child in parent.iterdir():
            with contextlib.suppress(OSError, ValueError):
                if child.is_dir():
                    children.append(int((child / file).read_text()))
        with contextlib.suppress(OSError):
            (parent / file).write_text(str(parent_weight(children, self.hierarchy.version)))

    def add_tree(self, root: int) -> None:
        """Move `root` and every descendant into the group (new children inherit it)."""
        for pid in tree_pids(root):
            with contextlib.suppress(ProcessLookupError, OSError):
                (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        """The processes in the group now."""
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def throttled_seconds(self) -> float:
        """Time the group was held back by its quota so far (cpu.stat)."""
        try:
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        except OSError:
            return 0.0
        if "throttled_usec" in stat:
            return int(stat["throttled_usec"]) / 1e6
        return int(stat.get("throttled_time", 0)) / 1e9

    def close(self, timeout: float = 5.0) -> None:
        """Remove the group once its processes are gone (they must be stopped first)."""
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self.pids():  # still alive: hand it back to the root group
            with contextlib.suppress(OSError):
                (self.hierarchy.root / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            self.path.rmdir()
        with contextlib.suppress(OSError):
            self._rebalance_parent()
