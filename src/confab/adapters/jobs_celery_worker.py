"""The worker side of the Celery job queue: the `confab.job` task and `run_worker`.

Each job: resolve the Confab task in this worker's table, fetch its input blobs from the
shared blob store, decode the arguments by the task's type hints, run it, put result bytes
in the blob store (under keys derived from the job id, so a redelivered job overwrites the
same keys), and return JSON: `{"ok": result}` or `{"error": {type, reason, detail}}`.
Expected failures (`ConfabError`) come back as data, with their class and reason, and
nothing is retried; transient ones (blob store I/O, an upstream timeout or failure inside
the task) are retried with exponential backoff, then reported like the others.

A job whose process dies is put back on the queue (`reject_on_worker_lost`); a job that
kills its process every time (a decoder crash) would come back forever, so each job
counts its unfinished runs in the blob store and is refused with `worker_crashed` after
`MAX_RUNS` of them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import re
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from billiard.exceptions import SoftTimeLimitExceeded
from celery import Celery, Task, signals

from confab.adapters.jobs_celery_app import (
    JOB_TASK,
    CeleryJobsConfig,
    job_keys,
    make_celery_app,
    output_key,
)
from confab.adapters.jobs_celery_codec import (
    TaskSignature,
    blob_keys,
    decode_args,
    encode,
    task_signature,
)
from confab.adapters.worker_memory import MemoryPolicy, MemoryWatch
from confab.core.errors import (
    ConfabError,
    InvalidInput,
    Unavailable,
    Unprocessable,
    UpstreamFailed,
    UpstreamTimeout,
)
from confab.core.logging import log_event
from confab.core.ports import BlobStore
from confab.core.tasks import resolve_task

log = logging.getLogger("confab.worker")

#: Runs of one job that may end with their process dead before the job is refused.
MAX_RUNS: Final = 3
#: Cap on the delay between two tries of a transiently failing job.
MAX_BACKOFF_SECONDS: Final = 10.0

T = TypeVar("T")


@dataclass
class WorkerSetup:
    """What a worker runs: its task table, the shared blob store and a per-process init."""

    tasks: Mapping[str, str]
    blobs: BlobStore
    initializer: str | None = None
    initargs: tuple[Any, ...] = ()
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    signatures: dict[str, tuple[Callable[..., Any], TaskSignature]] = field(default_factory=dict)

    def resolve(self, name: str) -> tuple[Callable[..., Any], TaskSignature]:
        """The function and hints of task `name` (NotFound when not in the table)."""
        found = self.signatures.get(name)
        if found is None:
            function = resolve_task(self.tasks, name)
            found = self.signatures[name] = (function, task_signature(function))
        return found


class _Process:
    """This process's state: set up once per worker process (after the fork)."""

    setup: WorkerSetup | None = None
    pid: int | None = None
    loop: asyncio.AbstractEventLoop | None = None
    watch: MemoryWatch | None = None


def _ready() -> WorkerSetup:
    setup = _Process.setup
    if setup is None:
        raise RuntimeError("the job task runs only in a worker started by run_worker")
    if _Process.pid != os.getpid():
        _Process.pid = os.getpid()
        _Process.loop = None
        if setup.initializer:
            module_name, _, attr = setup.initializer.partition(":")
            getattr(importlib.import_module(module_name), attr)(*setup.initargs)
        _Process.watch = MemoryWatch(setup.memory)
        _Process.watch.start()  # the heap cap, and the idle size freed heap is trimmed to
    return setup


def _on_process_init(**_: Any) -> None:
    _ready()  # prefork children: the media init runs at start, not in the first job


def _blob_io(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a blob store call on this process's own event loop."""
    if _Process.loop is None:
        _Process.loop = asyncio.new_event_loop()
    try:
        return _Process.loop.run_until_complete(coroutine)
    except BaseException:
        # A time limit may interrupt the loop mid-step: start the next job on a fresh one.
        loop, _Process.loop = _Process.loop, None
        if loop is not None and not loop.is_running():
            loop.close()
        raise


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return False
    if isinstance(exc, UpstreamTimeout):
        return exc.reason != "job_timeout"
    return isinstance(exc, OSError | UpstreamFailed | Unavailable)


def _error(exc: ConfabError) -> dict[str, Any]:
    return {"error": {"type": type(exc).__name__, "reason": exc.reason, "detail": exc.detail}}


def _count_run(blobs: BlobStore, job_id: str) -> int:
    """This run's number among the job's unfinished runs (1 unless a process died)."""
    _, runs_key = job_keys(job_id)
    raw = _blob_io(blobs.get(runs_key))
    runs = int(raw) if raw and raw.isdigit() else 0
    if runs >= MAX_RUNS:
        raise Unprocessable(f"the job's process died {runs} times; refused", code="worker_crashed")
    _blob_io(blobs.put(runs_key, str(runs + 1).encode()))
    return runs + 1


def _execute(setup: WorkerSetup, job_id: str, name: str, args: Any) -> dict[str, Any]:
    function, signature = setup.resolve(name)
    inputs: dict[str, bytes] = {}
    for key in set(blob_keys(args)):
        data = _blob_io(setup.blobs.get(key))
        if data is None:
            # The caller gave up and cleaned up: nobody waits for this result.
            raise Unprocessable(f"input {key} of the job is gone", code="job_input_missing")
        inputs[key] = data
    try:
        decoded = decode_args(signature, args, inputs)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"bad arguments for {name}: {exc}", code="bad_job_arguments") from None
    result = function(*decoded)
    outputs: dict[str, bytes] = {}

    def stash(data: bytes) -> str:
        key = output_key(job_id, len(outputs))
        outputs[key] = data
        return key

    encoded = encode(result, signature.result, stash)
    for key, data in outputs.items():
        _blob_io(setup.blobs.put(key, data))
    return {"ok": encoded}


def run_job(task: Task[Any, Any], name: str, args: Any) -> dict[str, Any]:
    """The body of the `confab.job` Celery task (runs in a worker process)."""
    setup = _ready()
    job_id = str(task.request.id)
    started = time.perf_counter()
    outcome, run = "ok", 0
    try:
        run = _count_run(setup.blobs, job_id)
        reply = _execute(setup, job_id, name, args)
    except SoftTimeLimitExceeded:
        outcome = "timeout"
        reply = _error(UpstreamTimeout(f"task {name} ran past its time limit", code="job_timeout"))
    except Exception as exc:
        if _is_transient(exc) and task.request.retries < (task.max_retries or 0):
            outcome = "retry"
            delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**task.request.retries)
            raise task.retry(countdown=delay * random.uniform(0.5, 1.0), exc=exc) from exc
        if isinstance(exc, ConfabError):
            outcome, reply = exc.reason, _error(exc)
        elif isinstance(exc, OSError):
            outcome = "blob_io"
            reply = _error(UpstreamFailed(f"blob store: {exc}", code="job_blob_io"))
        else:
            outcome = "error"
            log.exception("job %s (%s) failed unexpectedly", name, job_id)
            # The traceback stays in this log; the caller learns only that the job failed.
            failed = UpstreamFailed(
                f"task {name} failed on a worker ({type(exc).__name__})", code="job_failed"
            )
            reply = _error(failed)
    finally:
        # The run ended (this process lives on): only dead processes count as runs.
        try:
            _blob_io(setup.blobs.delete(job_keys(job_id)[1]))
        except Exception:
            log.warning("cannot clear the run counter of job %s", job_id, exc_info=True)
        if _Process.watch is not None:
            # Hands freed heap back; billiard replaces a child whose peak was too high.
            _Process.watch.should_retire()
        log_event(
            log,
            "job",
            started,
            task=name,
            job_id=job_id,
            outcome=outcome,
            run=run,
            retries=task.request.retries,
        )
    # The run time: the caller subtracts it from the round trip to get the queue wait.
    reply["ran"] = round(time.perf_counter() - started, 6)
    return reply


def register_job_task(app: Celery, setup: WorkerSetup, *, max_retries: int) -> None:
    """Add `confab.job` to `app`, running the tasks of `setup`."""
    _Process.setup = setup
    _Process.pid = None

    @app.task(name=JOB_TASK, bind=True, max_retries=max_retries)  # type: ignore[untyped-decorator]
    def job(self: Task[Any, Any], name: str, args: Any) -> dict[str, Any]:
        return run_job(self, name, args)

    signals.worker_process_init.connect(_on_process_init, weak=False)


def _quiet_celery(level: str) -> None:
    # One line per job is ours; Celery's own per-task lines would double it.
    if logging.getLevelName(level.upper()) != logging.DEBUG:
        for name in ("celery", "kombu", "amqp"):
            logging.getLogger(name).setLevel(logging.WARNING)


def worker_name() -> str:
    """This worker's Celery node name: unique per process, ends with `@<hostname>`."""
    return f"confab-{os.getpid()}@{socket.gethostname()}"


def ping_local_worker(config: CeleryJobsConfig, *, timeout: float = 3.0) -> list[str]:
    """The workers on this host that answer a broadcast ping (Celery remote control).

    The health probe of `confab worker --ping`: like `celery inspect ping`, the answer
    comes from the worker's consumer loop through the broker, so a worker that is stuck,
    or cut off from the broker, fails it.
    """
    suffix = f"@{socket.gethostname()}"
    app = make_celery_app(config, caller=True)
    try:
        # Only this host's workers answer, and the first answer ends the wait.
        replies = (
            app.control.ping(
                timeout=timeout, pattern=f".*{re.escape(suffix)}$", matcher="pcre", limit=1
            )
            or []
        )
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply if name.endswith(suffix))


def run_worker(
    config: CeleryJobsConfig,
    setup: WorkerSetup,
    *,
    concurrency: int,
    autoscale: tuple[int, int] | None = None,
    loglevel: str = "INFO",
    configure_logging: Callable[[], None] | None = None,
) -> int:
    """Consume `config.queue` with `concurrency` processes until SIGTERM (warm shutdown).

    `autoscale` (max, min): Celery's autoscaler grows the pool up to max processes while
    jobs wait and shrinks it back to min when idle (`concurrency` is then ignored).
    SIGTERM is Celery's warm shutdown: jobs running finish; jobs taken but not started go
    back to the queue at once (acks_late: nothing is acknowledged before it ran).
    """
    app = make_celery_app(config)
    register_job_task(app, setup, max_retries=config.max_retries)

    def keep_our_logging(**_: Any) -> None:
        if configure_logging is not None:
            configure_logging()
        _quiet_celery(loglevel)

    def ready(**_: Any) -> None:
        log.info(
            "worker ready",
            extra={"queue": config.queue, "concurrency": concurrency, "autoscale": autoscale},
        )

    # With a receiver connected, Celery leaves the logging configuration to us.
    signals.setup_logging.connect(keep_our_logging, weak=False)
    signals.worker_ready.connect(ready, weak=False)
    scaling: dict[str, Any] = {}
    if autoscale is not None:
        scaling = {"autoscale": autoscale}
        concurrency = autoscale[0]
    worker = app.Worker(
        hostname=worker_name(),
        concurrency=concurrency,
        **scaling,
        pool_cls="prefork",
        queues=[config.queue],
        loglevel=loglevel,
        quiet=True,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        optimization="fair",
    )
    log.info(
        "worker started",
        extra={"queue": config.queue, "concurrency": concurrency, "pid": os.getpid()},
    )
    worker.start()
    code = worker.exitcode or 0
    log.info("worker stopped", extra={"exit_code": code})
    return int(code)
