"""How Confab scales out: deliveries/s with 1 chat node vs 2 (vs 4), thumbnails/s with 1 worker
vs 2 (vs 4).

    python bench/scale/run.py [--repeat N] [--quick] [--parts chat,media] [--no-pin]
    python bench/scale/run.py --node-cpu 0.25        # 1, 2, 4 nodes of a quarter core each

Chat: `confab serve --roles chat` nodes on PostgreSQL + a Redis bus behind nginx; bench/chat's
load generator ramps the send rate through nginx (best deliveries/s with p99 under the limit).
Media: `confab worker --concurrency 1` processes on Celery/Redis render a corpus folder sent
by `confab thumbs --jobs-url`. Each process is pinned to its own core when there are enough;
the table prints the pinning used and each process's CPU. See bench/scale/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # Run as a script: make `bench.*` (and tests.deploy.nginx) importable from the root.
    sys.path.insert(0, str(ROOT))

from bench.procs import RedisServer, cleanup_on_sigterm  # noqa: E402
from bench.scale import report  # noqa: E402
from bench.scale.chat import ChatSettings, chat_backends, measure_chat  # noqa: E402
from bench.scale.cores import Allocation, allocate, pin_tree  # noqa: E402
from bench.scale.media import MediaSettings, measure_media  # noqa: E402

WORK = ROOT / "bench" / ".work" / "scale"
PARTS = ("chat", "media")
CHAT_PROCS = ("chat0", "chat1", "loadgen", "nginx", "redis")
MEDIA_PROCS = ("worker0", "worker1", "thumbs", "redis")
QUOTA_PROCS = {"chat": ("loadgen", "nginx", "redis"), "media": ("thumbs", "redis")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; --quick shortens both parts."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clients, shorter steps")
    parser.add_argument("--repeat", type=int, default=1, help="run N times; medians")
    parser.add_argument("--parts", default=",".join(PARTS), help="chat,media")
    parser.add_argument("--clients", type=int, help="chat clients in the room (1000; quick 300)")
    parser.add_argument("--p99-limit", type=float, default=200.0, help="ramp p99 limit, ms")
    parser.add_argument("--step-duration", type=float, help="measured s per ramp step (4; 2)")
    parser.add_argument("--copies", type=int, help="copies of the media corpus to render (10; 3)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--node-cpu",
        type=float,
        metavar="F",
        help="run each chat node / worker in a cgroup with a CPU quota of F cores (emulated "
        "small machines; needs root); nodes are then not pinned",
    )
    parser.add_argument(
        "--node-weight",
        type=float,
        default=1.0,
        metavar="W",
        help="with --node-cpu: each node's cgroup weighs W processes when the machine is busy "
        "(1: like the process it is; larger: its quota comes close to a reservation, as on a "
        "dedicated small machine)",
    )
    parser.add_argument(
        "--counts", help="node/worker counts to compare (default 1,2; with --node-cpu 1,2,4)"
    )
    args = parser.parse_args(argv)
    if args.node_cpu is not None and not 0 < args.node_cpu <= 64:
        parser.error("--node-cpu must be a positive number of cores")
    if not 0 < args.node_weight <= 64:
        parser.error("--node-weight must be a positive number of processes, at most 64")
    default_counts = "1,2,4" if args.node_cpu is not None else "1,2"
    try:
        args.counts = sorted({int(c) for c in (args.counts or default_counts).split(",")})
    except ValueError:
        parser.error("--counts takes whole numbers, e.g. 1,2,4")
    if not args.counts or args.counts[0] != 1 or any(c < 1 for c in args.counts):
        parser.error("--counts must start at 1 (the factors are against one node)")
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    for part in args.parts:
        if part not in PARTS:
            parser.error(f"unknown part {part!r} (choose from {', '.join(PARTS)})")
    args.clients = args.clients or (300 if args.quick else 1000)
    args.step_duration = args.step_duration or (2.0 if args.quick else 4.0)
    args.copies = args.copies or (3 if args.quick else 10)
    if args.repeat < 1 or args.clients < 1 or args.copies < 1:
        parser.error("--repeat, --clients and --copies must be >= 1")
    return args


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard one: nginx and the nodes inherit it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def allocation(names: tuple[str, ...], no_pin: bool) -> Allocation:
    """The core plan for `names` (empty when pinning is off)."""
    return Allocation({}, []) if no_pin else allocate(names)


def counts(index: int, wanted: list[int] | None = None) -> list[int]:
    """Ascending on even repeats, descending on odd ones (no count always runs first)."""
    ordered = sorted(wanted or [1, 2])
    return ordered if index % 2 == 0 else ordered[::-1]


def run_chat(args: argparse.Namespace, alloc: Allocation) -> list[dict[str, Any]]:
    """Every repeat of the chat part on one database and one Redis."""
    settings = ChatSettings(args.clients, args.p99_limit, args.step_duration, args.quick)
    runs: list[dict[str, Any]] = []
    with chat_backends(WORK) as backends:
        pin_tree(backends.redis.pid, alloc.of("redis"))
        for index in range(args.repeat):
            for count in counts(index, args.counts):
                print(f"\n== chat, repeat {index + 1}/{args.repeat}: {count} node(s)", flush=True)
                runs.append(
                    measure_chat(backends, count, alloc, settings, args.node_cpu, args.node_weight)
                )
                last = runs[-1]
                print(
                    f"   -> {last['deliveries_per_s']:.0f} deliveries/s at {last['rate']:.1f} "
                    f"msg/s, p99 {last['p99_ms']:.1f} ms; {report.cpu_line(last)}\n"
                    f"      {report.sched_line(last)}; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    return runs


def run_media(args: argparse.Namespace, alloc: Allocation) -> list[dict[str, Any]]:
    """Every repeat of the media part on one Redis."""
    settings = MediaSettings(args.copies)
    runs: list[dict[str, Any]] = []
    redis = RedisServer(WORK / "redis-media")
    try:
        redis.start()
        pin_tree(redis.pid, alloc.of("redis"))
        for index in range(args.repeat):
            for count in counts(index, args.counts):
                print(
                    f"\n== media, repeat {index + 1}/{args.repeat}: {count} worker(s)", flush=True
                )
                runs.append(
                    measure_media(
                        WORK, redis, count, alloc, settings, args.node_cpu, args.node_weight
                    )
                )
                last = runs[-1]
                print(
                    f"   -> {last['thumbnails_per_s']:.2f} thumbnails/s "
                    f"({last['ok']}/{last['sources']} in {last['elapsed_s']:.1f} s); "
                    f"{report.cpu_line(last)}\n"
                    f"      {report.sched_line(last)}; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    finally:
        redis.stop()
    return runs


def medians(
    runs: list[dict[str, Any]], count_key: str, key: str, wanted: list[int] | None = None
) -> dict[int, Any]:
    """Per process count, the run with the median figure."""
    return {
        count: report.median_run([r for r in runs if r[count_key] == count], key)
        for count in (wanted or [1, 2])
    }


def main(argv: list[str] | None = None) -> int:
    """Run the parts asked for, print the table, write the JSON; 0 when it ran."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    WORK.mkdir(parents=True, exist_ok=True)
    fd_limit = raise_fd_limit()
    cores = len(os.sched_getaffinity(0))
    if args.node_cpu is not None:
        # Quotas make the small machines; the helpers share whatever the nodes leave.
        chat_alloc = allocation(QUOTA_PROCS["chat"], True)
        media_alloc = allocation(QUOTA_PROCS["media"], True)
    else:
        chat_alloc = allocation(CHAT_PROCS, args.no_pin)
        media_alloc = allocation(MEDIA_PROCS, args.no_pin)
    print(f"cores available: {cores}; fd limit {fd_limit}; load {os.getloadavg()}")
    if args.node_cpu is not None:
        print(
            f"each chat node / worker: a cgroup with a quota of {args.node_cpu} cores, "
            f"weighing {args.node_weight:g} process(es) when the machine is busy"
        )
    if "chat" in args.parts:
        print(f"chat pinning:  {chat_alloc.describe()}; PostgreSQL: the machine's, unpinned")
    if "media" in args.parts:
        print(f"media pinning: {media_alloc.describe()}")
    load_start = os.getloadavg()
    chat_runs = run_chat(args, chat_alloc) if "chat" in args.parts else []
    media_runs = run_media(args, media_alloc) if "media" in args.parts else []
    chat = medians(chat_runs, "nodes", "deliveries_per_s", args.counts)
    media = medians(media_runs, "workers", "thumbnails_per_s", args.counts)
    label = f"median of {args.repeat} runs" if args.repeat > 1 else "1 run"
    print(f"\n== results ({label}); cores {cores}; load average now {os.getloadavg()}")
    print(report.table(chat, media))
    print("\n== where the time went (share of the window: run-queue wait, cgroup throttling)")
    for part, runs in (("chat", chat), ("media", media)):
        for count, run in sorted(runs.items()):
            if run is not None:
                print(f"{part:6} {count:>2}: {report.sched_line(run)}")
    found = report.factors(chat, media)
    print("\n== scaling (N / one)")
    print(report.factor_lines(found, cores, quota=args.node_cpu))
    for name, alloc in (("chat", chat_alloc), ("media", media_alloc)):
        if name in args.parts and alloc.shared:
            print(f"  {name}: shared a core: {', '.join(alloc.shared)} (too few cores)")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = WORK / f"results-{stamp}.json"
    saved = {
        "command": " ".join(["bench/scale/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "cores": cores,
        "node_cpu": args.node_cpu,
        "node_weight": args.node_weight,
        "counts": args.counts,
        "pinning": {"chat": chat_alloc.cores, "media": media_alloc.cores},
        "shared": {"chat": chat_alloc.shared, "media": media_alloc.shared},
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "factors": found,
        "median": {"chat": chat, "media": media},
        "runs": {"chat": chat_runs, "media": media_runs},
    }
    out.write_text(json.dumps(saved, indent=1, default=str))
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
