"""Chat nodes that come and go behind nginx, each held to a CPU quota (a small machine).

A node starts inside its cgroup (the child joins it before `exec`, so start-up is held to
the quota too), is added to nginx once `/healthz` says ready, and leaves as Kubernetes
removes a pod: out of the load balancer first, then SIGTERM, which drains its WebSockets
over the grace period.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench.cgroups import CpuQuota
from bench.procs import free_port
from prometheus_client.parser import text_string_to_metric_families
from tests.deploy.nginx import NginxHandle


@dataclass
class QuotaNode:
    """One `confab serve --roles chat` process in a cgroup of its own."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    quota: CpuQuota
    started: float
    ready_at: float | None = None
    stopping_at: float | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def scrape(self) -> dict[str, float]:
        """The node's unlabelled samples on /metrics (empty if it does not answer)."""
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=2).text
        except httpx.HTTPError:
            return {}
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.labels
        }


@dataclass
class ElasticFleet:
    """The nodes of one run, nginx in front, and the node-seconds they used."""

    work: Path
    env: dict[str, str]
    node_cpu: float
    nginx: NginxHandle | None = None
    nodes: list[QuotaNode] = field(default_factory=list)
    node_seconds: float = 0.0
    _count: int = 0
    # Nodes start and leave on threads of their own: one nginx reload at a time.
    _reload: threading.Lock = field(default_factory=threading.Lock)

    def start_node(self, timeout: float = 90.0) -> QuotaNode:
        """A new node, started in its cgroup; returns once it reports ready."""
        name = f"chat{self._count}"
        self._count += 1
        quota = CpuQuota(f"autoscale-{name}", self.node_cpu)
        port = free_port()
        cmd = [
            sys.executable, "-m", "confab.cli", "serve", "--roles", "chat",
            "--host", "127.0.0.1", "--port", str(port), "--data", str(self.work / name),
        ]  # fmt: skip
        procs = quota.path / "cgroup.procs"
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps it
        try:
            process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
                # In the child, before exec: the whole node lives under the quota.
                preexec_fn=lambda: procs.write_text(str(os.getpid())),
            )
        finally:
            log.close()
        node = QuotaNode(name, port, process, quota, time.monotonic())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                quota.close()
                raise RuntimeError(f"{name} exited early, see {self.work / name}.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{node.url}/healthz", timeout=2).status_code == 200:
                    node.ready_at = time.monotonic()
                    self.nodes.append(node)
                    return node
            time.sleep(0.1)
        self._kill(node)
        raise RuntimeError(f"{name} not ready in {timeout}s")

    def route(self) -> None:
        """Point nginx at the nodes that are ready and not leaving."""
        assert self.nginx is not None
        with self._reload:
            live = [n.address for n in self.nodes if n.stopping_at is None]
            self.nginx.reload(live, ["127.0.0.1:9"])

    def stop_node(self, node: QuotaNode, grace: float) -> None:
        """Take `node` out of nginx, SIGTERM it and wait for its drain to end."""
        node.stopping_at = time.monotonic()
        self.route()
        node.process.terminate()
        try:
            node.process.wait(timeout=grace + 15)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
        self._forget(node)

    def _kill(self, node: QuotaNode) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, 9)
        node.process.wait()
        self._forget(node)

    def _forget(self, node: QuotaNode) -> None:
        self.node_seconds += time.monotonic() - node.started
        node.quota.close()
        if node in self.nodes:
            self.nodes.remove(node)

    def close(self) -> None:
        """Stop every node left (end of the run)."""
        for node in list(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                node.process.terminate()
        for node in list(self.nodes):
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._kill(node)
                continue
            self._forget(node)
