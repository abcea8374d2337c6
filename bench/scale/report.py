"""Medians, scaling factors and the printed tables of the scaling bench."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

TARGET = 1.8
TARGETS = {2: 1.8, 4: 3.4}  # issue 13: N nodes against one
MIN_CORES = 6  # two scaled processes + load generator + nginx + Redis + PostgreSQL


def median_run(runs: Sequence[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The run whose `key` is the median (the lower middle one for an even count)."""
    valid = [run for run in runs if isinstance(run.get(key), (int, float))]
    if not valid:
        return None
    ordered = sorted(valid, key=lambda run: float(run[key]))
    return ordered[(len(ordered) - 1) // 2]


def factor(one: float | None, two: float | None) -> float:
    """two / one; nan when either is missing or one is zero."""
    if not one or two is None or math.isnan(one) or math.isnan(two):
        return math.nan
    return two / one


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def cpu_line(run: dict[str, Any]) -> str:
    """`chat0 0.97 core [0], nginx 0.31 [1], ...`: CPU of each process in the window."""
    pinned = run.get("pinned", {})
    parts = []
    for name, figure in run.get("cpu", {}).items():
        if "~" in name:
            continue
        cores = pinned.get(name)
        where = f" [{','.join(str(c) for c in cores)}]" if cores else " [unpinned]"
        parts.append(f"{name} {figure['cores']:.2f}{where}")
    return ", ".join(parts)


def sched_line(run: dict[str, Any]) -> str:
    """Why a process did not use more: `worker0 wait 0.10 thr 0.08, ...; machine busy 1.9
    of 2 (ours 1.2, others 0.7)`, each a share of the window."""
    cpu = run.get("cpu", {})
    parts = []
    for name in cpu:
        if "~" in name:
            continue
        wait = cpu.get(f"{name}~wait", {}).get("cores")
        throttled = cpu.get(f"{name}~throttled", {}).get("cores")
        text = f"{name} wait {_fmt(wait, '.2f')}"
        if throttled is not None:
            text += f" thr {throttled:.2f}"
        parts.append(text)
    machine = run.get("machine")
    if machine:
        parts.append(
            f"machine busy {_fmt(machine['busy'], '.2f')} of {machine['cores']:.0f} cores "
            f"(ours {machine['ours']:.2f}, others {machine['others']:.2f})"
        )
    return ", ".join(parts)


def table(chat: dict[int, dict[str, Any] | None], media: dict[int, dict[str, Any] | None]) -> str:
    """The results: one line per part and count, then the factors."""
    lines = [
        f"{'part':6} {'procs':>5} {'figure':>16} {'p99 ms':>7} {'CPU/unit':>14}  CPU of each "
        "process during the window (cores) [pinned to]"
    ]
    for count in sorted(chat):
        run = chat.get(count)
        if run is not None:
            lines.append(
                f"{'chat':6} {count:>5} {_fmt(run['deliveries_per_s'], '10.0f')} deliv/s"
                f" {_fmt(run.get('p99_ms'), '7.1f')}"
                f" {_fmt(run.get('node_cpu_us_per_delivery'), '7.1f')} us/deliv  {cpu_line(run)}"
            )
    for count in sorted(media):
        run = media.get(count)
        if run is not None:
            lines.append(
                f"{'media':6} {count:>5} {_fmt(run['thumbnails_per_s'], '11.2f')} thumb/s"
                f" {'':>7} {_fmt(run.get('worker_cpu_ms_per_thumbnail'), '7.1f')} ms/thumb  "
                f"{cpu_line(run)}"
            )
    return "\n".join(lines)


def factors(
    chat: dict[int, dict[str, Any] | None], media: dict[int, dict[str, Any] | None]
) -> dict[str, float]:
    """Scaling factor (N / one) of each part and count that has both figures.

    Keys: `chat` and `media` for two against one (as before), `chat_4`, `media_4`... for
    other counts.
    """
    out = {}
    for part, runs, key in (
        ("chat", chat, "deliveries_per_s"),
        ("media", media, "thumbnails_per_s"),
    ):
        one = runs.get(1)
        for count, run in sorted(runs.items()):
            if count == 1 or not one or not run:
                continue
            name = part if count == 2 else f"{part}_{count}"
            out[name] = factor(one[key], run[key])
    return out


def _count_of(name: str) -> int:
    return int(name.rsplit("_", 1)[1]) if "_" in name else 2


def factor_lines(found: dict[str, float], cores: int, quota: float | None = None) -> str:
    """`chat: 1.12x (target >= 1.8x): below` per part, and why when the machine is small."""
    lines = []
    for part, value in found.items():
        count = _count_of(part)
        target = TARGETS.get(count)
        verdict = "-" if target is None else ("met" if value >= target else "below")
        shown = "-" if target is None else f"{target}x"
        lines.append(
            f"  {part.split('_')[0]:6} scaling 1 -> {count}: {_fmt(value, '.2f')}x "
            f"(target >= {shown}): {verdict}"
        )
    if quota is not None:
        lines.append(
            f"  each node/worker held to {quota} cores by a cgroup quota: N of them use "
            f"{quota} x N cores of the {cores}, the rest is left to the load generator, nginx, "
            "Redis and PostgreSQL"
        )
    elif cores < MIN_CORES:
        lines.append(
            f"  note: {cores} cores here. The target assumes each process on its own core: two "
            f"nodes (or workers), the load generator, nginx, Redis and PostgreSQL need "
            f">= {MIN_CORES - 1}-{MIN_CORES} cores. Here the second node/worker shares a core "
            "with the rest, so the factor measures the machine, not the design."
        )
    return "\n".join(lines)
