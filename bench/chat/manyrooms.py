"""Many-rooms write workload: stored-and-acked events/s at ack p99 < 100 ms, on both engines.

    python bench/chat/manyrooms.py [--engines sqlite,postgres] [--repeat N] [--quick]
        [--mix send=0.6,react=0.25,read=0.15]
        [--current /path/to/the/current/version/.venv/bin/confab]

10,000 clients (one user each) in 1,000 rooms of 10 against one `confab up` node, each
joined to its room; random clients write a mix of sends, reactions and read markers
(`bench/chat/mix.py`), the offered rate ramped until the ack p99 passes 100 ms. Per engine
(SQLite in the node's data dir, a fresh PostgreSQL database): the highest passing step's
stored-and-acked events/s, and the node's CPU per event (its process tree's CPU time from
/proc over the step's window, divided by the events stored in it). PostgreSQL's own
processes are counted apart, as the database server's CPU per event; with the generator's,
they give the cores the whole run would keep busy at the target rate on this machine.

`--current PATH` runs the same clients against another version's `confab` (the version
before the event log) on the same engines in the same run, sends only (it has no `react`
or `read` frames); this version then also runs sends only, for a like-for-like ratio.

The server is pinned to one core, the generator (`manyrooms_gen.py`) to the other; the
seed is written with plain SQL (`bulkseed.py`). Figures go to
bench/.work/chat/manyrooms-<stamp>.json. See bench/chat/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chat import bulkseed, mix, report  # noqa: E402
from bench.chat.run import cores, drive, raise_own_fd_limit  # noqa: E402
from bench.chat.servers import ChatServer, Confab, WebsocketsPeer  # noqa: E402
from bench.media.procstats import named_cpu_seconds, thread_cpu_seconds  # noqa: E402
from bench.procs import cleanup_on_sigterm, sync_postgres_database  # noqa: E402

WORK = ROOT / "bench" / ".work" / "chat"
ENGINES = ("sqlite", "postgres")
TARGET_EVENTS_PER_S = 5000.0
SENDS_ONLY = {"send": 1.0}
CEILING = "bare-websockets"  # the peer that stores nothing


@dataclass(frozen=True)
class Target:
    """One measured configuration: a confab version, an engine, a mix."""

    version: str
    executable: Path
    engine: str
    mix: Mapping[str, float]

    @property
    def label(self) -> str:
        """`version/engine/mix` for tables and file names."""
        kinds = "+".join(k for k, w in self.mix.items() if w > 0)
        return f"{self.version}/{self.engine}/{kinds}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--mix", default="send=0.6,react=0.25,read=0.15")
    parser.add_argument("--current", type=Path, default=None, help="the current `confab`")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also the bare `websockets` peer (same mix, nothing stored): the ceiling",
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--room-size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2 s steps, fewer refinements")
    parser.add_argument("--p99-limit", type=float, default=100.0, help="ack p99 limit, ms")
    parser.add_argument("--ramp-start", type=float, default=500.0)
    parser.add_argument("--ramp-factor", type=float, default=1.5)
    parser.add_argument("--ramp-max", type=float, default=20_000.0)
    parser.add_argument("--step-duration", type=float, default=5.0)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--phase-timeout", type=float, default=1800.0)
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="py-spy the node for SECONDS from the first step on (folded stacks in the work dir)",
    )
    args = parser.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    unknown = set(args.engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    args.mix = mix.parse_mix(args.mix)
    return args


def targets(args: argparse.Namespace) -> list[Target]:
    """What one repeat measures, in order."""
    here = Path(sys.executable).parent / "confab"
    out = [Target("eventlog", here, engine, args.mix) for engine in args.engines]
    if args.ceiling:
        out.append(Target(CEILING, Path(sys.executable), "none", args.mix))
    if args.current is not None:
        for engine in args.engines:
            if dict(args.mix) != SENDS_ONLY:
                out.append(Target("eventlog", here, engine, SENDS_ONLY))
            out.append(Target("current", args.current, engine, SENDS_ONLY))
    return out


def generator_config(
    args: argparse.Namespace, seed: bulkseed.Seed, target: Target
) -> dict[str, Any]:
    """The generator's settings (host, port and the pinning added once the server runs)."""
    return {
        "host": "127.0.0.1",
        "tokens": seed.tokens,
        "rooms": seed.rooms,
        "room_size": seed.room_size,
        "mix": dict(target.mix),
        "ramp_start": args.ramp_start,
        "ramp_factor": args.ramp_factor,
        "ramp_max": args.ramp_max,
        "ramp_refinements": 2 if args.quick else 3,
        "step_warmup": 0.5 if args.quick else 1.0,
        "step_duration": 2.0 if args.quick else args.step_duration,
        "step_drain": 2.0 if args.quick else 3.0,
        "p99_limit_ms": args.p99_limit,
    }


class ThreadSplit:
    """The server's CPU time per thread at every mark: where an event's CPU goes ("main":
    the event loop; on SQLite the other threads are the writer and the idle readers)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.marks: dict[str, dict[str, tuple[float, float]]] = {}

    def on_mark(self, label: str) -> None:
        """Read every thread's CPU time."""
        self.marks[label] = thread_cpu_seconds(self.pid)

    def per_event_us(self, label: str, events: float) -> dict[str, dict[str, float]]:
        """Per thread name, µs of user and system CPU per event over `label`'s window."""
        start, end = self.marks.get(f"{label}:start"), self.marks.get(f"{label}:end")
        if start is None or end is None or events <= 0:
            return {}
        out = {}
        for name, (user, system) in end.items():
            user0, system0 = start.get(name, (0.0, 0.0))
            out[name] = {
                "user": 1e6 * (user - user0) / events,
                "system": 1e6 * (system - system0) / events,
            }
        return out


def database_cpu_seconds(engine: str) -> float:
    """CPU seconds of `engine`'s server processes so far (PostgreSQL's: no children of the
    node or of the bench); 0 for SQLite, which runs inside the node."""
    return named_cpu_seconds("postgres") if engine == "postgres" else 0.0


class DatabaseCPU:
    """The database server's own CPU at every mark: the node's figures leave it out, but it
    shares the machine."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.marks: dict[str, float] = {}

    def on_mark(self, label: str) -> None:
        """Read the server processes' CPU time (nothing to read for SQLite or no database)."""
        if self.engine == "postgres":
            self.marks[label] = database_cpu_seconds(self.engine)

    def per_event_us(self, label: str, events: float) -> float:
        """µs of the database server's CPU per event over `label`'s window (0 without one)."""
        start, end = self.marks.get(f"{label}:start"), self.marks.get(f"{label}:end")
        if start is None or end is None or events <= 0:
            return 0.0
        return 1e6 * (end - start) / events


def figures(
    steps: list[dict[str, Any]],
    marks: Mapping[str, report.Mark],
    threads: ThreadSplit,
    database_cpu: DatabaseCPU | None = None,
) -> dict[str, Any]:
    """The best passing step's figures; every step annotated with the server's cores, its
    CPU per event by thread, and the generator's and the database server's CPU per event."""
    for index, step in enumerate(steps):
        cores_busy, wait = report._window(marks, f"step{index}")
        step["server_cores"], step["server_wait"] = cores_busy, wait
        stored = float(step.get("stored_per_s", 0.0))
        step["server_cpu_ms_per_event"] = 1000.0 * cores_busy / stored if stored else math.nan
        start, end = marks.get(f"step{index}:start"), marks.get(f"step{index}:end")
        seconds = end[1] - start[1] if start and end else 0.0
        step["thread_us_per_event"] = threads.per_event_us(f"step{index}", stored * seconds)
        step["generator_us_per_event"] = (
            1e4 * float(step.get("client_cpu_pct", math.nan)) / stored if stored else math.nan
        )
        step["database_us_per_event"] = (
            database_cpu.per_event_us(f"step{index}", stored * seconds) if database_cpu else 0.0
        )
    passed = [s for s in steps if s.get("passed")]
    top = max(steps, key=lambda s: float(s.get("stored_per_s", 0.0)), default=None)
    out: dict[str, Any] = {
        "steps": len(steps),
        "peak_stored_per_s": float(top["stored_per_s"]) if top else math.nan,
    }
    if not passed:
        out["stored_per_s"] = 0.0
        return out
    best = max(passed, key=lambda s: float(s["stored_per_s"]))
    out.update(
        stored_per_s=float(best["stored_per_s"]),
        offered_rate=float(best["rate"]),
        ack_p50_ms=float(best["ack_p50_ms"]),
        ack_p99_ms=float(best["ack_p99_ms"]),
        server_cores=float(best["server_cores"]),
        server_wait=float(best["server_wait"]),
        server_cpu_ms_per_event=float(best["server_cpu_ms_per_event"]),
        thread_us_per_event=dict(best.get("thread_us_per_event", {})),
        client_cpu_pct=float(best["client_cpu_pct"]),
        generator_us_per_event=float(best["generator_us_per_event"]),
        database_us_per_event=float(best["database_us_per_event"]),
        stored_by_kind=dict(best.get("stored_by_kind", {})),
    )
    return out


def admission(marks: Mapping[str, report.Mark], clients: int) -> dict[str, float]:
    """How long the clients took to get in (a ticket, the handshake, the join), and the
    node's CPU per client meanwhile: what a node pays when a fleet's clients move to it."""
    start, end = marks.get("join:start"), marks.get("join:end")
    if start is None or end is None or clients <= 0:
        return {}
    seconds = end[1] - start[1]
    return {
        "join_seconds": seconds,
        "join_cpu_ms_per_client": 1e3 * (end[0] - start[0]) / clients,
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose stored_per_s is the median (its figures belong together)."""
    if not runs:
        return {}
    ordered = sorted(runs, key=lambda r: float(r.get("stored_per_s", 0.0)))
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs"] = len(runs)
    chosen["all_stored_per_s"] = [float(r.get("stored_per_s", 0.0)) for r in runs]
    return chosen


def machine_cores_needed(figures: Mapping[str, Any], rate: float) -> dict[str, float]:
    """The cores the whole benchmark would keep busy at `rate` events/s, at the best step's
    CPU per event: the node, the generator and the database server (which share this
    machine). Not a measured rate: what the target asks of the machine."""
    parts = {
        "node": float(figures.get("server_cpu_ms_per_event", math.nan)) / 1e3,
        "generator": float(figures.get("generator_us_per_event", math.nan)) / 1e6,
        "database": float(figures.get("database_us_per_event", 0.0)) / 1e6,
    }
    needed = {name: rate * seconds for name, seconds in parts.items()}
    needed["total"] = sum(needed.values())
    return needed


def one_core_bound(figures: Mapping[str, Any]) -> float:
    """Events/s one whole core would allow at the best step's CPU per event (what the
    server could reach if nothing but CPU held it back: not a measured rate)."""
    cpu_ms = float(figures.get("server_cpu_ms_per_event", math.nan))
    return 1000.0 / cpu_ms if cpu_ms > 0 else math.nan


def table(results: Mapping[str, dict[str, Any]]) -> str:
    """One line per target."""
    lines = [
        f"{'target':34} {'events/s':>9} {'offered':>8} {'ack p50':>8} {'ack p99':>8}"
        f" {'cores':>6} {'CPU/event':>10} {'1-core bound':>12}  runs (events/s)"
    ]
    for label, f in results.items():
        lines.append(
            f"{label:34} {f.get('stored_per_s', math.nan):9.0f}"
            f" {f.get('offered_rate', math.nan):8.0f} {f.get('ack_p50_ms', math.nan):6.1f}ms"
            f" {f.get('ack_p99_ms', math.nan):6.1f}ms {f.get('server_cores', math.nan):6.2f}"
            f" {f.get('server_cpu_ms_per_event', math.nan):8.3f}ms"
            f" {one_core_bound(f):12.0f}"
            f"  {', '.join(f'{v:.0f}' for v in f.get('all_stored_per_s', []))}"
        )
    return "\n".join(lines)


def thread_lines(results: Mapping[str, dict[str, Any]]) -> list[str]:
    """Where each target's CPU per event went at its best step, by thread."""
    lines = []
    for label, f in results.items():
        split = f.get("thread_us_per_event") or {}
        if not split:
            continue
        parts = sorted(split.items(), key=lambda kv: -(kv[1]["user"] + kv[1]["system"]))
        shown = ", ".join(
            f"{name} {t['user'] + t['system']:.0f} us ({t['system']:.0f} in the kernel)"
            for name, t in parts
            if t["user"] + t["system"] >= 1.0
        )
        lines.append(f"{label}: CPU per event by thread at {f['stored_per_s']:.0f}/s: {shown}")
    return lines


def verdicts(results: Mapping[str, dict[str, Any]]) -> list[str]:
    """The issue's target per engine, and this version against the current one."""
    lines = []
    for label, f in results.items():
        if label.startswith("eventlog/") and "react" in label:
            got = float(f.get("stored_per_s", 0.0))
            ok = got >= TARGET_EVENTS_PER_S
            lines.append(
                f"{label}: {got:.0f} stored+acked events/s at ack p99 < limit"
                f" (target >= {TARGET_EVENTS_PER_S:.0f}): {'met' if ok else 'NOT met'}"
            )
    lines.extend(thread_lines(results))
    for label, f in results.items():
        if "join_seconds" in f:
            lines.append(
                f"{label}: {f.get('connected')} clients got in (ticket, handshake, join) in"
                f" {f['join_seconds']:.0f} s, {f['join_cpu_ms_per_client']:.2f} ms of node CPU each"
            )
    machine = len(os.sched_getaffinity(0))
    for label, f in results.items():
        if not f.get("stored_per_s"):
            continue
        need = machine_cores_needed(f, TARGET_EVENTS_PER_S)
        lines.append(
            f"{label}: at {TARGET_EVENTS_PER_S:.0f}/s and its CPU per event this workload keeps"
            f" {need['total']:.2f} cores busy (node {need['node']:.2f}, generator"
            f" {need['generator']:.2f}, database server {need['database']:.2f});"
            f" this machine has {machine}"
        )
    bare = next((f for label, f in results.items() if label.startswith(CEILING)), None)
    if bare:
        top = float(bare.get("stored_per_s", 0.0))
        cpu = float(bare.get("server_cpu_ms_per_event", math.nan))
        lines.append(
            f"ceiling: the bare websockets peer (stores nothing) held {top:.0f} events/s"
            f" at {cpu * 1000:.0f} us of server CPU each"
        )
        for label, f in results.items():
            if label.startswith("eventlog/"):
                ratio = report.ratio(float(f.get("stored_per_s", 0.0)), top)
                lines.append(f"{label} / ceiling = {ratio:.2f}x")
    for engine in ENGINES:
        new = results.get(f"eventlog/{engine}/send")
        old = results.get(f"current/{engine}/send")
        if new and old:
            ratio = report.ratio(float(new["stored_per_s"]), float(old["stored_per_s"]))
            lines.append(f"{engine}, sends only: event log / current = {ratio:.2f}x")
    return lines


class Profiler:
    """py-spy on the node from the first measured step on, for a fixed time (optional)."""

    def __init__(self, pid: int, out: Path, seconds: float) -> None:
        self.pid, self.out, self.seconds = pid, out, seconds
        self.process: subprocess.Popen[bytes] | None = None

    def on_mark(self, label: str) -> None:
        """Start at the first step's window."""
        if self.seconds <= 0 or self.process is not None or not label.endswith(":start"):
            return
        spy = Path(sys.executable).parent / "py-spy"
        self.process = subprocess.Popen(
            [str(spy), "record", "--pid", str(self.pid), "--duration", str(int(self.seconds)),
             "--rate", "200", "--nonblocking", "--subprocesses", "--format", "raw",
             "--output", str(self.out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"      profiling the node for {self.seconds:.0f} s into {self.out}", flush=True)

    def stop(self) -> None:
        """Wait for py-spy to write its file (it stops by itself after its duration)."""
        if self.process is not None:
            try:
                self.process.wait(timeout=self.seconds + 60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def database(engine: str, work: Path) -> Iterator[str]:
    """A fresh database URL for `engine` (SQLite file in `work`, or a new PG database)."""
    if engine == "sqlite":
        work.mkdir(parents=True, exist_ok=True)
        path = work / "manyrooms.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield f"sqlite:///{path}"
        return
    with sync_postgres_database("confab_bench") as url:
        yield url


def prepare(target: Target, url: str, seed: bulkseed.Seed, work: Path) -> None:
    """Migrate with the target's own `confab`, then write the seed."""
    env = {
        **os.environ,
        "CONFAB_DATA_DIR": str(work / "migrate-data"),
        "CONFAB_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [str(target.executable), "migrate", "--database-url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise RuntimeError(f"confab migrate failed: {done.stdout[-500:]}{done.stderr[-1500:]}")
    if url.startswith("sqlite:///"):
        bulkseed.seed_sqlite(Path(url.removeprefix("sqlite:///")), seed)
    else:
        import asyncio

        asyncio.run(bulkseed.seed_postgres(url, seed))


def measure(target: Target, args: argparse.Namespace, seed: bulkseed.Seed) -> dict[str, Any]:
    """One ramp against a fresh node of `target` on a fresh database (the ceiling: a
    fresh bare `websockets` peer, which stores nothing)."""
    work = WORK / "manyrooms" / target.label.replace("/", "-")
    if target.version == CEILING:
        return ramp(target, args, seed, WebsocketsPeer(work, cores(args.no_pin)[0]), work)
    with database(target.engine, work / "db") as url:
        began = time.monotonic()
        prepare(target, url, seed, work)
        print(f"    migrated and seeded in {time.monotonic() - began:.1f} s", flush=True)
        server = Confab(work, cores(args.no_pin)[0])
        server.executable = target.executable
        server.extra_env = {"CONFAB_DATABASE_URL": url}
        return ramp(target, args, seed, server, work)


def ramp(
    target: Target, args: argparse.Namespace, seed: bulkseed.Seed, server: ChatServer, work: Path
) -> dict[str, Any]:
    """Start `server`, drive the generator's ramp against it, stop it; the figures (the
    profile, if asked for, goes to `work`)."""
    server_core, generator_core = cores(args.no_pin)
    spy: Profiler | None = None
    try:
        server.start(timeout=180)
        config = {
            **generator_config(args, seed, target),
            "port": server.port,
            "server_pid": server.pid,
            "server_core": server_core,
            "generator_core": generator_core,
        }
        if target.version == CEILING:  # the peer takes the user name as its token
            config.update(tokens=seed.users, dialect="websockets")
        spy = Profiler(server.pid, work / "profile.txt", args.profile)
        threads = ThreadSplit(server.pid)
        database_cpu = DatabaseCPU(target.engine)

        def on_mark(label: str) -> None:
            threads.on_mark(label)
            database_cpu.on_mark(label)
            spy.on_mark(label)

        run = drive(
            server,
            config,
            generator_core,
            args.phase_timeout,
            module="bench.chat.manyrooms_gen",
            on_mark=on_mark,
        )
    finally:
        if spy is not None:
            spy.stop()
        server.stop()
    assert run.result is not None
    result = run.result
    if result.get("errors"):
        print(f"      error frames: {result['errors']} e.g. {result['error_samples'][:2]}")
    out = figures(list(result.get("steps", [])), run.marks, threads, database_cpu)
    out.update(admission(run.marks, int(result.get("connected") or 0)))
    out["connected"] = result.get("connected")
    out["errors"] = result.get("errors", {})
    out["steps_raw"] = result.get("steps", [])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run every target `--repeat` times; print medians and the targets."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    load_start = os.getloadavg()
    fd_limit = raise_own_fd_limit()
    if fd_limit < args.users + 200:
        print(f"! RLIMIT_NOFILE {fd_limit} is below {args.users} connections + reserve")
    seed = bulkseed.plan(args.users, args.room_size)
    runs: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for index in range(args.repeat):
        order = targets(args)
        if index % 2:
            order.reverse()
        for target in order:
            print(f"\n== repeat {index + 1}/{args.repeat}: {target.label}", flush=True)
            try:
                runs.setdefault(target.label, []).append(measure(target, args, seed))
            except (RuntimeError, OSError) as err:
                note = f"{target.label} not measured: {str(err).splitlines()[0]}"
                print(f"    ! {note}")
                notes.append(note)
    results = {label: median_run(got) for label, got in runs.items()}
    print(f"\n== results (median of {args.repeat}; load at start {load_start})")
    print(table(results))
    print("\n== targets (issue 14, part 3)")
    print("\n".join(verdicts(results)))
    for note in notes:
        print(f"  - {note}")
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / f"manyrooms-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    saved = {
        "command": " ".join(["bench/chat/manyrooms.py", *(argv or sys.argv[1:])]),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "results": results,
        "runs": runs,
        "notes": notes,
        "median_note": "medians over repeats: "
        + json.dumps(
            {k: statistics.median(v["all_stored_per_s"]) for k, v in results.items() if v}
        ),
    }
    out.write_text(json.dumps(report.jsonable(saved), indent=1))
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
