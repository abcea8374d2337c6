"""Confab's chat fan-out against python-socketio and a bare `websockets` server, in one run.

    python bench/chat/run.py [--quick] [--repeat N] [--servers confab,socketio,websockets]
                             [--phases traffic,idle,capacity] [--report results.json]

Each server is its own process pinned to one core, the load generator another process pinned
to the other core. Per server: (a) the highest deliveries/s (messages x recipients) with
1,000 clients in one room while p99 stays under 200 ms, the send rate ramped; (b) p50/p99 at
1,000 clients and 50 msg/s; (c) memory per idle connection at 5,000 connections; (d) how
many connections one process holds. Ratios Confab/python-socketio and Confab/bare, the issue's
targets, figures in bench/.work/chat/results-<timestamp>.json. See bench/chat/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # Run as a script: make `bench.chat` importable from the repository root.
    sys.path.insert(0, str(ROOT))

from bench.chat import report  # noqa: E402
from bench.chat.sched import tree_wait_seconds  # noqa: E402
from bench.chat.servers import (  # noqa: E402
    ChatServer,
    Confab,
    SocketIOPeer,
    WebsocketsPeer,
    room_last_seq,
    seed_confab,
    usernames,
    wrap,
)
from bench.media.procstats import MemorySampler, tree_cpu_seconds, tree_memory_mib  # noqa: E402
from bench.procs import cleanup_on_sigterm  # noqa: E402

WORK = ROOT / "bench" / ".work" / "chat"
PHASES = ("traffic", "idle", "capacity")
SERVER_NAMES = ("confab", "socketio", "websockets")
FD_RESERVE = 100  # descriptors a server or the generator needs besides its connections


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; --quick shortens every timed part."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short steps and runs")
    parser.add_argument("--repeat", type=int, default=1, help="run everything N times; medians")
    parser.add_argument("--servers", default=",".join(SERVER_NAMES), help="which servers")
    parser.add_argument("--phases", default=",".join(PHASES), help="traffic,idle,capacity")
    parser.add_argument("--clients", type=int, default=1000, help="clients in the room (1000)")
    parser.add_argument("--users", type=int, help="Confab accounts (default: --clients)")
    parser.add_argument("--p99-limit", type=float, default=200.0, help="ramp p99 limit, ms")
    parser.add_argument("--ramp-start", type=float, default=2.0, help="first rate, msg/s")
    parser.add_argument("--ramp-factor", type=float, default=1.5, help="rate growth per step")
    parser.add_argument("--ramp-max", type=float, default=400.0, help="highest rate, msg/s")
    parser.add_argument("--step-duration", type=float, help="measured s per ramp step (5)")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="msg/s for (b)")
    parser.add_argument("--latency-duration", type=float, help="measured s for (b) (15)")
    parser.add_argument("--idle-connections", type=int, default=5000, help="for (c)")
    parser.add_argument("--max-connections", type=int, default=20000, help="cap for (d)")
    parser.add_argument("--capacity-deadline", type=float, help="seconds to open (d) (300)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of servers and generator (negative: ahead of other work on the machine)",
    )
    parser.add_argument("--phase-timeout", type=float, default=900.0, help="kill a phase after")
    parser.add_argument("--report", type=Path, help="print the tables of a results JSON, exit")
    args = parser.parse_args(argv)
    quick = args.quick
    args.step_duration = args.step_duration or (2.0 if quick else 5.0)
    args.latency_duration = args.latency_duration or (5.0 if quick else 15.0)
    args.capacity_deadline = args.capacity_deadline or (120.0 if quick else 300.0)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    for name in args.servers:
        if name not in SERVER_NAMES:
            parser.error(f"unknown server {name!r} (choose from {', '.join(SERVER_NAMES)})")
    for phase in args.phases:
        if phase not in PHASES:
            parser.error(f"unknown phase {phase!r} (choose from {', '.join(PHASES)})")
    if args.repeat < 1 or args.clients < 1:
        parser.error("--repeat and --clients must be >= 1")
    args.users = args.users or args.clients
    return args


def cores(no_pin: bool) -> tuple[int | None, int | None]:
    """(server core, generator core): two different cores when there are two."""
    available = sorted(os.sched_getaffinity(0))
    if no_pin or len(available) < 2:
        return None, None
    return available[0], available[1]


def raise_own_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard one; servers and the generator inherit it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def generator_config(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    """The load generator's settings for one phase (host/port/dialect/tokens added later)."""
    quick = args.quick
    return {
        "phase": phase,
        "clients": args.clients,
        "p99_limit_ms": args.p99_limit,
        "ramp_start": args.ramp_start,
        "ramp_factor": args.ramp_factor,
        "ramp_max": args.ramp_max,
        "ramp_refinements": 2 if quick else 3,
        "step_warmup": 0.5 if quick else 1.0,
        "step_duration": args.step_duration,
        "step_drain": 2.0 if quick else 3.0,
        "latency_rate": args.latency_rate,
        "latency_warmup": 1.0 if quick else 2.0,
        "latency_duration": args.latency_duration,
        "latency_drain": 5.0 if quick else 15.0,
        "idle_connections": args.idle_connections,
        "idle_warm": 100,
        "settle": 2.0 if quick else 3.0,
        "max_connections": args.max_connections,
        "capacity_deadline": args.capacity_deadline,
    }


class PhaseRun:
    """What one generator run against one server produced."""

    def __init__(self) -> None:
        self.result: dict[str, Any] | None = None
        self.marks: dict[str, tuple[float, float, float]] = {}
        self.samples: dict[str, tuple[float, float]] = {}
        self.peak_rss_mib = math.nan


def drive(
    server: ChatServer,
    config: dict[str, Any],
    core: int | None,
    timeout: float,
    nice: int = 0,
    module: str = "bench.chat.loadgen",
    on_mark: Callable[[str], None] | None = None,
) -> PhaseRun:
    """Run the load generator `module` (its own process, pinned) against `server`;
    `on_mark` hears every MARK label (after the server's CPU time was read)."""
    run = PhaseRun()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        wrap([sys.executable, "-m", module], core, nice),
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(config) + "\n")
    process.stdin.flush()
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        with MemorySampler(server.pid) as sampler:
            for line in process.stdout:
                kind, _, rest = line.rstrip("\n").partition(" ")
                if kind == "LOG":
                    print(f"      {rest}", flush=True)
                elif kind == "MARK":
                    run.marks[rest] = (
                        tree_cpu_seconds(server.pid),
                        time.monotonic(),
                        tree_wait_seconds(server.pid),
                    )
                    if on_mark is not None:
                        on_mark(rest)
                elif kind == "SAMPLE":
                    run.samples[rest] = tree_memory_mib(server.pid)
                    process.stdin.write("ok\n")
                    process.stdin.flush()
                elif kind == "RESULT":
                    run.result = json.loads(rest)
        run.peak_rss_mib = sampler.peak.rss_mib
    finally:
        watchdog.cancel()
        with contextlib.suppress(OSError):
            process.stdin.close()
        code = process.wait()
    if run.result is None:
        raise RuntimeError(f"load generator exited with {code} and no result")
    return run


def make_server(name: str, core: int | None, seed: Path | None, nice: int) -> ChatServer:
    """A fresh (not started) server object."""
    work = WORK / name
    if name == "confab":
        return Confab(work, core, seed, nice)
    if name == "socketio":
        return SocketIOPeer(work, core, nice)
    return WebsocketsPeer(work, core, nice)


def run_phase(
    name: str,
    phase: str,
    args: argparse.Namespace,
    tokens: dict[str, list[str]],
    seed: Path | None,
    notes: list[str],
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """One phase against a freshly started server; (figures per scenario, raw ramp steps)."""
    server_core, generator_core = cores(args.no_pin)
    server = make_server(name, server_core, seed, args.nice)
    config = {
        **generator_config(args, phase),
        "host": "127.0.0.1",
        "dialect": server.dialect,
        "tokens": tokens[name],
        "room": "bench",
    }
    figures: dict[str, dict[str, float]] = {}
    steps: list[dict[str, Any]] = []
    try:
        server.start()
        config.update(
            port=server.port,
            server_pid=server.pid,
            server_core=server_core,
            generator_core=generator_core,
        )
        # The room's log also holds its members joining: count only what this run stored.
        before = room_last_seq(server.base, tokens[name][0], "bench") if name == "confab" else 0
        run = drive(server, config, generator_core, args.phase_timeout, args.nice)
        assert run.result is not None
        result = run.result
        if result.get("error_samples"):
            print(f"      error frames: {result['errors']} e.g. {result['error_samples'][:2]}")
        if result.get("close_codes"):
            print(f"      closes by code: {result['close_codes']}")
        if phase == "traffic":
            figures = report.traffic_figures(result, run.marks)
            if name == "confab":
                last = room_last_seq(server.base, tokens[name][0], "bench")
                stored = None if last is None or before is None else last - before
                posted = float(result.get("posted_total", 0))
                if stored is not None and posted:
                    figures["latency"]["stored_pct"] = 100.0 * stored / posted
                acked = result.get("acks_total")
                print(f"      stored {stored} of {posted:.0f} sent, {acked} acked")
            steps = list(result.get("steps", []))
        elif phase == "idle":
            figures["idle"] = report.idle_figures(result, run.samples)
        else:
            figures["capacity"] = report.capacity_figures(result, run.samples)
    except (RuntimeError, OSError) as err:
        note = f"{name} {phase} not measured: {str(err).splitlines()[0]}"
        print(f"    ! {note}\n{server.log_tail(8)}")
        notes.append(note)
    finally:
        server.stop()
    return figures, steps


def one_repeat(
    index: int,
    args: argparse.Namespace,
    tokens: dict[str, list[str]],
    seed: Path | None,
    notes: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every phase on every server; (figures[scenario][server], raw ramp steps per server)."""
    order = list(args.servers) if index % 2 == 0 else list(reversed(args.servers))
    figures: dict[str, Any] = {}
    steps: dict[str, Any] = {}
    for name in order:
        for phase in args.phases:
            print(f"\n== repeat {index + 1}/{args.repeat}: {name}, {phase}", flush=True)
            got, ramp_steps = run_phase(name, phase, args, tokens, seed, notes)
            if ramp_steps:
                steps[name] = ramp_steps
            for scenario, values in got.items():
                if values:
                    figures.setdefault(scenario, {})[name] = values
    return figures, steps


def environment(args: argparse.Namespace, fd_limit: int) -> dict[str, Any]:
    """What the run measured on."""
    versions = {}
    for package in ("websockets", "python-socketio", "python-engineio", "uvicorn", "uvloop"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    server_core, generator_core = cores(args.no_pin)
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
        "server_core": server_core,
        "generator_core": generator_core,
        "fd_limit": fd_limit,
        "args": {k: v if not isinstance(v, Path) else str(v) for k, v in vars(args).items()},
    }


def reprint(path: Path) -> int:
    """Print the table and targets of a saved results JSON."""
    saved = report.from_json(json.loads(path.read_text()))
    print(f"{path.name}: {saved.get('command')}")
    print(report.table(saved["median"], saved.get("servers", report.SERVERS)))
    print(report.verdict_lines(report.verdicts(saved["median"])))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (targets are reported, not enforced)."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    if args.report is not None:
        return reprint(args.report)
    load_start = os.getloadavg()
    WORK.mkdir(parents=True, exist_ok=True)
    fd_limit = raise_own_fd_limit()
    cap = fd_limit - FD_RESERVE
    notes: list[str] = []
    if args.max_connections > cap:
        notes.append(
            f"(d) capped at {cap} connections: RLIMIT_NOFILE is {fd_limit} here and cannot be "
            f"raised (no CAP_SYS_RESOURCE); {args.max_connections} would need more descriptors"
        )
        args.max_connections = cap
    args.idle_connections = min(args.idle_connections, cap)
    server_core, generator_core = cores(args.no_pin)
    notes.append(
        f"server pinned to core {server_core}, load generator to core {generator_core}"
        if server_core is not None
        else "no CPU pinning"
    )
    if args.nice:
        notes.append(f"servers and load generator ran at niceness {args.nice}")
    tokens = {name: usernames(args.users) for name in ("socketio", "websockets")}
    seed: Path | None = None
    if "confab" in args.servers:
        print("seeding Confab: accounts, tokens, the room, memberships ...", flush=True)
        try:
            seed, tokens["confab"] = seed_confab(WORK, server_core, args.users, "bench")
        except (RuntimeError, OSError) as err:
            note = f"confab not measured: seeding failed: {str(err).splitlines()[0]}"
            print(f"  ! {note}")
            notes.append(note)
            args.servers = [s for s in args.servers if s != "confab"]
    runs: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for index in range(args.repeat):
        figures, ramp_steps = one_repeat(index, args, tokens, seed, notes)
        runs.append(figures)
        steps.append(ramp_steps)
    final = report.medians(runs)
    runs_label = f"median of {args.repeat} runs" if args.repeat > 1 else "1 run"
    print(f"\n== results ({runs_label}; ratios are Confab / peer)")
    print(report.table(final, args.servers))
    verdicts = report.verdicts(final)
    print("\n== targets (issue 3, part 3)")
    print(report.verdict_lines(verdicts))
    print("\n== notes")
    for note in dict.fromkeys(notes):
        print(f"  - {note}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = WORK / f"results-{stamp}.json"
    env = environment(args, fd_limit)
    env["load_average_start"] = load_start
    env["load_average_end"] = os.getloadavg()
    saved = {
        "command": " ".join(["bench/chat/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "environment": env,
        "servers": args.servers,
        "runs": runs,
        "ramp_steps": steps,
        "median": final,
        "targets": [vars(v) for v in verdicts],
        "notes": list(dict.fromkeys(notes)),
    }
    out.write_text(json.dumps(report.jsonable(saved), indent=1))
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
