"""The batch engine: fetchers feed a bounded queue drained by renderers.

Producers (`fetchers` tasks) take sources in order, skip the ones whose output already
exists, fetch URLs through the safe fetcher (as many at once as there are fetchers,
at most `per_host` per host, started no faster than the per-host rate) and check
local files; each puts its work item on a
bounded queue, so when renderers fall behind the fetchers wait instead of piling
source bytes up in memory (backpressure). Consumers (`renderers` tasks) hand each item
to the job queue (worker processes) and write the result atomically: a temporary file
in the output folder moved into place, so an interrupted run never leaves a partial
output and a rerun sees only finished files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from confab.core.clock import Clock
from confab.core.errors import ConfabError, InvalidInput, NotFound
from confab.core.ports import JobQueue
from confab.media.batch.naming import existing_output, output_path, output_stem
from confab.media.batch.runtime import FetchedBody, SourceFetcher
from confab.media.batch.sources import Source
from confab.media.domain.options import Rendered, RenderOptions
from confab.media.fetch.limits import KeyedSemaphore, Pacer

if TYPE_CHECKING:  # only a type here: the batch runs without importing the renderer
    from confab.media.imaging.limits import RenderLimits

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What happened to one source. `bytes` is the output's size, `duration` in seconds."""

    source: str
    status: Status
    output: str | None = None
    reason: str | None = None
    detail: str | None = None
    bytes: int = 0
    source_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """How one batch runs: where outputs go, what to render, and how much in parallel."""

    out_dir: Path
    options: RenderOptions
    limits: RenderLimits
    render_timeout: float
    fetchers: int
    renderers: int
    queue_size: int
    per_host: int = 8
    rate_per_minute: float = 0.0  # per host; 0: no limit


@dataclass(frozen=True, slots=True)
class _Work:
    index: int
    source: Source
    stem: str
    payload: str | bytes  # a local path (the worker reads it) or the fetched bytes
    source_bytes: int
    fetch_seconds: float  # the time in the queue is not the source's own cost


ResultCallback = Callable[[SourceResult], None]


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see either nothing or the whole file.

    Synchronous on purpose: thumbnails are small, and no await point in the middle means
    a cancelled run cannot stop between writing and renaming.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _local_file(source: Source) -> tuple[str, int]:
    """The path and size of a local source; the worker process reads the file itself."""
    path = Path(source.value)
    if not path.is_file():
        raise NotFound(f"no such file: {source.display}", code="source_not_found")
    return str(path), path.stat().st_size


def _failure(source: Source, exc: BaseException, started: float) -> SourceResult:
    if isinstance(exc, ConfabError):
        reason, detail = exc.reason, exc.detail
    elif isinstance(exc, OSError):
        reason, detail = "write_failed", f"{exc.strerror or exc} ({exc.filename or ''})"
    else:
        # A bug, not a bad source: reported for this source, the batch goes on.
        reason, detail = "internal_error", f"{type(exc).__name__}: {exc}"
    return SourceResult(
        source=source.display,
        status="failed",
        reason=reason,
        detail=detail,
        duration=time.perf_counter() - started,
    )


class BatchPipeline:
    """Runs one batch of sources through fetch, render and write."""

    def __init__(
        self,
        config: BatchConfig,
        *,
        jobs: JobQueue,
        fetcher: SourceFetcher,
        on_result: ResultCallback | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`clock` paces the per-host rate (the event loop's by default)."""
        self._config = config
        self._jobs = jobs
        self._fetcher = fetcher
        self._on_result = on_result
        self._results: dict[int, SourceResult] = {}
        # The batch paces hosts itself, before calling the fetcher: the fetcher counts
        # its own waits against each fetch's deadline, so a long queue for one host
        # would end in timeouts instead of simply taking longer.
        self._hosts = KeyedSemaphore(config.per_host)
        self._pacer = Pacer(config.rate_per_minute, clock=clock)

    async def run(self, sources: Sequence[Source]) -> list[SourceResult]:
        """Process every source; the results come back in the order of `sources`."""
        self._results = {}
        pending = iter(enumerate(sources))
        queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=self._config.queue_size)
        async with asyncio.TaskGroup() as group:
            renderers = [
                group.create_task(self._render_loop(queue)) for _ in range(self._config.renderers)
            ]
            fetchers = [
                group.create_task(self._fetch_loop(pending, queue))
                for _ in range(self._config.fetchers)
            ]
            await asyncio.gather(*fetchers)
            for _ in renderers:
                await queue.put(None)  # one end marker per renderer
        return [self._results[index] for index in range(len(sources))]

    def _finish(self, index: int, result: SourceResult) -> None:
        self._results[index] = result
        if self._on_result is not None:
            self._on_result(result)

    async def _fetch_loop(
        self, pending: Iterator[tuple[int, Source]], queue: asyncio.Queue[_Work | None]
    ) -> None:
        # Every fetcher pulls from the same iterator: sources start in list order.
        for index, source in pending:
            started = time.perf_counter()
            try:
                work = await self._prepare(index, source, started)
            except Exception as exc:
                self._finish(index, _failure(source, exc, started))
                continue
            if work is not None:
                await queue.put(work)  # waits while the renderers are behind

    async def _prepare(self, index: int, source: Source, started: float) -> _Work | None:
        """The work item for `source`, or None when it was already done (reported skipped)."""
        config = self._config
        stem = output_stem(source, config.options)
        done = existing_output(config.out_dir, stem, config.options.format)
        if done is not None:
            size = done.stat().st_size
            self._finish(
                index,
                SourceResult(
                    source=source.display,
                    status="skipped",
                    output=str(done),
                    reason="exists",
                    bytes=size,
                    duration=time.perf_counter() - started,
                ),
            )
            return None
        if source.kind == "url":
            fetched = await self._fetch(source.value)
            payload: str | bytes = fetched.data
            size = len(fetched.data)
        else:
            payload, size = _local_file(source)
        return _Work(index, source, stem, payload, size, time.perf_counter() - started)

    async def _fetch(self, url: str) -> FetchedBody:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            raise InvalidInput(f"{url} is not a valid URL", code="bad_source_url") from None
        async with self._hosts.hold(host):
            await self._pacer.wait(host)
            return await self._fetcher.fetch(url, want="image")

    async def _render_loop(self, queue: asyncio.Queue[_Work | None]) -> None:
        while (work := await queue.get()) is not None:
            # A source's duration is its fetch plus its render, without the wait between.
            started = time.perf_counter() - work.fetch_seconds
            try:
                result = await self._render(work, started)
            except Exception as exc:
                result = _failure(work.source, exc, started)
            self._finish(work.index, result)

    async def _render(self, work: _Work, started: float) -> SourceResult:
        config = self._config
        rendered: Rendered = await self._jobs.call(
            "media.render",
            work.payload,
            config.options,
            (),
            config.limits,
            timeout=config.render_timeout,
        )
        path = output_path(config.out_dir, work.stem, rendered.format)
        write_atomic(path, rendered.data)
        return SourceResult(
            source=work.source.display,
            status="ok",
            output=str(path),
            bytes=len(rendered.data),
            source_bytes=work.source_bytes,
            width=rendered.width,
            height=rendered.height,
            duration=time.perf_counter() - started,
        )
