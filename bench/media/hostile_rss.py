"""Peak resident memory of one render of each hostile GIF (issue 12), default limits.

Each input runs on a fresh single-worker local pool with the settings' defaults; the
worker's peak (VmHWM) and its resident size after the render are read from /proc.
Run: .venv/bin/python bench/media/hostile_rss.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from confab.adapters.jobs_pool import LocalProcessPool
from confab.bootstrap.backends import worker_memory_policy
from confab.bootstrap.media import render_limits
from confab.core.errors import ConfabError
from confab.core.settings import Settings
from confab.media.domain.options import RenderOptions
from confab.media.imaging.tasks import MEDIA_TASKS

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # Run as a script: the test fixtures build the hostile GIFs.
    sys.path.insert(0, str(ROOT))

from tests import hostile_images  # noqa: E402
from tests.contract.worker_probe import PROBE_TASKS  # noqa: E402

MIB = 1024 * 1024
CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("65535x255 frame on 32x24", hostile_images.wide_frame_gif(), {}),
    ("65535x255 frame, width 300", hostile_images.wide_frame_gif(), {"width": 300}),
    ("2 x 65535x255 frames", hostile_images.wide_frame_gif(2), {}),
    ("4 x 65535x255 frames", hostile_images.wide_frame_gif(4), {}),
    ("3000 x 400x400 frames", hostile_images.many_frames_gif(), {}),
    ("3000 x 400x400, width 100", hostile_images.many_frames_gif(), {"width": 100}),
]


async def one(settings: Settings, data: bytes, options: dict[str, Any], fmt: str) -> str:
    pool = LocalProcessPool(
        {**MEDIA_TASKS, **PROBE_TASKS},
        processes=1,
        initializer="confab.media.imaging.tasks:init_worker",
        initargs=(0, ()),
        memory=worker_memory_policy(settings),
    )
    try:
        idle = await pool.call("memory")
        try:
            out = await pool.call(
                "media.render", data, RenderOptions(**options), (fmt,), render_limits(settings)
            )
            outcome = f"{out.format} {out.width}x{out.height} x{out.frames}"
        except ConfabError as exc:
            outcome = exc.reason
        after = await pool.call("memory")
        peak = max(after["VmHWM"], idle["VmHWM"]) if after["pid"] == idle["pid"] else -1
        retired = " (worker retired)" if pool.retired_for_memory else ""
        return (
            f"{outcome:<24} idle {idle['VmRSS'] / MIB:5.0f} MiB  peak "
            f"{peak / MIB:5.0f} MiB  after {after['VmRSS'] / MIB:5.0f} MiB{retired}"
        )
    finally:
        await pool.close()


async def main() -> None:
    settings = Settings()
    for name, data, options in CASES:
        for fmt in ("gif", "webp"):
            line = await one(settings, data, options, fmt)
            print(f"{name:<28} {len(data):>8} B  -> {fmt:<5} {line}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
