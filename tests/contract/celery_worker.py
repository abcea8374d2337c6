"""`python -m tests.contract.celery_worker`: a Celery worker for the contract tasks.

The same worker as `confab worker` (settings from CONFAB_* variables, prefork processes,
one log line per job), running the contract test tasks instead of the media ones.
"""

from __future__ import annotations

import sys

from confab.adapters.jobs_celery_worker import WorkerSetup, run_worker
from confab.bootstrap import celery_jobs_config, shared_blobs
from confab.core.logging import configure_logging
from confab.core.settings import Settings
from tests.contract.tasks import TEST_TASKS


def main() -> int:
    """Run until SIGTERM; argv[1] is the concurrency (default 2)."""
    settings = Settings()
    concurrency = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    configure_logging(settings.log_level, settings.log_json)
    setup = WorkerSetup(tasks=TEST_TASKS, blobs=shared_blobs(settings))
    return run_worker(
        celery_jobs_config(settings),
        setup,
        concurrency=concurrency,
        loglevel=settings.log_level,
        configure_logging=lambda: configure_logging(settings.log_level, settings.log_json),
    )


if __name__ == "__main__":
    sys.exit(main())
