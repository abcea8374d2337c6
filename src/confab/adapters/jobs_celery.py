"""Job queue on Celery workers (`confab worker`), over Redis or RabbitMQ.

A call: encode the arguments to JSON by the task's type hints (`jobs_celery_codec`); put
their bytes in the shared blob store under `jobs/<job id>.<sha256>` (content-addressed
inside the call's own namespace, so two calls never delete each other's inputs); send one
`confab.job` message; await the result without blocking the event loop (a client thread
owns Celery's connections, see `jobs_celery_client`); read the result's bytes back from
the blob store; delete the call's keys. The job's time limit is the call's `timeout`:
Celery's soft limit stops the task, its hard limit (a little later) kills the process.
A job no worker started within `queue_wait` seconds expires unrun. Either way the caller
gets `UpstreamTimeout` ("job_timeout"), as with the local pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from celery import states

from confab.adapters.jobs_celery_app import (
    CeleryJobsConfig,
    input_key,
    job_keys,
    make_celery_app,
)
from confab.adapters.jobs_celery_client import CeleryClient, JobMessage, Meta
from confab.adapters.jobs_celery_codec import (
    TaskSignature,
    blob_keys,
    decode,
    encode_args,
    task_signature,
)
from confab.adapters.jobs_celery_depth import QueueDepthSampler
from confab.adapters.jobs_record import recorded_job
from confab.core import errors
from confab.core.errors import (
    ConfabError,
    NotFound,
    Unavailable,
    Unprocessable,
    UpstreamFailed,
    UpstreamTimeout,
)
from confab.core.metrics import Metrics
from confab.core.ports import BlobStore
from confab.core.tasks import resolve_task

log = logging.getLogger("confab.jobs")

#: Seconds between the soft time limit (the task is interrupted) and the hard one (its
#: process is killed): room for the task to stop cleanly.
HARD_LIMIT_GRACE: Final = 2.0
#: Extra seconds the caller waits past the hard limit for the result to travel back.
RESULT_SLACK: Final = 5.0
_TIME_LIMIT_ERRORS: Final = frozenset({"TimeLimitExceeded", "SoftTimeLimitExceeded"})


def _error_class(name: str) -> type[ConfabError] | None:
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, ConfabError):
        return found
    return None


class CeleryJobQueue:
    """JobQueue whose tasks run on Celery workers consuming `config.queue`."""

    def __init__(
        self,
        tasks: Mapping[str, str],
        *,
        config: CeleryJobsConfig,
        blobs: BlobStore,
        metrics: Metrics | None = None,
    ) -> None:
        self._tasks = dict(tasks)
        self._config = config
        self._blobs = blobs
        self._metrics = metrics
        self._signatures: dict[str, TaskSignature] = {}
        app = make_celery_app(config, caller=True)
        self._client = CeleryClient(app, config.queue)
        self._depth: QueueDepthSampler | None = None
        self._in_flight = 0
        if metrics is not None:
            self._depth = QueueDepthSampler(app, config.queue)
            depth = self._depth
            metrics.track_gauge(
                "confab_jobs_queue_depth",
                "Jobs waiting in the Celery queue (all callers), sampled from the broker",
                lambda: depth.depth,
            )
            metrics.track_gauge(
                "confab_render_queue_depth",
                "Media jobs this node sent and still waits for (queued or running)",
                lambda: self._in_flight,
            )

    def _signature(self, task: str) -> TaskSignature:
        found = self._signatures.get(task)
        if found is None:
            found = self._signatures[task] = task_signature(resolve_task(self._tasks, task))
        return found

    async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        job_id = uuid.uuid4().hex
        keys = [job_keys(job_id)[1]]
        with recorded_job(self._metrics, task, job_id=job_id):
            try:
                signature = self._signature(task)
                # Reading LocalFile arguments and hashing bytes: not on the event loop.
                encoded, inputs = await asyncio.to_thread(_encode, job_id, signature, args)
                keys += inputs
                await asyncio.gather(*(self._blobs.put(k, v) for k, v in inputs.items()))
                meta = await self._run(job_id, task, encoded, timeout)
                reply = self._reply(task, meta)
                outputs = list(dict.fromkeys(blob_keys(reply)))
                keys += outputs
                return await self._decode(task, reply, signature, outputs)
            finally:
                await self._cleanup(keys)

    async def _run(self, job_id: str, task: str, args: list[Any], timeout: float | None) -> Meta:
        wait = self._config.queue_wait
        message = JobMessage(
            job_id=job_id,
            task=task,
            args=args,
            soft_limit=timeout,
            hard_limit=None if timeout is None else timeout + HARD_LIMIT_GRACE,
            expires=wait,
        )
        # A job starts within `wait` or never (it expires), then ends within its hard limit.
        limit = None if timeout is None else wait + timeout + HARD_LIMIT_GRACE + RESULT_SLACK
        sent = time.perf_counter()
        future = self._client.submit(message)
        self._in_flight += 1
        try:
            meta = await asyncio.wait_for(asyncio.wrap_future(future), limit)
            self._observe_wait(time.perf_counter() - sent, meta)
            return meta
        except TimeoutError:
            raise UpstreamTimeout(
                f"task {task} got no result within {limit:.0f}s", code="job_timeout"
            ) from None
        except ConfabError:
            raise
        except Exception as exc:  # the broker is unreachable (kombu/redis errors)
            raise Unavailable(
                f"the job queue is unreachable: {type(exc).__name__}: {exc}",
                code="jobs_unavailable",
            ) from None
        finally:
            self._in_flight -= 1
            if not future.done():
                self._client.abandon(job_id)

    def _observe_wait(self, elapsed: float, meta: Meta) -> None:
        """Queue wait: the round trip less the run time the worker reports (`ran`)."""
        result = meta.get("result")
        ran = result.get("ran") if isinstance(result, dict) else None
        if self._metrics is not None and isinstance(ran, int | float):
            self._metrics.render_queue_wait.observe(max(0.0, elapsed - float(ran)))

    def _reply(self, task: str, meta: Meta) -> Any:
        """The task's JSON result from a final Celery state; raises its error."""
        status, result = meta.get("status"), meta.get("result")
        if status == states.SUCCESS and isinstance(result, dict):
            if "ok" in result:
                return result["ok"]
            error = result.get("error")
            if isinstance(error, dict):
                cls = _error_class(str(error.get("type"))) or UpstreamFailed
                raise cls(str(error.get("detail", "")), code=str(error.get("reason", cls.code)))
        if status == states.REVOKED:
            raise UpstreamTimeout(
                f"no worker started task {task} within {self._config.queue_wait}s",
                code="job_timeout",
            )
        if status == states.FAILURE:
            name = (
                type(result).__name__
                if isinstance(result, BaseException)
                else str((result or {}).get("exc_type"))
            )
            if name in _TIME_LIMIT_ERRORS:
                raise UpstreamTimeout(
                    f"task {task} ran past its time limit and was stopped", code="job_timeout"
                )
            if name == "WorkerLostError":
                raise Unprocessable(f"the worker running {task} died", code="worker_crashed")
            if name == "NotRegistered":
                raise Unavailable("the workers on this queue run no Confab jobs", code="no_worker")
            raise UpstreamFailed(f"task {task} failed on a worker: {name}", code="job_failed")
        raise UpstreamFailed(f"task {task}: unexpected job state {status}", code="job_failed")

    async def _decode(
        self, task: str, reply: Any, signature: TaskSignature, keys: Sequence[str]
    ) -> Any:
        blobs: dict[str, bytes] = {}
        for key in keys:
            data = await self._blobs.get(key)
            if data is None:
                raise UpstreamFailed(f"result {key} of {task} is gone", code="job_output_missing")
            blobs[key] = data
        try:
            return decode(reply, signature.result, blobs)
        except (TypeError, ValueError) as exc:
            raise UpstreamFailed(f"bad result from {task}: {exc}", code="bad_job_result") from None

    async def _cleanup(self, keys: Sequence[str]) -> None:
        # Every key of the call is temporary; a failed delete leaves garbage, not an error.
        results = await asyncio.gather(
            *(self._blobs.delete(key) for key in keys), return_exceptions=True
        )
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("cannot delete job blob %s: %s", key, result)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
        if self._depth is not None:
            await asyncio.to_thread(self._depth.close)


def _encode(
    job_id: str, signature: TaskSignature, args: Sequence[Any]
) -> tuple[list[Any], dict[str, bytes]]:
    inputs: dict[str, bytes] = {}

    def stash(data: bytes) -> str:
        key = input_key(job_id, data)
        inputs[key] = data
        return key

    try:
        return encode_args(signature, args, stash), inputs
    except OSError as exc:  # a LocalFile that cannot be read
        raise NotFound(
            f"cannot read {Path(exc.filename or '?').name}: {exc.strerror}",
            code="source_not_found",
        ) from None
