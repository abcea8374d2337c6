"""Real Celery workers for the tests: brokers, queues and worker processes.

Brokers are the machine's Redis (a database of its own, `CONFAB_TEST_JOBS_REDIS_URL`) and
RabbitMQ (`CONFAB_TEST_JOBS_AMQP_URL`). Every test session uses queue names of its own,
so parallel runs on the shared brokers never take each other's jobs; the queues are
deleted at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis
from kombu import Connection

from confab.adapters.blobs_fs import FileBlobStore
from confab.adapters.jobs_celery import CeleryJobQueue
from confab.adapters.jobs_celery_app import CeleryJobsConfig
from tests.conftest import skip_or_fail
from tests.contract.tasks import TEST_TASKS
from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
BROKERS = {
    # Database 13: kombu's bookkeeping of unacknowledged messages is per database, and
    # the short visibility timeout of these tests must not touch anyone else's jobs.
    "redis": os.environ.get("CONFAB_TEST_JOBS_REDIS_URL", "redis://127.0.0.1:6379/13"),
    "rabbitmq": os.environ.get("CONFAB_TEST_JOBS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
SESSION = uuid.uuid4().hex[:8]
#: Short, so a killed worker's jobs come back quickly on Redis (jobs here last < 1 s).
VISIBILITY_TIMEOUT = 2.0


def require_broker(kind: str) -> str:
    """The broker URL of `kind`, or skip (fail under CI) when it does not answer."""
    url = BROKERS[kind]
    parsed = urlparse(url)
    port = parsed.port or (6379 if kind == "redis" else 5672)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=1):
            pass
    except OSError:
        skip_or_fail(f"{kind} is not reachable at {parsed.hostname}:{port}")
    return url


@dataclass(frozen=True)
class CeleryTarget:
    """A broker, a queue of this session and a shared blob folder."""

    broker_url: str
    queue: str
    blobs_dir: Path
    worker_log: Path | None = None  # the log of the worker serving it, if any

    def worker_jobs(self) -> list[dict[str, Any]]:
        """The per-job lines of the worker's log."""
        return job_lines(self.worker_log) if self.worker_log else []

    def config(self, **overrides: Any) -> CeleryJobsConfig:
        base = CeleryJobsConfig(
            broker_url=self.broker_url,
            queue=self.queue,
            visibility_timeout=VISIBILITY_TIMEOUT,
            queue_wait=30.0,
        )
        return replace(base, **overrides)

    def job_queue(self, **overrides: Any) -> CeleryJobQueue:
        return CeleryJobQueue(
            TEST_TASKS, config=self.config(**overrides), blobs=FileBlobStore(self.blobs_dir)
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "CONFAB_JOBS_URL": self.broker_url,
            "CONFAB_JOBS_QUEUE": self.queue,
            "CONFAB_BLOBS_URL": self.blobs_dir.resolve().as_uri(),
            "CONFAB_JOBS_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT),
            "CONFAB_LOG_JSON": "true",
        }

    def leftover_blobs(self) -> list[str]:
        jobs = self.blobs_dir / "jobs"
        return sorted(p.name for p in jobs.iterdir()) if jobs.is_dir() else []


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a worker's log."""
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(raw)
            if isinstance(entry, dict):
                lines.append(entry)
    return lines


def job_lines(path: Path) -> list[dict[str, Any]]:
    """The one-per-job lines of a worker's log."""
    return [line for line in log_lines(path) if line.get("msg") == "job"]


def make_target(kind: str, name: str, blobs_dir: Path) -> CeleryTarget:
    """A target on broker `kind` with a queue name unique to this session."""
    url = require_broker(kind)
    blobs_dir.mkdir(parents=True, exist_ok=True)
    return CeleryTarget(url, f"confab-test-{SESSION}-{name}", blobs_dir)


def delete_queue(target: CeleryTarget) -> None:
    """Remove the session's queue from the broker (best effort)."""
    with contextlib.suppress(Exception), Connection(target.broker_url) as conn:
        conn.default_channel.queue_delete(target.queue)
    if target.broker_url.startswith("redis"):
        with contextlib.suppress(Exception):
            _forget_redis_queue(redis.Redis.from_url(target.broker_url), target.queue)


def _forget_redis_queue(client: redis.Redis, queue: str) -> None:
    """Drop what kombu keeps about `queue` besides the list itself.

    Its routing entries, and the messages a killed worker of the queue left unacknowledged:
    any other worker on the database would put those back in the queue some day.
    """
    client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    for tag, raw in client.hscan_iter("unacked"):
        with contextlib.suppress(ValueError, IndexError):
            if json.loads(raw)[2] == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    client.delete(queue)
    client.close()


class Worker:
    """A worker process (and its pool children, in a session of their own)."""

    def __init__(self, target: CeleryTarget, log_path: Path, argv: list[str] | None = None):
        self.target = target
        self.log_path = log_path
        self.argv = argv or [sys.executable, "-m", "tests.contract.celery_worker", "2"]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> Worker:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=env or self.target.env(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> Worker:
        def ready() -> bool:
            if any(line.get("msg") == "worker ready" for line in self.log_lines()):
                return True
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited: {self.log_path.read_text()[-2000:]}")
            return False

        try:
            wait_until(ready, timeout, "worker ready")
        except AssertionError as exc:
            if "worker ready" not in str(exc):
                raise
            raise AssertionError(
                f"the worker did not start: {self.log_path.read_text()[-2000:]}"
            ) from None
        return self

    def log_lines(self) -> list[dict[str, Any]]:
        return log_lines(self.log_path)

    def jobs(self) -> list[dict[str, Any]]:
        """The worker's per-job log lines."""
        return job_lines(self.log_path)

    def kill(self) -> None:
        """kill -9 the worker and its pool processes, like a lost machine."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM (warm shutdown) and wait; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Make sure nothing of the worker is left running (no warm shutdown: fast)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


@contextlib.contextmanager
def running_worker(target: CeleryTarget, log_path: Path) -> Iterator[Worker]:
    """A started, ready worker on `target`, stopped on exit."""
    worker = Worker(target, log_path)
    try:
        yield worker.start().wait_ready()
    finally:
        worker.stop()
