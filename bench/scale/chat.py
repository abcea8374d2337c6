"""The chat half: deliveries/s through nginx with one chat node, then with two.

Every node is `confab serve --roles chat` on one fresh PostgreSQL database and a private
Redis (CONFAB_BUS_URL), behind nginx rendered from deploy/nginx.conf.template. The clients
(bench/chat's load generator, its own process) always connect to nginx; only the number of
nodes behind it changes. The figure is bench/chat's ramp: the best send rate whose p99 stays
under the limit, as deliveries/s (messages x recipients).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from bench.cgroups import CpuQuota
from bench.chat.servers import seed_confab_async
from bench.media.servers import Server
from bench.procs import (
    CHEAP_PASSWORD_HASHING,
    MANY_USERS_ONE_ADDRESS,
    RedisServer,
    confab_command,
    sync_postgres_database,
)
from bench.scale.cores import Allocation, affinity, pin_tree
from bench.scale.cpu import Meter, PostgresBackends, Snapshot, machine_share, usage
from tests.deploy.nginx import running_nginx

ROOT = Path(__file__).resolve().parents[2]
ROOM = "bench"

NODE_ENV = {
    # Cheap hashing for the bench's own sign-ups (the measured part signs nobody in).
    **CHEAP_PASSWORD_HASHING,
    **MANY_USERS_ONE_ADDRESS,
    "CONFAB_LOG_LEVEL": "WARNING",
}


class ChatNode(Server):
    """`confab serve --roles chat` on its own port and data dir."""

    def __init__(self, work: Path, name: str, env: dict[str, str]) -> None:
        self.name = name
        super().__init__(work, processes=1)
        self.env = env

    def command(self) -> tuple[list[str], dict[str, str]]:
        cmd = [
            sys.executable, "-m", "confab.cli", "serve", "--roles", "chat",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--data", str(self.work / f"{self.name}-data"),
        ]  # fmt: skip
        return cmd, {**os.environ, **self.env}

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class ChatBackends:
    """What both chat configurations share: the database, Redis, the seeded tokens."""

    work: Path
    env: dict[str, str]
    database: str
    redis: RedisServer
    tokens: list[str] = field(default_factory=list)


@contextmanager
def chat_backends(work: Path) -> Iterator[ChatBackends]:
    """A fresh PostgreSQL database (migrated) and a private Redis; removed afterwards."""
    with ExitStack() as stack:
        url = stack.enter_context(sync_postgres_database("confab_scale"))
        redis = RedisServer(work / "redis-chat")
        stack.callback(redis.stop)
        redis.start()
        env = {
            **NODE_ENV,
            "CONFAB_DATABASE_URL": url.replace("postgresql://", "postgresql+asyncpg://"),
            "CONFAB_BUS_URL": f"{redis.url}/0",
        }
        confab_command("migrate", env=env)
        yield ChatBackends(work, env, urlsplit(url).path.lstrip("/"), redis)


@dataclass
class ChatFleet:
    """Running nodes and nginx for one configuration."""

    nodes: list[ChatNode]
    nginx_port: int
    nginx_pid: int
    quotas: dict[str, CpuQuota] = field(default_factory=dict)  # by node name


@contextmanager
def chat_fleet(
    backends: ChatBackends,
    count: int,
    alloc: Allocation,
    node_cpu: float | None = None,
    node_weight: float = 1.0,
) -> Iterator[ChatFleet]:
    """`count` chat nodes behind nginx, each pinned as `alloc` says, or each in a cgroup
    with a quota of `node_cpu` cores weighing `node_weight` processes; stopped at the end."""
    with ExitStack() as stack:
        nodes = []
        quotas: dict[str, CpuQuota] = {}
        for index in range(count):
            node = ChatNode(backends.work / f"nodes{count}", f"chat{index}", backends.env)
            if node_cpu is not None:
                quota = CpuQuota(f"chat{index}", node_cpu, weight=node_weight)
                stack.callback(quota.close)  # after the node stopped (callbacks run LIFO)
            stack.callback(node.stop)
            node.start()
            if node_cpu is not None:
                quota.add_tree(node.pid)
                quotas[node.name] = quota
            pin_tree(node.pid, alloc.of(node.name))
            nodes.append(node)
        nginx_cores = alloc.of("nginx")
        nginx = stack.enter_context(
            running_nginx(
                [f"127.0.0.1:{node.port}" for node in nodes],
                ["127.0.0.1:9"],  # no media node: the media routes are not measured here
                # One worker per core it may use: unpinned (--node-cpu, --no-pin), a single
                # worker would be one process proxying every frame of every node.
                worker_processes=str(len(nginx_cores)) if nginx_cores else "auto",
            )
        )
        pin_tree(nginx.process.pid, nginx_cores)
        yield ChatFleet(nodes, nginx.port, nginx.process.pid, quotas)


def seed(backends: ChatBackends, fleet: ChatFleet, users: int) -> None:
    """Accounts, tokens, the room and its members, through nginx and the HTTP API."""
    began = time.monotonic()
    base = f"http://127.0.0.1:{fleet.nginx_port}"
    backends.tokens = asyncio.run(seed_confab_async(base, users, ROOM))
    (backends.work / "tokens.json").write_text(json.dumps(backends.tokens))
    print(f"  seeded {users} accounts through nginx in {time.monotonic() - began:.0f} s")


@dataclass
class ChatSettings:
    """The ramp of bench/chat's load generator, and how many clients."""

    clients: int
    p99_limit_ms: float
    step_duration: float
    quick: bool
    timeout: float = 900.0

    def generator_config(self, port: int, tokens: list[str]) -> dict[str, Any]:
        """bench/chat/loadgen.py's Config for the traffic ramp only (no latency run)."""
        return {
            "host": "127.0.0.1",
            "port": port,
            "dialect": "confab",
            "tokens": tokens,
            "room": ROOM,
            "phase": "traffic",
            "clients": self.clients,
            "ramp": True,
            "latency": False,
            "p99_limit_ms": self.p99_limit_ms,
            "ramp_start": 5.0,
            "ramp_factor": 1.5,
            "ramp_max": 400.0,
            "ramp_refinements": 2 if self.quick else 3,
            "step_warmup": 0.5 if self.quick else 1.0,
            "step_duration": self.step_duration,
            "step_drain": 2.0 if self.quick else 3.0,
            # A client whose node closes it (a drain's 1012, a reset) comes back through
            # nginx, as the browser's does, instead of leaving the room for the rest.
            "reconnect": True,
        }


def drive(
    config: dict[str, Any],
    meter: Meter,
    pg: PostgresBackends,
    cores: list[int] | None,
    timeout: float,
) -> tuple[dict[str, Any], dict[str, tuple[float, Snapshot]]]:
    """Run bench/chat's load generator; (its result, CPU snapshot at each MARK)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.chat.loadgen"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pin_tree(process.pid, cores)
    meter.roots["loadgen"] = process.pid
    pg.refresh()
    marks: dict[str, tuple[float, Snapshot]] = {}
    result: dict[str, Any] | None = None
    assert process.stdin is not None and process.stdout is not None
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        process.stdin.write(json.dumps(config) + "\n")
        process.stdin.flush()
        for line in process.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "MARK":
                # At once: a late snapshot shifts the window (the backends' list is
                # refreshed after a window closes, not while one opens).
                marks[rest] = (time.monotonic(), meter.read())
                if rest.endswith(":end"):
                    pg.refresh()
            elif kind == "LOG":
                print(f"      {rest}", flush=True)
            elif kind == "SAMPLE":  # not used by the traffic phase; answer all the same
                process.stdin.write("ok\n")
                process.stdin.flush()
            elif kind == "RESULT":
                result = json.loads(rest)
    finally:
        watchdog.cancel()
        with contextlib.suppress(OSError):
            process.stdin.close()
        if process.poll() is None:
            process.kill()
        process.wait()
    if result is None:
        raise RuntimeError(f"the load generator ended without a result (exit {process.returncode})")
    return result, marks


def best_step(steps: list[dict[str, Any]]) -> int | None:
    """Index of the passing step with the most deliveries/s (None: none passed)."""
    passing = [i for i, step in enumerate(steps) if step.get("passed")]
    if not passing:
        return None
    return max(passing, key=lambda i: float(steps[i]["deliveries_per_s"]))


def measure_chat(
    backends: ChatBackends,
    count: int,
    alloc: Allocation,
    settings: ChatSettings,
    node_cpu: float | None = None,
    node_weight: float = 1.0,
) -> dict[str, Any]:
    """One configuration: `count` nodes; the ramp's best step, its CPU per process."""
    with chat_fleet(backends, count, alloc, node_cpu, node_weight) as fleet:
        if not backends.tokens:
            seed(backends, fleet, settings.clients)
        pg = PostgresBackends(backends.database)
        roots = {node.name: node.pid for node in fleet.nodes}
        roots.update({"nginx": fleet.nginx_pid, "redis": backends.redis.pid})
        throttled = {f"{name}~throttled": q.throttled_seconds for name, q in fleet.quotas.items()}
        meter = Meter(roots, {"postgres": pg, **throttled})
        pinned = {name: affinity(pid) for name, pid in roots.items()}
        config = settings.generator_config(fleet.nginx_port, backends.tokens)
        result, marks = drive(config, meter, pg, alloc.of("loadgen"), settings.timeout)
        pinned["loadgen"] = alloc.of("loadgen") or []
    steps = result.get("steps", [])
    best = best_step(steps)
    out: dict[str, Any] = {
        "nodes": count,
        "connected": result.get("connected"),
        "steps": steps,
        "pinned": pinned,
        "deliveries_per_s": 0.0,
        "rate": 0.0,
        "p99_ms": float("nan"),
        "cpu": {},
    }
    if best is None:
        return out
    step = steps[best]
    start, end = marks.get(f"step{best}:start"), marks.get(f"step{best}:end")
    if start and end:
        out["cpu"] = usage(start[1], end[1], end[0] - start[0])
        out["machine"] = machine_share(out["cpu"], len(os.sched_getaffinity(0)))
    delivered = float(step["deliveries_per_s"]) * float(step["duration"])
    cpu_s = {k: v["cpu_s"] for k, v in out["cpu"].items() if "~" not in k}  # CPU, not waits
    total_cpu = sum(v for k, v in cpu_s.items() if k.startswith("chat"))
    out.update(
        {
            "deliveries_per_s": float(step["deliveries_per_s"]),
            "rate": float(step["rate"]),
            "p99_ms": float(step["p99_ms"]),
            "node_cpu_us_per_delivery": 1e6 * total_cpu / delivered if delivered else None,
            # Nodes + nginx + Redis + PostgreSQL: the fleet's cost, the generator left out.
            "fleet_cpu_us_per_delivery": (
                1e6 * sum(v for k, v in cpu_s.items() if k != "loadgen") / delivered
                if delivered
                else None
            ),
        }
    )
    return out
