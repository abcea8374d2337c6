"""The filter round: the ten most used thumbor filters on the 2 MP JPEG corpus, Confab
against thumbor 7.8 side by side, one run.

    python bench/media/filters_round.py [--duration S] [--repeat N] [--filters rotate,blur]

Each filter is requested as fit-in/320x240/filters:<filter> over the 2 MP photos (result
caches off on both, never two identical requests in flight), one server at a time, the
order alternating per repeat. Printed per filter: req/s and p99 of each server, their
ratio (target: Confab >= 1.5x thumbor's req/s) and the machine's load average before
and after, since the machine may be shared. Figures go to
bench/.work/filters-round-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.media import filterset  # noqa: E402
from bench.media.corpus import build_corpus  # noqa: E402
from bench.media.run import drive  # noqa: E402
from bench.media.servers import ensure_thumbor  # noqa: E402
from bench.procs import cleanup_on_sigterm  # noqa: E402

WORK = ROOT / "bench" / ".work"
TARGET_RATIO = 1.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags (the load generator reads the same names as run.py's)."""
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    filterset.common_args(parser)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per filter (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--concurrency", type=int, default=4 * cores)
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--max-requests", type=int, default=100_000)
    args = parser.parse_args(argv)
    args.keepalive = False
    args.servers = [s for s in args.servers.split(",") if s]
    return args


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (as `uptime` prints them)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    """Run the round; exit 0 when it ran (the target is reported, not enforced)."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    corpus_dir = WORK / "corpus"
    corpus = build_corpus(corpus_dir)
    filterset.write_mark(corpus_dir)
    version = ensure_thumbor(WORK / "thumbor-venv") if "thumbor" in args.servers else None
    photos = [item.name for item in corpus if item.kind == "jpeg2"]
    filters = list(filterset.ROUND_FILTERS)
    if args.filters:
        filters = [f for f in filters if f.startswith(tuple(args.filters.split(",")))]
    load_before = load_average()
    print(f"thumbor {version}; {len(photos)} photos of 2 MP; load average {load_before}")
    servers = filterset.start(
        args.servers, WORK / "filters-round", corpus_dir, corpus, args.processes
    )
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    try:
        for repeat in range(args.repeat):
            order = args.servers if repeat % 2 == 0 else list(reversed(args.servers))
            print(f"== repeat {repeat + 1}/{args.repeat}, order {order}, load {load_average()}")
            for filter_call in filters:
                for name in order:
                    server = servers[name]
                    options = filterset.options_for(server, filter_call)
                    paths = [server.path(options, photo) for photo in photos]
                    figures = drive(server, paths, args, unique_inflight=True)
                    runs.setdefault(filter_call, {}).setdefault(name, []).append(figures)
                    print(
                        f"  {filter_call[:34]:34} {name:8} {figures['rps']:7.1f} req/s"
                        f"  p99 {figures['p99_ms']:7.1f} ms  CPU {figures['cpu_ms']:6.1f} ms"
                        f"  errors {figures['errors']:.0f}"
                    )
    finally:
        for server in servers.values():
            server.stop()
    load_after = load_average()
    table = summarize(runs)
    print(f"\n== filter round (median of {args.repeat}; ratio = confab / thumbor req/s)")
    print(
        f"{'filter':36} {'confab req/s':>12} {'p99 ms':>8} {'thumbor req/s':>13}"
        f" {'p99 ms':>8} {'ratio':>6}"
    )
    for filter_call, row in table.items():
        mark = "ok" if row.get("ratio", 0) >= TARGET_RATIO else "MISSED"
        print(
            f"{filter_call[:36]:36} {row.get('confab_rps', float('nan')):12.1f}"
            f" {row.get('confab_p99_ms', float('nan')):8.1f}"
            f" {row.get('thumbor_rps', float('nan')):13.1f}"
            f" {row.get('thumbor_p99_ms', float('nan')):8.1f}"
            f" {row.get('ratio', float('nan')):6.2f} {mark}"
        )
    print(f"load average before {load_before}, after {load_after} ({os.cpu_count()} cores)")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = WORK / f"filters-round-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["filters_round.py", *(argv or sys.argv[1:])]),
                "thumbor": version,
                "load_before": load_before,
                "load_after": load_after,
                "runs": runs,
                "median": table,
            },
            indent=1,
        )
    )
    print(f"figures written to {out.relative_to(ROOT)}")
    return 0


def summarize(runs: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, dict[str, Any]]:
    """Medians per filter and server, and the req/s ratio."""
    table: dict[str, dict[str, Any]] = {}
    for filter_call, by_server in runs.items():
        row: dict[str, Any] = {}
        for name, figures in by_server.items():
            row[f"{name}_rps"] = statistics.median(f["rps"] for f in figures)
            row[f"{name}_p99_ms"] = statistics.median(f["p99_ms"] for f in figures)
            row[f"{name}_cpu_ms"] = statistics.median(f["cpu_ms"] for f in figures)
        if "confab_rps" in row and "thumbor_rps" in row and row["thumbor_rps"]:
            row["ratio"] = row["confab_rps"] / row["thumbor_rps"]
        table[filter_call] = row
    return table


if __name__ == "__main__":
    raise SystemExit(main())
