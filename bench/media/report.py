"""Figures from raw load records, medians over repeats, targets and the printed table (pure)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# (scenario key, metric, comparison, threshold, wording). Ratios are Confab / thumbor.
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("jpeg_to_jpeg", "rps", ">=", 1.3, "req/s >= 1.3x thumbor"),
    ("jpeg_to_webp", "rps", ">=", 1.5, "req/s >= 1.5x thumbor"),
    ("png_to_png", "rps", ">=", 1.5, "req/s >= 1.5x thumbor"),
    ("jpeg_to_jpeg", "cpu_ms", "<=", 1.0, "CPU/thumbnail <= thumbor"),
    ("jpeg_to_webp", "cpu_ms", "<=", 1.0, "CPU/thumbnail <= thumbor"),
    ("png_to_png", "cpu_ms", "<=", 1.0, "CPU/thumbnail <= thumbor"),
    ("jpeg_to_jpeg", "p99_ms", "<=", 1.0, "p99 <= thumbor"),
    ("jpeg_to_webp", "p99_ms", "<=", 1.0, "p99 <= thumbor"),
    ("png_to_png", "p99_ms", "<=", 1.0, "p99 <= thumbor"),
    ("jpeg_to_jpeg", "peak_rss_mib", "<=", 1.0, "peak RSS <= thumbor"),
    ("jpeg_to_webp", "peak_rss_mib", "<=", 1.0, "peak RSS <= thumbor"),
    ("png_to_png", "peak_rss_mib", "<=", 1.0, "peak RSS <= thumbor"),
    ("zipf_cached", "rps", ">=", 5.0, "cached req/s >= 5x thumbor"),
    ("zipf_cached", "wrk_rps", ">=", 5.0, "cached req/s >= 5x thumbor, driven by wrk"),
)
HIT_P99_TARGET_MS = 2.0

# Metrics shown per scenario, with their label and format.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("rps", "req/s", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("cpu_ms", "CPU ms/thumb", "{:.1f}"),
    ("cpu_util", "server CPU cores busy", "{:.2f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
    ("peak_pss_mib", "peak PSS MiB", "{:.0f}"),
    ("errors", "errors", "{:.0f}"),
    ("requests", "requests", "{:.0f}"),
    ("client_cpu_pct", "load gen CPU %", "{:.0f}"),
    ("hit_ratio", "cache hits %", "{:.0f}"),
    ("hit_p99_ms", "cache-hit p99 ms", "{:.2f}"),
    ("hit_p50_ms", "cache-hit p50 ms", "{:.2f}"),
    ("serial_hit_p50_ms", "cache-hit p50 ms, 1 in flight", "{:.2f}"),
    ("serial_hit_p99_ms", "cache-hit p99 ms, 1 in flight", "{:.2f}"),
    ("wrk_rps", "req/s driven by wrk", "{:.1f}"),
    ("wrk_p99_ms", "p99 ms driven by wrk", "{:.2f}"),
    ("wrk_errors", "errors driven by wrk", "{:.0f}"),
    ("wrk_server_cpu_us", "server CPU us/req driven by wrk", "{:.0f}"),
    ("wrk_client_cpu_us", "wrk's own CPU us/req", "{:.0f}"),
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    """Median of the finite values; NaN if none."""
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def estimated_hits(records: Sequence[Sequence[Any]], first_done: dict[str, float]) -> list[bool]:
    """For each record: did a response for the same path complete before it started?

    Used where the server marks no hits (thumbor): after the first answer for a URL its
    result storage holds it, so later requests for that URL are (very likely) hits.
    """
    return [float(first_done.get(str(rec[4]), math.inf)) < float(rec[0]) for rec in records]


def summarize(
    load: dict[str, Any], cpu_seconds: float, peak_rss: float, peak_pss: float
) -> dict[str, float]:
    """Figures of one (server, scenario) run from the load generator's raw output."""
    records = load["records"]
    ok = [rec for rec in records if rec[2] == 200]
    latencies = [rec[1] * 1000 for rec in ok]
    elapsed = float(load["elapsed"])
    errors = len(records) - len(ok)
    figures: dict[str, float] = {
        "requests": float(len(records)),
        "ok": float(len(ok)),
        "errors": float(errors),
        "rps": len(ok) / elapsed if elapsed > 0 else math.nan,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "cpu_ms": cpu_seconds * 1000 / len(ok) if ok else math.nan,
        "cpu_util": cpu_seconds / elapsed if elapsed > 0 else math.nan,
        "peak_rss_mib": peak_rss,
        "peak_pss_mib": peak_pss,
        "client_cpu_pct": 100 * float(load.get("client_cpu_seconds", 0.0)) / elapsed,
        "out_bytes_mean": statistics.fmean([rec[3] for rec in ok]) if ok else math.nan,
    }
    marks = [rec[5] for rec in ok]
    if ok and all(mark in (0, 1) for mark in marks):
        hits = [mark == 1 for mark in marks]
        figures["hit_source"] = 1.0  # marked by the server's X-Cache header
    else:
        hits = estimated_hits(ok, load.get("first_done", {}))
        figures["hit_source"] = 0.0  # estimated from repeated URLs
    hit_latencies = [lat for lat, hit in zip(latencies, hits, strict=True) if hit]
    figures["hit_ratio"] = 100 * len(hit_latencies) / len(ok) if ok else math.nan
    figures["hit_p50_ms"] = percentile(hit_latencies, 50)
    figures["hit_p99_ms"] = percentile(hit_latencies, 99)
    return figures


def ratio(confab: float, thumbor: float) -> float:
    """Confab / thumbor, NaN when either is missing or thumbor is zero."""
    if any(math.isnan(v) for v in (confab, thumbor)) or thumbor == 0:
        return math.nan
    return confab / thumbor


def medians(runs: Sequence[dict[str, dict[str, dict[str, float]]]]) -> dict[str, Any]:
    """Median of each figure over repeats: runs[i][scenario][server][metric]."""
    out: dict[str, Any] = {}
    for run in runs:
        for scenario, servers in run.items():
            for server, figures in servers.items():
                for metric in figures:
                    out.setdefault(scenario, {}).setdefault(server, {})[metric] = None
    for scenario, servers in out.items():
        for server, figures in servers.items():
            for metric in figures:
                figures[metric] = median(
                    run.get(scenario, {}).get(server, {}).get(metric, math.nan) for run in runs
                )
    return out


@dataclass(frozen=True)
class Verdict:
    """One target and whether it was met."""

    scenario: str
    wording: str
    value: float
    met: bool | None  # None: not measured


def verdicts(figures: dict[str, Any]) -> list[Verdict]:
    """Check every target against the (median) figures."""
    out: list[Verdict] = []
    for scenario, metric, op, threshold, wording in TARGETS:
        servers = figures.get(scenario, {})
        value = ratio(
            servers.get("confab", {}).get(metric, math.nan),
            servers.get("thumbor", {}).get(metric, math.nan),
        )
        met = (
            None
            if math.isnan(value)
            else (value >= threshold if op == ">=" else value <= threshold)
        )
        out.append(Verdict(scenario, f"{wording} (ratio {op} {threshold:g})", value, met))
    confab = figures.get("zipf_cached", {}).get("confab", {})
    for metric, where in (("serial_hit_p99_ms", "1 in flight"), ("hit_p99_ms", "under load")):
        hit = confab.get(metric, math.nan)
        out.append(
            Verdict(
                "zipf_cached",
                f"Confab cache-hit p99 < {HIT_P99_TARGET_MS:g} ms, {where} (value in ms)",
                hit,
                None if math.isnan(hit) else hit < HIT_P99_TARGET_MS,
            )
        )
    return out


def _fmt(value: float | None, pattern: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    return pattern.format(value)


def table(figures: dict[str, Any], titles: dict[str, str]) -> str:
    """The final table: per scenario and metric, Confab, thumbor and the ratio."""
    lines = [f"{'scenario / metric':<44} {'confab':>10} {'thumbor':>10} {'ratio':>7}"]
    for scenario, servers in figures.items():
        lines.append(f"-- {titles.get(scenario, scenario)}")
        for metric, label, pattern in METRICS:
            confab = servers.get("confab", {}).get(metric)
            thumbor = servers.get("thumbor", {}).get(metric)
            if confab is None and thumbor is None:
                continue
            if "hit_" in metric and scenario != "zipf_cached":
                continue
            both = [v for v in (confab, thumbor) if v is not None]
            if all(math.isnan(v) for v in both):
                continue
            rat = ratio(
                confab if confab is not None else math.nan,
                thumbor if thumbor is not None else math.nan,
            )
            lines.append(
                f"   {label:<41} {_fmt(confab, pattern):>10} {_fmt(thumbor, pattern):>10}"
                f" {_fmt(rat, '{:.2f}'):>7}"
            )
    return "\n".join(lines)


def verdict_lines(items: Sequence[Verdict]) -> str:
    """One line per target: MET / NOT MET / not measured."""
    lines = []
    for item in items:
        state = "not measured" if item.met is None else ("MET" if item.met else "NOT MET")
        lines.append(
            f"  [{state:^12}] {item.scenario:<13} {item.wording}: {_fmt(item.value, '{:.2f}')}"
        )
    return "\n".join(lines)


def floor_lines(figures: dict[str, Any]) -> str:
    """The cached round's floor (`run.py --floor`) under wrk, against thumbor and Confab."""
    servers = figures.get("zipf_cached", {})
    floor = servers.get("floor")
    if not floor:
        return ""
    rps = floor.get("wrk_rps", math.nan)
    thumbor = servers.get("thumbor", {}).get("wrk_rps", math.nan)
    confab = servers.get("confab", {}).get("wrk_rps", math.nan)
    return "\n".join(
        [
            f"  floor: {_fmt(rps, '{:.0f}')} req/s, server"
            f" {_fmt(floor.get('wrk_server_cpu_us'), '{:.0f}')} us/req, wrk"
            f" {_fmt(floor.get('wrk_client_cpu_us'), '{:.0f}')} us/req",
            f"  floor / thumbor = {_fmt(ratio(rps, thumbor), '{:.2f}')}"
            f" (the most any server on uvicorn gets here; the target is 5)",
            f"  confab / floor = {_fmt(ratio(confab, rps), '{:.2f}')}",
        ]
    )
