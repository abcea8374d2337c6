"""How many jobs wait in the Celery queue: sampled from the broker for /metrics.

A passive `queue_declare` answers with the queue's message count on every kombu transport
(a Redis list's length, a RabbitMQ queue's ready messages). It runs on a thread of its own
every few seconds: a scrape never waits for the broker, and a broker that is down leaves
the last value (and a log line), not a hung /metrics.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery

log = logging.getLogger("confab.jobs")
_NOT_FOUND = 404


class QueueDepthSampler:
    """Keeps `depth` (jobs waiting in `queue`) up to date every `interval` seconds."""

    def __init__(self, app: Celery, queue: str, *, interval: float = 2.0) -> None:
        self._app = app
        self._queue = queue
        self._interval = interval
        self._stop = threading.Event()
        self.depth = 0
        self._thread = threading.Thread(target=self._run, name="confab-queue-depth", daemon=True)
        self._thread.start()

    def sample(self) -> int:
        """Ask the broker now (blocking)."""
        with self._app.connection_for_read() as conn:
            channel: Any = conn.default_channel
            try:
                declared = channel.queue_declare(queue=self._queue, passive=True)
            except Exception as exc:  # amqp's ChannelError, on every transport
                # An empty Redis queue is no key at all; RabbitMQ's is declared by workers.
                if getattr(exc, "code", None) == _NOT_FOUND or "NOT_FOUND" in str(exc):
                    return 0
                raise
            return int(declared.message_count)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.depth = self.sample()
                failing = False
            except Exception as exc:  # the broker is down or the queue not declared yet
                if not failing:
                    log.warning("cannot read the job queue depth: %s", exc)
                failing = True
            self._stop.wait(self._interval)

    def close(self) -> None:
        """Stop sampling (waits for the thread)."""
        self._stop.set()
        self._thread.join(timeout=5)
