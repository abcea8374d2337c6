"""Render workers' memory: hostile GIFs are refused or rendered within the bound, and
no render leaves its worker holding memory (issue 12, part 2).

Each test runs the real local pool with the settings' defaults (512 MiB heap cap per
worker, recycling above 2x idle) and reads the worker's memory from /proc.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from confab.adapters.jobs_pool import LocalProcessPool
from confab.adapters.worker_memory import MemoryPolicy
from confab.core.errors import TooLarge, Unprocessable
from confab.core.settings import Settings
from confab.media.domain.options import RenderOptions
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.tasks import MEDIA_TASKS
from tests import hostile_images
from tests.contract.worker_probe import PROBE_TASKS
from tests.e2e.sources import jpeg

MIB = 1024 * 1024
DEFAULTS = Settings()
LIMITS = RenderLimits(max_pixels=DEFAULTS.media_max_pixels, max_frames=DEFAULTS.media_max_frames)
PEAK_BOUND = 512 * MIB


def pool(memory_mib: int = DEFAULTS.media_render_memory_mib) -> LocalProcessPool:
    return LocalProcessPool(
        {**MEDIA_TASKS, **PROBE_TASKS},
        processes=1,
        initializer="confab.media.imaging.tasks:init_worker",
        initargs=(0, ()),
        memory=MemoryPolicy(limit_bytes=memory_mib * MIB),
    )


@pytest.fixture
async def workers() -> AsyncIterator[LocalProcessPool]:
    jobs = pool()
    yield jobs
    await jobs.close()


async def render(jobs: LocalProcessPool, data: bytes, **options: Any) -> Any:
    return await jobs.call("media.render", data, RenderOptions(**options), ("webp",), LIMITS)


async def idle_size(jobs: LocalProcessPool) -> dict[str, int]:
    """A warmed-up worker's memory (one small render loads the codecs' code)."""
    await render(jobs, jpeg(64, 48), width=32)
    return dict(await jobs.call("memory"))


@pytest.mark.parametrize(
    ("name", "data", "options"),
    [
        ("a 65535x255 frame on a 32x24 screen", hostile_images.wide_frame_gif(), {}),
        ("two such frames", hostile_images.wide_frame_gif(2), {}),
        ("four such frames", hostile_images.wide_frame_gif(4), {"width": 300}),
        ("3,000 frames of 400x400", hostile_images.many_frames_gif(), {"width": 100}),
    ],
)
async def test_hostile_gifs_stay_within_the_bound(
    workers: LocalProcessPool, name: str, data: bytes, options: dict[str, Any]
) -> None:
    idle = await idle_size(workers)
    try:
        rendered = await render(workers, data, **options)
        assert rendered.width > 0
    except TooLarge as refused:
        assert refused.reason in ("too_many_pixels", "out_of_memory")
    after = await workers.call("memory")
    if after["pid"] == idle["pid"]:
        # Same worker: it gave its memory back, and its peak stayed under the bound.
        assert after["VmRSS"] <= 2 * idle["VmRSS"], name
        assert after["VmHWM"] <= PEAK_BOUND, name
    else:
        assert workers.retired_for_memory >= 1, name


async def test_the_3000_frame_gif_no_longer_leaves_its_worker_holding_memory(
    workers: LocalProcessPool,
) -> None:
    # Before: 256 frames shrunk to 100 px left ~200 MiB of freed heap resident.
    idle = await idle_size(workers)
    for _ in range(3):
        await render(workers, hostile_images.many_frames_gif(), width=100)
        after = await workers.call("memory")
        assert after["VmRSS"] <= 2 * idle["VmRSS"]


async def test_a_worker_whose_memory_stays_high_is_retired_and_replaced(
    workers: LocalProcessPool,
) -> None:
    idle = await idle_size(workers)
    # A leak that trimming cannot give back: the worker retires after this task...
    await workers.call("hoard", max(64, 3 * idle["VmRSS"] // MIB))
    assert workers.retired_for_memory == 1
    # ...and the next call runs on a fresh one.
    fresh = await workers.call("memory")
    assert fresh["pid"] != idle["pid"]
    assert fresh["VmRSS"] <= 2 * idle["VmRSS"]


async def test_a_render_over_the_heap_cap_is_refused_and_the_worker_goes_on() -> None:
    jobs = pool(memory_mib=96)
    try:
        with pytest.raises(TooLarge) as caught:
            await render(jobs, hostile_images.wide_frame_gif())
        assert caught.value.reason == "out_of_memory"
        assert "libvips" not in caught.value.detail and "vips_" not in caught.value.detail
        assert (await render(jobs, jpeg(64, 48), width=32)).width == 32
        with pytest.raises(MemoryError):
            await jobs.call("grab", 200)
        assert (await render(jobs, jpeg(64, 48), width=32)).width == 32
    finally:
        await jobs.close()


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGABRT])
async def test_a_worker_killed_mid_task_is_answered_and_replaced(
    workers: LocalProcessPool, signal_number: int
) -> None:
    first = (await workers.call("memory"))["pid"]
    with pytest.raises(Unprocessable) as caught:
        await workers.call("die", signal_number)
    assert caught.value.reason == "worker_crashed"
    assert "ran out of memory or crashed" in caught.value.detail
    assert f"signal {int(signal_number)}" in caught.value.detail
    assert (await workers.call("memory"))["pid"] != first
    assert (await render(workers, jpeg(64, 48), width=32)).width == 32
