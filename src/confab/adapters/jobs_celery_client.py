"""The caller's side of Celery, in one thread: sends jobs and collects their results.

Celery's client objects (the broker connection, the result consumer, the RPC reply queue,
which is named after the thread that uses it) are not thread-safe and their calls block,
so none of them is touched by the event loop: this thread owns them all. The loop submits
a job and gets a `concurrent.futures.Future` of the job's final Celery state; results
are pushed to the thread (Redis pub/sub, or the RPC reply queue), never polled per job.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from celery import Celery, states
from celery.backends.base import BaseKeyValueStoreBackend

from confab.adapters.jobs_celery_app import JOB_TASK

log = logging.getLogger("confab.jobs")

Meta = dict[str, Any]
#: How long the thread waits for results before looking at new submissions.
DRAIN_INTERVAL: Final = 0.005
#: Redis results: jobs still pending after this long are also looked up directly, once
#: per interval, in case their pushed result was missed (a pub/sub reconnect, say).
LOOKUP_INTERVAL: Final = 1.0


@dataclass(frozen=True, slots=True)
class JobMessage:
    """One job to send: its id, Confab task name, JSON arguments and limits."""

    job_id: str
    task: str
    args: list[Any]
    soft_limit: float | None
    hard_limit: float | None
    expires: float


_Command = Callable[[], None]


class CeleryClient:
    """Sends jobs on `queue` and resolves their futures with the final state (meta)."""

    def __init__(self, app: Celery, queue_name: str) -> None:
        self._app = app
        self._queue = queue_name
        self._inbox: queue.SimpleQueue[_Command | None] = queue.SimpleQueue()
        # Touched by the client thread only.
        self._pending: dict[str, concurrent.futures.Future[Meta]] = {}
        self._sent_at: dict[str, float] = {}
        self._ready: list[Meta] = []
        self._next_lookup = 0.0
        self._thread = threading.Thread(target=self._run, name="confab-celery", daemon=True)
        self._thread.start()

    def submit(self, message: JobMessage) -> concurrent.futures.Future[Meta]:
        """Send `message`; the future gets the job's final meta (status, result)."""
        future: concurrent.futures.Future[Meta] = concurrent.futures.Future()
        self._inbox.put(lambda: self._send(message, future))
        return future

    def abandon(self, job_id: str) -> None:
        """Stop waiting for `job_id` (the caller gave up on it)."""
        self._inbox.put(lambda: self._forget(job_id))

    def close(self) -> None:
        """Fail what is still pending and release the connections (blocks: use a thread)."""
        self._inbox.put(None)
        self._thread.join()

    # -- the client thread ------------------------------------------------------------

    def _run(self) -> None:
        backend = self._app.backend
        consumer = backend.result_consumer
        consumer.on_message = self._on_meta
        try:
            while self._step(backend, consumer):
                pass
        finally:
            self._shutdown()

    def _step(self, backend: Any, consumer: Any) -> bool:
        """One turn of the thread's loop; False once closed."""
        commands = self._take(block=not self._pending)
        try:
            for command in commands:
                if command is not None:
                    command()
            if self._pending:
                self._drain(consumer)
                self._look_up(backend)
            self._settle()
        except Exception:
            # This thread serves every call: a surprise here must not stop it.
            log.exception("celery client: unexpected error; going on")
            time.sleep(0.1)
        return None not in commands  # None: close(); what is pending fails in _shutdown

    def _take(self, *, block: bool) -> list[_Command | None]:
        commands: list[_Command | None] = []
        try:
            commands.append(self._inbox.get(block=block))
            while True:
                commands.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        return commands

    def _send(self, message: JobMessage, future: concurrent.futures.Future[Meta]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        self._pending[message.job_id] = future
        self._sent_at[message.job_id] = time.monotonic()
        try:
            self._app.send_task(
                JOB_TASK,
                args=[message.task, message.args],
                task_id=message.job_id,
                queue=self._queue,
                soft_time_limit=message.soft_limit,
                time_limit=message.hard_limit,
                expires=message.expires,
            )
            # Redis subscribed while sending; the RPC consumer starts on the first job.
            self._app.backend.result_consumer.consume_from(message.job_id)
        except Exception as exc:
            self._pending.pop(message.job_id, None)
            self._sent_at.pop(message.job_id, None)
            future.set_exception(exc)

    def _forget(self, job_id: str) -> None:
        self._sent_at.pop(job_id, None)
        if self._pending.pop(job_id, None) is None:
            return
        backend = self._app.backend
        if isinstance(backend, BaseKeyValueStoreBackend):
            # Redis: unsubscribe this job's channel (RPC has one queue for all jobs).
            with contextlib.suppress(Exception):
                backend.result_consumer.cancel_for(job_id)

    def _on_meta(self, meta: Meta) -> None:
        if meta.get("status") in states.READY_STATES:
            self._ready.append(meta)

    def _drain(self, consumer: Any) -> None:
        try:
            consumer.drain_events(timeout=DRAIN_INTERVAL)
        except TimeoutError:  # socket.timeout: nothing arrived
            pass
        except Exception:
            # The consumer reconnects by itself; do not spin while the broker is away.
            log.warning("celery result consumer failed; retrying", exc_info=True)
            time.sleep(0.5)

    def _look_up(self, backend: Any) -> None:
        now = time.monotonic()
        if now < self._next_lookup or not isinstance(backend, BaseKeyValueStoreBackend):
            return  # RPC results are messages in our own queue: they cannot be missed
        self._next_lookup = now + LOOKUP_INTERVAL
        for job_id, sent in list(self._sent_at.items()):
            if now - sent < LOOKUP_INTERVAL:
                continue
            try:
                meta = backend.get_task_meta(job_id)
            except Exception:
                log.warning("cannot look up job %s; retrying", job_id, exc_info=True)
                return
            self._on_meta({**meta, "task_id": job_id})

    def _settle(self) -> None:
        backend = self._app.backend
        ready, self._ready = self._ready, []
        for meta in ready:
            job_id = str(meta.get("task_id"))
            # Celery keeps results nobody waited for in a buffer: we took this one.
            buffered = getattr(backend, "_pending_messages", None)
            if buffered is not None:
                with contextlib.suppress(Exception):
                    buffered.take(job_id)
            future = self._pending.pop(job_id, None)
            self._sent_at.pop(job_id, None)
            if isinstance(backend, BaseKeyValueStoreBackend):
                with contextlib.suppress(Exception):
                    backend.forget(job_id)  # delete the stored result: it was delivered
            if future is not None:
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_result(meta)

    def _shutdown(self) -> None:
        for future in self._pending.values():
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(RuntimeError("the job queue was closed"))
        self._pending.clear()
        with contextlib.suppress(Exception):
            self._app.backend.result_consumer.stop()
        with contextlib.suppress(Exception):
            self._app.close()
