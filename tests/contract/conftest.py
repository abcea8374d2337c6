"""Fixtures of the contract tests: one real Celery worker per broker for the session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.contract.celery_fleet import CeleryTarget, delete_queue, make_target, running_worker


def _celery_target(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryTarget]:
    folder = tmp_path_factory.mktemp(f"celery-{kind}")
    target = make_target(kind, f"contract-{kind}", folder / "blobs")
    log = folder / "worker.log"
    target = replace(target, worker_log=log)
    try:
        with running_worker(target, log):
            yield target
    finally:
        delete_queue(target)


@pytest.fixture(scope="session")
def redis_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryTarget]:
    """A worker (2 processes) consuming this session's contract queue on Redis."""
    yield from _celery_target("redis", tmp_path_factory)


@pytest.fixture(scope="session")
def rabbitmq_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryTarget]:
    """A worker (2 processes) consuming this session's contract queue on RabbitMQ."""
    yield from _celery_target("rabbitmq", tmp_path_factory)
