"""A compressed day of chat load against nodes that an emulated HPA adds and removes.

    python bench/autoscale/run.py                      # the day in 10 minutes
    python bench/autoscale/run.py --duration 120       # a smoke run

Real processes: a fresh PostgreSQL database, a private Redis bus, `confab serve --roles
chat` nodes each in a cgroup with a CPU quota (`--node-cpu`, a small machine), nginx in
front. Clients connect and leave following bench/autoscale/curve.py; a controller reads
each node's `confab_ws_connections` on /metrics every `--sync` seconds and applies the
Kubernetes HPA algorithm (bench/autoscale/hpa.py) with a per-node target; nodes leave by
SIGTERM (drain) after nginx stopped sending them clients. Reports node-seconds against a
fleet sized for the peak, p99 delivery latency, messages lost and duplicated, and plots the
day to bench/.work/autoscale/day-<stamp>.png. See bench/autoscale/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import random
import sys
import time
from collections.abc import Coroutine
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench.autoscale.curve import clients_at  # noqa: E402
from bench.autoscale.fleet import ElasticFleet, QuotaNode  # noqa: E402
from bench.autoscale.hpa import Hpa  # noqa: E402
from bench.autoscale.load import LoadClient, Tally  # noqa: E402
from bench.autoscale.plot import plot_day  # noqa: E402
from bench.procs import cleanup_on_sigterm  # noqa: E402
from bench.scale.chat import ChatBackends, chat_backends  # noqa: E402
from tests.deploy.nginx import running_nginx  # noqa: E402
from tests.e2e.tickets import issue_ticket  # noqa: E402

WORK = ROOT / "bench" / ".work" / "autoscale"
PASSWORD = "autoscale bench password"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The day's shape, the fleet's size, the HPA's settings."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="the day, in s (600)")
    parser.add_argument("--peak-clients", type=int, default=120, help="clients at the peak")
    parser.add_argument("--room-size", type=int, default=8, help="clients per room")
    parser.add_argument("--rate", type=float, default=0.3, help="messages/s per client")
    parser.add_argument("--node-cpu", type=float, default=0.25, help="CPU quota per node")
    parser.add_argument("--target", type=float, default=30.0, help="connections per node")
    parser.add_argument("--max-nodes", type=int, default=6)
    parser.add_argument("--sync", type=float, default=5.0, help="HPA sync period, s")
    parser.add_argument("--window", type=float, default=30.0, help="scale-down window, s")
    parser.add_argument(
        "--start-hour",
        type=float,
        default=12.0,
        help="the day starts at this hour (12: lunch, evening peak, night, morning rise)",
    )
    parser.add_argument("--grace", type=float, default=6.0, help="node drain grace, s")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.peak_clients < 1 or args.room_size < 1 or args.rate <= 0:
        parser.error("--duration, --peak-clients, --room-size and --rate must be positive")
    return args


async def seed(base: str, users: int, room_size: int) -> list[tuple[str, str]]:
    """Accounts and rooms through nginx: (token, room) for every client slot."""
    gate = asyncio.Semaphore(8)
    stamp = f"{int(time.time()) % 100000}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def one(i: int) -> tuple[str, str]:
            async with gate:
                body = {"username": f"as{stamp}u{i}", "password": PASSWORD}
                assert (await http.post("/api/accounts", json=body)).status_code == 201
                token = (await http.post("/api/tokens", json=body)).json()["token"]
                return str(token), f"as{stamp}r{i // room_size}"

        slots = list(await asyncio.gather(*(one(i) for i in range(users))))
        for token, room in slots:
            auth = {"Authorization": f"Bearer {token}"}
            made = await http.post("/api/rooms", json={"name": room}, headers=auth)
            if made.status_code != 201:
                joined = await http.post(f"/api/rooms/{room}/members", headers=auth)
                assert joined.status_code in (200, 201), joined.text
    return slots


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


class Day:
    """One run: the clients following the curve, the controller, the samples."""

    def __init__(
        self,
        args: argparse.Namespace,
        fleet: ElasticFleet,
        base_ws: str,
        http: httpx.AsyncClient,
    ) -> None:
        self.args = args
        self.fleet = fleet
        self.base_ws = base_ws
        self.http = http  # to nginx, for the clients' WebSocket tickets
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.hpa = Hpa(
            target=args.target, min_replicas=1, max_replicas=args.max_nodes, down_window=args.window
        )
        self.active: dict[int, LoadClient] = {}
        self.samples: list[dict[str, Any]] = []
        self.desired = 1
        self.started = 0.0
        self.background: set[asyncio.Task[None]] = set()  # nodes starting or leaving
        self.starting = 0
        self.max_nodes = 1

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def follow_curve(self, slots: list[tuple[str, str]]) -> None:
        """Connect and disconnect clients so their number follows the day's curve."""
        free = list(range(len(slots)))
        while (t := self.elapsed()) < self.args.duration:
            want = clients_at(
                t, self.args.duration, self.args.peak_clients, start_hour=self.args.start_hour
            )
            while len(self.active) < want and free:
                slot = free.pop(self.rng.randrange(len(free)))
                token, room = slots[slot]
                client = LoadClient(
                    self.base_ws,
                    functools.partial(issue_ticket, self.http, token),
                    room,
                    f"s{slot}-{int(t * 1000)}",
                    self.args.rate,
                    self.tally,
                    random.Random(self.rng.random()),
                )
                client.start()
                self.active[slot] = client
            while len(self.active) > want:
                slot = self.rng.choice(list(self.active))
                await self.active.pop(slot).stop()
                free.append(slot)
            await asyncio.sleep(0.5)

    async def control(self) -> None:
        """The HPA: every `--sync` s, read each node's connections and set the count.

        Like a Deployment's scale, the count is absolute: nodes still starting count as
        replicas (no second start for the same need), leaving ones do not.
        """
        while self.elapsed() < self.args.duration:
            await asyncio.sleep(self.args.sync)
            ready = [n for n in self.fleet.nodes if n.stopping_at is None]
            scraped = await asyncio.gather(*(asyncio.to_thread(n.scrape) for n in ready))
            per_pod = [m["confab_ws_connections"] for m in scraped if "confab_ws_connections" in m]
            replicas = len(ready) + self.starting
            self.desired = self.hpa.recommend(self.elapsed(), replicas, per_pod)
            for _ in range(self.desired - replicas):
                self._spawn(self._start_one())
            if self.desired < replicas:
                # Newest first, as a ReplicaSet picks the youngest pods to delete.
                extra = min(replicas - self.desired, len(ready))
                for node in sorted(ready, key=lambda n: n.started, reverse=True)[:extra]:
                    self._leave(node)
            self.max_nodes = max(self.max_nodes, self.desired)

    async def _start_one(self) -> None:
        self.starting += 1
        try:
            await asyncio.to_thread(self.fleet.start_node)
            await asyncio.to_thread(self.fleet.route)  # ready: nginx sends it clients
        except Exception as error:
            print(f"  a node failed to start: {error}", flush=True)
        finally:
            self.starting -= 1

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def _leave(self, node: QuotaNode) -> None:
        node.stopping_at = time.monotonic()  # out of the HPA's count at once
        self._spawn(asyncio.to_thread(self.fleet.stop_node, node, self.args.grace))

    async def sample(self, every: float = 5.0) -> None:
        """Every `every` s: clients, connections, nodes and p99 of the deliveries since."""
        seen = 0
        while self.elapsed() < self.args.duration:
            await asyncio.sleep(every)
            lat = self.tally.latencies
            window = [ms for _, ms in lat[seen:]]
            seen = len(lat)
            nodes = [n for n in self.fleet.nodes if n.stopping_at is None]
            conns = await asyncio.gather(*(asyncio.to_thread(n.scrape) for n in nodes))
            self.samples.append(
                {
                    "t": round(self.elapsed(), 1),
                    "clients": len(self.active),
                    "connections": sum(m.get("confab_ws_connections", 0) for m in conns),
                    "nodes": len(nodes),
                    "desired": self.desired,
                    "p99_ms": p99(window),
                    "loop_lag_sum": sum(
                        m.get("confab_event_loop_lag_seconds_sum", 0) for m in conns
                    ),
                }
            )
            s = self.samples[-1]
            print(
                f"  t={s['t']:6.1f}s clients {s['clients']:4} conns {s['connections']:5.0f} "
                f"nodes {s['nodes']} (desired {s['desired']}) p99 {s['p99_ms']:7.1f} ms "
                f"lost {self.tally.lost} dup {self.tally.duplicated}",
                flush=True,
            )

    async def run(self, slots: list[tuple[str, str]]) -> float:
        """The whole day; returns the node-seconds used."""
        self.started = time.monotonic()
        await asyncio.gather(self.follow_curve(slots), self.control(), self.sample())
        node_seconds = self.fleet.node_seconds + sum(
            time.monotonic() - n.started for n in self.fleet.nodes
        )
        # The day is over: every client still connected must catch up with its room.
        missing = await asyncio.gather(*(c.settle(30) for c in self.active.values()))
        self.tally.lost += sum(missing)
        await asyncio.gather(*(c.stop() for c in self.active.values()))
        await asyncio.gather(*self.background, return_exceptions=True)
        return node_seconds


def summary(args: argparse.Namespace, day: Day, node_seconds: float) -> dict[str, Any]:
    """The figures of the run."""
    peak_fleet = day.max_nodes * args.duration
    all_lat = [ms for _, ms in day.tally.latencies]
    return {
        "node_seconds": round(node_seconds, 1),
        "peak_nodes": day.max_nodes,
        "peak_fleet_node_seconds": round(peak_fleet, 1),
        "saving": round(1 - node_seconds / peak_fleet, 3) if peak_fleet else None,
        "p99_ms": round(p99(all_lat), 1),
        "deliveries": len(all_lat),
        "messages_acked": len(day.tally.acked),
        "lost": day.tally.lost,
        "duplicated": day.tally.duplicated,
        "reconnects": day.tally.reconnects,
    }


async def main_async(args: argparse.Namespace, backends: ChatBackends) -> dict[str, Any]:
    """The first node, nginx, the accounts; then the day."""
    with ExitStack() as stack:
        env = {
            **backends.env,
            "CONFAB_SHUTDOWN_GRACE_SECONDS": str(args.grace),
            "CONFAB_DATABASE_POOL_SIZE": "4",
        }
        nodes_dir = WORK / "nodes"
        nodes_dir.mkdir(exist_ok=True)
        fleet = ElasticFleet(nodes_dir, env, args.node_cpu)
        stack.callback(fleet.close)
        first = await asyncio.to_thread(fleet.start_node)
        nginx = stack.enter_context(
            running_nginx([first.address], ["127.0.0.1:9"], fail_timeout="5s")
        )
        fleet.nginx = nginx
        slots = await seed(nginx.url, args.peak_clients, args.room_size)
        print(f"seeded {len(slots)} accounts in {len(slots) // args.room_size + 1} rooms")
        async with httpx.AsyncClient(base_url=nginx.url, timeout=10) as http:
            day = Day(args, fleet, nginx.url.replace("http://", "ws://"), http)
            node_seconds = await day.run(slots)
        return {"summary": summary(args, day, node_seconds), "samples": day.samples}


def main(argv: list[str] | None = None) -> int:
    """Run the day, print the figures, write the JSON and the PNG."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    load_start = os.getloadavg()
    WORK.mkdir(parents=True, exist_ok=True)
    with chat_backends(WORK) as backends:  # a fresh database and Redis for the run
        result = asyncio.run(main_async(args, backends))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    result["args"] = vars(args)
    result["load_average"] = {"start": load_start, "end": os.getloadavg()}
    s = result["summary"]
    title = (
        f"{args.duration:.0f} s day, peak {args.peak_clients} clients, nodes of "
        f"{args.node_cpu} CPU, target {args.target:.0f} conns/node"
    )
    png = plot_day(result["samples"], WORK / f"day-{stamp}.png", title)
    (WORK / f"results-{stamp}.json").write_text(json.dumps(result, indent=1))
    print("\n== the day")
    print(
        f"  node-seconds {s['node_seconds']:.0f} against {s['peak_fleet_node_seconds']:.0f} for "
        f"{s['peak_nodes']} nodes all day ({100 * (s['saving'] or 0):.0f}% saved)"
    )
    print(f"  p99 delivery {s['p99_ms']:.1f} ms over {s['deliveries']} deliveries")
    print(
        f"  messages acked {s['messages_acked']}, lost {s['lost']}, duplicated "
        f"{s['duplicated']}; reconnects {s['reconnects']}"
    )
    print(f"  load average start {load_start}, end {os.getloadavg()}")
    print(f"  plot: {png.relative_to(ROOT)}")
    return 0 if s["lost"] == 0 and s["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
