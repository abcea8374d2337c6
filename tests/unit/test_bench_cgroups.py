"""bench/cgroups.py: which hierarchy, what the quota files say, and a real quota when root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.cgroups import (
    PERIOD_US,
    CpuQuota,
    Hierarchy,
    QuotaUnavailable,
    find_hierarchy,
    parent_weight,
    quota_lines,
    weight_value,
)

V1_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
"""


@pytest.mark.parametrize(
    ("cores", "version", "files"),
    [
        (0.25, 2, {"cpu.max": "25000 100000"}),
        (1.5, 2, {"cpu.max": "150000 100000"}),
        (0.25, 1, {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "25000"}),
        (0.001, 1, {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "1000"}),  # kernel min
    ],
)
def test_quota_files(cores: float, version: int, files: dict[str, str]) -> None:
    assert quota_lines(cores, version) == files


def test_a_quota_must_be_positive() -> None:
    with pytest.raises(ValueError):
        quota_lines(0, 2)


@pytest.mark.parametrize(
    ("processes", "version", "value"),
    [(1, 1, 1024), (16, 1, 16_384), (1, 2, 100), (16, 2, 1600), (500, 2, 10_000), (0, 1, 2)],
)
def test_weights_count_in_processes_within_the_file_limits(
    processes: float, version: int, value: int
) -> None:
    assert weight_value(processes, version) == value


def test_a_parent_weighs_what_its_children_weigh_together() -> None:
    assert parent_weight([1024] * 4, 1) == 4096
    assert parent_weight([], 1) == 1024  # empty: back to one process's weight
    assert parent_weight([100] * 200, 2) == 10_000  # v2's ceiling


@pytest.mark.parametrize(("version", "file"), [(1, "cpu.shares"), (2, "cpu.weight")])
def test_each_new_group_raises_the_parents_weight(tmp_path: Path, version: int, file: str) -> None:
    # A hierarchy of plain folders: the files a cgroup file system would hold.
    hierarchy = Hierarchy(tmp_path, version)
    one = weight_value(1, version)
    first = CpuQuota("a", 0.25, hierarchy)
    parent = first.path.parent
    assert int((first.path / file).read_text()) == one
    assert int((parent / file).read_text()) == one
    second = CpuQuota("b", 0.25, hierarchy, weight=3)
    assert int((second.path / file).read_text()) == 3 * one
    # Four quota'd nodes must not weigh as one process against the rest of the machine.
    assert int((parent / file).read_text()) == 4 * one
    if version == 2:
        assert (parent / "cgroup.subtree_control").read_text() == "+cpu"


def test_v1_cpu_mount_is_found_when_no_v2_has_the_controller(tmp_path: Path) -> None:
    v2 = tmp_path / "unified"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("memory pids\n")
    mounts = V1_MOUNTS + f"cgroup2 {v2} cgroup2 rw 0 0\n"
    found = find_hierarchy(mounts)
    assert (found.root, found.version) == (Path("/sys/fs/cgroup/cpu,cpuacct"), 1)
    (v2 / "cgroup.controllers").write_text("cpu memory pids\n")
    assert find_hierarchy(mounts).version == 2
    with pytest.raises(QuotaUnavailable):
        find_hierarchy("tmpfs /sys/fs/cgroup tmpfs rw 0 0\n")


def test_a_real_quota_holds_a_busy_process_to_its_share() -> None:
    try:
        quota = CpuQuota("unit", 0.2)
    except QuotaUnavailable as missing:
        if os.geteuid() == 0:
            raise
        pytest.skip(f"no writable CPU cgroup: {missing}")
    script = (
        "import os, sys, time\n"
        "sys.stdin.readline()\n"  # wait until moved into the group
        "end = time.monotonic() + 1.0\n"
        "while time.monotonic() < end: pass\n"
        "print(time.process_time())\n"
    )
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        quota.add_tree(process.pid)
        assert process.pid in quota.pids()
        out, _ = process.communicate("go\n", timeout=30)
        used = float(out)
        # 1 s of wall time at 0.2 cores: about 0.2 s of CPU (start-up before the move adds
        # a little); without the quota it would be about 1 s.
        assert used < 0.5, used
        # (Throttling itself is not asserted: on a loaded machine the process may get less
        # than its quota anyway.)
        assert quota.throttled_seconds() >= 0
    finally:
        quota.close()
    assert not quota.path.exists()
    assert PERIOD_US == 100_000
