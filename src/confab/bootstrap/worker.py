"""`confab worker`: a Celery worker for media jobs."""

from __future__ import annotations

from urllib.parse import urlparse

from confab.bootstrap.backends import (
    CELERY_SCHEMES,
    celery_jobs_config,
    media_tasks,
    shared_blobs,
    worker_memory_policy,
)
from confab.core.errors import InvalidInput
from confab.core.logging import configure_logging
from confab.core.settings import Settings


def _check_jobs_url(settings: Settings) -> None:
    if urlparse(settings.jobs_url).scheme not in CELERY_SCHEMES:
        raise InvalidInput(
            f"confab worker needs CONFAB_JOBS_URL=redis://... or amqp://..., "
            f"not {settings.jobs_url!r}",
            code="bad_setting",
        )


def ping_worker(settings: Settings, timeout: float = 3.0) -> list[str]:
    """`confab worker --ping`: the names of this host's workers that answered."""
    from confab.adapters.jobs_celery_worker import ping_local_worker

    _check_jobs_url(settings)
    return ping_local_worker(celery_jobs_config(settings), timeout=timeout)


def run_worker(
    settings: Settings,
    concurrency: int | None = None,
    autoscale: tuple[int, int] | None = None,
) -> int:
    """Run `confab worker`: media jobs from `CONFAB_JOBS_URL` until SIGTERM; the exit code."""
    from confab.adapters import jobs_celery_worker

    _check_jobs_url(settings)
    setup = jobs_celery_worker.WorkerSetup(
        tasks=media_tasks(),
        blobs=shared_blobs(settings),
        initializer="confab.media.imaging.tasks:init_worker",
        initargs=(settings.media_vips_cache_max_ops, tuple(settings.media_extra_loaders)),
        memory=worker_memory_policy(settings),
    )
    return jobs_celery_worker.run_worker(
        celery_jobs_config(settings),
        setup,
        concurrency=concurrency or settings.render_processes(),
        autoscale=autoscale,
        loglevel=settings.log_level,
        configure_logging=lambda: configure_logging(settings.log_level, settings.log_json),
    )
