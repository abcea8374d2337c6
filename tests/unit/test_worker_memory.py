"""The render workers' memory settings: from settings to the pool and to Celery."""

from __future__ import annotations

import pytest

from confab.adapters import worker_memory
from confab.adapters.jobs_celery_app import CeleryJobsConfig, make_celery_app
from confab.adapters.worker_memory import MemoryPolicy, MemoryWatch
from confab.bootstrap.backends import celery_jobs_config, worker_memory_policy
from confab.core.settings import Settings

MIB = 1024 * 1024


def test_the_default_cap_is_512_mib_per_worker() -> None:
    assert worker_memory_policy(Settings()) == MemoryPolicy(limit_bytes=512 * MIB)
    assert worker_memory_policy(Settings(media_render_memory_mib=0)).limit_bytes == 0


def test_celery_children_are_replaced_past_half_the_cap() -> None:
    config = celery_jobs_config(
        Settings(jobs_url="redis://127.0.0.1:6379/0", media_render_memory_mib=512)
    )
    assert config.memory_limit_bytes == 512 * MIB
    app = make_celery_app(config)
    assert app.conf.worker_max_memory_per_child == 256 * 1024  # KiB
    uncapped = make_celery_app(CeleryJobsConfig(broker_url="redis://127.0.0.1:6379/0"))
    assert uncapped.conf.worker_max_memory_per_child is None


@pytest.mark.parametrize(
    ("idle", "before", "after_trim", "retire", "trimmed"),
    [
        (100, 150, 150, False, False),  # under 2x idle: nothing to do, no trim
        (100, 300, 120, False, True),  # over, but trimming the heap gives it back
        (100, 300, 250, True, True),  # still over after the trim: retire
        (0, 10_000, 10_000, False, False),  # idle size unknown (no /proc): never retire
    ],
)
def test_a_worker_retires_only_when_trimming_does_not_bring_it_under_2x_idle(
    monkeypatch: pytest.MonkeyPatch,
    idle: int,
    before: int,
    after_trim: int,
    retire: bool,
    trimmed: bool,
) -> None:
    sizes = {"now": before}
    trims: list[bool] = []

    def trim() -> None:
        trims.append(True)
        sizes["now"] = after_trim

    monkeypatch.setattr(worker_memory, "resident_bytes", lambda: sizes["now"])
    monkeypatch.setattr(worker_memory, "release_free_heap", trim)
    watch = MemoryWatch(MemoryPolicy())
    watch.idle = idle
    assert watch.should_retire() is retire
    assert bool(trims) is trimmed


def test_resident_size_is_read_from_proc() -> None:
    assert worker_memory.resident_bytes() > 10 * MIB  # this interpreter, at least
