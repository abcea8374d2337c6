"""Figures from the load generator's output, medians, ratios, targets and the table (pure).

Shapes: a *mark* is (server CPU seconds, monotonic time, server run-queue wait seconds)
taken when the generator printed ``MARK <label>``; a *sample* is (RSS MiB, PSS MiB) taken
on ``SAMPLE <label>``. Figures are flat dicts of floats per (scenario, server).

Over repeats, figures that describe one step are taken together from one run (the run whose
key figure is the median), so "deliveries/s", "at send rate" and "p99" stay one step's;
the others are per-figure medians (bench/media's `medians`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.chat.stats import per_connection_kib
from bench.media.report import medians as figure_medians

SERVERS: tuple[str, ...] = ("confab", "socketio", "websockets")
PEERS: tuple[tuple[str, str], ...] = (("socketio", "confab/sio"), ("websockets", "confab/bare"))

Mark = Sequence[float]
Sample = Sequence[float]

SCENARIOS: dict[str, str] = {
    "ramp": "(a) highest deliveries/s, 1 room, p99 under the limit (send rate ramped)",
    "latency": "(b) latency at the fixed rate",
    "idle": "(c) memory per idle connection",
    "capacity": "(d) connections one process holds",
}

# Counts and settings: a Confab/peer ratio of these means nothing.
NO_RATIO = frozenset({"steps", "rate", "max_rate", "connections", "attempted", "stored_pct"})

# scenario -> (metric, label, format)
METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ramp": (
        ("max_dps", "deliveries/s, best step under the p99 limit", "{:.0f}"),
        ("max_rate", "  at send rate msg/s", "{:.1f}"),
        ("max_p50_ms", "  p50 ms", "{:.1f}"),
        ("max_p99_ms", "  p99 ms", "{:.1f}"),
        ("max_server_cores", "  server CPU cores busy", "{:.2f}"),
        ("max_server_wait", "  server run-queue wait (cores)", "{:.2f}"),
        ("max_dps_per_core", "  deliveries per server CPU-second", "{:.0f}"),
        ("max_client_cpu_pct", "  load gen CPU %", "{:.0f}"),
        ("max_acked_pct", "  acked %", "{:.1f}"),
        ("peak_dps", "deliveries/s received, best of any run", "{:.0f}"),
        ("peak_server_cores", "  server CPU cores busy", "{:.2f}"),
        ("peak_dps_per_core", "  deliveries per server CPU-second", "{:.0f}"),
        ("peak_client_cpu_pct", "  load gen CPU %", "{:.0f}"),
        ("steps", "ramp steps", "{:.0f}"),
    ),
    "latency": (
        ("rate", "send rate msg/s", "{:.0f}"),
        ("p50_ms", "p50 ms", "{:.1f}"),
        ("p99_ms", "p99 ms", "{:.1f}"),
        ("p999_ms", "p99.9 ms", "{:.1f}"),
        ("ack_p99_ms", "ack p99 ms", "{:.1f}"),
        ("loss_pct", "not delivered in the drain time %", "{:.2f}"),
        ("dps", "deliveries/s", "{:.0f}"),
        ("server_cores", "server CPU cores busy", "{:.2f}"),
        ("server_wait", "server run-queue wait (cores)", "{:.2f}"),
        ("client_cpu_pct", "load gen CPU %", "{:.0f}"),
        ("stored_pct", "messages stored / sent %", "{:.1f}"),
    ),
    "idle": (
        ("kib_rss", "KiB per idle connection (RSS)", "{:.1f}"),
        ("kib_pss", "KiB per idle connection (PSS)", "{:.1f}"),
        ("connections", "connections added", "{:.0f}"),
        ("base_rss_mib", "RSS before MiB", "{:.0f}"),
        ("full_rss_mib", "RSS after MiB", "{:.0f}"),
        ("connect_s", "seconds to open them", "{:.1f}"),
    ),
    "capacity": (
        ("held", "connections held", "{:.0f}"),
        ("probe_delivered", "  reached by one room message", "{:.0f}"),
        ("attempted", "connections attempted", "{:.0f}"),
        ("rss_mib", "RSS at the end MiB", "{:.0f}"),
        ("kib_rss", "KiB per connection (RSS)", "{:.1f}"),
        ("connect_s", "seconds to open them", "{:.1f}"),
    ),
}


def _window(marks: Mapping[str, Mark], label: str) -> tuple[float, float]:
    """(server CPU cores busy, run-queue wait in cores) between `label`:start and :end."""
    start, end = marks.get(f"{label}:start"), marks.get(f"{label}:end")
    if start is None or end is None or end[1] <= start[1]:
        return math.nan, math.nan
    seconds = end[1] - start[1]
    return (end[0] - start[0]) / seconds, (end[2] - start[2]) / seconds


def traffic_figures(result: Mapping[str, Any], marks: Mapping[str, Mark]) -> dict[str, Any]:
    """(ramp figures, latency figures) from a traffic phase; steps annotated with server CPU."""
    steps = list(result.get("steps", []))
    for index, step in enumerate(steps):
        step["server_cores"], step["server_wait"] = _window(marks, f"step{index}")
    passed = [step for step in steps if step.get("passed")]
    ramp: dict[str, float] = {"steps": float(len(steps))}
    run = result.get("latency")
    if run:
        label = str(run.get("label", "latency"))
        run["server_cores"], run["server_wait"] = _window(marks, label)
    every = [*steps, run] if run else steps
    if every:
        # Receive rate while the window was open: once a server falls behind, what it pushes.
        top = max(every, key=lambda step: float(step.get("received_per_s", 0.0)))
        ramp["peak_dps"] = float(top.get("received_per_s", math.nan))
        ramp["peak_server_cores"] = float(top["server_cores"])
        ramp["peak_client_cpu_pct"] = float(top["client_cpu_pct"])
        # Per CPU-second of the server: holds even when a neighbour took part of its core.
        ramp["peak_dps_per_core"] = ratio(ramp["peak_dps"], ramp["peak_server_cores"])
    if passed:
        best = max(passed, key=lambda step: float(step["deliveries_per_s"]))
        sent = float(best["sent"])
        ramp.update(
            {
                "max_dps": float(best["deliveries_per_s"]),
                "max_rate": float(best["rate"]),
                "max_p50_ms": float(best["p50_ms"]),
                "max_p99_ms": float(best["p99_ms"]),
                "max_server_cores": float(best["server_cores"]),
                "max_server_wait": float(best["server_wait"]),
                "max_client_cpu_pct": float(best["client_cpu_pct"]),
                "max_acked_pct": 100.0 * float(best["acks"]) / sent if sent else math.nan,
            }
        )
        ramp["max_dps_per_core"] = ratio(ramp["max_dps"], ramp["max_server_cores"])
    elif steps:
        ramp["max_dps"] = 0.0
    latency: dict[str, float] = {}
    if run:
        latency = {
            "rate": float(run["rate"]),
            "p50_ms": float(run["p50_ms"]),
            "p99_ms": float(run["p99_ms"]),
            "p999_ms": float(run["p999_ms"]),
            "ack_p99_ms": float(run["ack_p99_ms"]),
            "loss_pct": 100.0 * float(run["loss"]),
            "dps": float(run["deliveries_per_s"]),
            "server_cores": float(run["server_cores"]),
            "server_wait": float(run["server_wait"]),
            "client_cpu_pct": float(run["client_cpu_pct"]),
        }
    return {"ramp": ramp, "latency": latency}


def idle_figures(result: Mapping[str, Any], samples: Mapping[str, Sample]) -> dict[str, float]:
    """Memory per idle connection from the two samples."""
    base = samples.get("idle:base", (math.nan, math.nan))
    full = samples.get("idle:full", (math.nan, math.nan))
    added = int(result.get("added", 0))
    return {
        "kib_rss": per_connection_kib(base[0], full[0], added),
        "kib_pss": per_connection_kib(base[1], full[1], added),
        "connections": float(added),
        "base_rss_mib": float(base[0]),
        "full_rss_mib": float(full[0]),
        "connect_s": float(result.get("connect_seconds", math.nan)),
    }


def capacity_figures(
    result: Mapping[str, Any], samples: Mapping[str, Sample], idle_base_mib: float = math.nan
) -> dict[str, float]:
    """Connections held (and reached by a room message), memory at the end."""
    held = samples.get("capacity:held", (math.nan, math.nan))
    base = samples.get("capacity:base", (math.nan, math.nan))
    count = int(result.get("held", 0))
    return {
        "held": float(count),
        "probe_delivered": float(result.get("probe_delivered", 0)),
        "attempted": float(result.get("attempted", 0)),
        "rss_mib": float(held[0]),
        "kib_rss": per_connection_kib(base[0], held[0], count),
        "connect_s": float(result.get("connect_seconds", math.nan)),
    }


# scenario -> [(key figure, figures that belong to the same step as it)]
GROUPS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "ramp": (
        ("max_dps", tuple(m for m, _, _ in METRICS["ramp"] if m.startswith("max_"))),
        ("peak_dps", tuple(m for m, _, _ in METRICS["ramp"] if m.startswith("peak_"))),
    ),
    "latency": (("p99_ms", tuple(m for m, _, _ in METRICS["latency"] if m != "stored_pct")),),
}


def _median_index(values: Sequence[float]) -> int | None:
    """Index of the (lower) median of the non-NaN values; None if there are none."""
    ranked = sorted((v, i) for i, v in enumerate(values) if not math.isnan(v))
    if not ranked:
        return None
    return ranked[(len(ranked) - 1) // 2][1]


def medians(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-figure medians over repeats, with each step's figures kept from one run."""
    out = figure_medians(list(runs))  # type: ignore[arg-type]
    for scenario, groups in GROUPS.items():
        for server, figures in out.get(scenario, {}).items():
            per_run = [run.get(scenario, {}).get(server, {}) for run in runs]
            for key, members in groups:
                index = _median_index([float(f.get(key, math.nan)) for f in per_run])
                if index is None:
                    continue
                for metric in members:
                    if metric in figures:
                        figures[metric] = per_run[index].get(metric, math.nan)
    return out


def ratio(a: float | None, b: float | None) -> float:
    """a / b; NaN when either is missing, +inf when only b is zero (a peer that held nothing)."""
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return math.nan
    if b == 0:
        return math.inf if a > 0 else math.nan
    return a / b


@dataclass(frozen=True)
class Target:
    """One of issue 3's Part 3 targets."""

    scenario: str
    metric: str
    peer: str | None  # compared as a ratio against this server; None: an absolute value
    op: str
    threshold: float
    wording: str


TARGETS: tuple[Target, ...] = (
    Target("ramp", "max_dps", "socketio", ">=", 8.0, "deliveries/s >= 8x python-socketio"),
    Target("ramp", "max_dps", "websockets", ">=", 0.8, "deliveries/s >= 0.8x bare websockets"),
    # The same two on the saturation throughput (receive rate once a server falls behind):
    # the python-socketio figure (10,000/s) is where it saturates its core.
    Target("ramp", "peak_dps", "socketio", ">=", 8.0, "saturation deliveries/s >= 8x sio"),
    Target("ramp", "peak_dps", "websockets", ">=", 0.8, "saturation deliveries/s >= 0.8x bare"),
    Target("latency", "p99_ms", None, "<=", 50.0, "p99 <= 50 ms at 1,000 clients, 50 msg/s"),
    Target("idle", "kib_rss", None, "<=", 12.0, "<= 12 KiB per idle connection (RSS)"),
    Target("capacity", "held", None, ">=", 20000.0, "20,000 connections in one process"),
)


@dataclass(frozen=True)
class Verdict:
    """A target, the value found and whether it was met (None: not measured)."""

    wording: str
    value: float
    met: bool | None


def verdicts(figures: Mapping[str, Any]) -> list[Verdict]:
    """Check every target against the (median) figures of Confab (and its peers)."""
    out: list[Verdict] = []
    for target in TARGETS:
        servers = figures.get(target.scenario, {})
        mine = servers.get("confab", {}).get(target.metric, math.nan)
        if target.peer is None:
            value = float(mine)
            wording = f"{target.wording} (value)"
        else:
            value = ratio(mine, servers.get(target.peer, {}).get(target.metric, math.nan))
            wording = f"{target.wording} (ratio)"
        met = None
        if not math.isnan(value):
            met = value >= target.threshold if target.op == ">=" else value <= target.threshold
        out.append(Verdict(wording, value, met))
    return out


def fmt(value: float | None, pattern: str) -> str:
    """A figure for the table: '-' when missing, 'inf' when never delivered."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return pattern.format(value)


def table(figures: Mapping[str, Any], servers: Sequence[str] = SERVERS) -> str:
    """Per scenario and metric: each server's figure and the Confab ratios."""
    shown = [s for s in SERVERS if s in servers]
    ratios = [(peer, label) for peer, label in PEERS if peer in shown and "confab" in shown]
    header = f"{'scenario / metric':<48}" + "".join(f"{s:>11}" for s in shown)
    lines = [header + "".join(f"{label:>12}" for _, label in ratios)]
    for scenario, title in SCENARIOS.items():
        per_server = figures.get(scenario)
        if not per_server:
            continue
        lines.append(f"-- {title}")
        for metric, label, pattern in METRICS[scenario]:
            values = [per_server.get(s, {}).get(metric) for s in shown]
            if all(v is None for v in values):
                continue
            row = f"   {label:<45}" + "".join(f"{fmt(v, pattern):>11}" for v in values)
            confab = per_server.get("confab", {}).get(metric)
            for peer, _ in ratios:
                value = math.nan
                if metric not in NO_RATIO:
                    value = ratio(confab, per_server.get(peer, {}).get(metric))
                row += f"{fmt(value, '{:.2f}'):>12}"
            lines.append(row)
    return "\n".join(lines)


def verdict_lines(items: Sequence[Verdict]) -> str:
    """One line per target: MET / NOT MET / not measured."""
    lines = []
    for item in items:
        state = "not measured" if item.met is None else ("MET" if item.met else "NOT MET")
        lines.append(f"  [{state:^12}] {item.wording}: {fmt(item.value, '{:.2f}')}")
    return "\n".join(lines)


def jsonable(value: Any) -> Any:
    """Strict-JSON copy: NaN -> None, +-inf -> "inf"/"-inf" (never delivered)."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """Inverse of `jsonable` for reprinting a saved run."""
    if value is None:
        return math.nan
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value
