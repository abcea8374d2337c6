"""The media tasks run by the job queue (in worker processes), and their worker setup.

Thin entry points: the work lives in `confab.media.imaging.render`. Arguments and results
are plain picklable data; a source is a local file path (read by the worker itself, so no
large bytes cross the process boundary) or the fetched bytes. Remote workers (Celery) get
JSON: the codec in `confab.adapters.jobs_celery_codec` follows these type hints, and a
`LocalFile` reaches them as the file's bytes.
"""

from __future__ import annotations

from typing import Any

from confab.core.tasks import LocalFile
from confab.media.domain.options import OutputFormat, Rendered, RenderOptions, SourceInfo
from confab.media.imaging.limits import RenderLimits

MEDIA_TASKS: dict[str, str] = {
    "media.render": "confab.media.imaging.tasks:render",
    "media.probe": "confab.media.imaging.tasks:probe",
    "media.plan": "confab.media.imaging.tasks:plan",
}


def init_worker(cache_max_ops: int, extra_loaders: tuple[str, ...]) -> None:
    """Configure libvips once per worker process (threads, cache, enabled loaders)."""
    from confab.media.imaging import runtime

    runtime.configure(cache_max_ops, tuple(extra_loaders))


def render(
    source: LocalFile | bytes,
    options: RenderOptions,
    auto_formats: tuple[OutputFormat, ...],
    limits: RenderLimits,
    overlays: dict[str, bytes] | None = None,
) -> Rendered:
    """Render a thumbnail of `source` (see `confab.media.imaging.render.render`).

    `overlays`: the images the filters draw (watermark, frame), fetched by the service.
    """
    from confab.media.imaging import render as work

    return work.render(source, options, tuple(auto_formats), limits, overlays)


def probe(data: bytes, limits: RenderLimits) -> SourceInfo:
    """Check an upload and describe it (see `confab.media.imaging.render.probe`)."""
    from confab.media.imaging import render as work

    return work.probe(data, limits)


def plan(source: LocalFile | bytes, options: RenderOptions, limits: RenderLimits) -> dict[str, Any]:
    """thumbor's /meta for `source` (see `confab.media.imaging.render.plan`)."""
    from confab.media.imaging import render as work

    return work.plan(source, options, limits)
