"""Confab's media service against thumbor 7.8, side by side on the same cores, in one run.

    python bench/media/run.py [--quick] [--duration S] [--concurrency N] [--rounds 1,2]
                              [--repeat N] [--servers confab,thumbor] [--stub-confab]

Round 1 (uncached, result caches off on both): 12 MP JPEG -> JPEG q85, 12 MP JPEG -> WebP,
2 MP PNG -> PNG, all fit-in/320x240. Round 2 (result caches on for both: Confab's blob cache,
thumbor's file result storage): a repeat-heavy Zipf mix over 20 images x 5 sizes. For each
server and scenario: req/s, p50/p99 latency, server CPU ms per thumbnail, peak RSS (and PSS)
of all its processes, errors, and the Confab/thumbor ratio; then the issue's targets, met or
not. Figures go to bench/.work/results-<timestamp>.json. See bench/media/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # Run as a script: make `bench.media` importable from the repository root.
    sys.path.insert(0, str(ROOT))

from bench.media import report, workload, wrkload  # noqa: E402
from bench.media.corpus import CorpusFile, build_corpus  # noqa: E402
from bench.media.equivalence import compare  # noqa: E402
from bench.media.procstats import MemorySampler, tree_cpu_seconds  # noqa: E402
from bench.media.servers import Confab, Floor, Server, Thumbor, ensure_thumbor  # noqa: E402
from bench.procs import cleanup_on_sigterm  # noqa: E402

WORK = ROOT / "bench" / ".work"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: 1 s warm-up, 5 s load")
    parser.add_argument("--duration", type=float, help="measured seconds per scenario (20)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per scenario (3)")
    parser.add_argument(
        "--concurrency", type=int, default=4 * cores, help="requests in flight (4 x cores)"
    )
    parser.add_argument("--rounds", default="1,2", help="1 (uncached), 2 (cached) or 1,2")
    parser.add_argument("--repeat", type=int, default=1, help="run everything N times; medians")
    parser.add_argument("--servers", default="confab,thumbor", help="which servers to measure")
    parser.add_argument(
        "--processes", type=int, default=cores, help="render processes of each server (cores)"
    )
    parser.add_argument(
        "--http-processes",
        type=int,
        default=1,
        help="Confab's HTTP processes (CONFAB_HTTP_PROCESSES, default 1)",
    )
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap per scenario")
    parser.add_argument(
        "--stub-confab",
        action="store_true",
        help="measure bench/media/stub_server.py (plain pyvips) in Confab's place: harness test",
    )
    parser.add_argument("--scenarios", help="comma-separated subset of the scenario keys")
    parser.add_argument("--report", type=Path, help="print the tables of a results JSON and exit")
    parser.add_argument(
        "--keepalive",
        action="store_true",
        help="keep-alive connections instead of one per request (shows thumbor's skew)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="cached round: also drive floor_server.py (bare uvicorn holding Confab's bodies)"
        " with wrk, the floor under a cache hit",
    )
    parser.add_argument(
        "--no-wrk",
        dest="wrk",
        action="store_false",
        help="skip the cached round's second measurement with wrk (run when wrk is installed)",
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (5.0 if args.quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    args.rounds = {int(r) for r in args.rounds.split(",") if r.strip()}
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    return args


def drive(
    server: Server,
    paths: list[str],
    args: argparse.Namespace,
    *,
    sequence: list[int] | None = None,
    unique_inflight: bool = False,
    hit_header: str | None = None,
) -> dict[str, float]:
    """Run the load generator (its own process) against `server`; return the figures."""
    config = {
        "host": "127.0.0.1",
        "port": server.port,
        "paths": paths,
        "sequence": sequence,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
        "max_requests": args.max_requests,
        "unique_inflight": unique_inflight,
        "hit_header": hit_header,
        "keepalive": args.keepalive,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.media.loadgen"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(config))
    process.stdin.close()
    cpu_start = cpu_end = math.nan
    result: dict[str, Any] | None = None
    with MemorySampler(server.pid) as sampler:
        for line in process.stdout:
            if line.startswith("MEASURE_START"):
                cpu_start = tree_cpu_seconds(server.pid)
            elif line.startswith("MEASURE_END"):
                cpu_end = tree_cpu_seconds(server.pid)
            elif line.startswith("{"):
                result = json.loads(line)
    if process.wait() != 0 or result is None:
        raise RuntimeError(f"load generator failed against {server.name}")
    figures = report.summarize(
        result, cpu_end - cpu_start, sampler.peak.rss_mib, sampler.peak.pss_mib
    )
    if result.get("errors"):
        print(f"      client-side errors: {result['errors']}")
    return figures


def sources_for(corpus: list[CorpusFile], kinds: tuple[str, ...]) -> list[str]:
    """Corpus file names of the given kinds, in corpus order."""
    return [item.name for item in corpus if item.kind in kinds]


def line(server: str, figures: dict[str, float], cached: bool) -> str:
    """One progress line for a finished (server, scenario)."""
    text = (
        f"    {server:8} {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:7.1f} ms"
        f"  p99 {figures['p99_ms']:7.1f} ms  CPU {figures['cpu_ms']:6.1f} ms/thumb"
        f"  ({figures['cpu_util']:.2f} cores)  RSS {figures['peak_rss_mib']:6.0f} MiB"
        f"  errors {figures['errors']:.0f}  client CPU {figures['client_cpu_pct']:.0f}%"
    )
    if cached:
        how = "" if figures.get("hit_source") else " (estimated)"
        text += f"  hits{how} {figures['hit_ratio']:.0f}% hit-p99 {figures['hit_p99_ms']:.2f} ms"
    return text


def start_servers(
    args: argparse.Namespace,
    corpus_dir: Path,
    corpus: list[CorpusFile],
    cached: bool,
    notes: list[str],
) -> dict[str, Server]:
    """Start the selected servers (same render processes); a failure is noted, not fatal."""
    started: dict[str, Server] = {}
    tag = "cached" if cached else "uncached"
    for name in args.servers:
        server: Server
        if name == "thumbor":
            server = Thumbor(
                WORK / f"run-{tag}", args.processes, WORK / "thumbor-venv", corpus_dir, cached
            )
        elif name == "confab":
            command = None
            if args.stub_confab:
                command = [sys.executable, "-m", "bench.media.stub_server"]
            server = Confab(
                WORK / f"run-{tag}",
                args.processes,
                cached,
                command=command,
                http_processes=args.http_processes,
            )
        else:
            raise SystemExit(f"unknown server {name!r}")
        try:
            if isinstance(server, Confab) and args.stub_confab:
                os.environ.setdefault("PYTHONPATH", str(ROOT))
            server.start()
            server.prepare(corpus_dir, [item.name for item in corpus if item.kind != "gif"])
            started[name] = server
        except (RuntimeError, OSError) as err:
            server.stop()
            note = f"{name} ({tag}) not measured: {str(err).splitlines()[0]}"
            print(f"  ! {note}\n{server.log_tail(8)}")
            notes.append(note)
    return started


def run_round(
    servers: dict[str, Server],
    scenarios: list[workload.Scenario],
    corpus: list[CorpusFile],
    args: argparse.Namespace,
    order: list[str],
    equivalence: dict[str, Any],
) -> dict[str, dict[str, dict[str, float]]]:
    """Every scenario on every started server, one server at a time; figures per scenario."""
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for scenario in scenarios:
        print(f"  {scenario.title}")
        catalogue = workload.pairs(sources_for(corpus, scenario.kinds), scenario.options)
        sequence = None
        if scenario.cached:
            sequence = workload.zipf_sequence(len(catalogue), 200_000)
        for name in order:
            server = servers.get(name)
            if server is None:
                continue
            paths = [server.path(option, source) for option, source in catalogue]
            hit_header = "X-Cache" if name == "confab" else None
            figures.setdefault(scenario.key, {})[name] = result = drive(
                server,
                paths,
                args,
                sequence=sequence,
                # Uncached: never two identical requests in flight, so Confab's single-flight
                # cannot merge renders thumbor has to do twice.
                unique_inflight=not scenario.cached,
                hit_header=hit_header,
            )
            print(line(name, result, scenario.cached))
            if scenario.cached:
                # Under saturating load a hit waits behind the other requests in flight
                # (Little's law), so hit latency is also probed with one request at a time.
                serial = argparse.Namespace(**{**vars(args), "concurrency": 1, "warmup": 0.0})
                serial.duration = min(args.duration, 5.0)
                probe = drive(server, paths, serial, sequence=sequence, hit_header=hit_header)
                for metric in ("hit_p50_ms", "hit_p99_ms", "hit_ratio", "p99_ms"):
                    result[f"serial_{metric}"] = probe[metric]
                print(
                    f"    {name:8} one at a time: hits {probe['hit_ratio']:.0f}%"
                    f"  hit-p50 {probe['hit_p50_ms']:.2f} ms  hit-p99 {probe['hit_p99_ms']:.2f} ms"
                )
                if args.wrk and wrkload.available():
                    result.update(by_wrk(name, server, paths, sequence, args))
                    if name == "confab" and args.floor:
                        floor = Floor(server.work, args.http_processes)
                        floor.fill(server.base, paths)
                        try:
                            floor.start()
                            figures[scenario.key]["floor"] = by_wrk(
                                "floor", floor, paths, sequence, args
                            )
                        finally:
                            floor.stop()
        if "confab" in servers and "thumbor" in servers:
            option, source = catalogue[0]
            check = compare(
                servers["confab"].base + servers["confab"].path(option, source),
                servers["thumbor"].base + servers["thumbor"].path(option, source),
                scenario.output,
            )
            equivalence[scenario.key] = check
            print(f"    outputs: {describe_check(check)}")
    return figures


def by_wrk(
    name: str,
    server: Server,
    paths: list[str],
    sequence: list[int] | None,
    args: argparse.Namespace,
) -> dict[str, float]:
    """Drive `server` with wrk over `paths` in `sequence` order; its figures and the
    server's CPU per request, printed."""
    cpu_start = tree_cpu_seconds(server.pid)
    got = wrkload.drive(
        server.base, paths, sequence, concurrency=args.concurrency, duration=args.duration
    )
    served = max(1.0, got["wrk_requests"] - got["wrk_errors"])
    server_cpu = tree_cpu_seconds(server.pid) - cpu_start
    got["wrk_server_cpu_us"] = server_cpu * 1e6 / served
    seconds = got["wrk_seconds"]
    got["wrk_server_cores"] = server_cpu / seconds if seconds else math.nan
    # Both sides' CPU per request: on 2 cores they share, so together they bound the rate
    # (2 cores / (server + wrk) per request).
    print(
        f"    {name:8} driven by wrk: {got['wrk_rps']:.1f} req/s"
        f"  p99 {got['wrk_p99_ms']:.2f} ms  errors {got['wrk_errors']:.0f}"
        f"  server {got['wrk_server_cpu_us']:.0f} us/req ({got['wrk_server_cores']:.2f} cores)"
        f"  wrk {got['wrk_client_cpu_us']:.0f} us/req ({got['wrk_cpu_cores']:.2f} cores)"
    )
    return got


def describe_check(check: dict[str, Any]) -> str:
    """One line about the equivalence of the two sample outputs."""
    if "confab" not in check:
        statuses = f"confab {check['confab_status']}, thumbor {check['thumbor_status']}"
        return f"not compared (status {statuses})"
    c, t = check["confab"], check["thumbor"]
    return (
        f"{'equivalent' if check['equivalent'] else 'NOT equivalent'}: "
        f"confab {c.get('format')} {c.get('width')}x{c.get('height')} {c['bytes']} B"
        f"{' progressive' if c.get('progressive') else ''}, "
        f"thumbor {t.get('format')} {t.get('width')}x{t.get('height')} {t['bytes']} B"
        f"{' progressive' if t.get('progressive') else ''}, PSNR between them "
        f"{check['psnr_db']:.1f} dB"
    )


def one_repeat(
    index: int,
    args: argparse.Namespace,
    corpus_dir: Path,
    corpus: list[CorpusFile],
    notes: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One full pass over the selected rounds; (figures, equivalence checks)."""
    # Alternate which server goes first, so warm caches or thermal drift favour neither.
    order = list(args.servers) if index % 2 == 0 else list(reversed(args.servers))
    figures: dict[str, Any] = {}
    equivalence: dict[str, Any] = {}
    selected = set(args.scenarios.split(",")) if args.scenarios else None
    rounds = [
        (1, False, list(workload.UNCACHED)),
        (2, True, [workload.CACHED]),
    ]
    for number, cached, scenarios in rounds:
        if number not in args.rounds:
            continue
        scenarios = [s for s in scenarios if selected is None or s.key in selected]
        if not scenarios:
            continue
        print(
            f"\n== repeat {index + 1}/{args.repeat}, round {number} "
            f"({'result caches on' if cached else 'result caches off'}), order {order}"
        )
        servers = start_servers(args, corpus_dir, corpus, cached, notes)
        try:
            figures.update(run_round(servers, scenarios, corpus, args, order, equivalence))
        finally:
            for server in servers.values():
                server.stop()
    return figures, equivalence


def environment(args: argparse.Namespace, thumbor_version: str | None) -> dict[str, Any]:
    """What the run measured on."""
    import pyvips

    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "thumbor": thumbor_version,
        "processes_per_server": args.processes,
        "confab_http_processes": args.http_processes,
        "concurrency": args.concurrency,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "repeat": args.repeat,
        "stub_confab": args.stub_confab,
        "keepalive": args.keepalive,
    }


def reprint(path: Path) -> int:
    """Print the final table and targets of a saved results JSON."""
    saved = json.loads(path.read_text())
    titles = {s.key: s.title for s in (*workload.UNCACHED, workload.CACHED)}
    print(f"{path.name}: {saved.get('command')}\n{json.dumps(saved.get('environment'))}")
    print(report.table(saved["median"], titles))
    print(report.verdict_lines(report.verdicts(saved["median"])))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (targets are reported, not enforced)."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    if args.report is not None:
        return reprint(args.report)
    notes: list[str] = [
        f"both servers get the same {args.processes} render processes on the same "
        f"{len(os.sched_getaffinity(0))} cores, measured one at a time (the idle one waits); "
        "no CPU pinning: the load generator shares those cores with the server under test "
        "(its CPU use is printed per scenario)",
        (
            f"{args.concurrency} keep-alive connections (thumbor's processes may not all work)"
            if args.keepalive
            else "one new TCP connection per request (Connection: close), so thumbor's "
            f"pre-forked processes all take work; {args.concurrency} requests in flight"
        ),
    ]
    WORK.mkdir(parents=True, exist_ok=True)
    print("corpus: building or reusing bench/.work/corpus ...", flush=True)
    corpus_dir = WORK / "corpus"
    corpus = build_corpus(corpus_dir)
    print(f"corpus: {len(corpus)} files, {sum(f.bytes for f in corpus) / 1e6:.0f} MB")
    thumbor_version = None
    if "thumbor" in args.servers:
        thumbor_version = ensure_thumbor(WORK / "thumbor-venv")
        print(f"thumbor {thumbor_version} in bench/.work/thumbor-venv")
    if args.stub_confab:
        notes.append("Confab's place taken by the plain pyvips stub server (harness test)")
    runs: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for index in range(args.repeat):
        figures, equivalence = one_repeat(index, args, corpus_dir, corpus, notes)
        runs.append(figures)
        checks.append(equivalence)
    final = report.medians(runs)
    titles = {s.key: s.title for s in (*workload.UNCACHED, workload.CACHED)}
    print(
        f"\n== results ({'median of ' + str(args.repeat) + ' runs' if args.repeat > 1 else '1 run'}"
        f"; ratio = confab / thumbor)"
    )
    print(report.table(final, titles))
    if checks and checks[-1]:
        print("\n== output equivalence (one sample per scenario, last run)")
        for key, check in checks[-1].items():
            print(f"  {titles.get(key, key)}: {describe_check(check)}")
    verdicts = report.verdicts(final)
    print("\n== targets (issue 2, part 6)")
    print(report.verdict_lines(verdicts))
    floor = report.floor_lines(final)
    if floor:
        print("\n== the floor under a cache hit (bare uvicorn holding the same bodies)")
        print(floor)
    print("\n== notes")
    for note in dict.fromkeys(notes):
        print(f"  - {note}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = WORK / f"results-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
                "environment": environment(args, thumbor_version),
                "corpus": [vars(item) for item in corpus],
                "runs": runs,
                "equivalence": checks,
                "median": final,
                "targets": [vars(v) for v in verdicts],
                "notes": list(dict.fromkeys(notes)),
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
