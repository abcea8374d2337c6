"""The Celery application both sides of the job queue use: callers and `confab worker`.

One generic Celery task, `confab.job`, carries every Confab task: its arguments are the
Confab task name and the JSON arguments (see `jobs_celery_codec`); the worker resolves the
name in its own task table, so a message can only run what the worker was given.

Reliability settings: a message is acknowledged only after its job ends (`acks_late`),
and put back when the process running it dies (`reject_on_worker_lost`), so a worker lost
mid-job costs a redelivery, not the job; each process takes one message at a time
(`prefetch_multiplier=1`), so a long render never holds other jobs hostage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlparse

from celery import Celery

from confab.core.errors import InvalidInput

#: The Celery task name every job is sent as.
JOB_TASK: Final = "confab.job"
BROKER_SCHEMES: Final = ("redis", "rediss", "amqp", "amqps")


def job_keys(job_id: str) -> tuple[str, str]:
    """(prefix of a job's blob keys, key of its run counter) in the shared blob store.

    Every key of a job starts with `jobs/<job id>`: the caller deletes them all when the
    call ends, and a redelivered job writes the same keys again.
    """
    prefix = f"jobs/{job_id}"
    return prefix, f"{prefix}.runs"


def input_key(job_id: str, data: bytes) -> str:
    """Key of an input blob: the job's namespace and the content's digest."""
    return f"{job_keys(job_id)[0]}.{hashlib.sha256(data).hexdigest()[:40]}"


def output_key(job_id: str, index: int) -> str:
    """Key of the `index`-th bytes value in a job's result."""
    return f"{job_keys(job_id)[0]}.out{index}"


@dataclass(frozen=True, slots=True)
class CeleryJobsConfig:
    """Where jobs go and how long they may wait (from settings, see `from_settings` users).

    `result_url` None: the broker's Redis for a Redis broker, `rpc://` (replies over
    RabbitMQ itself) for an AMQP broker. `visibility_timeout` is how long a Redis broker
    waits before giving a taken but unacknowledged message to another worker: it must be
    longer than any job runs.
    """

    broker_url: str
    result_url: str | None = None
    queue: str = "celery"
    visibility_timeout: float = 30.0
    queue_wait: float = 60.0
    max_retries: int = 3
    recycle_after: int = 1000
    memory_limit_bytes: int = 0

    def __post_init__(self) -> None:
        scheme = urlparse(self.broker_url).scheme
        if scheme not in BROKER_SCHEMES:
            raise InvalidInput(
                f"unsupported jobs broker {scheme!r} (use redis:// or amqp://)",
                code="bad_setting",
            )
        # Results are pushed to the caller: only the Redis and RPC backends do that.
        result_scheme = urlparse(self.resolved_result_url()).scheme
        if result_scheme not in ("redis", "rediss", "rpc"):
            raise InvalidInput(
                f"unsupported jobs result backend {result_scheme!r} (use redis:// or rpc://)",
                code="bad_setting",
            )

    @property
    def is_redis(self) -> bool:
        """Whether the broker is Redis (visibility timeout semantics)."""
        return urlparse(self.broker_url).scheme.startswith("redis")

    def resolved_result_url(self) -> str:
        """The result backend's URL."""
        if self.result_url:
            return self.result_url
        return self.broker_url if self.is_redis else "rpc://"


def make_celery_app(config: CeleryJobsConfig, *, caller: bool = False) -> Celery:
    """A configured Celery app (no task registered: the worker adds `confab.job`).

    `caller`: the app sends jobs and waits for results. It gives up on an unreachable
    result store after about a second (the call fails as unavailable) where a worker
    keeps trying for its results' sake.
    """
    app = Celery("confab", broker=config.broker_url, backend=config.resolved_result_url())
    transport: dict[str, Any] = {}
    if config.is_redis:
        # Messages of a lost worker come back after the visibility timeout; look for them
        # often enough that a short timeout (tests) means a quick redelivery.
        transport = {
            "visibility_timeout": config.visibility_timeout,
            "unacked_restore_interval": max(1, min(60, int(config.visibility_timeout / 4))),
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=config.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=config.recycle_after,
        # Billiard measures a child's peak resident size after each task on Linux: a child
        # that ever held over half its heap cap is replaced (the cap itself is applied in
        # the child, see jobs_celery_worker).
        worker_max_memory_per_child=config.memory_limit_bytes // 2048 or None,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        # Results of calls nobody waits for any more expire on their own.
        result_expires=3600,
        task_publish_retry_policy={
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
    )
    if caller:
        app.conf.result_backend_transport_options = {
            "retry_policy": {
                "max_retries": 2,
                "interval_start": 0,
                "interval_step": 0.5,
                "interval_max": 1,
            }
        }
    return app
